"""Fit the two-cluster voxel classifier on a sample of voxel features."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from .._shared import UnpickInputError, as_rng
from ._config import ClusterConfig
from ._gram import gram_matrix
from ._model import FittedClusterer, decision_block, params_from_estimator
from ._rule import choose_particle_cluster
from ._tied_mixture import TiedGaussianMixture

logger = logging.getLogger(__name__)

_BLOCK_ROWS = 1 << 16


def fit_clusterer(
    features: Any,
    intensity: Any,
    *,
    config: ClusterConfig,
    rng: int | np.random.Generator | None = 0,
    feature_mode: str | None = None,
) -> FittedClusterer:
    """Fit K-Means or a Gaussian mixture with two clusters and name the particle cluster.

    Features are standardised per column (z-score on this sample; a constant column is only
    centred), whitened when ``feature_mode`` is one of ``config.whiten_modes`` (see
    ``whitening_matrix``), and clustered in float32 with scikit-learn, seeded from ``rng``. The particle
    cluster is chosen by ``config.particle_cluster`` (see ``choose_particle_cluster``) and the
    decision is logged at INFO and kept in ``FittedClusterer.decision``.

    Parameters
    ----------
    features : (N, F) float array
        Features of the sampled voxels (host memory); cast to float32.
    intensity : (N,) float array
        Preprocessed (blurred, [0, 1]) intensity at the same voxels, for the contrast rules.
    config : ClusterConfig
    rng : int, Generator or None
        Seed for the scikit-learn ``random_state``; the same seed gives the same fit.
    feature_mode : str, optional
        The mode the features come from ('intensities', 'fft', 'gabor'), for ``whiten_modes``.

    Returns
    -------
    FittedClusterer
    """
    if not isinstance(config, ClusterConfig):
        raise UnpickInputError(f"config: expected a ClusterConfig, got {type(config).__name__}")
    feats = _check_sample(features, intensity)
    intensity = np.asarray(intensity, dtype=np.float64).reshape(-1)
    seed = int(as_rng(rng).integers(2**31 - 1))

    mean, scale = _column_moments(feats)
    standardised = feats - mean.astype(np.float32)
    standardised *= (1.0 / scale).astype(np.float32)
    whitening = None
    if feature_mode is not None and feature_mode in config.whiten_modes:
        whitening = whitening_matrix(standardised, shrinkage=config.whiten_shrinkage)
        standardised = standardised @ whitening
    estimator = _fit_estimator(standardised, config, seed)
    del standardised

    params = params_from_estimator(estimator, method=config.method, mean=mean, scale=scale, whitening=whitening)
    labels = np.concatenate(
        [
            decision_block(feats[i : i + _BLOCK_ROWS], params, particle=1, xp=np) > 0
            for i in range(0, len(feats), _BLOCK_ROWS)
        ]
    ).astype(np.intp)
    counts = np.bincount(labels, minlength=2)
    if counts.min() == 0:
        raise UnpickInputError(
            f"features: the {len(feats)} sampled voxels fall into a single cluster (their feature vectors "
            "are (nearly) identical); sample more voxels or check that the volume is not blank"
        )
    decision = choose_particle_cluster(labels, intensity, rule=config.particle_cluster)
    decision["method"] = config.method
    decision["conditioning"] = "standardised" if whitening is None else f"whitened (shrinkage {config.whiten_shrinkage:g})"
    log = logger.warning if decision["doubtful"] else logger.info
    log("particle cluster = %d (%s)", decision["particle_label"], decision["reason"])
    return FittedClusterer(config=config, params=params, estimator=estimator, decision=decision)


def _check_sample(features: Any, intensity: Any) -> np.ndarray:
    """Return the features as a float32 (N, F) array after checking shapes and finiteness."""
    feats = np.asarray(features, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[0] < 2 or feats.shape[1] < 1:
        raise UnpickInputError(
            f"features: expected an (N, F) array with N >= 2 sampled voxels and F >= 1 features, "
            f"got shape {feats.shape}"
        )
    inten = np.asarray(intensity)
    if inten.shape != (feats.shape[0],):
        raise UnpickInputError(
            f"intensity: expected shape ({feats.shape[0]},), one value per sampled voxel, got {inten.shape}"
        )
    for name, array in (("features", feats), ("intensity", inten)):
        if not np.all(np.isfinite(array)):
            raise UnpickInputError(f"{name}: contains NaN or infinite values; repair the volume before fitting")
    return feats


def _column_moments(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation, accumulated in float64 without a float64 copy.

    A column whose spread is at float32 rounding level gets scale 1 (centred, not divided).
    """
    n = len(feats)
    mean = np.sum(feats, axis=0, dtype=np.float64) / n
    mean32 = mean.astype(np.float32)
    sq = np.zeros(feats.shape[1])
    for start in range(0, n, _BLOCK_ROWS):
        block = feats[start : start + _BLOCK_ROWS] - mean32
        sq += np.einsum("ij,ij->j", block, block, dtype=np.float64)
    std = np.sqrt(sq / n)
    flat = std <= 8 * np.finfo(np.float32).eps * np.maximum(np.abs(mean), 1.0)
    if flat.any():
        logger.debug("features %s are constant on the sample: centred, not scaled", np.flatnonzero(flat).tolist())
    return mean, np.where(flat, 1.0, std)


def whitening_matrix(standardised: np.ndarray, *, shrinkage: float) -> np.ndarray:
    """(F, F) float32 ``W = V diag(1 / sqrt(lambda + shrinkage))`` from the covariance ``V diag(lambda) V^T``
    of the z-scored sample: ``standardised @ W`` has principal axes of variance ``lambda / (lambda + shrinkage)``,
    about 1 for every direction well above ``shrinkage`` and shrunk towards 0 below it.

    The covariance is accumulated in float64 over row blocks (no float64 copy of the sample). The
    eigenvector signs are fixed (largest entry positive) so the same sample gives the same matrix.
    """
    n, n_features = standardised.shape
    variances, axes = np.linalg.eigh(gram_matrix(standardised) / n)
    axes *= np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(n_features)])
    return (axes / np.sqrt(np.maximum(variances, 0.0) + shrinkage)).astype(np.float32)


def _fit_estimator(standardised: np.ndarray, config: ClusterConfig, seed: int) -> Any:
    """Fit the scikit-learn model on float32 standardised features."""
    if config.method == "kmeans":
        estimator = KMeans(
            n_clusters=2, n_init=config.n_init, max_iter=config.max_iter, random_state=seed, copy_x=False
        )
    else:
        estimator = TiedGaussianMixture(
            n_components=2,
            covariance_type=config.covariance_type,
            max_iter=config.max_iter,
            reg_covar=config.reg_covar,
            random_state=seed,
        )
    with warnings.catch_warnings():
        # convergence is reported through logging below; a single-cluster sample is caught by the caller
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(standardised)
    if config.method == "gmm" and not estimator.converged_:
        logger.warning(
            "GMM did not converge in %d iterations (%d features); raise max_iter if the masks look wrong",
            config.max_iter,
            standardised.shape[1],
        )
    return estimator
