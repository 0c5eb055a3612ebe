"""``evaluate_workflows``: one row per workflow, and its text rendering."""

import math

import numpy as np
import pandas as pd
import pytest

from unpick._shared import UnpickInputError, make_picks
from unpick.evaluate import evaluate_workflows, format_table, select_classes, verdict

VOXEL = 10.0
SHAPE = (30, 60, 60)
A, B, C = np.array([10.0, 10, 10]), np.array([10.0, 10, 30]), np.array([20.0, 30, 10])  # zyx


@pytest.fixture
def truth():
    pts = np.array([A, B, C])
    return pd.DataFrame(
        {
            "x": pts[:, 2],
            "y": pts[:, 1],
            "z": pts[:, 0],
            "class": ["a", "a", "b"],
            "radius_angstrom": [50.0, 50.0, 20.0],
        }
    )


def picks(points, scores=None, name=""):
    return make_picks(np.array(points).reshape(-1, 3), voxel_size_angstrom=VOXEL, score=scores, workflow=name)


@pytest.fixture
def runs():
    far = [5.0, 50, 50]
    return {
        "good": picks([A + [0, 0, 1], B + [0, 0, 2], C + [0, 0, 1.5], far], [0.9, 0.8, 0.7, 0.1]),
        "one": picks([A]),
        "random": picks([far, [25.0, 5, 55]]),
        "dog": picks([A, far]),
    }


def test_table_values_on_a_tiny_case(truth, runs):
    table = evaluate_workflows(runs, truth, voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE, n_random_draws=10)
    assert list(table.index) == ["good", "one", "random", "dog"]
    assert table.index.name == "workflow"
    assert list(table.columns) == [
        "n_picks", "tp", "fp", "fn", "precision", "recall", "f1", "fbeta", "average_precision",
        "relative_recall", "random_recall", "random_f1", "margin_f1_vs_random", "baseline",
        "recall[a]", "recall[b]",
    ]  # fmt: skip
    good, one = table.loc["good"], table.loc["one"]
    assert (good["n_picks"], good["tp"], good["fp"], good["fn"]) == (4, 3, 1, 0)
    assert good["precision"] == 0.75 and good["recall"] == 1.0 and good["f1"] == pytest.approx(6 / 7)
    assert good["average_precision"] == 1.0  # the false pick scores lowest
    assert good["relative_recall"] > 0.8
    assert good["margin_f1_vs_random"] == pytest.approx(good["f1"] - good["random_f1"])
    assert (one["tp"], one["fp"], one["fn"], one["f1"]) == (1, 0, 2, 0.5)
    assert (one["recall[a]"], one["recall[b]"]) == (0.5, 0.0)
    assert table["baseline"].tolist() == [False, False, True, True]


def test_match_radius_fraction_uses_each_particles_radius(truth, runs):
    # 0.5 x radius: 2.5 voxels for class a, 1 voxel for class b, so the pick 1.5 voxels from C misses
    table = evaluate_workflows(runs, truth, voxel_size_angstrom=VOXEL, match_radius_fraction=0.5)
    assert table.loc["good", "tp"] == 2 and table.loc["good", "recall[b]"] == 0.0
    tight = evaluate_workflows(runs, truth, voxel_size_angstrom=VOXEL, match_radius_angstrom=15.0)  # 1.5 voxels
    assert tight.loc["good", "tp"] == 2 and tight.loc["good", "recall[a]"] == 0.5


def test_beta_weights_recall(truth, runs):
    table = evaluate_workflows(runs, truth, voxel_size_angstrom=VOXEL, beta=2.0)
    # "one": P = 1, R = 1/3 -> F2 = 5 * (1/3) / (4 + 1/3) = 5/13
    assert table.loc["one", "fbeta"] == pytest.approx(5 / 13) and table.loc["one", "f1"] == 0.5


def test_without_shape_relative_recall_is_nan(truth, runs):
    table = evaluate_workflows(runs, truth, voxel_size_angstrom=VOXEL)
    assert table["relative_recall"].isna().all() and table["margin_f1_vs_random"].isna().all()
    assert table.loc["good", "f1"] == pytest.approx(6 / 7)


def test_class_filter_and_z_slab(truth, runs):
    only_a = evaluate_workflows(runs, truth, voxel_size_angstrom=VOXEL, classes=["a"])
    assert only_a.loc["good", "fn"] == 0 and only_a.loc["good", "tp"] == 2 and only_a.loc["good", "fp"] == 2
    assert "recall[b]" not in only_a.columns
    slab = evaluate_workflows(
        runs, truth, voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE, z_range=(15, 30), n_random_draws=3
    )
    # only C lies in slices [15, 30); of the good picks only the one near C does
    assert (slab.loc["good", "n_picks"], slab.loc["good", "tp"], slab.loc["good", "fn"]) == (1, 1, 0)


