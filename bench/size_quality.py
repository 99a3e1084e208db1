"""Output size and quality of the default encode on every clip in ../shared/media/video.

For each clip: anonymize with a fixed box (so the detector does not matter), then report the
output/input size ratio, the mean and minimum luma PSNR of the output against the decoded input
outside the box, and the run's fps.

    python bench/size_quality.py [--media ../shared/media/video] [--crf N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

import avanon
from avanon.detections import Detections
from avanon.media.encode import EncodeConfig
from avanon.track.config import TrackConfig

BOX = (16, 16, 80, 80)


class FixedBox:
    def detect(self, frames, indices):
        return [Detections.from_boxes([BOX], frame_index=i, pts=f.pts) for f, i in zip(frames, indices)]


def psnr_outside(a: av.VideoFrame, b: av.VideoFrame) -> float:
    ya = a.to_ndarray(format="gray").astype(np.float64)
    yb = b.to_ndarray(format="gray").astype(np.float64)
    keep = np.ones(ya.shape, bool)
    keep[BOX[1] - 8:BOX[3] + 8, BOX[0] - 8:BOX[2] + 8] = False
    mse = float(np.mean((ya[keep] - yb[keep]) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255 * 255 / mse)


def main() -> int:
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=here.parent / "shared" / "media" / "video")
    ap.add_argument("--crf", type=float)
    args = ap.parse_args()
    if not args.media.is_dir():
        print(f"no media folder at {args.media}", file=sys.stderr)
        return 2
    clips = sorted(p for p in args.media.rglob("*") if p.suffix.lower() in (".mp4", ".mkv", ".mpg", ".mov"))
    cfg = avanon.Config(track=TrackConfig(enabled=False), encode=EncodeConfig(crf=args.crf))
    print(f"{'clip':48s} {'codec':>10s} {'size ratio':>10s} {'PSNR mean':>9s} {'PSNR min':>8s} {'fps':>6s}")
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            out = Path(tmp) / clip.name
            s = avanon.anonymize(clip, out, cfg, detector=FixedBox())
            with av.open(str(clip)) as ca, av.open(str(out)) as cb:
                ps = [psnr_outside(x, y) for x, y in zip(ca.decode(video=0), cb.decode(video=0))]
            ratio = out.stat().st_size / clip.stat().st_size
            print(f"{str(clip.relative_to(args.media)):48s} {s.encoder:>10s} {ratio:10.2f} "
                  f"{np.mean(ps):9.1f} {np.min(ps):8.1f} {s.fps:6.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
