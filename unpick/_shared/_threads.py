"""Independent pieces of work on CPU threads: the NumPy, SciPy and scikit-image kernels release the GIL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import joblib
import numpy as np

from ._errors import UnpickInputError

Item = TypeVar("Item")


def available_threads() -> int:
    """CPU threads the pools use: every core joblib sees (``LOKY_MAX_CPU_COUNT`` limits it)."""
    return max(1, joblib.cpu_count())


def thread_map(
    func: Callable[[Item], Any], items: Sequence[Item], *, n_threads: int | None = None, max_threads: int | None = None
) -> list[Any]:
    """``[func(item) for item in items]``, computed on CPU threads, results in the order of ``items``.

    ``n_threads`` threads (None: ``available_threads()``), at most ``max_threads`` (a bound for work
    whose temporaries are large) and at most one per item; one thread runs the items in turn. Each
    item is computed independently, so the results never depend on the thread count.
    """
    if n_threads is not None and (isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 1):
        raise UnpickInputError(f"n_threads: expected a positive integer or None (all cores), got {n_threads!r}")
    threads = min(available_threads() if n_threads is None else int(n_threads), max_threads or len(items), len(items))
    if threads <= 1:
        return [func(item) for item in items]
    return joblib.Parallel(n_jobs=threads, backend="threading")(joblib.delayed(func)(item) for item in items)
