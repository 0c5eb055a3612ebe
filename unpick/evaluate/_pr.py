"""Precision–recall curve and average precision of scored picks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._shared import UnpickInputError
from ._matching import as_points, as_radius, candidate_pairs


@dataclass(frozen=True)
class PRCurve:
    """Precision and recall of the picks scoring at least each threshold.

    Attributes
    ----------
    thresholds : (K,) float64 array
        Distinct pick scores, descending; entry k keeps the picks with score >= thresholds[k].
    precision, recall : (K,) float64 arrays
        At each threshold (recall is non-decreasing along the arrays).
    average_precision : float
        All-point interpolated AP: sum over recall steps of the step times the best precision
        at that recall or beyond (PASCAL VOC 2010+ / COCO without 101-point sampling).
        0 when there is no truth or no pick.
    """

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    average_precision: float


def greedy_hits(pred: np.ndarray, order: np.ndarray, truth: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Whether each pick, visited in ``order``, takes the nearest still-free truth within the radius."""
    hit = np.zeros(len(pred), dtype=bool)
    i, j, d = candidate_pairs(pred, truth, radius)
    if len(i) == 0:
        return hit
    rank = np.empty(len(pred), dtype=np.int64)
    rank[order] = np.arange(len(pred))
    edges = np.lexsort((j, d, rank[i]))  # by pick rank, then distance, then truth index
    taken = np.zeros(len(truth), dtype=bool)
    for pick, target in zip(i[edges].tolist(), j[edges].tolist(), strict=True):
        if not hit[pick] and not taken[target]:
            hit[pick] = True
            taken[target] = True
    return hit


def pr_curve(pred_zyx: Any, scores: Any, truth_zyx: Any, *, radius_voxels: float | Any) -> PRCurve:
    """Precision–recall curve of picks ranked by score.

    Matching is the standard detection-AP one: picks are visited by descending score (ties
    by row order) and each takes the nearest truth point within the radius not yet taken.
    So the curve at every threshold comes from one pass, O(pairs · log); re-solving the exact
    one-to-one matching at each threshold would be O(n²). At the lowest threshold the greedy
    TP count can be below :func:`match_points`'s exact maximum in crowded scenes.

    Parameters
    ----------
    pred_zyx : (N, 3) array_like of float
        Picked centres, zyx voxels.
    scores : (N,) array_like of float
        Confidence of each pick (higher is better).
    truth_zyx : (M, 3) array_like of float
        Ground-truth centres, zyx voxels.
    radius_voxels : float or (M,) array_like of float
        Match radius in voxels, or one per truth point.

    Returns
    -------
    PRCurve
    """
    pred = as_points(pred_zyx, "pred_zyx")
    truth = as_points(truth_zyx, "truth_zyx")
    radius = as_radius(radius_voxels, len(truth))
    score = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(score) != len(pred):
        raise UnpickInputError(f"scores: expected one score per pick ({len(pred)}), got {len(score)}")
    if not np.isfinite(score).all():
        raise UnpickInputError("scores: contain NaN or infinite values; give every pick a finite score")
    order = np.argsort(-score, kind="stable")
    hit = greedy_hits(pred, order, truth, radius)[order]
    sorted_scores = score[order]
    tp = np.cumsum(hit)
    n_kept = np.arange(1, len(pred) + 1)
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True] if len(pred) else np.zeros(0, bool)
    tp, n_kept = tp[last_of_tie], n_kept[last_of_tie]
    precision = tp / n_kept
    recall = tp / len(truth) if len(truth) else np.zeros(len(tp))
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.r_[0.0, recall])
    return PRCurve(
        thresholds=sorted_scores[last_of_tie],
        precision=precision.astype(np.float64),
        recall=recall.astype(np.float64),
        average_precision=float(np.sum(steps * envelope)),
    )
