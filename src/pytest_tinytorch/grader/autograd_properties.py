"""The properties the autograd grader checks, as plain functions.

The property tests (``modules/tests/integration/test_autograd_properties.py``) run these on
hypothesis examples through ``run_property`` and ``run_examples`` (at the end of the per-op
section); the negative controls (``tests/test_gradcheck_negative_controls.py``) run the same
functions, the same way, against deliberately broken autograds. Each raises
``AssertionError`` (or ``GradcheckError``, a subclass) with a message that says what was
expected.

Per-op properties take ``(op, case, seed)``: a registered op, an ``OpCase`` from its
strategy, and a seed for the random cotangents. Everything is float64 unless stated.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given

from pytest_tinytorch.grader.strategies import seeds
from tinytorch import Tensor
from tinytorch.gradcheck import gradcheck
from tinytorch.gradcheck import random_cotangent as spread_cotangent

LINEARITY_RTOL = 1e-9
"""Backward rules are linear in the incoming gradient; only rounding may differ."""

FORWARD_RTOL = 1e-10
FORWARD_ATOL = 1e-12
"""Tolerances of the forward against its NumPy reference, in float64: ``|got - expected| <=
FORWARD_ATOL + FORWARD_RTOL * |expected|``. The library and the reference compute the same
formula in float64, perhaps in another order or form (``exp(log_softmax)`` against a
normalised exponential, a stable sigmoid against ``1 / (1 + e^-x)``), which changes the last
few bits: about 1e-15 relative, up to about 1e-13 where a form cancels (``1 + tanh`` near -3 in
gelu). ``FORWARD_RTOL`` leaves a margin of a thousand above that, and ``FORWARD_ATOL`` covers
results that cancel to about 0 (a sum of 64 values of size 3 rounds by about 2e-14). Any real
mistake (a wrong constant, a missing term, a wrong axis) is wrong by far more than 1e-10;
gradients need a looser tolerance only because finite differences are approximate, and the
forward has no such excuse."""


# -- helpers ------------------------------------------------------------------------------
def make_leaves(case, dtype=np.float64) -> list:
    """Fresh tensors for a case's inputs, requiring grad where the case says so."""
    return [
        Tensor(array.copy(), dtype=dtype, requires_grad=flag)
        for array, flag in zip(case.inputs, case.requires_grad)
    ]


def call_op(op, case, leaves) -> Tensor:
    return op.call(*leaves, **case.params)


def random_cotangent(shape, seed: int, dtype=np.float64) -> np.ndarray:
    """The gradcheck cotangent: random signs, magnitudes over three orders (see gradcheck)."""
    return spread_cotangent(shape, np.random.default_rng(seed)).astype(dtype)


def gradients_for(op, case, cotangent) -> list:
    """The gradient of every input requiring grad, from fresh leaves and one backward."""
    leaves = make_leaves(case)
    output = call_op(op, case, leaves)
    _require_graph(op, output)
    output.backward(cotangent)
    return [_gradient(op, index, leaf) for index, leaf in enumerate(leaves) if leaf.requires_grad]


def _require_graph(op, output) -> None:
    assert isinstance(output, Tensor), f"{op.name} returned {type(output).__name__}; expected a Tensor"
    assert output.requires_grad, (
        f"the result of {op.name} does not require grad although an input does: the op did not "
        "record its graph (end the op with Tensor._result(data, op_name, parents))"
    )


def _gradient(op, index, leaf) -> np.ndarray:
    assert leaf.grad is not None, (
        f"{op.name}: input {index} requires grad but received no gradient from backward()"
    )
    return np.asarray(leaf.grad)


def _describe(arrays) -> str:
    return ", ".join(f"{np.shape(a)}" for a in arrays)


