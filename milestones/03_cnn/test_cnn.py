"""Validation of Milestone 3: a CNN built from Conv2d, MaxPool2d and Linear, fed by DataLoader.

The implementation under test comes from ``load_milestone("cnn")``: the reference solution in
the instructor's repository, the student's notebook in a student edition. Every number the
notebook reports is recomputed here: logits and accuracies with a NumPy forward pass of the
student's weights (convolution as a sum over kernel offsets, pooling by reshaping), gradients
against central differences of that forward pass, the layer table against a hand count, the
race against its own medians and the comparison from the models it returns. Each ``check_*``
function holds one grader; ``tests/test_cnn_milestone_checks.py`` feeds them broken
implementations they must reject. Tests use the offline shifted digits, never the network.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from pytest_tinytorch import milestone
from pytest_tinytorch.course.milestone_code import assert_png_has_content, load_milestone

DELIVERABLE = {"channels": (8, 16), "epochs": 10, "lr": 5e-3, "batch_size": 32, "seed": 0}
"""The deliverable run on the shifted digits (as in the notebook)."""
REQUIRED_TEST_ACCURACY = 0.85
COMPARISON_EPOCHS = 4
REQUIRED_MARGIN = 0.30
"""The CNN's lead over the same-size MLP in test accuracy (the reference measures about 0.5)."""
CNN_PARAMETERS = (1 * 8 * 3 * 3 + 8) + (8 * 16 * 3 * 3 + 16) + (16 * 4 * 4 * 10 + 10)
"""3,818, counted by hand: two 3x3 convolutions (1->8, 8->16) and Linear(256, 10)."""


# -- independent references -----------------------------------------------------------------
def layer_stack(model) -> list:
    """The layers a model runs in order: ``model.layers`` of the CNN, or a Sequential's own."""
    from tinytorch.layers import Sequential

    stack = getattr(model, "layers", None)
    if isinstance(stack, Sequential):
        stack = stack.layers
    assert isinstance(stack, list), f"{type(model).__name__} keeps no list of layers (expected self.layers)"
    return stack


