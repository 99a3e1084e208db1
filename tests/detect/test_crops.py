"""Tests for avanon.detect.crops: region planning, YUV crops, and boxes mapped back."""

from __future__ import annotations

import av
import numpy as np
import pytest

from avanon.detect.crops import PAD, CropBatch, crop_batch, regions_around, tiles
from avanon.detect.geometry import detector_input
from avanon.errors import ConfigError
from avanon.mask.color import rgb_to_codes
from avanon.mask.layout import plane_layout, plane_rows

# --- Helpers ------------------------------------------------------------------------------------


def frame_from_rgb(rgb: np.ndarray, fmt: str, **kwargs) -> av.VideoFrame:
    """``rgb`` (H, W, 3) uint8 converted by FFmpeg to ``fmt``."""
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
        format=fmt, **kwargs)


def smooth_rgb(h: int, w: int) -> np.ndarray:
    """Slowly varying colours (chroma subsampling and filters barely change them)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rgb = np.stack([128 + 90 * np.sin(xx / 23.0), 128 + 90 * np.cos(yy / 17.0),
                    128 + 80 * np.sin((xx + yy) / 31.0)], axis=-1)
    return rgb.round().astype(np.uint8)


def set_components(frame: av.VideoFrame, values) -> av.VideoFrame:
    """Write component ``c`` of every sample of ``frame`` from ``values[c]`` (scalar or array)."""
    layout = plane_layout(frame.format.name)
    for spec in layout.planes:
        plane = frame.planes[spec.index]
        rows = plane_rows(frame, spec.index, layout.dtype)
        n = len(spec.components)
        for pos, comp in enumerate(spec.components):
            rows[:, pos : plane.width * n : n] = values[comp]
    return frame


def bbox_of(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def upright_size_of(w: int, h: int, k: int) -> tuple[int, int]:
    return (h, w) if k % 2 else (w, h)


# --- Numba kernel == NumPy reference ------------------------------------------------------------

FORMATS = ["yuv420p", "yuvj420p", "yuv422p", "yuv444p", "yuv410p", "nv12", "nv21",
           "yuv420p10le", "yuv422p10le", "p010le", "yuv444p12le", "gray", "gray10le", "gbrp",
           "rgb24", "yuyv422"]

#: Regions exercising up- and downscaling, fractions, thin strips and the picture edges.
EDGE_REGIONS = np.array([
    [0, 0, 67, 45],  # whole picture
    [10.5, 3.25, 50.0, 40.75],  # fractional: rounded outward
    [-5, 30, 20, 60],  # partly outside: cut off
    [60, 2, 63, 4],  # 3 x 2: enlarged
    [1, 20, 66, 24],  # thin strip
    [33, 11, 34, 44],  # one column
])


@pytest.mark.parametrize("k", [0, 1, 2, 3])
@pytest.mark.parametrize("fmt", FORMATS)
def test_kernel_matches_reference(fmt, k):
    rng = np.random.default_rng(len(fmt) + k)
    frame = frame_from_rgb(rng.integers(0, 256, (45, 67, 3), dtype=np.uint8), fmt)
    fast = crop_batch(frame, EDGE_REGIONS, (40, 30), k)
    slow = crop_batch(frame, EDGE_REGIONS, (40, 30), k, reference=True)
    np.testing.assert_array_equal(fast.content, slow.content)
    diff = np.abs(fast.images.astype(int) - slow.images)
    assert diff.max() <= 1  # float32 kernel vs float64 reference: rounding ties only
    assert (diff > 0).mean() < 0.01


# --- Geometry: rotation, scaling and mapping back -----------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3])
def test_square_crops_are_rot90_of_unrotated(k):
    rng = np.random.default_rng(k)
    frame = frame_from_rgb(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), "yuv420p")
    regions = np.array([[10, 10, 74, 74], [50, 20, 90, 60]])
    base = crop_batch(frame, regions, (48, 48), 0).images
    turned = crop_batch(frame, regions, (48, 48), k).images
    np.testing.assert_array_equal(turned, np.rot90(base, k, axes=(1, 2)))


@pytest.mark.parametrize("scale", [1.0, 2.0, 0.5, 1.5])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_pixels_encoding_their_coordinates_map_back(k, scale):
    """A gbrp frame with R = x and G = y: every crop pixel says where it came from."""
    w, h = 240, 200
    frame = av.VideoFrame(w, h, "gbrp")
    yy, xx = np.mgrid[0:h, 0:w]
    set_components(frame, [xx, yy, np.zeros_like(xx)])
    x0, y0, rw, rh = 40, 30, 96, 66  # interior, so no tap is cut at the picture edge
    uw, uh = upright_size_of(rw, rh, k)
    size = (int(uw / scale), int(uh / scale))
    batch = crop_batch(frame, [[x0, y0, x0 + rw, y0 + rh]], size, k)
    np.testing.assert_array_equal(batch.content[0], size)
    img = batch.images[0].astype(float)
    # Each crop pixel, as a 1x1 box in crop pixels, mapped back to coded pixels.
    a, b = np.mgrid[0 : size[1], 0 : size[0]]
    cells = np.stack([b, a, b + 1, a + 1], axis=-1).reshape(-1, 4)
    coded = batch.to_coded(0, cells)
    centre_x = (coded[:, 0] + coded[:, 2]) / 2 - 0.5  # sample index at the cell centre
    centre_y = (coded[:, 1] + coded[:, 3]) / 2 - 0.5
    # The tent filter reproduces a linear ramp exactly; the rest is rounding to 8 bits.
    np.testing.assert_allclose(img[..., 0].ravel(), centre_x, atol=0.51)
    np.testing.assert_allclose(img[..., 1].ravel(), centre_y, atol=0.51)
    np.testing.assert_allclose(coded[:, 2] - coded[:, 0], scale, rtol=1e-5)


@pytest.mark.parametrize("side, size", [(96, 128), (200, 128), (64, 64)])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_bright_box_round_trip(k, side, size):
    """Crop around a known bright rectangle, find it in the crop, map it back."""
    w, h = 640, 360
    box = np.array([301, 147, 337, 191])  # odd edges: not aligned with 4:2:0 chroma
    rgb = np.full((h, w, 3), 20, np.uint8)
    rgb[box[1] : box[3], box[0] : box[2]] = 235
    frame = frame_from_rgb(rgb, "yuv420p")
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    region = [cx - side // 2 + 7, cy - side // 2 - 5, cx + side // 2 + 7, cy + side // 2 - 5]
    batch = crop_batch(frame, [region], (size, size), k)
    found = bbox_of(batch.images[0, ..., 1] > 128)
    back = batch.to_coded(0, [found])[0]
    tol = max(1.0, side / size)  # half a crop pixel each side, at least one coded pixel
    np.testing.assert_allclose(back, box, atol=tol)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_whole_frame_crop_agrees_with_detector_input(k):
    """Same orientation and about the same pixels as FFmpeg's upright detector copy."""
    rgb = smooth_rgb(240, 320)
    rgb[60:100, 200:260] = 250
    frame = frame_from_rgb(rgb, "yuv420p")
    det_wh = upright_size_of(160, 120, k)
    ours = crop_batch(frame, [[0, 0, 320, 240]], det_wh, k)
    np.testing.assert_array_equal(ours.content[0], det_wh)
    theirs = detector_input(frame, det_wh, k)
    diff = np.abs(ours.images[0].astype(int) - theirs)
    assert diff.mean() < 2.0
    assert np.percentile(diff, 99) <= 12  # filter differences at the bright edges only


