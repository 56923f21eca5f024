# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %%
# Colab setup: on Google Colab this installs TinyTorch and reports the runtime; elsewhere it
# does nothing. Set TINYTORCH_REPO to your own fork to run your own implementation on Colab.
TINYTORCH_REPO = "https://github.com/tinytorch/tinytorch"  # the course's repository
MOUNT_GOOGLE_DRIVE = False  # True keeps the plots (and MNIST's cache) in your Drive

import shutil
import subprocess
import sys

try:
    import google.colab  # noqa: F401  (importable only on Colab)

    IN_COLAB = True
except ImportError:
    IN_COLAB = False

if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", f"git+{TINYTORCH_REPO}"], check=True)
    if MOUNT_GOOGLE_DRIVE:
        from google.colab import drive

        drive.mount("/content/drive")
    if shutil.which("nvidia-smi"):
        print(subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip())
    else:
        print("No GPU in this runtime: TinyTorch runs on the CPU with NumPy, which is all it needs.")

# %% [markdown]
# # Milestone 2: Multi-Layer Perceptron on Handwritten Digits
#
# ## Prerequisites
# - Completed modules 05-07 (Autograd, Optimizers, Training) on top of modules 01-04
# - Passed the integration tests of modules 05-07 (`pytest modules/tests/integration/test_modules_05_07.py`)
# - Milestone 1 (you will race your backpropagation against its finite differences)
#
# ## Learning Objectives
# - Train a real classifier end to end with YOUR autograd, optimizers and `Trainer`
# - Read learning curves (training against validation) and a confusion matrix
# - Measure why backpropagation made deep learning possible: its speedup over finite
#   differences on the same network, and what it costs in activation memory
# - Compare optimizers (SGD against Adam) on the same model and data
#
# ## What You'll Build
# An MLP (64 -> 128 -> 64 -> 10 with ReLU) that
# 1. reaches at least 95% test accuracy on the bundled 8x8 digits (`load_digits`; MNIST
#    instead when it is already downloaded, where the target is 97%),
# 2. plots its learning curves and confusion matrix,
# 3. reports the backpropagation speedup, activation memory against batch size and its
#    parameter count,
# 4. compares SGD against Adam.
#
# This milestone gives you the structure; the training is yours. Replace every
# `raise NotImplementedError("TODO: ...")`. Cells that train sit under
# `if __name__ == "__main__":`: they run in the notebook, not when the tests import this file.

# %%
import time
import tracemalloc
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from tinytorch import Tensor, manual_seed
from tinytorch.activations import ReLU, Sigmoid, Tanh
from tinytorch.autograd import no_grad
from tinytorch.datasets import default_cache_dir, load_digits, load_mnist, make_spiral_data
from tinytorch.datasets.mnist import MNIST_FILES
from tinytorch.layers import Linear, Module, Sequential
from tinytorch.losses import CrossEntropyLoss, cross_entropy
from tinytorch.optimizers import SGD, Adam, CosineAnnealingLR
from tinytorch.training import Trainer

OUTPUT_DIR = Path("milestone_outputs")
"""Where the notebook saves its plots (the validation tests pass their own paths)."""

# %% [markdown]
# ## The data
# The bundled digits: 1,437 training and 360 test images of 8x8 pixels, offline. A fifth of the
# training images is held out for validation (the learning curves), and the test images are
# touched once, at the end. Features are standardized with the training statistics only, so
# no information leaks from validation or test data into training.
#
# If MNIST is already in TinyTorch's data cache (`tinytorch.datasets.load_mnist()` downloads
# it once, about 11 MB), `load_data()` uses it instead: 60,000 images of 28x28.

# %%
def mnist_is_cached() -> bool:
    """True when all four MNIST files are in the cache, so loading needs no network."""
    directory = default_cache_dir() / "mnist"
    return all((directory / remote.name).is_file() for files in MNIST_FILES.values() for remote in files)


