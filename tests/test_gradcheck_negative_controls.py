"""Negative controls: the autograd grader must catch every deliberately broken autograd.

Each control installs one defect from ``pytest_tinytorch.grader.broken_autograd`` into the real
library, runs the grader's properties (``pytest_tinytorch.grader.autograd_properties``, the same
functions the integration tests call, with the same strategies and the current profile's
number of examples) and fails if none of them notices. These are tests *of the grader*, so
they live here and not in integration group 05-07.
"""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings

from pytest_tinytorch.grader import autograd_properties as properties
from pytest_tinytorch.grader.broken_autograd import FORWARD_DEFECTS, RULE_DEFECTS, broken_engine, broken_forward, broken_rule
from pytest_tinytorch.grader.op_registry import get_op, registered_ops
from pytest_tinytorch.plugin.outcomes import minimal_examples
from pytest_tinytorch.grader.strategies import compositions, real_arrays, seeds, shapes, softmax_cases
from tinytorch.autograd import gradcheck

OPS = registered_ops()
FAN_OUT_OPS = [op.name for op in OPS if op.fan_out]


NO_SHRINKING = settings(
    max_examples=settings.default.max_examples, derandomize=True, database=None, deadline=None,
    report_multiple_bugs=False, phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
"""The profile's number of examples, derandomized, but no shrinking: we only ask *whether*."""


def grader_failure(op, checks=properties.PER_OP_PROPERTIES):
    """Run the grader's per-op properties for ``op`` exactly as the integration tests do
    (``run_property``), without shrinking; the first failure, or None."""
    for check in checks:
        if check is properties.check_fan_out and not op.fan_out:
            continue
        try:
            properties.run_property(check, op, NO_SHRINKING)
        except Exception as error:  # noqa: BLE001  (any failure counts as caught)
            return error
    return None


def run_grader(check, strategy):
    """Run ``check(example, seed)`` on examples of ``strategy`` as the engine-level tests do
    (``run_examples``), without shrinking; return the first error, or None."""
    try:
        properties.run_examples(check, "control", NO_SHRINKING, example=strategy, seed=seeds())
    except Exception as error:  # noqa: BLE001  (any failure counts as caught)
        return error
    return None


# -- one broken backward rule, in each op in turn -----------------------------------------------
@pytest.mark.parametrize("defect", sorted(RULE_DEFECTS))
def test_grader_catches_a_broken_rule_in_every_op(defect):
    missed = []
    for op in OPS:
        with broken_rule(op.name, defect):
            if grader_failure(op) is None:
                missed.append(op.name)
    assert not missed, f"the grader did not catch a backward rule that {defect!r} in: {', '.join(missed)}"


def test_ignoring_the_incoming_gradient_passes_a_grader_that_only_sends_ones():
    """Why the cotangent is random: with ones, the defect is invisible."""
    values = np.array([0.5, -1.0, 2.0])
    with broken_rule("exp", "ignores incoming gradient"):
        assert gradcheck(lambda x: x.exp(), [values], cotangent=np.ones(3))
        with pytest.raises(AssertionError, match="random cotangent"):
            gradcheck(lambda x: x.exp(), [values])


# -- a forward wrong in the same way as its backward ----------------------------------------------
GRADIENT_PROPERTIES = tuple(check for check in properties.PER_OP_PROPERTIES if check is not properties.check_forward)


@pytest.mark.parametrize("defect", sorted(FORWARD_DEFECTS))
def test_only_the_forward_property_catches_a_consistently_wrong_op(defect):
    """Every gradient property passes (the backward is the derivative of the wrong forward):
    the comparison with the NumPy reference is what fails, and it names the op."""
    with broken_forward(defect) as name:
        op = get_op(name)
        assert grader_failure(op, checks=GRADIENT_PROPERTIES) is None, "the control is not consistent"
        error = grader_failure(op, checks=(properties.check_forward,))
    assert isinstance(error, AssertionError), f"the forward property did not catch {defect!r}"
    assert str(error).startswith(f"{name} of inputs of shape "), str(error)


def test_a_forward_wrong_only_above_six_elements_shrinks_to_eight_elements():
    """The reported example is the smallest that fails: 8 elements (sides are at most 4, so 7
    is impossible), and the message names the first wrong element, expected and got."""
    with broken_forward("abs is wrong only above 6 elements"), pytest.raises(AssertionError) as caught:
        properties.run_property(properties.check_forward, get_op("abs"))
    message = str(caught.value)
    shape = re.match(r"abs of inputs of shape \(([\d, ]+)\): the forward differs from the NumPy "
                     r"reference at index \(([\d, ]+)\) of the result \(shape", message)
    assert shape, message
    assert np.prod([int(side) for side in shape[1].split(",") if side.strip()]) == 8, message
    expected, got = (float(value) for value in re.search(r"expected (\S+), got (\S+) \(", message).groups())
    assert got < 0 and expected == -got, message
    (example,) = minimal_examples(caught.value.__notes__)
    assert re.match(r"(Falsifying example|Failing test case): forward_of_abs\(", example), example


def test_unwritten_forward_fails_with_its_todo_at_the_first_example(monkeypatch):
    from tinytorch import Tensor

    calls = []

    def todo(self):
        calls.append(1)
        raise NotImplementedError("TODO (01_tensor): exp")

    monkeypatch.setattr(Tensor, "exp", todo)
    with pytest.raises(NotImplementedError, match="TODO \\(01_tensor\\): exp"):
        properties.run_property(properties.check_forward, get_op("exp"))
    assert len(calls) == 1  # no more examples drawn, no shrinking, no replay


def test_a_todo_met_after_some_examples_held_still_fails_with_the_todo(monkeypatch):
    """Work that is written for some inputs only (a TODO for one axis, say) is reported as
    unwritten the first time an input reaches the TODO."""
    from tinytorch import Tensor

    real_exp, calls = Tensor.exp, []

    def partly_written(self):
        calls.append(1)
        if len(calls) > 3:
            raise NotImplementedError("TODO (01_tensor): exp for the remaining cases")
        return real_exp(self)

    monkeypatch.setattr(Tensor, "exp", partly_written)
    with pytest.raises(NotImplementedError, match="remaining cases"):
        properties.run_property(properties.check_forward, get_op("exp"))
    assert len(calls) == 4


# -- a broken engine --------------------------------------------------------------------------
ALL = properties.PER_OP_PROPERTIES
ENGINE_CONTROLS = [
    # defect, the properties that must catch it, the ops on which it must be caught
    ("forgets to undo broadcasting", ALL, ["add", "mul", "pow", "matmul"]),
    ("undoes broadcasting over leading axes only", ALL, ["add", "mul", "pow", "matmul"]),
    ("assigns instead of accumulating", (properties.check_backward_twice,), [op.name for op in OPS]),
    ("overwrites the gradient of a tensor used twice", (properties.check_fan_out,), FAN_OUT_OPS),
    ("stores gradients without copying", (properties.check_not_mutated_not_aliased,), ["add", "sum", "mean"]),
]


@pytest.mark.parametrize(
    "defect, checks, op_names", ENGINE_CONTROLS, ids=[control[0].replace(" ", "-") for control in ENGINE_CONTROLS]
)
def test_grader_catches_a_broken_engine(defect, checks, op_names):
    missed = []
    with broken_engine(defect):
        for name in op_names:
            if grader_failure(get_op(name), checks=checks) is None:
                missed.append(name)
    names = ", ".join(check.__name__ for check in checks)
    assert not missed, f"{names} did not catch an engine that {defect!r} for: {', '.join(missed)}"


def test_engine_properties_catch_overwritten_fan_out():
    with broken_engine("overwrites the gradient of a tensor used twice"):
        assert run_grader(lambda example, seed: properties.check_composition(example, seed), compositions())
        assert run_grader(lambda example, seed: properties.check_used_twice_accumulates(example, seed),
                          shapes().flatmap(real_arrays))


def test_every_engine_control_is_caught_somewhere():
    from pytest_tinytorch.grader.broken_autograd import ENGINE_DEFECTS

    assert sorted(ENGINE_DEFECTS) == sorted(control[0] for control in ENGINE_CONTROLS)


# -- numerically naive forwards ------------------------------------------------------------------
def naive_softmax(x, dim=-1):
    """exp(x) / sum(exp(x)) without subtracting the max: overflows for x = 1000."""
    from tinytorch import Tensor

    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x.data)
        return Tensor(e / e.sum(axis=dim, keepdims=True), dtype=x.dtype)


