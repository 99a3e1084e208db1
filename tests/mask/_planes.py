"""Shared test data for the mask tests: random planes, edge-case boxes, frames with known planes."""

from __future__ import annotations

import av
import numpy as np

#: Luma size of every test picture: odd on both axes.
W, H = 65, 33

#: Boxes (luma coords) that exercise the edge cases, applied together and in this order.
EDGE_BOXES = np.array(
    [
        [-10.0, 5.0, 12.0, 20.0],  # crosses the left edge
        [55.0, 5.0, 80.0, 20.0],  # crosses the right edge
        [20.0, -8.0, 40.0, 10.0],  # crosses the top edge
        [20.0, 25.0, 40.0, 50.0],  # crosses the bottom edge
        [70.0, 0.0, 90.0, 10.0],  # fully outside, right
        [-30.0, -30.0, -1.0, -1.0],  # fully outside, top left
        [30.0, 15.0, 31.0, 16.0],  # 1 x 1
        [44.2, 3.3, 44.4, 3.6],  # tiny, fractional
        [10.0, 10.0, 10.0, 20.0],  # zero width
        [10.0, 28.0, 20.0, 28.0],  # zero height
        [50.0, 30.0, 45.0, 25.0],  # inverted
        [5.5, 21.5, 25.25, 31.75],  # overlapping pair
        [15.0, 17.0, 35.5, 32.0],
        [-4.0, -3.0, 68.0, 36.0],  # covers the whole picture, crosses every edge
    ]
)

#: log2 chroma subsampling (sx, sy) of the formats FFmpeg has.
SUBSAMPLINGS = [(0, 0), (1, 0), (1, 1), (0, 1), (2, 0), (2, 2)]


def plane_shape(sx: int, sy: int) -> tuple[int, int]:
    """Shape of a plane with subsampling ``sx, sy`` of the W x H test picture."""
    return -(-H >> sy), -(-W >> sx)


def random_plane(rng: np.random.Generator, dtype: type, sx: int = 0, sy: int = 0,
                 bits: int | None = None) -> np.ndarray:
    """Uniform noise over the code range of ``bits`` (8 for uint8, 10 for uint16)."""
    bits = bits or (8 if dtype == np.uint8 else 10)
    return rng.integers(0, 1 << bits, plane_shape(sx, sy)).astype(dtype)


def random_boxes(rng: np.random.Generator, n: int = 8) -> np.ndarray:
    """``n`` random boxes, some crossing the picture edges."""
    xy = rng.uniform([-15, -10], [W + 5, H + 5], (n, 2))
    wh = rng.uniform(1, 40, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def covered(box, sx: int, sy: int, shape: tuple[int, int]) -> np.ndarray:
    """Boolean map of the plane samples a box's rectangle covers (written independently)."""
    cover = np.zeros(shape, bool)
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        return cover
    fx, fy = 2**sx, 2**sy
    # A sample covers luma [i*f, (i+1)*f); it is masked if that overlaps [floor(x0), ceil(x1)).
    cols = np.arange(shape[1])
    rows = np.arange(shape[0])
    in_x = ((cols + 1) * fx > np.floor(x0)) & (cols * fx < np.ceil(x1))
    in_y = ((rows + 1) * fy > np.floor(y0)) & (rows * fy < np.ceil(y1))
    cover[np.ix_(in_y, in_x)] = True
    return cover


def frame_planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Copies of the visible samples of every plane of a planar or semi-planar frame.

    An interleaved chroma plane comes back as (h, 2 * w), channels alternating.
    """
    bits = max(c.bits for c in frame.format.components)
    dtype = np.dtype(np.uint8 if bits <= 8 else np.uint16)
    out = []
    for index, plane in enumerate(frame.planes):
        channels = sum(1 for c in frame.format.components if c.plane == index)
        rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
        out.append(rows[:, : plane.width * channels].copy())
    return out


def random_frame(rng: np.random.Generator, name: str, shift: int = 0) -> av.VideoFrame:
    """A W x H frame in format ``name`` whose planes hold random codes of its bit depth."""
    frame = av.VideoFrame(W, H, name)
    frame.make_writable()
    bits = max(c.bits for c in frame.format.components)
    dtype = np.uint8 if bits <= 8 else np.uint16
    for plane in frame.planes:
        rows = np.frombuffer(plane, dtype)
        rows[:] = rng.integers(0, 1 << bits, rows.size).astype(dtype) << shift
    frame.pts = 1234
    return frame