def standardize(train, *others):
    """Scale every feature to mean 0, spread 1 using the training statistics only."""
    mean = train.mean(axis=0)
    spread = train.std(axis=0) + 0.1  # + 0.1: border pixels that are always blank stay finite
    return [((data - mean) / spread).astype(np.float32) for data in (train, *others)]


def load_data(prefer_mnist=True, validation_fraction=0.2, seed=0) -> dict:
    """Train/validation/test arrays: MNIST when cached (and preferred), else the bundled digits.

    Returns ``{"name", "X_train", "y_train", "X_val", "y_val", "X_test", "y_test"}``.
    """
    if prefer_mnist and mnist_is_cached():
        name, (X, y), (X_test, y_test) = "mnist", load_mnist("train"), load_mnist("test")
    else:
        name, (X, y), (X_test, y_test) = "digits", load_digits("train"), load_digits("test")
    order = np.random.default_rng(seed).permutation(len(X))
    n_val = int(round(len(X) * validation_fraction))
    val, train = order[:n_val], order[n_val:]
    X_train, X_val, X_test = standardize(X[train], X[val], X_test)
    return {"name": name, "X_train": X_train, "y_train": y[train], "X_val": X_val, "y_val": y[val],
            "X_test": X_test, "y_test": y_test}


class Batches:
    """Mini-batches ``(Tensor x, labels y)`` of (X, y), reshuffled on every pass.

    Re-iterable, so ``Trainer.fit`` can run many epochs over it. (Module 08 builds the general
    ``DataLoader``; this is all a milestone-2 model needs.)
    """

    def __init__(self, X, y, batch_size=32, shuffle=True, seed=0):
        self.X, self.y, self.batch_size, self.shuffle = X, np.asarray(y), batch_size, shuffle
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return -(-len(self.X) // self.batch_size)

    def __iter__(self):
        order = self.rng.permutation(len(self.X)) if self.shuffle else np.arange(len(self.X))
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            yield Tensor(self.X[chosen]), self.y[chosen]


# %%
if __name__ == "__main__":
    data = load_data()
    print(f"{data['name']}: train {data['X_train'].shape}, validation {data['X_val'].shape}, "
          f"test {data['X_test'].shape}, classes {np.bincount(data['y_train'])}")

# %% [markdown]
# ## Part 1: Build the MLP
# Stack `Linear` layers with an activation between each pair (none after the last: the loss
# takes raw logits). Keep them in one `Sequential` named `self.layers`; because `MLP` is a
# `Module`, assigning it registers every weight, and `model.parameters()` finds them all.

# %%
ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


class MLP(Module):
    """Linear -> activation -> ... -> Linear: class logits from flat inputs."""

    def __init__(self, input_dim=64, hidden_dims=(128, 64), output_dim=10, activation="relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r}: expected one of {', '.join(ACTIVATIONS)}")
        self.sizes = (input_dim, *hidden_dims, output_dim)
        # Build self.layers = Sequential(Linear(sizes[0], sizes[1]), activation, Linear(...), ...,
        # Linear(sizes[-2], sizes[-1])), with a new ACTIVATIONS[activation]() between Linears.
        raise NotImplementedError("TODO: Part 1, MLP.__init__ - build self.layers as a Sequential of Linear layers and activations")

    def forward(self, x):
        """Logits of shape (N, output_dim) for inputs of shape (N, input_dim)."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        raise NotImplementedError("TODO: Part 1, MLP.forward - run x through self.layers")


def count_parameters(model) -> int:
    return sum(parameter.size for parameter in model.parameters())


def predict(model, X) -> np.ndarray:
    """Predicted classes, computed without recording a graph and with the model in eval mode."""
    was_training = model.training
    model.eval()
    with no_grad():
        logits = model(X).data
    model.train(was_training)
    return np.argmax(logits, axis=1)


def accuracy_of(model, X, y) -> float:
    return float(np.mean(predict(model, X) == np.asarray(y)))


# %%
if __name__ == "__main__":
    manual_seed(0)
    model = MLP()
    logits = model(Tensor(np.zeros((5, 64), dtype=np.float32)))
    assert logits.shape == (5, 10), f"expected logits of shape (5, 10), got {logits.shape}"
    print(model)
    print("parameters:", count_parameters(model))

# %% [markdown]
# ## Part 2: Training
# Milestone 1 measured every gradient with two forward passes per weight. Now `loss.backward()`
# gives them all at once. Train with YOUR pieces: an optimizer from module 06 (`make_optimizer`),
# a cosine learning-rate schedule, and the `Trainer` of module 07 with `CrossEntropyLoss`,
# validating after every epoch.

# %%
def make_optimizer(name, parameters, lr):
    """"sgd" (plain), "momentum" (SGD with momentum 0.9) or "adam"."""
    if name == "sgd":
        return SGD(parameters, lr=lr)
    if name == "momentum":
        return SGD(parameters, lr=lr, momentum=0.9)
    if name == "adam":
        return Adam(parameters, lr=lr)
    raise ValueError(f"optimizer {name!r}: expected 'sgd', 'momentum' or 'adam'")


def train_mlp(model, data, epochs=15, lr=1e-3, batch_size=32, optimizer="adam", seed=0):
    """Train ``model`` on data["X_train"], validating on data["X_val"] after each epoch.

    Uses ``make_optimizer(optimizer, ...)``, ``CosineAnnealingLR`` over ``epochs`` and a
    ``Trainer`` with ``CrossEntropyLoss`` on ``Batches(..., batch_size, seed=seed)``. Returns
    the Trainer's history: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` per epoch.
    """
    train_batches = Batches(data["X_train"], data["y_train"], batch_size, seed=seed)
    val_batches = [(Tensor(data["X_val"]), data["y_val"])]
    raise NotImplementedError("TODO: Part 2, train_mlp - optimizer, cosine schedule, Trainer(..., progress=False), fit")


# %% [markdown]
# ### Train to the deliverable
# MLP 64-128-64-10 (ReLU), Adam at lr = 1e-3 with a cosine schedule, 15 epochs of batches of 32,
# seed 0: the run the validation tests repeat. It needs at least 95% test accuracy (a few
# seconds on a laptop). On MNIST use `MNIST_SETTINGS` (784-256-128-10, 5 epochs): target 97%.

# %%
DELIVERABLE = {"hidden_dims": (128, 64), "epochs": 15, "lr": 1e-3, "batch_size": 32, "seed": 0}
MNIST_SETTINGS = {"hidden_dims": (256, 128), "epochs": 5, "lr": 1e-3, "batch_size": 64, "seed": 0}

if __name__ == "__main__":
    settings = MNIST_SETTINGS if data["name"] == "mnist" else DELIVERABLE
    manual_seed(settings["seed"])
    model = MLP(input_dim=data["X_train"].shape[1], hidden_dims=settings["hidden_dims"])
    started = time.perf_counter()
    history = train_mlp(model, data, epochs=settings["epochs"], lr=settings["lr"],
                        batch_size=settings["batch_size"], seed=settings["seed"])
    seconds = time.perf_counter() - started
    for epoch, (loss, val) in enumerate(zip(history["loss"], history["val_accuracy"]), start=1):
        print(f"epoch {epoch:2d}: training loss {loss:.4f}, validation accuracy {val:.3f}")
    test_accuracy = accuracy_of(model, data["X_test"], data["y_test"])
    print(f"test accuracy on {data['name']}: {test_accuracy:.1%} after {seconds:.1f} s of training")

# %% [markdown]
# ## Part 3: Visualization
# **Learning curves**: loss and accuracy per epoch, training and validation on the same axes.
# A validation curve that turns upwards while the training loss keeps falling is overfitting.
# (The Trainer averages the training measures over each epoch while the weights still change,
# so in the first epochs the training curve trails the validation curve.)
#
# **Confusion matrix**: entry (i, j) counts test images of digit i predicted as j. The
# diagonal is what the model gets right; the largest off-diagonal entries are the digits it
# confuses.

# %%
def confusion_matrix(predictions, targets, n_classes=10) -> np.ndarray:
    """Integer matrix of shape (n_classes, n_classes): row = true class, column = predicted."""
    predictions, targets = np.asarray(predictions), np.asarray(targets)
    raise NotImplementedError("TODO: Part 3, confusion_matrix - count (true, predicted) pairs")


def plot_learning_curves(history, path="learning_curves.png"):
    """Loss and accuracy per epoch, training against validation, side by side; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(10, 4), dpi=100)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    # Plot history["loss"] and history["val_loss"] on loss_axes, history["accuracy"] and
    # history["val_accuracy"] on accuracy_axes, against epochs 1..N; label, title, legend.
    raise NotImplementedError("TODO: Part 3, plot_learning_curves - draw training and validation curves")
    figure.tight_layout()
    figure.savefig(path)
    return path


