"""Integration group 05-07: autograd, graded by properties over every registered op.

Each per-op test runs one property (``pytest_tinytorch.grader.autograd_properties``) on hypothesis
examples of valid inputs for one op, drawn from its declaration (``pytest_tinytorch.grader.op_registry``,
strategies in ``pytest_tinytorch.grader.strategies``). When a property fails, hypothesis shrinks the
inputs and attaches the smallest failing example to the error (``Falsifying example:
vjp_of_mul(case=OpCase(...), seed=0)``), which the plugin shows per op in the autograd grade.

Each test asserts that its property held for at least one drawn example (``run_property`` and
``run_examples`` return how many; a strategy that drew nothing would check nothing); a broken
autograd raises the smallest counterexample instead (``tests/test_gradcheck_negative_controls.py``).

Every op of modules 01-05 must pass before milestone 2 unlocks (group 05-07). An op declared by
a later module is graded here too, but in that module's group (``grading_group``), so that
milestone 2 never waits for later work. Run one op's tests with
``pytest modules/tests/integration/test_autograd_properties.py -k matmul``.
"""

import numpy as np
import pytest
from hypothesis import strategies as st

from pytest_tinytorch.grader import autograd_properties as properties
from pytest_tinytorch.grader.autograd_properties import run_examples, run_property
from pytest_tinytorch.grader.op_registry import grading_group, registered_ops
from pytest_tinytorch.grader.strategies import compositions, real_arrays, seeds, shapes, softmax_cases

pytestmark = pytest.mark.integration("05_07")

OPS = registered_ops()


def each_op(ops=OPS):
    """Parametrize over ops, marking each test with the op it grades and that op's group."""
    params = [
        pytest.param(op, id=op.name, marks=[pytest.mark.autograd_op(op.name), pytest.mark.integration(grading_group(op))])
        for op in ops
    ]
    return pytest.mark.parametrize("op", params)


# -- per op -----------------------------------------------------------------------------------
@each_op()
def test_forward_matches_the_numpy_reference(op):
    assert run_property(properties.check_forward, op)


@each_op()
def test_vjp_matches_finite_differences(op):
    assert run_property(properties.check_vjp, op)


@each_op()
def test_gradient_has_the_input_shape_and_dtype(op):
    assert run_property(properties.check_gradient_shapes, op)


@each_op()
def test_gradient_is_linear_in_the_cotangent(op):
    assert run_property(properties.check_linearity, op)


@each_op()
def test_backward_twice_accumulates_and_zero_grad_resets(op):
    assert run_property(properties.check_backward_twice, op)


@each_op()
def test_inputs_not_mutated_and_gradients_not_aliased(op):
    assert run_property(properties.check_not_mutated_not_aliased, op)


@each_op()
def test_no_grad_and_detach_record_nothing(op):
    assert run_property(properties.check_no_grad_and_detach, op)


@each_op([op for op in OPS if op.fan_out])
def test_tensor_used_in_every_slot_accumulates(op):
    assert run_property(properties.check_fan_out, op)


# -- stability ------------------------------------------------------------------------------
@st.composite
def extreme_logits(draw):
    """Logits (N, C) of about ±1000 (each entry's sign drawn), targets and a reduction."""
    n, classes = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    offsets = draw(real_arrays((n, classes)))
    signs = np.where(draw(st.lists(st.booleans(), min_size=n * classes, max_size=n * classes)), 1.0, -1.0)
    targets = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return 1000.0 * signs.reshape(n, classes) + offsets, targets, reduction


@pytest.mark.autograd_op("softmax")
def test_softmax_unchanged_by_a_shift_of_1000():
    assert run_examples(
        lambda case, shift: properties.check_softmax_shift(case.inputs[0], case.params["dim"], shift),
        "softmax_shift", case=softmax_cases(), shift=st.sampled_from([1000.0, -1000.0]),
    )


@pytest.mark.autograd_op("cross_entropy")
def test_cross_entropy_finite_for_logits_of_1000_and_gradient_is_softmax_minus_one_hot():
    assert run_examples(lambda case: properties.check_cross_entropy_extreme(*case),
                        "cross_entropy_of_extreme_logits", case=extreme_logits())


# -- the engine: compositions, fan-out, detach -------------------------------------------------
def test_random_compositions_obey_the_chain_rule():
    assert run_examples(properties.check_composition, "chain_rule", composition=compositions(), seed=seeds())


def test_tensor_used_by_several_ops_accumulates():
    assert run_examples(properties.check_used_twice_accumulates, "used_twice",
                        values=shapes().flatmap(real_arrays), seed=seeds())


def test_detach_blocks_the_gradient():
    assert run_examples(properties.check_detach_blocks_gradient, "detach", values=shapes().flatmap(real_arrays))
