"""How many tomograms may run at once: a peak-memory estimate per tomogram from its MRC header."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from mrcfile.dtypes import HEADER_DTYPE
from mrcfile.utils import byte_order_from_machine_stamp

from .._shared import check_positive

logger = logging.getLogger(__name__)

GB = 10**9

#: Peak resident bytes per voxel of one pick task: float32 input and preprocessed volume, uint8
#: decision levels per clusterer, the fiducial mask, label volumes and centroid bookkeeping.
#: Measured with ``benchmarks/bench_batch.py --calibrate-memory`` before the data-driven operating
#: points (0.22 GB + 18.4 B/voxel, gabor-kmeans-ws); with them, all twelve on 200x512x512 peak at
#: 1.71 GiB (``bench_workflows.py speed``), i.e. 24.8 B/voxel above WORKER_OVERHEAD_BYTES. Rounded up.
BYTES_PER_VOXEL = 26.0
#: Fixed part: a worker process with numpy, scipy, scikit-learn and unpick imported (~0.2 GB)
#: plus the size-independent buffers (feature chunks, clustering sample; ~0.25 GB measured).
WORKER_OVERHEAD_BYTES = 512 * 2**20


def default_memory_bytes(shape_zyx: Sequence[int]) -> int:
    """Estimated peak memory in bytes of one pick task on a ``(Z, Y, X)`` volume."""
    voxels = math.prod(int(n) for n in shape_zyx)
    return int(WORKER_OVERHEAD_BYTES + BYTES_PER_VOXEL * voxels)


def header_shape(path: Path) -> tuple[int, int, int] | None:
    """``(Z, Y, X)`` from the 1024-byte MRC header alone; None when it is not an MRC header.

    Only the fixed header is read (a corrupt file may declare a huge extended header), and any
    problem is left for the task that reads the file to report.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(HEADER_DTYPE.itemsize)
    except OSError:
        return None
    if len(raw) < HEADER_DTYPE.itemsize:
        return None
    header = np.frombuffer(raw, dtype=HEADER_DTYPE)[0]
    if bytes(header["map"]) != b"MAP ":
        return None
    try:
        order = byte_order_from_machine_stamp(header["machst"])
    except ValueError:
        order = "<"
    header = np.frombuffer(raw, dtype=HEADER_DTYPE.newbyteorder(order))[0]
    shape = (int(header["nz"]), int(header["ny"]), int(header["nx"]))
    return shape if min(shape) > 0 else None


def available_memory_bytes() -> int:
    """Memory available for new work: psutil's ``available`` when installed, else half the RAM."""
    try:
        import psutil
    except ImportError:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2)
    return int(psutil.virtual_memory().available)


def memory_limited_jobs(
    jobs: int,
    per_task_bytes: Sequence[int],
    *,
    max_memory_gb: float | None = None,
) -> int:
    """Cap ``jobs`` so that the largest tasks running side by side fit in the memory budget.

    Parameters
    ----------
    jobs : int
        Tasks asked to run at once (>= 1).
    per_task_bytes : sequence of int
        Estimated peak bytes of each task.
    max_memory_gb : float, optional
        Budget in GB; by default the memory available now.

    Returns
    -------
    int
        ``min(jobs, floor(budget / largest estimate))``, at least 1 (a warning is logged when even
        one task may not fit).
    """
    if not per_task_bytes:
        return jobs
    if max_memory_gb is None:
        budget, source = available_memory_bytes(), "available memory"
    else:
        budget = int(check_positive(max_memory_gb, "max memory (--max-memory)", unit="GB") * GB)
        source = "--max-memory"
    largest = max(per_task_bytes)
    fit = budget // largest
    if fit < 1:
        logger.warning(
            "one tomogram may need %.1f GB, more than the %.1f GB of %s; running one at a time anyway",
            largest / GB, budget / GB, source,
        )
        return 1
    capped = int(min(jobs, fit))
    level = logging.INFO if capped < jobs else logging.DEBUG
    logger.log(
        level, "memory: up to %.2f GB per tomogram, budget %.1f GB (%s): %d at once (asked for %d)",
        largest / GB, budget / GB, source, capped, jobs,
    )
    return capped
