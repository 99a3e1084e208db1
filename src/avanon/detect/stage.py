"""`DetectStage`: decoded frames in, coded-picture boxes out.

For each frame it makes one small upright RGB copy with FFmpeg's scaler (long side
``config.det_size``), runs every detector on the batch of copies, keeps the enabled classes above
their thresholds, and maps the boxes back through the scale and the display rotation.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import av
import numpy as np

from ..detections import CLASS_NAMES, Detections, class_id
from ..errors import AvanonError, ModelError
from .base import ImageDetector
from .config import DetectConfig
from .geometry import detector_input, detector_size, rotation_k, to_coded, upright_size
from .runtime import resolve_providers

__all__ = ["DetectStage", "build_detectors"]

logger = logging.getLogger(__name__)


def build_detectors(
    config: DetectConfig, *, log: Callable[[str], None] | None = None
) -> list[ImageDetector]:
    """The real models for ``config``, fetching their weights on first use.

    Raises:
        ModelNotFoundError: weights absent and not fetchable (the message says how to get them).
        ModelError: weights corrupt, or onnxruntime cannot load them.
    """
    from .centerface import CenterFaceDetector
    from .clpr import PlateDetector
    from .models import ensure_models
    from .textdet import TextDetector

    try:
        paths = ensure_models(config.model_names(), config.model_dir, log=log)
        # Several frames per inference call pay on a GPU; on a CPU one at a time is as fast or
        # faster (measured: CenterFace 32 vs 35 ms, PP-OCR 45 vs 54 ms per 640x352 frame).
        accel = resolve_providers(config.providers)[0] != "CPUExecutionProvider"
        common = dict(batch=config.batch if accel else 1, providers=config.providers,
                      threads=config.threads)
        out: list[ImageDetector] = []
        if "centerface" in paths:
            out.append(CenterFaceDetector(
                paths["centerface"], threshold=config.thresholds["face"], **common))
        if "ppocr_det" in paths:
            out.append(TextDetector(
                paths["ppocr_det"], threshold=config.thresholds["plate"], **common))
        if "clpr_det" in paths:
            out.append(PlateDetector(
                paths["clpr_det"], threshold=config.thresholds["plate"], **common))
        return out
    except ModelError:
        raise
    except AvanonError as exc:  # e.g. a provider that this onnxruntime lacks
        raise ModelError(f"cannot build the detectors: {exc}") from exc
    except Exception as exc:
        raise ModelError(f"cannot build the detectors: {type(exc).__name__}: {exc}") from exc


class DetectStage:
    """The detect stage, a :class:`~avanon.detect.base.FrameDetector`.

    Args:
        config: what to find and how.
        rotation: the stream's display rotation, counter-clockwise degrees as PyAV reports it
            (``VideoFrame.rotation``); the upright picture is ``np.rot90(coded, round(r/90) % 4)``.
        detectors: image detectors to run instead of the real models (tests, custom models).
            Their boxes are still filtered by ``config.classes`` and ``config.thresholds``.

    Raises:
        ModelNotFoundError, ModelError: building the real models failed.

    Example:
        >>> stage = DetectStage(DetectConfig(classes=("face",)))            # doctest: +SKIP
        >>> dets = stage.detect([frame], [0])                              # doctest: +SKIP
        >>> dets[0].xyxy                     # boxes in coded-picture pixels  # doctest: +SKIP
    """

    def __init__(
        self,
        config: DetectConfig,
        rotation: int = 0,
        *,
        detectors: Sequence[ImageDetector] | None = None,
    ) -> None:
        self.config = config
        self.rotation = rotation
        self._k = rotation_k(rotation)
        if detectors is None:
            detectors = build_detectors(config)
        self.detectors = list(detectors)
        min_score = np.full(len(CLASS_NAMES), np.inf, np.float32)
        for name in config.classes:
            min_score[class_id(name)] = config.thresholds[name]
        self._min_score = min_score
        # A detector whose classes are all disabled need not run.
        self._active = [d for d in self.detectors if set(d.classes) & set(config.classes)]

    @property
    def preferred_batch(self) -> int:
        """Frames per :meth:`detect` call that keep the models busiest (``config.batch``)."""
        return self.config.batch

    def detect(self, frames: Sequence[av.VideoFrame], indices: Sequence[int]) -> list[Detections]:
        """Find objects in ``frames``; one :class:`Detections` per frame, coded-picture pixels."""
        if len(frames) != len(indices):
            raise ValueError(
                f"detect: expected one index per frame, got {len(frames)} frames and "
                f"{len(indices)} indices"
            )
        out: list[Detections | None] = [None] * len(frames)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault((f.width, f.height), []).append(i)
        for (cw, ch), members in groups.items():
            det_wh = detector_size(*upright_size(cw, ch, self._k), self.config.det_size)
            images = np.stack([detector_input(frames[i], det_wh, self._k) for i in members])
            per_model = [d.detect(images) for d in self._active]
            for j, i in enumerate(members):
                merged = Detections.merge([p[j] for p in per_model])
                keep = merged.scores >= self._min_score[merged.class_ids]
                merged = merged[keep]
                out[i] = Detections(
                    to_coded(merged.xyxy, det_wh, (cw, ch), self._k),
                    merged.scores,
                    merged.class_ids,
                    None,
                    int(indices[i]),
                    frames[i].pts,
                )
        return out  # type: ignore[return-value]

    def __repr__(self) -> str:
        names = ", ".join(type(d).__name__ for d in self.detectors)
        return f"DetectStage([{names}], det_size={self.config.det_size}, rotation={self.rotation})"
