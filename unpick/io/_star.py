"""Picks and ground truth as RELION STAR files (RELION 5 centred Å, or RELION 3/4 pixel coordinates)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from .._shared import UnpickInputError, check_shape
from ._atomic import atomic_write
from ._names import strip_rec
from ._table import (
    XYZ,
    check_picks,
    finish_table,
    optional_voxel_size,
    require_file,
)

logger = logging.getLogger(__name__)

_CENTRED = {a: f"rlnCenteredCoordinate{a.upper()}Angst" for a in XYZ}
_PIXEL = {a: f"rlnCoordinate{a.upper()}" for a in XYZ}
_ORIGIN_ANGSTROM = {a: f"rlnOrigin{a.upper()}Angst" for a in XYZ}
_PIXEL_SIZE_LABELS = ("rlnTomoTiltSeriesPixelSize", "rlnPixelSize", "rlnImagePixelSize")
_SCORE_LABELS = ("rlnAutopickFigureOfMerit", "rlnLCCmax")


#: File-name ending of a RELION 4 / Warp STAR file with pixel coordinates (``--formats relion4``).
RELION4_SUFFIX = "_relion4.star"


def write_picks_star(
    path: str | os.PathLike,
    picks: pd.DataFrame,
    *,
    volume_shape_zyx: tuple[int, int, int],
    pixel_coordinates: bool = False,
) -> Path:
    """Write a picks table as a self-describing RELION particle STAR file, atomically.

    Block ``optics``: one optics group per tomogram (``rlnOpticsGroup``, ``rlnOpticsGroupName`` =
    the tomogram name, ``rlnImagePixelSize`` = the voxel size in Å of the tomogram the picks were
    made on), so a merged file of 10 Å and 12 Å tomograms keeps each row's pixel size. Block
    ``particles``: ``rlnTomoName`` (the picks' ``tomogram`` without a leading ``rec_``),
    ``rlnOpticsGroup``, the coordinates and ``rlnAutopickFigureOfMerit`` (the score).

    RELION 5 (default): ``rlnCenteredCoordinateXAngst/YAngst/ZAngst``, following RELION's
    convention that the tomogram centre is voxel ``size / 2`` on each axis (integer voxel ``50``
    for 100 voxels): ``x_centred = (x - size_x / 2) * voxel_size`` in Å, likewise for y and z.
    ``pixel_coordinates=True`` (RELION 3/4, Warp): ``rlnCoordinateX/Y/Z`` in voxels of that
    tomogram and ``rlnMicrographName`` ``<tomogram>.tomostar``. Values have 6 decimals.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.star`` file.
    picks : pandas.DataFrame
        Picks table from :func:`unpick._shared.make_picks` (x, y, z in voxels).
    volume_shape_zyx : tuple of int
        ``(Z, Y, X)`` size of the tomogram in voxels.
    pixel_coordinates : bool
        RELION 3/4 pixel coordinates instead of RELION 5 centred Å.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    picks = check_picks(picks)
    size = dict(zip(("z", "y", "x"), check_shape(volume_shape_zyx), strict=True))
    voxel_size = picks["voxel_size_angstrom"].to_numpy(dtype=float)
    names = picks["tomogram"].astype(str) if "tomogram" in picks.columns else pd.Series([""] * len(picks))
    names = [strip_rec(n) for n in names]
    groups = {name: i + 1 for i, name in enumerate(dict.fromkeys(names))}
    sizes = {name: float(v) for name, v in zip(names, voxel_size)}
    optics = pd.DataFrame(
        {
            "rlnOpticsGroup": list(groups.values()),
            "rlnOpticsGroupName": [name or f"opticsGroup{i}" for name, i in groups.items()],
            "rlnImagePixelSize": [sizes[name] for name in groups],
        }
    )
    table = pd.DataFrame({"rlnTomoName": names}, dtype=object)
    if pixel_coordinates:
        table["rlnMicrographName"] = [f"{n}.tomostar" for n in names]
    table["rlnOpticsGroup"] = [groups[n] for n in names]
    for axis in XYZ:
        values = picks[axis].to_numpy(dtype=float)
        if pixel_coordinates:
            table[_PIXEL[axis]] = values
        else:
            table[_CENTRED[axis]] = (values - size[axis] / 2) * voxel_size
    score = picks["score"].to_numpy(dtype=float) if "score" in picks.columns else np.ones(len(picks))
    table["rlnAutopickFigureOfMerit"] = score
    with atomic_write(path) as tmp:
        starfile.write({"optics": optics, "particles": table}, tmp, float_format="%.6f")
    logger.debug("%s: wrote %d picks", path, len(table))
    return path


def read_picks_star(
    path: str | os.PathLike,
    *,
    voxel_size_angstrom: float | None = None,
    volume_shape_zyx: tuple[int, int, int] | None = None,
) -> pd.DataFrame:
    """Read picks or ground truth from a RELION STAR file.

    The particle block is the block named ``particles`` or else the first block with coordinates.
    RELION 5 ``rlnCenteredCoordinate{X,Y,Z}Angst`` become voxels as ``x = x_centred / voxel_size
    + size_x / 2`` (the inverse of :func:`write_picks_star`); this needs ``volume_shape_zyx`` and
    a voxel size, taken from the argument or else from ``rlnTomoTiltSeriesPixelSize``,
    ``rlnPixelSize`` or ``rlnImagePixelSize`` in the file (the tilt-series pixel size equals the
    tomogram voxel size only for unbinned tomograms: pass the voxel size for binned ones). RELION 3/4
    ``rlnCoordinate{X,Y,Z}`` are voxels already. Non-zero shifts ``rlnOrigin{X,Y,Z}Angst`` are subtracted
    (they too need the voxel size).

    Parameters
    ----------
    path : str or os.PathLike
        STAR file, possibly with several data blocks (e.g. ``optics`` and ``particles``).
    voxel_size_angstrom : float, optional
        Tomogram voxel size in Å.
    volume_shape_zyx : tuple of int, optional
        ``(Z, Y, X)`` tomogram size in voxels; needed for centred coordinates.

    Returns
    -------
    pandas.DataFrame
        Float ``x, y, z`` in voxels, plus ``score`` (from ``rlnAutopickFigureOfMerit`` or
        ``rlnLCCmax``), ``tomogram`` (``rlnTomoName``) and ``class`` (``rlnClassNumber``) when present.
    """
    path = require_file(path, what="STAR")
    override = optional_voxel_size(voxel_size_angstrom)
    blocks = _read_blocks(path)
    particles = _particle_block(blocks, path)
    centred = all(label in particles.columns for label in _CENTRED.values())
    has_origin = all(label in particles.columns for label in _ORIGIN_ANGSTROM.values()) and bool(
        particles[list(_ORIGIN_ANGSTROM.values())].apply(pd.to_numeric, errors="coerce").abs().to_numpy().any()
    )
    voxel_size: float | np.ndarray | None = override
    if centred or has_origin:
        voxel_size = override if override is not None else _file_voxel_size(blocks, particles, path)
    result = pd.DataFrame(index=particles.index)
    if centred:
        if volume_shape_zyx is None:
            raise UnpickInputError(
                f"{path}: RELION 5 centred coordinates (rlnCenteredCoordinate*Angst) need the tomogram "
                f"size; pass volume_shape_zyx (Z, Y, X) in voxels"
            )
        size = dict(zip(("z", "y", "x"), check_shape(volume_shape_zyx), strict=True))
        for axis in XYZ:
            result[axis] = _numbers(particles, _CENTRED[axis], path) / voxel_size + size[axis] / 2
    else:
        for axis in XYZ:
            result[axis] = _numbers(particles, _PIXEL[axis], path)
    if has_origin:
        _refuse_rotated_origins(particles, path)
        for axis in XYZ:
            result[axis] -= _numbers(particles, _ORIGIN_ANGSTROM[axis], path) / voxel_size
    score_label = next((s for s in _SCORE_LABELS if s in particles.columns), None)
    if score_label is not None:
        result["score"] = particles[score_label]
    if "rlnTomoName" in particles.columns:
        result["tomogram"] = particles["rlnTomoName"].astype(str)
    if "rlnClassNumber" in particles.columns:
        result["class"] = particles["rlnClassNumber"]
    return finish_table(result, path, source="STAR")


def _refuse_rotated_origins(particles: pd.DataFrame, path: Path) -> None:
    """Origin shifts of RELION 5 particles with a subtomogram rotation (``rlnTomoSubtomogram{Rot,
    Tilt,Psi}``) lie in the rotated subtomogram frame; subtracting them as tomogram axes would
    misplace every particle, so such a file is refused rather than read wrong."""
    labels = [f"rlnTomoSubtomogram{angle}" for angle in ("Rot", "Tilt", "Psi")]
    present = [label for label in labels if label in particles.columns]
    if present and particles[present].apply(pd.to_numeric, errors="coerce").abs().to_numpy().max() > 1e-6:
        raise UnpickInputError(
            f"{path}: rlnOrigin*Angst shifts are in subtomogram frames rotated by {', '.join(present)}; unpick does "
            f"not rotate them: apply the shifts to the centred coordinates first, or drop the rlnOrigin columns "
            f"for positions good to the shift"
        )


def _read_blocks(path: Path) -> dict[str, pd.DataFrame]:
    """All data blocks of a STAR file as DataFrames (simple blocks become one row)."""
    try:
        raw = starfile.read(path, always_dict=True)
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as err:
        raise UnpickInputError(f"{path}: cannot parse as a STAR file ({type(err).__name__}: {err})") from err
    blocks = {name: block if isinstance(block, pd.DataFrame) else pd.DataFrame([block])
              for name, block in raw.items()}
    if not blocks:
        raise UnpickInputError(f"{path}: no STAR data blocks found; expected a RELION particle STAR file")
    return blocks


def _particle_block(blocks: dict[str, pd.DataFrame], path: Path) -> pd.DataFrame:
    """The ``particles`` block, else the first block holding coordinate columns."""
    def has_coordinates(block: pd.DataFrame) -> bool:
        return any(all(label in block.columns for label in labels.values()) for labels in (_CENTRED, _PIXEL))

    if "particles" in blocks and has_coordinates(blocks["particles"]):
        return blocks["particles"]
    for block in blocks.values():
        if has_coordinates(block):
            return block
    found = "; ".join(f"data_{name}: {', '.join(map(str, b.columns)) or 'no columns'}" for name, b in blocks.items())
    raise UnpickInputError(
        f"{path}: no block has coordinates (rlnCenteredCoordinate{{X,Y,Z}}Angst or rlnCoordinate{{X,Y,Z}}); "
        f"found {found}"
    )


def _file_voxel_size(blocks: dict[str, pd.DataFrame], particles: pd.DataFrame, path: Path) -> float | np.ndarray:
    """The pixel size the file records for each particle: a particle column, else the optics
    group of each row (``rlnOpticsGroup``), else the one value of any block."""
    for label in _PIXEL_SIZE_LABELS:
        per_row = None
        if label in particles.columns:
            per_row, source = pd.to_numeric(particles[label], errors="coerce").to_numpy(dtype=float), "particles"
        else:
            for name, block in blocks.items():
                if label in block.columns and "rlnOpticsGroup" in block.columns and "rlnOpticsGroup" in particles.columns:
                    table = dict(zip(block["rlnOpticsGroup"].astype(str), pd.to_numeric(block[label], errors="coerce")))
                    groups = particles["rlnOpticsGroup"].astype(str)
                    unknown = sorted(set(groups) - set(table))
                    if unknown:
                        raise UnpickInputError(
                            f"{path}: particles of optics group(s) {', '.join(unknown[:5])} have no {label} in data_{name}"
                        )
                    per_row, source = groups.map(table).to_numpy(dtype=float), f"data_{name} by rlnOpticsGroup"
                    break
        if per_row is not None:
            if not (np.isfinite(per_row).all() and (per_row > 0).all()):
                raise UnpickInputError(f"{path}: {label} ({source}) holds non-positive or missing pixel sizes")
            _log_file_voxel_size(path, label, np.unique(per_row), source)
            return per_row
        for name, block in sorted(blocks.items(), key=lambda item: item[0] != "particles"):
            if label in block.columns:
                values = np.unique(pd.to_numeric(block[label], errors="coerce").to_numpy(dtype=float))
                if len(values) == 1 and np.isfinite(values[0]) and values[0] > 0:
                    _log_file_voxel_size(path, label, values, f"data_{name}")
                    return float(values[0])
                raise UnpickInputError(
                    f"{path}: {label} in data_{name} holds {len(values)} values ({values[:5]}), expected one "
                    f"positive pixel size; pass voxel_size_angstrom (--voxel-size) in Å"
                )
    raise UnpickInputError(
        f"{path}: coordinates are in Å and the file records no pixel size ({', '.join(_PIXEL_SIZE_LABELS)}); "
        f"pass voxel_size_angstrom (--voxel-size) in Å"
    )


def _log_file_voxel_size(path: Path, label: str, values: np.ndarray, source: str) -> None:
    """INFO for the pixel size found, a WARNING when it is the tilt-series pixel size."""
    shown = ", ".join(f"{v:g}" for v in values[:4])
    if label == "rlnTomoTiltSeriesPixelSize":
        logger.warning(
            "%s: voxel size %s Å from %s in %s; that is the tilt-series pixel size, the tomogram's voxel size only "
            "if it is unbinned: pass the voxel size (--voxel-size, voxel_size_angstrom) for a binned tomogram",
            path, shown, label, source,
        )  # fmt: skip
    else:
        logger.info("%s: voxel size %s Å from %s in %s", path, shown, label, source)


def _numbers(block: pd.DataFrame, label: str, path: Path) -> pd.Series:
    """A STAR column as floats; a missing column is an error listing the columns found."""
    if label not in block.columns:
        raise UnpickInputError(f"{path}: column {label} missing; found {', '.join(map(str, block.columns))}")
    return pd.to_numeric(block[label], errors="coerce").astype(float)
