"""Unit tests of module 02 (activations): each function against its NumPy formula, stability.

RuntimeWarnings raised inside tinytorch are errors in this repository's pytest configuration,
so an ``exp`` that overflows fails these tests even when the final value looks right.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.activations import (
    GELU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    gelu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)

pytestmark = pytest.mark.module("activations")

X = np.array([[-3.0, -0.5, 0.0, 0.25, 2.0], [5.0, -1.5, 1.0, -0.0625, 0.75]], dtype=np.float32)


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def np_gelu_tanh(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize(
    "function, formula",
    [
        (relu, lambda x: np.maximum(x, 0.0)),
        (sigmoid, np_sigmoid),
        (tanh, np.tanh),
        (gelu, np_gelu_tanh),
    ],
    ids=["relu", "sigmoid", "tanh", "gelu"],
)
def test_elementwise_activation_matches_its_formula(function, formula):
    result = function(Tensor(X))
    assert result.shape == X.shape and result.dtype == np.float32
    np.testing.assert_allclose(result.data, formula(X), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "module, function",
    [(ReLU(), relu), (Sigmoid(), sigmoid), (Tanh(), tanh), (GELU(), gelu), (Softmax(dim=0), lambda x: softmax(x, 0)),
     (LogSoftmax(), log_softmax)],
    ids=["ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"],
)
def test_module_form_equals_functional_form_and_has_no_parameters(module, function):
    np.testing.assert_array_equal(module(Tensor(X)).data, function(Tensor(X)).data)
    assert module.parameters() == []


def test_module_reprs():
    assert repr(ReLU()) == "ReLU()"
    assert repr(Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(LogSoftmax(dim=0)) == "LogSoftmax(dim=0)"


def test_relu_known_values_and_float64_kept():
    np.testing.assert_array_equal(relu(Tensor([-2.0, 0.0, 3.0])).data, [0.0, 0.0, 3.0])
    assert relu(Tensor([1.0], dtype=np.float64)).dtype == np.float64


def test_sigmoid_is_finite_and_exact_for_large_inputs():
    result = sigmoid(Tensor([-1000.0, -100.0, 0.0, 100.0, 1000.0]))
    np.testing.assert_array_equal(result.data, [0.0, np.float32(np_sigmoid(-100.0)), 0.5, 1.0, 1.0])
    assert result.dtype == np.float32


def test_sigmoid_keeps_relative_precision_in_the_far_negative_tail():
    """1 - sigmoid(-x) would round to 0; the stable form keeps e^-700 to full precision."""
    x = np.array([-700.0, -40.0, -20.0], dtype=np.float64)
    result = sigmoid(Tensor(x, dtype=np.float64)).data
    np.testing.assert_allclose(result, np.exp(x) / (1.0 + np.exp(x)), rtol=1e-12)
    assert result[0] > 0.0


def test_sigmoid_symmetry():
    s = sigmoid(Tensor(X, dtype=np.float64)).data
    s_neg = sigmoid(Tensor(-X, dtype=np.float64)).data
    np.testing.assert_allclose(s + s_neg, np.ones_like(s), rtol=0, atol=1e-15)


def test_tanh_saturates_without_warnings():
    np.testing.assert_array_equal(tanh(Tensor([-1000.0, 1000.0])).data, [-1.0, 1.0])


def test_gelu_known_values():
    """Tanh approximation (as GPT-2): gelu(1) = 0.841192, gelu(-1) = -0.158808, gelu(3) = 2.996363."""
    result = gelu(Tensor([-1.0, 0.0, 1.0, 3.0], dtype=np.float64)).data
    np.testing.assert_allclose(result, [-0.15880800939172324, 0.0, 0.8411919906082768, 2.996362607918227],
                               rtol=1e-12)


def test_gelu_matches_torch_tanh_approximation():
    torch = pytest.importorskip("torch")
    x = np.linspace(-6.0, 6.0, 49)
    expected = torch.nn.functional.gelu(torch.tensor(x), approximate="tanh").numpy()
    np.testing.assert_allclose(gelu(Tensor(x, dtype=np.float64)).data, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_matches_numpy_and_sums_to_one(dim):
    result = softmax(Tensor(X), dim=dim)
    np.testing.assert_allclose(result.data, np_softmax(X.astype(np.float64), dim), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(result.data.sum(axis=dim), 1.0, rtol=1e-6)
    assert np.all(result.data > 0)


def test_softmax_over_the_middle_axis_of_a_3d_tensor():
    cube = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7.0
    np.testing.assert_allclose(softmax(Tensor(cube, dtype=np.float64), dim=1).data, np_softmax(cube, 1), rtol=1e-12)
    np.testing.assert_allclose(log_softmax(Tensor(cube, dtype=np.float64), dim=-2).data,
                               np.log(np_softmax(cube, 1)), rtol=1e-12)


def test_softmax_is_shift_invariant_even_for_a_shift_of_1000():
    logits = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]], dtype=np.float32)  # exact after + 1000
    np.testing.assert_allclose(softmax(Tensor(logits + 1000.0)).data, softmax(Tensor(logits)).data, atol=1e-7)
    np.testing.assert_allclose(softmax(Tensor(logits - 1000.0)).data, softmax(Tensor(logits)).data, atol=1e-7)
    np.testing.assert_allclose(softmax(Tensor(logits)).data, np_softmax(logits.astype(np.float64), 1), rtol=1e-6)


def test_softmax_of_huge_logits_is_one_hot_and_finite():
    np.testing.assert_array_equal(softmax(Tensor([[1000.0, -1000.0, 0.0]])).data, [[1.0, 0.0, 0.0]])


@pytest.mark.parametrize("dim", [0, -1])
def test_log_softmax_matches_log_of_softmax_where_both_are_finite(dim):
    expected = np.log(np_softmax(X.astype(np.float64), dim))
    np.testing.assert_allclose(log_softmax(Tensor(X), dim=dim).data, expected, rtol=1e-6, atol=1e-6)


def test_log_softmax_is_finite_where_softmax_underflows():
    logits = Tensor([[0.0, -1000.0], [1000.0, 0.0]])
    assert softmax(logits).data[0, 1] == 0.0  # log of this would be -inf
    np.testing.assert_array_equal(log_softmax(logits).data, [[0.0, -1000.0], [0.0, -1000.0]])


def test_softmax_dim_out_of_range_is_refused():
    with pytest.raises(ValueError, match="axis 2 is out of range for a tensor with 2 dimensions"):
        softmax(Tensor(X), dim=2)
