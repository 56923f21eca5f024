"""Integration group 05-07: optimizers, schedules and training, graded against their equations.

Each test draws hyper-parameters, parameters and gradients with hypothesis and checks that the
library follows the update equations (written in plain NumPy in
``pytest_tinytorch.optimizer_properties``, as ``torch.optim`` documents them) step after
step. A failure shows the smallest example that breaks the property (``Falsifying example:
sgd_trajectory(problem=..., hyper={...})``). Milestone 2 (mlp) stays locked until they pass.
"""

import numpy as np
import pytest
from hypothesis import strategies as st

from pytest_tinytorch import optimizer_properties as properties
from pytest_tinytorch.autograd_properties import run_examples
from pytest_tinytorch.strategies import (
    adam_hyperparameters,
    cosine_settings,
    gradient_sets,
    optimizer_problems,
    real_arrays,
    sgd_hyperparameters,
    step_lr_settings,
    training_cases,
)

pytestmark = pytest.mark.integration("05_07")


# -- optimizers ---------------------------------------------------------------------------------------
def test_sgd_follows_its_update_equations():
    run_examples(properties.check_sgd_trajectory, "sgd_trajectory", problem=optimizer_problems(),
                 hyper=sgd_hyperparameters())


def test_adam_follows_its_update_equations():
    run_examples(properties.check_adam_trajectory, "adam_trajectory", problem=optimizer_problems(),
                 hyper=adam_hyperparameters())


def test_adamw_follows_its_update_equations():
    run_examples(properties.check_adamw_trajectory, "adamw_trajectory", problem=optimizer_problems(),
                 hyper=adam_hyperparameters(weight_decay=st.floats(0.01, 0.5)))


# -- schedules ----------------------------------------------------------------------------------------
def test_step_lr_follows_its_formula():
    run_examples(properties.check_step_lr, "step_lr", settings=step_lr_settings())


def test_cosine_annealing_follows_its_formula():
    run_examples(properties.check_cosine_annealing, "cosine_annealing", settings=cosine_settings())


# -- training utilities -------------------------------------------------------------------------------
def test_clip_grad_norm_scales_every_gradient_by_one_factor():
    run_examples(lambda case: properties.check_clip_grad_norm(*case), "clip_grad_norm", case=gradient_sets())


def test_training_follows_the_update_equations():
    run_examples(properties.check_training_follows_the_equations, "training", case=training_cases())


def test_a_checkpoint_resumes_training_exactly():
    run_examples(properties.check_checkpoint_resumes_exactly, "checkpoint", case=training_cases(max_epochs=2))


def test_a_non_finite_loss_stops_training_before_the_update():
    run_examples(properties.check_non_finite_loss_stops_before_the_update, "non_finite_loss",
                 case=training_cases(max_epochs=1), bad_batch=st.integers(0, 2),
                 bad_value=st.sampled_from([np.nan, np.inf, -np.inf]))


@st.composite
def scores_and_targets(draw):
    """Class scores (N, C) and class targets, or binary logits (N,) or (N, 1) (never 0) and
    0/1 targets."""
    n = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["classes", "logits (N,)", "logits (N, 1)"]))
    if kind == "classes":
        classes = draw(st.integers(2, 4))
        targets = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
        return draw(real_arrays((n, classes))), targets
    logits = draw(real_arrays((n,) if kind == "logits (N,)" else (n, 1)))
    return logits, np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))


def test_accuracy_counts_correct_predictions():
    run_examples(lambda case: properties.check_accuracy(*case), "accuracy", case=scores_and_targets())
