"""One-to-one matching and the scores built on it (hand cases, slow reference, invariants)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from unpick._shared import UnpickInputError
from unpick.evaluate import match_points, per_class_recall, score_points


def x_points(*xs):
    """Points on the x axis (z = y = 0)."""
    return np.array([[0.0, 0.0, float(x)] for x in xs]).reshape(-1, 3)


def test_two_picks_on_one_truth_give_one_tp_one_fp():
    s = score_points(x_points(0.5, -0.5), x_points(0), radius_voxels=2)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 0)
    assert s["precision"] == 0.5 and s["recall"] == 1.0
    assert s["f1"] == pytest.approx(2 / 3)


def test_hand_case_fbeta():
    # 2 of 4 picks hit both truths: P = 0.5, R = 1; F2 = 5 * 0.5 / (4 * 0.5 + 1) = 5/6
    s = score_points(x_points(0, 10, 50, 80), x_points(1, 11), radius_voxels=2, beta=2)
    assert (s["tp"], s["fp"], s["fn"], s["n_pred"], s["n_truth"]) == (2, 2, 0, 4, 2)
    assert s["fbeta"] == pytest.approx(5 / 6)
    assert s["f1"] == pytest.approx(2 / 3)
    assert s["beta"] == 2.0


@pytest.mark.parametrize(
    "pred, truth, expected",
    [
        (x_points(), x_points(0, 5), dict(tp=0, fp=0, fn=2, precision=0.0, recall=0.0, f1=0.0)),
        (x_points(0, 5), x_points(), dict(tp=0, fp=2, fn=0, precision=0.0, recall=0.0, f1=0.0)),
        (x_points(), x_points(), dict(tp=0, fp=0, fn=0, precision=0.0, recall=0.0, f1=0.0)),
    ],
)
def test_empty_sets_score_zero_without_nan(pred, truth, expected):
    s = score_points(pred, truth, radius_voxels=3)
    assert {k: s[k] for k in expected} == expected


def test_empty_inputs_give_empty_matching():
    m = match_points(np.zeros((0, 3)), x_points(1, 2), radius_voxels=1)
    assert m.tp == 0 and m.n_pred == 0 and m.n_truth == 2
    assert m.pred_index.dtype == np.int64 and m.distances.shape == (0,)
    assert match_points([], [], radius_voxels=1).tp == 0


def test_pick_exactly_at_radius_counts_and_just_beyond_does_not():
    assert match_points(x_points(5.0), x_points(0), radius_voxels=5.0).tp == 1
    assert match_points(x_points(5.0 + 1e-9), x_points(0), radius_voxels=5.0).tp == 0
    diagonal = np.array([[3.0, 4.0, 0.0]])  # distance exactly 5
    assert match_points(diagonal, np.zeros((1, 3)), radius_voxels=5.0).tp == 1


def test_exact_matching_beats_greedy_nearest_neighbour():
    # P0 (x=2.4) is nearest to T0 (x=0) but is also the only pick that reaches T1 (x=5);
    # P1 (x=-2.5) reaches only T0. Greedy nearest gives 1 pair; the exact matching finds 2.
    pred, truth = x_points(2.4, -2.5), x_points(0, 5)
    m = match_points(pred, truth, radius_voxels=3)
    assert m.tp == 2
    assert dict(zip(m.pred_index.tolist(), m.truth_index.tolist(), strict=True)) == {0: 1, 1: 0}
    np.testing.assert_allclose(m.distances, [2.6, 2.5])


def test_among_maximum_matchings_the_shortest_total_distance_wins():
    m = match_points(x_points(9, 1), x_points(0, 10), radius_voxels=20)
    assert dict(zip(m.pred_index.tolist(), m.truth_index.tolist(), strict=True)) == {0: 1, 1: 0}
    assert m.distances.sum() == pytest.approx(2.0)


def test_per_truth_radius():
    # the same offset of 4 voxels counts for the wide truth point only
    pred = np.array([[0.0, 0.0, 4.0], [0.0, 0.0, 104.0]])
    truth = x_points(0, 100)
    m = match_points(pred, truth, radius_voxels=[5.0, 3.0])
    assert m.truth_index.tolist() == [0]


def _dense_reference(pred, truth, radius):
    """Slow reference: dense assignment, non-edges cost more than any set of edges."""
    d = np.linalg.norm(pred[:, None, :] - truth[None, :, :], axis=2)
    big = (radius + 1) * (min(len(pred), len(truth)) + 1) * 10
    cost = np.where(d <= radius, d, big)
    r, c = linear_sum_assignment(cost)
    ok = d[r, c] <= radius
    return int(ok.sum()), float(d[r, c][ok].sum())


@pytest.mark.parametrize("seed", range(6))
def test_matches_slow_dense_reference(seed):
    rng = np.random.default_rng(seed)
    pred = rng.uniform(0, 12, size=(int(rng.integers(5, 40)), 3))
    truth = rng.uniform(0, 12, size=(int(rng.integers(5, 40)), 3))
    m = match_points(pred, truth, radius_voxels=2.5)
    tp, total = _dense_reference(pred, truth, 2.5)
    assert m.tp == tp
    assert m.distances.sum() == pytest.approx(total, rel=1e-9)
    assert len(set(m.pred_index)) == m.tp and len(set(m.truth_index)) == m.tp
    assert (m.distances <= 2.5).all()


points = st.lists(st.tuples(*[st.floats(0, 10, allow_nan=False, width=32)] * 3), min_size=0, max_size=25)


@settings(max_examples=40, deadline=None)
@given(pred=points, truth=points, seed=st.integers(0, 2**32 - 1))
def test_permuting_picks_or_truth_does_not_change_counts(pred, truth, seed):
    pred, truth = np.array(pred).reshape(-1, 3), np.array(truth).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    base = score_points(pred, truth, radius_voxels=2.0)
    shuffled = score_points(pred[rng.permutation(len(pred))], truth[rng.permutation(len(truth))], radius_voxels=2.0)
    assert (shuffled["tp"], shuffled["fp"], shuffled["fn"]) == (base["tp"], base["fp"], base["fn"])


@settings(max_examples=40, deadline=None)
@given(pred=points, truth=points)
def test_swapping_picks_and_truth_swaps_precision_and_recall(pred, truth):
    pred, truth = np.array(pred).reshape(-1, 3), np.array(truth).reshape(-1, 3)
    forward = score_points(pred, truth, radius_voxels=2.0)
    backward = score_points(truth, pred, radius_voxels=2.0)
    assert forward["tp"] == backward["tp"]
    assert forward["precision"] == backward["recall"] and forward["recall"] == backward["precision"]
    assert forward["f1"] == pytest.approx(backward["f1"])


def test_per_class_recall_uses_one_to_one_matching():
    truth = x_points(0, 10, 20, 40)
    classes = ["ribo", "ribo", "small", "small"]
    # one pick between the two ribosomes can serve only one of them; one pick on a small one
    pred = x_points(5, 20.5)
    out = per_class_recall(pred, truth, classes, radius_voxels=5)
    assert out == {"ribo": {"recall": 0.5, "tp": 1, "n": 2}, "small": {"recall": 0.5, "tp": 1, "n": 2}}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(radius_voxels=-1.0), "radius_voxels: expected a positive number"),
        (dict(radius_voxels=float("nan")), "radius_voxels: expected a positive number"),
        (dict(radius_voxels=[1.0, 2.0, 3.0]), r"one radius per truth point \(2\)"),
        (dict(radius_voxels=[1.0, 0.0]), "expected positive radii"),
    ],
)
def test_bad_radius(kwargs, match):
    with pytest.raises(UnpickInputError, match=match):
        match_points(x_points(0), x_points(0, 1), **kwargs)


def test_bad_points_and_beta():
    with pytest.raises(UnpickInputError, match=r"pred_zyx: expected an \(N, 3\) array"):
        match_points(np.zeros((4, 2)), x_points(0), radius_voxels=1)
    with pytest.raises(UnpickInputError, match="truth_zyx: coordinates contain NaN"):
        match_points(x_points(0), [[0, 0, np.nan]], radius_voxels=1)
    with pytest.raises(UnpickInputError, match="beta: expected a positive number"):
        score_points(x_points(0), x_points(0), radius_voxels=1, beta=0)
    with pytest.raises(UnpickInputError, match=r"truth_classes: expected one label per truth point \(2\)"):
        per_class_recall(x_points(0), x_points(0, 1), ["a"], radius_voxels=1)
