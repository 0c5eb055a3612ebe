"""Pseudo-label targets (positive core, ignore shell, unlabelled), pick weights, class priors.

NumPy only: no torch here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._shared import UnpickInputError, check_positive

logger = logging.getLogger(__name__)

POSITIVE, UNLABELLED, IGNORE = 1, 0, -1
MIN_PRIOR = 1e-5  # floor of the unlabelled prior when the expected count is not above the labelled one


def check_coords(picks_zyx: Any, name: str) -> np.ndarray:
    coords = np.asarray(picks_zyx, dtype=np.float64)
    if coords.size == 0:
        return coords.reshape(0, 3)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise UnpickInputError(f"{name}: expected an (N, 3) array of zyx voxel coordinates, got shape {coords.shape}")
    if not np.all(np.isfinite(coords)):
        raise UnpickInputError(f"{name}: coordinates must be finite; drop the NaN/inf rows")
    return coords


def build_targets(
    shape_zyx: tuple[int, int, int],
    picks_zyx: Any,
    *,
    radius_voxels: float,
    core_fraction: float = 0.4,
    weights: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-voxel PU labels and weights from pseudo-positive picks.

    Each pick paints a positive core (distance <= ``core_fraction * radius_voxels`` from its
    centre) and an ignore shell (core < distance <= ``radius_voxels``); every other voxel is
    unlabelled. Where picks overlap, positive wins over ignore and the larger weight is kept.

    Parameters
    ----------
    shape_zyx : tuple of 3 int
        Volume shape (Z, Y, X).
    picks_zyx : (N, 3) array
        Pick centres in voxels, zyx; picks outside the volume paint only what falls inside.
    radius_voxels : float
        Particle radius in voxels.
    core_fraction : float
        Radius of the positive core as a fraction of ``radius_voxels`` (0.3-0.5 recommended).
    weights : (N,) array, optional
        Weight of each pick's positive voxels (default 1).

    Returns
    -------
    labels : int8 array (Z, Y, X)
        1 positive, 0 unlabelled, -1 ignore.
    voxel_weights : float32 array (Z, Y, X)
        The pick weight on positive voxels, 1 on unlabelled voxels, 0 on ignored ones.
    """
    radius = check_positive(radius_voxels, "radius_voxels", unit="voxels")
    if not 0 < core_fraction <= 1:
        raise UnpickInputError(f"core_fraction: expected a number in (0, 1], got {core_fraction!r}")
    shape = tuple(int(n) for n in shape_zyx)
    if len(shape) != 3 or min(shape) < 1:
        raise UnpickInputError(f"shape_zyx: expected 3 positive sizes (Z, Y, X), got {shape_zyx!r}")
    coords = check_coords(picks_zyx, "picks_zyx")
    pick_weights = np.ones(len(coords)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(pick_weights) != len(coords) or np.any(~np.isfinite(pick_weights)) or np.any(pick_weights < 0):
        raise UnpickInputError(
            f"weights: expected {len(coords)} finite non-negative values (one per pick), got {len(pick_weights)}"
        )
    core = core_fraction * radius
    labels = np.zeros(shape, dtype=np.int8)
    positive_weight = np.zeros(shape, dtype=np.float32)
    reach = int(math.ceil(radius))
    for centre, weight in zip(coords, pick_weights):
        lo = np.maximum(np.floor(centre).astype(int) - reach, 0)
        hi = np.minimum(np.floor(centre).astype(int) + reach + 2, shape)
        if np.any(hi <= lo):
            continue
        grids = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        dist2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
        window = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
        box, box_weight = labels[window], positive_weight[window]
        in_core = dist2 <= core * core
        in_shell = (dist2 <= radius * radius) & ~in_core & (box != POSITIVE)
        box[in_shell] = IGNORE
        box[in_core] = POSITIVE
        box_weight[in_core] = np.maximum(box_weight[in_core], weight)
    voxel_weights = np.where(labels == UNLABELLED, np.float32(1), positive_weight).astype(np.float32)
    voxel_weights[labels == IGNORE] = 0
    return labels, voxel_weights


def rank_weights(scores: Any, *, min_weight: float = 0.25) -> np.ndarray:
    """Weights in [min_weight, 1] growing linearly with the rank of each teacher score.

    Ranks (ties averaged) make the weights independent of each workflow's score scale; the
    best-scored pick weighs 1 and the worst ``min_weight``. A single pick weighs 1.
    """
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if np.any(~np.isfinite(values)):
        raise UnpickInputError("scores: expected finite teacher scores; drop or fill the NaN rows")
    if len(values) < 2:
        return np.ones(len(values))
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=np.float64)
    # average the ranks of tied scores
    unique, inverse = np.unique(values, return_inverse=True)
    if len(unique) < len(values):
        ranks = (np.bincount(inverse, ranks) / np.bincount(inverse))[inverse]
    return min_weight + (1.0 - min_weight) * ranks / (len(values) - 1)


