"""Per-label sums of a label volume from its labelled voxels only (one bincount each)."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class LabelSums:
    """The labelled voxels of a volume and their per-label sums.

    Attributes
    ----------
    voxels : (M,) int64
        Flat (C-order) indices of the voxels with a nonzero label.
    ids : (M,) int
        Their labels.
    sizes : (N + 1,) int64
        Voxels per label (index 0 unused).
    coordinate_sums : (N + 1, 3) float64
        Per-label sums of the z, y, x voxel indices: ``coordinate_sums / sizes`` are centroids.
    """

    voxels: np.ndarray
    ids: np.ndarray
    sizes: np.ndarray
    coordinate_sums: np.ndarray

    def totals(self, values: np.ndarray) -> np.ndarray:
        """(N + 1,) per-label sums of ``values``, a volume of the labels' shape."""
        return np.bincount(self.ids, weights=values.ravel()[self.voxels], minlength=len(self.sizes))


def label_sums(labels: np.ndarray, n_labels: int) -> LabelSums:
    """Sizes and coordinate sums of labels 1..``n_labels``, from the labelled voxels alone, so
    the cost follows the labelled share of the volume, not the volume."""
    voxels = np.flatnonzero(labels)
    return voxel_label_sums(voxels, labels.ravel()[voxels], labels.shape, n_labels)


def voxel_label_sums(voxels: np.ndarray, ids: np.ndarray, shape: tuple[int, ...], n_labels: int) -> LabelSums:
    """``label_sums`` of labelled voxels given as flat indices into ``shape`` and their labels
    (``sparse_components``' output), with no label volume."""
    sizes = np.bincount(ids, minlength=n_labels + 1)
    coordinate_sums = np.stack(
        [np.bincount(ids, weights=c, minlength=n_labels + 1) for c in np.unravel_index(voxels, shape)], axis=1
    )
    return LabelSums(voxels=voxels, ids=ids, sizes=sizes, coordinate_sums=coordinate_sums)


def sparse_components(voxels: np.ndarray, shape: tuple[int, ...], *, connectivity: int = 3) -> tuple[np.ndarray, int]:
    """Connected components of a sparse set of voxels, without a label volume.

    ``voxels`` are flat (C-order) indices into a volume of ``shape`` (Z, Y, X), sorted and
    unique. Returns the label (1..n) of each voxel and n, numbered as ``scipy.ndimage.label``
    numbers them (in raster order of each component's first voxel), with the neighbourhood of
    ``generate_binary_structure(3, connectivity)``. Memory follows the number of voxels, not
    the volume: a rare set (extreme densities) costs a few arrays of its size instead of an
    int32 volume.
    """
    voxels = np.asarray(voxels, dtype=np.int64)
    if voxels.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    coords = np.unravel_index(voxels, shape)
    strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
    rows, cols = [], []
    for offset in _forward_offsets(connectivity):
        inside = np.ones(voxels.size, dtype=bool)
        for axis, step in enumerate(offset):  # the neighbour must lie in the volume, not wrap to a row's other end
            if step:
                inside &= (coords[axis] + step >= 0) & (coords[axis] + step < shape[axis])
        neighbour = voxels + int(np.dot(offset, strides))
        position = np.minimum(np.searchsorted(voxels, neighbour), voxels.size - 1)
        linked = inside & (voxels[position] == neighbour)
        rows.append(np.flatnonzero(linked))
        cols.append(position[linked])
    row, col = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(row.size, dtype=np.int8), (row, col)), shape=(voxels.size, voxels.size))
    n, component = connected_components(graph, directed=False)
    # number the components by their first voxel (raster order), as scipy.ndimage.label does
    first = np.full(n, voxels.size, dtype=np.int64)
    np.minimum.at(first, component, np.arange(voxels.size))
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(1, n + 1)
    return rank[component], int(n)


def _forward_offsets(connectivity: int) -> list[tuple[int, int, int]]:
    """The neighbour offsets of a 3-D ``connectivity`` that come after the voxel in raster order."""
    offsets = []
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if 0 < abs(dz) + abs(dy) + abs(dx) <= connectivity and (dz, dy, dx) > (0, 0, 0):
                    offsets.append((dz, dy, dx))
    return offsets
