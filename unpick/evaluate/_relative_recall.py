"""Relative recall (PickET): recall balanced against random guessing with as many picks.

For ground truth that annotates only some particle types, precision (and so F1) is
underestimated; relative recall uses recall only, against a random baseline of the same
number of picks drawn in the same region.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._shared import UnpickInputError, as_rng
from .._shared import check_shape
from ._baselines import random_points
from ._matching import as_points, as_radius, match_points
from ._metrics import fbeta_score, safe_ratio


def relative_recall_from(recall: float, random_recall: float) -> float:
    """``RR = 2·R·(1 − R_rand) / (R + 1 − R_rand)``, and 0 when R = 0.

    RR is the harmonic mean of R and 1 − R_rand, so it lies in [0, 1] (no clipping needed).
    """
    denominator = recall + 1.0 - random_recall
    return 2.0 * recall * (1.0 - random_recall) / denominator if recall > 0 and denominator > 0 else 0.0


def relative_recall(
    pred_zyx: Any,
    truth_zyx: Any,
    *,
    radius_voxels: float | Any,
    region_shape_zyx: Any,
    z_range: tuple[int, int] | None = None,
    mask: Any = None,
    n_draws: int = 20,
    rng: int | np.random.Generator | None = 0,
) -> dict[str, Any]:
    """Relative recall of picks against uniformly random picks in the same region.

    ``R`` is the recall of the picks (one-to-one matching within the radius); ``R_rand`` the
    mean recall of ``n_draws`` seeded sets of as many uniformly random points drawn in the
    evaluated region (the volume, the half-open z-slab ``[z0, z1)`` and/or ``mask``), matched
    the same way. ``RR = 2·R·(1 − R_rand) / (R + 1 − R_rand)``, defined as 0 when R = 0.

    Parameters
    ----------
    pred_zyx : (N, 3) array_like of float
        Picked centres, zyx voxels.
    truth_zyx : (M, 3) array_like of float
        Ground-truth centres, zyx voxels. They are used as given: restrict them to the
        evaluated region first if the picks were restricted to it.
    radius_voxels : float or (M,) array_like of float
        Match radius in voxels, or one per truth point.
    region_shape_zyx : (3,) ints
        Shape (Z, Y, X) of the tomogram the picks come from.
    z_range : (z0, z1), optional
        Half-open slice range the random points are drawn in.
    mask : (Z, Y, X) bool array_like, optional
        Voxels the random points are drawn in.
    n_draws : int
        Number of random draws averaged (>= 1; use 10 or more).
    rng : int, Generator or None
        Seed for the draws.

    Returns
    -------
    dict
        ``relative_recall``, ``recall``, ``random_recall_mean``, ``random_recall_sd`` (sample
        SD over draws), ``random_f1_mean`` (mean F1 of the random draws), ``n_pred``, ``n_draws``.

    Notes
    -----
    RR is the harmonic mean of R and 1 − R_rand (PickET, Arvindekar et al.). It penalises
    over-picking: more picks raise R_rand. For picks no better than random, R ≈ R_rand and
    RR ≈ 2·R_rand·(1 − R_rand), which is near 0 only while random picks find few particles
    (sparse picks in a large volume); with many picks even random guessing scores up to 0.5.
    """
    pred = as_points(pred_zyx, "pred_zyx")
    truth = as_points(truth_zyx, "truth_zyx")
    radius = as_radius(radius_voxels, len(truth))
    shape = check_shape(region_shape_zyx, "region_shape_zyx")
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise UnpickInputError(f"n_draws: expected an integer >= 1 (10 or more recommended), got {n_draws!r}")
    gen = as_rng(rng)
    recall = safe_ratio(match_points(pred, truth, radius_voxels=radius).tp, len(truth))
    random_tp = np.array(
        [
            match_points(
                random_points(len(pred), shape, rng=gen, z_range=z_range, mask=mask), truth, radius_voxels=radius
            ).tp
            for _ in range(int(n_draws))
        ],
        dtype=np.float64,
    )
    random_recalls = random_tp / len(truth) if len(truth) else np.zeros_like(random_tp)
    random_f1 = [fbeta_score(safe_ratio(tp, len(pred)), safe_ratio(tp, len(truth)), 1.0) for tp in random_tp]
    random_recall = float(random_recalls.mean())
    return {
        "relative_recall": relative_recall_from(recall, random_recall),
        "recall": recall,
        "random_recall_mean": random_recall,
        "random_recall_sd": float(random_recalls.std(ddof=1)) if n_draws > 1 else 0.0,
        "random_f1_mean": float(np.mean(random_f1)),
        "n_pred": len(pred),
        "n_draws": int(n_draws),
    }
