"""Running batch tasks on a Dask cluster through joblib's ``dask`` backend."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from .._shared import UnpickInputError, check_positive
from ._memory import GB

logger = logging.getLogger(__name__)

LOCAL_SCHEDULER = "local"
CONNECT_TIMEOUT_S = 10


def task_resources(*, worker_memory_gb: float | None = None, gpus_per_task: int | None = None) -> dict[str, float]:
    """Dask resource annotations of one tomogram task.

    Tasks annotated with a resource only run on workers that advertise it, e.g. started with
    ``dask worker tcp://HOST:8786 --resources "MEMORY=64e9 GPU=1"``; ``MEMORY`` is in bytes.

    Parameters
    ----------
    worker_memory_gb : float, optional
        Memory one task reserves on its worker, in GB (10^9 bytes) -> ``MEMORY``.
    gpus_per_task : int, optional
        GPUs one task reserves -> ``GPU``.
    """
    resources: dict[str, float] = {}
    if worker_memory_gb is not None:
        resources["MEMORY"] = check_positive(worker_memory_gb, "worker memory (--worker-memory)", unit="GB") * GB
    if gpus_per_task is not None:
        if isinstance(gpus_per_task, bool) or not isinstance(gpus_per_task, int) or gpus_per_task < 1:
            raise UnpickInputError(f"GPUs per task (--gpus-per-task): expected a whole number >= 1, got {gpus_per_task!r}")
        resources["GPU"] = gpus_per_task
    return resources


@contextlib.contextmanager
def dask_parallel(
    scheduler: str,
    *,
    n_workers: int = 2,
    resources: dict[str, float] | None = None,
) -> Iterator[Any]:
    """Make joblib's ``dask`` backend the active one for the duration; yields the Client.

    Parameters
    ----------
    scheduler : str
        Scheduler address (``tcp://HOST:8786``) or ``'local'`` to start a LocalCluster of
        ``n_workers`` single-threaded worker processes here (for trying the backend out). Remote
        workers should be single-threaded too (``dask worker ADDRESS --nthreads 1``): a pick uses
        every core of its process on threads of its own, and sets the process-wide BLAS thread
        count for its duration, which two picks in one process would change under each other.
    resources : dict, optional
        Resource annotations for every task (see :func:`task_resources`). Checked against the
        workers first: when no worker advertises enough of one, tasks could never start.

    Raises
    ------
    UnpickInputError
        When ``dask.distributed`` is missing, the scheduler cannot be reached, or no worker
        offers the resources asked for.
    """
    try:
        import joblib
        from dask.distributed import Client, LocalCluster
    except ImportError as err:
        raise UnpickInputError(
            "--backend dask needs dask.distributed, which is not installed; pip install 'unpick[dask]'"
        ) from err
    resources = dict(resources or {})
    with contextlib.ExitStack() as stack:
        if scheduler == LOCAL_SCHEDULER:
            cluster = stack.enter_context(LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                resources=resources or None,
            ))
            address = cluster.scheduler_address
            logger.info("dask: started a local cluster of %d workers at %s", n_workers, address)
        else:
            address = scheduler
        try:
            client = stack.enter_context(Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False))
        except (OSError, TimeoutError, ValueError) as err:
            raise UnpickInputError(
                f"--scheduler {scheduler}: cannot reach a Dask scheduler ({err}); start one with "
                f"'dask scheduler' and workers with 'dask worker {scheduler}' (see workflows/dask-slurm.md)"
            ) from err
        _check_workers(client, scheduler, resources)
        submit_kwargs = {"resources": resources} if resources else {}
        with joblib.parallel_config(backend="dask", client=client, **submit_kwargs):
            yield client


def _check_workers(client: Any, scheduler: str, resources: dict[str, float]) -> None:
    """Wait briefly for workers and make sure one of them can take an annotated task."""
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    except (TimeoutError, OSError) as err:
        raise UnpickInputError(
            f"--scheduler {scheduler}: no Dask worker joined within {CONNECT_TIMEOUT_S} s; "
            f"start workers with 'dask worker {scheduler}'"
        ) from err
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    logger.info("dask: %d worker(s), %d thread(s)", len(workers), sum(w.get("nthreads", 0) for w in workers))
    if not resources:
        return
    if not any(all(w.get("resources", {}).get(k, 0) >= v for k, v in resources.items()) for w in workers):
        wanted = " ".join(f"{k}={v:g}" for k, v in resources.items())
        offered = sorted({" ".join(f"{k}={v:g}" for k, v in w.get("resources", {}).items()) or "none" for w in workers})
        raise UnpickInputError(
            f"--scheduler {scheduler}: each task asks for resources {wanted} but no worker offers that much "
            f"(workers offer: {'; '.join(offered)}); start workers with --resources \"{wanted}\" or ask for less"
        )
