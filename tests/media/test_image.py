"""Photos: same format, size and pixel format out; masks in; identifying metadata and the EXIF
thumbnail out; orientation, ICC profile and capture time kept."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys

import av
import numpy as np
import pytest

import avanon
from avanon.mask.config import MaskConfig
from avanon.media.image import (anonymize_image, image_kind, jpeg_luma_table, jpeg_segments,
                                png_chunks, riff_chunks)
from imagefactory import (DATE, ICC, SECRETS, make_jpeg, make_png, make_tiff, make_webp,
                          orientation, read_tiff_tags)
from probe import psnr
from support import BoxDetector

BOX = [10, 8, 42, 40]
SOLID = avanon.Config(mask=MaskConfig(mode="solid", scale=1.0))


def box_detector():
    return BoxDetector(lambda i: [BOX])


def decode(path):
    with av.open(str(path)) as c:
        f = next(c.decode(video=0))
        return f, [np.frombuffer(p, np.uint8).reshape(p.height, -1)[:, :p.width * (
            len(f.format.components) if len(f.planes) == 1 else 1)].copy() for p in f.planes]


def outside(planes_a, planes_b, pad=8):
    """Pairs of the first plane's pixels outside BOX (with ``pad`` px of margin)."""
    a, b = planes_a[0], planes_b[0]
    keep = np.ones(a.shape, bool)
    x0, y0, x1, y1 = BOX
    step = a.shape[1] // 96  # packed formats: several samples per pixel
    keep[max(0, y0 - pad):y1 + pad, max(0, (x0 - pad) * step):(x1 + pad) * step] = False
    return a[keep], b[keep]


MAKERS = {"jpg": make_jpeg, "png": make_png, "webp": make_webp, "tif": make_tiff}


@pytest.fixture(params=list(MAKERS))
def photo(request, tmp_path):
    ext = request.param
    src = MAKERS[ext](tmp_path / f"in.{ext}")
    out = tmp_path / f"out.{ext}"
    summary = anonymize_image(src, out, SOLID, detector=box_detector())
    return ext, src, out, summary


def test_same_format_size_and_pixel_format_masked_inside_faithful_outside(photo):
    ext, src, out, summary = photo
    assert image_kind(out) == image_kind(src)
    fs, ps = decode(src)
    fo, po = decode(out)
    assert (fo.width, fo.height, fo.format.name) == (fs.width, fs.height, fs.format.name)
    assert summary.boxes == {"face": 1} and summary.kind == image_kind(src)
    a, b = outside(ps, po)
    if ext == "jpg":
        assert psnr(a, b) > 38  # re-encoded at the source's quantiser
    else:
        assert np.array_equal(a, b)  # lossless
    rgb = fo.to_ndarray(format="rgb24")
    x0, y0, x1, y1 = BOX
    assert rgb[y0 + 2:y1 - 2, x0 + 2:x1 - 2].max() < 30  # solid black inside


def test_identifying_metadata_and_thumbnail_are_gone(photo):
    ext, src, out, summary = photo
    data, before = out.read_bytes(), src.read_bytes()
    present = [s for s in SECRETS if s in before]
    assert len(present) >= (2 if ext == "tif" else 5), present
    leaked = [s for s in SECRETS if s in data]
    assert not leaked, leaked
    for name in ("Make", "Artist"):
        assert name in summary.stripped_tags
    if ext != "tif":
        assert {"GPS", "thumbnail", "Model", "BodySerialNumber", "CameraOwnerName"} <= \
            set(summary.stripped_tags)
    assert "stripped" in summary.line()


def _exif_block(ext, path):
    data = path.read_bytes()
    if ext == "jpg":
        segs, _ = jpeg_segments(data)
        return next(p[6:] for m, p in segs if m == 0xE1 and p.startswith(b"Exif\0\0"))
    if ext == "png":
        return next(p for k, p in png_chunks(data) if k == b"eXIf")
    if ext == "webp":
        return next(p for k, p in riff_chunks(data) if k == b"EXIF")
    return data


