"""Plain NumPy versions of the mask kernels, written for clarity, not speed.

They follow the geometry described in :mod:`avanon.mask.kernels` and are what the tests compare
the Numba kernels against, sample for sample (all three modes are exact integer arithmetic, so
the results must be equal). Each function returns a new array and leaves its input alone.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fill_boxes", "pixelate_boxes", "blur_boxes", "box_region"]


def box_region(
    box: np.ndarray, sx: int, sy: int, shape: tuple[int, int], ellipse: bool
) -> tuple[slice, slice, np.ndarray, tuple[int, int, int, int]] | None:
    """Where one luma box lands on a plane.

    Args:
        box: ``x0, y0, x1, y1`` in luma pixels.
        sx: log2 horizontal subsampling of the plane.
        sy: log2 vertical subsampling of the plane.
        shape: the plane's ``(height, width)``.
        ellipse: restrict the mask to the inscribed ellipse.

    Returns:
        ``(rows, cols, mask, luma_rect)``: the clipped plane rectangle as slices, a boolean mask
        of the samples to change inside it, and the unclipped integer luma rectangle
        ``(X0, Y0, X1, Y1)``; None when the box masks nothing on this plane.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        return None
    X0, Y0, X1, Y1 = int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))
    h, w = shape
    px0, px1 = max(X0 // 2**sx, 0), min(-(-X1 // 2**sx), w)
    py0, py1 = max(Y0 // 2**sy, 0), min(-(-Y1 // 2**sy), h)
    if px1 <= px0 or py1 <= py0:
        return None
    mask = np.ones((py1 - py0, px1 - px0), bool)
    if ellipse:
        du2 = _axis_d2(np.arange(px0, px1), sx, X0, X1)
        dv2 = _axis_d2(np.arange(py0, py1), sy, Y0, Y1)
        mask = du2[None, :] + dv2[:, None] <= 1.0
    return slice(py0, py1), slice(px0, px1), mask, (X0, Y0, X1, Y1)



def box_regions(boxes: np.ndarray, sx: int, sy: int, shape: tuple[int, int], ellipse: bool):
    """:func:`box_region` of every box that lands on the plane."""
    for box in np.asarray(boxes, np.float64):
        region = box_region(box, sx, sy, shape, ellipse)
        if region is not None:
            yield region

def _axis_d2(idx: np.ndarray, s: int, a0: int, a1: int) -> np.ndarray:
    """Squared normalised distance of the nearest covered luma centre to the ellipse centre."""
    f = 2**s
    c = (a0 + a1) / 2.0
    semi = (a1 - a0) / 2.0
    nearest = np.minimum(np.maximum(c, idx * f + 0.5), (idx + 1) * f - 0.5)
    d = (nearest - c) / semi
    return d * d


def fill_boxes(plane: np.ndarray, boxes: np.ndarray, sx: int, sy: int, ellipse: bool,
               value: int) -> np.ndarray:
    """Reference for :func:`avanon.mask.kernels.fill_boxes`."""
    out = plane.copy()
    for region in box_regions(boxes, sx, sy, out.shape, ellipse):
        rows, cols, mask, _ = region
        out[rows, cols][mask] = value
    return out


def pixelate_boxes(plane: np.ndarray, boxes: np.ndarray, sx: int, sy: int, ellipse: bool,
                   blocks: int, align: int, shift: int) -> np.ndarray:
    """Reference for :func:`avanon.mask.kernels.pixelate_boxes`."""
    out = plane.copy()
    for region in box_regions(boxes, sx, sy, out.shape, ellipse):
        rows, cols, mask, (X0, Y0, X1, Y1) = region
        bs = int(np.ceil(max(X1 - X0, Y1 - Y0) / blocks))
        bs = int(np.ceil(bs / align)) * align
        # Block index of every sample, from the aligned luma grid mapped to this plane.
        gx0 = (X0 // align * align) // 2**sx
        gy0 = (Y0 // align * align) // 2**sy
        bx = (np.arange(cols.start, cols.stop) - gx0) // (bs // 2**sx)
        by = (np.arange(rows.start, rows.stop) - gy0) // (bs // 2**sy)
        view = out[rows, cols]
        values = view.astype(np.int64) >> shift
        for yb in np.unique(by):
            for xb in np.unique(bx):
                sel = (by[:, None] == yb) & (bx[None, :] == xb) & mask
                n = int(sel.sum())
                if n:
                    view[sel] = ((int(values[sel].sum()) + n // 2) // n) << shift
    return out


def _box_blur_1d(a: np.ndarray, r: int) -> np.ndarray:
    """Box blur of radius ``r`` along the last axis, edges replicated, rounded to integers."""
    n = 2 * r + 1
    padded = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(r, r)], mode="edge")
    csum = np.concatenate(
        [np.zeros(a.shape[:-1] + (1,), np.int64), np.cumsum(padded, axis=-1)], axis=-1
    )
    sums = csum[..., n:] - csum[..., :-n]
    return (sums + n // 2) // n


def blur_boxes(plane: np.ndarray, boxes: np.ndarray, sx: int, sy: int, ellipse: bool,
               strength: float, passes: int, shift: int) -> np.ndarray:
    """Reference for :func:`avanon.mask.kernels.blur_boxes`."""
    out = plane.copy()
    for region in box_regions(boxes, sx, sy, out.shape, ellipse):
        rows, cols, mask, (X0, Y0, X1, Y1) = region
        radius = strength * min(X1 - X0, Y1 - Y0) / 4.0
        rx = max(1, int(np.floor(radius / 2**sx + 0.5)))
        ry = max(1, int(np.floor(radius / 2**sy + 0.5)))
        a = out[rows, cols].astype(np.int64) >> shift
        for _ in range(passes):
            a = _box_blur_1d(a, rx)
            a = _box_blur_1d(a.T, ry).T
        view = out[rows, cols]
        view[mask] = (a << shift)[mask]
    return out
