"""Build video sequences with exact per-frame boxes from annotated stills.

A virtual camera pans and zooms over each still for 1 to 2 s (30 fps, 1280x720); the
ground-truth boxes are transformed the same way. All stills of a class are joined into one H.264
file, one shot per still with a hard cut between shots, next to a JSON file with every object's
box on every frame of its shot.

    python bench/leak/make_sequences.py [--out bench/out/leak/seq] [--plates 70]

Stills come from ``../shared/media/images``: ``faces_dlib`` (9 group photos, 43 faces) and
``plates_openimages`` (licence plates; the 70 ``valid`` photos by default, ``--plates 315`` adds
the ``train`` ones).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT, FPS = 1280, 720, 30
#: Bump when the rendering or the camera paths change, so cached sequences are rebuilt.
VERSION = 1
IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "media" / "images"


@dataclass
class Still:
    path: Path
    boxes: np.ndarray  # (N, 4) x0, y0, x1, y1 in the image's pixels


# -- stills ---------------------------------------------------------------------------------
def face_stills(root: Path = IMAGES) -> list[Still]:
    """The dlib face photos with their boxes (``<box top left width height>``)."""
    folder = root / "faces_dlib"
    stills = []
    for xml in ("training.xml", "testing.xml"):
        for img in ET.parse(folder / xml).getroot().iter("image"):
            boxes = [[float(b.get("left")), float(b.get("top")),
                      float(b.get("left")) + float(b.get("width")),
                      float(b.get("top")) + float(b.get("height"))] for b in img.iter("box")]
            stills.append(Still(folder / img.get("file"), np.array(boxes, np.float64).reshape(-1, 4)))
    return sorted(stills, key=lambda s: s.path.name)


def plate_stills(root: Path = IMAGES, limit: int | None = 70) -> list[Still]:
    """Licence-plate photos (class 0 of the YOLO labels), ``valid`` split first."""
    folder = root / "plates_openimages"
    stills = []
    for split in ("valid", "train"):
        for img in sorted((folder / split / "images").glob("*.jpg")):
            label = folder / split / "labels" / (img.stem + ".txt")
            rows = [line.split() for line in label.read_text().splitlines() if line.strip()] \
                if label.exists() else []
            yolo = np.array([[float(v) for v in r[1:5]] for r in rows if r[0] == "0"]).reshape(-1, 4)
            if not len(yolo):
                continue
            w, h = _image_size(img)
            cx, cy, bw, bh = (yolo * [w, h, w, h]).T
            stills.append(Still(img, np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)))
    return stills[:limit] if limit else stills


def _image_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.width, s.codec_context.height


def load_rgb(path: Path) -> np.ndarray:
    """The still as (H, W, 3) uint8 RGB, decoded by FFmpeg."""
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


# -- camera -----------------------------------------------------------------------------------
@dataclass
class Camera:
    """Crop window per frame: left, top (image pixels, continuous) and scale (output px per
    image px). Output pixel u shows image position ``left + (u + 0.5) / scale``."""

    left: np.ndarray
    top: np.ndarray
    scale: np.ndarray

    def boxes(self, boxes: np.ndarray) -> np.ndarray:
        """(frames, N, 4) the image boxes as seen on each frame."""
        off = np.stack([self.left, self.top, self.left, self.top], 1)[:, None, :]
        return (boxes[None, :, :] - off) * self.scale[:, None, None]


def camera_path(name: str, width: int, height: int) -> Camera:
    """A 1-2 s pan and zoom over a ``width`` x ``height`` still, the same for the same name."""
    rng = np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))
    n = int(rng.integers(FPS, 2 * FPS + 1))
    full = min(width, height * WIDTH / HEIGHT)  # widest 16:9 crop that fits
    zoom = np.exp(rng.uniform(0.0, math.log(1.8), 2))  # start and end, 1 = widest crop
    t = np.linspace(0.0, 1.0, n)
    ease = t * t * (3 - 2 * t)  # smoothstep: the camera starts and stops gently
    z = np.exp(np.log(zoom[0]) + (np.log(zoom[1]) - np.log(zoom[0])) * ease)
    cw = full / z
    ch = cw * HEIGHT / WIDTH
    # centre: from one random point to another, each keeping the crop inside the still
    u0, u1 = rng.uniform(0, 1, 2), rng.uniform(0, 1, 2)
    fx = u0[0] + (u1[0] - u0[0]) * ease
    fy = u0[1] + (u1[1] - u0[1]) * ease
    left = (width - cw) * fx
    top = (height - ch) * fy
    return Camera(left, top, WIDTH / cw)


def render(img: np.ndarray, left: float, top: float, scale: float) -> np.ndarray:
    """One 1280x720 RGB frame of ``img`` through the crop window (bilinear)."""
    h, w = img.shape[:2]
    xs = np.clip(left + (np.arange(WIDTH) + 0.5) / scale - 0.5, 0, w - 1)
    ys = np.clip(top + (np.arange(HEIGHT) + 0.5) / scale - 0.5, 0, h - 1)
    x0 = np.minimum(xs.astype(np.intp), w - 2)
    y0 = np.minimum(ys.astype(np.intp), h - 2)
    fx = (xs - x0).astype(np.float32)[None, :, None]
    fy = (ys - y0).astype(np.float32)[:, None, None]
    src = img.astype(np.float32)
    rows = src[y0] * (1 - fy) + src[y0 + 1] * fy
    out = rows[:, x0] * (1 - fx) + rows[:, x0 + 1] * fx
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# -- sequences --------------------------------------------------------------------------------
def build(stills: list[Still], video: Path, meta: Path, label: str, crf: int = 18) -> dict:
    """Render ``stills`` into ``video`` (one shot each) and write the ground truth to ``meta``."""
    video.parent.mkdir(parents=True, exist_ok=True)
    tmp = video.with_suffix(".part.mp4")
    shots, objects = [], []
    frame_no = 0
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.options = {"crf": str(crf), "preset": "veryfast"}
        for still in stills:
            img = load_rgb(still.path)
            cam = camera_path(still.path.name, img.shape[1], img.shape[0])
            n = len(cam.scale)
            shots.append({"image": still.path.name, "start": frame_no, "frames": n})
            per_frame = cam.boxes(still.boxes)
            for k in range(len(still.boxes)):
                objects.append({"id": len(objects), "shot": len(shots) - 1, "first": frame_no,
                                "boxes": np.round(per_frame[:, k], 2).tolist()})
            for i in range(n):
                rgb = render(img, cam.left[i], cam.top[i], cam.scale[i])
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                frame.pts = frame_no
                frame_no += 1
                for p in stream.encode(frame):
                    out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    tmp.replace(video)
    data = {"version": VERSION, "class": label, "width": WIDTH, "height": HEIGHT, "fps": FPS,
            "frames": frame_no, "shots": shots, "objects": objects}
    meta.write_text(json.dumps(data))
    return data


def ensure(out_dir: Path, label: str, plates: int = 70) -> tuple[Path, dict]:
    """The sequence of class ``label`` ("face" or "plate") in ``out_dir``, built if missing or
    stale. Returns the video path and the ground truth."""
    stills = face_stills() if label == "face" else plate_stills(limit=plates)
    key = f"{label}s" if label == "face" else f"plates{len(stills)}"
    video, meta = out_dir / f"{key}.mp4", out_dir / f"{key}.json"
    if video.exists() and meta.exists():
        data = json.loads(meta.read_text())
        if data.get("version") == VERSION and len(data["shots"]) == len(stills):
            return video, data
    return video, build(stills, video, meta, label)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "out" / "leak" / "seq")
    ap.add_argument("--plates", type=int, default=70, help="plate stills to use (70 = valid split, 315 = all)")
    args = ap.parse_args(argv)
    for label in ("face", "plate"):
        video, data = ensure(args.out, label, args.plates)
        print(f"{video}: {data['frames']} frames, {len(data['shots'])} shots, {len(data['objects'])} objects")


if __name__ == "__main__":
    main()
