"""onnxruntime sessions for the detectors: providers, threads, optimisation level, quiet logs."""

from __future__ import annotations

import abc
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import onnxruntime as ort
from numba import njit

from ..detections import Detections
from ..errors import ConfigError, ModelError

__all__ = [
    "OnnxDetector",
    "as_session",
    "available_providers",
    "check_images",
    "create_session",
    "resolve_providers",
    "to_blob",
]

logger = logging.getLogger(__name__)

_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers."""
    return list(ort.get_available_providers())


def resolve_providers(providers: Sequence[str] | None) -> list[str]:
    """Providers to use, in order.

    ``None`` picks CUDA when onnxruntime-gpu is installed (and reports the provider), CPU
    otherwise. A short name such as ``"cuda"`` or ``"cpu"`` means ``CUDAExecutionProvider`` /
    ``CPUExecutionProvider``. CPU is always appended as the fallback.

    Raises:
        ConfigError: a requested provider is not offered by the installed onnxruntime.
    """
    have = available_providers()
    if providers is None:
        chosen = [_CUDA] if _CUDA in have else []
    else:
        by_lower = {p.lower(): p for p in have}
        chosen = []
        for p in providers:
            key = p.lower()
            name = by_lower.get(key) or by_lower.get(key + "executionprovider")
            if name is None:
                raise ConfigError(
                    f"providers: {p!r} is not available in this onnxruntime "
                    f"(available: {', '.join(have)})"
                )
            chosen.append(name)
    if _CPU not in chosen:
        chosen.append(_CPU)
    return chosen


def create_session(
    model: str | Path | bytes,
    *,
    providers: Sequence[str] | None = None,
    threads: int = 0,
) -> ort.InferenceSession:
    """Open an onnxruntime session with avanon's settings.

    Args:
        model: path of an .onnx file, or its bytes.
        providers: see :func:`resolve_providers`.
        threads: intra-op threads; 0 lets onnxruntime use one per physical core. Raising it
            speeds up one detector call until the cores are used up; lowering it leaves cores
            to decoding and encoding.

    Raises:
        ModelError: the file is missing or onnxruntime cannot load it.
    """
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: no "initializer unused" chatter
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Busy-waiting worker threads would steal CPU from the decoder and encoder threads.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    chosen = resolve_providers(providers)
    what = "<bytes>" if isinstance(model, bytes) else os.fspath(model)
    try:
        sess = ort.InferenceSession(
            model if isinstance(model, bytes) else os.fspath(model), opts, providers=chosen
        )
    except Exception as exc:  # onnxruntime raises its own non-exported exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"onnxruntime could not load model {what}: {first}") from exc
    logger.debug("loaded %s on %s", what, sess.get_providers()[0])
    return sess


def to_blob(
    images: np.ndarray,
    *,
    multiple: int = 32,
    scale: Sequence[float] = (1.0, 1.0, 1.0),
    bias: Sequence[float] = (0.0, 0.0, 0.0),
    channels: Sequence[int] = (0, 1, 2),
    pad_value: Sequence[float] | float = 0.0,
) -> np.ndarray:
    """(B, H, W, 3) uint8 images -> (B, 3, H', W') float32 network input.

    ``blob[:, c] = images[..., channels[c]] * scale[c] + bias[c]``, with H and W padded at the
    bottom/right up to multiples of ``multiple`` (pixels keep their coordinates).

    Raises:
        ValueError: ``images`` is not a (B, H, W, 3) array.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"images: expected (B, H, W, 3) RGB, got shape {images.shape}")
    b, h, w, _ = images.shape
    hp, wp = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    blob = np.empty((b, 3, hp, wp), np.float32)
    _fill_blob(np.ascontiguousarray(images, np.uint8), np.asarray(channels, np.int64),
               np.asarray(scale, np.float32), np.asarray(bias, np.float32),
               np.ascontiguousarray(np.broadcast_to(np.asarray(pad_value, np.float32), (3,))),
               blob)
    return blob


@njit(cache=True, nogil=True)
def _fill_blob(images, channels, scale, bias, pad, blob):  # pragma: no cover - compiled
    """The loop of :func:`to_blob`: one pass per output plane, reading the interleaved pixels
    once per row (NumPy's strided per-channel multiply was 3-4x slower on 720p frames)."""
    b, h, w, _ = images.shape
    hp, wp = blob.shape[2], blob.shape[3]
    for n in range(b):
        for c in range(3):
            src = channels[c]
            sc = scale[c]
            bi = bias[c]
            pv = pad[c]
            for y in range(h):
                row = blob[n, c, y]
                pix = images[n, y]
                for x in range(w):
                    row[x] = np.float32(pix[x, src]) * sc + bi
                for x in range(w, wp):
                    row[x] = pv
            for y in range(h, hp):
                blob[n, c, y, :] = pv


