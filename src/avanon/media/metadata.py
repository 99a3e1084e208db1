"""Identifying metadata tags: which container and stream tags name a place, a device or a person.

GDPR treats location, device identifiers and names as personal data. avanon strips these tags
by default (``--keep-metadata`` keeps everything) and reports what it removed.

Keys are compared case-insensitively after removing a namespace prefix such as
``com.apple.quicktime.`` or ``com.android.`` and a language suffix such as ``-eng``. A dotted key
identifies when any of its dotted tails does, down to the last segment, so vendor namespaces of
any depth (``com.samsung.android.location``, ``com.example.camera.model``) are seen through.
"""

from __future__ import annotations

import re
from typing import Mapping

__all__ = ["is_identifying", "split_metadata"]

# Namespaces that vendors put in front of their keys (QuickTime mdta keys, Android, XMP-ish).
_NAMESPACE = re.compile(r"^(com\.apple\.quicktime\.|com\.apple\.|com\.android\.|com\.[a-z0-9]+\.|xmp:|exif:|gps:)")
# QuickTime/MP4 language suffix: "location-eng", "artist-fra".
_LANG_SUFFIX = re.compile(r"-[a-z]{3}$")

#: Exact keys (after namespace and language suffix are removed) that identify.
IDENTIFYING_KEYS = frozenset(
    {
        # location
        "location", "location.iso6709", "location.name", "location.body", "location.note",
        "location.role", "location.date", "location.accuracy.horizontal", "iso6709", "xyz",
        "\u00a9xyz", "gps", "gpscoordinates", "latitude", "longitude", "altitude",
        "gpslatitude", "gpslongitude", "gpsaltitude", "gpsposition",
        # device
        "make", "model", "manufacturer", "serial", "serialnumber", "serial_number",
        "camera.identifier", "camera.lens_model", "camera.focal_length.35mm_equivalent",
        "content.identifier", "device", "device_id", "deviceid", "devicemodel", "devicename",
        "firmware", "lensmodel", "lensserialnumber", "bodyserialnumber", "cameraserialnumber",
        "owner", "ownername", "cameraownername", "imei", "uuid",
        # people
        "artist", "album_artist", "author", "composer", "performer", "creator", "director",
        "producer", "publisher", "email", "e-mail", "user", "username", "copyright",
        "displayname", "person", "people", "keywords.people",
        # opaque blobs known to carry any of the above
        "xmp", "xmp_metadata", "exif",
    }
)


def _normalise(key: str) -> str:
    k = key.strip().lower()
    k = _NAMESPACE.sub("", k)
    k = _LANG_SUFFIX.sub("", k)
    return k


def is_identifying(key: str) -> bool:
    """True when the tag ``key`` names a place, a device or a person.

    Example:
        >>> is_identifying("com.apple.quicktime.location.ISO6709"), is_identifying("title")
        (True, False)
    """
    k = _normalise(key)
    # "samsung.android.location" -> itself, "android.location", "location": a namespace of any
    # depth in front of an identifying key (or of a dotted one such as "location.name") is skipped.
    parts = k.split(".")
    if any(".".join(parts[i:]) in IDENTIFYING_KEYS for i in range(len(parts))):
        return True
    # Any key that is obviously positional or a serial number, whatever the vendor called it.
    return bool(re.search(r"(^|[._ ])(gps|geo|latitude|longitude|serial)", k))


def split_metadata(tags: Mapping[str, str], keep_all: bool) -> tuple[dict[str, str], list[str]]:
    """Split ``tags`` into (kept, stripped keys). With ``keep_all`` nothing is stripped."""
    if keep_all:
        return dict(tags), []
    kept: dict[str, str] = {}
    stripped: list[str] = []
    for key, value in tags.items():
        if is_identifying(key):
            stripped.append(key)
        else:
            kept[key] = value
    return kept, stripped
