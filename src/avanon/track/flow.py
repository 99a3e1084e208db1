"""Measured motion between neighbouring frames: move tracked boxes with the pictures themselves.

Between detector runs the tracker predicts boxes with constant velocity, which loses small
objects when the camera pans or zooms. This module measures the motion instead, on the frames'
luma:

* :func:`luma` takes a frame's luma plane without converting the picture (planar and
  semi-planar YUV, gray), or through FFmpeg's scaler for other formats.
* :func:`estimate_global_motion` fits a pan + zoom about the picture centre
  (:class:`GlobalMotion`) to block matches of a grid of patches, coarse to fine on box-averaged
  copies (1/8, 1/4, then full resolution), robustly (Tukey IRLS), so moving objects and flat
  areas do not pull it. It follows pans of up to ``max_pan`` of the picture width per frame.
* :func:`estimate_box_shift` block-matches each box (enlarged to at least 16 x 16 pixels,
  sampled on a coarser grid when large) around a prior, to sub-pixel, and says how much to
  trust each match (0 for flat or ambiguous patches, ~1 for a unique textured match).
* :class:`MotionEstimator` keeps the last few frames and moves boxes one frame forward or
  backward: size from the global zoom, position from the box's own match when it is trusted,
  else from the global motion.

The decoder's own motion vectors (H.264 and MPEG-1/2/4 only, ``flags2=+export_mvs``) can be read
with :func:`motion_vectors` and summarised per box with :func:`vector_shift`. They measure motion
from the *reference* frame, which is the previous frame only in P-frames of streams without
B-frames (:func:`vectors_span_one_frame`); with B-frames the distance is not recorded anywhere.

All computation is single-threaded and deterministic.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import av
import numpy as np

from ..errors import ConfigError, PipelineError
from ..mask.layout import luma, luma_and_bits
from .flow_kernels import FLAG_EDGE, FLAG_VALID, block_match, downscale, fit_pan_zoom

__all__ = [
    "GlobalMotion",
    "MotionEstimator",
    "luma",
    "estimate_global_motion",
    "estimate_box_shift",
    "enable_motion_vectors",
    "motion_vectors",
    "vectors_span_one_frame",
    "vector_shift",
]

#: Smallest side, in pixels, of the region matched for a box (context around tiny boxes).
MIN_CONTEXT = 16
#: Largest number of samples per side matched for a box; bigger boxes are sampled sparsely.
MAX_SAMPLES = 40
#: Boxes whose matched region is at least this many pixels on a side are first matched on the
#: 1/4 copy, with a search radius that grows with their size (``BIG_RADIUS`` x side, at most
#: ``BIG_RADIUS_MAX`` pixels).
BIG_BOX = 64
BIG_RADIUS = 0.2
BIG_RADIUS_MAX = 64
#: Patch grid for the global motion: columns x rows.
GRID = (8, 6)
#: Picture border left out of the patch grid, as a fraction of each side.
GRID_MARGIN = 0.08
#: A box whose matched region, clipped to the picture, is smaller than this on a side is not
#: matched (confidence 0).
MIN_REGION = 4
#: A match whose best candidate lies on the border of the search window is scaled by this.
EDGE_PENALTY = 0.25


# -- global motion --------------------------------------------------------------------------
@dataclass(frozen=True)
class GlobalMotion:
    """Pan + zoom from one frame to another: a point ``p`` of the first frame is at
    ``centre + scale * (p - centre) + (dx, dy)`` in the second.

    Attributes:
        dx: horizontal pan, pixels (positive: content moved right).
        dy: vertical pan, pixels (positive: content moved down).
        scale: zoom about ``centre`` (above 1: content grew, camera zoomed in).
        cx: x of the zoom centre (the picture centre, ``width / 2``).
        cy: y of the zoom centre (``height / 2``).
        confidence: 0..1, the share of the patch grid that is textured and agrees with the fit;
            0 when nothing could be measured (the motion is then the identity).
    """

    dx: float
    dy: float
    scale: float
    cx: float
    cy: float
    confidence: float

    @classmethod
    def identity(cls, width: int, height: int) -> GlobalMotion:
        """No motion, confidence 0."""
        return cls(0.0, 0.0, 1.0, width / 2.0, height / 2.0, 0.0)

    def displacement(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) displacement of points ``x, y`` (N, 2)."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        return (self.scale - 1.0) * (p - [self.cx, self.cy]) + [self.dx, self.dy]

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes ``x0, y0, x1, y1`` (N, 4) moved and scaled by this motion."""
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        c = np.array([self.cx, self.cy, self.cx, self.cy])
        return c + self.scale * (b - c) + [self.dx, self.dy, self.dx, self.dy]

    def inverse(self) -> GlobalMotion:
        """The motion from the second frame back to the first."""
        return GlobalMotion(-self.dx / self.scale, -self.dy / self.scale, 1.0 / self.scale,
                            self.cx, self.cy, self.confidence)


class _Pyramid:
    """A luma picture with its 1/4 and 1/8 block-summed 16-bit copies (made on first use).

    Sample values of the small copies are ``gain`` times the mean of the luma they cover."""

    __slots__ = ("full", "bits", "gain", "_levels")

    def __init__(self, full: np.ndarray, bits: int) -> None:
        if full.ndim != 2 or full.dtype not in (np.uint8, np.uint16):
            raise PipelineError(f"motion: expected a 2-D uint8 or uint16 luma array, got "
                                f"{full.ndim}-D {full.dtype}")
        self.full = np.ascontiguousarray(full)
        self.bits = bits
        self._levels: dict[int, np.ndarray] = {1: self.full}
        # 4x4 sums fit 16 bits up to 12-bit samples; deeper samples are shifted down.
        self.gain = 16.0 / (1 << max(bits - 12, 0))

    @property
    def shape(self) -> tuple[int, int]:
        return self.full.shape  # type: ignore[return-value]

    def level(self, f: int) -> np.ndarray:
        """The 1/f copy (f in 1, 4, 8)."""
        if f not in self._levels:
            if f == 8:
                self._levels[f] = downscale(self.level(4), 2, 2)
            elif f == 4:
                self._levels[f] = downscale(self.full, 4, max(self.bits - 12, 0))
            else:
                raise ValueError(f"motion: no 1/{f} copy")
        return self._levels[f]

    @property
    def mean(self) -> float:
        """Mean luma (from the 1/8 copy, or the picture itself when that is empty)."""
        small = self.level(8)
        if small.size == 0:
            return float(self.full.mean()) if self.full.size else 0.0
        return float(small.mean()) / self.gain

    def noise(self, f: int, noise: float) -> float:
        """Expected mean absolute difference of noise at the 1/f copy, for ``noise`` 8-bit codes
        at full size (averaging f x f samples divides it by f)."""
        codes = noise * float(1 << max(self.bits - 8, 0))
        return codes if f == 1 else codes * self.gain / f


def _offset(src: _Pyramid, dst: _Pyramid, f: int) -> int:
    """Change in mean brightness from ``src`` to ``dst`` in units of the 1/f copies, which
    :func:`block_match` takes out so that exposure changes and fades still match."""
    return int(math.floor((dst.mean - src.mean) * (src.gain if f > 1 else 1.0) + 0.5))


def _plan(width: int, height: int, max_pan: float) -> list[tuple[int, int, int]]:
    """(factor, patch side, search radius) per level, coarse to fine."""
    pan = max(max_pan * width, 4.0)
    short = min(width, height)
    if short >= 360:
        return [(8, 8, math.ceil(pan / 8) + 1), (4, 12, 2), (1, 16, 2)]
    if short >= 144:
        return [(4, 8, math.ceil(pan / 4) + 1), (1, 16, 3)]
    return [(1, 8, math.ceil(pan) + 1)]


def _confidence(res: np.ndarray, noise: float) -> np.ndarray:
    """Per-match trust in 0..1 from ``block_match`` rows: how much better the best candidate is
    than the best one 2+ pixels away, with ``noise`` (mean absolute difference of two noisy
    copies of one picture) added to both so that flat patches score ~0."""
    best, second, flags = res[:, 2], res[:, 3], res[:, 4].astype(np.int64)
    ok = ((flags & FLAG_VALID) != 0) & np.isfinite(second)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = 1.0 - (best + noise) / (second + noise)
    conf = np.where(ok, np.clip(conf, 0.0, 1.0), 0.0)
    return np.where((flags & FLAG_EDGE) != 0, conf * EDGE_PENALTY, conf)


def _global(src: _Pyramid, dst: _Pyramid, max_pan: float, noise: float) -> GlobalMotion:
    h, w = src.shape
    centre = np.array([w / 2.0, h / 2.0])
    nx, ny = GRID
    gx = np.linspace(GRID_MARGIN * w, (1 - GRID_MARGIN) * w, nx)
    gy = np.linspace(GRID_MARGIN * h, (1 - GRID_MARGIN) * h, ny)
    grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    fit = None
    weight_sum = 0.0
    for f, side, radius in _plan(w, h, max_pan):
        a, b = src.level(f), dst.level(f)
        lh, lw = a.shape
        side = min(side, lw, lh)
        x0 = np.clip(np.round(grid[:, 0] / f - side / 2), 0, lw - side).astype(np.int64)
        y0 = np.clip(np.round(grid[:, 1] / f - side / 2), 0, lh - side).astype(np.int64)
        rects = np.stack([x0, y0, x0 + side, y0 + side], 1)
        q = (np.stack([x0, y0], 1) + side / 2.0) * f - centre  # patch centres, full res
        if fit is None:
            pred = np.zeros((len(rects), 2), np.int64)
        else:
            pred = np.round((fit[0] * q + fit[1:3]) / f).astype(np.int64)
        res = block_match(a, b, rects, np.ones(len(rects), np.int64), pred, radius,
                          _offset(src, dst, f))
        weight = _confidence(res, src.noise(f, noise))
        weight[(res[:, 4].astype(np.int64) & FLAG_EDGE) != 0] = 0.0
        if not weight.sum() > 1e-6:
            return GlobalMotion.identity(w, h)
        fit = fit_pan_zoom(q, res[:, :2] * f, weight, 0.5 * f, 6)
        weight_sum = float(weight.sum())
    assert fit is not None
    conf = float(np.clip(fit[4] * weight_sum / len(grid), 0.0, 1.0))
    return GlobalMotion(float(fit[1]), float(fit[2]), float(1.0 + fit[0]), float(centre[0]),
                        float(centre[1]), conf)


def estimate_global_motion(prev: np.ndarray, cur: np.ndarray, *, bits: int | None = None,
                           max_pan: float = 0.04, noise: float = 1.0) -> GlobalMotion:
    """Pan + zoom from luma picture ``prev`` to ``cur`` (same size, uint8 or uint16).

    Args:
        prev: luma of the first frame (e.g. from :func:`luma`).
        cur: luma of the second frame.
        bits: significant bits of the samples (default 8 for uint8, 10 for uint16).
        max_pan: largest pan searched, as a fraction of the width per frame (0.04 = 51 px at
            1280 wide). Raising it follows faster pans but costs time at the coarsest level
            and risks locking onto repeating patterns.
        noise: expected mean absolute difference between two noisy copies of one picture, in
            8-bit code values; patches not much more textured than this are ignored.

    Raises:
        PipelineError: the pictures differ in size or are not 2-D uint8/uint16 arrays.
    """
    a, b = _pyramids(prev, cur, bits)
    return _global(a, b, max_pan, noise)


def _pyramids(prev: np.ndarray, cur: np.ndarray, bits: int | None) -> tuple[_Pyramid, _Pyramid]:
    if np.shape(prev) != np.shape(cur):
        raise PipelineError(f"motion: expected two pictures of one size, got "
                            f"{np.shape(prev)} and {np.shape(cur)}")
    if bits is None:
        bits = 8 if np.asarray(prev).dtype == np.uint8 else 10
    return _Pyramid(np.asarray(prev), bits), _Pyramid(np.asarray(cur), bits)


# -- per-box shift --------------------------------------------------------------------------
def _regions(boxes: np.ndarray, width: int, height: int, margin: int) -> np.ndarray:
    """Integer regions matched for each box: the box, grown about its centre to at least
    MIN_CONTEXT on a side and clipped to the picture; then kept ``margin`` pixels off the
    picture's border where that leaves MIN_REGION pixels (else as far off as it can), so that
    content near the border can be followed as it leaves. Empty when the box is outside."""
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = np.maximum(boxes[:, 2:] - boxes[:, :2], MIN_CONTEXT) / 2
    size = np.array([width, height])
    lo = np.maximum(np.floor(np.clip(c - half, -1e6, 1e6)), 0)
    hi = np.minimum(np.ceil(np.clip(c + half, -1e6, 1e6)), size)
    in_lo = np.maximum(lo, margin)
    in_hi = np.minimum(hi, size - margin)
    narrow = in_hi - in_lo < MIN_REGION
    in_hi = np.where(narrow, np.maximum(in_hi, np.minimum(hi, in_lo + MIN_REGION)), in_hi)
    in_lo = np.where(narrow, np.minimum(in_lo, np.maximum(lo, in_hi - MIN_REGION)), in_lo)
    empty = hi - lo < MIN_REGION
    lo = np.where(empty, lo, in_lo)
    hi = np.where(empty, hi, in_hi)
    return np.concatenate([lo, hi], 1).astype(np.int64)


def _search(a: np.ndarray, b: np.ndarray, rects: np.ndarray, steps: np.ndarray,
            hyps: list[np.ndarray], radius: int, offset: int) -> np.ndarray:
    """``block_match`` rows for each rectangle, searched around every hypothesis (N, 2) in
    turn (skipped where an earlier one already covers it): the best match over all windows,
    whose ``second`` cost also counts the other windows' best matches 2+ pixels away."""
    n = len(rects)
    results = []
    for k, hyp in enumerate(hyps):
        centre = np.round(hyp)
        todo = np.isfinite(centre).all(axis=1)
        for earlier in hyps[:k]:
            todo &= ~(np.abs(centre - np.round(earlier)).max(axis=1) <= radius // 2)
        res = np.zeros((n, 5))
        res[:, 2:4] = np.inf
        if todo.any():
            res[todo] = block_match(a, b, rects[todo], steps[todo],
                                    centre[todo].astype(np.int64), radius, offset)
        results.append(res)
    stack = np.stack(results)
    # Lowest cost; on a tie, a match inside its window before one on the border of another,
    # then the first hypothesis.
    edge = (stack[:, :, 4].astype(np.int64) & FLAG_EDGE) != 0
    choice = np.lexsort((edge.T, stack[:, :, 2].T), axis=1)[:, 0]
    out = stack[choice, np.arange(n)]
    for k in range(len(hyps)):
        rival = (choice != k) & (np.abs(stack[k, :, :2] - out[:, :2]).max(axis=1) >= 2)
        out[rival, 3] = np.minimum(out[rival, 3], stack[k, rival, 2])
    return out


def _box_shift(src: _Pyramid, dst: _Pyramid, boxes: np.ndarray, hyps: list[np.ndarray],
               radius: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Displacement (N, 2) and confidence (N,) of each box, searched around each hypothesis
    (N, 2) of ``hyps`` (the first one is returned where a box cannot be matched)."""
    h, w = src.shape
    n = len(boxes)
    shift = hyps[0].astype(np.float64).copy()
    conf = np.zeros(n)
    if n == 0:
        return shift, conf
    regions = _regions(boxes, w, h, radius)
    size = regions[:, 2:] - regions[:, :2]
    usable = (size >= MIN_REGION).all(axis=1)
    side = size.max(axis=1)
    steps = np.maximum(1, -(-side // MAX_SAMPLES)).astype(np.int64)
    big = usable & (side >= BIG_BOX)
    small = usable & ~big
    if small.any():
        res = _search(src.full, dst.full, regions[small], steps[small],
                      [hyp[small] for hyp in hyps], radius, _offset(src, dst, 1))
        shift[small] = res[:, :2]
        conf[small] = _confidence(res, src.noise(1, noise))
    if big.any():
        idx = np.flatnonzero(big)
        # Coarse: on the 1/4 copy (the region shrunk to whole samples), radius growing with size.
        f = 4
        a, b = src.level(f), dst.level(f)
        r = regions[idx]
        lo = -(-r[:, :2] // f)
        hi = np.minimum(np.maximum(r[:, 2:] // f, lo + 1), [a.shape[1], a.shape[0]])
        lo = np.minimum(lo, hi - 1)
        csteps = np.maximum(1, -(-(hi - lo).max(axis=1) // MAX_SAMPLES)).astype(np.int64)
        reach = max(radius, min(BIG_RADIUS * float(side[idx].max()), BIG_RADIUS_MAX))
        crad = int(math.ceil(reach / f)) + 1
        cres = _search(a, b, np.concatenate([lo, hi], 1), csteps, [hyp[idx] / f for hyp in hyps],
                       crad, _offset(src, dst, f))
        cflags = cres[:, 4].astype(np.int64)
        # Fine: full resolution, +-2 around the coarse result. Its confidence (how much better
        # than 2 pixels away, at full detail) is the box's, cut where either search hit the
        # border of its window.
        fres = block_match(src.full, dst.full, r, steps[idx],
                           np.round(cres[:, :2] * f).astype(np.int64), 2, _offset(src, dst, 1))
        fconf = _confidence(fres, src.noise(1, noise))
        ok = ((fres[:, 4].astype(np.int64) & FLAG_VALID) != 0) & ((cflags & FLAG_VALID) != 0)
        shift[idx] = np.where(ok[:, None], fres[:, :2], hyps[0][idx])
        fconf = np.where((cflags & FLAG_EDGE) != 0, fconf * EDGE_PENALTY, fconf)
        conf[idx] = np.where(ok, fconf, 0.0)
    return shift, conf


def estimate_box_shift(prev: np.ndarray, cur: np.ndarray, boxes: np.ndarray,
                       prior: np.ndarray | None = None, *, bits: int | None = None,
                       radius: int = 8, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Where the content of each box of luma ``prev`` moved in ``cur``: translation only.

    Args:
        prev: luma of the frame the boxes are on.
        cur: luma of the frame searched (same size).
        boxes: (N, 4) ``x0, y0, x1, y1`` in coded-picture pixels of ``prev``.
        prior: (N, 2) expected displacement ``dx, dy`` of each box (e.g. from
            :meth:`GlobalMotion.displacement` of the box centres), default 0; or (K, N, 2), K
            hypotheses searched in turn (the best match over all wins; NaN rows of hypotheses
            after the first are skipped).
        bits: significant bits of the samples (default 8 for uint8, 10 for uint16).
        radius: search radius around the prior, in pixels, for boxes under ``BIG_BOX`` pixels;
            bigger boxes search ``BIG_RADIUS`` times their size (up to ``BIG_RADIUS_MAX``). Raising it follows faster
            independent motion but costs time (quadratically) and admits more false matches.
        noise: as for :func:`estimate_global_motion`.

    Returns:
        ``(shift, confidence)``: (N, 2) measured displacement (the first prior where a box could
        not be matched) and (N,) trust in 0..1 (below ~0.2: flat, ambiguous, or at the search
        limit).

    Raises:
        PipelineError: the pictures differ in size.
        ValueError: ``boxes`` or ``prior`` has the wrong shape or a NaN.
    """
    a, b = _pyramids(prev, cur, bits)
    boxes = _check_boxes(boxes)
    p = np.zeros((len(boxes), 2)) if prior is None else np.asarray(prior, np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or p.shape[1:] != (len(boxes), 2) or len(p) == 0:
        raise ValueError(f"motion: expected prior of shape ({len(boxes)}, 2) or "
                         f"(K, {len(boxes)}, 2), got {np.shape(prior)}")
    if not np.isfinite(p[0]).all():
        raise ValueError("motion: expected a finite first prior")
    return _box_shift(a, b, boxes, list(p), int(radius), noise)


def _check_boxes(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, np.float64)
    if b.size == 0:
        return np.zeros((0, 4))
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"motion: expected boxes of shape (N, 4), got {b.shape}")
    if np.isnan(b).any():
        raise ValueError("motion: expected finite box coordinates, got NaN")
    return b


# -- the stateful estimator -----------------------------------------------------------------
class MotionEstimator:
    """Keeps the luma of the last ``keep`` frames and moves boxes between neighbouring frames.

    Global motion is computed lazily (the first time a pair of frames is asked for), so frames
    without boxes cost only the luma copy.

    Args:
        keep: frames kept (e.g. the tracker's lookahead + 2). Older frames are forgotten.
        max_pan: largest pan searched per frame, as a fraction of the picture width.
        radius: search radius, in pixels, of each box's own match around the global motion.
        min_confidence: a box whose own match is trusted less than this follows the global
            motion instead. Raising it falls back to the global motion more often (safer on
            flat or repetitive content, worse for objects moving against the background).
        noise: expected mean absolute difference of two noisy copies of one picture, in 8-bit
            code values (raise it for grainy or heavily compressed footage).

    Example:
        >>> import av, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> pic = rng.integers(0, 256, (200, 300), dtype=np.uint8)
        >>> est = MotionEstimator(keep=3)
        >>> est.push(0, av.VideoFrame.from_ndarray(pic[:, 3:259].copy(), format="gray"))
        >>> est.push(1, av.VideoFrame.from_ndarray(pic[:, 0:256].copy(), format="gray"))
        >>> moved, conf = est.move(np.array([[100.0, 80, 124, 104]]), 0, 1)
        >>> moved.round(1).tolist(), bool(conf[0] > 0.5)
        ([[103.0, 80.0, 127.0, 104.0]], True)
    """

    def __init__(self, keep: int = 8, *, max_pan: float = 0.04, radius: int = 8,
                 min_confidence: float = 0.25, noise: float = 1.0) -> None:
        if not (isinstance(keep, int) and keep >= 2):
            raise ConfigError(f"motion keep: expected a whole number >= 2, got {keep!r}")
        if not (isinstance(max_pan, (int, float)) and 0.0 < max_pan <= 0.5):
            raise ConfigError(f"motion max_pan: expected a number in 0..0.5, got {max_pan!r}")
        if not (isinstance(radius, int) and 1 <= radius <= 64):
            raise ConfigError(f"motion radius: expected a whole number in 1..64, got {radius!r}")
        if not (isinstance(min_confidence, (int, float)) and 0.0 <= min_confidence <= 1.0):
            raise ConfigError(f"motion min_confidence: expected a number in 0..1, got "
                              f"{min_confidence!r}")
        if not (isinstance(noise, (int, float)) and noise > 0):
            raise ConfigError(f"motion noise: expected a number > 0, got {noise!r}")
        self.keep = keep
        self.max_pan = float(max_pan)
        self.radius = radius
        self.min_confidence = float(min_confidence)
        self.noise = float(noise)
        self._frames: OrderedDict[int, _Pyramid] = OrderedDict()
        self._global: dict[int, GlobalMotion] = {}  # t -> motion from t - 1 to t

    def __repr__(self) -> str:
        return (f"MotionEstimator(keep={self.keep}, max_pan={self.max_pan}, "
                f"radius={self.radius}, min_confidence={self.min_confidence}, noise={self.noise})")

    @property
    def frames(self) -> list[int]:
        """Indices of the frames held, oldest first."""
        return list(self._frames)

    def push(self, frame_index: int, frame: av.VideoFrame | np.ndarray) -> None:
        """Keep frame ``frame_index`` (a decoded frame, or its luma as a 2-D array).

        Raises:
            PipelineError: ``frame_index`` is not above the last one pushed.
        """
        if self._frames and frame_index <= next(reversed(self._frames)):
            raise PipelineError(f"motion: expected frame_index > {next(reversed(self._frames))}, "
                                f"got {frame_index}")
        if isinstance(frame, np.ndarray):
            pyr = _Pyramid(frame.copy(), 8 if frame.dtype == np.uint8 else 10)
        else:
            pyr = _Pyramid(*luma_and_bits(frame))
        self._frames[frame_index] = pyr
        while len(self._frames) > self.keep:
            old, _ = self._frames.popitem(last=False)
            self._global.pop(old, None)
            self._global.pop(old + 1, None)

    def reset(self) -> None:
        """Forget every frame (a shot cut or a new stream): no motion is measured across it."""
        self._frames.clear()
        self._global.clear()

    def _get(self, index: int) -> _Pyramid:
        try:
            return self._frames[index]
        except KeyError:
            raise PipelineError(f"motion: frame {index} is not held (held: "
                                f"{self.frames or 'none'})") from None

    def _pair(self, src: int, dst: int) -> tuple[_Pyramid, _Pyramid]:
        if abs(src - dst) != 1:
            raise ValueError(f"motion: expected neighbouring frames, got {src} -> {dst}")
        a, b = self._get(src), self._get(dst)
        if a.shape != b.shape:
            raise PipelineError(f"motion: frames {src} and {dst} differ in size "
                                f"({a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]})")
        return a, b

    def global_motion(self, src: int, dst: int) -> GlobalMotion:
        """Pan + zoom from frame ``src`` to its neighbour ``dst`` (either direction).

        Raises:
            PipelineError: a frame is not held, or the two differ in size.
            ValueError: ``|src - dst| != 1``.
        """
        a, b = self._pair(src, dst)
        later = max(src, dst)
        if later not in self._global:
            first, second = (a, b) if src < dst else (b, a)
            self._global[later] = _global(first, second, self.max_pan, self.noise)
        g = self._global[later]
        return g if src < dst else g.inverse()

    def move(self, boxes: np.ndarray, src: int, dst: int, prior: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``x0, y0, x1, y1`` (N, 4) on frame ``src`` moved to neighbouring frame ``dst``.

        Each box is scaled by the global zoom and placed by its own match when that is trusted
        at least ``min_confidence``, else by the global motion. The match is searched from
        ``src`` to ``dst`` (a backward move is measured, not the forward one negated) within
        ``radius`` of the global motion, of no motion (an object the camera follows), and of
        ``prior`` when given.

        Args:
            boxes: (N, 4) boxes in coded-picture pixels of frame ``src``.
            src: frame the boxes are on.
            dst: ``src + 1`` or ``src - 1``.
            prior: optional (N, 2) displacement ``dx, dy`` expected from ``src`` to ``dst``
                (e.g. a track's velocity); NaN rows are ignored.

        Returns:
            ``(moved, confidence)``: (N, 4) float64 boxes and (N,) the trust in each box's own
            match, 0..1 (below ``min_confidence``: the box followed the global motion).

        Raises:
            PipelineError: a frame is not held, or the two differ in size.
            ValueError: ``|src - dst| != 1``, or ``boxes``/``prior`` has the wrong shape or
                ``boxes`` a NaN.
        """
        boxes = _check_boxes(boxes)
        a, b = self._pair(src, dst)
        g = self.global_motion(src, dst)
        prior_boxes = g.apply(boxes)
        if not len(boxes):
            return prior_boxes, np.zeros(0)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        expected = g.displacement(centres)
        hyps = [expected]
        if prior is not None:
            p = np.asarray(prior, np.float64)
            if p.shape != (len(boxes), 2):
                raise ValueError(f"motion: expected prior of shape ({len(boxes)}, 2), "
                                 f"got {p.shape}")
            hyps.append(p)
        hyps.append(np.zeros_like(expected))
        shift, conf = _box_shift(a, b, boxes, hyps, self.radius, self.noise)
        use = conf >= self.min_confidence
        delta = np.where(use[:, None], shift - expected, 0.0)
        return prior_boxes + np.tile(delta, 2), conf


# -- decoder motion vectors -----------------------------------------------------------------
def enable_motion_vectors(stream: av.video.stream.VideoStream) -> None:
    """Ask the decoder of ``stream`` to export its motion vectors (before the first packet).

    Only FFmpeg's H.264 and MPEG-1/2/4/H.263 decoders export them; others ignore the flag.
    """
    opts = dict(stream.codec_context.options)
    flags = opts.get("flags2", "")
    opts["flags2"] = (flags + "+export_mvs") if flags else "+export_mvs"
    stream.codec_context.options = opts


def motion_vectors(frame: av.VideoFrame) -> np.ndarray | None:
    """The decoder's motion vectors of ``frame`` that reference a past frame.

    Returns:
        (M, 6) float64 rows ``dst_x, dst_y, dx, dy, w, h``: block centre in this frame, the
        displacement of its content from the reference frame to this one (quarter-pixel
        precision for H.264), and the block size. None when the frame carries no motion
        vectors (intra frames, codecs that do not export them, export not enabled).
        Which past frame is the reference is not recorded: see :func:`vectors_span_one_frame`.
    """
    side = frame.side_data.get("MOTION_VECTORS")
    if side is None:
        return None
    mv = side.to_ndarray()
    mv = mv[mv["source"] < 0]
    scale = np.maximum(mv["motion_scale"].astype(np.float64), 1.0)
    out = np.empty((len(mv), 6))
    out[:, 0] = mv["dst_x"]
    out[:, 1] = mv["dst_y"]
    out[:, 2] = -mv["motion_x"] / scale  # motion = source - destination
    out[:, 3] = -mv["motion_y"] / scale
    out[:, 4] = mv["w"]
    out[:, 5] = mv["h"]
    return out


def vectors_span_one_frame(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> bool:
    """True when ``frame``'s past motion vectors measure motion from the previous frame.

    That holds for P-frames of streams without B-frames (the decoder reorders nothing), up to
    blocks that use an older reference (x264 ``ref`` > 1), which :func:`vector_shift`'s median
    ignores while they are a minority. With B-frames a P-frame refers to the previous I/P
    frame, several frames back, and a B-frame to an I/P or reference-B frame, at a distance
    the side data does not record, so those vectors cannot be used per frame.
    """
    return (frame.pict_type == av.video.frame.PictureType.P
            and not stream.codec_context.has_b_frames)


def vector_shift(vectors: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust displacement of each box from motion vectors (of :func:`motion_vectors`).

    Args:
        vectors: (M, 6) ``dst_x, dst_y, dx, dy, w, h``.
        boxes: (N, 4) ``x0, y0, x1, y1`` on the frame the vectors belong to.

    Returns:
        ``(shift, support)``: (N, 2) per-axis median of ``dx, dy`` over the blocks whose centre
        lies inside the box, weighted by block area (NaN where no block does), and (N,) the
        share of the box's area those blocks cover (0..1).
    """
    boxes = _check_boxes(boxes)
    v = np.asarray(vectors, np.float64)
    if v.ndim != 2 or v.shape[1] != 6:
        raise ValueError(f"motion: expected vectors of shape (M, 6), got {v.shape}")
    shift = np.full((len(boxes), 2), np.nan)
    support = np.zeros(len(boxes))
    if not len(v) or not len(boxes):
        return shift, support
    area = v[:, 4] * v[:, 5]
    inside = ((v[None, :, 0] >= boxes[:, None, 0]) & (v[None, :, 0] < boxes[:, None, 2])
              & (v[None, :, 1] >= boxes[:, None, 1]) & (v[None, :, 1] < boxes[:, None, 3]))
    box_area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-9)
    for k in range(len(boxes)):
        sel = inside[k]
        if not sel.any():
            continue
        wts = area[sel]
        for axis in (0, 1):
            vals = v[sel, 2 + axis]
            order = np.argsort(vals, kind="stable")
            cum = np.cumsum(wts[order])
            shift[k, axis] = vals[order][np.searchsorted(cum, 0.5 * cum[-1])]
        support[k] = min(float(wts.sum()) / box_area[k], 1.0)
    return shift, support
