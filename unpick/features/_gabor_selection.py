"""The Gabor filters of one tomogram: the most varying responses of the bank, without near-duplicates."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .._shared import thread_map
from ._config import FeatureConfig
from ._kernels import MagnitudeSpec, gabor_spec, neighbourhood_magnitudes
from ._sampling import iter_neighbourhoods, sample_interior_voxels

logger = logging.getLogger(__name__)

SELECTION_FILTER_BATCH = 256  # Gabor filters scored at once during selection


def select_gabor_filters(
    volume_pre: Any, config: FeatureConfig, *, rng: np.random.Generator, fit_z_range: tuple[int, int] | None
) -> tuple[MagnitudeSpec, list[str], tuple[dict[str, Any], ...]]:
    """Choose the Gabor filters of ``config`` for the preprocessed ``volume_pre`` from its own voxels.

    Every filter of the bank is scored by the standard deviation of its |response| on a seeded
    sample of ``config.gabor_selection_voxels`` interior voxels inside ``fit_z_range``; the
    ``config.n_gabor_features`` largest are taken (ties broken by bank order), and each of them
    whose |response| correlates above ``config.gabor_max_correlation`` with one kept before it is
    dropped as a near-duplicate. Returns the kept filters' spec, their names and a record per
    kept filter (name, frequency, response std).
    """
    full, full_names = gabor_spec(config.gabor_frequencies_per_axis, sigma=config.gabor_sigma, signed=config.gabor_signed)
    sample = sample_interior_voxels(volume_pre.shape, config.gabor_selection_voxels, rng=rng, z_range=fit_z_range)
    neighbourhoods = np.concatenate([block for _, block in iter_neighbourhoods(volume_pre, sample)])
    stds = _response_std(neighbourhoods, full)
    top = np.argsort(-stds, kind="stable")[: config.n_gabor_features]
    top_responses = neighbourhood_magnitudes(neighbourhoods, full.subset(top).real_imag())
    keep = top[_distinct_columns(top_responses, max_correlation=config.gabor_max_correlation)]
    selected = tuple(
        {"name": full_names[j], "frequency_zyx": [float(v) for v in full.frequencies_zyx[j]], "response_std": float(stds[j])}
        for j in keep
    )
    logger.info(
        "gabor: kept %d of %d filters by response std on %d voxels, %d of the top %d dropped as near-duplicates "
        "(|response| correlation > %g) (%s ... %s)",
        len(keep), full.n_features, len(sample), len(top) - len(keep), len(top), config.gabor_max_correlation,
        selected[0]["name"], selected[-1]["name"],
    )  # fmt: skip
    return full.subset(keep), [full_names[j] for j in keep], selected


def _response_std(neighbourhoods: np.ndarray, spec: MagnitudeSpec) -> np.ndarray:
    """Standard deviation over the sampled (n, 125) neighbourhoods of each filter's |response|
    (float64, per filter)."""
    stds = np.empty(spec.n_features)

    def score(start: int) -> None:  # batches of filters side by side on threads
        cols = np.arange(start, min(start + SELECTION_FILTER_BATCH, spec.n_features))
        stds[cols] = neighbourhood_magnitudes(neighbourhoods, spec.subset(cols).real_imag()).std(axis=0, dtype=np.float64)

    thread_map(score, range(0, spec.n_features, SELECTION_FILTER_BATCH))
    return stds


def _distinct_columns(responses: np.ndarray, *, max_correlation: float) -> np.ndarray:
    """Indices of the columns of ``responses`` (n, K) kept in order, each dropped whose Pearson
    correlation with a column kept before it exceeds ``max_correlation`` in magnitude; the first is
    always kept."""
    centred = responses.astype(np.float64) - responses.mean(axis=0, dtype=np.float64)
    norms = np.linalg.norm(centred, axis=0)
    unit = centred / np.where(norms > 0, norms, 1.0)
    correlation = unit.T @ unit
    kept: list[int] = []
    for column in range(responses.shape[1]):
        if not kept or np.max(np.abs(correlation[column, kept])) <= max_correlation:
            kept.append(column)
    return np.asarray(kept, dtype=np.intp)
