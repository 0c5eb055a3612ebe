"""``run_batch``: one task per tomogram over a folder, resumable, failure-isolated, local or on Dask."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from joblib import Parallel, delayed
from tqdm import tqdm

from .._shared import UnpickInputError, check_choice
from ..workflows import finished_run, input_fingerprint, settings_hash
from ._dask import dask_parallel, task_resources
from ._discover import (
    DEFAULT_PATTERNS,
    TomogramInput,
    batch_lock,
    check_output_dir,
    discover_tomograms,
    tomogram_inputs,
)
from ._evaluate import evaluate_batch, truth_files
from ._manifest import Manifest
from ._memory import header_shape, memory_limited_jobs
from ._summary import summary_table, write_merged_star, write_summary
from ._tasks import LOG_FILE, PickTask, TomogramOutcome, TomogramOutput, TomogramTask, execute

logger = logging.getLogger(__name__)

BACKENDS = ("loky", "dask")


@dataclasses.dataclass
class BatchResult:
    """What a batch did: ``summary`` has one row per tomogram (see ``OUT/summary.csv``).

    Attributes
    ----------
    out_dir : pathlib.Path
        The output folder.
    summary : pandas.DataFrame
        Columns tomogram, status (done / skipped / failed / pending), error, seconds,
        ``n_<workflow>`` pick counts, host, input.
    n_jobs : int
        Tomograms run at once here (after the memory cap); on a remote Dask scheduler, the
        ``n_jobs`` asked for (the workers and their resources decide).
    evaluation : pandas.DataFrame or None
        Per-tomogram and pooled scores when a truth folder was given.
    """

    out_dir: Path
    summary: pd.DataFrame
    n_jobs: int
    evaluation: pd.DataFrame | None = None

    def count(self, status: str) -> int:
        """Number of tomograms with ``status``."""
        return int((self.summary["status"] == status).sum())

    @property
    def ok(self) -> bool:
        """True when every tomogram is done or was already done (none failed or left pending)."""
        return bool(self.summary["status"].isin(("done", "skipped")).all())


def run_batch(
    input_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    tomograms: Sequence[str | os.PathLike] | None = None,
    task: TomogramTask | None = None,
    patterns: str | Sequence[str] = DEFAULT_PATTERNS,
    recursive: bool = False,
    n_jobs: int = 1,
    max_memory_gb: float | None = None,
    backend: str = "loky",
    scheduler: str | None = None,
    worker_memory_gb: float | None = None,
    gpus_per_task: int | None = None,
    truth_dir: str | os.PathLike | None = None,
    match_radius_angstrom: float | None = None,
    progress: bool = True,
) -> BatchResult:
    """Run ``task`` on every tomogram of ``input_dir``, one task per tomogram, into ``out_dir``.

    Each tomogram writes ``OUT/<name>/`` (its task's files, its run record ``job.json`` last,
    plus ``unpick.log``: its ``unpick`` log records at the level the caller logs the package, e.g.
    INFO after ``logging.getLogger("unpick").setLevel(logging.INFO)``; the batch leaves the
    caller's logging as it is, and worker processes log at the same level). A tomogram whose run record is current (``finished_run``: the same
    input file by size and mtime, the same task settings, all its outputs present) is skipped,
    so a re-started batch finishes only the rest. As each task ends, the parent process appends
    a line to ``OUT/manifest.jsonl``, the batch's log; a task that raises is logged there as
    failed and the others go on. At the end (also when interrupted)
    ``OUT/summary.csv`` and ``OUT/merged/<workflow>.star`` are written atomically.

    Parameters
    ----------
    input_dir, out_dir : path
        Folder of tomograms (None with ``tomograms``); output folder (created; must be writable).
    tomograms : sequence of paths, optional
        The tomogram files or Zarr stores themselves (e.g. the tomograms of a copick project),
        instead of searching ``input_dir``.
    task : TomogramTask, optional
        Work per tomogram; default :class:`PickTask` (``run_pick`` with default options).
    patterns : str or sequence of str
        File-name globs of the tomograms (default ``*.mrc``, ``*.rec``).
    recursive : bool
        Search sub-folders of ``input_dir`` too.
    n_jobs : int
        Tomograms run at once on this machine (``-1``: one per CPU core), capped by memory.
    max_memory_gb : float, optional
        Memory budget in GB (10^9 bytes) for the tomograms running at once; default the memory
        available now. Each task's peak is estimated from its MRC header shape.
    backend : {'loky', 'dask'}
        Local worker processes, or a Dask cluster (``scheduler`` required).
    scheduler : str, optional
        Dask scheduler address ``tcp://HOST:PORT``, or ``'local'`` for a LocalCluster of
        ``n_jobs`` worker processes here.
    worker_memory_gb, gpus_per_task : optional
        Dask resource annotations per task (``MEMORY`` in bytes, ``GPU``); workers must be started
        with matching ``--resources``.
    truth_dir : path, optional
        Folder with one ground-truth file per tomogram (``<name>.csv``/``.star``/``.json``/
        ``.ndjson``): scores every workflow per tomogram and pooled.
    match_radius_angstrom : float, optional
        Match radius for the evaluation, in Å (default: the evaluator's default).
    progress : bool
        Show a progress bar over tomograms.

    Returns
    -------
    BatchResult

    Raises
    ------
    UnpickInputError
        Before any work: bad options, no matching tomograms, an unwritable output folder,
        another batch running in it, or an output folder holding results of another file.
    """
    check_choice(backend, "backend", BACKENDS)
    n_jobs = _check_jobs(n_jobs)
    if (backend == "dask") != (scheduler is not None):
        raise UnpickInputError(
            "scheduler: --backend dask needs --scheduler tcp://HOST:PORT (or 'local'), and --scheduler "
            f"needs --backend dask; got backend {backend!r}, scheduler {scheduler!r}"
        )
    resources = task_resources(worker_memory_gb=worker_memory_gb, gpus_per_task=gpus_per_task)
    if resources and backend != "dask":
        raise UnpickInputError("--worker-memory/--gpus-per-task are Dask resource annotations; use them with --backend dask")
    task = task if task is not None else PickTask()
    if not isinstance(task, TomogramTask):
        raise UnpickInputError(f"task: expected a TomogramTask (e.g. PickTask), got {type(task).__name__}")
    truth = truth_files(truth_dir) if truth_dir is not None else None
    out = Path(out_dir).resolve()
    if (input_dir is None) == (tomograms is None):
        raise UnpickInputError("run_batch: give input_dir (a folder to search) or tomograms (the files), not both")
    if tomograms is not None:
        inputs = tomogram_inputs([Path(t).resolve() for t in tomograms])
    else:
        inputs = discover_tomograms(Path(input_dir).resolve(), patterns=patterns, recursive=recursive, exclude=out)
    check_output_dir(out)
    settings = task.settings()
    with batch_lock(out):
        manifest = Manifest(out)
        rows, todo = _plan(inputs, manifest, out, task, settings)
        logger.info("%d tomogram(s): %d to run, %d already done", len(inputs), len(todo), len(inputs) - len(todo))
        if backend == "dask" and scheduler != "local":
            jobs = n_jobs
        else:
            shapes = [header_shape(item.path) for item in todo]
            jobs = memory_limited_jobs(min(n_jobs, max(len(todo), 1)),
                                       [task.memory_bytes(s) for s in shapes if s is not None],
                                       max_memory_gb=max_memory_gb)
        try:
            outcomes = _outcomes(task, todo, out, jobs=jobs, backend=backend, scheduler=scheduler, resources=resources)
            bar = tqdm(total=len(todo), unit="tomogram", desc="batch", disable=not progress or not todo)
            with contextlib.closing(outcomes), bar:
                for outcome in outcomes:
                    row = {**rows[outcome.name], **_outcome_fields(outcome), "settings_hash": settings_hash(settings)}
                    manifest.append(row)
                    rows[outcome.name] = row
                    _log_outcome(outcome, out)
                    bar.update()
        finally:
            table = summary_table(list(rows.values()))
            write_summary(out, table)
            write_merged_star(out, list(rows.values()))
        evaluation = None
        if truth is not None:
            evaluation = evaluate_batch(out, list(rows.values()), truth, match_radius_angstrom=match_radius_angstrom)
    result = BatchResult(out_dir=out, summary=table, n_jobs=jobs, evaluation=evaluation)
    logger.info(
        "batch: %d done, %d skipped (done before), %d failed, %d pending; summary in %s",
        result.count("done"), result.count("skipped"), result.count("failed"), result.count("pending"), out / "summary.csv",
    )
    return result


def _check_jobs(n_jobs: Any) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or (n_jobs < 1 and n_jobs != -1):
        raise UnpickInputError(f"jobs (-j/--jobs): expected a whole number >= 1 or -1 (all cores), got {n_jobs!r}")
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs


def _plan(
    inputs: list[TomogramInput], manifest: Manifest, out: Path, task: TomogramTask, settings: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], list[TomogramInput]]:
    """Rows in input order (finished ones, from their run records, skipped; the rest pending) and the work to do."""
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for item in inputs:
        fingerprint = input_fingerprint(item.path)
        manifest.check_same_input(item.name, item.path, fingerprint)
        row = {"tomogram": item.name, "status": "pending", "input": str(item.path), **fingerprint}
        record = finished_run(out / item.name, inputs=[item.path], settings=settings)
        if record is None:
            todo.append(item)
        else:
            row.update(status="skipped", settings_hash=record.settings_hash, **_output_fields(task.output(record)))
        rows[item.name] = row
    return rows, todo


def _outcomes(
    task: TomogramTask, todo: list[TomogramInput], out: Path, *, jobs: int, backend: str,
    scheduler: str | None, resources: dict[str, float],
) -> Iterator[TomogramOutcome]:
    """Outcomes in the order tasks finish (so each is recorded as soon as it exists)."""
    if not todo:
        return
    level = logging.getLogger("unpick").getEffectiveLevel()  # the tomogram logs hold what the caller logs
    calls = (
        delayed(execute)(task, item.name, item.path, out / item.name, log_level=level,
                         batch_pid=os.getpid(), batch_host=socket.gethostname())
        for item in todo
    )  # fmt: skip
    if backend == "dask":
        with dask_parallel(scheduler, n_workers=jobs, resources=resources):
            yield from Parallel(n_jobs=-1, return_as="generator_unordered", batch_size=1)(calls)
        return
    logger.info("running %d tomogram(s), %d at once", len(todo), jobs)
    yield from Parallel(n_jobs=jobs, backend=backend, return_as="generator_unordered", batch_size=1)(calls)


def _outcome_fields(outcome: TomogramOutcome) -> dict[str, Any]:
    """The manifest fields of one outcome."""
    fields: dict[str, Any] = {
        "status": outcome.status, "error": outcome.error, "seconds": round(outcome.seconds, 3), "host": outcome.host,
    }
    if outcome.output is not None:
        fields.update(_output_fields(outcome.output))
    return fields


def _output_fields(output: TomogramOutput) -> dict[str, Any]:
    """The summary and manifest fields of a finished tomogram's output."""
    return {
        "counts": dict(output.counts), "picks_files": dict(output.picks_files), "shape_zyx": list(output.shape_zyx),
        "voxel_size_angstrom": output.voxel_size_angstrom,
        "pick_z_range": list(output.pick_z_range) if output.pick_z_range else None,
    }


def _log_outcome(outcome: TomogramOutcome, out: Path) -> None:
    if outcome.status == "done":
        counts = outcome.output.counts if outcome.output else {}
        logger.info("%s: done in %.1f s (%s)", outcome.name, outcome.seconds,
                    ", ".join(f"{wf} {n}" for wf, n in counts.items()))
    else:
        logger.warning("%s: failed: %s (log: %s)", outcome.name, outcome.error, out / outcome.name / LOG_FILE)
