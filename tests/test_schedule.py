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
