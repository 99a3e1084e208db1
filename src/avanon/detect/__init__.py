"""The detect stage: real face and licence-plate detectors, and the models they need.

Public surface: :class:`DetectConfig` (settings), :class:`DetectStage` (frames in, coded-picture
boxes out; ``detect(..., classes=...)`` for per-class scheduling), :class:`PlateRules` (which
plate boxes are implausible), :func:`ensure_models` / :func:`list_models` (the pinned model
files). The models themselves (:mod:`.centerface`, :mod:`.ppocr`, :mod:`.clpr`) implement
:class:`~avanon.detect.base.ImageDetector`.
"""

from __future__ import annotations

from .base import FrameDetector, ImageDetector, supports_classes
from .config import DetectConfig, parse_thresholds
from .store import ensure_models, list_models
from .plausible import PlateRules
from .stage import DetectStage, ModelTiming

__all__ = [
    "DetectConfig",
    "DetectStage",
    "FrameDetector",
    "ImageDetector",
    "ModelTiming",
    "PlateRules",
    "ensure_models",
    "list_models",
    "parse_thresholds",
    "supports_classes",
]
