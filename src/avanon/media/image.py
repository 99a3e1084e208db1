"""Still images: JPEG, PNG, WebP and TIFF in, the same format out, masked.

A photo is decoded with FFmpeg (PyAV), run once through the same detect and mask stages as a
video frame (every native-resolution tile examined, no tracking), and encoded again with the
source's encoder family, size and pixel format:

* JPEG: ``mjpeg`` at the quantiser (qscale) whose tables are the closest to the source's own
  quantisation tables without being coarser, same chroma subsampling;
* PNG and TIFF: lossless, same pixel format (TIFF: same compression where FFmpeg has it);
* WebP: lossless when the source is lossless (VP8L), else lossy at quality 90.

Metadata is handled here, in the file's own structure, not by FFmpeg: the EXIF block is rebuilt
without the identifying tags and without its thumbnail (:mod:`avanon.media.exif`); XMP, IPTC and
unknown vendor segments are dropped; ICC colour profiles, resolution and comments are kept. The
Orientation tag is kept and the pixels are stored as they were (not rotated): viewers show the
same picture, and the detectors look at the upright picture (FFmpeg reports the orientation as
the frame's rotation). FFmpeg's own encoders may copy EXIF from the decoded frame (its PNG
encoder writes an ``eXIf`` chunk with every tag): whatever metadata the encoder emits is
discarded before ours is inserted.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import struct
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .. import sidecar
from ..detections import CLASS_NAMES, Detections
from ..errors import EncoderError, InputError, InputNotFoundError, OutputError
from . import exif as exiflib
from .metadata import is_identifying
from .output import check_destination

__all__ = ["IMAGE_EXTENSIONS", "ImageSummary", "anonymize_image", "image_kind"]

#: File name extensions of the image kinds, by kind.
IMAGE_EXTENSIONS = {"jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"), "png": (".png",),
                    "webp": (".webp",), "tiff": (".tif", ".tiff")}
#: Lossy WebP quality (libwebp 0..100): the source's cannot be read back from the bitstream.
WEBP_QUALITY = 90
#: Time base given to an image's single frame (its pts is 0).
TIME_BASE = Fraction(1, 1)


def image_kind(path: str | os.PathLike) -> str | None:
    """``"jpeg"``, ``"png"``, ``"webp"`` or ``"tiff"`` from the file's first bytes; None for
    anything else (a video, a text file, a missing file)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return None
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "tiff"
    return None


@dataclass
class ImageSummary:
    """What an image run did (the image counterpart of :class:`avanon.RunSummary`)."""

    kind: str = ""
    width: int = 0
    height: int = 0
    frames: int = 1
    boxes: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    encoder: str = ""
    stripped_tags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        boxes = ", ".join(f"{n} {c}" for c, n in self.boxes.items()) or "no detections"
        parts = [f"{self.kind} {self.width}x{self.height}", boxes, f"{self.elapsed:.1f} s",
                 f"re-encoded with {self.encoder}",
                 f"{len(self.stripped_tags)} identifying tag(s) stripped"
                 + (f" ({', '.join(self.stripped_tags)})" if self.stripped_tags else "")]
        parts += sorted(set(self.notes))
        return "avanon: " + " | ".join(parts)


# -- containers: segments and chunks -------------------------------------------------------------
def jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(marker, payload) of every segment before the first scan, and the offset of SOS."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("no JPEG SOI marker")
    segs, i = [], 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0xDA:
            return segs, i
        (length,) = struct.unpack_from(">H", data, i + 2)
        segs.append((marker, data[i + 4:i + 2 + length]))
        i += 2 + length
    raise ValueError("JPEG without a scan")


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    if len(payload) + 2 > 0xFFFF:
        raise ValueError(f"segment of {len(payload)} bytes is too large for JPEG")
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk of a PNG file."""
    out, i = [], 8
    while i + 8 <= len(data):
        (n,) = struct.unpack_from(">I", data, i)
        kind = data[i + 4:i + 8]
        out.append((kind, data[i + 8:i + 8 + n]))
        i += 12 + n
        if kind == b"IEND":
            break
    return out


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + \
        struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(fourcc, data) of every chunk of a WebP (RIFF) file."""
    out, i = [], 12
    while i + 8 <= len(data):
        kind = data[i:i + 4]
        (n,) = struct.unpack_from("<I", data, i + 4)
        out.append((kind, data[i + 8:i + 8 + n]))
        i += 8 + n + (n & 1)
    return out


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


