"""Validation of Milestone 1: a perceptron trained with central differences on the spiral.

The implementation under test comes from ``load_milestone("perceptron")``: the reference
solution in the instructor's repository, the student's notebook in a student edition. Every
number the notebook reports is checked against an independent computation here (a NumPy
forward pass, hand-written backpropagation, an own count of forward passes), so a result
cannot pass by being asserted rather than computed. Each ``check_*`` function holds one
grader; ``tests/test_milestone_checks.py`` feeds them broken implementations they must reject.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from pytest_tinytorch import milestone
from pytest_tinytorch.course.milestone_code import assert_png_has_content, load_milestone

DELIVERABLE = {"hidden_dim": 16, "epochs": 200, "lr": 2.0, "seed": 0}
"""The deliverable run: 2-16-2 ReLU perceptron, full batch, seed 0 (as in the notebook)."""
REQUIRED_ACCURACY = 0.95


# -- independent references -----------------------------------------------------------------
def weights_of(model) -> list[np.ndarray]:
    """fc1.weight, fc1.bias, fc2.weight, fc2.bias as float64 arrays."""
    return [np.asarray(p.data, dtype=np.float64) for p in (model.fc1.weight, model.fc1.bias,
                                                          model.fc2.weight, model.fc2.bias)]


def numpy_forward(weights, X, activation: str):
    """(pre-activation, hidden, logits) of a 2-layer perceptron, in float64 NumPy."""
    w1, b1, w2, b2 = weights
    pre = np.asarray(X, dtype=np.float64) @ w1 + b1
    hidden = np.maximum(pre, 0.0) if activation == "relu" else 1.0 / (1.0 + np.exp(-pre))
    return pre, hidden, hidden @ w2 + b2


def softmax_rows(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def numpy_loss_and_accuracy(weights, X, y, activation: str) -> tuple[float, float]:
    _, _, logits = numpy_forward(weights, X, activation)
    probabilities = softmax_rows(logits)
    loss = -np.mean(np.log(probabilities[np.arange(len(y)), y]))
    return float(loss), float(np.mean(np.argmax(logits, axis=1) == y))


def backprop_gradients(weights, X, y, activation: str) -> list[np.ndarray]:
    """Exact gradients of the mean cross-entropy, by hand-written backpropagation."""
    w1, b1, w2, b2 = weights
    X = np.asarray(X, dtype=np.float64)
    pre, hidden, logits = numpy_forward(weights, X, activation)
    d_logits = softmax_rows(logits)
    d_logits[np.arange(len(y)), y] -= 1.0
    d_logits /= len(y)
    d_hidden = d_logits @ w2.T
    d_pre = d_hidden * (pre > 0) if activation == "relu" else d_hidden * hidden * (1.0 - hidden)
    return [X.T @ d_pre, d_pre.sum(axis=0), hidden.T @ d_logits, d_logits.sum(axis=0)]


def own_forward_count(model, run) -> int:
    """Forward passes made by ``run()``, counted here rather than by the notebook."""
    calls = []
    original = model.forward
    model.forward = lambda x: calls.append(1) or original(x)
    try:
        run()
    finally:
        del model.forward
    return len(calls)


def parameter_count(input_dim, hidden_dim, output_dim) -> int:
    return input_dim * hidden_dim + hidden_dim + hidden_dim * output_dim + output_dim


# -- the graders ------------------------------------------------------------------------------
def check_model_structure(perceptron) -> None:
    from tinytorch.activations import ReLU, Sigmoid
    from tinytorch.layers import Linear

    model = perceptron.Perceptron()
    assert isinstance(model.fc1, Linear) and isinstance(model.fc2, Linear), (
        "Perceptron needs fc1 and fc2 built from tinytorch.layers.Linear"
    )
    assert (model.fc1.in_features, model.fc1.out_features) == (2, 10), "fc1 should map 2 -> 10 by default"
    assert (model.fc2.in_features, model.fc2.out_features) == (10, 2), "fc2 should map 10 -> 2 by default"
    assert isinstance(model.activation, ReLU), "activation='relu' (the default) should use ReLU"
    assert isinstance(perceptron.Perceptron(activation="sigmoid").activation, Sigmoid)
    parameters = model.parameters()
    expected = [model.fc1.weight, model.fc1.bias, model.fc2.weight, model.fc2.bias]
    assert len(parameters) == 4 and all(p is e for p, e in zip(parameters, expected)), (
        "parameters() should return the layers' own tensors [fc1.weight, fc1.bias, fc2.weight, "
        "fc2.bias], not copies"
    )
    assert sum(p.size for p in parameters) == parameter_count(2, 10, 2) == 52
    with pytest.raises(ValueError):
        perceptron.Perceptron(activation="softplus")


def check_forward_matches_numpy(perceptron, activation: str) -> None:
    from tinytorch import Tensor, manual_seed

    manual_seed(11)
    model = perceptron.Perceptron(input_dim=3, hidden_dim=7, output_dim=4, activation=activation)
    X = np.random.default_rng(5).normal(size=(9, 3)).astype(np.float32)
    output = model.forward(Tensor(X))
    assert isinstance(output, Tensor), f"forward should return a Tensor, got {type(output).__name__}"
    assert output.shape == (9, 4), f"expected logits of shape (9, 4), got {output.shape}"
    _, _, expected = numpy_forward(weights_of(model), X, activation)
    np.testing.assert_allclose(output.data, expected, rtol=1e-5, atol=1e-5,
                               err_msg=f"forward with {activation} differs from fc2({activation}(fc1(x)))")


def check_numerical_gradients(perceptron, activation: str = "sigmoid") -> None:
    from tinytorch import manual_seed
    from tinytorch.datasets import make_spiral_data

    manual_seed(3)
    model = perceptron.Perceptron(hidden_dim=5, activation=activation)
    X, y = make_spiral_data(n_points=10, noise=0.1, seed=4)
    before = [p.data.copy() for p in model.parameters()]
    gradients = perceptron.numerical_gradients(model, X, y)
    assert len(gradients) == 4, f"expected one gradient per parameter (4), got {len(gradients)}"
    for parameter, original in zip(model.parameters(), before):
        assert np.array_equal(parameter.data, original), (
            "numerical_gradients must put every nudged entry back exactly; a parameter changed"
        )
    expected = backprop_gradients(weights_of(model), X, y, activation)
    names = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
    for name, gradient, exact in zip(names, gradients, expected):
        gradient = np.asarray(gradient, dtype=np.float64)
        assert gradient.shape == exact.shape, f"gradient of {name} has shape {gradient.shape}, expected {exact.shape}"
        np.testing.assert_allclose(gradient, exact, rtol=2e-2, atol=2e-3,
                                   err_msg=f"central-difference gradient of {name} is wrong")


def check_one_step_is_gradient_descent(perceptron) -> None:
    from tinytorch import manual_seed
    from tinytorch.datasets import make_spiral_data

    manual_seed(8)
    model = perceptron.Perceptron(hidden_dim=6, activation="sigmoid")
    X, y = make_spiral_data(n_points=12, noise=0.1, seed=9)
    before = weights_of(model)
    lr = 0.5
    history = perceptron.train_perceptron(model, X, y, epochs=1, lr=lr)
    exact = backprop_gradients(before, X, y, "sigmoid")
    for name, old, new, gradient in zip(("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"),
                                        before, weights_of(model), exact):
        np.testing.assert_allclose(new, old - lr * gradient, atol=2e-3,
                                   err_msg=f"one epoch should move {name} by -lr * gradient")
    loss, accuracy = numpy_loss_and_accuracy(weights_of(model), X, y, "sigmoid")
    assert len(history["loss"]) == len(history["accuracy"]) == 1
    assert history["loss"][0] == pytest.approx(loss, rel=1e-4), "history['loss'] should be the loss after the update"
    assert history["accuracy"][0] == pytest.approx(accuracy), "history['accuracy'] should be measured after the update"


def check_deliverable(model, history, X, y, epochs: int) -> None:
    assert len(history["loss"]) == len(history["accuracy"]) == epochs, (
        f"history should hold one loss and one accuracy per epoch ({epochs})"
    )
    loss, accuracy = numpy_loss_and_accuracy(weights_of(model), X, y, "relu")
    assert accuracy >= REQUIRED_ACCURACY, (
        f"training accuracy {accuracy:.1%} on make_spiral_data(n_points=200, noise=0.1); "
        f"the deliverable needs at least {REQUIRED_ACCURACY:.0%}"
    )
    assert history["accuracy"][-1] == pytest.approx(accuracy), "the last history entry should match the trained model"
    assert history["loss"][-1] == pytest.approx(loss, rel=1e-3)
    assert np.all(np.isfinite(history["loss"])) and history["loss"][-1] < 0.5 * history["loss"][0]


def check_decision_boundary_plot(path, returned) -> None:
    from pathlib import Path

    assert Path(returned) == Path(path), f"plot_decision_boundary should return the path it wrote ({path})"
    assert_png_has_content(path, min_width=300, min_height=250)
    from matplotlib import image

    pixels = image.imread(path)
    _, counts = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0, return_counts=True)
    shares = np.sort(counts)[::-1] / counts.sum()
    assert shares[1] >= 0.10, (
        f"the two largest colour areas cover {shares[0]:.0%} and {shares[1]:.0%} of the image; a "
        "decision boundary fills the plane with one colour per predicted class"
    )


def check_memory_profile(result, batch_sizes) -> None:
    assert list(result["batch_sizes"]) == list(batch_sizes)
    peaks = np.asarray(result["peak_bytes"], dtype=np.float64)
    assert peaks.shape == (len(batch_sizes),) and np.all(np.diff(peaks) > 0), (
        f"peak memory should grow with the batch size; got {peaks.tolist()} for {list(batch_sizes)}"
    )
    slope, intercept = np.polyfit(np.asarray(batch_sizes, dtype=np.float64), peaks, 1)
    assert result["bytes_per_sample"] == pytest.approx(slope, rel=1e-6), (
        "bytes_per_sample should be the slope of the line fitted to the measured peaks"
    )
    hidden_activation_bytes = 16 * 4  # one float32 row of the 16-wide hidden layer per sample
    assert slope >= hidden_activation_bytes, (
        f"{slope:.0f} bytes per sample is less than the hidden activation alone ({hidden_activation_bytes})"
    )
    assert 0.9 < result["r_squared"] <= 1.0 + 1e-9, f"R^2 = {result['r_squared']:.3f}: expected a straight line, > 0.9"


def check_forward_pass_count(perceptron) -> None:
    from tinytorch import manual_seed
    from tinytorch.datasets import make_spiral_data

    manual_seed(0)
    model = perceptron.Perceptron(hidden_dim=3)
    X, y = make_spiral_data(n_points=8, seed=0)
    passes = own_forward_count(model, lambda: perceptron.numerical_gradients(model, X, y))
    assert passes == 2 * parameter_count(2, 3, 2), (
        f"one numerical-gradient step made {passes} forward passes; expected 2 x 17 parameters = 34"
    )


def check_finite_difference_cost(rows, hidden_dims) -> None:
    assert [row["hidden_dim"] for row in rows] == list(hidden_dims)
    for row in rows:
        expected = parameter_count(2, row["hidden_dim"], 2)
        assert row["parameters"] == expected, f"a 2-{row['hidden_dim']}-2 perceptron has {expected} parameters"
        assert row["forward_passes"] == 2 * expected, (
            f"hidden {row['hidden_dim']}: {row['forward_passes']} forward passes for {expected} parameters; "
            "central differences take exactly 2 per parameter"
        )
        assert row["seconds"] > 0


def check_activation_comparison(result, epochs: int, path) -> None:
    for name in ("sigmoid", "relu"):
        history = result[name]
        assert len(history["loss"]) == len(history["accuracy"]) == epochs, f"{name}: one entry per epoch"
        assert result["final_accuracy"][name] == pytest.approx(history["accuracy"][-1])
    assert result["relu"]["loss"][-1] < result["sigmoid"]["loss"][-1], "ReLU should end at a lower loss here"
    gap = result["final_accuracy"]["relu"] - result["final_accuracy"]["sigmoid"]
    assert gap >= 0.1, f"ReLU leads Sigmoid by {gap:.1%}; with these settings the difference is at least 10 points"
    assert_png_has_content(path, min_width=500, min_height=250)


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def perceptron(pytestconfig):
    return load_milestone("perceptron", config=pytestconfig)


@pytest.fixture(scope="module")
def spiral():
    from tinytorch.datasets import make_spiral_data

    return make_spiral_data(n_points=200, noise=0.1)


@pytest.fixture(scope="module")
def trained(perceptron, spiral):
    """The deliverable run, trained once for the whole module (a few seconds)."""
    from tinytorch import manual_seed

    X, y = spiral
    manual_seed(DELIVERABLE["seed"])
    model = perceptron.Perceptron(hidden_dim=DELIVERABLE["hidden_dim"], activation="relu")
    history = perceptron.train_perceptron(model, X, y, epochs=DELIVERABLE["epochs"], lr=DELIVERABLE["lr"])
    return model, history


# -- Part 1: model ------------------------------------------------------------------------------
@milestone("perceptron", rubric="model")
def test_perceptron_is_built_from_linear_layers_and_an_activation(perceptron):
    check_model_structure(perceptron)


@milestone("perceptron", rubric="model")
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_forward_computes_fc2_of_activation_of_fc1(perceptron, activation):
    check_forward_matches_numpy(perceptron, activation)


# -- Part 2: training -----------------------------------------------------------------------
@milestone("perceptron", rubric="training")
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_central_differences_match_backpropagation(perceptron, activation):
    check_numerical_gradients(perceptron, activation)


@milestone("perceptron", rubric="training")
def test_one_epoch_is_one_gradient_descent_step(perceptron):
    check_one_step_is_gradient_descent(perceptron)


@milestone("perceptron", rubric="training")
def test_spiral_reaches_95_percent_training_accuracy(trained, spiral):
    model, history = trained
    check_deliverable(model, history, *spiral, epochs=DELIVERABLE["epochs"])


# -- Part 3: visualization ------------------------------------------------------------------
@milestone("perceptron", rubric="visualization")
def test_decision_boundary_is_saved_as_a_png(perceptron, trained, spiral, tmp_path):
    model, _ = trained
    path = tmp_path / "plots" / "boundary.png"
    returned = perceptron.plot_decision_boundary(model, *spiral, title="Spiral", path=path)
    check_decision_boundary_plot(path, returned)


# -- Part 4: systems analysis ---------------------------------------------------------------
@milestone("perceptron", rubric="systems")
def test_forward_memory_grows_linearly_with_batch_size(perceptron):
    batch_sizes = (256, 512, 1024, 2048)
    check_memory_profile(perceptron.profile_perceptron_memory(batch_sizes=batch_sizes), batch_sizes)


@milestone("perceptron", rubric="systems")
def test_finite_difference_step_costs_two_forward_passes_per_parameter(perceptron):
    check_forward_pass_count(perceptron)
    hidden_dims = (2, 4, 8)
    check_finite_difference_cost(perceptron.profile_finite_difference_cost(hidden_dims=hidden_dims), hidden_dims)


# -- Part 5: comparison study ------------------------------------------------------------------
@milestone("perceptron", rubric="comparison")
def test_relu_outlearns_sigmoid_and_the_curves_are_plotted(perceptron, tmp_path):
    from tinytorch.datasets import make_spiral_data

    X, y = make_spiral_data(n_points=50, noise=0.1, seed=3)
    path = tmp_path / "comparison.png"
    result = perceptron.compare_activations(X, y, epochs=40, lr=2.0, hidden_dim=8, seed=0, path=path)
    check_activation_comparison(result, epochs=40, path=path)
