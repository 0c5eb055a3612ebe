"""A Gaussian blur streamed over z-chunks with a halo, on CPU threads, with no second full-volume copy;
each 1-D pass is a banded matrix product (``gaussian_pass``)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._shared import available_threads, thread_map

CHUNK_SLICES = 32
#: Output rows per matrix product of a pass (``gaussian_pass``): each reads them and the kernel's two tails.
BAND_ROWS = 32


def iter_blurred_chunks(
    volume: Any, sigma: float, *, z_range: tuple[int, int] | None = None, chunk_slices: int = CHUNK_SLICES
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(z0, z1, block)``: slices ``[z0, z1)`` of ``volume`` blurred in 3-D by ``sigma`` voxels.

    Each chunk is blurred with a halo of 4 sigma (``scipy.ndimage.gaussian_filter``'s truncation),
    so the blocks equal the slices of the whole blurred volume (to float32 rounding, and bit for bit
    from one call to the next with the same chunks: the passes along y and x stay in their slice,
    and the halo covers the pass along z); float32. As many chunks as there are cores are blurred
    at once on threads (the matrix products release the GIL), so memory is that many chunks.
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


def blur_core(block: np.ndarray, sigma: float, core: slice, *, orders: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(block, sigma, order=orders)[core]`` to float32 rounding, with
    the y and x passes run on the ``core`` z-slices only: the z pass goes first, so only it needs
    the halo slices around the core. Each pass is :func:`gaussian_pass`; the result is one new
    (core) float32 array."""
    block = np.ascontiguousarray(block, dtype=np.float32)
    rows = range(*core.indices(block.shape[0]))
    blurred = gaussian_pass(block, sigma, axis=0, order=orders[0], rows=rows)
    spare = np.empty_like(blurred)
    gaussian_pass(blurred, sigma, axis=1, order=orders[1], out=spare)
    return gaussian_pass(spare, sigma, axis=2, order=orders[2], out=blurred)


def gaussian_pass(
    data: np.ndarray, sigma: float, *, axis: int, order: int = 0, rows: range | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d(data, sigma, axis, order)`` (reflected ends, truncated at
    4 sigma) of a C-ordered 3-D float32 array, as matrix products: output rows ``rows`` (default
    all) along ``axis`` into ``out`` (a new array by default; never ``data`` itself).

    Along one axis the filter is a banded matrix ``B`` (the ends' reflection folded in), so
    ``BAND_ROWS`` output rows at a time are ``B[rows, taps] @ data[taps]`` over the slices
    (axis 0), over the rows of every slice at once (axis 1) or over the columns (axis 2): BLAS
    products at 3-6x the speed of SciPy's line-by-line filter on the first two axes. Float32
    sums, so the values differ from SciPy's (float64) by float32 rounding. BLAS runs each product
    on as many threads as it is allowed, which leaves the values unchanged: a picking run limits it
    to one for its whole length (``pick_tomogram``), so that the chunks blurred side by side on
    threads (``iter_blurred_chunks``) do not each start BLAS threads; a direct caller of the
    threaded blurs gets BLAS's own count.
    """
    length = data.shape[axis]
    rows = range(length) if rows is None else rows
    shape = list(data.shape)
    shape[axis] = len(rows)
    out = np.empty(shape, dtype=np.float32) if out is None else out
    for first in range(rows.start, rows.stop, BAND_ROWS):
        last = min(rows.stop, first + BAND_ROWS)
        part, lo, hi = _band_block(length, first, last, float(sigma), int(order))
        at = slice(first - rows.start, last - rows.start)
        if axis == 0:
            np.matmul(part, data[lo:hi].reshape(hi - lo, -1), out=out[at].reshape(last - first, -1))
        elif axis == 1:
            np.matmul(part, data[:, lo:hi], out=out[:, at])
        else:
            out[:, :, at] = data[:, :, lo:hi] @ part.T
    return out


def gaussian_kernel(sigma: float, order: int = 0) -> np.ndarray:
    """The correlation weights of ``scipy.ndimage.gaussian_filter1d`` (truncated at 4 sigma), float64:
    the normalised Gaussian (order 0) or its derivative (order 1), reversed."""
    if order not in (0, 1):
        raise ValueError(f"order: expected 0 (blur) or 1 (first derivative), got {order}")
    offsets = np.arange(-_radius(sigma), _radius(sigma) + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    if order == 1:
        kernel *= -offsets / sigma**2
    return kernel[::-1]


def _radius(sigma: float) -> int:
    return int(4.0 * float(sigma) + 0.5)


def _band_block(length: int, first: int, last: int, sigma: float, order: int) -> tuple[np.ndarray, int, int]:
    """Rows ``first .. last - 1`` of the pass's banded matrix along an axis of ``length``, cut to
    the columns ``lo .. hi - 1`` they reach: ``(block, lo, hi)``, float32. Taps beyond the ends are
    reflected back (``d c b a | a b c d | d c b a``, as often as a kernel longer than the axis
    needs); away from the ends every block is the same Toeplitz block, built once."""
    radius = _radius(sigma)
    lo, hi = max(0, first - radius), min(length, last + radius)
    if (lo, hi) == (first - radius, last + radius):
        return _toeplitz_block(last - first, sigma, order), lo, hi
    weights = gaussian_kernel(sigma, order)
    taps = np.mod(np.arange(first, last)[:, None] + np.arange(-radius, radius + 1), 2 * length)
    taps = np.where(taps >= length, 2 * length - 1 - taps, taps) - lo
    block = np.zeros((last - first, hi - lo))
    np.add.at(block, (np.arange(last - first)[:, None], taps), weights)
    return block.astype(np.float32), lo, hi


@functools.lru_cache(maxsize=64)
def _toeplitz_block(n_rows: int, sigma: float, order: int) -> np.ndarray:
    """The band of ``n_rows`` rows away from the ends: row i holds the weights in columns
    ``i .. i + 2 radius``. Read-only: it is shared between calls."""
    weights = gaussian_kernel(sigma, order)
    block = np.zeros((n_rows, n_rows + len(weights) - 1), dtype=np.float32)
    for row in range(n_rows):
        block[row, row : row + len(weights)] = weights
    block.flags.writeable = False
    return block


def blur_volume(volume: Any, sigma: float) -> np.ndarray:
    """``volume`` cast to float32 and blurred in 3-D by ``sigma`` voxels, equal (to float32 rounding) to
    ``gaussian_filter(volume.astype(np.float32), sigma, mode="reflect", truncate=4.0)``, computed
    chunk by chunk on CPU threads into one new float32 array (the input is never modified and
    never copied whole)."""
    out = np.empty(volume.shape, dtype=np.float32)
    for z0, z1, block in iter_blurred_chunks(volume, sigma):
        out[z0:z1] = block
    return out
