"""Throughput of avanon against the bare transcode it cannot beat.

For each input, runs in a fresh process each (so peak RSS is per run):
  * bare      -- PyAV decode + encode + mux with the very encoder settings avanon would use
                 (same encoder, CRF, peak cap, preset, pixel format, time base);
  * avanon    -- `avanon IN OUT` at default settings;
  * every1    -- `avanon IN OUT --detect-every 1`;
  * deface    -- deface 1.5.0 (`--replacewith solid --boxes`), if it is installed;
and prints fps, the ratio to the bare transcode, peak RSS, time to first frame and CPU time per
frame on all cores (core ms/f: what anonymizing adds to it is what it takes from the encoder on
a machine whose cores the transcode already fills). Ratios, not
absolute fps, are the figures to quote: the machines are shared and noisy.

On the leak benchmark's sequences (crowd, plate, crowd_still) every avanon mode is also measured
for leaks in the same run: the same options again with a solid mask (the masked boxes are the same; only a
solid mask can be scored) and the sequence's own class, as ``bench/leak/run.py`` does, then
frame leak, object leak and over-masked area as defined in ``bench/leak/measure.py``
(``--no-leaks`` skips this).

    python bench/throughput.py                 # 720p and 1080p clips built from ../shared/media,
                                               # and the leak benchmark's crowd, plate and
                                               # crowd_still sequences
    python bench/throughput.py my.mp4 --loop10 # any file; --loop10 adds the 10x-looped RSS check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

HERE = Path(__file__).resolve().parent
MEDIA = HERE.parent.parent / "shared" / "media" / "video"
OUT = HERE / "out" / "throughput"
SOURCE = MEDIA / "tears_of_steel" / "clip_01_tears_of_steel.mp4"


def build_clip(height: int, loops: int = 1) -> Path:
    """The Tears of Steel excerpt (faces, cuts) scaled by FFmpeg's scaler to 16:9 at ``height``."""
    OUT.mkdir(parents=True, exist_ok=True)
    width = height * 16 // 9
    dst = OUT / f"tos_{height}p{'_x%d' % loops if loops > 1 else ''}.mp4"
    if dst.exists():
        return dst
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(SOURCE)) as src, av.open(str(tmp), "w") as out:
        vin = src.streams.video[0]
        v = out.add_stream("libx264", rate=vin.average_rate,
                           options={"crf": "18", "preset": "veryfast"})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.time_base = v.codec_context.time_base = vin.time_base
        frames = [f.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC")
                  for f in src.decode(vin)]
        step = frames[1].pts - frames[0].pts
        span = frames[-1].pts + step - frames[0].pts
        for k in range(loops):
            for f in frames:
                g = f.reformat()
                g.pts = f.pts + k * span
                g.time_base = vin.time_base
                out.mux(v.encode(g))
        out.mux(v.encode(None))
    tmp.rename(dst)
    return dst


def leak_sequences() -> list[Path]:
    """The leak benchmark's crowd, plate and still-camera crowd sequences (720p), built if
    missing: the hard cases the defaults are chosen on, so their speed is measured beside their
    leaks."""
    sys.path.insert(0, str(HERE / "leak"))
    import make_sequences

    out = HERE / "out" / "leak" / "seq"
    return [make_sequences.ensure(out, label)[0] for label in ("crowd", "plate", "crowd_still")]


def bare_transcode(src: str, dst: str, encoder: str | None = None) -> dict:
    """Decode + encode + mux with exactly avanon's encoder plan, no anonymization."""
    from avanon.media.encode import EncodeConfig, plan_encoder

    t0 = time.perf_counter()
    first = None
    with av.open(src) as inp, av.open(dst, "w") as out:
        vin = inp.streams.video[0]
        vin.codec_context.thread_type = "AUTO"
        cc = vin.codec_context
        plan = plan_encoder(cc.name, cc.pix_fmt, vin.time_base, vin.average_rate,
                            vin.bit_rate or cc.bit_rate, cc.width, cc.height, EncodeConfig(codec=encoder))
        v = out.add_stream(plan.encoder, rate=vin.average_rate)
        v.width, v.height, v.pix_fmt = cc.width, cc.height, plan.pix_fmt
        v.time_base = vin.time_base
        v.codec_context.time_base = plan.time_base
        if plan.bit_rate is not None:
            v.codec_context.bit_rate = plan.bit_rate
        v.codec_context.options = dict(plan.options)
        n = 0
        for frame in inp.decode(vin):
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(v.encode(frame))
            n += 1
            if first is None:
                first = time.perf_counter() - t0
        out.mux(v.encode(None))
    el = time.perf_counter() - t0
    return {"frames": n, "elapsed": el, "first": first}


def run_avanon(src: str, dst: str, extra: list[str]) -> dict:
    from avanon.cli import build_parser, config_from_args
    from avanon.pipeline import anonymize

    args = build_parser().parse_args([src, dst, "-y", *extra])
    s = anonymize(src, dst, config_from_args(args), overwrite=True)
    return {"frames": s.frames, "elapsed": s.elapsed, "first": s.time_to_first_frame}


def deface_command() -> str | None:
    """deface from $DEFACE, else the PATH (it is never a dependency of avanon)."""
    return os.environ.get("DEFACE") or shutil.which("deface")


def run_deface(src: str, dst: str) -> dict:
    t0 = time.perf_counter()
    subprocess.run([deface_command(), src, "-o", dst, "--replacewith", "solid", "--boxes"],
                   check=True, capture_output=True)
    with av.open(dst) as c:
        n = sum(1 for _ in c.demux(video=0)) - 1
    return {"frames": n, "elapsed": time.perf_counter() - t0, "first": None}


