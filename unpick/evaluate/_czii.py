"""The CZII CryoET Object Identification challenge metric (Kaggle 2024–25), "any-hit" counting.

What the official scorer does, per particle class (reproduced here for one tomogram):

- a truth point is *hit* when at least one pick of that class lies within
  ``distance_multiplier × particle radius`` of it (distance <= threshold; multiplier 0.5);
- ``TP`` = number of distinct truth points hit; ``FP = n_picks − TP``; ``FN = n_truth − TP``.
  So a second pick on the same particle is a false positive, as in one-to-one matching, but
  one pick lying within the threshold of two truth points hits both (TP can then exceed the
  number of useful picks, and FP can even go negative: the scorer's documented quirk for
  particles closer than the threshold, kept here so numbers agree with it);
- precision = TP/(TP+FP), recall = TP/(TP+FN) (0 when the denominator is 0) and
  ``F_β = (1+β²)·P·R/(β²·P + R)`` with β = 4 (0 when P + R = 0);
- the score is the weighted mean of the per-class F_β (challenge weights: 1 for easy
  classes, 2 for hard ones, 0 for the unscored one).

Over several tomograms the official scorer sums TP/FP/FN per class before computing F_β;
add the per-class counts returned here to reproduce that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from .._shared import UnpickInputError, check_positive
from ._matching import as_points
from ._metrics import fbeta_score, safe_ratio


def _any_hit_counts(pred: np.ndarray, truth: np.ndarray, threshold: float) -> tuple[int, int, int]:
    """(TP, FP, FN) with the challenge's any-hit counting."""
    if len(truth) == 0:
        return 0, len(pred), 0
    if len(pred) == 0:
        return 0, 0, len(truth)
    hits = cKDTree(pred).query_ball_point(truth, r=threshold, return_length=True)
    tp = int(np.count_nonzero(hits))
    return tp, len(pred) - tp, len(truth) - tp


def czii_score(
    pred_zyx_by_class: Mapping[str, Any],
    truth_zyx_by_class: Mapping[str, Any],
    *,
    radius_voxels_by_class: Mapping[str, float],
    weights_by_class: Mapping[str, float],
    beta: float = 4.0,
    distance_multiplier: float = 0.5,
) -> dict[str, Any]:
    """CZII challenge score of class-labelled picks in one tomogram (see the module notes).

    Parameters
    ----------
    pred_zyx_by_class : mapping of class name to (N_c, 3) array_like
        Picks per class, zyx voxels. A class missing here has no picks.
    truth_zyx_by_class : mapping of class name to (M_c, 3) array_like
        Ground truth per class, zyx voxels; every class listed here is scored (an empty array
        is a class with no particles in this tomogram: its picks are all false positives).
    radius_voxels_by_class : mapping of class name to float
        Particle radius per scored class, in voxels (the match threshold is
        ``distance_multiplier`` times it).
    weights_by_class : mapping of class name to float
        Weight of each class's F_β in the final score (>= 0, not all 0 among scored classes).
    beta : float
        F-beta weight; the challenge uses 4 (recall counts 16 times as much as precision).
    distance_multiplier : float
        Fraction of the particle radius within which a pick hits a particle (challenge: 0.5).

    Returns
    -------
    dict
        ``score`` (weighted mean F_β) and ``per_class``: ``{class: {tp, fp, fn, precision,
        recall, fbeta, weight}}``.
    """
    beta = check_positive(beta, "beta")
    multiplier = check_positive(distance_multiplier, "distance_multiplier")
    scored = list(truth_zyx_by_class)
    if not scored:
        raise UnpickInputError("truth_zyx_by_class: expected at least one class, got none")
    unknown = sorted(set(pred_zyx_by_class) - set(weights_by_class))
    if unknown:
        raise UnpickInputError(
            f"pred_zyx_by_class: unrecognised class(es) {', '.join(unknown)}; "
            f"known classes: {', '.join(sorted(weights_by_class))}"
        )
    per_class: dict[str, dict[str, Any]] = {}
    for name in scored:
        for table, label in (
            (radius_voxels_by_class, "radius_voxels_by_class"),
            (weights_by_class, "weights_by_class"),
        ):
            if name not in table:
                raise UnpickInputError(f"{label}: no value for scored class {name!r}; add one")
        weight = float(weights_by_class[name])
        if not np.isfinite(weight) or weight < 0:
            raise UnpickInputError(f"weights_by_class[{name!r}]: expected a number >= 0, got {weight!r}")
        radius = check_positive(radius_voxels_by_class[name], f"radius_voxels_by_class[{name!r}]", unit="voxels")
        truth = as_points(truth_zyx_by_class[name], f"truth_zyx_by_class[{name!r}]")
        pred = as_points(pred_zyx_by_class.get(name, np.zeros((0, 3))), f"pred_zyx_by_class[{name!r}]")
        tp, fp, fn = _any_hit_counts(pred, truth, multiplier * radius)
        precision, recall = safe_ratio(tp, tp + fp), safe_ratio(tp, tp + fn)
        per_class[name] = {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": precision,
            "recall": recall,
            "fbeta": fbeta_score(precision, recall, beta),
            "weight": weight,
        }
    weights = np.array([c["weight"] for c in per_class.values()])
    if weights.sum() <= 0:
        raise UnpickInputError("weights_by_class: the scored classes all have weight 0; give one a positive weight")
    fbetas = np.array([c["fbeta"] for c in per_class.values()])
    return {"score": float(np.average(fbetas, weights=weights)), "per_class": per_class, "beta": beta}
