"""Which planes of a pixel format the kernels work on, and the fallback formats."""

from __future__ import annotations

import numpy as np
import pytest

from avanon.mask.layout import plane_layout, planar_equivalent


@pytest.mark.parametrize(
    "name, planes, dtype, bits, shift, align, is_rgb",
    [
        ("yuv420p", [(0, (0,), 0, 0), (1, (1,), 1, 1), (2, (2,), 1, 1)], np.uint8, 8, 0, 2, False),
        ("yuvj422p", [(0, (0,), 0, 0), (1, (1,), 1, 0), (2, (2,), 1, 0)], np.uint8, 8, 0, 2, False),
        ("yuv444p", [(0, (0,), 0, 0), (1, (1,), 0, 0), (2, (2,), 0, 0)], np.uint8, 8, 0, 1, False),
        ("yuv440p", [(0, (0,), 0, 0), (1, (1,), 0, 1), (2, (2,), 0, 1)], np.uint8, 8, 0, 2, False),
        ("yuv411p", [(0, (0,), 0, 0), (1, (1,), 2, 0), (2, (2,), 2, 0)], np.uint8, 8, 0, 4, False),
        ("yuv410p", [(0, (0,), 0, 0), (1, (1,), 2, 2), (2, (2,), 2, 2)], np.uint8, 8, 0, 4, False),
        ("yuv420p10le", [(0, (0,), 0, 0), (1, (1,), 1, 1), (2, (2,), 1, 1)], np.uint16, 10, 0, 2,
         False),
        ("yuva420p", [(0, (0,), 0, 0), (1, (1,), 1, 1), (2, (2,), 1, 1)], np.uint8, 8, 0, 2, False),
        ("nv12", [(0, (0,), 0, 0), (1, (1, 2), 1, 1)], np.uint8, 8, 0, 2, False),
        ("nv21", [(0, (0,), 0, 0), (1, (2, 1), 1, 1)], np.uint8, 8, 0, 2, False),
        ("nv24", [(0, (0,), 0, 0), (1, (1, 2), 0, 0)], np.uint8, 8, 0, 1, False),
        ("p010le", [(0, (0,), 0, 0), (1, (1, 2), 1, 1)], np.uint16, 10, 6, 2, False),
        ("p016le", [(0, (0,), 0, 0), (1, (1, 2), 1, 1)], np.uint16, 16, 0, 2, False),
        ("gray", [(0, (0,), 0, 0)], np.uint8, 8, 0, 1, False),
        ("gray12le", [(0, (0,), 0, 0)], np.uint16, 12, 0, 1, False),
        ("gbrp", [(0, (1,), 0, 0), (1, (2,), 0, 0), (2, (0,), 0, 0)], np.uint8, 8, 0, 1, True),
        ("gbrap10le", [(0, (1,), 0, 0), (1, (2,), 0, 0), (2, (0,), 0, 0)], np.uint16, 10, 0, 1,
         True),
    ],
)
def test_plane_layout(name, planes, dtype, bits, shift, align, is_rgb):
    lay = plane_layout(name)
    assert [(p.index, p.components, p.sx, p.sy) for p in lay.planes] == planes
    assert (lay.dtype, lay.bits, lay.shift, lay.align, lay.is_rgb) == (
        np.dtype(dtype), bits, shift, align, is_rgb)


@pytest.mark.parametrize(
    "name", ["rgb24", "bgr0", "rgba", "yuyv422", "uyvy422", "pal8", "monob", "ya8",
             "yuv420p10be", "gbrpf32le", "rgb48le", "y210le", "bayer_rggb8"],
)
def test_unsupported_formats_have_no_layout(name):
    assert plane_layout(name) is None


@pytest.mark.parametrize(
    "name, expected",
    [("rgb24", "gbrp"), ("bgr0", "gbrp"), ("rgba", "gbrap"), ("rgb48le", "gbrp16le"),
     ("x2rgb10le", "gbrp10le"), ("yuyv422", "yuv422p"), ("uyvy422", "yuv422p"),
     ("y210le", "yuv422p10le"), ("yuv420p10be", "yuv420p10le"), ("gray10be", "gray10le"),
     ("ya8", "yuva444p"), ("pal8", "gbrap"), ("monob", "gray"), ("gbrpf32le", "gbrp16le"),
     ("vuya", "yuva444p")],
)
def test_planar_equivalent(name, expected):
    assert planar_equivalent(name) == expected
    assert plane_layout(expected) is not None
