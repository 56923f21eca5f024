"""The properties the optimizer grader checks, as plain functions.

Module 06 (optimizers) and module 07 (training) are graded like autograd: hypothesis draws
hyper-parameters, parameters and gradients (``pytest_tinytorch.grader.strategies``), and the
library's trajectory must match the update equations written here in plain NumPy, as
``torch.optim`` documents them, step after step. The property tests
(``modules/tests/integration/test_optimizer_properties.py``, group 05-07) run each entry of
``PROPERTIES`` through ``run_property_examples`` (hypothesis examples, the smallest failing one
reported, TODOs reported at once); the negative controls
(``tests/test_optimizer_property_controls.py``) run the same entries against deliberately
broken optimizers, schedules and training loops.

The equations are functions of arrays that return new arrays (the library updates in place;
the reference never does), each beside the formula it implements.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from tinytorch import Tensor

TRAJECTORY_RTOL = 1e-10
TRAJECTORY_ATOL = 1e-12
"""Tolerances of a parameter against its update equations after each step (float64):
``|got - expected| <= TRAJECTORY_ATOL + TRAJECTORY_RTOL * |expected|``. The library and the
reference apply the same formula in another order (``sqrt(v) / sqrt(1 - beta2**t)`` against
``sqrt(v / (1 - beta2**t))``, in-place updates against new arrays), which moves the last bits:
about 1e-15 relative per step, over at most a few steps. Every audited mistake (a missing
square root, weight decay of the wrong sign, a swapped branch) is off by more than 1e-6."""

LR_RTOL = 1e-12
"""A learning rate from a schedule is one closed-form expression: only rounding may differ."""

CLIP_EPSILON = 1e-6
"""Clipping scales the gradients by ``max_norm / norm``; ``torch.nn.utils.clip_grad_norm_``
divides by ``norm + 1e-6`` instead. Both are accepted: a scale may differ from
``max_norm / norm`` by a relative ``CLIP_EPSILON / norm``, and a trained weight (clipping
at every step, lr <= 1, a few steps with momentum) by ``CLIP_EPSILON * 10`` in absolute terms.
Not clipping, or clipping each tensor by its own norm, is off by far more."""


# -- the update equations ---------------------------------------------------------------------------
def sgd_update(param, grad, velocity, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """One SGD step of one parameter: returns (new parameter, new velocity or None).

        g <- g + weight_decay * p
        b <- g on the first step, else momentum * b + g
        g <- g + momentum * b with nesterov, else b            (with momentum only)
        p <- p - lr * g
    """
    direction = grad + weight_decay * param
    if momentum:
        velocity = direction if velocity is None else momentum * velocity + direction
        direction = direction + momentum * velocity if nesterov else velocity
    return param - lr * direction, velocity


def adam_update(param, grad, moments, step, *, lr, betas, eps, weight_decay=0.0, decoupled=False):
    """One Adam (``decoupled=False``) or AdamW step of one parameter at step ``step`` (from 1):
    returns (new parameter, (m, v)).

        AdamW: p <- p (1 - lr weight_decay)      Adam: g <- g + weight_decay p
        m <- beta1 m + (1 - beta1) g ;  v <- beta2 v + (1 - beta2) g^2       (both start at 0)
        p <- p - lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
    """
    beta1, beta2 = betas
    m, v = moments if moments is not None else (np.zeros_like(param), np.zeros_like(param))
    if decoupled:
        param = param * (1.0 - lr * weight_decay)
    else:
        grad = grad + weight_decay * param
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * grad**2
    m_hat, v_hat = m / (1.0 - beta1**step), v / (1.0 - beta2**step)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), (m, v)


def step_lr(base_lr, epoch, *, step_size, gamma):
    """StepLR: base_lr * gamma ** floor(epoch / step_size)."""
    return base_lr * gamma ** (epoch // step_size)


def cosine_lr(base_lr, epoch, *, T_max, eta_min):  # noqa: N803  (PyTorch's name)
    """CosineAnnealingLR (closed form): eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2."""
    return eta_min + (base_lr - eta_min) * 0.5 * (1.0 + math.cos(epoch / T_max * math.pi))


def clipped_gradients(grads, max_norm):
    """(joint L2 norm of the gradients that exist, the gradients after clipping to max_norm):
    when the norm exceeds max_norm, every gradient is scaled by max_norm / norm."""
    norm = math.sqrt(sum(float(np.sum(np.square(g))) for g in grads if g is not None))
    scale = max_norm / norm if norm > max_norm else 1.0
    return norm, [None if g is None else g * scale for g in grads]


# -- helpers ------------------------------------------------------------------------------------------
def _leaves(arrays, dtype=np.float64) -> list:
    return [Tensor(np.array(array, dtype=dtype), dtype=dtype, requires_grad=True) for array in arrays]


def _give(params, grads, dtype=np.float64) -> None:
    """Set each parameter's ``.grad`` to a copy of its gradient (or None)."""
    for param, grad in zip(params, grads):
        param.grad = None if grad is None else np.array(grad, dtype=dtype)


