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


def _dedup(coords: np.ndarray, scores: np.ndarray, radius: float) -> np.ndarray:
    """Indices kept by greedy spherical suppression: best first, drop anything within ``radius``."""
    order = np.argsort(-scores, kind="stable")
    tree = cKDTree(coords)
    suppressed = np.zeros(len(coords), dtype=bool)
    kept = []
    for i in order:
        if suppressed[i]:
            continue
        kept.append(i)
        suppressed[tree.query_ball_point(coords[i], radius)] = True
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
    3. KD-tree de-duplication: greedily from the highest score, drop peaks closer than
       ``radius_voxels`` to one already kept.
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
    kept = _dedup(coords, scores, radius)
    coords, scores = coords[kept], scores[kept]
    if threshold is None:
        threshold = float(np.exp(otsu_threshold(np.log(scores))))
        logger.info(
            "peak threshold %.3g chosen by Otsu on the log scores of %d candidate peaks", threshold, len(scores)
        )
    keep = scores >= threshold
    return coords[keep], scores[keep]
