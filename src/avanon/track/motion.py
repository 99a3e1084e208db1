"""Constant-velocity Kalman filter for one box, and the uncertainty margin of a predicted box.

The state is the box centre and size ``cx, cy, w, h`` with a velocity for each, in pixels and
pixels per frame. The four coordinates move independently, so the 8x8 covariance of a textbook
box filter reduces to four 2x2 blocks ``[[pp, pv], [pv, vv]]`` held as three 4-vectors. Noise
scales with the box size (as in SORT/ByteTrack), so small and large objects behave alike.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BoxFilter", "xyxy_to_cxcywh", "cxcywh_to_xyxy", "extrapolation_std", "fit_velocity"]

#: Standard deviations, as fractions of the box size: position noise per frame, velocity noise
#: per frame, and measurement noise (ByteTrack's weights).
POS_NOISE = 1.0 / 20
VEL_NOISE = 1.0 / 160
MEAS_NOISE = 1.0 / 20
#: Standard deviation of a new track's unknown velocity, per frame, as a fraction of its size.
#: Wider than ByteTrack's (1/16) so that the second and third detections set the velocity: a
#: camera pan moves everything by several pixels per frame.
INIT_VEL = 1.0 / 4


def xyxy_to_cxcywh(box: np.ndarray) -> np.ndarray:
    """``x0, y0, x1, y1`` -> ``cx, cy, w, h`` (float64)."""
    b = np.asarray(box, np.float64)
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]])


def cxcywh_to_xyxy(state: np.ndarray, margin: np.ndarray | None = None) -> np.ndarray:
    """``cx, cy, w, h`` -> ``x0, y0, x1, y1``, each side pushed out by ``margin`` (mx, my)."""
    cx, cy, w, h = state
    mx, my = (0.0, 0.0) if margin is None else margin
    return np.array([cx - w / 2 - mx, cy - h / 2 - my, cx + w / 2 + mx, cy + h / 2 + my])


def _scale(size: np.ndarray) -> np.ndarray:
    """Per-coordinate noise scale: the box width for cx and w, its height for cy and h."""
    w, h = max(float(size[0]), 1.0), max(float(size[1]), 1.0)
    return np.array([w, h, w, h])


class BoxFilter:
    """Kalman filter of one box under constant velocity.

    Example:
        >>> f = BoxFilter([0, 0, 10, 10])
        >>> for x in (2, 4, 6):
        ...     f.predict()
        ...     f.update([x, 0, x + 10, 10])
        >>> f.predict()
        >>> bool(f.box()[0] > 6)
        True
    """

    __slots__ = ("mean", "vel", "pp", "pv", "vv")

    def __init__(self, box) -> None:
        self.mean = xyxy_to_cxcywh(box)
        self.vel = np.zeros(4)
        s = _scale(self.mean[2:])
        self.pp = (2 * POS_NOISE * s) ** 2
        self.pv = np.zeros(4)
        self.vv = (INIT_VEL * s) ** 2

    def predict(self) -> None:
        """Advance one frame."""
        s = _scale(self.mean[2:])
        self.mean = self.mean + self.vel
        self.mean[2:] = np.maximum(self.mean[2:], 1.0)
        self.pp = self.pp + 2 * self.pv + self.vv + (POS_NOISE * s) ** 2
        self.pv = self.pv + self.vv
        self.vv = self.vv + (VEL_NOISE * s) ** 2

    def update(self, box) -> None:
        """Correct with a measured box ``x0, y0, x1, y1``."""
        z = xyxy_to_cxcywh(box)
        r = (MEAS_NOISE * _scale(z[2:])) ** 2
        s = self.pp + r
        kp, kv = self.pp / s, self.pv / s
        y = z - self.mean
        self.mean = self.mean + kp * y
        self.vel = self.vel + kv * y
        pv = self.pv
        self.pp = (1 - kp) * self.pp
        self.pv = (1 - kp) * pv
        self.vv = self.vv - kv * pv

    def box(self) -> np.ndarray:
        """The estimated box, ``x0, y0, x1, y1``."""
        return cxcywh_to_xyxy(self.mean)

    def margin(self, n_std: float, max_frac: float) -> np.ndarray:
        """How far to push each side out to cover ``n_std`` standard deviations (mx, my),
        at most ``max_frac`` of the box size."""
        std = np.sqrt(np.maximum(self.pp, 0.0))
        m = n_std * (std[:2] + std[2:] / 2)
        return np.minimum(m, max_frac * self.mean[2:])


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
    z = np.array([xyxy_to_cxcywh(b) for b in boxes])
    s = _scale(z[0, 2:])
    spread = float(((f - f.mean()) ** 2).sum())
    if len(f) < 2 or spread == 0:
        return np.zeros(4), (INIT_VEL * s) ** 2
    vel = ((f - f.mean())[:, None] * (z - z.mean(axis=0))).sum(axis=0) / spread
    return vel, (MEAS_NOISE * s) ** 2 / spread
