"""Tests for unpick.report: slab views, the picks report figure, the workflow score chart."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread
from matplotlib.patches import Circle

from unpick._shared import UnpickInputError
from unpick.evaluate import score_points
from unpick.report import (
    picks_figure,
    plot_picks_report,
    plot_workflow_scores,
    slab_views,
    stretch_contrast,
    workflow_scores_figure,
)

SHAPE = (30, 40, 50)


@pytest.fixture()
def volume() -> np.ndarray:
    return np.random.default_rng(0).normal(0.0, 1.0, SHAPE).astype(np.float32)


class SpyVolume:
    """Array stand-in that records how many voxels each read takes."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.reads: list[int] = []

    def __getitem__(self, index):
        block = self.data[index]
        self.reads.append(block.size)
        return block


# ------------------------------------------------------------------------------------ slab views


def test_stretch_contrast_maps_percentiles_to_unit_range():
    image = np.arange(101, dtype=np.float64).reshape(1, 101)  # percentile p is exactly p
    out = stretch_contrast(image)
    assert out.dtype == np.float32
    expected = np.clip((image - 1.0) / 98.0, 0, 1)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out[0, 0] == 0.0 and out[0, 100] == 1.0 and out[0, 50] == pytest.approx(49 / 98)


def test_stretch_contrast_flat_image_is_mid_grey():
    np.testing.assert_array_equal(stretch_contrast(np.full((4, 4), 3.0)), np.full((4, 4), 0.5, np.float32))


def test_slab_views_show_planted_block_where_expected(volume):
    vol = 0.1 * volume
    vol[12:18, 5:15, 20:35] = 10.0  # bright block: z 12-17, y 5-14, x 20-34
    views = slab_views(vol, center_zyx=(15, 10, 27), slab_thickness_voxels=5)
    assert {k: v.shape for k, v in views.items()} == {"xy": (40, 50), "xz": (30, 50), "yz": (30, 40)}
    assert all(v.dtype == np.float32 and v.min() >= 0 and v.max() <= 1 for v in views.values())
    block = {
        "xy": (slice(5, 15), slice(20, 35)),
        "xz": (slice(12, 18), slice(20, 35)),
        "yz": (slice(12, 18), slice(5, 15)),
    }
    for name, index in block.items():
        view = views[name]
        np.testing.assert_allclose(view[index], 1.0)  # the block is above the 99th percentile
        outside = np.ones(view.shape, bool)
        outside[index] = False
        assert view[outside].max() < 0.1  # background noise sits near the bottom of the range


def test_slab_views_equal_explicit_means_and_shift_inward_at_faces(volume):
    views = slab_views(volume, center_zyx=(0, 39, 25), slab_thickness_voxels=4)
    np.testing.assert_allclose(views["xy"], stretch_contrast(volume[0:4].mean(axis=0)), atol=1e-6)
    np.testing.assert_allclose(views["xz"], stretch_contrast(volume[:, 36:40].mean(axis=1)), atol=1e-6)
    np.testing.assert_allclose(views["yz"], stretch_contrast(volume[:, :, 23:27].mean(axis=2)), atol=1e-6)
    default = slab_views(volume)  # centre (15, 20, 25), 5 slices
    np.testing.assert_allclose(default["xy"], stretch_contrast(volume[13:18].mean(axis=0)), atol=1e-6)


def test_slab_views_read_only_slabs_from_memmap(tmp_path, volume):
    np.save(tmp_path / "v.npy", volume.astype(np.float16))
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    spy = SpyVolume(mapped)
    views = slab_views(spy, slab_thickness_voxels=3)
    assert len(spy.reads) == 3
    assert max(spy.reads) <= 3 * max(SHAPE[0] * SHAPE[1], SHAPE[0] * SHAPE[2], SHAPE[1] * SHAPE[2])
    np.testing.assert_allclose(
        views["yz"], slab_views(mapped.astype(np.float32), slab_thickness_voxels=3)["yz"], atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"slab_thickness_voxels": 0}, "slab_thickness_voxels: expected an integer >= 1"),
        ({"slab_thickness_voxels": 2.5}, "slab_thickness_voxels: expected an integer >= 1"),
        ({"slab_thickness_voxels": True}, "slab_thickness_voxels: expected an integer >= 1"),
        (
            {"center_zyx": (30, 0, 0)},
            r"center_zyx: expected a voxel inside the volume of shape \(30, 40, 50\)",
        ),
        ({"center_zyx": (-1, 0, 0)}, "center_zyx: expected a voxel inside"),
        ({"center_zyx": (1, 2)}, r"center_zyx: expected 3 numbers \(z, y, x\)"),
    ],
)
def test_slab_views_bad_options(volume, kwargs, match):
    with pytest.raises(UnpickInputError, match=match):
        slab_views(volume, **kwargs)


