"""Per-tomogram tasks: what a worker runs, with its own log file and every failure caught."""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..workflows import DEFAULT_WORKFLOW, JOB_FILE
from ._memory import default_memory_bytes

if TYPE_CHECKING:
    from ..io import CopickTarget
    from ..workflows import PickConfig, RunRecord

logger = logging.getLogger(__name__)

LOG_FILE = "unpick.log"
_PACKAGE_LOGGER = "unpick"


@dataclasses.dataclass(frozen=True)
class TomogramOutput:
    """What the batch needs from a finished tomogram's run record (paths relative to ``OUT/<name>``).

    Attributes
    ----------
    picks_files : dict
        Workflow name -> picks CSV (x, y, z in voxels), read back for the merged STAR files and
        the batch evaluation; only files the record lists as outputs.
    counts : dict
        Workflow name -> number of picks.
    shape_zyx : tuple of int
        Volume shape in voxels (for STAR's centred coordinates).
    voxel_size_angstrom : float
        Voxel edge in Å.
    pick_z_range : tuple of int, optional
        Half-open ``[z0, z1)`` slices the picks were restricted to (the evaluation draws its
        random points there too); None for the whole volume.
    """

    picks_files: dict[str, str]
    counts: dict[str, int]
    shape_zyx: tuple[int, int, int]
    voxel_size_angstrom: float
    pick_z_range: tuple[int, int] | None = None


@dataclasses.dataclass(frozen=True)
class TomogramOutcome:
    """Result of one task as the parent sees it: status ``'done'`` or ``'failed'``."""

    name: str
    status: str
    seconds: float
    host: str
    error: str = ""
    output: TomogramOutput | None = None


class TomogramTask(abc.ABC):
    """The work done on one tomogram file; must pickle (it travels to worker processes).

    A task writes its outputs under ``target_dir`` atomically and then, last, a
    :class:`unpick.workflows.RunRecord` (``job.json``) whose inputs are the tomogram and whose
    settings are ``settings()``: the batch skips a tomogram when ``finished_run`` finds that record
    current (same input file, same settings, every listed output there), and reads what it
    needs from it with ``output``.
    """

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """JSON-serialisable description of everything that changes the outputs; recorded in the
        run record, so other settings re-run finished tomograms."""

    @abc.abstractmethod
    def __call__(self, tomogram_path: Path, target_dir: Path) -> RunRecord:
        """Process ``tomogram_path``, writing into ``target_dir`` (which exists); return the record written last."""

    @abc.abstractmethod
    def output(self, record: RunRecord) -> TomogramOutput:
        """The picks files, counts and geometry of a finished run, from its record."""

    def memory_bytes(self, shape_zyx: tuple[int, int, int]) -> int:
        """Estimated peak memory in bytes of one task on a volume of ``shape_zyx``."""
        return default_memory_bytes(shape_zyx)


@dataclasses.dataclass(frozen=True)
class PickTask(TomogramTask):
    """Run :func:`unpick.workflows.run_pick` on one tomogram (the default batch task).

    The picks are always written as CSV (``csv`` is added to ``formats`` when missing) because
    the batch reads them back for the merged STAR files. The settings are ``pick_settings``
    (``device`` is not among them: CPU and GPU results agree within float tolerance). With
    ``copick``, each workflow's picks are also written into the copick project (run = the
    tomogram's name).
    """

    workflows: tuple[str, ...] = (DEFAULT_WORKFLOW,)
    config: PickConfig | None = None
    voxel_size_angstrom: float | None = None
    device: str = "cpu"
    formats: tuple[str, ...] = ("csv",)
    write_masks: bool = True
    report: bool = True
    copick: CopickTarget | None = None

    def __post_init__(self) -> None:
        from ..workflows import PickConfig, parse_selection

        workflows = self.workflows if isinstance(self.workflows, str) else ",".join(self.workflows)
        chosen, combined = parse_selection(workflows)
        object.__setattr__(self, "workflows", tuple(w.name for w in chosen) + combined)
        object.__setattr__(self, "config", self.config or PickConfig())
        formats = tuple(dict.fromkeys(("csv", *self.formats)))
        object.__setattr__(self, "formats", formats)

    def _options(self) -> dict[str, Any]:
        """The keywords of ``run_pick`` that are also those of ``pick_settings``."""
        return {
            "workflows": self.workflows, "config": self.config, "voxel_size_angstrom": self.voxel_size_angstrom,
            "formats": self.formats, "write_masks": self.write_masks, "report": self.report, "copick": self.copick,
        }  # fmt: skip

    def settings(self) -> dict[str, Any]:
        from ..workflows import pick_settings

        return pick_settings(**self._options())

    def __call__(self, tomogram_path: Path, target_dir: Path) -> RunRecord:
        from ..workflows import run_pick

        return run_pick(tomogram_path, target_dir.parent, device=self.device, progress=False, **self._options()).record

    def output(self, record: RunRecord) -> TomogramOutput:
        decisions = record.decisions
        listed = {name: f"picks/{name}.csv" for name in decisions["picks"]}
        return TomogramOutput(
            picks_files={name: path for name, path in listed.items() if path in record.outputs},
            counts={name: int(n) for name, n in decisions["picks"].items()},
            shape_zyx=tuple(int(n) for n in decisions["shape_zyx"]),
            voxel_size_angstrom=float(decisions["voxel_size_angstrom"]),
            pick_z_range=tuple(int(z) for z in decisions["pick_z_range"]),
        )