def plot_confusion_matrix(matrix, path="confusion_matrix.png", title="Confusion matrix (test set)"):
    """Draw a confusion matrix with its counts written in the cells; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(6, 5.5), dpi=100)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    n_classes = len(matrix)
    for true in range(n_classes):
        for predicted in range(n_classes):
            count = matrix[true, predicted]
            if count:
                colour = "white" if count > matrix.max() / 2 else "black"
                axes.text(predicted, true, str(count), ha="center", va="center", color=colour, fontsize=8)
    axes.set(xticks=range(n_classes), yticks=range(n_classes), xlabel="predicted", ylabel="true",
             title=f"{title}: {np.trace(matrix) / matrix.sum():.1%} correct")
    figure.tight_layout()
    figure.savefig(path)
    return path


def show(path):
    """Display a saved PNG in a notebook (and do nothing in a plain Python run)."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        return
    if get_ipython() is not None:
        display(Image(filename=str(path)))


# %%
if __name__ == "__main__":
    show(plot_learning_curves(history, OUTPUT_DIR / "learning_curves.png"))
    matrix = confusion_matrix(predict(model, data["X_test"]), data["y_test"])
    show(plot_confusion_matrix(matrix, OUTPUT_DIR / "confusion_matrix.png"))
    off_diagonal = matrix - np.diag(np.diag(matrix))
    true, predicted = np.unravel_index(np.argmax(off_diagonal), matrix.shape)
    print(f"most frequent confusion: {true} taken for {predicted} ({off_diagonal[true, predicted]} times)")

