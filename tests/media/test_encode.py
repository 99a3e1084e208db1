"""plan_encoder, EncodeConfig and parse_bitrate: which encoder, pixel format, rate control and
clock the re-encoded video stream gets, and which option values are refused."""

from __future__ import annotations

import dataclasses
import io
import re
from fractions import Fraction

import av
import pytest

from avanon.errors import ConfigError, EncoderError
from avanon.media.encode import EncodeConfig, parse_bitrate, plan_encoder

TB = Fraction(1, 15360)
RATE = Fraction(30)
W, H = 640, 360
#: What an encoder without CRF gets when the source states no bitrate: 0.12 bit per pixel.
FALLBACK_30FPS = int(W * H * 30 * 0.12)
FALLBACK_25FPS = int(W * H * 25 * 0.12)


def has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


def need(*names: str) -> None:
    missing = [n for n in names if not has_encoder(n)]
    if missing:
        pytest.skip(f"encoder(s) {', '.join(missing)} not in this FFmpeg build")


def encodable(encoder: str, pix_fmt: str) -> bool:
    return pix_fmt in [f.name for f in (av.codec.Codec(encoder, "w").video_formats or [])]


def plan(source: str = "h264", pix_fmt: str = "yuv420p", /, *, time_base: Fraction = TB,
         rate: Fraction | None = RATE, bit_rate: int | None = None, **config):
    """plan_encoder for a 640x360 source decoded as ``source``; ``config`` is EncodeConfig's."""
    return plan_encoder(source, pix_fmt, time_base, rate, bit_rate, W, H, EncodeConfig(**config))


# -- codec family ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "source, encoder",
    [
        ("h264", "libx264"),
        ("hevc", "libx265"),
        ("mpeg1video", "mpeg1video"),
        ("mpeg2video", "mpeg2video"),
        ("mpeg4", "mpeg4"),
        ("vp9", "libvpx-vp9"),
        ("vp8", "libvpx"),
    ],
)
def test_keeps_the_source_codec_family(source, encoder):
    need(encoder)
    p = plan(source)
    assert p.encoder == encoder
    # The encoder writes the very codec the source was decoded as.
    assert av.codec.Codec(p.encoder, "w").id == av.codec.Codec(source, "r").id
    assert p.notes == ()


def test_av1_uses_the_first_av1_encoder_of_this_build():
    available = [n for n in ("libsvtav1", "libaom-av1", "librav1e") if has_encoder(n)]
    if not available:
        pytest.skip("no AV1 encoder (libsvtav1, libaom-av1, librav1e) in this FFmpeg build")
    p = plan("av1")
    assert p.encoder == available[0]
    assert av.codec.Codec(p.encoder, "w").id == av.codec.Codec("av1", "r").id


def test_codec_without_encoder_falls_back_to_libx264_with_a_note():
    need("libx264")
    assert not has_encoder("vp6f")  # decode-only in FFmpeg
    p = plan("vp6f")
    assert p.encoder == "libx264"
    assert p.notes == ("no vp6f encoder in this FFmpeg build: using libx264",)


# -- pixel format ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "source, encoder, pix_fmt",
    [
        ("hevc", "libx265", "yuv420p10le"),
        ("hevc", "libx265", "yuv422p10le"),
        ("h264", "libx264", "yuv420p10le"),
        ("h264", "libx264", "yuv444p"),
        ("mpeg2video", "mpeg2video", "yuv422p"),
        ("vp9", "libvpx-vp9", "yuv444p"),
    ],
)
def test_keeps_the_pixel_format_the_encoder_supports(source, encoder, pix_fmt):
    need(encoder)
    if not encodable(encoder, pix_fmt):
        pytest.skip(f"this build's {encoder} cannot encode {pix_fmt}")
    p = plan(source, pix_fmt)
    assert (p.encoder, p.pix_fmt, p.notes) == (encoder, pix_fmt, ())


