"""PlaneMasker on real av.VideoFrames: in place on the planes, or through a planar copy."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from avanon.detections import Detections
from avanon.errors import ConfigError
from avanon.mask import MASKERS, Masker, MaskConfig, PlaneMasker, make_masker, reference
from avanon.mask.layout import plane_layout
from avanon.mask.masker import BLUR_PASSES, fill_codes

from ._planes import EDGE_BOXES, H, W, covered, frame_planes, random_boxes, random_frame

PLANAR = ["yuv420p", "yuv420p10le", "nv12", "nv21", "p010le", "gray", "gbrp", "yuva420p",
          "yuv410p", "yuvj422p", "gray10le", "gbrp10le", "yuv444p12le", "p016le", "yuv440p"]
MODES = ["solid", "pixelate", "blur"]


def scaled(boxes: np.ndarray, scale: float) -> np.ndarray:
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    h = (boxes[:, 2:] - boxes[:, :2]) / 2 * scale
    return np.concatenate([c - h, c + h], axis=1)


def expected_planes(frame: av.VideoFrame, before: list[np.ndarray], cfg: MaskConfig,
                    boxes: np.ndarray) -> list[np.ndarray]:
    """What every plane must hold after masking, from the NumPy reference."""
    lay = plane_layout(frame.format.name)
    codes = fill_codes(cfg.color, frame, lay)
    out = [p.copy() for p in before]
    ellipse = cfg.shape == "ellipse"
    for spec in lay.planes:
        n = len(spec.components)
        for c, comp in enumerate(spec.components):
            src = out[spec.index][:, c::n]
            if cfg.mode == "solid":
                res = reference.fill_boxes(src, boxes, spec.sx, spec.sy, ellipse, codes[comp])
            elif cfg.mode == "pixelate":
                res = reference.pixelate_boxes(src, boxes, spec.sx, spec.sy, ellipse, cfg.blocks,
                                               lay.align, lay.shift)
            else:
                res = reference.blur_boxes(src, boxes, spec.sx, spec.sy, ellipse,
                                           cfg.blur_strength, BLUR_PASSES, lay.shift)
            out[spec.index][:, c::n] = res
    return out


@pytest.mark.parametrize("shape", ["box", "ellipse"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", PLANAR)
def test_planar_formats_in_place(name, mode, shape):
    rng = np.random.default_rng([PLANAR.index(name), MODES.index(mode), shape == "box"])
    shift = 6 if name == "p010le" else 0
    frame = random_frame(rng, name, shift)
    before = frame_planes(frame)
    boxes = np.concatenate([EDGE_BOXES, random_boxes(rng, 4)])
    cfg = MaskConfig(mode=mode, shape=shape, scale=1.25, color=(200, 30, 90), blocks=4)
    out = PlaneMasker(cfg).apply(frame, Detections.from_boxes(boxes))
    assert out is frame
    assert out.format.name == name and (out.width, out.height) == (W, H) and out.pts == 1234
    after = frame_planes(out)
    want = expected_planes(frame, before, cfg, scaled(boxes.astype(np.float32), 1.25))
    for index, (got, exp, old) in enumerate(zip(after, want, before)):
        np.testing.assert_array_equal(got, exp, err_msg=f"plane {index}")
        if any(c.is_alpha and c.plane == index for c in frame.format.components):
            np.testing.assert_array_equal(got, old, err_msg="alpha plane changed")
        elif index == 0:
            assert not np.array_equal(got, old)


@pytest.mark.parametrize(
    "name, color_range, colorspace, codes",
    [("yuv420p", 0, 2, (16, 128, 128)), ("yuv420p10le", 1, 1, (64, 512, 512)),
     ("yuvj420p", 0, 2, (0, 128, 128)), ("nv12", 2, 1, (0, 128, 128)),
     ("p010le", 1, 9, (64 << 6, 512 << 6, 512 << 6)), ("gray", 1, 2, (16,)),
     ("gbrp", 0, 2, (0, 0, 0))],
)
def test_solid_black_codes_in_every_plane(name, color_range, colorspace, codes):
    frame = random_frame(np.random.default_rng(1), name)
    frame.color_range, frame.colorspace = color_range, colorspace
    box = [9.0, 5.0, 41.0, 27.0]
    PlaneMasker(MaskConfig(mode="solid")).apply(frame, Detections.from_boxes([box]))
    planes = frame_planes(frame)
    lay = plane_layout(name)
    for spec in lay.planes:
        n = len(spec.components)
        for c, comp in enumerate(spec.components):
            chan = planes[spec.index][:, c::n]
            cover = covered(box, spec.sx, spec.sy, chan.shape)
            assert (chan[cover] == codes[comp]).all()
            assert (chan[~cover] != codes[comp]).any()


def test_solid_white_in_limited_and_full_range():
    for color_range, y in ((1, 235), (2, 255)):
        frame = random_frame(np.random.default_rng(2), "yuv420p")
        frame.color_range = color_range
        PlaneMasker(MaskConfig(mode="solid", color=(255, 255, 255))).apply(
            frame, Detections.from_boxes([[0, 0, 8, 8]]))
        planes = frame_planes(frame)
        assert (planes[0][:8, :8] == y).all()
        assert (planes[1][:4, :4] == 128).all() and (planes[2][:4, :4] == 128).all()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, planar", [("rgb24", "gbrp"), ("bgr0", "gbrp"),
                                          ("yuyv422", "yuv422p"), ("yuv420p10be", "yuv420p10le")])
def test_packed_formats_go_through_a_planar_copy(name, planar, mode):
    rng = np.random.default_rng(4)
    width = W + 1 if name == "yuyv422" else W
    source = random_frame(rng, planar).reformat(width=width, format=planar)
    frame = source.reformat(format=name)
    frame.pts, frame.time_base = 77, Fraction(1, 30)
    frame.colorspace, frame.color_range = 1, 1
    original = bytes(frame.planes[0])
    boxes = np.concatenate([EDGE_BOXES, random_boxes(rng, 3)])
    cfg = MaskConfig(mode=mode, shape="ellipse", color=(255, 0, 0))
    out = PlaneMasker(cfg).apply(frame, Detections.from_boxes(boxes))
    assert out is not frame and bytes(frame.planes[0]) == original, "source frame modified"
    assert out.format.name == name and (out.width, out.height) == (width, H)
    assert (out.pts, out.time_base, out.colorspace, out.color_range) == (77, Fraction(1, 30), 1, 1)
    # Same result as masking the planar frame directly (the conversions are lossless).
    direct = frame.reformat(format=planar)
    direct.colorspace, direct.color_range = 1, 1
    PlaneMasker(cfg).apply(direct, Detections.from_boxes(boxes))
    for got, exp in zip(frame_planes(out.reformat(format=planar)), frame_planes(direct)):
        np.testing.assert_array_equal(got, exp)
    if name == "rgb24":  # and nothing outside the boxes moved through the round trip
        keep = np.ones((H, W), bool)
        for box in scaled(boxes, 1.0):
            keep &= ~covered(box, 0, 0, keep.shape)
        np.testing.assert_array_equal(out.to_ndarray()[keep], frame.to_ndarray()[keep])


def test_rgb24_solid_through_to_ndarray():
    rng = np.random.default_rng(6)
    rgb = rng.integers(0, 256, (H, W, 3)).astype(np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    out = PlaneMasker(MaskConfig(mode="solid", color=(255, 128, 0), scale=1.0)).apply(
        frame, Detections.from_boxes([[10.5, 5, 30, 20.2]]))
    got = out.to_ndarray()
    assert (got[5:21, 10:30] == (255, 128, 0)).all()
    keep = np.ones((H, W), bool)
    keep[5:21, 10:30] = False
    np.testing.assert_array_equal(got[keep], rgb[keep])


def test_empty_detections_return_the_frame_untouched():
    frame = random_frame(np.random.default_rng(8), "rgb24")
    before = bytes(frame.planes[0])
    assert PlaneMasker().apply(frame, Detections.empty()) is frame
    assert bytes(frame.planes[0]) == before


def test_scale_enlarges_about_the_centre():
    frame = random_frame(np.random.default_rng(10), "gray")
    PlaneMasker(MaskConfig(mode="solid", scale=2.0)).apply(
        frame, Detections.from_boxes([[20, 10, 30, 20]]))
    y = frame_planes(frame)[0]
    assert (y[5:25, 15:35] == 0).all()
    assert (y[5:25, 14] != 0).any() and (y[5:25, 35] != 0).any()
    assert (y[4, 15:35] != 0).any() and (y[25, 15:35] != 0).any()


def test_infinite_boxes_reach_the_edges_and_nan_is_refused():
    frame = random_frame(np.random.default_rng(12), "yuv420p")
    PlaneMasker(MaskConfig(mode="solid")).apply(
        frame, Detections.from_boxes([[-np.inf, -np.inf, np.inf, np.inf]]))
    assert all((p == v).all() for p, v in zip(frame_planes(frame), (16, 128, 128)))
    with pytest.raises(ValueError, match="NaN"):
        PlaneMasker().apply(frame, Detections.from_boxes([[0, 0, np.nan, 5]]))


def test_hardware_frames_are_refused():
    assert plane_layout("cuda") is None
    frame = _FakeHwFrame(av.VideoFrame(16, 16, "yuv420p"))
    with pytest.raises(ValueError, match="hardware format 'cuda'"):
        PlaneMasker().apply(frame, Detections.from_boxes([[0, 0, 4, 4]]))  # type: ignore[arg-type]


class _FakeHwFrame:
    """Enough of a hardware frame for the check: PyAV cannot build real ones without a GPU."""

    def __init__(self, frame: av.VideoFrame) -> None:
        self.format = av.VideoFormat("cuda", frame.width, frame.height)
        self.width, self.height = frame.width, frame.height


@pytest.mark.parametrize("mode", MODES)
def test_apply_is_deterministic(mode):
    boxes = Detections.from_boxes(random_boxes(np.random.default_rng(14), 12))
    results = []
    for _ in range(2):
        frame = random_frame(np.random.default_rng(15), "nv12")
        PlaneMasker(MaskConfig(mode=mode, shape="ellipse")).apply(frame, boxes)
        results.append(frame_planes(frame))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_registry_and_protocol():
    masker = make_masker(MaskConfig(mode="blur"))
    assert isinstance(masker, PlaneMasker) and isinstance(masker, Masker)
    assert masker.config.mode == "blur" and MASKERS["planes"] is PlaneMasker
    assert make_masker().config == MaskConfig()
    with pytest.raises(ConfigError, match="masker.*'gpu'"):
        make_masker(MaskConfig(), name="gpu")