def conv_reference(images, weight, bias, stride, padding):
    """Convolution as a sum over the kernel offsets (u, v): for each, one einsum over channels."""
    (sh, sw), (ph, pw) = stride, padding
    padded = np.pad(images, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    kh, kw = weight.shape[2:]
    rows, columns = (padded.shape[2] - kh) // sh + 1, (padded.shape[3] - kw) // sw + 1
    out = np.zeros((images.shape[0], weight.shape[0], rows, columns))
    for u in range(kh):
        for v in range(kw):
            shifted = padded[:, :, u:u + sh * rows:sh, v:v + sw * columns:sw]
            out += np.einsum("nchw,oc->nohw", shifted, weight[:, :, u, v], optimize=True)
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def max_pool_reference(images, kernel, stride):
    assert kernel == stride, f"the reference pools non-overlapping windows; got kernel {kernel}, stride {stride}"
    n, c, h, w = images.shape
    kh, kw = kernel
    trimmed = images[:, :, :h - h % kh, :w - w % kw]
    return trimmed.reshape(n, c, h // kh, kh, w // kw, kw).max(axis=(3, 5))


def numpy_forward(model, X, replaced=None):
    """The model's logits computed in float64 NumPy from its weights, layer by layer.

    ``replaced`` maps ``id(parameter)`` to an array used instead of that parameter's values.
    """
    from tinytorch.activations import ReLU
    from tinytorch.layers import Flatten, Linear
    from tinytorch.spatial import Conv2d, MaxPool2d

    replaced = replaced or {}

    def value(parameter):
        if parameter is None:
            return None
        return np.asarray(replaced.get(id(parameter), parameter.data), dtype=np.float64)

    x = np.asarray(X, dtype=np.float64)
    for layer in layer_stack(model):
        if isinstance(layer, Conv2d):
            x = conv_reference(x, value(layer.weight), value(layer.bias), layer.stride, layer.padding)
        elif isinstance(layer, ReLU):
            x = np.maximum(x, 0.0)
        elif isinstance(layer, MaxPool2d):
            x = max_pool_reference(x, layer.kernel_size, layer.stride)
        elif isinstance(layer, Flatten):
            x = x.reshape(len(x), -1)
        elif isinstance(layer, Linear):
            x = x @ value(layer.weight) + (0.0 if layer.bias is None else value(layer.bias))
        else:
            raise AssertionError(f"the reference forward does not know the layer {layer!r}")
    return x


def numpy_accuracy(model, X, y) -> float:
    return float(np.mean(np.argmax(numpy_forward(model, X), axis=1) == np.asarray(y)))


def numpy_loss(logits, y) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probabilities[np.arange(len(y)), y].mean())


def small_data(data, n_train=64, n_val=40) -> dict:
    return {**data, "X_train": data["X_train"][:n_train], "y_train": data["y_train"][:n_train],
            "X_val": data["X_val"][:n_val], "y_val": data["y_val"][:n_val]}


def kinds(model) -> list:
    return [type(layer).__name__ for layer in layer_stack(model)]


# -- the graders ------------------------------------------------------------------------------
def check_architecture(cnn) -> None:
    from tinytorch import Tensor
    from tinytorch.layers import Module

    model = cnn.CNN()
    assert isinstance(model, Module), "CNN should be a tinytorch.layers.Module"
    expected = ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert kinds(model) == expected, f"expected the layers {expected}, found {kinds(model)}"
    stack = layer_stack(model)
    convolutions = [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in (stack[0], stack[3])]
    assert convolutions == [(1, 8, (3, 3), (1, 1), (1, 1)), (8, 16, (3, 3), (1, 1), (1, 1))], (
        f"expected Conv2d(1, 8, 3, padding=1) and Conv2d(8, 16, 3, padding=1), found {convolutions}"
    )
    pools = [(p.kernel_size, p.stride) for p in (stack[2], stack[5])]
    assert pools == [((2, 2), (2, 2))] * 2, f"expected MaxPool2d(2) twice, found {pools}"
    assert (stack[7].in_features, stack[7].out_features) == (256, 10), "expected Linear(16 * 4 * 4, 10)"
    layer_parameters = [p for layer in stack for p in layer.parameters()]
    parameters = model.parameters()
    assert len(parameters) == 6 and {id(p) for p in parameters} == {id(p) for p in layer_parameters}, (
        "model.parameters() should find exactly the weights and biases of the two Conv2d and the Linear"
    )
    assert cnn.count_parameters(model) == CNN_PARAMETERS == 3818
    wider = cnn.CNN(in_channels=3, image_size=32, channels=(4, 6, 8), n_classes=7)
    assert kinds(wider).count("Conv2d") == 3, "channels=(4, 6, 8) should give three conv blocks"
    assert layer_stack(wider)[-1].in_features == 8 * 4 * 4, "three blocks halve 32 three times: 8 maps of 4x4"
    assert wider(Tensor(np.zeros((2, 3, 32, 32), dtype=np.float32))).shape == (2, 7)


def check_forward_and_backward(cnn) -> None:
    from tinytorch import Tensor, manual_seed
    from tinytorch.losses import cross_entropy

    manual_seed(31)
    model = cnn.CNN(in_channels=2, image_size=8, channels=(3, 4), n_classes=5)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 2, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, 6)
    logits = model(Tensor(X))
    np.testing.assert_allclose(logits.data, numpy_forward(model, X), rtol=1e-4, atol=1e-5,
                               err_msg="CNN logits differ from a NumPy forward pass of the same weights")
    assert logits.requires_grad, "the logits carry no graph: build forward from tensor ops, not from .data"
    model.zero_grad()
    cross_entropy(logits, y).backward()
    step = 1e-4
    for index, parameter in enumerate(model.parameters()):
        assert parameter.grad is not None, f"parameter {index} got no gradient: is the forward pass recorded?"
        direction = rng.normal(size=parameter.shape)
        base = np.asarray(parameter.data, dtype=np.float64)
        above = numpy_loss(numpy_forward(model, X, {id(parameter): base + step * direction}), y)
        below = numpy_loss(numpy_forward(model, X, {id(parameter): base - step * direction}), y)
        numerical = (above - below) / (2 * step)
        exact = float(np.sum(parameter.grad * direction))
        assert exact == pytest.approx(numerical, rel=2e-3, abs=1e-5), (
            f"gradient of parameter {index} {parameter.shape}: directional derivative {exact:.6f} from "
            f"loss.backward(), {numerical:.6f} from central differences"
        )


