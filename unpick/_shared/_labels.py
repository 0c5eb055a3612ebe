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
    ids = labels.ravel()[voxels]
    sizes = np.bincount(ids, minlength=n_labels + 1)
    coordinate_sums = np.stack(
        [np.bincount(ids, weights=c, minlength=n_labels + 1) for c in np.unravel_index(voxels, labels.shape)], axis=1
    )
    return LabelSums(voxels=voxels, ids=ids, sizes=sizes, coordinate_sums=coordinate_sums)
