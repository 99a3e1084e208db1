"""`Config`: one frozen dataclass composed of each stage's own config.

Only the CLI touches argparse; everything else takes these objects. The stages are built from it
by :meth:`avanon.Anonymizer.from_config`.
"""

from __future__ import annotations

import copyreg
from types import MappingProxyType
from dataclasses import dataclass, field
from typing import Mapping

from .detect.config import DetectConfig
from .errors import ConfigError
from .mask.config import MaskConfig
from .media.encode import EncodeConfig
from .media.filtergraph import parse_chain
from .schedule import DEFAULT_DETECT_EVERY, Schedule, parse_every
from .track.config import TrackConfig

__all__ = ["Config", "DEFAULT_DETECT_EVERY", "parse_every"]


def _mappingproxy(items: dict) -> MappingProxyType:
    return MappingProxyType(items)


def _pickle_mappingproxy(m):
    return _mappingproxy, (dict(m),)


# The configs hold read-only mappings; let them pickle (folder runs send the config to worker
# processes started by a fork server).
copyreg.pickle(MappingProxyType, _pickle_mappingproxy)


@dataclass(frozen=True)
class Config:
    """Everything a run needs.

    Attributes:
        detect: detector models, classes, thresholds, input size.
        track: tracking hold/lookahead.
        mask: how boxes are painted out.
        encode: how the video is re-encoded.
        detect_every: how often each class is looked for, a :class:`~avanon.schedule.Schedule`
            (also accepted: one N for every class, or a mapping such as ``{"face": 2,
            "plate": 6}`` where classes not named run every frame); None (default) is
            :data:`DEFAULT_DETECT_EVERY` with tracking and every frame without. Raising it is
            faster and leans more on tracking; shot cuts always trigger detection.
        video_stream: which video stream to anonymize, counted among video streams (0 = first).
        keep_metadata: keep identifying tags (location, device, names) instead of stripping them.
        keep_other_video: copy other video streams unanonymized instead of dropping them.
        hwaccel: decode the video on this hardware device type (``"cuda"``...), opt-in.
        vf_pre: an FFmpeg filter chain (as for ``ffmpeg -vf``: ``crop=640:360:0:0``, ``yadif``,
            ``scale=1280:-2``) run on the decoded frames before anonymization: detection and
            masks work on its output, in its coordinates. Frames are in coded orientation (the
            display rotation is applied by players, and kept).
        vf: a filter chain run on the masked frames, before encoding. With either, the output
            carries the chain's pts and time base (``fps=``, ``setpts``, ``select`` change
            them), size and pixel format.
    """

    detect: DetectConfig = field(default_factory=DetectConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    detect_every: Schedule | int | Mapping[str, int] | None = None
    video_stream: int = 0
    keep_metadata: bool = False
    keep_other_video: bool = False
    hwaccel: str | None = None
    vf_pre: str | None = None
    vf: str | None = None

    def __post_init__(self) -> None:
        for name, cls in (("detect", DetectConfig), ("track", TrackConfig),
                          ("mask", MaskConfig), ("encode", EncodeConfig)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(
                    f"{name}: expected a {cls.__name__}, got {type(getattr(self, name)).__name__}"
                )
        schedule = Schedule.of(self.detect_every, tracking=self.track.enabled)
        object.__setattr__(self, "detect_every", schedule)
        if schedule.longest > 1 and not self.track.enabled:
            raise ConfigError(
                f"detect_every {schedule} needs tracking to carry boxes between detections: "
                "enable track or detect every frame"
            )
        if (isinstance(self.video_stream, bool) or not isinstance(self.video_stream, int)
                or self.video_stream < 0):
            raise ConfigError(f"video_stream: expected an integer >= 0, got {self.video_stream!r}")
        for name in ("vf_pre", "vf"):
            if getattr(self, name) is not None:
                parse_chain(getattr(self, name), name)  # its syntax; FFmpeg checks the rest

    @property
    def schedule(self) -> Schedule:
        """:attr:`detect_every` as the :class:`~avanon.schedule.Schedule` it was normalised to."""
        return self.detect_every  # type: ignore[return-value]
