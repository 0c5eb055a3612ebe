"""Picks as the point lists of other tomography tools: Dynamo tables (``.tbl``, through
``dynamotable``), IMOD models (``.mod``, through ``imodmodel``) and IMOD model2point text
(``x y z`` per line).

Both count pixels from the corner of the first one, so unpick's voxel centres (voxel ``[iz, iy,
ix]`` at ``(ix, iy, iz)``) move by half a pixel: a Dynamo table holds ``x + 0.5`` on all three
axes (its voxel centres are semi-integers, the first at 0.5 of pixel ``[1, 1, 1]``); an IMOD
model holds ``x + 0.5`` and ``y + 0.5`` but ``z`` itself (its sections are whole numbers, the
first at 0).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .._shared import UnpickInputError
from ._atomic import atomic_write
from ._table import XYZ, check_picks, finish_table, require_file

logger = logging.getLogger(__name__)

#: Half-pixel offsets of each tool's coordinates over unpick's (x, y, z).
DYNAMO_OFFSET = np.array([0.5, 0.5, 0.5])
IMOD_OFFSET = np.array([0.5, 0.5, 0.0])
#: File-name ending of an IMOD point list written by unpick (``--formats imod``).
IMOD_SUFFIX = "_imod.txt"


def write_picks_dynamo(path: str | os.PathLike, picks: pd.DataFrame, *, tomogram_index: int = 1) -> Path:
    """Write picks as a Dynamo table (``.tbl``) with ``dynamotable``, atomically.

    Columns filled: ``tag`` 1..N, ``aligned_value`` 1, ``x y z`` = unpick voxels + 0.5 (Dynamo
    pixel centres), ``cc`` = the score, ``tomo`` = ``tomogram_index`` (Dynamo's tomogram number in
    a catalogue) and ``apix`` = the voxel size in Å; shifts and angles are 0 (unknown).
    """
    import dynamotable

    path = Path(path)
    picks = check_picks(picks)
    xyz = picks[list(XYZ)].to_numpy(dtype=float) + DYNAMO_OFFSET
    scores = picks["score"].to_numpy(dtype=float) if "score" in picks.columns else np.ones(len(picks))
    table = pd.DataFrame({
        "tag": np.arange(1, len(picks) + 1), "aligned_value": 1, "cc": scores, "tomo": int(tomogram_index),
        "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "apix": picks["voxel_size_angstrom"].to_numpy(dtype=float),
    })  # fmt: skip
    with atomic_write(path) as tmp:
        staged = tmp.with_name(tmp.name + ".tbl")  # dynamotable adds .tbl to a name without it
        dynamotable.write(table, str(staged))
        staged.replace(tmp)
    logger.debug("%s: wrote %d Dynamo particles", path, len(table))
    return path


def read_picks_dynamo(path: str | os.PathLike) -> pd.DataFrame:
    """Read a Dynamo table: position ``x + dx`` (likewise y, z) - 0.5 in unpick voxels, ``score``
    from ``cc``, ``tomogram`` from ``tomo`` and ``class`` when any particle has one."""
    import dynamotable

    path = require_file(path, what="Dynamo table")
    try:
        table = dynamotable.read(str(path))
    except Exception as err:  # dynamotable raises pandas and value errors for a non-table
        raise UnpickInputError(f"{path}: cannot read as a Dynamo table ({type(err).__name__}: {err})") from err
    missing = [c for c in (*XYZ, "dx", "dy", "dz") if c not in table.columns]
    if missing:
        raise UnpickInputError(f"{path}: a Dynamo table needs columns 24-26 (x, y, z); missing {', '.join(missing)}")
    frame = pd.DataFrame(index=table.index)
    for axis, offset in zip(XYZ, DYNAMO_OFFSET):
        frame[axis] = table[axis].astype(float) + table[f"d{axis}"].astype(float) - offset
    frame["score"] = table["cc"].astype(float)
    frame["tomogram"] = table["tomo"].astype(int).astype(str)
    if "class" in table.columns and table["class"].astype(float).any():
        frame["class"] = table["class"].astype(int).astype(str)
    return finish_table(frame, path, source="Dynamo table")


def write_picks_imod_points(path: str | os.PathLike, picks: pd.DataFrame) -> Path:
    """Write picks as an IMOD point list (model2point text: ``x y z`` per line, IMOD model
    coordinates = unpick voxels + (0.5, 0.5, 0)), atomically; ``point2model`` makes a model of it."""
    path = Path(path)
    picks = check_picks(picks, need_voxel_size=False)
    xyz = picks[list(XYZ)].to_numpy(dtype=float) + IMOD_OFFSET
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for x, y, z in xyz:
            handle.write(f"{x:.3f} {y:.3f} {z:.3f}\n")
    logger.debug("%s: wrote %d IMOD points", path, len(picks))
    return path


def write_picks_imod_model(path: str | os.PathLike, picks: pd.DataFrame) -> Path:
    """Write picks as an IMOD model (``.mod``) of scattered points, one contour per pick, with
    ``imodmodel`` (``pip install 'unpick[imod]'``), atomically; coordinates as ``write_picks_imod_points``."""
    imodmodel = _imodmodel(path)
    path = Path(path)
    picks = check_picks(picks, need_voxel_size=False)
    xyz = picks[list(XYZ)].to_numpy(dtype=float) + IMOD_OFFSET
    table = pd.DataFrame({"object_id": 0, "contour_id": np.arange(len(picks)), "x": xyz[:, 0], "y": xyz[:, 1],
                          "z": xyz[:, 2]})  # fmt: skip
    with atomic_write(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # imodmodel 0.1 calls pydantic's deprecated dict()
        imodmodel.write(table, tmp)
    logger.debug("%s: wrote %d IMOD model points", path, len(picks))
    return path


def read_picks_imod_model(path: str | os.PathLike) -> pd.DataFrame:
    """Read the points of an IMOD model (``.mod``, every object and contour) with ``imodmodel``,
    in unpick voxels (IMOD x, y - 0.5; z as is); ``class`` is the object number when there are several."""
    imodmodel = _imodmodel(path)
    path = require_file(path, what="IMOD model")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # imodmodel 0.1 on pydantic 2
            table = imodmodel.read(path)
    except Exception as err:  # imodmodel raises struct and value errors for a non-model
        raise UnpickInputError(f"{path}: cannot read as an IMOD model ({type(err).__name__}: {err})") from err
    frame = pd.DataFrame(table[list(XYZ)].to_numpy(dtype=float) - IMOD_OFFSET, columns=list(XYZ))
    if "object_id" in table.columns and table["object_id"].nunique() > 1:
        frame["class"] = table["object_id"].astype(int).astype(str).to_numpy()
    return finish_table(frame, path, source="IMOD model")


def _imodmodel(path: str | os.PathLike):
    try:
        import imodmodel
    except ImportError as err:
        raise UnpickInputError(
            f"{path}: IMOD models need the imodmodel package; pip install 'unpick[imod]', or convert the model "
            f"with model2point and pass the text file"
        ) from err
    return imodmodel


def is_point_list(path: str | os.PathLike) -> bool:
    """True when the first non-blank line of a text file is 3 to 5 numbers and nothing else
    (model2point output; a CSV has a header)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                return 3 <= len(line.split()) <= 5 and all(_is_number(t) for t in line.split())
    return False


def read_picks_imod_points(path: str | os.PathLike, *, offset: tuple[float, float, float] | None = None) -> pd.DataFrame:
    """Read an IMOD point list (model2point text): ``x y z``, ``contour x y z`` or ``object
    contour x y z`` per line (the last three numbers are the position), in unpick voxels.

    ``offset`` is subtracted from every position: IMOD's (0.5, 0.5, 0) by default; (0, 0, 0)
    for ``.coords`` lists (crYOLO, EMAN2), taken as voxel centres at whole numbers."""
    path = require_file(path, what="IMOD point list")
    shift = IMOD_OFFSET if offset is None else np.asarray(offset, dtype=float)
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if not 3 <= len(fields) <= 5 or not all(_is_number(t) for t in fields):
                raise UnpickInputError(
                    f"{path}: line {number} is {line.strip()!r}; an IMOD point list has 3 to 5 numbers per line "
                    f"(x y z, contour x y z, or object contour x y z)"
                )
            rows.append([float(t) for t in fields[-3:]])
    xyz = np.asarray(rows, dtype=float).reshape(-1, 3) - shift
    return finish_table(pd.DataFrame(xyz, columns=list(XYZ)), path, source="point list")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
