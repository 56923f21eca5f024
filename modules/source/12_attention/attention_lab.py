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
# # Module 12 — Attention lab
#
# You implement `causal_mask`, `scaled_dot_product_attention` and `MultiHeadAttention` in
# `src/tinytorch/attention.py` (the `TODO (12_attention)` blocks). This lab checks the batched
# version against a loop over heads and queries, measures what batching the heads buys, how
# attention's cost grows with the sequence length, and shows what goes wrong when the causal
# mask is applied the wrong way. The tests are the judge: `pytest modules/source/12_attention`.

# %%
import os
import platform
import statistics
import time

import numpy as np

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import softmax
from tinytorch.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention

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
# ## 1. Attention one head and one query at a time
#
# For head h and query position i: scores_j = q_i . k_j / sqrt(d) for the keys j <= i, a
# softmax over them, and the weighted sum of the values. Written with loops, it is the
# definition; the library must agree with it.

# %%
def attention_loops(x, attention):
    """Multi-head causal self-attention with a loop over batch, heads and query positions."""
    params = {name: p.data.astype(np.float64) for name, p in attention.named_parameters()}
    q = x @ params["query.weight"] + params["query.bias"]
    k = x @ params["key.weight"] + params["key.bias"]
    v = x @ params["value.weight"] + params["value.bias"]
    size = attention.head_dim
    joined = np.zeros_like(q)
    for b in range(x.shape[0]):
        for h in range(attention.heads):
            cols = slice(h * size, (h + 1) * size)
            for i in range(x.shape[1]):
                scores = k[b, :i + 1, cols] @ q[b, i, cols] / np.sqrt(size)
                weights = np.exp(scores - scores.max())
                joined[b, i, cols] = (weights / weights.sum()) @ v[b, :i + 1, cols]
    return joined @ params["out.weight"] + params["out.bias"]


tinytorch.manual_seed(0)
rng = np.random.default_rng(0)
attention = MultiHeadAttention(128, 4)
x = rng.standard_normal((2, 64, 128))
slow = attention_loops(x, attention)
fast = attention(Tensor(x, dtype=np.float64)).data
print(f"loops vs library, (2, 64, 128), 4 heads: largest difference {np.abs(slow - fast).max():.1e}")

# %% [markdown]
# ## 2. What batching the heads buys
#
# The library splits the heads with one reshape and transpose and computes all of them (and
# all queries and the whole batch) in two batched matrix products. Time it against the loop
# version on the `gpt` benchmark's shape: batch 16, 64 positions, dim 128, 4 heads.

# %%
x32 = rng.standard_normal((16, 64, 128)).astype(np.float32)
medians = interleaved_medians_ms({
    "loops": lambda: attention_loops(x32, attention),
    "batched": lambda: attention(Tensor(x32)),
}, rounds=5)
print(f"(16, 64, 128), 4 heads, forward: loops {medians['loops']:.1f} ms, batched {medians['batched']:.2f} ms: "
      f"{medians['loops'] / medians['batched']:.0f}x faster")

# %% [markdown]
# ## 3. Attention is quadratic in the sequence length
#
# The scores are (B, heads, T, T): their memory and the two matrix products grow as T^2,
# while the projections grow as T. FLOPs of one head's attention: 2 T^2 d for q @ k^T and
# 2 T^2 d for weights @ v; of the four projections: 4 * 2 T dim^2.

# %%
print(f"{'T':>6}{'scores MB':>11}{'attention MFLOP':>17}{'projections MFLOP':>19}{'forward ms':>12}")
for length in (64, 128, 256, 512):
    x_t = Tensor(rng.standard_normal((1, length, 128)).astype(np.float32))
    scores_mb = 4 * length * length * 4 / 1e6
    attention_flops = 4 * 4 * length * length * 32
    projection_flops = 4 * 2 * length * 128 * 128
    ms = interleaved_medians_ms({"forward": lambda: attention(x_t)}, rounds=10)["forward"]
    print(f"{length:>6}{scores_mb:>11.2f}{attention_flops / 1e6:>17.1f}{projection_flops / 1e6:>19.1f}{ms:>12.2f}")

# %% [markdown]
# ## 4. The causal mask, right and wrong
#
# Right: blocked scores become -inf *before* the softmax, so their weights are exactly 0 and
# the allowed weights still sum to 1. Two common mistakes: multiplying the *scores* by the
# 0/1 mask (a blocked score becomes 0, and exp(0) = 1 is still a weight: the future leaks
# in), and zeroing the weights *after* the softmax without renormalising (rows no longer sum
# to 1). Change the last token and look at the first position's output.

# %%
q = k = v = Tensor(rng.standard_normal((6, 8)))
mask = causal_mask(6)


def multiplied_mask(q, k, v):
    scores = (q @ k.transpose(-2, -1)) * (1 / np.sqrt(8)) * Tensor(mask.astype(np.float32))
    return softmax(scores, dim=-1) @ v


for name, attend in [("-inf before softmax", lambda q, k, v: scaled_dot_product_attention(q, k, v, mask)[0]),
                     ("scores times mask", multiplied_mask)]:
    base = rng.standard_normal((6, 8)).astype(np.float32)
    changed = base.copy()
    changed[5] += 1.0
    first = attend(Tensor(base), Tensor(base), Tensor(base)).data[0]
    first_changed = attend(Tensor(changed), Tensor(changed), Tensor(changed)).data[0]
    print(f"{name:<22} position 0 moves by {np.abs(first - first_changed).max():.2e} when token 5 changes")
_, weights = scaled_dot_product_attention(q, k, v, mask)
print("row sums:", np.round(weights.data.sum(axis=-1), 6), " largest weight above the diagonal:",
      weights.data[np.triu_indices(6, 1)].max())
