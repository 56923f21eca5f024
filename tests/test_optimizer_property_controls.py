"""Negative controls: the optimizer and training properties must catch the audited student bugs.

Each control patches one library object (with ``monkeypatch``, wrapping the real one, so no
solution line is copied here) to behave like a bug students really wrote, then runs the same
property functions as ``modules/tests/integration/test_optimizer_properties.py``, with the
same strategies and the profile's number of examples (derandomized, no shrinking), and fails
unless at least one of them fails with an ``AssertionError``.
"""

import math
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings

import tinytorch.optimizers as optimizers
import tinytorch.training as training
from pytest_tinytorch.grader.optimizer_properties import PROPERTIES, run_property_examples

NO_SHRINKING = settings(
    max_examples=settings.default.max_examples, derandomize=True, database=None, deadline=None,
    report_multiple_bugs=False, phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
"""The profile's number of examples, derandomized, but no shrinking: we only ask *whether*."""


def failure_of(name: str):
    """Run one property as the integration test does, without shrinking; the error, or None."""
    try:
        run_property_examples(name, NO_SHRINKING)
    except AssertionError as error:
        return error
    return None


# -- the bugs, each wrapping the real object -------------------------------------------------------
def _with_gradients(params, gradients, call):
    """Run ``call()`` with each parameter's .grad temporarily replaced, then restore it."""
    saved = [param.grad for param in params]
    for param, grad in zip(params, gradients):
        param.grad = grad
    try:
        call()
    finally:
        for param, grad in zip(params, saved):
            param.grad = grad


def sgd_weight_decay_subtracted(monkeypatch):
    """g = grad - weight_decay * p (the decay pushes weights away from 0)."""
    step = optimizers.SGD.step

    def broken(self):
        shifted = [None if p.grad is None else p.grad - 2 * self.weight_decay * p.data for p in self.params]
        _with_gradients(self.params, shifted, lambda: step(self))

    monkeypatch.setattr(optimizers.SGD, "step", broken)


def sgd_weight_decay_after_momentum(monkeypatch):
    """The velocity is built from the raw gradient; the decay is added to the step afterwards."""
    step = optimizers.SGD.step

    def broken(self):
        decay, before = self.weight_decay, [np.array(p.data) for p in self.params]
        self.weight_decay = 0.0
        try:
            step(self)
        finally:
            self.weight_decay = decay
        for param, old in zip(self.params, before):
            if param.grad is not None:
                param.data -= self.lr * decay * old

    monkeypatch.setattr(optimizers.SGD, "step", broken)


def sgd_nesterov_swapped(monkeypatch):
    """The Nesterov branch runs for nesterov=False and the plain one for nesterov=True."""
    step = optimizers.SGD.step

    def broken(self):
        self.nesterov = not self.nesterov
        try:
            step(self)
        finally:
            self.nesterov = not self.nesterov

    monkeypatch.setattr(optimizers.SGD, "step", broken)


def adam_bias_correction_without_square_root(monkeypatch):
    """sqrt(v) / (1 - beta2**t) instead of sqrt(v) / sqrt(1 - beta2**t): the library's only
    math.sqrt is that one, so the optimizers module gets a math whose sqrt does nothing."""
    no_root = types.SimpleNamespace(**{name: getattr(math, name) for name in dir(math) if not name.startswith("_")})
    no_root.sqrt = lambda value: value
    monkeypatch.setattr(optimizers, "math", no_root)


def adamw_decay_coupled(monkeypatch):
    """AdamW adds weight_decay * p to the gradient (that is Adam's L2 penalty, not AdamW)."""
    monkeypatch.setattr(optimizers.AdamW, "decoupled_weight_decay", False)


def step_lr_off_by_one(monkeypatch):
    """gamma ** ((epoch + 1) // step_size): the first decay comes one epoch early."""
    lr_at = optimizers.StepLR.lr_at
    monkeypatch.setattr(optimizers.StepLR, "lr_at", lambda self, epoch: lr_at(self, epoch + 1))


def cosine_not_halved(monkeypatch):
    """eta_min + (base - eta_min) * (1 + cos(pi t / T)): the factor 1/2 forgotten."""
    lr_at = optimizers.CosineAnnealingLR.lr_at
    monkeypatch.setattr(optimizers.CosineAnnealingLR, "lr_at",
                        lambda self, epoch: 2 * lr_at(self, epoch) - self.eta_min)


def clipping_not_applied(monkeypatch):
    """Returns the norm but leaves the gradients as they were."""
    clip = training.clip_grad_norm

    def broken(params, max_norm):
        params = list(params)
        kept = [None if p.grad is None else np.array(p.grad) for p in params]
        norm = clip(params, max_norm)
        for param, grad in zip(params, kept):
            param.grad = grad
        return norm

    monkeypatch.setattr(training, "clip_grad_norm", broken)


def clipping_each_gradient_by_its_own_norm(monkeypatch):
    """Clips every parameter's gradient separately (per-tensor norms, not the joint norm)."""
    clip = training.clip_grad_norm

    def broken(params, max_norm):
        norms = [clip([param], max_norm) for param in params if param.grad is not None]
        return math.sqrt(sum(norm**2 for norm in norms))

    monkeypatch.setattr(training, "clip_grad_norm", broken)


def non_finite_loss_check_removed(monkeypatch):
    """check_finite does nothing: a NaN loss goes on to update (and ruin) the weights."""
    monkeypatch.setattr(training.Trainer, "check_finite", lambda self, loss_value: None)


def zero_grad_does_nothing(monkeypatch):
    """zero_grad() leaves .grad as it was: the next backward adds to the old gradient."""
    monkeypatch.setattr(optimizers.Optimizer, "zero_grad", lambda self: None)


def checkpoint_without_optimizer_state(monkeypatch):
    """load_checkpoint restores the weights and hyper-parameters but not the momentum buffers."""
    load_state_dict = optimizers.Optimizer.load_state_dict

    def broken(self, state):
        load_state_dict(self, state)
        self.state = [{} for _ in self.params]

    monkeypatch.setattr(optimizers.Optimizer, "load_state_dict", broken)


def evaluate_in_training_mode_that_learns(monkeypatch):
    """evaluate() runs train_step on the validation batches (it learns from them)."""

    def broken(self, batches):
        losses = [(self.train_step(x, y)[0], len(y)) for x, y in batches]
        return {"loss": sum(loss * n for loss, n in losses) / sum(n for _, n in losses)}

    monkeypatch.setattr(training.Trainer, "evaluate", broken)


CONTROLS = [
    # bug, the properties of which at least one must fail
    (sgd_weight_decay_subtracted, ["sgd_trajectory", "training"]),
    (sgd_weight_decay_after_momentum, ["sgd_trajectory", "training"]),
    (sgd_nesterov_swapped, ["sgd_trajectory", "training"]),
    (adam_bias_correction_without_square_root, ["adam_trajectory", "adamw_trajectory"]),
    (adamw_decay_coupled, ["adamw_trajectory"]),
    (step_lr_off_by_one, ["step_lr", "training"]),
    (cosine_not_halved, ["cosine_annealing"]),
    (clipping_not_applied, ["clip_grad_norm", "training"]),
    (clipping_each_gradient_by_its_own_norm, ["clip_grad_norm", "training"]),
    (non_finite_loss_check_removed, ["non_finite_loss"]),
    (zero_grad_does_nothing, ["sgd_trajectory", "training"]),
    (checkpoint_without_optimizer_state, ["checkpoint"]),
    (evaluate_in_training_mode_that_learns, ["training"]),
]


@pytest.mark.parametrize("bug, names", CONTROLS, ids=[bug.__name__ for bug, _ in CONTROLS])
def test_the_properties_catch(bug, names, monkeypatch):
    bug(monkeypatch)
    caught = {name: failure_of(name) for name in names}
    assert any(caught.values()), f"no property among {names} caught the bug: {bug.__doc__}"


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_every_property_passes_on_the_library(name):
    """Without a bug the same runs pass (the controls above fail for the bug, not by themselves)."""
    assert failure_of(name) is None


def test_the_sgd_property_names_the_step_and_the_element(monkeypatch):
    sgd_weight_decay_subtracted(monkeypatch)
    error = failure_of("sgd_trajectory")
    assert error is not None
    assert str(error).startswith("SGD(lr=") and "after step " in str(error) and "the update equations give" in str(error)


def test_unwritten_optimizer_fails_with_its_todo_at_once(monkeypatch):
    calls = []

    def todo(self):
        calls.append(1)
        raise NotImplementedError("TODO (06_optimizers): SGD.step")

    monkeypatch.setattr(optimizers.SGD, "step", todo)
    with pytest.raises(NotImplementedError, match="TODO \\(06_optimizers\\): SGD.step"):
        run_property_examples("sgd_trajectory")
    assert len(calls) <= settings.default.max_examples + 5  # no shrinking
