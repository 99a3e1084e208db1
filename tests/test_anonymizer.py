"""The frame filter: order, delay, per-class detection schedule, shot cuts, fail-closed."""

from __future__ import annotations

import av
import pytest

from avanon.detections import Detections
from avanon.errors import PipelineError
from avanon.anonymizer import Anonymizer
from avanon.schedule import Schedule
from avanon.track.base import PassThroughTracker


class TwoClassDetector:
    """Reports one face and one plate box; records which classes each call asked for."""

    classes = ("face", "plate")

    def __init__(self):
        self.calls: list[tuple[int, tuple[str, ...]]] = []

    def detect(self, frames, indices, *, classes=None):
        asked = tuple(classes) if classes is not None else self.classes
        out = []
        for f, i in zip(frames, indices):
            self.calls.append((i, asked))
            boxes, cids = [], []
            if "face" in asked:
                boxes.append([1, 1, 5, 5]); cids.append(0)
            if "plate" in asked:
                boxes.append([10, 10, 20, 14]); cids.append(1)
            out.append(Detections.from_boxes(boxes, class_ids=cids, frame_index=i, pts=f.pts))
        return out


class NoKeywordDetector(TwoClassDetector):
    def detect(self, frames, indices):  # no classes= keyword: runs everything
        return super().detect(frames, indices)


class RecordingTracker:
    """Passes detections through, recording what `observed` said."""

    lookahead = 0

    def __init__(self):
        self.observed = []

    def update(self, dets, *, observed=True, cut=False):
        self.observed.append(observed)
        return [dets]

    def flush(self):
        return []


class NoMask:
    def apply(self, frame, dets):
        return frame


class Cuts:
    def __init__(self, at):
        self.at = set(at)
        self.i = -1

    def update(self, frame):
        self.i += 1
        return self.i in self.at


def frames(n):
    out = []
    for i in range(n):
        f = av.VideoFrame(32, 24, "yuv420p")
        f.pts = i * 10
        out.append(f)
    return out


def run(anon, n):
    got = []
    for f in frames(n):
        got += anon.push(f)
    got += anon.flush()
    return got


def test_per_class_schedule_and_observed_sets():
    det, tr = TwoClassDetector(), RecordingTracker()
    anon = Anonymizer(det, NoMask(), tr, schedule={"face": 1, "plate": 3})
    out = run(anon, 7)
    assert [f.pts for f in out] == [i * 10 for i in range(7)]
    asked = dict(det.calls)
    assert [i for i, c in det.calls if "plate" in c] == [0, 3, 6]
    assert all("face" in asked[i] for i in range(7))
    assert tr.observed[0] is True and tr.observed[1] == frozenset({0})


def test_classes_not_named_in_the_schedule_run_every_frame():
    """``--detect-every plate=18`` slows plates only: faces are still examined on every frame."""
    det = TwoClassDetector()
    anon = Anonymizer(det, NoMask(), RecordingTracker(), schedule={"plate": 18})
    run(anon, 20)
    asked = dict(det.calls)
    assert sorted(asked) == list(range(20))
    assert [i for i, c in det.calls if "plate" in c] == [0, 18]
    assert all("face" in c for _, c in det.calls)


def test_detector_without_classes_runs_on_the_shortest_interval():
    class Plain:
        def detect(self, frames, indices):
            self.seen = getattr(self, "seen", []) + list(indices)
            return [Detections.empty(i, f.pts) for f, i in zip(frames, indices)]

    det, tr = Plain(), RecordingTracker()
    run(Anonymizer(det, NoMask(), tr, schedule={"face": 2, "plate": 4}), 6)
    assert det.seen == [0, 2, 4]
    assert tr.observed == [True, False, True, False, True, False]


def test_a_failing_stage_is_named_with_the_frame():
    class Crash:
        def apply(self, frame, dets):
            raise ZeroDivisionError("no")

    anon = Anonymizer(TwoClassDetector(), Crash(), RecordingTracker())
    with pytest.raises(PipelineError, match="mask stage failed on frame 0: ZeroDivisionError"):
        run(anon, 3)


def test_cut_triggers_detection_of_every_class():
    det = TwoClassDetector()
    anon = Anonymizer(det, NoMask(), RecordingTracker(), schedule={"face": 2, "plate": 4},
                      cut_detector=Cuts(at=[5]))
    run(anon, 8)
    asked = dict(det.calls)
    assert asked[5] == ("face", "plate")
    assert 1 not in asked and 3 not in asked and 7 not in asked
    assert asked[4] == ("face", "plate") and asked[2] == ("face",)


