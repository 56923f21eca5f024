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
MOUNT_GOOGLE_DRIVE = False  # True keeps the plots (and CIFAR-10's cache) in your Drive

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
# # Milestone 5: Systems Capstone - Smaller, Faster, as Accurate
#
# ## Prerequisites
# - Completed modules 15-19 (Profiling, Quantization, Compression, Acceleration, Benchmarking)
# - Passed the integration tests of modules 15-19 (`pytest modules/tests/integration/test_modules_15_19.py`)
# - Milestone 2: its MLP on the digits is the model you optimize
# - Milestone 4: its GPT is the model whose KV-cache generation you time
#
# ## Learning Objectives
# - Optimize a trained model end to end: fewer neurons, int8 weights, a fused inference engine
# - Learn where speed comes from in NumPy (not from int8 arithmetic: module 16 measured int8
#   matmuls tens of times slower than float32) and where size comes from (bytes per weight,
#   weights kept)
# - Measure what module 14's KV cache buys milestone 4's GPT: the same tokens, the time per
#   token with and without it, and its memory against the formula
# - Deliver a results record whose every figure the grader measures again
# - Draw the trade-off: accuracy against size and against latency (the Pareto front)
#
# ## What You'll Build
# Milestone 2's MLP (64-128-64-10 with ReLU, 17,226 float32 parameters, 68,904 bytes) trained
# on the bundled digits is the baseline. The targets, measured by the validation tests:
#
#     >= 4x fewer bytes, >= 2x faster at batch 1 and at batch 64, <= 1 point of test accuracy lost
#
# 1. the baseline, trained by milestone 2's code (Part 1),
# 2. a smaller network: the most important hidden neurons kept (module 17), one layer less,
#    trained again (Part 2),
# 3. int8 weights with a scale per output neuron (module 16) in an `.npz` file described by an
#    architecture list, and a fused float32 engine that runs the file (Part 3),
# 4. a results record (JSON) of sizes, latencies (interleaved, module 19) and accuracies, and
#    two Pareto plots (Part 4), plus milestone 4's GPT saved and its greedy generation timed
#    with and without the KV cache (Part 4, continued),
# 5. every candidate you tried, measured and compared (Part 5).
#
# Why the MLP and not milestone 3's CNN? In NumPy, the CNN at batch 64 spends its time in
# im2col copies of the first layer's channels: a 2x speed-up there needs pruning first-layer
# filters, which cost this small CNN several points of accuracy. The MLP's time is in its
# matmuls and in TinyTorch's per-layer bookkeeping, which fewer neurons, fewer layers and a
# fused engine really remove.
#
# Replace every `raise NotImplementedError("TODO: ...")`. Cells that train sit under
# `if __name__ == "__main__":`: they run in the notebook, not when the tests import this file.
# The milestone is open: any network that the file format below describes, reached any way you
# like, is fine, as long as the grader's own measurements meet the targets.

# %%
import hashlib
import itertools
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from pytest_tinytorch.course.milestone_code import load_milestone
from tinytorch import Tensor, manual_seed
from tinytorch.activations import ReLU
from tinytorch.autograd import no_grad
from tinytorch.benchmarking import compare, environment
from tinytorch.compression import prune_neurons
from tinytorch.generation import KVCache, generate
from tinytorch.layers import Linear, Module, Sequential
from tinytorch.quantization import QuantParams, compute_qparams, dequantize, quantize, tensor_range
from tinytorch.transformers import GPT

mlp = load_milestone("mlp")
"""Milestone 2's notebook (yours in a student edition): its MLP, data and training loop."""
gpt = load_milestone("tinygpt")
"""Milestone 4's notebook (yours in a student edition): its GPT, configurations and tokenizer."""

OUTPUT_DIR = Path("milestone_outputs")
"""Where the notebook writes the submission: record.json, the .npz models, the plots."""
RECORD_FORMAT = "tinytorch-systems-capstone/1"
BATCH_SIZES = (1, 64)

# %% [markdown]
# ## Part 1: The baseline
# Milestone 2's deliverable run, unchanged: the MLP 64-128-64-10 trained 15 epochs on the
# bundled digits (offline; MNIST is not used here even when cached). Everything you optimize is
# measured against this model.

# %%
def load_digits_data():
    """Milestone 2's standardized digits: 1,150 training, 287 validation and 360 test images."""
    return mlp.load_data(prefer_mnist=False)


