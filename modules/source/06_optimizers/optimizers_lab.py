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

# %% [markdown]
# # Module 06 — Optimizers lab
#
# You implement the optimizers in `src/tinytorch/optimizers.py` (the `TODO (06_optimizers)`
# blocks); this lab puts them side by side on problems small enough to see what each does.
# Run it top to bottom after each task. The tests are the judge:
# `pytest modules/source/06_optimizers`.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.layers import Linear, Sequential
from tinytorch.optimizers import SGD, Adam, AdamW, CosineAnnealingLR, StepLR

# %% [markdown]
# ## 1. A ravine
#
# `f(x, y) = x² / 2 + 50 y²` is 100 times steeper across `y` than along `x`. Plain gradient
# descent must keep its learning rate small enough for the steep direction, and then crawls
# along the flat one. Momentum builds up speed along the consistent direction; Adam rescales
# each coordinate by its own gradient size.

# %%
def ravine(point: Tensor) -> Tensor:
    return (point * point * Tensor([0.5, 50.0])).sum()


def descend(make_optimizer, steps: int = 400):
    """Positions visited and the step at which f first drops below 1e-3."""
    point = Tensor([-4.0, 1.0], dtype=np.float64, requires_grad=True)
    optimizer = make_optimizer([point])
    path, solved_at = [point.data.copy()], None
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss = ravine(point)
        loss.backward()
        optimizer.step()
        path.append(point.data.copy())
        if solved_at is None and ravine(point).item() < 1e-3:
            solved_at = step
    return np.array(path), solved_at


contenders = {
    "SGD lr=0.019": lambda ps: SGD(ps, lr=0.019),
    "SGD momentum 0.9": lambda ps: SGD(ps, lr=0.01, momentum=0.9),
    "SGD Nesterov 0.9": lambda ps: SGD(ps, lr=0.01, momentum=0.9, nesterov=True),
    "Adam lr=0.3": lambda ps: Adam(ps, lr=0.3),
}
paths = {}
for name, make in contenders.items():
    paths[name], solved_at = descend(make)
    print(f"{name:18s} reaches f < 1e-3 after {solved_at} steps")

# %%
figure, axes = plt.subplots(figsize=(7, 3))
xs, ys = np.meshgrid(np.linspace(-4.5, 1, 100), np.linspace(-1.5, 1.5, 100))
axes.contour(xs, ys, 0.5 * xs**2 + 50 * ys**2, levels=20, colors="lightgrey")
for name, path in paths.items():
    axes.plot(path[:60, 0], path[:60, 1], ".-", markersize=3, label=name)
axes.legend(fontsize=7)
axes.set_title("first 60 steps on the ravine")

# %% [markdown]
# **Try it.** Raise plain SGD's learning rate to 0.021. The steep direction multiplies `y` by
# `1 - 100 lr` every step; above `lr = 2 / 100 = 0.02` that factor is below -1 and the descent
# diverges. So plain SGD is stuck with a rate at which `x` shrinks by only 2% per step, while
# momentum (a tuned `SGD(lr=0.03, momentum=0.67)` gets there in 38 steps) and Adam do not
# have to choose between the two directions.

# %% [markdown]
# ## 2. Why Adam corrects its bias
#
# The moments start at zero, so after the first step `m = (1 - b1) g` and
# `v = (1 - b2) g²`. Without correction the step would be `lr * 0.1 / sqrt(0.001) ≈ 3.16 lr`,
# whatever the gradient. Dividing by `1 - b1^t` and `1 - b2^t` makes the first step
# `lr * g / |g|`: exactly `lr` in size.

# %%
for gradient in (1e-4, 1.0, 1e4):
    weight = Tensor([0.0], dtype=np.float64, requires_grad=True)
    optimizer = Adam([weight], lr=0.01)
    weight.grad = np.array([gradient])
    optimizer.step()
    uncorrected = 0.01 * 0.1 * gradient / (np.sqrt(0.001 * gradient**2) + 1e-8)
    print(f"gradient {gradient:8.0e}: Adam moves {-weight.data[0]:.6f}, uncorrected would move {uncorrected:.6f}")

