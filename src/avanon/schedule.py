"""`Schedule`: which classes the detectors examine on which frame.

One object decides, per frame, what the detect stage looks for and how, so the anonymizer, the
tracker's lookahead and the CLI agree. A class runs on the whole of every ``N``-th frame (``N``
per class; classes not named run on every frame), and every class on the first frame of a shot;
between those runs, tracked objects are looked for again in crops around them (``around``); and
only every ``rescan``-th run examines the whole picture, the others what changed since it was
last examined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from .detections import CLASS_NAMES, class_id, class_name
from .errors import ConfigError

__all__ = ["DEFAULT_AROUND", "DEFAULT_DETECT_EVERY", "DEFAULT_RESCAN", "Schedule", "parse_around",
           "parse_every"]

#: Default full-frame schedule (frames between two full-frame runs, per class), chosen with
#: bench/leak/run.py and bench/throughput.py (README, Benchmarks). Faces: every 12th frame, since
#: tracked faces are looked for again around their tracks (below) and a new face is carried back
#: along the measured motion over the lookahead (which follows the longest interval); on the crowd
#: sequence the object leak is the same as every 6th (9.6 %; frame leak 2.82 % vs 2.40 %) for
#: half the full-frame face cost. Plates: every 6th; every 12th lets more plates leak (object leak 26.9 % ->
#: 38.8 % on the plate sequence).
DEFAULT_DETECT_EVERY: Mapping[str, int] = MappingProxyType({"face": 12, "plate": 6})
#: Default re-detection around tracks between full-frame runs (frames between two looks, per
#: class; see :attr:`Schedule.around`): faces every 2nd frame (every 3rd: crowd object leak
#: 9.6 % -> 10.2 %, every frame: 1.6x the detector time). Plates are not re-detected: they move
#: with the camera, which the measured motion follows, and text-heavy scenes would pay for a crop
#: per sign.
DEFAULT_AROUND: Mapping[str, int] = MappingProxyType({"face": 2})
#: Default :attr:`Schedule.rescan`: every 4th full-frame run of a class examines the whole
#: picture; the three between examine only what changed since it was last examined.
DEFAULT_RESCAN = 4


@dataclass(frozen=True)
class Schedule:
    """How often each class is looked for.

    Attributes:
        every: class name -> run its detector on the whole of every N-th frame (N >= 1);
            classes not named run on every frame. Raising N is faster and leans more on
            tracking between runs (which needs a tracker to carry the boxes); 1 examines every
            frame. This is what finds new objects.
        around: class name -> on the frames between two full-frame runs, look again for that
            class's tracked objects every M-th frame, on small crops around where the tracker
            expects them, at the frame's own resolution or finer (cheap: a few percent of a
            full frame per object). It re-anchors a moving object before its mask can drift
            off it and finds small objects the downscaled full frame misses. Classes not named
            (or M = 0) are not re-detected between runs.

    Example:
        >>> s = Schedule({"plate": 3})
        >>> [sorted(s.due(i)) for i in range(4)]
        [['face', 'plate'], ['face'], ['face'], ['face', 'plate']]
        >>> sorted(s.due(2, cut=True)), s.longest
        (['face', 'plate'], 3)
    """

    every: Mapping[str, int] = field(default_factory=dict)
    around: Mapping[str, int] = field(default_factory=dict)
    rescan: int = DEFAULT_RESCAN

    def __post_init__(self) -> None:
        if not isinstance(self.every, Mapping):
            raise ConfigError(
                f"detect_every: expected a mapping such as {{'face': 2}}, got {self.every!r}"
            )
        norm = {}
        for name, n in self.every.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"detect_every[{name!r}]: expected an integer >= 1, got {n!r}")
            norm[class_name(class_id(name))] = n
        object.__setattr__(self, "every", MappingProxyType(norm))
        if not isinstance(self.around, Mapping):
            raise ConfigError(
                f"around: expected a mapping such as {{'face': 1}}, got {self.around!r}"
            )
        around = {}
        for name, n in self.around.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ConfigError(f"around[{name!r}]: expected an integer >= 0, got {n!r}")
            if n:
                around[class_name(class_id(name))] = n
        object.__setattr__(self, "around", MappingProxyType(around))
        if isinstance(self.rescan, bool) or not isinstance(self.rescan, int) or self.rescan < 1:
            raise ConfigError(f"rescan: expected an integer >= 1, got {self.rescan!r}")

    @classmethod
    def of(cls, value: "Schedule | int | Mapping[str, int] | None",
           tracking: bool = True) -> "Schedule":
        """A schedule from one N for every class, a per-class mapping, or None (the default:
        :data:`DEFAULT_DETECT_EVERY` with tracking, every frame without)."""
        if isinstance(value, Schedule):
            return value
        # without tracking every frame is examined whole, as the baseline it is
        around = DEFAULT_AROUND if tracking else {}
        rescan = DEFAULT_RESCAN if tracking else 1
        if value is None:
            value = DEFAULT_DETECT_EVERY if tracking else 1
        if isinstance(value, Mapping):
            return cls(value, around, rescan)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"detect_every: expected an integer >= 1, got {value!r}")
        return cls({c: value for c in CLASS_NAMES}, around, rescan)

    def interval(self, name: str) -> int:
        """Frames between two runs of class ``name``'s detector."""
        return self.every.get(name, 1)

    @property
    def longest(self) -> int:
        """The longest interval of any class (1: every class on every frame)."""
        return max(self.every.values(), default=1)

    @property
    def shortest(self) -> int:
        """The shortest interval of any class (1 when a class is not named)."""
        named = [self.every.get(c, 1) for c in CLASS_NAMES]
        return min(named)

    def due(self, index: int, cut: bool = False,
            classes: tuple[str, ...] = CLASS_NAMES) -> frozenset[str]:
        """Classes (of ``classes``) whose detector runs on frame ``index``; all of them on the
        first frame of a shot (``cut``)."""
        return frozenset(c for c in classes if cut or index % self.interval(c) == 0)

    def whole(self, index: int, cut: bool = False,
              classes: tuple[str, ...] = CLASS_NAMES) -> bool:
        """True when the full-frame run on frame ``index`` must examine the whole picture (a
        shot's first frame, or the :attr:`rescan`-th run of a class due here); False when it
        may examine only what changed (see :attr:`rescan`)."""
        return cut or any(index % self.interval(c) == 0
                          and (index // self.interval(c)) % self.rescan == 0 for c in classes)

    @property
    def settles(self) -> int:
        """Frames after which a run started mid-video has examined every class's whole picture
        once, so what it remembers of still parts is what a run from the start remembers."""
        return self.longest * self.rescan if self.rescan > 1 else 0

    def around_due(self, index: int, cut: bool = False,
                   classes: tuple[str, ...] = CLASS_NAMES) -> frozenset[str]:
        """Classes (of ``classes``) re-detected around their tracks on frame ``index``: those
        not due for a full-frame run whose ``around`` interval divides ``index``."""
        full = self.due(index, cut, classes)
        return frozenset(c for c in classes if c not in full and c in self.around
                         and index % self.around[c] == 0)

    def with_around(self, around: Mapping[str, int]) -> "Schedule":
        """The same full-frame schedule with another :attr:`around`."""
        return Schedule(self.every, around, self.rescan)

    def with_rescan(self, rescan: int) -> "Schedule":
        """The same schedule with another :attr:`rescan`."""
        return Schedule(self.every, self.around, rescan)

    def __str__(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.every.items()) or "1"


def _per_class(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        out[class_name(class_id(name.strip()))] = int(value)
    return out


def parse_around(text: str) -> dict[str, int]:
    """``--redetect`` value: ``"1"`` (every class, every frame), ``"0"`` (off) or
    ``"face=1,plate=2"`` (classes not named: off).

    Raises:
        ConfigError: malformed text, an unknown class or a negative value.
    """
    t = (text or "").strip()
    try:
        if "=" not in t:
            return {c: int(t) for c in CLASS_NAMES}
        return _per_class(t)
    except ConfigError:
        raise
    except ValueError:
        raise ConfigError(f"around {text!r}: expected N or face=N,plate=M") from None


def parse_every(text: str) -> Schedule:
    """``--detect-every`` value: ``"3"`` (every class) or ``"face=2,plate=6"`` (classes not
    named: every frame).

    Raises:
        ConfigError: malformed text, an unknown class or a value below 1.
    """
    t = (text or "").strip()
    try:
        if "=" not in t:
            return Schedule.of(int(t))
        return Schedule(_per_class(t), DEFAULT_AROUND)
    except ConfigError:
        raise
    except ValueError:
        raise ConfigError(f"detect_every {text!r}: expected N or face=N,plate=M") from None
