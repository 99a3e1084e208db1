"""Leak-rate benchmark: how often a face or plate shows through, with and without tracking.

One command builds the sequences (cached in bench/out/leak/seq), anonymizes them with the
``avanon`` CLI in solid black under each configuration, and prints a table per sequence::

    python bench/leak/run.py                 # all configurations, faces and 70 plate stills
    python bench/leak/run.py --classes face --config "hold1s=--hold 1s --lookahead 10"
    python bench/leak/run.py --classes crowd,plate_hires --rows default,deface

Sequences (``--classes``): ``face``, ``plate``, ``crowd`` (small faces, fast pans; avanon runs
with ``--classes face``), ``crowd_still`` (the same faces before a fixed camera, with photos
walking across) and ``plate_hires`` (2560x1440; ``--classes plate``); see make_sequences.py.

Rows: detection only (``--no-track``), tracking with hold, tracking with hold and lookahead
(these two with ``--detect-every 1``: avanon's default detects on fewer frames), ``--detect-every
2`` and ``3`` (with hold and lookahead), ``--config`` rows, and deface (face sequences only) when
it is installed. ``--rows`` picks rows by name, in that order; besides those names it knows
``default`` (avanon with no tracking or schedule option: its current defaults) and ``deface``.
deface is found as ``--deface``, else ``$DEFACE``, else ``deface`` on the PATH, and run as
``deface IN -o OUT --replacewith solid`` (``--deface-args``; its other defaults: threshold 0.2,
ellipse masks scaled 1.3).

Columns: frame leak, object leak, over-masked area (share of the picture, and change from
detection only) and throughput (frames / wall time of the whole command, model loading
included); then the frame leak by ground-truth box width (output px) per row, with its
over-masked area again. See measure.py for the definitions.
"""

from __future__ import annotations

import argparse
import json
import os
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
    every1 = ["--detect-every", "1"]  # avanon's default skips frames; these rows detect on all
    return {
        "detection only": ["--no-track"],
        f"hold {hold}": ["--hold", hold, "--lookahead", "0", *every1],
        f"hold {hold} + lookahead {lookahead}": both + every1,
        "detect-every 2": both + ["--detect-every", "2"],
        "detect-every 3": both + ["--detect-every", "3"],
    }