def test_orientation_kept_pixels_not_rotated_and_capture_time_kept(photo):
    ext, src, out, _ = photo
    tags = read_tiff_tags(_exif_block(ext, out))
    assert orientation(tags) == orientation(read_tiff_tags(_exif_block(ext, src)))
    assert orientation(tags) in (6, 8)
    assert "gps" not in tags and "ifd1" not in tags and 0x8825 not in tags["ifd0"]
    if ext != "tif":
        assert tags["exif"][0x9003] == DATE
    # players show the same picture: FFmpeg reads the same rotation back
    assert decode(out)[0].rotation == decode(src)[0].rotation != 0


def test_jpeg_keeps_quantiser_subsampling_icc_and_comment(tmp_path):
    for q, fmt in ((3, "yuvj420p"), (9, "yuvj444p")):
        src = make_jpeg(tmp_path / f"q{q}.jpg", qscale=q, pix_fmt=fmt)
        out = tmp_path / f"o{q}.jpg"
        summary = anonymize_image(src, out, SOLID, detector=box_detector())
        s_segs, o_segs = jpeg_segments(src.read_bytes())[0], jpeg_segments(out.read_bytes())[0]
        assert jpeg_luma_table(o_segs) == jpeg_luma_table(s_segs)
        assert f"qscale {q}" in summary.encoder
        assert decode(out)[0].format.name == fmt
        assert [p for m, p in o_segs if m == 0xE2] == [b"ICC_PROFILE\0\x01\x01" + ICC]
        assert [p for m, p in o_segs if m == 0xFE] == [p for m, p in s_segs if m == 0xFE]
        assert b"a comment" in [p for m, p in o_segs if m == 0xFE]
        assert [m for m, _ in o_segs if m == 0xE0] == [0xE0]  # JFIF density kept


def test_png_text_kept_unless_identifying_and_one_exif_chunk(tmp_path):
    src = make_png(tmp_path / "in.png", alpha=True)
    out = tmp_path / "out.png"
    anonymize_image(src, out, SOLID, detector=box_detector())
    chunks = png_chunks(out.read_bytes())
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert kinds.count(b"eXIf") == 1 and kinds.index(b"eXIf") < kinds.index(b"IDAT")
    texts = [p for k, p in chunks if k in (b"tEXt", b"iTXt")]
    assert texts == [b"Title\0Street corner"]
    assert decode(out)[0].format.name == "rgba"


def test_webp_lossy_stays_lossy_and_extended_header_is_valid(tmp_path):
    src = make_webp(tmp_path / "in.webp", lossless=False)
    out = tmp_path / "out.webp"
    summary = anonymize_image(src, out, SOLID, detector=box_detector())
    assert "quality 90" in summary.encoder
    chunks = riff_chunks(out.read_bytes())
    assert [k for k, _ in chunks] == [b"VP8X", b"VP8 ", b"EXIF"]
    vp8x = chunks[0][1]
    assert vp8x[0] == 0x08 and int.from_bytes(vp8x[4:7], "little") == 95
    data = out.read_bytes()
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8


def test_keep_metadata_keeps_tags_but_never_the_thumbnail(tmp_path):
    src = make_jpeg(tmp_path / "in.jpg")
    out = tmp_path / "out.jpg"
    summary = anonymize_image(src, out, avanon.Config(keep_metadata=True), detector=box_detector())
    data = out.read_bytes()
    assert b"AcmeCam" in data and b"Gpsville" in data
    assert b"THUMBNAIL!" not in data and summary.stripped_tags == ["thumbnail"]
    tags = read_tiff_tags(_exif_block("jpg", out))
    assert "gps" in tags and "ifd1" not in tags


def test_detectors_see_the_upright_picture(tmp_path):
    src = make_jpeg(tmp_path / "in.jpg", orientation=6)
    seen = []

    class Recorder(BoxDetector):
        def detect(self, frames, indices):
            seen.extend(f.rotation for f in frames)
            return super().detect(frames, indices)

    anonymize_image(src, tmp_path / "o.jpg", SOLID, detector=Recorder(lambda i: []))
    assert seen == [-90]


def test_export_and_render_from_a_detections_file(tmp_path):
    src = make_png(tmp_path / "in.png")
    a, sidecar = tmp_path / "a.png", tmp_path / "a.json"
    anonymize_image(src, a, avanon.Config(), detector=BoxDetector(lambda i: [[10.3, 8.7, 41.1, 39.9]]),
                    export_detections=sidecar)
    data = json.loads(sidecar.read_text())
    assert data["version"] == 1 and data["frames"][0]["objects"][0]["box"][0] == 10.3
    b = tmp_path / "b.png"
    anonymize_image(src, b, avanon.Config(), detections=sidecar)
    assert np.array_equal(decode(a)[1][0], decode(b)[1][0])
    assert not np.array_equal(decode(a)[1][0], decode(src)[1][0])


