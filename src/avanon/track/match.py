"""Box affinities and a deterministic greedy assignment (NumPy only, no SciPy)."""

from __future__ import annotations

import numpy as np

__all__ = ["iou_matrix", "centre_distance", "greedy_assign"]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of ``x0, y0, x1, y1`` boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def centre_distance(pred: np.ndarray, reach: np.ndarray, dets: np.ndarray) -> np.ndarray:
    """(len(pred), len(dets)) distance between centres, in units of each prediction's ``reach``
    (its half-size plus uncertainty, (N, 2)); inf where the sizes differ by more than 2x.

    A value <= 1 means the detection's centre lies inside the prediction's grown box: the
    fallback for small or fast objects whose boxes no longer overlap their prediction.
    """
    pred = np.asarray(pred, np.float64).reshape(-1, 4)
    dets = np.asarray(dets, np.float64).reshape(-1, 4)
    pc = (pred[:, :2] + pred[:, 2:]) / 2
    dc = (dets[:, :2] + dets[:, 2:]) / 2
    d = np.abs(pc[:, None, :] - dc[None, :, :]) / np.maximum(reach[:, None, :], 1e-6)
    dist = d.max(axis=2)
    ps = np.maximum(pred[:, 2:] - pred[:, :2], 1e-6)
    ds = np.maximum(dets[:, 2:] - dets[:, :2], 1e-6)
    ratio = ds[None, :, :] / ps[:, None, :]
    dist[((ratio < 0.5) | (ratio > 2.0)).any(axis=2)] = np.inf
    return dist


def greedy_assign(score: np.ndarray, accept) -> list[tuple[int, int]]:
    """Pair rows with columns, best ``score`` first, each at most once.

    Args:
        score: (R, C) where higher is better.
        accept: boolean (R, C) of the pairs allowed at all.

    Returns:
        ``(row, col)`` pairs. Ties go to the lower row, then the lower column, so the result
        depends only on the input.
    """
    score = np.asarray(score, np.float64)
    if score.size == 0:
        return []
    flat = np.flatnonzero(np.asarray(accept).ravel())
    order = flat[np.argsort(-score.ravel()[flat], kind="stable")]
    rows_used = np.zeros(score.shape[0], bool)
    cols_used = np.zeros(score.shape[1], bool)
    pairs = []
    for k in order:
        r, c = divmod(int(k), score.shape[1])
        if not rows_used[r] and not cols_used[c]:
            rows_used[r] = cols_used[c] = True
            pairs.append((r, c))
    return pairs