def test_aspect_kept_and_padded():
    frame = frame_from_rgb(smooth_rgb(120, 240), "yuv420p")
    batch = crop_batch(frame, [[0, 0, 200, 100], [0, 0, 50, 100]], (128, 128), 0)
    np.testing.assert_array_equal(batch.content, [[128, 64], [64, 128]])
    np.testing.assert_allclose(batch.scales, [[200 / 128, 100 / 64], [50 / 64, 100 / 128]])
    assert (batch.images[0, 64:] == PAD).all() and (batch.images[1, :, 64:] == PAD).all()
    assert (batch.images[0, :64] != PAD).any()
    rotated = crop_batch(frame, [[0, 0, 200, 100]], (128, 128), 1)
    np.testing.assert_array_equal(rotated.content, [[64, 128]])  # upright: 100 x 200
    assert (rotated.images[0, :, 64:] == PAD).all()


def test_to_coded_clips_to_the_region():
    frame = frame_from_rgb(smooth_rgb(120, 240), "yuv420p")
    batch = crop_batch(frame, [[40, 10, 140, 60]], (64, 64), 0)  # content 64 x 32
    out = batch.to_coded(0, [[-10, -10, 100, 100], [0, 40, 64, 60]])
    np.testing.assert_allclose(out[0], [40, 10, 140, 60])
    np.testing.assert_allclose(out[1], [40, 60, 140, 60])  # wholly in the padding: empty
    assert batch.to_coded(0, np.zeros((0, 4))).shape == (0, 4)
    assert out.dtype == np.float32


