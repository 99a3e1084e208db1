"""The detections file: every frame's final boxes as JSON, to review, edit and render from.

``--export-detections FILE`` and ``avanon detect IN FILE`` write it; ``--detections FILE``
renders from it without running the detectors (someone added a missed face or deleted a false
box). Version 1::

    {"format": "avanon-detections", "version": 1,
     "input": "in.mp4", "video_stream": 0, "width": 1280, "height": 720, "time_base": "1/15360",
     "coordinates": "...", "classes": ["face", "plate"],
     "frames": [
       {"frame": 0, "pts": 0, "time": 0.0, "objects": [
         {"class": "face", "score": 0.93, "box": [412.5, 96.25, 470.0, 171.75], "track": 3}]},
       {"frame": 1, "pts": 512, "time": 0.033333, "objects": []}]}

The boxes are the ones the masker received: after tracking (held, interpolated, carried-back
boxes included) and *before* the mask scale (``--mask-scale``), which is applied again at
render time together with the other mask options. Coordinates are written as the shortest
decimal that reads back as the same float32, so an unedited file renders exactly the pixels of
the run that wrote it (same mask options). ``frame`` is the frame's index in decode order of the
anonymized stream and ``pts`` its presentation timestamp in ``time_base``: a render checks both
against the video. ``time`` is for people and is not read. ``score`` (default 1) and ``track``
(default -1) may be left out of an object added by hand.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Mapping

import numpy as np

from .detections import CLASS_NAMES, Detections
from .errors import InputError

__all__ = ["FORMAT", "VERSION", "DetectionsFile", "DetectionsFileError", "FileDetector",
           "header", "frame_record", "read_detections", "renderer"]

FORMAT = "avanon-detections"
VERSION = 1
COORDINATES = "x0,y0,x1,y1 in pixels of the coded picture (before display rotation)"


class DetectionsFileError(InputError):
    """A detections file cannot be read, or does not fit the video it is rendered onto."""


def header(path: str, video_stream: int, width: int, height: int, time_base: Fraction) -> dict:
    """The file's fields before ``frames``, for a stream of ``width`` x ``height`` pixels."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "input": path,
        "video_stream": video_stream,
        "width": width,
        "height": height,
        "time_base": f"{time_base.numerator}/{time_base.denominator}",
        "coordinates": COORDINATES,
        "classes": list(CLASS_NAMES),
    }


def _exact(v: float) -> float:
    """The shortest decimal that is the same float32 as ``v`` (so JSON round trips exactly)."""
    return float(str(np.float32(v)))


def frame_record(dets: Detections, time_base: Fraction) -> dict:
    """One entry of ``frames``: the frame's index, pts, time in seconds and objects."""
    return {
        "frame": dets.frame_index,
        "pts": dets.pts,
        "time": None if dets.pts is None else round(float(dets.pts * time_base), 6),
        "objects": [
            {"class": CLASS_NAMES[int(c)], "score": round(float(s), 4),
             "box": [_exact(v) for v in b], "track": int(t)}
            for b, s, c, t in zip(dets.xyxy, dets.scores, dets.class_ids, dets.track_ids)
        ],
    }


