"""Semantic segmentation of one feature mode: fit clusterers on a voxel sample, predict chunk by chunk."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .._shared import Backend, thread_map, to_numpy
from ..cluster import DecisionLevels, decision_levels, fit_clusterer, zero_border
from ..features import build_feature_bank, sample_interior_voxels
from ..instances import OperatingPoint
from ._config import PickConfig
from ._names import CLUSTERERS, FEATURE_MODES

logger = logging.getLogger(__name__)

HALO = 2  # voxels within this distance of a face have no full 5³ neighbourhood


@dataclass
class Segmentation:
    """Per-voxel decision levels (uint8, ``DecisionLevels``) of one feature mode and clusterer.

    ``level`` is the mask threshold: the clusterer's own boundary until the runner chooses an
    operating point from the data (``operating``); ``mask`` is ``levels >= level``.
    """

    name: str
    levels: np.ndarray
    decision_levels: DecisionLevels
    decision: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)
    operating: OperatingPoint | None = None

    @property
    def level(self) -> int:
        return self.decision_levels.boundary_level if self.operating is None else self.operating.level

    @property
    def mask(self) -> np.ndarray:
        """uint8 0/1 particle mask at the current level."""
        return (self.levels >= self.level).view(np.uint8)

    @property
    def particle_fraction(self) -> float:
        return float(np.count_nonzero(self.levels >= self.level)) / self.levels.size


def stage_rng(seed: int, mode: str, clusterer: str | None = None) -> np.random.Generator:
    """One generator per feature mode (and per clusterer within it), so that any subset of the
    workflows draws exactly the numbers the full run draws and reproduces its picks."""
    key = [seed, FEATURE_MODES.index(mode)]
    if clusterer is not None:
        key.append(1 + CLUSTERERS.index(clusterer))
    return np.random.default_rng(key)


def segment_mode(
    volume: np.ndarray,
    *,
    mode: str,
    clusterers: tuple[str, ...],
    config: PickConfig,
    fit_z_range: tuple[int, int],
    pick_z_range: tuple[int, int],
    backend: Backend,
    progress: bool = False,
) -> tuple[list[Segmentation], dict[str, Any]]:
    """Segment the preprocessed ``volume`` (Z, Y, X) with feature ``mode`` and each clusterer.

    Features of the fit sample come from explicit neighbourhoods; the full volume is streamed in
    z-chunks, so memory is one chunk of features plus one uint8 level volume per clusterer. The
    levels quantise each clusterer's signed decision value on a log grid of its tail on the fit
    sample (``unpick.cluster.decision_levels``), so any mask threshold can be chosen afterwards.
    Returns the segmentations and a record (feature bank, sample size, timings) for the job file.
    """
    rng = stage_rng(config.seed, mode)
    timings: dict[str, float] = {}
    # Everything fitted runs with one BLAS thread per operation, and K-Means with one OpenMP thread:
    # with more, matrix products and K-Means/EM sum in another order (two threads moved GMM means by
    # 1e-3), so the same seed would give other picks on another machine. The independent pieces
    # (Gabor filter batches, the two clusterers) run side by side on threads instead.
    with threadpool_limits(limits=1, user_api="blas"):  # BLAS's count is global: set once, here
        start = time.perf_counter()
        bank = build_feature_bank(
            volume, config=config.feature_config(mode), rng=rng, fit_z_range=fit_z_range, backend=backend
        )
        timings["feature_bank"] = time.perf_counter() - start

        start = time.perf_counter()
        # sized for both clusterers whichever run, so a subset of workflows sees the same sample
        n_sample = max(config.cluster_config(c).sample_voxels for c in CLUSTERERS)
        sample_idx = sample_interior_voxels(volume.shape, n_sample, rng=rng, z_range=fit_z_range)
        sample_features = bank.at_voxels(volume, sample_idx)
        sample_intensity = np.asarray(volume[tuple(sample_idx.T)], dtype=np.float32)
        timings["sample_features"] = time.perf_counter() - start

        def fit(name: str) -> tuple[Any, DecisionLevels, float]:
            start = time.perf_counter()
            cfg = config.cluster_config(name)
            fit_rng = stage_rng(config.seed, mode, name)
            rows = _subsample_rows(len(sample_idx), cfg.sample_voxels, fit_rng)
            with threadpool_limits(limits=1, user_api="openmp"):  # OpenMP's count is per calling thread
                model = fit_clusterer(
                    sample_features[rows], sample_intensity[rows], config=cfg, rng=fit_rng, feature_mode=mode
                )
                quantiser = decision_levels(model.predict_chunk(sample_features)[1])
            return model, quantiser, time.perf_counter() - start

        fits = dict(zip(clusterers, thread_map(fit, list(clusterers))))
    fitted = {name: model for name, (model, _, _) in fits.items()}
    quantisers = {name: quantiser for name, (_, quantiser, _) in fits.items()}
    for name, (model, _, seconds) in fits.items():
        timings[f"fit_{name}"] = seconds
        logger.info("%s-%s: %s", mode, name, model.decision.get("reason", model.decision))

    start = time.perf_counter()
    levels = {name: np.zeros(volume.shape, dtype=np.uint8) for name in clusterers}
    z_lo, z_hi = max(pick_z_range[0], HALO), min(pick_z_range[1], volume.shape[0] - HALO)
    plane = volume.shape[1:]
    # a pick slab inside the border band has no voxel with a full neighbourhood: nothing to predict
    linear = {name: model.linear_decision for name, model in fitted.items()}
    all_linear = all(v is not None for v in linear.values())
    with tqdm(total=z_hi - z_lo, desc=f"{mode} features", unit="slice", disable=not progress, leave=False) as bar:
        for z0, z1, decisions in _chunk_decisions(bank, volume, fitted, linear if all_linear else None,
                                                  z_range=(z_lo, z_hi), backend=backend):  # fmt: skip
            for name, decision in decisions.items():
                quantised = quantisers[name].quantise(decision, xp=backend.xp)
                levels[name][z0:z1] = to_numpy(quantised).reshape(z1 - z0, *plane)
            del decisions  # free this chunk before the next one is computed
            bar.update(z1 - z0)
    for name in clusterers:
        zero_border(levels[name], width=HALO)
    timings["predict"] = time.perf_counter() - start

    segmentations = [
        Segmentation(
            f"{mode}-{name}", levels[name], quantisers[name], fitted[name].decision, {"fit": timings[f"fit_{name}"]}
        )
        for name in clusterers
    ]
    record = {
        "feature_bank": bank.to_record(),
        "n_features": bank.n_features,
        "decision_path": _decision_path(mode, linear=all_linear),
        "sample_voxels": int(len(sample_idx)),
        "timings_s": timings,
    }
    return segmentations, record


def _chunk_decisions(
    bank: Any,
    volume: np.ndarray,
    fitted: dict[str, Any],
    linear: dict[str, tuple[np.ndarray, float]] | None,
    *,
    z_range: tuple[int, int],
    backend: Backend,
) -> Any:
    """Yield ``(z0, z1, {clusterer: decision})`` chunk by chunk over ``z_range``.

    With ``linear`` (every clusterer's decision is ``features @ w + b``), each decision comes from
    ``FeatureBank.linear_responses``: one 5³ correlation of the volume for intensities, weighted
    magnitudes accumulated in place for fft and gabor; the (n, F) features are never built.
    Otherwise the features of each chunk go through each clusterer's ``predict_chunk``. Both
    agree within float32 rounding (tests/test_workflows.py).
    """
    if z_range[0] >= z_range[1]:
        return
    if linear is not None:
        names = list(linear)
        responses = bank.linear_responses(volume, [linear[n][0] for n in names], z_range=z_range, backend=backend)
        for z0, z1, values in responses:
            for value, name in zip(values, names):
                value += backend.xp.float32(linear[name][1])
            yield z0, z1, dict(zip(names, values))
        return
    for z0, z1, features in bank.iter_chunks(volume, z_range=z_range, backend=backend):
        decisions = {name: model.predict_chunk(features, backend=backend)[1] for name, model in fitted.items()}
        del features
        yield z0, z1, decisions


def _decision_path(mode: str, *, linear: bool) -> str:
    """How the decisions of ``mode`` were computed, for the job record."""
    if not linear:
        return "features x clusterer"
    return "5^3 correlation (linear decision)" if mode == "intensities" else "weighted magnitudes (linear decision)"


def _subsample_rows(n_available: int, n_wanted: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a seeded subset of ``n_wanted`` rows (all rows when fewer are available)."""
    if n_wanted >= n_available:
        return np.arange(n_available)
    return np.sort(rng.choice(n_available, size=n_wanted, replace=False))
