"""Picks and ground truth as JSON: copick picks files (Å) and CZ cryoET Data Portal ndjson (voxels)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._shared import UnpickInputError
from ._atomic import atomic_write
from ._copick import copick_name
from ._names import strip_rec
from ._table import (
    XYZ,
    check_picks,
    finish_table,
    json_score,
    optional_voxel_size,
    require_file,
    single_voxel_size,
)

logger = logging.getLogger(__name__)

_IDENTITY_4 = np.eye(4).tolist()


def write_picks_copick(
    path: str | os.PathLike,
    picks: pd.DataFrame,
    *,
    object_name: str,
    user_id: str = "unpick",
    session_id: str = "0",
) -> Path:
    """Write a picks table as a copick picks JSON file, atomically (plain JSON, no copick needed).

    Each point has ``location`` in Å from the volume corner (voxel coordinate × voxel size, so the
    centre of voxel 0 is at 0 Å), an identity ``transformation_`` (orientation unknown, hence
    ``trust_orientation: false``), ``instance_id`` 0 and the pick's ``score``. copick builds file names
    as ``{user_id}_{session_id}_{object_name}.json``, so underscores in the three names are replaced
    by ``-`` (with a warning).

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.json`` file.
    picks : pandas.DataFrame
        Picks table of one tomogram from :func:`unpick._shared.make_picks`.
    object_name : str
        copick pickable object name (e.g. ``"ribosome"``).
    user_id, session_id : str
        copick user and session; ``session_id="0"`` marks picks made by a tool.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    picks = check_picks(picks)
    voxel_size = single_voxel_size(picks, fmt="a copick picks file")
    names = sorted({strip_rec(str(n)) for n in picks.get("tomogram", pd.Series(dtype=object))} - {""})
    if len(names) > 1:
        raise UnpickInputError(
            f"picks: a copick picks file belongs to one run, got tomograms {', '.join(names)}; "
            f"write one file per tomogram"
        )
    scores = picks["score"].to_numpy(dtype=float) if "score" in picks.columns else np.ones(len(picks))
    coords = picks[list(XYZ)].to_numpy(dtype=float) * (voxel_size or 1.0)
    document = {
        "pickable_object_name": _copick_name(object_name, "object_name"),
        "user_id": _copick_name(user_id, "user_id"),
        "session_id": _copick_name(session_id, "session_id"),
        "run_name": names[0] if names else None,
        "voxel_spacing": voxel_size,
        "unit": "angstrom",
        "points": [
            {"location": dict(zip(XYZ, map(float, xyz), strict=True)), "transformation_": _IDENTITY_4,
             "instance_id": 0, "score": json_score(score)}
            for xyz, score in zip(coords, scores, strict=True)
        ],
        "trust_orientation": False,
    }
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(document, handle, allow_nan=False)
    logger.debug("%s: wrote %d copick points", path, len(coords))
    return path


def read_picks_copick(path: str | os.PathLike, *, voxel_size_angstrom: float | None = None) -> pd.DataFrame:
    """Read a copick picks JSON file; locations in Å become voxels.

    A point's position is ``location`` plus the translation column of its ``transformation_`` (copick's
    convention), divided by the voxel size.

    Parameters
    ----------
    path : str or os.PathLike
        copick picks ``.json`` file.
    voxel_size_angstrom : float, optional
        Voxel size (Å) of the tomogram the coordinates should refer to; defaults to the file's
        ``voxel_spacing``.

    Returns
    -------
    pandas.DataFrame
        Float ``x, y, z`` in voxels, ``class`` (``pickable_object_name``), ``score``, ``instance_id``
        and ``tomogram`` (``run_name``, when set).
    """
    path = require_file(path, what="copick picks JSON")
    document = _load_json(path)
    if not isinstance(document, dict) or not isinstance(document.get("points", []), (list, type(None))):
        raise UnpickInputError(
            f"{path}: expected a copick picks object with a 'points' list, got {type(document).__name__}"
        )
    unit = document.get("unit", "angstrom")
    if unit != "angstrom":
        raise UnpickInputError(f"{path}: copick unit {unit!r} is not supported; expected 'angstrom'")
    voxel_size = optional_voxel_size(voxel_size_angstrom)
    if voxel_size is None:
        voxel_size = optional_voxel_size(document.get("voxel_spacing"), name=f"{path}: voxel_spacing")
    if voxel_size is None:
        raise UnpickInputError(f"{path}: no voxel_spacing in the file; pass voxel_size_angstrom (--voxel-size) in Å")
    rows = [_copick_point(point, i, path) for i, point in enumerate(document.get("points") or [])]
    frame = pd.DataFrame(rows, columns=[*XYZ, "score", "instance_id"])
    frame[list(XYZ)] = frame[list(XYZ)] / voxel_size
    frame["class"] = str(document.get("pickable_object_name", ""))
    if document.get("run_name"):
        frame["tomogram"] = str(document["run_name"])
    return finish_table(frame, path, source="copick")


