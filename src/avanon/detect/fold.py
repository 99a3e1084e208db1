"""A faster graph of the same function: constant scale/shift layers folded into convolutions.

Models exported from PaddlePaddle (PP-OCRv4's text detector) spell out, as separate elementwise
layers, what onnxruntime could run inside its convolutions:

* **affine after a convolution**: ``Conv -> Mul(c) -> Add(d)`` with per-channel or scalar
  constants (PP-LCNetV3's "learnable affine blocks"; the bias of the head's transposed
  convolutions). Folded into the convolution: ``W' = W * c``, ``B' = B * c + d``;
* **hard-swish written out**: ``x * Clip(x + 3, 0, 6) / 6`` (four layers). Rewritten as
  ``x * HardSigmoid(x; 1/6, 1/2)``, which onnxruntime fuses into the convolution before it;
* **affine before an unpadded convolution**: ``Mul(s) -> Add(b) -> Conv`` with scalar ``s``, ``b``
  and no padding (the 1x1 convolutions). Folded into that convolution: ``W' = W * s``,
  ``B' = B + b * sum(W)``. Before a *padded* convolution this would change the picture's border
  (the zeros of the padding would no longer be zeros), so there the pair becomes one
  per-channel 1x1 convolution: one pass instead of two, in the blocked layout onnxruntime keeps
  between convolutions instead of a conversion out of it and back;
* **batch norm after a transposed convolution** (the detection head's upsampling), which
  onnxruntime folds only after plain convolutions: folded into its weights and bias.

Every rewrite is exact algebra; only float rounding differs (PP-OCRv4's text probability: at
most 2e-7 apart on Tears of Steel frames at 960x544, 1.5e-5 on the steepest edge of the test's
digits). On a 2-core x86 machine PP-OCRv4 then needs about 63 % of the CPU time (85 instead of
136 ms at 960x544), because onnxruntime no longer runs 194 elementwise passes over whole
feature maps, nor converts the layout of the data out of its blocked format and back around
each of them.

The rewritten model is made once, like the int8 ones, from the verified pinned file, and
stored next to it (:mod:`avanon.detect.store`); this needs the ``onnx`` package, not at run time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ModelError

__all__ = ["RECIPE", "fold", "fold_graph"]

#: Recorded in the model folder's manifest: a change of the rewrite makes the file again.
RECIPE = "fold/2"


def fold_graph(model) -> Counter:
    """Rewrite the ``onnx.ModelProto`` in place; returns how often each rewrite applied
    (``"conv_affine"``, ``"hard_swish"``, ``"affine_conv"``, ``"affine_as_conv"``,
    ``"transpose_norm"``)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    const: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    nodes = []
    for n in graph.node:
        value = [a for a in n.attribute if a.name == "value"]
        if n.op_type == "Constant" and value:
            const[n.output[0]] = numpy_helper.to_array(value[0].t)
        else:
            nodes.append(n)
    outputs = {o.name for o in graph.output}
    done: Counter = Counter()
    made = 0

    def consumers() -> dict[str, list]:
        c = defaultdict(list)
        for n in nodes:
            for name in n.input:
                c[name].append(n)
        return c

    def sole(c, name):
        """The one node reading ``name`` (None when it is a graph output or read twice)."""
        return c[name][0] if name not in outputs and len(c[name]) == 1 else None

    def attr(n, key, default):
        for a in n.attribute:
            if a.name == key:
                return helper.get_attribute_value(a)
        return default

    def scalar(name) -> float | None:
        a = const.get(name)
        return float(a.reshape(())) if a is not None and a.size == 1 else None

    def new_const(a: np.ndarray) -> str:
        nonlocal made
        made += 1
        name = f"avanon_folded_{made}"
        const[name] = a.astype(np.float32)
        return name

    def weights(conv, axis=0):
        """(W, B) of a convolution with constant float32 weights (its output channels on
        ``axis`` of W), else None."""
        if conv.input[1] not in const or (len(conv.input) > 2 and conv.input[2] not in const):
            return None
        w = const[conv.input[1]]
        if w.dtype != np.float32:
            return None
        b = const[conv.input[2]] if len(conv.input) > 2 and conv.input[2] else np.zeros(
            w.shape[axis], np.float32)
        return w.astype(np.float64), b.astype(np.float64)

    def per_channel(name, channels) -> np.ndarray | None:
        a = const.get(name)
        if a is None or a.dtype != np.float32:
            return None
        if a.size == 1:
            return np.full(channels, float(a.reshape(())))
        if a.shape in ((channels, 1, 1), (1, channels, 1, 1)):
            return a.reshape(channels).astype(np.float64)
        return None

    # 1. Conv -> Mul / Add by a per-channel constant: into the convolution.
    changed = True
    while changed:
        changed = False
        c = consumers()
        for conv in nodes:
            # output channels: axis 0 of a Conv's weights, axis 1 of a ConvTranspose's
            axis = {"Conv": 0, "ConvTranspose": 1}.get(conv.op_type)
            if (axis is None or (axis == 1 and attr(conv, "group", 1) != 1)
                    or (wb := weights(conv, axis)) is None):
                continue
            nxt = sole(c, conv.output[0])
            if nxt is None or nxt.op_type not in ("Mul", "Add") or len(nxt.input) != 2:
                continue
            other = nxt.input[1] if nxt.input[0] == conv.output[0] else nxt.input[0]
            v = per_channel(other, wb[0].shape[axis])
            if v is None or other == conv.output[0]:
                continue
            w, b = wb
            if nxt.op_type == "Mul":
                w, b = w * np.expand_dims(v, [i for i in range(w.ndim) if i != axis]), b * v
            else:
                b = b + v
            conv.input[:] = [conv.input[0], new_const(w), new_const(b)]
            conv.output[0] = nxt.output[0]
            nodes.remove(nxt)
            done["conv_affine"] += 1
            changed = True
            break

    # 2. x * Clip(x + 3, 0, 6) / 6  ->  x * HardSigmoid(x)
    c = consumers()
    for add in list(nodes):
        if add.op_type != "Add" or len(add.input) != 2:
            continue
        three = [i for i in add.input if scalar(i) == 3.0]
        if len(three) != 1:
            continue
        x = add.input[1] if add.input[0] == three[0] else add.input[0]
        clip = sole(c, add.output[0])
        if (clip is None or clip.op_type != "Clip" or len(clip.input) != 3
                or scalar(clip.input[1]) != 0.0 or scalar(clip.input[2]) != 6.0):
            continue
        mul = sole(c, clip.output[0])
        if mul is None or mul.op_type != "Mul" or sorted(mul.input) != sorted([x, clip.output[0]]):
            continue
        div = sole(c, mul.output[0])
        if (div is None or div.op_type != "Div" or div.input[0] != mul.output[0]
                or scalar(div.input[1]) != 6.0):
            continue
        at = nodes.index(add)
        for n in (add, clip, mul, div):
            nodes.remove(n)
        gate = f"{div.output[0]}_avanon_gate"
        nodes[at:at] = [
            helper.make_node("HardSigmoid", [x], [gate], alpha=1 / 6, beta=0.5, name=gate),
            helper.make_node("Mul", [x, gate], [div.output[0]], name=f"{gate}_mul"),
        ]
        done["hard_swish"] += 1
        c = consumers()

    # 3. Mul / Add by a scalar -> unpadded Conv: into the convolution.
    changed = True
    while changed:
        changed = False
        c = consumers()
        for op in nodes:
            if op.op_type not in ("Mul", "Add") or len(op.input) != 2:
                continue
            k = [i for i in op.input if scalar(i) is not None and const[i].dtype == np.float32]
            if len(k) != 1:
                continue
            x = op.input[1] if op.input[0] == k[0] else op.input[0]
            conv = sole(c, op.output[0])
            if (conv is None or conv.op_type != "Conv" or conv.input[0] != op.output[0]
                    or (wb := weights(conv)) is None
                    or any(attr(conv, "pads", [0])) or attr(conv, "auto_pad", b"NOTSET")
                    not in (b"NOTSET", b"VALID", "NOTSET", "VALID")):
                continue
            s = scalar(k[0])
            w, b = wb
            if op.op_type == "Mul":
                w = w * s
            else:
                b = b + s * w.sum(axis=(1, 2, 3))
            conv.input[:] = [x, new_const(w), new_const(b)]
            nodes.remove(op)
            done["affine_conv"] += 1
            changed = True
            break

    # 4. what is left: Mul(s) -> Add(b) by scalars before a padded Conv -> one per-channel 1x1
    #    convolution (a single pass, in the layout onnxruntime keeps between convolutions)
    c = consumers()
    for mul in list(nodes):
        if mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        k = [i for i in mul.input if scalar(i) is not None and const[i].dtype == np.float32]
        add = sole(c, mul.output[0])
        if len(k) != 1 or add is None or add.op_type != "Add" or len(add.input) != 2:
            continue
        b = [i for i in add.input if i != mul.output[0]]
        conv = sole(c, add.output[0])
        if (len(b) != 1 or scalar(b[0]) is None or const[b[0]].dtype != np.float32
                or conv is None or conv.op_type != "Conv" or conv.input[0] != add.output[0]
                or conv.input[1] not in const):
            continue
        channels = const[conv.input[1]].shape[1] * attr(conv, "group", 1)
        x = mul.input[1] if mul.input[0] == k[0] else mul.input[0]
        at = nodes.index(mul)
        nodes.remove(mul)
        nodes.remove(add)
        nodes.insert(at, helper.make_node(
            "Conv", [x, new_const(np.full((channels, 1, 1, 1), scalar(k[0]))),
                     new_const(np.full(channels, scalar(b[0])))],
            [add.output[0]], group=channels, kernel_shape=[1, 1], name=f"{add.output[0]}_affine"))
        done["affine_as_conv"] += 1
        c = consumers()

    # 5. ConvTranspose -> BatchNormalization (inference): into the transposed convolution
    c = consumers()
    for bn in list(nodes):
        if bn.op_type != "BatchNormalization" or len(bn.output) != 1 or any(
                i not in const for i in bn.input[1:5]):
            continue
        ct = next((n for n in nodes if bn.input[0] in n.output), None)
        if (ct is None or ct.op_type != "ConvTranspose" or attr(ct, "group", 1) != 1
                or sole(c, ct.output[0]) is not bn or (wb := weights(ct, 1)) is None):
            continue
        gamma, beta, mean, var = (const[i].astype(np.float64) for i in bn.input[1:5])
        f = gamma / np.sqrt(var + attr(bn, "epsilon", 1e-5))
        w, bias = wb  # w: (in, out, kh, kw)
        ct.input[:] = [ct.input[0], new_const(w * f.reshape(1, -1, 1, 1)),
                       new_const((bias - mean) * f + beta)]
        ct.output[0] = bn.output[0]
        nodes.remove(bn)
        done["transpose_norm"] += 1
        c = consumers()

    used = {i for n in nodes for i in n.input}
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(
        numpy_helper.from_array(const[name], name) for name in sorted(used) if name in const)
    return done


def fold(src: Path, dst: Path, log: Callable[[str], None] | None = None) -> str:
    """Write the folded graph of the ``.onnx`` file ``src`` to ``dst``.

    Returns:
        The sha256 of the written file.

    Raises:
        ModelError: the ``onnx`` package is missing, or the model cannot be read or checked.
    """
    try:
        import onnx
    except ImportError as exc:
        raise ModelError(
            f"{dst.name} is made on first use and needs the onnx package ({exc}): pip install onnx"
        ) from exc
    if log is not None:
        log(f"making {dst.name} from {src.name}: scale layers folded (first use only)")
    try:
        model = onnx.load(os.fspath(src))
        fold_graph(model)
        onnx.checker.check_model(model)
        data = model.SerializeToString()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"could not make {dst.name} from {src.name}: {first}") from exc
    with tempfile.TemporaryDirectory(prefix=".fold-", dir=dst.parent) as tmp:
        out = Path(tmp) / dst.name
        out.write_bytes(data)
        os.chmod(out, 0o644)
        os.replace(out, dst)
    return hashlib.sha256(data).hexdigest()
