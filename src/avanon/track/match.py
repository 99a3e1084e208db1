"""A deterministic greedy assignment (NumPy only, no SciPy); box affinities are in
:mod:`avanon.boxes`."""

from __future__ import annotations

import numpy as np

__all__ = ["greedy_assign"]


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
