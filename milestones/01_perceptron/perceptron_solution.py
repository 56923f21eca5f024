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
MOUNT_GOOGLE_DRIVE = False  # True keeps the plots in your Drive between Colab sessions

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
# # Milestone 1: Perceptron Classifier
#
# ## Prerequisites
# - Completed modules 01-04 (Tensor, Activations, Layers, Losses)
# - Passed the integration tests of modules 01-04 (`pytest modules/tests/integration/test_modules_01_04.py`)
#
# ## Learning Objectives
# - Apply your Tensor, Linear, activation and loss implementations to a real problem
# - See why a nonlinearity is needed: a straight line cannot separate two spirals
# - Train without autograd, by measuring each gradient with central differences, and count
#   what that costs (the motivation for module 05)
# - Compare Sigmoid and ReLU hidden layers in practice
# - Profile the memory of a forward pass and check that it grows as O(batch size)
#
# ## What You'll Build
# A two-layer perceptron (Linear -> activation -> Linear) that
# 1. trains on the two-class spiral `make_spiral_data(n_points=200, noise=0.1)` to at least
#    95% training accuracy,
# 2. draws its decision boundary,
# 3. compares Sigmoid against ReLU,
# 4. reports its memory scaling and the cost of finite-difference gradients.
#
# Every `raise NotImplementedError("TODO: ...")` below is yours to replace. Cells that run
# training sit under `if __name__ == "__main__":`, so they run here in the notebook but not
# when the validation tests import this file.

# %%
import time
import tracemalloc
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from tinytorch import Tensor, manual_seed
from tinytorch.activations import ReLU, Sigmoid
from tinytorch.datasets import make_spiral_data
from tinytorch.layers import Linear
from tinytorch.losses import cross_entropy

OUTPUT_DIR = Path("milestone_outputs")
"""Where the notebook saves its plots (the validation tests pass their own paths)."""

# %% [markdown]
# ## The data
# Two interleaved spiral arms, 200 points each. Look at them before you model them: no straight
# line separates the classes, so a model without a nonlinearity cannot exceed roughly 65%.

# %%
if __name__ == "__main__":
    X_train, y_train = make_spiral_data(n_points=200, noise=0.1)
    print(f"X: {X_train.shape} {X_train.dtype}, y: {y_train.shape}, classes {np.bincount(y_train)}")

# %% [markdown]
# ## Part 1: Build the Perceptron Model
# Use YOUR implementations: `Linear` from module 03 and `ReLU`/`Sigmoid` from module 02. Name
# the pieces `fc1`, `activation` and `fc2` (the tests look at them).

# %%
ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid}


