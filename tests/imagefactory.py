"""Small test photos made with PyAV, with metadata spliced in by hand (independently of
avanon's own EXIF code): an EXIF block with GPS, device, owner and orientation tags and a
thumbnail, XMP, IPTC, an ICC profile and text chunks."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mediafactory import picture

GPS_LAT = b"N\0"
MAKE, MODEL, SERIAL, OWNER = b"AcmeCam\0", b"X-1000 Pro\0", b"SN-99887766\0", b"Jane Roe\0"
DATE = b"2024:05:06 07:08:09\0"
#: Strings that must not survive in an anonymized file (by default).
SECRETS = (b"AcmeCam", b"X-1000", b"SN-99887766", b"Jane Roe", b"Gpsville", b"THUMBNAIL!")
ICC = b"\0\0\0\x30fake-icc-profile-bytes-for-tests\0\0\0\0\0\0\0\0\0\0\0\0"


def tiff_block(order: str = ">", orientation: int = 6) -> bytes:
    """A TIFF-structured EXIF block: IFD0 (Make, Model, Orientation, Artist), Exif IFD
    (DateTimeOriginal, BodySerialNumber, CameraOwnerName), GPS IFD (latitude, area name) and
    IFD1 (a "thumbnail")."""
    o = order

    def ifd(entries, at):
        """entries: (tag, type, count, value bytes) -> (bytes, end offset)"""
        head = struct.pack(o + "H", len(entries))
        data = b""
        base = at + 2 + 12 * len(entries) + 4
        for tag, typ, count, val in entries:
            if len(val) <= 4:
                head += struct.pack(o + "HHI", tag, typ, count) + val.ljust(4, b"\0")
            else:
                head += struct.pack(o + "HHII", tag, typ, count, base + len(data))
                data += val + (b"\0" if len(val) % 2 else b"")
        return head + b"\0\0\0\0", data

    # fixed layout, computed in two passes
    gps = [(0x0001, 2, 2, GPS_LAT),
           (0x0002, 5, 3, struct.pack(o + "6I", 48, 1, 51, 1, 2400, 100)),
           (0x001C, 7, 8, b"Gpsville")]
    sub = [(0x9003, 2, len(DATE), DATE), (0xA430, 2, len(OWNER), OWNER),
           (0xA431, 2, len(SERIAL), SERIAL)]
    ifd1 = [(0x0201, 4, 1, struct.pack(o + "I", 0)), (0x0202, 4, 1, struct.pack(o + "I", 10))]

    def ifd0(exif_at, gps_at):
        return [(0x010F, 2, len(MAKE), MAKE), (0x0110, 2, len(MODEL), MODEL),
                (0x0112, 3, 1, struct.pack(o + "H", orientation)),
                (0x013B, 2, len(OWNER), OWNER),
                (0x8769, 4, 1, struct.pack(o + "I", exif_at)),
                (0x8825, 4, 1, struct.pack(o + "I", gps_at))]

    h0, d0 = ifd(ifd0(0, 0), 8)
    exif_at = 8 + len(h0) + len(d0)
    hs, ds = ifd(sub, exif_at)
    gps_at = exif_at + len(hs) + len(ds)
    hg, dg = ifd(gps, gps_at)
    ifd1_at = gps_at + len(hg) + len(dg)
    h1, d1 = ifd(ifd1, ifd1_at)
    thumb_at = ifd1_at + len(h1) + len(d1)
    ifd1 = [(0x0201, 4, 1, struct.pack(o + "I", thumb_at)), ifd1[1]]
    h1, d1 = ifd(ifd1, ifd1_at)
    h0, d0 = ifd(ifd0(exif_at, gps_at), 8)
    h0 = h0[:-4] + struct.pack(o + "I", ifd1_at)  # IFD0 -> IFD1
    head = (b"MM\0*" if o == ">" else b"II*\0") + struct.pack(o + "I", 8)
    return head + h0 + d0 + hs + ds + hg + dg + h1 + d1 + b"THUMBNAIL!"


def _encode(codec: str, pix_fmt: str, img: np.ndarray, **opts) -> bytes:
    cc = av.codec.CodecContext.create(codec, "w")
    cc.height, cc.width = img.shape[:2]
    cc.pix_fmt = pix_fmt
    cc.time_base = Fraction(1, 25)
    q = opts.pop("qscale", None)
    if q:
        cc.qmin = cc.qmax = q
    cc.options = {k: str(v) for k, v in opts.items()}
    fmt = "rgba" if img.shape[2] == 4 else "rgb24"
    frame = av.VideoFrame.from_ndarray(img, fmt).reformat(format=pix_fmt)
    return b"".join(bytes(p) for p in cc.encode(frame) + cc.encode(None))


def seg(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def make_jpeg(path: Path, size=(96, 64), qscale: int = 5, pix_fmt: str = "yuvj420p",
              orientation: int = 6, metadata: bool = True) -> Path:
    w, h = size
    data = _encode("mjpeg", pix_fmt, picture(3, w, h), qscale=qscale)
    if metadata:
        extra = (seg(0xE0, b"JFIF\0\x01\x02\x01\x00\x48\x00\x48\0\0")
                 + seg(0xE1, b"Exif\0\0" + tiff_block(orientation=orientation))
                 + seg(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>"
                             b"<exif:GPSLatitude>Gpsville</exif:GPSLatitude></x:xmpmeta>")
                 + seg(0xE2, b"ICC_PROFILE\0\x01\x01" + ICC)
                 + seg(0xED, b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\x0cJane Roe....")
                 + seg(0xEB, b"vendor AcmeCam")
                 + seg(0xFE, b"a comment"))
        data = data[:2] + extra + data[2:]
    path.write_bytes(data)
    return path


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + \
        struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def make_png(path: Path, size=(96, 64), alpha: bool = False) -> Path:
    w, h = size
    img = picture(4, w, h)
    if alpha:
        img = np.dstack([img, np.full((h, w), 200, np.uint8)])
    data = _encode("png", "rgba" if alpha else "rgb24", img)
    i = 8 + 25  # after the signature and IHDR
    extra = (png_chunk(b"eXIf", tiff_block(order="<"))
             + png_chunk(b"tEXt", b"Title\0Street corner")
             + png_chunk(b"tEXt", b"Author\0Jane Roe")
             + png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x>Gpsville</x>"))
    path.write_bytes(data[:i] + extra + data[i:])
    return path


def make_webp(path: Path, size=(96, 64), lossless: bool = True) -> Path:
    w, h = size
    data = _encode("libwebp", "bgra" if lossless else "yuv420p", picture(5, w, h),
                   **({"lossless": 1} if lossless else {"quality": 80}))
    chunks = data[12:]
    assert chunks[:4] in (b"VP8 ", b"VP8L"), chunks[:4]
    exif = tiff_block()
    vp8x = bytes([0x08 | 0x04, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    xmp = b"<x>Gpsville</x>"

    def chunk(k, p):
        return k + struct.pack("<I", len(p)) + p + (b"\0" if len(p) % 2 else b"")

    body = b"WEBP" + chunk(b"VP8X", vp8x) + chunks + chunk(b"EXIF", exif) + chunk(b"XMP ", xmp)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def make_tiff(path: Path, size=(96, 64)) -> Path:
    """A TIFF from FFmpeg with Make, Artist, GPS and Orientation spliced into IFD0."""
    w, h = size
    data = bytearray(_encode("tiff", "rgb24", picture(6, w, h), compression_algo="lzw"))
    o = "<"
    (first,) = struct.unpack_from(o + "I", data, 4)
    (n,) = struct.unpack_from(o + "H", data, first)
    entries = [bytes(data[first + 2 + 12 * k:first + 14 + 12 * k]) for k in range(n)]
    data += b"\0" * (len(data) % 2)
    make_at = len(data)
    data += MAKE
    artist_at = len(data)
    data += OWNER
    entries += [struct.pack(o + "HHII", 0x010F, 2, len(MAKE), make_at),
                struct.pack(o + "HHII", 0x013B, 2, len(OWNER), artist_at),
                struct.pack(o + "HHIH2x", 0x0112, 3, 1, 8)]
    entries.sort(key=lambda e: struct.unpack_from(o + "H", e)[0])
    data += b"\0" * (len(data) % 2)
    at = len(data)
    data += struct.pack(o + "H", len(entries)) + b"".join(entries) + b"\0\0\0\0"
    data[4:8] = struct.pack(o + "I", at)
    path.write_bytes(bytes(data))
    return path


def read_tiff_tags(block: bytes) -> dict[str, dict[int, bytes]]:
    """{"ifd0"/"exif"/"gps"/"ifd1": {tag: raw value}} of a TIFF block (test-side reader)."""
    o = "<" if block[:2] == b"II" else ">"
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}

    def ifd(at):
        (n,) = struct.unpack_from(o + "H", block, at)
        tags = {}
        for k in range(n):
            tag, typ, count, raw = struct.unpack_from(o + "HHI4s", block, at + 2 + 12 * k)
            size = sizes.get(typ, 1) * count
            if size > 4:
                (off,) = struct.unpack(o + "I", raw)
                raw = block[off:off + size]
            tags[tag] = raw[:size]
        (nxt,) = struct.unpack_from(o + "I", block, at + 2 + 12 * n)
        return tags, nxt

    out = {}
    out["ifd0"], nxt = ifd(struct.unpack_from(o + "I", block, 4)[0])
    if nxt:
        out["ifd1"] = ifd(nxt)[0]
    for name, tag in (("exif", 0x8769), ("gps", 0x8825)):
        if tag in out["ifd0"]:
            out[name] = ifd(struct.unpack(o + "I", out["ifd0"][tag])[0])[0]
    out["order"] = o  # type: ignore[assignment]
    return out


def orientation(tags) -> int | None:
    raw = tags["ifd0"].get(0x0112)
    return None if raw is None else struct.unpack(tags["order"] + "H", raw[:2])[0]
