"""The grader's strategies keep their promises: domains by construction, broadcast shapes,
no ties for max/min, clip bounds kept at a distance; and the hypothesis profiles."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from pytest_tinytorch.grader import strategies as s

FEW = settings(max_examples=40, database=None, deadline=None, derandomize=True)


@FEW
@given(s.shapes().flatmap(s.real_arrays))
def test_real_values_keep_away_from_zero_and_stay_bounded(values):
    assert np.all(np.abs(values) >= s.SMALLEST_MAGNITUDE)
    assert np.all(np.abs(values) <= s.LARGEST_MAGNITUDE)


@FEW
@given(s.shapes().flatmap(s.positive_arrays))
def test_positive_values_keep_away_from_the_pole(values):
    assert np.all(values >= s.SMALLEST_POSITIVE) and np.all(values <= s.LARGEST_MAGNITUDE)


@FEW
@given(s.shapes(min_dims=1).flatmap(s.distinct_arrays))
def test_distinct_values_never_tie(values):
    ordered = np.sort(values.ravel())
    assert np.all(np.diff(ordered) >= 0.4 * 2 * s.LARGEST_MAGNITUDE / values.size - 1e-12)


@FEW
@given(s.clip_cases())
def test_clip_values_keep_away_from_the_bounds(case):
    (values,) = case.inputs
    for bound in (case.params["low"], case.params["high"]):
        if bound is not None:
            assert np.all(np.abs(values - bound) >= s.CLIP_MARGIN - 1e-15)


def test_push_away_moves_only_the_values_that_are_too_close():
    values = np.array([0.4999, 0.5003, 0.7, -1.0])
    moved = s.push_away(values, [0.5], margin=1e-3)
    assert moved.tolist() == [0.499, 0.501, 0.7, -1.0]
    assert values.tolist() == [0.4999, 0.5003, 0.7, -1.0]  # the input is not changed


def test_values_reach_small_magnitudes_often():
    """A third of real values are below 0.1, where a 'zero for small values' bug shows."""
    unit = np.linspace(-1, 1, 10_001)
    assert 0.25 < (np.abs(s._to_real(unit)) < 0.1).mean() < 0.4


def test_broadcastable_shapes_include_different_ranks_and_stretched_axes():
    found = find(s.broadcastable_shapes(2), lambda pair: len(pair[0]) != len(pair[1]) and 1 in pair[0] + pair[1],
                 settings=FEW)
    np.broadcast_shapes(*found)
    equal = find(s.broadcastable_shapes(2), lambda pair: pair[0] == pair[1] and len(pair[0]) == 3, settings=FEW)
    assert len(equal[0]) == 3


@FEW
@given(s.broadcastable_shapes(3))
def test_broadcastable_shapes_broadcast(shapes):
    assert len(np.broadcast_shapes(*shapes)) <= s.MAX_DIMS


def test_requires_grad_masks_cover_all_and_partial():
    assert find(s.broadcast_cases(), lambda case: case.requires_grad == (True, True), settings=FEW)
    assert find(s.broadcast_cases(), lambda case: case.requires_grad == (False, True), settings=FEW)


@FEW
@given(s.broadcast_cases())
def test_some_input_always_requires_grad(case):
    assert any(case.requires_grad)


@FEW
@given(s.reshape_cases())
def test_reshape_targets_fit(case):
    reshaped = np.reshape(case.inputs[0], case.params["shape"])  # raises when the target does not fit
    assert reshaped.size == case.inputs[0].size


@FEW
@given(s.matmul_cases())
def test_matmul_cases_are_valid_products(case):
    assert np.matmul(*case.inputs).ndim <= s.MAX_DIMS


def test_matmul_cases_broadcast_a_batch_of_one():
    found = find(s.matmul_cases(), lambda case: {case.inputs[0].shape[:1], case.inputs[1].shape[:1]} >= {(1,)}
                 and case.inputs[0].ndim == case.inputs[1].ndim == 3 and case.inputs[0].shape[0] != case.inputs[1].shape[0],
                 settings=settings(FEW, max_examples=1000))
    assert found


@FEW
@given(s.compositions())
def test_compositions_give_finite_float64_results(composition):
    from tinytorch import Tensor

    result = composition(*[Tensor(x, dtype=np.float64) for x in composition.inputs])
    assert result.dtype == np.float64 and np.isfinite(result.data).all()


# -- the hypothesis profiles of the root conftest ------------------------------------------------
def load_root_conftest():
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("root_conftest_for_profile_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("environ, expected", [
    ({}, "dev"),
    ({"CI": "true"}, "ci"),
    ({"CI": "1", "HYPOTHESIS_PROFILE": "thorough"}, "thorough"),
    ({"HYPOTHESIS_PROFILE": "ci"}, "ci"),
])
def test_the_profile_is_chosen_from_the_environment(environ, expected):
    assert load_root_conftest().chosen_profile(environ) == expected


def test_the_ci_profile_is_reproducible():
    load_root_conftest()
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.database is None and ci.deadline is None and ci.print_blob
    assert ci.report_multiple_bugs is False
    assert settings.get_profile("thorough").max_examples >= 10 * ci.max_examples
    assert settings.get_profile("dev").derandomize is False
