"""Negative controls for the op of module 13 (transformers): mistakes the grader must catch.

Each control wraps the real backward rule (or the real forward) of ``layer_norm`` so that it
makes one mistake students make with layer normalisation, installs it for one test, and runs
the grader's per-op properties on it exactly as integration group 10_14 does. The wrapped
rule is the reference solution's, so no solution line is repeated here.
"""

import numpy as np
import pytest

import tinytorch.autograd as autograd
from pytest_tinytorch.grader import autograd_properties as properties
from pytest_tinytorch.grader.op_registry import get_op
from test_gradcheck_negative_controls import grader_failure
from tinytorch import Tensor, transformers
from tinytorch.gradcheck import GradcheckError

EPS = 1e-12
"""layer_norm needs eps > 0; the hand-computed gradients below add the same eps to the variance."""
GRADIENT_PROPERTIES = tuple(check for check in properties.PER_OP_PROPERTIES if check is not properties.check_forward)


def install_rule(monkeypatch, wrap) -> None:
    """Replace the backward rule of layer_norm by ``wrap(real_rule)`` for the current test."""
    monkeypatch.setitem(autograd.BACKWARD_RULES, "layer_norm", wrap(autograd.BACKWARD_RULES["layer_norm"]))


def treats_the_mean_as_a_constant(rule):
    """Forgets that the mean depends on x: adds back the term mean(grad * weight) / std that
    the real rule subtracts, so dx = (g_hat - x_hat * mean(g_hat * x_hat)) / std."""

    def broken(grad, out, x, weight, bias, *, normalized, inverse_std):
        grad_x, grad_weight, grad_bias = rule(grad, out, x, weight, bias, normalized=normalized,
                                              inverse_std=inverse_std)
        if grad_x is not None:
            grad_x = grad_x + inverse_std * np.mean(grad * weight.data, axis=-1, keepdims=True)
        return grad_x, grad_weight, grad_bias

    return broken


def treats_the_std_as_a_constant(rule):
    """Forgets that the standard deviation depends on x: adds back the term
    x_hat * mean(g_hat * x_hat) / std, so dx = (g_hat - mean(g_hat)) / std."""

    def broken(grad, out, x, weight, bias, *, normalized, inverse_std):
        grad_x, grad_weight, grad_bias = rule(grad, out, x, weight, bias, normalized=normalized,
                                              inverse_std=inverse_std)
        if grad_x is not None:
            correction = normalized * np.mean(grad * weight.data * normalized, axis=-1, keepdims=True)
            grad_x = grad_x + inverse_std * correction
        return grad_x, grad_weight, grad_bias

    return broken


def sums_the_weight_gradient_over_features(rule):
    """Reduces grad * x_hat over the feature axis too and spreads the total evenly: every
    feature's scale then learns the same, wrong, amount."""

    def broken(grad, out, x, weight, bias, **saved):
        grad_x, grad_weight, grad_bias = rule(grad, out, x, weight, bias, **saved)
        if grad_weight is not None:
            grad_weight = np.full_like(grad_weight, grad_weight.mean())
        return grad_x, grad_weight, grad_bias

    return broken


@pytest.mark.parametrize("control", [treats_the_mean_as_a_constant, treats_the_std_as_a_constant,
                                     sums_the_weight_gradient_over_features])
def test_a_broken_layer_norm_backward_is_caught_by_gradcheck(monkeypatch, control):
    install_rule(monkeypatch, control)
    error = grader_failure(get_op("layer_norm"), checks=(properties.check_vjp,))
    assert isinstance(error, GradcheckError), f"check_vjp did not catch {control.__name__}: {error!r}"


def test_the_mean_and_std_controls_are_off_by_their_missing_terms(monkeypatch):
    """The controls are real bugs: on one vector, each differs from the right gradient by
    exactly the term it forgets (computed here from the formula, in float64)."""
    x = Tensor([[1.0, 2.0, 4.0, 7.0]], dtype=np.float64, requires_grad=True)
    weight = Tensor([0.5, -1.0, 2.0, 1.5], dtype=np.float64, requires_grad=True)
    bias = Tensor(np.zeros(4), dtype=np.float64, requires_grad=True)
    grad = np.array([[0.3, -0.2, 1.0, 0.4]])
    transformers.layer_norm(x, weight, bias, eps=EPS).backward(grad)
    right = x.grad
    values = x.data[0]
    std = np.sqrt(values.var() + EPS)
    x_hat = (values - values.mean()) / std
    g_hat = grad[0] * weight.data
    expected_right = (g_hat - g_hat.mean() - x_hat * np.mean(g_hat * x_hat)) / std
    assert np.allclose(right[0], expected_right, rtol=1e-12, atol=1e-14)
    for control, missing in [(treats_the_mean_as_a_constant, g_hat.mean() / std),
                             (treats_the_std_as_a_constant, x_hat * np.mean(g_hat * x_hat) / std)]:
        install_rule(monkeypatch, control)
        x.zero_grad()
        transformers.layer_norm(x, weight, bias, eps=EPS).backward(grad)
        assert np.allclose(x.grad[0] - right[0], missing, rtol=1e-12, atol=1e-14), control.__name__
        monkeypatch.undo()


def unbiased_layer_norm(x, weight, bias, eps=1e-5):
    """Layer norm with the unbiased variance (divided by features - 1), made of real ops, so
    its backward is the true derivative of its (wrong) forward."""
    centered = x - x.mean(axis=-1, keepdims=True)
    variance = (centered * centered).sum(axis=-1, keepdims=True) * (1.0 / (x.shape[-1] - 1))
    return centered / (variance + eps).sqrt() * weight + bias


def test_a_consistently_wrong_layer_norm_passes_every_gradient_check_but_not_the_forward_check(monkeypatch):
    monkeypatch.setattr(transformers, "layer_norm", unbiased_layer_norm)
    op = get_op("layer_norm")
    assert grader_failure(op, checks=GRADIENT_PROPERTIES) is None, "the gradients of the unbiased version are right"
    error = grader_failure(op, checks=(properties.check_forward,))
    assert isinstance(error, AssertionError) and "differs from the NumPy reference" in str(error)


def test_the_real_layer_norm_passes_the_grader():
    """The other side of every control: the real rule and forward pass."""
    assert grader_failure(get_op("layer_norm")) is None
