"""The op registry: every differentiable op is declared, and declarations are well formed."""

import numpy as np
import pytest
from hypothesis import given, settings

from pytest_tinytorch.grader import op_registry
from pytest_tinytorch.grader.op_registry import RegistryError, get_op, register_op, registered_ops, unregistered_ops
from pytest_tinytorch.grader.strategies import elementwise_cases
from tinytorch.autograd import BACKWARD_RULES, backward_rule

CORE_OPS = {
    "add", "mul", "pow", "neg", "matmul", "sum", "mean", "max", "min", "reshape", "transpose",
    "getitem", "exp", "log", "sqrt", "abs", "clip", "concatenate", "stack", "relu", "sigmoid",
    "tanh", "gelu", "softmax", "log_softmax", "cross_entropy", "bce_with_logits",
}


def test_every_op_with_a_backward_rule_is_registered():
    assert unregistered_ops() == [], (
        "these ops have a backward rule but no grader declaration; declare them in "
        "src/pytest_tinytorch/grader/graded_ops/<module>.py (see docs/autograd-grading.md)"
    )


def test_the_ops_of_modules_01_to_04_are_all_graded():
    assert CORE_OPS <= {op.name for op in registered_ops()}


@pytest.fixture
def new_rule():
    """A backward rule for an op that nobody declared, removed afterwards."""
    backward_rule("cube_for_registry_test")(lambda grad, out, a: (3 * grad * a.data**2,))
    yield "cube_for_registry_test"
    del BACKWARD_RULES["cube_for_registry_test"]
    op_registry.unregister_op("cube_for_registry_test")


def test_an_undeclared_op_is_reported(new_rule):
    assert unregistered_ops() == [new_rule]


def test_a_declared_op_is_graded_and_no_longer_reported(new_rule):
    from tinytorch import Tensor

    def cube(x):
        return Tensor._result(x.data**3, new_rule, (x,))

    op = register_op(new_rule, cube, arity=1, cases=elementwise_cases(), domain="real", module="tensor",
                     reference=lambda x: x**3)
    assert unregistered_ops() == []
    assert get_op(new_rule) is op and op in registered_ops()


def test_declaring_an_op_twice_needs_replace(new_rule):
    register_op(new_rule, abs, arity=1, cases=elementwise_cases(), domain="real", module="tensor", reference=np.abs)
    with pytest.raises(RegistryError, match="already registered"):
        register_op(new_rule, abs, arity=1, cases=elementwise_cases(), domain="real", module="tensor",
                    reference=np.abs)
    replaced = register_op(new_rule, abs, arity=1, cases=elementwise_cases, domain="positive",
                           module="tensor", reference=np.abs, replace=True)
    assert get_op(new_rule).domain == "positive"
    assert replaced.strategy() is not None  # a function returning a strategy works too


def test_a_bad_arity_is_refused():
    with pytest.raises(RegistryError, match="arity"):
        register_op("nothing", abs, arity=0, cases=elementwise_cases(), domain="real", module="tensor",
                    reference=np.abs)


def test_core_ops_are_graded_in_group_05_07_and_later_ops_in_their_own_group(new_rule):
    assert {op_registry.grading_group(get_op(name)) for name in CORE_OPS} == {"05_07"}
    for module, group in [("tensor", "05_07"), ("autograd", "05_07"), ("training", "05_07"),
                          ("spatial", "08_09"), ("attention", "10_14")]:
        op = register_op(new_rule, abs, arity=1, cases=elementwise_cases(), domain="real", module=module,
                         reference=np.abs, replace=True)
        assert op_registry.grading_group(op) == group


def test_an_op_without_a_forward_reference_is_refused_by_name(new_rule):
    for missing in (None, "np.abs"):
        with pytest.raises(RegistryError, match=f"op '{new_rule}' has no forward reference: pass reference="):
            register_op(new_rule, abs, arity=1, cases=elementwise_cases(), domain="real", module="tensor",
                        reference=missing)
    assert new_rule not in {op.name for op in registered_ops()}


ELEMENTWISE = ("neg", "exp", "abs", "relu", "sigmoid", "tanh", "gelu")


def test_every_registered_op_has_a_reference_and_the_elementwise_ones_agree_with_the_library():
    """A fixed spot check (the grader compares every generated case): 2x3 values of both signs."""
    from tinytorch import Tensor

    assert all(callable(op.reference) for op in registered_ops())
    values = np.array([[0.5, -1.25, 2.0], [0.01, 1.5, -0.3]])
    for name in ELEMENTWISE:
        op = get_op(name)
        assert np.allclose(op.call(Tensor(values, dtype=np.float64)).data, op.reference(values.copy()),
                           rtol=1e-12, atol=0), name


def test_the_module_must_be_a_curriculum_module():
    from pytest_tinytorch.plugin.curriculum import CurriculumError

    with pytest.raises(CurriculumError, match="unknown module 'convolutions'; expected one of: 01_tensor"):
        register_op("nothing", abs, arity=1, cases=elementwise_cases(), domain="real", module="convolutions",
                    reference=np.abs)
    assert "nothing" not in {op.name for op in registered_ops()}


def test_an_unknown_op_name_lists_the_registered_ones():
    with pytest.raises(RegistryError, match="registered: abs, add"):
        get_op("convolve")


@pytest.mark.parametrize("op", registered_ops(), ids=lambda op: op.name)
def test_each_declaration_draws_cases_that_fit_it(op):
    @settings(max_examples=10, database=None, deadline=None, derandomize=True)
    @given(case=op.strategy())
    def check(case):
        assert all(isinstance(x, np.ndarray) and x.dtype == np.float64 for x in case.inputs)
        assert len(case.requires_grad) == len(case.inputs) and any(case.requires_grad)
        if op.arity is not None:
            assert len(case.inputs) == op.arity
        assert all(np.isfinite(x).all() for x in case.inputs)
        from tinytorch import Tensor

        result = op.call(*[Tensor(x, dtype=np.float64) for x in case.inputs], **case.params)
        assert result.dtype == np.float64 and np.isfinite(result.data).all()

    check()


def test_op_reprs_are_short_for_test_ids_and_examples():
    assert repr(get_op("matmul")) == "<op matmul>"
