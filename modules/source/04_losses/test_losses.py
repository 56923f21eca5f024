"""Unit tests of module 04 (losses): values against NumPy formulas (and torch when installed),
reductions, stability for extreme logits, and error messages for bad targets."""

from __future__ import annotations

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.losses import (
    BCEWithLogitsLoss,
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    MSELoss,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
)

pytestmark = pytest.mark.module("losses")

RNG = np.random.default_rng(4)
PREDICTIONS = RNG.standard_normal((5, 3))
TARGETS = RNG.standard_normal((5, 3))
LOGITS = RNG.standard_normal((6, 4)) * 3
CLASSES = np.array([0, 3, 1, 1, 2, 3])
PROBABILITIES = np.array([[0.9, 0.2], [0.35, 0.6], [0.01, 0.999]])
LABELS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def reduce(losses, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](losses)


def np_cross_entropy(logits, classes):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(classes)), classes]


def np_bce_with_logits(x, y):
    return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))


def f64(array):
    return Tensor(array, dtype=np.float64)


REDUCTIONS = ["mean", "sum", "none"]


# -- MSE -----------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_matches_numpy(reduction):
    result = MSELoss(reduction)(f64(PREDICTIONS), f64(TARGETS))
    np.testing.assert_allclose(result.data, reduce((PREDICTIONS - TARGETS) ** 2, reduction), rtol=1e-12)


def test_mse_known_value_and_default_dtype():
    result = mse_loss(Tensor([1.0, 2.0, 4.0]), [1.0, 0.0, 1.0])  # (0 + 4 + 9) / 3
    assert result.shape == () and result.dtype == np.float32
    assert result.item() == pytest.approx(13 / 3, rel=1e-6)


def test_mse_refuses_shapes_that_would_broadcast():
    with pytest.raises(ValueError) as error:
        mse_loss(Tensor(np.zeros((4, 1))), Tensor(np.zeros(4)))
    assert str(error.value) == (
        "mse_loss got predictions of shape (4, 1) and targets of shape (4,): expected equal shapes"
    )


# -- cross-entropy ---------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_numpy(reduction):
    result = CrossEntropyLoss(reduction)(f64(LOGITS), CLASSES)
    np.testing.assert_allclose(result.data, reduce(np_cross_entropy(LOGITS, CLASSES), reduction), rtol=1e-12)
    assert result.shape == (() if reduction != "none" else (6,))


def test_cross_entropy_known_values():
    uniform = cross_entropy(Tensor(np.zeros((2, 4))), [0, 3])
    assert uniform.item() == pytest.approx(np.log(4), rel=1e-6)
    assert uniform.dtype == np.float32
    confident = cross_entropy(f64([[0.0, 10.0]]), [1])
    assert confident.item() == pytest.approx(np.log1p(np.exp(-10.0)), rel=1e-9)


def test_cross_entropy_accepts_targets_as_tensor_list_or_array():
    expected = cross_entropy(f64(LOGITS), CLASSES).item()
    assert cross_entropy(f64(LOGITS), Tensor(CLASSES)).item() == expected
    assert cross_entropy(f64(LOGITS), CLASSES.tolist()).item() == expected
    assert cross_entropy(f64(LOGITS), CLASSES.astype(np.int32)).item() == expected


def test_cross_entropy_is_finite_and_exact_for_logits_of_1000():
    logits = Tensor([[1000.0, -1000.0], [-1000.0, 1000.0], [1000.0, 1000.0]])
    losses = cross_entropy(logits, [1, 1, 0], reduction="none")
    np.testing.assert_allclose(losses.data, [2000.0, 0.0, np.log(2.0)], rtol=1e-6)
    assert np.isfinite(cross_entropy(logits, [1, 1, 0]).item())


def test_cross_entropy_does_not_modify_the_logits():
    logits = LOGITS.copy()
    cross_entropy(f64(logits), CLASSES)
    np.testing.assert_array_equal(logits, LOGITS)


def test_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    for reduction in REDUCTIONS:
        expected = torch.nn.functional.cross_entropy(torch.tensor(LOGITS), torch.tensor(CLASSES), reduction=reduction)
        np.testing.assert_allclose(cross_entropy(f64(LOGITS), CLASSES, reduction).data, expected.numpy(), rtol=1e-12)


def test_cross_entropy_refuses_float_targets():
    with pytest.raises(TypeError, match="targets must be integer class indices; got dtype float64"):
        cross_entropy(Tensor(LOGITS), CLASSES.astype(np.float64))


