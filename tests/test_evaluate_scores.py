"""Relative recall, the CZII challenge metric and the precision–recall curve."""

import numpy as np
import pytest

from unpick._shared import UnpickInputError
from unpick.evaluate import czii_score, pr_curve, random_points, relative_recall
from unpick.evaluate._relative_recall import relative_recall_from

SHAPE = (60, 200, 200)


def x_points(*xs):
    return np.array([[0.0, 0.0, float(x)] for x in xs]).reshape(-1, 3)


@pytest.fixture
def sparse_truth():
    rng = np.random.default_rng(7)
    return rng.uniform([0, 0, 0], np.array(SHAPE) - 1, size=(60, 3))


def test_relative_recall_formula():
    assert relative_recall_from(0.8, 0.2) == pytest.approx(0.8)  # harmonic mean of 0.8 and 0.8
    assert relative_recall_from(1.0, 0.0) == 1.0
    assert relative_recall_from(0.0, 0.3) == 0.0
    assert relative_recall_from(0.0, 1.0) == 0.0
    assert relative_recall_from(0.5, 0.5) == pytest.approx(0.5)


def test_perfect_picks_score_near_one(sparse_truth):
    out = relative_recall(sparse_truth, sparse_truth, radius_voxels=3, region_shape_zyx=SHAPE, n_draws=10)
    assert out["recall"] == 1.0
    assert out["random_recall_mean"] < 0.02
    assert out["relative_recall"] > 0.98
    assert out["relative_recall"] == pytest.approx(relative_recall_from(1.0, out["random_recall_mean"]))
    assert out["n_draws"] == 10 and out["n_pred"] == 60


def test_random_picks_score_near_zero(sparse_truth):
    picks = random_points(60, SHAPE, rng=123)
    out = relative_recall(picks, sparse_truth, radius_voxels=3, region_shape_zyx=SHAPE, n_draws=10)
    assert abs(out["relative_recall"]) < 0.15
    assert out["random_recall_sd"] >= 0


def test_random_draws_are_seeded_and_stay_in_the_z_slab(sparse_truth):
    truth_low = sparse_truth.copy()
    truth_low[:, 0] = np.linspace(0, 9, len(truth_low))  # all truth in slices 0..9
    kwargs = dict(radius_voxels=3, region_shape_zyx=SHAPE, n_draws=10)
    # 5000 random points over the whole volume find some of it; inside [30, 60) none can
    whole = relative_recall(np.zeros((5000, 3)), truth_low, **kwargs)
    slab = relative_recall(np.zeros((5000, 3)), truth_low, z_range=(30, 60), **kwargs)
    assert whole["random_recall_mean"] > 0.05
    assert slab["random_recall_mean"] == 0.0 and slab["random_recall_sd"] == 0.0
    again = relative_recall(np.zeros((5000, 3)), truth_low, **kwargs)
    assert again == whole


def test_random_draws_respect_a_mask(sparse_truth):
    mask = np.zeros(SHAPE, dtype=bool)
    mask[:, :, :100] = True
    truth_right = sparse_truth.copy()
    truth_right[:, 2] = np.linspace(110, 199, len(truth_right))
    out = relative_recall(
        np.zeros((3000, 3)), truth_right, radius_voxels=3, region_shape_zyx=SHAPE, mask=mask, n_draws=5
    )
    assert out["random_recall_mean"] == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_draws=0), "n_draws: expected an integer >= 1"),
        (dict(region_shape_zyx=(10, 10)), "region_shape_zyx: expected three positive integers"),
        (dict(z_range=(5, 100)), r"z-slab: expected 0 <= z0 < z1 <= 60"),
        (dict(radius_voxels=0), "radius_voxels: expected a positive number"),
        (dict(mask=np.zeros((3, 3, 3), bool)), r"mask: expected a boolean volume of shape \(60, 200, 200\)"),
        (dict(mask=np.zeros(SHAPE, bool)), r"mask: no allowed voxel inside slices \[0, 60\)"),
    ],
)
def test_relative_recall_bad_input(sparse_truth, kwargs, match):
    args = dict(radius_voxels=3, region_shape_zyx=SHAPE, n_draws=2) | kwargs
    with pytest.raises(UnpickInputError, match=match):
        relative_recall(sparse_truth[:5], sparse_truth, **args)


# --- CZII challenge metric -------------------------------------------------------------


def test_czii_hand_case():
    # class a: radius 10 -> threshold 5. Truth at x=0 and x=20. Picks at 3 (hit), 4 (second pick
    # on the same particle: FP) and 50 (FP): TP 1, FP 2, FN 1, P = 1/3, R = 1/2,
    # F4 = 17 * (1/6) / (16/3 + 1/2) = 17/35. Class b: one particle, no picks: F4 = 0.
    out = czii_score(
        {"a": x_points(3, 4, 50)},
        {"a": x_points(0, 20), "b": x_points(7)},
        radius_voxels_by_class={"a": 10, "b": 8},
        weights_by_class={"a": 1, "b": 2},
    )
    a, b = out["per_class"]["a"], out["per_class"]["b"]
    assert (a["tp"], a["fp"], a["fn"]) == (1, 2, 1)
    assert a["fbeta"] == pytest.approx(17 / 35)
    assert (b["tp"], b["fp"], b["fn"], b["fbeta"]) == (0, 0, 1, 0.0)
    assert out["score"] == pytest.approx((17 / 35) / 3)