def _settings(hyper: dict) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in hyper.items())


def assert_close(got, expected, what: str, rtol=TRAJECTORY_RTOL, atol=TRAJECTORY_ATOL) -> None:
    """Same shape and values within the tolerance; else a message naming ``what``, the first
    wrong element, expected and got."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{what} has shape {got.shape}; expected {expected.shape}"
    wrong = ~np.isclose(got, expected, rtol=rtol, atol=atol)
    if wrong.any():
        first = tuple(int(i) for i in np.argwhere(wrong)[0])
        raise AssertionError(
            f"{what}: element {first} is {float(got[first])!r}; the update equations give "
            f"{float(expected[first])!r} ({int(wrong.sum())} of {wrong.size} elements differ)"
        )


def _check_trajectory(name, make_optimizer, hyper, problem, update) -> None:
    """Step the optimizer through ``problem``'s gradients and compare every parameter with
    ``update(param, grad, state, step)`` after every step. Also: updates are in place (the
    same array), ``.grad`` is left as it was, parameters without a gradient do not move,
    ``zero_grad()`` clears every ``.grad``, and a float32 parameter stays float32."""
    params = _leaves(problem.starts)
    optimizer = make_optimizer(params)
    expected = [np.array(start) for start in problem.starts]
    states, steps = [None] * len(params), [0] * len(params)
    for step, grads in enumerate(problem.gradients, start=1):
        _give(params, grads)
        arrays = [param.data for param in params]
        optimizer.step()
        for index, (param, grad) in enumerate(zip(params, grads)):
            where = f"{name}({_settings(hyper)}) after step {step}, parameter {index} (shape {param.shape})"
            assert param.data is arrays[index], (
                f"{where}: step() replaced param.data with a new array; update it in place (the model "
                "and other optimizers hold the old array)"
            )
            if grad is None:
                assert param.grad is None, f"{where}: a parameter without a gradient got .grad = {param.grad}"
            else:
                assert np.array_equal(param.grad, grad), f"{where}: step() changed .grad (to {param.grad})"
                steps[index] += 1
                expected[index], states[index] = update(expected[index], grad, states[index], steps[index])
            assert_close(param.data, expected[index], where)
    optimizer.zero_grad()
    assert all(param.grad is None for param in params), f"{name}.zero_grad() left a gradient behind"
    single = _leaves(problem.starts, np.float32)
    optimizer = make_optimizer(single)
    _give(single, problem.gradients[0], np.float32)
    optimizer.step()
    for index, param in enumerate(single):
        assert param.data.dtype == np.float32, (
            f"{name}({_settings(hyper)}): a float32 parameter {index} became {param.data.dtype} after step()"
        )


# -- optimizers -------------------------------------------------------------------------------------
def check_sgd_trajectory(problem, hyper: dict) -> None:
    """``SGD(**hyper)`` follows ``sgd_update`` step after step (see ``_check_trajectory``)."""
    from tinytorch.optimizers import SGD

    _check_trajectory("SGD", lambda params: SGD(params, **hyper), hyper, problem,
                      lambda param, grad, velocity, step: sgd_update(param, grad, velocity, **hyper))


def check_adam_trajectory(problem, hyper: dict, decoupled: bool = False) -> None:
    """``Adam(**hyper)`` (or ``AdamW`` when ``decoupled``) follows ``adam_update``; each
    parameter counts its own steps (one without a gradient does not advance)."""
    from tinytorch.optimizers import Adam, AdamW

    kind = AdamW if decoupled else Adam
    _check_trajectory(kind.__name__, lambda params: kind(params, **hyper), hyper, problem,
                      lambda param, grad, moments, step: adam_update(param, grad, moments, step,
                                                                     decoupled=decoupled, **hyper))


def check_adamw_trajectory(problem, hyper: dict) -> None:
    check_adam_trajectory(problem, hyper, decoupled=True)


# -- learning-rate schedules ---------------------------------------------------------------------------
def _check_schedule(name, make_scheduler, settings: dict, expected_lr) -> None:
    """The optimizer's lr is the base rate at epoch 0 and ``expected_lr(epoch)`` after each
    ``scheduler.step()``; ``get_last_lr()`` agrees."""
    from tinytorch.optimizers import SGD

    optimizer = SGD([Tensor(np.zeros(1), requires_grad=True)], lr=settings["base_lr"])
    scheduler = make_scheduler(optimizer)
    assert optimizer.lr == settings["base_lr"], f"{name}({_settings(settings)}) changed lr when it was made"
    for epoch in range(1, settings["epochs"] + 1):
        scheduler.step()
        expected = expected_lr(epoch)
        assert math.isclose(optimizer.lr, expected, rel_tol=LR_RTOL, abs_tol=1e-15), (
            f"{name}({_settings(settings)}): after {epoch} scheduler.step() calls lr is "
            f"{optimizer.lr!r}; expected {expected!r}"
        )
        assert scheduler.get_last_lr() == optimizer.lr, f"{name}: get_last_lr() disagrees with optimizer.lr"


def check_step_lr(settings: dict) -> None:
    from tinytorch.optimizers import StepLR

    step_size, gamma = settings["step_size"], settings["gamma"]
    _check_schedule("StepLR", lambda optimizer: StepLR(optimizer, step_size, gamma), settings,
                    lambda epoch: step_lr(settings["base_lr"], epoch, step_size=step_size, gamma=gamma))


def check_cosine_annealing(settings: dict) -> None:
    from tinytorch.optimizers import CosineAnnealingLR

    t_max, eta_min = settings["T_max"], settings["eta_min"]
    _check_schedule("CosineAnnealingLR", lambda optimizer: CosineAnnealingLR(optimizer, t_max, eta_min), settings,
                    lambda epoch: cosine_lr(settings["base_lr"], epoch, T_max=t_max, eta_min=eta_min))


# -- training utilities ----------------------------------------------------------------------------------
def check_clip_grad_norm(grads, max_norm: float) -> None:
    """``clip_grad_norm`` returns the joint norm before clipping and, when it exceeds
    ``max_norm``, scales every gradient by ``max_norm / norm`` (or PyTorch's
    ``max_norm / (norm + 1e-6)``, see ``CLIP_EPSILON``): one factor for all, so the direction is
    kept; parameters without a gradient keep none."""
    from tinytorch.training import clip_grad_norm

    params = _leaves([np.zeros(np.shape(g) if g is not None else ()) for g in grads])
    _give(params, grads)
    expected_norm, expected = clipped_gradients(grads, max_norm)
    norm = clip_grad_norm(params, max_norm)
    what = f"clip_grad_norm(max_norm={max_norm!r}) of gradients of shapes {[np.shape(g) for g in grads]}"
    assert math.isclose(float(norm), expected_norm, rel_tol=1e-12, abs_tol=1e-15), (
        f"{what} returned {norm!r}; expected the joint L2 norm before clipping, {expected_norm!r}"
    )
    for index, (param, grad) in enumerate(zip(params, expected)):
        if grad is None:
            assert param.grad is None, f"{what}: parameter {index} had no gradient but now has {param.grad}"
        else:
            assert_close(param.grad, grad, f"{what}: the gradient of parameter {index}",
                         rtol=1e-12 + CLIP_EPSILON / max(expected_norm, max_norm), atol=1e-15)


def _linear_model(case):
    """A ``Linear`` layer holding the case's float64 weight and bias."""
    from tinytorch.layers import Linear, Parameter

    model = Linear(*case.weight.shape)
    model.weight = Parameter(case.weight.copy(), dtype=np.float64)
    model.bias = Parameter(case.bias.copy(), dtype=np.float64)
    return model


