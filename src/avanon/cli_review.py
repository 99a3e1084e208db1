"""CLI pieces of review and re-render: ``avanon detect IN FILE.json`` and ``--detections``.

``avanon detect`` takes the main command's options; those that only shape the rendered video
(mask, encoding, container) are refused with a one-line usage error rather than ignored, and so
are the detection and tracking options next to ``--detections`` (the file holds final boxes).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Iterable

__all__ = ["detect_main", "refuse_with_detections"]

#: Options that only change the rendered video: meaningless for ``avanon detect``.
RENDER_ONLY = ("mode", "shape", "mask_scale", "color", "codec", "crf", "bitrate", "preset",
               "keep_metadata", "keep_other_video", "format", "export_detections",
               "detections")
#: Options that change what is detected or tracked: meaningless with ``--detections``.
DETECT_ONLY = ("threshold", "det_size", "model_dir", "plate_model", "no_track", "hold", "lookahead",
               "detect_every", "redetect", "rescan", "no_motion")


def _given(parser: argparse.ArgumentParser, args: argparse.Namespace,
           dests: Iterable[str]) -> list[str]:
    """The flags among ``dests`` set to something other than their default."""
    flags = {a.dest: max(a.option_strings, key=len) for a in parser._actions if a.option_strings}
    return [flags[d] for d in dests
            if d in flags and getattr(args, d, None) != parser.get_default(d)]


def refuse_with_detections(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage error (exit 2) when ``--detections`` comes with detection or tracking options."""
    if getattr(args, "detections", None):
        given = _given(parser, args, DETECT_ONLY)
        if given:
            parser.error(f"{', '.join(given)}: no effect with --detections (the file holds the "
                         "final boxes; only the mask options and --classes apply)")


def detect_main(argv: list[str]) -> int:
    """``avanon detect IN FILE.json [options]``: write the detections file, render nothing."""
    from .cli import EXIT_USAGE, _as_cli, _progress_printer, build_parser, config_from_args
    from .errors import ConfigError
    from .review import detect_to_file

    parser = build_parser()
    parser.prog = "avanon detect"
    parser.description = ("Detect and track faces and plates, and write every frame's final "
                          "boxes to a JSON file for review, without rendering a video. Render "
                          "the reviewed file with: avanon IN OUT --detections FILE.json")
    for action in parser._actions:
        if action.dest == "output":
            action.help = "the detections file to write (JSON)"
    args = parser.parse_args(argv)
    if args.output == "-":
        parser.error("avanon detect writes a file: give its name instead of '-'")
    given = _given(parser, args, RENDER_ONLY)
    if given:
        parser.error(f"{', '.join(given)}: no effect with avanon detect (it renders nothing)")
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"avanon: error: {_as_cli(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    src = "pipe:0" if args.input == "-" else args.input
    show = _progress_printer() if (not args.quiet and sys.stderr.isatty()) else None
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING,
                        format="avanon: %(message)s")
    summary = detect_to_file(src, args.output, config, overwrite=args.overwrite, progress=show)
    if show is not None:
        sys.stderr.write("\n")
    if not args.quiet:
        print(summary.line(), file=sys.stderr)
    return 0
