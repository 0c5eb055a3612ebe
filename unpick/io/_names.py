"""Naming helpers shared by the readers and writers."""

from __future__ import annotations

import os
from pathlib import Path

_REC_PREFIX = "rec_"


def strip_rec(name: str) -> str:
    """Remove one leading ``rec_`` from a tomogram name (``rec_TS_01`` -> ``TS_01``)."""
    return name.removeprefix(_REC_PREFIX)


def tomogram_name(path: str | os.PathLike) -> str:
    """Tomogram name of a file: its stem without a leading ``rec_``."""
    return strip_rec(Path(path).stem)