@pytest.mark.parametrize("make_dst, text", [
    (lambda d: d / "out.png", "a jpeg image is written as jpeg"),
    (lambda d: d / "in.jpg", "is the input"),
    (lambda d: d / "exists.jpg", "exists: pass -y"),
    (lambda d: d / "nodir" / "o.jpg", "does not exist"),
])
def test_bad_outputs_are_refused_before_anything_is_written(tmp_path, make_dst, text):
    src = make_jpeg(tmp_path / "in.jpg")
    (tmp_path / "exists.jpg").write_bytes(b"old")
    with pytest.raises(avanon.OutputError, match=text):
        anonymize_image(src, make_dst(tmp_path), SOLID, detector=box_detector())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.jpg", "in.jpg"]
    assert (tmp_path / "exists.jpg").read_bytes() == b"old"


def test_a_fifo_is_refused_as_for_videos_even_with_overwrite(tmp_path):
    src = make_jpeg(tmp_path / "in.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(avanon.OutputError, match="pipe.jpg is a FIFO"):
        anonymize_image(src, tmp_path / "pipe.jpg", SOLID, detector=box_detector(),
                        overwrite=True)


def test_broken_image_is_one_clear_error(tmp_path):
    src = make_jpeg(tmp_path / "in.jpg")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(src.read_bytes()[:200])
    with pytest.raises(avanon.InputError, match="broken.jpg"):
        anonymize_image(broken, tmp_path / "o.jpg", SOLID, detector=box_detector())
    assert not (tmp_path / "o.jpg").exists()


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="Debian ffprobe not installed")
def test_outputs_read_back_with_an_independent_ffprobe(photo):
    ext, src, out, _ = photo
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=width,height",
                        "-of", "csv=p=0", str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "96,64" and not r.stderr, r.stderr


def avanon_cli(*args):
    return subprocess.run([sys.executable, "-m", "avanon", *map(str, args)],
                          capture_output=True, timeout=600)


def test_cli_refuses_video_options_for_an_image(tmp_path):
    src = make_jpeg(tmp_path / "in.jpg")
    r = avanon_cli(src, tmp_path / "o.jpg", "--crf", "20", "--detect-every", "3")
    err = r.stderr.decode()
    assert r.returncode == 2 and "--crf, --detect-every: no effect on an image" in err, err


@pytest.mark.models
def test_cli_photo_with_the_real_detectors(tmp_path):
    src = make_jpeg(tmp_path / "in.jpg", size=(320, 240))
    out = tmp_path / "out.jpg"
    r = avanon_cli(src, out, "--mode", "solid")
    err = r.stderr.decode()
    assert r.returncode == 0 and err.startswith("avanon: jpeg 320x240"), err
    assert len(err.strip().splitlines()) == 1
    assert not [s for s in SECRETS if s in out.read_bytes()]


@pytest.mark.media
def test_real_photos_keep_their_quality(media, tmp_path):
    photos = sorted((media / "images").rglob("*.jpg"))[:5]
    if not photos:
        pytest.skip("no JPEG in the real media")
    for k, src in enumerate(photos):
        out = tmp_path / f"{k}.jpg"
        summary = anonymize_image(src, out, SOLID, detector=BoxDetector(lambda i: []))
        s_tab = jpeg_luma_table(jpeg_segments(src.read_bytes())[0])
        o_tab = jpeg_luma_table(jpeg_segments(out.read_bytes())[0])
        low = slice(1, 28)  # never coarser than the source where the detail is
        # (or FFmpeg's finest, qscale 1, for sources finer than that: libjpeg quality ~97+)
        assert np.mean(o_tab[low]) <= np.mean(s_tab[low]) or "qscale 1," in summary.encoder
        assert 0.6 < out.stat().st_size / src.stat().st_size < 1.6
        fs, ps = decode(src)
        fo, po = decode(out)
        assert (fo.width, fo.height, fo.format.name) == (fs.width, fs.height, fs.format.name)
        # a second generation at about the same quantiser (FFmpeg's tables have another shape)
        assert psnr(ps[0], po[0]) > 40, src
