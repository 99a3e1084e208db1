"""Identifying metadata: which tags name a place, a device or a person (stripped by default),
and which describe the content (kept)."""

from __future__ import annotations

import pytest

from avanon.media.metadata import is_identifying, split_metadata

LOCATION = [
    "location", "location-eng", "com.apple.quicktime.location.ISO6709",
    "com.apple.quicktime.location.name", "com.apple.quicktime.location.accuracy.horizontal",
    "\u00a9xyz", "\u00a9xyz-eng", "iso6709", "gps", "GPSCoordinates", "xmp:GPSLatitude",
    "gps:GPSLongitude", "latitude", "longitude", "altitude", "gps_timestamp", "geotag",
    "sensor.latitude_ref",
]
DEVICE = [
    "make", "model", "com.apple.quicktime.make", "com.apple.quicktime.model",
    "com.android.model", "manufacturer", "serial", "serial_number", "SerialNumber",
    "camera_serial", "exif:BodySerialNumber", "firmware", "owner", "CameraOwnerName",
    "com.apple.quicktime.camera.lens_model", "com.apple.quicktime.content.identifier",
    "device_id", "imei", "uuid",
]
PEOPLE = [
    "artist", "album_artist", "author", "composer", "performer", "creator", "director",
    "producer", "publisher", "copyright", "email", "e-mail", "username",
    "com.apple.quicktime.author", "com.apple.quicktime.artist", "keywords.people",
]
BLOBS = ["xmp", "XMP_metadata", "exif"]
KEPT = [
    "title", "title-eng", "comment", "description", "synopsis", "genre", "album", "date",
    "creation_time", "encoder", "language", "handler_name", "major_brand", "minor_version",
    "compatible_brands", "com.apple.quicktime.software", "com.android.version",
    "com.android.capture.fps", "com.apple.quicktime.title", "track", "rotate", "duration",
]


@pytest.mark.parametrize("key", LOCATION + DEVICE + PEOPLE + BLOBS)
def test_identifying(key):
    assert is_identifying(key) is True


@pytest.mark.parametrize("key", KEPT)
def test_kept(key):
    assert is_identifying(key) is False


@pytest.mark.parametrize(
    "key",
    ["LOCATION", "Location-ENG", " Make ", "MODEL", "COM.APPLE.QUICKTIME.MAKE",
     "Com.Apple.QuickTime.Location.ISO6709", "Artist-fra", "XMP:GPSAltitude", "Serial Number"],
)
def test_case_whitespace_namespace_and_language_suffix_are_ignored(key):
    assert is_identifying(key) is True


@pytest.mark.parametrize(
    "key, expected",
    [
        # a vendor namespace is removed before the lookup...
        ("com.acme.make", True),
        ("com.acme.title", False),
        # ...and a three-letter language suffix
        ("model-deu", True),
        ("comment-deu", False),
    ],
)
def test_normalisation(key, expected):
    assert is_identifying(key) is expected


@pytest.mark.parametrize(
    "key",
    ["com.samsung.android.location", "com.example.camera.model", "com.vendor.device.make",
     "com.samsung.android.location-eng", "COM.EXAMPLE.CAMERA.MODEL", "com.vendor.a.b.c.serial",
     "com.vendor.device.location.name", "org.vendor.app.artist"],
)
def test_identifying_key_under_a_multi_level_vendor_namespace(key):
    assert is_identifying(key) is True


@pytest.mark.parametrize(
    "key",
    ["title", "comment", "encoder", "handler_name", "language", "com.samsung.android.title",
     "com.example.camera.comment", "com.vendor.device.encoder", "com.samsung.android.utc_offset"],
)
def test_content_key_stays_kept_with_or_without_a_deep_namespace(key):
    assert is_identifying(key) is False


def test_split_metadata_strips_deep_vendor_keys():
    tags = {"com.samsung.android.location": "+37.5-122.1/", "title": "Run",
            "com.example.camera.model": "X100", "handler_name": "VideoHandler",
            "com.vendor.device.make": "Acme", "language": "eng"}
    kept, stripped = split_metadata(tags, keep_all=False)
    assert kept == {"title": "Run", "handler_name": "VideoHandler", "language": "eng"}
    assert stripped == ["com.samsung.android.location", "com.example.camera.model",
                        "com.vendor.device.make"]


def test_split_metadata_strips_identifying_keys_in_order():
    tags = {
        "title": "Holiday",
        "artist": "Jane Doe",
        "comment": "keep me",
        "location": "+48.8577+002.2950/",
        "com.apple.quicktime.make": "Apple",
        "encoder": "Lavf62",
        "location-eng": "+48.8577+002.2950/",
    }
    kept, stripped = split_metadata(tags, keep_all=False)
    assert kept == {"title": "Holiday", "comment": "keep me", "encoder": "Lavf62"}
    assert stripped == ["artist", "location", "com.apple.quicktime.make", "location-eng"]
    assert list(kept) == ["title", "comment", "encoder"]
    assert len(tags) == 7  # the input is not modified


def test_split_metadata_keep_all_strips_nothing_and_copies():
    tags = {"title": "Street", "make": "Acme", "serial_number": "SN123"}
    kept, stripped = split_metadata(tags, keep_all=True)
    assert kept == tags
    assert stripped == []
    kept["title"] = "changed"
    assert tags["title"] == "Street"


def test_split_metadata_of_nothing():
    assert split_metadata({}, keep_all=False) == ({}, [])