def check_one_epoch_is_one_sgd_step(cnn, data) -> None:
    """One full-batch epoch of plain SGD without augmentation moves every weight by -lr * gradient,
    through DataLoader batches, and validates on data["X_val"]."""
    from tinytorch import Tensor, manual_seed
    from tinytorch.dataloader import DataLoader
    from tinytorch.losses import cross_entropy

    data = small_data(data)
    manual_seed(4)
    model = cnn.CNN()
    model.zero_grad()
    cross_entropy(model(Tensor(data["X_train"])), data["y_train"]).backward()
    before = [p.data.astype(np.float64) for p in model.parameters()]
    gradients = [p.grad.astype(np.float64) for p in model.parameters()]
    lr = 0.05
    served = []
    original_iter = DataLoader.__iter__

    def recording_iter(loader):
        for batch in original_iter(loader):
            served.append((len(loader.dataset), len(batch[0].data)))
            yield batch

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DataLoader, "__iter__", recording_iter)
        history = cnn.train_cnn(model, data, epochs=1, lr=lr, batch_size=len(data["X_train"]), optimizer="sgd",
                                augment=False)
    n_train = len(data["X_train"])
    assert (n_train, n_train) in served, (
        f"train_cnn should draw its training batches from a DataLoader over the {n_train} training images"
    )
    for index, (old, new, gradient) in enumerate(zip(before, model.parameters(), gradients)):
        np.testing.assert_allclose(new.data, old - lr * gradient, rtol=1e-4, atol=1e-5,
                                   err_msg=f"one full-batch epoch of SGD should move parameter {index} by -lr * gradient")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(history.get(key, [])) == 1, f"history[{key!r}] should have one entry per epoch"
    assert history["val_accuracy"][0] == pytest.approx(numpy_accuracy(model, data["X_val"], data["y_val"])), (
        "val_accuracy should be measured on data['X_val'] after the epoch"
    )


def check_deliverable(model, history, data, epochs: int) -> float:
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(history.get(key, [])) == epochs, f"history[{key!r}] should have {epochs} entries"
    test_accuracy = numpy_accuracy(model, data["X_test"], data["y_test"])
    assert test_accuracy >= REQUIRED_TEST_ACCURACY, (
        f"test accuracy {test_accuracy:.1%} on the shifted digits; the deliverable needs {REQUIRED_TEST_ACCURACY:.0%}"
    )
    assert history["val_accuracy"][-1] == pytest.approx(numpy_accuracy(model, data["X_val"], data["y_val"])), (
        "the last val_accuracy should be the trained model's accuracy on data['X_val']"
    )
    assert history["loss"][-1] < 0.3 * history["loss"][0], "the training loss should fall during training"
    return test_accuracy


def check_confusion_matrix(cnn) -> None:
    predictions = np.array([0, 1, 1, 2, 2, 2, 0, 1])
    targets = np.array([0, 1, 2, 2, 2, 0, 0, 1])
    expected = np.array([[2, 0, 1], [0, 2, 0], [0, 1, 2]])
    matrix = np.asarray(cnn.confusion_matrix(predictions, targets, n_classes=3))
    assert matrix.shape == (3, 3) and np.array_equal(matrix, expected), (
        f"confusion_matrix: rows are true classes, columns predictions; expected\n{expected}\ngot\n{matrix}"
    )


