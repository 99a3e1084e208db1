"""`IouTracker`: ties detections into tracks and masks objects through the frames the detector
misses.

Online, frame by frame (per class): every live track predicts its box with a constant-velocity
Kalman filter; detections are matched to predictions by IoU, then by centre distance within the
prediction's uncertainty (small or fast objects), then low-score detections are matched to the
tracks still free (ByteTrack's second pass). A detection that covers only part of its track's
prediction (the detector saw part of the object) is widened to the prediction for a frame or two.
A track missed on a frame where the detector ran keeps its predicted box, grown with its
uncertainty, for ``hold`` frames after that detection; frames where the detector did not run
never end a track. The size of a held box (before that margin) is never smaller than its last
detection and never larger than the scale change its detections or the measured motion show
allows (:func:`_size_cap`), so a noisy size velocity cannot swell it. A track ends when its
prediction leaves the picture, when the hold runs out, or at a shot cut.

Each frame's final boxes are decided ``lookahead`` frames later, when more of the future is known:
a gap between two detections of a track is filled by interpolation, and a track's first detection
is carried back to the frames before it (never across a cut), extrapolated with the track's
velocity. Only ``lookahead`` frames are ever held back.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from typing import Collection, Mapping

import numpy as np

from ..detections import Detections
from ..errors import ConfigError, PipelineError
from .config import TrackConfig
from ..boxes import centre_distance, cxcywh_to_xyxy, iou_matrix, xyxy_to_cxcywh
from .match import greedy_assign
from .motion import BoxFilters, extrapolation_std, fit_velocity

__all__ = ["IouTracker"]

log = logging.getLogger(__name__)

#: Standard deviations of position uncertainty within which a detection's centre may be matched
#: to a prediction whose box it does not overlap.
_GATE_STD = 2.0
#: ... and at least this far per frame since the track's last detection, as a fraction of the
#: picture's diagonal: a track seen once does not know its velocity yet, and a small object in a
#: fast pan moves more than its own size between detections.
_GATE_PER_FRAME = 0.015
#: A detection covering less than this share of its track's (visible) prediction is taken as a
#: partial view (part of the object, or the detector's box collapsing) for up to
#: ``_PARTIAL_FRAMES`` frames in a row: the track keeps the union of both boxes.
_PARTIAL = 0.7
_PARTIAL_FRAMES = 2
#: A held, carried-back or interpolated box is at most this many times the largest recent
#: detection of its track, wide and high (before its uncertainty margin) ...
_MAX_SCALE = 1.5
#: ... where "recent" is the track's last this many detections, which also give its size rate.
_SCALE_DETS = 8


def _size_cap(largest: np.ndarray, rate: np.ndarray, frames: float,
              zoom: np.ndarray | float = 1.0) -> np.ndarray:
    """Largest width and height a track's box may have ``frames`` frames away from its nearest
    detection: the largest of its recent detections (``largest``, w h), grown only by scale
    change that was measured -- the growth rate fitted to its detections (``rate``, px per frame
    in the direction of that frame; shrinking counts as 0) or the zoom measured in the pictures
    over those frames (``zoom``) -- and at most ``_MAX_SCALE`` times ``largest``:

        min(max(largest + frames * max(rate, 0), zoom * largest), _MAX_SCALE * largest)

    Works on one track (2,) or many (N, 2) (``frames`` then (N, 1)).

    Example:
        >>> _size_cap(np.array([40.0, 20.0]), np.array([2.0, 0.0]), 5).tolist()
        [50.0, 20.0]
        >>> _size_cap(np.array([40.0, 20.0]), np.array([2.0, 0.0]), 50).tolist()
        [60.0, 20.0]
    """
    grown = np.maximum(largest + frames * np.maximum(rate, 0.0), zoom * largest)
    return np.minimum(grown, _MAX_SCALE * largest)


def _clip_size(box: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``box`` (x0, y0, x1, y1) with its width and height clipped to ``lo..hi``, same centre."""
    z = xyxy_to_cxcywh(box)
    z[2:] = np.clip(z[2:], lo, hi)
    return cxcywh_to_xyxy(z)