def train_baseline(data):
    """Milestone 2's MLP trained by milestone 2's ``train_mlp`` with its deliverable settings."""
    settings = mlp.DELIVERABLE
    manual_seed(settings["seed"])
    model = mlp.MLP(input_dim=data["X_train"].shape[1], hidden_dims=settings["hidden_dims"])
    mlp.train_mlp(model, data, epochs=settings["epochs"], lr=settings["lr"], batch_size=settings["batch_size"],
                  seed=settings["seed"])
    return model


# %%
if __name__ == "__main__":
    data = load_digits_data()
    baseline = train_baseline(data)
    print(f"baseline: {mlp.count_parameters(baseline)} parameters, "
          f"test accuracy {mlp.accuracy_of(baseline, data['X_test'], data['y_test']):.1%}")

# %% [markdown]
# ## Part 2: Fewer neurons, one layer less
# A smaller dense layer is really faster; zeros inside a dense layer are not. At batch 1 the
# time goes less to multiply-adds than to the work every layer costs (a call, a Tensor, an
# allocation), so fewer *layers* pay as much as fewer neurons. The reference keeps the 32 most
# important neurons of the first hidden layer (module 17's `prune_neurons`, by the norm of
# each neuron's weights), drops the second hidden layer, puts a new `Linear(32, 10)` on top
# and trains the result with milestone 2's `train_mlp`: 64-32-10 instead of 64-128-64-10.
# (Distillation from the baseline, module 17's `distillation_loss`, is another way to train
# it; try it and put it in your comparison.)

# %%
def compress(model, data, hidden=32, epochs=30, lr=3e-3, seed=1):
    """A 64-``hidden``-10 MLP: the ``hidden`` most important neurons of ``model``'s first hidden
    layer, a new classifier on them, trained by milestone 2's ``train_mlp``."""
    first, second = [layer for layer in model.layers.layers if isinstance(layer, Linear)][:2]
    raise NotImplementedError("TODO: Part 2, compress - keep the most important first-layer neurons (module 17), a new classifier, train")


# %% [markdown]
# ## Part 3: int8 weights, a file, and a fused engine
# **The file.** A model is an `.npz` of arrays plus an architecture: the list of its layers in
# order, each a dict:
#
#     {"kind": "linear", "weight": "<array name>", "bias": "<array name>", "dtype": "float32"}
#     {"kind": "linear", "weight": ..., "bias": ..., "dtype": "int8", "scale": "<array name>"}
#     {"kind": "relu"}
#
# A weight is (in, out), as TinyTorch's `Linear` keeps it. An int8 weight stands for
# `codes * scale`, one float32 scale per output neuron (symmetric: module 16's
# `compute_qparams(..., symmetric=True, axis=1)`); biases stay float32. The model's size is
# the sum of the bytes of its arrays.
#
# **The engine.** int8 arithmetic is slow in NumPy; int8 *storage* is not. `FusedMLP` turns the
# codes back into float32 once, when the file is loaded, then runs every layer on plain arrays:
# one matmul, the bias added and ReLU applied in place in the matmul's output, no graph, no
# Tensor between layers. TinyTorch's layers pay for a Tensor, a graph check and a Module call
# per layer; at these sizes that bookkeeping is a large part of the time.

# %%
def quantize_weight(weight):
    """int8 codes of a (in, out) weight and one float32 scale per output column (symmetric)."""
    raise NotImplementedError("TODO: Part 3, quantize_weight - symmetric int8 codes with one scale per output column")


def export_model(model, int8=True):
    """(arrays, architecture) of a stack of Linear and ReLU layers in the file format above."""
    layers = model.layers.layers if isinstance(model.layers, Sequential) else model.layers
    arrays, architecture = {}, []
    for index, layer in enumerate(layers):
        if not isinstance(layer, Linear):
            if type(layer).__name__ != "ReLU":
                raise ValueError(f"the file format stores Linear and ReLU layers; layer {index} is {layer!r}")
            architecture.append({"kind": "relu"})
            continue
        entry = {"kind": "linear", "weight": f"layer{index}.weight", "bias": f"layer{index}.bias",
                 "dtype": "int8" if int8 else "float32"}
        weight = layer.weight.data.astype(np.float32)
        if int8:
            entry["scale"] = f"layer{index}.scale"
            arrays[entry["weight"]], arrays[entry["scale"]] = quantize_weight(weight)
        else:
            arrays[entry["weight"]] = weight
        arrays[entry["bias"]] = layer.bias.data.astype(np.float32)
        architecture.append(entry)
    return arrays, architecture


