"""Batch machinery: discovery, manifest, resume, failure isolation, summary, memory cap, Dask.

The task here is small but real: it reads the MRC with ``unpick.io.read_tomogram`` and picks the
centroid of the bright blob planted in each synthetic volume, so outputs have a known answer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import starfile

from unpick._shared import UnpickInputError, make_picks
from unpick.batch import (
    LOG_FILE,
    MANIFEST_FILE,
    Manifest,
    TomogramOutput,
    TomogramTask,
    default_memory_bytes,
    discover_tomograms,
    header_shape,
    memory_limited_jobs,
    run_batch,
    task_resources,
)
from unpick.batch._discover import batch_lock
from unpick.io import (
    atomic_write,
    read_picks_csv,
    read_tomogram,
    write_mrc,
    write_picks_csv,
)
from unpick.workflows import InputFile, RunRecord

VOXEL = 10.0
task_logger = logging.getLogger("unpick.test_batch")


@dataclasses.dataclass(frozen=True)
class BlobTask(TomogramTask):
    """Pick the centroid of the voxels above ``threshold`` × max; record each call in ``calls_dir``."""

    calls_dir: str
    threshold: float = 0.5
    fail: tuple[str, ...] = ()
    interrupt: tuple[str, ...] = ()
    sleep_s: float = 0.0

    def settings(self) -> dict:
        return {"task": "blob", "threshold": self.threshold}

    def __call__(self, tomogram_path: Path, target_dir: Path) -> RunRecord:
        Path(self.calls_dir, f"{target_dir.name}.{uuid.uuid4().hex}").touch()
        time.sleep(self.sleep_s)
        if target_dir.name in self.fail:
            raise RuntimeError(f"planted failure in {target_dir.name}")
        (target_dir / "picks").mkdir(exist_ok=True)
        if target_dir.name in self.interrupt:
            (target_dir / "picks" / "blob.csv").write_text("x,y\n1,")  # a half-written file
            raise KeyboardInterrupt
        source = InputFile.of(tomogram_path)
        tomogram = read_tomogram(tomogram_path)
        data = np.asarray(tomogram.data)
        inside = np.argwhere(data > self.threshold * data.max())
        centroid = inside.mean(axis=0)
        task_logger.info("%s: blob of %d voxels at zyx %s", tomogram.name, len(inside), np.round(centroid, 2))
        picks = make_picks([centroid], voxel_size_angstrom=tomogram.voxel_size_angstrom, score=[data.max()],
                           size=[len(inside)], workflow="blob", tomogram=tomogram.name)
        write_picks_csv(target_dir / "picks" / "blob.csv", picks)
        with atomic_write(target_dir / "done.json") as tmp:
            tmp.write_text(json.dumps({"n": 1}))
        record = RunRecord("blob", (source,), self.settings(), ("picks/blob.csv", "done.json"),
                           {"counts": {"blob": 1}, "shape_zyx": tomogram.shape,
                            "voxel_size_angstrom": tomogram.voxel_size_angstrom})
        record.write(target_dir)
        return record

    def output(self, record: RunRecord) -> TomogramOutput:
        return TomogramOutput(picks_files={"blob": "picks/blob.csv"}, counts=record.decisions["counts"],
                              shape_zyx=tuple(record.decisions["shape_zyx"]),
                              voxel_size_angstrom=record.decisions["voxel_size_angstrom"])


SHAPES = {"t1": (12, 16, 20), "t2": (10, 18, 14), "t3": (14, 14, 14), "t4": (12, 12, 16), "t5": (16, 12, 12)}


def blob_volume(shape, centre, seed):
    """A Gaussian blob (sigma 1.5 voxels) at ``centre`` (zyx) plus weak noise."""
    grid = np.indices(shape, dtype=np.float32)
    r2 = sum((g - c) ** 2 for g, c in zip(grid, centre))
    rng = np.random.default_rng(seed)
    return (np.exp(-r2 / (2 * 1.5**2)) + 0.01 * rng.standard_normal(shape)).astype(np.float32)


def make_dataset(folder: Path, names=("t1", "t2", "t3"), suffix=".mrc") -> dict[str, np.ndarray]:
    """Write one blob tomogram per name; return the planted zyx centres."""
    folder.mkdir(parents=True, exist_ok=True)
    centres = {}
    for i, name in enumerate(names):
        shape = SHAPES[name]
        centre = np.array([s / 2 - 0.5 + (i % 2) for s in shape])
        write_mrc(folder / f"{name}{suffix}", blob_volume(shape, centre, i), voxel_size_angstrom=VOXEL)
        centres[name] = centre
    return centres


def calls(calls_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in calls_dir.iterdir():
        name = path.name.split(".")[0]
        counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.fixture
def dataset(tmp_path):
    centres = make_dataset(tmp_path / "in")
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    return tmp_path / "in", tmp_path / "out", calls_dir, centres


def statuses(result) -> dict[str, str]:
    return dict(zip(result.summary["tomogram"], result.summary["status"]))


def merged(out: Path) -> pd.DataFrame:
    return starfile.read(out / "merged" / "blob.star", always_dict=True)["particles"]


def picked(out: Path, name: str) -> np.ndarray:
    return read_picks_csv(out / name / "picks" / "blob.csv")[["z", "y", "x"]].to_numpy()[0]


def test_batch_outputs_summary_log_and_merged_star(dataset, caplog):
    indir, out, calls_dir, centres = dataset
    caplog.set_level(logging.INFO, logger="unpick")  # as the CLI configures by default
    result = run_batch(indir, out, task=BlobTask(str(calls_dir)), progress=False)
    assert result.ok and statuses(result) == dict.fromkeys(centres, "done")
    for name, centre in centres.items():
        np.testing.assert_allclose(picked(out, name), centre, atol=0.02)
        log = (out / name / LOG_FILE).read_text()
        assert f"{name}: start" in log and "blob of" in log and f"{name}: done" in log
        assert all(other not in log for other in centres if other != name)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["tomogram"]) == ["t1", "t2", "t3"]
    assert list(summary["n_blob"]) == [1, 1, 1] and (summary["seconds"] > 0).all()
    assert len((out / MANIFEST_FILE).read_text().splitlines()) == 3
    star = merged(out)
    assert list(star["rlnTomoName"]) == ["t1", "t2", "t3"]
    for row, name in zip(star.itertuples(), centres):
        shape = np.array(SHAPES[name])
        expected_zyx = (centres[name] - shape / 2) * VOXEL  # RELION 5: centred on size / 2, in Å
        got_zyx = [row.rlnCenteredCoordinateZAngst, row.rlnCenteredCoordinateYAngst, row.rlnCenteredCoordinateXAngst]
        np.testing.assert_allclose(got_zyx, expected_zyx, atol=0.2)


#: (level, propagate) of the ``unpick`` logger as each LoggerStateTask found it while it ran.
STATES_DURING_TASKS: list[tuple[int, bool]] = []


@dataclasses.dataclass(frozen=True)
class LoggerStateTask(BlobTask):
    """A BlobTask that notes the package logger's state while it runs (in this process: n_jobs=1)."""

    def __call__(self, tomogram_path: Path, target_dir: Path) -> RunRecord:
        package = logging.getLogger("unpick")
        STATES_DURING_TASKS.append((package.level, package.propagate))
        return super().__call__(tomogram_path, target_dir)


