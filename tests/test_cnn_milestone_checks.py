"""Negative controls for the graders of milestone 3 (CNN): broken work they must reject.

Each ``check_*`` function of ``milestones/03_cnn/test_cnn.py`` passes on the reference
solution (the validation run shows that, and the comparison control below checks it again
before corrupting a result). Here each one gets a deliberately broken implementation or a
result that claims what was not measured, and must fail on it. A grader that cannot fail
grades nothing.

Hidden from the student edition: these tests start from the reference solution.
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
def cnn():
    return load_milestone("cnn", variant="solution")


@pytest.fixture(scope="module")
def graders():
    return graders_of("cnn")


@pytest.fixture(scope="module")
def digits(cnn):
    return cnn.load_data("shifted_digits")


@pytest.fixture(scope="module")
def comparison(cnn, graders, digits, tmp_path_factory):
    """A real comparison run, which the grader accepts before the controls corrupt copies of it."""
    path = tmp_path_factory.mktemp("comparison") / "cnn_vs_mlp.png"
    result = cnn.compare_cnn_and_mlp(digits, epochs=graders.COMPARISON_EPOCHS, path=path)
    graders.check_comparison(cnn, result, digits, graders.COMPARISON_EPOCHS, path)
    return result, path


def untrained(cnn, seed=0):
    from tinytorch import manual_seed

    manual_seed(seed)
    return cnn.CNN()


def save_blank_png(path, size=(8, 6)) -> None:
    figure = Figure(figsize=size, dpi=100)
    figure.add_subplot().set_axis_off()
    figure.savefig(path)


# -- Part 1: model ------------------------------------------------------------------------------
def test_architecture_check_rejects_a_wrong_convolution_and_copied_parameters(cnn, graders):
    from tinytorch.layers import Parameter

    class Unpadded(cnn.CNN):
        """Convolutions without padding shrink the maps: 16 -> 14 -> 7 -> 5 -> 2."""

        def __init__(self, in_channels=1, image_size=16, channels=(8, 16), n_classes=10, kernel_size=3):
            super().__init__(in_channels, image_size, channels, n_classes, kernel_size)
            for layer in self.layers:
                if hasattr(layer, "padding"):
                    layer.padding = (0, 0)

    class FiveByFive(cnn.CNN):
        def __init__(self, in_channels=1, image_size=16, channels=(8, 16), n_classes=10, kernel_size=3):
            super().__init__(in_channels, image_size, channels, n_classes, 5)

    class CopiedParameters(cnn.CNN):
        def parameters(self):
            return [Parameter(p.data.copy()) for p in super().parameters()]

    class OneBlock(cnn.CNN):
        def __init__(self, in_channels=1, image_size=16, channels=(8, 16), n_classes=10, kernel_size=3):
            super().__init__(in_channels, image_size, channels[:1], n_classes, kernel_size)

    for broken in (Unpadded, FiveByFive, CopiedParameters, OneBlock):
        rejects(graders.check_architecture, with_changes(cnn, CNN=broken))


def test_forward_check_rejects_a_flipped_kernel_a_lost_bias_and_a_cut_graph(cnn, graders, monkeypatch):
    from tinytorch import Tensor, spatial

    class CutGraph(cnn.CNN):
        def forward(self, x):
            return Tensor(super().forward(x).data)  # right numbers, no graph behind them

    class NoReLU(cnn.CNN):
        def forward(self, x):
            x = x if isinstance(x, Tensor) else Tensor(x)
            for layer in self.layers:
                x = x if type(layer).__name__ == "ReLU" else layer(x)
            return x

    rejects(graders.check_forward_and_backward, with_changes(cnn, CNN=CutGraph))
    rejects(graders.check_forward_and_backward, with_changes(cnn, CNN=NoReLU))

    real_conv2d = spatial.conv2d

    def without_bias(x, weight, bias=None, stride=1, padding=0):
        return real_conv2d(x, weight, None, stride, padding)

    monkeypatch.setattr(spatial, "conv2d", without_bias)
    rejects(graders.check_forward_and_backward, cnn)

    def flipped_kernel(x, weight, bias=None, stride=1, padding=0):
        # a true convolution instead of cross-correlation: wrong, yet forward and backward agree
        return real_conv2d(x, weight[:, :, ::-1, ::-1], bias, stride, padding)

    monkeypatch.setattr(spatial, "conv2d", flipped_kernel)
    rejects(graders.check_forward_and_backward, cnn)


# -- Part 2: training ---------------------------------------------------------------------------
def test_training_check_rejects_an_ignored_optimizer_no_dataloader_and_validation_on_training_data(cnn, graders, digits):
    from tinytorch import Tensor
    from tinytorch.losses import CrossEntropyLoss
    from tinytorch.training import Trainer

    def always_adam(model, data, epochs=10, lr=5e-3, batch_size=32, optimizer="adam", augment=True, seed=0,
                    progress=False):
        return cnn.train_cnn(model, data, epochs, lr, batch_size, "adam", augment, seed, progress)

    def plain_lists(model, data, epochs=10, lr=5e-3, batch_size=32, optimizer="adam", augment=True, seed=0,
                    progress=False):
        batches = [(Tensor(data["X_train"][start:start + batch_size]), data["y_train"][start:start + batch_size])
                   for start in range(0, len(data["X_train"]), batch_size)]
        trainer = Trainer(model, cnn.make_optimizer(optimizer, model.parameters(), lr), CrossEntropyLoss(), progress=False)
        return trainer.fit(batches, epochs, val_batches=[(Tensor(data["X_val"]), data["y_val"])])

    def validates_on_training_data(model, data, epochs=10, lr=5e-3, batch_size=32, optimizer="adam", augment=True,
                                   seed=0, progress=False):
        swapped = {**data, "X_val": data["X_train"], "y_val": data["y_train"]}
        return cnn.train_cnn(model, swapped, epochs, lr, batch_size, optimizer, augment, seed, progress)

    for broken in (always_adam, plain_lists, validates_on_training_data):
        rejects(graders.check_one_epoch_is_one_sgd_step, with_changes(cnn, train_cnn=broken), digits)


def test_deliverable_check_rejects_an_accuracy_claimed_but_not_reached(cnn, graders, digits):
    model = untrained(cnn)
    claimed = {"loss": [2.3, 0.3], "accuracy": [0.2, 0.95], "val_loss": [2.2, 0.3], "val_accuracy": [0.3, 0.95]}
    rejects(graders.check_deliverable, model, claimed, digits, epochs=2)
    cnn.train_cnn(model, digits, epochs=1, batch_size=64)  # learns something, not enough
    measured = cnn.accuracy_of(model, digits["X_val"], digits["y_val"])
    honest_but_short = {"loss": [2.3, 1.9], "accuracy": [0.2, 0.4], "val_loss": [2.2, 1.8], "val_accuracy": [0.3, measured]}
    rejects(graders.check_deliverable, model, honest_but_short, digits, epochs=2)
    rejects(graders.check_deliverable, model, honest_but_short, digits, epochs=3)


# -- Part 3: visualization ----------------------------------------------------------------------
def test_confusion_check_rejects_a_transposed_matrix(cnn, graders, digits):
    def transposed(predictions, targets, n_classes=10):
        return cnn.confusion_matrix(predictions, targets, n_classes).T

    broken = with_changes(cnn, confusion_matrix=transposed)
    rejects(graders.check_confusion_matrix, broken)
    rejects(graders.check_test_confusion, broken, untrained(cnn), digits)


def test_filter_check_rejects_one_scale_for_all_filters_and_channels_first(cnn, graders):
    model = untrained(cnn)

    def one_scale(model):
        weight = cnn.first_convolution(model).weight.data.transpose(0, 2, 3, 1)
        return (weight - weight.min()) / (weight.max() - weight.min())

    def channels_first(model):
        return cnn.filter_images(model).transpose(0, 3, 1, 2)

    for broken in (one_scale, channels_first):
        rejects(graders.check_filter_images, with_changes(cnn, filter_images=broken), model)


def test_plot_checks_reject_blank_pngs(cnn, graders, tmp_path):
    def blank_filters(model, path="filters.png", columns=8):
        save_blank_png(path)
        return path

    def blank_matrix(matrix, path="confusion_matrix.png", class_names=None, title=""):
        save_blank_png(path)
        return path

    rejects(graders.check_filter_plot, with_changes(cnn, plot_filters=blank_filters), untrained(cnn), tmp_path / "f.png")
    matrix = np.eye(10, dtype=np.int64) * 7
    rejects(graders.check_confusion_plot, with_changes(cnn, plot_confusion_matrix=blank_matrix), matrix, tmp_path / "c.png")


# -- Part 4: systems analysis -------------------------------------------------------------------
def test_layer_table_check_rejects_wrong_flops_and_memory(cnn, graders):
    def changed(**edits):
        def table(model, input_shape=(1, 1, 16, 16)):
            rows = cnn.layer_table(model, input_shape)
            for row in rows:
                for key, edit in edits.items():
                    row[key] = edit(row, input_shape)
            return rows

        return with_changes(cnn, layer_table=table)

    multiply_adds_once = changed(flops=lambda row, shape: row["flops"] // 2)
    flops_per_image = changed(flops=lambda row, shape: row["flops"] // shape[0])
    activations_per_image = changed(activation_bytes=lambda row, shape: row["activation_bytes"] // shape[0])
    activations_in_float64 = changed(activation_bytes=lambda row, shape: 2 * row["activation_bytes"])
    no_im2col = changed(im2col_bytes=lambda row, shape: 0)
    weights_without_bias = changed(parameters=lambda row, shape: {80: 72, 1168: 1152, 2570: 2560}.get(
        row["parameters"], row["parameters"]))
    for broken in (multiply_adds_once, flops_per_image, activations_per_image, activations_in_float64, no_im2col,
                   weights_without_bias):
        rejects(graders.check_layer_table, broken)


def test_loop_check_rejects_an_ignored_stride_and_a_flipped_kernel(cnn, graders):
    def ignores_the_stride(images, weight, bias=None, stride=1, padding=0):
        return cnn.conv2d_loops(images, weight, bias, 1, padding)

    def flipped(images, weight, bias=None, stride=1, padding=0):
        return cnn.conv2d_loops(images, weight[:, :, ::-1, ::-1], bias, stride, padding)

    def ignores_the_bias(images, weight, bias=None, stride=1, padding=0):
        return cnn.conv2d_loops(images, weight, None, stride, padding)

    for broken in (ignores_the_stride, flipped, ignores_the_bias):
        rejects(graders.check_conv2d_loops, with_changes(cnn, conv2d_loops=broken))


def test_race_check_rejects_loops_that_are_im2col_inverted_ratios_and_disagreement(cnn, graders):
    from tinytorch import Tensor

    def loops_that_call_im2col(images, weight, bias=None, stride=1, padding=0):
        return cnn.conv2d(Tensor(images), Tensor(weight), None if bias is None else Tensor(bias), stride, padding).data

    real = cnn.compare_conv_speed(batch_size=2, rounds=3)
    graders.check_conv_race(real, (2, 8, 8, 8))
    cheating = with_changes(cnn, conv2d_loops=loops_that_call_im2col)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(cnn.compare_conv_speed.__globals__, "conv2d_loops", cheating.conv2d_loops)
        faked = cnn.compare_conv_speed(batch_size=2, rounds=3)
    rejects(graders.check_conv_race, faked, (2, 8, 8, 8))
    inverted = {**real, "speedup": real["im2col_ms"] / real["loops_ms"]}
    rejects(graders.check_conv_race, inverted, (2, 8, 8, 8))
    typed_in = {**real, "speedup": 1000.0}
    rejects(graders.check_conv_race, typed_in, (2, 8, 8, 8))
    rejects(graders.check_conv_race, {**real, "max_abs_difference": 0.5}, (2, 8, 8, 8))


# -- Part 5: comparison study -------------------------------------------------------------------
def test_comparison_check_rejects_the_mlps_number_as_the_cnns(cnn, graders, digits, comparison):
    result, path = comparison
    epochs = graders.COMPARISON_EPOCHS
    cnn_entry, mlp_entry = result["cnn"], result["mlp"]
    swapped = {**result, "cnn": {**cnn_entry, "test_accuracy": mlp_entry["test_accuracy"]},
               "mlp": {**mlp_entry, "test_accuracy": cnn_entry["test_accuracy"]}}
    rejects(graders.check_comparison, cnn, swapped, digits, epochs, path)
    rejects(graders.check_comparison, cnn, {**result, "margin": 0.9}, digits, epochs, path)
    mlp_as_cnn = {**result, "cnn": {**mlp_entry}, "margin": 0.0}
    rejects(graders.check_comparison, cnn, mlp_as_cnn, digits, epochs, path)
    short_history = {**result, "mlp": {**mlp_entry, "history": {k: v[:1] for k, v in mlp_entry["history"].items()}}}
    rejects(graders.check_comparison, cnn, short_history, digits, epochs, path)
    blank = path.with_name("blank.png")
    save_blank_png(blank)
    rejects(graders.check_comparison, cnn, result, digits, epochs, blank)


def test_comparison_check_rejects_a_bigger_mlp_and_an_untrained_one(cnn, graders, digits, comparison):
    from tinytorch import manual_seed
    from tinytorch.activations import ReLU
    from tinytorch.layers import Flatten, Linear, Sequential

    result, path = comparison
    epochs = graders.COMPARISON_EPOCHS
    manual_seed(0)
    bigger = Sequential(Flatten(), Linear(256, 64), ReLU(), Linear(64, 10))
    history = cnn.train_cnn(bigger, digits, epochs=epochs)
    accuracy = cnn.accuracy_of(bigger, digits["X_test"], digits["y_test"])
    bigger_entry = {"model": bigger, "parameters": cnn.count_parameters(bigger), "history": history,
                    "test_accuracy": accuracy}
    rejects(graders.check_comparison, cnn, {**result, "mlp": bigger_entry,
                                             "margin": result["cnn"]["test_accuracy"] - accuracy},
            digits, epochs, path)
    manual_seed(0)
    never_trained = cnn.same_size_mlp((1, 16, 16), 10, result["cnn"]["parameters"])
    flat = {key: [2.3] * epochs for key in ("loss", "accuracy", "val_loss", "val_accuracy")}
    lazy_entry = {"model": never_trained, "parameters": cnn.count_parameters(never_trained), "history": flat,
                  "test_accuracy": cnn.accuracy_of(never_trained, digits["X_test"], digits["y_test"])}
    rejects(graders.check_comparison, cnn, {**result, "mlp": lazy_entry,
                                             "margin": result["cnn"]["test_accuracy"] - lazy_entry["test_accuracy"]},
            digits, epochs, path)
