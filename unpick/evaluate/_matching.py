"""Exact one-to-one matching of picks to ground-truth points within a radius.

Candidate pairs come from a KD-tree (``cKDTree.sparse_distance_matrix``), so no dense
N × M matrix is ever built; the assignment is solved exactly on that sparse graph with
``scipy.sparse.csgraph.min_weight_full_bipartite_matching`` (LAPJVsp).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching
from scipy.spatial import cKDTree

from .._shared import UnpickInputError, check_positive


@dataclass(frozen=True)
class Matching:
    """Matched pairs of a one-to-one matching.

    Attributes
    ----------
    pred_index, truth_index : (K,) int64 arrays
        Row indices of the matched picks and of the truth points they are matched to,
        sorted by ``pred_index``.
    distances : (K,) float64 array
        Distance of each matched pair, in voxels.
    n_pred, n_truth : int
        Sizes of the two point sets.
    """

    pred_index: np.ndarray
    truth_index: np.ndarray
    distances: np.ndarray
    n_pred: int
    n_truth: int

    @property
    def tp(self) -> int:
        """Number of matched pairs (true positives)."""
        return int(len(self.pred_index))


def as_points(points: Any, name: str) -> np.ndarray:
    """Return ``points`` as a finite ``(N, 3)`` float64 zyx array (``N`` may be 0)."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 3))
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise UnpickInputError(f"{name}: expected an (N, 3) array of zyx voxel coordinates, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise UnpickInputError(f"{name}: coordinates contain NaN or infinite values; drop those rows first")
    return arr


def as_radius(radius_voxels: Any, n_truth: int, name: str = "radius_voxels") -> np.ndarray:
    """Return a ``(n_truth,)`` array of match radii (voxels) from a scalar or per-truth values."""
    if np.ndim(radius_voxels) == 0:
        return np.full(n_truth, check_positive(radius_voxels, name, unit="voxels"))
    arr = np.asarray(radius_voxels, dtype=np.float64)
    if arr.shape != (n_truth,):
        raise UnpickInputError(
            f"{name}: expected one number or one radius per truth point ({n_truth}), got shape {arr.shape}"
        )
    if n_truth and not (np.isfinite(arr).all() and (arr > 0).all()):
        raise UnpickInputError(
            f"{name}: expected positive radii in voxels, got values down to {np.nanmin(arr)!r}; "
            "check the radius_angstrom column of the truth table"
        )
    return arr


def candidate_pairs(
    pred_zyx: np.ndarray, truth_zyx: np.ndarray, radius: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (pred, truth) pairs with distance <= the truth point's radius.

    Returns ``(pred_index, truth_index, distance)`` arrays (int64, int64, float64).
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(pred_zyx) == 0 or len(truth_zyx) == 0:
        return empty
    pairs = cKDTree(pred_zyx).sparse_distance_matrix(cKDTree(truth_zyx), float(radius.max()), output_type="ndarray")
    i = pairs["i"].astype(np.int64)
    j = pairs["j"].astype(np.int64)
    d = pairs["v"].astype(np.float64)
    keep = d <= radius[j]
    return i[keep], j[keep], d[keep]


def match_points(pred_zyx: Any, truth_zyx: Any, *, radius_voxels: float | Any) -> Matching:
    """Exact maximum one-to-one matching of picks to truth within a radius.

    A pick and a truth point can be paired when their distance is <= the radius (the
    boundary counts). Among all matchings with the largest number of pairs, the one
    with the smallest total distance is returned. Unlike greedy nearest-neighbour
    assignment this never loses a pair because an earlier pick took the "wrong" truth.

    Parameters
    ----------
    pred_zyx : (N, 3) array_like of float
        Picked centres, zyx voxel coordinates.
    truth_zyx : (M, 3) array_like of float
        Ground-truth centres, zyx voxel coordinates.
    radius_voxels : float or (M,) array_like of float
        Match radius in voxels (isotropic), or one radius per truth point.

    Returns
    -------
    Matching
        The matched pairs and their distances.

    Notes
    -----
    Candidate pairs come from a KD-tree query, so memory and time scale with the number of
    pairs within the radius, not with N × M. The assignment maximises cardinality first by
    giving each pick a private "unmatched" option whose cost exceeds any possible gain in
    distance, then solves the sparse assignment exactly with LAPJVsp. Picks and truth points
    without any candidate never enter the solver.
    """
    pred = as_points(pred_zyx, "pred_zyx")
    truth = as_points(truth_zyx, "truth_zyx")
    radius = as_radius(radius_voxels, len(truth))
    i, j, d = candidate_pairs(pred, truth, radius)
    if len(i) == 0:
        none = np.zeros(0, np.int64)
        return Matching(none, none.copy(), np.zeros(0), len(pred), len(truth))
    pred_nodes, pred_local = np.unique(i, return_inverse=True)
    truth_nodes, truth_local = np.unique(j, return_inverse=True)
    # The solver's rows are the smaller side (far faster when one side is much larger).
    picks_are_rows = len(pred_nodes) <= len(truth_nodes)
    if picks_are_rows:
        row_local, col_local, n_rows, n_cols = pred_local, truth_local, len(pred_nodes), len(truth_nodes)
    else:
        row_local, col_local, n_rows, n_cols = truth_local, pred_local, len(truth_nodes), len(pred_nodes)
    # Every edge costs 1 + distance (> 0: LAPJVsp drops explicit zeros). Each row also has a
    # private "unmatched" column whose cost exceeds anything a larger matching could add in
    # edge costs, so the optimum has maximum cardinality and, among those, the least distance.
    skip_cost = (1.0 + float(d.max())) * (n_rows + 1) + 1.0
    data = np.concatenate([1.0 + d, np.full(n_rows, skip_cost)])
    row_idx = np.concatenate([row_local, np.arange(n_rows)])
    col_idx = np.concatenate([col_local, n_cols + np.arange(n_rows)])
    graph = scipy.sparse.csr_array((data, (row_idx, col_idx)), shape=(n_rows, n_cols + n_rows))
    r, c = min_weight_full_bipartite_matching(graph)
    real = c < n_cols
    if picks_are_rows:
        pred_index, truth_index = pred_nodes[r[real]], truth_nodes[c[real]]
    else:
        pred_index, truth_index = pred_nodes[c[real]], truth_nodes[r[real]]
    distances = np.linalg.norm(pred[pred_index] - truth[truth_index], axis=1)
    order = np.argsort(pred_index, kind="stable")
    return Matching(pred_index[order], truth_index[order], distances[order], len(pred), len(truth))
