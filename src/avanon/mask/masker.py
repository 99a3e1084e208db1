"""`PlaneMasker`: paint detections out of decoded frames, in place, on their own planes.

The masker never converts a whole frame to RGB. It takes writable NumPy views of the frame's
planes (no copy) and runs the Numba kernels of :mod:`avanon.mask.kernels` on the samples under
the boxes only, in the frame's own pixel format:

* planar YUV of any subsampling (``yuv420p``, ``yuv422p``, ``yuv444p``, ``yuv440p``, ``yuv411p``,
  ``yuv410p``, ``yuvj*``) at 8 to 16 bits little-endian, with alpha left alone (``yuva*``);
* gray (``gray``, ``gray10le``, ...) and planar RGB (``gbrp``, ``gbrp10le``, ``gbrap``, ...);
* semi-planar YUV (``nv12``, ``nv21``, ``nv16``, ``nv24``, ``p010le``, ``p016le``, ...), whose
  interleaved chroma plane is masked as two channels.

Any other format (packed ``rgb24``/``bgr0``/``yuyv422``, palette, float, big-endian high depth)
is converted to a planar equivalent (:func:`avanon.mask.layout.planar_equivalent`), masked, and
converted back; :meth:`PlaneMasker.apply` then returns a *new* frame carrying the original's
timestamps and colour properties. Formats FFmpeg can read but not write (``pal8``) come back in
the planar format.
"""

from __future__ import annotations

import logging

import av
import numpy as np

from ..boxes import grow_boxes
from ..detections import Detections
from .color import frame_full_range, frame_matrix, rgb_to_codes
from .config import MaskConfig
from .kernels import blur_boxes, fill_boxes, pixelate_boxes
from .layout import Layout, PlaneSpec, plane_layout, plane_rows, planar_equivalent

__all__ = ["PlaneMasker", "fill_codes", "scaled_boxes"]

logger = logging.getLogger(__name__)

#: Box-blur passes; three approximate a Gaussian of sigma ~ radius.
BLUR_PASSES = 3

# Frame attributes carried over to the frame returned by the conversion fallback.
_CARRIED = ("pts", "dts", "duration", "time_base", "pict_type", "colorspace", "color_range",
            "color_trc", "color_primaries", "opaque")


def scaled_boxes(xyxy: np.ndarray, scale: float, width: int, height: int) -> np.ndarray:
    """Boxes enlarged by ``scale`` about their centres, as float64 luma coordinates.

    Coordinates are first clamped to a few frame sizes around the picture, so infinite values
    reach the edge and the kernels' integer arithmetic cannot overflow; the kernels clip to each
    plane themselves, which keeps an ellipse or block grid of a box crossing the edge unchanged.

    Raises:
        ValueError: a coordinate is NaN.
    """
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    if np.isnan(boxes).any():
        raise ValueError(f"mask: expected finite box coordinates, got NaN in {boxes.tolist()}")
    limit = 4.0 * max(width, height) + 16.0
    boxes = np.clip(boxes, -limit, limit)
    if scale != 1.0:
        boxes = grow_boxes(boxes, scale, dtype=np.float64)
    return np.ascontiguousarray(boxes)


def fill_codes(color: tuple[int, int, int], frame: av.VideoFrame, layout: Layout
               ) -> tuple[int, int, int]:
    """Codes of ``color`` for components 0, 1, 2 of ``frame``'s format (shift included).

    Uses the frame's colour space (unspecified: BT.601 below 720 lines, else BT.709), its range
    (``yuvj*`` and RGB formats are full range) and the format's bit depth.
    """
    name = frame.format.name
    if layout.is_rgb:
        matrix = "gbr"
    else:
        matrix = frame_matrix(frame.colorspace, frame.height)
    full = frame_full_range(frame.color_range, name, layout.is_rgb)
    codes = rgb_to_codes(color, matrix, full, layout.bits)
    return tuple(c << layout.shift for c in codes)  # type: ignore[return-value]


def _channel_views(frame: av.VideoFrame, spec: PlaneSpec, dtype: np.dtype) -> list[np.ndarray]:
    """Writable views, one per channel, of plane ``spec.index`` of ``frame`` (no copy)."""
    plane = frame.planes[spec.index]
    n = len(spec.components)
    rows = plane_rows(frame, spec.index, dtype)
    if n == 1:
        return [rows[:, : plane.width]]
    return [rows[:, c : plane.width * n : n] for c in range(n)]


