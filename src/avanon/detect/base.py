"""Detector protocols.

Two levels:

* :class:`ImageDetector` -- a model. Takes a batch of upright RGB images (all the same size,
  made by FFmpeg's scaler) and returns boxes in those images' pixel coordinates. The real face
  and plate models implement this.
* :class:`FrameDetector` -- the detect *stage* as the pipeline sees it. Takes decoded frames and
  returns boxes in coded-picture coordinates. :class:`avanon.detect.stage.DetectStage` adapts
  image detectors to it (downscale, rotate upright, run every model, map boxes back); tests and
  callers with their own detector can implement it directly.

Per-class scheduling: a frame detector *may* take a keyword-only ``classes`` argument
(``DetectStage`` does) to look for some classes only, e.g. plates on every fourth frame and faces
on every frame. The protocol does not require it: callers check :func:`supports_classes` and call
detectors without it otherwise (they then get every class, which only masks more).
"""

from __future__ import annotations

import inspect
from typing import Protocol, Sequence, runtime_checkable

import av
import numpy as np

from ..detections import Detections

__all__ = ["ImageDetector", "FrameDetector", "accepts_keyword", "supports_classes"]


@runtime_checkable
class ImageDetector(Protocol):
    """A model that finds objects in RGB images."""

    #: Class names this detector reports (subset of ``avanon.CLASS_NAMES``).
    classes: tuple[str, ...]
    # Optional: ``name: str``, the key of its entry in ``DetectStage.timings`` (default: the
    # class name). Not part of the protocol so that stand-ins need not define it.
    # Optional: ``edge_mirror: bool`` (default True), False for a model that must never be shown
    # the picture mirrored past its edges (``DetectConfig.edge_mirror``), such as a text
    # detector, which reads the mirror's symmetric patterns as text.

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

        Implementations may add a keyword-only ``classes: Iterable[str] | None = None``: None
        finds every class, otherwise only the named ones (and runs only the models they need).
        Callers pass it only where :func:`supports_classes` is true. Likewise an optional
        ``fresh: Sequence[bool] | None = None`` marks the frames that show a new picture (the
        first frame, a shot cut), passed where :func:`accepts_keyword` says so.

        Raising is allowed and fails the run closed: the pipeline never emits a frame whose
        detection failed.
        """
        ...


def accepts_keyword(detector: FrameDetector, keyword: str) -> bool:
    """True when ``detector.detect`` accepts the optional keyword argument ``keyword``.

    Example:
        >>> class Old:
        ...     def detect(self, frames, indices): return []
        >>> class New:
        ...     def detect(self, frames, indices, *, classes=None, fresh=None): return []
        >>> accepts_keyword(Old(), "fresh"), accepts_keyword(New(), "fresh")
        (False, True)
    """
    try:
        params = inspect.signature(detector.detect).parameters
    except (TypeError, ValueError):  # no introspectable signature (e.g. some C extensions)
        return False
    p = params.get(keyword)
    if p is not None:
        return p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    return any(q.kind is q.VAR_KEYWORD for q in params.values())


def supports_classes(detector: FrameDetector) -> bool:
    """True when ``detector.detect`` accepts the optional ``classes`` keyword.

    Example:
        >>> class Old:
        ...     def detect(self, frames, indices): return []
        >>> class New:
        ...     def detect(self, frames, indices, *, classes=None): return []
        >>> supports_classes(Old()), supports_classes(New())
        (False, True)
    """
    return accepts_keyword(detector, "classes")
