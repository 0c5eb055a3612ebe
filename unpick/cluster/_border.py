"""Voxels without a full feature neighbourhood are background."""

from __future__ import annotations

from typing import Any

from .._shared import NEIGHBOURHOOD, UnpickInputError


def zero_border(mask: Any, width: int = NEIGHBOURHOOD // 2) -> Any:
    """Set every voxel within ``width`` voxels of a face of ``mask`` to 0, in place.

    Border voxels have no full neighbourhood, so their features are not comparable: they are
    background, never a third label that a relabel could flip into particle.

    Parameters
    ----------
    mask : (Z, Y, X) array
        numpy or cupy array, modified in place.
    width : int
        Border width in voxels (default: half the 5-voxel neighbourhood, 2). 0 leaves ``mask``
        unchanged; a width of half an axis or more clears the whole mask.

    Returns
    -------
    The same ``mask`` object.
    """
    shape = getattr(mask, "shape", None)
    if shape is None or len(shape) != 3:
        raise UnpickInputError(f"mask: expected a 3-D (Z, Y, X) array, got {None if shape is None else tuple(shape)}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 0:
        raise UnpickInputError(f"width: expected an integer >= 0 (voxels), got {width!r}")
    if width:
        for axis in range(3):
            lead = [slice(None)] * 3
            lead[axis] = slice(0, width)
            mask[tuple(lead)] = 0
            lead[axis] = slice(max(shape[axis] - width, 0), None)
            mask[tuple(lead)] = 0
    return mask
