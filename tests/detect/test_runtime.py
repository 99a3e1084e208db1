import numpy as np
import pytest

from avanon.detect.runtime import to_blob


def reference_blob(images, multiple, scale, bias, channels, pad):
    b, h, w, _ = images.shape
    hp, wp = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    out = np.empty((b, 3, hp, wp), np.float32)
    for c in range(3):
        out[:, c] = pad[c]
        out[:, c, :h, :w] = (images[..., channels[c]].astype(np.float32) * np.float32(scale[c])
                             + np.float32(bias[c]))
    return out


@pytest.mark.parametrize("shape", [(1, 33, 65, 3), (3, 64, 32, 3), (2, 7, 100, 3)])
def test_blob_matches_the_numpy_formula(shape):
    rng = np.random.default_rng(sum(shape))
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    scale, bias, channels, pad = (1 / 58.4, 1 / 57.1, 1 / 57.4), (-2.1, -2.0, -1.8), (2, 1, 0), (
        -1.5, 0.25, 7.0)
    blob = to_blob(images, scale=scale, bias=bias, channels=channels, pad_value=pad)
    np.testing.assert_array_equal(blob, reference_blob(images, 32, scale, bias, channels, pad))


def test_blob_reads_a_strided_view_and_rejects_other_shapes():
    base = np.arange(2 * 40 * 60 * 3, dtype=np.uint8).reshape(2, 40, 60, 3)
    view = base[:, ::2, 1::3]
    blob = to_blob(view, multiple=8, pad_value=3.0)
    np.testing.assert_array_equal(blob, reference_blob(view, 8, (1,) * 3, (0,) * 3, (0, 1, 2),
                                                       (3.0,) * 3))
    with pytest.raises(ValueError, match="expected"):
        to_blob(np.zeros((40, 60, 3), np.uint8))