def test_slab_views_rejects_2d_volume():
    with pytest.raises(UnpickInputError, match=r"volume: expected a 3-D \(Z, Y, X\) volume, got 2-D"):
        slab_views(np.zeros((10, 10)))


# ----------------------------------------------------------------------------------- picks report

# centre (15, 20, 25), slab 5 -> z slab [13, 18) holds centres in [12.5, 17.5), y [18, 23) -> [17.5, 22.5),
# x [23, 28) -> [22.5, 27.5).  Picks (z, y, x):
PICKS = np.array(
    [
        [15.0, 10.0, 10.0],  # matched; XY only, on the mid-plane
        [17.4, 20.0, 40.0],  # matched; XY (near edge) and XZ
        [17.5, 5.0, 25.0],  # matched; YZ only (z just outside the XY slab)
        [12.5, 30.0, 5.0],  # unmatched; XY only (z on the lower edge, inside)
        [5.0, 5.0, 5.0],  # unmatched; no panel
    ]
)
MATCHED_PRED = np.array([True, True, True, False, False])
TRUTH = np.array(
    [
        [15.2, 10.0, 10.0],
        [17.0, 20.0, 40.5],
        [17.0, 5.0, 25.0],
        [25.0, 21.0, 26.0],  # missed; XZ and YZ, not XY
    ]
)
MATCHED_TRUTH = np.array([True, True, True, False])
EXPECTED_CIRCLES = {
    "xy": {"matched": 2, "false_positive": 1, "missed": 0},
    "xz": {"matched": 1, "false_positive": 0, "missed": 1},
    "yz": {"matched": 1, "false_positive": 0, "missed": 1},
}


def _circles(fig, panel: str) -> list[Circle]:
    (ax,) = [ax for ax in fig.axes if ax.get_gid() == panel]
    return [p for p in ax.patches if isinstance(p, Circle)]


def _truth_figure(volume, **kwargs):
    return picks_figure(
        volume,
        PICKS,
        radius_voxels=4.0,
        scores=np.linspace(0.1, 0.9, 5),
        truth_zyx=TRUTH,
        matched_pred=MATCHED_PRED,
        matched_truth=MATCHED_TRUTH,
        slab_thickness_voxels=5,
        **kwargs,
    )


def test_picks_figure_draws_one_circle_per_point_in_each_slab(volume):
    fig = _truth_figure(volume)
    for panel, expected in EXPECTED_CIRCLES.items():
        circles = _circles(fig, panel)
        counts = {category: sum(c.get_gid() == category for c in circles) for category in expected}
        assert counts == expected, panel
        assert len(circles) == sum(expected.values())
    edge = {c.get_gid(): to_rgb(c.get_edgecolor()) for c in _circles(fig, "xy") + _circles(fig, "xz")}
    assert edge["matched"][1] > 0.8 > edge["matched"][0]  # green
    assert edge["false_positive"][0] > 0.9 > edge["false_positive"][2]  # red/orange
    assert edge["missed"][2] > 0.9 > edge["missed"][0]  # blue/cyan


def test_picks_figure_circle_positions_and_cross_section_radii(volume):
    fig = _truth_figure(volume)
    xy = {tuple(np.round(c.center, 3)): c.radius for c in _circles(fig, "xy")}
    assert xy[(10.0, 10.0)] == pytest.approx(4.0)  # on the mid-plane z = 15: full radius
    assert xy[(40.0, 20.0)] == pytest.approx(math.sqrt(16 - 2.4**2))  # 2.4 voxels off the plane
    assert xy[(5.0, 30.0)] == pytest.approx(math.sqrt(16 - 2.5**2))
    yz = {tuple(np.round(c.center, 3)): c.get_gid() for c in _circles(fig, "yz")}
    assert yz == {(17.5, 5.0): "matched", (25.0, 21.0): "missed"}  # displayed as (z, y)
    xz = {tuple(np.round(c.center, 3)): c.get_gid() for c in _circles(fig, "xz")}
    assert xz == {(40.0, 17.4): "matched", (26.0, 25.0): "missed"}  # displayed as (x, z)


