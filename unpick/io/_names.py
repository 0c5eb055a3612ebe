"""Naming helpers shared by the readers and writers."""

from __future__ import annotations

import os
from pathlib import Path

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
    a leading ``rec_``; for a store inside a copick ``VoxelSpacing*`` folder, the copick run."""
    path = Path(path)
    for suffix in ZARR_SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            if path.parent.name.startswith(COPICK_SPACING_PREFIX) and path.parent.parent.name:
                return path.parent.parent.name  # a copick run: <run>/VoxelSpacing10.000/wbp.zarr
            return strip_rec(path.name[: -len(suffix)])
    return strip_rec(path.stem)
