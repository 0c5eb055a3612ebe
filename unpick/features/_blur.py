"""A Gaussian blur streamed over z-chunks with a halo, on CPU threads, with no second full-volume copy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.ndimage as ndi

from .._shared import available_threads, thread_map

CHUNK_SLICES = 32


def iter_blurred_chunks(
    volume: Any, sigma: float, *, z_range: tuple[int, int] | None = None, chunk_slices: int = CHUNK_SLICES
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(z0, z1, block)``: slices ``[z0, z1)`` of ``volume`` blurred in 3-D by ``sigma`` voxels.

    Each chunk is blurred with a halo of 4 sigma (``scipy.ndimage.gaussian_filter``'s truncation),
    so the blocks equal the slices of the whole blurred volume (bit for bit: the passes along y
    and x stay in their slice, and the halo covers the pass along z); float32. As many chunks
    as there are cores are blurred at once on threads (the filter releases the GIL), so memory
    is that many chunks.
    """
    depth = volume.shape[0]
    start, stop = z_range if z_range is not None else (0, depth)
    halo = int(np.ceil(4 * sigma))
    chunks = [(z0, min(stop, z0 + chunk_slices)) for z0 in range(start, stop, chunk_slices)]

    def blurred(chunk: tuple[int, int]) -> np.ndarray:
        z0, z1 = chunk
        lo, hi = max(0, z0 - halo), min(depth, z1 + halo)
        return blur_core(np.asarray(volume[lo:hi], dtype=np.float32), sigma, slice(z0 - lo, z1 - lo))

    group = available_threads()  # one chunk per thread at a time: memory stays that many chunks
    for first in range(0, len(chunks), group):
        batch = chunks[first : first + group]
        for (z0, z1), block in zip(batch, thread_map(blurred, batch)):
            yield z0, z1, block


def blur_core(block: np.ndarray, sigma: float, core: slice) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(block, sigma)[core]`` bit for bit, with the y and x passes
    run on the ``core`` z-slices only: the filter passes along z first, so only that pass needs the
    halo slices around the core. The later passes run in place, as ``gaussian_filter``'s own do,
    so the result is a view of one new array of the block's size."""
    blurred = ndi.gaussian_filter1d(block, sigma, axis=0)
    kept = blurred[core]  # z-slices of a C-ordered array: contiguous, filtered in place
    for axis in (1, 2):
        ndi.gaussian_filter1d(kept, sigma, axis=axis, output=kept)
    return kept


def blur_volume(volume: Any, sigma: float) -> np.ndarray:
    """``volume`` cast to float32 and blurred in 3-D by ``sigma`` voxels, equal to
    ``gaussian_filter(volume.astype(np.float32), sigma, mode="reflect", truncate=4.0)``, computed
    chunk by chunk on CPU threads into one new float32 array (the input is never modified and
    never copied whole)."""
    out = np.empty(volume.shape, dtype=np.float32)
    for z0, z1, block in iter_blurred_chunks(volume, sigma):
        out[z0:z1] = block
    return out
