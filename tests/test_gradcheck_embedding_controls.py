"""Negative controls for the op of module 11 (embeddings): mistakes the autograd grader must catch.

Each control wraps the real backward rule (or the real forward) of ``embedding`` so that it
makes one mistake students make with a gather and its scatter-add, installs it for one test,
and runs the grader's per-op properties on it exactly as integration group 10_14 does. The
wrapped rule is the reference solution's, so no solution line is repeated here.
"""

import numpy as np

import tinytorch.autograd as autograd
from pytest_tinytorch.grader import autograd_properties as properties
from pytest_tinytorch.grader.broken_autograd import RULE_DEFECTS
from pytest_tinytorch.grader.op_registry import get_op
from test_gradcheck_negative_controls import grader_failure
from test_gradcheck_spatial_controls import GRADIENT_PROPERTIES, assert_caught_by_gradcheck, install_rule
from tinytorch import Tensor, embeddings


def keeps_the_last_occurrence(rule):
    """``grad_weight[ids] = g`` instead of adding: a row read several times receives only the
    gradient of its last reading (NumPy's fancy assignment writes the row once per id, the last
    write wins). Made from the real rule by silencing every earlier reading of a repeated id."""

    def broken(grad, out, weight, *, indices):
        flat = indices.reshape(-1)
        last_reading = np.zeros(flat.shape, dtype=bool)
        _, last_from_the_end = np.unique(flat[::-1], return_index=True)
        last_reading[flat.size - 1 - last_from_the_end] = True
        kept = grad * last_reading.reshape(indices.shape + (1,))
        return rule(kept, out, weight, indices=indices)

    return broken


def test_a_backward_that_assigns_instead_of_adding_repeated_ids_is_caught(monkeypatch):
    install_rule(monkeypatch, "embedding", keeps_the_last_occurrence)
    assert_caught_by_gradcheck("embedding")


def test_the_assignment_control_really_loses_repeated_gradients(monkeypatch):
    """Ids [2, 0, 2]: the real rule gives row 2 the sum of readings 0 and 2, the control only
    reading 2's gradient; row 1, never read, gets 0 from both."""
    weight = Tensor(np.zeros((3, 2)), dtype=np.float64, requires_grad=True)
    grad = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])
    embeddings.embedding(weight, np.array([2, 0, 2])).backward(grad)
    assert weight.grad.tolist() == [[10.0, 20.0], [0.0, 0.0], [101.0, 202.0]]
    weight.zero_grad()
    install_rule(monkeypatch, "embedding", keeps_the_last_occurrence)
    embeddings.embedding(weight, np.array([2, 0, 2])).backward(grad)
    assert weight.grad.tolist() == [[10.0, 20.0], [0.0, 0.0], [100.0, 200.0]]


def test_a_backward_that_ignores_the_incoming_gradient_is_caught(monkeypatch):
    install_rule(monkeypatch, "embedding", RULE_DEFECTS["ignores incoming gradient"])
    assert_caught_by_gradcheck("embedding")


def gathers_the_next_row(real_embedding):
    """A gather off by one (row ``id + 1``, wrapping to row 0 after the last), made of the real
    op, so its backward is exactly the derivative of the wrong forward."""

    def embedding(weight, indices):
        return real_embedding(weight, (np.asarray(indices) + 1) % weight.shape[0])

    return embedding


def test_an_off_by_one_gather_passes_every_gradient_check_but_not_the_forward_check(monkeypatch):
    monkeypatch.setattr(embeddings, "embedding", gathers_the_next_row(embeddings.embedding))
    op = get_op("embedding")
    assert grader_failure(op, checks=GRADIENT_PROPERTIES) is None, "the gradients of the shifted gather are right"
    error = grader_failure(op, checks=(properties.check_forward,))
    assert isinstance(error, AssertionError) and "differs from the NumPy reference" in str(error)


def test_the_off_by_one_control_really_reads_the_next_row():
    weight = Tensor(np.arange(6.0).reshape(3, 2), dtype=np.float64)
    shifted = gathers_the_next_row(embeddings.embedding)(weight, np.array([0, 2]))
    assert shifted.data.tolist() == [[2.0, 3.0], [0.0, 1.0]]


def test_the_real_embedding_passes_the_grader():
    """The other side of every control: the real rule and forward pass."""
    assert autograd.BACKWARD_RULES["embedding"] is embeddings.embedding_backward
    assert grader_failure(get_op("embedding")) is None


def test_embedding_cases_are_valid_and_repeat_ids():
    """Every case is a real table of 1-5 rows and integer ids inside it, with a value within
    0.04 of 0 in a row that is read; more than half of the cases repeat an id, and more than a
    third leave a row unread."""
    from hypothesis import HealthCheck, given, settings

    from pytest_tinytorch.grader.strategies import MAX_EMBEDDING_ROWS, SMALL_READ_VALUE, embedding_cases

    seen = {"repeated": 0, "unread rows": 0, "examples": 0}

    @settings(max_examples=200, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(embedding_cases())
    def check(case):
        (weight,), ids = case.inputs, case.params["indices"]
        assert weight.dtype == np.float64 and weight.ndim == 2 and 1 <= weight.shape[0] <= MAX_EMBEDDING_ROWS
        assert ids.dtype.kind == "i" and ids.ndim <= 2 and ids.size >= 1
        assert ids.min() >= 0 and ids.max() < weight.shape[0]
        assert np.abs(weight[np.unique(ids)]).min() <= SMALL_READ_VALUE
        seen["examples"] += 1
        seen["repeated"] += len(np.unique(ids)) < ids.size
        seen["unread rows"] += len(np.unique(ids)) < weight.shape[0]

    check()
    assert seen["repeated"] > seen["examples"] / 2 and seen["unread rows"] > seen["examples"] / 3, seen
