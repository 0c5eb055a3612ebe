"""Picks and ground truth as CSV/TSV tables (x, y, z in voxels, plus the same in Å)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .._shared import UnpickInputError
from ._atomic import atomic_write
from ._table import XYZ, check_picks, finish_table, optional_voxel_size, require_file

logger = logging.getLogger(__name__)

# Accepted column names (compared case-insensitively), first match wins.
_VOXEL_ALIASES = {a: (a, f"coord_{a}", f"{a}_coord", f"coordinate_{a}", f"pos_{a}", f"{a}_voxel",
                      f"{a}_voxels", f"{a}_px") for a in XYZ}
_ANGSTROM_ALIASES = {f"{a}_angstrom": (f"{a}_angstrom", f"{a}_angst", f"{a}_ang", f"{a}_a",
                                       f"coord_{a}_angstrom") for a in XYZ}
_OTHER_ALIASES = {
    "class": ("class", "class_name", "classname", "object_name", "particle_type", "object", "type"),
    "score": ("score", "confidence", "probability", "fom"),
    "radius_angstrom": ("radius_angstrom", "radius_angst", "radius_a"),
    "tomogram": ("tomogram", "tomogram_name", "tomo_name", "tomo", "run_name"),
}
_ALIASES = {**_VOXEL_ALIASES, **_ANGSTROM_ALIASES, **_OTHER_ALIASES}


def write_picks_csv(path: str | os.PathLike, picks: pd.DataFrame) -> Path:
    """Write a picks table as CSV (tab-separated when ``path`` ends in ``.tsv``), atomically.

    Columns: the table as is (``x, y, z`` in voxels, ``score``, ``size``, ``workflow``,
    ``tomogram``, ``voxel_size_angstrom``), then ``x_angstrom, y_angstrom, z_angstrom`` =
    voxel coordinate × voxel size (Å from the centre of voxel 0).

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.csv`` or ``.tsv`` file.
    picks : pandas.DataFrame
        Picks table from :func:`unpick._shared.make_picks`.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    table = check_picks(picks).copy()
    for axis in XYZ:
        table[f"{axis}_angstrom"] = table[axis].astype(float) * table["voxel_size_angstrom"].astype(float)
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    with atomic_write(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        table.to_csv(handle, sep=sep, index=False)
    logger.debug("%s: wrote %d picks", path, len(table))
    return path


def read_picks_csv(path: str | os.PathLike, *, voxel_size_angstrom: float | None = None) -> pd.DataFrame:
    """Read picks or ground truth from a CSV/TSV table.

    Coordinates are taken from ``x, y, z`` in voxels (aliases ``X``, ``coord_x``, ``x_coord``,
    ``pos_x``... case-insensitive) or, when those are absent, from ``x_angstrom, y_angstrom,
    z_angstrom`` (Å from the centre of voxel 0) divided by the voxel size. Columns named like a
    class (``class``, ``class_name``, ``type``...), score, ``radius_angstrom`` or tomogram are renamed to
    those names; all other columns are kept. The separator (comma, tab, semicolon or whitespace) is
    detected from the header line.

    Parameters
    ----------
    path : str or os.PathLike
        CSV, TSV or whitespace-separated text file with a header line.
    voxel_size_angstrom : float, optional
        Voxel size in Å, needed only for Å-only files without a ``voxel_size_angstrom`` column.

    Returns
    -------
    pandas.DataFrame
        Float ``x, y, z`` in voxels first, then the other columns.
    """
    path = require_file(path, what="picks CSV")
    voxel_size = optional_voxel_size(voxel_size_angstrom)
    frame = _read_table(path)
    frame = frame.rename(columns=_canonical_names(frame.columns))
    has_voxels = all(a in frame.columns for a in XYZ)
    has_angstrom = all(f"{a}_angstrom" in frame.columns for a in XYZ)
    if not has_voxels and not has_angstrom:
        raise UnpickInputError(
            f"{path}: no coordinate columns: expected x, y, z (voxels) or x_angstrom, y_angstrom, "
            f"z_angstrom (Å); found {', '.join(map(str, frame.columns))}. Rename the columns"
        )
    if has_voxels:
        if voxel_size is not None and has_angstrom:
            _check_consistent(frame, voxel_size, path)
        return finish_table(frame, path, source="CSV")
    if voxel_size is None:
        voxel_size = _voxel_size_column(frame, path)
    for axis in XYZ:
        frame[axis] = pd.to_numeric(frame[f"{axis}_angstrom"], errors="coerce") / voxel_size
    return finish_table(frame, path, source="CSV")


def _read_table(path: Path) -> pd.DataFrame:
    """Parse a delimited text file, detecting the separator from its first line."""
    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
        sep = next((s for s in ("\t", ",", ";") if s in first), r"\s+")
        return pd.read_csv(path, sep=sep, engine="python" if sep == r"\s+" else "c")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UnpickInputError(
            f"{path}: cannot parse as a CSV/TSV table with a header line ({type(err).__name__}: {err}); "
            f"check the file format"
        ) from err


def _canonical_names(columns: pd.Index) -> dict[str, str]:
    """Map found column names to canonical ones; an exact canonical name beats any alias."""
    by_lower: dict[str, str] = {}
    for column in columns:
        by_lower.setdefault(str(column).strip().lower(), column)
    used = {c for c in _ALIASES if c in columns}
    mapping: dict[str, str] = {}
    for canonical, aliases in _ALIASES.items():
        if canonical in columns:
            continue
        original = next((by_lower[a] for a in aliases if a in by_lower and by_lower[a] not in used), None)
        if original is not None:
            used.add(original)
            mapping[original] = canonical
    return mapping


def _voxel_size_column(frame: pd.DataFrame, path: Path) -> float:
    """The voxel size of an Å-only table from its ``voxel_size_angstrom`` column."""
    column = next((c for c in frame.columns if re.fullmatch(r"voxel_?size(_angstrom)?", str(c).lower())), None)
    sizes = np.unique(pd.to_numeric(frame[column], errors="coerce")) if column is not None else []
    if len(sizes) != 1 or not np.isfinite(sizes[0]) or sizes[0] <= 0:
        raise UnpickInputError(
            f"{path}: coordinates are in Å only (x_angstrom, y_angstrom, z_angstrom); pass the voxel size "
            f"(voxel_size_angstrom= / --voxel-size) to convert them to voxels"
        )
    return float(sizes[0])


def _check_consistent(frame: pd.DataFrame, voxel_size: float, path: Path) -> None:
    """Log a warning when voxel and Å columns disagree under the given voxel size."""
    voxels = frame[list(XYZ)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    angstrom = frame[[f"{a}_angstrom" for a in XYZ]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if not np.allclose(voxels * voxel_size, angstrom, rtol=1e-3, atol=0.05 * voxel_size, equal_nan=True):
        logger.warning(
            "%s: x/y/z (voxels) × %g Å do not match x_angstrom/y_angstrom/z_angstrom; using the voxel "
            "columns. Check the voxel size", path, voxel_size,
        )
