"""The mask stage: paint detections out of decoded frames, irreversibly, in place.

Example:
    >>> import av
    >>> from avanon.detections import Detections
    >>> from avanon.mask import MaskConfig, make_masker
    >>> masker = make_masker(MaskConfig(mode="pixelate", shape="ellipse"))
    >>> frame = av.VideoFrame(64, 48, "yuv420p")
    >>> masker.apply(frame, Detections.from_boxes([[8, 8, 40, 40]])) is frame
    True
"""

from __future__ import annotations

from .base import Masker
from .config import MaskConfig
from .masker import PlaneMasker

__all__ = ["MASKERS", "Masker", "MaskConfig", "PlaneMasker", "make_masker"]

#: Built-in maskers by name.
MASKERS: dict[str, type[PlaneMasker]] = {"planes": PlaneMasker}


def make_masker(config: MaskConfig | None = None, name: str = "planes") -> Masker:
    """Build the masker registered as ``name`` (default "planes") for ``config``.

    Raises:
        ConfigError: ``name`` is not in :data:`MASKERS`.
    """
    try:
        cls = MASKERS[name]
    except KeyError:
        from ..errors import ConfigError

        raise ConfigError(
            f"masker: expected one of {', '.join(MASKERS)}, got {name!r}"
        ) from None
    return cls(config if config is not None else MaskConfig())
