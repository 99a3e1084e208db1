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
              "no_motion")


def dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, config) -> int | None:
    """Run IN if it is an image (or a folder); None when it is for the video path."""
    from .media.image import anonymize_image, image_kind

    if args.input == "-" or not Path(args.input).is_file() or image_kind(args.input) is None:
        return None
    given = _given(parser, args, VIDEO_ONLY)
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
