"""Naming helpers shared by the readers and writers."""

from __future__ import annotations

import os
from pathlib import Path

from .._shared import UnpickInputError

_REC_PREFIX = "rec_"


def strip_rec(name: str) -> str:
    """Remove one leading ``rec_`` from a tomogram name (``rec_TS_01`` -> ``TS_01``)."""
    return name.removeprefix(_REC_PREFIX)


#: Folder suffixes of Zarr stores, removed whole (``TS_01.ome.zarr`` -> ``TS_01``).
ZARR_SUFFIXES = (".ome.zarr", ".zarr")
#: copick stores a tomogram as ``ExperimentRuns/<run>/VoxelSpacing<Å>/<type>.zarr``: the name is the run.
COPICK_SPACING_PREFIX = "VoxelSpacing"


def tomogram_name(path: str | os.PathLike) -> str:
    """Tomogram name of a file or Zarr store: its stem (without ``.ome.zarr`` / ``.zarr``) without
    a leading ``rec_``; for a store inside a copick ``VoxelSpacing*`` folder, the copick run.

    The name becomes an output folder, so it is never empty or only dots (``rec_.mrc`` and
    ``rec_...mrc`` keep their ``rec_``: ``OUT/..`` would write beside ``OUT``).
    """
    path = Path(path)
    stem = path.stem
    for suffix in ZARR_SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            if path.parent.name.startswith(COPICK_SPACING_PREFIX) and _is_folder_name(path.parent.parent.name):
                return path.parent.parent.name  # a copick run: <run>/VoxelSpacing10.000/wbp.zarr
            stem = path.name[: -len(suffix)]
            break
    for name in (strip_rec(stem), stem):
        if _is_folder_name(name):
            return name
    raise UnpickInputError(
        f"{path}: the file name {path.name!r} gives no usable tomogram name (the output folder would be "
        f"{stem!r}); rename the file, e.g. to TS_01{path.suffix}"
    )


def check_tomogram_name(name: str, *, option: str = "--name") -> str:
    """``name`` when it can be a tomogram name (one folder inside ``--out``: not empty, not only
    dots, no path separator), else an error naming ``option``."""
    if not isinstance(name, str) or not _is_folder_name(name):
        raise UnpickInputError(
            f"{option}: {name!r} cannot name a tomogram (its output folder); use letters, digits, '_', '-' or '.', "
            f"e.g. TS_01"
        )
    return name


def _is_folder_name(name: str) -> bool:
    """A name that is one folder inside ``--out``: not empty, not ``.``/``..``, no separator."""
    return bool(name.strip(".")) and os.sep not in name and (os.altsep is None or os.altsep not in name)
