"""Build video sequences with exact per-frame boxes from annotated stills.

A virtual camera pans and zooms over each still for 1 to 2 s (30 fps, 1280x720); the
ground-truth boxes are transformed the same way. All stills of a class are joined into one H.264
file, one shot per still with a hard cut between shots, next to a JSON file with every object's
box on every frame of its shot.

    python bench/leak/make_sequences.py [--out bench/out/leak/seq] [--plates 70] [--labels face,crowd]

Stills come from ``../shared/media/images``: ``faces_dlib`` (9 group photos, 43 faces) and
``plates_openimages`` (licence plates; the 70 ``valid`` photos by default, ``--plates 315`` adds
the ``train`` ones).

Two harder sequences are built from mosaics of stills at their native scale (a grid of cells,
each photo centred in its cell, shrunk only if larger than the cell), so objects stay small:

* ``crowd`` (class face, 1280x720): the 120 ``faces_crowd`` photos (852 faces) in 12 mosaics of
  4 rows of 400x280 cells; the camera (0.95-1.3 output px per photo px, faces mostly 10-40 px)
  sweeps from one side to the other, fast across 7 columns (up to ~50 px/frame) on even shots,
  slowly across 4 on odd ones. Photos not shown yet go to the cells best in view, so every photo
  is shown at least once; the other cells repeat photos;
* ``crowd_still`` (class face, 1280x720): what a fixed camera (CCTV, a tripod) sees. 8 shots of
  3 s, each a crowd mosaic (3 rows of 4 cells) that does not move, at 1 output px per photo px,
  with 2-3 other crowd photos "walking" across it at 0.7-6 px/frame (their faces move; what they
  cover is hidden and not scored), and fresh sensor noise on every frame (1.5 codes);
* ``plate_hires`` (class plate, 2560x1440): the first 112 plate photos (416x416) in 4 mosaics of
  7x4, filmed at about 1x (0.95-1.1) with a slow drift, so plates keep their native 10-130 px on
  a frame that avanon's 960-px detector input shrinks 2.7 times.
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
#: Bump when the rendering or the camera paths change, so cached sequences are rebuilt
#: (``VERSIONS`` for the mosaic sequences, one each).
VERSION = 1
VERSIONS = {"face": VERSION, "plate": VERSION, "crowd": 1, "plate_hires": 1, "crowd_still": 1}
#: The detector class behind each sequence label.
CLASS = {"face": "face", "plate": "plate", "crowd": "face", "plate_hires": "plate",
         "crowd_still": "face"}
LABELS = tuple(CLASS)
#: Mosaic sequences: output size, photos per row and rows, shots, camera scale range (output px
#: per photo px) and frames per shot.
CROWD = {"size": (1280, 720), "cell": (400, 280), "rows": 4, "cols_fast": 7, "cols_slow": 4,
         "shots": 12, "frames_fast": (60, 81), "frames_slow": (60, 81), "scales": (0.95, 1.3),
         "vertical": (0.35, 0.65)}
HIRES = {"size": (2560, 1440), "cell": (416, 416), "cols": 7, "rows": 4, "shots": 4,
         "frames": (40, 51), "scales": (0.95, 1.1)}
#: Still camera: a crowd mosaic that does not move, with crowd photos walking across it (px per
#: frame), and sensor noise (standard deviation in 8-bit codes, new on every frame).
STILL = {"size": (1280, 720), "cell": (400, 280), "cols": 4, "rows": 3, "shots": 8,
         "frames": 90, "walkers": (2, 4), "speed": (0.7, 6.0), "noise": 1.5}
#: Fill of the mosaic between photos (mid grey: not dark, so masks there count as over-masking).
FILL = 128
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


def crowd_stills(root: Path = IMAGES) -> list[Still]:
    """The ``faces_crowd`` photos with their face boxes (PASCAL VOC, every class is a face)."""
    folder = root / "faces_crowd"
    stills = []
    for xml in sorted((folder / "annotations").glob("*.xml")):
        doc = ET.parse(xml).getroot()
        boxes = [[float(o.find(f"bndbox/{k}").text) for k in ("xmin", "ymin", "xmax", "ymax")]
                 for o in doc.iter("object")]
        image = folder / "images" / (doc.findtext("filename") or xml.stem + ".png")
        stills.append(Still(image, np.array(boxes, np.float64).reshape(-1, 4)))
    return stills


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


def render(img: np.ndarray, left: float, top: float, scale: float,
           size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """One ``size`` (1280x720) RGB frame of ``img`` through the crop window (bilinear)."""
    h, w = img.shape[:2]
    xs = np.clip(left + (np.arange(size[0]) + 0.5) / scale - 0.5, 0, w - 1)
    ys = np.clip(top + (np.arange(size[1]) + 0.5) / scale - 0.5, 0, h - 1)
    x0 = np.minimum(xs.astype(np.intp), w - 2)
    y0 = np.minimum(ys.astype(np.intp), h - 2)
    fx = (xs - x0).astype(np.float32)[None, :, None]
    fy = (ys - y0).astype(np.float32)[:, None, None]
    src = np.asarray(img, np.float32)  # no copy when the caller keeps a float32 mosaic
    rows = src[y0] * (1 - fy) + src[y0 + 1] * fy
    out = rows[:, x0] * (1 - fx) + rows[:, x0 + 1] * fx
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# -- mosaics ---------------------------------------------------------------------------------
def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))


def compose(images: list[np.ndarray], boxes: list[np.ndarray], cols: int, cell: tuple[int, int],
            fill: int = FILL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paste ``images`` (H, W, 3) into a grid of ``cols`` x ceil(n / cols) cells of ``cell``
    (width, height) pixels, row by row, each centred in its cell at native scale (shrunk to fit
    if larger). Returns the mosaic, every box moved into its pixels (M, 4), and the index of the
    image of each box."""
    cw, ch = cell
    rows = -(-len(images) // cols)
    canvas = np.full((rows * ch, cols * cw, 3), fill, np.uint8)
    moved, owner = [np.zeros((0, 4))], []
    for k, (im, b) in enumerate(zip(images, boxes)):
        h, w = im.shape[:2]
        f = min(1.0, cw / w, ch / h)
        if f < 1:  # render maps output pixel u to image (u + 0.5) / f - 0.5: edges scale by f
            im = render(im, 0.0, 0.0, f, (int(w * f), int(h * f)))
        x = (k % cols) * cw + (cw - im.shape[1]) // 2
        y = (k // cols) * ch + (ch - im.shape[0]) // 2
        canvas[y:y + im.shape[0], x:x + im.shape[1]] = im
        moved.append(np.asarray(b, np.float64).reshape(-1, 4) * f + [x, y, x, y])
        owner += [k] * len(moved[-1])
    return canvas, np.concatenate(moved), np.array(owner, np.int64)


def cell_visibility(cam: Camera, cols: int, rows: int, cell: tuple[int, int],
                    size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """For each cell of a ``cols`` x ``rows`` grid (row by row), the largest share of it in the
    picture on any frame of ``cam``."""
    cw, ch = cell
    x0 = (np.arange(cols * rows) % cols) * cw
    y0 = (np.arange(cols * rows) // cols) * ch
    right = cam.left + size[0] / cam.scale
    bottom = cam.top + size[1] / cam.scale
    vx = np.minimum(x0[None] + cw, right[:, None]) - np.maximum(x0[None], cam.left[:, None])
    vy = np.minimum(y0[None] + ch, bottom[:, None]) - np.maximum(y0[None], cam.top[:, None])
    return (np.clip(vx, 0, None) * np.clip(vy, 0, None) / (cw * ch)).max(0)


def mosaic_path(name: str, width: int, height: int, frames: int, scales: tuple[float, float],
                sweep: bool, size: tuple[int, int] = (WIDTH, HEIGHT),
                vertical: tuple[float, float] = (0.0, 1.0)) -> Camera:
    """Camera over a ``width`` x ``height`` mosaic for ``frames`` frames of ``size``, the same for
    the same name. The scale (output px per mosaic px) eases between two values drawn in
    ``scales`` (raised where the frame would not fit in the mosaic). ``sweep``: from one side of
    the mosaic to the other (fast on a wide mosaic), else a drift over at most a third of the free range;
    vertically the camera stays within ``vertical`` of the free range."""
    rng = _rng(name)
    fit = max(size[0] / width, size[1] / height)
    lo, hi = max(scales[0], fit), max(scales[1], fit)
    z = np.exp(rng.uniform(math.log(lo), math.log(hi), 2))
    t = np.linspace(0.0, 1.0, frames)
    ease = t * t * (3 - 2 * t)
    scale = np.exp(np.log(z[0]) + (np.log(z[1]) - np.log(z[0])) * ease)
    u0 = rng.uniform(0, 1, 2)
    if sweep:
        u0[0] = float(rng.integers(2))
        u1 = np.array([1 - u0[0], rng.uniform(0, 1)])
    else:
        u1 = np.clip(u0 + rng.uniform(-0.35, 0.35, 2), 0, 1)
    u0[1], u1[1] = vertical[0] + (vertical[1] - vertical[0]) * np.array([u0[1], u1[1]])
    fx = u0[0] + (u1[0] - u0[0]) * ease
    fy = u0[1] + (u1[1] - u0[1]) * ease
    left = np.maximum(width - size[0] / scale, 0) * fx
    top = np.maximum(height - size[1] / scale, 0) * fy
    return Camera(left, top, scale)


@dataclass
class Shot:
    """One shot: a picture, its boxes in its pixels and the camera over it."""

    info: dict
    image: np.ndarray
    boxes: np.ndarray
    camera: Camera


def _shot(label: str, k: int, stills: list[Still], idx: list[int], spec: dict, cam: Camera,
          fast: bool, cache: dict) -> Shot:
    pics = [stills[i] for i in idx]
    imgs = [cache[s.path] if s.path in cache else cache.setdefault(s.path, load_rgb(s.path))
            for s in pics]
    canvas, boxes, _ = compose(imgs, [s.boxes for s in pics], spec["cols"], spec["cell"])
    info = {"images": [s.path.name for s in pics], "mosaic": [canvas.shape[1], canvas.shape[0]],
            "fast": fast}
    return Shot(info, canvas.astype(np.float32), boxes, cam)


def crowd_shots(stills: list[Still], spec: dict = CROWD):
    """The crowd sequence, lazily (the mosaics are large). The camera sweeps from one side of the
    mosaic to the other: fast across a wide mosaic on even shots, slowly across a narrow one on
    odd shots. Photos not shown yet go to the cells best in
    view (at least 90 % of the cell on some frame), so every photo is shown; the other cells get
    photos already shown, at random."""
    label = "crowd"
    rng = _rng(label)
    fresh = [int(i) for i in rng.permutation(len(stills))]
    cache: dict[Path, np.ndarray] = {}
    cw, ch = spec["cell"]
    for k in range(spec["shots"]):
        fast = k % 2 == 0
        cols = spec["cols_fast" if fast else "cols_slow"]
        n = int(rng.integers(*spec["frames_fast" if fast else "frames_slow"]))
        cam = mosaic_path(f"{label}/{k}", cols * cw, spec["rows"] * ch, n, spec["scales"], True,
                          spec["size"], spec["vertical"])
        vis = cell_visibility(cam, cols, spec["rows"], spec["cell"], spec["size"])
        slots: list[int | None] = [None] * len(vis)
        for c in np.argsort(-vis, kind="stable"):
            if vis[c] >= 0.9 and fresh:
                slots[c] = fresh.pop(0)
        others = [int(i) for i in rng.permutation(len(stills)) if int(i) not in slots]
        idx = [s if s is not None else others.pop() for s in slots]
        yield _shot(label, k, stills, idx, {**spec, "cols": cols}, cam, fast, cache)
    if fresh:
        raise RuntimeError(f"{len(fresh)} crowd photos were never in view: more shots needed")


def hires_shots(stills: list[Still], spec: dict = HIRES):
    """The high-resolution plate sequence: consecutive stills, slow drifts."""
    label = "plate_hires"
    rng = _rng(label)
    per = spec["cols"] * spec["rows"]
    cache: dict[Path, np.ndarray] = {}
    cw, ch = spec["cell"]
    for k in range(spec["shots"]):
        n = int(rng.integers(*spec["frames"]))
        cam = mosaic_path(f"{label}/{k}", spec["cols"] * cw, spec["rows"] * ch, n, spec["scales"],
                          False, spec["size"])
        yield _shot(label, k, stills, list(range(k * per, (k + 1) * per)), spec, cam, False, cache)


@dataclass
class Walker:
    """A photo crossing a still picture in a straight line."""

    image: np.ndarray
    boxes: np.ndarray  # its faces, in its pixels
    x: np.ndarray  # left edge per frame (output pixels, whole)
    y: np.ndarray  # top edge per frame


def still_camera_shots(stills: list[Still], spec: dict = STILL):
    """The still-camera sequence, one shot at a time for :func:`write_shots`: ``(info, frames,
    boxes)``, every frame rendered (noise included) and every face's box on every frame (hidden
    ones far outside the picture, so they are not scored)."""
    label = "crowd_still"
    rng = _rng(label)
    w, h = spec["size"]
    cw, ch = spec["cell"]
    cache: dict[Path, np.ndarray] = {}
    order = [int(i) for i in rng.permutation(len(stills))]

    def take() -> Still:
        if not order:
            order.extend(int(i) for i in rng.permutation(len(stills)))
        return stills[order.pop(0)]

    def img(still: Still) -> np.ndarray:
        return cache[still.path] if still.path in cache else cache.setdefault(
            still.path, load_rgb(still.path))

    n = spec["frames"]
    t = np.arange(n)
    for k in range(spec["shots"]):
        pics = [take() for _ in range(spec["cols"] * spec["rows"])]
        canvas, bg_boxes, _ = compose([img(s) for s in pics], [s.boxes for s in pics],
                                      spec["cols"], spec["cell"])
        left = (canvas.shape[1] - w) / 2
        top = (canvas.shape[0] - h) / 2
        background = render(canvas, left, top, 1.0, (w, h))
        bg_boxes = bg_boxes - [left, top, left, top]
        walkers = []
        for j in range(int(rng.integers(*spec["walkers"]))):
            still = take()
            im = img(still)
            f = min(1.0, cw / im.shape[1], ch / im.shape[0])
            if f < 1:
                im = render(im, 0.0, 0.0, f, (int(im.shape[1] * f), int(im.shape[0] * f)))
            speed = rng.uniform(*spec["speed"]) * (1 if j % 2 == 0 else -1)
            start = -im.shape[1] * 0.6 if speed > 0 else w - im.shape[1] * 0.4
            y0 = rng.uniform(0, h - im.shape[0])
            dy = rng.uniform(-0.3, 0.3)
            walkers.append(Walker(im, np.asarray(still.boxes, np.float64).reshape(-1, 4) * f,
                                  np.round(start + speed * t).astype(int),
                                  np.round(np.clip(y0 + dy * t, 0, h - im.shape[0])).astype(int)))
        boxes = np.concatenate([np.repeat(bg_boxes[None], n, 0)] + [
            wk.boxes[None] + np.stack([wk.x, wk.y, wk.x, wk.y], 1)[:, None, :] for wk in walkers],
            axis=1)
        frames = []
        noise = np.random.default_rng(k)
        for i in range(n):
            rgb = background.copy()
            hidden = np.zeros(boxes.shape[1], bool)
            first = len(bg_boxes)
            for wk in walkers:
                x, y = wk.x[i], wk.y[i]
                hh, ww = wk.image.shape[:2]
                xa, xb = max(x, 0), min(x + ww, w)
                ya, yb = max(y, 0), min(y + hh, h)
                if xb > xa and yb > ya:
                    rgb[ya:yb, xa:xb] = wk.image[ya - y:yb - y, xa - x:xb - x]
                    # faces behind this photo (the background's, earlier walkers') are hidden
                    b = boxes[i, :first]
                    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
                    hidden[:first] |= (cx >= x) & (cx < x + ww) & (cy >= y) & (cy < y + hh)
                first += len(wk.boxes)
            boxes[i, hidden] = [-10000, -10000, -9990, -9990]
            grain = noise.normal(0.0, spec["noise"], rgb.shape)
            frames.append(np.clip(rgb + grain + 0.5, 0, 255).astype(np.uint8))
        info = {"images": [s.path.name for s in pics], "walkers": len(walkers), "still": True}
        yield info, frames, boxes


def still_shots(stills: list[Still]):
    """One shot per still, the camera of :func:`camera_path`."""
    for still in stills:
        img = load_rgb(still.path)
        yield Shot({"image": still.path.name}, img, still.boxes,
                   camera_path(still.path.name, img.shape[1], img.shape[0]))


# -- sequences --------------------------------------------------------------------------------
def build(stills: list[Still], video: Path, meta: Path, label: str, crf: int = 18) -> dict:
    """Render ``stills`` into ``video`` (one shot each) and write the ground truth to ``meta``."""
    return encode(still_shots(stills), video, meta, label, crf=crf)


def encode(shots, video: Path, meta: Path, label: str, size: tuple[int, int] = (WIDTH, HEIGHT),
           crf: int = 18, version: int = VERSION) -> dict:
    """Render ``shots`` into ``video`` with hard cuts between them; ground truth to ``meta``."""

    def rendered():
        for shot in shots:
            cam = shot.camera
            frames = (render(shot.image, cam.left[i], cam.top[i], cam.scale[i], size)
                      for i in range(len(cam.scale)))
            yield shot.info, frames, cam.boxes(shot.boxes)

    return write_shots(rendered(), video, meta, label, size, crf, version)


def write_shots(shots, video: Path, meta: Path, label: str, size: tuple[int, int],
                crf: int = 18, version: int = VERSION) -> dict:
    """Encode shots given as ``(info, frames, boxes)`` (RGB frames, boxes per frame and
    object) into ``video`` with hard cuts between them; ground truth to ``meta``."""
    video.parent.mkdir(parents=True, exist_ok=True)
    tmp = video.with_suffix(".part.mp4")
    infos, objects = [], []
    frame_no = 0
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.options = {"crf": str(crf), "preset": "veryfast"}
        for info, frames, boxes in shots:
            infos.append({**info, "start": frame_no, "frames": len(boxes)})
            for k in range(boxes.shape[1]):
                objects.append({"id": len(objects), "shot": len(infos) - 1, "first": frame_no,
                                "boxes": np.round(boxes[:, k], 2).tolist()})
            for rgb in frames:
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                frame.pts = frame_no
                frame_no += 1
                for p in stream.encode(frame):
                    out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    tmp.replace(video)
    data = {"version": version, "class": label, "detector_class": CLASS.get(label, label),
            "width": size[0], "height": size[1], "fps": FPS,
            "frames": frame_no, "shots": infos, "objects": objects}
    meta.write_text(json.dumps(data))
    return data


def ensure(out_dir: Path, label: str, plates: int = 70) -> tuple[Path, dict]:
    """The sequence ``label`` ("face", "plate", "crowd", "crowd_still" or "plate_hires") in ``out_dir``, built
    if missing or stale. Returns the video path and the ground truth."""
    if label not in CLASS:
        raise ValueError(f"unknown sequence {label!r}: one of {', '.join(LABELS)}")
    if label == "face":
        stills, key, shots, spec = face_stills(), "faces", None, None
    elif label == "plate":
        stills = plate_stills(limit=plates)
        key, shots, spec = f"plates{len(stills)}", None, None
    elif label == "crowd":
        stills, key, spec = crowd_stills(), "crowd", CROWD
        shots = spec["shots"]
    elif label == "crowd_still":
        stills, key, spec = crowd_stills(), "crowd_still", STILL
        shots = spec["shots"]
    else:
        spec = HIRES
        stills = plate_stills(limit=spec["cols"] * spec["rows"] * spec["shots"])
        key, shots = "plate_hires", spec["shots"]
    video, meta = out_dir / f"{key}.mp4", out_dir / f"{key}.json"
    if video.exists() and meta.exists():
        data = json.loads(meta.read_text())
        if data.get("version") == VERSIONS[label] and len(data["shots"]) == (shots or len(stills)):
            return video, data
    if spec is None:
        return video, build(stills, video, meta, label)
    if label == "crowd_still":
        return video, write_shots(still_camera_shots(stills, spec), video, meta, label,
                                  spec["size"], version=VERSIONS[label])
    make = crowd_shots if label == "crowd" else hires_shots
    return video, encode(make(stills, spec), video, meta, label, size=spec["size"],
                         version=VERSIONS[label])


def stats(data: dict) -> str:
    """One line on a sequence: frames, objects, width of the evaluated boxes, pan speed."""
    w, h = data["width"], data["height"]
    widths, speed = [], 0.0
    for obj in data["objects"]:
        b = np.asarray(obj["boxes"])
        ok = np.array([_evaluable(x, w, h) for x in b], bool)
        widths += list((b[:, 2] - b[:, 0])[ok])
        both = ok[1:] & ok[:-1]  # between frames on which the box is in view
        if both.any():
            speed = max(speed, float(np.abs(np.diff(b[:, 0]))[both].max()))
    q = np.percentile(widths, [10, 25, 50, 75, 90]) if widths else [0] * 5
    share = np.mean((np.array(widths) >= 10) & (np.array(widths) <= 40)) * 100 if widths else 0
    return (f"{data['frames']} frames {w}x{h}, {len(data['shots'])} shots, {len(data['objects'])} "
            f"objects; {len(widths)} evaluable boxes, width p10/25/50/75/90 = "
            + "/".join(f"{v:.0f}" for v in q) + f" px ({share:.0f}% in 10-40 px); "
            f"fastest box motion {speed:.0f} px/frame")


def _evaluable(box, w, h) -> bool:
    import sys

    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    from measure import evaluable  # the benchmark's own rule, next to this file

    return evaluable(box, w, h)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "out" / "leak" / "seq")
    ap.add_argument("--plates", type=int, default=70, help="plate stills to use (70 = valid split, 315 = all)")
    ap.add_argument("--labels", default=",".join(LABELS), help="sequences to build, comma-separated")
    args = ap.parse_args(argv)
    for label in [x.strip() for x in args.labels.split(",") if x.strip()]:
        video, data = ensure(args.out, label, args.plates)
        print(f"{video}: {stats(data)}")


if __name__ == "__main__":
    main()
