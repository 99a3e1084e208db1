"""Encoder choice and settings for the re-encoded video stream.

Rule: keep the source's codec family, size, pixel format (bit depth included) and colour tags.
Quality by default is *visually transparent at about the source's size*: a constant-quality
encode (CRF) whose peak rate is capped relative to the source's bitrate, so a sharp,
low-bitrate source is not blown up and a noisy one is not starved. Encoders without a CRF mode
(MPEG-1/2/4, MJPEG...) get the source's bitrate.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Callable

import av

from ..errors import ConfigError, EncoderError

__all__ = ["Container", "EncodeConfig", "EncoderPlan", "plan_encoder"]

#: Decoder codec name -> encoders to try, in order.
FAMILY: dict[str, tuple[str, ...]] = {
    "h264": ("libx264", "libopenh264", "h264"),
    "hevc": ("libx265", "hevc"),
    "vp9": ("libvpx-vp9",),
    "vp8": ("libvpx",),
    "av1": ("libsvtav1", "libaom-av1", "librav1e"),
    "mpeg1video": ("mpeg1video",),
    "mpeg2video": ("mpeg2video",),
    "mpeg4": ("mpeg4",),
    "msmpeg4v3": ("msmpeg4",),
    "h263": ("h263",),
    "mjpeg": ("mjpeg",),
    "prores": ("prores_ks", "prores"),
    "theora": ("libtheora",),
    "ffv1": ("ffv1",),
}

#: Default constant-quality value per encoder (visually transparent on our clips, see README).
DEFAULT_CRF: dict[str, int] = {"libx264": 18, "libx265": 20, "libvpx-vp9": 24, "libvpx": 8,
                               "libsvtav1": 27, "libaom-av1": 24}
#: Constant-quality values each encoder takes (x264/x265: 0..51, VP8/VP9 and AV1: 0..63; SVT-AV1
#: has no lossless CRF 0).
CRF_RANGE: dict[str, tuple[int, int]] = {"libx264": (0, 51), "libx265": (0, 51),
                                         "libvpx-vp9": (0, 63), "libvpx": (0, 63),
                                         "libsvtav1": (1, 63), "libaom-av1": (0, 63)}
#: Encoders whose speed/quality trade-off is a named preset, and its default.
DEFAULT_PRESET: dict[str, str] = {"libx264": "medium", "libx265": "medium", "libsvtav1": "8"}
_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")
#: The presets each encoder takes: names, or an (inclusive) range of numbers. Checked before
#: anything runs, because x264 prints its own complaint on stderr when it gets another one.
PRESETS: dict[str, tuple[str, ...] | range] = {"libx264": _X26X_PRESETS, "libx265": _X26X_PRESETS,
                                               "libsvtav1": range(-1, 14)}
#: Encoders without a speed preset (their speed has other knobs): ``preset`` is refused for them.
NO_PRESET = frozenset({"libvpx", "libvpx-vp9", "libaom-av1", "librav1e", "mpeg1video",
                       "mpeg2video", "mpeg4", "msmpeg4", "h263", "mjpeg", "prores_ks",
                       "libtheora", "ffv1", "gif"})
#: Encoders tried, in order, when the output container cannot hold the source's family (after
#: the container's own default).
FALLBACK: tuple[str, ...] = ("libx264", "libvpx-vp9", "libsvtav1", "libaom-av1", "librav1e",
                             "libx265", "libvpx", "mpeg4", "mpeg2video", "mpeg1video",
                             "libtheora", "mjpeg")
#: Encoders that refuse odd sizes in a subsampled pixel format: frames get a repeated last
#: column/row instead (the summary says so).
EVEN_SIZES = frozenset({"libx264", "libx265", "libsvtav1"})
#: Encoders that need timestamps in 1/fps units (their bitstream counts pictures).
PICTURE_CLOCK = {"mpeg1video", "mpeg2video", "libtheora"}
#: Encoders whose time base denominator must fit 16 bits (else they get a 1/fps clock).
SHORT_CLOCK = {"mpeg4", "msmpeg4", "h263"}
#: Peak rate cap of CRF encodes, relative to the source's bitrate.
PEAK_FACTOR = 1.5
#: Highest bitrate accepted (1 Tbit/s): far above any real stream (8K ProRes is about 3 Gbit/s),
#: and with the 3x buffer still well inside FFmpeg's 64-bit rate fields.
MAX_BITRATE = 10**12


@dataclass(frozen=True)
class EncodeConfig:
    """How to re-encode the anonymized video stream.

    Attributes:
        codec: encoder name (``libx264``...) overriding the same-family choice.
        crf: constant-quality value (lower = better and larger); default per encoder.
        bitrate: target average bitrate in bit/s (a whole number) instead of CRF (predictable
            size); given together with ``crf`` it wins and the plan notes that crf was ignored.
        preset: encoder speed preset (x264/x265: ultrafast..veryslow; faster = larger/worse).
        keyframes_from_source: force a keyframe wherever the source had one (seeking and
            editing points stay where they were).
        threads: encoder threads (0 = encoder's own choice).
    """

    codec: str | None = None
    crf: float | None = None
    bitrate: int | None = None
    preset: str | None = None
    keyframes_from_source: bool = True
    threads: int = 0

    def __post_init__(self) -> None:
        if self.codec is not None:
            try:
                kind = av.codec.Codec(self.codec, "w").type
            except Exception:
                raise ConfigError(f"codec {self.codec!r}: no such encoder in this FFmpeg build") from None
            if kind != "video":
                raise ConfigError(f"codec {self.codec!r}: not a video encoder (it encodes {kind})")
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise ConfigError(f"crf {self.crf}: expected a number in 0..63")
        if self.codec is not None:  # the encoder is known: its ranges are checked at once
            if self.bitrate is None:
                check_crf(self.codec, self.crf)
            check_preset(self.codec, self.preset)
        if self.bitrate is not None:
            if isinstance(self.bitrate, bool) or not isinstance(self.bitrate, numbers.Integral):
                raise ConfigError(f"bitrate {self.bitrate!r}: expected a whole number of bit/s")
            if self.bitrate <= 0:
                raise ConfigError(f"bitrate {self.bitrate}: expected a positive bitrate")
            if self.bitrate > MAX_BITRATE:
                raise ConfigError(f"bitrate {self.bitrate}: expected at most {MAX_BITRATE} bit/s")
        if self.threads < 0:
            raise ConfigError(f"encoder threads {self.threads}: expected >= 0")


def check_crf(encoder: str, crf: float | None) -> None:
    """Raise ConfigError when ``encoder`` does not take the constant quality ``crf``."""
    lo_hi = CRF_RANGE.get(encoder)
    if crf is not None and lo_hi and not lo_hi[0] <= crf <= lo_hi[1]:
        raise ConfigError(f"crf {crf:g}: {encoder} takes {lo_hi[0]}..{lo_hi[1]} "
                          "(lower is better and larger)")


def check_preset(encoder: str, preset: str | None) -> None:
    """Raise ConfigError when ``encoder`` has no preset ``preset`` (encoders this module does not
    know are left to FFmpeg)."""
    if preset is None:
        return
    if encoder in NO_PRESET:
        raise ConfigError(f"preset {preset!r}: {encoder} has no speed presets")
    known = PRESETS.get(encoder)
    if known is None:
        return
    if isinstance(known, range):
        try:
            ok = int(str(preset)) in known
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"preset {preset!r}: {encoder} takes a number in "
                              f"{known.start}..{known.stop - 1} (lower is slower and better)")
    elif str(preset) not in known:
        raise ConfigError(f"preset {preset!r}: {encoder} takes {', '.join(known)}")


def parse_bitrate(text: str) -> int:
    """``"2.5M"``, ``"800k"`` or ``"1200000"`` -> bit/s (a whole, positive number of them).

    Parsed as a decimal, so ``"4.1M"`` is exactly 4100000 (no binary rounding).
    """
    t = text.strip().lower()
    mult = 1
    if t.endswith(("k", "m", "g")):
        mult = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}[t[-1]]
        t = t[:-1]
    try:
        value = Decimal(t) * mult
    except (InvalidOperation, ValueError):
        raise ConfigError(f"bitrate {text!r}: expected a number with optional k/M suffix") from None
    if not value.is_finite():
        raise ConfigError(f"bitrate {text!r}: expected a finite number with optional k/M suffix")
    if value <= 0:
        raise ConfigError(f"bitrate {text!r}: expected a positive bitrate")
    if value > MAX_BITRATE:
        raise ConfigError(f"bitrate {text!r}: expected at most {MAX_BITRATE} bit/s")
    if value != value.to_integral_value():
        raise ConfigError(
            f"bitrate {text!r}: expected a whole number of bit/s, got {value.normalize():f} bit/s")
    return int(value)


@dataclass(frozen=True)
class Container:
    """The output container, as far as the choice of encoder needs it.

    Attributes:
        name: FFmpeg's name of the format (``mp4``, ``webm``...), for messages.
        accepts: whether the container can hold what the named encoder writes.
        default_codec: the format's own default video codec (FFmpeg codec name, ``vp9`` for
            WebM), tried first when the source's family does not fit; None if it has none.
    """

    name: str
    accepts: Callable[[str], bool]
    default_codec: str | None = None


@dataclass(frozen=True)
class EncoderPlan:
    """The resolved encoder: what will be opened, with which options.

    ``size`` is the picture size the encoder gets: the source's, or one column/row more where
    the encoder needs even sizes (see :data:`EVEN_SIZES`). ``pix_fmt`` ``pal8`` means a palette
    per frame (GIF), made from the frame's own colours.
    """

    encoder: str
    pix_fmt: str
    options: dict[str, str]
    bit_rate: int | None
    time_base: Fraction
    picture_clock: bool
    notes: tuple[str, ...]
    size: tuple[int, int] = (0, 0)


def _encoder_exists(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:
        return False


def _default_encoder(codec: str | None) -> str | None:
    try:
        return av.codec.Codec(codec, "w").name if codec else None
    except Exception:
        return None


def _pick_encoder(source_codec: str, config: EncodeConfig,
                  container: Container | None) -> tuple[str, list[str]]:
    notes: list[str] = []
    fits = container.accepts if container is not None else (lambda name: True)
    if config.codec:
        if not fits(config.codec):
            raise ConfigError(f"codec {config.codec!r}: the {container.name} format cannot hold "
                              "it; choose another codec or output format")
        return config.codec, notes
    family = [n for n in FAMILY.get(source_codec, (source_codec,)) if _encoder_exists(n)]
    for name in family:
        if fits(name):
            return name, notes
    if not family:
        order = ("libx264", _default_encoder(container and container.default_codec), *FALLBACK)
        reason = f"no {source_codec} encoder in this FFmpeg build"
    else:
        order = (_default_encoder(container.default_codec), *FALLBACK)
        reason = f"{container.name} cannot hold {source_codec}"
    for name in order:
        if name and _encoder_exists(name) and fits(name):
            notes.append(f"{reason}: using {name}")
            return name, notes
    where = f"the {container.name} format" if container is not None else "this FFmpeg build"
    raise EncoderError(f"{reason}, and no video encoder of this FFmpeg build fits {where}: "
                       "choose another output format")


def _palette_filters() -> bool:
    try:
        av.filter.Filter("palettegen")
        av.filter.Filter("paletteuse")
        return True
    except Exception:
        return False


def _pick_pix_fmt(encoder: str, src_fmt: str) -> tuple[str, list[str]]:
    codec = av.codec.Codec(encoder, "w")
    supported = [f.name for f in (codec.video_formats or [])]
    if not supported or src_fmt in supported:
        return src_fmt, []
    src = av.VideoFormat(src_fmt)
    bits = max(c.bits for c in src.components)
    colour = len([c for c in src.components if not c.is_alpha]) > 1 or src.name.startswith("pal")
    if "pal8" in supported and colour and _palette_filters():
        # GIF and kin: a palette per frame, made from its own colours (FFmpeg's palettegen).
        return "pal8", []
    if colour and not src.name.startswith("yuv"):
        # RGB or palette pictures into a YUV encoder: the 4:2:0 every player decodes.
        for name in ("yuv420p" if bits <= 8 else "yuv420p10le", "yuv420p"):
            if name in supported:
                return name, [f"{encoder} cannot encode {src_fmt}: converted to {name}"]
    if colour:  # never drop the colour of a colour picture
        supported = [n for n in supported if len(av.VideoFormat(n).components) > 1
                     or n.startswith("pal")] or supported

    def score(name: str) -> tuple:
        f = av.VideoFormat(name)
        fb = max(c.bits for c in f.components)
        same_family = (f.name.startswith("yuv") == src.name.startswith("yuv"))
        same_chroma = (len(f.components) == len(src.components))
        return (fb >= bits, -abs(fb - bits), same_family, same_chroma, name.startswith(src_fmt[:6]))

    best = max(supported, key=score)
    return best, [f"{encoder} cannot encode {src_fmt}: converted to {best}"]


def plan_encoder(
    source_codec: str,
    src_pix_fmt: str,
    time_base: Fraction,
    rate: Fraction | None,
    source_bit_rate: int | None,
    width: int,
    height: int,
    config: EncodeConfig,
    container: Container | None = None,
) -> EncoderPlan:
    """Choose encoder, pixel format, rate control and time base for the output stream.

    With ``container``, the encoder is one the container can hold: the source's family if it
    fits, else the container's default, else the first of :data:`FALLBACK` that fits (a note
    says so).

    Raises:
        ConfigError: ``config``'s crf or preset is not one the chosen encoder takes, or its
            codec does not fit the container.
        EncoderError: no encoder of this FFmpeg build fits the container.
    """
    encoder, notes = _pick_encoder(source_codec, config, container)
    check_preset(encoder, config.preset)
    if not config.bitrate:
        check_crf(encoder, config.crf)
    pix_fmt, more = _pick_pix_fmt(encoder, src_pix_fmt)
    notes += more
    size = (width, height)
    probe = av.VideoFormat(pix_fmt, 64, 64)
    if encoder in EVEN_SIZES and len(probe.components) > 1 and not probe.is_rgb:
        sub_w, sub_h = 64 // probe.components[1].width, 64 // probe.components[1].height
        size = (-(-width // sub_w) * sub_w, -(-height // sub_h) * sub_h)
        if size != (width, height):
            notes.append(f"{encoder} {pix_fmt} needs even sizes: {width}x{height} padded to "
                         f"{size[0]}x{size[1]} (last column/row repeated)")
    options: dict[str, str] = {}
    bit_rate = None
    max_bit_rate = None
    preset = config.preset or DEFAULT_PRESET.get(encoder)
    if preset:
        options["preset"] = str(preset)
    fallback_rate = int(width * height * float(rate or 25) * 0.12)
    if config.bitrate:
        bit_rate = config.bitrate
        if config.crf is not None:
            notes.append(f"crf {config.crf:g} ignored: bitrate {config.bitrate} replaces constant quality")
        if encoder in ("libx264", "libx265"):
            max_bit_rate = int(config.bitrate * PEAK_FACTOR)
            options["bufsize"] = str(int(config.bitrate * PEAK_FACTOR * 2))
    elif encoder in DEFAULT_CRF:
        crf = config.crf if config.crf is not None else DEFAULT_CRF[encoder]
        options["crf"] = f"{crf:g}"
        if encoder == "libvpx-vp9" or encoder == "libvpx":
            bit_rate = 0 if encoder == "libvpx-vp9" else (source_bit_rate or fallback_rate)
            options.update({"deadline": "good", "cpu-used": "4", "row-mt": "1"})
        if source_bit_rate and encoder in ("libx264", "libx265") and config.crf is None:
            # Cap the peak so a constant-quality encode of a lean source stays near its size.
            max_bit_rate = int(source_bit_rate * PEAK_FACTOR)
            options["bufsize"] = str(int(source_bit_rate * PEAK_FACTOR * 2))
    else:
        if config.crf is not None:
            notes.append(f"{encoder} has no CRF mode: crf ignored, using the source bitrate")
        bit_rate = source_bit_rate or fallback_rate
        max_bit_rate = None
    if max_bit_rate:
        options["maxrate"] = str(max_bit_rate)
    if encoder == "libx264":
        options["forced-idr"] = "1"
    if encoder == "libx265":
        options["x265-params"] = "log-level=error"
        options["forced-idr"] = "1"
    picture_clock = encoder in PICTURE_CLOCK or (encoder in SHORT_CLOCK and time_base.denominator > 65535)
    tb = time_base
    if picture_clock and rate:
        tb = Fraction(1, 1) / Fraction(rate).limit_denominator(1001)
    elif picture_clock:
        tb = Fraction(1, 25)
    return EncoderPlan(encoder, pix_fmt, options, bit_rate, tb, picture_clock, tuple(notes), size)