@dataclass(slots=True)
class _Entry:
    """A track's box on one frame, as known online."""

    frame: int
    box: np.ndarray
    score: float
    det: bool  # a detection, else a prediction
    held: bool = False  # prediction after a frame where the detector ran and missed the track
    #: the track's predicted box for this frame before any detection (None on its first frame)
    pred: np.ndarray | None = None
    #: a detection's box as the track carried it on (the filter's estimate after the update)
    post: np.ndarray | None = None


class _Track:
    __slots__ = ("id", "cls", "entries", "dets", "first", "floor", "hits",
                 "last_det", "held", "missed", "partial", "alive", "back",
                 "recent", "growth", "zoom")

    def __init__(self, tid: int, cls: int, frame: int, box: np.ndarray, score: float,
                 floor: int) -> None:
        self.id = tid
        self.cls = cls
        self.entries: deque[_Entry] = deque([_Entry(frame, box, score, True)])
        #: detections not yet released, plus the newest released one (for interpolation)
        self.dets: deque[_Entry] = deque([self.entries[0]])
        self.first = frame
        self.floor = floor  # the earliest frame the first box may be carried back to
        self.hits = 1
        self.last_det = frame
        self.held = False  # missed on a frame where the detector ran, since the last detection
        self.missed = False  # ... ever
        self.partial = 0  # partial detections in a row
        self.alive = True
        #: the first detection moved back frame by frame with measured motion (frame - 1, ...)
        self.back: list[np.ndarray] = []
        #: (frame, box) of the last detections as the detector gave them, for the size cap
        self.recent: deque[tuple[int, np.ndarray]] = deque([(frame, box)], maxlen=_SCALE_DETS)
        #: (largest w h, growth rate w h) of ``recent``, computed when first needed
        self.growth: tuple[np.ndarray, np.ndarray] | None = None
        #: zoom (w, h) measured in the pictures since the last detection
        self.zoom = np.ones(2)

    def size_growth(self) -> tuple[np.ndarray, np.ndarray]:
        """The largest size (w, h) among the recent detections and its fitted rate of change
        (px per frame), for :func:`_size_cap`."""
        if self.growth is None:
            frames = [f for f, _ in self.recent]
            boxes = np.array([b for _, b in self.recent])
            vel, _ = fit_velocity(frames, boxes)
            self.growth = (xyxy_to_cxcywh(boxes)[:, 2:].max(axis=0), vel[2:])
        return self.growth


@dataclass(slots=True)
class _Frame:
    frame_index: int
    pts: int | None
    loose: list  # (box, score, class) of low-score detections that continued no track


