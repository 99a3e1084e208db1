from itertools import islice

import av
import numpy as np
import pytest

from avanon.errors import ConfigError
from avanon.track import ShotCutDetector



def texture(seed: int, h: int = 180, w: int = 320, cells: int = 24) -> np.ndarray:
    """A smooth random RGB picture (coarse noise upsampled), bigger than the frames cut from it."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (cells, cells * w // h, 3))
    ys = np.linspace(0, coarse.shape[0] - 1, h + 80)
    xs = np.linspace(0, coarse.shape[1] - 1, w + 80)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, coarse.shape[0] - 1), np.minimum(x0 + 1, coarse.shape[1] - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x1] * fx
    bot = coarse[y1][:, x0] * (1 - fx) + coarse[y1][:, x1] * fx
    return top * (1 - fy) + bot * fy


def frame(pic: np.ndarray, dx: int = 0, dy: int = 0, gain: float = 1.0, offset: float = 0.0,
          h: int = 180, w: int = 320) -> av.VideoFrame:
    crop = pic[40 + dy:40 + dy + h, 40 + dx:40 + dx + w] * gain + offset
    rgb = np.clip(crop, 0, 255).astype(np.uint8)
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")


def run(frames) -> list[bool]:
    det = ShotCutDetector()
    return [det.update(f) for f in frames]


A, B = texture(1), texture(2)


@pytest.mark.parametrize(
    "second, is_cut",
    [
        (frame(A), False),
        (frame(A, dx=3, dy=1), False),  # small pan
        (frame(A, dx=15), False),  # fast pan, about 5 % of the width
        (frame(A, gain=0.5), False),  # fade
        (frame(A, gain=0.7, offset=90), False),  # flash-like exposure change
        (frame(B), True),  # another shot
        (frame(np.zeros_like(A)), True),  # cut to black
    ],
)
def test_cut_between_two_frames(second, is_cut):
    assert run([frame(A), frame(A, dx=1), second]) == [False, False, is_cut]


def test_steady_pan_never_cuts():
    assert not any(run([frame(A, dx=i * 2, dy=i) for i in range(25)]))


def test_fade_through_black_does_not_cut():
    gains = [1.0, 0.7, 0.4, 0.2, 0.05, 0.0, 0.0, 0.05, 0.2, 0.4, 0.7, 1.0]
    assert not any(run([frame(A, gain=g) for g in gains]))


def test_chaotic_footage_stops_cutting_every_frame():
    cuts = run([frame(texture(s)) for s in range(20)])
    assert cuts[1] and not any(cuts[-5:])


def test_reset_forgets_the_previous_frame():
    det = ShotCutDetector()
    det.update(frame(A))
    det.reset()
    assert det.update(frame(B)) is False


@pytest.mark.parametrize("kwargs", [{"threshold": 0}, {"threshold": 3}, {"threshold": "x"}, {"history": 0}])
def test_invalid_options(kwargs):
    with pytest.raises(ConfigError):
        ShotCutDetector(**kwargs)


@pytest.mark.media
@pytest.mark.parametrize(
    "name, cuts",
    [
        ("tears_of_steel/clip_01_tears_of_steel.mp4", [21, 65, 185]),
        ("derived/grid_concat_vfr_audio.mp4", [50, 100]),  # three speakers joined
        ("egoblur/gen1/test_video.mp4", []),
        ("intel/asl_gestures/again.mkv", []),
    ],
)
def test_real_clips(media, name, cuts):
    path = media / "video" / name
    det = ShotCutDetector()
    with av.open(str(path)) as c:
        found = [i for i, f in enumerate(islice(c.decode(video=0), 300)) if det.update(f)]
    assert found == cuts