def test_classes_are_compared_as_text(truth):
    numbered = truth.assign(**{"class": [7, 7, 12]})
    assert select_classes(numbered, [7]).equals(select_classes(numbered, ["7"]))
    assert list(select_classes(numbered, "12")["x"]) == [truth["x"][2]]
    with pytest.raises(UnpickInputError, match="classes: 8 not in the truth table; it has 12, 7, name some of those"):
        select_classes(numbered, [8])


def test_same_seed_same_table(truth, runs):
    kwargs = dict(voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE, n_random_draws=4, rng=3)
    pd.testing.assert_frame_equal(evaluate_workflows(runs, truth, **kwargs), evaluate_workflows(runs, truth, **kwargs))


def test_format_and_verdict(truth, runs):
    table = evaluate_workflows(runs, truth, voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE, n_random_draws=3)
    text = format_table(table)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["workflow", "n_picks", "tp", "fp"]
    assert [line.split()[0] for line in lines[1:5]] == ["good", "one", "dog", "random"]  # by F1: 6/7, 1/2, 2/5, 0
    assert "dog *" in text and "random *" in text and "one *" not in text
    assert lines[-1].startswith("* baseline")
    f1 = table["f1"]
    assert verdict(table) == (
        f"best: good F1 {f1['good']:.3f} (+{f1['good'] - f1['dog']:.3f} over DoG, "
        f"+{f1['good'] - f1['random']:.3f} over random)"
    )
    assert verdict(table.loc[["random", "dog"]]).startswith("best: no workflow to compare")
    assert "-" in format_table(evaluate_workflows(runs, truth, voxel_size_angstrom=VOXEL)).split()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(classes=["a", "zz"]), "classes: zz not in the truth table; it has a, b"),
        (dict(match_radius_angstrom=-5.0), "match_radius_angstrom: expected a positive number"),
        (dict(match_radius_angstrom=50.0, match_radius_fraction=0.5), "not both"),
        (dict(z_range=(0, 10)), "z_range: needs volume_shape_zyx"),
        (dict(volume_shape_zyx=SHAPE, z_range=(0, 99)), r"z-slab: expected 0 <= z0 < z1 <= 30"),
        (dict(voxel_size_angstrom=0), "voxel_size_angstrom: expected a positive number"),
        (dict(beta=-1.0), "beta: expected a positive number"),
    ],
)
def test_bad_options(truth, runs, kwargs, match):
    with pytest.raises(UnpickInputError, match=match):
        evaluate_workflows(runs, truth, **({"voxel_size_angstrom": VOXEL} | kwargs))


def test_bad_tables(truth, runs):
    with pytest.raises(UnpickInputError, match="missing column.*z"):
        evaluate_workflows(runs, truth.drop(columns="z"), voxel_size_angstrom=VOXEL)
    with pytest.raises(UnpickInputError, match="picks .bad.: picks table: missing column.*y"):
        evaluate_workflows({"bad": runs["one"].drop(columns="y")}, truth, voxel_size_angstrom=VOXEL)
    nan_scores = runs["one"].assign(score=np.nan)
    with pytest.raises(UnpickInputError, match="picks 'nan': scores: contain NaN"):
        evaluate_workflows({"nan": nan_scores}, truth, voxel_size_angstrom=VOXEL)
    with pytest.raises(UnpickInputError, match="no radius_angstrom column"):
        evaluate_workflows(
            runs, truth.drop(columns="radius_angstrom"), voxel_size_angstrom=VOXEL, match_radius_fraction=1.0
        )
    with pytest.raises(UnpickInputError, match="the truth table has no class column"):
        evaluate_workflows(runs, truth.drop(columns="class"), voxel_size_angstrom=VOXEL, classes=["a"])
    with pytest.raises(UnpickInputError, match="expected at least one picks table"):
        evaluate_workflows({}, truth, voxel_size_angstrom=VOXEL)
    with pytest.raises(UnpickInputError, match="sort_by: nope not a column"):
        format_table(evaluate_workflows(runs, truth, voxel_size_angstrom=VOXEL), sort_by="nope")
    assert math.isnan(evaluate_workflows(runs, truth, voxel_size_angstrom=VOXEL).loc["one", "random_f1"])