def test_picks_figure_legend_counts_and_scores(volume):
    fig = _truth_figure(volume, title="tomo")
    (summary,) = [ax for ax in fig.axes if ax.get_gid() == "summary"]
    labels = [t.get_text() for t in summary.get_legend().get_texts()]
    assert labels == ["matched pick (TP): 3", "unmatched pick (FP): 2", "missed truth (FN): 1"]
    text = "\n".join(t.get_text() for t in summary.texts)
    assert "picks: 5" in text and "truth: 4" in text
    assert "precision 0.600" in text and "recall    0.750" in text and "F1        0.667" in text
    expected = score_points(PICKS, TRUTH, radius_voxels=1.0)  # the matching the flags above describe
    assert (expected["tp"], expected["n_pred"], expected["n_truth"]) == (3, 5, 4)
    assert f"F1        {expected['f1']:.3f}" in text and f"precision {expected['precision']:.3f}" in text
    (hist,) = [ax for ax in fig.axes if ax.get_gid() == "hist"]
    heights = sum(p.get_height() for p in hist.patches)
    assert heights == 5  # every score lands in one stacked bar
    assert fig.get_suptitle() == "tomo"


def test_picks_figure_without_truth_draws_plain_picks(volume):
    fig = picks_figure(volume, PICKS, radius_voxels=3.0)
    counts = {panel: [c.get_gid() for c in _circles(fig, panel)] for panel in ("xy", "xz", "yz")}
    # default slab = round(radius) = 3 slices: z [14, 17) -> centres in [13.5, 16.5)
    assert counts == {"xy": ["pick"], "xz": ["pick"], "yz": ["pick"]}
    (hist,) = [ax for ax in fig.axes if ax.get_gid() == "hist"]
    assert [t.get_text() for t in hist.texts] == ["no scores"]


def test_plot_picks_report_writes_png_of_expected_size(tmp_path, volume):
    path = plot_picks_report(
        volume,
        PICKS,
        radius_voxels=4.0,
        path=tmp_path / "report.png",
        scores=np.arange(5.0),
        truth_zyx=TRUTH,
        matched_pred=MATCHED_PRED,
        matched_truth=MATCHED_TRUTH,
    )
    assert path == tmp_path / "report.png"
    image = imread(path)
    assert image.shape == (800, 1300, 4)
    assert image[..., :3].std() > 0.1  # not blank
    assert path.stat().st_size < 1_000_000


def test_plot_picks_report_handles_no_picks(tmp_path, volume):
    path = plot_picks_report(volume, np.zeros((0, 3)), radius_voxels=2.0, path=tmp_path / "empty.png")
    assert imread(path).shape == (800, 1300, 4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"radius_voxels": 0}, "radius_voxels: expected a positive number voxels, got 0"),
        ({"radius_voxels": -2.0}, "radius_voxels: expected a positive number"),
        ({"picks_zyx": np.zeros((3, 2))}, r"picks_zyx: expected an \(N, 3\) array .* got shape \(3, 2\)"),
        ({"picks_zyx": [[1.0, np.nan, 2.0]]}, "picks_zyx: coordinates must be finite"),
        ({"scores": np.ones(4)}, r"scores: expected one value per point of the picks \(5\)"),
        ({"truth_zyx": TRUTH}, "matched_pred/matched_truth: required with truth_zyx"),
        ({"matched_pred": MATCHED_PRED}, "matched_pred/matched_truth: given without truth_zyx"),
        (
            {"truth_zyx": TRUTH, "matched_pred": MATCHED_PRED.astype(int), "matched_truth": MATCHED_TRUTH},
            "matched_pred: expected booleans",
        ),
        (
            {"truth_zyx": TRUTH, "matched_pred": MATCHED_PRED, "matched_truth": MATCHED_TRUTH[:3]},
            r"matched_truth: expected one value per point of truth_zyx \(4\)",
        ),
        (
            {"truth_zyx": TRUTH, "matched_pred": MATCHED_PRED, "matched_truth": np.array([True, True, False, False])},
            "matched_pred/matched_truth: expected the flags of one one-to-one matching .* got 3 and 2",
        ),
        ({"slab_thickness_voxels": 0}, "slab_thickness_voxels: expected an integer >= 1"),
        ({"center_zyx": (0, 0, 99)}, "center_zyx: expected a voxel inside"),
    ],
)
def test_picks_figure_bad_inputs(volume, kwargs, match):
    arguments = {"picks_zyx": PICKS, "radius_voxels": 3.0} | kwargs
    with pytest.raises(UnpickInputError, match=match):
        picks_figure(volume, **arguments)