def package_state() -> tuple[int, bool, list[logging.Handler]]:
    package = logging.getLogger("unpick")
    return package.level, package.propagate, list(package.handlers)


@pytest.mark.parametrize("caller_level", [logging.INFO, logging.WARNING])
def test_task_logs_leave_the_callers_logging_alone(dataset, caplog, caller_level):
    """The tomogram logs hold what the caller logs the package at; the batch changes no logger of
    the calling process, during the run or after, and the console (here caplog's handler, at
    WARNING as under ``unpick -q``) sees only the warnings."""
    indir, out, calls_dir, _ = dataset
    caplog.set_level(caller_level, logger="unpick")
    caplog.handler.setLevel(logging.WARNING)
    before = package_state()
    STATES_DURING_TASKS.clear()
    run_batch(indir, out, task=LoggerStateTask(str(calls_dir), fail=("t2",)), progress=False)
    assert STATES_DURING_TASKS == [before[:2]] * 3
    assert package_state() == before
    log, failed_log = (out / "t1" / LOG_FILE).read_text(), (out / "t2" / LOG_FILE).read_text()
    assert ("blob of" in log) == ("t1: start" in log) == (caller_level == logging.INFO)
    assert "ERROR" in failed_log and "RuntimeError: planted failure in t2" in failed_log  # the traceback, always
    assert caplog.records and all(r.levelno >= logging.WARNING for r in caplog.records)
    assert any("planted failure in t2" in r.getMessage() for r in caplog.records)


