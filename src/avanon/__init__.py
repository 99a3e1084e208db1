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

#: Public names that need the heavy modules (PyAV, NumPy, Numba, onnxruntime), imported on first
#: use (PEP 562): ``import avanon.cli`` stays light, so the command can take over Ctrl-C and
#: SIGTERM before the libraries load (an interrupt while they load is then one line, not a
#: traceback).
_LAZY = {
    "Anonymizer": ".anonymizer",
    "Config": ".config",
    "CLASS_NAMES": ".detections",
    "Detections": ".detections",
    "EncodeConfig": ".media.encode",
    "RunSummary": ".pipeline",
    "anonymize": ".pipeline",
    "Schedule": ".schedule",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'avanon' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


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
