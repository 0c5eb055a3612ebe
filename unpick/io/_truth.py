"""Format dispatch by file suffix: write picks in any format, read ground truth from any format."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .._shared import UnpickInputError, check_positive
from ._csv import read_picks_csv, write_picks_csv
from ._json import (
    read_picks_copick,
    read_picks_ndjson,
    write_picks_copick,
    write_picks_ndjson,
)
from ._names import strip_rec
from . import _points as points
from ._star import RELION4_SUFFIX, read_picks_star, write_picks_star

logger = logging.getLogger(__name__)

PICKS_SUFFIXES = (".csv", ".tsv", ".star", ".json", ".ndjson", ".tbl", ".mod", points.IMOD_SUFFIX)
TRUTH_SUFFIXES = (".csv", ".tsv", ".txt", ".star", ".json", ".ndjson", ".jsonl", ".tbl", ".mod", ".coords")


def write_picks(
    path: str | os.PathLike,
    picks: pd.DataFrame,
    *,
    volume_shape_zyx: tuple[int, int, int] | None = None,
    object_name: str = "particle",
) -> Path:
    """Write a picks table in the format given by the suffix of ``path``.

    ``.csv``/``.tsv``: :func:`write_picks_csv`; ``.star``: :func:`write_picks_star` (needs
    ``volume_shape_zyx``, (Z, Y, X) in voxels; a name ending ``_relion4.star`` gets RELION 4 /
    Warp pixel coordinates); ``.json``: :func:`write_picks_copick` with
    ``object_name``; ``.ndjson``: :func:`write_picks_ndjson`; ``.tbl``: :func:`write_picks_dynamo`;
    ``.mod``: :func:`write_picks_imod_model`; a name ending ``_imod.txt``: :func:`write_picks_imod_points`.

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
        pixels = path.name.endswith(RELION4_SUFFIX)
        return write_picks_star(path, picks, volume_shape_zyx=volume_shape_zyx, pixel_coordinates=pixels)
    if suffix == ".json":
        return write_picks_copick(path, picks, object_name=object_name)
    if suffix == ".ndjson":
        return write_picks_ndjson(path, picks)
    if suffix == ".tbl":
        return points.write_picks_dynamo(path, picks)
    if suffix == ".mod":
        return points.write_picks_imod_model(path, picks)
    if path.name.endswith(points.IMOD_SUFFIX):
        return points.write_picks_imod_points(path, picks)
    raise UnpickInputError(
        f"{path}: unknown picks format {suffix or '(no suffix)'!r}; expected one of {', '.join(PICKS_SUFFIXES)}"
    )


