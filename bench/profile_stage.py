"""Where each core-millisecond of the anonymize stage goes, per frame, at the default settings.

Decodes the first frames of a video, then pushes them through :class:`avanon.Anonymizer` (no
encoder) with each part wrapped: the models, FFmpeg's scaling for the detectors, the crops, the
measured motion, the shot-cut test, the tracker and the masks. A part's cost is the CPU time of
the whole process (all threads, so onnxruntime's pool is counted) while it runs; what is left
over is the glue between them. A 20-frame warm-up run comes first (sessions, caches).

    python bench/profile_stage.py bench/out/throughput/tos_720p.mp4 [--frames 240] [-- avanon options]

On a machine whose cores the encoder already fills, this is what anonymizing takes from the
transcode (compare with the ``core ms/f`` of ``bench/throughput.py``).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time

import av

import avanon
import avanon.detect.stage as stage_module
from avanon.cli import build_parser, config_from_args


def timed(totals: dict, label: str, fn):
    def wrapper(*args, **kwargs):
        t0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[label] += time.process_time() - t0
    return wrapper


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("options", nargs="*", help="avanon CLI options (after --)")
    argv = list(sys.argv[1:] if argv is None else argv)
    # argparse gives a positional list nothing once the first positional is read: split at --
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[: len(argv) - len(extra) - (1 if extra else 0)])
    options = [*args.options, *extra]
    config = config_from_args(build_parser().parse_args([args.video, "out.mp4", *options]))
    with av.open(args.video) as src:
        vin = src.streams.video[0]
        frames = []
        for frame in src.decode(vin):
            frames.append(frame)
            if len(frames) >= args.frames:
                break
        size, fps = (vin.width, vin.height), float(vin.average_rate or 25)
    totals: dict[str, float] = collections.defaultdict(float)
    stage_module.detector_input = timed(totals, "FFmpeg scaling for the detectors",
                                        stage_module.detector_input)
    stage_module.crop_batch = timed(totals, "crops (Numba)", stage_module.crop_batch)
    for run in (frames[:20], frames):
        anon = avanon.Anonymizer.from_config(config, frame_size=size, fps=fps)
        for det, name in zip(anon.detector.detectors, anon.detector.timings):
            det.detect = timed(totals, f"model {name}", det.detect)
        if anon.motion is not None:
            anon.motion.push = timed(totals, "measured motion per frame", anon.motion.push)
        if anon.cut_detector is not None:
            anon.cut_detector.update = timed(totals, "shot-cut test", anon.cut_detector.update)
        anon.masker.apply = timed(totals, "masking", anon.masker.apply)
        anon.tracker.update = timed(totals, "tracking (motion per box included)",
                                    anon.tracker.update)
        totals.clear()
        c0, t0 = time.process_time(), time.perf_counter()
        for frame in run:
            anon.push(frame)
        anon.flush()
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    n = len(frames)
    print(f"{args.video}: {n} frames, anonymize stage {1000 * cpu / n:.1f} core ms per frame "
          f"({1000 * wall / n:.1f} ms wall)")
    for label, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {label:40s} {1000 * seconds / n:6.1f}")
    print(f"  {'the rest (predictions, glue)':40s} {1000 * (cpu - sum(totals.values())) / n:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