def test_a_worker_process_logs_at_the_batch_level_while_its_tasks_run(tmp_path):
    """In a worker process (nothing configured logging there) the package logger takes the batch's
    level while tasks run, side by side in threads too, and gets its own level back after the last."""
    from unpick.batch._tasks import _tomogram_log

    package = logging.getLogger("unpick")
    before = package_state()
    with _tomogram_log(tmp_path / "a.log", level=logging.DEBUG, in_worker=True) as first:
        with _tomogram_log(tmp_path / "b.log", level=logging.DEBUG, in_worker=True):
            assert package.level == logging.DEBUG and first in package.handlers
        assert package.level == logging.DEBUG  # one task still runs
        logging.getLogger("unpick.test_batch").debug("only in a.log")
    assert package_state() == before
    assert "DEBUG unpick.test_batch: only in a.log" in (tmp_path / "a.log").read_text()
    assert (tmp_path / "b.log").read_text() == ""


def test_rerun_skips_finished_and_reruns_changed(dataset):
    indir, out, calls_dir, centres = dataset
    task = BlobTask(str(calls_dir))
    run_batch(indir, out, task=task, progress=False)
    again = run_batch(indir, out, task=task, progress=False)
    assert statuses(again) == dict.fromkeys(centres, "skipped")
    assert calls(calls_dir) == dict.fromkeys(centres, 1)
    assert list(again.summary["n_blob"]) == [1, 1, 1]  # counts read back from the run records
    os.utime(indir / "t2.mrc", ns=(time.time_ns(), time.time_ns() + 10**9))  # input changed
    (out / "t3" / "done.json").unlink()  # an output went missing
    third = run_batch(indir, out, task=task, progress=False)
    assert statuses(third) == {"t1": "skipped", "t2": "done", "t3": "done"}
    assert calls(calls_dir) == {"t1": 1, "t2": 2, "t3": 2}
    changed = run_batch(indir, out, task=BlobTask(str(calls_dir), threshold=0.6), progress=False)
    assert statuses(changed) == dict.fromkeys(centres, "done")  # other settings re-run all
    assert calls(calls_dir) == {"t1": 2, "t2": 3, "t3": 3}


def test_corrupt_file_is_reported_and_others_complete(dataset):
    indir, out, calls_dir, centres = dataset
    (indir / "t0.mrc").write_bytes(b"this is not an MRC file" * 100)
    result = run_batch(indir, out, task=BlobTask(str(calls_dir)), progress=False)
    assert statuses(result) == {"t0": "failed", **dict.fromkeys(centres, "done")}
    assert not result.ok
    error = result.summary.set_index("tomogram").loc["t0", "error"]
    assert error.startswith("UnpickInputError") and "t0.mrc" in error and "not an MRC file" in error
    assert "Traceback" in (out / "t0" / LOG_FILE).read_text()
    assert list(merged(out)["rlnTomoName"]) == ["t1", "t2", "t3"]
    again = run_batch(indir, out, task=BlobTask(str(calls_dir)), progress=False)  # failed ones are retried
    assert statuses(again) == {"t0": "failed", **dict.fromkeys(centres, "skipped")}
    assert calls(calls_dir)["t0"] == 2


