"""scikit-learn's Gaussian mixture, with the tied-covariance EM in O(N·F) per iteration.

With one covariance ``Sigma`` shared by every component, the log density of a sample is
``-0.5 x' Sigma^-1 x + x' Sigma^-1 mu_k + c_k``: the quadratic term is the same for every
component, so the responsibilities need only the linear terms, one ``(N, F) @ (F, K)`` product.
The quadratic term enters the likelihood through its mean alone, ``trace(Sigma^-1 S)`` with the
second-moment matrix ``S = X'X / N``, and the M-step's tied covariance is ``S`` less the
weighted outer products of the means. ``S`` is fixed for a fit: computed once, it replaces the
two ``(N, F) @ (F, F)`` products scikit-learn makes in every iteration (``X @ P`` in the E-step,
``X' X`` in the M-step), the bulk of the fit for 125 intensities features.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg
from sklearn.mixture import GaussianMixture

from ._gram import gram_matrix


class TiedGaussianMixture(GaussianMixture):
    """``sklearn.mixture.GaussianMixture`` whose tied-covariance fit is linear in the features.

    scikit-learn's own loop, initialisation (its K-Means), convergence test (``tol`` on the mean
    log-likelihood) and fitted attributes; only the E- and M-steps of a tied covariance on a
    NumPy array are replaced by the algebra in the module docstring. The fitted parameters equal
    scikit-learn's to float32 rounding, with the same number of iterations except where the
    likelihood's change lands within rounding of ``tol`` (tests/test_cluster.py); the second
    moments and every small matrix are float64. Every other covariance type, and non-NumPy
    input, goes to scikit-learn's own code.
    """

    def fit_predict(self, X: Any, y: Any = None) -> Any:
        self._moments: tuple[Any, np.ndarray] | None = None
        try:
            return super().fit_predict(X, y)
        finally:
            self._moments = None  # drops the reference to the sample

    def _linear_fit(self, X: Any) -> bool:
        return self.covariance_type == "tied" and isinstance(X, np.ndarray)

    def _second_moments(self, X: np.ndarray) -> np.ndarray:
        """``X'X / N`` in float64, computed once per fit (the sample is the same in every step)."""
        cached = getattr(self, "_moments", None)
        if cached is None or cached[0] is not X:
            self._moments = (X, gram_matrix(X) / len(X))
            cached = self._moments
        return cached[1]

    def _e_step(self, X: Any, xp: Any = None) -> tuple[Any, Any]:
        if not self._linear_fit(X):
            return super()._e_step(X, xp=xp)
        factor = np.asarray(self.precisions_cholesky_, dtype=np.float64)
        precision = factor @ factor.T
        means = np.asarray(self.means_, dtype=np.float64)
        directions = precision @ means.T  # (F, K): Sigma^-1 mu_k
        n_features = X.shape[1]
        # log det(precision) / 2 is the log det of its Cholesky factor: the sum of its log diagonal
        constant = np.sum(np.log(np.diagonal(factor))) - 0.5 * n_features * math.log(2 * math.pi)
        offsets = np.log(np.asarray(self.weights_, dtype=np.float64)) - 0.5 * np.einsum("fk,kf->k", directions, means)
        # each sample's log density per component, less its common -0.5 x' Sigma^-1 x
        linear = (X @ directions.astype(X.dtype)).astype(np.float64) + offsets
        log_norm = np.logaddexp.reduce(linear, axis=1)
        quadratic = 0.5 * float(np.sum(precision * self._second_moments(X)))  # mean of 0.5 x' Sigma^-1 x
        log_resp = (linear - log_norm[:, None]).astype(X.dtype)
        return float(np.mean(log_norm)) - quadratic + constant, log_resp

    def _m_step(self, X: Any, log_resp: Any, xp: Any = None) -> None:
        if not self._linear_fit(X):
            return super()._m_step(X, log_resp, xp=xp)
        resp = np.exp(log_resp)
        n_samples, n_features = X.shape
        counts = np.sum(resp, axis=0, dtype=np.float64) + 10 * np.finfo(resp.dtype).eps
        means = (resp.T @ X).astype(np.float64) / counts[:, None]
        covariance = self._second_moments(X) - (counts * means.T) @ means / n_samples
        covariance *= n_samples / counts.sum()
        covariance.flat[:: n_features + 1] += self.reg_covar
        weights = counts / counts.sum()
        self.weights_, self.means_, self.covariances_ = weights, means, covariance
        self.precisions_cholesky_ = _tied_precision_cholesky(covariance)
        return None

    def _estimate_log_prob(self, X: Any, xp: Any = None) -> Any:
        """Per-sample log densities (for ``score_samples``, ``predict`` and the like): each
        component subtracts its own ``mean @ P`` from one shared ``X @ P``."""
        if self.covariance_type != "tied" or not isinstance(X, np.ndarray):
            return super()._estimate_log_prob(X, xp=xp)
        factor = np.asarray(self.precisions_cholesky_, dtype=X.dtype)
        projected = X @ factor
        log_prob = np.empty((X.shape[0], len(self.means_)), dtype=X.dtype)
        for k, mean in enumerate(np.asarray(self.means_, dtype=X.dtype)):
            log_prob[:, k] = np.sum(np.square(projected - mean @ factor), axis=1)
        log_det = np.sum(np.log(np.diagonal(factor)))
        return -0.5 * (X.shape[1] * math.log(2 * math.pi) + log_prob) + log_det


def _tied_precision_cholesky(covariance: np.ndarray) -> np.ndarray:
    """The upper factor ``P`` with ``P P' = covariance^-1`` (scikit-learn's ``precisions_cholesky_``)."""
    try:
        lower = scipy.linalg.cholesky(covariance, lower=True)
    except np.linalg.LinAlgError as err:
        raise ValueError(
            "Fitting the mixture model failed because the tied covariance is not positive definite; "
            "increase reg_covar"
        ) from err
    return scipy.linalg.solve_triangular(lower, np.eye(len(covariance)), lower=True).T
