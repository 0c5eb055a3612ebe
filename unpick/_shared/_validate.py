"""Shared input checks: each raises UnpickInputError naming what was expected and what was got."""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from ._errors import UnpickInputError

NEIGHBOURHOOD = 5  # voxel neighbourhood edge used by every feature mode

#: Read-only arrays ``check_volume`` has found finite, by id (weakly held: an entry goes with its
#: array). A tomogram passes several public stages (read, pick, preprocess); each validates its
#: input, and a full NaN scan of a 2 GB volume is not repeated for the same unmodifiable array.
_FOUND_FINITE: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()


def as_rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    """Return a Generator from an int seed, a Generator, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise UnpickInputError(f"rng: expected an int seed or numpy Generator, got {type(rng).__name__}")


def check_volume(
    volume: Any,
    *,
    name: str = "volume",
    min_size: int = NEIGHBOURHOOD,
    check_finite: bool = True,
) -> np.ndarray:
    """Check ``volume`` is a 3-D (Z, Y, X) array with every axis at least ``min_size`` voxels and,
    with ``check_finite``, no NaN or infinite voxel (a read-only array is scanned once: later
    checks of the same array object skip the scan)."""
    shape = getattr(volume, "shape", None)
    if shape is None:
        volume = np.asarray(volume)
        shape = volume.shape
    if len(shape) != 3:
        raise UnpickInputError(
            f"{name}: expected a 3-D (Z, Y, X) volume, got {len(shape)}-D data of shape {tuple(shape)}"
        )
    if min(shape) < min_size:
        raise UnpickInputError(
            f"{name}: shape {tuple(shape)} is smaller than the {min_size}-voxel neighbourhood "
            f"on at least one axis; use a larger tomogram or crop less"
        )
    if check_finite and np.issubdtype(volume.dtype, np.floating) and _FOUND_FINITE.get(id(volume)) is not volume:
        bad = _count_non_finite(volume)
        if bad:
            raise UnpickInputError(
                f"{name}: {bad} voxels are NaN or infinite; repair the volume "
                f"(e.g. replace them with the mean) before picking"
            )
        if isinstance(volume, np.ndarray) and not volume.flags.writeable:  # cannot change: scanned once
            _FOUND_FINITE[id(volume)] = volume
    return volume


def _count_non_finite(volume: Any, slab: int = 16) -> int:
    """Count NaN/inf voxels slab by slab so a memory-mapped volume is never copied whole."""
    total = 0
    for z0 in range(0, volume.shape[0], slab):
        block = volume[z0 : z0 + slab]
        total += int(block.size - int(np.count_nonzero(np.isfinite(np.asarray(block)))))
    return total


def check_int(value: object, name: str, *, minimum: int) -> int:
    """Check ``value`` is an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UnpickInputError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive(value: Any, name: str, *, unit: str = "") -> float:
    """Return ``value`` as a float after checking it is finite and > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise UnpickInputError(f"{name}: expected a positive number, got {value!r}") from err
    if not math.isfinite(number) or number <= 0:
        suffix = f" {unit}" if unit else ""
        raise UnpickInputError(f"{name}: expected a positive number{suffix}, got {value!r}")
    return number


def check_choice(value: str, name: str, choices: tuple[str, ...] | list[str]) -> str:
    """Check ``value`` is one of ``choices``; the message lists them."""
    if value not in choices:
        raise UnpickInputError(f"{name}: expected one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def check_z_range(z_range: tuple[int, int] | None, depth: int, *, name: str = "z-slab") -> tuple[int, int]:
    """Resolve a half-open ``[z0, z1)`` range against a volume of ``depth`` slices."""
    if z_range is None:
        return 0, depth
    try:
        z0, z1 = (int(v) for v in z_range)
    except (TypeError, ValueError) as err:
        raise UnpickInputError(f"{name}: expected two integers z0 z1, got {z_range!r}") from err
    if not 0 <= z0 < z1 <= depth:
        raise UnpickInputError(
            f"{name}: expected 0 <= z0 < z1 <= {depth} (half-open [z0, z1) in slices), got [{z0}, {z1})"
        )
    return z0, z1


def check_shape(shape_zyx: Any, name: str = "volume_shape_zyx") -> tuple[int, int, int]:
    """Return ``shape_zyx`` as three positive ints (Z, Y, X), voxels."""
    message = f"{name}: expected three positive integers (Z, Y, X) in voxels, got {shape_zyx!r}"
    try:
        shape = tuple(int(v) for v in shape_zyx)
    except (TypeError, ValueError) as err:
        raise UnpickInputError(message) from err
    if len(shape) != 3 or min(shape) < 1:
        raise UnpickInputError(message)
    return shape  # type: ignore[return-value]
