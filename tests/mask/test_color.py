"""RGB fill colour -> sample codes for each colour space, range and bit depth."""

from __future__ import annotations

import av
import pytest

from avanon.mask.color import frame_full_range, frame_matrix, rgb_to_codes
from avanon.mask.layout import plane_layout
from avanon.mask.masker import fill_codes

BLACK, WHITE = (0, 0, 0), (255, 255, 255)


@pytest.mark.parametrize(
    "rgb, matrix, full, bits, expected",
    [
        (BLACK, "bt601", False, 8, (16, 128, 128)),
        (WHITE, "bt601", False, 8, (235, 128, 128)),
        (BLACK, "bt709", False, 10, (64, 512, 512)),
        (WHITE, "bt709", False, 10, (940, 512, 512)),
        (BLACK, "bt2020", False, 12, (256, 2048, 2048)),
        (WHITE, "bt2020", False, 16, (60160, 32768, 32768)),
        (BLACK, "bt601", True, 8, (0, 128, 128)),
        (WHITE, "bt601", True, 8, (255, 128, 128)),
        (BLACK, "bt709", True, 10, (0, 512, 512)),
        (WHITE, "bt709", True, 10, (1023, 512, 512)),
        ((255, 0, 0), "bt601", False, 8, (81, 90, 240)),
        ((255, 0, 0), "bt709", False, 8, (63, 102, 240)),
        ((255, 0, 0), "bt601", True, 8, (76, 85, 255)),
        ((0, 0, 255), "bt709", False, 8, (32, 240, 118)),
        ((0, 255, 0), "bt2020", False, 10, (658, 189, 100)),
        ((10, 200, 30), "gbr", True, 8, (10, 200, 30)),
        ((255, 0, 128), "gbr", True, 10, (1023, 0, 514)),
        ((255, 0, 128), "rgb", True, 8, (0, 128, 255)),  # GBR coded in a YUV format
        ((128, 128, 128), "ycgco", True, 8, (128, 128, 128)),
    ],
)
def test_rgb_to_codes(rgb, matrix, full, bits, expected):
    assert rgb_to_codes(rgb, matrix, full, bits) == expected


@pytest.mark.parametrize(
    "colorspace, height, expected",
    [(2, 480, "bt601"), (2, 719, "bt601"), (2, 720, "bt709"), (1, 480, "bt709"),
     (5, 1080, "bt601"), (6, 1080, "bt601"), (9, 480, "bt2020"), (10, 2160, "bt2020"),
     (0, 1080, "rgb"), (8, 1080, "ycgco"), (3, 1080, "bt709")],
)
def test_frame_matrix(colorspace, height, expected):
    assert frame_matrix(colorspace, height) == expected


@pytest.mark.parametrize(
    "color_range, name, is_rgb, expected",
    [(0, "yuv420p", False, False), (1, "yuv420p", False, False), (2, "yuv420p", False, True),
     (0, "yuvj420p", False, True), (1, "yuvj444p", False, True), (0, "gray", False, True),
     (1, "gray10le", False, False), (0, "gbrp", True, True), (1, "gbrp", True, True)],
)
def test_frame_full_range(color_range, name, is_rgb, expected):
    assert frame_full_range(color_range, name, is_rgb) is expected


@pytest.mark.parametrize(
    "name, color_range, colorspace, height, rgb, expected",
    [
        ("yuv420p", 0, 2, 480, BLACK, (16, 128, 128)),
        ("yuv420p", 2, 2, 480, WHITE, (255, 128, 128)),
        ("yuvj420p", 0, 2, 480, BLACK, (0, 128, 128)),
        ("yuv420p10le", 1, 1, 1080, BLACK, (64, 512, 512)),
        ("yuv420p10le", 1, 1, 1080, WHITE, (940, 512, 512)),
        ("p010le", 1, 1, 1080, BLACK, (64 << 6, 512 << 6, 512 << 6)),
        ("yuv420p", 1, 2, 480, (255, 0, 0), (81, 90, 240)),
        ("yuv420p", 1, 2, 720, (255, 0, 0), (63, 102, 240)),
        ("gbrp", 0, 2, 480, (255, 0, 128), (255, 0, 128)),
        ("gbrp10le", 0, 2, 480, (255, 0, 0), (1023, 0, 0)),
    ],
)
def test_fill_codes_follow_the_frame(name, color_range, colorspace, height, rgb, expected):
    frame = av.VideoFrame(16, height, name)
    frame.color_range = color_range
    frame.colorspace = colorspace
    assert fill_codes(rgb, frame, plane_layout(name)) == expected
