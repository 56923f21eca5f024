"""Negative controls for the graders of milestones 1 and 2: broken work they must reject.

Each ``check_*`` function of ``milestones/01_perceptron/test_perceptron.py`` and
``milestones/02_mlp/test_mlp.py`` passes on the reference solution (the validation run shows
that). Here each one gets a deliberately broken implementation, the kind of mistake a
student makes, and must fail on it. A grader that cannot fail grades nothing.

Hidden from the student edition: these tests start from the reference solutions.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from milestone_controls import graders_of, rejects, with_changes
from pytest_tinytorch.course.milestone_code import load_milestone

pytestmark = pytest.mark.hidden


@pytest.fixture(scope="module")
def perceptron():
    return load_milestone("perceptron", variant="solution")


@pytest.fixture(scope="module")
def mlp():
    return load_milestone("mlp", variant="solution")


@pytest.fixture(scope="module")
def graders_1():
    return graders_of("perceptron")


@pytest.fixture(scope="module")
def graders_2():
    return graders_of("mlp")


def save_png(path, draw) -> None:
    figure = Figure(figsize=(6, 5), dpi=100)
    draw(figure.add_subplot())
    figure.savefig(path)


def spiral(n_points=40, seed=0):
    from tinytorch.datasets import make_spiral_data

    return make_spiral_data(n_points=n_points, noise=0.1, seed=seed)


# -- milestone 1 --------------------------------------------------------------------------------
def test_structure_check_rejects_copied_parameters_and_unknown_activations(perceptron, graders_1):
    class CopiedParameters(perceptron.Perceptron):
        def parameters(self):
            from tinytorch.layers import Parameter

            return [Parameter(p.data.copy()) for p in super().parameters()]

    rejects(graders_1.check_model_structure, with_changes(perceptron, Perceptron=CopiedParameters))

    class AnyActivation(perceptron.Perceptron):
        def __init__(self, input_dim=2, hidden_dim=10, output_dim=2, activation="relu"):
            super().__init__(input_dim, hidden_dim, output_dim, "relu" if activation == "softplus" else activation)

    rejects(graders_1.check_model_structure, with_changes(perceptron, Perceptron=AnyActivation))


def test_forward_check_rejects_a_missing_activation(perceptron, graders_1):
    class NoActivation(perceptron.Perceptron):
        def forward(self, x):
            return self.fc2(self.fc1(x))

    rejects(graders_1.check_forward_matches_numpy, with_changes(perceptron, Perceptron=NoActivation), "relu")


def test_gradient_check_rejects_wrong_differences(perceptron, graders_1):
    def missing_half(model, X, y, step=1e-3):
        return [2 * g for g in perceptron.numerical_gradients(model, X, y, step)]

    def forgets_to_restore(model, X, y, step=1e-3):
        gradients = perceptron.numerical_gradients(model, X, y, step)
        model.parameters()[0].data[0, 0] += step
        return gradients

    def wrong_sign(model, X, y, step=1e-3):
        return [-g for g in perceptron.numerical_gradients(model, X, y, step)]

    for broken in (missing_half, forgets_to_restore, wrong_sign):
        rejects(graders_1.check_numerical_gradients, with_changes(perceptron, numerical_gradients=broken))


def test_forward_count_check_rejects_one_sided_differences(perceptron, graders_1):
    def one_sided(model, X, y, step=1e-3):
        base = perceptron.compute_loss(model, X, y)
        gradients = []
        for parameter in model.parameters():
            entries = parameter.data.reshape(-1)
            gradient = np.zeros(entries.size)
            for index in range(entries.size):
                original = entries[index]
                entries[index] = original + step
                gradient[index] = (perceptron.compute_loss(model, X, y) - base) / step
                entries[index] = original
            gradients.append(gradient.reshape(parameter.shape))
        return gradients

    rejects(graders_1.check_forward_pass_count, with_changes(perceptron, numerical_gradients=one_sided))
    rows = [{"hidden_dim": 2, "parameters": 12, "forward_passes": 13, "seconds": 0.01}]
    rejects(graders_1.check_finite_difference_cost, rows, (2,))


def test_training_check_rejects_ascent_and_stale_history(perceptron, graders_1):
    def gradient_ascent(model, X, y, epochs=200, lr=2.0):
        return perceptron.train_perceptron(model, X, y, epochs=epochs, lr=-lr)

    def history_before_update(model, X, y, epochs=200, lr=2.0):
        history = {"loss": [perceptron.compute_loss(model, X, y)], "accuracy": [perceptron.accuracy(model, X, y)]}
        perceptron.train_perceptron(model, X, y, epochs=epochs, lr=lr)
        return history

    for broken in (gradient_ascent, history_before_update):
        rejects(graders_1.check_one_step_is_gradient_descent, with_changes(perceptron, train_perceptron=broken))


def test_deliverable_check_rejects_an_untrained_model_and_short_history(perceptron, graders_1):
    from tinytorch import manual_seed

    X, y = spiral(200)
    manual_seed(0)
    untrained = perceptron.Perceptron(hidden_dim=16)
    loss, accuracy = perceptron.compute_loss(untrained, X, y), perceptron.accuracy(untrained, X, y)
    rejects(graders_1.check_deliverable, untrained, {"loss": [loss] * 3, "accuracy": [accuracy] * 3}, X, y, epochs=3)
    rejects(graders_1.check_deliverable, untrained, {"loss": [1.0, loss], "accuracy": [0.5, accuracy]}, X, y, epochs=3)


def test_boundary_plot_check_rejects_points_without_a_boundary_and_blank_images(graders_1, tmp_path):
    X, y = spiral(100)
    scatter_only = tmp_path / "scatter.png"
    save_png(scatter_only, lambda axes: axes.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=14))
    rejects(graders_1.check_decision_boundary_plot, scatter_only, scatter_only)
    blank = tmp_path / "blank.png"
    save_png(blank, lambda axes: axes.set_axis_off())
    rejects(graders_1.check_decision_boundary_plot, blank, blank)


def test_memory_check_rejects_flat_or_misreported_profiles(graders_1):
    sizes = (256, 512, 1024, 2048)
    flat = {"batch_sizes": list(sizes), "peak_bytes": [5000, 5000, 5000, 5000], "bytes_per_sample": 0.0, "r_squared": 1.0}
    rejects(graders_1.check_memory_profile, flat, sizes)
    linear = [1000 + 240 * n for n in sizes]
    misreported = {"batch_sizes": list(sizes), "peak_bytes": linear, "bytes_per_sample": 1.0, "r_squared": 1.0}
    rejects(graders_1.check_memory_profile, misreported, sizes)
    too_small = {"batch_sizes": list(sizes), "peak_bytes": [1000 + 8 * n for n in sizes], "bytes_per_sample": 8.0, "r_squared": 1.0}
    rejects(graders_1.check_memory_profile, too_small, sizes)


def test_comparison_check_rejects_one_activation_twice(graders_1, tmp_path):
    history = {"loss": [0.6, 0.4, 0.3], "accuracy": [0.6, 0.8, 0.9]}
    path = tmp_path / "curves.png"
    save_png(path, lambda axes: axes.plot([1, 2, 3], history["loss"]))
    same = {"sigmoid": history, "relu": history, "final_accuracy": {"sigmoid": 0.9, "relu": 0.9}, "path": path}
    rejects(graders_1.check_activation_comparison, same, 3, path)
    sigmoid = {"loss": [0.7, 0.69, 0.68], "accuracy": [0.5, 0.55, 0.6]}
    no_plot = {"sigmoid": sigmoid, "relu": history, "final_accuracy": {"sigmoid": 0.6, "relu": 0.9}}
    rejects(graders_1.check_activation_comparison, no_plot, 3, tmp_path / "missing.png")


# -- milestone 2 --------------------------------------------------------------------------------
def test_architecture_check_rejects_a_model_without_hidden_layers(mlp, graders_2):
    class Shallow(mlp.MLP):
        def __init__(self, input_dim=64, hidden_dims=(128, 64), output_dim=10, activation="relu"):
            super().__init__(input_dim, (), output_dim, activation)

    rejects(graders_2.check_architecture, with_changes(mlp, MLP=Shallow))


def test_forward_backward_check_rejects_a_cut_graph_and_an_activation_on_the_logits(mlp, graders_2):
    from tinytorch import Tensor
    from tinytorch.activations import relu

    class CutGraph(mlp.MLP):
        def forward(self, x):
            return Tensor(super().forward(x).data)  # right numbers, no graph behind them

    class ActivatedLogits(mlp.MLP):
        def forward(self, x):
            return relu(super().forward(x))

    rejects(graders_2.check_forward_and_backward, with_changes(mlp, MLP=CutGraph), "relu")
    rejects(graders_2.check_forward_and_backward, with_changes(mlp, MLP=ActivatedLogits), "relu")


def test_training_check_rejects_an_ignored_optimizer_choice(mlp, graders_2):
    def always_adam(model, data, epochs=15, lr=1e-3, batch_size=32, optimizer="adam", seed=0):
        return mlp.train_mlp(model, data, epochs=epochs, lr=lr, batch_size=batch_size, optimizer="adam", seed=seed)

    data = mlp.load_data(prefer_mnist=False)
    rejects(graders_2.check_one_epoch_is_one_sgd_step, with_changes(mlp, train_mlp=always_adam), data)


def test_deliverable_check_rejects_an_untrained_model(mlp, graders_2):
    from tinytorch import manual_seed

    data = mlp.load_data(prefer_mnist=False)
    manual_seed(0)
    model = mlp.MLP()
    history = {key: [1.0, 0.9] for key in ("loss", "accuracy", "val_loss", "val_accuracy")}
    rejects(graders_2.check_deliverable, model, history, data, epochs=2)


def test_confusion_check_rejects_a_transposed_matrix(mlp, graders_2):
    def transposed(predictions, targets, n_classes=10):
        return mlp.confusion_matrix(predictions, targets, n_classes).T

    rejects(graders_2.check_confusion_matrix, with_changes(mlp, confusion_matrix=transposed))


def test_gradient_checks_reject_accumulating_backprop_and_one_sided_differences(mlp, graders_2):
    from tinytorch.losses import cross_entropy

    def accumulating(model, X, y):
        cross_entropy(model(X), y).backward()  # no zero_grad: a second call adds up
        return [p.grad.copy() for p in model.parameters()]

    def one_sided(model, X, y, step=1e-3):
        gradients = mlp.finite_difference_gradients(model, X, y, step)
        model(X)  # one extra forward pass for a base loss
        return gradients

    rejects(graders_2.check_finite_difference_gradients, with_changes(mlp, backprop_gradients=accumulating))
    rejects(graders_2.check_finite_difference_gradients, with_changes(mlp, finite_difference_gradients=one_sided))
    race = {"parameters": 42, "max_abs_difference": 1e-4, "finite_difference_seconds": 0.001,
            "backprop_seconds": 0.002, "speedup": 0.5}
    rejects(graders_2.check_gradient_race, race, 8)
    rejects(graders_2.check_gradient_race, {**race, "speedup": 50.0, "backprop_seconds": 0.00002,
                                            "max_abs_difference": 0.3}, 8)


def test_activation_memory_check_rejects_a_forward_only_profile(mlp, graders_2):
    from tinytorch.autograd import no_grad
    from tinytorch.losses import cross_entropy

    sizes = (64, 128, 256)
    model = mlp.MLP()
    rng = np.random.default_rng(0)
    peaks = []
    for size in sizes:
        X, y = rng.standard_normal((size, 64)).astype(np.float32), rng.integers(0, 10, size)

        def forward_only():
            with no_grad():
                cross_entropy(model(X), y)

        peaks.append(mlp.peak_bytes(forward_only))
    slope, intercept, r_squared = mlp.fit_line(sizes, peaks)
    profile = {"batch_sizes": list(sizes), "peak_bytes": peaks, "bytes_per_sample": slope, "r_squared": r_squared}
    rejects(graders_2.check_activation_memory, profile, sizes, (128, 64))


def test_parameter_table_check_rejects_missing_biases(mlp, graders_2):
    def weights_only(model):
        return [row for row in mlp.parameter_table(model) if not row[0].endswith("bias")]

    rejects(graders_2.check_parameter_table, with_changes(mlp, parameter_table=weights_only), mlp.MLP())


def test_optimizer_comparison_check_rejects_one_optimizer_twice(graders_2, tmp_path):
    history = {"loss": [1.0, 0.5], "val_accuracy": [0.85, 0.9]}
    path = tmp_path / "curves.png"
    save_png(path, lambda axes: axes.plot([1, 2], history["loss"]))
    same = {"sgd": history, "adam": history, "final_val_accuracy": {"sgd": 0.9, "adam": 0.9}, "path": path}
    rejects(graders_2.check_optimizer_comparison, same, 2, path)