# --- Colour ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yuv420p", "nv12", "yuv422p", "yuv420p10le", "yuv422p10le"])
def test_colours_match_ffmpeg(fmt):
    """BT.601 limited range (SD's default): as FFmpeg's rgb24 conversion, within a few codes."""
    rgb = smooth_rgb(120, 160)
    frame = frame_from_rgb(rgb, fmt)
    frame.colorspace = 5  # BT470BG = BT.601
    frame.color_range = 1  # MPEG = limited
    ffmpeg = frame.to_ndarray(format="rgb24")
    x0, y0, x1, y1 = 21, 13, 85, 61  # odd origin: chroma phase differs from the picture's
    ours = crop_batch(frame, [[x0, y0, x1, y1]], (x1 - x0, y1 - y0)).images[0].astype(int)
    diff = np.abs(ours - ffmpeg[y0:y1, x0:x1])
    assert diff.max() <= 6 and diff.mean() < 2.0
    src = np.abs(ours - rgb[y0:y1, x0:x1])  # and close to what was encoded
    assert src.max() <= 4 and src.mean() < 1.0


COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0), (90, 160, 210)]


@pytest.mark.parametrize("fmt, bits", [("yuv444p", 8), ("yuv420p10le", 10), ("p010le", 10),
                                       ("yuv422p12le", 12)])
@pytest.mark.parametrize("colorspace, matrix", [(5, "bt601"), (1, "bt709"), (9, "bt2020")])
@pytest.mark.parametrize("full", [False, True])
def test_matrix_range_and_depth(fmt, bits, colorspace, matrix, full):
    shift = 6 if fmt.startswith("p0") else 0
    for colour in COLOURS:
        frame = av.VideoFrame(32, 16, fmt)
        frame.colorspace = colorspace
        frame.color_range = 2 if full else 1
        codes = [c << shift for c in rgb_to_codes(colour, matrix, full, bits)]
        set_components(frame, codes)
        got = crop_batch(frame, [[4, 4, 20, 12]], (8, 4)).images[0]
        np.testing.assert_allclose(got.reshape(-1, 3), np.tile(colour, (32, 1)), atol=1,
                                   err_msg=f"{colour} as {matrix} {'full' if full else 'limited'}")


def test_unspecified_colorspace_follows_height():
    """Unspecified matrix: BT.601 below 720 lines, BT.709 from 720 (as the masker assumes)."""
    red = (255, 0, 0)
    for height, matrix in [(480, "bt601"), (720, "bt709")]:
        frame = av.VideoFrame(64, height, "yuv420p")
        set_components(frame, rgb_to_codes(red, matrix, False, 8))
        got = crop_batch(frame, [[0, 0, 16, 16]], (8, 8)).images[0]
        np.testing.assert_allclose(got.reshape(-1, 3), np.tile(red, (64, 1)), atol=1)


