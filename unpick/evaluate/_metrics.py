"""Detection scores from the one-to-one matching: TP/FP/FN, precision, recall, F1, F-beta.

Conventions for empty sets (no division by zero, no NaN): precision is 0 when there are no
picks, recall is 0 when there is no truth, and an F score is 0 when precision + recall = 0.
So zero picks against zero truth scores 0 everywhere, as in the CZII challenge metric.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._shared import UnpickInputError, check_positive
from ._matching import as_points, match_points


def safe_ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or 0.0 when the denominator is 0."""
    return float(numerator) / float(denominator) if denominator > 0 else 0.0


def fbeta_score(precision: float, recall: float, beta: float) -> float:
    """F-beta = (1 + β²)·P·R / (β²·P + R); 0 when P + R = 0. β > 1 weighs recall more."""
    b2 = float(beta) ** 2
    denominator = b2 * precision + recall
    return (1.0 + b2) * precision * recall / denominator if denominator > 0 else 0.0


def counts_to_scores(tp: int, n_pred: int, n_truth: int, *, beta: float = 1.0) -> dict[str, Any]:
    """The score dict of :func:`score_points` from the counts of one matching."""
    precision = safe_ratio(tp, n_pred)
    recall = safe_ratio(tp, n_truth)
    return {
        "tp": int(tp),
        "fp": int(n_pred - tp),
        "fn": int(n_truth - tp),
        "precision": precision,
        "recall": recall,
        "f1": fbeta_score(precision, recall, 1.0),
        "fbeta": fbeta_score(precision, recall, beta),
        "beta": float(beta),
        "n_pred": int(n_pred),
        "n_truth": int(n_truth),
    }


def score_points(pred_zyx: Any, truth_zyx: Any, *, radius_voxels: float | Any, beta: float = 1.0) -> dict[str, Any]:
    """Precision, recall, F1 and F-beta of picks against ground truth (one-to-one matching).

    Parameters
    ----------
    pred_zyx : (N, 3) array_like of float
        Picked centres, zyx voxels.
    truth_zyx : (M, 3) array_like of float
        Ground-truth centres, zyx voxels.
    radius_voxels : float or (M,) array_like of float
        Match radius in voxels (distance <= radius counts), or one per truth point.
    beta : float
        F-beta weight (> 0); β = 1 gives F1.

    Returns
    -------
    dict
        ``tp, fp, fn, precision, recall, f1, fbeta, beta, n_pred, n_truth``. Each pick matches
        at most one truth point and vice versa, so two picks on one particle give 1 TP + 1 FP.
        Empty sets score 0 (see the module notes).
    """
    beta = check_positive(beta, "beta")
    matching = match_points(pred_zyx, truth_zyx, radius_voxels=radius_voxels)
    return counts_to_scores(matching.tp, matching.n_pred, matching.n_truth, beta=beta)


def per_class_recall(
    pred_zyx: Any, truth_zyx: Any, truth_classes: Any, *, radius_voxels: float | Any
) -> dict[str, dict[str, Any]]:
    """Recall of each ground-truth class under the one-to-one matching of all picks to all truth.

    Parameters
    ----------
    pred_zyx : (N, 3) array_like of float
        Picked centres (without class), zyx voxels.
    truth_zyx : (M, 3) array_like of float
        Ground-truth centres, zyx voxels.
    truth_classes : (M,) array_like
        Class label of each truth point (converted to ``str``).
    radius_voxels : float or (M,) array_like of float
        Match radius in voxels, or one per truth point.

    Returns
    -------
    dict
        ``{class: {"recall": float, "tp": int, "n": int}}`` in sorted class order.
    """
    truth = as_points(truth_zyx, "truth_zyx")
    classes = np.asarray(truth_classes, dtype=object).reshape(-1).astype(str)
    if len(classes) != len(truth):
        raise UnpickInputError(f"truth_classes: expected one label per truth point ({len(truth)}), got {len(classes)}")
    matching = match_points(pred_zyx, truth, radius_voxels=radius_voxels)
    hit = np.zeros(len(truth), dtype=bool)
    hit[matching.truth_index] = True
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(classes)):
        in_class = classes == name
        tp = int(np.count_nonzero(hit & in_class))
        n = int(np.count_nonzero(in_class))
        out[name] = {"recall": safe_ratio(tp, n), "tp": tp, "n": n}
    return out