# -- JPEG quality ---------------------------------------------------------------------------------
def jpeg_luma_table(segs: list[tuple[int, bytes]]) -> list[int] | None:
    """The first quantisation table (luma, 64 values in zig-zag order) of a JPEG, or None."""
    for marker, p in segs:
        if marker != 0xDB or not p:
            continue
        precision = p[0] >> 4
        n = 128 if precision else 64
        raw = p[1:1 + n]
        if precision:
            return [int.from_bytes(raw[k:k + 2], "big") for k in range(0, n, 2)]
        return list(raw)
    return None


@functools.lru_cache(maxsize=None)
def _mjpeg_table(q: int) -> tuple[int, ...]:
    """The luma table FFmpeg's mjpeg encoder writes at qscale ``q`` (measured once)."""
    cc = av.codec.CodecContext.create("mjpeg", "w")
    cc.width, cc.height, cc.pix_fmt = 16, 16, "yuvj444p"
    cc.time_base = Fraction(1, 25)
    cc.qmin = cc.qmax = q
    frame = av.VideoFrame(16, 16, "yuvj444p")
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    data = b"".join(bytes(p) for p in cc.encode(frame) + cc.encode(None))
    return tuple(jpeg_luma_table(jpeg_segments(data)[0]) or ())


#: Zig-zag positions compared to pick the JPEG quantiser: the AC coefficients of the first seven
#: diagonals, where a photo's detail is. FFmpeg's tables are flatter than libjpeg's, so the
#: mean over all 63 would pick a quantiser much coarser at low frequencies (on the project's
#: photos: 0.7x the size, 38 dB); over these, about the source's size and 43 dB.
LOW_FREQUENCIES = slice(1, 28)


def jpeg_qscale(table: list[int] | None) -> int:
    """The coarsest mjpeg qscale (1..31) whose mean quantiser over :data:`LOW_FREQUENCIES` is
    not coarser than the source's; 2 when the source has no table."""
    if not table:
        return 2
    target = float(np.mean(table[LOW_FREQUENCIES]))
    best = 1
    for q in range(1, 32):
        if float(np.mean(_mjpeg_table(q)[LOW_FREQUENCIES])) <= target + 1e-9:
            best = q
        else:
            break
    return best


# -- metadata per format --------------------------------------------------------------------------
_XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\0"
_XMP_EXT_JPEG = b"http://ns.adobe.com/xmp/extension/\0"


def _exif_of(raw: bytes | None, keep_all: bool, stripped: list[str]) -> bytes:
    """The cleaned EXIF (TIFF bytes) of ``raw``; b"" when there is none left."""
    if not raw:
        return b""
    try:
        parsed = exiflib.parse(raw)
    except (exiflib.ExifError, struct.error):
        stripped.append("EXIF (unreadable)")
        return b""
    cleaned, gone = exiflib.clean(parsed, keep_all)
    stripped += gone
    return exiflib.build(cleaned)


def _jpeg_out(src: bytes, enc: bytes, keep_all: bool, stripped: list[str]) -> bytes:
    segs, _ = jpeg_segments(src)
    enc_segs, sos = jpeg_segments(enc)
    head: list[bytes] = []
    exif_raw = next((p for m, p in segs if m == 0xE1 and p.startswith(b"Exif\0\0")), None)
    for marker, p in segs:
        if marker == 0xE0 and p.startswith(b"JFIF\0") and len(p) >= 14:
            head.append(_jpeg_segment(0xE0, p[:12] + b"\0\0"))  # without its thumbnail
        elif marker == 0xE0:
            stripped.append("JFXX thumbnail")
    exif = _exif_of(exif_raw[6:] if exif_raw else None, keep_all, stripped)
    if exif:
        head.append(_jpeg_segment(0xE1, b"Exif\0\0" + exif))
    for marker, p in segs:
        if marker == 0xE2 and p.startswith(b"ICC_PROFILE\0"):
            head.append(_jpeg_segment(marker, p))
        elif marker == 0xFE:
            head.append(_jpeg_segment(marker, p))  # comments are kept, like a video's
        elif marker == 0xE1 and not p.startswith(b"Exif\0\0"):
            if keep_all:
                head.append(_jpeg_segment(marker, p))
            elif p.startswith(_XMP_JPEG) or p.startswith(_XMP_EXT_JPEG):
                stripped.append("XMP")
        elif marker == 0xED:
            if keep_all:
                head.append(_jpeg_segment(marker, p))
            else:
                stripped.append("IPTC")
        elif 0xE3 <= marker <= 0xEF and marker != 0xEE:
            if keep_all:
                head.append(_jpeg_segment(marker, p))
            else:
                stripped.append(f"APP{marker - 0xE0}")
    # the encoder's own segments: tables and frame header only (no comment, no metadata)
    body = [_jpeg_segment(m, p) for m, p in enc_segs if not (0xE0 <= m <= 0xEF or m == 0xFE)]
    return b"\xff\xd8" + b"".join(head) + b"".join(body) + enc[sos:]