def check_test_confusion(cnn, model, data) -> np.ndarray:
    matrix = np.asarray(cnn.confusion_matrix(cnn.predict(model, data["X_test"]), data["y_test"]))
    assert matrix.shape == (10, 10) and matrix.sum() == len(data["y_test"])
    assert np.trace(matrix) / matrix.sum() == pytest.approx(numpy_accuracy(model, data["X_test"], data["y_test"])), (
        "the confusion matrix's diagonal should count the test images the model classifies correctly"
    )
    assert np.array_equal(matrix.sum(axis=1), np.bincount(data["y_test"], minlength=10)), "rows should sum to each class's count"
    return matrix


def check_filter_images(cnn, model) -> None:
    from tinytorch.spatial import Conv2d

    images = np.asarray(cnn.filter_images(model), dtype=np.float64)
    first = next(layer for layer in layer_stack(model) if isinstance(layer, Conv2d))
    weight = np.asarray(first.weight.data, dtype=np.float64)
    assert images.shape == (weight.shape[0], weight.shape[2], weight.shape[3], weight.shape[1]), (
        f"filter_images should have shape (filters, kh, kw, channels) = "
        f"{(weight.shape[0], weight.shape[2], weight.shape[3], weight.shape[1])}, got {images.shape}"
    )
    for index in range(len(weight)):
        filter_weights = weight[index].transpose(1, 2, 0)
        expected = (filter_weights - filter_weights.min()) / (filter_weights.max() - filter_weights.min())
        np.testing.assert_allclose(images[index], expected, atol=1e-6,
                                   err_msg=f"filter {index} should be its own weights rescaled to [0, 1]")


def check_filter_plot(cnn, model, path) -> None:
    assert cnn.plot_filters(model, path) == path, "plot_filters should return the path it saved to"
    assert_png_has_content(path, min_width=500, min_height=150)


def check_confusion_plot(cnn, matrix, path) -> None:
    assert cnn.plot_confusion_matrix(matrix, path) == path, "plot_confusion_matrix should return the path it saved to"
    assert_png_has_content(path, min_width=500, min_height=400)


def check_layer_table(cnn) -> None:
    """The deliverable CNN on a batch of 4, counted by hand (FLOPs: 2 per multiply-add)."""
    model = cnn.CNN()
    hand_count = [
        # output shape, parameters, FLOPs, activation bytes, im2col bytes
        ((4, 8, 16, 16), 80, 2 * 4 * 8 * 16 * 16 * 1 * 9, 4 * 4 * 8 * 16 * 16, 4 * 4 * 1 * 9 * 16 * 16),
        ((4, 8, 16, 16), 0, 0, 4 * 4 * 8 * 16 * 16, 0),
        ((4, 8, 8, 8), 0, 0, 4 * 4 * 8 * 8 * 8, 0),
        ((4, 16, 8, 8), 1168, 2 * 4 * 16 * 8 * 8 * 8 * 9, 4 * 4 * 16 * 8 * 8, 4 * 4 * 8 * 9 * 8 * 8),
        ((4, 16, 8, 8), 0, 0, 4 * 4 * 16 * 8 * 8, 0),
        ((4, 16, 4, 4), 0, 0, 4 * 4 * 16 * 4 * 4, 0),
        ((4, 256), 0, 0, 4 * 4 * 256, 0),
        ((4, 10), 2570, 2 * 4 * 256 * 10, 4 * 4 * 10, 0),
    ]
    table = cnn.layer_table(model, (4, 1, 16, 16))
    rows = [(tuple(row["output_shape"]), row["parameters"], row["flops"], row["activation_bytes"], row["im2col_bytes"])
            for row in table]
    assert len(rows) == len(hand_count), f"expected one row per layer ({len(hand_count)}), got {len(rows)}"
    fields = ("output shape", "parameters", "FLOPs", "activation bytes", "im2col bytes")
    for index, (row, expected) in enumerate(zip(rows, hand_count)):
        for field, got, want in zip(fields, row, expected):
            assert got == want, f"layer {index} ({table[index]['layer']}): {field} {got}, counted by hand {want}"
    assert [row["layer"] for row in table] == [repr(layer) for layer in layer_stack(model)]
    assert sum(row["parameters"] for row in table) == CNN_PARAMETERS


