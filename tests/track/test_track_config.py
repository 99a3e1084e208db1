import pytest

from avanon.errors import ConfigError
from avanon.track import Duration, IouTracker, PassThroughTracker, TrackConfig, Tracker, make_tracker, parse_duration


@pytest.mark.parametrize(
    "text, fps, frames",
    [
        ("15", 30.0, 15),
        ("15f", 24.0, 15),
        ("15 frames", 24.0, 15),
        (15, 60.0, 15),
        ("0.5s", 30.0, 15),
        ("0.5s", 25.0, 12),  # 12.5 rounds to even
        ("1S", 23.976, 24),
        ("0", 30.0, 0),
        (Duration(2.0, "s"), 10.0, 20),
    ],
)
def test_parse_duration_resolves_to_frames(text, fps, frames):
    assert parse_duration(text).frames(fps) == frames


@pytest.mark.parametrize("text", ["", "abc", "-1", "1.5", "0.5m", "s", True, -3, float("nan")])
def test_parse_duration_rejects(text):
    with pytest.raises(ConfigError, match="hold"):
        parse_duration(text, "hold")


def test_seconds_need_a_frame_rate():
    with pytest.raises(ConfigError, match="fps"):
        TrackConfig(hold="0.5s").hold_frames(0.0)


def test_defaults_are_valid_and_hold_is_parsed():
    cfg = TrackConfig()
    assert isinstance(cfg.hold, Duration)
    assert cfg.hold_frames(30.0) == 8  # 0.25 s
    assert cfg.lookahead == 5
    assert TrackConfig(hold=7).hold_frames(30.0) == 7


@pytest.mark.parametrize(
    "kwargs, option",
    [
        ({"lookahead": -1}, "lookahead"),
        ({"lookahead": 2.5}, "lookahead"),
        ({"lookahead": True}, "lookahead"),
        ({"hold": "soon"}, "hold"),
        ({"iou_threshold": 1.5}, "iou_threshold"),
        ({"iou_threshold": "0.3"}, "iou_threshold"),
        ({"high_score": -0.1}, "high_score"),
        ({"low_score": 0.6, "high_score": 0.5}, "low_score"),
        ({"min_hits": 0}, "min_hits"),
        ({"grow": -1.0}, "grow"),
        ({"grow": float("inf")}, "grow"),
        ({"max_grow": float("nan")}, "max_grow"),
        ({"edge_margin": 2.0}, "edge_margin"),
    ],
)
def test_invalid_options_name_the_option_and_value(kwargs, option):
    with pytest.raises(ConfigError, match=option) as info:
        TrackConfig(**kwargs)
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        TrackConfig().lookahead = 3  # type: ignore[misc]


def test_make_tracker_picks_by_enabled():
    on = make_tracker(TrackConfig(lookahead=4), (640, 360), 30.0)
    off = make_tracker(TrackConfig(enabled=False), (640, 360), 30.0)
    assert isinstance(on, IouTracker) and on.lookahead == 4
    assert isinstance(off, PassThroughTracker) and off.lookahead == 0
    assert isinstance(on, Tracker) and isinstance(off, Tracker)


@pytest.mark.parametrize("size", [(0, 360), (640, -1)])
def test_tracker_rejects_bad_frame_size(size):
    with pytest.raises(ConfigError, match="frame_size"):
        IouTracker(TrackConfig(), size, 30.0)
