"""Masker protocol: paint detections out of a decoded frame, in place, on its own planes."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import av

from ..detections import Detections

__all__ = ["Masker"]


@runtime_checkable
class Masker(Protocol):
    def apply(self, frame: av.VideoFrame, dets: Detections) -> av.VideoFrame:
        """Mask every box of ``dets`` (coded-picture coordinates) in ``frame``.

        Works on the frame's planes in its own pixel format and returns the frame (the same
        object when it could be modified in place).
        """
        ...