def test_task_error_is_isolated_and_parallel_equals_serial(tmp_path, caplog):
    names = ("t1", "t2", "t3", "t4")
    make_dataset(tmp_path / "in", names)
    (tmp_path / "calls").mkdir()
    task = BlobTask(str(tmp_path / "calls"), fail=("t2",))
    caplog.set_level(logging.WARNING, logger="unpick")  # the caller logs the package's warnings only
    serial = run_batch(tmp_path / "in", tmp_path / "serial", task=task, n_jobs=1, progress=False)
    with caplog.at_level(logging.INFO, logger="unpick"):  # passed to the worker processes
        parallel = run_batch(tmp_path / "in", tmp_path / "parallel", task=task, n_jobs=2, max_memory_gb=64,
                             progress=False)  # fmt: skip
    assert parallel.n_jobs == 2
    assert "blob of" in (tmp_path / "parallel" / "t1" / LOG_FILE).read_text()
    assert "blob of" not in (tmp_path / "serial" / "t1" / LOG_FILE).read_text()  # the caller logged WARNING
    assert statuses(parallel) == statuses(serial) == {"t1": "done", "t2": "failed", "t3": "done", "t4": "done"}
    assert parallel.summary.set_index("tomogram").loc["t2", "error"] == "RuntimeError: planted failure in t2"
    for name in ("t1", "t3", "t4"):
        np.testing.assert_array_equal(picked(tmp_path / "parallel", name), picked(tmp_path / "serial", name))
    pd.testing.assert_frame_equal(merged(tmp_path / "parallel"), merged(tmp_path / "serial"))


def test_interrupted_batch_resumes_and_loses_nothing(tmp_path):
    names = ("t1", "t2", "t3", "t4", "t5")
    make_dataset(tmp_path / "in", names)
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    with pytest.raises(KeyboardInterrupt):
        run_batch(tmp_path / "in", tmp_path / "out", task=BlobTask(str(calls_dir), interrupt=("t3",)), progress=False)
    out = tmp_path / "out"
    summary = pd.read_csv(out / "summary.csv")  # written on the way out
    assert list(summary["status"]) == ["done", "done", "pending", "pending", "pending"]
    assert set(Manifest(out).latest) == {"t1", "t2"}
    assert not (out / "t3" / "done.json").exists()
    resumed = run_batch(tmp_path / "in", out, task=BlobTask(str(calls_dir)), progress=False)
    assert statuses(resumed) == {"t1": "skipped", "t2": "skipped", "t3": "done", "t4": "done", "t5": "done"}
    assert calls(calls_dir) == {"t1": 1, "t2": 1, "t3": 2, "t4": 1, "t5": 1}
    assert read_picks_csv(out / "t3" / "picks" / "blob.csv").shape[0] == 1