class IouTracker:
    """Per-class IoU + Kalman tracker with hold, lookahead and shot-cut handling.

    Args:
        config: tracking options.
        frame_size: (width, height) of the coded picture, in pixels.
        fps: the stream's average frame rate, to resolve a ``hold`` given in seconds.
        motion: measured motion between neighbouring frames (a
            :class:`~avanon.track.flow.MotionEstimator` that the caller feeds every frame before
            its detections, keeping at least ``lookahead + 2`` frames). With it, tracks are
            predicted by the motion measured in the pictures instead of constant velocity, a new
            track's first box is carried back along the measured motion, and gaps between
            detections follow the measured path; None keeps constant velocity.

    Example:
        >>> from avanon.detections import Detections
        >>> tr = IouTracker(TrackConfig(hold=5, lookahead=2, min_hits=1), (640, 360), 30.0)
        >>> out = []
        >>> for i, boxes in enumerate([[[10, 10, 50, 50]], [], [[14, 10, 54, 50]]]):
        ...     out += tr.update(Detections.from_boxes(boxes, frame_index=i))
        >>> out += tr.flush()
        >>> [len(d) for d in out], out[1].track_ids.tolist()
        ([1, 1, 1], [1])
    """

    def __init__(self, config: TrackConfig, frame_size: tuple[int, int], fps: float,
                 motion=None) -> None:
        w, h = frame_size
        if not (w > 0 and h > 0):
            raise ConfigError(f"frame_size: expected (width, height) > 0, got {frame_size!r}")
        self.config = config
        #: Frames :meth:`update` holds back before releasing them.
        self.lookahead: int = config.lookahead
        self._hold = config.hold_frames(fps)
        self._size = (float(w), float(h))
        self._gate_step = _GATE_PER_FRAME * float(np.hypot(w, h))
        self._next_id = 1
        self._t = -1  # internal index of the newest frame fed
        self._released = 0  # internal index of the next frame to release
        self._frames: deque[_Frame] = deque()
        self._live: dict[int, list[_Track]] = {}  # per class, row i <-> self._filters[cls] row i
        self._filters: dict[int, BoxFilters] = {}
        self._tracks: list[_Track] = []  # every track with output still to release, by id
        self._cut_floor = 0
        self._last_index: int | None = None
        self.motion = motion
        #: (frame index, class -> (moved boxes, trust)) of the live tracks, as :meth:`predict`
        #: found them for that frame; reused by :meth:`update` on the same frame
        self._predicted: tuple[int, dict[int, tuple[np.ndarray, np.ndarray]]] | None = None

    # -- the protocol ---------------------------------------------------------------------
    def update(self, dets: Detections, *, observed: bool | Collection[int] = True,
               cut: bool = False, smallest: Mapping[int, float] | None = None
               ) -> list[Detections]:
        """Feed the next frame's detections; return the frames that are now final.

        ``observed`` is True/False for all classes, or the class ids the detector examined on
        this frame (classes can be detected at different rates). ``smallest``: per class id,
        the smallest object (long side, coded pixels) the detector could see on this frame;
        a miss is evidence that a track left only when its box is at least that large (a
        distant plate seen in a native-resolution tile is not lost because the downscaled
        whole frame could not see it)."""
        if self._last_index is not None and dets.frame_index != self._last_index + 1:
            raise PipelineError(
                f"IouTracker.update: expected frame_index {self._last_index + 1}, "
                f"got {dets.frame_index}"
            )
        self._last_index = dets.frame_index
        self._t += 1
        t = self._t
        if cut:
            log.debug("shot cut at frame %s ends %d track(s)", dets.frame_index,
                      sum(len(v) for v in self._live.values()))
            for tracks in self._live.values():
                for tr in tracks:
                    tr.alive = False
            self._live.clear()
            self._filters.clear()
            self._cut_floor = t
        frame = _Frame(dets.frame_index, dets.pts, [])
        cfg = self.config
        wh = dets.xyxy[:, 2:] - dets.xyxy[:, :2]
        keep = (dets.scores >= cfg.low_score) & (wh > 0).all(axis=1)
        boxes = dets.xyxy[keep].astype(np.float64)
        scores = dets.scores[keep].astype(np.float64)
        cids = dets.class_ids[keep]
        for cls in sorted(set(self._live) | set(cids.tolist())):
            sel = cids == cls
            seen = observed if isinstance(observed, bool) else cls in observed
            self._step(cls, t, boxes[sel], scores[sel], seen, frame,
                       (smallest or {}).get(cls, 0.0))
        self._predicted = None
        self._frames.append(frame)
        out = []
        while self._released <= t - self.lookahead:
            out.append(self._release())
        return out

    def predict(self, frame_index: int) -> Detections:
        """Where the live tracks are expected on the next frame ``frame_index`` (before its
        detections are fed), e.g. to look for them there. With ``motion``, that frame must
        already be pushed to it. Track ids are set; scores are the tracks' last scores."""
        if self._last_index is not None and frame_index != self._last_index + 1:
            raise PipelineError(f"IouTracker.predict: expected frame_index "
                                f"{self._last_index + 1}, got {frame_index}")
        moved = {cls: self._moved(cls, frame_index) for cls in sorted(self._live)}
        self._predicted = (frame_index, moved)
        rows = [(box, tr.dets[-1].score, cls, tr.id)
                for cls, (boxes, _) in moved.items() for tr, box in zip(self._live[cls], boxes)]
        if not rows:
            return Detections.empty(frame_index)
        return Detections(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                          np.array([r[2] for r in rows]), np.array([r[3] for r in rows]),
                          frame_index)

    def _moved(self, cls: int, frame_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes of class ``cls``'s live tracks predicted for ``frame_index`` and the trust in
        each: moved by the measured motion from the previous frame, else by constant velocity
        (trust 0)."""
        filters = self._filters[cls]
        if self.motion is None:
            state = filters.mean + filters.vel
            state[:, 2:] = np.maximum(state[:, 2:], 1.0)  # as BoxFilters.predict keeps it
            return cxcywh_to_xyxy(state), np.zeros(len(filters))
        if self._predicted is not None and self._predicted[0] == frame_index \
                and cls in self._predicted[1] and len(self._predicted[1][cls][0]) == len(filters):
            return self._predicted[1][cls]
        # the track's own velocity is one more place to search (an object moving on its own)
        return self.motion.move(filters.boxes(), frame_index - 1, frame_index,
                                prior=filters.vel[:, :2])

    def flush(self) -> list[Detections]:
        """Release every frame still held (end of stream) and forget all tracks."""
        out = [self._release() for _ in range(self._t + 1 - self._released)]
        self._live.clear()
        self._filters.clear()
        self._tracks.clear()
        return out

    # -- online step ----------------------------------------------------------------------
    def _step(self, cls: int, t: int, boxes: np.ndarray, scores: np.ndarray, observed: bool,
              frame: _Frame, smallest: float = 0.0) -> None:
        cfg = self.config
        tracks = self._live.get(cls, [])
        filters = self._filters.setdefault(cls, BoxFilters())
        index = frame.frame_index
        moved = self._moved(cls, index) if (self.motion is not None and tracks) else None
        before = filters.mean[:, 2:].copy()
        filters.predict()
        if moved is not None:
            filters.place(*moved)
        pred = filters.boxes()
        free_t = np.arange(len(tracks))
        matches: list[tuple[int, int]] = []

        def match(det_idx: np.ndarray, score: np.ndarray, accept: np.ndarray) -> np.ndarray:
            """Pair free tracks with ``det_idx``; return the detections left over."""
            nonlocal free_t
            pairs = greedy_assign(score, accept)
            matches.extend((int(free_t[r]), int(det_idx[c])) for r, c in pairs)
            free_t = np.delete(free_t, [r for r, _ in pairs])
            return np.delete(det_idx, [c for _, c in pairs])

        def by_iou(det_idx: np.ndarray) -> np.ndarray:
            if not len(det_idx) or not len(free_t):
                return det_idx
            iou = iou_matrix(pred[free_t], boxes[det_idx])
            return match(det_idx, iou, (iou >= cfg.iou_threshold) & (iou > 0))

        def by_distance(det_idx: np.ndarray) -> np.ndarray:
            if not len(det_idx) or not len(free_t):
                return det_idx
            p = pred[free_t]
            since = np.array([t - tracks[i].last_det for i in free_t], np.float64)
            spread = np.maximum(filters.margins(_GATE_STD, 1.0)[free_t],
                                since[:, None] * self._gate_step)
            dist = centre_distance(p, (p[:, 2:] - p[:, :2]) / 2 + spread, boxes[det_idx])
            return match(det_idx, -dist, dist <= 1.0)

        new = by_distance(by_iou(np.flatnonzero(scores >= cfg.high_score)))
        loose = by_iou(np.flatnonzero(scores < cfg.high_score))

        seen = [self._observed_box(tracks[ti], boxes[di], pred[ti]) for ti, di in matches]
        if matches:
            filters.update([ti for ti, _ in matches], np.array(seen))
        post = filters.boxes()
        for (ti, di), box in zip(matches, seen):
            tr = tracks[ti]
            entry = _Entry(t, box, float(scores[di]), True, pred=pred[ti], post=post[ti])
            tr.entries.append(entry)
            tr.dets.append(entry)
            tr.hits += 1
            tr.last_det = t
            tr.held = False
            tr.recent.append((t, boxes[di]))
            tr.growth = None
            tr.zoom = np.ones(2)
        if moved is not None and len(free_t):  # the zoom measured in the pictures
            step = (moved[0][free_t, 2:] - moved[0][free_t, :2]) / np.maximum(before[free_t], 1e-9)
            for ti, z in zip(free_t, step):
                tracks[ti].zoom = tracks[ti].zoom * z
        # held boxes never swell past what was detected and measured (see _size_cap; only the
        # box masked: capping the filter's own size changed its later predictions, and the
        # crowd sequence leaked more) ...
        growth = [tracks[i].size_growth() for i in free_t]
        cap = _size_cap(np.array([g[0] for g in growth]).reshape(-1, 2),
                        np.array([g[1] for g in growth]).reshape(-1, 2),
                        np.array([[t - tracks[i].last_det] for i in free_t]).reshape(-1, 1),
                        np.array([tracks[i].zoom for i in free_t]).reshape(-1, 2))
        # ... and never shrink below the last detection: a box that shrank as the object was
        # cut by the picture's edge or half missed must not vanish while held
        last = np.array([xyxy_to_cxcywh(tracks[i].dets[-1].box)[2:] for i in free_t]).reshape(-1, 2)
        mean = filters.mean[free_t]  # a copy: the filter's own state is left as it is
        mean[:, 2:] = np.maximum(np.minimum(mean[:, 2:], cap), last)
        held = cxcywh_to_xyxy(mean, filters.margins(cfg.grow, cfg.max_grow)[free_t])
        for ti, box in zip(free_t, held):
            tr = tracks[ti]
            # a miss counts only where the detector could have seen the object at all
            seen = observed and max(pred[ti][2] - pred[ti][0], pred[ti][3] - pred[ti][1]) >= smallest
            expired = seen and t - tr.last_det > self._hold
            if expired or self._visible(pred[ti]) < cfg.edge_margin:
                tr.alive = False
                continue
            tr.held = tr.held or seen
            tr.missed = tr.missed or seen
            tr.entries.append(_Entry(t, box, tr.dets[-1].score, False, tr.held, pred=pred[ti]))
        filters.keep(np.array([tr.alive for tr in tracks], bool))
        tracks = [tr for tr in tracks if tr.alive]
        if len(new):
            filters.add(boxes[new])
        back = self._back(boxes[new], t, index)
        for k, di in enumerate(new):
            tr = _Track(self._next_id, cls, t, boxes[di], float(scores[di]), self._cut_floor)
            tr.back = [b[k] for b in back]
            self._next_id += 1
            tracks.append(tr)
            self._tracks.append(tr)
        frame.loose.extend((boxes[di], float(scores[di]), cls) for di in loose)
        if tracks:
            self._live[cls] = tracks
        else:
            self._live.pop(cls, None)
            self._filters.pop(cls, None)

    def _back(self, boxes: np.ndarray, t: int, index: int) -> list[np.ndarray]:
        """``boxes`` first seen on frame ``t`` (index ``index``) moved back with the measured
        motion, one (N, 4) array per earlier frame that can still be changed: not released, not
        before the shot, at most ``lookahead`` frames."""
        if self.motion is None or not len(boxes):
            return []
        out = []
        for j in range(1, self.lookahead + 1):
            if t - j < max(self._cut_floor, self._released):
                break
            boxes, _ = self.motion.move(boxes, index - j + 1, index - j)
            out.append(boxes)
        return out

    def _observed_box(self, tr: _Track, box: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """The box track ``tr`` (predicted at ``pred``) keeps for detection ``box``: the
        detection, or, when it covers only part of the prediction's visible area (the detector
        saw part of the object), the union of both, for a few frames in a row at most."""
        w, h = self._size
        if tr.hits < 2:
            return box
        vis = np.clip(pred, 0, [w, h, w, h])
        vis_area = max(vis[2] - vis[0], 0) * max(vis[3] - vis[1], 0)
        iw = min(box[2], vis[2]) - max(box[0], vis[0])
        ih = min(box[3], vis[3]) - max(box[1], vis[1])
        inter = max(iw, 0) * max(ih, 0)
        if inter < _PARTIAL * vis_area and tr.partial < _PARTIAL_FRAMES:
            tr.partial += 1
            return np.concatenate([np.minimum(box[:2], pred[:2]), np.maximum(box[2:], pred[2:])])
        tr.partial = 0
        return box

    def _visible(self, box: np.ndarray) -> float:
        """Fraction of ``box`` inside the picture."""
        w, h = self._size
        area = max(box[2] - box[0], 1e-9) * max(box[3] - box[1], 1e-9)
        iw = max(0.0, min(box[2], w) - max(box[0], 0.0))
        ih = max(0.0, min(box[3], h) - max(box[1], 0.0))
        return iw * ih / area

    # -- release --------------------------------------------------------------------------
    def _release(self) -> Detections:
        t = self._released
        self._released += 1
        frame = self._frames.popleft()
        rows: list[tuple[np.ndarray, float, int, int]] = []
        pending = []
        for tr in self._tracks:
            found = self._box_at(tr, t)
            if found is not None:
                rows.append((found[0], found[1], tr.cls, tr.id))
            if tr.alive or tr.entries:
                pending.append(tr)
        self._tracks = pending
        rows.extend((box, score, cls, -1) for box, score, cls in frame.loose)
        if not rows:
            return Detections.empty(frame.frame_index, frame.pts)
        w, h = self._size
        xyxy = np.clip(np.array([r[0] for r in rows]), 0, [w, h, w, h])
        ok = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        return Detections(xyxy[ok], np.array([r[1] for r in rows])[ok],
                          np.array([r[2] for r in rows])[ok], np.array([r[3] for r in rows])[ok],
                          frame.frame_index, frame.pts)

    def _box_at(self, tr: _Track, t: int) -> tuple[np.ndarray, float] | None:
        """Track ``tr``'s final box on frame ``t``, or None; consumes its entry for ``t``."""
        cfg = self.config
        if tr.entries and tr.entries[0].frame == t:
            e = tr.entries.popleft()
            while len(tr.dets) >= 2 and tr.dets[1].frame <= t:
                tr.dets.popleft()
            if e.det:
                return e.box, e.score
            prev = tr.dets[0]
            if len(tr.dets) >= 2:  # detected again within the lookahead: interpolate the gap
                nxt = tr.dets[1]
                a = (t - prev.frame) / (nxt.frame - prev.frame)
                score = min(prev.score, nxt.score)
                if self.motion is not None and e.pred is not None and nxt.pred is not None \
                        and prev.post is not None:
                    # the measured path, corrected so that it meets both detections, no larger
                    # than the larger of them nor smaller than the smaller
                    box = e.pred + (1 - a) * (prev.box - prev.post) + a * (nxt.box - nxt.pred)
                    ends = np.array([prev.box[2:] - prev.box[:2], nxt.box[2:] - nxt.box[:2]])
                    return _clip_size(box, ends.min(axis=0), ends.max(axis=0)), score
                return prev.box + a * (nxt.box - prev.box), score
            if not e.held or tr.hits >= cfg.min_hits:
                return e.box, e.score
            return None
        # A track not yet confirmed is carried back until the detector has run and missed it:
        # a real object detected late is usually detected again on the next frames.
        if t < tr.first and t >= tr.floor and (tr.hits >= cfg.min_hits or not tr.missed):
            return self._carry_back(tr, tr.first - t)
        return None

    def _carry_back(self, tr: _Track, k: int) -> tuple[np.ndarray, float]:
        """The first detection of ``tr`` moved ``k`` frames back: along the measured motion when
        it reaches that far, else along the velocity of its detections so far (all still within
        the lookahead). Its size is never smaller than the first detection and never larger
        than :func:`_size_cap` allows looking backwards (detections that shrink over time, or
        the measured zoom, let it grow)."""
        cfg = self.config
        first = tr.dets[0]
        state = xyxy_to_cxcywh(first.box)
        size = state[2:].copy()
        boxes = np.array([e.box for e in tr.dets])
        vel, vel_var = fit_velocity([e.frame for e in tr.dets], boxes)
        if k <= len(tr.back):
            mean, vel_var = xyxy_to_cxcywh(tr.back[k - 1]), np.zeros(4)
            zoom = mean[2:] / size
        else:
            mean, zoom = state - k * vel, np.ones(2)
        largest = xyxy_to_cxcywh(boxes)[:, 2:].max(axis=0)
        mean[2:] = np.clip(mean[2:], size, _size_cap(largest, -vel[2:], k, zoom))  # see _step
        std = extrapolation_std(k, size, vel_var)
        margin = np.minimum(cfg.grow * (std[:2] + std[2:] / 2), cfg.max_grow * mean[2:])
        return cxcywh_to_xyxy(mean, margin), first.score
