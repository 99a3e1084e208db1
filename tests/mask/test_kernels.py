"""Numba kernels against the NumPy reference, and the properties every mask must have."""

from __future__ import annotations

import numpy as np
import pytest

from avanon.mask import kernels, reference

from ._planes import EDGE_BOXES, SUBSAMPLINGS, covered, plane_shape, random_boxes, random_plane

MODES = ["solid", "pixelate", "blur"]
DTYPES = [np.uint8, np.uint16]


def run(mode: str, module, plane, boxes, sx, sy, ellipse, *, blocks=3, align=None, shift=0,
        strength=1.0, value=None):
    """Apply ``mode`` with ``module`` (kernels: in place on a copy; reference: returns a copy)."""
    align = align if align is not None else 1 << max(sx, sy)
    value = value if value is not None else (200 if plane.dtype == np.uint8 else 700) << shift
    boxes = np.ascontiguousarray(boxes, np.float64)
    if mode == "solid":
        args = (boxes, sx, sy, ellipse, value)
        fn = module.fill_boxes
    elif mode == "pixelate":
        args = (boxes, sx, sy, ellipse, blocks, align, shift)
        fn = module.pixelate_boxes
    else:
        args = (boxes, sx, sy, ellipse, strength, 3, shift)
        fn = module.blur_boxes
    if module is kernels:
        out = plane.copy()
        fn(out, *args)
        return out
    return fn(plane, *args)


@pytest.mark.parametrize("sx, sy", SUBSAMPLINGS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["u8", "u16"])
@pytest.mark.parametrize("ellipse", [False, True], ids=["box", "ellipse"])
@pytest.mark.parametrize("mode", MODES)
def test_kernel_matches_reference(mode, ellipse, dtype, sx, sy):
    rng = np.random.default_rng([MODES.index(mode), ellipse, sx, sy, dtype == np.uint16])
    plane = random_plane(rng, dtype, sx, sy)
    for boxes in (EDGE_BOXES, random_boxes(rng)):
        got = run(mode, kernels, plane, boxes, sx, sy, ellipse)
        want = run(mode, reference, plane, boxes, sx, sy, ellipse)
        np.testing.assert_array_equal(got, want)
        assert not np.array_equal(got, plane), "the boxes changed nothing"
        # Nothing outside the union of the boxes' rectangles moves, bit for bit.
        union = np.zeros(plane.shape, bool)
        for box in boxes:
            union |= covered(box, sx, sy, plane.shape)
        np.testing.assert_array_equal(got[~union], plane[~union])


@pytest.mark.parametrize("strength", [0.05, 0.6, 40.0])
@pytest.mark.parametrize("sx, sy", [(0, 0), (1, 1), (2, 0)])
def test_blur_matches_reference_at_any_radius(sx, sy, strength):
    """Radii from 1 sample to far beyond the box (edges replicated) agree with the reference."""
    rng = np.random.default_rng(21)
    plane = random_plane(rng, np.uint16, sx, sy, bits=16)
    boxes = np.concatenate([EDGE_BOXES, random_boxes(rng)])
    for ellipse in (False, True):
        got = run("blur", kernels, plane, boxes, sx, sy, ellipse, strength=strength)
        want = run("blur", reference, plane, boxes, sx, sy, ellipse, strength=strength)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode", MODES)
def test_strided_views_match_contiguous(mode):
    """Kernels work on a channel of an interleaved plane (a strided view) as on a plain plane."""
    rng = np.random.default_rng(7)
    uv = rng.integers(0, 256, (17, 33, 2)).astype(np.uint8)
    want = [run(mode, kernels, uv[:, :, c].copy(), EDGE_BOXES, 1, 1, False) for c in (0, 1)]
    for c in (0, 1):
        view = uv[:, :, c]
        assert not view.flags.c_contiguous
        run_in_place = getattr(kernels, {"solid": "fill_boxes", "pixelate": "pixelate_boxes",
                                         "blur": "blur_boxes"}[mode])
        args = {"solid": (200,), "pixelate": (3, 2, 0), "blur": (1.0, 3, 0)}[mode]
        run_in_place(view, EDGE_BOXES, 1, 1, False, *args)
        np.testing.assert_array_equal(uv[:, :, c], want[c])


