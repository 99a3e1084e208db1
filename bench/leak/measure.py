"""Leak and over-masking of an anonymized sequence against its exact ground truth.

The output must have been made in solid mode with black (``--mode solid --color 0,0,0``). Input
and output are decoded frame by frame with PyAV and compared on the luma plane:

* a pixel is *masked* when it is black in the output (Y <= ``MASKED_Y``) but was not dark in the
  input (Y > ``DARK_Y``); pixels that were already dark are ignored everywhere;
* a ground-truth box is *evaluated* on a frame when at least half of it is in the picture and the
  short side of its visible part is at least 10 px; it is *covered* when at least 90 % of the
  (not already dark) pixels of its inner core, the central 60 % in each direction, are masked;
* frame leak rate = uncovered evaluated boxes / evaluated boxes; object leak rate = objects
  uncovered on at least one evaluated frame / objects evaluated at least once;
* over-masked area = masked pixels outside every ground-truth box, as a share of the picture,
  averaged over frames;
* by size: the frame leak rate of the evaluated boxes in each bucket of ground-truth box width on
  the frame (output pixels; ``SIZE_EDGES``), so that recall by object size = 1 - its leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

#: Output luma at or below this is the black fill (limited range black is 16, plus codec noise).
MASKED_Y = 26
#: Input luma at or below this is too dark to tell a mask from the picture.
DARK_Y = 40
MIN_IN_FRAME = 0.5
MIN_SIDE = 10.0
CORE = 0.6
NEED = 0.9
#: Bucket edges of ground-truth box width (output px) for the leak by object size.
SIZE_EDGES = (16, 24, 32, 48, 96)


def size_labels(edges=SIZE_EDGES) -> list[str]:
    """``['<16', '16-24', ..., '>=96']``."""
    return ([f"<{edges[0]}"] + [f"{a}-{b}" for a, b in zip(edges, edges[1:])]
            + [f">={edges[-1]}"])


def size_bucket(width: float, edges=SIZE_EDGES) -> int:
    """Index of the bucket of a box ``width`` px wide (left-closed: 16 goes to '16-24')."""
    return int(np.searchsorted(edges, width, side="right"))


@dataclass
class Result:
    """Counts for one sequence and one configuration."""

    frames: int = 0
    evaluated: int = 0
    uncovered: int = 0
    objects: int = 0
    objects_leaked: int = 0
    over_masked: float = 0.0  # mean share of the picture
    leaked: list[tuple[int, int]] = field(default_factory=list)  # (frame, object id)
    #: evaluated and uncovered boxes per bucket of box width (``SIZE_EDGES``)
    size_evaluated: list[int] = field(default_factory=lambda: [0] * (len(SIZE_EDGES) + 1))
    size_uncovered: list[int] = field(default_factory=lambda: [0] * (len(SIZE_EDGES) + 1))

    @property
    def frame_leak(self) -> float:
        return self.uncovered / self.evaluated if self.evaluated else 0.0

    @property
    def object_leak(self) -> float:
        return self.objects_leaked / self.objects if self.objects else 0.0

    @property
    def size_leak(self) -> list[float | None]:
        """Frame leak rate per size bucket (None where no box was evaluated)."""
        return [u / e if e else None for e, u in zip(self.size_evaluated, self.size_uncovered)]


def boxes_per_frame(gt: dict) -> list[list[tuple[int, np.ndarray]]]:
    """For each frame, the (object id, box) pairs of the objects in its shot."""
    frames: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(gt["frames"])]
    for obj in gt["objects"]:
        for k, box in enumerate(obj["boxes"]):
            frames[obj["first"] + k].append((obj["id"], np.asarray(box, np.float64)))
    return frames


def evaluable(box: np.ndarray, width: int, height: int) -> bool:
    """At least half of ``box`` in the picture, and its visible part at least 10 px on its short side."""
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    vw = min(box[2], width) - max(box[0], 0)
    vh = min(box[3], height) - max(box[1], 0)
    if area <= 0 or vw <= 0 or vh <= 0:
        return False
    return bool(vw * vh >= MIN_IN_FRAME * area and min(vw, vh) >= MIN_SIDE)


def core_slices(box: np.ndarray, width: int, height: int) -> tuple[slice, slice]:
    """Pixel rows and columns whose centres lie in the central ``CORE`` of ``box``, clipped."""
    m = (1 - CORE) / 2
    bw, bh = box[2] - box[0], box[3] - box[1]
    x0, x1 = box[0] + m * bw, box[2] - m * bw
    y0, y1 = box[1] + m * bh, box[3] - m * bh
    cols = slice(int(np.clip(np.ceil(x0 - 0.5), 0, width)), int(np.clip(np.ceil(x1 - 0.5), 0, width)))
    rows = slice(int(np.clip(np.ceil(y0 - 0.5), 0, height)), int(np.clip(np.ceil(y1 - 0.5), 0, height)))
    return rows, cols


def frame_stats(y_in: np.ndarray, y_out: np.ndarray, objects: list[tuple[int, np.ndarray]]):
    """Per frame: list of (object id, covered) for evaluated objects, and the over-masked share."""
    height, width = y_in.shape
    usable = y_in > DARK_Y
    masked = (y_out <= MASKED_Y) & usable
    outside = np.ones_like(masked)
    result = []
    for oid, box in objects:
        x0, y0 = int(max(np.floor(box[0]), 0)), int(max(np.floor(box[1]), 0))
        x1, y1 = int(min(np.ceil(box[2]), width)), int(min(np.ceil(box[3]), height))
        if x1 > x0 and y1 > y0:
            outside[y0:y1, x0:x1] = False
        if not evaluable(box, width, height):
            continue
        core = core_slices(box, width, height)
        ok = usable[core]
        covered = True if not ok.any() else bool(masked[core][ok].mean() >= NEED)
        result.append((oid, covered))
    over = float((masked & outside).sum()) / (width * height)
    return result, over


def luma_frames(path: Path):
    """Each frame's Y plane (limited range), decoded by PyAV."""
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            yield f.reformat(format="yuv420p").to_ndarray()[: f.height]