class Perceptron:
    """Linear -> activation -> Linear: class logits for points.

    ``fc1`` maps each point to ``hidden_dim`` features, the activation bends them, ``fc2``
    reads one score (logit) per class off the bent features. Without the activation the two
    layers would multiply out into a single linear map, and a line cannot separate a spiral.
    """

    def __init__(self, input_dim=2, hidden_dim=10, output_dim=2, activation="relu"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r}: expected one of {', '.join(ACTIVATIONS)}")
        self.activation_name = activation
        # Create self.fc1 = Linear(input -> hidden), self.activation = an instance of
        # ACTIVATIONS[activation], and self.fc2 = Linear(hidden -> output).
        # BEGIN SOLUTION: Part 1, Perceptron.__init__ - create self.fc1, self.activation and self.fc2
        self.fc1 = Linear(input_dim, hidden_dim)
        self.activation = ACTIVATIONS[activation]()
        self.fc2 = Linear(hidden_dim, output_dim)
        # END SOLUTION

    def forward(self, x):
        """Logits of shape (N, output_dim) for points of shape (N, input_dim)."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        # BEGIN SOLUTION: Part 1, Perceptron.forward - return fc2(activation(fc1(x)))
        hidden = self.activation(self.fc1(x))
        return self.fc2(hidden)
        # END SOLUTION

    def __call__(self, x):
        return self.forward(x)

    def parameters(self):
        """Every learnable tensor, in a fixed order: fc1's weight and bias, then fc2's."""
        # BEGIN SOLUTION: Part 1, Perceptron.parameters - list fc1's and fc2's parameters
        return [*self.fc1.parameters(), *self.fc2.parameters()]
        # END SOLUTION


def count_parameters(model) -> int:
    """How many numbers the model learns (52 for a 2-10-2 perceptron)."""
    return sum(parameter.size for parameter in model.parameters())


def predict(model, X) -> np.ndarray:
    """The predicted class of every row of ``X``: the index of its largest logit."""
    return np.argmax(model(X).data, axis=1)


def accuracy(model, X, y) -> float:
    """Fraction of points classified correctly."""
    return float(np.mean(predict(model, X) == np.asarray(y)))


def compute_loss(model, X, y) -> float:
    """Mean cross-entropy of the model on (X, y), as a Python float: one forward pass."""
    return cross_entropy(model(X), np.asarray(y)).item()


# %% [markdown]
# ### Test your perceptron

# %%
if __name__ == "__main__":
    manual_seed(0)
    model = Perceptron(input_dim=2, hidden_dim=10, output_dim=2)
    output = model.forward(Tensor(np.random.default_rng(0).standard_normal((32, 2))))
    assert output.shape == (32, 2), f"Expected shape (32, 2), got {output.shape}"
    assert count_parameters(model) == 52, f"a 2-10-2 perceptron has 52 parameters, got {count_parameters(model)}"
    print("Perceptron forward pass works:", output.shape, "with", count_parameters(model), "parameters")

# %% [markdown]
# ## Part 2: Training Loop (without autograd)
# Modules 01-04 give you a forward pass and a loss but no gradients yet; those come with
# module 05. So measure them. For each single number `w` among the parameters,
#
#     dL/dw  ~  (L(w + h) - L(w - h)) / (2 h)
#
# (a *central difference*: its error shrinks as h^2, a one-sided difference's only as h).
# Each number costs two forward passes; a step costs 2 x (number of parameters) of them.
#
# Then gradient descent: `w <- w - lr * dL/dw` for every parameter, over the whole training set
# at once (full batch), and record the loss and accuracy after each step.

# %%
FINITE_DIFFERENCE_STEP = 1e-3
"""h for central differences. Float32 keeps about 7 significant digits: with h much smaller the
difference L(w + h) - L(w - h) drowns in rounding; with h much larger it measures a secant."""


def numerical_gradients(model, X, y, step=FINITE_DIFFERENCE_STEP) -> list:
    """dL/dp for every parameter p of ``model`` (same order and shapes), by central differences.

    L is ``compute_loss(model, X, y)``. Nudge one entry of one parameter at a time, in place
    (``parameter.data``), measure the loss on both sides, and put the entry back exactly.
    """
    # BEGIN SOLUTION: Part 2, numerical_gradients - central differences over every parameter entry
    gradients = []
    for parameter in model.parameters():
        entries = parameter.data.reshape(-1)  # a view: writing an entry changes the parameter
        gradient = np.zeros(entries.size, dtype=np.float64)
        for index in range(entries.size):
            original = entries[index]
            entries[index] = original + step
            loss_above = compute_loss(model, X, y)
            entries[index] = original - step
            loss_below = compute_loss(model, X, y)
            entries[index] = original
            gradient[index] = (loss_above - loss_below) / (2 * step)
        gradients.append(gradient.reshape(parameter.shape).astype(parameter.dtype))
    return gradients
    # END SOLUTION


def train_perceptron(model, X_train, y_train, epochs=200, lr=2.0):
    """Full-batch gradient descent with numerical gradients.

    Returns ``{"loss": [...], "accuracy": [...]}``: the training loss and accuracy measured
    after each epoch's update, one entry per epoch.
    """
    history = {"loss": [], "accuracy": []}
    for epoch in range(epochs):
        # BEGIN SOLUTION: Part 2, train_perceptron - one gradient-descent step, then record loss and accuracy
        gradients = numerical_gradients(model, X_train, y_train)
        for parameter, gradient in zip(model.parameters(), gradients):
            parameter.data -= lr * gradient
        history["loss"].append(compute_loss(model, X_train, y_train))
        history["accuracy"].append(accuracy(model, X_train, y_train))
        # END SOLUTION
    return history


# %% [markdown]
# ### Train to the deliverable
# A 2-16-2 ReLU perceptron, 200 epochs at lr = 2.0, seed 0: this is the run the validation tests
# repeat. It needs at least 95% training accuracy. (Each epoch is 164 forward passes; the whole
# run takes a few seconds.)

# %%
DELIVERABLE = {"hidden_dim": 16, "epochs": 200, "lr": 2.0, "seed": 0}
"""The settings the deliverable (and its validation test) uses."""

if __name__ == "__main__":
    manual_seed(DELIVERABLE["seed"])
    model = Perceptron(hidden_dim=DELIVERABLE["hidden_dim"], activation="relu")
    started = time.perf_counter()
    history = train_perceptron(model, X_train, y_train, epochs=DELIVERABLE["epochs"], lr=DELIVERABLE["lr"])
    seconds = time.perf_counter() - started
    for epoch in (0, 49, 99, 149, 199):
        print(f"epoch {epoch + 1:3d}: loss {history['loss'][epoch]:.4f}, accuracy {history['accuracy'][epoch]:.3f}")
    print(f"training accuracy {accuracy(model, X_train, y_train):.1%} in {seconds:.1f} s")

# %% [markdown]
# ## Part 3: Visualization
# Colour every point of a fine grid over the data by the class the model predicts there; the
# border between the colours is the decision boundary. Overlay the training points.

# %%
def plot_decision_boundary(model, X, y, title="Decision Boundary", path="decision_boundary.png", resolution=200):
    """Draw the model's predicted class over a grid around ``X``, with the points; save a PNG.

    Returns the path of the PNG.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Build grid_x, grid_y (each resolution x resolution, from np.meshgrid) spanning the data
    # plus a margin, and classes: the predicted class at every grid point, same shape.
    # BEGIN SOLUTION: Part 3, plot_decision_boundary - predict the class over a grid around the data
    margin = 0.25
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    grid_x, grid_y = np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))
    grid_points = np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype(np.float32)
    classes = predict(model, grid_points).reshape(grid_x.shape)
    # END SOLUTION
    n_classes = int(max(np.max(y), np.max(classes))) + 1
    figure = Figure(figsize=(6, 5), dpi=100)
    axes = figure.add_subplot()
    axes.contourf(grid_x, grid_y, classes, levels=np.arange(n_classes + 1) - 0.5, cmap="coolwarm", alpha=0.35)
    axes.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", vmin=0, vmax=n_classes - 1, s=14, edgecolors="black", linewidths=0.3)
    axes.set_title(f"{title} (accuracy {accuracy(model, X, y):.1%})")
    axes.set_xlabel("x1")
    axes.set_ylabel("x2")
    figure.tight_layout()
    figure.savefig(path)
    return path


