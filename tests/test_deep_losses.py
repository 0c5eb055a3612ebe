"""PN, nnPU and GE-KL objectives against values and gradients worked out by hand."""

import math

import pytest

torch = pytest.importorskip("torch")

from unpick._shared import UnpickInputError  # noqa: E402
from unpick.deep import drop_high_loss_positives, gekl_loss, nnpu_loss, pn_loss  # noqa: E402

LOGITS = [2.0, -1.0, 0.5, -3.0, 1.0]
LABELS = [1, 1, 0, 0, -1]  # two positives, two unlabelled, one ignored
WEIGHTS = [1.0, 0.5, 1.0, 1.0, 0.0]


def sp(x):
    return math.log1p(math.exp(x))


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


# weighted expectations of the logistic loss, by hand
E_P_POS = (1.0 * sp(-2.0) + 0.5 * sp(1.0)) / 1.5  # E_P[L(f, 1)]
E_P_NEG = (1.0 * sp(2.0) + 0.5 * sp(-1.0)) / 1.5  # E_P[L(f, 0)]
E_U_NEG = (sp(0.5) + sp(-3.0)) / 2  # E_U[L(f, 0)]


def tensors():
    logits = torch.tensor(LOGITS, dtype=torch.float32, requires_grad=True)
    return logits, torch.tensor(LABELS, dtype=torch.int8), torch.tensor(WEIGHTS)


def test_pn_loss_value_and_gradient():
    logits, labels, weights = tensors()
    loss = pn_loss(logits, labels, weights, prior=0.2)
    assert loss.item() == pytest.approx(0.2 * E_P_POS + 0.8 * E_U_NEG, rel=1e-6)
    loss.backward()
    expected = [
        -0.2 * 1.0 / 1.5 * sig(-2.0),
        -0.2 * 0.5 / 1.5 * sig(1.0),
        0.8 / 2 * sig(0.5),
        0.8 / 2 * sig(-3.0),
        0.0,
    ]
    assert logits.grad.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_nnpu_regular_branch_value_and_gradient():
    # R- = E_U[L(f,0)] - 0.1 E_P[L(f,0)] = 0.511 - 0.152 > 0: plain unbiased PU risk
    logits, labels, weights = tensors()
    assert E_U_NEG - 0.1 * E_P_NEG > 0
    loss = nnpu_loss(logits, labels, weights, prior=0.1)
    assert loss.item() == pytest.approx(0.1 * E_P_POS + E_U_NEG - 0.1 * E_P_NEG, rel=1e-6)
    loss.backward()
    expected = [
        0.1 * 1.0 / 1.5 * (-sig(-2.0) - sig(2.0)),
        0.1 * 0.5 / 1.5 * (-sig(1.0) - sig(-1.0)),
        sig(0.5) / 2,
        sig(-3.0) / 2,
        0.0,
    ]
    assert logits.grad.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_nnpu_correction_branch_value_and_gradient():
    # prior 0.6: R- = 0.511 - 0.6 * 1.522 < 0, so the value is the clamped risk pi R+ and the
    # gradient is -gamma grad(R-) with gamma = 1 (Kiryo et al. 2017, beta = 0)
    logits, labels, weights = tensors()
    assert E_U_NEG - 0.6 * E_P_NEG < 0
    loss = nnpu_loss(logits, labels, weights, prior=0.6)
    assert loss.item() == pytest.approx(0.6 * E_P_POS, rel=1e-6)
    loss.backward()
    expected = [
        0.6 * 1.0 / 1.5 * sig(2.0),
        0.6 * 0.5 / 1.5 * sig(-1.0),
        -sig(0.5) / 2,
        -sig(-3.0) / 2,
        0.0,
    ]
    assert logits.grad.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_nnpu_labelled_fraction_weights_the_two_risks():
    logits, labels, weights = tensors()
    loss = nnpu_loss(logits, labels, weights, prior=0.1, labelled_fraction=0.5)
    full_prior = 0.5 + 0.5 * 0.1
    assert loss.item() == pytest.approx(full_prior * E_P_POS + 0.5 * (E_U_NEG - 0.1 * E_P_NEG), rel=1e-6)