def check_conv2d_loops(cnn) -> None:
    rng = np.random.default_rng(5)
    for shape, filters, kernel, stride, padding, with_bias in [
        ((2, 3, 7, 6), 4, 3, 1, 1, True),
        ((1, 2, 8, 8), 3, 3, 2, 0, True),
        ((2, 1, 5, 5), 2, 2, 1, 0, False),
        ((1, 2, 6, 7), 3, 3, 2, 2, True),
    ]:
        images = rng.standard_normal(shape)
        weight = rng.standard_normal((filters, shape[1], kernel, kernel))
        bias = rng.standard_normal(filters) if with_bias else None
        got = np.asarray(cnn.conv2d_loops(images, weight, bias, stride, padding))
        expected = conv_reference(images, weight, bias, (stride, stride), (padding, padding))
        assert got.shape == expected.shape, f"conv2d_loops{shape}, stride {stride}, padding {padding}: shape {got.shape}, expected {expected.shape}"
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10,
                                   err_msg=f"conv2d_loops on {shape} with stride {stride}, padding {padding}, bias {with_bias}")


def check_conv_race(result, shape) -> None:
    assert tuple(result["shape"]) == tuple(shape)
    assert result["max_abs_difference"] < 1e-4, (
        f"the loops and im2col disagree by {result['max_abs_difference']:.2e}; expected < 1e-4"
    )
    assert result["loops_ms"] > 0 and result["im2col_ms"] > 0
    assert result["speedup"] == pytest.approx(result["loops_ms"] / result["im2col_ms"]), "speedup = loop time / im2col time"
    assert result["speedup"] > 5, (
        f"im2col measured only {result['speedup']:.1f}x faster than one Python iteration per output value"
    )


def check_comparison(cnn, result, data, epochs: int, path) -> None:
    from tinytorch.spatial import Conv2d

    entries = {name: result[name] for name in ("cnn", "mlp")}
    for name, entry in entries.items():
        model = entry["model"]
        counted = sum(p.data.size for p in model.parameters())
        assert entry["parameters"] == counted, f"{name}: reports {entry['parameters']} parameters, has {counted}"
        for key in ("loss", "val_accuracy"):
            assert len(entry["history"][key]) == epochs, f"{name}: history[{key!r}] should have {epochs} entries"
        recomputed = numpy_accuracy(model, data["X_test"], data["y_test"])
        assert entry["test_accuracy"] == pytest.approx(recomputed), (
            f"{name}: reports test accuracy {entry['test_accuracy']:.3f}, its predictions give {recomputed:.3f}"
        )
        assert entry["history"]["loss"][-1] < entry["history"]["loss"][0], f"{name} should learn (its loss falls)"
    assert any(isinstance(layer, Conv2d) for layer in layer_stack(entries["cnn"]["model"])), "the CNN has no Conv2d"
    mlp_kinds = kinds(entries["mlp"]["model"])
    assert mlp_kinds == ["Flatten", "Linear", "ReLU", "Linear"], f"the MLP should be Flatten-Linear-ReLU-Linear, is {mlp_kinds}"
    cnn_parameters, mlp_parameters = entries["cnn"]["parameters"], entries["mlp"]["parameters"]
    pixels, classes = int(np.prod(data["X_train"].shape[1:])), 10
    hidden = layer_stack(entries["mlp"]["model"])[1].out_features
    sizes = {width: (pixels + 1) * width + (width + 1) * classes for width in (hidden - 1, hidden, hidden + 1)}
    assert mlp_parameters == sizes[hidden] and all(
        abs(size - cnn_parameters) >= abs(mlp_parameters - cnn_parameters) for size in sizes.values()
    ), f"the MLP's {hidden} hidden units give {mlp_parameters} parameters; another width comes closer to {cnn_parameters}"
    assert abs(mlp_parameters - cnn_parameters) < 0.05 * cnn_parameters
    margin = entries["cnn"]["test_accuracy"] - entries["mlp"]["test_accuracy"]
    assert result["margin"] == pytest.approx(margin), "margin = the CNN's test accuracy - the MLP's"
    assert margin >= REQUIRED_MARGIN, (
        f"the CNN leads the same-size MLP by {margin:.1%} in test accuracy; expected at least {REQUIRED_MARGIN:.0%}"
    )
    assert_png_has_content(path, min_width=500, min_height=300)


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cnn(pytestconfig):
    return load_milestone("cnn", config=pytestconfig)