@dataclass(frozen=True)
class DetectionsFile:
    """A validated detections file.

    Attributes:
        path: where it was read from.
        width, height: coded size of the video it was made for.
        time_base: time base of its pts.
        frames: frame index -> that frame's :class:`Detections` (pts included).
    """

    path: str
    width: int
    height: int
    time_base: Fraction
    frames: Mapping[int, Detections]


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def read_detections(path: str | os.PathLike) -> DetectionsFile:
    """Read and validate a detections file.

    Raises:
        DetectionsFileError: the file is missing, not JSON, of another format or version, or an
            entry is malformed (the message names the frame and object).
    """
    name = str(path)

    def bad(msg: str) -> DetectionsFileError:
        return DetectionsFileError(f"detections file {name}: {msg}")

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise bad("not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(f"cannot read it ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise bad(f"expected a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise bad(f"format {data.get('format')!r}: expected {FORMAT!r}")
    version = data.get("version")
    if version != VERSION:
        raise bad(f"version {version!r} is not supported (expected {VERSION})")
    width, height = data.get("width"), data.get("height")
    if not (_is_int(width) and _is_int(height) and width > 0 and height > 0):
        raise bad(f"width/height: expected positive integers, got {width!r}x{height!r}")
    try:
        tb = Fraction(str(data.get("time_base")))
        if tb <= 0:
            raise ValueError
    except (ValueError, ZeroDivisionError):
        raise bad(f"time_base {data.get('time_base')!r}: expected a fraction such as 1/15360") from None
    frames = data.get("frames")
    if not isinstance(frames, list):
        raise bad("frames: expected a list")
    out: dict[int, Detections] = {}
    for k, entry in enumerate(frames):
        where = f"frames[{k}]"
        if not isinstance(entry, dict):
            raise bad(f"{where}: expected an object, got {type(entry).__name__}")
        index, pts = entry.get("frame"), entry.get("pts")
        if not _is_int(index) or index < 0:
            raise bad(f"{where}: frame {index!r}: expected an integer >= 0")
        where = f"frame {index}"
        if pts is not None and not _is_int(pts):
            raise bad(f"{where}: pts {pts!r}: expected an integer or null")
        if index in out:
            raise bad(f"{where}: listed twice")
        objects = entry.get("objects")
        if not isinstance(objects, list):
            raise bad(f"{where}: objects: expected a list")
        boxes, scores, cids, tids = [], [], [], []
        for j, obj in enumerate(objects):
            at = f"{where} object {j}"
            if not isinstance(obj, dict):
                raise bad(f"{at}: expected an object, got {type(obj).__name__}")
            cls = obj.get("class")
            if cls not in CLASS_NAMES:
                raise bad(f"{at}: unknown class {cls!r} (expected one of {', '.join(CLASS_NAMES)})")
            box = obj.get("box")
            if not (isinstance(box, list) and len(box) == 4 and all(_is_num(v) for v in box)):
                raise bad(f"{at}: box {box!r}: expected [x0, y0, x1, y1], four finite numbers")
            x0, y0, x1, y1 = box
            if not (x0 < x1 and y0 < y1):
                raise bad(f"{at}: box {box!r}: expected x0 < x1 and y0 < y1")
            if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
                raise bad(f"{at}: box {box!r} lies outside the {width}x{height} picture")
            score = obj.get("score", 1.0)
            if not _is_num(score) or not 0 <= score <= 1:
                raise bad(f"{at}: score {score!r}: expected a number in 0..1")
            track = obj.get("track", -1)
            if not _is_int(track) or track < -1:
                raise bad(f"{at}: track {track!r}: expected an integer >= -1 (-1: none)")
            boxes.append(box)
            scores.append(score)
            cids.append(CLASS_NAMES.index(cls))
            tids.append(track)
        out[index] = Detections(np.asarray(boxes, np.float32).reshape(-1, 4),
                                np.asarray(scores, np.float32), np.asarray(cids, np.int16),
                                np.asarray(tids, np.int64), index, pts)
    return DetectionsFile(name, width, height, tb, out)


class FileDetector:
    """A :class:`~avanon.detect.base.FrameDetector` that reads each frame's boxes from a
    detections file instead of looking for them.

    Every frame of the video must have its entry (an empty ``objects`` list when there is
    nothing to mask), with the frame's own pts: a frame the file does not cover is an error,
    never a frame left unmasked. Call :meth:`finish` with the number of frames the video had
    to catch entries for frames it does not have.

    Args:
        dfile: the file, read with :func:`read_detections`.
        width, height, time_base: the video's coded size and time base, which must be the
            file's.
        classes: class names to render (objects of other classes are left out).

    Raises:
        DetectionsFileError: the file was made for a picture of another size or time base.
    """

    def __init__(self, dfile: DetectionsFile, width: int, height: int, time_base: Fraction,
                 classes=CLASS_NAMES):
        self.dfile = dfile
        if (dfile.width, dfile.height) != (width, height):
            raise self._bad(f"made for a {dfile.width}x{dfile.height} picture, the video is "
                            f"{width}x{height}")
        if dfile.time_base != time_base:
            raise self._bad(f"time_base {dfile.time_base}: the video's is {time_base}")
        self._keep = np.asarray([CLASS_NAMES.index(c) for c in classes], np.int16)

    def _bad(self, msg: str) -> DetectionsFileError:
        return DetectionsFileError(f"detections file {self.dfile.path}: {msg}")

    def detect(self, frames, indices) -> list[Detections]:
        out = []
        for frame, index in zip(frames, indices):
            dets = self.dfile.frames.get(index)
            if dets is None:
                raise self._bad(f"no entry for frame {index} (pts {frame.pts}) of the video: "
                                "every frame needs one (\"objects\": [] when nothing is masked)")
            if dets.pts is not None and frame.pts is not None and dets.pts != frame.pts:
                raise self._bad(f"frame {index}: pts {dets.pts} in the file, {frame.pts} in the "
                                "video (made from another video?)")
            out.append(dets[np.isin(dets.class_ids, self._keep)].with_frame(index, frame.pts))
        return out

    def finish(self, frames: int) -> None:
        """The video had ``frames`` frames: every entry of the file must be one of them."""
        extra = [i for i in self.dfile.frames if i >= frames]
        if extra:
            first = min(extra)
            raise self._bad(f"frame {first} (pts {self.dfile.frames[first].pts}) is not in the "
                            f"video, which has {frames} frames")


def renderer(dfile: DetectionsFile, width: int, height: int, time_base: Fraction, config=None,
             *, masker=None):
    """An :class:`~avanon.Anonymizer` that masks the boxes of ``dfile``, frame by frame: no
    detector, no tracking (the file holds the final boxes), the masker of ``config.mask`` (or
    ``masker``), the classes of ``config.detect.classes``.

    Raises:
        DetectionsFileError: the file was made for another picture size or time base.
    """
    from .anonymizer import Anonymizer
    from .config import Config
    from .mask import make_masker
    from .track.base import PassThroughTracker

    config = config or Config()
    detector = FileDetector(dfile, width, height, time_base, classes=config.detect.classes)
    return Anonymizer(detector, masker if masker is not None else make_masker(config.mask),
                      PassThroughTracker(), schedule=1)
