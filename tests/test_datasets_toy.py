"""Spirals and moons: shapes, geometry, determinism, argument checks, and learnability."""

import numpy as np
import pytest

from tinytorch.datasets import make_moons, make_spiral_data


def train_two_layer_relu_mlp(X, y, hidden=16, steps=1500, learning_rate=1.0, seed=0):
    """Full-batch gradient descent on a 2-hidden-2 ReLU MLP with softmax cross-entropy.

    Written in plain NumPy so the data sets are checked independently of the library.
    Returns the final training accuracy.
    """
    rng = np.random.default_rng(seed)
    W1 = rng.uniform(-1, 1, (2, hidden)) / np.sqrt(2)
    b1 = rng.uniform(-1, 1, hidden) / np.sqrt(2)
    W2 = rng.uniform(-1, 1, (hidden, 2)) / np.sqrt(hidden)
    b2 = rng.uniform(-1, 1, 2) / np.sqrt(hidden)
    targets = np.eye(2)[y]
    for _ in range(steps):
        pre = X @ W1 + b1
        hidden_out = np.maximum(pre, 0)
        logits = hidden_out @ W2 + b2
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        grad_logits = (probabilities - targets) / len(X)
        grad_pre = (grad_logits @ W2.T) * (pre > 0)
        W2 -= learning_rate * hidden_out.T @ grad_logits
        b2 -= learning_rate * grad_logits.sum(axis=0)
        W1 -= learning_rate * X.T @ grad_pre
        b1 -= learning_rate * grad_pre.sum(axis=0)
    return float(np.mean(logits.argmax(axis=1) == y))


def test_spiral_shapes_dtypes_and_classes():
    X, y = make_spiral_data(n_points=50, n_classes=3)
    assert X.shape == (150, 2) and X.dtype == np.float32
    assert y.shape == (150,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 50, 50]


def test_spiral_rows_are_shuffled_so_any_slice_holds_every_class():
    _, y = make_spiral_data(n_points=100)
    assert set(y[:20].tolist()) == {0, 1}
    assert not np.array_equal(y, np.sort(y))


def test_spiral_is_deterministic_by_seed():
    X1, y1 = make_spiral_data(seed=3)
    X2, y2 = make_spiral_data(seed=3)
    X3, _ = make_spiral_data(seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(X1, X3)


def test_noiseless_spiral_arms_wind_outwards_from_radius_one_fifth():
    X, y = make_spiral_data(n_points=101, n_classes=2, noise=0.0, turns=0.8)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(np.sort(radius[y == 0]), np.linspace(0.2, 1.0, 101), atol=1e-6)
    # Arm 1 is arm 0 turned by half a turn: the same points with both coordinates negated.
    arm0 = X[y == 0][np.argsort(radius[y == 0])]
    arm1 = X[y == 1][np.argsort(radius[y == 1])]
    np.testing.assert_allclose(arm1, -arm0, atol=1e-6)
    # The tip of arm 0 is 0.8 of a turn (288 degrees) round from its start at angle 0.
    start, tip = arm0[0], arm0[-1]
    assert np.degrees(np.arctan2(start[1], start[0])) == pytest.approx(0.0, abs=1e-4)
    assert np.degrees(np.arctan2(tip[1], tip[0])) % 360 == pytest.approx(288.0, abs=1e-3)


def test_noise_is_the_standard_deviation_per_coordinate():
    clean, y_clean = make_spiral_data(n_points=20_000, noise=0.0, seed=1)
    noisy, y_noisy = make_spiral_data(n_points=20_000, noise=0.3, seed=1)
    # Same seed, same shuffle: the rows correspond one to one.
    np.testing.assert_array_equal(y_clean, y_noisy)
    offsets = noisy - clean
    assert offsets.std(axis=0) == pytest.approx([0.3, 0.3], rel=0.02)
    assert offsets.mean(axis=0) == pytest.approx([0.0, 0.0], abs=0.01)


def test_milestone_spiral_is_learnable_by_a_2_16_2_mlp():
    """Milestone 1 promises >= 95% training accuracy on this exact call."""
    X, y = make_spiral_data(n_points=200, noise=0.1)
    assert train_two_layer_relu_mlp(X, y) >= 0.95


def test_a_spiral_of_three_turns_is_too_hard_for_the_same_mlp():
    """Negative control: the learnability check above can fail."""
    X, y = make_spiral_data(n_points=200, noise=0.1, turns=3.0)
    assert train_two_layer_relu_mlp(X, y) < 0.85


def test_moons_shapes_and_balance():
    X, y = make_moons(n_points=60)
    assert X.shape == (120, 2) and X.dtype == np.float32
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [60, 60]
    assert set(y[:20].tolist()) == {0, 1}


def test_noiseless_moons_lie_on_their_half_circles():
    X, y = make_moons(n_points=50, noise=0.0)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)
    assert upper[:, 1].min() >= -1e-6
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert lower[:, 1].max() <= 0.5 + 1e-6


def test_moons_are_deterministic_by_seed_and_noisy_by_default():
    X1, _ = make_moons(seed=7)
    X2, _ = make_moons(seed=7)
    np.testing.assert_array_equal(X1, X2)
    clean, _ = make_moons(noise=0.0, seed=7)
    assert not np.allclose(X1, clean)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: make_spiral_data(n_points=0), r"make_spiral_data: n_points must be an integer >= 1, got 0"),
        (lambda: make_spiral_data(n_points=2.5), r"n_points must be an integer >= 1, got 2.5"),
        (lambda: make_spiral_data(n_points=True), r"n_points must be an integer >= 1, got True"),
        (lambda: make_spiral_data(n_classes=1), r"n_classes must be an integer >= 2, got 1"),
        (lambda: make_spiral_data(noise=-0.1), r"noise must be a finite number >= 0, got -0.1"),
        (lambda: make_spiral_data(noise=float("nan")), r"noise must be a finite number >= 0, got nan"),
        (lambda: make_spiral_data(turns=0), r"turns must be a finite number > 0, got 0"),
        (lambda: make_spiral_data(seed=-1), r"seed must be an integer >= 0 or None, got -1"),
        (lambda: make_moons(n_points=-3), r"make_moons: n_points must be an integer >= 1, got -3"),
        (lambda: make_moons(noise="0.1"), r"make_moons: noise must be a finite number >= 0, got '0.1'"),
        (lambda: make_moons(seed=1.5), r"make_moons: seed must be an integer >= 0 or None, got 1.5"),
    ],
)
def test_bad_arguments_name_the_argument_and_the_expected_range(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_numpy_integers_are_accepted_as_counts():
    X, y = make_spiral_data(n_points=np.int64(10), n_classes=np.int32(2), seed=np.int64(1))
    assert X.shape == (20, 2)