def test_gekl_value_and_gradient():
    logits, labels, weights = tensors()
    rate = (sig(0.5) + sig(-3.0)) / 2
    kl = 0.1 * math.log(0.1 / rate) + 0.9 * math.log(0.9 / (1 - rate))
    loss = gekl_loss(logits, labels, weights, prior=0.1, slack=2.0)
    assert loss.item() == pytest.approx(E_P_POS + 2.0 * kl, rel=1e-6)
    loss.backward()
    d_kl_d_rate = -0.1 / rate + 0.9 / (1 - rate)
    expected = [
        -1.0 / 1.5 * sig(-2.0),
        -0.5 / 1.5 * sig(1.0),
        2.0 * d_kl_d_rate * sig(0.5) * (1 - sig(0.5)) / 2,
        2.0 * d_kl_d_rate * sig(-3.0) * (1 - sig(-3.0)) / 2,
        0.0,
    ]
    assert logits.grad.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_gekl_is_minimal_when_the_unlabelled_rate_matches_the_prior():
    labels = torch.tensor([0] * 10, dtype=torch.int8)
    weights = torch.ones(10)
    matched = torch.full((10,), math.log(0.1 / 0.9))  # sigmoid = 0.1
    off = torch.full((10,), 0.0)
    assert gekl_loss(matched, labels, weights, prior=0.1).item() == pytest.approx(0.0, abs=1e-6)
    assert gekl_loss(off, labels, weights, prior=0.1).item() > 0.1


def test_batches_without_positives_or_unlabelled_are_finite():
    logits = torch.tensor([0.3, -0.2])
    only_unlabelled = torch.tensor([0, 0], dtype=torch.int8)
    only_positive = torch.tensor([1, 1], dtype=torch.int8)
    ones = torch.ones(2)
    assert pn_loss(logits, only_unlabelled, ones, prior=0.1).item() == pytest.approx(0.9 * (sp(0.3) + sp(-0.2)) / 2)
    assert nnpu_loss(logits, only_unlabelled, ones, prior=0.1).item() == pytest.approx((sp(0.3) + sp(-0.2)) / 2)
    assert gekl_loss(logits, only_positive, ones, prior=0.1).item() == pytest.approx((sp(-0.3) + sp(0.2)) / 2)


def test_drop_high_loss_positives_zeroes_the_worst_fitted_positives():
    logits = torch.tensor([3.0, -2.0, 1.0, -4.0, 0.0, -5.0])
    labels = torch.tensor([1, 1, 1, 1, 0, 0], dtype=torch.int8)
    weights = torch.ones(6)
    kept = drop_high_loss_positives(logits, labels, weights, fraction=0.5)
    # the two positives with the lowest logits (highest L(f, 1)) go; unlabelled never do
    assert kept.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    assert drop_high_loss_positives(logits, labels, weights, fraction=0.2) is weights  # floor(0.8) = 0


@pytest.mark.parametrize("loss", [pn_loss, nnpu_loss, gekl_loss])
def test_bad_inputs_are_rejected(loss):
    logits, labels, weights = tensors()
    with pytest.raises(UnpickInputError, match="same shape"):
        loss(logits, labels[:3], weights, prior=0.1)
    with pytest.raises(UnpickInputError, match="prior must be in"):
        loss(logits, labels, weights, prior=1.5)


def test_bad_nnpu_and_drop_options_are_rejected():
    logits, labels, weights = tensors()
    with pytest.raises(UnpickInputError, match="labelled_fraction"):
        nnpu_loss(logits, labels, weights, prior=0.1, labelled_fraction=1.0)
    with pytest.raises(UnpickInputError, match="slack"):
        gekl_loss(logits, labels, weights, prior=0.1, slack=0.0)
    with pytest.raises(UnpickInputError, match="fraction"):
        drop_high_loss_positives(logits, labels, weights, fraction=1.0)
