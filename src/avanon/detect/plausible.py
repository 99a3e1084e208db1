"""Plausibility rules for plate boxes: drop text regions that cannot be licence plates.

The plate class comes from a text detector (``ppocr``), which also boxes parts of close faces
(eyes, nose and mouth: tall, face-sized boxes with high scores). :class:`PlateRules` drops plate
boxes that

1. are clearly taller than wide in the upright picture (``height > max_height_ratio * width``),
   unless they touch the left or right edge of the picture, where a plate cut by the frame
   edge looks narrow; and
2. lie mostly inside a face box of the same frame (``max_face_cover``): those pixels are masked
   as a face anyway, and such boxes are the false ones.

All the numbers live in the constants below, measured with ``bench/eval_detectors.py`` on
``plates_openimages`` and on the egoblur clip (see ``models/ppocr_det.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detections import Detections, class_id
from ..errors import ConfigError

__all__ = [
    "PLATE_EDGE_MARGIN",
    "PLATE_MAX_FACE_COVER",
    "PLATE_MAX_FACE_INSIDE",
    "PLATE_MAX_HEIGHT_RATIO",
    "PlateRules",
]

_FACE = class_id("face")
_PLATE = class_id("plate")

#: A plate box taller than this times its width is dropped. Plate boxes are padded text regions
#: (see ``ppocr.decode_db``), which pulls them towards square: a text line 1.5x as wide as
#: tall gives a box 1.2x as tall as wide, a 2:1 line about 1.0. Measured at det_size 960: on
#: plates_openimages 1.2 loses none of the 268 plates found (1.1 loses 2: a plate on a rolled
#: camera and a tiny one; 1.0 loses 3) and removes 4 % of the false boxes; on the egoblur clip
#: 29 of the 39 boxes on the face are taller than 1.2 (most 1.3-1.6).
PLATE_MAX_HEIGHT_RATIO = 1.2
#: A plate box whose area lies more than this share inside one face box is dropped. On
#: plates_openimages no box on a plate has more than 9 % under a face box; the text boxes on the
#: egoblur clip's face are 55-100 % under it.
PLATE_MAX_FACE_COVER = 0.5
#: A plate box that holds at least this share of a face box's area is dropped: a licence plate
#: never contains a face, while a text box around a person (a shirt print, a sign behind a head,
#: a blob of the text model's map) does, and masking it would hide the person.
PLATE_MAX_FACE_INSIDE = 0.7
#: Boxes within this share of the picture width from its left or right edge are exempt from the
#: height rule: a plate cut by the frame edge is narrower than it is (one such plate in the set).
PLATE_EDGE_MARGIN = 0.01


@dataclass(frozen=True)
class PlateRules:
    """Which plate boxes the detect stage keeps.

    Attributes:
        max_height_ratio: drop plate boxes taller than this times their width; None keeps any
            shape. Raising it keeps more tall text (vertical signs, square two-line plates seen
            at an angle) and more false boxes on faces; lowering it drops more real plates.
        max_face_cover: drop plate boxes with more than this share of their area inside one
            face box of the same frame; None keeps them. Only faces found in the same call count
            (``DetectStage.detect(classes=...)`` without ``"face"`` finds none): pass ``faces``
            to :meth:`mask` to use others, e.g. tracked ones.
        max_face_inside: drop plate boxes that hold at least this share of some face box's
            area (a plate never contains a face); None keeps them. Faces as for
            ``max_face_cover``.
        edge_margin: share of the picture width; boxes this close to the left or right edge
            are exempt from ``max_height_ratio``.

    Example:
        >>> dets = Detections.from_boxes(
        ...     [[0, 0, 100, 100], [10, 10, 40, 80], [300, 200, 380, 230]],
        ...     scores=[0.9, 0.8, 0.7], class_ids=[0, 1, 1])
        >>> PlateRules().apply(dets, (640, 480)).xyxy.tolist()  # the tall box under the face goes
        [[0.0, 0.0, 100.0, 100.0], [300.0, 200.0, 380.0, 230.0]]
    """

    max_height_ratio: float | None = PLATE_MAX_HEIGHT_RATIO
    max_face_cover: float | None = PLATE_MAX_FACE_COVER
    max_face_inside: float | None = PLATE_MAX_FACE_INSIDE
    edge_margin: float = PLATE_EDGE_MARGIN

    def __post_init__(self) -> None:
        checks = (
            ("max_height_ratio", True, lambda v: v > 0, "a ratio > 0"),
            ("max_face_cover", True, lambda v: 0 <= v < 1, "a share in [0, 1)"),
            ("max_face_inside", True, lambda v: 0 < v <= 1, "a share in (0, 1]"),
            ("edge_margin", False, lambda v: 0 <= v < 0.5, "a share in [0, 0.5)"),
        )
        for name, optional, ok, expected in checks:
            value = getattr(self, name)
            if value is None and optional:
                continue
            v = _number(value)
            if v is None or not ok(v):
                expected += " or None" if optional else ""
                raise ConfigError(f"{name}: expected {expected}, got {value!r}")
            object.__setattr__(self, name, v)

    def mask(
        self,
        dets: Detections,
        frame_wh: tuple[int, int],
        *,
        faces: np.ndarray | None = None,
    ) -> np.ndarray:
        """Which rows of ``dets`` to keep: (N,) bool, True for every row that is not a plate.

        Args:
            dets: boxes in the pixels of the *upright* picture.
            frame_wh: ``(width, height)`` of that picture.
            faces: (F, 4) face boxes in the same pixels; None = the face rows of ``dets``.
        """
        keep = np.ones(len(dets), bool)
        plate = np.nonzero(dets.class_ids == _PLATE)[0]
        if not len(plate):
            return keep
        b = dets.xyxy[plate]
        w = b[:, 2] - b[:, 0]
        h = b[:, 3] - b[:, 1]
        bad = np.zeros(len(b), bool)
        if self.max_height_ratio is not None:
            margin = self.edge_margin * frame_wh[0]
            at_edge = (b[:, 0] <= margin) | (b[:, 2] >= frame_wh[0] - margin)
            bad |= (h > self.max_height_ratio * w) & ~at_edge
        f = dets.xyxy[dets.class_ids == _FACE] if faces is None else faces
        f = np.asarray(f, np.float32).reshape(-1, 4)
        if len(f) and (self.max_face_cover is not None or self.max_face_inside is not None):
            lo = np.maximum(b[:, None, :2], f[None, :, :2])  # (P, F, 2)
            hi = np.minimum(b[:, None, 2:], f[None, :, 2:])
            inter = np.clip(hi - lo, 0, None).prod(axis=2)  # (P, F)
            if self.max_face_cover is not None:
                bad |= inter.max(axis=1) > self.max_face_cover * np.maximum(w * h, 1e-6)
            if self.max_face_inside is not None:
                face_area = np.maximum((f[:, 2] - f[:, 0]) * (f[:, 3] - f[:, 1]), 1e-6)
                bad |= (inter >= self.max_face_inside * face_area[None, :]).any(axis=1)
        keep[plate[bad]] = False
        return keep

    def apply(
        self,
        dets: Detections,
        frame_wh: tuple[int, int],
        *,
        faces: np.ndarray | None = None,
    ) -> Detections:
        """``dets`` without the implausible plate boxes (see :meth:`mask`)."""
        return dets[self.mask(dets, frame_wh, faces=faces)]


def _number(value) -> float | None:
    """``value`` as a finite float, or None when it is not a number."""
    if isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None
