"""`Schedule`: which classes run on which frame; parsing and validation."""

from __future__ import annotations

import pytest

from avanon import Config, ConfigError, Schedule
from avanon.schedule import DEFAULT_DETECT_EVERY, parse_every
from avanon.track import TrackConfig


def test_classes_not_named_run_every_frame():
    s = Schedule({"plate": 18})
    assert s.interval("face") == 1 and s.interval("plate") == 18
    assert s.shortest == 1 and s.longest == 18
    assert [i for i in range(40) if "plate" in s.due(i)] == [0, 18, 36]
    assert all("face" in s.due(i) for i in range(40))


def test_cut_makes_everything_due():
    s = Schedule.of(5)
    assert s.due(3) == frozenset()
    assert s.due(3, cut=True) == frozenset({"face", "plate"})
    assert s.due(3, cut=True, classes=("plate",)) == frozenset({"plate"})


@pytest.mark.parametrize("text, every", [
    ("3", {"face": 3, "plate": 3}),
    ("face=2,plate=6", {"face": 2, "plate": 6}),
    ("plate=18", {"plate": 18}),
])
def test_parse(text, every):
    assert dict(parse_every(text).every) == every


@pytest.mark.parametrize("text, match", [
    ("0", "expected an integer >= 1"),
    ("x", "expected N or face=N,plate=M"),
    ("car=3", "unknown class 'car'"),
    ("face=0", r"detect_every\['face'\]"),
])
def test_parse_errors_name_the_field(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_every(text)


def test_config_default_and_tracking():
    assert dict(Config().schedule.every) == dict(DEFAULT_DETECT_EVERY)
    assert Config(track=TrackConfig(enabled=False)).schedule.longest == 1
    with pytest.raises(ConfigError, match="needs tracking"):
        Config(track=TrackConfig(enabled=False), detect_every=3)
    with pytest.raises(ConfigError, match="detect: expected a DetectConfig"):
        Config(detect="fast")


def test_every_rescan_th_run_of_a_class_and_every_cut_examine_the_whole_picture():
    s = Schedule({"face": 12, "plate": 6}, rescan=4)
    runs = [i for i in range(120) if s.due(i)]
    whole = [i for i in runs if s.whole(i)]
    assert whole == [0, 24, 48, 72, 96]  # plates' 4th runs; faces' (every 48) fall on them
    assert s.whole(30, cut=True) and not s.whole(30)
    assert s.whole(48, classes=("face",)) and not s.whole(36, classes=("face",))
    assert s.settles == 48
    assert all(Schedule({"plate": 6}, rescan=1).whole(i) for i in range(0, 60, 6))
    assert Schedule({"plate": 6}, rescan=1).settles == 0


def test_rescan_defaults_and_validation():
    assert Config().schedule.rescan == 4 and Schedule.of(3).rescan == 4
    # without tracking every frame is a baseline: examined whole
    assert Config(track=TrackConfig(enabled=False)).schedule.rescan == 1
    s = Schedule.of(3).with_around({"face": 1}).with_rescan(2)
    assert s.rescan == 2 and dict(s.around) == {"face": 1}
    assert s.with_around({}).rescan == 2
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="rescan: expected an integer >= 1"):
            Schedule({"face": 2}, rescan=bad)
