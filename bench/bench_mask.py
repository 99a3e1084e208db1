"""Mask stage microbenchmarks: each mode x shape on a 1920x1080 yuv420p frame.

Run with::

    python -m pytest bench/bench_mask.py --benchmark-enable

Each benchmark masks five boxes (about 0.26 megapixels of luma in total) on the frame's own
planes. ``extra_info`` records the box area and the median and mean time per megapixel of box area, the
figure that scales to other box sizes.
"""

from __future__ import annotations

import av
import numpy as np
import pytest

from avanon.detections import Detections
from avanon.mask import MaskConfig, PlaneMasker

WIDTH, HEIGHT = 1920, 1080

#: Faces of a few sizes and one licence-plate-like box; one crosses the right edge.
BOXES = np.array(
    [
        [100.0, 120.0, 340.0, 420.0],
        [700.5, 300.25, 900.0, 560.0],
        [1300.0, 500.0, 1420.0, 650.0],
        [1780.0, 40.0, 2000.0, 330.0],
        [400.0, 800.0, 900.0, 950.0],
    ],
    np.float32,
)


def _box_megapixels() -> float:
    clipped = np.clip(BOXES, 0, [WIDTH, HEIGHT, WIDTH, HEIGHT])
    return float(np.prod(clipped[:, 2:] - clipped[:, :2], axis=1).sum()) / 1e6


def _frame() -> av.VideoFrame:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


@pytest.mark.parametrize("shape", ["box", "ellipse"])
@pytest.mark.parametrize("mode", ["pixelate", "solid", "blur"])
def test_mask_yuv420p_1080p(benchmark, mode: str, shape: str) -> None:
    masker = PlaneMasker(MaskConfig(mode=mode, shape=shape))
    frame = _frame()
    dets = Detections.from_boxes(BOXES)
    masker.apply(frame, dets)  # compile (or load the Numba cache) outside the timing
    benchmark(masker.apply, frame, dets)
    megapixels = _box_megapixels()
    benchmark.extra_info["box_megapixels"] = round(megapixels, 4)
    if benchmark.stats is not None:  # None when run with --benchmark-disable
        stats = benchmark.stats.stats
        benchmark.extra_info["ms_per_megapixel_median"] = round(stats.median * 1e3 / megapixels, 4)
        benchmark.extra_info["ms_per_megapixel_mean"] = round(stats.mean * 1e3 / megapixels, 4)
