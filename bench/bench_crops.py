"""Crop microbenchmarks: :func:`avanon.detect.crops.crop_batch` against FFmpeg's whole-frame scale.

Run with::

    python bench/bench_crops.py [--repeat N]

Prints the median and minimum milliseconds of

* cropping 1, 10 and 40 regions of 96x96 px to 128x128 crops from 720p and 2160p yuv420p frames
  (regions spread over the picture, as for re-detection around tracked objects);
* a 2x2 and a 3x2 tiling of a 2160p frame (:func:`~avanon.detect.crops.tiles`) into 960x960
  crops;
* the current full-frame detector input, ``frame.reformat(width=960, height=544,
  format="rgb24")`` (FFmpeg's scaler, its default threads) plus ``to_ndarray``, on the same
  frames.

Numba runs on one thread; compilation (or loading the Numba cache) happens before the timing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import av
import numpy as np

from avanon.detect.crops import crop_batch, tiles

SIZES = {"720p": (1280, 720), "2160p": (3840, 2160)}


def _frame(width: int, height: int) -> av.VideoFrame:
    """A yuv420p frame of smooth gradients with some noise (content does not change timing)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) % 256], axis=-1)
    rgb = (rgb + rng.integers(0, 16, rgb.shape)).clip(0, 255).astype(np.uint8)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


def _spread_regions(n: int, width: int, height: int, side: int = 96) -> np.ndarray:
    rng = np.random.default_rng(n)
    x0 = rng.integers(0, width - side, n)
    y0 = rng.integers(0, height - side, n)
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1)


def _times_ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and minimum wall time of ``fn`` in ms (the minimum is robust to a busy host)."""
    fn()  # warm-up: Numba compile / cache load, FFmpeg scaler context
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per case (median)")
    args = parser.parse_args(argv)
    rows: list[tuple[str, tuple[float, float]]] = []
    frames = {name: _frame(*wh) for name, wh in SIZES.items()}
    for name, frame in frames.items():
        w, h = SIZES[name]
        for n in (1, 10, 40):
            regions = _spread_regions(n, w, h)
            rows.append((f"{name} crop {n:2d} x 96px -> 128x128",
                         _times_ms(lambda: crop_batch(frame, regions, (128, 128)), args.repeat)))
        rows.append((f"{name} reformat whole frame -> 960x544 rgb24",
                     _times_ms(lambda: frame.reformat(width=960, height=544,
                                                       format="rgb24").to_ndarray(),
                                args.repeat)))
    frame = frames["2160p"]
    for label, tile, overlap in (("2x2", 2000, 160), ("3x2", 1400, 120)):
        regions = tiles(3840, 2160, tile, overlap)
        rows.append((f"2160p tiles {label} ({len(regions)} x {tile}px) -> 960x960",
                     _times_ms(lambda: crop_batch(frame, regions, (960, 960)),
                                max(3, args.repeat // 4))))
    width = max(len(label) for label, _ in rows)
    print(f"{'case':<{width}}  {'median':>9}  {'min':>9}")
    for label, (median, best) in rows:
        print(f"{label:<{width}}  {median:6.2f} ms  {best:6.2f} ms")


if __name__ == "__main__":
    main()