def _mean_squared_error(weight, bias, batches) -> float:
    """The sample-weighted mean over ``batches`` of each batch's MSE loss (as ``evaluate``)."""
    losses = [float(np.mean((x @ weight + bias - y) ** 2)) for x, y in batches]
    return float(np.dot(losses, [len(x) for x, _ in batches]) / sum(len(x) for x, _ in batches))


def _reference_training(case, batches, epochs):
    """Train the linear model of ``case`` on ``batches`` by the equations: MSE loss, joint
    clipping, SGD, StepLR once per epoch. Yields (epoch, batch, loss, weight, bias) after each
    update, with the loss computed before it."""
    weight, bias = case.weight.copy(), case.bias.copy()
    velocities, sgd = [None, None], dict(case.sgd)
    for epoch in range(1, epochs + 1):
        for number, (x, y) in enumerate(batches, start=1):
            residual = x @ weight + bias - y
            loss = float(np.mean(residual**2))
            d_out = 2.0 * residual / residual.size
            grads = [x.T @ d_out, d_out.sum(axis=0)]
            if case.clip_norm is not None:
                grads = clipped_gradients(grads, case.clip_norm)[1]
            weight, velocities[0] = sgd_update(weight, grads[0], velocities[0], **sgd)
            bias, velocities[1] = sgd_update(bias, grads[1], velocities[1], **sgd)
            yield epoch, number, loss, weight, bias
        sgd["lr"] = step_lr(case.sgd["lr"], epoch, step_size=case.step_size, gamma=case.gamma)