@pytest.mark.parametrize(
    "source, encoder, src_fmt, expected",
    [
        ("mpeg1video", "mpeg1video", "yuv422p", "yuv420p"),
        ("mpeg4", "mpeg4", "yuv420p10le", "yuv420p"),
        ("vp9", "libvpx-vp9", "yuv420p10le", "yuv420p"),
        # Bit depth wins over chroma: 10-bit 4:2:2 becomes 10-bit 4:2:0, not 8-bit.
        ("av1", "libsvtav1", "yuv422p10le", "yuv420p10le"),
        ("prores", "prores_ks", "yuv420p10le", "yuv422p10le"),
    ],
)
def test_unsupported_pixel_format_is_converted_with_a_note(source, encoder, src_fmt, expected):
    need(encoder)
    if encodable(encoder, src_fmt):
        pytest.skip(f"this build's {encoder} encodes {src_fmt}: nothing to convert")
    p = plan(source, src_fmt)
    assert p.encoder == encoder
    assert p.pix_fmt == expected
    assert p.notes == (f"{encoder} cannot encode {src_fmt}: converted to {expected}",)


# -- quality ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "source, encoder, crf, extra",
    [
        ("h264", "libx264", "18", {"forced-idr": "1"}),
        ("hevc", "libx265", "20", {"forced-idr": "1", "x265-params": "log-level=error"}),
    ],
)
def test_x26x_crf_with_peak_capped_at_one_and_a_half_times_the_source(source, encoder, crf, extra):
    need(encoder)
    p = plan(source, bit_rate=1_234_567)
    assert p.bit_rate is None  # constant quality, no average target
    assert p.options == {"preset": "medium", "crf": crf, "maxrate": "1851850",
                         "bufsize": "3703701", **extra}


def test_x264_without_a_source_bitrate_has_no_peak_cap():
    need("libx264")
    p = plan("h264", bit_rate=None)
    assert p.options["crf"] == "18"
    assert "maxrate" not in p.options and "bufsize" not in p.options


def test_vp9_is_constant_quality_without_a_cap():
    need("libvpx-vp9")
    p = plan("vp9", bit_rate=2_000_000)
    assert p.bit_rate == 0  # libvpx-vp9's pure constant-quality mode
    assert p.options == {"crf": "24", "deadline": "good", "cpu-used": "4", "row-mt": "1"}


def test_vp8_crf_needs_a_bitrate_ceiling():
    need("libvpx")
    assert plan("vp8", bit_rate=700_000).bit_rate == 700_000
    assert plan("vp8").bit_rate == FALLBACK_30FPS
    assert plan("vp8").options["crf"] == "8"


def test_svtav1_crf_and_preset():
    need("libsvtav1")
    p = plan("av1", bit_rate=2_000_000)
    assert p.encoder == "libsvtav1"
    assert p.options == {"preset": "8", "crf": "27"}
    assert p.bit_rate is None


@pytest.mark.parametrize("source", ["mpeg1video", "mpeg2video", "mpeg4"])
def test_mpeg_encoders_get_the_source_bitrate(source):
    p = plan(source, bit_rate=1_500_000)
    assert p.bit_rate == 1_500_000
    assert p.options == {}  # no crf, no preset, no peak cap


@pytest.mark.parametrize("rate, expected", [(RATE, FALLBACK_30FPS), (None, FALLBACK_25FPS)])
def test_mpeg_encoder_without_a_source_bitrate_gets_0_12_bit_per_pixel(rate, expected):
    assert plan("mpeg4", bit_rate=None, rate=rate).bit_rate == expected


# -- overrides -------------------------------------------------------------------------------

def test_crf_override_replaces_the_default_and_lifts_the_peak_cap():
    need("libx264")
    p = plan("h264", bit_rate=1_000_000, crf=23.5)
    assert p.options["crf"] == "23.5"
    assert "maxrate" not in p.options and "bufsize" not in p.options
    assert p.bit_rate is None


def test_crf_on_an_encoder_without_crf_is_ignored_with_a_note():
    p = plan("mpeg2video", bit_rate=900_000, crf=20)
    assert "crf" not in p.options
    assert p.bit_rate == 900_000
    assert p.notes == ("mpeg2video has no CRF mode: crf ignored, using the source bitrate",)


def test_bitrate_override_on_x264_targets_it_with_a_peak_cap():
    need("libx264")
    p = plan("h264", bit_rate=5_000_000, bitrate=800_000)
    assert p.bit_rate == 800_000
    assert "crf" not in p.options
    assert (p.options["maxrate"], p.options["bufsize"]) == ("1200000", "2400000")


