"""Integration group 05-07: optimizers, schedules and training, graded against their equations.

Each test draws hyper-parameters, parameters and gradients with hypothesis and checks that the
library follows the update equations (written in plain NumPy in
``pytest_tinytorch.grader.optimizer_properties``, as ``torch.optim`` documents them) step after
step. A failure shows the smallest example that breaks the property (``Falsifying example:
sgd_trajectory(problem=..., hyper={...})``). Milestone 2 (mlp) stays locked until they pass.
Run one with ``pytest modules/tests/integration/test_optimizer_properties.py -k adam``.

Each test asserts that the property held for at least one drawn example (``run_property_examples``
returns how many); a broken library fails it with the smallest counterexample instead, as the
negative controls in ``tests/test_optimizer_property_controls.py`` show for each audited bug.
"""

import pytest

from pytest_tinytorch.grader.optimizer_properties import run_property_examples

pytestmark = pytest.mark.integration("05_07")


# -- optimizers ---------------------------------------------------------------------------------------
def test_sgd_follows_its_update_equations():
    assert run_property_examples("sgd_trajectory") > 0  # raises on the smallest counterexample


def test_adam_follows_its_update_equations():
    assert run_property_examples("adam_trajectory") > 0  # raises on the smallest counterexample


def test_adamw_follows_its_update_equations():
    assert run_property_examples("adamw_trajectory") > 0  # raises on the smallest counterexample


# -- schedules ----------------------------------------------------------------------------------------
def test_step_lr_follows_its_formula():
    assert run_property_examples("step_lr") > 0  # raises on the smallest counterexample


def test_cosine_annealing_follows_its_formula():
    assert run_property_examples("cosine_annealing") > 0  # raises on the smallest counterexample


# -- training utilities -------------------------------------------------------------------------------
def test_clip_grad_norm_scales_every_gradient_by_one_factor():
    assert run_property_examples("clip_grad_norm") > 0  # raises on the smallest counterexample


def test_training_follows_the_update_equations():
    assert run_property_examples("training") > 0  # raises on the smallest counterexample


def test_a_checkpoint_resumes_training_exactly():
    assert run_property_examples("checkpoint") > 0  # raises on the smallest counterexample


def test_a_non_finite_loss_stops_training_before_the_update():
    assert run_property_examples("non_finite_loss") > 0  # raises on the smallest counterexample


def test_accuracy_counts_correct_predictions():
    assert run_property_examples("accuracy") > 0  # raises on the smallest counterexample


def test_every_property_has_its_test():
    """A property added to the table without a test here would never be graded."""
    import inspect

    from pytest_tinytorch.grader.optimizer_properties import PROPERTIES

    source = inspect.getsource(inspect.getmodule(test_every_property_has_its_test))
    assert [name for name in PROPERTIES if f'run_property_examples("{name}") > 0' not in source] == []