#: PNG chunks taken from the encoder: the picture itself.
_PNG_PICTURE = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}
#: PNG chunks taken from the source: how to show the picture (before PLTE/IDAT).
_PNG_DISPLAY = (b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"cICP", b"mDCV", b"cLLI", b"pHYs")


def _png_text_key(kind: bytes, payload: bytes) -> str:
    return payload.split(b"\0", 1)[0].decode("latin-1", "replace") if kind in (
        b"tEXt", b"zTXt", b"iTXt") else ""


def _png_out(src: bytes, enc: bytes, keep_all: bool, stripped: list[str]) -> bytes:
    s_chunks, e_chunks = png_chunks(src), png_chunks(enc)
    ihdr = [c for c in e_chunks if c[0] == b"IHDR"]
    display = [c for c in s_chunks if c[0] in _PNG_DISPLAY]
    if not any(c[0] == b"pHYs" for c in display):
        display += [c for c in e_chunks if c[0] == b"pHYs"]
    extra: list[tuple[bytes, bytes]] = []
    exif = _exif_of(next((p for k, p in s_chunks if k == b"eXIf"), None), keep_all, stripped)
    if exif:
        extra.append((b"eXIf", exif))
    for kind, p in s_chunks:
        if kind in _PNG_PICTURE or kind in _PNG_DISPLAY or kind in (b"eXIf", b"sBIT"):
            continue
        key = _png_text_key(kind, p)
        if keep_all or kind == b"tIME":
            extra.append((kind, p))
        elif key and not is_identifying(key) and "xmp" not in key.lower() and \
                "profile" not in key.lower():
            extra.append((kind, p))
        else:
            stripped.append(key or kind.decode("latin-1"))
    picture = [c for c in e_chunks if c[0] in _PNG_PICTURE and c[0] != b"IHDR"]
    return src[:8] + b"".join(_png_chunk(k, p) for k, p in ihdr + display + extra + picture)


