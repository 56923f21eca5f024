"""Gradient checking: does ``backward`` agree with finite differences?

A backward rule can be wrong in ways that still "look" right: it may ignore the gradient that
flows into it, flip a sign, or forget to sum a broadcast input back to its shape. ``gradcheck``
catches these by comparing the vector-Jacobian product (VJP) that ``backward`` computes with
central differences of the forward function, in float64:

1. weigh the output by a random cotangent ``v`` (not by ones: a backward that ignores its
   incoming gradient would pass a check that only ever sends ones), whose entries span three
   orders of magnitude, so that a backward which drops small gradients is caught too;
2. compare ``<backward(v), d>`` for a random direction ``d`` through every input at once with
   ``<v, f(x + eps d) - f(x - eps d)> / (2 eps)`` (one cheap check that sees every element);
3. for small inputs, compare every element of the gradient with its own central difference,
   so a wrong entry cannot hide behind the others in the sum.

Everything happens in float64: with eps = 1e-6 the rounding error of a float64 difference is
about 1e-10, far below the tolerance, while float32 differences are noise at this eps.

>>> import numpy as np
>>> from tinytorch.autograd import gradcheck
>>> rng = np.random.default_rng(0)
>>> gradcheck(lambda x, y: (x * y).exp(), [rng.random((2, 3)), rng.random(3)])
True
"""

from __future__ import annotations

import numpy as np

from tinytorch.tensor import Tensor

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-6
FULL_CHECK_MAX_SIZE = 64
"""Inputs with at most this many elements are also checked element by element."""


class GradcheckError(AssertionError):
    """``backward`` disagrees with finite differences, or returned unusable gradients."""


def gradcheck(
    function,
    inputs,
    *,
    eps: float = EPS,
    rtol: float = RTOL,
    atol: float = ATOL,
    seed: int = 0,
    cotangent=None,
    full_check_max_size: int = FULL_CHECK_MAX_SIZE,
) -> bool:
    """Check the gradients of ``function(*inputs)`` against central differences.

    ``inputs`` holds arrays, numbers or tensors. Arrays and numbers, and tensors with
    ``requires_grad=True``, become float64 leaves whose gradients are checked; tensors without
    ``requires_grad`` are passed through unchanged as constants (class labels, masks).
    ``function`` must return a float64 Tensor. ``seed`` fixes the random cotangent and
    directions; ``cotangent`` overrides the cotangent.

    Returns True, or raises ``GradcheckError`` naming the input, the element, the gradient
    from ``backward`` and the one from finite differences.
    """
    arrays, differentiable = _prepare_inputs(inputs)
    rng = np.random.default_rng(seed)

    leaves = [_leaf(array) if wanted else array for array, wanted in zip(arrays, differentiable)]
    output = _call(function, leaves)
    if cotangent is None:
        cotangent = random_cotangent(output.shape, rng)
    cotangent = np.asarray(cotangent, dtype=np.float64)
    if cotangent.shape != output.shape:
        raise ValueError(f"cotangent of shape {cotangent.shape} for an output of shape {output.shape}")
    analytic = _backward_gradients(output, cotangent, leaves, differentiable)
    _check_unchanged(leaves, arrays, differentiable)

    def weighted_difference(plus_arrays, minus_arrays) -> float:
        """<v, f(plus) - f(minus)> / (2 eps): the central difference of the weighted output."""
        plus = _call(function, _constants(plus_arrays, differentiable)).data
        minus = _call(function, _constants(minus_arrays, differentiable)).data
        return float(np.sum(cotangent * (plus - minus))) / (2 * eps)

    # 1. every input at once, along one random direction
    directions = [rng.standard_normal(np.shape(a)) if wanted else None for a, wanted in zip(arrays, differentiable)]
    plus = [a + eps * d if wanted else a for a, d, wanted in zip(arrays, directions, differentiable)]
    minus = [a - eps * d if wanted else a for a, d, wanted in zip(arrays, directions, differentiable)]
    numeric = weighted_difference(plus, minus)
    predicted = sum(float(np.sum(g * d)) for g, d in zip(analytic, directions) if g is not None)

    # 2. small inputs: every element on its own (this also details a directional failure)
    mismatches = _element_mismatches(
        analytic, arrays, differentiable, weighted_difference, eps, rtol, atol, full_check_max_size
    )
    if not _close(predicted, numeric, rtol, atol):
        raise GradcheckError(
            "gradcheck: the gradient from backward() disagrees with finite differences along a "
            f"random direction: backward gives {predicted:.10g}, finite differences give "
            f"{numeric:.10g} (the output was weighted by a random cotangent, so a backward that "
            "ignores its incoming gradient fails here)" + ("\n" + mismatches if mismatches else "")
        )
    if mismatches:
        raise GradcheckError("gradcheck: the gradient from backward() disagrees with finite differences\n" + mismatches)
    return True


