"""Orthogonal slab views of a tomogram: mean projections through a point, contrast-stretched.

Each view reads only its slab from the volume (a few slices of a memory-mapped MRC), never the
whole array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._shared import UnpickInputError, check_volume

VIEW_AXES = {"xy": 0, "xz": 1, "yz": 2}  # view name -> the (Z, Y, X) axis averaged over
LOW_PERCENTILE, HIGH_PERCENTILE = 1.0, 99.0


def slab_bounds(center: int, thickness: int, size: int) -> tuple[int, int]:
    """Half-open index range ``[i0, i1)`` of a ``thickness``-voxel slab centred on ``center``.

    The slab is shifted (not shrunk) to stay inside ``[0, size)``; it is shrunk only when
    ``thickness > size``.
    """
    thickness = min(int(thickness), size)
    i0 = min(max(int(center) - thickness // 2, 0), size - thickness)
    return i0, i0 + thickness


def stretch_contrast(
    image: np.ndarray,
    *,
    low_percentile: float = LOW_PERCENTILE,
    high_percentile: float = HIGH_PERCENTILE,
) -> np.ndarray:
    """Map the ``low``–``high`` percentile range of ``image`` to [0, 1], clipping outside it.

    Parameters
    ----------
    image : ndarray
        Any-shape real array.
    low_percentile, high_percentile : float
        Percentiles (0–100) mapped to 0 and 1.

    Returns
    -------
    ndarray of float32, same shape, values in [0, 1]; all 0.5 when the image is flat.
    """
    image = np.asarray(image, dtype=np.float32)
    low, high = np.percentile(image, [low_percentile, high_percentile])
    if not high > low:
        return np.full(image.shape, 0.5, dtype=np.float32)
    return np.clip((image - low) / (high - low), 0.0, 1.0).astype(np.float32)


def slab_views(
    volume: Any,
    *,
    center_zyx: Any = None,
    slab_thickness_voxels: int = 5,
) -> dict[str, np.ndarray]:
    """Mean-projected orthogonal slabs through a point, each stretched to [0, 1].

    Parameters
    ----------
    volume : array-like, shape (Z, Y, X)
        The tomogram; a memory-mapped array is read slab by slab, never copied whole.
    center_zyx : sequence of 3 numbers, optional
        Voxel the three slabs pass through, zyx order; default the volume centre ``shape // 2``.
    slab_thickness_voxels : int
        Number of slices averaged in each view (clipped to the volume; shifted inward at faces).

    Returns
    -------
    dict
        ``"xy"``: shape (Y, X), mean over a z-slab; ``"xz"``: shape (Z, X), mean over a y-slab;
        ``"yz"``: shape (Z, Y), mean over an x-slab. float32, the 1st–99th percentile range of each
        view mapped to [0, 1] and clipped.
    """
    volume = check_volume(volume, name="volume", min_size=1, check_finite=False)
    thickness = check_thickness(slab_thickness_voxels)
    center = resolve_center(center_zyx, volume.shape)
    return {name: slab_view(volume, name, center, thickness)[0] for name in VIEW_AXES}


def slab_view(
    volume: Any, name: str, center: tuple[int, int, int], thickness: int
) -> tuple[np.ndarray, int, int]:
    """One view of ``slab_views`` (checked inputs): the stretched mean projection of the slab
    ``[i0, i1)`` along the view's axis through ``center``, and ``i0``, ``i1``."""
    axis = VIEW_AXES[name]
    i0, i1 = slab_bounds(center[axis], thickness, volume.shape[axis])
    index = [slice(None)] * 3
    index[axis] = slice(i0, i1)
    slab = np.asarray(volume[tuple(index)], dtype=np.float32)
    return stretch_contrast(slab.mean(axis=axis)), i0, i1


def resolve_center(center_zyx: Any, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Return ``center_zyx`` rounded to voxel indices, checked to lie inside ``shape``."""
    if center_zyx is None:
        return tuple(int(s) // 2 for s in shape)
    try:
        center = np.asarray(center_zyx, dtype=np.float64).reshape(3)
    except (TypeError, ValueError) as err:
        raise UnpickInputError(
            f"center_zyx: expected 3 numbers (z, y, x) in voxels, got {center_zyx!r}"
        ) from err
    index = np.rint(center).astype(np.int64) if np.all(np.isfinite(center)) else None
    if index is None or np.any(index < 0) or np.any(index >= np.asarray(shape)):
        raise UnpickInputError(
            f"center_zyx: expected a voxel inside the volume of shape {tuple(shape)}, got {center_zyx!r}; "
            f"leave it unset for the volume centre"
        )
    return tuple(int(i) for i in index)


def check_thickness(value: Any) -> int:
    """Return ``value`` as an int after checking it is an integer >= 1 (a slab thickness in voxels)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UnpickInputError(f"slab_thickness_voxels: expected an integer >= 1 (voxels), got {value!r}")
    return int(value)