@pytest.mark.parametrize("source", ["h264", "mpeg2video"])
def test_bitrate_with_crf_wins_and_notes_that_crf_was_ignored(source):
    """README and --help: the bitrate is a target "instead of CRF", so giving both is allowed;
    the crf is not silently dropped but named in a note."""
    if source == "h264":
        need("libx264")
    p = plan(source, bit_rate=5_000_000, bitrate=800_000, crf=20)
    assert p.bit_rate == 800_000
    assert "crf" not in p.options
    assert p.notes == ("crf 20 ignored: bitrate 800000 replaces constant quality",)


def test_bitrate_alone_has_no_note():
    assert plan("mpeg4", bitrate=800_000).notes == ()


@pytest.mark.parametrize("source", ["vp9", "mpeg4"])
def test_bitrate_override_replaces_crf_and_the_source_bitrate(source):
    if source == "vp9":
        need("libvpx-vp9")
    p = plan(source, bit_rate=5_000_000, bitrate=640_000)
    assert p.bit_rate == 640_000
    assert "crf" not in p.options and "maxrate" not in p.options


def test_codec_override_leaves_the_family():
    need("libx264", "libx265")
    p = plan("hevc", "yuv420p", codec="libx264")
    assert p.encoder == "libx264"
    assert p.options["crf"] == "18"
    assert p.notes == ()


def test_codec_override_to_a_picture_clock_encoder_gets_a_picture_clock():
    p = plan("h264", codec="mpeg2video", time_base=TB, rate=Fraction(30))
    assert (p.encoder, p.picture_clock, p.time_base) == ("mpeg2video", True, Fraction(1, 30))


@pytest.mark.parametrize("source, encoder", [("h264", "libx264"), ("hevc", "libx265")])
def test_preset_override(source, encoder):
    need(encoder)
    assert plan(source).options["preset"] == "medium"
    assert plan(source, preset="veryfast").options["preset"] == "veryfast"


# -- clock -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "source, time_base, rate, expected_tb",
    [
        ("mpeg1video", Fraction(1, 90000), Fraction(25), Fraction(1, 25)),
        ("mpeg2video", Fraction(1, 90000), Fraction(30000, 1001), Fraction(1001, 30000)),
        # a measured rate a hair off 25 fps still gets a 1/25 clock
        ("mpeg2video", Fraction(1, 1000), Fraction(2500001, 100000), Fraction(1, 25)),
        ("mpeg1video", Fraction(1, 90000), None, Fraction(1, 25)),
        # MPEG-4 part 2 keeps the source clock unless its denominator exceeds 16 bits
        ("mpeg4", Fraction(1, 90000), Fraction(24), Fraction(1, 24)),
    ],
)
def test_picture_clock_encoders_count_frames(source, time_base, rate, expected_tb):
    p = plan(source, time_base=time_base, rate=rate)
    assert p.picture_clock is True
    assert p.time_base == expected_tb


@pytest.mark.parametrize(
    "source, time_base",
    [("mpeg4", Fraction(1, 15360)), ("mpeg4", Fraction(1, 65535)), ("h264", Fraction(1, 90000)),
     ("hevc", Fraction(1, 1000)), ("vp9", Fraction(1, 1000))],
)
def test_other_encoders_keep_the_source_time_base(source, time_base):
    p = plan(source, time_base=time_base)
    if not has_encoder(p.encoder):
        pytest.skip(f"encoder {p.encoder} not in this FFmpeg build")
    assert p.picture_clock is False
    assert p.time_base == time_base


