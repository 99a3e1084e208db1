"""Detector quality and speed on the annotated photos in ../shared/media/images.

For each class, detector size and threshold it reports

* recall: the share of ground-truth boxes that the detections (as masked: boxes already enlarged
  by the detectors) cover by at least 70 % of their area. Faces also get a loose recall (a
  detection covers the box centre, or IoU >= 0.3), because the dlib face boxes are approximate;
* false detections per image: detections that overlap no ground-truth box of their class
  (intersection under 30 % of the smaller box). Plates: the text detector also boxes other
  text, which counts as false here; faces: unannotated background faces count as false too;
* the mean detector time per image (single thread by default);

and, with ``--timing``, the time per video frame of the whole detect stage (FFmpeg scaling, the
models, decoding, plate rules) on 1280x720 and 1920x1080 frames, for faces and plates together
and for each class alone (``DetectStage.detect(classes=...)``, as a per-class scheduler runs it).

Plate boxes go through the detect stage's plausibility rules (``avanon.detect.PlateRules``: not
taller than wide, not mostly under a face), with the faces that CenterFace finds in the same
photo at the stage's default face threshold; ``--plate-rules both`` (the default) also reports
each plate model without them, as ``MODEL (no rules)``.

Data (see ../shared/media/README.md): ``plates_openimages`` (YOLO labels, class 0 = plate; 315
photos stretched to 416x416) and ``faces_dlib`` (9 group photos, 43 face boxes in
training.xml/testing.xml). The photos are whole frames, so ``det_size`` means the same as on
video: an object spanning a fraction f of the frame width is ``f * det_size`` pixels wide in the
detector input whatever the source resolution.

Run from the repository root:

    python bench/eval_detectors.py                       # default grid, markdown tables
    python bench/eval_detectors.py --sizes 640 --timing  # one size, plus per-frame timing
    python bench/eval_detectors.py --classes plate --plate-models ppocr --plate-sizes 640,960 \
        --face-sizes 640,960 --plate-thresholds 0.5         # the plate rules, before and after
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from avanon.detect.centerface import CenterFaceDetector
from avanon.detect.clpr import ClprDetector
from avanon.detect.config import DEFAULT_THRESHOLDS, DetectConfig
from avanon.detect.geometry import detector_input, detector_size, to_coded
from avanon.detect.store import ensure_models
from avanon.detect.plausible import PlateRules
from avanon.detect.stage import DetectStage
from avanon.detect.ppocr import PpocrDetector
from avanon.detections import Detections, class_id

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MEDIA = ROOT.parent / "shared" / "media"
COVER = 0.7  # a GT box is found when detections cover this share of its area


@dataclass
class Sample:
    path: Path
    cls: str  # "face" or "plate"
    gt: np.ndarray  # (G, 4) xyxy in image pixels (YOLO cx, cy, w, h until decoded if yolo)
    yolo: bool = False
    width: int = 0
    height: int = 0
    long_side: int = 0
    dets: dict = field(default_factory=dict)  # (model, size) -> (boxes, scores, seconds)


def load_faces(media: Path) -> list[Sample]:
    folder = media / "images" / "faces_dlib"
    out = []
    for xml in ("training.xml", "testing.xml"):
        p = folder / xml
        if not p.is_file():
            continue
        for img in ET.parse(p).getroot().iter("image"):
            boxes = [
                [float(b.get("left")), float(b.get("top")),
                 float(b.get("left")) + float(b.get("width")),
                 float(b.get("top")) + float(b.get("height"))]
                for b in img.iter("box")
            ]  # fmt: skip
            out.append(Sample(folder / img.get("file"), "face", np.array(boxes, np.float32)))
    return out


def load_plates(media: Path, limit: int | None = None) -> list[Sample]:
    folder = media / "images" / "plates_openimages"
    out = []
    for split in ("train", "valid"):
        for img in sorted((folder / split / "images").glob("*")):
            lab = folder / split / "labels" / (img.stem + ".txt")
            rows = []
            if lab.is_file():
                for line in lab.read_text().splitlines():
                    parts = line.split()
                    if len(parts) == 5 and parts[0] == "0":
                        rows.append([float(v) for v in parts[1:]])
            out.append(Sample(img, "plate", np.array(rows, np.float32).reshape(-1, 4), yolo=True))
    if limit:
        out = out[:limit]
    return out


def decode_image(path: Path) -> av.VideoFrame:
    with av.open(str(path)) as c:
        return next(c.decode(video=0))


def coverage(gt: np.ndarray, dets: np.ndarray, grid: int = 24) -> np.ndarray:
    """(G,) share of each GT box's area inside the union of ``dets`` (sampled on a grid)."""
    if len(gt) == 0:
        return np.zeros(0)
    if len(dets) == 0:
        return np.zeros(len(gt))
    t = (np.arange(grid) + 0.5) / grid
    gx = gt[:, None, 0] + t[None] * (gt[:, 2] - gt[:, 0])[:, None]  # (G, grid)
    gy = gt[:, None, 1] + t[None] * (gt[:, 3] - gt[:, 1])[:, None]
    px = np.repeat(gx[:, None, :], grid, axis=1).reshape(len(gt), -1)  # (G, P)
    py = np.repeat(gy[:, :, None], grid, axis=2).reshape(len(gt), -1)
    inside = (
        (px[..., None] >= dets[:, 0]) & (px[..., None] < dets[:, 2])
        & (py[..., None] >= dets[:, 1]) & (py[..., None] < dets[:, 3])
    )  # fmt: skip
    return inside.any(axis=2).mean(axis=1)