@pytest.mark.parametrize("dtype", DTYPES, ids=["u8", "u16"])
@pytest.mark.parametrize("mode", MODES)
def test_zero_area_and_outside_boxes_change_nothing(mode, dtype):
    rng = np.random.default_rng(3)
    plane = random_plane(rng, dtype)
    boxes = np.array([[10, 10, 10, 20], [10, 28, 20, 28], [50, 30, 45, 25], [70, 0, 90, 10],
                      [-30, -30, -1, -1], [0, -5, 65, 0], [65, 0, 80, 33]], np.float64)
    for ellipse in (False, True):
        np.testing.assert_array_equal(run(mode, kernels, plane, boxes, 0, 0, ellipse), plane)


def test_tiny_box_covers_its_pixel():
    plane = np.zeros((33, 65), np.uint8)
    kernels.fill_boxes(plane, np.array([[30.2, 15.3, 30.4, 15.6]]), 0, 0, True, 9)
    assert plane[15, 30] == 9 and plane.sum() == 9
    chroma = np.zeros((17, 33), np.uint8)
    kernels.fill_boxes(chroma, np.array([[31.0, 15.0, 32.0, 16.0]]), 1, 1, True, 9)
    assert chroma[7, 15] == 9 and chroma.sum() == 9


@pytest.mark.parametrize("sx, sy", SUBSAMPLINGS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["u8", "u16"])
def test_solid_fills_the_whole_rectangle(dtype, sx, sy):
    rng = np.random.default_rng(11)
    plane = random_plane(rng, dtype, sx, sy)
    for box in EDGE_BOXES:
        got = run("solid", kernels, plane, [box], sx, sy, False, value=77)
        cover = covered(box, sx, sy, plane.shape)
        assert (got[cover] == 77).all()
        np.testing.assert_array_equal(got[~cover], plane[~cover])


def test_ellipse_keeps_corners_and_fills_centre():
    plane = np.zeros((33, 65), np.uint8)
    box = [4.0, 2.0, 60.0, 31.0]
    kernels.fill_boxes(plane, np.array([box]), 0, 0, True, 1)
    assert plane[2, 4] == 0 and plane[2, 59] == 0 and plane[30, 4] == 0 and plane[30, 59] == 0
    assert plane[16, 31] == 1 and plane[16, 4] == 1 and plane[2, 31] == 1 and plane[30, 31] == 1
    area = plane.sum()
    assert abs(area - np.pi * 28 * 14.5) < 0.05 * area
    # Symmetric about the box centre.
    np.testing.assert_array_equal(plane[2:31, 4:60], plane[2:31, 4:60][::-1, ::-1])