def file_weight(arrays, entry):
    """A layer's float32 weight from the file: the array itself, or its codes times its scales."""
    weight = arrays[entry["weight"]]
    if entry["dtype"] == "float32":
        return weight.astype(np.float32)
    return dequantize(weight, QuantParams(arrays[entry["scale"]], 0, axis=1, symmetric=True))


class FusedMLP(Module):
    """Inference engine for a file of Linear and ReLU layers: weights dequantized once, then one
    matmul per layer with the bias and ReLU applied in place."""

    def __init__(self, arrays, architecture):
        super().__init__()
        self.steps = []
        """(weight (in, out) float32, bias float32, apply ReLU after) per Linear layer."""
        for position, entry in enumerate(architecture):
            if entry["kind"] == "linear":
                self.steps.append([file_weight(arrays, entry), arrays[entry["bias"]].astype(np.float32), False])
            elif entry["kind"] == "relu" and self.steps and not self.steps[-1][2]:
                self.steps[-1][2] = True
            else:
                raise ValueError(f"FusedMLP runs linear layers, each followed by at most one relu; "
                                 f"layer {position} is {entry}")

    def forward(self, x):
        values = x.data if isinstance(x, Tensor) else np.asarray(x, dtype=np.float32)
        raise NotImplementedError("TODO: Part 3, FusedMLP.forward - one matmul per layer, bias and ReLU in place in its output")
        return Tensor(values)


def save_model(model, path, int8=True):
    """Write ``model`` to an .npz; returns its description: file, sha256, architecture, bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays, architecture = export_model(model, int8)
    np.savez(path, **arrays)
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "architecture": architecture,
            "bytes": int(sum(array.nbytes for array in arrays.values()))}


def load_optimized(path, architecture):
    """The engine that runs the file at ``path`` (the grader times and checks this one)."""
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    return FusedMLP(arrays, architecture)


# %% [markdown]
# ## Part 4: The results record and the Pareto plots
# Measure every candidate the way the grader will: the bytes of its arrays, the test accuracy
# of its saved file run by its engine, and its latency against the baseline with module 19's
# `compare` (steps interleaved, medians) at batch 1 and at batch 64, each step on another test
# batch. Write it all into `record.json`; the grader loads your files and measures again.

# %%
def accuracy_on_test_images(model, data):
    """Test accuracy of a TinyTorch model or an engine (evaluation mode, no graph)."""
    with no_grad():
        logits = model(Tensor(data["X_test"])).data
    return float(np.mean(np.argmax(logits, axis=1) == data["y_test"]))


def batches_of_test_images(data, batch_size, count=8):
    """``count`` different batches of test images, so that no engine can answer from a cache."""
    X = data["X_test"]
    starts = np.linspace(0, len(X) - batch_size, count).astype(int)
    return [Tensor(X[start:start + batch_size]) for start in starts]


def stepper(model, batches):
    """A function that runs ``model`` on the next of ``batches`` each time it is called."""
    turns = itertools.cycle(batches)
    return lambda: model(next(turns))


def speedups(baseline, engine, data, rounds=200):
    """Module 19's interleaved comparison of the baseline (TinyTorch, evaluation mode) and
    ``engine`` at each batch size, with no graph recorded; returns {batch size: Comparison}.
    A step is one forward pass and nothing else, so the harness adds almost nothing to either."""
    baseline.eval()
    results = {}
    with no_grad():
        for batch_size in BATCH_SIZES:
            batches = batches_of_test_images(data, batch_size)
            results[batch_size] = compare({"baseline": stepper(baseline, batches),
                                           "optimized": stepper(engine, batches)}, rounds=rounds)
    return results


def pareto_front(points):
    """Names of the candidates that no other candidate beats on both cost and accuracy.

    ``points`` is a list of (name, cost, accuracy): lower cost and higher accuracy are better;
    a point is beaten when another is at least as good on both and better on one.
    """
    raise NotImplementedError("TODO: Part 4, pareto_front - keep the points that no other point dominates")


def plot_pareto(candidates, cost, label, path):
    """Accuracy against ``candidate[cost]`` for every candidate, the Pareto front joined by a
    line; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    points = [(c["name"], c[cost], c["test_accuracy"]) for c in candidates]
    front = sorted((p for p in points if p[0] in pareto_front(points)), key=lambda p: p[1])
    figure = Figure(figsize=(7, 5), dpi=100)
    axes = figure.add_subplot()
    axes.plot([p[1] for p in front], [p[2] for p in front], color="tab:red", marker="o", markersize=14,
              markerfacecolor="none", label="Pareto front")
    for index, (name, x, y) in enumerate(points):
        axes.scatter([x], [y], s=50, zorder=3)
        # labels alternate above and below: a float32 model and its int8 twin run equally fast
        axes.annotate(name, (x, y), textcoords="offset points", xytext=(8, 6 if index % 2 else -12), fontsize=8)
    if max(p[1] for p in points) > 10 * min(p[1] for p in points):
        axes.set_xscale("log")
        axes.xaxis.set_minor_formatter(NullFormatter())  # only the powers of 10 are labelled
        label += ", log scale"
    axes.set(xlabel=label, ylabel="test accuracy", title="Accuracy against " + label.split(",")[0])
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    return path