def pair_stats(gt: np.ndarray, dets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU (G, D), intersection over the smaller area (G, D), GT centre inside det (G, D)."""
    ix0 = np.maximum(gt[:, None, 0], dets[None, :, 0])
    iy0 = np.maximum(gt[:, None, 1], dets[None, :, 1])
    ix1 = np.minimum(gt[:, None, 2], dets[None, :, 2])
    iy1 = np.minimum(gt[:, None, 3], dets[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    ag = ((gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]))[:, None]
    ad = ((dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1]))[None, :]
    iou = inter / np.maximum(ag + ad - inter, 1e-6)
    iomin = inter / np.maximum(np.minimum(ag, ad), 1e-6)
    cx = (gt[:, 0] + gt[:, 2])[:, None] / 2
    cy = (gt[:, 1] + gt[:, 3])[:, None] / 2
    centre = (cx >= dets[None, :, 0]) & (cx < dets[None, :, 2]) & (cy >= dets[None, :, 1]) & (
        cy < dets[None, :, 3])
    return iou, iomin, centre


#: Buckets of GT width in detector-input pixels (width * det_size / long side of the image).
BUCKETS = (("<16", 0, 16), ("16-32", 16, 32), ("32-64", 32, 64), (">=64", 64, 1e9))


def score(samples: list[Sample], model: str, size: int, thr: float) -> dict:
    found = loose = total = false = 0
    by_bucket = {name: [0, 0] for name, _, _ in BUCKETS}
    secs = []
    for s in samples:
        boxes, scores, sec = s.dets[(model, size)]
        d = boxes[scores >= thr]
        secs.append(sec)
        total += len(s.gt)
        if len(s.gt):
            hit = coverage(s.gt, d) >= COVER
            found += int(hit.sum())
            px = (s.gt[:, 2] - s.gt[:, 0]) * size / s.long_side
            for name, lo, hi in BUCKETS:
                sel = (px >= lo) & (px < hi)
                by_bucket[name][0] += int(hit[sel].sum())
                by_bucket[name][1] += int(sel.sum())
        if len(d) == 0:
            continue
        if len(s.gt) == 0:
            false += len(d)
            continue
        iou, iomin, centre = pair_stats(s.gt, d)
        loose += int(((iou >= 0.3) | centre).any(axis=1).sum())
        false += int((iomin < 0.3).all(axis=0).sum())
    return {
        "recall": found / max(total, 1),
        "loose_recall": loose / max(total, 1),
        "false_per_image": false / max(len(samples), 1),
        "ms_per_image": 1000 * statistics.mean(secs) if secs else 0.0,
        "gt": total,
        "images": len(samples),
        **{f"recall_{k}": v[0] / max(v[1], 1) for k, v in by_bucket.items()},
        **{f"n_{k}": v[1] for k, v in by_bucket.items()},
    }


def run_models(samples, detectors: dict, sizes, log) -> None:
    for si, s in enumerate(samples):
        frame = decode_image(s.path)
        w, h = frame.width, frame.height
        s.width, s.height = w, h
        s.long_side = max(w, h)
        if s.yolo:
            s.yolo = False
            cx, cy, bw, bh = s.gt.T
            s.gt = np.stack([(cx - bw / 2) * w, (cy - bh / 2) * h,
                             (cx + bw / 2) * w, (cy + bh / 2) * h], axis=1)  # fmt: skip
        for size in sizes:
            wh = detector_size(w, h, size)
            img = detector_input(frame, wh, 0)[None]
            img = np.ascontiguousarray(img)
            for name, det in detectors.items():
                t0 = time.perf_counter()
                d = det.detect(img)[0]
                sec = time.perf_counter() - t0
                s.dets[(name, size)] = (to_coded(d.xyxy, wh, (w, h), 0), d.scores, sec)
        if log and (si + 1) % 50 == 0:
            log(f"  {si + 1}/{len(samples)} {s.cls} images")


def combine(samples, a: str, b: str, name: str, sizes) -> None:
    for s in samples:
        for size in sizes:
            ba, sa, ta = s.dets[(a, size)]
            bb, sb, tb = s.dets[(b, size)]
            s.dets[(name, size)] = (np.concatenate([ba, bb]), np.concatenate([sa, sb]), ta + tb)


def apply_plate_rules(samples, models, sizes, rules: PlateRules, faces: str = "_faces") -> None:
    """Keep each plate model's raw boxes as ``MODEL (no rules)`` and filter ``MODEL`` in place.

    The photos are upright (no rotation), so their pixels are the upright picture's; the faces
    are CenterFace's at the stage's default face threshold, as the stage would see them.
    """
    face_thr = DEFAULT_THRESHOLDS["face"]
    for s in samples:
        for size in sizes:
            fb, fs, _ = s.dets[(faces, size)]
            for model in models:
                boxes, scores, sec = s.dets[(model, size)]
                s.dets[(f"{model} (no rules)", size)] = (boxes, scores, sec)
                d = Detections.from_boxes(boxes, scores, class_id("plate"))
                keep = rules.mask(d, (s.width, s.height), faces=fb[fs >= face_thr])
                s.dets[(model, size)] = (boxes[keep], scores[keep], sec)


def clip_counts(clip: Path, sizes, threads: int, step: int = 10) -> dict:
    """Plate and face boxes DetectStage returns on every ``step``-th frame of ``clip``.

    For each det_size: faces, plates without the plate rules, plates with them (the default),
    and plates with them in plate-only calls (``classes=["plate"]``: no faces to test against).
    """
    with av.open(str(clip)) as c:
        frames = [f for i, f in enumerate(c.decode(video=0)) if i % step == 0]
    out = {"frames": len(frames)}
    for size in sizes:
        cfg = DetectConfig(det_size=size, threads=threads, batch=1)
        stage = DetectStage(cfg)
        raw = DetectStage(DetectConfig(det_size=size, threads=threads, batch=1, plate_rules=None),
                          detectors=stage.detectors)
        plate = class_id("plate")
        counts = {"faces": 0, "plates without rules": 0, "plates": 0, "plates, plate-only calls": 0}
        for i, f in enumerate(frames):
            (d,) = raw.detect([f], [i])
            counts["faces"] += int((d.class_ids != plate).sum())
            counts["plates without rules"] += int((d.class_ids == plate).sum())
            (d,) = stage.detect([f], [i])
            counts["plates"] += int((d.class_ids == plate).sum())
            (d,) = stage.detect([f], [i], classes=["plate"])
            counts["plates, plate-only calls"] += len(d)
        out[size] = counts
    return out


#: ``--timing`` rows: label -> classes passed to ``DetectStage.detect``.
TIMING_CLASSES = {"faces + plates": None, "faces only": ("face",), "plates only": ("plate",)}


def frame_timing(sizes, threads: int, media: Path, plate_model: str, reps: int = 12) -> dict:
    """Median ms per frame of DetectStage.detect on 720p and 1080p frames, per class set.

    Also the mean ms per frame of each model (``DetectStage.timings``) under ``.../models``.
    """
    clip = media / "video" / "tears_of_steel" / "clip_01_tears_of_steel.mp4"
    with av.open(str(clip)) as c:
        src = [f for i, f in zip(range(reps * 8), c.decode(video=0))][:: 8][:reps]
    out = {}
    for size in sizes:
        cfg = DetectConfig(det_size=size, threads=threads, batch=1, plate_model=plate_model)
        stage = DetectStage(cfg)
        for w, h in ((1280, 720), (1920, 1080)):
            frames = [f.reformat(width=w, height=h, format="yuv420p") for f in src]
            for label, classes in TIMING_CLASSES.items():
                stage.detect(frames[:1], [0], classes=classes)  # warm-up
                stage.reset_timings()
                times = []
                for i, f in enumerate(frames):
                    t0 = time.perf_counter()
                    stage.detect([f], [i], classes=classes)
                    times.append(time.perf_counter() - t0)
                key = f"{size}@{h}p/{label}"
                out[key] = 1000 * statistics.median(times)
                out[key + "/models"] = {
                    name: 1000 * t.seconds / t.frames
                    for name, t in stage.timings.items() if t.frames
                }
    return out


def markdown(results: dict, cls: str, sizes, thresholds, models) -> str:
    lines = []
    loose = cls == "face"
    head = "| model | det_size | threshold | recall (>=70 % covered) |"
    head += " loose recall |" if loose else ""
    head += " recall by width in detector px: " + " / ".join(b[0] for b in BUCKETS) + " |"
    head += " false / image | ms / image |"
    lines.append(head)
    lines.append("|" + "---|" * (head.count("|") - 1))
    for model in models:
        for size in sizes:
            for thr in thresholds:
                r = results[f"{cls}/{model}/{size}/{thr}"]
                row = f"| {model} | {size} | {thr} | {r['recall']:.3f} |"
                row += f" {r['loose_recall']:.3f} |" if loose else ""
                row += " " + " / ".join(
                    f"{r['recall_' + b[0]]:.2f} ({r['n_' + b[0]]})" for b in BUCKETS) + " |"
                row += f" {r['false_per_image']:.2f} | {r['ms_per_image']:.0f} |"
                lines.append(row)
    return "\n".join(lines)


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    ap.add_argument("--sizes", default=None, help="det sizes for both classes")
    ap.add_argument("--face-sizes", default="192,256,320,480,640,960")
    ap.add_argument("--plate-sizes", default="320,480,640,800,960,1280")
    ap.add_argument("--face-thresholds", default="0.2,0.3,0.4,0.5")
    ap.add_argument("--plate-thresholds", default="0.3,0.4,0.5,0.6,0.7")
    ap.add_argument("--plate-models", default="ppocr,clpr,both")
    ap.add_argument("--classes", default="face,plate")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N plate photos")
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--face-grow", type=float, default=1.3)
    ap.add_argument("--plate-pad", type=float, default=0.25)
    ap.add_argument("--clpr-pad", type=float, default=0.1)
    ap.add_argument("--ppocr-norm", choices=("rapidocr", "imagenet"), default="rapidocr")
    ap.add_argument("--ppocr-bin", type=float, default=0.3, help="DB binarisation threshold")
    ap.add_argument("--ppocr-rgb", action="store_true", help="feed RGB instead of BGR")
    ap.add_argument("--plate-rules", choices=("on", "off", "both"), default="both",
                    help="drop implausible plate boxes as the detect stage does (both: report "
                         "each plate model with and without)")
    ap.add_argument("--timing", action="store_true", help="also time DetectStage per frame")
    ap.add_argument("--timing-sizes", default=None, help="det sizes for --timing (default --sizes)")
    ap.add_argument("--clip", type=Path, default=None,
                    help="also count the boxes DetectStage keeps on every 10th frame of this "
                         "video, with and without the plate rules (at --timing-sizes)")
    ap.add_argument("--json", type=Path, default=None, help="write all numbers here")
    args = ap.parse_args(argv)

    if not (args.media / "images").is_dir():
        print(f"eval_detectors: no media at {args.media} (pass --media)", file=sys.stderr)
        return 2
    ints = lambda text: [int(v) for v in text.split(",") if v.strip()]  # noqa: E731
    face_sizes = ints(args.sizes or args.face_sizes)
    plate_sizes = ints(args.sizes or args.plate_sizes)
    classes = args.classes.split(",")
    plate_models = args.plate_models.split(",")
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731

    names = []
    if "face" in classes or ("plate" in classes and args.plate_rules != "off"):
        names.append("centerface")
    if "plate" in classes:
        if {"ppocr", "both"} & set(plate_models):
            names.append("ppocr_det")
        if {"clpr", "both"} & set(plate_models):
            names.append("clpr_det")
    paths = ensure_models(names, args.model_dir, log=log)
    common = dict(threads=args.threads, batch=1)
    face_thr, plate_thr = floats(args.face_thresholds), floats(args.plate_thresholds)
    results: dict = {}
    out_md = []

    if "face" in classes:
        faces = load_faces(args.media)
        det = CenterFaceDetector(paths["centerface"], threshold=min(face_thr), grow=args.face_grow,
                                 **common)
        log(f"faces: {len(faces)} images, {sum(len(s.gt) for s in faces)} boxes")
        sizes = face_sizes
        run_models(faces, {"centerface": det}, sizes, log)
        for size in sizes:
            for thr in face_thr:
                results[f"face/centerface/{size}/{thr}"] = score(faces, "centerface", size, thr)
        out_md.append("### Faces (faces_dlib)\n\n"
                      + markdown(results, "face", sizes, face_thr, ["centerface"]))

    if "plate" in classes:
        plates = load_plates(args.media, args.limit)
        dets = {}
        if "ppocr_det" in paths:
            norm = {} if args.ppocr_norm == "rapidocr" else dict(
                mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
            dets["ppocr"] = PpocrDetector(paths["ppocr_det"], threshold=min(plate_thr),
                                         pad=args.plate_pad, bgr=not args.ppocr_rgb,
                                         bin_threshold=args.ppocr_bin,
                                         **norm, **common)  # fmt: skip
        if "clpr_det" in paths:
            dets["clpr"] = ClprDetector(paths["clpr_det"], threshold=min(plate_thr),
                                         pad=args.clpr_pad, **common)
        if args.plate_rules != "off":
            dets["_faces"] = CenterFaceDetector(paths["centerface"],
                                                threshold=DEFAULT_THRESHOLDS["face"],
                                                grow=args.face_grow, **common)
        log(f"plates: {len(plates)} images, {sum(len(s.gt) for s in plates)} boxes")
        sizes = plate_sizes
        run_models(plates, dets, sizes, log)
        if "both" in plate_models:
            combine(plates, "ppocr", "clpr", "both", sizes)
        if args.plate_rules != "off":
            apply_plate_rules(plates, plate_models, sizes, PlateRules())
            if args.plate_rules == "both":
                plate_models = [v for m in plate_models for v in (f"{m} (no rules)", m)]
        for model in plate_models:
            for size in sizes:
                for thr in plate_thr:
                    results[f"plate/{model}/{size}/{thr}"] = score(plates, model, size, thr)
        out_md.append("### Plates (plates_openimages)\n\n"
                      + markdown(results, "plate", sizes, plate_thr, plate_models))

    if args.timing:
        tsizes = ints(args.timing_sizes or args.sizes or args.plate_sizes)
        timing = frame_timing(tsizes, args.threads, args.media, "ppocr")
        results["timing"] = timing
        rows = ["| classes | det_size | 1280x720 ms/frame | 1920x1080 ms/frame "
                "| per model at 720p (ms/frame) |", "|---|---|---|---|---|"]
        for label in TIMING_CLASSES:
            for size in tsizes:
                t720, t1080 = timing[f"{size}@720p/{label}"], timing[f"{size}@1080p/{label}"]
                models = ", ".join(f"{n} {ms:.0f}" for n, ms in
                                   timing[f"{size}@720p/{label}/models"].items())
                rows.append(f"| {label} | {size} | {t720:.0f} | {t1080:.0f} | {models} |")
        out_md.append(f"### DetectStage time per frame ({args.threads} thread, median of 12)"
                      "\n\n" + "\n".join(rows))

    if args.clip:
        csizes = ints(args.timing_sizes or args.sizes or args.plate_sizes)
        counts = clip_counts(args.clip, csizes, args.threads)
        results["clip"] = {str(k): v for k, v in counts.items()}
        labels = list(counts[csizes[0]])
        rows = ["| det_size | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        for size in csizes:
            rows.append(f"| {size} | " + " | ".join(str(counts[size][k]) for k in labels) + " |")
        out_md.append(f"### Boxes on {args.clip.name}, {counts['frames']} frames (every 10th)"
                      "\n\n" + "\n".join(rows))

    print("\n\n".join(out_md))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
