"""Box arithmetic shared by every stage: ``x0, y0, x1, y1`` boxes as numpy arrays.

One module so that detect (decoders, NMS), track (matching, filters) and mask (enlarging before
painting) agree on what a box, its centre and its overlap are. Everything here is vectorised and
deterministic; nothing depends on a frame.
"""

from __future__ import annotations

import numpy as np

#: Most boxes for which :func:`nms` builds the whole IoU table at once (N^2 memory).
NMS_TABLE = 256

__all__ = [
    "box_iou",
    "centre_distance",
    "clip_boxes",
    "clip_nonempty",
    "cxcywh_to_xyxy",
    "grow_boxes",
    "iou_matrix",
    "nms",
    "nms_per_group",
    "xyxy_to_cxcywh",
]


def xyxy_to_cxcywh(box: np.ndarray) -> np.ndarray:
    """``x0, y0, x1, y1`` -> ``cx, cy, w, h`` (float64), for one box (4,) or many (N, 4)."""
    b = np.asarray(box, np.float64)
    return np.concatenate([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], axis=-1)


def cxcywh_to_xyxy(state: np.ndarray, margin: np.ndarray | None = None) -> np.ndarray:
    """``cx, cy, w, h`` -> ``x0, y0, x1, y1``, each side pushed out by ``margin`` (mx, my);
    for one box (4,) or many (N, 4)."""
    s = np.asarray(state, np.float64)
    half = s[..., 2:] / 2
    if margin is not None:
        half = half + margin
    return np.concatenate([s[..., :2] - half, s[..., :2] + half], axis=-1)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` box with each of ``(N, 4)`` boxes."""
    return iou_matrix(np.asarray(box).reshape(1, 4), boxes)[0]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of ``x0, y0, x1, y1`` boxes (0 where the union
    is empty)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def centre_distance(pred: np.ndarray, reach: np.ndarray, dets: np.ndarray) -> np.ndarray:
    """(len(pred), len(dets)) distance between centres, in units of each prediction's ``reach``
    (its half-size plus uncertainty, (N, 2)); inf where the sizes differ by more than 2x.

    A value <= 1 means the detection's centre lies inside the prediction's grown box: the
    fallback for small or fast objects whose boxes no longer overlap their prediction.
    """
    pred = np.asarray(pred, np.float64).reshape(-1, 4)
    dets = np.asarray(dets, np.float64).reshape(-1, 4)
    pc = (pred[:, :2] + pred[:, 2:]) / 2
    dc = (dets[:, :2] + dets[:, 2:]) / 2
    d = np.abs(pc[:, None, :] - dc[None, :, :]) / np.maximum(reach[:, None, :], 1e-6)
    dist = d.max(axis=2)
    ps = np.maximum(pred[:, 2:] - pred[:, :2], 1e-6)
    ds = np.maximum(dets[:, 2:] - dets[:, :2], 1e-6)
    ratio = ds[None, :, :] / ps[:, None, :]
    dist[((ratio < 0.5) | (ratio > 2.0)).any(axis=2)] = np.inf
    return dist


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression.

    Keeps the best-scoring box, drops every remaining box whose IoU with it is ``>=
    iou_threshold``, and repeats. Up to :data:`NMS_TABLE` boxes the IoU table is computed once;
    beyond, each step is vectorised over the remaining boxes.

    Returns:
        Indices of the kept boxes, best score first.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    if len(order) <= NMS_TABLE:
        table = iou_matrix(boxes[order], boxes[order]) >= iou_threshold
        dropped = np.zeros(len(order), bool)
        keep = []
        for k in range(len(order)):
            if not dropped[k]:
                keep.append(order[k])
                dropped |= table[k]
        return np.asarray(keep, np.intp)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        if not rest.size:
            break
        order = rest[box_iou(boxes[i], boxes[rest]) < iou_threshold]
    return np.asarray(keep, np.intp)


def nms_per_group(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray,
                  iou_threshold: float) -> np.ndarray:
    """:func:`nms` within each group (e.g. the image each box came from) at once: the indices
    that ``nms`` keeps in each group, groups in ascending order, each best score first. Boxes of
    different groups never suppress each other.

    The groups' IoU tables are built side by side, padded to the largest group, and the greedy
    pass runs over all the groups together (one step per rank instead of one call per group),
    while they fit in :data:`NMS_TABLE` squared entries; beyond, one :func:`nms` per group."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    groups = np.asarray(groups).reshape(-1)
    if not len(boxes):
        return np.zeros(0, np.intp)
    # group by group, best score first within each (a stable sort keeps nms's order on ties)
    order = np.argsort(-scores, kind="stable")
    order = order[np.argsort(groups[order], kind="stable")]
    names, starts, sizes = np.unique(groups[order], return_index=True, return_counts=True)
    m = int(sizes.max())
    if len(names) * m * m > NMS_TABLE * NMS_TABLE:
        return np.concatenate([
            order[s:s + n][nms(boxes[order[s:s + n]], scores[order[s:s + n]], iou_threshold)]
            for s, n in zip(starts, sizes)])
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    row = np.repeat(np.arange(len(names)), sizes)
    padded = np.zeros((len(names), m, 4), np.float64)
    padded[row, rank] = boxes[order]
    table = _iou_tables(padded) >= iou_threshold
    live = np.zeros((len(names), m), bool)
    live[row, rank] = True
    kept = np.zeros_like(live)
    for k in range(m):
        kept[:, k] = live[:, k]
        live &= ~(kept[:, k, None] & table[:, k])
    return order[kept[row, rank]]


def _iou_tables(b: np.ndarray) -> np.ndarray:
    """:func:`iou_matrix` of each (m, 4) set of boxes in ``b`` (G, m, 4) with itself, by the
    same arithmetic (so the same values)."""
    lt = np.maximum(b[:, :, None, :2], b[:, None, :, :2])
    rb = np.minimum(b[:, :, None, 2:], b[:, None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area = np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)
    union = area[:, :, None] + area[:, None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def grow_boxes(
    xyxy: np.ndarray, scale: float = 1.0, pad_x: np.ndarray | float = 0.0,
    pad_y: np.ndarray | float = 0.0, *, dtype=np.float32,
) -> np.ndarray:
    """Scale boxes about their centres by ``scale``, then pad each side by ``pad_x``/``pad_y``
    (returned as ``dtype``)."""
    xyxy = np.asarray(xyxy, dtype).reshape(-1, 4)
    c = (xyxy[:, :2] + xyxy[:, 2:]) * 0.5
    half = (xyxy[:, 2:] - xyxy[:, :2]) * (0.5 * scale)
    half = half + np.stack(np.broadcast_arrays(pad_x, pad_y, half[:, 0])[:2], axis=1)
    return np.concatenate([c - half, c + half], axis=1).astype(dtype, copy=False)


def clip_boxes(xyxy: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip boxes to ``0..width x 0..height`` (returns a new float32 array)."""
    out = np.array(xyxy, np.float32, copy=True).reshape(-1, 4)
    np.clip(out[:, 0::2], 0, width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, height, out=out[:, 1::2])
    return out


def clip_nonempty(xyxy: np.ndarray, scores: np.ndarray, width: float,
                  height: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip boxes to the picture and drop those left with no area (with their scores)."""
    out = clip_boxes(xyxy, width, height)
    ok = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
    return out[ok], np.asarray(scores)[ok]
