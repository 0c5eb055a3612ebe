"""Particle centres from a score map: mean-pool + max-pool NMS, KD-tree de-duplication, threshold."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import scipy.ndimage as ndi
from scipy.spatial import cKDTree

from .._shared import UnpickInputError, check_positive, check_volume

logger = logging.getLogger(__name__)

CANDIDATE_FLOOR = 1e-6  # below this a peak is float noise on an empty background
FALLBACK_THRESHOLD = 0.5
#: Two peaks within MERGE_REACH radii are one particle unless the pooled score between them dips
#: below MERGE_FRACTION of the lower peak (on polnet tomo_01 the second maxima of ribosomes were
#: 70 % of the false picks of a refined model; benchmarks/README.md).
MERGE_REACH = 2.0
MERGE_FRACTION = 0.5


def _ridge_minimum(pooled: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Lowest pooled score on the straight line from voxel ``a`` to voxel ``b`` (one sample per voxel)."""
    n = int(math.ceil(float(np.linalg.norm(b - a)))) + 1
    t = np.linspace(0.0, 1.0, n)
    line = ndi.map_coordinates(pooled, a[:, None] * (1 - t) + b[:, None] * t, order=1, mode="nearest")
    return float(line.min())


def _dedup(pooled: np.ndarray, coords: np.ndarray, scores: np.ndarray, radius: float) -> np.ndarray:
    """Indices of the peaks that are particles of their own, best first.

    Greedy from the highest score: a peak closer than ``radius`` to a kept one is dropped, and
    so is one within ``MERGE_REACH`` radii of a kept peak when the pooled score along the line
    between them never falls below ``MERGE_FRACTION`` of its own score: without a saddle the
    two are one blob, e.g. a particle larger than the given radius (a ribosome at a 75 Å
    radius) whose probability mass has two maxima.
    """
    order = np.argsort(-scores, kind="stable")
    tree = cKDTree(coords)
    kept_mask = np.zeros(len(coords), dtype=bool)
    kept = []
    for i in order:
        neighbours = [j for j in tree.query_ball_point(coords[i], MERGE_REACH * radius) if kept_mask[j]]
        if any(
            np.linalg.norm(coords[j] - coords[i]) < radius
            or _ridge_minimum(pooled, coords[i], coords[j]) >= MERGE_FRACTION * scores[i]
            for j in neighbours
        ):
            continue
        kept_mask[i] = True
        kept.append(i)
    return np.asarray(kept, dtype=int)


def otsu_threshold(values: Any) -> float:
    """Otsu's threshold of 1-D ``values``, computed exactly on the sorted values (no histogram).

    The split maximising the between-class variance ``w0 w1 (m0 - m1)^2`` is found over every
    gap between consecutive distinct values, and the threshold is the middle of that gap, so
    it keeps a margin on both sides (a histogram Otsu returns the edge of the lower class).
    Returns 0.5 when there are fewer than two distinct values.
    """
    ordered = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    n = len(ordered)
    if n < 2 or ordered[0] == ordered[-1]:
        return FALLBACK_THRESHOLD
    cumulative = np.cumsum(ordered)
    k = np.arange(1, n)  # size of the lower class
    low_mean = cumulative[:-1] / k
    high_mean = (cumulative[-1] - cumulative[:-1]) / (n - k)
    between = (k / n) * (1 - k / n) * (low_mean - high_mean) ** 2
    between[ordered[1:] == ordered[:-1]] = -1.0  # equal values cannot be split
    split = int(np.argmax(between)) + 1
    return float(0.5 * (ordered[split - 1] + ordered[split]))


def log_otsu_threshold(scores: Any) -> float:
    """Otsu's threshold of the log peak scores (the fallback when no pseudo-labels are at hand)."""
    scores = np.asarray(scores, dtype=np.float64)
    threshold = float(np.exp(otsu_threshold(np.log(scores)))) if len(scores) else FALLBACK_THRESHOLD
    logger.info("peak threshold %.3g chosen by Otsu on the log scores of %d candidate peaks", threshold, len(scores))
    return threshold


def find_peaks(
    score_map: Any,
    *,
    radius_voxels: float,
    threshold: float | None = None,
    pool_iterations: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Particle centres and scores from a per-voxel probability map (never a forced count).

    1. Mean-pool: ``pool_iterations`` passes of a 3x3x3 mean filter (default
       ``ceil(0.4 * radius_voxels)``, so the receptive field 1 + 2 i spans a positive core;
       DeepETPicker's MP-NMS), which turns a blob of high probability into a peak at its centre.
    2. Max-pool NMS: voxels equal to the maximum of their ``(2 ceil(r/2) + 1)^3`` cube.
    3. De-duplication: greedily from the highest score, drop peaks closer than
       ``radius_voxels`` to one already kept, or joined to one kept within two radii by a ridge
       that stays above half their score (``_dedup``: one blob, one particle).
    4. Threshold on the pooled peak score: ``threshold`` when given, else Otsu's threshold of
       the logarithms of the de-duplicated peak scores, placed mid-gap (``otsu_threshold``).
       Background peaks span orders of magnitude below the particle peaks, so on a log scale
       the two groups are compact and far apart however well the model is calibrated; the
       split is data-driven and needs no particle count.

    Parameters
    ----------
    score_map : (Z, Y, X) array
        Probabilities (e.g. ``predict_score_map``).
    radius_voxels : float
        Particle radius in voxels.
    threshold : float, optional
        Minimum pooled score of a pick.
    pool_iterations : int, optional

    Returns
    -------
    coords_zyx : (N, 3) float64 array
        Peak voxels, zyx, best score first.
    scores : (N,) float64 array
        Pooled scores at the peaks.
    """
    score_map = check_volume(score_map, name="score_map", min_size=1)
    radius = check_positive(radius_voxels, "radius_voxels", unit="voxels")
    if pool_iterations is None:
        pool_iterations = max(1, math.ceil(0.4 * radius))
    if isinstance(pool_iterations, bool) or not isinstance(pool_iterations, int) or pool_iterations < 0:
        raise UnpickInputError(f"pool_iterations: expected a non-negative integer, got {pool_iterations!r}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise UnpickInputError(f"threshold: expected a probability in [0, 1], got {threshold!r}")
    pooled = np.asarray(score_map, dtype=np.float32)
    for _ in range(pool_iterations):
        pooled = ndi.uniform_filter(pooled, size=3, mode="nearest")
    window = 2 * math.ceil(radius / 2) + 1
    is_peak = (pooled == ndi.maximum_filter(pooled, size=window, mode="nearest")) & (pooled > CANDIDATE_FLOOR)
    coords = np.argwhere(is_peak).astype(np.float64)
    scores = pooled[is_peak].astype(np.float64)
    if len(coords) == 0:
        return coords.reshape(0, 3), scores
    kept = _dedup(pooled, coords, scores, radius)
    coords, scores = coords[kept], scores[kept]
    if threshold is None:
        threshold = log_otsu_threshold(scores)
    keep = scores >= threshold
    return coords[keep], scores[keep]