def _trainer(case):
    from tinytorch.losses import mse_loss
    from tinytorch.optimizers import SGD, StepLR
    from tinytorch.training import Trainer

    model = _linear_model(case)
    optimizer = SGD(model.parameters(), **case.sgd)
    scheduler = StepLR(optimizer, case.step_size, case.gamma)
    trainer = Trainer(model, optimizer, mse_loss, metrics={}, scheduler=scheduler, clip_norm=case.clip_norm,
                      progress=False)
    return model, trainer


def _tensor_batches(batches):
    return [(Tensor(x, dtype=np.float64), y) for x, y in batches]


def check_training_follows_the_equations(case) -> None:
    """``Trainer.fit`` with SGD, ``clip_norm``, a StepLR scheduler and validation batches ends
    with the weights and learning rate that the equations give, and a history whose ``loss``
    is each epoch's mean batch loss (batches weighted by their samples, measured before each
    update) and whose ``val_loss`` is the loss of the weights at the end of each epoch: forward,
    loss, zero_grad, backward, clip, step, in that order; the schedule stepped once per epoch;
    ``evaluate`` learning nothing."""
    model, trainer = _trainer(case)
    history = trainer.fit(_tensor_batches(case.batches), case.epochs, val_batches=_tensor_batches(case.batches))
    sizes = [len(x) for x, _ in case.batches]
    losses: dict[int, list] = {}
    validation: dict[int, float] = {}
    for epoch, _, loss, weight, bias in _reference_training(case, case.batches, case.epochs):
        losses.setdefault(epoch, []).append(loss)
        validation[epoch] = _mean_squared_error(weight, bias, case.batches)
    what = f"Trainer.fit(epochs={case.epochs}) with SGD({_settings(case.sgd)}), clip_norm={case.clip_norm}"
    atol = TRAJECTORY_ATOL if case.clip_norm is None else 10 * CLIP_EPSILON
    assert_close(model.weight.data, weight, f"{what}: the weight after training", atol=atol)
    assert_close(model.bias.data, bias, f"{what}: the bias after training", atol=atol)
    expected_history = [float(np.dot(losses[epoch], sizes) / sum(sizes)) for epoch in sorted(losses)]
    assert_close(np.array(history.get("loss", [])), np.array(expected_history), f"{what}: history['loss']",
                 atol=atol)
    assert_close(np.array(history.get("val_loss", [])), np.array([validation[e] for e in sorted(validation)]),
                 f"{what}: history['val_loss']", rtol=1e-8, atol=atol)
    expected_lr = step_lr(case.sgd["lr"], case.epochs, step_size=case.step_size, gamma=case.gamma)
    assert math.isclose(trainer.optimizer.lr, expected_lr, rel_tol=LR_RTOL), (
        f"{what}: lr after {case.epochs} epochs is {trainer.optimizer.lr!r}; StepLR gives {expected_lr!r}"
    )


