"""Validation of Milestone 2: an MLP trained with autograd, optimizers and Trainer on digits.

The implementation under test comes from ``load_milestone("mlp")``: the reference solution in
the instructor's repository, the student's notebook in a student edition. Accuracies are
recomputed here with a plain NumPy forward pass, gradients with hand-written backpropagation,
and forward passes with an own counter, so reported numbers must be measured to pass. Each
``check_*`` function holds one grader; ``tests/test_milestone_checks.py`` feeds them broken
implementations they must reject. Tests use the bundled digits, never the network.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from pytest_tinytorch import milestone
from pytest_tinytorch.course.milestone_code import assert_png_has_content, load_milestone

DELIVERABLE = {"hidden_dims": (128, 64), "epochs": 15, "lr": 1e-3, "batch_size": 32, "seed": 0}
"""The deliverable run on the bundled digits (as in the notebook)."""
REQUIRED_TEST_ACCURACY = 0.95


# -- independent references -----------------------------------------------------------------
def linear_layers(model) -> list:
    from tinytorch.layers import Linear

    return [module for _, module in model.named_modules() if isinstance(module, Linear)]


def weights_of(model) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.asarray(layer.weight.data, np.float64), np.asarray(layer.bias.data, np.float64))
            for layer in linear_layers(model)]


ACTIVATIONS = {
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, a: (z > 0).astype(np.float64)),
    "tanh": (np.tanh, lambda z, a: 1.0 - a**2),
}


def numpy_forward(weights, X, activation="relu"):
    """Pre-activations, activations and logits of Linear-activation-...-Linear in float64."""
    function, _ = ACTIVATIONS[activation]
    inputs, pres = [np.asarray(X, dtype=np.float64)], []
    for index, (weight, bias) in enumerate(weights):
        pre = inputs[-1] @ weight + bias
        pres.append(pre)
        if index < len(weights) - 1:
            inputs.append(function(pre))
    return inputs, pres, pres[-1]


def numpy_accuracy(weights, X, y) -> float:
    return float(np.mean(np.argmax(numpy_forward(weights, X)[2], axis=1) == np.asarray(y)))


def backprop_gradients(weights, X, y, activation="relu") -> list[np.ndarray]:
    """[dW1, db1, dW2, db2, ...] of the mean cross-entropy, by hand."""
    _, derivative = ACTIVATIONS[activation]
    inputs, pres, logits = numpy_forward(weights, X, activation)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    d_out = shifted / shifted.sum(axis=1, keepdims=True)
    d_out[np.arange(len(y)), y] -= 1.0
    d_out /= len(y)
    gradients = []
    for index in reversed(range(len(weights))):
        gradients[:0] = [inputs[index].T @ d_out, d_out.sum(axis=0)]
        if index:
            d_out = (d_out @ weights[index][0].T) * derivative(pres[index - 1], inputs[index])
    return gradients


def own_forward_count(model, run) -> int:
    calls = []
    original = model.forward
    model.forward = lambda x: calls.append(1) or original(x)
    try:
        run()
    finally:
        del model.forward
    return len(calls)


def parameter_count(sizes) -> int:
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def small_data(data, n_train=120, n_val=60) -> dict:
    return {**data, "X_train": data["X_train"][:n_train], "y_train": data["y_train"][:n_train],
            "X_val": data["X_val"][:n_val], "y_val": data["y_val"][:n_val]}


# -- the graders ------------------------------------------------------------------------------
def check_architecture(mlp) -> None:
    from tinytorch.layers import Module

    model = mlp.MLP()
    assert isinstance(model, Module), "MLP should be a tinytorch.layers.Module"
    shapes = [(layer.in_features, layer.out_features) for layer in linear_layers(model)]
    assert shapes == [(64, 128), (128, 64), (64, 10)], f"expected Linear layers 64-128-64-10, found {shapes}"
    linear_parameters = [p for layer in linear_layers(model) for p in (layer.weight, layer.bias)]
    parameters = model.parameters()
    assert len(parameters) == 6 and {id(p) for p in parameters} == {id(p) for p in linear_parameters}, (
        "model.parameters() should find exactly the weights and biases of the three Linear layers"
    )
    assert mlp.count_parameters(model) == parameter_count((64, 128, 64, 10)) == 17226
    deeper = mlp.MLP(input_dim=5, hidden_dims=(4, 4, 4), output_dim=3)
    assert len(linear_layers(deeper)) == 4, "hidden_dims=(4, 4, 4) should give 4 Linear layers"


def check_forward_and_backward(mlp, activation: str) -> None:
    from tinytorch import Tensor, manual_seed
    from tinytorch.losses import cross_entropy

    manual_seed(21)
    model = mlp.MLP(input_dim=5, hidden_dims=(7, 6), output_dim=3, activation=activation)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(11, 5)).astype(np.float32)
    y = rng.integers(0, 3, 11)
    logits = model(Tensor(X))
    weights = weights_of(model)
    np.testing.assert_allclose(logits.data, numpy_forward(weights, X, activation)[2], rtol=1e-5, atol=1e-5,
                               err_msg=f"MLP forward ({activation}) differs from Linear-{activation}-Linear-{activation}-Linear")
    assert logits.requires_grad, "the logits carry no graph: build forward from tensor ops, not from .data"
    model.zero_grad()
    cross_entropy(logits, y).backward()
    expected = backprop_gradients(weights, X, y, activation)
    actual = [p.grad for layer in linear_layers(model) for p in (layer.weight, layer.bias)]
    for index, (gradient, exact) in enumerate(zip(actual, expected)):
        assert gradient is not None, f"parameter {index} got no gradient: is the forward pass recorded?"
        np.testing.assert_allclose(gradient, exact, rtol=1e-4, atol=1e-5,
                                   err_msg=f"gradient of parameter {index} after loss.backward()")


def check_one_epoch_is_one_sgd_step(mlp, data) -> None:
    from tinytorch import manual_seed

    data = small_data(data)
    manual_seed(4)
    model = mlp.MLP(hidden_dims=(16,))
    before = weights_of(model)
    lr = 0.1
    history = mlp.train_mlp(model, data, epochs=1, lr=lr, batch_size=len(data["X_train"]), optimizer="sgd")
    exact = backprop_gradients(before, data["X_train"], data["y_train"])
    after = [array for pair in weights_of(model) for array in pair]
    for index, (old, new, gradient) in enumerate(zip([a for pair in before for a in pair], after, exact)):
        np.testing.assert_allclose(new, old - lr * gradient, rtol=1e-4, atol=1e-5,
                                   err_msg=f"one full-batch epoch of SGD should move parameter {index} by -lr * gradient")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(history.get(key, [])) == 1, f"history[{key!r}] should have one entry per epoch"
    assert history["val_accuracy"][0] == pytest.approx(numpy_accuracy(weights_of(model), data["X_val"], data["y_val"])), (
        "val_accuracy should be measured on data['X_val'] after the epoch"
    )


def check_deliverable(model, history, data, epochs: int) -> float:
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(history.get(key, [])) == epochs, f"history[{key!r}] should have {epochs} entries"
    weights = weights_of(model)
    test_accuracy = numpy_accuracy(weights, data["X_test"], data["y_test"])
    assert test_accuracy >= REQUIRED_TEST_ACCURACY, (
        f"test accuracy {test_accuracy:.1%} on the bundled digits; the deliverable needs {REQUIRED_TEST_ACCURACY:.0%}"
    )
    assert history["val_accuracy"][-1] == pytest.approx(numpy_accuracy(weights, data["X_val"], data["y_val"]))
    assert history["loss"][-1] < 0.25 * history["loss"][0], "the training loss should fall during training"
    return test_accuracy


def check_confusion_matrix(mlp) -> None:
    predictions = np.array([0, 1, 1, 2, 2, 2, 0, 1])
    targets = np.array([0, 1, 2, 2, 2, 0, 0, 1])
    expected = np.array([[2, 0, 1], [0, 2, 0], [0, 1, 2]])
    matrix = np.asarray(mlp.confusion_matrix(predictions, targets, n_classes=3))
    assert matrix.shape == (3, 3) and np.array_equal(matrix, expected), (
        f"confusion_matrix: rows are true classes, columns predictions; expected\n{expected}\ngot\n{matrix}"
    )
    assert np.asarray(mlp.confusion_matrix(np.array([1]), np.array([1]), n_classes=10)).shape == (10, 10)


def check_gradient_race(result, hidden_dim: int) -> None:
    assert result["parameters"] == parameter_count((2, hidden_dim, 2))
    assert result["max_abs_difference"] < 5e-3, (
        f"backprop and central differences disagree by {result['max_abs_difference']:.2e}; expected < 5e-3"
    )
    assert result["finite_difference_seconds"] > 0 and result["backprop_seconds"] > 0
    assert result["speedup"] == pytest.approx(result["finite_difference_seconds"] / result["backprop_seconds"])
    assert result["speedup"] > 1, f"backprop measured {result['speedup']:.2f}x the speed of finite differences"


def check_finite_difference_gradients(mlp) -> None:
    from tinytorch import Tensor, manual_seed
    from tinytorch.datasets import make_spiral_data

    manual_seed(6)
    model = mlp.MLP(input_dim=2, hidden_dims=(4,), output_dim=2, activation="tanh")
    X, y = make_spiral_data(n_points=10, seed=1)
    before = [p.data.copy() for p in model.parameters()]
    passes = own_forward_count(model, lambda: mlp.finite_difference_gradients(model, Tensor(X), y))
    assert passes == 2 * parameter_count((2, 4, 2)), (
        f"central differences made {passes} forward passes; expected 2 per parameter = {2 * parameter_count((2, 4, 2))}"
    )
    numerical = mlp.finite_difference_gradients(model, Tensor(X), y)
    assert all(np.array_equal(p.data, b) for p, b in zip(model.parameters(), before)), (
        "finite_difference_gradients must restore every parameter exactly"
    )
    exact = backprop_gradients(weights_of(model), X, y, "tanh")
    for index, (gradient, reference) in enumerate(zip(numerical, exact)):
        np.testing.assert_allclose(gradient, reference, rtol=2e-2, atol=2e-3,
                                   err_msg=f"finite-difference gradient of parameter {index}")
    backprop = mlp.backprop_gradients(model, Tensor(X), y)
    again = mlp.backprop_gradients(model, Tensor(X), y)
    for index, (first, second, reference) in enumerate(zip(backprop, again, exact)):
        np.testing.assert_allclose(first, reference, rtol=1e-4, atol=1e-5,
                                   err_msg=f"backprop_gradients of parameter {index}")
        np.testing.assert_allclose(second, reference, rtol=1e-4, atol=1e-5,
                                   err_msg="backprop_gradients called twice must not accumulate (zero the gradients)")


def check_activation_memory(result, batch_sizes, hidden_dims) -> None:
    assert list(result["batch_sizes"]) == list(batch_sizes)
    peaks = np.asarray(result["peak_bytes"], dtype=np.float64)
    assert peaks.shape == (len(batch_sizes),) and np.all(np.diff(peaks) > 0), (
        f"peak memory should grow with the batch size; got {peaks.tolist()}"
    )
    slope, _ = np.polyfit(np.asarray(batch_sizes, dtype=np.float64), peaks, 1)
    assert result["bytes_per_sample"] == pytest.approx(slope, rel=1e-6), "bytes_per_sample should be the fitted slope"
    layer_outputs = 4 * (2 * sum(hidden_dims) + 10)
    assert slope >= layer_outputs, (
        f"{slope:.0f} bytes per sample is less than the layer outputs the graph must keep ({layer_outputs})"
    )
    assert 0.9 < result["r_squared"] <= 1.0 + 1e-9, f"R^2 = {result['r_squared']:.3f}: expected a line, > 0.9"


def check_parameter_table(mlp, model) -> None:
    table = mlp.parameter_table(model)
    expected = [(name, p.shape, p.size) for name, p in model.named_parameters()]
    rows = [(name, tuple(shape), int(count)) for name, shape, count in table]
    assert rows == expected, f"parameter_table should list every named parameter; expected {expected}, got {rows}"
    total = sum(count for _, _, count in rows)
    assert total == parameter_count((64, 128, 64, 10)) == 17226, f"the table counts {total} parameters, expected 17226"


def check_optimizer_comparison(result, epochs: int, path) -> None:
    for name in ("sgd", "adam"):
        history = result[name]
        for key in ("loss", "val_accuracy"):
            assert len(history[key]) == epochs, f"{name}: history[{key!r}] should have {epochs} entries"
        assert result["final_val_accuracy"][name] == pytest.approx(history["val_accuracy"][-1])
        assert result["final_val_accuracy"][name] > 0.8, f"{name} should learn the digits (> 80% in {epochs} epochs)"
    assert result["sgd"]["loss"] != result["adam"]["loss"], "the two runs should differ in their optimizer"
    assert_png_has_content(path, min_width=500, min_height=250)


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mlp(pytestconfig):
    return load_milestone("mlp", config=pytestconfig)


@pytest.fixture(scope="module")
def digits(mlp):
    data = mlp.load_data(prefer_mnist=False)
    assert data["name"] == "digits"
    return data


@pytest.fixture(scope="module")
def trained(mlp, digits):
    """The deliverable run, trained once for the whole module (a few seconds)."""
    from tinytorch import manual_seed

    manual_seed(DELIVERABLE["seed"])
    model = mlp.MLP(hidden_dims=DELIVERABLE["hidden_dims"])
    history = mlp.train_mlp(model, digits, epochs=DELIVERABLE["epochs"], lr=DELIVERABLE["lr"],
                            batch_size=DELIVERABLE["batch_size"], seed=DELIVERABLE["seed"])
    return model, history


# -- Part 1: model ------------------------------------------------------------------------------
@milestone("mlp", rubric="model")
def test_mlp_stacks_linear_layers_64_128_64_10(mlp):
    check_architecture(mlp)


@milestone("mlp", rubric="model")
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_forward_and_backward_match_numpy(mlp, activation):
    check_forward_and_backward(mlp, activation)


# -- Part 2: training ---------------------------------------------------------------------------
@milestone("mlp", rubric="training")
def test_one_full_batch_epoch_is_one_sgd_step(mlp, digits):
    check_one_epoch_is_one_sgd_step(mlp, digits)


@milestone("mlp", rubric="training")
def test_digits_reach_95_percent_test_accuracy(trained, digits):
    model, history = trained
    check_deliverable(model, history, digits, epochs=DELIVERABLE["epochs"])


# -- Part 3: visualization ----------------------------------------------------------------------
@milestone("mlp", rubric="visualization")
def test_learning_curves_are_saved_as_a_png(mlp, trained, tmp_path):
    _, history = trained
    path = tmp_path / "plots" / "curves.png"
    assert mlp.plot_learning_curves(history, path) == path
    assert_png_has_content(path, min_width=500, min_height=250)


@milestone("mlp", rubric="visualization")
def test_confusion_matrix_counts_and_plot(mlp, trained, digits, tmp_path):
    check_confusion_matrix(mlp)
    model, _ = trained
    matrix = np.asarray(mlp.confusion_matrix(mlp.predict(model, digits["X_test"]), digits["y_test"]))
    assert matrix.sum() == len(digits["y_test"])
    assert np.trace(matrix) / matrix.sum() == pytest.approx(numpy_accuracy(weights_of(model), digits["X_test"], digits["y_test"]))
    path = tmp_path / "confusion.png"
    assert mlp.plot_confusion_matrix(matrix, path) == path
    assert_png_has_content(path, min_width=400, min_height=400)


# -- Part 4: systems analysis -------------------------------------------------------------------
@milestone("mlp", rubric="systems")
def test_finite_differences_and_backprop_agree_on_gradients(mlp):
    check_finite_difference_gradients(mlp)


@milestone("mlp", rubric="systems")
def test_backprop_is_faster_than_finite_differences(mlp):
    check_gradient_race(mlp.compare_gradient_methods(hidden_dim=8, n_points=50, repeats=2), hidden_dim=8)


@milestone("mlp", rubric="systems")
def test_activation_memory_grows_linearly_with_batch_size(mlp):
    batch_sizes = (64, 128, 256)
    check_activation_memory(mlp.profile_activation_memory(batch_sizes=batch_sizes), batch_sizes, (128, 64))


@milestone("mlp", rubric="systems")
def test_parameter_table_counts_every_weight(mlp, trained):
    model, _ = trained
    check_parameter_table(mlp, model)


# -- Part 5: comparison study -------------------------------------------------------------------
@milestone("mlp", rubric="comparison")
def test_sgd_and_adam_are_compared_with_curves(mlp, digits, tmp_path):
    path = tmp_path / "optimizers.png"
    result = mlp.compare_optimizers(digits, epochs=3, path=path)
    check_optimizer_comparison(result, epochs=3, path=path)