# %% [markdown]
# ## Part 4: Systems Analysis
# **Backpropagation against finite differences.** On milestone 1's network (2-16-2 on the
# spiral), compute every gradient both ways: central differences (2 forward passes per
# parameter, as in milestone 1) and one `loss.backward()`. Check that they agree, then time
# both: the ratio is what reverse-mode differentiation buys, and it grows with the network.
#
# **Activation memory.** Backpropagation is fast because the forward pass keeps every
# intermediate result for the backward pass. That memory grows with the batch size: measure
# the peak of forward + backward with `tracemalloc` for several batch sizes and fit a line.
#
# **Parameter count.** Weights are the other memory: count them per layer.

# %%
def finite_difference_gradients(model, X, y, step=1e-3) -> list:
    """Milestone 1's central differences for any model: one array per parameter.

    The loss is ``cross_entropy(model(X), y)``; compute it under ``no_grad()`` (nothing
    needs a graph here). Nudge one entry at a time in place and restore it exactly.
    """
    raise NotImplementedError("TODO: Part 4, finite_difference_gradients - central differences, as in milestone 1")


def backprop_gradients(model, X, y) -> list:
    """Every parameter's gradient from one forward and one backward pass (copies of ``.grad``)."""
    raise NotImplementedError("TODO: Part 4, backprop_gradients - zero the gradients, backward once, copy .grad")