def read_truth(
    path: str | os.PathLike,
    *,
    voxel_size_angstrom: float | None = None,
    volume_shape_zyx: tuple[int, int, int] | None = None,
    tomogram: str | None = None,
    coordinates_voxel_size_angstrom: float | None = None,
) -> pd.DataFrame:
    """Read ground-truth (or picked) coordinates in the format given by the suffix of ``path``.

    Coordinates in another frame are not scored silently: with ``volume_shape_zyx``, a file with
    most points outside the tomogram is an error, and a few outside a WARNING, each naming how
    many and the likely cause (Å read as voxels, unbinned pixels).

    ``.csv``/``.tsv``/``.txt``: :func:`read_picks_csv` (a ``.txt`` of bare numbers is an IMOD
    point list, :func:`read_picks_imod_points`); ``.tbl``: :func:`read_picks_dynamo`;
    ``.mod``: :func:`read_picks_imod_model`; ``.coords`` (crYOLO, EMAN2): ``x y z`` voxels per
    line, centres at whole numbers; ``.star``: :func:`read_picks_star`;
    ``.json``: :func:`read_picks_copick`; ``.ndjson``/``.jsonl``: :func:`read_picks_ndjson`.

    Parameters
    ----------
    path : str or os.PathLike
        Ground-truth file.
    voxel_size_angstrom : float, optional
        Voxel size in Å, for files with coordinates in Å.
    volume_shape_zyx : tuple of int, optional
        ``(Z, Y, X)`` tomogram size in voxels, for RELION 5 centred STAR coordinates.
    coordinates_voxel_size_angstrom : float, optional
        The voxel size (Å) the file's voxel coordinates refer to, when not the tomogram's (a CZ
        portal ndjson at its annotation's voxel spacing, picks of an unbinned tomogram): they
        are rescaled to ``voxel_size_angstrom``, which is then required.
    tomogram : str, optional
        The tomogram scored: a file holding several tomograms (``rlnTomoName``, a ``tomogram``
        column; a data set's ``particles.star``) keeps only its rows (a leading ``rec_`` is
        ignored), and one without it is an error listing those it has.

    Returns
    -------
    pandas.DataFrame
        Float ``x, y, z`` in voxels plus the ``class``, ``radius_angstrom``, ``score`` (and other)
        columns the file has; ``unpick.evaluate.select_classes`` keeps the rows of some classes.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".txt" and path.is_file() and points.is_point_list(path):
        truth = points.read_picks_imod_points(path)
    elif suffix in (".csv", ".tsv", ".txt"):
        truth = read_picks_csv(path, voxel_size_angstrom=voxel_size_angstrom)
    elif suffix == ".tbl":
        truth = points.read_picks_dynamo(path)
    elif suffix == ".mod":
        truth = points.read_picks_imod_model(path)
    elif suffix == ".coords":
        truth = points.read_picks_imod_points(path, offset=(0.0, 0.0, 0.0))
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
    if coordinates_voxel_size_angstrom is not None:
        truth = _rescale(truth, coordinates_voxel_size_angstrom, voxel_size_angstrom, path)
    if tomogram is not None:
        truth = _select_tomogram(truth, tomogram, path)
    if volume_shape_zyx is not None:
        check_truth_frame(truth, path, volume_shape_zyx=volume_shape_zyx, voxel_size_angstrom=voxel_size_angstrom)
    return truth


#: Points this far (voxels) outside the volume still count as inside (centroids of edge particles).
FRAME_MARGIN_VOXELS = 1.0


def check_truth_frame(
    truth: pd.DataFrame,
    path: str | os.PathLike,
    *,
    volume_shape_zyx: tuple[int, int, int],
    voxel_size_angstrom: float | None = None,
) -> None:
    """Raise when most points of ``truth`` lie outside the tomogram, warn when some do,
    naming the file, how many, and the likely frame mix-up (an empty table passes)."""
    if len(truth) == 0:
        return
    size = np.array([volume_shape_zyx[2], volume_shape_zyx[1], volume_shape_zyx[0]], dtype=float)  # x, y, z
    xyz = truth[["x", "y", "z"]].to_numpy(dtype=float)
    inside = np.all((xyz >= -0.5 - FRAME_MARGIN_VOXELS) & (xyz <= size - 0.5 + FRAME_MARGIN_VOXELS), axis=1)
    outside = int((~inside).sum())
    if outside == 0:
        return
    shape = "x".join(str(int(n)) for n in size)
    message = f"{path}: {outside} of {len(truth)} points lie outside the {shape} (x, y, z) voxel tomogram"
    cause = _likely_frame(xyz, size, voxel_size_angstrom)
    if outside <= len(truth) / 2:  # a few particles beyond the edge: scored, but said
        logger.warning("%s; they cannot be matched%s", message, f" ({cause})" if cause else "")
        return
    raise UnpickInputError(f"{message}{f'; {cause}' if cause else '; check the coordinate frame and units'}")


def _likely_frame(xyz: np.ndarray, size: np.ndarray, voxel_size: float | None) -> str:
    """A guess at why points fall outside: Å read as voxels, or pixels of an unbinned tomogram."""
    extent = np.percentile(np.abs(xyz), 99, axis=0) / size
    if voxel_size and voxel_size > 1.5 and 0.6 * voxel_size <= np.max(extent) <= 1.05 * voxel_size:
        return (
            f"they fit once divided by the voxel size {voxel_size:g} Å: the coordinates look like Å read as voxels; "
            f"give Å columns (x_angstrom...) or convert the file"
        )
    factor = float(np.max(extent))
    if factor > 1.5:
        binning = int(2 ** round(np.log2(factor)))
        return (
            f"they reach {factor:.1f}x the tomogram size: pixels of a tomogram binned {binning}x less? divide the "
            f"coordinates by the binning, or pass the voxel size the coordinates were picked at"
        )
    if np.any(xyz < -0.5 - FRAME_MARGIN_VOXELS) and np.all(np.abs(xyz) <= size):
        return "some are negative: coordinates centred on the tomogram (RELION 5)? use a STAR file with rlnCenteredCoordinate*Angst"
    return ""


def _rescale(truth: pd.DataFrame, source: float, target: float | None, path: Path) -> pd.DataFrame:
    """Voxel coordinates at ``source`` Å per voxel as voxels of ``target`` Å (centres stay centres:
    voxel 0 of both is the volume corner's centre)."""
    source = check_positive(source, "coordinates voxel size", unit="Å")
    if target is None:
        raise UnpickInputError(f"{path}: rescaling coordinates from {source:g} Å voxels needs the tomogram's voxel size")
    factor = source / check_positive(target, "voxel_size_angstrom", unit="Å")
    logger.info("%s: coordinates in %g Å voxels scaled by %.4g to the tomogram's %g Å voxels", path, source, factor, target)
    return truth.assign(**{axis: truth[axis] * factor for axis in ("x", "y", "z")})


def _select_tomogram(truth: pd.DataFrame, tomogram: str, path: Path) -> pd.DataFrame:
    """The rows of ``tomogram`` when ``truth`` holds several tomograms (names compared without ``rec_``)."""
    if "tomogram" not in truth.columns:
        return truth
    names = truth["tomogram"].astype(str).map(strip_rec)
    present = sorted(set(names) - {"", "nan"})
    if len(present) <= 1:
        return truth
    wanted = strip_rec(str(tomogram))
    if wanted not in present:
        listed = ", ".join(present[:8]) + (", ..." if len(present) > 8 else "")
        raise UnpickInputError(
            f"{path}: holds {len(present)} tomograms ({listed}) and none is {wanted!r}; name the tomogram "
            f"(--tomogram) or split the file per tomogram"
        )
    kept = truth[names == wanted].reset_index(drop=True)
    logger.info("%s: kept the %d of %d rows of tomogram %s", path, len(kept), len(truth), wanted)
    return kept
