"""Speed-up from running pieces at once: one long video in segments, and a folder of files.

    python bench/scale.py [--video PATH] [--folder DIR] [--engines local,ray] [--jobs 2]

For the video: one process (:func:`avanon.anonymize`), then split runs on each engine
(:func:`avanon.segments.anonymize_segmented`), with the time of each phase of a split run
(plan: a demux pass; segments: the parallel part; join: a remux pass) and the serial share that
bounds the speed-up on N machines (Amdahl). For the folder: ``--jobs 1``, then each engine.
Defaults to ../shared/media (skipped with a reason when absent). Outputs go to a temporary
folder. Numbers are wall-clock seconds on this machine at default settings.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media" / "video"
VIDEO = MEDIA / "intel" / "one-by-one-person-detection.mp4"
FOLDER = [MEDIA / "grid", MEDIA / "derived", MEDIA / "tears_of_steel"]


def _timed(run, *args, **kwargs):
    """``run(*args, **kwargs)`` and its wall-clock seconds."""
    t = time.perf_counter()
    result = run(*args, **kwargs)
    return result, time.perf_counter() - t


def _on(name: str, jobs: int, run, *args, **kwargs):
    """``run(..., engine=E)`` on a fresh engine ``name``: result, seconds, the engine."""
    from avanon.engine import LocalEngine, RayEngine

    engine = LocalEngine(jobs) if name == "local" else RayEngine()
    try:
        result, wall = _timed(run, *args, engine=engine, **kwargs)
    finally:
        engine.close()
    return result, wall, engine


def bench_video(path: Path, engines: list[str], jobs: int, out: Path) -> None:
    import avanon
    from avanon.segments import anonymize_segmented

    avanon.anonymize(path, out / "warm.mp4", overwrite=True)  # models, Numba cache
    one, base = _timed(avanon.anonymize, path, out / "one.mp4", overwrite=True)
    print(f"\n{path.name}: {one.frames} frames")
    print(f"{'run':<28}{'wall s':>8}{'fps':>8}{'x one':>8}   phases (s)")
    print(f"{'one process':<28}{base:8.1f}{one.frames / base:8.1f}{1.0:8.2f}")
    for name in engines:
        s, wall, engine = _on(name, jobs, anonymize_segmented, path, out / f"{name}.mp4",
                              overwrite=True)
        ph = s.timings
        phases = " ".join(f"{k} {v:.2f}" for k, v in ph.items())
        label = f"{name}, {engine.slots} at once"
        print(f"{label:<28}{wall:8.1f}{s.frames / wall:8.1f}{base / wall:8.2f}   {phases}")
        parts = s.segments
        if ph and parts:
            # Amdahl on paper: the serial passes, one worker's start-up (models, caches), then
            # each of N workers' share of the frames plus its overlap (warm-up + run-out), at
            # the per-frame cost measured in these workers (one per core here)
            serial = ph["plan"] + ph["setup"] + ph["join"]
            pushed = sum(r.frames_pushed for r in parts)
            cost = sum(r.seconds - r.startup for r in parts) / max(1, pushed)
            startup = max(r.startup for r in parts)
            overlap = (pushed - s.frames) / max(1, len(parts) - 1)
            print(f"{'':<28}per frame {cost * 1000:.1f} ms/worker; start-up {startup:.1f} s; "
                  f"overlap {overlap:.0f} frames a segment; serial {serial:.2f} s")
            for n in (4, 16, 64):
                est = serial + startup + (s.frames / n + (overlap if n > 1 else 0)) * cost
                print(f"{'':<28}paper: {n} machines (one worker each, as fast as these) -> "
                      f"{est:.1f} s ({base / est:.1f}x one process)")


def bench_folder(dirs: list[Path], engines: list[str], jobs: int, out: Path) -> None:
    from avanon.batch import anonymize_folder

    src = out / "folder-in"
    src.mkdir()
    n = 0
    for d in dirs:
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in (".mp4", ".mpg", ".mkv"):
                os.symlink(f, src / f"{n:02d}-{f.name}")
                n += 1
    one, base = _timed(anonymize_folder, src, out / "f1", jobs=1)
    frames = sum(r.frames for r in one.of("ok"))
    print(f"\nfolder of {n} videos, {frames} frames")
    print(f"{'run':<28}{'wall s':>8}{'fps':>8}{'x one':>8}")
    print(f"{'--jobs 1':<28}{base:8.1f}{frames / base:8.1f}{1.0:8.2f}")
    for name in engines:
        _, wall, engine = _on(name, jobs, anonymize_folder, src, out / f"f-{name}")
        label = f"{name}, {engine.slots} at once"
        print(f"{label:<28}{wall:8.1f}{frames / wall:8.1f}{base / wall:8.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", type=Path, default=VIDEO)
    ap.add_argument("--folder", type=Path, action="append")
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--skip", choices=("video", "folder"), action="append", default=[])
    args = ap.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    if "ray" in engines:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            print("ray is not installed: skipping the ray engine (pip install 'avanon[ray]')")
            engines.remove("ray")
    if not args.video.is_file():
        print(f"skipped: {args.video} is absent (the project's shared media)")
        return 0
    out = Path(tempfile.mkdtemp(prefix="avanon-scale-"))
    try:
        print(f"{os.cpu_count()} cores; local engine: {args.jobs} processes")
        if "video" not in args.skip:
            bench_video(args.video, engines, args.jobs, out)
        if "folder" not in args.skip:
            bench_folder(args.folder or FOLDER, engines, args.jobs, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