# %% [markdown]
# ## 3. Weight decay: Adam's L2 penalty versus AdamW
#
# Take a weight whose gradient from the data is zero. With `Adam(weight_decay=wd)` the decay
# becomes a gradient `wd * p`, which Adam then normalises: the weight moves by about `lr` per
# step no matter how small `wd` is. AdamW shrinks the weight by the factor `1 - lr * wd`.

# %%
for optimizer_class in (Adam, AdamW):
    weight = Tensor([1.0], dtype=np.float64, requires_grad=True)
    optimizer = optimizer_class([weight], lr=0.01, weight_decay=0.1)
    values = []
    for _ in range(5):
        weight.grad = np.zeros(1)
        optimizer.step()
        values.append(round(float(weight.data[0]), 5))
    print(f"{optimizer_class.__name__:5s}", values)

# %% [markdown]
# ## 4. Learning-rate schedules
#
# A schedule changes `optimizer.lr` once per epoch (`scheduler.step()`).

# %%
def schedule(make_scheduler, epochs: int = 30) -> list:
    optimizer = SGD([Tensor([0.0], requires_grad=True)], lr=0.1)
    scheduler = make_scheduler(optimizer)
    rates = [optimizer.lr]
    for _ in range(epochs):
        scheduler.step()
        rates.append(optimizer.lr)
    return rates


step_rates = schedule(lambda o: StepLR(o, step_size=10, gamma=0.5))
cosine_rates = schedule(lambda o: CosineAnnealingLR(o, T_max=30, eta_min=0.001))
print("StepLR  ", [round(r, 4) for r in step_rates[::5]])
print("Cosine  ", [round(r, 4) for r in cosine_rates[::5]])
figure, axes = plt.subplots(figsize=(5, 2.5))
axes.plot(step_rates, label="StepLR(10, 0.5)")
axes.plot(cosine_rates, label="CosineAnnealingLR(30)")
axes.set_xlabel("epoch")
axes.set_ylabel("lr")
axes.legend()

# %% [markdown]
# ## 5. What the state costs
#
# The `mlp` benchmark model has 235,146 parameters (0.94 MB in float32). Count the bytes of
# optimizer state after one step:

# %%
tinytorch.manual_seed(0)
model = Sequential(Linear(784, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, 10))
weight_bytes = sum(p.data.nbytes for p in model.parameters())
for name, make in {
    "SGD": lambda ps: SGD(ps, lr=0.01),
    "SGD momentum": lambda ps: SGD(ps, lr=0.01, momentum=0.9),
    "Adam": lambda ps: Adam(ps),
}.items():
    optimizer = make(model.parameters())
    for param in model.parameters():
        param.grad = np.zeros_like(param.data)
    optimizer.step()
    state_bytes = sum(v.nbytes for s in optimizer.state for v in s.values() if isinstance(v, np.ndarray))
    print(f"{name:13s} state {state_bytes / 1e6:.2f} MB = {state_bytes / weight_bytes:.0f}x the weights")

# %% [markdown]
# ## 6. Saving and resuming
#
# `state_dict()` is a flat dict of numbers and array copies; loading it into a fresh
# optimizer over the same weights continues *exactly* as the original would have.

# %%
rng = np.random.default_rng(0)
gradients = [rng.standard_normal(3).astype(np.float32) for _ in range(6)]


def run(weight, optimizer, gradient_stream):
    for gradient in gradient_stream:
        weight.grad = gradient.copy()
        optimizer.step()


weight = Tensor([1.0, 2.0, 3.0], requires_grad=True)
optimizer = Adam([weight], lr=0.1)
run(weight, optimizer, gradients[:3])
saved_weight, saved_state = weight.data.copy(), optimizer.state_dict()
print(sorted(saved_state))
run(weight, optimizer, gradients[3:])

copy = Tensor(saved_weight, requires_grad=True)
resumed = Adam([copy], lr=0.1)
resumed.load_state_dict(saved_state)
run(copy, resumed, gradients[3:])
print("identical after resuming:", np.array_equal(copy.data, weight.data))