def test_stability_property_catches_a_softmax_without_the_max_shift(monkeypatch):
    import tinytorch.activations

    monkeypatch.setattr(tinytorch.activations, "softmax", naive_softmax)
    error = run_grader(
        lambda example, seed: properties.check_softmax_shift(example.inputs[0], example.params["dim"], 1000.0),
        softmax_cases(),
    )
    assert isinstance(error, AssertionError) and "not finite" in str(error)


def test_stability_property_catches_cross_entropy_as_log_of_softmax(monkeypatch):
    import tinytorch.losses
    from tinytorch import Tensor

    def naive_cross_entropy(logits, targets, reduction="mean"):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            probabilities = naive_softmax(logits, 1).data
            losses = -np.log(probabilities[np.arange(len(targets)), targets])
        return Tensor(losses.mean() if reduction == "mean" else losses.sum() if reduction == "sum" else losses)

    monkeypatch.setattr(tinytorch.losses, "cross_entropy", naive_cross_entropy)
    logits = np.array([[1000.0, -1000.0, 999.0]])
    with pytest.raises(AssertionError, match="cross_entropy of logits up to ±1000 is inf"):
        properties.check_cross_entropy_extreme(logits, np.array([1]), "mean")


# -- the minimal failing example reaches the exception's notes ---------------------------------
def test_falsifying_example_is_in_the_exception_notes():
    """The plugin reads the smallest failing input from the note hypothesis adds ("Falsifying example:" or, in newer releases, "Failing test case:")."""
    with broken_rule("mul", "wrong sign"), pytest.raises(AssertionError) as caught:
        properties.run_property(properties.check_vjp, get_op("mul"))
    (example,) = minimal_examples(caught.value.__notes__)
    assert re.match(r"(Falsifying example|Failing test case): vjp_of_mul\(", example), example
    # shrunk to the smallest shapes: two scalars
    assert re.search(r"case=OpCase\(inputs=\(array\([-\d.e]+\), array\([-\d.e]+\)\)", example), example