def _webp_out(src: bytes, enc: bytes, width: int, height: int, keep_all: bool,
              stripped: list[str]) -> bytes:
    s_chunks, e_chunks = riff_chunks(src), riff_chunks(enc)
    picture = [c for c in e_chunks if c[0] in (b"ALPH", b"VP8 ", b"VP8L")]
    alpha = any(k == b"ALPH" for k, _ in picture) or any(
        k == b"VP8X" and p[0] & 0x10 for k, p in e_chunks) or any(
        k == b"VP8L" and len(p) >= 5 and (int.from_bytes(p[1:5], "little") >> 28) & 1
        for k, p in picture)
    icc = [c for c in s_chunks if c[0] == b"ICCP"]
    raw = next((p for k, p in s_chunks if k == b"EXIF"), None)
    exif = _exif_of(raw, keep_all, stripped)
    xmp = [c for c in s_chunks if c[0] == b"XMP "]
    if xmp and not keep_all:
        stripped.append("XMP")
        xmp = []
    tail = ([(b"EXIF", exif)] if exif else []) + xmp
    if not (icc or tail or alpha):
        chunks = picture
    else:
        flags = (0x20 if icc else 0) | (0x10 if alpha else 0) | (0x08 if exif else 0) | \
            (0x04 if xmp else 0)
        vp8x = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + \
            (height - 1).to_bytes(3, "little")
        chunks = [(b"VP8X", vp8x)] + icc + picture + tail
    body = b"WEBP" + b"".join(_riff_chunk(k, p) for k, p in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _tiff_out(src: bytes, enc: bytes, stripped: list[str]) -> bytes:
    """The encoder's TIFF with the source's Orientation added (its IFD0 rewritten at the end);
    every other source tag is left behind."""
    try:
        parsed = exiflib.parse(src)
    except (exiflib.ExifError, struct.error):
        return enc
    stripped += [exiflib._name(e.tag) for e in parsed.ifd0 + parsed.exif
                 if e.tag in exiflib.NAMES and e.tag != 0x8773]
    if parsed.gps:
        stripped.append("GPS")
    orientation = parsed.orientation
    if not orientation or orientation == 1:
        return enc
    o = "<" if enc[:2] == b"II" else ">"
    (first,) = struct.unpack_from(o + "I", enc, 4)
    (n,) = struct.unpack_from(o + "H", enc, first)
    entries = [enc[first + 2 + 12 * k:first + 14 + 12 * k] for k in range(n)]
    entries = [e for e in entries if struct.unpack_from(o + "H", e)[0] != exiflib.ORIENTATION]
    entries.append(struct.pack(o + "HHIH2x", exiflib.ORIENTATION, 3, 1, orientation))
    entries.sort(key=lambda e: struct.unpack_from(o + "H", e)[0])
    out = bytearray(enc)
    if len(out) % 2:
        out += b"\0"
    at = len(out)
    out += struct.pack(o + "H", len(entries)) + b"".join(entries) + b"\0\0\0\0"
    out[4:8] = struct.pack(o + "I", at)
    return bytes(out)


# -- encoding -------------------------------------------------------------------------------------
def _encode(frame: av.VideoFrame, encoder: str, pix_fmt: str, options: dict[str, str],
            qscale: int | None = None) -> bytes:
    cc = av.codec.CodecContext.create(encoder, "w")
    cc.width, cc.height, cc.pix_fmt = frame.width, frame.height, pix_fmt
    cc.time_base = Fraction(1, 25)
    for attr in ("color_range", "color_primaries", "color_trc", "colorspace"):
        try:
            setattr(cc, attr, getattr(frame, attr))
        except (AttributeError, ValueError, TypeError):
            pass
    if qscale is not None:
        cc.qmin = cc.qmax = qscale
    cc.options = options
    if frame.format.name != pix_fmt:
        frame = frame.reformat(format=pix_fmt)
    frame.pts = 0
    frame.time_base = cc.time_base
    try:
        packets = cc.encode(frame) + cc.encode(None)
    except (av.FFmpegError, ValueError) as exc:
        raise EncoderError(f"{encoder} cannot encode this {pix_fmt} picture: {exc}") from exc
    return b"".join(bytes(p) for p in packets)


def _pixel_format(encoder: str, src_fmt: str, notes: list[str]) -> str:
    from .encode import _pick_pix_fmt

    fmt, more = _pick_pix_fmt(encoder, src_fmt)
    notes += more
    return fmt


_TIFF_COMPRESSION = {1: "raw", 5: "lzw", 8: "deflate", 32946: "deflate", 32773: "packbits"}


def _tiff_compression(src: bytes) -> str | None:
    try:
        parsed = exiflib.parse(src)
    except (exiflib.ExifError, struct.error):
        return None
    for e in parsed.ifd0:
        if e.tag == 0x0103 and e.type == 3:
            return _TIFF_COMPRESSION.get(struct.unpack(parsed.order + "H", e.value[:2])[0])
    return None


def _encode_like(kind: str, src: bytes, frame: av.VideoFrame, keep_all: bool,
                 summary: ImageSummary) -> bytes:
    notes, stripped = summary.notes, summary.stripped_tags
    src_fmt = frame.format.name
    if kind == "jpeg":
        segs, _ = jpeg_segments(src)
        q = jpeg_qscale(jpeg_luma_table(segs))
        enc = _encode(frame, "mjpeg", _pixel_format("mjpeg", src_fmt, notes),
                      {"huffman": "optimal"}, qscale=q)
        summary.encoder = f"mjpeg (qscale {q}, from the source's quantisation tables)"
        return _jpeg_out(src, enc, keep_all, stripped)
    if kind == "png":
        enc = _encode(frame, "png", _pixel_format("png", src_fmt, notes), {})
        summary.encoder = "png (lossless)"
        return _png_out(src, enc, keep_all, stripped)
    if kind == "webp":
        lossless = any(k == b"VP8L" for k, _ in riff_chunks(src))
        fmt = "bgra" if lossless else ("yuva420p" if "a" in src_fmt.replace("yuv", "")
                                       else "yuv420p")
        opts = {"lossless": "1"} if lossless else {"quality": str(WEBP_QUALITY)}
        enc = _encode(frame, "libwebp", fmt, opts)
        summary.encoder = "libwebp (lossless)" if lossless else f"libwebp (quality {WEBP_QUALITY})"
        return _webp_out(src, enc, frame.width, frame.height, keep_all, stripped)
    compression = _tiff_compression(src)
    enc = _encode(frame, "tiff", _pixel_format("tiff", src_fmt, notes),
                  {"compression_algo": compression} if compression else {})
    summary.encoder = f"tiff ({compression or 'packbits'}, lossless)"
    return _tiff_out(src, enc, stripped)


# -- the run --------------------------------------------------------------------------------------
def _decode_one(path: str) -> av.VideoFrame:
    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise InputError(f"no picture in {path}")
            frames = []
            for frame in c.decode(video=0):
                frames.append(frame)
                if len(frames) > 1:
                    raise InputError(f"{path} holds more than one picture (animated or "
                                     "multi-page images are not supported)")
    except av.FFmpegError as exc:
        raise InputError(f"cannot read {path} as an image: {exc}") from exc
    if not frames:
        raise InputError(f"cannot read {path} as an image: no picture decoded")
    return frames[0]


def anonymize_image(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    config=None,
    *,
    overwrite: bool = False,
    detector=None,
    masker=None,
    export_detections: str | os.PathLike | None = None,
    detections: str | os.PathLike | None = None,
) -> ImageSummary:
    """Anonymize the photo ``src`` into ``dst`` (same format, size and pixel format).

    Args:
        src: a JPEG, PNG, WebP or TIFF file.
        dst: output path; its extension must name the same format.
        config: :class:`avanon.Config`; tracking and the detection schedule do not apply.
        overwrite: replace an existing ``dst``.
        detector, masker: stage objects replacing the ones built from ``config``.
        export_detections: write the boxes to this detections file (:mod:`avanon.sidecar`).
        detections: render the boxes of this detections file instead of detecting.

    Raises:
        avanon.AvanonError: (one of its leaves) for bad input, options or output.
    """
    from ..anonymizer import Anonymizer
    from ..config import Config
    from ..detect.stage import DetectStage
    from ..track.base import PassThroughTracker

    t0 = time.perf_counter()
    config = config or Config()
    src_path, dst_path = Path(src), Path(dst)
    if not src_path.exists():
        raise InputNotFoundError(f"input not found: {src}")
    kind = image_kind(src_path)
    if kind is None:
        raise InputError(f"{src} is not a JPEG, PNG, WebP or TIFF image")
    if dst_path.suffix.lower() not in IMAGE_EXTENSIONS[kind]:
        raise OutputError(f"output {dst}: a {kind} image is written as {kind} "
                          f"(give a {'/'.join(IMAGE_EXTENSIONS[kind])} name)")
    check_destination(src_path, dst_path, overwrite=overwrite, src_is_url=False)
    if detections is not None and detector is not None:
        from ..errors import ConfigError
        raise ConfigError("detections: a detections file replaces the detector; give one or "
                          "the other")
    data = src_path.read_bytes()
    frame = _decode_one(str(src_path))
    summary = ImageSummary(kind=kind, width=frame.width, height=frame.height)
    found: list[Detections] = []
    if detections is not None:
        anon = sidecar.renderer(sidecar.read_detections(detections), frame.width, frame.height,
                                TIME_BASE, config, masker=masker)
    else:
        if detector is None:
            detector = DetectStage(config.detect, every_tile=True)
        still = dataclasses.replace(config, track=dataclasses.replace(config.track, enabled=False),
                                    detect_every=1)
        anon = Anonymizer.from_config(still, frame_size=(frame.width, frame.height), fps=1.0,
                                      detector=detector, masker=masker,
                                      tracker=PassThroughTracker())
    anon.on_detections = found.append
    frame.pts = 0
    frame.time_base = TIME_BASE
    masked = anon.push(frame) + anon.flush()
    if detections is not None:
        anon.detector.finish(anon.frames_out)
    summary.boxes = {CLASS_NAMES[c]: n for c, n in sorted(anon.boxes_per_class.items())}
    out = _encode_like(kind, data, masked[0], config.keep_metadata, summary)
    written = []
    try:
        if export_detections is not None:
            doc = {**sidecar.header(str(src), 0, frame.width, frame.height, TIME_BASE),
                   "frames": [sidecar.frame_record(d, TIME_BASE) for d in found]}
            written.append(_write_atomic(Path(export_detections),
                                         (json.dumps(doc) + "\n").encode()))
        written.append(_write_atomic(dst_path, out))
    except BaseException:
        for tmp, _ in written:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, final in written:
        os.replace(tmp, final)
    summary.elapsed = time.perf_counter() - t0
    return summary


def _write_atomic(path: Path, data: bytes) -> tuple[str, Path]:
    """Write ``data`` to a temporary file beside ``path``; (its name, ``path``) for the rename."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.avanon-", suffix=path.suffix,
                                   dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return tmp, path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