# -- EncodeConfig ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, None),
        ({"codec": "mpeg4", "crf": 0, "bitrate": 1, "threads": 0}, None),
        ({"crf": 63, "threads": 4}, None),
        ({"codec": "png", "bitrate": 10**12}, None),
        ({"codec": "nosuchencoder"}, "codec 'nosuchencoder': no such encoder in this FFmpeg build"),
        ({"crf": -1}, "crf -1: expected a number in 0..63"),
        ({"crf": 63.5}, "crf 63.5: expected a number in 0..63"),
        ({"crf": float("nan")}, "crf nan: expected a number in 0..63"),
        ({"codec": "aac"}, "codec 'aac': not a video encoder (it encodes audio)"),
        ({"codec": "mov_text"}, "codec 'mov_text': not a video encoder (it encodes subtitle)"),
        ({"bitrate": 0.5}, "bitrate 0.5: expected a whole number of bit/s"),
        ({"bitrate": 800_000.0}, "bitrate 800000.0: expected a whole number of bit/s"),
        ({"bitrate": True}, "bitrate True: expected a whole number of bit/s"),
        ({"bitrate": 10**12 + 1}, "bitrate 1000000000001: expected at most 1000000000000 bit/s"),
        ({"bitrate": 0}, "bitrate 0: expected a positive bitrate"),
        ({"bitrate": -64_000}, "bitrate -64000: expected a positive bitrate"),
        ({"threads": -1}, "encoder threads -1: expected >= 0"),
    ],
)
def test_encode_config_validation(kwargs, message):
    if message is None:
        cfg = EncodeConfig(**kwargs)
        for key, value in kwargs.items():
            assert getattr(cfg, key) == value
        return
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        EncodeConfig(**kwargs)
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_encode_config_is_frozen():
    cfg = EncodeConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.crf = 10  # type: ignore[misc]
    assert (cfg.codec, cfg.crf, cfg.bitrate, cfg.preset, cfg.keyframes_from_source, cfg.threads) == \
        (None, None, None, None, True, 0)


# -- parse_bitrate ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, expected",
    [
        ("2.5M", 2_500_000),
        ("2.5m", 2_500_000),
        ("800k", 800_000),
        ("800K", 800_000),
        ("0.5k", 500),
        ("1200000", 1_200_000),
        (" 3G ", 3_000_000_000),
        ("1e3k", 1_000_000),
        ("4.1M", 4_100_000),  # decimal, not binary: float("4.1") * 1e6 is 4099999.9999999995
        ("8.2M", 8_200_000),
        ("1e-3k", 1),
        ("1000G", 10**12),
    ],
)
def test_parse_bitrate(text, expected):
    value = parse_bitrate(text)
    assert value == expected
    assert isinstance(value, int)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "expected a number with optional k/M suffix"),
        ("k", "expected a number with optional k/M suffix"),
        ("fast", "expected a number with optional k/M suffix"),
        ("12x", "expected a number with optional k/M suffix"),
        ("1,5M", "expected a number with optional k/M suffix"),
        ("2.5 Mbit", "expected a number with optional k/M suffix"),
        ("0", "expected a positive bitrate"),
        ("0k", "expected a positive bitrate"),
        ("-5k", "expected a positive bitrate"),
        ("nan", "expected a finite number with optional k/M suffix"),
        ("NaN", "expected a finite number with optional k/M suffix"),
        ("inf", "expected a finite number with optional k/M suffix"),
        ("-infk", "expected a finite number with optional k/M suffix"),
        ("Infinity", "expected a finite number with optional k/M suffix"),
        ("snan", "expected a number with optional k/M suffix"),
        ("0.0004", "expected a whole number of bit/s, got 0.0004 bit/s"),
        ("1.5", "expected a whole number of bit/s, got 1.5 bit/s"),
        ("0.0004k", "expected a whole number of bit/s, got 0.4 bit/s"),
        ("1e400", "expected at most 1000000000000 bit/s"),
        ("1001G", "expected at most 1000000000000 bit/s"),
    ],
)
def test_parse_bitrate_rejects(text, fragment):
    with pytest.raises(ConfigError) as info:
        parse_bitrate(text)
    assert str(info.value) == f"bitrate {text!r}: {fragment}"


# -- per-encoder ranges, checked before anything runs ----------------------------------------

