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
# # Module 13 — Transformers lab
#
# You implement `layer_norm` (forward and backward), `LayerNorm`, `MLP`, `TransformerBlock`,
# GPT's initialisation and forward, and `next_token_loss` in `src/tinytorch/transformers.py`
# (the `TODO (13_transformers)` blocks). This lab measures what the fused layer norm buys over
# one composed of tensor ops, where a GPT's parameters, FLOPs and memory go, why the residual
# projections start small, and trains the `gpt` benchmark model for a few steps on tiny
# Shakespeare. The tests are the judge: `pytest modules/source/13_transformers`.

# %%
import os
import platform
import statistics
import time

import numpy as np

import tinytorch
from tinytorch import Tensor
from tinytorch.autograd import no_grad, topological_order
from tinytorch.datasets.shakespeare import load_shakespeare
from tinytorch.optimizers import Adam
from tinytorch.transformers import GPT, INIT_STD, LayerNorm, layer_norm, next_token_loss

print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, "
      f"load average {os.getloadavg()[0]:.2f} (1 min)")


def interleaved_medians_ms(functions: dict, rounds: int) -> dict:
    """Median milliseconds of each function, called in alternation ``rounds`` times."""
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(times) for name, times in samples.items()}


# %% [markdown]
# ## 1. One op or ten
#
# Layer norm written with tensor ops records every step (mean, subtract, square, mean, add,
# sqrt, divide, multiply, add) and the backward pass walks them all back. The fused op makes
# one node whose backward is the closed form. Same numbers; compare nodes and time for the
# `gpt` workload's activations (16, 64, 128).

# %%
def composed_layer_norm(x, weight, bias, eps=1e-5):
    centered = x - x.mean(axis=-1, keepdims=True)
    variance = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / (variance + eps).sqrt() * weight + bias


rng = np.random.default_rng(0)
x = Tensor(rng.standard_normal((16, 64, 128)).astype(np.float32), requires_grad=True)
norm = LayerNorm(128)
upstream = rng.standard_normal((16, 64, 128)).astype(np.float32)
fused_out = layer_norm(x, norm.weight, norm.bias)
composed_out = composed_layer_norm(x, norm.weight, norm.bias)
print(f"largest difference fused vs composed: {np.abs(fused_out.data - composed_out.data).max():.1e}")
print(f"graph nodes: fused {len(topological_order(fused_out))}, composed {len(topological_order(composed_out))}")


def forward_backward(function):
    def run():
        function(x, norm.weight, norm.bias).backward(upstream)
    return run


medians = interleaved_medians_ms({"fused": forward_backward(layer_norm),
                                  "composed": forward_backward(composed_layer_norm)}, rounds=20)
print(f"forward + backward on (16, 64, 128): fused {medians['fused']:.2f} ms, composed {medians['composed']:.2f} ms "
      f"({medians['composed'] / medians['fused']:.1f}x)")

# %% [markdown]
# ## 2. Where a GPT's parameters are
#
# The `gpt` benchmark model: vocabulary 256, dim 128, 4 heads, 2 blocks, 256 positions.
# Per block: attention 4 dim^2 + 4 dim, MLP 8 dim^2 + 5 dim, two layer norms 4 dim.

# %%
tinytorch.manual_seed(0)
model = GPT(vocab_size=256, context_length=256, dim=128, heads=4, layers=2)
groups = {}
for name, parameter in model.named_parameters():
    key = name.split(".")[0] if not name.startswith("blocks.") else ".".join(name.split(".")[2:3])
    groups[key] = groups.get(key, 0) + parameter.size
total = model.parameter_count()
for key, count in groups.items():
    print(f"{key:<12}{count:>9,}{100 * count / total:>7.1f}%")
print(f"{'total':<12}{total:>9,}   {total * 4 / 1e6:.2f} MB in float32; Adam keeps two more copies: "
      f"{3 * total * 4 / 1e6:.2f} MB")