#: How often a worker process checks that the batch process that sent it work is still alive.
PARENT_CHECK_SECONDS = 0.5
_watched_parents: set[int] = set()
_watch_lock = threading.Lock()


def exit_with_batch(batch_pid: int, batch_host: str) -> None:
    """In a worker process on the batch's own machine, end this process as soon as the batch
    process ``batch_pid`` is gone (killed with SIGKILL, say), so that no orphan goes on writing
    results after the batch lock is released and a rerun has started. One watcher thread per
    process; nothing in the batch process itself or on another machine (Dask workers there are
    ended by their own scheduler)."""
    if os.getpid() == batch_pid or socket.gethostname() != batch_host:
        return
    with _watch_lock:
        if batch_pid in _watched_parents:
            return
        _watched_parents.add(batch_pid)

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            try:
                os.kill(batch_pid, 0)
            except ProcessLookupError:
                os._exit(1)  # the batch is gone: stop now, finishing nothing
            except PermissionError:  # alive, under another user
                pass

    threading.Thread(target=watch, name=f"unpick-batch-{batch_pid}", daemon=True).start()


def execute(
    task: TomogramTask, name: str, tomogram_path: Path, target_dir: Path, *, log_level: int,
    batch_pid: int | None = None, batch_host: str = "",
) -> TomogramOutcome:
    """Run ``task`` on one tomogram in a worker; never raises for an ordinary exception.

    Log records of the ``unpick`` package from this thread at ``log_level`` and above go to
    ``target_dir/unpick.log`` (appended, one header per attempt; ``_tomogram_log``). An exception
    becomes a ``'failed'`` outcome with its type and message, and its traceback goes to the log
    file. With ``batch_pid`` (the batch process and its host), a worker process ends itself when
    the batch is killed (``exit_with_batch``) and logs at ``log_level``, the batch's level; in the
    batch's own process (or without ``batch_pid``) the caller's logging is left as it is.
    """
    start = time.perf_counter()
    host = socket.gethostname()
    if batch_pid is not None:
        exit_with_batch(batch_pid, batch_host)

    def outcome(status: str, **extra: Any) -> TomogramOutcome:
        return TomogramOutcome(name=name, status=status, seconds=time.perf_counter() - start, host=host, **extra)

    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        (target_dir / JOB_FILE).unlink(missing_ok=True)  # a failed re-run never looks finished
    except OSError as err:
        return outcome("failed", error=f"cannot prepare {target_dir}: {err}")
    in_worker = batch_pid is not None and (os.getpid() != batch_pid or host != batch_host)
    with _tomogram_log(target_dir / LOG_FILE, level=log_level, in_worker=in_worker) as log_file:
        logger.info("%s: start on %s (pid %d), input %s", name, host, os.getpid(), tomogram_path)
        try:
            output = task.output(task(tomogram_path, target_dir))
        except Exception as err:  # noqa: BLE001 - failure isolation: report it, the others go on
            # the traceback goes to the tomogram's log only; the parent reports the failure
            log_file.handle(logger.makeRecord(logger.name, logging.ERROR, __file__, 0, "%s: failed",
                                              (name,), sys.exc_info()))
            return outcome("failed", error=f"{type(err).__name__}: {err}")
        logger.info("%s: done in %.2f s: %s", name, time.perf_counter() - start, _counts_text(output.counts))
    return outcome("done", output=output)


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{wf} {n}" for wf, n in counts.items()) or "no workflows"


class _WorkerLevel:
    """The ``unpick`` logger's level in a worker process while its tasks run.

    Nothing configured logging in a worker process (a loky or Dask worker): its package logger
    answers to the default WARNING, so the INFO records the batch's own process creates for the
    tomogram logs would not exist there. While tasks run, the level is the batch's (passed to the
    worker); the level before comes back when the last task of the process ends (tasks may run
    side by side in threads). Propagation is left alone: records go on to that process's own
    handlers (none in a loky worker, where Python's last-resort handler prints WARNING and above,
    as before). Never used in the batch's own process, whose logging belongs to its caller.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.saved = logging.NOTSET

    @contextlib.contextmanager
    def at(self, level: int) -> Iterator[None]:
        package = logging.getLogger(_PACKAGE_LOGGER)
        with self.lock:
            if self.users == 0:
                self.saved = package.level
            self.users += 1
            if package.getEffectiveLevel() > level:
                package.setLevel(level)
        try:
            yield
        finally:
            with self.lock:
                self.users -= 1
                if self.users == 0:
                    package.setLevel(self.saved)


_worker_level = _WorkerLevel()


@contextlib.contextmanager
def _tomogram_log(path: Path, *, level: int, in_worker: bool) -> Iterator[logging.Handler]:
    """Send this thread's ``unpick`` log records at ``level`` and above to ``path``.

    A file handler is added to the ``unpick`` logger for the task and removed after; it filters on
    the thread, so tasks running side by side in threads (a Dask worker with several threads) each
    get only their own records. In the batch's own process (``in_worker`` False) nothing else
    changes: the file gets the records the caller's logging configuration lets the package create
    (INFO and above under the CLI's default), and the console sees what it saw. In a worker
    process the package logger takes ``level`` while the task runs (``_WorkerLevel``).
    """
    package = logging.getLogger(_PACKAGE_LOGGER)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)
    with _worker_level.at(level) if in_worker else contextlib.nullcontext():
        package.addHandler(handler)
        try:
            yield handler
        finally:
            package.removeHandler(handler)
            handler.close()