@pytest.fixture(scope="module")
def digits(cnn):
    data = cnn.load_data("shifted_digits")
    assert data["name"] == "shifted_digits"
    return data


@pytest.fixture(scope="module")
def trained(cnn, digits):
    """The deliverable run, trained once for the whole module (about 6 s)."""
    from tinytorch import manual_seed

    manual_seed(DELIVERABLE["seed"])
    model = cnn.CNN(channels=DELIVERABLE["channels"])
    history = cnn.train_cnn(model, digits, epochs=DELIVERABLE["epochs"], lr=DELIVERABLE["lr"],
                            batch_size=DELIVERABLE["batch_size"], seed=DELIVERABLE["seed"])
    return model, history


@pytest.fixture(scope="module")
def comparison(cnn, digits, tmp_path_factory):
    path = tmp_path_factory.mktemp("comparison") / "cnn_vs_mlp.png"
    return cnn.compare_cnn_and_mlp(digits, epochs=COMPARISON_EPOCHS, path=path), path


# -- Part 1: model ------------------------------------------------------------------------------
@milestone("cnn", rubric="model")
def test_cnn_stacks_the_given_conv_pool_layers(cnn):
    check_architecture(cnn)


@milestone("cnn", rubric="model")
def test_forward_matches_numpy_and_backward_matches_central_differences(cnn):
    check_forward_and_backward(cnn)


# -- Part 2: training ---------------------------------------------------------------------------
@milestone("cnn", rubric="training")
def test_one_full_batch_epoch_from_a_dataloader_is_one_sgd_step(cnn, digits):
    check_one_epoch_is_one_sgd_step(cnn, digits)


@milestone("cnn", rubric="training")
def test_shifted_digits_reach_85_percent_test_accuracy(trained, digits):
    model, history = trained
    check_deliverable(model, history, digits, epochs=DELIVERABLE["epochs"])


# -- Part 3: visualization ----------------------------------------------------------------------
@milestone("cnn", rubric="visualization")
def test_first_layer_filters_are_rescaled_and_saved_as_a_png(cnn, trained, tmp_path):
    model, _ = trained
    check_filter_images(cnn, model)
    check_filter_plot(cnn, model, tmp_path / "plots" / "filters.png")


@milestone("cnn", rubric="visualization")
def test_confusion_matrix_counts_and_plot(cnn, trained, digits, tmp_path):
    check_confusion_matrix(cnn)
    model, _ = trained
    matrix = check_test_confusion(cnn, model, digits)
    check_confusion_plot(cnn, matrix, tmp_path / "confusion.png")


# -- Part 4: systems analysis -------------------------------------------------------------------
@milestone("cnn", rubric="systems")
def test_layer_table_matches_a_hand_count(cnn):
    check_layer_table(cnn)


@milestone("cnn", rubric="systems")
def test_loop_convolution_matches_the_definition(cnn):
    check_conv2d_loops(cnn)


@milestone("cnn", rubric="systems")
def test_im2col_is_faster_than_loops_and_agrees_with_them(cnn):
    check_conv_race(cnn.compare_conv_speed(batch_size=2, rounds=5), (2, 8, 8, 8))


# -- Part 5: comparison study -------------------------------------------------------------------
@milestone("cnn", rubric="comparison")
def test_cnn_beats_a_same_size_mlp_on_held_out_digits(cnn, comparison, digits):
    result, path = comparison
    check_comparison(cnn, result, digits, COMPARISON_EPOCHS, path)