def test_a_detector_that_takes_fresh_is_told_which_frames_are_shot_cuts():
    class FreshDetector(TwoClassDetector):
        def __init__(self):
            super().__init__()
            self.fresh: dict[int, bool] = {}

        def detect(self, frames, indices, *, classes=None, fresh=None):
            self.fresh.update(zip(indices, fresh))
            return super().detect(frames, indices, classes=classes)

    det = FreshDetector()
    anon = Anonymizer(det, NoMask(), RecordingTracker(), schedule=2, cut_detector=Cuts(at=[5]))
    run(anon, 8)
    assert det.fresh == {0: False, 2: False, 4: False, 5: True, 6: False}
    plain = TwoClassDetector()  # without the keyword: called as before
    run(Anonymizer(plain, NoMask(), RecordingTracker(), schedule=2, cut_detector=Cuts(at=[5])), 8)
    assert [i for i, _ in plain.calls] == [0, 2, 4, 5, 6]


def test_detector_without_classes_keyword_runs_everything_when_any_is_due():
    det, tr = NoKeywordDetector(), RecordingTracker()
    anon = Anonymizer(det, NoMask(), tr, schedule={"face": 2, "plate": 3})
    run(anon, 6)
    assert [i for i, _ in det.calls] == [0, 2, 3, 4]
    assert tr.observed == [True, frozenset(), True, True, True, frozenset()]


@pytest.mark.parametrize("batch", [1, 3, 4])
def test_batches_keep_order_and_count(batch):
    det = TwoClassDetector()
    anon = Anonymizer(det, NoMask(), PassThroughTracker(), batch=batch)
    out = run(anon, 10)
    assert [f.pts for f in out] == [i * 10 for i in range(10)]
    assert sorted(i for i, _ in det.calls) == list(range(10))


def test_detect_every_needs_a_tracker():
    with pytest.raises(ValueError, match="needs tracking"):
        Anonymizer(TwoClassDetector(), NoMask(), None, schedule=2)


def test_tracker_that_loses_a_frame_fails_closed():
    class Lossy(RecordingTracker):
        def update(self, dets, *, observed=True, cut=False):
            return [] if dets.frame_index == 2 else [dets]

    anon = Anonymizer(TwoClassDetector(), NoMask(), Lossy())
    with pytest.raises(PipelineError):
        run(anon, 5)


class AroundDetector(TwoClassDetector):
    """Also looks around expected boxes; records what it was asked to look around."""

    def __init__(self):
        super().__init__()
        self.around: list[tuple[int, tuple[str, ...], int]] = []

    def detect_around(self, frame, index, expected, classes):
        self.around.append((index, tuple(classes), len(expected)))
        return Detections.from_boxes([[1, 1, 5, 5]], class_ids=0, frame_index=index, pts=frame.pts)


def test_tracked_objects_are_looked_for_again_between_full_frame_runs():
    from avanon.track import IouTracker, TrackConfig

    det = AroundDetector()
    tracker = IouTracker(TrackConfig(min_hits=1, lookahead=0), (64, 48), 30.0)
    anon = Anonymizer(det, NoMask(), tracker,
                      schedule=Schedule({"face": 4, "plate": 4}, around={"face": 1}))
    run(anon, 8)
    assert [i for i, _ in det.calls] == [0, 4]  # full frames on the schedule
    assert [(i, c) for i, c, _ in det.around] == [(i, ("face",)) for i in (1, 2, 3, 5, 6, 7)]
    assert anon.frames_around == 6


def test_no_tracks_means_nothing_to_look_around():
    from avanon.track import IouTracker, TrackConfig

    class Empty(AroundDetector):
        def detect(self, frames, indices, *, classes=None):
            return [Detections.empty(i, f.pts) for f, i in zip(frames, indices)]

    det = Empty()
    tracker = IouTracker(TrackConfig(min_hits=1, lookahead=0), (64, 48), 30.0)
    run(Anonymizer(det, NoMask(), tracker, schedule=Schedule({"face": 4}, around={"face": 1})), 6)
    assert det.around == []