def check_checkpoint_resumes_exactly(case) -> None:
    """Training for ``case.epochs`` epochs, saving a checkpoint, then one more epoch gives
    exactly what a fresh model, optimizer and scheduler give after loading that checkpoint and
    training one epoch: weights, momentum buffers, step counts, learning rate and history."""
    import tempfile
    from pathlib import Path

    batches = _tensor_batches(case.batches)
    model, trainer = _trainer(case)
    trainer.fit(batches, case.epochs)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "checkpoint.npz"
        trainer.save_checkpoint(path)
        trainer.fit(batches, 1)
        elsewhere = replace(case, weight=np.zeros_like(case.weight), bias=np.zeros_like(case.bias),
                            sgd={**case.sgd, "lr": 0.5})  # everything the checkpoint must overwrite
        resumed_model, resumed = _trainer(elsewhere)
        resumed.load_checkpoint(path)
    resumed.fit(batches, 1)
    what = f"after save_checkpoint at epoch {case.epochs}, load_checkpoint and one more epoch"
    for name in ("weight", "bias"):
        got, expected = getattr(resumed_model, name).data, getattr(model, name).data
        assert np.array_equal(got, expected), f"{what}, the {name} is {got}; without the interruption it is {expected}"
    assert resumed.optimizer.lr == trainer.optimizer.lr, (
        f"{what}, lr is {resumed.optimizer.lr!r}; without the interruption it is {trainer.optimizer.lr!r}"
    )
    assert resumed.epoch == trainer.epoch and resumed.history == trainer.history, (
        f"{what}, epoch {resumed.epoch} and history {resumed.history}; without the interruption "
        f"epoch {trainer.epoch} and history {trainer.history}"
    )


def check_non_finite_loss_stops_before_the_update(case, bad_batch: int, bad_value: float) -> None:
    """A batch whose loss is NaN or infinite (its target holds ``bad_value``) stops ``fit``
    with ``TrainingDivergedError`` naming epoch 1 and that batch, and the weights are those
    after the batches before it: the broken loss never updated them. ``bad_batch`` is taken
    modulo the number of batches (then counted from 1, as the error counts). (The target, not
    the input: a non-finite input is refused as bad data before the forward pass.)"""
    from tinytorch.training import TrainingDivergedError

    bad_batch = bad_batch % len(case.batches) + 1
    batches = [(x, y.copy()) for x, y in case.batches]
    batches[bad_batch - 1][1].flat[0] = bad_value
    model, trainer = _trainer(case)
    with np.errstate(all="ignore"):
        try:
            trainer.fit(_tensor_batches(batches), 1)
        except TrainingDivergedError as error:
            assert (error.epoch, error.batch) == (1, bad_batch), (
                f"TrainingDivergedError says epoch {error.epoch}, batch {error.batch}; the loss became "
                f"{bad_value} at epoch 1, batch {bad_batch}"
            )
        except NotImplementedError:
            raise  # unwritten work: reported as such, at once
        except Exception as error:  # noqa: BLE001  (whatever else broke, it is not the check)
            raise AssertionError(
                f"the loss of batch {bad_batch} was not finite (a target held {bad_value}); fit() raised "
                f"{type(error).__name__}: {error} instead of TrainingDivergedError before the update"
            ) from error
        else:
            raise AssertionError(
                f"fit() went on although the loss of batch {bad_batch} was not finite (a target held "
                f"{bad_value}); expected TrainingDivergedError before that batch's update"
            )
    updates = list(_reference_training(case, case.batches[: bad_batch - 1], 1))
    weight, bias = updates[-1][3:] if updates else (case.weight, case.bias)
    what = f"after the loss of batch {bad_batch} became {bad_value}"
    assert_close(model.weight.data, weight, f"{what}, the weight")
    assert_close(model.bias.data, bias, f"{what}, the bias")


