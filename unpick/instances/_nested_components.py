"""Connected components of the nested masks ``volume >= t`` of a level volume, for many thresholds
t at once, built from the tightest mask to the loosest while touching only the masks' voxels.

Labelling each mask on its own (``scipy.ndimage.label``) scans the whole volume every time, and
the scan, not the mask, is most of the cost: the operating-point sweep's masks hold 0.4-20 % of
the voxels. Here the voxels of the loosest mask are listed once and ranked by band (the levels
between two consecutive thresholds), tightest first, so that every mask is a prefix of the ranks.
The voxels then join, a run of ranks at a time, the components of the voxels ranked before them:
the run's voxels and those components, contracted to one node each, are linked through the
neighbours of lower rank and labelled as a small graph (``scipy.sparse.csgraph``). The sizes and
peaks of the components are carried along and read off at the end of each band.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import scipy.ndimage as ndi
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

from .._shared import UnpickInputError, available_threads

#: Voxels join in runs of ranks of at most this many (voxel, neighbour offset) pairs (666 667
#: voxels with face neighbours): about 13 bytes a pair to look the neighbours up (int64 indices,
#: int32 ranks, a bool) and 24 bytes per link found for the graph, so at most about 150 MB.
JOIN_PAIRS = 4_000_000


class Components(NamedTuple):
    """The connected components of one mask: ``sizes`` (voxels, int64) and ``peaks`` (the highest
    level in each component, uint8), in no particular order."""

    sizes: np.ndarray
    peaks: np.ndarray


class _RankedVoxels(NamedTuple):
    """The loosest mask's voxels by rank (tightest band first, flat order within a band).

    ``flat``: their flat indices in the volume padded by one zero voxel on every side (int64);
    ``levels``: their levels; ``band_ends``: per band, tightest first, one past its last rank (the
    mask of the band's threshold is the ranks below it); ``ranks``: the padded volume of ranks,
    the voxel count outside the loosest mask (int32); ``offsets``: flat offsets of the neighbours.
    """

    flat: np.ndarray
    levels: np.ndarray
    band_ends: list[int]
    ranks: np.ndarray
    offsets: np.ndarray


def nested_components(volume: np.ndarray, thresholds: list[int], connectivity: int = 1) -> list[Components]:
    """The connected components of ``volume >= t`` for each of the increasing ``thresholds``.

    The same components as ``scipy.ndimage.label(volume >= t, generate_binary_structure(3,
    connectivity))``, for a 3-D uint8 ``volume`` of fewer than 2**31 voxels and thresholds of at
    least 1, in the order of ``thresholds``. The cost grows with the voxels of the loosest mask,
    not with the volume times the number of thresholds.
    """
    _check_input(volume, thresholds, connectivity)
    if not thresholds:
        return []
    voxels = _rank_voxels(volume, [int(t) for t in thresholds], connectivity)
    run = max(1, JOIN_PAIRS // voxels.offsets.size)
    bands = [
        [(first, min(first + run, stop)) for first in range(start, stop, run)]
        for start, stop in zip([0, *voxels.band_ends[:-1]], voxels.band_ends)
    ]
    lookups = _neighbours_ahead(voxels, [runs for band in bands for runs in band])
    component = np.empty(voxels.flat.size, np.int32)  # per ranked voxel joined so far
    joined = Components(np.zeros(0, np.int64), np.zeros(0, np.uint8))
    found = []
    for band in bands:
        for first, last in band:
            joined = _join(joined, component, voxels.levels, first, last, *next(lookups))
        found.append(joined)
    return found[::-1]


def _check_input(volume: np.ndarray, thresholds: list[int], connectivity: int) -> None:
    """One clear error for input the ranking would silently get wrong."""
    if not isinstance(volume, np.ndarray) or volume.ndim != 3 or volume.dtype != np.uint8:
        raise UnpickInputError("volume: expected a 3-D uint8 level volume (decision levels)")
    steps = np.diff(np.asarray(thresholds, dtype=np.int64))
    if any(not 1 <= int(t) <= 255 for t in thresholds) or np.any(steps <= 0):
        raise UnpickInputError(
            f"thresholds: expected increasing levels from 1 to 255 (level 0 is outside every mask), got {list(thresholds)}"
        )
    if connectivity not in (1, 2, 3):
        raise UnpickInputError(f"connectivity: expected 1, 2 or 3, got {connectivity!r}")


def _rank_voxels(volume: np.ndarray, thresholds: list[int], connectivity: int) -> _RankedVoxels:
    """List the loosest mask's voxels once, ranked tightest band first (``_RankedVoxels``)."""
    shape = tuple(n + 2 for n in volume.shape)
    if math.prod(shape) >= np.iinfo(np.int32).max:
        raise ValueError(f"nested_components: {volume.shape} has too many voxels for int32 ranks")
    flat, levels = _padded_mask_voxels(volume, thresholds[0])
    # the band: how many thresholds the level reaches (1 .. len(thresholds))
    band = np.searchsorted(thresholds, np.arange(256), side="right").astype(np.uint8)[levels]
    flat, levels = _tightest_band_first(flat, levels, band, len(thresholds))
    ranks = np.full(math.prod(shape), flat.size, np.int32)
    ranks[flat] = np.arange(flat.size, dtype=np.int32)
    band_ends = np.cumsum(np.bincount(band, minlength=len(thresholds) + 1)[:0:-1])
    strides = np.array([shape[1] * shape[2], shape[2], 1])
    offsets = (np.argwhere(ndi.generate_binary_structure(3, connectivity)) - 1) @ strides
    return _RankedVoxels(flat, levels, [int(end) for end in band_ends], ranks, offsets[offsets != 0])


def _padded_mask_voxels(volume: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """The flat indices (int64) and levels of the voxels ``>= threshold`` in ``volume`` padded by
    one zero voxel on every side. The padding keeps every neighbour offset inside the array and
    outside the mask (``threshold`` >= 1), so that no voxel at a face wraps to the next row."""
    padded = np.zeros(tuple(n + 2 for n in volume.shape), np.uint8)
    padded[1:-1, 1:-1, 1:-1] = volume
    flat = np.flatnonzero(padded.reshape(-1) >= threshold)
    return flat, padded.reshape(-1)[flat]


def _tightest_band_first(
    flat: np.ndarray, levels: np.ndarray, band: np.ndarray, n_bands: int
) -> tuple[np.ndarray, np.ndarray]:
    """``flat`` and ``levels`` ordered by ``band`` (uint8), highest first, in flat order within a
    band: a stable sort on uint8 keys is a radix sort."""
    order = np.argsort(np.uint8(n_bands) - band, kind="stable")
    return flat[order], levels[order]


def _neighbours_ahead(voxels: _RankedVoxels, runs: list[tuple[int, int]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each run's neighbours of lower rank (``_earlier_neighbours``), in turn. With a second CPU
    thread the next run's are looked up on it while the caller joins the current run: the lookups
    and the joins take about as long."""
    if available_threads() < 2 or not runs:
        yield from (_earlier_neighbours(voxels, *run) for run in runs)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="unpick-sweep") as worker:
        ahead = worker.submit(_earlier_neighbours, voxels, *runs[0])
        for run in runs[1:]:
            current, ahead = ahead, worker.submit(_earlier_neighbours, voxels, *run)
            yield current.result()
        yield ahead.result()


def _earlier_neighbours(voxels: _RankedVoxels, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """For each voxel of ranks ``first .. last - 1``, the ranks of its neighbours of lower rank, row
    by row, and their number per voxel: each link between two voxels is found once, from the
    voxel of higher rank, whose band makes it (the other voxel is in the same band or a tighter
    one, so in every mask that holds the first)."""
    # mode "clip" is cheaper than the default bounds check; the padding keeps every index inside
    ranks = np.take(voxels.ranks, voxels.flat[first:last, None] + voxels.offsets, mode="clip")
    earlier = ranks < np.arange(first, last, dtype=np.int32)[:, None]
    # the number per row as a uint8 product: twice as fast as count_nonzero along the rows
    return ranks[earlier], earlier.view(np.uint8) @ np.ones(voxels.offsets.size, np.uint8)


def _join(
    joined: Components,
    component: np.ndarray,
    levels: np.ndarray,
    first: int,
    last: int,
    neighbours: np.ndarray,
    counts: np.ndarray,
) -> Components:
    """The components of ranks ``0 .. last - 1`` from those of the ranks below ``first``
    (``joined``, and ``component`` of each of those voxels, updated here for ranks below
    ``last``) and the run's voxels with their earlier ``neighbours`` (``_earlier_neighbours``).

    The graph's nodes are the components so far (contracted: their voxels are linked already)
    and then the run's voxels; a voxel's row holds the nodes of its earlier neighbours, so the
    sparse graph is built without sorting."""
    previous = joined.sizes.size
    component[first:last] = np.arange(previous, previous + last - first, dtype=np.int32)
    nodes = previous + last - first
    indptr = np.zeros(nodes + 1, np.int32)
    np.cumsum(counts, out=indptr[previous + 1 :])
    graph = csr_array((np.ones(neighbours.size), component[neighbours], indptr), shape=(nodes, nodes))
    count, label = connected_components(graph, directed=False)
    component[:last] = label[component[:last]]
    sizes = np.bincount(label[:previous], weights=joined.sizes, minlength=count).astype(np.int64)
    sizes += np.bincount(label[previous:], minlength=count)
    peaks = np.zeros(count, np.uint8)
    np.maximum.at(peaks, label, np.concatenate([joined.peaks, levels[first:last]]))
    return Components(sizes, peaks)
