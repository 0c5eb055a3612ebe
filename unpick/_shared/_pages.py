"""Hand the pages of a memory-mapped input back to the operating system once a stage has read it."""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np


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
