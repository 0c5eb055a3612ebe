"""Reading tomograms (MRC, OME-Zarr / Zarr) and writing them (MRC); reading and writing picks and
ground truth (CSV, TSV, STAR, copick JSON, ndjson, Dynamo .tbl, IMOD models and point lists); tomograms and picks of copick projects.

Coordinates in every table returned or accepted here are ``x, y, z`` in voxels (floats); voxel
``[iz, iy, ix]`` has its centre at ``(ix, iy, iz)``. Every writer is atomic (:func:`atomic_write`).
"""

from ._atomic import atomic_write
from ._copick import (
    CopickTarget,
    CopickTomogram,
    copick_name,
    copick_object_name,
    copick_tomograms,
    read_copick_picks,
    unpick_picks_sets,
    write_copick_picks,
)
from ._csv import read_picks_csv, write_picks_csv
from ._json import (
    read_picks_copick,
    read_picks_ndjson,
    write_picks_copick,
    write_picks_ndjson,
)
from ._mrc import Tomogram, read_tomogram
from ._mrc_write import write_mrc
from ._names import check_tomogram_name, tomogram_name
from ._points import (
    read_picks_dynamo,
    read_picks_imod_model,
    read_picks_imod_points,
    write_picks_dynamo,
    write_picks_imod_model,
    write_picks_imod_points,
)
from ._star import read_picks_star, write_picks_star
from ._truth import read_truth, write_picks
from ._zarr import is_zarr

__all__ = [
    "CopickTarget",
    "CopickTomogram",
    "Tomogram",
    "atomic_write",
    "check_tomogram_name",
    "copick_name",
    "copick_object_name",
    "copick_tomograms",
    "is_zarr",
    "read_copick_picks",
    "read_picks_copick",
    "read_picks_csv",
    "read_picks_dynamo",
    "read_picks_imod_model",
    "read_picks_imod_points",
    "read_picks_ndjson",
    "read_picks_star",
    "read_tomogram",
    "read_truth",
    "tomogram_name",
    "unpick_picks_sets",
    "write_copick_picks",
    "write_mrc",
    "write_picks",
    "write_picks_copick",
    "write_picks_csv",
    "write_picks_dynamo",
    "write_picks_imod_model",
    "write_picks_imod_points",
    "write_picks_ndjson",
    "write_picks_star",
]