def best_time(run, repeats=3) -> float:
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by other programs)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def compare_gradient_methods(hidden_dim=16, n_points=200, repeats=3) -> dict:
    """Backprop against central differences on milestone 1's 2-hidden_dim-2 network and spiral.

    Returns ``{"parameters", "max_abs_difference", "finite_difference_seconds",
    "backprop_seconds", "speedup"}`` (speedup = finite-difference time / backprop time).
    """
    X, y = make_spiral_data(n_points=n_points, noise=0.1)
    X = Tensor(X)
    manual_seed(0)
    model = MLP(input_dim=2, hidden_dims=(hidden_dim,), output_dim=2)
    numerical = finite_difference_gradients(model, X, y)
    exact = backprop_gradients(model, X, y)
    difference = max(float(np.max(np.abs(n - e))) for n, e in zip(numerical, exact))
    finite_difference_seconds = best_time(lambda: finite_difference_gradients(model, X, y), repeats)
    backprop_seconds = best_time(lambda: backprop_gradients(model, X, y), repeats)
    return {
        "parameters": count_parameters(model),
        "max_abs_difference": difference,
        "finite_difference_seconds": finite_difference_seconds,
        "backprop_seconds": backprop_seconds,
        "speedup": finite_difference_seconds / backprop_seconds,
    }


def peak_bytes(run) -> int:
    """Peak bytes newly allocated while ``run()`` executes, measured with tracemalloc."""
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started_here:
            tracemalloc.stop()
    return peak - before


def fit_line(x, y):
    """Least-squares line through (x, y): returns (slope, intercept, r_squared)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = np.sum((y - y.mean()) ** 2)
    r_squared = 1.0 - np.sum(residual**2) / total if total > 0 else 1.0
    return float(slope), float(intercept), float(r_squared)


def profile_activation_memory(batch_sizes=(64, 128, 256, 512), hidden_dims=(128, 64)) -> dict:
    """Peak memory of one forward + backward pass of an MLP per batch size, with a fitted line.

    Returns ``{"batch_sizes", "peak_bytes", "bytes_per_sample" (slope), "intercept_bytes",
    "r_squared", "layer_output_bytes_per_sample"}``; the last is what the layers' outputs
    alone take per sample in float32, a lower bound for the slope.
    """
    manual_seed(0)
    model = MLP(hidden_dims=hidden_dims)
    rng = np.random.default_rng(0)
    peaks = []
    for batch_size in batch_sizes:
        X = Tensor(rng.standard_normal((batch_size, 64)).astype(np.float32))
        y = rng.integers(0, 10, batch_size)
        model.zero_grad()
        # Measure peak_bytes of one forward pass, loss and backward, and append it to peaks.
        raise NotImplementedError("TODO: Part 4, profile_activation_memory - measure the peak of forward, loss and backward")
    slope, intercept, r_squared = fit_line(batch_sizes, peaks)
    return {
        "batch_sizes": list(batch_sizes),
        "peak_bytes": peaks,
        "bytes_per_sample": slope,
        "intercept_bytes": intercept,
        "r_squared": r_squared,
        "layer_output_bytes_per_sample": 4 * (2 * sum(hidden_dims) + 10),  # Linear + activation outputs
    }


def parameter_table(model) -> list:
    """(name, shape, count) for every parameter, e.g. ("layers.0.weight", (64, 128), 8192)."""
    return [(name, parameter.shape, parameter.size) for name, parameter in model.named_parameters()]


# %%
if __name__ == "__main__":
    race = compare_gradient_methods()
    print(f"{race['parameters']} parameters: central differences {race['finite_difference_seconds'] * 1000:.1f} ms, "
          f"backprop {race['backprop_seconds'] * 1000:.2f} ms -> {race['speedup']:.0f}x faster "
          f"(largest disagreement {race['max_abs_difference']:.1e})")

    memory = profile_activation_memory()
    for batch_size, peak in zip(memory["batch_sizes"], memory["peak_bytes"]):
        print(f"batch {batch_size:4d}: peak {peak / 1024:8.1f} KiB")
    print(f"{memory['bytes_per_sample']:.0f} bytes per sample (layer outputs alone: "
          f"{memory['layer_output_bytes_per_sample']}), R^2 = {memory['r_squared']:.4f}")

    for name, shape, count in parameter_table(model):
        print(f"{name:18s} {str(shape):12s} {count:7d}")
    print(f"total {count_parameters(model)} parameters = {count_parameters(model) * 4 / 1024:.1f} KiB in float32 "
          f"(Adam keeps two more arrays of the same size)")

# %% [markdown]
# ## Part 5: Comparison Study
# Same model, same initial weights, same batches; only the optimizer differs. Plain SGD at
# lr = 0.1 against Adam at lr = 1e-3 (each at a rate that suits it). Which one learns faster
# per epoch? Which generalizes better in the end? Plot validation accuracy and training loss.

# %%
def compare_optimizers(data, epochs=10, settings=(("sgd", 0.1), ("adam", 1e-3)), hidden_dims=(128, 64),
                       seed=0, path="optimizer_comparison.png") -> dict:
    """Train one MLP per (optimizer, lr) from the same seed; curves in one PNG.

    Returns ``{name: history for each optimizer, "final_val_accuracy": {name: ...},
    "path": Path}``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    histories = {}
    for name, lr in settings:
        manual_seed(seed)
        model = MLP(input_dim=data["X_train"].shape[1], hidden_dims=hidden_dims)
        # Train the model with train_mlp (this optimizer and lr) and keep its history.
        raise NotImplementedError("TODO: Part 5, compare_optimizers - train one model per optimizer")
    figure = Figure(figsize=(10, 4), dpi=100)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    # Plot each optimizer's training loss on loss_axes and validation accuracy on
    # accuracy_axes (label with the optimizer and its lr), with titles, labels and legends.
    raise NotImplementedError("TODO: Part 5, compare_optimizers - draw the curves of every optimizer")
    figure.tight_layout()
    figure.savefig(path)
    result = dict(histories)
    result["final_val_accuracy"] = {name: histories[name]["val_accuracy"][-1] for name in histories}
    result["path"] = path
    return result


