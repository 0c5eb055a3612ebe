"""The picks table: one row per pick, x/y/z in voxels (floats), made once at the edge of the core.

Voxel ``[iz, iy, ix]`` has its centre at ``(x, y, z) = (ix, iy, iz)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._errors import UnpickInputError

PICK_COLUMNS = ("x", "y", "z", "score", "size", "workflow", "tomogram", "voxel_size_angstrom")


def make_picks(
    coords_zyx: Any,
    *,
    voxel_size_angstrom: float,
    score: Any = None,
    size: Any = None,
    workflow: str = "",
    tomogram: str = "",
) -> pd.DataFrame:
    """Build a picks table from ``(N, 3)`` zyx voxel coordinates.

    ``score`` defaults to 1 and ``size`` (voxels in the instance) to 0 when unknown.
    """
    coords = np.asarray(coords_zyx, dtype=np.float64).reshape(-1, 3)
    n = len(coords)
    score_arr = np.ones(n) if score is None else np.asarray(score, dtype=np.float64).reshape(-1)
    size_arr = np.zeros(n, dtype=np.int64) if size is None else np.asarray(size).astype(np.int64).reshape(-1)
    if len(score_arr) != n or len(size_arr) != n:
        raise UnpickInputError(
            f"picks: score/size must have one value per pick ({n}), got {len(score_arr)}/{len(size_arr)}"
        )
    return pd.DataFrame(
        {
            "x": coords[:, 2],
            "y": coords[:, 1],
            "z": coords[:, 0],
            "score": score_arr,
            "size": size_arr,
            "workflow": pd.Series([workflow] * n, dtype=object),
            "tomogram": pd.Series([tomogram] * n, dtype=object),
            "voxel_size_angstrom": np.full(n, float(voxel_size_angstrom)),
        },
        columns=list(PICK_COLUMNS),
    )


def picks_zyx(picks: pd.DataFrame) -> np.ndarray:
    """Return the ``(N, 3)`` float zyx voxel coordinates of a picks (or truth) table."""
    missing = [c for c in ("x", "y", "z") if c not in picks.columns]
    if missing:
        raise UnpickInputError(f"picks table: missing column(s) {', '.join(missing)}; expected x, y, z in voxels")
    return picks[["z", "y", "x"]].to_numpy(dtype=np.float64).reshape(-1, 3)
