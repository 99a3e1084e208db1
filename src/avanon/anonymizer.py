"""The anonymizing core as a streaming frame filter: decoded frames in, masked frames out.

It knows nothing about files. Drop it into any PyAV loop::

    anon = avanon.Anonymizer.from_config(avanon.Config(), frame_size=(1280, 720), fps=30)
    for frame in in_container.decode(video=0):
        for masked in anon.push(frame):
            for packet in out_stream.encode(masked):
                out_container.mux(packet)
    for masked in anon.flush():
        ...

Frames come out in the order they went in, with their pts untouched, delayed by the detection
batch and the tracker's lookahead. A frame is only ever emitted after its detections are final;
if a stage fails, a :class:`~avanon.errors.PipelineError` naming the stage and the frame
propagates and nothing more is emitted (fail closed).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict, deque
from typing import Callable, Mapping, Sequence

import av
import numpy as np

from .detect.base import FrameDetector, accepts_keyword, supports_classes
from .detections import CLASS_NAMES, Detections, class_id
from .errors import AvanonError, ConfigError, PipelineError
from .mask.base import Masker
from .schedule import Schedule
from .track.base import PassThroughTracker, Tracker
from .track.tracker import IouTracker

__all__ = ["Anonymizer"]


def _failed(stage: str, index: int, exc: Exception) -> AvanonError:
    """``exc`` raised by ``stage`` on frame ``index``, as the error the pipeline reports."""
    if isinstance(exc, AvanonError):
        return exc
    return PipelineError(f"{stage} stage failed on frame {index}: {type(exc).__name__}: {exc}")


class Anonymizer:
    """Detect -> track -> mask, one frame at a time.

    Args:
        detector: the detect stage (coded-picture boxes out).
        masker: paints boxes out of a frame in place.
        tracker: carries boxes through time (default: none, every frame stands alone).
        schedule: how often each class is looked for (a :class:`~avanon.schedule.Schedule`,
            or one N for every class, or a mapping class name -> N where classes not named run
            every frame); intervals above 1 need a tracker to carry the boxes in between.
            Per-class intervals are honoured when the detector exposes ``classes`` and accepts
            ``detect(..., classes=...)``; otherwise it runs on the shortest interval. A shot cut
            always triggers detection of every class.
        batch: frames per detector call (more = better throughput, more latency).
        cut_detector: object with ``update(frame) -> bool`` flagging shot cuts for the tracker.
        motion: a :class:`~avanon.track.flow.MotionEstimator` the tracker measures motion with;
            every frame is pushed to it as it arrives.
        on_detections: called with each frame's final :class:`Detections` (export, stats).
        first_index: the index of the first frame pushed (frames are counted from it): a run
            that starts mid-video (a segment of a split run) keeps the whole video's schedule.
    """

    def __init__(
        self,
        detector: FrameDetector,
        masker: Masker,
        tracker: Tracker | None = None,
        *,
        schedule: Schedule | int | Mapping[str, int] = 1,
        batch: int = 1,
        cut_detector=None,
        motion=None,
        on_detections: Callable[[Detections], None] | None = None,
        first_index: int = 0,
    ):
        schedule = Schedule.of(schedule)
        if isinstance(first_index, bool) or not isinstance(first_index, int) or first_index < 0:
            raise ConfigError(f"first_index: expected an integer >= 0, got {first_index!r}")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"batch: expected an integer >= 1, got {batch!r}")
        self.detector = detector
        self.masker = masker
        self.tracker: Tracker = tracker or PassThroughTracker()
        if schedule.longest > 1 and isinstance(self.tracker, PassThroughTracker):
            raise ConfigError(
                f"schedule {schedule} needs tracking to carry boxes between detections: give a "
                "tracker or detect every frame"
            )
        #: the classes the detector reports (empty: it does not say; one schedule for all)
        self._names = tuple(getattr(detector, "classes", ()) or ())
        self._per_class = bool(self._names) and supports_classes(detector)
        #: the detector can be told which frames are new pictures (first frame, cuts)
        self._fresh = accepts_keyword(detector, "fresh")
        # a detector that can examine only what changed is told when the whole frame is due
        self._whole = schedule.rescan > 1 and accepts_keyword(detector, "whole")
        self.schedule = schedule
        self.batch = batch
        self.cut_detector = cut_detector
        self.motion = motion
        self.on_detections = on_detections
        #: re-detection around tracks needs a detector that can look at regions and a tracker
        #: that can say where its tracks are expected
        self._around = (bool(self._names) and hasattr(detector, "detect_around")
                        and hasattr(self.tracker, "predict") and bool(schedule.around))
        self.frames_around = 0
        #: plate boxes are judged against the tracked faces too (faces may not be looked for on
        #: the frames plates are)
        self._plates_vs_tracks = (hasattr(detector, "filter_plates")
                                  and hasattr(self.tracker, "predict"))
        #: a full-frame miss ends only tracks the whole-frame pass could see (the detector says
        #: how small that is, the tracker takes it)
        self._sizes = (hasattr(detector, "smallest_visible")
                       and isinstance(self.tracker, IouTracker))
        self._next_index = first_index
        self._batch: list[tuple[int, av.VideoFrame, bool]] = []
        self._held: deque[tuple[int, av.VideoFrame]] = deque()
        self.boxes_per_class: Counter[int] = Counter()
        self.frames_out = 0
        self.frames_detected = 0

    @classmethod
    def from_config(cls, config=None, *, frame_size: tuple[int, int], fps: float,
                    detector=None, masker=None, tracker=None,
                    on_detections=None, first_index: int = 0) -> "Anonymizer":
        """Build the stages described by an :class:`avanon.Config` (the one place they are
        assembled). The detectors' models are loaded here, so a missing model fails before any
        output is written.

        Args:
            config: the configuration (defaults when None).
            frame_size: coded (width, height) of the frames.
            fps: average frame rate (resolves durations such as ``hold="0.5s"``).
            detector, masker, tracker: stage objects that replace the configured ones.
            on_detections: called with each frame's final :class:`Detections`.
            first_index: the index of the first frame that will be pushed (see the class).

        Raises:
            ModelNotFoundError, ModelError: the detectors' models could not be loaded.
            ConfigError: the stages do not fit together.
        """
        from .config import Config
        from .detect.stage import DetectStage
        from .mask import make_masker
        from .track import MotionEstimator, make_tracker
        from .track.cut import ShotCutDetector

        config = config or Config()
        track_cfg = config.track
        if detector is None:
            detector = DetectStage(config.detect)
        if masker is None:
            masker = make_masker(config.mask)
        batch = int(getattr(detector, "preferred_batch", 1) or 1)
        motion = None
        if tracker is None:
            if track_cfg.enabled and track_cfg.lookahead < config.schedule.longest:
                # Look ahead at least one detection interval, so an object that appears between
                # two detector runs is carried back to the frame after the earlier run.
                track_cfg = dataclasses.replace(track_cfg, lookahead=config.schedule.longest)
            if track_cfg.enabled and track_cfg.motion:
                # frames from the oldest one a new track may be carried back to, to the newest
                # pushed but not yet tracked (a detection batch)
                motion = MotionEstimator(keep=track_cfg.lookahead + batch + 2)
            tracker = make_tracker(track_cfg, frame_size, fps, motion=motion)
        cut_detector = ShotCutDetector() if config.track.enabled else None
        return cls(detector, masker, tracker, schedule=config.schedule, batch=batch,
                   cut_detector=cut_detector, motion=motion, on_detections=on_detections,
                   first_index=first_index)

    # -- public ----------------------------------------------------------------------------
    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """Feed the next decoded frame; returns the frames that are now final (maybe none).

        Raises:
            PipelineError: a stage failed on a frame (its name and the frame index are in the
                message); no frame is emitted after that.
        """
        index = self._next_index
        self._next_index += 1
        try:
            cut = bool(self.cut_detector.update(frame)) if self.cut_detector is not None else False
        except Exception as exc:
            raise _failed("shot-cut", index, exc) from exc
        if self.motion is not None:
            try:
                self.motion.push(index, frame)
            except Exception as exc:
                raise _failed("motion", index, exc) from exc
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
        if not self._names:
            return None if (cut or index % self.schedule.shortest == 0) else frozenset()
        due = self.schedule.due(index, cut, self._names)
        if due and not self._per_class:
            due = frozenset(self._names)  # the detector runs all its classes anyway
        return frozenset(class_id(c) for c in due)

    def _run_batch(self) -> list[av.VideoFrame]:
        batch, self._batch = self._batch, []
        plan = {i: self._due(i, cut) for i, _, cut in batch}
        groups: dict[frozenset[int] | None, list[tuple[int, av.VideoFrame]]] = defaultdict(list)
        for i, f, _ in batch:
            if plan[i] is None or plan[i]:
                groups[plan[i]].append((i, f))
        everything = frozenset(class_id(c) for c in self._names)
        found: dict[int, Detections] = {}
        cuts = {i: cut for i, _, cut in batch}
        for due, todo in groups.items():
            frames, indices = [f for _, f in todo], [i for i, _ in todo]
            kwargs: dict = {}
            if self._fresh:
                kwargs["fresh"] = [cuts[i] for i in indices]
            if self._whole:
                kwargs["whole"] = [self.schedule.whole(i, cuts[i], self._names or CLASS_NAMES)
                                   for i in indices]
            try:
                if due is None or not self._per_class or due == everything:
                    results = self.detector.detect(frames, indices, **kwargs)
                else:
                    results = self.detector.detect(frames, indices, **kwargs,
                                                   classes=[CLASS_NAMES[c] for c in sorted(due)])
            except Exception as exc:
                raise _failed("detect", indices[0], exc) from exc
            if len(results) != len(todo):
                raise PipelineError(
                    f"detect stage returned {len(results)} results for {len(todo)} frames "
                    f"(frames {indices[0]}..{indices[-1]})"
                )
            for (i, f), dets in zip(todo, results):
                found[i] = dets.with_frame(i, f.pts)
            self.frames_detected += len(todo)
        finals: list[Detections] = []
        for i, f, cut in batch:
            self._held.append((i, f))
            due = plan[i]
            dets = found.get(i) or Detections.empty(i, f.pts)
            if (self._around or self._plates_vs_tracks) and not cut:
                # once per frame, for both uses; at a cut no track carries over (the tracker
                # ends them all), so there is nothing to expect
                try:
                    expected = self.tracker.predict(i)
                except Exception as exc:
                    raise _failed("track", i, exc) from exc
                if self._around:
                    dets = self._look_around(i, f, cut, dets, expected)
                if self._plates_vs_tracks:
                    dets = self._drop_plates_on_faces(i, f, dets, expected)
            # True/False for every class, or the ids of the classes examined on this frame
            observed: bool | frozenset[int] = due
            if due is None or (self._names and due == everything):
                observed = True
            elif not self._names:
                observed = False
            extra = {}
            if self._sizes and due:  # `due` holds class ids here (the detector names them)
                extra["smallest"] = self.detector.smallest_visible(
                    f, [CLASS_NAMES[c] for c in sorted(due)])
            try:
                finals += self.tracker.update(dets, observed=observed, cut=cut, **extra)
            except Exception as exc:
                raise _failed("track", i, exc) from exc
        return self._release(finals)

    def _look_around(self, index: int, frame: av.VideoFrame, cut: bool, dets: Detections,
                     expected: Detections) -> Detections:
        """``dets`` plus what re-detection around the tracks (``expected`` on this frame)
        finds, for the classes the schedule re-detects here (not run on the whole frame)."""
        classes = self.schedule.around_due(index, cut, self._names)
        if not classes:
            return dets
        if not np.isin(expected.class_ids, [class_id(c) for c in classes]).any():
            return dets
        try:
            found = self.detector.detect_around(frame, index, expected, sorted(classes))
        except Exception as exc:
            raise _failed("detect", index, exc) from exc
        self.frames_around += 1
        if not len(found):
            return dets
        return Detections.merge([dets, found], index, frame.pts)

    def _drop_plates_on_faces(self, index: int, frame: av.VideoFrame, dets: Detections,
                              expected: Detections) -> Detections:
        """``dets`` without the plate boxes that the plate rules reject against the faces
        tracked on this frame (``expected``): text the plate model finds on a face, or around
        a person."""
        faces = expected.xyxy[expected.class_ids == class_id("face")]
        if not len(faces) or not (dets.class_ids == class_id("plate")).any():
            return dets
        try:
            return self.detector.filter_plates(frame, dets, faces)
        except Exception as exc:
            raise _failed("detect", index, exc) from exc

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
                try:
                    frame = self.masker.apply(frame, dets)
                except Exception as exc:
                    raise _failed("mask", index, exc) from exc
                for cid, n in Counter(dets.class_ids.tolist()).items():
                    self.boxes_per_class[cid] += n
            if self.on_detections is not None:
                self.on_detections(dets)
            self.frames_out += 1
            out.append(frame)
        return out