# -- per-op properties ----------------------------------------------------------------------
def check_forward(op, case, seed: int = 0) -> None:
    """The forward agrees with the op's NumPy reference: float64 in gives float64 out, of the
    reference's shape, with the reference's values (``FORWARD_RTOL``); float32 in gives float32
    out. A forward that is wrong in the same way as its backward passes every gradient
    property, so this is the only property that catches it. (``seed`` is unused.)"""
    assert op.reference is not None, f"{op.name} has no forward reference (register_op(..., reference=...))"
    expected = np.asarray(op.reference(*[array.copy() for array in case.inputs], **case.params))
    output = call_op(op, case, make_leaves(case))
    assert isinstance(output, Tensor), f"{op.name} returned {type(output).__name__}; expected a Tensor"
    got = np.asarray(output.data)
    where = f"{op.name} of inputs of shape {_describe(case.inputs)}"
    assert got.dtype == np.float64, f"{where}: float64 inputs gave a {got.dtype} result; expected float64"
    assert got.shape == expected.shape, (
        f"{where}: the result has shape {got.shape}; expected {expected.shape}"
        + (f" (params {case.params})" if case.params else "")
    )
    wrong = ~np.isclose(got, expected, rtol=FORWARD_RTOL, atol=FORWARD_ATOL, equal_nan=True)
    if wrong.any():
        first = tuple(int(i) for i in np.argwhere(wrong)[0])
        raise AssertionError(
            f"{where}: the forward differs from the NumPy reference at index {first} of the "
            f"result (shape {got.shape}): expected {float(expected[first])!r}, got {float(got[first])!r} "
            f"({int(wrong.sum())} of {wrong.size} elements differ by more than rtol "
            f"{FORWARD_RTOL:g}, atol {FORWARD_ATOL:g})"
        )
    single = call_op(op, case, make_leaves(case, np.float32))
    assert single.dtype == np.float32, (
        f"{where}: float32 inputs gave a {np.dtype(single.dtype)} result; expected float32 "
        "(an op keeps the dtype of its inputs)"
    )


def check_vjp(op, case, seed: int) -> None:
    """backward() with a random cotangent agrees with central differences (``gradcheck``)."""
    inputs = [
        array if flag else Tensor(array, dtype=np.float64)
        for array, flag in zip(case.inputs, case.requires_grad)
    ]
    gradcheck(lambda *tensors: call_op(op, case, tensors), inputs, seed=seed)


def check_gradient_shapes(op, case, seed: int) -> None:
    """Each input's gradient has the input's shape and dtype (float64 and float32), even when
    the input was broadcast; inputs that do not require grad get no gradient."""
    for dtype in (np.float64, np.float32):
        leaves = make_leaves(case, dtype)
        output = call_op(op, case, leaves)
        _require_graph(op, output)
        output.backward(random_cotangent(output.shape, seed, dtype))
        for index, leaf in enumerate(leaves):
            if not leaf.requires_grad:
                assert leaf.grad is None, f"{op.name}: input {index} does not require grad but got a gradient"
                continue
            grad = _gradient(op, index, leaf)
            assert grad.shape == leaf.shape, (
                f"{op.name}: input {index} has shape {leaf.shape} but its gradient has shape "
                f"{grad.shape} (input shapes {_describe(case.inputs)}, output {output.shape}); "
                "a broadcast input's gradient must be summed back to the input's shape"
            )
            assert grad.dtype == dtype, (
                f"{op.name}: input {index} is {np.dtype(dtype)} but its gradient is {grad.dtype}"
            )


def check_linearity(op, case, seed: int) -> None:
    """backward(a u + b w) == a backward(u) + b backward(w): the rule uses its incoming gradient
    linearly (a rule that ignores it, squares it or adds a constant fails)."""
    rng = np.random.default_rng(seed)
    shape = call_op(op, case, make_leaves(case)).shape
    first, second = rng.standard_normal(shape), rng.standard_normal(shape)
    a, b = rng.uniform(0.5, 2.0), -rng.uniform(0.5, 2.0)
    combined = gradients_for(op, case, a * first + b * second)
    separate = zip(gradients_for(op, case, first), gradients_for(op, case, second))
    for index, (together, (g_first, g_second)) in enumerate(zip(combined, separate)):
        expected = a * g_first + b * g_second
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        assert np.allclose(together, expected, rtol=LINEARITY_RTOL, atol=LINEARITY_RTOL * scale), (
            f"{op.name}: the gradient is not linear in the incoming gradient (input {index}): "
            f"backward({a:.3f} u + {b:.3f} w) = {together} but {a:.3f} backward(u) + {b:.3f} "
            f"backward(w) = {expected}"
        )