def test_ellipse_chroma_covers_luma():
    """Every luma sample inside the ellipse has its 4:2:0 chroma sample masked too."""
    box = np.array([[3.0, 1.0, 50.0, 30.0], [-20.0, 10.0, 13.0, 45.0]])
    luma = np.zeros((33, 65), np.uint8)
    chroma = np.zeros((17, 33), np.uint8)
    kernels.fill_boxes(luma, box, 0, 0, True, 1)
    kernels.fill_boxes(chroma, box, 1, 1, True, 1)
    ys, xs = np.nonzero(luma)
    assert (chroma[ys // 2, xs // 2] == 1).all()
    assert chroma.sum() * 4 < luma.sum() * 1.3  # a superset, but not much larger


@pytest.mark.parametrize("blocks", [1, 2, 6])
@pytest.mark.parametrize("dtype", DTYPES, ids=["u8", "u16"])
def test_pixelate_blocks_are_uniform_means(dtype, blocks):
    rng = np.random.default_rng(5)
    plane = random_plane(rng, dtype)
    box = [10.0, 4.0, 40.0, 28.0]  # 30 x 24: blocks of ceil(30 / blocks) pixels from (10, 4)
    got = run("pixelate", kernels, plane, [box], 0, 0, False, blocks=blocks, align=1)
    bs = -(-30 // blocks)
    n_blocks = 0
    for y in range(4, 28, bs):
        for x in range(10, 40, bs):
            ys, xs = slice(y, min(y + bs, 28)), slice(x, min(x + bs, 40))
            block = got[ys, xs]
            mean = plane[ys, xs].astype(np.float64).mean()
            assert (block == block.flat[0]).all()
            assert abs(int(block.flat[0]) - mean) <= 0.5
            n_blocks += 1
    assert n_blocks == blocks * -(-24 // bs)


def test_pixelate_blocks_line_up_between_luma_and_chroma():
    """4:2:0: each chroma block's luma footprint lies inside a single luma block."""
    rng = np.random.default_rng(9)
    luma = random_plane(rng, np.uint8, 0, 0)
    chroma = random_plane(rng, np.uint8, 1, 1)
    box = np.array([[11.0, 3.0, 46.0, 30.0]])
    kernels.pixelate_boxes(luma, box, 0, 0, False, 6, 2, 0)
    kernels.pixelate_boxes(chroma, box, 1, 1, False, 6, 2, 0)
    # 35 px longer side / 6 blocks -> 6 px, aligned to 2 -> 6; grid origin (10, 2).
    for y in range(2, 30, 6):
        for x in range(10, 46, 6):
            ly, lx = slice(max(y, 3), min(y + 6, 30)), slice(max(x, 11), min(x + 6, 46))
            assert len(np.unique(luma[ly, lx])) == 1
            cy = slice(max(y // 2, 1), min((y + 6) // 2, 15))  # chroma rows 1..14 are covered
            cx = slice(max(x // 2, 5), min((x + 6) // 2, 23))  # chroma cols 5..22
            assert len(np.unique(chroma[cy, cx])) == 1


def test_pixelate_and_blur_keep_unused_low_bits_clear():
    """P010 keeps its 6 low bits at zero."""
    rng = np.random.default_rng(13)
    plane = random_plane(rng, np.uint16) << 6
    for mode in ("pixelate", "blur"):
        got = run(mode, kernels, plane, EDGE_BOXES, 0, 0, False, shift=6)
        assert not np.array_equal(got, plane)
        assert (got & 63 == 0).all()
        np.testing.assert_array_equal(got, run(mode, reference, plane, EDGE_BOXES, 0, 0, False,
                                               shift=6))


@pytest.mark.parametrize("ellipse", [False, True], ids=["box", "ellipse"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["u8", "u16"])
def test_blur_is_strong(dtype, ellipse):
    rng = np.random.default_rng(17)
    plane = random_plane(rng, dtype)
    box = [8.0, 2.0, 56.0, 32.0]
    got = run("blur", kernels, plane, [box], 0, 0, ellipse)
    inner = (slice(10, 24), slice(20, 44))  # well inside the ellipse too
    before = plane[inner].astype(np.float64)
    after = got[inner].astype(np.float64)
    assert after.var() < 0.01 * before.var()
    assert abs(after.mean() - before.mean()) < 0.1 * before.mean()
    weaker = run("blur", kernels, plane, [box], 0, 0, ellipse, strength=0.25)
    assert after.var() < weaker[inner].astype(np.float64).var()


@pytest.mark.parametrize("mode", MODES)
def test_kernels_are_deterministic(mode):
    rng = np.random.default_rng(19)
    plane = random_plane(rng, np.uint8, 1, 1)
    boxes = np.concatenate([EDGE_BOXES, random_boxes(rng, 20)])
    first = run(mode, kernels, plane, boxes, 1, 1, True)
    np.testing.assert_array_equal(run(mode, kernels, plane, boxes, 1, 1, True), first)


def test_overlap_applies_boxes_in_order():
    plane = np.zeros((33, 65), np.uint8)
    boxes = np.array([[0.0, 0.0, 20.0, 20.0], [10.0, 10.0, 30.0, 30.0]])
    kernels.fill_boxes(plane, boxes[:1], 0, 0, False, 1)
    kernels.fill_boxes(plane, boxes[1:], 0, 0, False, 2)
    both = np.zeros_like(plane)
    kernels.pixelate_boxes(both, boxes, 0, 0, False, 1, 1, 0)  # zeros stay zeros
    assert plane[15, 15] == 2 and plane[5, 5] == 1 and both.sum() == 0


def test_reference_box_region_shapes():
    assert reference.box_region(np.array([0, 0, 0, 5.0]), 0, 0, plane_shape(0, 0), False) is None
    rows, cols, mask, rect = reference.box_region(np.array([-3.5, 1.2, 4.1, 2.0]), 1, 1,
                                                  plane_shape(1, 1), False)
    assert (rows, cols, rect) == (slice(0, 1), slice(0, 3), (-4, 1, 5, 2))
    assert mask.shape == (1, 3) and mask.all()
