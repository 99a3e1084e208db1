"""EXIF (a TIFF structure) read and rebuilt without the tags that identify a place, a device or a
person, and never with its thumbnail.

Photos carry EXIF in a JPEG APP1 segment, a PNG ``eXIf`` chunk, a WebP ``EXIF`` chunk, or as the
TIFF file's own tags. :func:`parse` reads IFD0, the Exif IFD, the GPS IFD and the Interop IFD as
raw entries (values kept as bytes in the file's byte order); :func:`clean` keeps only tags known
to be harmless (orientation, capture time, exposure, colour, resolution) unless told to keep
everything; :func:`build` writes a new TIFF structure. IFD1, the embedded thumbnail, is always
dropped: it is an unmasked copy of the picture.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["Exif", "Entry", "parse", "clean", "build", "ORIENTATION"]

ORIENTATION = 0x0112
EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005

#: Bytes per value of each TIFF field type.
_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}

#: IFD0 tags kept by default (orientation, resolution, colour, time, description).
KEEP_IFD0 = frozenset({0x010E, 0x0112, 0x011A, 0x011B, 0x0128, 0x0132, 0x013E, 0x013F,
                       0x0211, 0x0213})
#: Exif IFD tags kept by default (capture time and exposure; no device, lens or owner).
KEEP_EXIF = frozenset({
    0x829A, 0x829D, 0x8822, 0x8827, 0x8830, 0x8832, 0x9000, 0x9003, 0x9004, 0x9010, 0x9011,
    0x9012, 0x9101, 0x9102, 0x9201, 0x9202, 0x9203, 0x9204, 0x9205, 0x9206, 0x9207, 0x9208,
    0x9209, 0x920A, 0x9290, 0x9291, 0x9292, 0xA000, 0xA001, 0xA002, 0xA003, 0xA217, 0xA300,
    0xA301, 0xA401, 0xA402, 0xA403, 0xA404, 0xA405, 0xA406, 0xA407, 0xA408, 0xA409, 0xA40A,
    0xA40C, 0xA500})
#: Names of the tags reported when stripped (others are reported by number).
NAMES = {
    0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x013B: "Artist", 0x013C: "HostComputer",
    0x8298: "Copyright", 0x927C: "MakerNote", 0x9286: "UserComment", 0xA420: "ImageUniqueID",
    0xA430: "CameraOwnerName", 0xA431: "BodySerialNumber", 0xA432: "LensSpecification",
    0xA433: "LensMake", 0xA434: "LensModel", 0xA435: "LensSerialNumber", 0x9C9B: "XPTitle",
    0x9C9C: "XPComment", 0x9C9D: "XPAuthor", 0x9C9E: "XPKeywords", 0x9C9F: "XPSubject",
    0xC62F: "CameraSerialNumber", 0x8773: "ICCProfile", 0x02BC: "XMP", 0x83BB: "IPTC",
}


@dataclass(frozen=True)
class Entry:
    """One IFD entry: tag, field type, count and the value's raw bytes (file byte order)."""

    tag: int
    type: int
    count: int
    value: bytes


@dataclass
class Exif:
    """The IFDs of an EXIF block (IFD1 and its thumbnail are not read)."""

    order: str  # "<" (II) or ">" (MM)
    ifd0: list[Entry] = field(default_factory=list)
    exif: list[Entry] = field(default_factory=list)
    gps: list[Entry] = field(default_factory=list)
    interop: list[Entry] = field(default_factory=list)
    had_thumbnail: bool = False

    @property
    def orientation(self) -> int | None:
        """The Orientation tag (1..8) or None."""
        for e in self.ifd0:
            if e.tag == ORIENTATION and e.type == 3 and e.count >= 1:
                return struct.unpack(self.order + "H", e.value[:2])[0]
        return None

    def __len__(self) -> int:
        return len(self.ifd0) + len(self.exif) + len(self.gps) + len(self.interop)


class ExifError(ValueError):
    """The bytes are not a TIFF structure this reader understands."""


def _read_ifd(data: bytes, offset: int, order: str) -> tuple[list[Entry], int]:
    if offset + 2 > len(data):
        raise ExifError(f"IFD offset {offset} beyond the {len(data)}-byte block")
    (n,) = struct.unpack_from(order + "H", data, offset)
    if offset + 2 + 12 * n + 4 > len(data):
        raise ExifError(f"IFD at {offset} with {n} entries runs past the block")
    entries = []
    for k in range(n):
        tag, typ, count, raw = struct.unpack_from(order + "HHI4s", data, offset + 2 + 12 * k)
        size = _SIZE.get(typ)
        if size is None:
            continue  # unknown field type: cannot be copied safely
        nbytes = size * count
        if nbytes <= 4:
            value = raw[:nbytes]
        else:
            (at,) = struct.unpack(order + "I", raw)
            if at + nbytes > len(data):
                continue  # dangling value: dropped
            value = data[at:at + nbytes]
        entries.append(Entry(tag, typ, count, value))
    (nxt,) = struct.unpack_from(order + "I", data, offset + 2 + 12 * n)
    return entries, nxt


