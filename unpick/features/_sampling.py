"""Seeded voxel samples and explicit neighbourhood gathering (the slow, obviously-correct path)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._shared import UnpickInputError, as_rng, check_z_range
from ._kernels import HALO, OFFSETS_ZYX

logger = logging.getLogger(__name__)

GATHER_BATCH = 65_536  # voxels per batch of explicit neighbourhoods: 32 MB of float32


def _interior_bounds(shape_zyx: tuple[int, int, int], z_range: tuple[int, int] | None) -> tuple[int, int]:
    """The half-open z bounds of voxels with a full neighbourhood inside ``z_range``."""
    z0, z1 = check_z_range(z_range, shape_zyx[0])
    return max(z0, HALO), min(z1, shape_zyx[0] - HALO)


def sample_interior_voxels(
    shape_zyx: tuple[int, int, int],
    n: int,
    *,
    rng: int | np.random.Generator | None,
    z_range: tuple[int, int] | None = None,
) -> np.ndarray:
    """Draw a seeded uniform sample of voxels that have a full 5×5×5 neighbourhood.

    Parameters
    ----------
    shape_zyx : tuple of int
        Volume shape (Z, Y, X).
    n : int
        Number of voxels wanted; when the region holds fewer, all of them are returned.
    rng : int, Generator or None
        Seed or generator.
    z_range : (int, int), optional
        Half-open slice range [z0, z1) the voxels must lie in (default: the whole volume).

    Returns
    -------
    np.ndarray
        (N, 3) int64 zyx indices, distinct, sorted in C order, each at least 2 voxels from every
        face of the volume.
    """
    shape = tuple(int(s) for s in shape_zyx)
    if len(shape) != 3:
        raise UnpickInputError(f"shape_zyx: expected three sizes (Z, Y, X), got {shape_zyx!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UnpickInputError(f"n: expected a positive integer number of voxels, got {n!r}")
    z_lo, z_hi = _interior_bounds(shape, z_range)
    inner = (z_hi - z_lo, shape[1] - 2 * HALO, shape[2] - 2 * HALO)
    if min(inner) <= 0:
        raise UnpickInputError(
            f"z_range {z_range!r} of a volume of shape {shape}: no voxel is at least {HALO} voxels from "
            f"every face (needed for a full 5×5×5 neighbourhood); widen the z-range"
        )
    total = inner[0] * inner[1] * inner[2]
    if n >= total:
        logger.debug("sample of %d voxels asked, the region holds %d: using all", n, total)
        flat = np.arange(total, dtype=np.int64)
    else:
        flat = np.sort(as_rng(rng).choice(total, size=int(n), replace=False))
    zyx = np.stack(np.unravel_index(flat, inner), axis=1).astype(np.int64)
    zyx += np.array([z_lo, HALO, HALO], dtype=np.int64)
    return zyx


def check_interior(idx_zyx: Any, shape_zyx: tuple[int, ...]) -> np.ndarray:
    """Return ``idx_zyx`` as (N, 3) int64 after checking every voxel has a full neighbourhood."""
    idx = np.asarray(idx_zyx)
    if idx.ndim != 2 or idx.shape[1] != 3 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
        raise UnpickInputError(f"idx_zyx: expected an (N, 3) integer array of zyx voxel indices, got {idx.dtype} {idx.shape}")
    idx = idx.astype(np.int64, copy=False)
    upper = np.asarray(shape_zyx, dtype=np.int64) - HALO
    bad = np.any((idx < HALO) | (idx >= upper), axis=1)
    if bad.any():
        first = idx[np.argmax(bad)].tolist()
        raise UnpickInputError(
            f"idx_zyx: {int(bad.sum())} voxel(s) (first {first}) are closer than {HALO} voxels to a face of "
            f"the volume of shape {tuple(shape_zyx)}; use sample_interior_voxels or drop border voxels"
        )
    return idx


def iter_neighbourhoods(volume: Any, idx_zyx: np.ndarray, *, batch: int = GATHER_BATCH) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(rows, neighbourhoods)``: (B, 125) float32 explicit neighbourhoods, batch by batch.

    ``idx_zyx`` must be interior (see :func:`check_interior`); column r of a neighbourhood is the
    voxel at offset ``OFFSETS_ZYX[r]``. A C-contiguous volume (memmaps included) is read through
    flat indices, anything else through 3-D fancy indexing.
    """
    shape = volume.shape
    flat_volume = volume.reshape(-1) if getattr(volume, "flags", None) is not None and volume.flags.c_contiguous else None
    strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
    flat_offsets = OFFSETS_ZYX @ strides
    for start in range(0, len(idx_zyx), batch):
        rows = slice(start, min(start + batch, len(idx_zyx)))
        centres = idx_zyx[rows]
        if flat_volume is not None:
            values = flat_volume[(centres @ strides)[:, None] + flat_offsets[None, :]]
        else:
            where = centres[:, None, :] + OFFSETS_ZYX[None, :, :]
            values = volume[where[..., 0], where[..., 1], where[..., 2]]
        yield rows, np.asarray(values, dtype=np.float32)
