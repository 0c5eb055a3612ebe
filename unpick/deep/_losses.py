"""PN, non-negative PU and GE-KL objectives on voxel logits.

Every loss takes ``logits`` (any shape), ``labels`` (same shape; 1 positive, 0 unlabelled,
-1 ignore) and ``weights`` (same shape, >= 0; voxels of weight 0 do not count) and returns a
scalar tensor. ``L`` is the logistic (binary cross-entropy) loss: ``L(f, 1) = softplus(-f)``,
``L(f, 0) = softplus(f)``; expectations are weighted means over the positive or unlabelled
voxels of the batch (0 when a batch has none).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._shared import UnpickInputError

NNPU_BETA = 0.0  # Kiryo et al. 2017: tolerated negative risk before the correction step
NNPU_GAMMA = 1.0  # Kiryo et al. 2017: step size of the correction step
_EPS = 1e-6


def _check(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, prior: float, name: str) -> None:
    if logits.shape != labels.shape or logits.shape != weights.shape:
        raise UnpickInputError(
            f"{name}: logits, labels and weights must have the same shape, got "
            f"{tuple(logits.shape)}, {tuple(labels.shape)}, {tuple(weights.shape)}"
        )
    if not 0 < prior < 1:
        raise UnpickInputError(f"{name}: prior must be in (0, 1), got {prior!r}")


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    total = weights.sum()
    if total.item() <= 0:
        return values.new_zeros(())
    return (values * weights).sum() / total


def _split(labels: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights restricted to the positive and to the unlabelled voxels."""
    weights = weights.to(torch.float32)
    return weights * (labels == 1), weights * (labels == 0)


def pn_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, *, prior: float) -> torch.Tensor:
    """Positive-negative baseline: unlabelled voxels are taken as negatives.

    ``pi * E_P[L(f, 1)] + (1 - pi) * E_U[L(f, 0)]`` (TomoPicker, section 2.2.1), with ``prior``
    the fraction of positive voxels pi.
    """
    _check(logits, labels, weights, prior, "pn_loss")
    w_pos, w_unl = _split(labels, weights)
    return prior * _weighted_mean(F.softplus(-logits), w_pos) + (1 - prior) * _weighted_mean(F.softplus(logits), w_unl)


def nnpu_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    *,
    prior: float,
    labelled_fraction: float = 0.0,
) -> torch.Tensor:
    """Non-negative PU risk (Kiryo et al., NeurIPS 2017) with beta = 0 and gamma = 1.

    With pi_U = ``prior`` (positive fraction of the unlabelled voxels) and p = ``labelled_fraction``
    (labelled positives over labelled + unlabelled voxels; 0 is Kiryo's case-control setting
    where U is drawn from all data), the risk of all voxels splits into

    * ``R+ = pi * E_P[L(f, 1)]`` with ``pi = p + (1 - p) * pi_U``;
    * ``R- = (1 - p) * (E_U[L(f, 0)] - pi_U * E_P[L(f, 0)])``, the negative-class risk.

    If ``R- >= -beta`` the returned value is ``R+ + R-`` and its gradient the usual one.
    Otherwise the estimate is over-fitted: the returned value is the non-negative risk
    ``R+ + max(0, R-)`` but its gradient is ``-gamma * grad(R-)``, the correction step of
    Kiryo et al.'s algorithm (which pushes the negative risk back up).
    """
    _check(logits, labels, weights, prior, "nnpu_loss")
    if not 0 <= labelled_fraction < 1:
        raise UnpickInputError(f"nnpu_loss: labelled_fraction must be in [0, 1), got {labelled_fraction!r}")
    w_pos, w_unl = _split(labels, weights)
    full_prior = labelled_fraction + (1 - labelled_fraction) * prior
    positive_risk = full_prior * _weighted_mean(F.softplus(-logits), w_pos)
    negative_risk = (1 - labelled_fraction) * (
        _weighted_mean(F.softplus(logits), w_unl) - prior * _weighted_mean(F.softplus(logits), w_pos)
    )
    if negative_risk.item() >= -NNPU_BETA:
        return positive_risk + negative_risk
    correction = -NNPU_GAMMA * negative_risk
    value = (positive_risk + negative_risk.clamp(min=0.0)).detach()
    return value + correction - correction.detach()


def gekl_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    *,
    prior: float,
    slack: float = 10.0,
) -> torch.Tensor:
    """Generalised-expectation KL criterion (Topaz; TomoPicker's KL-based PU learning).

    ``E_P[L(f, 1)] + slack * KL(pi_U || q)`` with ``q = E_U[sigmoid(f)]`` the mean predicted
    positive rate over the unlabelled voxels and ``pi_U = prior`` the rate it should match;
    ``KL(a || b) = a log(a / b) + (1 - a) log((1 - a) / (1 - b))``.
    """
    _check(logits, labels, weights, prior, "gekl_loss")
    if not slack > 0:
        raise UnpickInputError(f"gekl_loss: slack must be positive, got {slack!r}")
    w_pos, w_unl = _split(labels, weights)
    positive_risk = _weighted_mean(F.softplus(-logits), w_pos)
    if w_unl.sum().item() <= 0:
        return positive_risk
    rate = _weighted_mean(torch.sigmoid(logits), w_unl).clamp(_EPS, 1 - _EPS)
    divergence = prior * (math.log(prior) - torch.log(rate)) + (1 - prior) * (math.log(1 - prior) - torch.log1p(-rate))
    return positive_risk + slack * divergence


def drop_high_loss_positives(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, *, fraction: float
) -> torch.Tensor:
    """Weights with the ``fraction`` of positive voxels of highest ``L(f, 1)`` set to 0.

    The small-loss trick against false pseudo-positives: a wrong pick is the hardest to fit.
    The selection is made without gradient; ``floor(fraction * n_positive)`` voxels are dropped.
    """
    if not 0 <= fraction < 1:
        raise UnpickInputError(f"drop_high_loss_positives: fraction must be in [0, 1), got {fraction!r}")
    positive = (labels == 1) & (weights > 0)
    n_drop = int(math.floor(fraction * int(positive.sum())))
    if n_drop == 0:
        return weights
    with torch.no_grad():
        loss = torch.where(positive, F.softplus(-logits), torch.full_like(logits, -math.inf))
        drop = torch.topk(loss.reshape(-1), n_drop).indices
    kept = weights.reshape(-1).clone()
    kept[drop] = 0
    return kept.reshape(weights.shape)