def check_backward_twice(op, case, seed: int) -> None:
    """backward(retain_graph=True) then backward() adds the gradient twice; a third backward
    through the used-up graph raises RuntimeError and changes no gradient (as in PyTorch);
    zero_grad() clears .grad; a new forward and backward start again from zero."""
    cotangent = random_cotangent(call_op(op, case, make_leaves(case)).shape, seed)
    leaves = make_leaves(case)
    output = call_op(op, case, leaves)
    _require_graph(op, output)
    output.backward(cotangent, retain_graph=True)
    once = [np.array(_gradient(op, i, leaf)) for i, leaf in enumerate(leaves) if leaf.requires_grad]
    output.backward(cotangent)
    twice = [np.array(_gradient(op, i, leaf)) for i, leaf in enumerate(leaves) if leaf.requires_grad]
    for index, (g_once, g_twice) in enumerate(zip(once, twice)):
        assert np.allclose(g_twice, 2 * g_once, rtol=1e-12, atol=1e-300), (
            f"{op.name}: after backward(retain_graph=True) and backward() the gradient of input "
            f"{index} is {g_twice}; expected twice the first one, {2 * g_once} (gradients "
            "accumulate into .grad)"
        )
    try:
        output.backward(cotangent)
    except RuntimeError:
        pass
    else:
        raise AssertionError(
            f"{op.name}: a third backward() through a graph that the second one used up did not "
            "raise RuntimeError (backward without retain_graph frees the graph)"
        )
    after = [_gradient(op, i, leaf) for i, leaf in enumerate(leaves) if leaf.requires_grad]
    for index, (g_twice, g_after) in enumerate(zip(twice, after)):
        assert np.array_equal(g_after, g_twice), (
            f"{op.name}: the refused backward() changed the gradient of input {index} to "
            f"{g_after}; expected it left at {g_twice}"
        )
    for leaf in leaves:
        leaf.zero_grad()
        assert leaf.grad is None, f"zero_grad() left .grad = {leaf.grad}; expected None"
    call_op(op, case, leaves).backward(cotangent)
    again = [_gradient(op, i, leaf) for i, leaf in enumerate(leaves) if leaf.requires_grad]
    for index, (g_once, g_again) in enumerate(zip(once, again)):
        assert np.array_equal(g_again, g_once), (
            f"{op.name}: after zero_grad() a new backward() gave {g_again} for input {index}; "
            f"expected the first gradient {g_once} again"
        )


