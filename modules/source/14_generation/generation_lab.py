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
# # Module 14 — Generation lab
#
# You implement `LayerKVCache.append`, `pick_next_token` and the loop of `generate` in
# `src/tinytorch/generation.py` (the `TODO (14_generation)` blocks). This lab measures what
# the KV cache buys, step by step and for a whole generation, what it costs in memory, and
# what temperature and top-k do to the next-token distribution. Every figure is measured
# here; none is "simulated". The tests are the judge: `pytest modules/source/14_generation`.

# %%
import os
import platform
import statistics
import time

import numpy as np

import tinytorch
from tinytorch.autograd import no_grad
from tinytorch.generation import KVCache, generate, last_logits, pick_next_token
from tinytorch.transformers import GPT

print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, "
      f"load average {os.getloadavg()[0]:.2f} (1 min)")

tinytorch.manual_seed(0)
model = GPT(vocab_size=256, context_length=256, dim=128, heads=4, layers=2)  # the gpt benchmark model
prompt = np.random.default_rng(0).integers(0, 256, 16)

# %% [markdown]
# ## 1. One step at position T, with and without the cache
#
# Without the cache, the token at position T costs a forward pass over all T + 1 tokens.
# With it, one token's projections and MLP, and one query against T + 1 cached keys. Both
# the wall time and the process's CPU time are measured: on a machine shared with other
# busy processes, a task longer than the scheduler's time slice also waits for the others,
# so its wall time grows faster than the work; the CPU time counts the work alone.

# %%
def timed(function) -> tuple:
    """(wall ms, CPU ms) of one call."""
    start, start_cpu = time.perf_counter(), time.process_time()
    function()
    return 1000 * (time.perf_counter() - start), 1000 * (time.process_time() - start_cpu)


print(f"{'position':>9}{'no cache wall':>15}{'cache wall':>12}{'no cache CPU':>14}{'cache CPU':>11}{'CPU ratio':>11}")
tokens = np.random.default_rng(1).integers(0, 256, (1, 256))
with no_grad():
    for position in (16, 64, 128, 255):
        cache = KVCache.for_model(model, 1)
        last_logits(model, tokens[:, :position], cache)
        filled = cache.length

        def cached_step():
            for layer in cache.layers:  # rewind, so that every call appends at the same position
                layer.length = filled
            last_logits(model, tokens[:, position:position + 1], cache)

        samples = {"full": [], "cached": []}
        for _ in range(15):
            samples["full"].append(timed(lambda: last_logits(model, tokens[:, :position + 1], None)))
            samples["cached"].append(timed(cached_step))
        (full, full_cpu), (cached, cached_cpu) = (
            tuple(statistics.median(column) for column in zip(*samples[name])) for name in ("full", "cached"))
        print(f"{position:>9}{full:>15.2f}{cached:>12.2f}{full_cpu:>14.2f}{cached_cpu:>11.2f}{full_cpu / cached_cpu:>10.1f}x")

# %% [markdown]
# ## 2. A whole generation: prompt 16, 240 new tokens, greedy
#
# The `generate` benchmark workload. The tokens must be identical; the times are the median
# of three generations each, alternating.

# %%
times = {True: [], False: []}
outputs = {}
for _ in range(3):
    for use_cache in (True, False):
        def run(use_cache=use_cache):
            outputs[use_cache] = generate(model, prompt, 240, temperature=0, use_cache=use_cache)
        times[use_cache].append(timed(run))
(with_cache, with_cache_cpu), (without, without_cpu) = (
    tuple(statistics.median(column) / 1000 for column in zip(*times[use_cache])) for use_cache in (True, False))
print(f"identical tokens: {np.array_equal(outputs[True], outputs[False])}")
print(f"wall: with the cache {with_cache:.2f} s ({1000 * with_cache / 240:.2f} ms/token), recomputing the prefix "
      f"{without:.2f} s ({1000 * without / 240:.2f} ms/token): {without / with_cache:.1f}x faster")
print(f"CPU:  with the cache {with_cache_cpu:.2f} s, recomputing the prefix {without_cpu:.2f} s: "
      f"{without_cpu / with_cache_cpu:.1f}x less")

# %% [markdown]
# ## 3. What the cache costs in memory
#
# 2 (keys and values) x layers x batch x heads x capacity x head_dim x bytes. The cache is
# allocated once, for the whole context; compare the formula with the arrays' real size, for
# the benchmark model and for GPT-2 small's shape (12 layers, 12 heads of 64, 1024 positions;
# NumPy allocates the zeros lazily, so building it is free).

# %%
shapes = {"gpt benchmark model, batch 1": (2, 1, 4, 256, 32),
          "gpt benchmark model, batch 16": (2, 16, 4, 256, 32),
          "GPT-2 small shape, batch 1": (12, 1, 12, 1024, 64)}
for name, (layers, batch, heads, capacity, head_dim) in shapes.items():
    cache = KVCache(layers, batch, heads, capacity, head_dim, dtype=np.float32)
    formula = 2 * layers * batch * heads * capacity * head_dim * 4
    print(f"{name:<32} formula {formula / 1e6:>8.2f} MB, arrays {cache.nbytes / 1e6:>8.2f} MB")
print(f"benchmark model parameters: {model.parameter_count() * 4 / 1e6:.2f} MB")

# %% [markdown]
# ## 4. Temperature and top-k
#
# The same scores, sampled 100,000 times: a low temperature concentrates the draws on the
# best token, a high one spreads them; top-k cuts the tail entirely.

# %%
scores = np.array([3.0, 2.0, 1.0, 0.0, -1.0])
rng = np.random.default_rng(2)
for temperature, top_k in [(0.5, None), (1.0, None), (2.0, None), (1.0, 2)]:
    draws = pick_next_token(np.tile(scores, (100_000, 1)), temperature, top_k, rng)
    shares = np.bincount(draws, minlength=5) / len(draws)
    print(f"temperature {temperature}, top_k {top_k}: " + " ".join(f"{s:.3f}" for s in shares))