def test_cross_entropy_refuses_out_of_range_targets():
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\]; got values from 0 to 4"):
        cross_entropy(Tensor(LOGITS), [0, 1, 2, 3, 4, 0])
    with pytest.raises(ValueError, match=r"got values from -1 to 2"):
        cross_entropy(Tensor(LOGITS), [0, 1, 2, -1, 0, 0])


def test_cross_entropy_refuses_a_target_per_class_or_wrong_count():
    with pytest.raises(ValueError, match=r"logits of shape \(6, 4\) and targets of shape \(6, 4\): expected targets of shape \(6,\)"):
        cross_entropy(Tensor(LOGITS), np.eye(4, dtype=np.int64)[CLASSES])
    with pytest.raises(ValueError, match=r"targets of shape \(5,\)"):
        cross_entropy(Tensor(LOGITS), CLASSES[:5])


def test_cross_entropy_refuses_logits_that_are_not_a_matrix():
    with pytest.raises(ValueError, match=r"expects logits of shape \(N, C\); got \(2, 3, 4\)"):
        cross_entropy(Tensor(np.zeros((2, 3, 4))), [0, 1])


def test_unknown_reduction_is_refused():
    with pytest.raises(ValueError, match="reduction='avg': expected one of mean, sum, none"):
        CrossEntropyLoss("avg")
    with pytest.raises(ValueError, match="reduction='total'"):
        mse_loss(Tensor([1.0]), [1.0], reduction="total")


def test_loss_reprs():
    assert repr(CrossEntropyLoss()) == "CrossEntropyLoss(reduction='mean')"
    assert repr(MSELoss("sum")) == "MSELoss(reduction='sum')"


# -- binary cross-entropy -------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_matches_numpy(reduction):
    p, y = PROBABILITIES, LABELS
    expected = reduce(-(y * np.log(p) + (1 - y) * np.log(1 - p)), reduction)
    np.testing.assert_allclose(BinaryCrossEntropyLoss(reduction)(f64(p), y).data, expected, rtol=1e-12)


def test_bce_clips_probabilities_so_certainty_costs_a_finite_amount():
    losses = binary_cross_entropy(f64([0.0, 1.0, 1.0]), [1.0, 0.0, 1.0], reduction="none").data
    np.testing.assert_allclose(losses, [-np.log(1e-7), -np.log(1e-7), -np.log1p(-1e-7)], rtol=1e-9)
    in_float32 = binary_cross_entropy(Tensor([0.0, 1.0]), [1.0, 0.0], reduction="none").data
    assert np.all(np.isfinite(in_float32)) and np.all(in_float32 > 15.0)


def test_bce_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"binary_cross_entropy got predictions of shape \(3, 2\) and targets of shape \(3,\)"):
        binary_cross_entropy(Tensor(PROBABILITIES), np.ones(3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_numpy_and_bce_of_sigmoid(reduction):
    x = LOGITS[:, :2]
    y = (CLASSES[:, None] % 2 == np.arange(2)).astype(np.float64)
    result = BCEWithLogitsLoss(reduction)(f64(x), y)
    np.testing.assert_allclose(result.data, reduce(np_bce_with_logits(x, y), reduction), rtol=1e-12)
    via_probabilities = binary_cross_entropy(f64(1 / (1 + np.exp(-x))), y, reduction)
    np.testing.assert_allclose(result.data, via_probabilities.data, rtol=1e-9)


def test_bce_with_logits_is_finite_and_exact_for_logits_of_1000():
    losses = binary_cross_entropy_with_logits(Tensor([1000.0, -1000.0, 1000.0, 0.0]), [0.0, 1.0, 1.0, 1.0],
                                              reduction="none")
    np.testing.assert_allclose(losses.data, [1000.0, 1000.0, 0.0, np.log(2.0)], rtol=1e-6)
    assert losses.dtype == np.float32


def test_binary_losses_match_torch():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    x = LOGITS[:, :2]
    y = (LOGITS[:, 2:] > 0).astype(np.float64)
    for reduction in REDUCTIONS:
        expected = functional.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(y), reduction=reduction)
        np.testing.assert_allclose(binary_cross_entropy_with_logits(f64(x), y, reduction).data, expected.numpy(),
                                   rtol=1e-12)
        expected = functional.binary_cross_entropy(torch.tensor(PROBABILITIES), torch.tensor(LABELS),
                                                   reduction=reduction)
        np.testing.assert_allclose(binary_cross_entropy(f64(PROBABILITIES), LABELS, reduction).data,
                                   expected.numpy(), rtol=1e-12)
        expected = functional.mse_loss(torch.tensor(PREDICTIONS), torch.tensor(TARGETS), reduction=reduction)
        np.testing.assert_allclose(mse_loss(f64(PREDICTIONS), TARGETS, reduction).data, expected.numpy(), rtol=1e-12)
