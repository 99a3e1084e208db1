"""Vectorised box operations shared by the decoders: IoU, NMS, enlarging, clipping."""

from __future__ import annotations

import numpy as np

__all__ = ["box_iou", "clip_boxes", "grow_boxes", "nms"]


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` box with each of ``(N, 4)`` boxes."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression.

    Keeps the best-scoring box, drops every remaining box whose IoU with it is ``>=
    iou_threshold``, and repeats; each step is vectorised over the remaining boxes.

    Returns:
        Indices of the kept boxes, best score first.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        if not rest.size:
            break
        order = rest[box_iou(boxes[i], boxes[rest]) < iou_threshold]
    return np.asarray(keep, np.intp)


def grow_boxes(
    xyxy: np.ndarray, scale: float = 1.0, pad_x: np.ndarray | float = 0.0,
    pad_y: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Scale boxes about their centres by ``scale``, then pad each side by ``pad_x``/``pad_y``."""
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    c = (xyxy[:, :2] + xyxy[:, 2:]) * 0.5
    half = (xyxy[:, 2:] - xyxy[:, :2]) * (0.5 * scale)
    half = half + np.stack(np.broadcast_arrays(pad_x, pad_y, half[:, 0])[:2], axis=1)
    return np.concatenate([c - half, c + half], axis=1).astype(np.float32, copy=False)


def clip_boxes(xyxy: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip boxes to ``0..width x 0..height`` (returns a new array)."""
    out = np.array(xyxy, np.float32, copy=True).reshape(-1, 4)
    np.clip(out[:, 0::2], 0, width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, height, out=out[:, 1::2])
    return out


def clip_nonempty(xyxy: np.ndarray, scores: np.ndarray, width: float,
                  height: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip boxes to the picture and drop those left with no area (with their scores)."""
    out = clip_boxes(xyxy, width, height)
    ok = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
    return out[ok], np.asarray(scores)[ok]