# %% [markdown]
# ## Part 4, continued: the KV cache of milestone 4's GPT
# The record also says what module 14's KV cache buys milestone 4's GPT. Greedy generation
# with the cache runs the prompt once, then feeds one token per step; without it, every step
# runs the model over the whole prefix again. Both must give the same tokens, the cache must
# be faster, and its memory is module 14's formula: 2 (keys and values) x layers x batch x
# heads x context_length x head_dim x bytes per number, allocated once for the whole context.
#
# The model is milestone 4's `build_gpt` (YOUR GPT in a student edition) for `GPT_CONFIG`:
# QUICK's two blocks with 4 heads, but a context of 256 characters and a width of 16, freshly
# initialised from its seed. Speed does not depend on the weights, and the cache saves work
# in proportion to the prefix it does not recompute: at QUICK's 32 positions there is little
# to save, so the workload is long, a 16-character prompt and 240 new tokens (the whole
# context). Why width 16: at width 32 the uncached steps' matrix products grow large enough
# for NumPy's BLAS (OpenBLAS) to split them over threads, and on a busy machine a thread that
# finished waits, spinning, for one that was descheduled: the measured speed-up then depends
# on the other processes, not on the cache. At width 16 no product of this run is split.
#
# `save_gpt` writes the weights (the arrays of `state_dict()`) to an `.npz` and describes them;
# the record holds the config, so anyone can rebuild the GPT and load them. Time the
# generation of the saved file, loaded back, with module 19's `compare`: whole generations
# interleaved, cached and uncached in turn, medians.
#
# **Timing that holds from one run to the next.** Time the process's CPU time
# (`time.process_time`, module 19's `clock` argument): the work done, without the time other
# processes held the core. And call `settle_allocator` first: a fresh process returns every
# large temporary (an uncached step makes attention scores of up to 4 x 256 x 256 numbers) to
# the kernel and gets it back as new pages, until its allocator has seen a large block freed;
# the same uncached generation then costs about twice as much as in a process that has run a
# while (the README has the measurements).

# %%
GPT_CONFIG = replace(gpt.QUICK, context_length=256, dim=16)
"""Milestone 4's QUICK GPT with a context of 256 characters (the cache's gain grows with it)
and a width of 16 (no matrix product large enough to be split over BLAS threads)."""
GENERATION_PROMPT = "ROMEO:\nBut, soft"
"""16 characters of the play; with 240 new tokens the generation fills the whole context."""
GENERATION_NEW_TOKENS = 240
GENERATION_ROUNDS = 11
"""Timed rounds of each generation (after one warm-up round): a round takes about a third of
a second of CPU on the course's machine."""
GENERATION_CLOCK = "process_time"
"""The clock of the record's generation times: ``time.process_time``, the process's CPU time."""


def settle_allocator():
    """Free a 16 MB block: glibc's malloc (Linux) then keeps freed blocks of up to that size for
    reuse. Before, a process returns each large temporary to the kernel when it is freed and
    gets it back as fresh pages, which costs the uncached generation page faults that a
    long-running process does not pay. Harmless elsewhere."""
    block = np.empty(16 << 20, dtype=np.uint8)
    del block


def gpt_config(model):
    """The arguments that rebuild ``model`` as ``GPT(**gpt_config(model))``."""
    return {"vocab_size": model.vocab_size, "context_length": model.context_length, "dim": model.dim,
            "heads": model.heads, "layers": model.num_layers}


