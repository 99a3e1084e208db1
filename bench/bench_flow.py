"""Measured-motion timings (avanon.track.flow) per 720p and 1080p frame.

Run with::

    python bench/bench_flow.py [--repeat 30]

Prints the median time of each step on synthetic textured frames panned by a known amount:

* ``luma``: copying the luma plane out of a yuv420p frame (done once per frame by ``push``);
* ``pyramid``: the 1/4 and 1/8 copies (once per frame, when its global motion is first asked);
* ``global``: pan + zoom between two frames whose copies exist (once per frame pair);
* ``boxes N``: :meth:`MotionEstimator.move` of N boxes of 24 px on top of that, with the camera
  still (one search window per box) and panning 12 px/frame (two windows: the global motion
  and no motion);
* ``mv decode``: decoding an x264 clip (no B-frames) with and without ``+export_mvs``, and
  ``mv read``: :func:`motion_vectors` plus :func:`vector_shift` for 10 boxes.

The machine's other load shows in the figures: compare runs made side by side.
"""

from __future__ import annotations

import argparse
import io
import time

import av
import numpy as np

from avanon.track.flow import (MotionEstimator, _Pyramid, _global, enable_motion_vectors, luma,
                               motion_vectors, vector_shift)

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def _picture(w: int, h: int, seed: int = 0) -> np.ndarray:
    """Smooth random texture with detail at several scales, (h, w) float."""
    rng = np.random.default_rng(seed)
    out = np.full((h, w), 128.0)
    for cell, amp in ((48, 40), (12, 25), (3, 15)):
        g = rng.normal(size=(h // cell + 2, w // cell + 2))
        up = np.kron(g, np.ones((cell, cell)))[:h, :w]
        k = np.ones(cell) / cell  # soften the blocks a little
        up = np.apply_along_axis(lambda r: np.convolve(r, k, "same"), 1, up)
        out += amp * up
    return out


def _frames(w: int, h: int, pan: tuple[int, int], n: int = 2) -> list[np.ndarray]:
    m = 8 + max(abs(pan[0]), abs(pan[1])) * n
    big = _picture(w + 2 * m, h + 2 * m)
    out = []
    for i in range(n):
        x, y = m - pan[0] * i, m - pan[1] * i
        out.append(np.clip(big[y:y + h, x:x + w], 0, 255).astype(np.uint8))
    return out


def _median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def _boxes(n: int, w: int, h: int, size: float = 24.0) -> np.ndarray:
    rng = np.random.default_rng(n)
    xy = rng.uniform([40, 40], [w - 40 - size, h - 40 - size], (n, 2))
    return np.concatenate([xy, xy + size], 1)


def bench_image(name: str, w: int, h: int, repeat: int) -> None:
    a, b = _frames(w, h, (0, 0))
    frame = av.VideoFrame.from_ndarray(np.stack([a] * 3, -1), format="rgb24").reformat(
        format="yuv420p")
    print(f"{name}: luma copy            {_median_ms(lambda: luma(frame), repeat):7.3f} ms")

    def pyramid() -> None:
        _Pyramid(a, 8).level(8)

    print(f"{name}: pyramid (1/4, 1/8)   {_median_ms(pyramid, repeat):7.3f} ms")
    for pan in ((0, 0), (12, -5)):
        a, b = _frames(w, h, pan)
        pa, pb = _Pyramid(a, 8), _Pyramid(b, 8)
        pa.level(8), pb.level(8)
        g = _global(pa, pb, 0.04, 1.0)
        ms = _median_ms(lambda: _global(pa, pb, 0.04, 1.0), repeat)
        print(f"{name}: global, pan {pan!s:9} {ms:7.3f} ms   -> dx {g.dx:+.2f} dy {g.dy:+.2f} "
              f"scale {g.scale:.4f}")
        est = MotionEstimator(keep=2)
        est.push(0, a)
        est.push(1, b)
        est.global_motion(0, 1)  # cached from here on: time the boxes alone
        for n in (1, 10, 40):
            boxes = _boxes(n, w, h)
            ms = _median_ms(lambda: est.move(boxes, 0, 1), repeat)
            moved, conf = est.move(boxes, 0, 1)
            err = np.abs(moved - boxes - [*pan, *pan]).max()
            print(f"{name}: boxes {n:2d}, pan {pan!s:9}{ms:7.3f} ms   -> max error {err:.2f} px, "
                  f"min confidence {conf.min():.2f}")


def _clip(w: int, h: int, n: int) -> bytes:
    frames = _frames(w, h, (6, -2), n)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=30, options={"x264-params": "bframes=0",
                                                        "preset": "veryfast"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for f in frames:
            vf = av.VideoFrame.from_ndarray(np.stack([f] * 3, -1), format="rgb24")
            out.mux(s.encode(vf.reformat(format="yuv420p")))
        out.mux(s.encode(None))
    return buf.getvalue()


def bench_vectors(name: str, w: int, h: int, repeat: int) -> None:
    n = 20
    data = _clip(w, h, n)

    def decode(mvs: bool) -> list[av.VideoFrame]:
        with av.open(io.BytesIO(data)) as c:
            st = c.streams.video[0]
            st.thread_type = "NONE"  # single-threaded: compare like with like
            if mvs:
                enable_motion_vectors(st)
            return list(c.decode(st))

    plain = _median_ms(lambda: decode(False), max(repeat // 5, 3)) / n
    export = _median_ms(lambda: decode(True), max(repeat // 5, 3)) / n
    print(f"{name}: mv decode            {plain:7.3f} ms/frame plain, {export:.3f} with export_mvs")
    frames = decode(True)
    boxes = _boxes(10, w, h)
    f = frames[5]

    def read() -> None:
        vector_shift(motion_vectors(f), boxes)

    shift, _ = vector_shift(motion_vectors(f), boxes)
    print(f"{name}: mv read + 10 boxes   {_median_ms(read, repeat):7.3f} ms   -> median shift "
          f"{np.nanmedian(shift, axis=0).round(2).tolist()} (true [6, -2])")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    for name, (w, h) in SIZES.items():
        bench_image(name, w, h, args.repeat)
        bench_vectors(name, w, h, args.repeat)


if __name__ == "__main__":
    main()
