"""`Schedule`: which classes the detectors examine on which frame.

One object decides, per frame, what the detect stage looks for, so the anonymizer, the tracker's
lookahead and the CLI agree. A class runs every ``N``-th frame (``N`` per class; classes not
named run on every frame), and every class runs on the first frame of a shot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from .detections import CLASS_NAMES, class_id, class_name
from .errors import ConfigError

__all__ = ["DEFAULT_DETECT_EVERY", "Schedule", "parse_every"]

#: Default detection schedule (frames between detector runs, per class), chosen with
#: bench/throughput.py and bench/leak/run.py (see README, Benchmarks): tracking with lookahead
#: interpolates between runs, so this costs little leak for most of the detector's CPU time.
DEFAULT_DETECT_EVERY: Mapping[str, int] = MappingProxyType({"face": 6, "plate": 6})


@dataclass(frozen=True)
class Schedule:
    """How often each class is looked for.

    Attributes:
        every: class name -> run its detector on every N-th frame (N >= 1); classes not named
            run on every frame. Raising N is faster and leans more on tracking between runs
            (which needs a tracker to carry the boxes); 1 examines every frame.

    Example:
        >>> s = Schedule({"plate": 3})
        >>> [sorted(s.due(i)) for i in range(4)]
        [['face', 'plate'], ['face'], ['face'], ['face', 'plate']]
        >>> sorted(s.due(2, cut=True)), s.longest
        (['face', 'plate'], 3)
    """

    every: Mapping[str, int] = field(default_factory=dict)

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

    @classmethod
    def of(cls, value: "Schedule | int | Mapping[str, int] | None",
           tracking: bool = True) -> "Schedule":
        """A schedule from one N for every class, a per-class mapping, or None (the default:
        :data:`DEFAULT_DETECT_EVERY` with tracking, every frame without)."""
        if isinstance(value, Schedule):
            return value
        if value is None:
            value = DEFAULT_DETECT_EVERY if tracking else 1
        if isinstance(value, Mapping):
            return cls(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"detect_every: expected an integer >= 1, got {value!r}")
        return cls({c: value for c in CLASS_NAMES})

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

    def __str__(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.every.items()) or "1"


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
        out: dict[str, int] = {}
        for part in t.split(","):
            name, _, value = part.partition("=")
            out[class_name(class_id(name.strip()))] = int(value)
        return Schedule(out)
    except ConfigError:
        raise
    except ValueError:
        raise ConfigError(f"detect_every {text!r}: expected N or face=N,plate=M") from None
