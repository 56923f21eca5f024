"""Integration group 01–04: tensor, activations, layers and losses working together.

Passing this group unlocks Milestone 1 (perceptron). It must pass in a student edition where
only modules 01–04 are solved, so nothing here runs autograd (module 05): no ``.backward()``,
no ``no_grad``. Where a gradient is needed, it is measured by finite differences on the
parameters' arrays (those tests are hidden: they are the method of Milestone 1).
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.layers import Dropout, Flatten, Linear, Sequential
from tinytorch.losses import BCEWithLogitsLoss, BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss

pytestmark = pytest.mark.integration("01_04")


def np_cross_entropy(logits, classes):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(classes)), classes].mean()


def test_mlp_logits_and_cross_entropy_equal_a_numpy_computation():
    tinytorch.manual_seed(0)
    model = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    classes = np.array([0, 2, 1, 2, 0])
    state = model.state_dict()
    hidden = np.maximum(x @ state["0.weight"] + state["0.bias"], 0.0)
    expected_logits = hidden @ state["2.weight"] + state["2.bias"]

    logits = model(Tensor(x))
    loss = CrossEntropyLoss()(logits, classes)

    assert logits.shape == (5, 3) and logits.dtype == np.float32
    np.testing.assert_allclose(logits.data, expected_logits, rtol=1e-5, atol=1e-6)
    assert loss.shape == () and loss.dtype == np.float32
    assert loss.item() == pytest.approx(np_cross_entropy(expected_logits.astype(np.float64), classes), rel=1e-5)


def test_softmax_of_model_logits_gives_probabilities_consistent_with_the_loss():
    tinytorch.manual_seed(2)
    model = Sequential(Linear(3, 6), Tanh(), Linear(6, 4))
    x = Tensor(np.random.default_rng(3).standard_normal((7, 3)))
    classes = np.array([0, 1, 2, 3, 0, 1, 2])
    logits = model(x)
    probabilities = Softmax(dim=1)(logits).data
    np.testing.assert_allclose(probabilities.sum(axis=1), np.ones(7), rtol=1e-6)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), logits.data.argmax(axis=1))
    picked = LogSoftmax(dim=1)(logits)[np.arange(7), classes]
    assert CrossEntropyLoss()(logits, classes).item() == pytest.approx(-picked.mean().item(), rel=1e-6)


def test_hand_set_weights_compute_xor_exactly():
    """h = relu(x W1 + b1) with W1 = [[1, 1], [1, 1]], b1 = [0, -1]; y = h [1, -2]^T."""
    model = Sequential(Linear(2, 2), ReLU(), Linear(2, 1))
    model.load_state_dict({
        "0.weight": np.array([[1.0, 1.0], [1.0, 1.0]]),
        "0.bias": np.array([0.0, -1.0]),
        "2.weight": np.array([[1.0], [-2.0]]),
        "2.bias": np.array([0.0]),
    })
    inputs = Tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_array_equal(model(inputs).data, [[0.0], [1.0], [1.0], [0.0]])

    # the same network as a classifier: scaled logits through a sigmoid, and its BCE loss
    targets = np.array([[0.0], [1.0], [1.0], [0.0]])
    logits = model(inputs) * 20.0 - 10.0
    probabilities = Sigmoid()(logits)
    np.testing.assert_array_equal(probabilities.data > 0.5, targets > 0.5)
    assert BCEWithLogitsLoss()(logits, targets).item() == pytest.approx(np.log1p(np.exp(-10.0)), rel=1e-4)
    assert BinaryCrossEntropyLoss()(probabilities, targets).item() == pytest.approx(np.log1p(np.exp(-10.0)), rel=1e-3)


def test_a_perceptron_with_hand_set_weights_separates_and_and_or():
    inputs = Tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    perceptron = Linear(2, 2)  # output 0: AND, output 1: OR
    perceptron.load_state_dict({"weight": np.array([[1.0, 1.0], [1.0, 1.0]]), "bias": np.array([-1.5, -0.5])})
    decisions = Sigmoid()(perceptron(inputs)).data > 0.5
    np.testing.assert_array_equal(decisions, [[False, False], [False, True], [False, True], [True, True]])


def test_state_dict_round_trip_through_a_file_preserves_outputs(tmp_path):
    tinytorch.manual_seed(4)
    trained = Sequential(Linear(3, 5), ReLU(), Dropout(0.5), Linear(5, 2)).eval()
    tinytorch.manual_seed(5)
    fresh = Sequential(Linear(3, 5), ReLU(), Dropout(0.5), Linear(5, 2)).eval()
    x = Tensor(np.random.default_rng(6).standard_normal((4, 3)))
    assert not np.allclose(fresh(x).data, trained(x).data)

    np.savez(tmp_path / "model.npz", **trained.state_dict())
    with np.load(tmp_path / "model.npz") as saved:
        fresh.load_state_dict(dict(saved))
    np.testing.assert_array_equal(fresh(x).data, trained(x).data)


def test_dropout_in_a_model_is_random_in_training_and_deterministic_in_eval():
    tinytorch.manual_seed(7)
    model = Sequential(Linear(6, 6), ReLU(), Dropout(0.5), Linear(6, 2))
    x = Tensor(np.random.default_rng(8).standard_normal((3, 6)))
    first, second = model(x).data, model(x).data
    assert not np.allclose(first, second)
    model.eval()
    np.testing.assert_array_equal(model(x).data, model(x).data)
    without_dropout = Sequential(model[0], model[1], model[3])
    np.testing.assert_array_equal(model(x).data, without_dropout(x).data)


def test_flatten_then_linear_on_an_image_batch():
    tinytorch.manual_seed(9)
    images = np.random.default_rng(10).standard_normal((3, 1, 4, 4)).astype(np.float32)
    model = Sequential(Flatten(), Linear(16, 2))
    expected = images.reshape(3, 16) @ model[1].weight.data + model[1].bias.data
    np.testing.assert_allclose(model(Tensor(images)).data, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.hidden
class TestFiniteDifferenceDescent:
    """Training without autograd: gradients measured by finite differences on the parameters.

    Hidden from the student edition (graded on the autograder only): these helpers are the
    method that Milestone 1 asks you to write yourself (``numerical_gradients``).
    """

    @staticmethod
    def as_float64(model):
        """Switch every parameter to float64 in place, so finite differences are accurate."""
        for parameter in model.parameters():
            parameter.data = parameter.data.astype(np.float64)
        return model

    @staticmethod
    def finite_difference_gradient(loss_of_model, model, epsilon=1e-6):
        """d loss / d parameter for every parameter, by central differences on its array."""
        gradients = []
        for parameter in model.parameters():
            gradient = np.zeros_like(parameter.data)
            for position in np.ndindex(parameter.shape):
                original = parameter.data[position]
                parameter.data[position] = original + epsilon
                plus = loss_of_model()
                parameter.data[position] = original - epsilon
                minus = loss_of_model()
                parameter.data[position] = original
                gradient[position] = (plus - minus) / (2 * epsilon)
            gradients.append(gradient)
        return gradients

    def test_loss_decreases_along_the_finite_difference_gradient(self):
        tinytorch.manual_seed(11)
        model = self.as_float64(Sequential(Linear(2, 4), Tanh(), Linear(4, 3)))
        x = Tensor(np.random.default_rng(12).standard_normal((8, 2)), dtype=np.float64)
        classes = np.array([0, 1, 2, 0, 1, 2, 0, 1])
        loss_fn = CrossEntropyLoss()

        def loss_of_model():
            return loss_fn(model(x), classes).item()

        before = loss_of_model()
        gradients = self.finite_difference_gradient(loss_of_model, model)
        squared_norm = sum(float(np.sum(g * g)) for g in gradients)
        assert squared_norm > 1e-4  # a real slope to descend

        # first order: a tiny step lowers the loss by step * |g|^2
        step = 1e-4
        for parameter, gradient in zip(model.parameters(), gradients):
            parameter.data -= step * gradient
        predicted_drop = step * squared_norm
        assert (before - loss_of_model()) / predicted_drop == pytest.approx(1.0, abs=1e-2)

        # a real step lowers it clearly
        for parameter, gradient in zip(model.parameters(), gradients):
            parameter.data -= 0.5 * gradient
        assert loss_of_model() < before - 0.2 * squared_norm

    def test_mse_regression_fit_by_finite_differences_on_two_parameters(self):
        """y = 3x - 2 recovered by gradient descent with a finite-difference gradient."""
        tinytorch.manual_seed(13)
        model = self.as_float64(Linear(1, 1))
        x = np.linspace(-1.0, 1.0, 21)[:, None]
        inputs, targets = Tensor(x, dtype=np.float64), 3.0 * x - 2.0
        loss_fn = MSELoss()

        def loss_of_model():
            return loss_fn(model(inputs), targets).item()

        initial = loss_of_model()
        for _ in range(200):
            gradients = self.finite_difference_gradient(loss_of_model, model)
            for parameter, gradient in zip(model.parameters(), gradients):
                parameter.data -= 0.5 * gradient
        assert initial > 1.0
        assert loss_of_model() < 1e-8
        assert model.weight.data[0, 0] == pytest.approx(3.0, abs=1e-4)
        assert model.bias.data[0] == pytest.approx(-2.0, abs=1e-4)
