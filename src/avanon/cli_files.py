"""CLI routing by what IN is: a photo (:mod:`avanon.media.image`) or a folder
(:mod:`avanon.batch`); a video goes on to :func:`avanon.anonymize` in :mod:`avanon.cli`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_review import _given

__all__ = ["dispatch"]

#: Options that only concern video: refused for a single image.
VIDEO_ONLY = ("codec", "crf", "bitrate", "preset", "hwaccel", "format", "keep_other_video",
              "video_stream", "hold", "lookahead", "detect_every", "redetect", "no_track",
              "no_motion", "vf_pre", "vf")


#: Options that make no sense for a folder.
FILE_ONLY = ("format", "export_detections", "detections")
#: Options that make sense for a folder only.
FOLDER_ONLY = ("resume",)
#: Options that spread a run over processes or machines: not for a single image.
SPREAD = ("jobs", "engine", "address")


def dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, config) -> int | None:
    """Run IN if it is an image or a folder; None when it is for the video path."""
    from .media.image import anonymize_image, image_kind

    if args.address and args.engine != "ray":
        parser.error("--address: only with --engine ray")
    if args.jobs < 1:
        parser.error(f"--jobs: expected an integer >= 1, got {args.jobs}")
    if args.input != "-" and Path(args.input).is_dir():
        return _folder(parser, args, config)
    given = _given(parser, args, FOLDER_ONLY)
    if given:
        parser.error(f"{', '.join(given)}: only for a folder input")
    if args.input == "-" or not Path(args.input).is_file() or image_kind(args.input) is None:
        return None
    given = _given(parser, args, VIDEO_ONLY + SPREAD)
    if given:
        parser.error(f"{', '.join(given)}: no effect on an image")
    if args.output == "-":
        parser.error("an image is written to a file: give its name instead of '-'")
    summary = anonymize_image(args.input, args.output, config, overwrite=args.overwrite,
                              export_detections=args.export_detections,
                              detections=args.detections)
    if not args.quiet:
        print(summary.line(), file=sys.stderr)
    return 0


def _folder(parser: argparse.ArgumentParser, args: argparse.Namespace, config) -> int:
    from .batch import anonymize_folder

    given = _given(parser, args, FILE_ONLY)
    if given:
        parser.error(f"{', '.join(given)}: not for a folder input")
    if args.output == "-":
        parser.error("a folder input needs an output folder instead of '-'")
    engine = _engine(parser, args)
    show = _batch_progress() if (not args.quiet and sys.stderr.isatty()) else None
    try:
        summary = anonymize_folder(args.input, args.output, config, jobs=args.jobs,
                                   resume=args.resume, overwrite=args.overwrite, progress=show,
                                   engine=engine)
    finally:
        if engine is not None:
            engine.close()
    if show is not None:
        sys.stderr.write("\n")
    lines = summary.lines()
    for line in lines if not args.quiet else lines[1:1 + len(summary.of("failed"))]:
        print(line, file=sys.stderr)
    return 1 if summary.failed else 0


def _engine(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """The engine the options name (None: local processes, made by the run itself).
    :func:`dispatch` has checked ``--jobs`` and ``--address`` already."""
    if args.engine != "ray":
        return None
    if args.jobs > 1:
        parser.error("--jobs: for the local engine (Ray runs as much at once as the cluster "
                     "has CPUs)")
    from .engine import RayEngine
    return RayEngine(args.address)


def segmented(parser: argparse.ArgumentParser, args: argparse.Namespace, config, src, dst,
              show=None):
    """One video in segments run at once (``--jobs N`` or ``--engine ray``)."""
    from .segments import anonymize_segmented

    if args.detections:
        parser.error("--detections: renders in one process; drop --jobs/--engine")
    engine = _engine(parser, args)
    try:
        return anonymize_segmented(src, dst, config, jobs=args.jobs, engine=engine,
                                   overwrite=args.overwrite, format_name=args.format,
                                   export_detections=args.export_detections, progress=show)
    finally:
        if engine is not None:
            engine.close()


def _batch_progress():
    def show(p) -> None:
        rate = p.frames / p.elapsed if p.elapsed > 0 else 0.0
        eta = f"ETA {max(0.0, (p.total_frames - p.frames) / rate):4.0f} s" \
            if rate > 0 and p.total_frames else "ETA    ? s"
        sys.stderr.write(f"\ravanon: files {p.files_done}/{p.files} | frames "
                         f"{p.frames}/{p.total_frames or '?'} | {eta} ")
        sys.stderr.flush()

    return show
