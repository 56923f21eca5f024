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
# # Module 04 — Losses lab
#
# You implement the losses in `src/tinytorch/losses.py` (the `TODO (04_losses)` blocks). This
# lab checks them by hand, breaks the naive versions, and looks at a loss surface. The tests
# are the judge: `pytest modules/source/04_losses`.

# %%
import matplotlib.pyplot as plt
import numpy as np

from tinytorch import Tensor
from tinytorch.activations import sigmoid, softmax
from tinytorch.losses import BCEWithLogitsLoss, BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss

# %% [markdown]
# ## 1. Cross-entropy is "minus the log-probability of the right answer"

# %%
logits = Tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0]])
classes = [0, 2]
probabilities = softmax(logits).numpy()
by_hand = -np.log(probabilities[[0, 1], classes])
print("by hand:   ", by_hand, "mean", by_hand.mean())
print("per sample:", CrossEntropyLoss(reduction="none")(logits, classes).numpy())
print("mean:      ", CrossEntropyLoss()(logits, classes).item())
print("uniform guess over 3 classes costs log(3) =", np.log(3))

# %% [markdown]
# ## 2. Confident and wrong: where the naive formula breaks
#
# A model that is sure of the wrong class produces logits far apart. `log(softmax(x))` then
# takes `log(0)`; the log-sum-exp form stays exact.

# %%
confident = Tensor([[1000.0, -1000.0]])
with np.errstate(divide="ignore"):
    print("naive:  ", -np.log(softmax(confident).numpy()[0, 1]))
print("stable: ", CrossEntropyLoss()(confident, [1]).item())

# %% [markdown]
# The binary losses tell the same story: from probabilities, information is already lost in
# the sigmoid and the loss must be clipped; from logits it is exact.

# %%
x = Tensor([-1000.0, -20.0, 0.0, 20.0])
y = [1.0, 1.0, 1.0, 0.0]
print("BCE(sigmoid(x)):", BinaryCrossEntropyLoss("none")(sigmoid(x), y).numpy())
print("BCE with logits:", BCEWithLogitsLoss("none")(x, y).numpy())

# %% [markdown]
# ## 3. A loss surface
#
# Fit `y = w x + b` to points on the line `y = 3x - 2` and draw the mean squared error over a
# grid of `(w, b)`. The bowl has one minimum, at (3, -2): gradient descent (module 05 onwards)
# rolls down it.

# %%
inputs = np.linspace(-1, 1, 21)
targets = Tensor(3 * inputs - 2)
ws, bs = np.meshgrid(np.linspace(0, 6, 61), np.linspace(-5, 1, 61))
mse = MSELoss()
surface = np.array([[mse(Tensor(w * inputs + b), targets).item() for w, b in zip(w_row, b_row)]
                    for w_row, b_row in zip(ws, bs)])
best = np.unravel_index(surface.argmin(), surface.shape)
print(f"lowest loss {surface.min():.2e} at w = {ws[best]:.2f}, b = {bs[best]:.2f}")
figure, axes = plt.subplots(figsize=(4.5, 4))
axes.contour(ws, bs, surface, levels=30)
axes.plot([3], [-2], "r*")
axes.set_xlabel("w")
axes.set_ylabel("b")
axes.set_title("MSE over (w, b)")
plt.show()

# %% [markdown]
# ## 4. Check yourself
#
# - What is the cross-entropy of a model that always predicts the uniform distribution over
#   10 classes? (This is the loss to beat at the start of training.)
# - Why does `mse_loss` refuse predictions of shape (N, 1) with targets of shape (N,)?
# - How much memory do the logits of a batch of 64 × 512 tokens over a 32,000-word vocabulary
#   take in float32?
