"""A Gaussian blur streamed over z-chunks with a halo, so no second full-volume copy is made."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.ndimage as ndi

CHUNK_SLICES = 32


def iter_blurred_chunks(
    volume: Any, sigma: float, *, z_range: tuple[int, int] | None = None, chunk_slices: int = CHUNK_SLICES
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(z0, z1, block)``: slices ``[z0, z1)`` of ``volume`` blurred in 3-D by ``sigma`` voxels.

    Each chunk is blurred with a halo of 4 sigma (``scipy.ndimage.gaussian_filter``'s truncation),
    so the blocks equal the slices of the whole blurred volume; float32.
    """
    depth = volume.shape[0]
    start, stop = z_range if z_range is not None else (0, depth)
    halo = int(np.ceil(4 * sigma))
    for z0 in range(start, stop, chunk_slices):
        z1 = min(stop, z0 + chunk_slices)
        lo, hi = max(0, z0 - halo), min(depth, z1 + halo)
        block = ndi.gaussian_filter(np.asarray(volume[lo:hi], dtype=np.float32), sigma)
        yield z0, z1, block[z0 - lo : z1 - lo]
