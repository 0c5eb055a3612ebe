"""Reading and writing tomograms (MRC) and picks / ground truth (CSV, TSV, STAR, copick JSON, ndjson).

Coordinates in every table returned or accepted here are ``x, y, z`` in voxels (floats); voxel
``[iz, iy, ix]`` has its centre at ``(ix, iy, iz)``. Every writer is atomic (:func:`atomic_write`).
"""

from ._atomic import atomic_write
from ._csv import read_picks_csv, write_picks_csv
from ._json import (
    read_picks_copick,
    read_picks_ndjson,
    write_picks_copick,
    write_picks_ndjson,
)
from ._mrc import Tomogram, read_tomogram, write_mrc
from ._star import read_picks_star, write_picks_star
from ._truth import read_truth, write_picks

__all__ = [
    "Tomogram",
    "atomic_write",
    "read_picks_copick",
    "read_picks_csv",
    "read_picks_ndjson",
    "read_picks_star",
    "read_tomogram",
    "read_truth",
    "write_mrc",
    "write_picks",
    "write_picks_copick",
    "write_picks_csv",
    "write_picks_ndjson",
    "write_picks_star",
]