# %%
def show(path):
    """Display a saved PNG in a notebook (and do nothing in a plain Python run)."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        return
    if get_ipython() is not None:
        display(Image(filename=str(path)))


if __name__ == "__main__":
    show(plot_decision_boundary(model, X_train, y_train, title="ReLU perceptron", path=OUTPUT_DIR / "decision_boundary.png"))

# %% [markdown]
# ## Part 4: Systems Analysis
# Two questions a systems engineer asks about any training loop.
#
# **Memory.** How does the peak memory of a forward pass grow with the batch size? Every layer
# keeps an activation of shape (batch, features), so the answer should be a straight line:
# O(n). Measure the peak with `tracemalloc` (NumPy reports its allocations to it) and fit a line.
#
# **Compute.** How many forward passes does one finite-difference step take? Count them as the
# hidden layer grows. Expect exactly 2 per parameter: O(parameters) forward passes per step,
# where backpropagation (module 05) needs one forward and one backward pass whatever the size.

# %%
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


def profile_perceptron_memory(batch_sizes=(256, 512, 1024, 2048, 4096), hidden_dim=16):
    """Peak memory of one forward pass plus loss at each batch size, with a fitted line.

    Returns ``{"batch_sizes", "peak_bytes", "bytes_per_sample" (the slope), "intercept_bytes",
    "r_squared"}``.
    """
    manual_seed(0)
    model = Perceptron(hidden_dim=hidden_dim)
    peaks = []
    for batch_size in batch_sizes:
        X, y = make_spiral_data(n_points=batch_size // 2, seed=1)
        # Measure peak_bytes of one compute_loss(model, X, y) and append it to peaks.
        # BEGIN SOLUTION: Part 4, profile_perceptron_memory - measure the peak of one forward pass and loss
        peaks.append(peak_bytes(lambda: compute_loss(model, X, y)))
        # END SOLUTION
    slope, intercept, r_squared = fit_line(batch_sizes, peaks)
    return {
        "batch_sizes": list(batch_sizes),
        "peak_bytes": peaks,
        "bytes_per_sample": slope,
        "intercept_bytes": intercept,
        "r_squared": r_squared,
    }


def count_forward_passes(model, run) -> int:
    """How many times ``run()`` calls ``model.forward``."""
    calls = 0
    original_forward = model.forward

    def counting_forward(x):
        nonlocal calls
        calls += 1
        return original_forward(x)

    model.forward = counting_forward  # an instance attribute hides the class's method
    try:
        run()
    finally:
        del model.forward
    return calls


def profile_finite_difference_cost(hidden_dims=(2, 4, 8, 16), n_points=32):
    """Parameters, forward passes and seconds of one numerical-gradient step per hidden size.

    Returns one dict per hidden size: ``{"hidden_dim", "parameters", "forward_passes",
    "seconds"}``.
    """
    X, y = make_spiral_data(n_points=n_points, seed=2)
    rows = []
    for hidden_dim in hidden_dims:
        manual_seed(0)
        model = Perceptron(hidden_dim=hidden_dim)
        # Time one numerical_gradients(model, X, y) call while counting its forward passes
        # with count_forward_passes; append the row described in the docstring.
        # BEGIN SOLUTION: Part 4, profile_finite_difference_cost - count and time one numerical-gradient step
        started = time.perf_counter()
        passes = count_forward_passes(model, lambda: numerical_gradients(model, X, y))
        seconds = time.perf_counter() - started
        rows.append({"hidden_dim": hidden_dim, "parameters": count_parameters(model),
                     "forward_passes": passes, "seconds": seconds})
        # END SOLUTION
    return rows


# %%
if __name__ == "__main__":
    memory = profile_perceptron_memory()
    for batch_size, peak in zip(memory["batch_sizes"], memory["peak_bytes"]):
        print(f"batch {batch_size:5d}: peak {peak / 1024:8.1f} KiB")
    print(f"fit: {memory['bytes_per_sample']:.0f} bytes per sample, R^2 = {memory['r_squared']:.4f} -> O(n)")

    cost = profile_finite_difference_cost()
    for row in cost:
        print(f"hidden {row['hidden_dim']:3d}: {row['parameters']:4d} parameters -> "
              f"{row['forward_passes']:4d} forward passes, {row['seconds'] * 1000:7.1f} ms per step")
    passes_per_parameter, _, _ = fit_line([r["parameters"] for r in cost], [r["forward_passes"] for r in cost])
    print(f"{passes_per_parameter:.1f} forward passes per parameter per step: O(parameters)")

# %% [markdown]
# ## Part 5: Comparison Study
# Train two perceptrons that differ only in their hidden activation, from the same initial
# weights (same seed), on the same data, with the same learning rate. Plot both learning curves
# (loss and accuracy per epoch) and report the final accuracies.

# %%
def compare_activations(X=None, y=None, epochs=200, lr=2.0, hidden_dim=16, seed=0,
                        path="activation_comparison.png"):
    """Sigmoid against ReLU: learning curves in one PNG, and the final accuracies.

    Uses the deliverable's spiral when ``X`` is not given. Returns ``{"sigmoid": history,
    "relu": history, "final_accuracy": {"sigmoid": ..., "relu": ...}, "path": Path}``.
    """
    if X is None:
        X, y = make_spiral_data(n_points=200, noise=0.1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    histories = {}
    for name in ("sigmoid", "relu"):
        manual_seed(seed)
        model = Perceptron(hidden_dim=hidden_dim, activation=name)
        # Train this model and store its history in histories[name].
        # BEGIN SOLUTION: Part 5, compare_activations - train one perceptron per activation
        histories[name] = train_perceptron(model, X, y, epochs=epochs, lr=lr)
        # END SOLUTION
    figure = Figure(figsize=(10, 4), dpi=100)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    # Plot both loss curves on loss_axes and both accuracy curves on accuracy_axes, with a
    # legend naming the activation, axis labels and titles.
    # BEGIN SOLUTION: Part 5, compare_activations - draw both learning curves
    epochs_axis = np.arange(1, epochs + 1)
    for name, colour in (("sigmoid", "tab:orange"), ("relu", "tab:blue")):
        loss_axes.plot(epochs_axis, histories[name]["loss"], color=colour, label=name)
        accuracy_axes.plot(epochs_axis, histories[name]["accuracy"], color=colour, label=name)
    loss_axes.set(title="Training loss", xlabel="epoch", ylabel="cross-entropy")
    accuracy_axes.set(title="Training accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    loss_axes.legend()
    accuracy_axes.legend()
    # END SOLUTION
    figure.tight_layout()
    figure.savefig(path)
    return {
        "sigmoid": histories["sigmoid"],
        "relu": histories["relu"],
        "final_accuracy": {name: histories[name]["accuracy"][-1] for name in histories},
        "path": path,
    }


# %%
if __name__ == "__main__":
    comparison = compare_activations(X_train, y_train, path=OUTPUT_DIR / "activation_comparison.png")
    show(comparison["path"])
    for name, final in comparison["final_accuracy"].items():
        print(f"{name:7s}: final accuracy {final:.1%}, final loss {comparison[name]['loss'][-1]:.4f}")

# %% [markdown]
# ## Milestone Deliverables
#
# Complete ALL of the following to pass this milestone:
#
# 1. Perceptron model using YOUR Tensor/Layer implementations (Part 1)
# 2. Training reaches at least 95% accuracy on the spiral dataset (Part 2)
# 3. Decision boundary visualization (Part 3)
# 4. Memory profiling results: peak memory against batch size, with the fitted slope (Part 4)
# 5. Activation function comparison, Sigmoid vs ReLU, with learning curves (Part 5)
# 6. Systems analysis: a finite-difference step costs 2 x parameters forward passes (Part 4)
#
# ## Success Criteria
# - The model trains with your implementations (gradients by central differences, no autograd)
# - The decision boundary is clearly visualized
# - Memory profiling shows the expected O(n) scaling with batch size (a line with R^2 > 0.9)
# - A clear difference between the activations is demonstrated
#
# Check your work with `pytest milestones/01_perceptron` (or `tito milestone submit perceptron`).

# %%
if __name__ == "__main__":
    print("Milestone 1 notebook ran to the end. Now run: pytest milestones/01_perceptron")
