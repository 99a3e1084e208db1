"""Tracking options: one frozen dataclass, validated on construction.

Durations (``hold``) may be given in frames or in seconds; the tracker resolves them to frames
with the stream's average frame rate (:meth:`TrackConfig.hold_frames`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError

__all__ = ["Duration", "TrackConfig", "parse_duration"]

_DURATION = re.compile(r"^\s*(?P<value>[0-9]*\.?[0-9]+)\s*(?P<unit>s|f|frames?)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Duration:
    """A length of time, in frames or in seconds.

    Example:
        >>> parse_duration("0.5s").frames(30.0)
        15
        >>> parse_duration("15").frames(24.0)
        15
    """

    value: float
    unit: Literal["frames", "s"] = "frames"

    def __post_init__(self) -> None:
        if self.unit not in ("frames", "s"):
            raise ConfigError(f"duration unit: expected 'frames' or 's', got {self.unit!r}")
        if not math.isfinite(self.value) or self.value < 0:
            raise ConfigError(f"duration: expected a finite value >= 0, got {self.value!r}")
        if self.unit == "frames" and self.value != int(self.value):
            raise ConfigError(
                f"duration: expected a whole number of frames, got {self.value!r} "
                f"(give seconds as '{self.value}s')"
            )

    def frames(self, fps: float) -> int:
        """This duration in whole frames at ``fps`` frames per second (seconds round to nearest)."""
        if self.unit == "frames":
            return int(self.value)
        if not math.isfinite(fps) or fps <= 0:
            raise ConfigError(f"fps: expected a frame rate > 0 to resolve {self}, got {fps!r}")
        return int(round(self.value * fps))

    def __str__(self) -> str:
        return f"{self.value:g}s" if self.unit == "s" else f"{int(self.value)}"


def parse_duration(text: str | int | float | Duration, option: str = "duration") -> Duration:
    """Parse ``"0.5s"`` (seconds) or ``"15"`` / ``"15f"`` (frames) into a :class:`Duration`.

    An int is a number of frames; a ``Duration`` is returned as it is. Raises
    :class:`~avanon.errors.ConfigError` naming ``option`` when the text is neither.
    """
    if isinstance(text, Duration):
        return text
    if isinstance(text, bool):
        raise ConfigError(f"{option}: expected frames (15) or seconds (0.5s), got {text!r}")
    if isinstance(text, (int, float)):
        value, unit = float(text), "frames"
    else:
        m = _DURATION.match(str(text))
        if m is None:
            raise ConfigError(f"{option}: expected frames (15) or seconds (0.5s), got {text!r}")
        value = float(m["value"])
        unit = "s" if (m["unit"] or "").lower() == "s" else "frames"
    try:
        return Duration(value, unit)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise ConfigError(f"{option}: {str(exc).split(': ', 1)[1]}") from None


@dataclass(frozen=True)
class TrackConfig:
    """How detections are tied into tracks and carried over the frames the detector misses.

    Attributes:
        enabled: track at all. False masks each frame's detections as they are (``--no-track``).
        hold: how long a track keeps masking at its predicted position after its last
            detection: frames (int, ``"15"``) or seconds (``"0.5s"``). Raising it closes longer
            gaps but masks empty places longer after an object really left; 0 stops masking at
            the first observed miss. Frames where the detector did not run never end a track.
        lookahead: frames the output is delayed so that a track's first detection can be carried
            back to the frames before it, and gaps can be interpolated between detections on both
            sides. Raising it fixes later first detections and longer gaps, at the cost of holding
            that many decoded frames in memory; 0 disables backward fill and interpolation.
        iou_threshold: least overlap (IoU) between a track's predicted box and a detection for
            them to be matched. Lowering it keeps fast or small objects on their track but risks
            swapping neighbours.
        high_score: detections scoring at least this start new tracks and are matched first.
            Lower-scoring detections (ByteTrack's second pass) only continue existing tracks; if
            they continue none, they are still masked on their own frame but not held. Small,
            half-hidden faces score low: starting tracks from them is what keeps them masked
            between detections (crowd sequence, faces: frame leak 10.2 % at 0.5, 2.3 % at
            0.2); raising it holds fewer false boxes.
        low_score: detections scoring below this are ignored (neither masked nor tracked).
            Keep it at or below the detector's own threshold, or tracking masks less than
            detection alone.
        min_hits: detections a track needs before it is held, carried back or interpolated.
            Raising it stops one-frame false positives from being held; 1 holds every detection.
        grow: standard deviations of the track's position uncertainty added to each side of a
            predicted (held or carried-back) box. Raising it covers objects that change course
            during a gap, at the cost of masking more around them; 0 keeps the box size.
        max_grow: most a predicted box may grow on each side, as a fraction of its size.
        edge_margin: a track ends once less than this fraction of its predicted box is inside
            the frame (the object has left).
        motion: predict tracks with the motion measured in the pictures (global pan/zoom plus
            each box's own shift, :mod:`avanon.track.flow`) between detections, carry a new
            track back along it, and fill gaps along it. False falls back to constant velocity
            (cheaper by about 1-3 ms per frame with boxes, but masks slide off small objects
            when the camera moves).

    Example:
        >>> TrackConfig(hold="0.5s", lookahead=10).hold_frames(30.0)
        15
    """

    enabled: bool = True
    hold: Duration | str | int = "0.25s"
    lookahead: int = 5
    iou_threshold: float = 0.2
    high_score: float = 0.2
    low_score: float = 0.0
    min_hits: int = 2
    grow: float = 0.5
    max_grow: float = 0.5
    edge_margin: float = 0.05
    motion: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "hold", parse_duration(self.hold, "hold"))
        if isinstance(self.lookahead, bool) or not isinstance(self.lookahead, int) or self.lookahead < 0:
            raise ConfigError(f"lookahead: expected a whole number of frames >= 0, got {self.lookahead!r}")
        for name, lo, hi in (
            ("iou_threshold", 0.0, 1.0),
            ("high_score", 0.0, 1.0),
            ("low_score", 0.0, 1.0),
            ("edge_margin", 0.0, 1.0),
        ):
            _check_range(name, getattr(self, name), lo, hi)
        if self.low_score > self.high_score:
            raise ConfigError(
                f"low_score: expected at most high_score ({self.high_score}), got {self.low_score}"
            )
        if isinstance(self.min_hits, bool) or not isinstance(self.min_hits, int) or self.min_hits < 1:
            raise ConfigError(f"min_hits: expected a whole number >= 1, got {self.min_hits!r}")
        _check_range("grow", self.grow, 0.0, math.inf)
        _check_range("max_grow", self.max_grow, 0.0, math.inf)

    def hold_frames(self, fps: float) -> int:
        """``hold`` in frames at the stream's average frame rate ``fps``."""
        return self.hold.frames(fps)  # type: ignore[union-attr]


def _check_range(name: str, value: object, lo: float, hi: float) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and lo <= value <= hi):  # type: ignore[arg-type]
        bounds = f">= {lo:g}" if hi == math.inf else f"in {lo:g}..{hi:g}"
        raise ConfigError(f"{name}: expected a number {bounds}, got {value!r}")