# %% [markdown]
# ## 3. FLOPs and memory of one training step
#
# Every weight matrix does 2 FLOPs per token per weight in the forward pass (a multiply and
# an add), and the backward pass twice that; attention adds 4 T d per token per layer for its
# two products. The graph of one step holds every intermediate array until the backward pass
# has used it: sum them.

# %%
tokens = rng.integers(0, 256, (16, 65))
inputs, targets = tokens[:, :-1], tokens[:, 1:]
matrix_weights = sum(p.size for name, p in model.named_parameters() if p.ndim == 2 and not name.startswith(("token", "position")))
forward_flops = 2 * 16 * 64 * matrix_weights + 2 * 4 * 16 * 64 * 64 * 128  # causal: half is masked but computed
loss = next_token_loss(model(inputs), targets)
graph = topological_order(loss)
saved_bytes = sum(node.data.nbytes for node in graph if node._op is not None)
print(f"forward {forward_flops / 1e9:.2f} GFLOP, step (x3) {3 * forward_flops / 1e9:.2f} GFLOP; "
      f"graph of one step: {len(graph)} tensors, {saved_bytes / 1e6:.1f} MB of intermediate arrays")
optimizer = Adam(model.parameters(), lr=1e-3)


def training_step():
    optimizer.zero_grad()
    step_loss = next_token_loss(model(inputs), targets)
    step_loss.backward()
    optimizer.step()


step_ms = interleaved_medians_ms({"step": training_step}, rounds=10)["step"]
print(f"one training step {step_ms:.0f} ms: {3 * forward_flops / step_ms / 1e6:.1f} GFLOP/s")

# %% [markdown]
# ## 4. Why the residual projections start small
#
# Each block adds two results to the residual stream. If each addition has the variance of a
# fresh N(0, 0.02) projection, the stream's variance grows with every block; GPT-2 scales the
# two residual projections by 1/sqrt(2 * layers) so that the sum of all 2 * layers additions
# adds about one projection's worth. Measure the stream's standard deviation after each block
# of an 8-block model, with and without the scaling.

# %%
def stream_std(scaled: bool) -> list:
    tinytorch.manual_seed(1)
    deep = GPT(256, 64, 128, 4, 8)
    if not scaled:
        generator = np.random.default_rng(2)
        for name, parameter in deep.named_parameters():
            if name.endswith(("attention.out.weight", "mlp.proj.weight")):
                parameter.data[...] = generator.normal(0.0, INIT_STD, parameter.shape)
    with no_grad():
        h = deep.token(inputs) + deep.position.weight[:64]
        stds = [float(h.data.std())]
        for block in deep.blocks.layers:
            h = block(h)
            stds.append(float(h.data.std()))
    return stds


for scaled in (True, False):
    print(f"{'scaled 1/sqrt(2L)' if scaled else 'all N(0, 0.02)':<20}" + " ".join(f"{s:.4f}" for s in stream_std(scaled)))

# %% [markdown]
# ## 5. A few steps on tiny Shakespeare
#
# Characters as tokens (the ids are the bytes of the text, vocabulary 256), random windows of
# 64 characters, batch 16: the `gpt` workload with real text. At the start every character is
# about equally likely (loss ln 256 = 5.55); the model first learns which characters are
# frequent, then which follow which.

# %%
text = np.frombuffer(load_shakespeare("train").encode("utf-8"), dtype=np.uint8).astype(np.int64)
tinytorch.manual_seed(3)
model = GPT(256, 64, 128, 4, 2)
optimizer = Adam(model.parameters(), lr=3e-3)
batches = np.random.default_rng(4)
for step in range(1, 61):
    starts = batches.integers(0, len(text) - 65, 16)
    window = np.stack([text[s:s + 65] for s in starts])
    optimizer.zero_grad()
    loss = next_token_loss(model(window[:, :-1]), window[:, 1:])
    loss.backward()
    optimizer.step()
    if step in (1, 10, 20, 40, 60):
        print(f"step {step:>3}: loss {loss.item():.3f}")
