"""`DetectStage`: decoded frames in, coded-picture boxes out.

For each frame it makes one small upright RGB copy with FFmpeg's scaler (long side
``config.det_size``), runs the detectors of the requested classes on the batch of copies, keeps
boxes above their class thresholds, drops implausible plate boxes (``config.plate_rules``) and
maps the boxes back through the scale and the display rotation.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, NamedTuple, Sequence

import av
import numpy as np

from ..detections import CLASS_NAMES, Detections, class_id
from ..errors import AvanonError, ConfigError, ModelError
from .base import ImageDetector
from .config import DetectConfig
from ..boxes import nms
from .crops import crop_batch, regions_around, tiles
from .geometry import (detector_input, detector_size, mirror_edges, rotation_k, to_coded,
                       to_upright, unmirror, upright_size)
from .runtime import OnnxDetector, resolve_providers
from .still import StillRegions
from ..mask.layout import luma_and_bits

__all__ = ["DetectStage", "ModelTiming", "build_detectors"]

logger = logging.getLogger(__name__)

#: Frames whose long side is over this times the detector input size are also examined in
#: native-resolution tiles (all of them on a new picture: the first frame and shot cuts; then
#: one per examined frame, in turn), so downscaling loses nothing a viewer could read. At 2, a
#: 1080p frame is not tiled at det_size 960 (scale 0.5), a 2560-px one is (0.375).
TILE_ABOVE = 2.0
#: Smallest object (long side, pixels of the detector input) each class's models find reliably,
#: from the model cards (models/centerface.md, models/ppocr_det.md): below it, a full-frame miss
#: says nothing about whether the object is still there.
SMALLEST_SEEN = {"face": 12.0, "plate": 64.0}
#: Boxes of one class overlapping this much (IoU) were found twice (overlapping crops, or a tile
#: and the whole frame): the best-scoring one is kept.
DUPLICATE_IOU = 0.5
#: Crops per inference call when looking around tracks (measured on CenterFace, 2 cores: 32
#: crops of 128 px cost 1.6 ms each in one call, 3.2 ms one by one).
AROUND_BATCH = 32


def build_detectors(
    config: DetectConfig, *, log: Callable[[str], None] | None = None
) -> list[ImageDetector]:
    """The real models for ``config``, fetching their weights on first use.

    Raises:
        ModelNotFoundError: weights absent and not fetchable (the message says how to get them).
        ModelError: weights corrupt, or onnxruntime cannot load them.
    """
    from .registry import MODELS
    from .store import ensure_models

    try:
        paths = ensure_models(config.model_names(), config.model_dir, log=log)
        # Several frames per inference call pay on a GPU; on a CPU one at a time is as fast or
        # faster (measured: CenterFace 32 vs 35 ms, PP-OCR 45 vs 54 ms per 640x352 frame).
        accel = resolve_providers(config.providers)[0] != "CPUExecutionProvider"
        common = dict(batch=config.batch if accel else 1, providers=config.providers,
                      threads=config.threads)
        return [MODELS[name].build(path, threshold=config.thresholds[MODELS[name].classes[0]],
                                   **common) for name, path in paths.items()]
    except ModelError:
        raise
    except AvanonError as exc:  # e.g. a provider that this onnxruntime lacks
        raise ModelError(f"cannot build the detectors: {exc}") from exc
    except Exception as exc:
        raise ModelError(f"cannot build the detectors: {type(exc).__name__}: {exc}") from exc


class ModelTiming(NamedTuple):
    """Work done by one model of a :class:`DetectStage` since it was built (or last reset)."""

    #: ``detect`` calls on the model (one per frame size per :meth:`DetectStage.detect` call).
    calls: int
    #: frames those calls covered.
    frames: int
    #: wall-clock seconds spent in the model's ``detect`` (inference and decoding).
    seconds: float


class DetectStage:
    """The detect stage, a :class:`~avanon.detect.base.FrameDetector`.

    Args:
        config: what to find and how.
        rotation: None (default) reads each frame's display rotation (PyAV's
            ``VideoFrame.rotation``, counter-clockwise degrees); a number overrides it for every
            frame (for frames that lost their side data). The detectors see the upright picture
            ``np.rot90(coded, round(r/90) % 4)``.
        detectors: image detectors to run instead of the real models (tests, custom models).
            Their boxes are still filtered by ``config.classes``, ``config.thresholds`` and
            ``config.plate_rules``.
        every_tile: examine every native-resolution tile of each frame at once (a still
            picture has no next frame to spread them over) instead of one per frame in turn.

    Raises:
        ModelNotFoundError, ModelError: building the real models failed.

    Example:
        >>> stage = DetectStage(DetectConfig(classes=("face",)))            # doctest: +SKIP
        >>> dets = stage.detect([frame], [0])                              # doctest: +SKIP
        >>> dets[0].xyxy                     # boxes in coded-picture pixels  # doctest: +SKIP
    """

    def __init__(
        self,
        config: DetectConfig,
        rotation: int | None = None,
        *,
        detectors: Sequence[ImageDetector] | None = None,
        every_tile: bool = False,
    ) -> None:
        self.config = config
        self.every_tile = every_tile
        self.rotation = rotation
        if detectors is None:
            detectors = build_detectors(config)
        self.detectors = list(detectors)
        self._thresholds = {name: config.thresholds[name] for name in config.classes}
        # A detector whose classes are all disabled need not run.
        self._active = [d for d in self.detectors if set(d.classes) & set(config.classes)]
        served = {c for d in self._active for c in d.classes}
        self._classes = tuple(c for c in config.classes if c in served)
        self._names = _unique_names(self._active)
        self._tile_plan: dict[tuple[int, int, int], np.ndarray] = {}
        self._next_tile: dict[int, int] = {}
        self._still = StillRegions()
        self.reset_timings()

    @property
    def preferred_batch(self) -> int:
        """Frames per :meth:`detect` call that keep the models busiest (``config.batch``)."""
        return self.config.batch

    @property
    def classes(self) -> tuple[str, ...]:
        """The classes this stage finds: those of ``config.classes`` that a detector serves."""
        return self._classes

    @property
    def timings(self) -> dict[str, ModelTiming]:
        """Model name -> :class:`ModelTiming` (calls, frames, seconds), a snapshot.

        Names are the models' registry names (``"centerface"``, ``"ppocr_det"``, ``"clpr_det"``),
        else a stand-in detector's ``name`` attribute or class name.
        """
        return {n: ModelTiming(*t) for n, t in self._timings.items()}

    def reset_timings(self) -> None:
        """Zero :attr:`timings` (e.g. after a warm-up)."""
        self._timings = {n: [0, 0, 0.0] for n in self._names}

    def detect(
        self,
        frames: Sequence[av.VideoFrame],
        indices: Sequence[int],
        *,
        classes: Iterable[str] | None = None,
        fresh: Sequence[bool] | None = None,
        whole: Sequence[bool] | None = None,
    ) -> list[Detections]:
        """Find objects in ``frames``; one :class:`Detections` per frame, coded-picture pixels.

        Args:
            frames: decoded frames (any mix of sizes and rotations).
            indices: each frame's index in the stream, copied to ``Detections.frame_index``.
            classes: None for every class of :attr:`classes`, or some of them (a name or an
                iterable of names): only the models serving those classes run and only those
                classes are returned, so a scheduler can look for plates less often than for
                faces. Empty: no model runs, every frame gets no boxes. The plate rule on
                faces (``PlateRules.max_face_cover``) sees only faces found in this call.
            fresh: per frame, True where the picture is new (the first frame, a shot cut): a
                frame large enough to be tiled then has every native-resolution tile examined
                at once, instead of one in turn, so no small object in it waits for its tile
                to come up (up to tiles x detection interval frames). The first frame this
                stage ever sees counts as fresh.
            whole: None (default) to examine every frame whole; else per frame, False where
                only what changed since it was last examined needs to be
                (:mod:`avanon.detect.still`): the models then run on the changed parts alone,
                at the whole frame's scale, and the boxes found earlier in the still parts
                stand. A scheduler asks for a whole frame now and then (and on fresh frames,
                which always are whole).

        Raises:
            ValueError: ``indices`` does not match ``frames``, or ``classes`` names a class
                this stage does not find (:class:`~avanon.errors.ConfigError`).
        """
        if len(frames) != len(indices):
            raise ValueError(
                f"detect: expected one index per frame, got {len(frames)} frames and "
                f"{len(indices)} indices"
            )
        if fresh is not None and len(fresh) != len(frames):
            raise ValueError(f"detect: expected one fresh flag per frame, got {len(fresh)} for "
                             f"{len(frames)} frames")
        if whole is not None and len(whole) != len(frames):
            raise ValueError(f"detect: expected one whole flag per frame, got {len(whole)} for "
                             f"{len(frames)} frames")
        wanted = self._wanted(classes)
        min_score = np.full(len(CLASS_NAMES), np.inf, np.float32)
        for name in wanted:
            min_score[class_id(name)] = self._thresholds[name]
        run = [(n, d) for n, d in zip(self._names, self._active) if set(d.classes) & set(wanted)]
        rules = self.config.plate_rules if "plate" in wanted else None

        if not run:
            return [Detections.empty(int(i), f.pts) for f, i in zip(frames, indices)]
        out: list[Detections | None] = [None] * len(frames)
        groups: dict[tuple[int, int, int], list[int]] = {}
        for i, f in enumerate(frames):
            k = rotation_k(f.rotation if self.rotation is None else self.rotation)
            groups.setdefault((f.width, f.height, k), []).append(i)
        sizes: dict[int, list] = {}  # detector input size -> the models that use it
        for name, d in run:
            sizes.setdefault(self.config.size_for(d.classes), []).append((name, d))
        for (cw, ch, k), members in groups.items():
            up_wh = upright_size(cw, ch, k)
            parts: dict[int, list[Detections]] = {i: [] for i in members}
            lumas = {i: luma_and_bits(frames[i]) for i in members} if whole is not None else {}
            for size, models in sizes.items():
                det_wh = detector_size(*up_wh, size)
                # per model, the px its input is mirrored past the picture's edges
                pads = [self._mirror_pad(d, size) for _, d in models]
                # what each frame needs examined: None the whole of it, else changed parts
                key = (cw, ch, k, size, tuple(n for n, _ in models))
                todo: dict[int, np.ndarray | None] = {i: None for i in members}
                if whole is not None:
                    for i in members:
                        again = bool(whole[i]) or (fresh is not None and bool(fresh[i]))
                        todo[i] = self._still.plan(key, *lumas[i], whole=again)
                full = [i for i in members if todo[i] is None]
                whole_found = self._whole_frames(frames, full, det_wh, k, models, pads)
                plan = self._tiles(cw, ch, size)
                for i in members:
                    if todo[i] is None:
                        merged = whole_found[i]
                        merged = Detections(to_coded(merged.xyxy, det_wh, (cw, ch), k),
                                            merged.scores, merged.class_ids)
                    else:
                        merged = self._changed_parts(frames[i], todo[i], det_wh, up_wh, k,
                                                     models, pads)
                    if whole is not None:
                        merged = self._still.settle(key, todo[i], merged)
                    parts[i].append(merged)
                    if plan is not None:
                        # every tile of a new picture (the first one, a cut), then one per
                        # examined frame, in turn: what the downscaled frame is too coarse for
                        # is found within a few runs
                        new = size not in self._next_tile or (fresh is not None and fresh[i])
                        n = self._next_tile.get(size, 0)
                        self._next_tile[size] = n + 1
                        regions = plan if self.every_tile or new else plan[n % len(plan)][None]
                        parts[i] += self._in_regions(frames[i], regions, size, k, models,
                                                     list(wanted))
            for i in members:
                found = Detections.merge(parts[i])
                found = found[found.scores >= min_score[found.class_ids]]
                out[i] = self._finish(found, frames[i], int(indices[i]), k, rules)
        return out  # type: ignore[return-value]

    def _whole_frames(self, frames: Sequence[av.VideoFrame], which: list[int],
                      det_wh: tuple[int, int], k: int, models,
                      pads: list[int]) -> dict[int, Detections]:
        """Run ``models`` on the whole of ``frames[i]`` for ``i`` in ``which``, each scaled once
        to ``det_wh`` (upright, ``k`` quarter turns) and mirrored ``pads[m]`` px past its edges
        for model ``m``; per frame, the boxes of all the models (unfiltered) in ``det_wh``
        pixels."""
        if not which:
            return {}
        scaled = np.stack([detector_input(frames[i], det_wh, k) for i in which])
        per_model = self._run_mirrored(models, pads, scaled, (True, True, True, True), det_wh)
        return {i: Detections.merge([m[j] for m in per_model]) for j, i in enumerate(which)}

    def _run_mirrored(self, models, pads: list[int], images: np.ndarray,
                      sides: tuple[bool, bool, bool, bool],
                      wh: tuple[int, int]) -> list[list[Detections]]:
        """Per model ``m``, its detections on ``images`` (B, H, W, 3) mirrored ``pads[m]`` px
        past ``sides`` (left, top, right, bottom), back in the pixels of the ``wh`` images;
        models with the same pad share one mirrored copy."""
        inputs: dict[int, tuple[np.ndarray, tuple[int, int]]] = {}  # pad -> images, offset
        per_model = []
        for (name, d), pad in zip(models, pads):
            if pad not in inputs:
                if pad and any(sides):
                    made = [mirror_edges(img, pad, sides) for img in images]
                    inputs[pad] = np.stack([m[0] for m in made]), made[0][1]
                else:
                    inputs[pad] = images, (0, 0)
            batch, offset = inputs[pad]
            dets = self._run(name, d, batch)
            if batch.shape != images.shape:
                dets = [_unmirrored(f, offset, wh) for f in dets]
            per_model.append(dets)
        return per_model

    def _mirror_pad(self, detector, size: int) -> int:
        """Pixels of an input of long side ``size`` that ``detector`` sees mirrored past the
        picture's edges: ``config.edge_mirror`` of its classes, none for a model that reads a
        mirror's symmetric patterns as objects (``edge_mirror = False``)."""
        if not getattr(detector, "edge_mirror", True):
            return 0
        return int(round(self.config.mirror_for(detector.classes) * size))

    def detect_around(
        self,
        frame: av.VideoFrame,
        index: int,
        around: Detections,
        classes: Iterable[str],
    ) -> Detections:
        """Look for ``classes`` again only near ``around`` (where a tracker expects objects).

        Each box gets a square region (:attr:`DetectConfig.around_context` times its long side,
        at least :attr:`DetectConfig.around_min_side` px; nearby regions merge), cut from the
        decoded planes and resized to the class's crop size
        (:attr:`DetectConfig.around_crop`), so small objects are seen at the frame's own
        resolution or finer instead of in the downscaled full frame. Thresholds and plate
        rules apply as in :meth:`detect`; boxes found twice in overlapping crops are merged.

        Returns:
            The boxes found, coded-picture pixels, ``frame_index`` = ``index``.
        """
        wanted = self._wanted(classes)
        k = rotation_k(frame.rotation if self.rotation is None else self.rotation)
        cfg = self.config
        parts = []
        for name in wanted:
            boxes = around.xyxy[around.class_ids == class_id(name)]
            models = [(n, d) for n, d in zip(self._names, self._active) if name in d.classes]
            if not len(boxes) or not models:
                continue
            side = cfg.around_crop[name]
            regions = regions_around(boxes, frame.width, frame.height,
                                     context=cfg.around_context, min_side=cfg.around_min_side,
                                     max_side=4 * side)
            if len(regions):
                found = Detections.merge(self._in_regions(frame, regions, side, k, models, [name]))
                parts.append(found[found.scores >= self._thresholds[name]])
        faces = around.xyxy[around.class_ids == class_id("face")]
        rules = cfg.plate_rules if "plate" in wanted else None
        return self._finish(Detections.merge(parts), frame, int(index), k, rules,
                            faces=faces if len(faces) else None)

    def smallest_visible(self, frame: av.VideoFrame, classes: Iterable[str]) -> dict[int, float]:
        """Per class id of ``classes``: the smallest object (long side, coded pixels) the
        whole-frame pass of :meth:`detect` can find on ``frame`` (:data:`SMALLEST_SEEN` scaled
        by the frame's downscale to the class's input size; tiles, which see one part of the
        frame at a time, do not count)."""
        k = rotation_k(frame.rotation if self.rotation is None else self.rotation)
        long_side = max(upright_size(frame.width, frame.height, k))
        out = {}
        for name in classes:
            scale = min(1.0, self.config.size_for(name) / long_side) if long_side else 1.0
            out[class_id(name)] = SMALLEST_SEEN.get(name, 0.0) / scale
        return out

    def filter_plates(self, frame: av.VideoFrame, dets: Detections,
                      faces: np.ndarray) -> Detections:
        """``dets`` without the plate boxes that :attr:`DetectConfig.plate_rules` reject given
        ``faces`` (coded pixels, e.g. tracked ones) besides the faces in ``dets``: the face
        rules then hold on frames where plates are looked for and faces are not."""
        own = dets.xyxy[dets.class_ids == class_id("face")]
        k = rotation_k(frame.rotation if self.rotation is None else self.rotation)
        return self._plausible(dets, frame, k, self.config.plate_rules,
                               np.concatenate([own, np.asarray(faces, np.float32).reshape(-1, 4)]))

    def _tiles(self, cw: int, ch: int, size: int) -> np.ndarray | None:
        """Native-resolution tiles (coded pixels) of side ``size`` of a ``cw`` x ``ch`` picture
        whose long side is over :data:`TILE_ABOVE` times ``size``; None when it is not."""
        if not self.config.tiles or max(cw, ch) <= TILE_ABOVE * size:
            return None
        key = (cw, ch, size)
        if key not in self._tile_plan:
            self._tile_plan[key] = tiles(cw, ch, size, size // 8)
        return self._tile_plan[key]

    def _run(self, name: str, detector, images: np.ndarray,
             batch: int | None = None) -> list[Detections]:
        """``detector.detect(images)`` (``batch`` images per inference call where it is an
        :class:`OnnxDetector`), counted in :attr:`timings` under ``name``."""
        t0 = time.perf_counter()
        found = (detector.detect(images, batch=batch)
                 if batch is not None and isinstance(detector, OnnxDetector)
                 else detector.detect(images))
        t = self._timings[name]
        t[0] += 1
        t[1] += len(images)
        t[2] += time.perf_counter() - t0
        return found

    def _changed_parts(self, frame: av.VideoFrame, regions: np.ndarray, det_wh, up_wh, k: int,
                       models, pads: list[int]) -> Detections:
        """Run ``models`` on ``regions`` (coded pixels) of ``frame``, each cut at the scale of
        the whole frame's detector input ``det_wh`` (upright ``up_wh`` picture) and, for model
        ``m``, mirrored by ``pads[m]`` px past the sides that are the picture's edges, as the
        whole frame would be; boxes in coded pixels, all the models' classes (unfiltered)."""
        scale = det_wh[0] / up_wh[0]
        parts = []
        for region in np.asarray(regions, np.float64):
            rw, rh = region[2] - region[0], region[3] - region[1]
            uw, uh = (rh, rw) if k % 2 else (rw, rh)
            size = (max(1, int(np.ceil(uw * scale))), max(1, int(np.ceil(uh * scale))))
            batch = crop_batch(frame, region[None], size, k)
            up = to_upright(region[None], (frame.width, frame.height), k)[0]
            sides = (up[0] <= 0, up[1] <= 0, up[2] >= up_wh[0], up[3] >= up_wh[1])
            for (found,) in self._run_mirrored(models, pads, batch.images, sides, size):
                if len(found):
                    parts.append(Detections(batch.to_coded(0, found.xyxy), found.scores,
                                            found.class_ids))
        return Detections.merge(parts)

    def _in_regions(self, frame: av.VideoFrame, regions: np.ndarray, side: int, k: int,
                    models, classes: list[str]) -> list[Detections]:
        """Run ``models`` on ``side`` x ``side`` crops of ``regions``; boxes of ``classes`` in
        coded pixels (unfiltered)."""
        batch = crop_batch(frame, regions, (side, side), k)
        cids = [class_id(c) for c in classes]
        parts = []
        for model_name, d in models:
            # crops are small: one inference call for all of them pays, on a CPU too
            found = self._run(model_name, d, batch.images, AROUND_BATCH)
            for i, dets in enumerate(found):
                dets = dets[np.isin(dets.class_ids, cids)]
                if len(dets):
                    parts.append(Detections(batch.to_coded(i, dets.xyxy), dets.scores,
                                            dets.class_ids))
        return parts

    def _finish(self, found: Detections, frame: av.VideoFrame, index: int, k: int,
                rules, faces: np.ndarray | None = None) -> Detections:
        """``found`` (coded pixels, already above thresholds) with boxes found twice (in
        overlapping crops, or in a tile and the whole frame) merged and implausible plates
        dropped, as the frame's detections."""
        if len(found) > 1:
            keep = []
            for cid in np.unique(found.class_ids):
                rows = np.flatnonzero(found.class_ids == cid)
                keep.extend(rows[nms(found.xyxy[rows], found.scores[rows], DUPLICATE_IOU)])
            found = found[np.sort(np.asarray(keep, np.intp))]
        found = self._plausible(found, frame, k, rules, faces)
        return Detections(found.xyxy, found.scores, found.class_ids, None, index, frame.pts)

    @staticmethod
    def _plausible(dets: Detections, frame: av.VideoFrame, k: int, rules,
                   faces: np.ndarray | None) -> Detections:
        """``dets`` (coded pixels) without the plate boxes ``rules`` reject, judged in the
        upright picture against ``faces`` (coded; None: the faces in ``dets``)."""
        if rules is None or not len(dets):
            return dets
        wh = (frame.width, frame.height)
        upright = Detections(to_upright(dets.xyxy, wh, k), dets.scores, dets.class_ids)
        up_faces = to_upright(faces, wh, k) if faces is not None else None
        return dets[rules.mask(upright, upright_size(*wh, k), faces=up_faces)]

    def _wanted(self, classes: Iterable[str] | None) -> tuple[str, ...]:
        if classes is None:
            return self._classes
        names = (classes,) if isinstance(classes, str) else tuple(classes)
        for c in names:
            if c not in self._classes:
                raise ConfigError(
                    f"detect: classes: expected some of {', '.join(self._classes) or '(none)'} "
                    f"(the classes this stage finds), got {c!r}"
                )
        return tuple(dict.fromkeys(names))

    def __repr__(self) -> str:
        names = ", ".join(type(d).__name__ for d in self.detectors)
        return (f"DetectStage([{names}], det_size={self.config.det_size}, "
                f"det_sizes={dict(self.config.det_sizes)}, rotation={self.rotation})")


def _unmirrored(found: Detections, offset: tuple[int, int], wh: tuple[int, int]) -> Detections:
    """``found`` in a :func:`~avanon.detect.geometry.mirror_edges` image, back in the pixels of
    the ``wh`` image; boxes wholly in the mirror are dropped."""
    xyxy, keep = unmirror(found.xyxy, offset, wh)
    return Detections(xyxy[keep], found.scores[keep], found.class_ids[keep])


def _unique_names(detectors: Sequence[ImageDetector]) -> list[str]:
    """Timing keys: each detector's ``name`` (or class name), numbered when repeated."""
    names: list[str] = []
    for d in detectors:
        base = str(getattr(d, "name", None) or type(d).__name__)
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}#{n}"
        names.append(name)
    return names
