"""Checks and conversions shared by the picks writers and the picks/ground-truth readers."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._shared import UnpickInputError, check_positive

XYZ = ("x", "y", "z")


def check_picks(picks: Any, *, need_voxel_size: bool = True) -> pd.DataFrame:
    """Check ``picks`` is a picks table (``unpick._shared.make_picks``) a writer can use."""
    if not isinstance(picks, pd.DataFrame):
        raise UnpickInputError(
            f"picks: expected a pandas DataFrame from unpick._shared.make_picks, got {type(picks).__name__}"
        )
    need = list(XYZ) + (["voxel_size_angstrom"] if need_voxel_size else [])
    missing = [c for c in need if c not in picks.columns]
    if missing:
        raise UnpickInputError(
            f"picks: missing column(s) {', '.join(missing)} (found {', '.join(map(str, picks.columns))}); "
            f"build the table with unpick._shared.make_picks"
        )
    if need_voxel_size and len(picks):
        sizes = pd.to_numeric(picks["voxel_size_angstrom"], errors="coerce").to_numpy(dtype=float)
        if not (np.isfinite(sizes) & (sizes > 0)).all():
            raise UnpickInputError("picks: column voxel_size_angstrom must hold positive voxel sizes in Å")
    return picks


def single_voxel_size(picks: pd.DataFrame, *, fmt: str) -> float | None:
    """The one voxel size (Å) of a picks table, ``None`` when it is empty; mixed sizes are an error."""
    sizes = np.unique(picks["voxel_size_angstrom"].to_numpy(dtype=float))
    if len(sizes) > 1:
        raise UnpickInputError(
            f"picks: {fmt} holds one voxel size, got several ({', '.join(f'{v:g}' for v in sizes)} Å); "
            f"write one file per tomogram"
        )
    return float(sizes[0]) if len(sizes) else None


def optional_voxel_size(value: float | None, *, name: str = "voxel_size_angstrom") -> float | None:
    """Validate an optional voxel size in Å."""
    return None if value is None else check_positive(value, name, unit="Å")


def require_file(path: str | os.PathLike, *, what: str) -> Path:
    """Return ``path`` as a Path after checking it is an existing file."""
    path = Path(path)
    if not path.exists():
        raise UnpickInputError(f"{path}: {what} file not found; check the path")
    if path.is_dir():
        raise UnpickInputError(f"{path}: is a directory, expected a {what} file")
    return path


def json_score(value: Any) -> float | None:
    """A score as a JSON-safe float (``None`` for NaN/inf, which JSON cannot hold)."""
    number = float(value)
    return number if math.isfinite(number) else None


def finish_table(frame: pd.DataFrame, path: Path, *, source: str) -> pd.DataFrame:
    """Return a reader's result: float ``x, y, z`` (voxels) first, then the other columns.

    Rows whose coordinates are missing or not numbers are an error naming the first bad row.
    """
    frame = frame.copy()
    for axis in XYZ:
        numbers = pd.to_numeric(frame[axis], errors="coerce").astype(float)
        bad = ~np.isfinite(numbers.to_numpy())
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UnpickInputError(
                f"{path}: {source} coordinate {axis!r} of row {row} is {frame[axis].iloc[row]!r}, "
                f"expected a finite number; fix or remove that row"
            )
        frame[axis] = numbers
    for key in ("score", "radius_angstrom"):
        if key in frame.columns:
            frame[key] = pd.to_numeric(frame[key], errors="coerce").astype(float)
    if "class" in frame.columns:
        frame["class"] = frame["class"].astype(str)
    order = list(XYZ) + [c for c in frame.columns if c not in XYZ]
    return frame[order].reset_index(drop=True)