def check_no_grad_and_detach(op, case, seed: int = 0) -> None:
    """Under no_grad() (as a context and as a decorator) and on detached inputs the op records
    no graph and computes the same values; detach() keeps the values but carries no gradient.
    (``seed`` is unused.)"""
    from tinytorch.autograd import is_grad_enabled, no_grad

    leaves = make_leaves(case)
    recorded = call_op(op, case, leaves)
    with no_grad():
        unrecorded = call_op(op, case, leaves)
    assert is_grad_enabled(), "no_grad() did not restore gradient recording when it ended"
    decorated = no_grad()(lambda: call_op(op, case, leaves))()
    assert not decorated.requires_grad, f"{op.name} in a function decorated with @no_grad() recorded a graph"
    assert is_grad_enabled(), "a function decorated with @no_grad() left gradient recording off"
    assert not unrecorded.requires_grad and unrecorded.is_leaf, (
        f"{op.name} under no_grad() returned a tensor with requires_grad={unrecorded.requires_grad}, "
        f"op={unrecorded._op!r}; expected no graph"
    )
    assert np.array_equal(unrecorded.data, recorded.data, equal_nan=True), (
        f"{op.name} under no_grad() computed {unrecorded.data}; with recording it computed {recorded.data}"
    )
    try:
        unrecorded.backward(np.ones(unrecorded.shape))
    except RuntimeError:
        pass
    else:
        raise AssertionError(f"backward() on a result of {op.name} made under no_grad() did not raise RuntimeError")
    for leaf in leaves:
        assert leaf.grad is None, f"{op.name}: a leaf got a gradient through a result made under no_grad()"

    detached = recorded.detach()
    assert not detached.requires_grad and detached.is_leaf, "detach() returned a tensor that is still in the graph"
    assert np.array_equal(detached.data, recorded.data, equal_nan=True), "detach() changed the values"
    from_detached = call_op(op, case, [leaf.detach() for leaf in leaves])
    assert not from_detached.requires_grad, (
        f"{op.name} of detached inputs requires grad; expected a constant result"
    )


def check_not_mutated_not_aliased(op, case, seed: int) -> None:
    """Forward and backward leave the inputs, the op's arguments, the output and the cotangent
    unchanged, and no gradient shares memory with an input, the output or another gradient
    (an optimizer updating one array in place must not change another)."""
    before_inputs = [array.copy() for array in case.inputs]
    before_params = {k: np.array(v, copy=True) for k, v in case.params.items() if isinstance(v, np.ndarray)}
    leaves = make_leaves(case)
    output = call_op(op, case, leaves)
    _require_graph(op, output)
    output_before = output.data.copy()
    cotangent = random_cotangent(output.shape, seed)
    cotangent_before = cotangent.copy()
    output.backward(cotangent)

    for index, (leaf, before) in enumerate(zip(leaves, before_inputs)):
        assert np.array_equal(leaf.data, before), f"{op.name} changed its input {index} in place"
    for name, before in before_params.items():
        assert np.array_equal(case.params[name], before), f"{op.name} changed its argument {name!r} in place"
    assert np.array_equal(output.data, output_before, equal_nan=True), f"backward() of {op.name} changed the output"
    assert np.array_equal(cotangent, cotangent_before), "backward() changed the gradient it was given"

    grads = [(i, _gradient(op, i, leaf)) for i, leaf in enumerate(leaves) if leaf.requires_grad]
    others = [("the output", output.data), ("the cotangent passed to backward()", cotangent)]
    others += [(f"input {i}", leaf.data) for i, leaf in enumerate(leaves)]
    for position, (index, grad) in enumerate(grads):
        assert grad.flags.writeable and _owns_its_elements(grad), (
            f"{op.name}: the gradient of input {index} is a read-only or broadcast view "
            "(np.broadcast_to); .grad must be an ordinary array that an optimizer can update in place"
        )
        for name, array in others + [(f"the gradient of input {j}", g) for j, g in grads[position + 1:]]:
            assert not np.shares_memory(grad, array), (
                f"{op.name}: the gradient of input {index} shares memory with {name}; "
                "each .grad must be an array of its own (copy before storing it)"
            )


def _owns_its_elements(array: np.ndarray) -> bool:
    """False for views in which several elements share memory (a stride of 0)."""
    return all(stride != 0 for stride, size in zip(array.strides, array.shape) if size > 1)


def check_fan_out(op, case, seed: int) -> None:
    """The op applied to one tensor in every input slot (``x * x``, ``concatenate([x, x])``):
    the gradients of both uses must be added, so backward agrees with finite differences."""
    slots = max(len(case.inputs), 2)
    params = case.params
    gradcheck(lambda x: op.call(*([x] * slots), **params), [case.inputs[0]], seed=seed)


