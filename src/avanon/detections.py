"""`Detections`: the one type that flows through detect -> track -> mask.

Parallel numpy arrays, one row per object, plus the frame they belong to. Boxes are
``x0, y0, x1, y1`` in pixels of the *coded* picture (the planes as decoded, before any display
rotation), with x1/y1 exclusive. Detectors that work on a downscaled, upright copy produce boxes
in their own input coordinates; the detect stage maps them back (see ``avanon.detect.geometry``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

__all__ = ["CLASS_NAMES", "Detections", "class_id", "class_name"]

#: Object classes avanon knows, by id. Ids index this tuple.
CLASS_NAMES: tuple[str, ...] = ("face", "plate")


def class_id(name: str) -> int:
    """Return the id of class ``name`` ("face" or "plate")."""
    try:
        return CLASS_NAMES.index(name)
    except ValueError:
        from .errors import ConfigError

        raise ConfigError(
            f"unknown class {name!r}: expected one of {', '.join(CLASS_NAMES)}"
        ) from None


def class_name(cid: int) -> str:
    """Return the name of class id ``cid``."""
    return CLASS_NAMES[int(cid)]


def _as(a, dtype, shape_tail: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=dtype)
    if arr.size == 0:
        arr = arr.reshape((0,) + shape_tail)
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        raise ValueError(f"Detections.{name}: expected shape (N, {shape_tail}), got {arr.shape}")
    return arr


@dataclass(frozen=True, eq=False)
class Detections:
    """Objects found in one frame.

    Attributes:
        xyxy: (N, 4) float32 boxes ``x0, y0, x1, y1`` in coded-picture pixels.
        scores: (N,) float32 detector confidence in 0..1 (tracked-only boxes keep the score of
            the detection they came from).
        class_ids: (N,) int16 indices into :data:`CLASS_NAMES`.
        track_ids: (N,) int64 track ids, -1 where no tracker has assigned one.
        frame_index: index of the frame in decode order of the anonymized stream (0-based).
        pts: the frame's presentation timestamp in the stream's time base (None if unknown).

    Example:
        >>> d = Detections.from_boxes([[10, 10, 50, 60]], scores=[0.9], class_ids=[0])
        >>> len(d), d.class_ids.tolist()
        (1, [0])
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    track_ids: np.ndarray = field(default=None)  # type: ignore[assignment]
    frame_index: int = -1
    pts: int | None = None

    def __post_init__(self) -> None:
        xyxy = _as(self.xyxy, np.float32, (4,), "xyxy")
        n = len(xyxy)
        scores = _as(self.scores, np.float32, (), "scores")
        cids = _as(self.class_ids, np.int16, (), "class_ids")
        tids = (
            np.full(n, -1, np.int64)
            if self.track_ids is None
            else _as(self.track_ids, np.int64, (), "track_ids")
        )
        for name, arr in (("scores", scores), ("class_ids", cids), ("track_ids", tids)):
            if len(arr) != n:
                raise ValueError(
                    f"Detections.{name}: expected {n} rows to match xyxy, got {len(arr)}"
                )
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_ids", cids)
        object.__setattr__(self, "track_ids", tids)

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def empty(cls, frame_index: int = -1, pts: int | None = None) -> "Detections":
        """No objects."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros(0, np.int16), None, frame_index, pts)

    @classmethod
    def from_boxes(
        cls,
        xyxy: Sequence[Sequence[float]] | np.ndarray,
        scores: Sequence[float] | np.ndarray | None = None,
        class_ids: Sequence[int] | np.ndarray | int = 0,
        track_ids: Sequence[int] | np.ndarray | None = None,
        frame_index: int = -1,
        pts: int | None = None,
    ) -> "Detections":
        """Build from plain lists; ``scores`` default to 1, ``class_ids`` may be one int."""
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        n = len(xyxy)
        scores = np.ones(n, np.float32) if scores is None else scores
        if np.isscalar(class_ids):
            class_ids = np.full(n, int(class_ids), np.int16)  # type: ignore[arg-type]
        return cls(xyxy, scores, class_ids, track_ids, frame_index, pts)  # type: ignore[arg-type]

    @classmethod
    def merge(cls, parts: Iterable["Detections"], frame_index: int | None = None,
              pts: int | None = None) -> "Detections":
        """Concatenate detections of the same frame (frame_index/pts from the first part)."""
        parts = list(parts)
        if not parts:
            return cls.empty(-1 if frame_index is None else frame_index, pts)
        first = parts[0]
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.class_ids for p in parts]),
            np.concatenate([p.track_ids for p in parts]),
            first.frame_index if frame_index is None else frame_index,
            first.pts if pts is None else pts,
        )

    # -- access ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> "Detections":
        """Boolean mask, integer array or slice: a new `Detections` of the selected rows."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 if int(index) != -1 else None)
        return Detections(self.xyxy[index], self.scores[index], self.class_ids[index],
                          self.track_ids[index], self.frame_index, self.pts)

    def with_frame(self, frame_index: int, pts: int | None) -> "Detections":
        """The same boxes, attached to another frame."""
        return Detections(self.xyxy, self.scores, self.class_ids, self.track_ids,
                          frame_index, pts)

    def of_class(self, cid: int) -> "Detections":
        """Rows of class id ``cid``."""
        return self[self.class_ids == cid]

    @property
    def area(self) -> np.ndarray:
        """(N,) box areas in pixels (0 for degenerate boxes)."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def to_records(self) -> list[dict]:
        """JSON-ready rows: class name, score, box, track id."""
        return [
            {
                "class": class_name(c),
                "score": round(float(s), 4),
                "box": [round(float(v), 1) for v in b],
                "track": int(t),
            }
            for b, s, c, t in zip(self.xyxy, self.scores, self.class_ids, self.track_ids)
        ]

    def __repr__(self) -> str:
        return f"Detections(n={len(self)}, frame_index={self.frame_index}, pts={self.pts})"
