"""A fitted two-cluster classifier whose prediction runs in float32 on any array module."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .._shared import CPU, Backend, UnpickInputError
from ._config import ClusterConfig

# Rows per block: one (rows, F) float32 temporary of about this many elements. A linear decision
# (K-Means, tied GMM) is a few memory-bound passes and runs 2-3x faster on the CPU on cache-sized
# blocks; quadratic GMM decisions are matrix products that want big blocks, as does everything on a
# GPU (launch overhead).
_BLOCK_ELEMENTS = 1 << 24
_CPU_LINEAR_BLOCK_ELEMENTS = 1 << 16


@dataclasses.dataclass(frozen=True)
class ClusterParams:
    """Fitted parameters in the conditioned feature space ``z = (features - mean) / scale``,
    followed by ``z @ whitening`` when the features were whitened (``whitening`` (F, F), else None).

    K-Means keeps ``centers`` (2, F). A two-component GMM is kept as its log-odds
    ``L(z) = log p(1 | z) - log p(0 | z) = -0.5 * sum_i curvature_i * u_i**2 + gradient . z + offset``,
    with ``u = z @ basis`` (``basis`` (F, K), the eigenvectors of the precision difference
    ``Lambda_1 - Lambda_0`` with non-negligible eigenvalue ``curvature`` (K,)); for diagonal
    and spherical covariances ``basis`` is None and ``u = z`` (``curvature`` (F,)). One
    (n, F) x (F, K) product instead of one per component; none at all for tied covariances,
    whose log-odds are linear. Host arrays, float32 (``offset`` a float).
    """

    method: str
    mean: np.ndarray
    scale: np.ndarray
    centers: np.ndarray | None = None
    basis: np.ndarray | None = None
    curvature: np.ndarray | None = None
    gradient: np.ndarray | None = None
    offset: float = 0.0
    whitening: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])


def params_from_estimator(
    estimator: Any, *, method: str, mean: np.ndarray, scale: np.ndarray, whitening: np.ndarray | None = None
) -> ClusterParams:
    """Collect what prediction needs from a fitted scikit-learn KMeans / GaussianMixture (fitted on
    ``((features - mean) / scale) @ whitening``, or without the product when ``whitening`` is None)."""
    f32 = np.float32
    whitening = None if whitening is None else np.ascontiguousarray(whitening, dtype=f32)
    if method == "kmeans":
        return ClusterParams(
            method,
            mean.astype(f32),
            scale.astype(f32),
            centers=estimator.cluster_centers_.astype(f32),
            whitening=whitening,
        )
    n_features = mean.shape[0]
    chol = np.asarray(estimator.precisions_cholesky_, dtype=np.float64)
    means = np.asarray(estimator.means_, dtype=np.float64)
    kind = estimator.covariance_type
    if kind == "spherical":
        chol = np.repeat(chol[:, None], n_features, axis=1)
    elif kind == "tied":
        chol = np.stack([chol, chol])
    diagonal = chol.ndim == 2
    if diagonal:  # precision of each component, per feature
        precision = chol * chol
        log_det = np.log(chol).sum(axis=1)
        weighted_means = precision * means
    else:
        precision = chol @ np.transpose(chol, (0, 2, 1))
        log_det = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        weighted_means = np.einsum("kij,kj->ki", precision, means)
    log_norm = np.log(estimator.weights_) + log_det - 0.5 * np.einsum("ki,ki->k", means, weighted_means)
    difference = precision[1] - precision[0]
    basis = None
    if diagonal:
        curvature = difference
    else:
        curvature, basis = np.linalg.eigh(difference)
        keep = np.abs(curvature) > 1e-9 * max(np.abs(precision).max(), 1.0)  # tied: none
        curvature, basis = curvature[keep], basis[:, keep]
    return ClusterParams(
        method,
        mean.astype(f32),
        scale.astype(f32),
        basis=None if basis is None else np.ascontiguousarray(basis, dtype=f32),
        curvature=curvature.astype(f32),
        gradient=(weighted_means[1] - weighted_means[0]).astype(f32),
        offset=float(log_norm[1] - log_norm[0]),
        whitening=whitening,
    )


def decision_block(features: Any, params: ClusterParams, *, particle: int, xp: Any) -> Any:
    """Signed decision value of one block of feature rows: > 0 on the particle side.

    Parameters
    ----------
    features : (n, F) xp float32 array
    params : ClusterParams
    particle : {0, 1}
        Index of the particle cluster.
    xp : module
        numpy or cupy (the module of ``features``).

    Returns
    -------
    (n,) xp float32 array
        K-Means: ``d_bg**2 - d_particle**2``, the difference of squared distances to the two
        centroids in standardised space (linear in the features: ``2 (c_p - c_bg) . z + const``).
        GMM: the log-odds ``log p(particle | z) - log p(background | z)``. Zero is the clusterer's
        own boundary; the value orders voxels from background-like to particle-like, which is what
        the data-driven operating point (``unpick.instances.choose_operating_level``) thresholds.
    """
    z = features - xp.asarray(params.mean)
    z *= xp.asarray(1.0 / params.scale)
    if params.whitening is not None:
        z = z @ xp.asarray(params.whitening)
    if params.method == "kmeans":
        center, other = params.centers[particle].astype(np.float64), params.centers[1 - particle].astype(np.float64)
        direction = xp.asarray((2 * (center - other)).astype(np.float32))
        offset = xp.float32(other @ other - center @ center)
        return (z @ direction + offset).astype(xp.float32, copy=False)
    log_odds = z @ xp.asarray(params.gradient) + xp.float32(params.offset)
    curvature = xp.asarray(params.curvature)
    if params.basis is None:
        log_odds -= 0.5 * xp.einsum("ij,ij,j->i", z, z, curvature)
    elif params.basis.shape[1]:
        u = z @ xp.asarray(params.basis)
        log_odds -= 0.5 * xp.einsum("ij,ij,j->i", u, u, curvature)
    if particle == 0:
        log_odds = -log_odds
    return log_odds.astype(xp.float32, copy=False)


def linear_decision(params: ClusterParams, *, particle: int) -> tuple[np.ndarray, float] | None:
    """``(weights, offset)`` with ``decision_block(features) = features @ weights + offset`` in the
    raw (unstandardised) feature space, when the decision is linear: K-Means, and a GMM whose
    precision difference vanishes (tied covariance). None for a quadratic decision.

    Conditioning is affine, so ``direction . (((f - mean) / scale) @ W) + b`` is
    ``f . (W @ direction / scale) + (b - mean . W @ direction / scale)``. float64.
    """
    if params.method == "kmeans":
        center = params.centers[particle].astype(np.float64)
        other = params.centers[1 - particle].astype(np.float64)
        direction, bias = 2 * (center - other), float(other @ other - center @ center)
    elif params.basis is not None and not params.basis.shape[1]:
        direction, bias = params.gradient.astype(np.float64), float(params.offset)
        if particle == 0:
            direction, bias = -direction, -bias
    else:
        return None
    if params.whitening is not None:
        direction = params.whitening.astype(np.float64) @ direction
    weights = direction / params.scale.astype(np.float64)
    return weights, bias - float(params.mean.astype(np.float64) @ weights)


class FittedClusterer:
    """A two-cluster voxel classifier fitted by ``fit_clusterer``.

    Attributes
    ----------
    config : ClusterConfig
    particle_label : int
        Index (0 or 1) of the particle cluster.
    decision : dict
        How ``particle_label`` was chosen (JSON-serialisable): rule, reason, per-cluster sample
        fractions and mean intensities.
    params : ClusterParams
        Standardisation and cluster parameters (float32).
    estimator : sklearn.cluster.KMeans or sklearn.mixture.GaussianMixture
        The fitted scikit-learn model (cluster indices match ``particle_label``).
    """

    def __init__(self, *, config: ClusterConfig, params: ClusterParams, estimator: Any, decision: dict) -> None:
        self.config = config
        self.params = params
        self.estimator = estimator
        self.decision = decision
        self.particle_label = int(decision["particle_label"])

    def __repr__(self) -> str:
        return (
            f"FittedClusterer(method={self.config.method!r}, n_features={self.params.n_features}, "
            f"particle_label={self.particle_label})"
        )

    @property
    def linear_decision(self) -> tuple[np.ndarray, float] | None:
        """``(weights, offset)`` of a linear decision in raw features (``linear_decision``), else None."""
        return linear_decision(self.params, particle=self.particle_label)

    def predict_chunk(self, features: Any, *, backend: Backend = CPU) -> tuple[Any, Any]:
        """Classify voxels from their features, in float32 on ``backend``.

        Parameters
        ----------
        features : (n, F) array
            Raw (unstandardised) features, numpy or cupy; cast to float32 block by block.
        backend : Backend
            Where to compute (``unpick._shared.get_backend``); host input is moved there.

        Returns
        -------
        is_particle : (n,) xp bool array
            True where the voxel is on the particle side of the clusterer's own boundary (agrees
            with the estimator's ``predict`` up to float32 ties).
        decision : (n,) xp float32 array
            Signed decision value (``decision_block``): K-Means ``d_bg**2 - d_particle**2`` in
            standardised space, GMM log-odds of the particle component. NaN features give NaN.
        """
        xp = backend.xp
        shape = getattr(features, "shape", None)
        n_features = self.params.n_features
        if shape is None or len(shape) != 2 or shape[1] != n_features:
            raise UnpickInputError(
                f"features: expected an (n, {n_features}) array like the fit sample, got shape "
                f"{None if shape is None else tuple(shape)}; use the same feature mode as the fit"
            )
        n = shape[0]
        decision = xp.empty(n, dtype=xp.float32)
        linear = self.params.method == "kmeans" or (self.params.basis is not None and not self.params.basis.shape[1])
        cache_sized = backend.name == "cpu" and linear
        rows = max(1024, (_CPU_LINEAR_BLOCK_ELEMENTS if cache_sized else _BLOCK_ELEMENTS) // n_features)
        for start in range(0, n, rows):
            block = backend.asarray(features[start : start + rows], dtype=xp.float32)
            decision[start : start + rows] = decision_block(block, self.params, particle=self.particle_label, xp=xp)
        return decision > 0, decision
