"""Tune tracking without re-running the detectors: replay raw detections through the tracker.

``run.py`` saves the raw detections of its detection-only run
(``bench/out/leak/runs/<sequence>-detections.json``). This script feeds them to
:class:`avanon.track.IouTracker` under a grid of settings, rasterizes the final boxes as the
masker would (``floor`` / ``ceil``) and scores them with the same rules as ``measure.py``, minus
the darkness test (no video is decoded, so it is a fast approximation to rank settings; the
figures to publish come from ``run.py``). Shot cuts come from :class:`avanon.track.ShotCutDetector`
run once over the sequence (cached next to it).

    python bench/leak/replay.py --classes plate --hold 0,0.25s,0.5s,1s --lookahead 0,5,10,15
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_sequences  # noqa: E402
import measure  # noqa: E402
from avanon.detections import Detections, class_id  # noqa: E402
from avanon.track import IouTracker, ShotCutDetector, TrackConfig  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "out" / "leak"


def cuts_of(video: Path) -> list[bool]:
    """Shot-cut flags of every frame of ``video`` (cached as ``<video>.cuts.json``)."""
    cache = video.with_suffix(".cuts.json")
    if cache.exists() and cache.stat().st_mtime >= video.stat().st_mtime:
        return json.loads(cache.read_text())
    det = ShotCutDetector()
    with av.open(str(video)) as c:
        flags = [det.update(f) for f in c.decode(video=0)]
    cache.write_text(json.dumps(flags))
    return flags


def load_detections(path: Path, label: str) -> list[Detections]:
    """Per-frame detections of class ``label`` from an ``--export-detections`` file."""
    cid = class_id(label)
    data = json.loads(path.read_text())
    out = []
    for f in data["frames"]:
        objs = [o for o in f["objects"] if o["class"] == label]
        out.append(Detections.from_boxes([o["box"] for o in objs], [o["score"] for o in objs],
                                         cid, frame_index=f["frame"], pts=f["pts"]))
    return out


def replay(raw: list[Detections], cuts: list[bool], config: TrackConfig | None, every: int,
           size: tuple[int, int], fps: float) -> list[Detections]:
    """Final detections per frame; ``config`` None = no tracking."""
    if config is None:
        return raw
    tracker = IouTracker(config, size, fps)
    out: list[Detections] = []
    for i, d in enumerate(raw):
        observed = i % every == 0
        dets = d if observed else Detections.empty(d.frame_index, d.pts)
        out += tracker.update(dets, observed=observed, cut=cuts[i])
    return out + tracker.flush()


def score(final: list[Detections], gt: dict) -> measure.Result:
    """Coverage and over-masking of ``final`` boxes against ``gt``, rasterized like the masker."""
    w, h = gt["width"], gt["height"]
    y_in = np.full((h, w), 255, np.uint8)

    def masked(dets: Detections) -> np.ndarray:
        y_out = np.full((h, w), 255, np.uint8)
        for x0, y0, x1, y1 in dets.xyxy:
            X0, Y0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
            X1, Y1 = min(int(np.ceil(x1)), w), min(int(np.ceil(y1)), h)
            y_out[Y0:Y1, X0:X1] = 16
        return y_out

    per_frame = measure.boxes_per_frame(gt)
    return measure.tally((measure.frame_stats(y_in, masked(d), objects)
                          for d, objects in zip(final, per_frame)), per_frame)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classes", default="face,plate",
                    help="sequences, comma-separated: face, plate, crowd, plate_hires")
    ap.add_argument("--plates", type=int, default=70)
    ap.add_argument("--hold", default="0,0.25s,0.5s,1s", help="comma-separated holds")
    ap.add_argument("--lookahead", default="0,5,10,15", help="comma-separated lookaheads")
    ap.add_argument("--every", default="1", help="comma-separated --detect-every values")
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="other TrackConfig option for every row, e.g. min_hits=1")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    extra = {}
    for s in args.set:
        k, _, v = s.partition("=")
        extra[k] = type(getattr(TrackConfig(), k))(v) if k != "hold" else v
    for label in [c.strip() for c in args.classes.split(",") if c.strip()]:
        video, gt = make_sequences.ensure(args.out / "seq", label, args.plates)
        dets_path = args.out / "runs" / f"{video.stem}-detections.json"
        if not dets_path.exists():
            print(f"{dets_path} missing: run bench/leak/run.py --classes {label} "
                  "--rows 'detection only' first")
            return 1
        raw = load_detections(dets_path, make_sequences.CLASS[label])
        cuts = cuts_of(video)
        size, fps = (gt["width"], gt["height"]), float(gt["fps"])
        base = score(raw, gt)
        print(f"{label}: {base.evaluated} evaluated boxes, {base.objects} objects; "
              f"{sum(cuts)} cuts found for {len(gt['shots']) - 1}")
        print(f"{'every':>5} {'hold':>6} {'look':>4} {'frame leak':>10} {'obj leak':>8} {'over':>8} {'vs det':>7}")
        print(f"{'':>5} {'det':>6} {'only':>4} {base.frame_leak * 100:9.2f}% {base.object_leak * 100:7.1f}% "
              f"{base.over_masked * 100:7.3f}%")
        for every in [int(e) for e in args.every.split(",")]:
            for hold in args.hold.split(","):
                for look in [int(x) for x in args.lookahead.split(",")]:
                    cfg = TrackConfig(hold=hold, lookahead=look, **extra)
                    r = score(replay(raw, cuts, cfg, every, size, fps), gt)
                    rel = (r.over_masked / base.over_masked - 1) * 100 if base.over_masked else 0.0
                    print(f"{every:>5} {hold:>6} {look:>4} {r.frame_leak * 100:9.2f}% "
                          f"{r.object_leak * 100:7.1f}% {r.over_masked * 100:7.3f}% {rel:+6.0f}%",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
