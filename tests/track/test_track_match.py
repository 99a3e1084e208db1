import numpy as np
import pytest

from avanon.boxes import centre_distance, iou_matrix
from avanon.track.match import greedy_assign
from avanon.track.motion import BoxFilters, fit_velocity


def test_iou_matrix_known_values():
    a = [[0, 0, 10, 10], [0, 0, 0, 0]]
    b = [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]
    np.testing.assert_allclose(iou_matrix(a, b), [[1, 50 / 150, 0], [0, 0, 0]])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_greedy_assign_takes_best_pairs_once_and_breaks_ties_by_index():
    score = np.array([[0.9, 0.8], [0.85, 0.1], [0.5, 0.5]])
    assert greedy_assign(score, score > 0.3) == [(0, 0), (2, 1)]
    tie = np.ones((2, 2))
    assert greedy_assign(tie, tie > 0) == [(0, 0), (1, 1)]
    assert greedy_assign(np.zeros((0, 3)), np.zeros((0, 3), bool)) == []


@pytest.mark.parametrize("det, expect", [
    ([12, 0, 22, 10], 12 / 15),  # centre 12 px right, reach 15
    ([40, 0, 50, 10], 40 / 15),
    ([0, 0, 30, 30], np.inf),  # 3x larger: another object
])
def test_centre_distance(det, expect):
    d = centre_distance(np.array([[0, 0, 10, 10]]), np.array([[15.0, 15.0]]), np.array([det]))
    assert d[0, 0] == pytest.approx(expect)


def test_box_filters_learn_constant_velocity_row_by_row():
    f = BoxFilters()
    f.add(np.array([[0.0, 0, 40, 40], [100, 100, 120, 110]]))
    for i in range(1, 30):
        f.predict()
        f.update([0], np.array([[3 * i, -2 * i, 3 * i + 40, -2 * i + 40]]))
    np.testing.assert_allclose(f.vel[0], [3, -2, 0, 0], atol=0.05)
    np.testing.assert_allclose(f.vel[1], 0)  # never updated: predicted only
    before = f.margins(1.0, 10.0)
    f.predict()
    np.testing.assert_allclose(f.boxes()[0], [90, -60, 130, -20], atol=0.5)
    assert (f.margins(1.0, 10.0)[0] > before[0]).all()
    np.testing.assert_allclose(f.margins(100.0, 0.25), [[10, 10], [5, 2.5]])  # capped
    f.keep(np.array([False, True]))
    assert len(f) == 1 and f.mean[0, 0] == 110


def test_fit_velocity():
    boxes = [[3 * i, 2 * i, 3 * i + 20, 2 * i + 10 + i] for i in range(5)]
    vel, var = fit_velocity(range(10, 15), boxes)
    np.testing.assert_allclose(vel, [3, 2.5, 0, 1])
    vel1, var1 = fit_velocity([4], boxes[:1])
    assert (vel1 == 0).all() and (var1 > var).all()
