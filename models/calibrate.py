"""Activation ranges for the int8 models (``--precision int8``), from frames of ../shared/media.

    python models/calibrate.py            # writes src/avanon/detect/calibration/<model>.json

The ranges are onnxruntime's MinMax calibration over what the detector sees in a run: whole
frames scaled to the class's input size and the 96-px crops around tracked faces. The frames
come from every clip in ``../shared/media/video`` (every 40th of the first 200) and the dlib
group photos; the crowd photos and car photos are left out on purpose, so that the leak
benchmark (built from them) measures the int8 model on pictures it was not calibrated on.

Only the ranges are stored (a few KB of JSON); the int8 model itself is made on the user's
machine from the pinned fp32 file (:mod:`avanon.detect.quantize`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from avanon.detect import quantize as q  # noqa: E402
from avanon.detect.centerface import CenterFaceDetector  # noqa: E402
from avanon.detect.crops import crop_batch, regions_around  # noqa: E402
from avanon.detect.config import DetectConfig  # noqa: E402
from avanon.detect.geometry import detector_size  # noqa: E402
from avanon.detect.store import ensure_models  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
#: registry name of the int8 model -> (fp32 model, detector class, class name)
TARGETS = {"centerface_int8": ("centerface", CenterFaceDetector, "face")}


def frames():
    """Decoded calibration frames: clips (every 40th of the first 200) and the dlib photos."""
    clips = sorted(p for p in (MEDIA / "video").rglob("*")
                   if p.suffix in (".mp4", ".mkv", ".mpg", ".mov"))
    for clip in clips:
        with av.open(str(clip)) as c:
            for i, f in enumerate(c.decode(c.streams.video[0])):
                if i >= 200:
                    break
                if i % 40 == 5:
                    yield f
    for photo in sorted((MEDIA / "images" / "faces_dlib").glob("*.jpg")):
        with av.open(str(photo)) as c:
            yield next(c.decode(video=0))


def inputs(detector, cls: str):
    """Detector images as a run makes them, (B, H, W, 3) uint8 batches: whole frames scaled to
    the class's input size, then the crops around the objects found in them."""
    cfg = DetectConfig()
    size, side = cfg.size_for(cls), cfg.around_crop[cls]
    for f in frames():
        w, h = detector_size(f.width, f.height, size)
        image = f.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
        yield image[None]
        found = detector.detect(image[None])[0]
        if not len(found):
            continue
        boxes = found.xyxy * np.array([f.width / w, f.height / h] * 2, np.float32)
        regions = regions_around(boxes, f.width, f.height, context=cfg.around_context,
                                 min_side=cfg.around_min_side, max_side=4 * side)
        crops = crop_batch(f, regions, (side, side), 0).images
        if len(crops):
            yield crops


def scores(detector, batches) -> np.ndarray:
    """Every candidate score (>= 0.02) of ``detector`` over ``batches``."""
    out = [found.scores for batch in batches for found in detector.detect(batch, batch=32)]
    return np.sort(np.concatenate(out))[::-1] if out else np.zeros(0, np.float32)


def threshold_scale(fp32: np.ndarray, int8: np.ndarray,
                    at=(0.15, 0.2, 0.25, 0.3, 0.4, 0.5)) -> tuple[float, dict]:
    """The factor that maps an fp32 threshold to the int8 threshold keeping as many boxes on
    the calibration images (both score lists sorted best first): the median over ``at``."""
    table = {}
    for t in at:
        n = int((fp32 >= t).sum())
        if 0 < n <= len(int8):
            table[t] = float(int8[n - 1]) / t
    return float(np.median(list(table.values()))), table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "avanon" / "detect" / "calibration")
    args = ap.parse_args()
    if not MEDIA.is_dir():
        print(f"calibrate: {MEDIA} is missing", file=sys.stderr)
        return 1
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    for name, (base, cls_, cls) in TARGETS.items():
        src = ensure_models([base])[base]
        detector = cls_(src, threads=0)
        batches = list(inputs(detector, cls))
        blobs = [detector.preprocess(b) for b in batches]
        feed = detector.session.get_inputs()[0].name

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter(blobs)

            def get_next(self):
                blob = next(self.it, None)
                return None if blob is None else {feed: blob}

        with tempfile.TemporaryDirectory() as tmp:
            pre = Path(tmp) / "pre.onnx"
            q.prepare(src, pre)
            cache = Path(tmp) / "ranges.json"
            int8 = Path(tmp) / "int8.onnx"
            quantize_static(str(pre), str(int8), Reader(),
                            calibration_cache_path=str(cache), **q.quantize_options())
            data = json.loads(cache.read_text())
            low = dict(threshold=0.02, threads=0)
            scale, table = threshold_scale(scores(cls_(src, **low), batches),
                                           scores(cls_(int8, **low), batches))
        args.out.mkdir(parents=True, exist_ok=True)
        dst = args.out / f"{name}.json"
        dst.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        side = dst.with_suffix(".scores.json")
        side.write_text(json.dumps({"threshold_scale": round(scale, 3),
                                    "fp32_threshold_to_int8": {str(k): round(v * k, 4)
                                                               for k, v in table.items()}},
                                   indent=1, sort_keys=True) + "\n")
        print(f"{dst}: ranges of {len(data.get('data', data))} tensors from {len(blobs)} inputs "
              f"({sum(len(b) for b in blobs)} images); threshold scale {scale:.3f} {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
