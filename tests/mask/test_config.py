"""MaskConfig validation: every bad option raises ConfigError naming the option and value."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avanon.errors import ConfigError
from avanon.mask.config import MaskConfig


@pytest.mark.parametrize(
    "kwargs, expected, match",
    [
        ({}, None, None),
        ({"mode": "solid", "shape": "ellipse", "color": (255, 0, 10)}, None, None),
        ({"mode": "blur", "blur_strength": 0.25, "scale": 1.5}, None, None),
        ({"blocks": 1}, None, None),
        ({"blocks": np.int64(4), "color": [1, 2, 3]}, None, None),
        ({"mode": "mosaic"}, ConfigError, "mask mode.*'mosaic'"),
        ({"mode": None}, ConfigError, "mask mode.*None"),
        ({"shape": "circle"}, ConfigError, "mask shape.*'circle'"),
        ({"scale": 0.9}, ConfigError, "mask scale.*0.9"),
        ({"scale": float("nan")}, ConfigError, "mask scale.*nan"),
        ({"scale": "2"}, ConfigError, "mask scale.*'2'"),
        ({"color": (0, 0)}, ConfigError, r"mask color.*\(0, 0\)"),
        ({"color": (0, 0, 256)}, ConfigError, "mask color.*256"),
        ({"color": (0, -1, 0)}, ConfigError, "mask color.*-1"),
        ({"color": (0.5, 0, 0)}, ConfigError, "mask color.*0.5"),
        ({"color": "red"}, ConfigError, "mask color.*'red'"),
        ({"blocks": 0}, ConfigError, "mask blocks.*0"),
        ({"blocks": 2.5}, ConfigError, "mask blocks.*2.5"),
        ({"blocks": True}, ConfigError, "mask blocks.*True"),
        ({"blur_strength": 0}, ConfigError, "mask blur_strength.*0"),
        ({"blur_strength": -1.0}, ConfigError, "mask blur_strength.*-1.0"),
        ({"blur_strength": float("inf")}, ConfigError, "mask blur_strength.*inf"),
    ],
)
def test_validation(kwargs, expected, match):
    if expected is None:
        cfg = MaskConfig(**kwargs)
        assert isinstance(cfg.color, tuple) and all(type(c) is int for c in cfg.color)
        assert type(cfg.blocks) is int
    else:
        with pytest.raises(expected, match=match) as info:
            MaskConfig(**kwargs)
        assert "\n" not in str(info.value)
        assert isinstance(info.value, ValueError)


def test_defaults_and_frozen():
    cfg = MaskConfig()
    assert (cfg.mode, cfg.shape, cfg.scale, cfg.color, cfg.blocks, cfg.blur_strength) == (
        "pixelate", "box", 1.3, (0, 0, 0), 6, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.mode = "solid"  # type: ignore[misc]