@pytest.mark.parametrize("fmt", ["rgb24", "bgr24", "rgba"])
def test_other_formats_crop_from_rgb24(fmt):
    rng = np.random.default_rng(3)
    frame = frame_from_rgb(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8), fmt)
    ref = frame.to_ndarray(format="rgb24")
    got = crop_batch(frame, [[5, 7, 45, 37]], (40, 30)).images[0]
    np.testing.assert_array_equal(got, ref[7:37, 5:45])  # scale 1: exact


# --- Degenerate inputs ----------------------------------------------------------------------------


@pytest.fixture
def small_frame():
    return frame_from_rgb(smooth_rgb(48, 64), "yuv420p")


def test_empty_regions_give_an_empty_batch(small_frame):
    for empty in ([], np.zeros((0, 4))):
        batch = crop_batch(small_frame, empty, (32, 24), 1)
        assert isinstance(batch, CropBatch) and len(batch) == 0
        assert batch.images.shape == (0, 24, 32, 3) and batch.regions.shape == (0, 4)


def test_regions_are_snapped_outward_and_clipped(small_frame):
    batch = crop_batch(small_frame, [[-10.5, 3.2, 20.1, 70.0], [60.5, 40.5, 99, 99]], (16, 16))
    np.testing.assert_array_equal(batch.regions, [[0, 3, 21, 48], [60, 40, 64, 48]])
    back = batch.to_coded(1, [[0, 0, 16, 16]])
    np.testing.assert_allclose(back, [[60, 40, 64, 48]])


@pytest.mark.parametrize("region", [[10, 10, 10, 20], [10, 20, 30, 20], [30, 10, 20, 20],
                                    [70, 10, 90, 20], [-20, -20, -1, 10], [64, 0, 80, 48]])
def test_empty_or_outside_regions_raise(small_frame, region):
    with pytest.raises(ValueError, match="non-empty regions overlapping the 64x48 picture"):
        crop_batch(small_frame, [[0, 0, 8, 8], region], (16, 16))


@pytest.mark.parametrize("regions, match", [
    ([[0, 0, 8]], r"shape \(N, 4\)"),
    ([0, 0, 8, 8], r"shape \(N, 4\)"),
    ([[0, 0, np.nan, 8]], "finite"),
    ([[0, 0, np.inf, 8]], "finite"),
])
def test_bad_regions_raise(small_frame, regions, match):
    with pytest.raises(ValueError, match=match):
        crop_batch(small_frame, regions, (16, 16))


@pytest.mark.parametrize("size", [(0, 16), (16, -1), (16,), "ab", (16.5, 16), None])
def test_bad_size_raises_config_error(small_frame, size):
    with pytest.raises(ConfigError, match="size"):
        crop_batch(small_frame, [[0, 0, 8, 8]], size)


def test_k_is_an_integer_taken_modulo_4(small_frame):
    with pytest.raises(ConfigError, match="k"):
        crop_batch(small_frame, [[0, 0, 8, 8]], (8, 8), 1.5)
    regions = [[0, 0, 40, 24]]
    np.testing.assert_array_equal(crop_batch(small_frame, regions, (16, 16), 5).images,
                                  crop_batch(small_frame, regions, (16, 16), 1).images)
    assert crop_batch(small_frame, regions, (16, 16), -1).k == 3


