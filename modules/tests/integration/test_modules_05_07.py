"""Integration of modules 05-07: autograd, optimizers and the training loop working together.

Passing this group unlocks milestone 2 (MLP). What it proves: a multi-layer network built
from modules 01-04 gets correct gradients from the autograd engine (against finite
differences, for every weight at once), the optimizers turn them into learning, the
``Trainer`` reaches a stated accuracy on seeded toy problems, and a checkpoint taken
mid-training resumes exactly where it stopped.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import GELU, ReLU, Tanh
from tinytorch.autograd import BACKWARD_RULES
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import CrossEntropyLoss, MSELoss
from tinytorch.optimizers import SGD, Adam, CosineAnnealingLR
from tinytorch.training import Trainer, fit

pytestmark = pytest.mark.integration("05_07")


def noisy_xor(samples: int, seed: int):
    """Points scattered around the four corners of the unit square, labelled by XOR."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, (samples, 2))
    x = (corners * 2.0 - 1.0 + rng.normal(0.0, 0.25, (samples, 2))).astype(np.float32)
    return x, corners[:, 0] ^ corners[:, 1]


def spirals(samples_per_class: int, seed: int):
    """Two interleaved spirals: not separable by any line, learnable by a small MLP."""
    rng = np.random.default_rng(seed)
    radius = np.linspace(0.3, 1.0, samples_per_class)
    points, labels = [], []
    for label in (0, 1):
        angle = radius * 3.0 * np.pi + label * np.pi + rng.normal(0.0, 0.1, samples_per_class)
        points.append(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1))
        labels.append(np.full(samples_per_class, label))
    x, y = np.concatenate(points).astype(np.float32), np.concatenate(labels)
    order = rng.permutation(len(y))
    return x[order], y[order]


def batched(x, y, size: int) -> list:
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(y), size)]


def test_an_mlp_learns_xor_with_sgd_momentum():
    tinytorch.manual_seed(0)
    x, y = noisy_xor(256, seed=1)
    test_x, test_y = noisy_xor(256, seed=2)
    model = Sequential(Linear(2, 16), Tanh(), Linear(16, 2))
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1, momentum=0.9), CrossEntropyLoss())
    history = trainer.fit(batched(x, y, 32), epochs=15, val_batches=batched(test_x, test_y, 64))
    assert history["loss"][-1] < 0.25 * history["loss"][0]
    assert history["val_accuracy"][-1] > 0.95


def test_an_mlp_learns_two_spirals_with_adam_and_a_cosine_schedule():
    tinytorch.manual_seed(0)
    x, y = spirals(200, seed=0)
    model = Sequential(Linear(2, 64), ReLU(), Linear(64, 64), ReLU(), Linear(64, 2))
    optimizer = Adam(model.parameters(), lr=0.02)
    history = fit(
        model, optimizer, CrossEntropyLoss(), batched(x, y, 32), epochs=60,
        scheduler=CosineAnnealingLR(optimizer, T_max=60),
    )
    assert history["accuracy"][0] < 0.8, "the task should not be solved before training"
    assert history["accuracy"][-1] > 0.95
    final = Trainer(model, optimizer, CrossEntropyLoss()).evaluate(batched(x, y, 100))
    assert final["accuracy"] > 0.95


def test_the_trainer_does_exactly_what_a_hand_written_loop_does():
    x, y = noisy_xor(96, seed=3)
    batches = batched(x, y, 16)

    def model_and_optimizer():
        tinytorch.manual_seed(5)
        model = Sequential(Linear(2, 8), ReLU(), Linear(8, 2))
        return model, SGD(model.parameters(), lr=0.2, momentum=0.5)

    model, optimizer = model_and_optimizer()
    loss_fn = CrossEntropyLoss()
    for _ in range(2):
        for inputs, targets in batches:
            loss = loss_fn(model(Tensor(inputs)), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    trained, trained_optimizer = model_and_optimizer()
    Trainer(trained, trained_optimizer, loss_fn).fit(batches, epochs=2)
    for by_hand, by_trainer in zip(model.parameters(), trained.parameters()):
        np.testing.assert_array_equal(by_hand.data, by_trainer.data)


def network_in_float64():
    tinytorch.manual_seed(7)
    model = Sequential(Linear(3, 5), Tanh(), Linear(5, 4), GELU(), Linear(4, 3))
    for param in model.parameters():
        param.data = param.data.astype(np.float64)
    return model


def gradient_error(model, x, y) -> float:
    """Largest relative difference between autograd and central differences, over all weights."""
    loss_fn = CrossEntropyLoss()
    model.zero_grad()
    loss_fn(model(x), y).backward()
    step, worst = 1e-6, 0.0
    for param in model.parameters():
        numeric = np.zeros_like(param.data)
        for index in np.ndindex(param.shape):
            original = param.data[index]
            param.data[index] = original + step
            upper = loss_fn(model(x), y).item()
            param.data[index] = original - step
            lower = loss_fn(model(x), y).item()
            param.data[index] = original
            numeric[index] = (upper - lower) / (2 * step)
        scale = max(np.abs(numeric).max(), 1e-3)
        worst = max(worst, np.abs(param.grad - numeric).max() / scale)
    return worst


def test_whole_network_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((6, 3)), dtype=np.float64)
    y = rng.integers(0, 3, 6)
    assert gradient_error(network_in_float64(), x, y) < 1e-6


@pytest.mark.hidden  # its broken rule is a near-solution: instructors only
def test_the_finite_difference_check_catches_a_wrong_rule(monkeypatch):
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((6, 3)), dtype=np.float64)
    y = rng.integers(0, 3, 6)
    monkeypatch.setitem(BACKWARD_RULES, "tanh", lambda grad, out, x: (grad * (1 - out.data),))
    assert gradient_error(network_in_float64(), x, y) > 1e-2


def test_a_checkpoint_taken_mid_training_resumes_identically(tmp_path):
    x, y = spirals(64, seed=1)
    batches = batched(x, y, 16)

    def trainer(seed):
        tinytorch.manual_seed(seed)
        model = Sequential(Linear(2, 32), ReLU(), Linear(32, 2))
        optimizer = Adam(model.parameters(), lr=0.01)
        return Trainer(model, optimizer, CrossEntropyLoss(), scheduler=CosineAnnealingLR(optimizer, T_max=6))

    straight = trainer(seed=0)
    straight.fit(batches, epochs=6)

    first_half = trainer(seed=0)
    first_half.fit(batches, epochs=3)
    first_half.save_checkpoint(tmp_path / "half.npz")
    resumed = trainer(seed=123)
    resumed.load_checkpoint(tmp_path / "half.npz")
    resumed.fit(batches, epochs=3)

    assert resumed.history == straight.history
    for got, want in zip(resumed.model.parameters(), straight.model.parameters()):
        np.testing.assert_array_equal(got.data, want.data)


def test_regression_through_the_whole_stack():
    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, (128, 1)).astype(np.float32)
    y = (np.sin(x) + 0.5 * x).astype(np.float32)
    tinytorch.manual_seed(4)
    model = Sequential(Linear(1, 32), Tanh(), Linear(32, 1))
    history = fit(model, Adam(model.parameters(), lr=0.02), MSELoss(), batched(x, y, 16), epochs=40, metrics={})
    assert history["loss"][-1] < 0.01 < history["loss"][0]