PER_OP_PROPERTIES = (
    check_vjp,
    check_not_mutated_not_aliased,
    check_gradient_shapes,
    check_linearity,
    check_backward_twice,
    check_fan_out,
    check_no_grad_and_detach,
    check_forward,
)
"""The per-op properties, each called as ``check(op, case, seed)``."""


class _Unwritten(BaseException):
    """A TODO's ``NotImplementedError`` on its way out of hypothesis (see ``run_examples``).
    A ``BaseException`` that is not an ``Exception``: hypothesis does not treat it as a
    failing example to shrink, it propagates at once."""

    def __init__(self, error: NotImplementedError):
        super().__init__(str(error))
        self.error = error


def run_examples(check, name: str, hypothesis_settings=None, **strategies) -> int:
    """Check ``check(**example)`` on hypothesis examples drawn from ``strategies``; return how
    many examples it held for (a caller asserts that some did: a strategy that drew nothing
    would otherwise check nothing).

    The hypothesis test is built here and named ``name``, so that its ``Falsifying example``
    note shows the drawn inputs themselves (``vjp_of_mul(case=OpCase(...), seed=0)``), which is
    what the plugin reports. ``hypothesis_settings`` overrides the loaded profile (negative
    controls use it to skip shrinking).

    Work that is not written yet (a ``NotImplementedError`` from a TODO) fails on every input,
    so there is no smallest example to look for and no point drawing more: the first
    ``NotImplementedError`` stops the run at once (carried out of hypothesis as
    ``_Unwritten``, which hypothesis lets through without shrinking or replaying) and is
    raised as itself. A fresh edition's 170-odd property tests then cost one example each.
    """
    held = []

    def example(**drawn):
        try:
            check(**drawn)
        except NotImplementedError as error:
            raise _Unwritten(error) from None
        held.append(1)

    example.__name__ = example.__qualname__ = name
    test = given(**strategies)(example)
    # one example-database entry and one derandomized seed per name, as hypothesis's pytest
    # plugin does for each parametrized test (a private hook: skipped if hypothesis drops it)
    inner = getattr(getattr(test, "hypothesis", None), "inner_test", None)
    if inner is not None:
        inner._hypothesis_internal_add_digest = name.encode()
    if hypothesis_settings is not None:
        test = hypothesis_settings(test)
    try:
        test()
    except _Unwritten as unwritten:
        raise unwritten.error from None
    return len(held)


def run_property(check, op, hypothesis_settings=None) -> int:
    """Check ``check(op, case, seed)`` on hypothesis examples of ``op``'s cases; return how many
    it held for (``run_examples``)."""
    name = f"{check.__name__.removeprefix('check_')}_of_{op.name}"
    return run_examples(lambda case, seed: check(op, case, seed), name, hypothesis_settings,
                 case=op.strategy(), seed=seeds())


# -- engine-level properties ------------------------------------------------------------------
def check_composition(composition, seed: int) -> None:
    """A random chain of ops: the chain rule, fan-out and broadcasting all at once."""
    gradcheck(composition, list(composition.inputs), seed=seed)


def check_detach_blocks_gradient(values: np.ndarray) -> None:
    """(x * x.detach()).sum() has gradient x, not 2x: nothing flows through the detached use."""
    x = Tensor(values.copy(), dtype=np.float64, requires_grad=True)
    (x * x.detach()).sum().backward()
    assert np.allclose(x.grad, values, rtol=1e-12, atol=0), (
        f"d/dx sum(x * detach(x)) = {x.grad}; expected x = {values}"
    )


def check_used_twice_accumulates(values: np.ndarray, seed: int) -> None:
    """A tensor feeding several ops (x*x + exp(x) + x) gets the sum of every path's gradient."""
    x = Tensor(values.copy(), dtype=np.float64, requires_grad=True)
    cotangent = random_cotangent(values.shape, seed)
    (x * x + x.exp() + x).backward(cotangent)
    expected = cotangent * (2 * values + np.exp(values) + 1)
    assert np.allclose(x.grad, expected, rtol=1e-12, atol=1e-12), (
        f"gradient of x*x + exp(x) + x is {x.grad}; expected {expected} (sum over the three uses)"
    )


