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
from collections import Counter
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
    g = _Graph(model)
    done: Counter = Counter()
    # in this order: each rewrite finds the graph its predecessors left
    for rule in (g.conv_affine, g.hard_swish, g.affine_conv, g.affine_as_conv,
                 g.transpose_norm):
        while any(rule(n) for n in list(g.nodes)):  # one rewrite per scan: links change
            done[rule.__name__] += 1
    g.store()
    return done


class _Graph:
    """The nodes and constants of an ONNX graph, and the rewrites. Each rewrite looks at one
    node and returns True when it changed the graph there."""

    def __init__(self, model) -> None:
        from onnx import helper, numpy_helper

        self._helper, self._numpy = helper, numpy_helper
        self.graph = model.graph
        self.const = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        self.nodes = []
        for n in self.graph.node:
            value = [a for a in n.attribute if a.name == "value"]
            if n.op_type == "Constant" and value:
                self.const[n.output[0]] = numpy_helper.to_array(value[0].t)
            else:
                self.nodes.append(n)
        self.outputs = {o.name for o in self.graph.output}
        self._made = 0

    def store(self) -> None:
        """Write the nodes back, with only the constants they still read, as initializers."""
        used = {i for n in self.nodes for i in n.input}
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)
        del self.graph.initializer[:]
        self.graph.initializer.extend(self._numpy.from_array(self.const[name], name)
                                      for name in sorted(used) if name in self.const)

    # -- reading ----------------------------------------------------------------------------
    def sole(self, name: str):
        """The one node reading ``name`` (None when it is a graph output or read twice)."""
        readers = [n for n in self.nodes if name in n.input]
        return readers[0] if name not in self.outputs and len(readers) == 1 else None

    def producer(self, name: str):
        return next((n for n in self.nodes if name in n.output), None)

    def attr(self, node, key: str, default):
        for a in node.attribute:
            if a.name == key:
                value = self._helper.get_attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def scalar(self, name: str) -> float | None:
        """The value of a one-element float32 constant, else None."""
        a = self.const.get(name)
        return float(a.reshape(())) if a is not None and a.size == 1 and (
            a.dtype == np.float32) else None

    def other(self, node, name: str) -> str:
        """The input of the two-input ``node`` that is not ``name``."""
        return node.input[1] if node.input[0] == name else node.input[0]

    def weights(self, conv, axis: int = 0):
        """(W, B) in float64 of a convolution with constant float32 weights (its output
        channels on ``axis`` of W), else None."""
        if conv.input[1] not in self.const or (
                len(conv.input) > 2 and conv.input[2] not in self.const):
            return None
        w = self.const[conv.input[1]]
        if w.dtype != np.float32:
            return None
        b = self.const[conv.input[2]] if len(conv.input) > 2 and conv.input[2] else np.zeros(
            w.shape[axis], np.float32)
        return w.astype(np.float64), b.astype(np.float64)

    def per_channel(self, name: str, channels: int) -> np.ndarray | None:
        a = self.const.get(name)
        if a is None or a.dtype != np.float32:
            return None
        if a.size == 1:
            return np.full(channels, float(a.reshape(())))
        if a.shape in ((channels, 1, 1), (1, channels, 1, 1)):
            return a.reshape(channels).astype(np.float64)
        return None

    def new_const(self, a: np.ndarray) -> str:
        self._made += 1
        name = f"avanon_folded_{self._made}"
        self.const[name] = a.astype(np.float32)
        return name

    def scale_shift(self, node):
        """``(x, op, k)`` when ``node`` is Mul or Add of the tensor ``x`` by a scalar ``k``."""
        if node.op_type not in ("Mul", "Add") or len(node.input) != 2:
            return None
        k = [i for i in node.input if self.scalar(i) is not None]
        if len(k) != 1 or node.input[0] == node.input[1]:
            return None
        return self.other(node, k[0]), node.op_type, self.scalar(k[0])

    # -- rewrites ---------------------------------------------------------------------------
    def conv_affine(self, conv) -> bool:
        """Conv (or group-1 ConvTranspose) -> Mul / Add by a per-channel constant: into it."""
        # output channels: axis 0 of a Conv's weights, axis 1 of a ConvTranspose's
        axis = {"Conv": 0, "ConvTranspose": 1}.get(conv.op_type)
        if (axis is None or (axis == 1 and self.attr(conv, "group", 1) != 1)
                or (wb := self.weights(conv, axis)) is None):
            return False
        nxt = self.sole(conv.output[0])
        if nxt is None or nxt.op_type not in ("Mul", "Add") or len(nxt.input) != 2:
            return False
        other = self.other(nxt, conv.output[0])
        v = self.per_channel(other, wb[0].shape[axis])
        if v is None or other == conv.output[0]:
            return False
        w, b = wb
        if nxt.op_type == "Mul":
            w, b = w * np.expand_dims(v, [i for i in range(w.ndim) if i != axis]), b * v
        else:
            b = b + v
        conv.input[:] = [conv.input[0], self.new_const(w), self.new_const(b)]
        conv.output[0] = nxt.output[0]
        self.nodes.remove(nxt)
        return True

    def hard_swish(self, add) -> bool:
        """``x * Clip(x + 3, 0, 6) / 6`` -> ``x * HardSigmoid(x)``."""
        step = self.scale_shift(add)
        if step is None or step[1:] != ("Add", 3.0):
            return False
        x = step[0]
        clip = self.sole(add.output[0])
        if (clip is None or clip.op_type != "Clip" or len(clip.input) != 3
                or self.scalar(clip.input[1]) != 0.0 or self.scalar(clip.input[2]) != 6.0):
            return False
        mul = self.sole(clip.output[0])
        if mul is None or mul.op_type != "Mul" or sorted(mul.input) != sorted(
                [x, clip.output[0]]):
            return False
        div = self.sole(mul.output[0])
        if (div is None or div.op_type != "Div" or div.input[0] != mul.output[0]
                or self.scalar(div.input[1]) != 6.0):
            return False
        at = self.nodes.index(add)
        for n in (add, clip, mul, div):
            self.nodes.remove(n)
        gate = f"{div.output[0]}_avanon_gate"
        make = self._helper.make_node
        self.nodes[at:at] = [
            make("HardSigmoid", [x], [gate], alpha=1 / 6, beta=0.5, name=gate),
            make("Mul", [x, gate], [div.output[0]], name=f"{gate}_mul"),
        ]
        return True

    def affine_conv(self, op) -> bool:
        """Mul / Add by a scalar -> unpadded Conv: into the convolution."""
        step = self.scale_shift(op)
        if step is None:
            return False
        x, kind, k = step
        conv = self.sole(op.output[0])
        if (conv is None or conv.op_type != "Conv" or conv.input[0] != op.output[0]
                or (wb := self.weights(conv)) is None or any(self.attr(conv, "pads", [0]))
                or self.attr(conv, "auto_pad", "NOTSET") not in ("NOTSET", "VALID")):
            return False
        w, b = wb
        if kind == "Mul":
            w = w * k
        else:
            b = b + k * w.sum(axis=(1, 2, 3))
        conv.input[:] = [x, self.new_const(w), self.new_const(b)]
        self.nodes.remove(op)
        return True

    def affine_as_conv(self, mul) -> bool:
        """Mul(s) -> Add(b) by scalars before a (padded) Conv -> one per-channel 1x1 conv."""
        first = self.scale_shift(mul)
        add = self.sole(mul.output[0])
        if first is None or first[1] != "Mul" or add is None:
            return False
        second = self.scale_shift(add)
        conv = self.sole(add.output[0])
        if (second is None or second[0] != mul.output[0] or second[1] != "Add"
                or conv is None or conv.op_type != "Conv" or conv.input[0] != add.output[0]
                or conv.input[1] not in self.const):
            return False
        channels = self.const[conv.input[1]].shape[1] * self.attr(conv, "group", 1)
        at = self.nodes.index(mul)
        self.nodes.remove(mul)
        self.nodes.remove(add)
        self.nodes.insert(at, self._helper.make_node(
            "Conv", [first[0], self.new_const(np.full((channels, 1, 1, 1), first[2])),
                     self.new_const(np.full(channels, second[2]))],
            [add.output[0]], group=channels, kernel_shape=[1, 1],
            name=f"{add.output[0]}_affine"))
        return True

    def transpose_norm(self, bn) -> bool:
        """ConvTranspose (group 1) -> BatchNormalization (inference): into the former."""
        if bn.op_type != "BatchNormalization" or len(bn.output) != 1 or any(
                i not in self.const for i in bn.input[1:5]):
            return False
        ct = self.producer(bn.input[0])
        if (ct is None or ct.op_type != "ConvTranspose" or self.attr(ct, "group", 1) != 1
                or self.sole(ct.output[0]) is not bn or (wb := self.weights(ct, 1)) is None):
            return False
        gamma, beta, mean, var = (self.const[i].astype(np.float64) for i in bn.input[1:5])
        f = gamma / np.sqrt(var + self.attr(bn, "epsilon", 1e-5))
        w, bias = wb  # w: (in, out, kh, kw)
        ct.input[:] = [ct.input[0], self.new_const(w * f.reshape(1, -1, 1, 1)),
                       self.new_const((bias - mean) * f + beta)]
        ct.output[0] = bn.output[0]
        self.nodes.remove(bn)
        return True


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
