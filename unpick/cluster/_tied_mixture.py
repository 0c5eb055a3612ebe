"""scikit-learn's Gaussian mixture, with the tied-covariance E-step projecting the samples once."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.mixture import GaussianMixture


class TiedGaussianMixture(GaussianMixture):
    """``sklearn.mixture.GaussianMixture`` whose tied-covariance log densities share one product.

    With a tied covariance every component whitens the samples with the same Cholesky factor
    ``P`` of the precision: scikit-learn computes ``X @ P`` once per component in each E-step,
    the bulk of the fit for 125 intensities features. Here it is computed once and each
    component subtracts its own ``mean @ P`` from it: the same operations on the same operands,
    so the fit is bit for bit scikit-learn's (tests/test_cluster.py) at half the matrix products.
    Every other covariance type, and non-NumPy input, goes to scikit-learn's own code.
    """

    def _estimate_log_prob(self, X: Any, xp: Any = None) -> Any:
        if self.covariance_type != "tied" or not isinstance(X, np.ndarray):
            return super()._estimate_log_prob(X, xp=xp)
        factor = self.precisions_cholesky_
        projected = X @ factor
        log_prob = np.empty((X.shape[0], len(self.means_)), dtype=X.dtype)
        for k, mean in enumerate(self.means_):
            log_prob[:, k] = np.sum(np.square(projected - mean @ factor), axis=1)
        # -0.5 log det(precision) is the log det of its Cholesky factor: the sum of its log diagonal
        log_det = np.sum(np.log(np.diagonal(factor)))
        return -0.5 * (X.shape[1] * math.log(2 * math.pi) + log_prob) + log_det