def random_cotangent(shape, rng: np.random.Generator) -> np.ndarray:
    """Normal entries scaled by 10**u, u uniform in [-3, 0]: both large and small gradients."""
    return rng.standard_normal(shape) * 10.0 ** rng.uniform(-3.0, 0.0, shape)


# -- inputs and outputs ------------------------------------------------------------------------
def _prepare_inputs(inputs):
    """Float64 copies of the differentiable inputs, constants as given, and which is which."""
    if isinstance(inputs, (np.ndarray, Tensor)) or np.isscalar(inputs):
        inputs = [inputs]
    arrays, differentiable = [], []
    for item in inputs:
        if isinstance(item, Tensor) and not item.requires_grad:
            arrays.append(item)
            differentiable.append(False)
            continue
        data = item.data if isinstance(item, Tensor) else item
        arrays.append(np.array(data, dtype=np.float64))
        differentiable.append(True)
    if not any(differentiable):
        raise ValueError("gradcheck needs at least one differentiable input (an array, or a tensor with requires_grad)")
    return arrays, differentiable


def _leaf(array: np.ndarray) -> Tensor:
    return Tensor(array.copy(), dtype=np.float64, requires_grad=True)


def _constants(arrays, differentiable) -> list:
    """Inputs for a finite-difference evaluation: plain float64 tensors, no graph recorded."""
    return [Tensor(a, dtype=np.float64) if wanted else a for a, wanted in zip(arrays, differentiable)]


def _call(function, arguments) -> Tensor:
    output = function(*arguments)
    if not isinstance(output, Tensor):
        raise TypeError(f"gradcheck: the function returned {type(output).__name__}; expected a Tensor")
    if output.dtype != np.float64:
        raise GradcheckError(
            f"gradcheck: the function returned a {output.dtype} tensor for float64 inputs; expected "
            "float64 (finite differences with eps=1e-6 are meaningless in float32: keep the "
            "input's dtype through the computation)"
        )
    return output


def _backward_gradients(output: Tensor, cotangent: np.ndarray, leaves, differentiable) -> list:
    """Run ``output.backward(cotangent)`` and return each differentiable leaf's gradient."""
    if output.requires_grad:
        output.backward(cotangent.copy())
    gradients = []
    for index, (leaf, wanted) in enumerate(zip(leaves, differentiable)):
        if not wanted:
            gradients.append(None)
            continue
        grad = leaf.grad
        if grad is None:  # no gradient reached this input: backward says the derivative is 0
            grad = np.zeros(leaf.shape)
        grad = np.asarray(grad)
        if grad.shape != leaf.shape:
            raise GradcheckError(
                f"gradcheck: input {index} has shape {leaf.shape} but its gradient has shape "
                f"{grad.shape}; expected equal shapes (a broadcast input's gradient must be "
                "summed back to the input's shape)"
            )
        if grad.dtype != np.float64:
            raise GradcheckError(
                f"gradcheck: input {index} is float64 but its gradient is {grad.dtype}; expected float64"
            )
        gradients.append(grad)
    return gradients


def _check_unchanged(leaves, arrays, differentiable) -> None:
    """Forward and backward must leave the inputs as they were (no in-place slips)."""
    for index, (leaf, array, wanted) in enumerate(zip(leaves, arrays, differentiable)):
        if wanted and not np.array_equal(leaf.data, array, equal_nan=True):
            raise GradcheckError(
                f"gradcheck: input {index} changed during forward or backward; expected an op "
                "and its backward rule to leave their inputs untouched (write to new arrays)"
            )


# -- comparisons ----------------------------------------------------------------------------------
def _close(analytic: float, numeric: float, rtol: float, atol: float) -> bool:
    return bool(np.isfinite(analytic)) and abs(analytic - numeric) <= atol + rtol * abs(numeric)


def _element_mismatches(analytic, arrays, differentiable, weighted_difference, eps, rtol, atol, max_size) -> str:
    """Compare each element of each small input's gradient with its own central difference."""
    lines = []
    for index, (grad, array, wanted) in enumerate(zip(analytic, arrays, differentiable)):
        if not wanted or array.size > max_size:
            continue
        bad = []
        for position in np.ndindex(array.shape):
            plus, minus = list(arrays), list(arrays)
            plus[index], minus[index] = array.copy(), array.copy()
            plus[index][position] += eps
            minus[index][position] -= eps
            numeric = weighted_difference(plus, minus)
            if not _close(float(grad[position]), numeric, rtol, atol):
                bad.append((position, float(grad[position]), numeric))
        if bad:
            lines.append(f"  input {index} (shape {array.shape}): {len(bad)} of {array.size} elements wrong")
            for position, got, expected in bad[:5]:
                lines.append(
                    f"    element {position}: backward {got:.10g}, finite differences {expected:.10g}"
                )
            if len(bad) > 5:
                lines.append(f"    ... and {len(bad) - 5} more")
    return "\n".join(lines)


__all__ = ["ATOL", "EPS", "RTOL", "GradcheckError", "gradcheck"]
