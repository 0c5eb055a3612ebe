"""Tests for ``unpick report``: reads an MRC and CSVs, matches picks to truth, writes the PNG."""

from __future__ import annotations

import argparse

import mrcfile
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

import unpick.report
from unpick._shared import UnpickInputError
from unpick.cli import _report, main

VOXEL = 10.0


@pytest.fixture()
def files(tmp_path):
    volume = np.random.default_rng(1).normal(size=(20, 32, 40)).astype(np.float32)
    with mrcfile.new(tmp_path / "tomo.mrc") as mrc:
        mrc.set_data(volume)
        mrc.voxel_size = VOXEL
    # picks: the first is 0.5 voxel (5 Å) from truth 0, the second 3 voxels (30 Å) from truth 1
    picks = pd.DataFrame(
        {
            "x": [10.0, 20.0, 35.0],
            "y": [10.0, 16.0, 5.0],
            "z": [10.5, 10.0, 3.0],
            "score": [0.9, 0.5, 0.2],
            "workflow": ["gabor-kmeans-cc", "gabor-kmeans-cc", "dog"],
        }
    )
    truth = pd.DataFrame({"x": [10.0, 20.0, 30.0], "y": [10.0, 16.0, 25.0], "z": [10.0, 13.0, 15.0]})
    picks.to_csv(tmp_path / "picks.csv", index=False)
    truth.to_csv(tmp_path / "truth.csv", index=False)
    return tmp_path


@pytest.fixture()
def spy(monkeypatch):
    """Record the arguments the command passes to plot_picks_report (which still runs)."""
    calls = []
    real = unpick.report.plot_picks_report

    def recording(volume, picks_zyx, **kwargs):
        calls.append({"volume": volume, "picks_zyx": picks_zyx, **kwargs})
        return real(volume, picks_zyx, **kwargs)

    monkeypatch.setattr(unpick.report, "plot_picks_report", recording)
    return calls


def test_report_matches_truth_and_writes_png(files, spy):
    out = files / "report.png"
    argv = [
        "report",
        str(files / "tomo.mrc"),
        "--picks",
        str(files / "picks.csv"),
        "--truth",
        str(files / "truth.csv"),
        "--radius",
        "40",
        "--match-radius",
        "20",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert imread(out).shape == (800, 1300, 4)
    assert [p.name for p in files.iterdir() if p.name.startswith(".")] == []  # no temp file left
    (call,) = spy
    np.testing.assert_array_equal(call["matched_pred"], [True, False, False])  # 30 Å > 20 Å match radius
    np.testing.assert_array_equal(call["matched_truth"], [True, False, False])
    np.testing.assert_allclose(call["picks_zyx"][0], [10.5, 10.0, 10.0])
    np.testing.assert_allclose(call["scores"], [0.9, 0.5, 0.2])
    assert call["radius_voxels"] == pytest.approx(4.0)
    assert call["title"] == "tomo: picks.csv"


def test_report_default_output_and_workflow_filter(files, spy):
    argv = ["report", str(files / "tomo.mrc"), "--picks", str(files / "picks.csv"), "--workflow", "dog"]
    assert _run(argv) == 0
    assert imread(files / "picks_report.png").shape == (800, 1300, 4)
    (call,) = spy
    np.testing.assert_allclose(call["picks_zyx"], [[3.0, 5.0, 35.0]])
    assert call["truth_zyx"] is None and call["radius_voxels"] == pytest.approx(10.0)


def _run(argv):
    """Parse with the report subcommand alone and run it, so errors surface as exceptions."""
    parser = argparse.ArgumentParser(prog="unpick")
    _report.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.run(args)


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--radius", "0"], "--radius: expected a positive number Å, got 0.0"),
        (["--radius", "-50"], "--radius: expected a positive number Å"),
        (["--match-radius", "0"], "--match-radius: expected a positive number Å"),
        (
            ["--workflow", "gmm"],
            "--workflow: no picks of workflow 'gmm' in .*picks.csv; it holds dog, gabor-kmeans-cc",
        ),
        (["--out", "/nonexistent-folder/r.png"], "output directory /nonexistent-folder does not exist"),
    ],
)
def test_report_bad_options(files, extra, match):
    argv = ["report", str(files / "tomo.mrc"), "--picks", str(files / "picks.csv"), *extra]
    with pytest.raises(UnpickInputError, match=match):
        _run(argv)


def test_report_missing_picks_file(files, capsys):
    argv = ["report", str(files / "tomo.mrc"), "--picks", str(files / "missing.csv")]
    with pytest.raises(UnpickInputError, match=r"missing\.csv"):
        _run(argv)
    assert main(argv) == 2
    assert "unpick report: error:" in capsys.readouterr().err
    assert not (files / "missing_report.png").exists()