def write_picks_ndjson(path: str | os.PathLike, picks: pd.DataFrame) -> Path:
    """Write picks as CZ cryoET Data Portal ndjson: one ``point`` per line, atomically.

    Each line is ``{"type": "point", "location": {"x", "y", "z"}, "score"}`` with the location in
    voxels. unpick's picks carry no orientation, so they are the portal's ``point`` annotations,
    not ``orientedPoint`` (which would claim an identity rotation).

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.ndjson`` file.
    picks : pandas.DataFrame
        Picks table from :func:`unpick._shared.make_picks`.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    picks = check_picks(picks, need_voxel_size=False)
    scores = picks["score"].to_numpy(dtype=float) if "score" in picks.columns else np.ones(len(picks))
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for xyz, score in zip(picks[list(XYZ)].to_numpy(dtype=float), scores, strict=True):
            line = {"type": "point", "location": dict(zip(XYZ, map(float, xyz), strict=True)),
                    "score": json_score(score)}
            handle.write(json.dumps(line, allow_nan=False) + "\n")
    logger.debug("%s: wrote %d points", path, len(picks))
    return path


def read_picks_ndjson(path: str | os.PathLike) -> pd.DataFrame:
    """Read CZ cryoET Data Portal ndjson points (``location`` in voxels); blank lines are skipped.

    Returns
    -------
    pandas.DataFrame
        Float ``x, y, z`` in voxels, and ``score`` when any line has one.
    """
    path = require_file(path, what="ndjson")
    rows = []
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [(number, text) for number, text in enumerate(handle, start=1) if text.strip()]
    except UnicodeDecodeError as err:
        raise UnpickInputError(f"{path}: not a text ndjson file ({err})") from err
    for number, text in lines:
        try:
            point = json.loads(text)
        except json.JSONDecodeError as err:
            raise UnpickInputError(f"{path}: line {number} is not JSON ({err}); expected one object per line") from err
        xyz = _location(point, f"line {number}", path)  # also checks that point is an object
        rows.append([*xyz, point.get("score")])
    frame = pd.DataFrame(rows, columns=[*XYZ, "score"])
    if frame["score"].isna().all():
        frame = frame.drop(columns="score")
    return finish_table(frame, path, source="ndjson")


def _copick_name(value: str, what: str) -> str:
    """A copick name (``copick_name``), with a warning when characters had to be replaced."""
    value = str(value)
    if not value:
        raise UnpickInputError(f"{what}: expected a non-empty copick name, got {value!r}")
    fixed = copick_name(value)
    if fixed != value:
        logger.warning("%s %r contains characters copick refuses ('_' is its separator); writing %r", what, value, fixed)
    return fixed


def _load_json(path: Path) -> Any:
    """Parse a JSON file, mapping parse errors to UnpickInputError."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UnpickInputError(f"{path}: cannot parse as JSON ({err}); expected a copick picks file") from err


def _copick_point(point: Any, index: int, path: Path) -> list:
    """``[x, y, z, score, instance_id]`` of one copick point, location plus transformation shift (Å)."""
    xyz = _location(point, f"point {index}", path)
    shift = np.asarray(point.get("transformation_") or _IDENTITY_4, dtype=float)
    if shift.shape != (4, 4):
        raise UnpickInputError(f"{path}: point {index} transformation_ has shape {shift.shape}, expected 4x4")
    xyz = [v + shift[i, 3] for i, v in enumerate(xyz)]
    return xyz + [point.get("score", 1.0), point.get("instance_id", 0)]


def _location(point: Any, where: str, path: Path) -> list:
    """The ``location`` {x, y, z} of a point as a list; missing keys are an error naming them."""
    location = point.get("location") if isinstance(point, dict) else None
    if not isinstance(location, dict) or any(axis not in location for axis in XYZ):
        found = sorted(location) if isinstance(location, dict) else sorted(point) if isinstance(point, dict) else point
        raise UnpickInputError(f"{path}: {where} has no location {{x, y, z}}; found {found}")
    try:
        return [float(location[axis]) for axis in XYZ]
    except (TypeError, ValueError) as err:
        raise UnpickInputError(f"{path}: {where} location {location} is not numeric; expected numbers") from err