def tally(per_frame_stats, per_frame_objects=None) -> Result:
    """Sum :func:`frame_stats` results, one ``(stats, over)`` pair per frame, into a Result.
    ``per_frame_objects`` (the :func:`boxes_per_frame` lists the stats were made from) gives the
    box widths for the leak by size; without it, the size buckets stay empty."""
    res = Result()
    seen: set[int] = set()
    leaked: set[int] = set()
    over_sum = 0.0
    objects_of = iter(per_frame_objects) if per_frame_objects is not None else None
    for i, (stats, over) in enumerate(per_frame_stats):
        over_sum += over
        res.frames += 1
        widths = {}
        if objects_of is not None:
            widths = {oid: box[2] - box[0] for oid, box in next(objects_of)}
        for oid, covered in stats:
            res.evaluated += 1
            seen.add(oid)
            if oid in widths:
                b = size_bucket(widths[oid])
                res.size_evaluated[b] += 1
                res.size_uncovered[b] += not covered
            if not covered:
                res.uncovered += 1
                leaked.add(oid)
                res.leaked.append((i, oid))
    res.objects, res.objects_leaked = len(seen), len(leaked)
    res.over_masked = over_sum / res.frames if res.frames else 0.0
    return res


def evaluate(source: Path, output: Path, gt: dict) -> Result:
    """Compare ``output`` with ``source`` frame by frame against ground truth ``gt``."""
    per_frame = boxes_per_frame(gt)
    pairs = zip(luma_frames(source), luma_frames(output), per_frame)
    res = tally((frame_stats(a, b, objects) for a, b, objects in pairs), per_frame)
    if res.frames != gt["frames"]:
        raise RuntimeError(f"{output}: expected {gt['frames']} frames, decoded {res.frames}")
    return res