# -- numerical stability ---------------------------------------------------------------------
def _reference_softmax(values: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def check_softmax_shift(values: np.ndarray, dim: int, shift: float) -> None:
    """softmax(x + c) == softmax(x) for c = ±1000 (float64 and float32), value and gradient."""
    from tinytorch.activations import log_softmax, softmax

    for dtype, rtol, atol in ((np.float64, 1e-9, 1e-12), (np.float32, 1e-3, 1e-5)):
        x = Tensor(values, dtype=dtype, requires_grad=True)
        moved = Tensor(values.astype(dtype) + dtype(shift), dtype=dtype, requires_grad=True)
        expected = _reference_softmax(values, dim)
        for name, result in (("softmax(x)", softmax(x, dim)), (f"softmax(x + {shift:g})", softmax(moved, dim))):
            assert np.all(np.isfinite(result.data)), f"{name} is not finite ({np.dtype(dtype)}): {result.data}"
            assert np.allclose(result.data, expected, rtol=rtol, atol=atol), (
                f"{name} = {result.data} ({np.dtype(dtype)}); expected {expected}"
            )
        if dtype == np.float64:
            cotangent = random_cotangent(values.shape, 0)
            softmax(x, dim).backward(cotangent)
            softmax(moved, dim).backward(cotangent)
            assert np.allclose(moved.grad, x.grad, rtol=1e-7, atol=1e-9), (
                f"the gradient of softmax changed when the input moved by {shift:g}: "
                f"{moved.grad} against {x.grad}"
            )
            log_moved = log_softmax(moved, dim).data
            assert np.allclose(log_moved, np.log(expected), rtol=1e-9, atol=1e-9), (
                f"log_softmax(x + {shift:g}) = {log_moved}; expected {np.log(expected)}"
            )


def check_cross_entropy_extreme(logits: np.ndarray, targets: np.ndarray, reduction: str) -> None:
    """Cross-entropy of logits around ±1000 is finite, and so is its gradient, which equals
    softmax(logits) - one_hot(targets) (divided by N for the mean)."""
    from tinytorch.losses import cross_entropy

    n, classes = logits.shape
    one_hot = np.eye(classes)[targets]
    for dtype in (np.float64, np.float32):
        rounded = logits.astype(dtype).astype(np.float64)  # the logits the library really sees
        probabilities = _reference_softmax(rounded, 1)
        shifted = rounded - rounded.max(axis=1, keepdims=True)
        per_sample = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(n), targets]
        x = Tensor(logits, dtype=dtype, requires_grad=True)
        loss = cross_entropy(x, targets, reduction)
        assert np.all(np.isfinite(loss.data)), f"cross_entropy of logits up to ±1000 is {loss.data} ({np.dtype(dtype)})"
        expected_loss = {"mean": per_sample.mean(), "sum": per_sample.sum(), "none": per_sample}[reduction]
        assert np.allclose(loss.data, expected_loss, rtol=1e-5, atol=1e-5), (
            f"cross_entropy = {loss.data}; expected {expected_loss} ({np.dtype(dtype)})"
        )
        weights = random_cotangent((n,), 1) if reduction == "none" else np.ones(n)
        loss.backward(weights if reduction == "none" else None)
        expected = (probabilities - one_hot) * weights[:, None] / (n if reduction == "mean" else 1)
        assert np.all(np.isfinite(x.grad)), f"the gradient of cross_entropy is not finite: {x.grad}"
        tolerance = 1e-9 if dtype == np.float64 else 1e-5
        assert np.allclose(x.grad, expected, rtol=tolerance, atol=tolerance), (
            f"the gradient of cross_entropy is {x.grad} ({np.dtype(dtype)}); expected "
            f"softmax(logits) - one_hot(targets) = {expected}"
        )
