"""Ground truth in another frame is never scored silently: Å read as voxels, unbinned pixels,
points outside the tomogram, a data set's STAR holding several tomograms, an empty file."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import starfile

from unpick._shared import UnpickInputError
from unpick.cli import main
from unpick.io import read_truth, write_mrc

SHAPE = (40, 80, 100)  # z, y, x
VOXEL = 10.0


def truth_points(n=30, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.uniform(5, 95, n), "y": rng.uniform(5, 75, n), "z": rng.uniform(5, 35, n)})


def test_points_inside_pass_and_angstrom_read_as_voxels_is_refused(tmp_path):
    points = truth_points()
    good = tmp_path / "good.csv"
    points.to_csv(good, index=False)
    np.testing.assert_allclose(read_truth(good, volume_shape_zyx=SHAPE)[["x", "y", "z"]], points)
    in_angstrom = tmp_path / "angstrom.csv"
    (points * VOXEL).to_csv(in_angstrom, index=False)
    with pytest.raises(UnpickInputError, match=r"angstrom.csv: 30 of 30 points lie outside the 100x80x40 .* look like Å"):
        read_truth(in_angstrom, voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE)


def test_unbinned_pixels_are_refused_with_the_binning(tmp_path):
    unbinned = tmp_path / "unbinned.csv"
    (truth_points() * 4).to_csv(unbinned, index=False)
    with pytest.raises(UnpickInputError, match=r"binned 4x less"):
        read_truth(unbinned, voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE)


def test_some_points_outside_are_a_warning_naming_how_many(tmp_path, caplog):
    points = truth_points()
    points.loc[:2, "x"] = 250.0
    path = tmp_path / "partly.csv"
    points.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="unpick.io"):
        assert len(read_truth(path, volume_shape_zyx=SHAPE)) == 30
    assert "partly.csv: 3 of 30 points lie outside" in caplog.text


def test_a_data_set_star_keeps_the_rows_of_the_tomogram_scored(tmp_path, capsys):
    rng = np.random.default_rng(1)
    volume = rng.normal(size=SHAPE).astype(np.float32)
    tomo = write_mrc(tmp_path / "rec_TS_01.mrc", volume, voxel_size_angstrom=VOXEL)
    ours, theirs = truth_points(seed=2), truth_points(seed=3)
    rows = []
    for name, points in (("TS_01", ours), ("TS_02", theirs)):
        for x, y, z in points.to_numpy():
            rows.append({"rlnTomoName": name, "rlnCoordinateX": x, "rlnCoordinateY": y, "rlnCoordinateZ": z})
    star = tmp_path / "particles.star"
    starfile.write({"particles": pd.DataFrame(rows)}, star)
    kept = read_truth(star, tomogram="rec_TS_01")
    np.testing.assert_allclose(kept[["x", "y", "z"]], ours)
    with pytest.raises(UnpickInputError, match=r"holds 2 tomograms \(TS_01, TS_02\) and none is 'TS_09'"):
        read_truth(star, tomogram="TS_09")

    picks = tmp_path / "picks.csv"
    ours.assign(score=1.0).to_csv(picks, index=False)
    prefix = tmp_path / "scores"
    assert main(["-q", "evaluate", str(picks), "--truth", str(star), "--tomogram", str(tomo), "--out", str(prefix)]) == 0
    scores = pd.read_csv(f"{prefix}.csv").set_index("workflow")
    assert scores.loc["picks", "recall"] == 1.0 and scores.loc["picks", "fn"] == 0 and scores.loc["picks", "tp"] == 30
    empty = tmp_path / "empty.csv"
    pd.DataFrame(columns=["x", "y", "z"]).to_csv(empty, index=False)
    assert main(["-q", "evaluate", str(picks), "--truth", str(empty), "--tomogram", str(tomo)]) == 2
    assert "empty.csv: holds no points" in capsys.readouterr().err


def test_origins_in_rotated_subtomogram_frames_are_refused_and_the_tilt_series_pixel_size_is_a_warning(
    tmp_path, caplog
):
    particles = pd.DataFrame({
        "rlnTomoName": ["TS_01"] * 2, "rlnCenteredCoordinateXAngst": [0.0, 100.0],
        "rlnCenteredCoordinateYAngst": [0.0, 50.0], "rlnCenteredCoordinateZAngst": [0.0, -50.0],
        "rlnOriginXAngst": [10.0, 0.0], "rlnOriginYAngst": [0.0, 0.0], "rlnOriginZAngst": [0.0, 0.0],
        "rlnTomoSubtomogramRot": [30.0, 0.0], "rlnTomoSubtomogramTilt": [90.0, 0.0],
        "rlnTomoSubtomogramPsi": [0.0, 0.0],
    })  # fmt: skip
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnTomoTiltSeriesPixelSize": [2.5]})
    rotated = tmp_path / "rotated.star"
    starfile.write({"optics": optics, "particles": particles}, rotated)
    with pytest.raises(UnpickInputError, match="rotated.star: rlnOrigin.*rotated by rlnTomoSubtomogramRot"):
        read_truth(rotated, volume_shape_zyx=SHAPE)
    plain = tmp_path / "plain.star"
    starfile.write({"optics": optics, "particles": particles.drop(columns=particles.columns[4:])}, plain)
    with caplog.at_level(logging.WARNING, logger="unpick.io"):
        read_truth(plain, volume_shape_zyx=SHAPE)
    assert "tilt-series pixel size" in caplog.text


def test_truth_in_voxels_of_another_spacing_is_rescaled(tmp_path, capsys):
    points = truth_points()
    portal = tmp_path / "portal.ndjson"  # CZ portal annotations at a 2.5 Å voxel spacing (4x finer)
    portal.write_text("".join(
        f'{{"type": "point", "location": {{"x": {x * 4}, "y": {y * 4}, "z": {z * 4}}}}}\n'
        for x, y, z in points.to_numpy()
    ))  # fmt: skip
    with pytest.raises(UnpickInputError, match="binned 4x less"):
        read_truth(portal, voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE)
    back = read_truth(portal, voxel_size_angstrom=VOXEL, volume_shape_zyx=SHAPE, coordinates_voxel_size_angstrom=2.5)
    np.testing.assert_allclose(back[["x", "y", "z"]], points)
    tomo = write_mrc(tmp_path / "TS.mrc", np.zeros(SHAPE, np.float32) + np.arange(SHAPE[2], dtype=np.float32),
                     voxel_size_angstrom=VOXEL)  # fmt: skip
    picks = tmp_path / "picks.csv"
    points.assign(score=1.0).to_csv(picks, index=False)
    assert main(["-q", "evaluate", str(picks), "--truth", str(portal), "--tomogram", str(tomo),
                 "--truth-voxel-size", "2.5", "--random-draws", "2", "--out", str(tmp_path / "s")]) == 0  # fmt: skip
    assert pd.read_csv(tmp_path / "s.csv").set_index("workflow").loc["picks", "f1"] == 1.0
