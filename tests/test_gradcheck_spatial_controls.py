"""Negative controls for the ops of module 09 (spatial): mistakes the autograd grader must catch,
and the image strategies that let it catch them.

Each control wraps the real backward rule (or the real forward) of an op so that it makes one
mistake students make with convolutions and pooling, installs it for one test, and runs the
grader's per-op properties on it exactly as integration group 08_09 does (where the real ops
pass the same properties, so a caught control is the defect's doing). The wrapped rule is the
reference solution's, so no solution line is repeated here.
"""

import numpy as np
import pytest
from hypothesis import find, given, settings

import tinytorch.autograd as autograd
from pytest_tinytorch.grader import autograd_properties as properties
from pytest_tinytorch.grader import strategies
from pytest_tinytorch.grader.op_registry import get_op
from test_gradcheck_negative_controls import grader_failure
from tinytorch import Tensor, spatial
from tinytorch.gradcheck import GradcheckError

GRADIENT_PROPERTIES = tuple(check for check in properties.PER_OP_PROPERTIES if check is not properties.check_forward)


def install_rule(monkeypatch, op: str, wrap) -> None:
    """Replace the backward rule of ``op`` by ``wrap(real_rule)`` for the current test."""
    monkeypatch.setitem(autograd.BACKWARD_RULES, op, wrap(autograd.BACKWARD_RULES[op]))


def assert_caught_by_gradcheck(op: str) -> None:
    """The grader's finite-difference check fails on the broken rule (not some crash)."""
    error = grader_failure(get_op(op), checks=(properties.check_vjp,))
    assert isinstance(error, GradcheckError), f"the grader's check_vjp did not catch the broken {op}: {error!r}"