def save_gpt(model, path):
    """Write the GPT's parameters (``state_dict()``, by dotted name) to an .npz; returns its
    description: file, sha256, config, parameter count and bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = model.state_dict()
    np.savez(path, **arrays)
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "config": gpt_config(model),
            "parameters": int(sum(array.size for array in arrays.values())),
            "bytes": int(sum(array.nbytes for array in arrays.values()))}


def load_gpt(path, config):
    """The GPT of ``config`` with the weights of the .npz at ``path``, in evaluation mode."""
    model = GPT(**config)
    with np.load(path, allow_pickle=False) as stored:
        model.load_state_dict({name: stored[name] for name in stored.files})
    return model.eval()


def kv_cache_memory(model, batch=1):
    """Bytes of a KV cache for ``model`` and ``batch`` sequences: ``"formula"`` (module 14's)
    and ``"arrays"`` (``KVCache.for_model(...).nbytes``, what is really allocated)."""
    raise NotImplementedError("TODO: Part 4, kv_cache_memory - module 14's formula, and the bytes of a cache really allocated")


def kv_cache_speedup(model, prompt_ids, new_tokens, rounds=GENERATION_ROUNDS):
    """Greedy generation of ``new_tokens`` after ``prompt_ids`` with and without the KV cache,
    timed interleaved by module 19's ``compare`` on the process's CPU time
    (``time.process_time``), one warm-up round, then ``rounds``.

    Returns ``tokens`` (the new tokens, as a list), ``identical`` (both generations gave the
    same tokens), ``ms_per_token`` ({"cached", "uncached"}: the median CPU time of a whole
    generation over the new tokens), ``speedup`` (uncached median / cached median) and
    ``timing`` (the comparison's ``to_dict()``, every sample, in seconds).
    """
    raise NotImplementedError("TODO: Part 4, kv_cache_speedup - cached and uncached greedy generation interleaved, same tokens, medians")


def generation_record(directory, rounds=GENERATION_ROUNDS):
    """Milestone 4's GPT built, saved to ``directory``/gpt.npz and loaded back; its cached and
    uncached generation measured and its cache's bytes: the record's ``"generation"`` entry."""
    tokenizer = gpt.load_corpus()["tokenizer"]
    saved = save_gpt(gpt.build_gpt(tokenizer.vocab_size, GPT_CONFIG), Path(directory) / "gpt.npz")
    model = load_gpt(Path(directory) / saved["file"], saved["config"])  # what is timed is the file
    prompt = tokenizer.encode_array(GENERATION_PROMPT)
    settle_allocator()
    speed = kv_cache_speedup(model, prompt, GENERATION_NEW_TOKENS, rounds)
    return {"model": saved, "prompt": GENERATION_PROMPT, "prompt_ids": [int(token) for token in prompt],
            "prompt_length": len(prompt), "new_tokens": GENERATION_NEW_TOKENS, "clock": GENERATION_CLOCK, **speed,
            "continuation": tokenizer.decode(speed["tokens"]), "kv_cache_bytes": kv_cache_memory(model)}


# %%
CANDIDATES = (("baseline", "float32", False), ("baseline int8", "int8", False),
              ("64-32-10", "float32", True), ("64-32-10 int8", "int8", True))
"""(name, weight dtype, compressed?) of every model the record compares; the last is submitted."""


def build_submission(data, directory=OUTPUT_DIR, baseline=None, rounds=200, generation_rounds=GENERATION_ROUNDS):
    """Train (or take) the baseline, compress it, save every candidate, measure them, draw the
    plots, measure milestone 4's GPT with and without the KV cache and write ``record.json``;
    returns the record."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    baseline = train_baseline(data) if baseline is None else baseline
    smaller = compress(baseline, data)
    candidates, engines = [], {}
    for name, dtype, compressed in CANDIDATES:
        saved = save_model(smaller if compressed else baseline, directory / f"{name.replace(' ', '_')}.npz", dtype == "int8")
        engines[name] = load_optimized(directory / saved["file"], saved["architecture"])
        candidates.append({"name": name, **saved, "test_accuracy": accuracy_on_test_images(engines[name], data)})
    raise NotImplementedError("TODO: Part 4, build_submission - time every candidate against the baseline at batch 1 and 64")
    reference, submitted = candidates[0], candidates[-1]
    for candidate in candidates:
        candidate["latency_ms_64"] = candidate["latency_ms"]["64"]
    generation = generation_record(directory, generation_rounds)
    plots = {"accuracy_vs_size": plot_pareto(candidates, "bytes", "size (bytes of arrays)", directory / "accuracy_vs_size.png"),
             "accuracy_vs_latency": plot_pareto(candidates, "latency_ms_64", "latency at batch 64 (ms)",
                                                directory / "accuracy_vs_latency.png")}
    described = ("file", "sha256", "architecture", "bytes", "test_accuracy")
    record = {
        "format": RECORD_FORMAT,
        "baseline": {key: reference[key] for key in described},
        "optimized": {key: submitted[key] for key in described},
        "claims": {"size_ratio": reference["bytes"] / submitted["bytes"], "speedup": submitted["speedup"],
                   "accuracy_drop": reference["test_accuracy"] - submitted["test_accuracy"]},
        "latency": {str(size): comparison.to_dict() for size, comparison in comparisons[submitted["name"]].items()},
        "candidates": candidates,
        "plots": {name: path.name for name, path in plots.items()},
        "generation": generation,
        "environment": environment(),
    }
    (directory / "record.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


# %%
if __name__ == "__main__":
    record = build_submission(data, OUTPUT_DIR, baseline)
    claims = record["claims"]
    print(f"size: {record['baseline']['bytes']:,} -> {record['optimized']['bytes']:,} bytes "
          f"({claims['size_ratio']:.2f}x fewer)")
    print(f"speed-up: {claims['speedup']['1']:.2f}x at batch 1, {claims['speedup']['64']:.2f}x at batch 64 "
          f"(load average {record['environment']['load_average_1min']})")
    print(f"test accuracy: {record['baseline']['test_accuracy']:.2%} -> {record['optimized']['test_accuracy']:.2%}")
    generation = record["generation"]
    print(f"KV cache: {generation['prompt_length']}-token prompt, {generation['new_tokens']} new tokens, identical "
          f"tokens {generation['identical']}: {generation['ms_per_token']['cached']:.2f} CPU ms/token with the cache, "
          f"{generation['ms_per_token']['uncached']:.2f} without, {generation['speedup']:.2f}x; cache "
          f"{generation['kv_cache_bytes']['arrays']:,} bytes (formula {generation['kv_cache_bytes']['formula']:,})")

# %% [markdown]
# ## Part 5: Comparison Study
# The record lists every candidate: the baseline, the baseline with int8 weights, the smaller
# 64-32-10 network in float32 and in int8. Which step bought size, which bought speed, which cost
# accuracy? On the plots, a candidate off the red front is beaten by another on both axes.

# %%
if __name__ == "__main__":
    for candidate in record["candidates"]:
        print(f"{candidate['name']:<15}{candidate['bytes']:>8,} bytes  accuracy {candidate['test_accuracy']:.2%}  "
              f"speed-up {candidate['speedup']['1']:.2f}x at batch 1, {candidate['speedup']['64']:.2f}x at 64")
    for cost in ("bytes", "latency_ms_64"):
        points = [(c["name"], c[cost], c["test_accuracy"]) for c in record["candidates"]]
        print(f"Pareto front by {cost}: {pareto_front(points)}")

# %% [markdown]
# ## Milestone Deliverables
#
# 1. The baseline: milestone 2's MLP trained by milestone 2's code (Part 1)
# 2. A smaller network that loses at most 1 point of test accuracy (Part 2)
# 3. The model saved in the documented format and an engine that runs it (Part 3)
# 4. `record.json` with sizes, latencies and accuracies, and the two Pareto plots (Part 4);
#    its `"generation"` entry: milestone 4's GPT file, the tokens, the time per token with and
#    without the KV cache, the speed-up and the cache's bytes (Part 4, continued)
# 5. Every candidate you tried, measured and compared (Part 5)
#
# ## Success Criteria
# Measured by the grader, never taken from your record:
# - at least 4x fewer bytes of arrays than the baseline
# - at least 2x faster than the baseline at batch 1 and at batch 64 (interleaved medians)
# - at most 1 point of test accuracy lost
# - the KV cache: the same tokens as without it, at least 3x faster on the record's workload
#   (at least 200 new tokens within one context), its bytes exactly module 14's formula
# - every figure of the record reproduced: bytes and accuracies exactly, speed-ups within noise
#
# Check your work with `pytest milestones/05_systems_capstone` (or `tito milestone submit systems`).

# %%
if __name__ == "__main__":
    print("Milestone 5 notebook ran to the end. Now run: pytest milestones/05_systems_capstone")