def leak_label(src: Path) -> str | None:
    """The leak benchmark's sequence label of ``src`` (None: not one of its sequences)."""
    gt = src.with_suffix(".json")
    # resolved: a sequence named by a relative path (or through a link) is still one
    if src.resolve().parent != (HERE / "out" / "leak" / "seq").resolve() or not gt.exists():
        return None
    return {"crowd": "crowd", "plates70": "plate", "crowd_still": "crowd_still"}.get(src.stem)


def leak_of(mode: str, src: Path, label: str) -> dict:
    """Leak rates of avanon ``mode`` on the leak sequence ``src`` (see the module doc)."""
    sys.path.insert(0, str(HERE / "leak"))
    import make_sequences
    import measure
    from run import run_avanon as leak_run

    extra = {"avanon": [], "every1": ["--detect-every", "1"]}.get(mode, mode.split())
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "solid.mp4"
        leak_run(src, dst, make_sequences.CLASS[label], extra, [])
        res = measure.evaluate(src, dst, json.loads(src.with_suffix(".json").read_text()))
    return {"frame_leak": res.frame_leak, "object_leak": res.object_leak,
            "over_masked": res.over_masked}


def cpu_seconds(who: int) -> float:
    """User + system CPU seconds of this process (or of its finished children), all threads."""
    u = resource.getrusage(who)
    return u.ru_utime + u.ru_stime


def one(mode: str, src: str) -> None:
    """Child process: run one measurement, print JSON with peak RSS and CPU time."""
    who = resource.RUSAGE_CHILDREN if mode == "deface" else resource.RUSAGE_SELF
    cpu0 = cpu_seconds(who)
    with tempfile.TemporaryDirectory() as tmp:
        dst = str(Path(tmp) / ("out" + Path(src).suffix))
        if mode.startswith("bare"):
            r = bare_transcode(src, dst, mode.partition(":")[2] or None)
        elif mode == "deface":
            r = run_deface(src, dst)
        else:
            extra = {"avanon": [], "every1": ["--detect-every", "1"]}.get(mode)
            if extra is None:
                extra = mode.split()
            r = run_avanon(src, dst, extra)
    r["cpu"] = cpu_seconds(who) - cpu0
    r["rss_mb"] = resource.getrusage(who).ru_maxrss / 1024
    print(json.dumps(r))


def measure(mode: str, src: Path) -> dict:
    p = subprocess.run([sys.executable, __file__, "--one", mode, str(src)], capture_output=True,
                       text=True)
    if p.returncode:
        raise SystemExit(f"{mode} failed on {src}: {p.stderr.strip().splitlines()[-1:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="*", type=Path)
    ap.add_argument("--modes", default="bare;avanon;every1;deface", help="separated by ;")
    ap.add_argument("--loop10", action="store_true", help="also compare peak RSS on a 10x loop")
    ap.add_argument("--no-leaks", action="store_true",
                    help="skip the leak rates on the leak benchmark's sequences")
    ap.add_argument("--one", nargs=2, metavar=("MODE", "SRC"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(*args.one)
        return 0
    inputs = list(args.inputs)
    if not inputs:
        if not SOURCE.exists():
            print(f"no input given and {SOURCE} is absent", file=sys.stderr)
            return 2
        inputs = [build_clip(720), build_clip(1080), *leak_sequences()]
    modes = [m for m in args.modes.split(";") if m != "deface" or deface_command()]
    print(f"{'input':28s} {'mode':8s} {'fps':>7s} {'x bare':>7s} {'peak RSS':>9s} {'1st frame':>9s}"
          f" {'core ms/f':>9s} {'frame leak':>10s} {'obj leak':>8s} {'over-mask':>9s}")
    for src in inputs:
        base = None
        for mode in modes:
            r = measure(mode, src)
            fps = r["frames"] / r["elapsed"]
            base = fps if mode.startswith("bare") else base
            ratio = f"{fps / base:7.2f}" if base else "      -"
            first = f"{r['first']:8.2f}s" if r.get("first") else "        -"
            # CPU time on all cores per frame: on a machine whose cores the encoder already
            # keeps busy, what anonymizing adds here is what it takes from the transcode
            cpu = f" {r['cpu'] * 1000 / r['frames']:9.1f}"
            label = leak_label(src)
            leaks = ""
            if label and not args.no_leaks and not mode.startswith("bare") and mode != "deface":
                lk = leak_of(mode, src, label)
                leaks = (f" {lk['frame_leak'] * 100:9.2f}% {lk['object_leak'] * 100:7.1f}%"
                         f" {lk['over_masked'] * 100:8.1f}%")
            print(f"{src.name:28s} {mode:8s} {fps:7.1f} {ratio} {r['rss_mb']:7.0f}MB {first}{cpu}{leaks}",
                  flush=True)
        if args.loop10:
            height = av.open(str(src)).streams.video[0].codec_context.height
            looped = build_clip(height, loops=10) if src.name.startswith("tos_") else None
            if looped:
                a, b = measure("avanon", src), measure("avanon", looped)
                print(f"{'':28s} peak RSS 1x {a['rss_mb']:.0f} MB, 10x {b['rss_mb']:.0f} MB "
                      f"({(b['rss_mb'] / a['rss_mb'] - 1) * 100:+.1f} %)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
