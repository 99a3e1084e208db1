"""The avanon error tree.

Every error avanon raises on purpose derives from :class:`AvanonError`. The leaves also inherit
the matching builtin, so callers can catch either ``avanon.InputError`` or ``ValueError``.
Messages say what was expected and what was received, in one line, so the CLI can print them
as they are.
"""

from __future__ import annotations

__all__ = [
    "AvanonError",
    "ConfigError",
    "InputError",
    "InputNotFoundError",
    "OutputError",
    "EncoderError",
    "ModelError",
    "ModelNotFoundError",
    "PipelineError",
]


class AvanonError(Exception):
    """Base class of every error avanon raises on purpose."""


class ConfigError(AvanonError, ValueError):
    """An option has a value avanon cannot use (the message names the option and the value)."""


class InputError(AvanonError, ValueError):
    """The input cannot be read as media, or has no stream avanon can anonymize."""


class InputNotFoundError(InputError, FileNotFoundError):
    """The input path does not exist."""


class OutputError(AvanonError, OSError):
    """The output cannot be written (exists without overwrite, same as input, unwritable)."""


class EncoderError(AvanonError, RuntimeError):
    """No encoder could be opened for the output video stream with the requested settings."""


class ModelError(AvanonError, RuntimeError):
    """A detector model could not be fetched, verified or loaded."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """Model weights are not in the model directory and could not be fetched."""


class PipelineError(AvanonError, RuntimeError):
    """A stage failed while frames were flowing; no partial output is left behind."""
