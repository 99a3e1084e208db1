"""`Config`: one frozen dataclass composed of each stage's own config, and `build_stages`.

Only the CLI touches argparse; everything else takes these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from .detections import class_id, class_name
from .errors import ConfigError
from .filter import Anonymizer
from .media.encode import EncodeConfig

__all__ = ["Config", "build_stages"]


def _detect_config():
    from .detect.config import DetectConfig

    return DetectConfig()


def _track_config():
    from .track.config import TrackConfig

    return TrackConfig()


def _mask_config():
    from .mask.config import MaskConfig

    return MaskConfig()


#: Default detection schedule (frames between detector runs, per class), chosen with
#: bench/throughput.py and bench/leak/run.py (see README, Benchmarks): tracking with lookahead
#: interpolates between runs, so this costs little leak for most of the detector's CPU time.
DEFAULT_DETECT_EVERY = MappingProxyType({"face": 6, "plate": 6})


@dataclass(frozen=True)
class Config:
    """Everything a run needs.

    Attributes:
        detect: detector models, classes, thresholds, input size (``avanon.detect.DetectConfig``).
        track: tracking hold/lookahead (``avanon.track.TrackConfig``).
        mask: how boxes are painted out (``avanon.mask.MaskConfig``).
        encode: how the video is re-encoded (``avanon.media.encode.EncodeConfig``).
        detect_every: run the detectors on every Nth frame and let tracking carry the boxes in
            between: one N for all classes, or per class (``{"face": 2, "plate": 6}``); None
            (default) is :data:`DEFAULT_DETECT_EVERY` with tracking and 1 without.
            Raising it is faster and leans more on tracking (more risk of a leak on fast
            motion); 1 examines every frame. Shot cuts always trigger detection.
        video_stream: which video stream to anonymize, counted among video streams (0 = first).
        keep_metadata: keep identifying tags (location, device, names) instead of stripping them.
        keep_other_video: copy other video streams unanonymized instead of dropping them.
        hwaccel: decode the video on this hardware device type (``"cuda"``...), opt-in.
    """

    detect: object = field(default_factory=_detect_config)
    track: object = field(default_factory=_track_config)
    mask: object = field(default_factory=_mask_config)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    detect_every: int | Mapping[str, int] | None = None
    video_stream: int = 0
    keep_metadata: bool = False
    keep_other_video: bool = False
    hwaccel: str | None = None

    def __post_init__(self) -> None:
        every = self.detect_every
        if every is None:  # the default schedule; without tracking every frame is examined
            every = DEFAULT_DETECT_EVERY if getattr(self.track, "enabled", True) else 1
            object.__setattr__(self, "detect_every", every)
        if isinstance(every, Mapping):
            every = MappingProxyType({class_name(class_id(k)): v for k, v in every.items()})
            object.__setattr__(self, "detect_every", every)
        values = list(every.values()) if isinstance(every, Mapping) else [every]
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in values):
            raise ConfigError(f"--detect-every {self.detect_every!r}: expected integers >= 1")
        if max(values) > 1 and not getattr(self.track, "enabled", True):
            raise ConfigError(
                f"--detect-every {_every_text(self.detect_every)} needs tracking to carry boxes between "
                "detections: drop --no-track or use --detect-every 1"
            )
        if not isinstance(self.video_stream, int) or self.video_stream < 0:
            raise ConfigError(f"--video-stream {self.video_stream!r}: expected an integer >= 0")


def _every_text(every) -> str:
    if isinstance(every, Mapping):
        return ",".join(f"{k}={v}" for k, v in every.items())
    return str(every)


def parse_every(text: str) -> int | dict[str, int]:
    """``--detect-every`` value: ``"3"`` or ``"face=2,plate=6"`` (classes not named: 1)."""
    t = (text or "").strip()
    try:
        if "=" not in t:
            return int(t)
        out: dict[str, int] = {}
        for part in t.split(","):
            name, _, value = part.partition("=")
            out[class_name(class_id(name.strip()))] = int(value)
        return out
    except ValueError:
        raise ConfigError(f"--detect-every {text!r}: expected N or face=N,plate=M") from None


def build_stages(config: Config, source, rotation: int, *, detector=None, masker=None,
                 tracker=None, on_detections=None) -> Anonymizer:
    """Build the detect/track/mask stages for an opened ``source`` (stages given explicitly win)."""
    info = source.info
    fps = float(info.average_rate) if info.average_rate else 25.0
    return Anonymizer.from_config(config, rotation=rotation, frame_size=(info.width, info.height),
                                  fps=fps, detector=detector, masker=masker, tracker=tracker,
                                  on_detections=on_detections)
