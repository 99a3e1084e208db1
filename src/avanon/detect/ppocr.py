"""Licence plates as text regions: PP-OCRv4's DB text detector (Apache-2.0).

Weights from the ``rapidocr-onnxruntime`` wheel.

The network outputs a text probability map at the input resolution. Decoding (Differentiable
Binarization): threshold the map, dilate by 2x2, take 8-connected blobs, score each blob by its
mean probability, and grow its box back out ("unclip": DB is trained on shrunk text kernels) and
then by a margin so that the mask covers the plate around the characters.

It finds plates of any country well when they are large enough to read, but it also boxes other
text (signs, shirts, captions) and sometimes high-contrast patterns such as a close face's eyes
and mouth: the "plate" class masks all of it. See ``models/ppocr_det.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import onnxruntime as ort

from ..detections import Detections, class_id
from ..boxes import clip_boxes, grow_boxes
from .components import component_boxes
from .runtime import OnnxDetector, to_blob

__all__ = ["PpocrDetector", "decode_db"]

_PLATE = class_id("plate")

#: Normalisation from rapidocr-onnxruntime 1.4.4's config.yaml (Det.mean / Det.std, on 0..1).
PPOCR_MEAN = (0.5, 0.5, 0.5)
PPOCR_STD = (0.5, 0.5, 0.5)


def dilate2x2(mask: np.ndarray) -> np.ndarray:
    """OpenCV's ``dilate`` with a 2x2 kernel: a pixel is set if it or its up/left/up-left is."""
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:, 1:] |= out[:, :-1].copy()
    return out


def decode_db(
    prob: np.ndarray,
    threshold: float,
    *,
    bin_threshold: float = 0.3,
    unclip_ratio: float = 1.6,
    pad: float = 0.25,
    min_size: int = 3,
    dilate: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one DB probability map into axis-aligned boxes.

    Args:
        prob: (H, W) text probability.
        threshold: minimum blob score (mean probability over the blob).
        bin_threshold: probability above which a pixel is text.
        unclip_ratio: the blob box grows on each side by ``area * unclip_ratio / perimeter``.
        pad: then by this fraction of its (unclipped) height on each side.
        min_size: blobs whose box is thinner than this many pixels are noise.
        dilate: dilate the binary map by 2x2 first (joins characters one pixel apart).

    Returns:
        ``(boxes, scores)``: (N, 4) float32 ``x0, y0, x1, y1`` (not clipped) and (N,) float32.
    """
    mask = prob > bin_threshold
    if dilate:
        mask = dilate2x2(mask)
    boxes, sums, counts = component_boxes(mask, prob)
    boxes = boxes.astype(np.float32)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    scores = (sums / np.maximum(counts, 1)).astype(np.float32)
    keep = (np.minimum(w, h) >= min_size) & (scores >= threshold)
    boxes, w, h, scores = boxes[keep], w[keep], h[keep], scores[keep]
    d = w * h * unclip_ratio / (2.0 * (w + h))
    grown_h = h + 2 * d
    boxes = grow_boxes(boxes, 1.0, d + pad * grown_h, d + pad * grown_h)
    return boxes, scores


class PpocrDetector(OnnxDetector):
    """Text regions (reported as class "plate") with PP-OCRv4 det, an ImageDetector.

    Args:
        model: path or bytes of ``ch_PP-OCRv4_det_infer.onnx``, or an open session.
        bin_threshold, unclip_ratio, pad, min_size: see :func:`decode_db`.
        bgr: feed channels in BGR order, as PaddleOCR was trained (OpenCV-decoded images).
        mean, std: input normalisation, per RGB channel on 0..1.
        options: ``threshold`` (default 0.5; lower masks fainter text, and more non-text),
            ``batch``, ``providers``, ``threads``: see
            :class:`~avanon.detect.runtime.OnnxDetector`.
    """

    classes = ("plate",)
    name = "ppocr_det"
    #: Never shown the picture mirrored past its edges (``DetectConfig.edge_mirror``): a text
    #: detector reads the symmetric patterns a mirror makes of any texture as text (Tears of
    #: Steel at 720p: 27 instead of 4 boxes on 20 sampled frames).
    edge_mirror = False

    def __init__(
        self,
        model: str | Path | bytes | ort.InferenceSession,
        *,
        bin_threshold: float = 0.3,
        unclip_ratio: float = 1.6,
        pad: float = 0.25,
        min_size: int = 3,
        bgr: bool = True,
        mean: Sequence[float] = PPOCR_MEAN,
        std: Sequence[float] = PPOCR_STD,
        **options,
    ) -> None:
        super().__init__(model, **options)
        self.bin_threshold = float(bin_threshold)
        self.unclip_ratio = float(unclip_ratio)
        self.pad = float(pad)
        self.min_size = int(min_size)
        order = (2, 1, 0) if bgr else (0, 1, 2)
        # (x / 255 - mean) / std for the channel fed at each position
        self._scale = [1.0 / (255.0 * std[c]) for c in order]
        self._bias = [-mean[c] / std[c] for c in order]
        self._channels = order

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        return to_blob(images, scale=self._scale, bias=self._bias, channels=self._channels,
                       pad_value=self._bias)

    def decode(self, outputs: list[np.ndarray], width: int, height: int,
               blob_hw: tuple[int, int]) -> Detections:
        boxes, scores = decode_db(
            outputs[0][0, :height, :width],
            self.raw_threshold,
            bin_threshold=self.bin_threshold,
            unclip_ratio=self.unclip_ratio,
            pad=self.pad,
            min_size=self.min_size,
        )
        return Detections.from_boxes(clip_boxes(boxes, width, height), scores, _PLATE)
