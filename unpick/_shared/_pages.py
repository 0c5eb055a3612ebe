"""Memory-mapped volumes: hand their pages back once a stage has read them, move large arrays to disk."""

from __future__ import annotations

import logging
import mmap
import tempfile
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_SPILL_SLICES = 16  # z-slices written at a time


def release_pages(array: Any) -> bool:
    """Unmap from this process the resident pages of a read-only, file-backed ``array``.

    A memory-mapped tomogram (``numpy.memmap``, or a view of one) that a stage has streamed
    through stays resident, and counts in the process's memory, until it is unmapped: for a
    500×1000×1000 float32 volume that is 2 GB held for nothing while the later stages work on
    derived arrays. ``madvise(MADV_DONTNEED)`` drops those pages from the process; the data stays
    in the file (and in the page cache while memory allows), and a later read maps it in again.
    In-memory and writable arrays are left alone (their pages hold the only copy).

    Returns True when pages were released.
    """
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None or not isinstance(array, np.ndarray) or array.flags.writeable:
        return False
    base = array.base
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    if base is None:
        return False
    try:
        base.madvise(advice)
    except (OSError, ValueError):  # a closed map, or a platform that refuses the advice
        return False
    return True


def spill_to_disk(array: np.ndarray, *, min_bytes: int) -> np.ndarray:
    """``array`` moved into an unnamed temporary file and mapped back read-only, when it has at
    least ``min_bytes``; else (or when the file cannot be written) ``array`` itself.

    For a volume that later stages read chunk by chunk and only now and then: between those
    reads ``release_pages`` hands its pages back, so it stops counting in the process's memory
    (the page cache keeps it while memory allows; the kernel may write it out instead of the
    process running out). The file is in ``tempfile.gettempdir()`` (``TMPDIR``: put it on a
    local disk, not a RAM disk) and has no name: it goes when the array does, and with the
    process if it is killed. A full or read-only temporary folder is logged and the array kept
    in memory.
    """
    if array.nbytes < min_bytes:
        return array
    try:
        with tempfile.TemporaryFile(prefix="unpick-") as handle:
            for z0 in range(0, array.shape[0], _SPILL_SLICES):
                array[z0 : z0 + _SPILL_SLICES].tofile(handle)
            handle.flush()
            mapped = np.memmap(handle, dtype=array.dtype, mode="r", shape=array.shape)  # the map outlives the handle
    except OSError as err:
        logger.warning(
            "could not move a %.1f GB array to a temporary file in %s (%s): it stays in memory; point TMPDIR "
            "at a folder with space to lower the peak memory",
            array.nbytes / 1e9,
            tempfile.gettempdir(),
            err,
        )
        return array
    logger.info(
        "%.1f GB array moved to an unnamed temporary file in %s and mapped read-only (TMPDIR chooses the folder)",
        array.nbytes / 1e9,
        tempfile.gettempdir(),
    )
    return mapped