def test_czii_threshold_is_inclusive_half_radius():
    truth = {"a": x_points(0)}
    at = czii_score({"a": x_points(5.0)}, truth, radius_voxels_by_class={"a": 10}, weights_by_class={"a": 1})
    beyond = czii_score({"a": x_points(5.001)}, truth, radius_voxels_by_class={"a": 10}, weights_by_class={"a": 1})
    assert at["per_class"]["a"]["tp"] == 1 and at["score"] == 1.0
    assert beyond["per_class"]["a"]["tp"] == 0 and beyond["score"] == 0.0


def test_czii_any_hit_quirk_one_pick_hits_two_particles():
    # as in the official scorer: one pick within the threshold of two particles hits both,
    # so TP = 2 from a single pick and FP = 1 - 2 = -1
    out = czii_score(
        {"a": x_points(0)}, {"a": x_points(-2, 2)}, radius_voxels_by_class={"a": 10}, weights_by_class={"a": 1}
    )
    assert (out["per_class"]["a"]["tp"], out["per_class"]["a"]["fp"], out["per_class"]["a"]["fn"]) == (2, -1, 0)


def test_czii_class_without_truth_counts_all_picks_false():
    out = czii_score(
        {"a": x_points(0), "b": x_points(1, 2)},
        {"a": x_points(0), "b": np.zeros((0, 3))},
        radius_voxels_by_class={"a": 4, "b": 4},
        weights_by_class={"a": 1, "b": 1},
    )
    assert out["per_class"]["b"]["fp"] == 2 and out["per_class"]["b"]["fbeta"] == 0.0
    assert out["score"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "pred, radius, weights, match",
    [
        ({"z": x_points(0)}, {"a": 4}, {"a": 1}, "unrecognised class.*z; known classes: a"),
        ({}, {}, {"a": 1}, "radius_voxels_by_class: no value for scored class 'a'"),
        ({}, {"a": 4}, {"a": 0}, "all have weight 0"),
        ({}, {"a": -4}, {"a": 1}, r"radius_voxels_by_class\['a'\]: expected a positive number"),
        ({}, {"a": 4}, {"a": -1}, r"weights_by_class\['a'\]: expected a number >= 0"),
    ],
)
def test_czii_bad_input(pred, radius, weights, match):
    with pytest.raises(UnpickInputError, match=match):
        czii_score(pred, {"a": x_points(0)}, radius_voxels_by_class=radius, weights_by_class=weights)


# --- precision-recall curve -------------------------------------------------------------


def test_pr_hand_case():
    # scores 0.9 (hit), 0.8 (miss), 0.7 (hit); 2 truths
    curve = pr_curve(x_points(0, 50, 10), [0.9, 0.8, 0.7], x_points(0, 10), radius_voxels=1)
    np.testing.assert_allclose(curve.thresholds, [0.9, 0.8, 0.7])
    np.testing.assert_allclose(curve.precision, [1, 0.5, 2 / 3])
    np.testing.assert_allclose(curve.recall, [0.5, 0.5, 1.0])
    assert curve.average_precision == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_pr_perfect_ranking_has_ap_one():
    rng = np.random.default_rng(3)
    truth = rng.uniform(0, 100, size=(30, 3))
    false = rng.uniform(200, 300, size=(20, 3))
    pred = np.vstack([truth + 0.3, false])
    scores = np.r_[rng.uniform(0.6, 1.0, 30), rng.uniform(0.0, 0.5, 20)]
    curve = pr_curve(pred, scores, truth, radius_voxels=1)
    assert curve.average_precision == pytest.approx(1.0)
    assert curve.recall[-1] == 1.0 and curve.precision[-1] == pytest.approx(30 / 50)


@pytest.mark.parametrize("seed", range(4))
def test_pr_recall_is_monotone_and_thresholds_descend(seed):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 30, size=(40, 3))
    pred = rng.uniform(0, 30, size=(60, 3))
    scores = rng.integers(0, 10, size=60).astype(float)  # many ties
    curve = pr_curve(pred, scores, truth, radius_voxels=3)
    assert (np.diff(curve.recall) >= 0).all()
    assert (np.diff(curve.thresholds) < 0).all()
    assert len(curve.thresholds) == len(np.unique(scores))
    assert 0 <= curve.average_precision <= 1


def test_pr_greedy_by_score_lets_the_confident_pick_take_the_truth():
    # the confident pick is farther from the only truth point but takes it; the closer one is a FP
    curve = pr_curve(x_points(1.5, 0.2), [0.9, 0.1], x_points(0), radius_voxels=2)
    np.testing.assert_allclose(curve.precision, [1.0, 0.5])
    assert curve.average_precision == 1.0


def test_pr_empty_sets():
    assert pr_curve(x_points(), [], x_points(0), radius_voxels=1).average_precision == 0.0
    curve = pr_curve(x_points(0, 1), [1, 2], x_points(), radius_voxels=1)
    assert curve.average_precision == 0.0 and (curve.recall == 0).all()


def test_pr_bad_scores():
    with pytest.raises(UnpickInputError, match=r"scores: expected one score per pick \(2\), got 1"):
        pr_curve(x_points(0, 1), [1.0], x_points(0), radius_voxels=1)
    with pytest.raises(UnpickInputError, match="scores: contain NaN"):
        pr_curve(x_points(0), [np.nan], x_points(0), radius_voxels=1)
