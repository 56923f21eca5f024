"""Unit tests of ``tinytorch.autograd.gradcheck``, each with the defect it must catch."""

import numpy as np
import pytest

from pytest_tinytorch.grader.broken_autograd import broken_engine, broken_rule
from tinytorch import Tensor
from tinytorch.autograd import BACKWARD_RULES, gradcheck
from tinytorch.gradcheck import ATOL, EPS, RTOL, GradcheckError, random_cotangent
from tinytorch.losses import cross_entropy

RNG = np.random.default_rng(7)
MATRIX, VECTOR = RNG.uniform(0.5, 2.0, (3, 4)), RNG.uniform(0.5, 2.0, 4)


def test_the_tolerances_are_the_documented_ones():
    assert (EPS, RTOL, ATOL) == (1e-6, 1e-5, 1e-6)


def test_correct_gradients_pass():
    assert gradcheck(lambda x, y: (x * y).exp().sum(axis=0), [MATRIX, VECTOR]) is True
    assert gradcheck(lambda x: (x @ x.T).log(), [MATRIX]) is True


def test_a_wrong_sign_is_reported_with_input_element_and_both_values():
    with broken_rule("mul", "wrong sign"), pytest.raises(GradcheckError) as caught:
        gradcheck(lambda x, y: x * y, [MATRIX, VECTOR])
    message = str(caught.value)
    assert "input 0 (shape (3, 4)): 12 of 12 elements wrong" in message
    assert "input 1 (shape (4,)): 4 of 4 elements wrong" in message
    assert "element (0, 0): backward" in message and "finite differences" in message


def test_ignoring_the_incoming_gradient_fails_only_because_the_cotangent_is_random():
    with broken_rule("exp", "ignores incoming gradient"):
        assert gradcheck(lambda x: x.exp(), [VECTOR], cotangent=np.ones(4))
        with pytest.raises(GradcheckError, match="random cotangent"):
            gradcheck(lambda x: x.exp(), [VECTOR])


def test_a_scalar_output_is_weighted_by_a_random_number_too():
    with broken_rule("sum", "ignores incoming gradient"), pytest.raises(GradcheckError):
        gradcheck(lambda x: x.sum(), [MATRIX])


def test_small_true_gradients_are_not_lost_in_the_tolerance():
    """A zero gradient where the true one is 1e-4 fails (atol is 1e-6, not 1e-2)."""
    with broken_rule("mul", "zero small gradients"), pytest.raises(GradcheckError):
        gradcheck(lambda x: x * 1e-4, [VECTOR], cotangent=np.ones(4))


def test_large_inputs_are_checked_along_a_random_direction():
    """Above the element-by-element size, one wrong element still moves the directional sum."""
    big = RNG.uniform(0.5, 2.0, (10, 10))
    original = BACKWARD_RULES["exp"]

    def one_wrong_element(grad, out, a):
        (g,) = original(grad, out, a)
        g = g.copy()
        g[3, 7] += 1.0
        return (g,)

    BACKWARD_RULES["exp"] = one_wrong_element
    try:
        with pytest.raises(GradcheckError, match="along a random direction") as caught:
            gradcheck(lambda x: x.exp(), [big], full_check_max_size=64)
        assert "element" not in str(caught.value)  # too big for the element report
    finally:
        BACKWARD_RULES["exp"] = original


def test_small_inputs_are_checked_element_by_element():
    """An error that the random direction happens to miss is still found per element."""
    original = BACKWARD_RULES["exp"]

    def off_by_a_direction_orthogonal_error(grad, out, a):
        (g,) = original(grad, out, a)
        return (g + _orthogonal_error,)

    seed = 3
    rng = np.random.default_rng(seed)
    output_shape = (4,)
    random_cotangent(output_shape, rng)  # the draws gradcheck makes before the direction
    direction = rng.standard_normal(4)
    _orthogonal_error = np.array([direction[1], -direction[0], 0.0, 0.0])  # <error, direction> = 0
    BACKWARD_RULES["exp"] = off_by_a_direction_orthogonal_error
    try:
        with pytest.raises(GradcheckError) as caught:
            gradcheck(lambda x: x.exp(), [VECTOR], seed=seed)
        assert "along a random direction" not in str(caught.value)
        assert "input 0 (shape (4,)): 2 of 4 elements wrong" in str(caught.value)
    finally:
        BACKWARD_RULES["exp"] = original


def test_a_gradient_of_the_broadcast_shape_is_named():
    with broken_engine("forgets to undo broadcasting"), pytest.raises(GradcheckError, match="summed back"):
        gradcheck(lambda x, y: x + y, [MATRIX, VECTOR])


def test_a_float32_computation_is_refused():
    with pytest.raises(GradcheckError, match="float32 tensor for float64 inputs"):
        gradcheck(lambda x: Tensor(x.data, dtype=np.float32) * 2.0, [VECTOR])


def test_inputs_changed_by_backward_are_caught():
    with broken_rule("exp", "writes into its input"), pytest.raises(GradcheckError, match="changed"):
        gradcheck(lambda x: x.exp(), [VECTOR])


def test_constant_tensors_are_not_differentiated():
    logits = RNG.standard_normal((3, 4))
    targets = Tensor(np.array([0, 3, 1]))
    assert gradcheck(lambda x, t: cross_entropy(x, t), [logits, targets])


def test_an_op_that_records_no_graph_fails():
    """A forward that wraps its result in a fresh Tensor cuts the graph: zero gradient."""
    with pytest.raises(GradcheckError, match="disagrees"):
        gradcheck(lambda x: Tensor(x.data * 2.0, dtype=np.float64), [VECTOR])


def test_the_callers_arrays_are_left_alone():
    before = MATRIX.copy()
    gradcheck(lambda x: x.exp(), [MATRIX])
    assert np.array_equal(MATRIX, before)


def test_the_cotangent_spans_three_orders_of_magnitude():
    cotangent = random_cotangent((10_000,), np.random.default_rng(0))
    magnitudes = np.abs(cotangent)
    assert (magnitudes < 1e-3).mean() > 0.05 and (magnitudes > 0.5).mean() > 0.05
    assert (cotangent < 0).mean() == pytest.approx(0.5, abs=0.02)


def test_a_function_returning_an_array_is_a_type_error():
    with pytest.raises(TypeError, match="expected a Tensor"):
        gradcheck(lambda x: x.data, [VECTOR])