def parse(data: bytes) -> Exif:
    """Read a TIFF-structured EXIF block (starting at ``II*\\0`` or ``MM\\0*``).

    Raises:
        ExifError: not a TIFF header, or an IFD runs past the block.
    """
    if data[:6] == b"Exif\0\0":
        data = data[6:]
    if data[:4] == b"II*\0":
        order = "<"
    elif data[:4] == b"MM\0*":
        order = ">"
    else:
        raise ExifError("no TIFF header")
    (first,) = struct.unpack_from(order + "I", data, 4)
    ifd0, nxt = _read_ifd(data, first, order)
    out = Exif(order, had_thumbnail=nxt != 0)
    for e in ifd0:
        sub = {EXIF_IFD: "exif", GPS_IFD: "gps"}.get(e.tag)
        if sub is None:
            out.ifd0.append(e)
            continue
        (at,) = struct.unpack(order + "I", e.value[:4])
        entries, _ = _read_ifd(data, at, order)
        if sub == "exif":
            for x in entries:
                if x.tag == INTEROP_IFD:
                    (iat,) = struct.unpack(order + "I", x.value[:4])
                    out.interop = _read_ifd(data, iat, order)[0]
                else:
                    out.exif.append(x)
        else:
            out.gps = entries
    return out


def _name(tag: int) -> str:
    return NAMES.get(tag, f"0x{tag:04X}")


def clean(exif: Exif, keep_all: bool = False) -> tuple[Exif, list[str]]:
    """``exif`` without the tags that may identify, and the names of what was stripped.

    Kept by default: the tags of :data:`KEEP_IFD0` and :data:`KEEP_EXIF`. Everything else goes:
    the GPS IFD, make, model, serial numbers, owner, artist, copyright, maker notes, lens,
    software, unique ids, comments, and any tag not known to be harmless. With ``keep_all``
    every tag is kept. The thumbnail is dropped either way.
    """
    stripped: list[str] = []
    if exif.had_thumbnail:
        stripped.append("thumbnail")
    if keep_all:
        return Exif(exif.order, list(exif.ifd0), list(exif.exif), list(exif.gps),
                    list(exif.interop)), stripped
    ifd0 = [e for e in exif.ifd0 if e.tag in KEEP_IFD0]
    sub = [e for e in exif.exif if e.tag in KEEP_EXIF]
    stripped += [_name(e.tag) for e in exif.ifd0 + exif.exif if e not in ifd0 and e not in sub]
    if exif.gps:
        stripped.append("GPS")
    return Exif(exif.order, ifd0, sub), stripped


def _write_ifd(entries: list[Entry], at: int, order: str) -> tuple[bytes, bytes]:
    """(IFD bytes, value bytes) for an IFD placed at ``at`` with its values right after."""
    entries = sorted(entries, key=lambda e: e.tag)
    head = bytearray(struct.pack(order + "H", len(entries)))
    values = bytearray()
    data_at = at + 2 + 12 * len(entries) + 4
    for e in entries:
        if len(e.value) <= 4:
            head += struct.pack(order + "HHI", e.tag, e.type, e.count) + e.value.ljust(4, b"\0")
        else:
            head += struct.pack(order + "HHII", e.tag, e.type, e.count, data_at + len(values))
            values += e.value
            if len(values) % 2:
                values += b"\0"
    head += b"\0\0\0\0"  # no next IFD (no thumbnail)
    return bytes(head), bytes(values)


def build(exif: Exif) -> bytes:
    """The TIFF structure of ``exif`` (header, IFD0, Exif, Interop and GPS IFDs); empty bytes
    when it holds no tag."""
    if not len(exif):
        return b""
    o = exif.order

    def pointer(tag: int, at: int) -> Entry:
        return Entry(tag, 4, 1, struct.pack(o + "I", at))

    def size(entries: list[Entry]) -> int:
        return 2 + 12 * len(entries) + 4 + sum(len(e.value) + len(e.value) % 2
                                               for e in entries if len(e.value) > 4)

    sub = list(exif.exif)
    ifd0 = list(exif.ifd0)
    # lay out: IFD0 (+ pointers), Exif IFD (+ Interop pointer), Interop IFD, GPS IFD
    n_ptr = bool(sub or exif.interop) + bool(exif.gps)
    at0 = 8
    at_exif = at0 + size(ifd0 + [pointer(0, 0)] * n_ptr)
    if exif.interop:
        sub = sub + [pointer(INTEROP_IFD, 0)]
    at_interop = at_exif + (size(sub) if (sub or exif.interop) else 0)
    at_gps = at_interop + (size(exif.interop) if exif.interop else 0)
    if exif.interop:
        sub = sub[:-1] + [pointer(INTEROP_IFD, at_interop)]
    if sub:
        ifd0.append(pointer(EXIF_IFD, at_exif))
    if exif.gps:
        ifd0.append(pointer(GPS_IFD, at_gps))
    out = bytearray(b"II*\0" if o == "<" else b"MM\0*") + struct.pack(o + "I", at0)
    for entries, at in ((ifd0, at0), (sub, at_exif), (exif.interop, at_interop),
                        (exif.gps, at_gps)):
        if not entries:
            continue
        assert len(out) == at, (len(out), at)
        head, values = _write_ifd(entries, at, o)
        out += head + values
    return bytes(out)
