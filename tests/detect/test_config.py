from __future__ import annotations

from pathlib import Path

import pytest

from avanon.detect import PlateRules
from avanon.detect.config import (DEFAULT_DET_SIZE, DetectConfig, parse_det_size,
                                  parse_edge_mirror, parse_thresholds)
from avanon.errors import ConfigError


def test_defaults():
    cfg = DetectConfig()
    assert cfg.classes == ("face", "plate")
    assert dict(cfg.thresholds) == {"face": 0.2, "plate": 0.5}
    assert cfg.det_size == DEFAULT_DET_SIZE and cfg.det_size % 32 == 0
    assert cfg.threads == 0 and cfg.model_dir is None and cfg.providers is None
    assert cfg.plate_model == "both"
    assert cfg.precision == "int8"
    assert cfg.model_names() == ("centerface_int8", "ppocr_det_folded", "clpr_det")
    assert cfg.plate_rules == PlateRules()


def test_plate_rules_can_be_tuned_or_switched_off():
    loose = DetectConfig(plate_rules=PlateRules(max_height_ratio=1.5))
    assert loose.plate_rules.max_height_ratio == 1.5
    assert hash(loose) != hash(DetectConfig())
    assert hash(DetectConfig(plate_rules=None)) == hash(DetectConfig(plate_rules=None))
    assert DetectConfig(plate_rules=None).plate_rules is None


def test_dict_thresholds_are_merged_and_frozen():
    cfg = DetectConfig(thresholds={"plate": 0.6})
    assert cfg.thresholds["face"] == 0.2 and cfg.thresholds["plate"] == 0.6
    with pytest.raises(TypeError):
        cfg.thresholds["face"] = 0.1  # type: ignore[index]
    with pytest.raises(AttributeError):
        cfg.det_size = 320  # type: ignore[misc]
    assert hash(cfg) == hash(DetectConfig(thresholds={"plate": 0.6}))
    assert cfg == DetectConfig(thresholds={"face": 0.2, "plate": 0.6})


def test_normalises_inputs():
    cfg = DetectConfig(classes=["plate", "plate"], providers="cpu", model_dir=Path("/x"),
                       plate_model="both")
    assert cfg.classes == ("plate",)
    assert cfg.providers == ("cpu",)
    assert cfg.model_names() == ("ppocr_det_folded", "clpr_det")
    assert DetectConfig(classes="face").classes == ("face",)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(classes=()), "classes"),
        (dict(classes=("person",)), "person"),
        (dict(thresholds={"face": 0.0}), "(0, 1]"),
        (dict(thresholds={"face": 1.5}), "(0, 1]"),
        (dict(thresholds={"face": "high"}), "face"),
        (dict(thresholds={"car": 0.5}), "car"),
        (dict(thresholds=[0.5]), "mapping"),
        (dict(det_size=1000), "992 or 1024"),
        (dict(det_size=64), "det_size"),
        (dict(det_size=640.0), "integer"),
        (dict(batch=0), "batch"),
        (dict(threads=-1), "threads"),
        (dict(model_dir=3), "model_dir"),
        (dict(providers=[1]), "providers"),
        (dict(plate_model="yolo"), "plate_model"),
        (dict(plate_rules={"max_height_ratio": 1.2}), "plate_rules: expected a PlateRules"),
        (dict(edge_mirror={"plate": 0.3}), "between 0 and 0.25"),
        (dict(edge_mirror={"plate": -0.1}), "between 0 and 0.25"),
        (dict(edge_mirror={"plate": True}), "between 0 and 0.25"),
        (dict(edge_mirror={"face": "wide"}), "edge_mirror['face']"),
        (dict(edge_mirror={"car": 0.1}), "car"),
        (dict(edge_mirror=0.1), "mapping"),
    ],
)
def test_invalid_values_raise_config_error(kwargs, fragment):
    with pytest.raises(ConfigError) as err:
        DetectConfig(**kwargs)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.4", {"face": 0.4, "plate": 0.4}),
        ("face=0.3,plate=0.5", {"face": 0.3, "plate": 0.5}),
        (" plate = 0.6 ", {"plate": 0.6}),
        ("face=0.25,", {"face": 0.25}),
    ],
)
def test_parse_thresholds(text, expected):
    assert parse_thresholds(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "face", "face=x", "car=0.5", "face=2", "=0.3", "0"])
def test_parse_thresholds_rejects(text):
    with pytest.raises(ConfigError):
        parse_thresholds(text)


def test_edge_mirror_is_merged_over_the_defaults():
    assert dict(DetectConfig().edge_mirror) == {"plate": 0.1}
    cfg = DetectConfig(edge_mirror={"face": 0.05})
    assert (cfg.mirror_for("face"), cfg.mirror_for("plate"), cfg.mirror_for(("face", "plate"))) \
        == (0.05, 0.1, 0.1)
    assert DetectConfig(edge_mirror={"plate": 0}).mirror_for("plate") == 0
    assert hash(cfg) != hash(DetectConfig())
    assert parse_edge_mirror("0") == {"face": 0.0, "plate": 0.0}
    assert parse_edge_mirror("plate=0.2, face=0") == {"plate": 0.2, "face": 0.0}
    for bad in ("", "x", "plate=x", "car=0.1", "=0.1", "plate=1", "-0.1"):
        with pytest.raises(ConfigError, match="edge-mirror"):
            parse_edge_mirror(bad)


def test_per_class_detector_sizes():
    cfg = DetectConfig()
    assert cfg.size_for(("face",)) == 1280 and cfg.size_for("plate") == DEFAULT_DET_SIZE
    assert DetectConfig(det_size=640).size_for("face") == 640  # a size you set is for all
    assert DetectConfig(det_sizes={"plate": 1920}).size_for("plate") == 1920
    with pytest.raises(ConfigError, match=r"det_sizes\['face'\]"):
        DetectConfig(det_sizes={"face": 1000})
    with pytest.raises(ConfigError, match="unknown class 'car'"):
        DetectConfig(det_sizes={"car": 640})
    assert parse_det_size("640") == {"det_size": 640, "det_sizes": {}}
    assert parse_det_size("face=1280,plate=640") == {"det_sizes": {"face": 1280, "plate": 640}}
    with pytest.raises(ConfigError, match="det_size"):
        parse_det_size("big")
