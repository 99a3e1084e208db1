"""Constant-velocity Kalman filter for one box, and the uncertainty margin of a predicted box.

The state is the box centre and size ``cx, cy, w, h`` with a velocity for each, in pixels and
pixels per frame. The four coordinates move independently, so the 8x8 covariance of a textbook
box filter reduces to four 2x2 blocks ``[[pp, pv], [pv, vv]]`` held as three 4-vectors. Noise
scales with the box size (as in SORT/ByteTrack), so small and large objects behave alike.
"""

from __future__ import annotations

import numpy as np

from ..boxes import cxcywh_to_xyxy, xyxy_to_cxcywh

__all__ = ["BoxFilters", "extrapolation_std", "fit_velocity"]

#: Standard deviations, as fractions of the box size: position noise per frame, velocity noise
#: per frame, and measurement noise (ByteTrack's weights).
POS_NOISE = 1.0 / 20
VEL_NOISE = 1.0 / 160
MEAS_NOISE = 1.0 / 20
#: Standard deviation of a new track's unknown velocity, per frame, as a fraction of its size.
#: Wider than ByteTrack's (1/16) so that the second and third detections set the velocity: a
#: camera pan moves everything by several pixels per frame.
INIT_VEL = 1.0 / 4


def _scale(size: np.ndarray) -> np.ndarray:
    """Per-coordinate noise scale from sizes ``w, h`` (..., 2): the width for cx and w, the
    height for cy and h -> (..., 4)."""
    wh = np.maximum(np.asarray(size, np.float64), 1.0)
    return np.concatenate([wh, wh], axis=-1)


class BoxFilters:
    """Kalman filters of N boxes under constant velocity, one row each, updated together.

    Example:
        >>> f = BoxFilters()
        >>> f.add(np.array([[0.0, 0, 10, 10]]))
        >>> for x in (2, 4, 6):
        ...     f.predict()
        ...     f.update([0], np.array([[x, 0, x + 10, 10]]))
        >>> f.predict()
        >>> bool(f.boxes()[0, 0] > 6)
        True
    """

    def __init__(self) -> None:
        self.mean = np.zeros((0, 4))
        self.vel = np.zeros((0, 4))
        self.pp = np.zeros((0, 4))
        self.pv = np.zeros((0, 4))
        self.vv = np.zeros((0, 4))

    def __len__(self) -> int:
        return len(self.mean)

    def add(self, boxes: np.ndarray) -> None:
        """Start a filter per box ``x0, y0, x1, y1`` (appended as new rows), velocity unknown."""
        z = xyxy_to_cxcywh(boxes)
        s = _scale(z[:, 2:])
        self.mean = np.concatenate([self.mean, z])
        self.vel = np.concatenate([self.vel, np.zeros_like(z)])
        self.pp = np.concatenate([self.pp, (2 * POS_NOISE * s) ** 2])
        self.pv = np.concatenate([self.pv, np.zeros_like(z)])
        self.vv = np.concatenate([self.vv, (INIT_VEL * s) ** 2])

    def keep(self, rows: np.ndarray) -> None:
        """Keep only ``rows`` (boolean mask or indices), in that order."""
        for name in ("mean", "vel", "pp", "pv", "vv"):
            setattr(self, name, getattr(self, name)[rows])

    def predict(self) -> None:
        """Advance every filter one frame."""
        s = _scale(self.mean[:, 2:])
        self.mean = self.mean + self.vel
        self.mean[:, 2:] = np.maximum(self.mean[:, 2:], 1.0)
        self.pp = self.pp + 2 * self.pv + self.vv + (POS_NOISE * s) ** 2
        self.pv = self.pv + self.vv
        self.vv = self.vv + (VEL_NOISE * s) ** 2

    def place(self, boxes: np.ndarray, trust: np.ndarray | None = None) -> None:
        """Move every filter's box to ``boxes`` (N, 4), measured in the pictures (motion from
        the previous frame), after :meth:`predict`; the move from the previous estimate becomes
        the velocity.

        The measured move replaces the constant-velocity guess, and it shrinks the position
        uncertainty as a measurement would (so held boxes grow less than on a guess): as a
        detection does when ``trust`` (0..1, default 1) is 1, as a measurement 4x noisier at 0.
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if not len(boxes):
            return
        trust = np.ones(len(boxes)) if trust is None else np.clip(np.asarray(trust, float), 0, 1)
        z = xyxy_to_cxcywh(boxes)
        z[:, 2:] = np.maximum(z[:, 2:], 1.0)
        r = (MEAS_NOISE * (1 + 3 * (1 - trust))[:, None] * _scale(z[:, 2:])) ** 2
        before = self.mean - self.vel
        self._correct(np.arange(len(boxes)), z, r)
        self.mean = z
        self.vel = z - before

    def update(self, rows, boxes: np.ndarray) -> None:
        """Correct filters ``rows`` with measured boxes ``x0, y0, x1, y1`` (one per row)."""
        rows = np.asarray(rows, np.intp)
        if not len(rows):
            return
        z = xyxy_to_cxcywh(boxes)
        self._correct(rows, z, (MEAS_NOISE * _scale(z[:, 2:])) ** 2)

    def _correct(self, rows: np.ndarray, z: np.ndarray, r: np.ndarray) -> None:
        """Kalman update of ``rows`` with measurements ``z`` (cx, cy, w, h) of variance ``r``."""
        pp, pv, vv = self.pp[rows], self.pv[rows], self.vv[rows]
        kp, kv = pp / (pp + r), pv / (pp + r)
        y = z - self.mean[rows]
        self.mean[rows] += kp * y
        self.vel[rows] += kv * y
        self.pp[rows] = (1 - kp) * pp
        self.pv[rows] = (1 - kp) * pv
        self.vv[rows] = vv - kv * pv

    def boxes(self) -> np.ndarray:
        """(N, 4) estimated boxes ``x0, y0, x1, y1``."""
        return cxcywh_to_xyxy(self.mean)

    def margins(self, n_std: float, max_frac: float) -> np.ndarray:
        """(N, 2) how far to push each side out to cover ``n_std`` standard deviations
        (mx, my), at most ``max_frac`` of the box size."""
        std = np.sqrt(np.maximum(self.pp, 0.0))
        m = n_std * (std[:, :2] + std[:, 2:] / 2)
        return np.minimum(m, max_frac * self.mean[:, 2:])


def extrapolation_std(frames: int, size: np.ndarray, vel_var: np.ndarray) -> np.ndarray:
    """Position std (cx, cy, w, h) after extrapolating ``frames`` frames with a velocity known to
    variance ``vel_var``, plus the filter's process noise over those frames."""
    k = float(frames)
    s = _scale(size)
    var = k * k * vel_var + k * (POS_NOISE * s) ** 2 + k ** 3 / 3 * (VEL_NOISE * s) ** 2
    return np.sqrt(var)


def fit_velocity(frames, boxes) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares velocity of ``cx, cy, w, h`` per frame over detections ``boxes`` (xyxy) at
    ``frames``, and its variance. One detection gives velocity 0 with a new track's uncertainty.
    """
    f = np.asarray(frames, np.float64)
    z = xyxy_to_cxcywh(np.asarray(boxes, np.float64).reshape(-1, 4))
    s = _scale(z[0, 2:])
    spread = float(((f - f.mean()) ** 2).sum())
    if len(f) < 2 or spread == 0:
        return np.zeros(4), (INIT_VEL * s) ** 2
    vel = ((f - f.mean())[:, None] * (z - z.mean(axis=0))).sum(axis=0) / spread
    return vel, (MEAS_NOISE * s) ** 2 / spread
