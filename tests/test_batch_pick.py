"""``unpick batch`` end to end: real workflows on tiny simulated tomograms, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from unpick._shared import UnpickInputError
from unpick.batch import PickTask, run_batch
from unpick.cli import main
from unpick.evaluate import evaluate_workflows
from unpick.io import read_picks_csv, read_picks_star, write_mrc
from unpick.synthetic import SimulationConfig, simulate_tomogram
from unpick.workflows import PickConfig, run_pick

WORKFLOW = "intensities-kmeans-cc"
SAMPLE = "20000"
SHAPE = (32, 64, 64)


@pytest.fixture(scope="module")
def tomograms(tmp_path_factory):
    """Three small simulated tomograms (and a corrupt file) in one folder; their truth tables."""
    folder = tmp_path_factory.mktemp("tomograms")
    truth = {}
    for seed, name in enumerate(("rec_TS_01", "TS_02", "TS_03"), start=1):
        sim = simulate_tomogram(SimulationConfig(shape_zyx=SHAPE, n_particles=10, membrane=False, n_fiducials=0, seed=seed))
        write_mrc(folder / f"{name}.mrc", sim.volume, voxel_size_angstrom=sim.voxel_size_angstrom)
        truth[name.removeprefix("rec_")] = sim.truth
    return folder, truth


def small_config() -> PickConfig:
    """What ``--sample-voxels SAMPLE`` gives: both clusterers' samples set."""
    config = PickConfig()
    return config.replace(kmeans=config.kmeans.replace(sample_voxels=int(SAMPLE)),
                          gmm=config.gmm.replace(sample_voxels=int(SAMPLE)))


def cli(indir, out, *extra):
    return main(["-q", "batch", str(indir), "--out", str(out), "-w", WORKFLOW, "--sample-voxels", SAMPLE,
                 "--no-progress", "--no-masks", *extra])


def test_cli_batch_matches_pick_and_resumes(tomograms, tmp_path, capsys):
    indir, _ = tomograms
    broken = tmp_path / "in"
    broken.mkdir()
    for path in indir.iterdir():
        (broken / path.name).symlink_to(path)
    (broken / "TS_00.mrc").write_bytes(b"\x00" * 100)  # shorter than an MRC header
    out = tmp_path / "out"
    assert cli(broken, out) == 1
    printed = capsys.readouterr().out
    assert "4 tomograms: 3 done, 1 failed" in printed and "TS_00.mrc" in printed and "not an MRC file" in printed
    summary = pd.read_csv(out / "summary.csv").set_index("tomogram")
    assert list(summary.index) == ["TS_00", "TS_01", "TS_02", "TS_03"]
    assert list(summary["status"]) == ["failed", "done", "done", "done"]

    # the batch writes exactly what `unpick pick` writes for the same tomogram and options
    alone = run_pick(indir / "TS_02.mrc", tmp_path / "alone", workflows=WORKFLOW, config=small_config(),
                     write_masks=False, progress=False)
    batch_picks = read_picks_csv(out / "TS_02" / "picks" / f"{WORKFLOW}.csv")
    pd.testing.assert_frame_equal(batch_picks, read_picks_csv(alone.out_dir / "picks" / f"{WORKFLOW}.csv"))
    assert summary.loc["TS_02", f"n_{WORKFLOW}"] == len(batch_picks) > 0
    assert json.loads((out / "TS_02" / "job.json").read_text())["picks"][WORKFLOW] == len(batch_picks)
    # -q silences the console, not the tomogram's own log: its decisions are there at INFO
    log = (out / "TS_02" / "unpick.log").read_text()
    assert " INFO " in log and "operating point" in log
    assert "INFO" not in printed and "INFO" not in capsys.readouterr().err

    # merged STAR: each tomogram's rows decode back to its own picks (RELION 5 centred Å)
    merged = read_picks_star(out / "merged" / f"{WORKFLOW}.star", volume_shape_zyx=SHAPE, voxel_size_angstrom=10.0)
    assert sorted(set(merged["tomogram"])) == ["TS_01", "TS_02", "TS_03"]
    for name in ("TS_01", "TS_02", "TS_03"):
        own = read_picks_csv(out / name / "picks" / f"{WORKFLOW}.csv")
        np.testing.assert_allclose(merged.loc[merged["tomogram"] == name, ["x", "y", "z"]].to_numpy(),
                                   own[["x", "y", "z"]].to_numpy(), atol=1e-5)

    # re-run: finished ones skipped, the corrupt one retried and still reported
    assert cli(broken, out) == 1
    assert "3 skipped, 1 failed" in capsys.readouterr().out
    (broken / "TS_00.mrc").unlink()
    assert cli(broken, out) == 0
    assert "3 tomograms: 3 skipped" in capsys.readouterr().out
    # another option changes the task signature: everything runs again
    assert (out / "TS_01" / "report.png").is_file()
    assert cli(broken, out, "--seed", "7", "--no-report") == 0
    assert "3 tomograms: 3 done" in capsys.readouterr().out
    assert not (out / "TS_01" / "report.png").exists()  # --no-report reaches the tomograms (and clears the old one)


