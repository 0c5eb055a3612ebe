"""What a picking run excludes before and after segmenting: the empty slabs, gold beads, membranes.

Each finder is timed into the run's ``timings`` and logs what it decided. The membranes are
needed only to clear the masks: the tomogram is binned for them at once (after which it is read
no more, and a memory-mapped file's pages can go back), and they are found in the binned volume
on a thread of their own while the first feature mode fits its clusterers (one core each, by
design) and predicts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from .._shared import Backend, UnpickInputError
from ..features import (
    FIDUCIAL_BLUR,
    PLAUSIBLE_FIDUCIALS,
    Fiducials,
    Membranes,
    SpecimenSlab,
    bin_for_membranes,
    find_fiducials,
    find_specimen_slab,
    membranes_in_binned,
)
from ._config import PickConfig

logger = logging.getLogger(__name__)

#: Niceness of the background membrane thread (0 normal, 19 lowest): it takes idle cores only.
BACKGROUND_NICENESS = 15
#: Its tensor chunks hold at most this much memory at once (two threads at 512×512, one at
#: 1000×1000, where two added 0.7 GB to the peak of the first feature mode they run beside).
BACKGROUND_CHUNK_BYTES = 400e6


def find_slab(
    volume: np.ndarray,
    radius_voxels: float,
    config: PickConfig,
    fit_z_range: tuple[int, int],
    pick_z_range: tuple[int, int],
    timings: dict[str, Any],
) -> tuple[SpecimenSlab, tuple[int, int], tuple[int, int]]:
    """The specimen slab, and the fit and pick z-ranges narrowed to it (the fit range only when
    the user gave none); a pick range outside the slab is an error naming both."""
    start = time.perf_counter()
    slab = find_specimen_slab(volume, radius_voxels=radius_voxels)
    timings["specimen_slab"] = time.perf_counter() - start
    if slab.z_range == (0, volume.shape[0]):
        return slab, fit_z_range, pick_z_range
    if config.fit_z_range is None:
        fit_z_range = slab.z_range
    pick_z_range = (max(pick_z_range[0], slab.z_range[0]), min(pick_z_range[1], slab.z_range[1]))
    logger.info(
        "specimen slab z %d-%d of %d: the slabs above and below are empty (little low-pass structure); "
        "fitting and picking inside it (--keep-empty-slabs picks everywhere)",
        *slab.z_range,
        volume.shape[0],
    )
    if pick_z_range[0] >= pick_z_range[1]:
        raise UnpickInputError(
            f"pick z-slab: the requested slab {list(config.pick_z_range)} lies outside the specimen "
            f"slab {list(slab.z_range)}; choose another --pick-z-slab or give --keep-empty-slabs"
        )
    return slab, fit_z_range, pick_z_range


def find_beads(
    volume: np.ndarray, blurred: Any, config: PickConfig, backend: Backend, timings: dict[str, Any]
) -> Fiducials:
    """The gold fiducials of ``volume``; ``blurred`` is preprocessing's blur (not yet rescaled),
    read instead of blurring again when it is the finder's (the default sigma, on the CPU)."""
    start = time.perf_counter()
    shared = backend.name == "cpu" and config.preprocess.blur_sigma == FIDUCIAL_BLUR
    fiducials = find_fiducials(volume, rng=config.seed, blurred=blurred if shared else None)
    timings["fiducials"] = time.perf_counter() - start
    if len(fiducials) > PLAUSIBLE_FIDUCIALS:
        logger.warning(
            "%d gold fiducials found (extreme density, with a step in density below them), more than the %d a "
            "tomogram plausibly holds: dense particles may pass for gold and be excluded; check fiducials in "
            "job.json and give --keep-fiducials if they are particles",
            len(fiducials),
            PLAUSIBLE_FIDUCIALS,
        )
    elif len(fiducials):
        logger.info(
            "%d gold fiducials found (extreme density); picks within their exclusion zones are dropped "
            "(--keep-fiducials keeps them)",
            len(fiducials),
        )
    return fiducials


@contextlib.contextmanager
def waited_on_exit() -> Iterator[list[Future]]:
    """A list to put background futures in; on the way out (an error's way included) every one of
    them is waited for, so no background thread outlives the job or the settings made for it."""
    started: list[Future] = []
    try:
        yield started
    finally:
        wait(started)


def start_membranes(volume: np.ndarray, radius_voxels: float, timings: dict[str, Any]) -> Future:
    """Bin ``volume`` for the membrane finder here (the last read of the tomogram), then find the
    membranes in the binned volume on a thread of their own; the caller takes the result (or
    the error) with ``.result()`` when the first masks need it."""
    start = time.perf_counter()
    binned, binning = bin_for_membranes(volume, radius_voxels=radius_voxels)
    timings["membranes"] = time.perf_counter() - start
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unpick-membranes")
    found = executor.submit(_find_membranes, binned, binning, volume.shape, radius_voxels, timings)
    executor.shutdown(wait=False)  # the thread ends with its task
    return found


def _find_membranes(
    binned: np.ndarray, binning: int, shape_zyx: tuple[int, ...], radius_voxels: float, timings: dict[str, Any]
) -> Membranes:
    _lower_thread_priority()
    start = time.perf_counter()
    membranes = membranes_in_binned(
        binned, binning=binning, shape_zyx=shape_zyx, radius_voxels=radius_voxels, chunk_bytes=BACKGROUND_CHUNK_BYTES
    )
    timings["membranes"] += time.perf_counter() - start
    logger.info(
        "membranes: %.1f %% of voxels are sheet-like (structure-tensor planarity >= %.2f over %.1f voxels); "
        "cleared from every particle mask (--keep-membranes keeps them)",
        100 * membranes.voxel_share,
        membranes.to_record()["planarity_threshold"],
        membranes.integration_sigma_voxels,
    )
    return membranes


def _lower_thread_priority() -> None:
    """Give this thread (and the threads it starts) ``BACKGROUND_NICENESS`` on Linux, where
    niceness is per thread: the background work then takes the cores the picking leaves idle
    (its clusterer fits run on one core each) instead of slowing it down. Elsewhere, or when
    not permitted, it runs at the normal priority."""
    if not sys.platform.startswith("linux"):  # elsewhere a thread id is not a process id
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)
    except OSError:
        logger.debug("membranes: could not lower the background thread's priority")