@pytest.mark.parametrize(
    "source, config, message",
    [
        ("h264", {"crf": 60}, "crf 60: libx264 takes 0..51"),
        ("hevc", {"crf": 52}, "crf 52: libx265 takes 0..51"),
        ("av1", {"crf": 0}, "crf 0: libsvtav1 takes 1..63"),
        ("h264", {"preset": "warp9"}, "preset 'warp9': libx264 takes ultrafast, superfast"),
        ("hevc", {"preset": "8"}, "preset '8': libx265 takes ultrafast"),
        ("av1", {"preset": "medium"}, "preset 'medium': libsvtav1 takes a number in -1..13"),
        ("av1", {"preset": "14"}, "preset '14': libsvtav1 takes a number in -1..13"),
        ("vp9", {"preset": "fast"}, "preset 'fast': libvpx-vp9 has no speed presets"),
        ("mpeg4", {"preset": "fast"}, "preset 'fast': mpeg4 has no speed presets"),
    ],
)
def test_crf_and_preset_outside_what_the_encoder_takes_are_refused(source, config, message):
    encoder = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1", "vp9": "libvpx-vp9",
               "mpeg4": "mpeg4"}[source]
    need(encoder)
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan(source, **config)
    with pytest.raises(ConfigError, match=re.escape(message)):  # named up front: at once
        EncodeConfig(codec=encoder, **config)


@pytest.mark.parametrize(
    "source, config",
    [("h264", {"crf": 51, "preset": "placebo"}), ("h264", {"crf": 0}), ("vp9", {"crf": 63}),
     ("av1", {"crf": 63, "preset": "13"}), ("av1", {"crf": 1, "preset": "-1"}),
     ("h264", {"crf": 60, "bitrate": 800_000})],  # crf replaced by the bitrate: not checked
)
def test_crf_and_preset_at_the_ends_of_their_ranges_are_taken(source, config):
    encoder = {"h264": "libx264", "vp9": "libvpx-vp9", "av1": "libsvtav1"}[source]
    need(encoder)
    assert plan(source, **config).encoder == encoder


# -- the output container ------------------------------------------------------------------------

def container(name: str):
    from avanon.media.sink import container_of

    return container_of(av.open(io.BytesIO(), "w", format=name))


@pytest.mark.parametrize(
    "source, fmt, encoder, note",
    [
        ("h264", "webm", "libvpx-vp9", "webm cannot hold h264: using libvpx-vp9"),
        ("gif", "mp4", "libx264", "mp4 cannot hold gif: using libx264"),
        ("h264", "matroska", "libx264", None),
        ("mpeg1video", "mpegts", "mpeg1video", None),
        ("hevc", "matroska", "libx265", None),
        ("hevc", "avi", "mpeg4", "avi cannot hold hevc: using mpeg4"),  # the container's default
        ("mpeg4", "webm", "libvpx-vp9", "webm cannot hold mpeg4: using libvpx-vp9"),
        ("vp6f", "mp4", "libx264", "no vp6f encoder in this FFmpeg build: using libx264"),
    ],
)
def test_the_output_container_decides_among_encoders(source, fmt, encoder, note):
    need(encoder)
    p = plan_encoder(source, "yuv420p", TB, RATE, None, W, H, EncodeConfig(), container(fmt))
    assert p.encoder == encoder
    assert (note in p.notes) if note else not any("using" in n for n in p.notes)


def test_a_container_without_video_is_an_encoder_error():
    with pytest.raises(EncoderError, match="wav cannot hold h264, and no video encoder of this "
                                           "FFmpeg build fits the wav format"):
        plan_encoder("h264", "yuv420p", TB, RATE, None, W, H, EncodeConfig(), container("wav"))


@pytest.mark.parametrize(
    "src_fmt, encoder, expected",
    [("bgra", "libx264", "yuv420p"), ("rgb24", "libvpx-vp9", "yuv420p"), ("bgra", "gif", "pal8"),
     ("rgb48le", "libx265", "yuv420p10le")],
)
def test_rgb_pictures_go_to_420_or_a_palette_never_to_gray(src_fmt, encoder, expected):
    need(encoder)
    assert plan("h264", src_fmt, codec=encoder).pix_fmt == expected


@pytest.mark.parametrize(
    "encoder, size, padded",
    [("libx264", (97, 63), (98, 64)), ("libx264", (96, 64), (96, 64)),
     ("libx265", (31, 32), (32, 32)), ("libvpx-vp9", (97, 63), (97, 63)),
     ("mpeg4", (97, 63), (97, 63))],
)
def test_encoders_that_need_even_sizes_get_padded_ones(encoder, size, padded):
    need(encoder)
    p = plan_encoder("h264", "bgra", TB, RATE, None, *size, EncodeConfig(codec=encoder))
    assert p.size == padded
    assert any("padded" in n for n in p.notes) == (padded != size)
