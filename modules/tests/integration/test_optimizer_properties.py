"""Integration group 05-07: optimizers, schedules and training, graded against their equations.

Each test draws hyper-parameters, parameters and gradients with hypothesis and checks that the
library follows the update equations (written in plain NumPy in
``pytest_tinytorch.optimizer_properties``, as ``torch.optim`` documents them) step after
step. A failure shows the smallest example that breaks the property (``Falsifying example:
sgd_trajectory(problem=..., hyper={...})``). Milestone 2 (mlp) stays locked until they pass.
Run one with ``pytest modules/tests/integration/test_optimizer_properties.py -k adam``.
"""

import pytest

from pytest_tinytorch.optimizer_properties import run_property_examples

pytestmark = pytest.mark.integration("05_07")


# -- optimizers ---------------------------------------------------------------------------------------
def test_sgd_follows_its_update_equations():
    run_property_examples("sgd_trajectory")


def test_adam_follows_its_update_equations():
    run_property_examples("adam_trajectory")


def test_adamw_follows_its_update_equations():
    run_property_examples("adamw_trajectory")


# -- schedules ----------------------------------------------------------------------------------------
def test_step_lr_follows_its_formula():
    run_property_examples("step_lr")


def test_cosine_annealing_follows_its_formula():
    run_property_examples("cosine_annealing")


# -- training utilities -------------------------------------------------------------------------------
def test_clip_grad_norm_scales_every_gradient_by_one_factor():
    run_property_examples("clip_grad_norm")


def test_training_follows_the_update_equations():
    run_property_examples("training")


def test_a_checkpoint_resumes_training_exactly():
    run_property_examples("checkpoint")


def test_a_non_finite_loss_stops_training_before_the_update():
    run_property_examples("non_finite_loss")


def test_accuracy_counts_correct_predictions():
    run_property_examples("accuracy")


def test_every_property_has_its_test():
    """A property added to the table without a test here would never be graded."""
    import inspect

    from pytest_tinytorch.optimizer_properties import PROPERTIES

    source = inspect.getsource(inspect.getmodule(test_every_property_has_its_test))
    assert [name for name in PROPERTIES if f'run_property_examples("{name}")' not in source] == []
