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
# # Module 19 — Benchmarking lab
#
# You implement the harness in `src/tinytorch/benchmarking.py` (the `TODO (19_benchmarking)`
# blocks): the environment record, interleaved timing and `compare`, the ratio of a
# comparison, `model_accuracy`, `benchmark_model`, and the JSON writers of a timing summary, a
# result and a report (the readers are given). Every cell below calls them. This lab asks how
# much a timing on a shared machine can be trusted, then compares real contenders and writes
# a complete, reproducible result record to JSON. Every figure is measured on this machine
# when you run it; a shared machine gives other figures every run, which is the point of
# section 1. The tests are the judge: `pytest modules/source/19_benchmarking`.

# %%
import json
import tempfile
from pathlib import Path

import numpy as np

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.autograd import no_grad
from tinytorch.benchmarking import BenchmarkReport, benchmark_model, compare, environment, interleaved_timings
from tinytorch.datasets.digits import load_digits
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import cross_entropy
from tinytorch.optimizers import Adam
from tinytorch.profiling import summarize

print(json.dumps(environment(), indent=1))

# %% [markdown]
# ## 1. How noisy is this machine? Time the same thing twice
#
# An A/A test: two contenders that are the *same* function. Any ratio other than 1.00 is
# noise. Timed in blocks (all of A, then all of B) a change of load between the blocks
# becomes a fake difference; interleaved (A B A B ...) both see the same load.

# %%
tinytorch.manual_seed(0)
mlp = Sequential(Linear(784, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, 10))
batch = Tensor(np.random.default_rng(0).standard_normal((128, 784)).astype(np.float32))


def forward():
    with no_grad():
        mlp(batch)


same = "A'"  # the second contender: the same function again
for trial in range(3):
    blocks = {name: interleaved_timings({name: forward}, warmup=3, rounds=40)[name] for name in ("A", same)}
    block_ratio = summarize(blocks[same]).median / summarize(blocks["A"]).median
    interleaved = compare({"A": forward, same: forward}, warmup=3, rounds=40)
    print(f"trial {trial}: A'/A in blocks {block_ratio:.3f}, interleaved {interleaved.ratio(same):.3f}"
          f"   (A: median {interleaved.summaries['A'].median * 1e3:.3f} ms, "
          f"IQR {interleaved.summaries['A'].iqr * 1e3:.3f} ms)")

# %% [markdown]
# ## 2. Real contenders: precision and batch size
#
# float64 moves twice the bytes of float32 and its BLAS kernels do half as many operations
# per instruction. And one example at a time pays the Python and dispatch overhead of a
# whole forward pass per example: compare the time *per example* at batch 1 and batch 128.

# %%
tinytorch.manual_seed(0)
mlp64 = Sequential(Linear(784, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, 10))
for layer64, layer32 in zip(mlp64.layers, mlp.layers):
    if isinstance(layer64, Linear):
        layer64.weight.data = layer32.weight.data.astype(np.float64)
        layer64.bias.data = layer32.bias.data.astype(np.float64)
batch64 = Tensor(batch.data.astype(np.float64), dtype=np.float64)
with no_grad():
    assert np.allclose(mlp64(batch64).data, mlp(batch).data, atol=1e-4)


def forward64():
    with no_grad():
        mlp64(batch64)


precision = compare({"float32": forward, "float64": forward64}, warmup=5, rounds=60)
print(precision.report("mlp forward, batch 128"))

one = Tensor(batch.data[:1])


def one_at_a_time():
    with no_grad():
        mlp(one)


sizes = compare({"batch 128": forward, "batch 1": one_at_a_time}, warmup=5, rounds=60)
per_example = {name: s.median / n for (name, s), n in zip(sizes.summaries.items(), (128, 1))}
print(sizes.report("mlp forward, one call"))
print(f"per example: batch 128 {per_example['batch 128'] * 1e6:.1f} us, batch 1 {per_example['batch 1'] * 1e6:.1f} us "
      f"({per_example['batch 1'] / per_example['batch 128']:.0f}x more per example at batch 1)")

# %% [markdown]
# ## 3. One record: what a model is worth and what it costs
#
# Train the MLP's little sibling on the bundled 8x8 digits, then measure accuracy on the held
# out images, latency of a forward pass of the test set, activation memory and size, and
# write everything to JSON with the environment. Module 16 (quantization) and 17 (compression)
# produce models to put next to this one in the same report.

# %%
x_train, y_train = load_digits("train")
x_test, y_test = load_digits("test")
tinytorch.manual_seed(0)
model = Sequential(Linear(64, 64), ReLU(), Linear(64, 10))
optimizer = Adam(model.parameters(), lr=0.01)
order = np.random.default_rng(0)
for epoch in range(20):
    permutation = order.permutation(len(x_train))
    for start in range(0, len(x_train), 64):
        rows = permutation[start:start + 64]
        optimizer.zero_grad()
        loss = cross_entropy(model(Tensor(x_train[rows])), y_train[rows])
        loss.backward()
        optimizer.step()
print(f"last training loss {loss.item():.3f}")

result = benchmark_model("digits mlp 64-64-10", model, x_test, data=(x_test, y_test), warmup=5, repeats=30)
report = BenchmarkReport([result], comparison=precision)
print(report.text())

path = report.save(Path(tempfile.mkdtemp()) / "digits_benchmark.json")
again = BenchmarkReport.load(path)
assert again.to_dict() == report.to_dict()
print(f"wrote and read back {path} ({path.stat().st_size:,} bytes)")
