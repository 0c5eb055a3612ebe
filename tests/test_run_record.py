"""The run record (``job.json``) and ``finished_run``, the one "finished and current?" test, on real
picks of small simulated tomograms: round trip, old records, and every way a run goes stale, as
the batch, refine's teacher reuse and ``unpick evaluate RUN`` see it."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from unpick._shared import UnpickInputError
from unpick.batch import MANIFEST_FILE, PickTask, run_batch
from unpick.cli import main
from unpick.io import read_picks_csv, read_tomogram, write_mrc
from unpick.synthetic import SimulationConfig, simulate_tomogram
from unpick.workflows import (
    JOB_FILE,
    InputFile,
    PickConfig,
    RunRecord,
    finished_run,
    input_fingerprint,
    pick_settings,
    run_pick,
)
from unpick.workflows._refine import _teacher_picks

WORKFLOW = "intensities-kmeans-cc"
SHAPE = (32, 64, 64)


def small_config(seed: int = 0) -> PickConfig:
    config = PickConfig(seed=seed)
    return config.replace(kmeans=config.kmeans.replace(sample_voxels=20000))


OPTIONS = dict(workflows=WORKFLOW, config=small_config(), voxel_size_angstrom=None, formats=("csv",),
               write_masks=False, report=False)  # fmt: skip


def simulated(path, seed):
    sim = simulate_tomogram(SimulationConfig(shape_zyx=SHAPE, n_particles=10, membrane=False, n_fiducials=0, seed=seed))
    return write_mrc(path, sim.volume, voxel_size_angstrom=sim.voxel_size_angstrom), sim.truth


@pytest.fixture(scope="module")
def picked(tmp_path_factory):
    """One simulated tomogram picked by ``run_pick`` (csv + star), and its ground truth."""
    root = tmp_path_factory.mktemp("record")
    tomo, truth = simulated(root / "TS_01.mrc", seed=1)
    run = run_pick(tomo, root / "out", progress=False, **{**OPTIONS, "formats": ("csv", "star")})
    return tomo, run, truth


@pytest.fixture
def copied(picked, tmp_path):
    """A copy of the picked tomogram (same size and mtime) and of its run folder, free to change."""
    tomo, run, _ = picked
    copy = shutil.copy2(tomo, tmp_path / tomo.name)
    folder = shutil.copytree(run.out_dir, tmp_path / "out" / run.out_dir.name)
    return copy, folder, pick_settings(**{**OPTIONS, "formats": ("star", "csv")})  # the order of formats is no change


def test_run_pick_writes_a_record_that_round_trips_exactly(picked):
    tomo, run, _ = picked
    document = json.loads(run.job_file.read_text())
    assert document["schema_version"] == RunRecord.SCHEMA_VERSION and document["kind"] == "pick"
    assert document["inputs"] == [{"path": str(tomo.resolve()), **input_fingerprint(tomo)}]
    assert document["settings_hash"] == run.record.settings_hash
    assert sorted(document["outputs"]) == ["picks/intensities-kmeans-cc.csv", "picks/intensities-kmeans-cc.star"]
    assert document["picks"][WORKFLOW] == len(run.result.picks[WORKFLOW]) > 0  # decisions stay at the top level
    assert document["config"] == small_config().to_dict() and document["workflows"] == [WORKFLOW]
    record = RunRecord.from_json(run.job_file)
    assert record == run.record == RunRecord.from_json(run.out_dir) == RunRecord.from_json(document)
    assert record.to_json() == document
    assert record.decisions["timings_s"]["total"] > 0 and record.decisions["voxel_size_source"] == "header"
    in_memory = RunRecord("blob", (InputFile("a.mrc", 1, 2),), {"radius": (1, 2)}, ("x.csv",),
                          {"count": np.int64(3), "zyx": np.array([1.5, 2.0])})  # fmt: skip
    assert RunRecord.from_json(json.loads(json.dumps(in_memory.to_json()))) == in_memory
    assert in_memory.decisions == {"count": 3, "zyx": [1.5, 2.0]} and in_memory.settings == {"radius": [1, 2]}


def test_a_current_run_is_finished_and_every_change_makes_it_stale(copied, caplog):
    tomo, folder, settings = copied
    caplog.set_level("INFO", logger="unpick.workflows")
    assert finished_run(folder, inputs=[tomo], settings=settings) == RunRecord.from_json(folder)
    (folder / "picks" / "left-by-hand.csv").write_text("x,y,z\n")  # not listed: no change
    assert finished_run(folder, inputs=[tomo], settings=settings) is not None

    other_seed = pick_settings(**{**OPTIONS, "config": small_config(seed=1)})
    assert finished_run(folder, inputs=[tomo], settings=other_seed) is None
    assert "the settings changed" in caplog.text
    with_masks = pick_settings(**{**OPTIONS, "write_masks": True})
    assert finished_run(folder, inputs=[tomo], settings=with_masks) is None
    assert finished_run(folder, inputs=[tomo, tomo], settings=settings) is None

    stat = tomo.stat()
    os.utime(tomo, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched
    assert finished_run(folder, inputs=[tomo], settings=settings) is None
    assert "changed since it was read" in caplog.text
    os.utime(tomo, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert finished_run(folder, inputs=[tomo], settings=settings) is not None
    with open(tomo, "ab") as handle:  # one byte more, the mtime put back: the size tells
        handle.write(b"\0")
    os.utime(tomo, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert finished_run(folder, inputs=[tomo], settings=settings) is None
    with open(tomo, "r+b") as handle:
        handle.truncate(stat.st_size)
    os.utime(tomo, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert finished_run(folder, inputs=[tomo], settings=settings) is not None

    (folder / "picks" / f"{WORKFLOW}.star").unlink()  # a listed output deleted
    assert finished_run(folder, inputs=[tomo], settings=settings) is None
    assert f"its output picks/{WORKFLOW}.star is missing" in caplog.text
    (folder / JOB_FILE).write_text("{not json")
    assert finished_run(folder, inputs=[tomo], settings=settings) is None
    (folder / JOB_FILE).unlink()
    assert finished_run(folder, inputs=[tomo], settings=settings) is None


def old_layout(document: dict) -> dict:
    """A ``job.json`` as unpick wrote it before the record: the decisions plus ``input`` and ``outputs``."""
    own = ("schema_version", "kind", "inputs", "settings", "settings_hash")
    return {"input": document["inputs"][0]["path"], **{k: v for k, v in document.items() if k not in own}}


def test_an_old_job_json_is_read_as_schema_0_never_current_but_evaluable(copied, picked, capsys):
    tomo, folder, settings = copied
    _, run, truth = picked
    old = old_layout(json.loads((folder / JOB_FILE).read_text()))
    assert "schema_version" not in old and set(old) >= {"input", "outputs", "picks", "config", "segmentations"}
    (folder / JOB_FILE).write_text(json.dumps(old))
    record = RunRecord.from_json(folder)
    assert record.schema_version == 0 and not record.is_current_schema and record.kind == "pick"
    assert record.inputs == (InputFile(old["input"]),) and record.inputs[0].size_bytes is None
    assert record.outputs == run.record.outputs and record.settings == {}
    assert record.decisions == {k: v for k, v in old.items() if k not in ("input", "outputs")}
    assert RunRecord.from_json(record.to_json()) == record
    assert finished_run(folder, inputs=[tomo], settings=settings) is None  # readable, never reused
    truth_file = folder.parent / "truth.csv"
    truth[["x", "y", "z"]].to_csv(truth_file, index=False)
    assert main(["-q", "evaluate", str(folder), "--truth", str(truth_file), "--match-radius", "60"]) == 0
    row = next(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith(WORKFLOW))
    assert int(row[1]) == len(run.result.picks[WORKFLOW])


def test_evaluate_scores_only_the_picks_the_record_lists(copied, picked, capsys):
    _, folder, _ = copied
    truth = picked[2]
    truth_file = folder.parent / "truth.csv"
    truth[["x", "y", "z"]].to_csv(truth_file, index=False)
    shutil.copy(folder / "picks" / f"{WORKFLOW}.csv", folder / "picks" / "leftover.csv")  # not the run's
    assert main(["-q", "evaluate", str(folder), "--truth", str(truth_file), "--match-radius", "60",
                 "--out", str(folder.parent / "scores")]) == 0  # fmt: skip
    table = pd.read_csv(folder.parent / "scores.csv", index_col="workflow")
    assert list(table.index) == [WORKFLOW] and table.loc[WORKFLOW, "recall"] > 0.5


def test_bad_records_are_one_clear_error(tmp_path):
    with pytest.raises(UnpickInputError, match=r"nothing[/\\]job.json: no run record"):
        RunRecord.from_json(tmp_path / "nothing" / JOB_FILE)
    (tmp_path / JOB_FILE).write_text("[1, 2]")
    with pytest.raises(UnpickInputError, match="job.json: not a run record written by unpick .*expected a JSON object"):
        RunRecord.from_json(tmp_path)
    newer = {**RunRecord("pick", (), {}, ()).to_json(), "schema_version": RunRecord.SCHEMA_VERSION + 1}
    with pytest.raises(UnpickInputError, match="newer than this unpick's .*upgrade unpick"):
        RunRecord.from_json(newer)
    with pytest.raises(ValueError, match="keys \\['outputs'\\] belong to the record itself"):
        RunRecord("pick", (), {}, (), {"outputs": []})
    with pytest.raises(ValueError, match="outputs: expected paths relative to the run folder"):
        RunRecord("pick", (), {}, ("/etc/passwd",))
    with pytest.raises(ValueError, match="settings: expected plain JSON values"):
        RunRecord("pick", (), {"x": float("nan")}, ())


def test_batch_reruns_only_the_changed_tomogram(tmp_path):
    indir = tmp_path / "in"
    indir.mkdir()
    for seed, name in enumerate(("TS_01", "TS_02"), start=1):
        simulated(indir / f"{name}.mrc", seed)
    task = PickTask(workflows=WORKFLOW, config=small_config(), write_masks=False, report=False)
    out = tmp_path / "out"
    first = run_batch(indir, out, task=task, progress=False)
    assert list(first.summary["status"]) == ["done", "done"]
    stamps = {name: (out / name / JOB_FILE).stat().st_mtime_ns for name in ("TS_01", "TS_02")}
    (out / MANIFEST_FILE).unlink()  # the run records decide, not the batch's log
    again = run_batch(indir, out, task=task, progress=False)
    assert list(again.summary["status"]) == ["skipped", "skipped"]
    pd.testing.assert_frame_equal(again.summary.filter(like="n_"), first.summary.filter(like="n_"))
    stat = (indir / "TS_02.mrc").stat()
    os.utime(indir / "TS_02.mrc", ns=(stat.st_atime_ns, time.time_ns() + 10**9))
    third = run_batch(indir, out, task=task, progress=False)
    assert dict(zip(third.summary["tomogram"], third.summary["status"])) == {"TS_01": "skipped", "TS_02": "done"}
    assert (out / "TS_01" / JOB_FILE).stat().st_mtime_ns == stamps["TS_01"]
    assert (out / "TS_02" / JOB_FILE).stat().st_mtime_ns != stamps["TS_02"]
    assert RunRecord.from_json(out / "TS_02").inputs[0] == InputFile.of(indir / "TS_02.mrc")


def test_refine_reuses_a_current_teacher_and_redoes_a_stale_one(tmp_path):
    tomo_path, _ = simulated(tmp_path / "TS_03.mrc", seed=3)
    tomogram = read_tomogram(tomo_path)
    config = small_config()

    def teacher(resume, config=config):
        return _teacher_picks(tomogram, tmp_path / "out", WORKFLOW, config, "cpu", resume, False)

    job = tmp_path / "out" / "teacher" / "TS_03" / JOB_FILE
    first, reused = teacher(resume=True)  # nothing to resume yet
    assert not reused and len(first) > 0
    stamp = job.stat().st_mtime_ns
    again, reused = teacher(resume=True)
    assert reused and job.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(again, read_picks_csv(job.parent / "picks" / f"{WORKFLOW}.csv"))
    np.testing.assert_allclose(again[["x", "y", "z"]].to_numpy(), first[["x", "y", "z"]].to_numpy(), atol=1e-6)

    stat = tomo_path.stat()
    os.utime(tomo_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the tomogram changed
    _, reused = teacher(resume=True)
    assert not reused and job.stat().st_mtime_ns != stamp
    _, reused = teacher(resume=True, config=small_config(seed=5))  # other teacher settings
    assert not reused
    assert RunRecord.from_json(job).settings["config"]["seed"] == 5
    _, reused = teacher(resume=False)  # without resume the teacher always runs
    assert not reused
