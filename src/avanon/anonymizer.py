"""The anonymizing core as a streaming frame filter: decoded frames in, masked frames out.

It knows nothing about files. Drop it into any PyAV loop::

    anon = avanon.Anonymizer.from_config(avanon.Config(), rotation=0, frame_size=(1280, 720), fps=30)
    for frame in in_container.decode(video=0):
        for masked in anon.push(frame):
            for packet in out_stream.encode(masked):
                out_container.mux(packet)
    for masked in anon.flush():
        ...

Frames come out in the order they went in, with their pts untouched, delayed by the detection
batch and the tracker's lookahead. A frame is only ever emitted after its detections are final;
if the detector fails, the exception propagates and nothing more is emitted (fail closed).
"""

from __future__ import annotations

import inspect
from collections import Counter, defaultdict, deque
from typing import Callable, Mapping, Sequence

import av

from .detect.base import FrameDetector
from .detections import CLASS_NAMES, Detections, class_id
from .errors import PipelineError
from .mask.base import Masker
from .track.base import PassThroughTracker, Tracker

__all__ = ["Anonymizer"]


class Anonymizer:
    """Detect -> track -> mask, one frame at a time.

    Args:
        detector: the detect stage (coded-picture boxes out).
        masker: paints boxes out of a frame in place.
        tracker: carries boxes through time (default: none, every frame stands alone).
        detect_every: run the detector on every Nth frame only (needs a tracker to carry the
            boxes in between; raising it speeds things up and relies more on tracking). Either
            one N for every class or a mapping class name -> N (e.g. plates less often than
            faces), honoured when the detector exposes ``classes`` and accepts
            ``detect(..., classes=...)``. A shot cut always triggers detection of every class.
        batch: frames per detector call (more = better throughput, more latency).
        cut_detector: object with ``update(frame) -> bool`` flagging shot cuts for the tracker.
        on_detections: called with each frame's final :class:`Detections` (export, stats).
    """

    def __init__(
        self,
        detector: FrameDetector,
        masker: Masker,
        tracker: Tracker | None = None,
        *,
        detect_every: int | Mapping[str, int] = 1,
        batch: int = 1,
        cut_detector=None,
        on_detections: Callable[[Detections], None] | None = None,
    ):
        every = dict(detect_every) if isinstance(detect_every, Mapping) else None
        values = list(every.values()) if every is not None else [detect_every]
        if any((not isinstance(n, int)) or n < 1 for n in values):
            raise ValueError(f"detect_every must be >= 1, got {detect_every!r}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.detector = detector
        self.masker = masker
        self.tracker: Tracker = tracker or PassThroughTracker()
        if max(values) > 1 and isinstance(self.tracker, PassThroughTracker):
            raise ValueError("detect_every > 1 needs tracking to carry boxes between detections")
        names = tuple(getattr(detector, "classes", ()) or ())
        try:
            params = inspect.signature(detector.detect).parameters
            self._per_class = bool(names) and "classes" in params
        except (TypeError, ValueError):
            self._per_class = False
        base = min(values) if every is not None else int(detect_every)
        #: class id -> detect every N frames (None: one schedule for whatever the detector finds)
        self._every: dict[int, int] | None = (
            {class_id(c): (every.get(c, base) if every is not None else base) for c in names}
            if names else None
        )
        self._base_every = base
        self.detect_every = detect_every
        self.batch = batch
        self.cut_detector = cut_detector
        self.on_detections = on_detections
        self._next_index = 0
        self._batch: list[tuple[int, av.VideoFrame, bool]] = []
        self._held: deque[tuple[int, av.VideoFrame]] = deque()
        self.boxes_per_class: Counter[int] = Counter()
        self.frames_out = 0
        self.frames_detected = 0

    @classmethod
    def from_config(cls, config=None, *, rotation: int = 0, frame_size: tuple[int, int],
                    fps: float, detector=None, masker=None, tracker=None,
                    on_detections=None) -> "Anonymizer":
        """Build the stages described by an :class:`avanon.Config`.

        Args:
            config: the configuration (defaults when None).
            rotation: the stream's display rotation, counter-clockwise degrees as PyAV reports
                it (``frame.rotation``); detectors see the upright picture.
            frame_size: coded (width, height) of the frames.
            fps: average frame rate (resolves durations such as ``--hold 0.5s``).
            detector, masker, tracker: stage objects that replace the configured ones.
        """
        from .config import Config

        config = config or Config()
        if detector is None:
            from .detect.stage import DetectStage

            detector = DetectStage(config.detect, rotation)
        if masker is None:
            from .mask import make_masker

            masker = make_masker(config.mask)
        if tracker is None:
            import dataclasses

            from .track import make_tracker

            track_cfg = config.track
            every = config.detect_every
            longest = max(every.values()) if isinstance(every, Mapping) else int(every)
            if getattr(track_cfg, "enabled", False) and track_cfg.lookahead < longest:
                # Look ahead at least one detection interval, so an object that appears between
                # two detector runs is carried back to the frame after the earlier run.
                track_cfg = dataclasses.replace(track_cfg, lookahead=longest)
            tracker = make_tracker(track_cfg, frame_size, fps)
        cut_detector = None
        if getattr(config.track, "enabled", True):
            from .track.cut import ShotCutDetector

            cut_detector = ShotCutDetector()
        batch = int(getattr(detector, "preferred_batch", 1) or 1)
        return cls(detector, masker, tracker, detect_every=config.detect_every, batch=batch,
                   cut_detector=cut_detector, on_detections=on_detections)

    # -- public ----------------------------------------------------------------------------
    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """Feed the next decoded frame; returns the frames that are now final (maybe none)."""
        index = self._next_index
        self._next_index += 1
        cut = bool(self.cut_detector.update(frame)) if self.cut_detector is not None else False
        self._batch.append((index, frame, cut))
        if len(self._batch) >= self.batch:
            return self._run_batch()
        return []

    def flush(self) -> list[av.VideoFrame]:
        """End of stream: returns every frame still held, masked."""
        out = self._run_batch() if self._batch else []
        out += self._release(self.tracker.flush())
        if self._held:
            raise PipelineError(
                f"tracker did not release {len(self._held)} frame(s) (first index "
                f"{self._held[0][0]}); refusing to emit them unexamined"
            )
        return out

    @property
    def delay(self) -> int:
        """Frames held back at most (batch + tracker lookahead)."""
        return self.batch - 1 + self.tracker.lookahead

    # -- internals -------------------------------------------------------------------------
    def _due(self, index: int, cut: bool) -> frozenset[int] | None:
        """Class ids to detect on frame ``index`` (empty: none); None means "all, one schedule"."""
        if self._every is None:
            return None if (cut or index % self._base_every == 0) else frozenset()
        due = frozenset(c for c, n in self._every.items() if cut or index % n == 0)
        if due and not self._per_class:
            return frozenset(self._every)  # the detector runs all its classes anyway
        return due

    def _run_batch(self) -> list[av.VideoFrame]:
        batch, self._batch = self._batch, []
        plan = {i: self._due(i, cut) for i, _, cut in batch}
        groups: dict[frozenset[int] | None, list[tuple[int, av.VideoFrame]]] = defaultdict(list)
        for i, f, _ in batch:
            if plan[i] is None or plan[i]:
                groups[plan[i]].append((i, f))
        found: dict[int, Detections] = {}
        for due, todo in groups.items():
            frames, indices = [f for _, f in todo], [i for i, _ in todo]
            if due is None or not self._per_class or due == frozenset(self._every or ()):
                results = self.detector.detect(frames, indices)
            else:
                results = self.detector.detect(frames, indices,
                                               classes=[CLASS_NAMES[c] for c in sorted(due)])
            if len(results) != len(todo):
                raise PipelineError(
                    f"detector returned {len(results)} results for {len(todo)} frames"
                )
            for (i, f), dets in zip(todo, results):
                found[i] = dets.with_frame(i, f.pts)
            self.frames_detected += len(todo)
        finals: list[Detections] = []
        for i, f, cut in batch:
            self._held.append((i, f))
            due = plan[i]
            dets = found.get(i) or Detections.empty(i, f.pts)
            observed: bool | frozenset[int] = (due is None) if self._every is None else due
            if self._every is not None and due == frozenset(self._every):
                observed = True
            finals += self.tracker.update(dets, observed=observed, cut=cut)
        return self._release(finals)

    def _release(self, finals: Sequence[Detections]) -> list[av.VideoFrame]:
        out: list[av.VideoFrame] = []
        for dets in finals:
            if not self._held:
                raise PipelineError(f"tracker released frame {dets.frame_index} that is not held")
            index, frame = self._held.popleft()
            if dets.frame_index != index:
                raise PipelineError(
                    f"tracker released frame {dets.frame_index} but frame {index} is next"
                )
            if len(dets):
                frame = self.masker.apply(frame, dets)
                for cid, n in Counter(dets.class_ids.tolist()).items():
                    self.boxes_per_class[cid] += n
            if self.on_detections is not None:
                self.on_detections(dets)
            self.frames_out += 1
            out.append(frame)
        return out