class PlaneMasker:
    """Mask boxes on a frame's own planes with the Numba kernels.

    Args:
        config: what to paint (mode, shape, scale, colour, blocks, blur strength).

    Example:
        >>> import av, numpy as np
        >>> from avanon.detections import Detections
        >>> frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
        >>> frame = frame.reformat(format="yuv420p")
        >>> out = PlaneMasker(MaskConfig(mode="solid", color=(255, 255, 255))).apply(
        ...     frame, Detections.from_boxes([[8, 8, 24, 24]]))
        >>> y = out.to_ndarray()[:48]
        >>> out is frame, int(y[8, 8]), int(y[30, 30])
        (True, 235, 16)
    """

    def __init__(self, config: MaskConfig | None = None) -> None:
        self.config = config if config is not None else MaskConfig()
        self._layouts: dict[str, Layout | None] = {}

    def __repr__(self) -> str:
        return f"PlaneMasker({self.config!r})"

    def _layout(self, name: str) -> Layout | None:
        if name not in self._layouts:
            self._layouts[name] = plane_layout(name)
        return self._layouts[name]

    def apply(self, frame: av.VideoFrame, dets: Detections) -> av.VideoFrame:
        """Mask every box of ``dets`` in ``frame``.

        Args:
            frame: a decoded (software) frame; boxes are in its coded-picture pixels.
            dets: the boxes; scores, classes and tracks are ignored.

        Returns:
            ``frame`` itself, modified in place, for every planar or semi-planar format (and
            unchanged when ``dets`` is empty). For other formats a new frame in the same format,
            with the same timestamps and colour properties; ``frame`` is left as it was.

        Raises:
            ValueError: a box coordinate is NaN, or the frame is a hardware frame (download it
                to system memory first).
        """
        if len(dets) == 0:
            return frame
        boxes = scaled_boxes(dets.xyxy, self.config.scale, frame.width, frame.height)
        layout = self._layout(frame.format.name)
        if layout is None:
            return self._apply_converted(frame, boxes)
        frame.make_writable()
        self._apply_planes(frame, boxes, layout)
        return frame

    def _apply_planes(self, frame: av.VideoFrame, boxes: np.ndarray, layout: Layout) -> None:
        cfg = self.config
        ellipse = cfg.shape == "ellipse"
        codes = fill_codes(cfg.color, frame, layout) if cfg.mode == "solid" else (0, 0, 0)
        for spec in layout.planes:
            for comp, view in zip(spec.components, _channel_views(frame, spec, layout.dtype)):
                if cfg.mode == "solid":
                    fill_boxes(view, boxes, spec.sx, spec.sy, ellipse, codes[comp])
                elif cfg.mode == "pixelate":
                    pixelate_boxes(view, boxes, spec.sx, spec.sy, ellipse, cfg.blocks,
                                   layout.align, layout.shift)
                else:
                    blur_boxes(view, boxes, spec.sx, spec.sy, ellipse, cfg.blur_strength,
                               BLUR_PASSES, layout.shift)

    def _apply_converted(self, frame: av.VideoFrame, boxes: np.ndarray) -> av.VideoFrame:
        """Mask a frame in a format the kernels cannot address, through a planar copy."""
        name = frame.format.name
        if not frame.format.components:
            raise ValueError(
                f"mask: expected a frame in system memory, got hardware format {name!r}"
            )
        target = planar_equivalent(name)
        layout = self._layout(target)
        if layout is None:  # pragma: no cover - planar_equivalent only names planar formats
            raise ValueError(f"mask: no planar equivalent for pixel format {name!r}")
        work = frame.reformat(format=target)
        _carry(frame, work)
        self._apply_planes(work, boxes, layout)
        try:
            out = work.reformat(format=name)
        except av.FFmpegError:
            logger.debug("mask: cannot convert back to %s; returning %s", name, target)
            out = work
        _carry(frame, out)
        return out


def _carry(src: av.VideoFrame, dst: av.VideoFrame) -> None:
    """Copy timestamps and colour properties from ``src`` to ``dst`` where PyAV allows it."""
    for attr in _CARRIED:
        try:
            setattr(dst, attr, getattr(src, attr))
        except (AttributeError, TypeError, ValueError):
            pass
