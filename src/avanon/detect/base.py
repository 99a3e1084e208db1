"""Detector protocols.

Two levels:

* :class:`ImageDetector` -- a model. Takes a batch of upright RGB images (all the same size,
  made by FFmpeg's scaler) and returns boxes in those images' pixel coordinates. The real face
  and plate models implement this.
* :class:`FrameDetector` -- the detect *stage* as the pipeline sees it. Takes decoded frames and
  returns boxes in coded-picture coordinates. :class:`avanon.detect.stage.DetectStage` adapts
  image detectors to it (downscale, rotate upright, run every model, map boxes back); tests and
  callers with their own detector can implement it directly.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import av
import numpy as np

from ..detections import Detections

__all__ = ["ImageDetector", "FrameDetector"]


@runtime_checkable
class ImageDetector(Protocol):
    """A model that finds objects in RGB images."""

    #: Class names this detector reports (subset of ``avanon.CLASS_NAMES``).
    classes: tuple[str, ...]

    def detect(self, images: np.ndarray) -> list[Detections]:
        """Find objects.

        Args:
            images: (B, H, W, 3) uint8 RGB, upright.

        Returns:
            One :class:`Detections` per image, boxes in that image's pixels.
        """
        ...


@runtime_checkable
class FrameDetector(Protocol):
    """The detect stage: decoded frames in, coded-picture boxes out."""

    def detect(self, frames: Sequence[av.VideoFrame], indices: Sequence[int]) -> list[Detections]:
        """Return one :class:`Detections` per frame (``frame_index`` set from ``indices``).

        Raising is allowed and fails the run closed: the pipeline never emits a frame whose
        detection failed.
        """
        ...
