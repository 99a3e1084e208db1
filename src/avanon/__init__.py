"""avanon: anonymize faces and licence plates in video, changing nothing else.

Stages, in the order data flows: media in (:mod:`avanon.media.source`) -> detect
(:mod:`avanon.detect`) -> track (:mod:`avanon.track`) -> mask (:mod:`avanon.mask`) -> media out
(:mod:`avanon.media.sink`). :class:`Anonymizer` is the core as a frame filter;
:func:`anonymize` runs it file to file.

Example:
    >>> import avanon
    >>> summary = avanon.anonymize("in.mp4", "out.mp4")  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from .anonymizer import Anonymizer
from .config import Config
from .detections import CLASS_NAMES, Detections
from .errors import (
    AvanonError,
    ConfigError,
    EncoderError,
    InputError,
    InputNotFoundError,
    ModelError,
    ModelNotFoundError,
    OutputError,
    PipelineError,
)
from .media.encode import EncodeConfig
from .pipeline import RunSummary, anonymize
from .schedule import Schedule

__all__ = [
    "__version__",
    "anonymize",
    "Anonymizer",
    "Config",
    "Schedule",
    "Detections",
    "CLASS_NAMES",
    "EncodeConfig",
    "RunSummary",
    "AvanonError",
    "ConfigError",
    "EncoderError",
    "InputError",
    "InputNotFoundError",
    "ModelError",
    "ModelNotFoundError",
    "OutputError",
    "PipelineError",
]