def test_unwritten_work_fails_with_its_todo_and_without_shrinking():
    """A student's TODO raises on every input: the property fails with that TODO, at once."""
    from tinytorch import autograd

    calls = []

    def todo(grad, out, a):
        calls.append(1)
        raise NotImplementedError("TODO (05_autograd): exp_backward")

    original = autograd.BACKWARD_RULES["exp"]
    autograd.BACKWARD_RULES["exp"] = todo
    try:
        with pytest.raises(NotImplementedError, match="TODO \\(05_autograd\\): exp_backward"):
            properties.run_property(properties.check_vjp, get_op("exp"))
    finally:
        autograd.BACKWARD_RULES["exp"] = original
    assert len(calls) <= settings.default.max_examples + 5  # no shrinking


# -- no_grad and detach that do nothing ---------------------------------------------------------
class RecordingAnyway:
    """A no_grad() that forgets to switch recording off (context manager and decorator)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def __call__(self, function):
        return function


def test_the_grader_catches_a_no_grad_that_records_anyway(monkeypatch):
    import tinytorch.autograd

    monkeypatch.setattr(tinytorch.autograd, "no_grad", RecordingAnyway)
    assert grader_failure(get_op("exp"), checks=(properties.check_no_grad_and_detach,)) is not None


def test_the_grader_catches_a_detach_that_returns_the_tensor_itself(monkeypatch):
    from tinytorch import Tensor

    monkeypatch.setattr(Tensor, "detach", lambda self: self)
    assert grader_failure(get_op("exp"), checks=(properties.check_no_grad_and_detach,)) is not None
    assert run_grader(lambda example, seed: properties.check_detach_blocks_gradient(example),
                      shapes().flatmap(real_arrays)) is not None
