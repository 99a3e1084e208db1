"""Connected components of a binary map, reduced to boxes and probability sums.

The DB text detector's decoder needs, for each 8-connected blob of ``prob > threshold``, its
bounding box and the mean probability inside it. :func:`component_boxes` does this in one
Numba-compiled two-pass union-find scan; :func:`component_boxes_reference` is a plain NumPy
version (label propagation) that tests compare against.

Both return ``(boxes, sums, counts)``: ``boxes`` is (N, 4) int32 ``x0, y0, x1, y1`` with x1/y1
exclusive, ``sums`` (N,) float64 the sum of ``prob`` over the blob's pixels, ``counts`` (N,) int64
its pixel count. Rows come in raster order of each blob's first pixel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["component_boxes", "component_boxes_reference"]


@njit(cache=True, nogil=True)
def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True, nogil=True)
def _union(parent, a, b):
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra < rb:
        parent[rb] = ra
        return ra
    if rb < ra:
        parent[ra] = rb
    return rb


@njit(cache=True, nogil=True)
def _components(mask, prob):  # pragma: no cover - compiled; covered via the reference tests
    h, w = mask.shape
    labels = np.zeros((h, w), np.int32)
    parent = np.zeros(h * w // 2 + w + 2, np.int32)
    n = 0
    for y in range(h):
        for x in range(w):
            if not mask[y, x]:
                continue
            lab = 0
            if x > 0 and labels[y, x - 1]:
                lab = labels[y, x - 1]
            if y > 0:
                for dx in (-1, 0, 1):
                    xx = x + dx
                    if 0 <= xx < w and labels[y - 1, xx]:
                        other = labels[y - 1, xx]
                        lab = other if lab == 0 else _union(parent, lab, other)
            if lab == 0:
                n += 1
                parent[n] = n
                lab = n
            labels[y, x] = lab
    comp = np.zeros(n + 1, np.int32)
    m = 0
    for i in range(1, n + 1):
        r = _find(parent, i)
        if comp[r] == 0:
            m += 1
            comp[r] = m
        comp[i] = comp[r]
    boxes = np.empty((m, 4), np.int32)
    boxes[:, 0] = w
    boxes[:, 1] = h
    boxes[:, 2] = 0
    boxes[:, 3] = 0
    sums = np.zeros(m, np.float64)
    counts = np.zeros(m, np.int64)
    for y in range(h):
        for x in range(w):
            lab = labels[y, x]
            if lab == 0:
                continue
            c = comp[lab] - 1
            if x < boxes[c, 0]:
                boxes[c, 0] = x
            if y < boxes[c, 1]:
                boxes[c, 1] = y
            if x + 1 > boxes[c, 2]:
                boxes[c, 2] = x + 1
            if y + 1 > boxes[c, 3]:
                boxes[c, 3] = y + 1
            sums[c] += prob[y, x]
            counts[c] += 1
    return boxes, sums, counts


def component_boxes(
    mask: np.ndarray, prob: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of ``mask`` with their boxes and ``prob`` sums (Numba)."""
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    prob = np.ascontiguousarray(prob, dtype=np.float32)
    if mask.shape != prob.shape or mask.ndim != 2:
        raise ValueError(
            f"mask and prob: expected equal 2-D shapes, got {mask.shape}, {prob.shape}"
        )
    return _components(mask, prob)


def component_boxes_reference(
    mask: np.ndarray, prob: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy reference of :func:`component_boxes` (slow: one pass per pixel of blob diameter)."""
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    # Label each pixel with minus its raster index, then spread the maximum (= the blob's first
    # pixel) over the 8-neighbourhood until nothing changes.
    lab = np.where(mask, -np.arange(h * w, dtype=np.int64).reshape(h, w), np.iinfo(np.int64).min)
    floor = np.iinfo(np.int64).min
    while True:
        pad = np.pad(lab, 1, constant_values=floor)
        best = lab.copy()
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                np.maximum(best, pad[dy : dy + h, dx : dx + w], out=best)
        best = np.where(mask, best, floor)
        if np.array_equal(best, lab):
            break
        lab = best
    ys, xs = np.nonzero(mask)
    roots, inv = np.unique(-lab[ys, xs], return_inverse=True)  # ascending raster index
    m = len(roots)
    x0 = np.full(m, w, np.int64)
    y0 = np.full(m, h, np.int64)
    x1 = np.zeros(m, np.int64)
    y1 = np.zeros(m, np.int64)
    np.minimum.at(x0, inv, xs)
    np.minimum.at(y0, inv, ys)
    np.maximum.at(x1, inv, xs + 1)
    np.maximum.at(y1, inv, ys + 1)
    sums = np.bincount(inv, weights=np.asarray(prob, np.float64)[ys, xs], minlength=m)
    counts = np.bincount(inv, minlength=m).astype(np.int64)
    boxes = np.stack([x0, y0, x1, y1], axis=1).astype(np.int32)
    return boxes, sums, counts