# --- tiles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("width, height, tile, overlap", [
    (3840, 2160, 2000, 160), (3840, 2160, 1400, 120), (1920, 1080, 960, 0), (1000, 300, 256, 32),
    (257, 256, 256, 0), (100, 80, 128, 16), (2592, 1944, 1024, 100), (33, 500, 32, 31),
])
def test_tiles_cover_the_picture_with_overlap(width, height, tile, overlap):
    t = tiles(width, height, tile, overlap)
    assert t.dtype == np.int64 and t.shape[1] == 4
    assert (t[:, :2] >= 0).all() and (t[:, 2] <= width).all() and (t[:, 3] <= height).all()
    np.testing.assert_array_equal(t[:, 2] - t[:, 0], min(tile, width))
    np.testing.assert_array_equal(t[:, 3] - t[:, 1], min(tile, height))
    covered = np.zeros((height, width), bool)
    for x0, y0, x1, y1 in t:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    for axis, length in ((0, width), (1, height)):
        starts = np.unique(t[:, axis])
        if len(starts) > 1:
            steps = np.diff(starts)
            assert min(tile, length) - steps.max() >= overlap  # at least the asked overlap
            assert steps.max() - steps.min() <= 1  # evenly spread
            assert starts[-1] + tile == length  # last tile flush with the edge
    # The fewest tiles: one fewer along an axis would leave a gap or too little overlap.
    nx = len(np.unique(t[:, 0]))
    if nx > 1:
        assert (nx - 1) * (tile - overlap) + overlap < width


def test_tiles_row_major_and_small_picture():
    np.testing.assert_array_equal(tiles(3840, 2160, 2000, 160),
                                  [[0, 0, 2000, 2000], [1840, 0, 3840, 2000],
                                   [0, 160, 2000, 2160], [1840, 160, 3840, 2160]])
    np.testing.assert_array_equal(tiles(100, 80, 128), [[0, 0, 100, 80]])


@pytest.mark.parametrize("args, error, match", [
    ((100, 100, 0, 0), ConfigError, "tile >= 1"),
    ((100, 100, 32, 32), ConfigError, "overlap < tile"),
    ((100, 100, 32, -1), ConfigError, "overlap"),
    ((100, 100, 32.5, 0), ConfigError, "tile to be an integer"),
    ((0, 100, 32, 0), ValueError, "at least 1x1"),
])
def test_tiles_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        tiles(*args)


# --- regions_around -------------------------------------------------------------------------------


def contains(region, box) -> bool:
    return (region[0] <= box[0] and region[1] <= box[1] and region[2] >= box[2]
            and region[3] >= box[3])


def test_regions_around_single_boxes():
    boxes = np.array([[500, 300, 540, 350],  # 40 x 50: side 100
                      [10, 10, 14, 14],  # tiny: min_side, shifted inside the top-left corner
                      [1900, 1000, 1920, 1080],  # bottom-right corner
                      [800, 500, 800, 500]])  # zero size: min_side around the point
    r = regions_around(boxes, 1920, 1080, merge=False)
    np.testing.assert_array_equal(r, [[470, 275, 570, 375], [0, 0, 64, 64],
                                      [1760, 920, 1920, 1080], [768, 468, 832, 532]])
    for region, box in zip(r, boxes):
        assert contains(region, box)


def test_regions_around_clamps_and_drops():
    boxes = np.array([[100, 100, 400, 200],  # side 600 capped at max_side 256
                      [-50, 20, 10, 40],  # partly outside: clipped, region inside
                      [700, 10, 760, 40],  # wholly outside a 640-wide picture: dropped
                      [0, 0, 640, 360]])  # larger than the picture: picture-sized region
    r = regions_around(boxes, 640, 360, merge=False, max_side=256)
    np.testing.assert_array_equal(r[0], [122, 22, 378, 278])
    assert len(r) == 3
    assert (r[:, :2] >= 0).all() and (r[:, 2] <= 640).all() and (r[:, 3] <= 360).all()
    np.testing.assert_array_equal(r[1], [0, 0, 64, 64])
    big = regions_around([[0, 0, 640, 360]], 640, 360)
    np.testing.assert_array_equal(big, [[0, 0, 640, 360]])
    small = regions_around([[5, 5, 10, 10]], 40, 30)  # picture smaller than min_side
    np.testing.assert_array_equal(small, [[0, 0, 40, 30]])


