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
# # Module 01 — Tensor lab
#
# You implement the forward of every op in `src/tinytorch/tensor.py` (the `TODO (01_tensor)`
# blocks). This lab uses them: run it top to bottom after each task. The tests are the judge:
# `pytest modules/source/01_tensor`.

# %%
import time

import numpy as np

from tinytorch import Tensor, concatenate, stack

# %% [markdown]
# ## 1. A tensor is an array plus a record of its history
#
# Floating data becomes float32, the default of deep learning (half the memory of float64 and
# enough precision for training). Integer labels keep their kind.

# %%
x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
labels = Tensor([2, 0])
print(x)
print(labels)
print("bytes of data:", x.data.nbytes, "| float64 would take", x.data.astype(np.float64).nbytes)

# %% [markdown]
# ## 2. Broadcasting
#
# A `(2, 3)` tensor plus a `(3,)` row adds the row to each line; plus a `(2, 1)` column adds one
# number per line. Python numbers and NumPy arrays work on either side.

# %%
row = Tensor([10.0, 20.0, 30.0])
column = Tensor([[100.0], [200.0]])
print((x + row).numpy())
print((x + column).numpy())
print((2 - x).numpy(), (1 / x).shape, (np.ones(3) * x).shape)

# %% [markdown]
# Broadcasting a column against a row makes the full outer table: here 1000 × 1000 results
# (4 MB) from 2000 inputs (8 KB). Useful, and an easy way to blow up memory by accident.

# %%
outer = Tensor(np.ones((1000, 1))) + Tensor(np.arange(1000.0))
print(outer.shape, f"{outer.data.nbytes / 1e6:.1f} MB")

# %% [markdown]
# ## 3. Matrix multiplication: the op that does the work
#
# A batch of 4 inputs with 3 features times a `(3, 2)` weight matrix gives 4 outputs with 2
# features: the core of the Linear layer of module 03.

# %%
batch = Tensor(np.arange(12.0).reshape(4, 3))
weights = Tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
print((batch @ weights).numpy())
try:
    batch @ Tensor(np.ones((4, 2)))
except ValueError as error:
    print("error:", error)

# %% [markdown]
# ## 4. Reductions, reshaping, indexing

# %%
cube = Tensor(np.arange(24.0).reshape(2, 3, 4))
print("sum over the last axis:", cube.sum(axis=-1).shape, "| keepdims:", cube.sum(axis=-1, keepdims=True).shape)
print("mean of everything:", cube.mean().item())
print("max per row:", cube.max(axis=2).numpy())
print("permute(2, 0, 1):", cube.permute(2, 0, 1).shape, "| T:", cube.T.shape)
print("boolean mask:", cube[cube > 20].numpy())
print("joined:", concatenate([x, x], axis=1).shape, stack([x, x]).shape)

# %% [markdown]
# ## 5. Why tensors: one op on many numbers
#
# The interpreter costs about a microsecond per op, whatever its size. Spend it once per
# array, not once per number.

# %%
values = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
scalars = [Tensor(v) for v in values]
vector = Tensor(values)

start = time.perf_counter()
one_by_one = [s + s for s in scalars]
loop_seconds = time.perf_counter() - start
start = time.perf_counter()
all_at_once = vector + vector
vector_seconds = time.perf_counter() - start
print(f"1000 scalar adds: {loop_seconds * 1e3:.2f} ms | one vector add: {vector_seconds * 1e6:.1f} µs")
assert np.allclose([t.item() for t in one_by_one], all_at_once.numpy())

# %% [markdown]
# ## 6. Check yourself
#
# - Which of `x.T`, `x.reshape(-1)`, `x[::2]`, `x[[0, 1]]` share memory with `x`?
#   (`np.shares_memory(a.data, x.data)` answers it.)
# - Why does `Tensor([1, 2]) / 2` give float32 rather than NumPy's float64?
# - What shape is `Tensor(np.ones((5, 1))) - Tensor(np.ones(5))`, and why is that a trap for a loss?
