"""Format dispatch by file suffix: write picks in any format, read ground truth from any format."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .._shared import UnpickInputError
from ._csv import read_picks_csv, write_picks_csv
from ._json import (
    read_picks_copick,
    read_picks_ndjson,
    write_picks_copick,
    write_picks_ndjson,
)
from ._star import read_picks_star, write_picks_star

PICKS_SUFFIXES = (".csv", ".tsv", ".star", ".json", ".ndjson")
TRUTH_SUFFIXES = (".csv", ".tsv", ".txt", ".star", ".json", ".ndjson", ".jsonl")


def write_picks(
    path: str | os.PathLike,
    picks: pd.DataFrame,
    *,
    volume_shape_zyx: tuple[int, int, int] | None = None,
    object_name: str = "particle",
) -> Path:
    """Write a picks table in the format given by the suffix of ``path``.

    ``.csv``/``.tsv``: :func:`write_picks_csv`; ``.star``: :func:`write_picks_star` (needs
    ``volume_shape_zyx``, (Z, Y, X) in voxels); ``.json``: :func:`write_picks_copick` with
    ``object_name``; ``.ndjson``: :func:`write_picks_ndjson`.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return write_picks_csv(path, picks)
    if suffix == ".star":
        if volume_shape_zyx is None:
            raise UnpickInputError(
                f"{path}: STAR output needs the tomogram size for centred coordinates; pass volume_shape_zyx"
            )
        return write_picks_star(path, picks, volume_shape_zyx=volume_shape_zyx)
    if suffix == ".json":
        return write_picks_copick(path, picks, object_name=object_name)
    if suffix == ".ndjson":
        return write_picks_ndjson(path, picks)
    raise UnpickInputError(
        f"{path}: unknown picks format {suffix or '(no suffix)'!r}; expected one of {', '.join(PICKS_SUFFIXES)}"
    )


def read_truth(
    path: str | os.PathLike,
    *,
    voxel_size_angstrom: float | None = None,
    volume_shape_zyx: tuple[int, int, int] | None = None,
    classes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read ground-truth (or picked) coordinates in the format given by the suffix of ``path``.

    ``.csv``/``.tsv``/``.txt``: :func:`read_picks_csv`; ``.star``: :func:`read_picks_star`;
    ``.json``: :func:`read_picks_copick`; ``.ndjson``/``.jsonl``: :func:`read_picks_ndjson`.

    Parameters
    ----------
    path : str or os.PathLike
        Ground-truth file.
    voxel_size_angstrom : float, optional
        Voxel size in Å, for files with coordinates in Å.
    volume_shape_zyx : tuple of int, optional
        ``(Z, Y, X)`` tomogram size in voxels, for RELION 5 centred STAR coordinates.
    classes : sequence of str, optional
        Keep only rows whose ``class`` is one of these; a class absent from the file is an error
        listing the classes present.

    Returns
    -------
    pandas.DataFrame
        Float ``x, y, z`` in voxels plus the ``class``, ``radius_angstrom``, ``score`` (and other)
        columns the file has.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        truth = read_picks_csv(path, voxel_size_angstrom=voxel_size_angstrom)
    elif suffix == ".star":
        truth = read_picks_star(path, voxel_size_angstrom=voxel_size_angstrom, volume_shape_zyx=volume_shape_zyx)
    elif suffix == ".json":
        truth = read_picks_copick(path, voxel_size_angstrom=voxel_size_angstrom)
    elif suffix in (".ndjson", ".jsonl"):
        truth = read_picks_ndjson(path)
    else:
        raise UnpickInputError(
            f"{path}: unknown ground-truth format {suffix or '(no suffix)'!r}; "
            f"expected one of {', '.join(TRUTH_SUFFIXES)}"
        )
    return truth if classes is None else _select_classes(truth, classes, path)


def _select_classes(truth: pd.DataFrame, classes: Sequence[str], path: Path) -> pd.DataFrame:
    """Rows of ``truth`` whose class is in ``classes``."""
    if isinstance(classes, str):
        classes = [classes]
    if "class" not in truth.columns:
        raise UnpickInputError(
            f"{path}: has no class column (found {', '.join(map(str, truth.columns))}); "
            f"drop the class filter or use a file with classes"
        )
    present = sorted(set(truth["class"]))
    unknown = [c for c in map(str, classes) if c not in present]
    if unknown:
        raise UnpickInputError(
            f"{path}: class(es) {', '.join(unknown)} not found; the file has {', '.join(present) or 'none'}"
        )
    return truth[truth["class"].isin([str(c) for c in classes])].reset_index(drop=True)