def test_regions_around_merges_a_crowd():
    rng = np.random.default_rng(7)
    # Eight faces of about 24 px within a 70 px patch, and one face far away.
    xy = rng.uniform([1000, 500], [1070, 560], (8, 2))
    crowd = np.concatenate([xy, xy + rng.uniform(20, 28, (8, 2))], axis=1)
    boxes = np.concatenate([crowd, [[200, 800, 224, 826]]])
    separate = regions_around(boxes, 1920, 1080, merge=False)
    merged = regions_around(boxes, 1920, 1080, merge_scale=2.0)
    assert len(separate) == 9
    assert 2 <= len(merged) <= 4  # the crowd in one to three crops, the far face alone
    assert any((m == separate[-1]).all() for m in merged)
    for box in boxes:
        assert any(contains(m, box) for m in merged)
    assert (merged[:, :2] >= 0).all() and (merged[:, 2] <= 1920).all()
    smallest = (separate[:, 2] - separate[:, 0]).min()
    assert ((merged[:, 2:] - merged[:, :2]).max(axis=1) <= 2.0 * smallest).all()
    # merge_scale 1 merges only coinciding regions; max_side caps merged regions too.
    assert len(regions_around(boxes, 1920, 1080, merge_scale=1.0)) == 9
    capped = regions_around(boxes, 1920, 1080, merge_scale=2.0, max_side=70)
    assert ((capped[:, 2:] - capped[:, :2]) <= 70).all()


def test_regions_around_does_not_merge_distant_boxes():
    boxes = [[100, 100, 130, 130], [400, 100, 430, 130], [100, 400, 130, 430]]
    assert len(regions_around(boxes, 640, 480, merge_scale=3.0)) == 3


def test_regions_around_empty():
    assert regions_around(np.zeros((0, 4)), 640, 480).shape == (0, 4)
    assert regions_around([], 640, 480).shape == (0, 4)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(boxes=[[0, 0, np.nan, 4]]), ValueError, "finite"),
    (dict(boxes=[[10, 0, 5, 4]]), ValueError, "x0 <= x1"),
    (dict(boxes=[[0, 0, 4]]), ValueError, r"shape \(N, 4\)"),
    (dict(context=0), ConfigError, "context > 0"),
    (dict(context=float("nan")), ConfigError, "context > 0"),
    (dict(min_side=0), ConfigError, "min_side >= 1"),
    (dict(max_side=32), ConfigError, "max_side >= min_side"),
    (dict(merge_scale=0.5), ConfigError, "merge_scale >= 1"),
    (dict(width=0), ValueError, "at least 1x1"),
])
def test_regions_around_bad_arguments(kwargs, error, match):
    args = dict(boxes=[[0, 0, 4, 4]], width=64, height=48)
    args.update(kwargs)
    boxes, width, height = args.pop("boxes"), args.pop("width"), args.pop("height")
    with pytest.raises(error, match=match):
        regions_around(boxes, width, height, **args)


def test_regions_around_then_crop_round_trip():
    """The intended use: regions around tracked boxes, crops, detections mapped back."""
    w, h = 1280, 720
    faces = np.array([[600, 300, 618, 322], [630, 305, 650, 328], [100, 600, 130, 640]])
    rgb = np.full((h, w, 3), 30, np.uint8)
    for x0, y0, x1, y1 in faces:
        rgb[y0:y1, x0:x1] = 230
    frame = frame_from_rgb(rgb, "yuv420p")
    regions = regions_around(faces, w, h)
    assert len(regions) == 2
    batch = crop_batch(frame, regions, (128, 128), 0)
    found = []
    for i in range(len(batch)):
        bright = batch.images[i, ..., 1] > 128
        cols = np.flatnonzero(bright.any(axis=0))
        for run in np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1):  # blobs apart in x
            blob = np.zeros_like(bright)
            blob[:, run] = bright[:, run]
            found.append(batch.to_coded(i, [bbox_of(blob)])[0])
    found = np.array(sorted(found, key=lambda b: (b[0], b[1])))
    np.testing.assert_allclose(found, faces[np.lexsort((faces[:, 1], faces[:, 0]))], atol=1.0)