def check_images(images: np.ndarray) -> np.ndarray:
    """Return ``images`` as a (B, H, W, 3) uint8 array or raise ValueError."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"images: expected (B, H, W, 3) uint8 RGB, got {images.dtype} {images.shape}"
        )
    return images


def as_session(
    model: "str | Path | bytes | ort.InferenceSession",
    *,
    providers: Sequence[str] | None = None,
    threads: int = 0,
) -> ort.InferenceSession:
    """``model`` itself when it is a session, else :func:`create_session` of it."""
    if isinstance(model, ort.InferenceSession):
        return model
    return create_session(model, providers=providers, threads=threads)


class OnnxDetector(abc.ABC):
    """Base of the ONNX image detectors: one session, the batch loop, and two per-model steps.

    A model subclass sets :attr:`classes`, :attr:`name` and :attr:`outputs` and implements
    :meth:`preprocess` (images -> network input) and :meth:`decode` (one image's outputs ->
    :class:`~avanon.detections.Detections` in that image's pixels). It is then an
    :class:`~avanon.detect.base.ImageDetector`.

    Args:
        model: path or bytes of the .onnx file, or an open session.
        threshold: minimum score of a reported box (None: the model's
            :attr:`default_threshold`).
        batch: images per inference call (more pays on a GPU, not on a CPU).
        providers, threads: see :func:`create_session`.
        score_scale: how much lower this model scores the same object than the model whose
            scores thresholds are set in (an int8 model against its fp32 original, measured by
            ``models/calibrate.py``): :meth:`decode` compares raw scores with
            ``threshold * score_scale`` (:attr:`raw_threshold`) and reported scores are divided
            by it (at most 1), so one threshold means the same at either precision.
    """

    #: Class names the model reports.
    classes: tuple[str, ...] = ()
    #: Registry name (:mod:`avanon.detect.registry`), also the key in ``DetectStage.timings``.
    name: str = ""
    #: How many of the graph's outputs :meth:`decode` reads (the first ones).
    outputs: int = 1
    #: Minimum score when none is given.
    default_threshold: float = 0.5

    def __init__(
        self,
        model: "str | Path | bytes | ort.InferenceSession",
        *,
        threshold: float | None = None,
        batch: int = 4,
        providers: Sequence[str] | None = None,
        threads: int = 0,
        score_scale: float = 1.0,
    ) -> None:
        if not 0.0 < float(score_scale) <= 1.0:
            raise ConfigError(f"score_scale: expected a number in (0, 1], got {score_scale!r}")
        self.session = as_session(model, providers=providers, threads=threads)
        self.score_scale = float(score_scale)
        self.threshold = float(self.default_threshold if threshold is None else threshold)
        self.batch = max(1, int(batch))
        self._input = self.session.get_inputs()[0].name
        self._outputs = [o.name for o in self.session.get_outputs()[: self.outputs]]

    @property
    def raw_threshold(self) -> float:
        """:attr:`threshold` on this model's own score scale (what :meth:`decode` compares)."""
        return self.threshold * self.score_scale

    @abc.abstractmethod
    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 RGB -> the network's input blob (B, 3, H', W')."""

    @abc.abstractmethod
    def decode(self, outputs: list[np.ndarray], width: int, height: int,
               blob_hw: tuple[int, int]) -> Detections:
        """One image's outputs (batch axis removed) -> its boxes in pixels of the
        ``width`` x ``height`` image (the blob was ``blob_hw``, padded)."""

    def decode_batch(self, outputs: list[np.ndarray], width: int, height: int,
                     blob_hw: tuple[int, int]) -> list[Detections]:
        """All the images' outputs of one call (batch axis first) -> one
        :class:`~avanon.detections.Detections` per image, as :meth:`decode` gives each.
        Detectors override it where decoding the batch at once is cheaper."""
        return [self.decode([r[b] for r in outputs], width, height, blob_hw)
                for b in range(len(outputs[0]))]

    def detect(self, images: np.ndarray, *, batch: int | None = None) -> list[Detections]:
        """One :class:`~avanon.detections.Detections` per image of ``images`` (B, H, W, 3),
        ``batch`` (default :attr:`batch`) images per inference call. Many small images (crops)
        run about twice as fast per image in one call as one by one, even on a CPU."""
        images = check_images(images)
        _, h, w, _ = images.shape
        step = max(1, int(batch or self.batch))
        out: list[Detections] = []
        for start in range(0, len(images), step):
            blob = self.preprocess(images[start : start + step])
            results = self.session.run(self._outputs, {self._input: blob})
            for found in self.decode_batch(results, w, h, blob.shape[2:]):
                if self.score_scale != 1.0:
                    found = Detections(found.xyxy,
                                       np.minimum(found.scores / self.score_scale, 1.0),
                                       found.class_ids)
                out.append(found)
        return out