def check_accuracy(outputs: np.ndarray, targets: np.ndarray) -> None:
    """``accuracy`` is the fraction of arg-max predictions equal to the class targets for
    scores (N, C), and of ``logit > 0`` equal to ``target > 0.5`` for binary logits (N,) or (N, 1)."""
    from tinytorch.training import accuracy

    if outputs.ndim == 2 and outputs.shape[1] >= 2:  # class scores
        expected = float(np.mean(np.argmax(outputs, axis=1) == targets))
    else:
        expected = float(np.mean((outputs.reshape(-1) > 0) == (targets.reshape(-1) > 0.5)))
    got = accuracy(Tensor(outputs, dtype=np.float64), targets)
    assert math.isclose(got, expected, rel_tol=1e-12), (
        f"accuracy of outputs of shape {outputs.shape} against targets {targets} is {got!r}; expected {expected!r}"
    )


# -- what the tests run ------------------------------------------------------------------------------------
def _property_table() -> dict:
    from hypothesis import strategies as st

    from pytest_tinytorch.grader import strategies as drawn

    return {
        "sgd_trajectory": (check_sgd_trajectory, {"problem": drawn.optimizer_problems(),
                                                  "hyper": drawn.sgd_hyperparameters()}),
        "adam_trajectory": (check_adam_trajectory, {"problem": drawn.optimizer_problems(),
                                                    "hyper": drawn.adam_hyperparameters()}),
        "adamw_trajectory": (check_adamw_trajectory, {"problem": drawn.optimizer_problems(),
                                                      "hyper": drawn.adam_hyperparameters(st.floats(0.01, 0.5))}),
        "step_lr": (check_step_lr, {"settings": drawn.step_lr_settings()}),
        "cosine_annealing": (check_cosine_annealing, {"settings": drawn.cosine_settings()}),
        "clip_grad_norm": (lambda case: check_clip_grad_norm(*case), {"case": drawn.gradient_sets()}),
        "training": (check_training_follows_the_equations, {"case": drawn.training_cases()}),
        "checkpoint": (check_checkpoint_resumes_exactly, {"case": drawn.training_cases(max_epochs=2)}),
        "non_finite_loss": (check_non_finite_loss_stops_before_the_update,
                            {"case": drawn.training_cases(max_epochs=1), "bad_batch": st.integers(0, 2),
                             "bad_value": st.sampled_from([np.nan, np.inf, -np.inf])}),
        "accuracy": (lambda case: check_accuracy(*case), {"case": drawn.scores_and_targets()}),
    }


PROPERTIES = _property_table()
"""name -> (check, the hypothesis strategy of each of its arguments): one entry per test of
``test_optimizer_properties.py``; the name is also the hypothesis test's name in a failure
(``Falsifying example: sgd_trajectory(problem=..., hyper={...})``)."""


def run_property_examples(name: str, hypothesis_settings=None) -> int:
    """Check the property ``name`` of ``PROPERTIES`` on hypothesis examples and return how many
    it held for (see ``autograd_properties.run_examples``; ``hypothesis_settings`` overrides
    the profile). A broken implementation raises with the smallest failing example."""
    from pytest_tinytorch.grader.autograd_properties import run_examples

    check, strategies = PROPERTIES[name]
    return run_examples(check, name, hypothesis_settings, **strategies)