# %%
if __name__ == "__main__":
    comparison = compare_optimizers(data, path=OUTPUT_DIR / "optimizer_comparison.png")
    show(comparison["path"])
    for name, final in comparison["final_val_accuracy"].items():
        print(f"{name:5s}: validation accuracy after epoch 1 {comparison[name]['val_accuracy'][0]:.1%}, "
              f"final {final:.1%}")

# %% [markdown]
# ## Milestone Deliverables
#
# Complete ALL of the following to pass this milestone:
#
# 1. An MLP built from YOUR Linear layers and activations, trained with YOUR autograd (Part 1)
# 2. At least 95% test accuracy on the bundled digits with YOUR optimizer and Trainer (Part 2)
#    (on MNIST, if you trained on it: at least 97%)
# 3. Learning curves and a confusion matrix, saved as PNG (Part 3)
# 4. Systems analysis: measured backprop speedup over finite differences, activation memory
#    against batch size (fitted slope), parameter count (Part 4)
# 5. Comparison study: SGD against Adam, with curves (Part 5)
#
# ## Success Criteria
# - Test accuracy of at least 95% (digits), measured on images never used in training
# - Backprop and finite differences agree, and backprop is faster (by a factor you report)
# - Activation memory grows linearly with the batch size (a line with R^2 > 0.9)
# - Learning curves and a confusion matrix that you can read and explain
#
# Check your work with `pytest milestones/02_mlp` (or `tito milestone submit mlp`).

# %%
if __name__ == "__main__":
    print("Milestone 2 notebook ran to the end. Now run: pytest milestones/02_mlp")