# -- convolution -----------------------------------------------------------------------------------
def forgets_the_padding(rule):
    """Computes the gradient of the padded input, then keeps its top-left corner instead of
    cropping the border: every input gradient is shifted by the padding."""

    def broken(grad, out, x, *rest, padding, **saved):
        padded_shape = (*x.shape[:2], x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
        padded = Tensor(np.zeros(padded_shape, dtype=x.dtype), requires_grad=x.requires_grad)
        grads = list(rule(grad, out, padded, *rest, padding=(0, 0), **saved))
        if grads[0] is not None:
            grads[0] = grads[0][:, :, :x.shape[2], :x.shape[3]]
        return tuple(grads)

    return broken


def ignores_the_stride(rule):
    """Adds each window's gradient back as if windows started one pixel apart (stride 1)."""

    def broken(grad, out, *parents, **saved):
        real_view = spatial.kernel_offset_view

        def unstrided(images, offset, stride, out_size):
            return real_view(images, offset, (1, 1), out_size)

        spatial.kernel_offset_view = unstrided
        try:
            return rule(grad, out, *parents, **saved)
        finally:
            spatial.kernel_offset_view = real_view

    return broken


def test_a_conv_backward_that_forgets_the_padding_is_caught(monkeypatch):
    install_rule(monkeypatch, "conv2d", forgets_the_padding)
    assert_caught_by_gradcheck("conv2d")


def test_a_conv_backward_that_ignores_the_stride_is_caught(monkeypatch):
    install_rule(monkeypatch, "conv2d", ignores_the_stride)
    assert_caught_by_gradcheck("conv2d")


def test_the_stride_control_really_misplaces_gradients(monkeypatch):
    """The control is a real bug: with stride 2 the input gradient lands on the wrong pixels."""
    x = Tensor(np.ones((1, 1, 4, 4)), dtype=np.float64, requires_grad=True)
    weight = Tensor(np.ones((1, 1, 2, 2)), dtype=np.float64)
    install_rule(monkeypatch, "conv2d", ignores_the_stride)
    spatial.conv2d(x, weight, stride=2).sum().backward()
    assert x.grad.tolist() == [[[[1, 2, 1, 0], [2, 4, 2, 0], [1, 2, 1, 0], [0, 0, 0, 0]]]]


def flipped_kernel_conv2d(real_conv2d):
    """Convolution with the kernel turned by 180 degrees (true convolution instead of
    PyTorch's cross-correlation), made of real ops, so its backward matches its forward."""

    def conv2d(x, weight, bias=None, stride=1, padding=0):
        return real_conv2d(x, weight[:, :, ::-1, ::-1], bias, stride, padding)

    return conv2d


def test_a_consistently_wrong_conv_forward_passes_every_gradient_check_but_not_the_forward_check(monkeypatch):
    monkeypatch.setattr(spatial, "conv2d", flipped_kernel_conv2d(spatial.conv2d))
    op = get_op("conv2d")
    assert grader_failure(op, checks=GRADIENT_PROPERTIES) is None, "the gradients of the flipped conv are right"
    error = grader_failure(op, checks=(properties.check_forward,))
    assert isinstance(error, AssertionError) and "differs from the NumPy reference" in str(error)


# -- pooling -----------------------------------------------------------------------------------
def routes_to_the_first_element(rule):
    """Sends each window's gradient to the window's first (top-left) element instead of its
    maximum: the real rule, shown an input whose maximum is always the first element."""

    def broken(grad, out, x, *, kernel, stride):
        first_elements = np.zeros(x.shape)
        spatial.kernel_offset_view(first_elements, (0, 0), stride, out.shape[2:])[...] = 1.0
        return rule(grad, Tensor(np.ones(out.shape)), Tensor(first_elements), kernel=kernel, stride=stride)

    return broken


def forgets_to_divide(rule):
    """Gives every element of a window the window's whole gradient, not its share."""

    def broken(grad, out, x, *, kernel, stride):
        return tuple(g * (kernel[0] * kernel[1]) for g in rule(grad, out, x, kernel=kernel, stride=stride))

    return broken


def test_a_max_pool_routing_the_gradient_to_the_first_element_is_caught(monkeypatch):
    install_rule(monkeypatch, "max_pool2d", routes_to_the_first_element)
    assert_caught_by_gradcheck("max_pool2d")


def test_the_first_element_control_really_misroutes():
    x = Tensor([[[[1.0, 5.0], [2.0, 3.0]]]], requires_grad=True)
    out = spatial.max_pool2d(x, 2)
    broken = routes_to_the_first_element(autograd.BACKWARD_RULES["max_pool2d"])
    (grad_x,) = broken(np.array([[[[7.0]]]]), out, x, kernel=(2, 2), stride=(2, 2))
    assert grad_x.tolist() == [[[[7.0, 0.0], [0.0, 0.0]]]]


def test_an_avg_pool_that_forgets_to_divide_is_caught(monkeypatch):
    install_rule(monkeypatch, "avg_pool2d", forgets_to_divide)
    assert_caught_by_gradcheck("avg_pool2d")


# -- batch normalisation -------------------------------------------------------------------------
def ignores_the_gradient_through_the_mean(rule):
    """Treats the batch mean as a constant in training: adds back the term mean(g) * weight /
    std that the real rule subtracts, so dx = weight / std * (g - x_hat * mean(g * x_hat))."""

    def broken(grad, out, x, weight, bias, **saved):
        grad_x, grad_weight, grad_bias = rule(grad, out, x, weight, bias, **saved)
        if saved["training"] and grad_x is not None:
            scale = (weight.data * saved["inverse_std"]).reshape(-1, 1, 1)
            grad_x = grad_x + scale * grad.mean(axis=(0, 2, 3)).reshape(-1, 1, 1)
        return grad_x, grad_weight, grad_bias

    return broken


def test_a_batch_norm_backward_that_ignores_the_mean_is_caught(monkeypatch):
    install_rule(monkeypatch, "batch_norm2d", ignores_the_gradient_through_the_mean)
    assert_caught_by_gradcheck("batch_norm2d")


def test_the_mean_control_changes_only_training_gradients(monkeypatch):
    """In evaluation the statistics are constants, so the control is right there; in training
    it is off by exactly weight / std * mean(g) for every element."""
    x = Tensor(np.arange(8.0).reshape(2, 1, 2, 2), dtype=np.float64, requires_grad=True)
    weight, bias = (Tensor([w], dtype=np.float64, requires_grad=True) for w in (2.0, 0.5))
    grad = np.linspace(-1.0, 2.5, 8).reshape(2, 1, 2, 2)
    install_rule(monkeypatch, "batch_norm2d", ignores_the_gradient_through_the_mean)
    spatial.batch_norm2d(x, weight, bias, training=True, eps=0.0).backward(grad)
    broken_grad = x.grad
    monkeypatch.undo()
    x.zero_grad()
    spatial.batch_norm2d(x, weight, bias, training=True, eps=0.0).backward(grad)
    std = np.arange(8.0).std()
    assert np.allclose(broken_grad - x.grad, 2.0 / std * grad.mean(), rtol=1e-12, atol=0)


# -- the image strategies keep their promises ---------------------------------------------------------
FEW = settings(max_examples=40, database=None, deadline=None, derandomize=True)


def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


@FEW
@given(strategies.conv2d_cases())
def test_conv_cases_are_valid_and_small(case):
    x, weight, *bias = case.inputs
    (kh, kw), (ph, pw) = weight.shape[2:], pair(case.params["padding"])
    assert x.ndim == 4 and weight.ndim == 4 and x.shape[1] == weight.shape[1]
    assert x.shape[2] + 2 * ph >= kh and x.shape[3] + 2 * pw >= kw, "the padded input holds a window"
    assert bias == [] or bias[0].shape == (weight.shape[0],)
    assert 1 <= x.shape[0] <= 2 and x.size <= 2 * 3 * 7 * 7 and weight.size <= 3 * 3 * 3 * 3
    assert any(case.requires_grad) and len(case.requires_grad) == len(case.inputs)


@pytest.mark.parametrize("what, condition", [
    ("stride 2 or more with padding", lambda c: max(pair(c.params["stride"])) >= 2 and max(pair(c.params["padding"])) >= 1),
    ("a rectangular kernel", lambda c: c.inputs[1].shape[2] != c.inputs[1].shape[3]),
    ("batch 1 without a bias", lambda c: c.inputs[0].shape[0] == 1 and len(c.inputs) == 2),
    ("an odd and an even side", lambda c: c.inputs[0].shape[2] % 2 == 1 and c.inputs[0].shape[3] % 2 == 0),
    ("a kernel as large as the unpadded input", lambda c: c.inputs[0].shape[2:] == c.inputs[1].shape[2:]),
    ("only the weight requiring grad", lambda c: c.requires_grad[:2] == (False, True)),
])
def test_conv_cases_cover(what, condition):
    assert find(strategies.conv2d_cases(), condition, settings=settings(database=None, max_examples=2000))


@FEW
@given(strategies.pool_cases("distinct"))
def test_max_pool_cases_have_no_ties_and_a_small_first_maximum(case):
    (values,) = case.inputs
    rows, columns = pair(case.params["kernel_size"])
    assert np.all(np.diff(np.sort(values.ravel())) > 0), "distinct values: no window has a tie"
    assert abs(values[0, 0, :rows, :columns].max()) <= strategies.POOL_WINNER_MARGIN + 1e-12


def test_pool_cases_cover_overlapping_and_skipping_windows():
    overlapping = find(strategies.pool_cases(), lambda c: c.params["stride"] is not None
                       and min(pair(c.params["stride"])) < min(pair(c.params["kernel_size"]))).params
    skipping = find(strategies.pool_cases(), lambda c: c.params["stride"] is not None
                    and min(pair(c.params["stride"])) > max(pair(c.params["kernel_size"])))
    assert overlapping and skipping.inputs[0].ndim == 4


@FEW
@given(strategies.batch_norm2d_cases())
def test_batch_norm_cases_have_spread_out_channels_in_training_and_positive_running_variance(case):
    x, weight, bias = case.inputs
    assert weight.shape == bias.shape == (x.shape[1],)
    if case.params["training"]:
        per_channel = x.size // x.shape[1]
        gap = 0.4 * 2 * strategies.LARGEST_MAGNITUDE / x.size
        assert per_channel >= 2 and np.all(x.var(axis=(0, 2, 3)) >= gap**2 / 4 - 1e-12)
        assert "running_mean" not in case.params, "training cases must not hand over arrays to update"
    else:
        assert np.all(case.params["running_var"] > 0) and case.params["running_mean"].shape == (x.shape[1],)
