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
# # Module 15 — Profiling lab
#
# You implement the counters, the timing statistics and the op hooks in
# `src/tinytorch/profiling.py` (the `TODO (15_profiling)` blocks). This lab then uses them on
# the course's benchmark models: where do the parameters sit, which layer does the arithmetic,
# how much memory do the activations take, and how far is each layer from the machine's speed?
# Every figure below comes from running the code on this machine; run it top to bottom after
# each task. The tests are the judge: `pytest modules/source/15_profiling`.

# %%
import os
import platform

import numpy as np

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.layers import Flatten, Linear, Sequential
from tinytorch.losses import cross_entropy
from tinytorch.optimizers import SGD
from tinytorch.profiling import measure_latency, model_latency, profile_model, profile_ops
from tinytorch.spatial import Conv2d, MaxPool2d, im2col, pad_images
from tinytorch.transformers import GPT

print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, "
      f"load average {os.getloadavg()[0]:.2f} (1 min)")

# %% [markdown]
# ## 1. The `cnn` benchmark model, layer by layer
#
# Input (32, 3, 32, 32) -> Conv2d 3->16 k3 pad1 -> ReLU -> MaxPool 2 -> Conv2d 16->32 k3 pad1
# -> ReLU -> MaxPool 2 -> flatten (2048) -> Linear 10. `profile_model` runs one forward pass
# and records each layer's shapes; the FLOPs come from those shapes (a multiply-add = 2).

# %%
tinytorch.manual_seed(0)
cnn = Sequential(Conv2d(3, 16, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(16, 32, 3, padding=1), ReLU(),
                 MaxPool2d(2), Flatten(), Linear(2048, 10))
cnn_profile = profile_model(cnn, (32, 3, 32, 32))
print(cnn_profile.table())

# %% [markdown]
# A check that does not share the formula: the convolution *is* one matrix product of the
# im2col columns (N * OH * OW rows, C_in * kh * kw columns) with the weights (C_in * kh * kw,
# C_out). Its FLOPs are 2 * rows * inner * C_out, read off the arrays themselves.

# %%
images = np.zeros((32, 3, 32, 32), dtype=np.float32)
columns = im2col(pad_images(images, (1, 1)), (3, 3), (1, 1))  # (N, C_in * kh * kw, OH * OW)
batch, inner, positions = columns.shape
product_flops = 2 * batch * positions * inner * 16                # (positions x inner) @ (inner x 16) per image
bias_flops = batch * positions * 16
print(f"im2col columns {columns.shape}: {product_flops:,} FLOPs of matrix product + {bias_flops:,} bias "
      f"additions = {product_flops + bias_flops:,}; the profile says {cnn_profile.records[0].flops:,}")
assert product_flops + bias_flops == cnn_profile.records[0].flops

# %% [markdown]
# ## 2. How far from the machine is each layer?
#
# Time each layer alone on the input it saw (median of 30 runs after 5 warm-up runs) and
# divide its FLOPs by the time: the achieved GFLOP/s. A layer far below the others is limited
# by memory traffic or Python overhead, not by arithmetic.

# %%
inputs = {}
h = Tensor(np.random.default_rng(0).standard_normal((32, 3, 32, 32)).astype(np.float32))
for index, layer in enumerate(cnn.layers):
    inputs[str(index)] = h
    h = layer(h)
print(f"{'layer':<8}{'type':<12}{'MFLOP':>10}{'median ms':>11}{'IQR ms':>9}{'GFLOP/s':>9}")
for record in cnn_profile.records:
    layer, x = cnn.layers[int(record.name)], inputs[record.name]
    timing = measure_latency(lambda: layer(x), warmup=5, repeats=30)
    rate = record.flops / timing.median / 1e9 if record.flops else 0.0
    print(f"{record.name:<8}{record.kind:<12}{record.flops / 1e6:>10.2f}{timing.median * 1e3:>11.3f}"
          f"{timing.iqr * 1e3:>9.3f}{rate:>9.2f}")
print("whole forward pass:", model_latency(cnn, (32, 3, 32, 32), warmup=5, repeats=30).describe())

# %% [markdown]
# ## 3. Parameters against activations: MLP, CNN, GPT
#
# The three benchmark models of the course. The `mlp` keeps almost all its bytes in weights;
# the `cnn` keeps more in activations than in weights (a training step stores every layer's
# output for the backward pass); the `gpt` has both.

# %%
tinytorch.manual_seed(0)
mlp = Sequential(Linear(784, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, 10))
gpt = GPT(vocab_size=256, context_length=64, dim=128, heads=4, layers=2)
tokens = np.random.default_rng(0).integers(0, 256, (16, 64))
print(f"{'model':<6}{'input':<18}{'params':>10}{'param MB':>10}{'MFLOP':>10}{'act MB':>9}{'peak MB':>9}  not counted")
for name, model, example in [("mlp", mlp, (128, 784)), ("cnn", cnn, (32, 3, 32, 32)), ("gpt", gpt, tokens)]:
    p = profile_model(model, example)
    print(f"{name:<6}{str(p.input_shape):<18}{p.total_parameters:>10,}{p.total_parameter_bytes / 1e6:>10.2f}"
          f"{p.total_flops / 1e6:>10.1f}{p.total_activation_bytes / 1e6:>9.2f}{p.peak_activation_bytes / 1e6:>9.2f}"
          f"  {', '.join(p.uncounted) or '-'}")

# %% [markdown]
# The GPT's layers, by kind: where do its FLOPs go at 64 tokens? The residual additions and
# the GELU sit in the blocks' own `forward`s, outside every layer, and `GPT.forward` reads
# its two embedding tables with the functional `embedding` instead of calling the `token` and
# `position` layers: those layers never run, so they have no record (their parameters are in
# the total). What runs outside the layers, section 4 sees.

# %%
gpt_profile = profile_model(gpt, tokens)
by_kind = {}
for record in gpt_profile.records:
    by_kind[record.kind] = by_kind.get(record.kind, 0) + (record.flops or 0)
for kind, flops in sorted(by_kind.items(), key=lambda item: -item[1]):
    print(f"{kind:<22}{flops / 1e6:>10.1f} MFLOP {flops / gpt_profile.total_flops:>7.1%}")

# %% [markdown]
# ## 4. Op by op: one training step of the `cnn` model
#
# `profile_ops` wraps the tensor op dispatch and every backward rule for the duration of the
# block. Forward time of an op is measured from the end of the previous event, so it includes
# the Python between ops; backward time is each rule's own. The block's wall time also holds
# the optimizer update and the autograd engine's own work.

# %%
x = Tensor(np.random.default_rng(1).standard_normal((32, 3, 32, 32)).astype(np.float32))
y = np.random.default_rng(2).integers(0, 10, 32)
optimizer = SGD(cnn.parameters(), lr=0.01)


def train_step():
    optimizer.zero_grad()
    loss = cross_entropy(cnn(x), y)
    loss.backward()
    optimizer.step()


for _ in range(3):
    train_step()
with profile_ops() as report:
    train_step()
print(report.table())

# %% [markdown]
# ## 5. A training step against a forward pass
#
# The usual estimate: a backward pass costs about twice the forward (a gradient for the
# input and one for the weights, each a product as large as the forward's), so a step is
# about 3x a forward. Measured, interleaving is module 19's business; here each is the median
# of 20 runs after warm-up.

# %%
step = measure_latency(train_step, warmup=3, repeats=20)
forward = model_latency(cnn, x, warmup=3, repeats=20)
print(f"training step {step.describe()}")
print(f"forward       {forward.describe()}")
print(f"step / forward = {step.median / forward.median:.2f}")
