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
# # Module 07 — Training lab
#
# You implement the training loop in `src/tinytorch/training.py` (the `TODO (07_training)`
# blocks); this lab uses it on the 8x8 handwritten digits bundled with TinyTorch: train,
# watch the history, break training on purpose, and resume from a checkpoint.
# The tests are the judge: `pytest modules/source/07_training`.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import tinytorch
from tinytorch.activations import ReLU
from tinytorch.datasets import load_digits
from tinytorch.layers import Dropout, Linear, Sequential
from tinytorch.losses import CrossEntropyLoss, MSELoss
from tinytorch.optimizers import SGD, Adam, CosineAnnealingLR
from tinytorch.training import Trainer, TrainingDivergedError, clip_grad_norm

# %% [markdown]
# ## 1. Batches
#
# A `Trainer` takes any collection of `(x, y)` batches that can be iterated once per epoch:
# a list works (module 08 builds a `DataLoader` that shuffles). Here: 1,437 training images
# of 64 pixels in batches of 64, and the 360 test images for validation.

# %%
train_x, train_y = load_digits("train")
test_x, test_y = load_digits("test")


def batches(x, y, size):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(y), size)]


train_batches, test_batches = batches(train_x, train_y, 64), batches(test_x, test_y, 120)
print(len(train_batches), "training batches;", train_x.shape, train_y[:10])

# %% [markdown]
# ## 2. Fit and read the history
#
# `fit` returns the history: per epoch, the mean loss and accuracy over the training batches
# (measured while training), and `val_loss`, `val_accuracy` on the validation batches,
# measured by `evaluate` with dropout off and no graph.

# %%
def digits_model(seed=0):
    tinytorch.manual_seed(seed)
    return Sequential(Linear(64, 128), ReLU(), Dropout(0.2), Linear(128, 10))


model = digits_model()
optimizer = Adam(model.parameters(), lr=3e-3)
trainer = Trainer(model, optimizer, CrossEntropyLoss(), scheduler=CosineAnnealingLR(optimizer, T_max=20))
history = trainer.fit(train_batches, epochs=20, val_batches=test_batches)
for epoch in (0, 4, 9, 19):
    print(
        f"epoch {epoch + 1:2d}: loss {history['loss'][epoch]:.3f} acc {history['accuracy'][epoch]:.3f} "
        f"| val loss {history['val_loss'][epoch]:.3f} val acc {history['val_accuracy'][epoch]:.3f}"
    )

# %%
figure, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
left.plot(history["loss"], label="train")
left.plot(history["val_loss"], label="validation")
left.set_title("loss")
right.plot(history["accuracy"], label="train")
right.plot(history["val_accuracy"], label="validation")
right.set_title("accuracy")
left.legend()

# %% [markdown]
# **Look closely.** In the first epochs the training accuracy is *below* the validation
# accuracy. The training figure is averaged over an epoch in which the model was still
# improving, and with dropout on; validation is measured at the end, with dropout off.

# %% [markdown]
# ## 3. Divergence, caught
#
# A deliberately poor but simple model shows it best: linear regression of the digit's value
# on its 64 pixels, with mean squared error. Above a critical learning rate every step
# overshoots further than the last, the weights grow exponentially and the loss reaches
# `inf`. Every later step would only spread the damage, so the trainer stops at the first
# non-finite loss, before that batch updates anything, and says where.

# %%
value_batches = batches(train_x, train_y.astype(np.float32)[:, None], 64)
tinytorch.manual_seed(0)
regression = Linear(64, 1)
try:
    Trainer(regression, SGD(regression.parameters(), lr=0.5), MSELoss(), metrics={}).fit(value_batches, epochs=10)
except TrainingDivergedError as error:
    print(error)
    print("weights still finite:", bool(np.isfinite(regression.weight.data).all()))

# %% [markdown]
# Gradient clipping caps the length of each update. `clip_grad_norm` returns the norm it
# saw, worth logging: a norm that keeps growing warns of divergence before the loss does.
# Watch the norms of the unclipped run, then train at the same learning rate with clipping.

# %%
tinytorch.manual_seed(0)
regression = Linear(64, 1)
optimizer = SGD(regression.parameters(), lr=0.5)
for x, y in value_batches[:6]:
    loss = MSELoss()(regression(tinytorch.Tensor(x)), y)
    optimizer.zero_grad()
    loss.backward()
    print(f"loss {loss.item():10.3g}   gradient norm {clip_grad_norm(regression.parameters(), max_norm=1e9):10.3g}")
    optimizer.step()

tinytorch.manual_seed(0)
regression = Linear(64, 1)
clipped = Trainer(regression, SGD(regression.parameters(), lr=0.5), MSELoss(), metrics={}, clip_norm=1.0)
print("lr=0.5 with clip_norm=1.0:", [round(v, 2) for v in clipped.fit(value_batches, epochs=10)["loss"]])

# %% [markdown]
# ## 4. Checkpoints
#
# A checkpoint is one `.npz` file of named arrays: weights, optimizer state (Adam's moments
# and step counts), the schedule's position, the epoch count and the history. No pickle,
# so loading a file cannot run code. Resuming gives the very same numbers as never stopping
# (this model has dropout, so reseed before each run: the random generator is not saved).

# %%
def run(seed=0):
    model = digits_model(seed)
    optimizer = Adam(model.parameters(), lr=3e-3)
    return Trainer(model, optimizer, CrossEntropyLoss(), scheduler=CosineAnnealingLR(optimizer, T_max=6))


tinytorch.manual_seed(1)
straight = run()
tinytorch.manual_seed(1)
straight.fit(train_batches, epochs=6)

first = run()
tinytorch.manual_seed(1)
first.fit(train_batches, epochs=3)
state_of_generator = tinytorch.rng.generator().bit_generator.state
path = Path(tempfile.mkdtemp()) / "digits.npz"
first.save_checkpoint(path)
print(f"checkpoint: {path.stat().st_size / 1e3:.0f} kB, {sum(p.size for p in first.model.parameters())} weights")

resumed = run(seed=42)  # different initial weights: the checkpoint overwrites them
resumed.load_checkpoint(path)
tinytorch.rng.generator().bit_generator.state = state_of_generator
resumed.fit(train_batches, epochs=3)
same = all(np.array_equal(a.data, b.data) for a, b in zip(resumed.model.parameters(), straight.model.parameters()))
print("resumed run identical to the straight run:", same, "| history equal:", resumed.history == straight.history)