def test_batch_evaluation_per_tomogram_and_pooled(tomograms, tmp_path, capsys):
    indir, truth = tomograms
    truth_dir = tmp_path / "truth"
    truth_dir.mkdir()
    for name, table in truth.items():
        table[["x", "y", "z"]].to_csv(truth_dir / f"{name}.csv", index=False)
    truth["TS_03"][["x", "y", "z"]].iloc[:0].to_csv(truth_dir / "TS_99.csv", index=False)  # no such tomogram
    out = tmp_path / "out"
    assert cli(indir, out, "--truth", str(truth_dir), "--match-radius", "60") == 0
    assert "pooled over tomograms with truth" in capsys.readouterr().out
    table = pd.read_csv(out / "evaluation.csv")
    per = table[table["tomogram"] != "(all)"].set_index("tomogram")
    assert sorted(per.index) == ["TS_01", "TS_02", "TS_03"]
    picks = read_picks_csv(out / "TS_01" / "picks" / f"{WORKFLOW}.csv")
    direct = evaluate_workflows({WORKFLOW: picks}, truth["TS_01"], voxel_size_angstrom=10.0,
                                match_radius_angstrom=60, volume_shape_zyx=SHAPE)
    for column in ("tp", "fp", "fn", "precision", "recall", "f1", "relative_recall"):
        assert per.loc["TS_01", column] == pytest.approx(direct.loc[WORKFLOW, column])
    pooled = table[table["tomogram"] == "(all)"].iloc[0]
    assert pooled["tp"] == per["tp"].sum() and pooled["n_truth"] == sum(len(t) for t in truth.values())
    assert pooled["recall"] == pytest.approx(per["tp"].sum() / pooled["n_truth"])
    assert pooled["precision"] == pytest.approx(per["tp"].sum() / per["n_picks"].sum())
    assert pooled["recall"] > 0.5 and pooled["precision"] > 0.5  # easy tomograms: the conventions line up
    with pytest.raises(UnpickInputError, match="truth directory .* is not a folder"):
        run_batch(indir, out, task=PickTask(workflows=WORKFLOW), truth_dir=tmp_path / "nothing")


def test_a_full_disk_fails_each_tomogram_clearly_and_the_batch_reports_it(tomograms, tmp_path, capsys, monkeypatch):
    """-j 1 runs in this process: every mask write meets a full disk (ENOSPC from the block
    reservation), each tomogram is recorded as failed with the path, and the summary is written."""
    import errno
    import os

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    indir, _ = tomograms
    out = tmp_path / "out"
    code = main(["-q", "batch", str(indir), "--out", str(out), "-w", WORKFLOW, "--sample-voxels", SAMPLE,
                 "--no-progress", "-j", "1"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "3 tomograms: 3 failed; summary:" in printed and printed.count("No space left on device") == 3
    assert not list(out.rglob("job.json"))  # nothing looks finished


def test_cli_pick_refuses_a_radius_given_in_the_wrong_unit(tomograms, tmp_path, capsys):
    indir, _ = tomograms
    code = main(["-q", "pick", str(indir / "TS_02.mrc"), "--out", str(tmp_path / "out"), "--particle-radius", "0.001"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "too small for any particle to be kept" in err and "give the radius in Å" in err
    assert not list((tmp_path / "out").rglob("job.json"))


def test_cli_batch_input_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli(tmp_path / "empty", tmp_path / "out") == 2
    assert "no tomograms matching '*.mrc', '*.rec'" in capsys.readouterr().err
    (tmp_path / "empty" / "a.mrc").write_bytes(b"")
    (tmp_path / "file").write_text("")
    assert cli(tmp_path / "empty", tmp_path / "file" / "out") == 2
    assert "output directory is not writable" in capsys.readouterr().err
    assert cli(tmp_path / "empty", tmp_path / "out", "--glob", "*.st") == 2
    assert "no tomograms matching '*.st'" in capsys.readouterr().err
    assert cli(tmp_path / "empty", tmp_path / "out", "--backend", "dask") == 2
    assert "needs --scheduler" in capsys.readouterr().err


def test_dask_local_cluster_matches_loky(tomograms, tmp_path):
    pytest.importorskip("distributed")
    indir, _ = tomograms
    task = PickTask(workflows=WORKFLOW, config=small_config(), write_masks=False)
    # Dask workers (like loky workers with -j 2) run one BLAS/OpenMP thread per task; K-Means
    # sums in another order with more threads, which moves a few centroids by ~0.02 voxel.
    with threadpool_limits(limits=1):
        local = run_batch(indir, tmp_path / "loky", task=task, n_jobs=1, progress=False)
    dask = run_batch(indir, tmp_path / "dask", task=task, n_jobs=2, backend="dask", scheduler="local", progress=False)
    assert local.ok and dask.ok
    pd.testing.assert_frame_equal(dask.summary.drop(columns=["seconds"]), local.summary.drop(columns=["seconds"]))
    for name in ("TS_01", "TS_02", "TS_03"):
        pd.testing.assert_frame_equal(read_picks_csv(tmp_path / "dask" / name / "picks" / f"{WORKFLOW}.csv"),
                                      read_picks_csv(tmp_path / "loky" / name / "picks" / f"{WORKFLOW}.csv"))


def test_batch_example_config_is_the_annotated_defaults():
    path = Path(__file__).parents[1] / "workflows" / "batch-example.yaml"
    assert PickConfig.from_file(path) == PickConfig()
