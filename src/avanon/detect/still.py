"""What changed since it was last examined: the parts of a picture a full-frame pass must see.

A detector shown the same pixels finds the same things. Where the camera stands still (CCTV,
a parked dashcam, a tripod interview), most of each picture is what the detector examined a few
frames before, and only the moving parts (people, cars) or what they uncovered can hold
something new. :class:`StillRegions` keeps, per picture layout, the luma each part had when it
was last examined and the boxes found there; a full-frame pass then examines only the parts
whose luma changed since (:meth:`StillRegions.plan`), and the boxes found earlier in the still
parts stand (:meth:`StillRegions.settle`).

Change is measured on a 1/4 copy of the luma (4x4 block means, so sensor and coding noise
average out), as the mean absolute difference per cell of 32x32 picture pixels against the
luma the cell had when last examined, not against the previous frame: a slow drift adds up
until it is examined. A cell whose mean changed by more than :data:`CHANGE_CODES` 8-bit codes
is changed; changed cells grow by :data:`MARGIN_CELLS` on every side (an object of which only a
part moved is seen whole), and each connected group becomes one rectangle. More than
:data:`MOST` of the picture changed, a new picture (shot cut), a new layout, or no memory yet:
the whole frame is examined. Boxes found earlier that lie wholly inside an examined rectangle
are replaced by what is found there now; the others stand, partly covered ones included (better
a stale mask than a plate cut in two).

The scheduler (:class:`~avanon.schedule.Schedule`, ``rescan``) still asks for a whole-frame
pass at regular intervals, so a borderline object in a still scene gets another look, and a
run that starts mid-video (a segment of a split run) is in the same state as the whole run
from the first such pass on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detections import Detections
from .components import component_boxes
from ..track.flow_kernels import downscale

__all__ = ["CELL", "CHANGE_CODES", "MARGIN_CELLS", "MOST", "StillRegions"]

#: Side of a change cell in picture pixels (8x8 samples of the 1/4 luma copy).
CELL = 32
#: A cell whose mean luma moved by more than this (8-bit codes, mean absolute difference of its
#: 4x4 block means) since it was last examined is changed. Coding and sensor noise of a still
#: camera stay well under 1 code after 4x4 averaging; an object of 6x6 px with 50 codes of
#: contrast appearing in a cell moves it by ~2.
CHANGE_CODES = 1.5
#: Cells added around changed ones on every side before they are examined.
MARGIN_CELLS = 2
#: Above this share of the picture changed (or to be examined), the whole frame is.
MOST = 0.5


@dataclass
class _Memory:
    small: np.ndarray  # float32 1/4 luma in 8-bit codes, as each cell was when last examined
    found: Detections | None = None  # boxes standing from earlier passes, coded pixels


class StillRegions:
    """Per picture layout (a key chosen by the caller), what each part looked like when it was
    last examined and what was found in it.

    Example (a still picture, then a bright square appears):
        >>> import numpy as np
        >>> still = StillRegions()
        >>> y = np.full((360, 640), 60, np.uint8)
        >>> still.plan("k", y) is None          # nothing remembered: the whole frame
        True
        >>> _ = still.settle("k", None, Detections.empty())
        >>> len(still.plan("k", y))              # nothing changed: nothing to examine
        0
        >>> y2 = y.copy(); y2[100:140, 300:340] = 200
        >>> still.plan("k", y2).tolist()         # the changed cells and their margin
        [[224.0, 32.0, 416.0, 224.0]]
    """

    def __init__(self) -> None:
        self._memory: dict[object, _Memory] = {}

    def plan(self, key: object, luma: np.ndarray, bits: int = 8,
             whole: bool = False) -> np.ndarray | None:
        """Rectangles (R, 4) ``x0, y0, x1, y1`` in picture pixels to examine on the next picture
        of layout ``key``, whose luma is ``luma`` (2-D, full size, ``bits`` per sample); empty:
        nothing changed; None: the whole frame (``whole``, or nothing to compare with). The
        examined parts are remembered as they are now; pass what is found there to
        :meth:`settle`, in the same order as the plans."""
        small = _quarter(luma, bits)
        mem = self._memory.get(key)
        regions = None if whole or mem is None or mem.small.shape != small.shape else \
            _changed(small, mem.small, luma.shape)
        if regions is None:
            self._memory[key] = _Memory(small)  # settle() records what the whole pass finds
            return None
        for x0, y0, x1, y1 in regions.astype(np.int64):
            # the examined cells now remember this picture
            r0, c0, r1, c1 = y0 // 4, x0 // 4, -(-y1 // 4), -(-x1 // 4)
            mem.small[r0:r1, c0:c1] = small[r0:r1, c0:c1]
        return regions

    def settle(self, key: object, regions: np.ndarray | None, found: Detections) -> Detections:
        """Record what a pass planned by :meth:`plan` found (coded pixels) in ``regions`` (its
        plan). Returns the boxes that now stand for the whole picture: ``found`` plus the
        earlier ones not wholly inside an examined region."""
        mem = self._memory[key]
        if regions is None or mem.found is None:
            mem.found = found
            return found
        keep = mem.found
        for x0, y0, x1, y1 in np.asarray(regions, np.float64):
            inside = ((keep.xyxy[:, 0] >= x0) & (keep.xyxy[:, 1] >= y0)
                      & (keep.xyxy[:, 2] <= x1) & (keep.xyxy[:, 3] <= y1))
            keep = keep[~inside]
        mem.found = Detections.merge([keep, found])
        return mem.found


def _changed(small: np.ndarray, ref: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """Rectangles around the cells of ``small`` that differ from ``ref`` (see the module doc);
    None: most of the picture."""
    h, w = shape
    rows, cols = small.shape[0] // 8, small.shape[1] // 8
    if rows < 1 or cols < 1:
        return None
    diff = np.abs(small - ref)
    changed = diff[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8).mean(axis=(1, 3)) \
        > CHANGE_CODES
    # the strips right of and below the last whole cells (pictures not a multiple of 32)
    if small.shape[1] > cols * 8:
        changed[:, -1] |= diff[: rows * 8, cols * 8:].reshape(rows, 8, -1).mean(axis=(1, 2)) \
            > CHANGE_CODES
    if small.shape[0] > rows * 8:
        changed[-1, :] |= diff[rows * 8:, : cols * 8].reshape(-1, cols, 8).mean(axis=(0, 2)) \
            > CHANGE_CODES
    if changed.mean() > MOST:
        return None
    if not changed.any():
        return np.zeros((0, 4), np.float32)
    rects = []
    for r0, c0, r1, c1 in _components(_dilate(changed, MARGIN_CELLS)):
        rects.append((c0 * CELL, r0 * CELL, w if c1 == cols else c1 * CELL,
                      h if r1 == rows else r1 * CELL))
    out = np.asarray(rects, np.float32)
    area = float(((out[:, 2] - out[:, 0]) * (out[:, 3] - out[:, 1])).sum())
    return None if area > MOST * w * h else out


def _quarter(luma: np.ndarray, bits: int) -> np.ndarray:
    """The 4x4 block means of ``luma`` in 8-bit codes (float32; the last ``h % 4`` rows and
    ``w % 4`` columns are left out)."""
    shift = max(bits - 12, 0)  # 4x4 sums of up to 12-bit samples fit 16 bits
    sums = downscale(np.ascontiguousarray(luma), 4, shift)
    return sums.astype(np.float32) * np.float32(2.0 ** (shift + 8 - bits) / 16.0)


def _dilate(mask: np.ndarray, n: int) -> np.ndarray:
    """``mask`` grown by ``n`` cells in every direction (a square neighbourhood)."""
    out = mask.copy()
    for _ in range(n):
        g = out.copy()
        g[1:, :] |= out[:-1, :]
        g[:-1, :] |= out[1:, :]
        g[:, 1:] |= out[:, :-1]
        g[:, :-1] |= out[:, 1:]
        g[1:, 1:] |= out[:-1, :-1]
        g[1:, :-1] |= out[:-1, 1:]
        g[:-1, 1:] |= out[1:, :-1]
        g[:-1, :-1] |= out[1:, 1:]
        out = g
    return out


def _components(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes ``(r0, c0, r1, c1)`` (end exclusive) of the 8-connected groups of
    ``mask`` (:func:`~avanon.detect.components.component_boxes`, raster order of each group's
    first cell); boxes that overlap are merged."""
    found, _, _ = component_boxes(mask, np.zeros(mask.shape, np.float32))
    boxes = [(int(y0), int(x0), int(y1), int(x1)) for x0, y0, x1, y1 in found]
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    boxes[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes
