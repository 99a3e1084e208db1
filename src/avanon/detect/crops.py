"""Crops for the detectors: regions of the decoded frame as resized upright RGB, and back.

Two uses share one primitive. *Tiling* runs the detectors on a few overlapping tiles of a large
picture, so small faces and distant plates keep more pixels than in one downscaled copy of the
whole frame. *Re-detection* runs them on small regions around tracked objects between full-frame
detections. Both: plan regions in coded-picture pixels (:func:`tiles`, :func:`regions_around`),
cut them out of the frame's own planes as a batch of fixed-size upright RGB crops
(:func:`crop_batch`), run a detector on the batch, and map its boxes back
(:meth:`CropBatch.to_coded`).

Coordinates are continuous pixel edges, as in :mod:`avanon.detect.geometry`: a region
``x0, y0, x1, y1`` covers columns ``x0 .. x1`` with ``x1`` exclusive. Regions are always in
*coded* pixels (the picture as decoded, ``frame.width x frame.height``) like every box avanon
passes between stages; the crops are *upright* (``np.rot90(coded, k)``), as the detectors want.

Example:
    >>> import av, numpy as np
    >>> rgb = np.zeros((720, 1280, 3), np.uint8); rgb[100:140, 200:230] = 255
    >>> frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    >>> regions = regions_around(np.array([[200, 100, 230, 140]]), 1280, 720)
    >>> regions
    array([[175,  80, 255, 160]])
    >>> batch = crop_batch(frame, regions, (128, 128), k=0)
    >>> batch.images.shape
    (1, 128, 128, 3)
    >>> batch.to_coded(0, [[40, 32, 88, 96]])
    array([[200., 100., 230., 140.]], dtype=float32)
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import av
import numpy as np

from ..errors import ConfigError
from ..mask.color import MATRICES, frame_full_range, frame_matrix
from ..mask.layout import plane_layout, plane_rows
from .crop_kernels import crop_rgb, crop_rgb_reference
from .geometry import to_coded

__all__ = ["CropBatch", "crop_batch", "regions_around", "tiles"]

#: Value of the crop samples outside the resized region (a neutral grey).
PAD = 128


# --- Planning ---------------------------------------------------------------------------------


def _axis_starts(length: int, tile: int, overlap: int) -> tuple[np.ndarray, int]:
    """Evenly spread tile starts along one axis, and the tile length on that axis."""
    if length <= tile:
        return np.zeros(1, np.int64), length
    n = -(-(length - overlap) // (tile - overlap))  # ceil: steps of at most tile - overlap
    # floor(i * span / (n - 1)): consecutive starts differ by at most ceil(span / (n - 1)),
    # which is <= tile - overlap because span / (n - 1) is and tile - overlap is an integer.
    return np.arange(n, dtype=np.int64) * (length - tile) // (n - 1), tile


def tiles(width: int, height: int, tile: int, overlap: int = 0) -> np.ndarray:
    """Tiles of side ``tile`` covering a ``width x height`` picture, row by row.

    Tiles are planned in coded pixels (pass ``frame.width, frame.height``), like every region
    :func:`crop_batch` takes; a square tile is square in either orientation. Along each axis the
    fewest tiles that overlap by at least ``overlap`` pixels are spread evenly from edge to
    edge, so the overlap is often larger than asked. An axis shorter than ``tile`` gets one tile
    spanning it (a picture smaller than a tile gives one tile, the picture).

    Args:
        width: picture width in pixels.
        height: picture height in pixels.
        tile: tile side in pixels. Larger tiles mean fewer crops but fewer detector pixels per
            picture pixel once the crops are resized to the detector input.
        overlap: least overlap between neighbouring tiles, in pixels; an object narrower than
            this lies wholly inside at least one tile. More overlap costs more tiles.

    Returns:
        (T, 4) int64 ``x0, y0, x1, y1``, inside the picture.

    Raises:
        ConfigError: ``tile < 1`` or ``overlap`` not in ``0 .. tile - 1``.
        ValueError: ``width`` or ``height`` below 1.

    Example:
        >>> tiles(3840, 2160, 1400, 120)
        array([[   0,    0, 1400, 1400],
               [1220,    0, 2620, 1400],
               [2440,    0, 3840, 1400],
               [   0,  760, 1400, 2160],
               [1220,  760, 2620, 2160],
               [2440,  760, 3840, 2160]])
    """
    tile, overlap = _int("tile", tile), _int("overlap", overlap)
    if tile < 1:
        raise ConfigError(f"tiles: expected tile >= 1 pixel, got {tile}")
    if not 0 <= overlap < tile:
        raise ConfigError(f"tiles: expected 0 <= overlap < tile ({tile}), got overlap={overlap}")
    width, height = _picture_size(width, height)
    xs, tw = _axis_starts(width, tile, overlap)
    ys, th = _axis_starts(height, tile, overlap)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    x0, y0 = gx.ravel(), gy.ravel()
    return np.stack([x0, y0, x0 + tw, y0 + th], axis=1)


def regions_around(
    boxes: np.ndarray,
    width: int,
    height: int,
    *,
    context: float = 2.0,
    min_side: int = 64,
    max_side: int | None = None,
    merge: bool = True,
    merge_scale: float = 1.5,
) -> np.ndarray:
    """Square regions around boxes (tracked objects) to re-detect in, optionally merged.

    Each box gets a square of side ``context * max(box w, box h)`` clamped to
    ``[min_side, max_side]``, centred on the box and shifted to lie inside the picture (a side
    longer than the picture is cut to it). Boxes are clipped to the picture first; boxes wholly
    outside it get no region. With ``merge``, regions are then merged greedily, closest pair
    first, into their bounding rectangle while that rectangle's long side is at most
    ``merge_scale`` times the side of the smallest region it absorbs (and at most ``max_side``),
    so a crowd becomes a few crops.

    Args:
        boxes: (N, 4) ``x0, y0, x1, y1`` in coded pixels (tracker predictions).
        width: coded picture width.
        height: coded picture height.
        context: region side over the box's long side. More context tolerates more motion and
            a worse prediction, and gives the detector the surroundings it was trained with,
            but the object gets fewer pixels in a fixed-size crop.
        min_side: smallest region side in pixels: tiny boxes still get some context, and are
            enlarged (not shrunk) to the crop size. Raise it toward the crop size to avoid
            upscaling; lower it to magnify tiny objects more.
        max_side: largest region side in pixels (None: the picture), also the cap on merged
            regions. Lower it to bound the downscale of large objects (they are then cut off,
            which is fine for re-detection only if the full-frame pass catches them).
        merge: merge overlapping regions. Fewer crops means fewer detector runs.
        merge_scale: how much a merge may shrink an object, >= 1: with a fixed crop size an
            object in a merged region gets at most ``merge_scale`` times fewer pixels (linear)
            than in its own region. 1 merges only regions of equal side that coincide; 1.5
            merges same-size regions offset by up to half a side; larger values give fewer,
            coarser crops.

    Returns:
        (R, 4) int64 regions in coded pixels, inside the picture, R <= N (R == N when
        ``merge`` is False and no box is outside the picture). Unmerged regions keep the order
        of their boxes; merged ones take the place of the first box they absorb.

    Raises:
        ConfigError: a knob is out of range (the message names it).
        ValueError: ``boxes`` is not (N, 4), has NaN/infinite values or ``x1 < x0``/``y1 < y0``.
    """
    if not (math.isfinite(context) and context > 0):
        raise ConfigError(f"regions_around: expected context > 0, got {context}")
    min_side = _int("min_side", min_side)
    if min_side < 1:
        raise ConfigError(f"regions_around: expected min_side >= 1, got {min_side}")
    if max_side is not None:
        max_side = _int("max_side", max_side)
        if max_side < min_side:
            raise ConfigError(
                f"regions_around: expected max_side >= min_side ({min_side}), got {max_side}")
    if not (math.isfinite(merge_scale) and merge_scale >= 1.0):
        raise ConfigError(f"regions_around: expected merge_scale >= 1, got {merge_scale}")
    width, height = _picture_size(width, height)
    b = _boxes(boxes, "regions_around", "boxes")
    if (b[:, 2] < b[:, 0]).any() or (b[:, 3] < b[:, 1]).any():
        bad = b[(b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])][0]
        raise ValueError(f"regions_around: expected boxes with x0 <= x1 and y0 <= y1, "
                         f"got {bad.tolist()}")
    inside = (b[:, 2] >= 0) & (b[:, 0] <= width) & (b[:, 3] >= 0) & (b[:, 1] <= height)
    b = b[inside]
    np.clip(b[:, 0::2], 0, width, out=b[:, 0::2])
    np.clip(b[:, 1::2], 0, height, out=b[:, 1::2])
    cap = max_side if max_side is not None else max(width, height)
    side = np.clip(context * np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), min_side, cap)
    side = np.ceil(side - 1e-9).astype(np.int64)
    rw, rh = np.minimum(side, width), np.minimum(side, height)
    x0 = np.clip(np.round((b[:, 0] + b[:, 2] - rw) / 2), 0, width - rw).astype(np.int64)
    y0 = np.clip(np.round((b[:, 1] + b[:, 3] - rh) / 2), 0, height - rh).astype(np.int64)
    regions = np.stack([x0, y0, x0 + rw, y0 + rh], axis=1)
    if merge and len(regions) > 1:
        regions = _merge(regions, np.maximum(rw, rh).astype(np.float64), merge_scale, cap)
    return regions


def _merge(regions: np.ndarray, smallest: np.ndarray, scale: float, cap: int) -> np.ndarray:
    """Greedy merge: join the pair with the lowest long-side / smallest-side ratio while allowed.

    ``smallest[i]`` is the side of the smallest original region inside region ``i``. The pair
    table is built once and only the merged region's row and column are recomputed after each
    merge (N^2 work per merge, not N^3).
    """
    regs = regions.astype(np.float64)
    n = len(regs)
    alive = np.ones(n, bool)

    def cost(k: np.ndarray | int) -> np.ndarray:
        """Ratio of region(s) ``k`` against every region (inf where not allowed)."""
        r = regs[k].reshape(-1, 4)
        lo = np.minimum(r[:, None, :2], regs[None, :, :2])
        hi = np.maximum(r[:, None, 2:], regs[None, :, 2:])
        long_side = (hi - lo).max(axis=2)
        ratio = long_side / np.minimum(np.atleast_1d(smallest[k])[:, None], smallest[None, :])
        ok = (ratio <= scale + 1e-9) & (long_side <= cap) & alive[None, :]
        return np.where(ok, ratio, np.inf)

    table = cost(np.arange(n))
    np.fill_diagonal(table, np.inf)
    while True:
        flat = int(np.argmin(table))
        i, j = sorted(divmod(flat, n))
        if not np.isfinite(table[i, j]):
            break
        regs[i] = [*np.minimum(regs[i, :2], regs[j, :2]), *np.maximum(regs[i, 2:], regs[j, 2:])]
        smallest[i] = min(smallest[i], smallest[j])
        alive[j] = False
        regs[j] = -1e18  # out of every later union
        table[j, :] = table[:, j] = np.inf
        row = cost(i)[0]
        row[i] = np.inf
        row[~alive] = np.inf
        table[i, :] = table[:, i] = row
    return regs[alive].astype(np.int64)


# --- Cropping ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CropBatch:
    """A batch of upright RGB crops and what is needed to map boxes in them back.

    Attributes:
        images: (R, h, w, 3) uint8 RGB, upright. Crop ``i`` holds region ``i`` resized with
            its aspect kept to ``content[i]`` at the top left; the rest is grey (:data:`PAD`).
        regions: (R, 4) int64 coded-picture regions actually cropped (the requested ones
            rounded outward to whole pixels and clipped to the picture).
        content: (R, 2) int64 ``w, h`` of the resized region inside each crop (upright).
        k: quarter turns from coded to upright (:func:`~avanon.detect.geometry.rotation_k`).
    """

    images: np.ndarray
    regions: np.ndarray
    content: np.ndarray
    k: int

    def __len__(self) -> int:
        return len(self.images)

    @property
    def scales(self) -> np.ndarray:
        """(R, 2) upright region pixels per crop pixel, across and down (> 1: shrunk)."""
        wh = self.regions[:, 2:] - self.regions[:, :2]
        if self.k % 2:
            wh = wh[:, ::-1]
        return wh / self.content

    def to_coded(self, i: int, xyxy: np.ndarray) -> np.ndarray:
        """Map boxes found in crop ``i`` (upright crop pixels) to coded-picture pixels.

        Boxes are first clipped to the crop's content (a box reaching into the grey padding
        stops at the region's edge), then scaled and turned back, and clipped to the region.

        Returns:
            (N, 4) float32 ``x0, y0, x1, y1`` in coded pixels.
        """
        xyxy = np.array(xyxy, np.float32).reshape(-1, 4)
        cw, ch = (int(v) for v in self.content[i])
        np.clip(xyxy[:, 0::2], 0, cw, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, ch, out=xyxy[:, 1::2])
        x0, y0, x1, y1 = (int(v) for v in self.regions[i])
        out = to_coded(xyxy, (cw, ch), (x1 - x0, y1 - y0), self.k)
        out += np.array([x0, y0, x0, y0], np.float32)
        return out


def crop_batch(
    frame: av.VideoFrame,
    regions: np.ndarray,
    size: tuple[int, int],
    k: int = 0,
    *,
    reference: bool = False,
) -> CropBatch:
    """Cut ``regions`` out of ``frame`` as a batch of ``size`` upright RGB crops.

    Each region is resized with its aspect kept so that it fits ``size`` (upright), written at
    the top left of its crop, and padded with grey at the bottom/right. Resampling is
    bilinear, widened to a tent of the downscale factor when shrinking (antialiased, like PIL),
    done directly on the frame's planes: 8- to 16-bit planar or semi-planar YUV of any
    subsampling (``yuv420p``, ``yuv422p10le``, ``nv12``, ``p010le``, ...), gray and planar RGB.
    YUV is converted with the frame's matrix (BT.601 / 709 / 2020 / SMPTE 240M / FCC / YCgCo /
    GBR; unspecified: BT.601 below 720 lines, else BT.709) and range (unspecified: limited).
    Other formats are converted to ``rgb24`` by FFmpeg once per call and cropped from that.

    Args:
        frame: a decoded frame in system memory.
        regions: (R, 4) ``x0, y0, x1, y1`` in coded pixels (see :func:`tiles`,
            :func:`regions_around`). Fractional edges are rounded outward; parts outside the
            picture are cut off.
        size: ``(w, h)`` of every crop, upright.
        k: quarter turns from coded to upright, as :func:`~avanon.detect.geometry.rotation_k`.
        reference: use the plain NumPy reference instead of the Numba kernel (slow; tests).

    Returns:
        The crops and their geometry; ``to_coded`` maps boxes back.

    Raises:
        ConfigError: ``size`` is not two integers >= 1, or ``k`` is not an integer.
        ValueError: ``regions`` is not (R, 4) or not finite, a region is empty or wholly
            outside the picture, or the frame is a hardware frame.
    """
    w, h = _crop_size(size)
    k = _int("k", k) % 4
    wc, hc = frame.width, frame.height
    regs = _boxes(regions, "crop_batch", "regions")
    snapped = np.stack([np.floor(regs[:, 0]), np.floor(regs[:, 1]),
                        np.ceil(regs[:, 2]), np.ceil(regs[:, 3])], axis=1)
    np.clip(snapped[:, 0::2], 0, wc, out=snapped[:, 0::2])
    np.clip(snapped[:, 1::2], 0, hc, out=snapped[:, 1::2])
    empty = (snapped[:, 2] <= snapped[:, 0]) | (snapped[:, 3] <= snapped[:, 1])
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise ValueError(
            f"crop_batch: expected non-empty regions overlapping the {wc}x{hc} picture, "
            f"got region {i} = {regs[i].tolist()}")
    rw, rh = snapped[:, 2] - snapped[:, 0], snapped[:, 3] - snapped[:, 1]
    uw, uh = (rh, rw) if k % 2 else (rw, rh)
    scale = np.maximum(uw / w, uh / h)
    cw = np.clip(np.round(uw / scale), 1, w).astype(np.int64)
    ch = np.clip(np.round(uh / scale), 1, h).astype(np.int64)
    content = np.stack([cw, ch], axis=1)
    coded_sizes = np.ascontiguousarray(content[:, ::-1] if k % 2 else content)
    images = np.empty((len(snapped), h, w, 3), np.uint8)
    if len(snapped):
        planes, chan, ncomp, mat, off = _sources(frame)
        kernel = crop_rgb_reference if reference else crop_rgb
        kernel(planes[0], planes[1], planes[2], chan, ncomp, mat, off,
               np.ascontiguousarray(snapped), coded_sizes, k, PAD, images)
    return CropBatch(images=images, regions=snapped.astype(np.int64), content=content, k=k)


# --- Sources and colour -----------------------------------------------------------------------


def _sources(frame: av.VideoFrame):
    """Sample arrays, channel table, component count and colour transform for the kernel."""
    name = frame.format.name
    if not frame.format.components:
        raise ValueError(
            f"crop_batch: expected a frame in system memory, got hardware format {name!r}")
    layout = plane_layout(name)
    if layout is not None:
        ncomp = sum(len(p.components) for p in layout.planes)
    if layout is None or ncomp not in (1, 3):
        # What frame.to_ndarray(format="rgb24") returns, read as padded rows: the same array
        # type as 8-bit planes, so no second compilation of the kernel.
        rgb = frame.reformat(format="rgb24").planes[0]
        rows = np.frombuffer(rgb, np.uint8).reshape(rgb.height, rgb.line_size)
        chan = np.array([[c, 3, rgb.width, rgb.height, 0, 0] for c in range(3)], np.int64)
        return (rows, rows, rows), chan, 3, np.eye(3), np.zeros(3)
    chan = np.zeros((3, 6), np.int64)
    arrays: list[np.ndarray | None] = [None, None, None]
    for spec in layout.planes:
        plane = frame.planes[spec.index]
        rows = plane_rows(frame, spec.index, layout.dtype)
        n = len(spec.components)
        for pos, comp in enumerate(spec.components):
            arrays[comp] = rows
            chan[comp] = [pos, n, plane.width, plane.height, spec.sx, spec.sy]
    if ncomp == 1:
        arrays = [arrays[0]] * 3
        chan[1:] = chan[0]
    full = frame_full_range(frame.color_range, name, layout.is_rgb)
    if layout.is_rgb:
        matrix = "gbr"
    elif ncomp == 1:
        matrix = "gray"
    else:
        matrix = frame_matrix(frame.colorspace, frame.height)
    mat, off = _rgb_transform(matrix, full, layout.bits, layout.shift)
    return tuple(arrays), chan, ncomp, mat, off


def _rgb_transform(matrix: str, full: bool, bits: int, shift: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``mat, off`` with ``rgb255 = mat @ codes + off`` for codes of components 0, 1, 2.

    ``matrix``: a key of :data:`~avanon.mask.color.MATRICES`, "ycgco", "rgb" (G, B, R coded in
    the Y, U, V planes), "gbr" (an RGB pixel format: components are R, G, B) or "gray".
    """
    unit = float(1 << shift)  # MSB-aligned codes carry ``shift`` zero bits
    if full:
        y_gain, y_off = 1.0 / ((1 << bits) - 1), 0.0
        c_gain, c_off = y_gain, -float(1 << (bits - 1)) / ((1 << bits) - 1)
    else:
        step = float(1 << (bits - 8))
        y_gain, y_off = 1.0 / (219.0 * step), -16.0 / 219.0
        c_gain, c_off = 1.0 / (224.0 * step), -128.0 / 224.0
    # Normalised components (Y in 0..1, chroma in -0.5..0.5; or R, G, B in 0..1).
    if matrix in ("gbr", "rgb", "gray"):
        gain = np.full(3, y_gain)
        bias = np.full(3, y_off)
    else:
        gain = np.array([y_gain, c_gain, c_gain])
        bias = np.array([y_off, c_off, c_off])
    if matrix == "gbr":
        to_rgb = np.eye(3)
    elif matrix == "rgb":
        to_rgb = np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]])
    elif matrix == "gray":
        to_rgb = np.array([[1.0, 0, 0], [1, 0, 0], [1, 0, 0]])
    elif matrix == "ycgco":
        to_rgb = np.array([[1.0, -1, 1], [1, 1, 0], [1, -1, -1]])
    else:
        kr, kb = MATRICES[matrix]
        kg = 1.0 - kr - kb
        to_rgb = np.array([
            [1.0, 0.0, 2.0 * (1.0 - kr)],
            [1.0, -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg],
            [1.0, 2.0 * (1.0 - kb), 0.0],
        ])
    mat = 255.0 * to_rgb * (gain / unit)[None, :]
    off = 255.0 * to_rgb @ bias
    return np.ascontiguousarray(mat), off


# --- Validation -------------------------------------------------------------------------------


def _int(name: str, value) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise ConfigError(f"expected {name} to be an integer, got {value!r}") from None


def _picture_size(width, height) -> tuple[int, int]:
    width, height = _int("width", width), _int("height", height)
    if width < 1 or height < 1:
        raise ValueError(f"expected a picture of at least 1x1 pixels, got {width}x{height}")
    return width, height


def _crop_size(size) -> tuple[int, int]:
    try:
        w, h = (operator.index(v) for v in size)
    except (TypeError, ValueError):
        raise ConfigError(f"crop_batch: expected size=(w, h) integers, got {size!r}") from None
    if w < 1 or h < 1:
        raise ConfigError(f"crop_batch: expected a crop size of at least 1x1, got {w}x{h}")
    return w, h


def _boxes(values, where: str, what: str) -> np.ndarray:
    arr = np.array(values, np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{where}: expected {what} of shape (N, 4), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: expected finite {what}, got {arr[~np.isfinite(arr).all(1)][0]}")
    return arr
