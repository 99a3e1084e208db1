"""int8 versions of the pinned fp32 models, made on this machine with onnxruntime's own tools.

A quantized model is not downloaded: it is derived from the pinned, verified fp32 file with
onnxruntime's static quantization (QDQ format, per-channel int8 weights, uint8 activations) and
activation ranges that ship with avanon (``avanon/detect/calibration/<model>.json``, written by
``models/calibrate.py`` from frames of ``../shared/media``). Nothing here needs images or the
network; the first use of ``--precision int8`` costs about a second, then the file is
cached beside the fp32 one (:mod:`avanon.detect.store`).

The steps are the ones the calibration script used, so the graph's tensor names match the
stored ranges:

1. the opset is raised to 13 (per-channel ``DequantizeLinear`` needs it);
2. ``quant_pre_process`` runs shape inference and onnxruntime's basic graph fusions (BatchNorm
   folded into Conv), without symbolic shape inference;
3. ``quantize_static`` with the stored ranges (its calibration cache) and no data reader.

This needs the ``onnx`` package and onnxruntime >= 1.27 (the first with
``quantize_static(calibration_cache_path=...)``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import inspect
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import ModelError

__all__ = ["OPSET", "calibration_file", "prepare", "quantize", "quantize_options", "score_scale"]

#: opset the graph is raised to before quantization.
OPSET = 13


def calibration_file(name: str) -> Path:
    """The shipped activation ranges of registry model ``name`` (may not exist)."""
    return Path(str(importlib.resources.files("avanon.detect") / "calibration" / f"{name}.json"))


def score_scale(name: str) -> float:
    """How much lower the int8 model ``name`` scores objects than its fp32 original (the
    ``threshold_scale`` that ``models/calibrate.py`` measured on the calibration images: the
    int8 threshold that keeps as many boxes as the fp32 one, over the fp32 threshold); 1.0 when
    none was measured. The detector divides its scores by it, so thresholds keep their
    meaning at either precision."""
    path = calibration_file(name).with_suffix(".scores.json")
    try:
        value = float(json.loads(path.read_text(encoding="utf-8"))["threshold_scale"])
    except (OSError, ValueError, KeyError, TypeError):
        return 1.0
    return value if 0.0 < value <= 1.0 else 1.0


def _tools():
    """(onnx, version_converter, quant_pre_process, quantize_static and its enums)."""
    try:
        import onnx
        from onnx import version_converter
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:
        raise ModelError(
            f"int8 models are made on first use and need the onnx package ({exc}): "
            "pip install onnx, or use --precision fp32"
        ) from exc
    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        import onnxruntime

        raise ModelError(
            f"int8 models need onnxruntime >= 1.27 to be made (this is {onnxruntime.__version__}):"
            " upgrade onnxruntime, or use --precision fp32"
        )
    return onnx, version_converter, quant_pre_process, quantize_static, (
        CalibrationMethod, QuantFormat, QuantType)


def prepare(src: Path, dst: Path) -> None:
    """Steps 1-2: ``src`` (fp32 .onnx) -> ``dst``, the graph that is calibrated and quantized."""
    onnx, version_converter, quant_pre_process, _, _ = _tools()
    model = onnx.load(os.fspath(src))
    if model.opset_import[0].version < OPSET:
        model = version_converter.convert_version(model, OPSET)
    with tempfile.TemporaryDirectory(prefix="avanon-q-") as tmp:
        up = Path(tmp) / "opset.onnx"
        onnx.save(model, os.fspath(up))
        # quant_pre_process logs through the root logger and onnxruntime prints warnings about
        # unused initializers: keep both quiet.
        with _quiet():
            quant_pre_process(os.fspath(up), os.fspath(dst), skip_symbolic_shape=True)


def quantize_options() -> dict:
    """The ``quantize_static`` settings (shared with the calibration script)."""
    *_, (CalibrationMethod, QuantFormat, QuantType) = _tools()
    return dict(
        quant_format=QuantFormat.QDQ,
        per_channel=True,  # per-tensor lost 8 points of recall on small faces; per-channel none
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )


def quantize(src: Path, dst: Path, ranges: Path,
             log: Callable[[str], None] | None = None) -> str:
    """Write the int8 model of the fp32 ``src`` to ``dst`` using the activation ``ranges``.

    Returns:
        The sha256 of the written file.

    Raises:
        ModelError: the tools are missing, the ranges file is missing or does not fit the graph,
            or quantization failed.
    """
    *_, quantize_static, _ = _tools()
    if not ranges.is_file():
        raise ModelError(f"no activation ranges for {dst.name}: {ranges} is missing")
    if log is not None:
        log(f"making the int8 model {dst.name} from {src.name} (first use only)")
    with tempfile.TemporaryDirectory(prefix="avanon-q-", dir=dst.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        out = Path(tmp) / dst.name
        # the cache file is read, and rewritten when it does not fit: work on a copy
        cache = Path(tmp) / "ranges.json"
        cache.write_bytes(ranges.read_bytes())
        try:
            prepare(src, pre)
            with _quiet():
                quantize_static(os.fspath(pre), os.fspath(out), None,
                                calibration_cache_path=os.fspath(cache), **quantize_options())
        except ModelError:
            raise
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"could not make the int8 model {dst.name}: {first}") from exc
        data = out.read_bytes()
        os.chmod(out, 0o644)
        os.replace(out, dst)
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def _quiet():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    try:
        yield
    finally:
        root.setLevel(level)