def test_plot_picks_report_missing_folder(tmp_path, volume):
    with pytest.raises(UnpickInputError, match=r"path: folder .*nope does not exist"):
        plot_picks_report(volume, PICKS, radius_voxels=3.0, path=tmp_path / "nope" / "r.png")


# -------------------------------------------------------------------------------- workflow scores

TABLE = pd.DataFrame(
    {
        "workflow": [
            "gabor-kmeans-ws",
            "random",
            "intensities-kmeans-cc",
            "DoG",
            "fft-gmm-cc",
            "gabor-gmm-cc",
        ],
        "f1": [0.65, 0.05, 0.90, 0.84, np.nan, 0.32],
        "relative_recall": [0.6, 0.0, 0.85, 0.80, 0.2, np.nan],
    }
)


def _bars(fig) -> dict[str, object]:
    (ax,) = fig.axes
    return {p.get_gid(): p for p in ax.patches if p.get_gid()}


def test_workflow_scores_sorted_by_f1_with_grey_baselines():
    fig = workflow_scores_figure(TABLE)
    bars = _bars(fig)
    # NaN F1 draws no bar and sorts last; NaN relative recall likewise
    assert "fft-gmm-cc|f1" not in bars and "gabor-gmm-cc|relative_recall" not in bars
    assert len(bars) == 10
    rows = sorted(
        {gid.split("|")[0] for gid in bars},
        key=lambda w: bars.get(f"{w}|relative_recall", bars.get(f"{w}|f1")).get_y(),
    )
    assert rows == ["intensities-kmeans-cc", "DoG", "gabor-kmeans-ws", "gabor-gmm-cc", "random", "fft-gmm-cc"]
    for gid, bar in bars.items():
        assert bar.get_width() == pytest.approx(
            TABLE.set_index("workflow").loc[gid.split("|")[0], gid.split("|")[1]]
        )
        r, g, b = to_rgb(bar.get_facecolor())
        is_grey = r == pytest.approx(g) == pytest.approx(b)
        assert is_grey == (gid.split("|")[0] in ("random", "DoG")), gid
    (ax,) = fig.axes
    lines = {line.get_gid(): line.get_xdata()[0] for line in ax.get_lines() if line.get_gid()}
    assert lines == {"dog|f1": pytest.approx(0.84), "dog|relative_recall": pytest.approx(0.80)}
    assert ax.yaxis_inverted()  # best on top
    assert [t.get_text() for t in ax.get_yticklabels()] == rows


def test_workflow_scores_draw_into_a_callers_axes():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4))
    left, right = fig.subplots(1, 2)
    assert workflow_scores_figure(TABLE, ax=right) is fig
    assert not left.patches  # only the given axes are drawn on
    drawn = {p.get_gid(): p.get_width() for p in right.patches if p.get_gid()}
    alone = {gid: bar.get_width() for gid, bar in _bars(workflow_scores_figure(TABLE)).items()}
    assert drawn == alone


def test_workflow_scores_from_index_and_png(tmp_path):
    table = pd.DataFrame({"f1": [0.2, 0.7]}, index=["a-kmeans-cc", "b-gmm-ws"])
    fig = workflow_scores_figure(table, metrics=("f1",))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["b-gmm-ws", "a-kmeans-cc"]
    path = plot_workflow_scores(TABLE, path=tmp_path / "wf.png", title="tomo_01")
    image = imread(path)
    assert image.ndim == 3 and image.shape[1] == 800 and image.shape[0] >= 300


@pytest.mark.parametrize(
    "table, metrics, match",
    [
        (TABLE, ("f1", "fbeta"), "table: missing metric column"),
        (TABLE.iloc[:0], ("f1",), "table: no rows"),
        (pd.concat([TABLE, TABLE]), ("f1",), "table: workflow names must be unique, got repeats of DoG"),
        (TABLE.assign(f1="high"), ("f1",), "table: metric columns f1 must be numeric"),
        ({"f1": [0.5]}, ("f1",), "table: expected a pandas DataFrame"),
        (TABLE, "f1", "metrics: expected a non-empty tuple"),
        (TABLE, (), "metrics: expected a non-empty tuple"),
    ],
)
def test_workflow_scores_bad_inputs(table, metrics, match):
    with pytest.raises(UnpickInputError, match=match):
        workflow_scores_figure(table, metrics=metrics)