def run_avanon(src: Path, dst: Path, label: str, args: list[str], extra: list[str]) -> float:
    """Anonymize ``src`` with the CLI (detector class ``label``); the wall time."""
    cmd = [sys.executable, "-m", "avanon", str(src), str(dst), "-y", "--mode", "solid",
           "--color", "0,0,0", "--quiet", "--classes", label, *args, *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def run_deface(src: Path, dst: Path, exe: str, args: list[str]) -> float:
    """Anonymize ``src`` with deface (``exe``), a solid black mask by default; the wall time."""
    cmd = [exe, str(src), "-o", str(dst), *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def table(label: str, rows: list[dict]) -> str:
    """The main table of one sequence, then its leak by object size."""
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
    return "\n".join(lines) + "\n\n" + size_table(rows)


def size_table(rows: list[dict]) -> str:
    """Frame leak per bucket of ground-truth box width (recall = 1 - leak), over-masked beside."""
    labels = measure.size_labels()
    head = (f"{'frame leak by box width (px)':<32}" + "".join(f"{x:>8}" for x in labels)
            + f" {'over-masked':>11}")
    lines = [head, "-" * len(head),
             f"{'evaluated boxes':<32}" + "".join(f"{n:>8}" for n in rows[0]["size_evaluated"])]
    for r in rows:
        cells = "".join(f"{'-':>8}" if v is None else f"{v * 100:7.1f}%" for v in r["size_leak"])
        lines.append(f"{r['config']:<32}{cells} {r['over_masked'] * 100:10.3f}%")
    return "\n".join(lines)


def select_rows(configs: dict[str, list[str]], names: list[str], deface: bool,
                face: bool) -> list[tuple[str, list[str] | None]]:
    """The rows to run: all (and deface when ``deface`` and ``face``) without ``names``, else
    those names in that order; ``default`` = no tracking option, ``deface`` = deface (None)."""
    if not names:
        return list(configs.items()) + ([("deface", None)] if deface and face else [])
    rows: list[tuple[str, list[str] | None]] = []
    for name in names:
        if name in configs:
            rows.append((name, configs[name]))
        elif name == "default":
            rows.append((name, []))
        elif name == "deface":
            if deface and face:
                rows.append((name, None))
        else:
            raise SystemExit(f"unknown row {name!r}: one of {', '.join([*configs, 'default', 'deface'])}")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classes", default="face,plate",
                    help=f"sequences, comma-separated: {', '.join(make_sequences.LABELS)}")
    ap.add_argument("--plates", type=int, default=70, help="plate stills (70 = valid split, 315 = all)")
    ap.add_argument("--hold", help="hold for the tracking rows (default: avanon's)")
    ap.add_argument("--lookahead", type=int, help="lookahead for the tracking rows (default: avanon's)")
    ap.add_argument("--config", action="append", default=[], metavar="NAME=ARGS",
                    help="extra row: a name and avanon arguments, e.g. 'hold1s=--hold 1s'")
    ap.add_argument("--rows", default="", metavar="NAME,...",
                    help="run only these rows, in this order, e.g. 'default,deface' "
                         "(names of the standard and --config rows, default, deface)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only this row (repeatable; added to --rows)")
    ap.add_argument("--extra", default="", help="arguments added to every avanon run, e.g. '--threads 2'")
    ap.add_argument("--deface", default=os.environ.get("DEFACE") or shutil.which("deface"),
                    help="deface executable (default: $DEFACE, else deface on the PATH)")
    ap.add_argument("--deface-args", default="--replacewith solid",
                    help="deface options (default: '--replacewith solid', a black mask)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    configs = configurations(args.hold, args.lookahead)
    for spec in args.config:
        name, _, rest = spec.partition("=")
        configs[name.strip()] = shlex.split(rest)
    names = [n.strip() for n in args.rows.split(",") if n.strip()] + args.only
    extra = shlex.split(args.extra)
    deface = args.deface if args.deface and shutil.which(args.deface) else None
    results_path = args.out / "results.json"
    results: dict[str, list[dict]] = {}
    if results_path.exists():  # keep the other sequences' last results
        results = json.loads(results_path.read_text())
    select_rows(configs, names, True, True)  # unknown row names fail before any sequence is built
    face_seen = False
    for label in [c.strip() for c in args.classes.split(",") if c.strip()]:
        cls = make_sequences.CLASS.get(label)
        if cls is None:
            raise SystemExit(f"unknown sequence {label!r}: one of {', '.join(make_sequences.LABELS)}")
        face_seen |= cls == "face"
        src, gt = make_sequences.ensure(args.out / "seq", label, args.plates)
        rows = []
        for name, cli_args in select_rows(configs, names, bool(deface), cls == "face"):
            dst = args.out / "runs" / f"{src.stem}-{name.replace(' ', '_').replace('/', '_')}.mp4"
            dst.parent.mkdir(parents=True, exist_ok=True)
            print(f"[{label}] {name} ...", file=sys.stderr, flush=True)
            if cli_args is None:
                elapsed = run_deface(src, dst, deface, shlex.split(args.deface_args))
            else:
                if name == "detection only":  # raw detections, for replay.py
                    cli_args = cli_args + ["--export-detections",
                                           str(args.out / "runs" / f"{src.stem}-detections.json")]
                elapsed = run_avanon(src, dst, cls, cli_args, extra)
            res = measure.evaluate(src, dst, gt)
            rows.append({"config": name, "args": cli_args, "frames": res.frames,
                         "evaluated": res.evaluated, "objects": res.objects,
                         "frame_leak": res.frame_leak, "object_leak": res.object_leak,
                         "over_masked": res.over_masked, "fps": res.frames / elapsed,
                         "size_edges": list(measure.SIZE_EDGES),
                         "size_evaluated": res.size_evaluated, "size_uncovered": res.size_uncovered,
                         "size_leak": res.size_leak, "leaked": res.leaked})
        if not rows:
            continue
        results[label] = rows
        print(table(label, rows), flush=True)
        print(flush=True)
    if face_seen and not deface and (not names or "deface" in names):
        print("deface is not installed: no reference row (pip install deface==1.5.0, "
              "or point --deface / $DEFACE at it)")
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