def test_plate_boxes_on_tracked_faces_are_dropped_when_faces_are_not_looked_for():
    """Plates every frame, faces every 4th: a 'plate' box holding a tracked face still goes."""
    from avanon.detect import DetectConfig, DetectStage
    from avanon.track import IouTracker, TrackConfig

    class FaceAndTextOnIt:
        def __init__(self, cls):
            self.classes = (cls,)
            self.cid = ("face", "plate").index(cls)

        def detect(self, images):
            box = [[10, 10, 30, 34]] if self.cid == 0 else [[4, 16, 36, 30]]  # text over the face
            return [Detections.from_boxes(box, [0.9], self.cid) for _ in images]

    # boxes at fixed detector-input pixels: no mirrored border to move them
    stage = DetectStage(DetectConfig(det_size=128, edge_mirror={"plate": 0}), 0,
                        detectors=[FaceAndTextOnIt("face"), FaceAndTextOnIt("plate")])
    tracker = IouTracker(TrackConfig(min_hits=1, lookahead=0), (128, 96), 30.0)
    seen = []
    anon = Anonymizer(stage, NoMask(), tracker, schedule=Schedule({"face": 4, "plate": 1}),
                      on_detections=seen.append)
    frames = [av.VideoFrame(128, 96, "yuv420p") for _ in range(6)]
    for n, f in enumerate(frames):
        f.pts = n
        anon.push(f)
    anon.flush()
    assert len(seen) == 6
    assert all((d.class_ids == 1).sum() == 0 for d in seen)  # the text box never survives
    assert all((d.class_ids == 0).sum() == 1 for d in seen)


def test_faces_of_the_previous_shot_do_not_judge_plates_on_a_cut():
    """At a shot cut the tracked faces belong to the old shot: a plate where one was stays."""
    from avanon.detect import DetectConfig, DetectStage
    from avanon.track import IouTracker, TrackConfig

    class Scripted:
        def __init__(self, cls, frames):
            self.classes, self.cid, self.frames, self.n = (cls,), ("face", "plate").index(cls), frames, 0

        def detect(self, images):
            out = []
            for _ in images:
                box = self.frames(self.n)
                self.n += 1
                out.append(Detections.from_boxes(box, [0.9] * len(box), self.cid))
            return out

    face = Scripted("face", lambda n: [[10, 10, 30, 34]] if n == 0 else [])  # old shot only
    plate = Scripted("plate", lambda n: [[4, 16, 36, 30]] if n == 2 else [])  # new shot, frame 2
    stage = DetectStage(DetectConfig(det_size=128), 0, detectors=[face, plate])
    tracker = IouTracker(TrackConfig(min_hits=1, lookahead=0, hold=10), (128, 96), 30.0)
    seen = []
    anon = Anonymizer(stage, NoMask(), tracker, schedule=Schedule({"face": 4, "plate": 1}),
                      cut_detector=Cuts(at=[2]), on_detections=seen.append)
    for n in range(4):
        f = av.VideoFrame(128, 96, "yuv420p")
        f.pts = n
        anon.push(f)
    anon.flush()
    assert (seen[2].class_ids == 1).sum() == 1


def test_a_detector_that_takes_whole_is_told_which_runs_must_see_the_whole_picture():
    class WholeDetector(TwoClassDetector):
        def __init__(self):
            super().__init__()
            self.whole: dict[int, bool] = {}

        def detect(self, frames, indices, *, classes=None, whole=None):
            self.whole.update(zip(indices, whole))
            return super().detect(frames, indices, classes=classes)

    det = WholeDetector()
    sched = Schedule({"face": 2, "plate": 2}, rescan=3)
    anon = Anonymizer(det, NoMask(), RecordingTracker(), schedule=sched, cut_detector=Cuts(at=[9]))
    run(anon, 14)
    assert det.whole == {0: True, 2: False, 4: False, 6: True, 8: False, 9: True, 10: False,
                         12: True}
    # rescan 1: every run is whole, and the keyword is not passed at all
    class Strict(TwoClassDetector):
        def detect(self, frames, indices, *, classes=None, whole=None):
            assert whole is None
            return super().detect(frames, indices, classes=classes)

    det1 = Strict()
    run(Anonymizer(det1, NoMask(), RecordingTracker(), schedule=sched.with_rescan(1)), 4)
    assert [i for i, _ in det1.calls] == [0, 2]