def core_voxel_count(radius_voxels: float, core_fraction: float) -> int:
    """Number of lattice voxels within the positive core of a pick centred on a voxel."""
    core = core_fraction * radius_voxels
    reach = int(math.floor(core))
    axis = np.arange(-reach, reach + 1) ** 2
    dist2 = axis[:, None, None] + axis[None, :, None] + axis[None, None, :]
    return int(np.count_nonzero(dist2 <= core * core))


@dataclass(frozen=True)
class ClassPriors:
    """Class priors of the PU objectives.

    ``unlabelled``: pi_U, the fraction of positive(-core) voxels among the unlabelled voxels.
    ``labelled_fraction``: p_obs, labelled positive voxels over labelled + unlabelled voxels.
    ``full``: pi = p_obs + (1 - p_obs) * pi_U, the positive fraction of all those voxels.
    ``expected_count``: particles per tomogram the priors assume.
    """

    unlabelled: float
    labelled_fraction: float
    full: float
    expected_count: float


def estimate_priors(
    label_volumes: list[np.ndarray],
    *,
    n_picks: int,
    radius_voxels: float,
    core_fraction: float,
    prior: float | None = None,
    expected_count: float | None = None,
    expected_count_factor: float = 1.5,
) -> ClassPriors:
    """Class priors from an expected particle count, corrected for labelled voxels.

    The expected number of positive-core voxels is ``prior * n_voxels`` when ``prior`` is
    given, else ``expected_count * n_tomograms * core_voxels``, where ``expected_count``
    defaults to ``expected_count_factor * n_picks / n_tomograms`` (the teacher misses
    particles). Unlabelled voxels exclude the labelled positives and the ignore shells, so
    ``pi_U = (expected - labelled positives) / unlabelled voxels``, which is
    ``(pi - p_obs) / (1 - p_obs)`` when there is no ignore shell. pi_U is floored at 1e-5
    (with a warning) when the expectation does not exceed what is already labelled.
    """
    n_tomos = len(label_volumes)
    n_voxels = sum(int(v.size) for v in label_volumes)
    n_pos = sum(int(np.count_nonzero(v == POSITIVE)) for v in label_volumes)
    n_unl = sum(int(np.count_nonzero(v == UNLABELLED)) for v in label_volumes)
    if n_unl == 0:
        raise UnpickInputError("pseudo-labels cover every voxel; nothing is unlabelled (check radius and picks)")
    core_voxels = core_voxel_count(radius_voxels, core_fraction)
    if prior is not None:
        expected_voxels = prior * n_voxels
        count = expected_voxels / core_voxels / n_tomos
    else:
        count = expected_count if expected_count is not None else expected_count_factor * n_picks / n_tomos
        expected_voxels = count * n_tomos * core_voxels
    pi_u = (expected_voxels - n_pos) / n_unl
    if pi_u < MIN_PRIOR:
        logger.warning(
            "expected particle count %.0f per tomogram does not exceed the %d pseudo-positives; "
            "unlabelled prior floored at %g (raise expected_count)",
            count,
            n_picks,
            MIN_PRIOR,
        )
    pi_u = float(min(max(pi_u, MIN_PRIOR), 0.5))
    p_obs = n_pos / (n_pos + n_unl)
    priors = ClassPriors(
        unlabelled=pi_u, labelled_fraction=p_obs, full=p_obs + (1 - p_obs) * pi_u, expected_count=count
    )
    logger.info(
        "class priors: %.0f particles per tomogram expected -> pi = %.3g, pi_U = %.3g (labelled fraction %.3g)",
        count,
        priors.full,
        priors.unlabelled,
        p_obs,
    )
    return priors