def start_batch_process(tmp_path, names, *, sleep_s, n_jobs):
    """A batch of BlobTasks over ``names`` in its own process (to be killed); returns it and the
    folder where each task call leaves a file."""
    make_dataset(tmp_path / "in", names)
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_batch import BlobTask
        from unpick.batch import run_batch
        run_batch({str(tmp_path / 'in')!r}, {str(tmp_path / 'out')!r},
                  task=BlobTask({str(calls_dir)!r}, sleep_s={sleep_s}), n_jobs={n_jobs}, progress=False)
    """)
    return subprocess.Popen([sys.executable, "-c", script]), calls_dir


def test_killed_batch_resumes(tmp_path):
    process, calls_dir = start_batch_process(tmp_path, ("t1", "t2", "t3", "t4", "t5"), sleep_s=0.4, n_jobs=1)
    manifest = tmp_path / "out" / MANIFEST_FILE
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if manifest.exists() and len(manifest.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the batch finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    finished = set(Manifest(tmp_path / "out").latest)
    assert 2 <= len(finished) < 5
    resumed = run_batch(tmp_path / "in", tmp_path / "out", task=BlobTask(str(calls_dir)), progress=False)
    assert resumed.ok
    assert {n for n, s in statuses(resumed).items() if s == "skipped"} == finished
    assert all(calls(calls_dir)[name] == 1 for name in finished)
    assert len(merged(tmp_path / "out")) == 5


def test_workers_end_when_the_batch_is_killed(tmp_path):
    """``kill -9`` of a ``-j 2`` batch: its loky workers end within seconds instead of running on,
    finishing and writing results after the batch lock is released."""
    process, calls_dir = start_batch_process(tmp_path, ("t1", "t2", "t3", "t4"), sleep_s=6.0, n_jobs=2)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(calls_dir.iterdir())) < 2:
            time.sleep(0.05)
        assert len(list(calls_dir.iterdir())) >= 2, "the workers never started"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    time.sleep(8.0)  # past the tasks' 6 s: an orphaned worker would have written its picks by now
    assert not list((tmp_path / "out").glob("*/done.json"))
    assert len(list(calls_dir.iterdir())) == 2  # and no orphan took the next tomogram


def test_two_batches_into_one_output_dir(tmp_path):
    make_dataset(tmp_path / "a", ("t1", "t2"))
    make_dataset(tmp_path / "b", ("t3",))
    (tmp_path / "calls").mkdir()
    task = BlobTask(str(tmp_path / "calls"))
    out = tmp_path / "out"
    assert run_batch(tmp_path / "a", out, task=task, progress=False).ok
    second = run_batch(tmp_path / "b", out, task=task, progress=False)
    assert statuses(second) == {"t3": "done"}
    assert set(Manifest(out).latest) == {"t1", "t2", "t3"}
    assert statuses(run_batch(tmp_path / "a", out, task=task, progress=False)) == {"t1": "skipped", "t2": "skipped"}
    make_dataset(tmp_path / "c", ("t3",))  # another file with a name already in OUT
    (tmp_path / "c" / "t3.mrc").write_bytes((tmp_path / "c" / "t3.mrc").read_bytes() + b"\0" * 16)
    with pytest.raises(UnpickInputError, match="output folder 't3' already holds results of another file"):
        run_batch(tmp_path / "c", out, task=task, progress=False)
    with batch_lock(out), pytest.raises(UnpickInputError, match="another unpick batch is writing here"):
        run_batch(tmp_path / "a", out, task=task, progress=False)
    assert calls(tmp_path / "calls") == {"t1": 1, "t2": 1, "t3": 1}


def test_empty_or_unmatched_input(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnpickInputError, match=r"no tomograms matching '\*\.mrc', '\*\.rec', '\*\.zarr' in .*empty; use --glob"):
        run_batch(tmp_path / "empty", tmp_path / "out", task=BlobTask(str(tmp_path)))
    make_dataset(tmp_path / "in", ("t1",))
    with pytest.raises(UnpickInputError, match=r"no tomograms matching '\*\.st'"):
        discover_tomograms(tmp_path / "in", patterns="*.st")
    with pytest.raises(UnpickInputError, match="input directory does not exist"):
        discover_tomograms(tmp_path / "missing")
    assert not (tmp_path / "out").exists()  # nothing created before the inputs were found


def test_discovery_patterns_names_and_output_exclusion(tmp_path):
    make_dataset(tmp_path, ("t1",), suffix=".rec")
    make_dataset(tmp_path / "sub", ("t2",))
    (tmp_path / ".hidden.mrc").write_bytes(b"")
    (tmp_path / "out" / "t1" / "masks").mkdir(parents=True)
    (tmp_path / "out" / "t1" / "masks" / "mask.mrc").write_bytes(b"")
    assert [i.name for i in discover_tomograms(tmp_path)] == ["t1"]
    found = discover_tomograms(tmp_path, recursive=True, exclude=tmp_path / "out")
    assert [(i.name, i.path.name) for i in found] == [("t1", "t1.rec"), ("t2", "t2.mrc")]
    make_dataset(tmp_path / "dup", ("t1",))
    (tmp_path / "dup" / "rec_t1.mrc").write_bytes((tmp_path / "dup" / "t1.mrc").read_bytes())
    with pytest.raises(UnpickInputError, match="both map to the output folder 't1'"):
        discover_tomograms(tmp_path / "dup")


def test_listed_tomograms_run_and_one_with_no_usable_name_is_skipped_with_a_warning(dataset, caplog):
    indir, out, calls_dir, _ = dataset
    dotted = indir / "...mrc"  # hidden, so never discovered; given by name it has no output folder
    dotted.write_bytes((indir / "t1.mrc").read_bytes())
    with caplog.at_level(logging.WARNING, logger="unpick.batch"):
        result = run_batch(None, out, tomograms=[indir / "t3.mrc", dotted, indir / "t1.mrc"], task=BlobTask(str(calls_dir)))
    assert statuses(result) == {"t1": "done", "t3": "done"}
    assert "skipped" in caplog.text and "gives no usable tomogram name" in caplog.text
    with pytest.raises(UnpickInputError, match="give input_dir .* or tomograms"):
        run_batch(indir, out, tomograms=[indir / "t1.mrc"], task=BlobTask(str(calls_dir)))


@pytest.mark.parametrize("make_out", ["is_file", "parent_is_file"])
def test_unwritable_output_dir_fails_before_work(dataset, make_out):
    indir, _, calls_dir, _ = dataset
    blocker = indir.parent / "blocker"
    blocker.write_text("a file")
    out = blocker if make_out == "is_file" else blocker / "out"
    with pytest.raises(UnpickInputError, match="output directory is not writable.*choose a writable --out"):
        run_batch(indir, out, task=BlobTask(str(calls_dir)))
    assert calls(calls_dir) == {}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backend": "spark"}, "backend: expected one of loky, dask"),
        ({"n_jobs": 0}, "jobs.*expected a whole number >= 1 or -1"),
        ({"backend": "dask"}, "needs --scheduler"),
        ({"scheduler": "tcp://localhost:8786"}, "needs --backend dask"),
        ({"worker_memory_gb": 4}, "use them with --backend dask"),
        ({"backend": "dask", "scheduler": "local", "gpus_per_task": 0}, "gpus-per-task.*whole number >= 1"),
        ({"backend": "dask", "scheduler": "local", "worker_memory_gb": -1}, "worker-memory.*positive"),
        ({"max_memory_gb": 0}, "max-memory.*positive"),
        ({"task": print}, "expected a TomogramTask"),
    ],
)
def test_bad_options(dataset, kwargs, match):
    indir, out, calls_dir, _ = dataset
    kwargs = {"task": BlobTask(str(calls_dir)), **kwargs}
    with pytest.raises(UnpickInputError, match=match):
        run_batch(indir, out, progress=False, **kwargs)
    assert calls(calls_dir) == {}


def test_memory_estimate_caps_jobs(dataset, caplog):
    indir, out, calls_dir, _ = dataset
    assert header_shape(indir / "t1.mrc") == SHAPES["t1"]
    (indir / "bad.mrc").write_bytes(b"\0" * 2000)
    assert header_shape(indir / "bad.mrc") is None
    per_task = default_memory_bytes((100, 1000, 1000))
    assert per_task == pytest.approx(512 * 2**20 + 26 * 10**8)
    assert memory_limited_jobs(8, [per_task, per_task // 2], max_memory_gb=3 * per_task / 1e9) == 3
    assert memory_limited_jobs(2, [per_task], max_memory_gb=100) == 2
    with caplog.at_level(logging.WARNING, logger="unpick.batch"):
        assert memory_limited_jobs(4, [per_task], max_memory_gb=0.1) == 1
    assert "more than the 0.1 GB of --max-memory" in caplog.text
    (indir / "bad.mrc").unlink()
    with caplog.at_level(logging.INFO, logger="unpick.batch"):
        result = run_batch(indir, out, task=BlobTask(str(calls_dir)), n_jobs=2, max_memory_gb=0.6, progress=False)
    assert result.n_jobs == 1 and result.ok
    assert "budget 0.6 GB (--max-memory): 1 at once (asked for 2)" in caplog.text


def test_manifest_ignores_a_truncated_last_line(tmp_path, caplog):
    manifest = Manifest(tmp_path)
    manifest.append({"tomogram": "t1", "status": "done", "counts": {"blob": np.int64(3)}})
    manifest.append({"tomogram": "t2", "status": "failed"})
    manifest.append({"tomogram": "t1", "status": "failed", "error": "later"})
    with open(tmp_path / MANIFEST_FILE, "a") as handle:
        handle.write('{"tomogram": "t3", "sta')  # killed mid-write
    with caplog.at_level(logging.WARNING):
        loaded = Manifest(tmp_path)
    assert "line 4 is incomplete" in caplog.text
    assert {name: r["status"] for name, r in loaded.latest.items()} == {"t1": "failed", "t2": "failed"}
    assert loaded.latest["t1"]["error"] == "later"
    # the next run's record starts a line of its own: it is not glued onto the torn one and lost
    loaded.append({"tomogram": "t3", "status": "done"})
    again = Manifest(tmp_path)
    assert again.latest["t3"]["status"] == "done" and again.latest["t1"]["error"] == "later"


def test_task_resources():
    assert task_resources() == {}
    assert task_resources(worker_memory_gb=2.5, gpus_per_task=1) == {"MEMORY": 2.5e9, "GPU": 1}


# ---- Dask: a real LocalCluster, same outputs as the local backend ---------------------------------

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def local_cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                                  resources={"MEMORY": 2e9}) as cluster:
        yield cluster


def test_dask_backend_matches_local(tmp_path, local_cluster, caplog):
    caplog.set_level(logging.INFO, logger="unpick")  # the tomogram logs hold INFO, as under the CLI's default
    names = ("t1", "t2", "t3", "t4")
    make_dataset(tmp_path / "in", names)
    (tmp_path / "calls").mkdir()
    task = BlobTask(str(tmp_path / "calls"), fail=("t4",), sleep_s=0.2)
    local = run_batch(tmp_path / "in", tmp_path / "local", task=task, progress=False)
    remote = run_batch(tmp_path / "in", tmp_path / "dask", task=task, backend="dask",
                       scheduler=local_cluster.scheduler_address, worker_memory_gb=1.5, progress=False)
    assert statuses(remote) == statuses(local) == {"t1": "done", "t2": "done", "t3": "done", "t4": "failed"}
    for name in ("t1", "t2", "t3"):
        np.testing.assert_array_equal(picked(tmp_path / "dask", name), picked(tmp_path / "local", name))
        log = (tmp_path / "dask" / name / LOG_FILE).read_text()  # two tasks ran side by side in threads
        assert f"{name}: start" in log and all(f"{other}: start" not in log for other in names if other != name)
    pd.testing.assert_frame_equal(merged(tmp_path / "dask"), merged(tmp_path / "local"))
    again = run_batch(tmp_path / "in", tmp_path / "dask", task=task, backend="dask",
                      scheduler=local_cluster.scheduler_address, progress=False)
    assert statuses(again) == {"t1": "skipped", "t2": "skipped", "t3": "skipped", "t4": "failed"}


def test_dask_resources_no_worker_offers(dataset, local_cluster):
    indir, out, calls_dir, _ = dataset
    with pytest.raises(UnpickInputError, match=r"asks for resources MEMORY=5e\+09 but no worker offers.*MEMORY=2e\+09"):
        run_batch(indir, out, task=BlobTask(str(calls_dir)), backend="dask",
                  scheduler=local_cluster.scheduler_address, worker_memory_gb=5, progress=False)
    assert calls(calls_dir) == {}


def test_dask_unreachable_scheduler_and_missing_extra(dataset, monkeypatch):
    indir, out, calls_dir, _ = dataset
    monkeypatch.setattr("unpick.batch._dask.CONNECT_TIMEOUT_S", 0.5)
    with pytest.raises(UnpickInputError, match="cannot reach a Dask scheduler"):
        run_batch(indir, out, task=BlobTask(str(calls_dir)), backend="dask", scheduler="tcp://127.0.0.1:9", progress=False)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(UnpickInputError, match=r"pip install 'unpick\[dask\]'"):
        run_batch(indir, out, task=BlobTask(str(calls_dir)), backend="dask", scheduler="local", progress=False)
