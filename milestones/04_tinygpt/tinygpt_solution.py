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
MOUNT_GOOGLE_DRIVE = False  # True keeps the plots and samples in your Drive

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
# # Milestone 4: TinyGPT, a Transformer that Writes Shakespeare
#
# ## Prerequisites
# - Completed modules 10-14 (Tokenization, Embeddings, Attention, Transformers, Generation)
#   on top of modules 01-09
# - Passed the integration tests of modules 10-14 (`pytest modules/tests/integration/test_modules_10_14.py`)
#
# ## Learning Objectives
# - Train a character-level GPT built from YOUR tokenizer, embeddings, attention, blocks and
#   optimizer on real text, and watch it go from noise to Shakespeare-shaped lines
# - Look inside: what each attention head of a trained model looks at
# - Count what a transformer costs (parameters, FLOPs per token, activation memory that grows
#   with the square of the context, the KV cache) and measure what the cache buys
# - Run an experiment of your own design: how much does a longer context help?
#
# ## What You'll Build
# This milestone is more open-ended than the first three: the model is YOUR `GPT` from module
# 13; the data pipeline, the training loop with its learning-rate schedule, the probes and the
# measurements are yours to write.
#
# 1. a character-level GPT trained on tiny Shakespeare (`load_shakespeare`, bundled, offline);
#    the reference configuration `REFERENCE` reaches a held-out loss of at most 2.0 nats per
#    character (`python tinygpt_milestone.py --full`),
# 2. samples of generated text, the learning curves and a map of every head's attention, as PNG,
# 3. a systems analysis: parameters, FLOPs per token, activation and KV-cache memory against the
#    context length, and tokens per second with and without the KV cache,
# 4. a comparison study: the same model with a short and a long context.
#
# Replace every `raise NotImplementedError("TODO: ...")`. Cells that train sit under
# `if __name__ == "__main__":`: they run in the notebook, not when the tests import this file.

# %%
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from tinytorch import manual_seed
from tinytorch.attention import causal_mask, scaled_dot_product_attention
from tinytorch.autograd import no_grad, topological_order
from tinytorch.datasets import load_shakespeare
from tinytorch.generation import KVCache, generate
from tinytorch.optimizers import Adam
from tinytorch.tokenization import CharTokenizer
from tinytorch.transformers import GPT, next_token_loss

OUTPUT_DIR = Path("milestone_outputs")
"""Where the notebook saves its plots and samples (the validation tests pass their own paths)."""

# %% [markdown]
# ## The configurations
# One frozen record holds everything a run depends on, so a run is repeated by its config and
# its seed. `REFERENCE` is the deliverable: a 4-layer model of width 64 with a context of 64
# characters, trained for 1,500 steps of 32 windows. `QUICK` is the small run the validation
# tests repeat in seconds; it is also the notebook's default, so a first run-through is fast.

# %%
@dataclass(frozen=True)
class TinyGPTConfig:
    context_length: int = 64
    dim: int = 64
    heads: int = 4
    layers: int = 4
    batch_size: int = 32
    steps: int = 1500
    lr: float = 3e-3
    warmup: int = 100
    """Steps over which the learning rate rises linearly from lr / warmup to lr."""
    min_lr_fraction: float = 0.1
    """The cosine decay ends at lr * min_lr_fraction on the last step."""
    eval_every: int = 100
    eval_windows: int = 128
    """Held-out windows scored at every evaluation: always the same ones, evenly spaced."""
    seed: int = 0


REFERENCE = TinyGPTConfig()
QUICK = TinyGPTConfig(context_length=32, dim=32, heads=4, layers=2, batch_size=16, steps=150, lr=3e-3,
                      warmup=10, eval_every=50, eval_windows=64)
REFERENCE_TARGET = 2.0
"""Held-out nats per character the reference run must reach."""

# %% [markdown]
# ## The data
# Tiny Shakespeare: 1,003,854 training and 111,540 validation characters. The tokenizer is
# YOUR `CharTokenizer` from module 10, fitted on the training text: 65 characters, sorted.

# %%
def load_corpus() -> dict:
    """The tokenizer and the ids of the training and validation text.

    Returns ``{"tokenizer", "train_ids", "val_ids", "train_text", "val_text"}``.
    """
    train_text, val_text = load_shakespeare("train"), load_shakespeare("val")
    tokenizer = CharTokenizer().fit(train_text)
    return {"tokenizer": tokenizer, "train_ids": tokenizer.encode_array(train_text),
            "val_ids": tokenizer.encode_array(val_text), "train_text": train_text, "val_text": val_text}


# %%
if __name__ == "__main__":
    CONFIG = REFERENCE if "--full" in sys.argv else QUICK  # in a notebook, pick one yourself
    data = load_corpus()
    tokenizer = data["tokenizer"]
    print(f"{tokenizer.vocab_size} characters: {''.join(tokenizer.vocabulary)!r}")
    print(f"train {len(data['train_ids']):,} ids, validation {len(data['val_ids']):,} ids")

# %% [markdown]
# ## Part 1: The model
# Build YOUR `GPT` (module 13) for a config: token and position embeddings, `layers` pre-norm
# blocks of causal multi-head attention and an MLP, a final layer norm and a linear head. Seed
# the library's generator with `config.seed` first, so the same config gives the same weights.

# %%
def build_gpt(vocab_size: int, config: TinyGPTConfig) -> GPT:
    """A freshly initialised GPT for ``config`` (seeded with ``config.seed``)."""
    # BEGIN SOLUTION: Part 1, build_gpt - seed the library's generator, then make the GPT of this config
    manual_seed(config.seed)
    return GPT(vocab_size, context_length=config.context_length, dim=config.dim, heads=config.heads,
               layers=config.layers)
    # END SOLUTION


# %%
if __name__ == "__main__":
    model = build_gpt(tokenizer.vocab_size, CONFIG)
    print(model)
    print(f"parameters: {model.parameter_count():,}")

# %% [markdown]
# ## Part 2: Training
# **Batches.** A training example is a window of `context_length + 1` consecutive ids from a
# random place: the first `context_length` are the input, the last `context_length` (shifted
# by one) the targets, so every position learns to predict the character after it.
#
# **Held-out loss.** Always the same windows of the validation text, evenly spaced
# (`evaluation_windows`), scored in evaluation mode without a graph: the mean next-character
# cross-entropy in nats. Chance is ln 65 = 4.17; the characters' own frequencies give 3.3.
#
# **Schedule.** Adam with a linear warm-up over `warmup` steps (lr * (step + 1) / warmup), then
# a cosine from lr down to lr * min_lr_fraction at the last step.

# %%
def get_batch(ids: np.ndarray, batch_size: int, context_length: int, rng: np.random.Generator):
    """``batch_size`` random windows of ``ids``: (inputs, targets), each (batch_size, context_length),
    targets[b, t] = inputs[b, t + 1] (the character after). Starts come from ``rng.integers``."""
    ids = np.asarray(ids)
    if len(ids) < context_length + 1:
        raise ValueError(f"get_batch needs at least {context_length + 1} ids for a window; got {len(ids)}")
    # BEGIN SOLUTION: Part 2, get_batch - draw the window starts, cut the windows, split inputs and targets
    first_ids = rng.integers(0, len(ids) - context_length, size=batch_size)
    spans = first_ids[:, None] + np.arange(context_length + 1)[None, :]
    chunk = ids[spans]
    return chunk[:, :context_length], chunk[:, 1:]
    # END SOLUTION


def evaluation_windows(ids: np.ndarray, context_length: int, count: int):
    """``count`` windows evenly spaced over ``ids``: (inputs, targets) as in ``get_batch``."""
    starts = np.linspace(0, len(ids) - context_length - 1, count).astype(np.int64)
    windows = np.stack([ids[start:start + context_length + 1] for start in starts])
    return windows[:, :-1], windows[:, 1:]


def estimate_loss(model, inputs, targets, chunk: int = 64) -> float:
    """Mean next-token cross-entropy (nats) of ``model`` on the windows, in evaluation mode,
    without a graph, ``chunk`` windows at a time; the model's mode is restored afterwards."""
    # BEGIN SOLUTION: Part 2, estimate_loss - eval mode and no_grad, a weighted mean over chunks, restore the mode
    previous_mode = model.training
    model.eval()
    total = 0.0
    with no_grad():
        for first in range(0, len(inputs), chunk):
            part = slice(first, first + chunk)
            total += next_token_loss(model(inputs[part]), targets[part]).item() * len(inputs[part])
    model.train(previous_mode)
    return total / len(inputs)
    # END SOLUTION


def learning_rate(step: int, config: TinyGPTConfig) -> float:
    """Linear warm-up over ``config.warmup`` steps, then a cosine down to lr * min_lr_fraction."""
    # BEGIN SOLUTION: Part 2, learning_rate - warm-up, then cosine decay over the remaining steps
    if step < config.warmup:
        return (step + 1) * config.lr / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - 1 - config.warmup)
    floor = config.lr * config.min_lr_fraction
    return floor + (config.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    # END SOLUTION


def train_gpt(model, data: dict, config: TinyGPTConfig, log=None) -> dict:
    """Train ``model`` on data["train_ids"] with Adam and ``learning_rate``; evaluate on the
    fixed validation windows before the first step, every ``eval_every`` steps and after the
    last. Batches come from ``np.random.default_rng(config.seed)``. ``log`` (e.g. ``print``)
    gets a line per evaluation.

    Returns the history: ``train_loss`` and ``lr`` (one per step), ``eval_step`` and
    ``val_loss`` (one per evaluation, eval_step 0 is before training, the last is
    ``config.steps``), ``seconds`` (wall) and ``cpu_seconds`` of the whole run.
    """
    val_inputs, val_targets = evaluation_windows(data["val_ids"], config.context_length, config.eval_windows)
    # BEGIN SOLUTION: Part 2, train_gpt - Adam, the schedule, batches, steps, evaluations, the history
    optimizer = Adam(model.parameters(), lr=config.lr)
    batches = np.random.default_rng(config.seed)
    record = {"train_loss": [], "lr": [], "eval_step": [], "val_loss": []}
    wall_start, cpu_start = time.perf_counter(), time.process_time()

    def evaluate(done_steps):
        record["eval_step"].append(done_steps)
        record["val_loss"].append(estimate_loss(model, val_inputs, val_targets))
        if log is not None:
            recent = np.mean(record["train_loss"][-config.eval_every:]) if record["train_loss"] else float("nan")
            log(f"step {done_steps:5d}: train {recent:.3f}, validation {record['val_loss'][-1]:.3f} "
                f"({time.perf_counter() - wall_start:.0f} s)")

    evaluate(0)
    for step in range(config.steps):
        optimizer.lr = learning_rate(step, config)
        inputs, targets = get_batch(data["train_ids"], config.batch_size, config.context_length, batches)
        batch_loss = next_token_loss(model(inputs), targets)
        optimizer.zero_grad()
        batch_loss.backward()
        optimizer.step()
        record["train_loss"].append(batch_loss.item())
        record["lr"].append(optimizer.lr)
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            evaluate(step + 1)
    record["seconds"] = time.perf_counter() - wall_start
    record["cpu_seconds"] = time.process_time() - cpu_start
    return record
    # END SOLUTION


# %%
if __name__ == "__main__":
    history = train_gpt(model, data, CONFIG, log=print)
    print(f"held-out loss {history['val_loss'][-1]:.3f} nats per character after {CONFIG.steps} steps: "
          f"{history['seconds']:.0f} s wall, {history['cpu_seconds']:.0f} s CPU")
    if CONFIG == REFERENCE:
        verdict = "reached" if history["val_loss"][-1] <= REFERENCE_TARGET else "NOT reached"
        print(f"target {REFERENCE_TARGET} nats per character: {verdict}")

# %% [markdown]
# ## Part 3: Visualization
# **Samples.** Encode a prompt with your tokenizer, continue it with your `generate` (module
# 14), decode. Temperature 0 is greedy (it loops on its favourite words); 0.8 with the top 10
# characters reads more like a play.
#
# **Learning curves.** The training loss of every step and the held-out loss of every
# evaluation, against the step.
#
# **Attention.** `attention_maps(model, ids, layer)` returns the weights of every head of one
# block for one sequence: an array (heads, T, T) where row i is what position i reads. Compute
# them the way the block does: embeddings, the earlier blocks, the block's `ln1`, its query and
# key projections, split into heads, and your `scaled_dot_product_attention` with the causal
# mask. Above the diagonal every weight must be 0: a position never reads the future.

# %%
def sample(model, tokenizer, prompt: str, new_tokens: int, temperature: float = 0.8, top_k=10, seed=0) -> str:
    """The prompt continued by ``new_tokens`` characters of ``model`` (decoded text, prompt included)."""
    # BEGIN SOLUTION: Part 3, sample - encode the prompt, generate, decode
    continued = generate(model, tokenizer.encode_array(prompt), new_tokens, temperature=temperature, top_k=top_k,
                         seed=seed)
    return tokenizer.decode(continued)
    # END SOLUTION


def attention_maps(model, ids, layer: int = 0) -> np.ndarray:
    """The attention weights (heads, T, T) of block ``layer`` for one sequence of ids (T,)."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1:
        raise ValueError(f"attention_maps takes one sequence of ids (T,); got shape {ids.shape}")
    if not 0 <= layer < model.num_layers:
        raise ValueError(f"attention_maps layer={layer}: the model has blocks 0 to {model.num_layers - 1}")
    # BEGIN SOLUTION: Part 3, attention_maps - run the earlier blocks, then this block's ln1, q and k, per head
    blocks = model.blocks.layers
    with no_grad():
        hidden = model.position(model.token(ids[None, :]))
        for earlier in blocks[:layer]:
            hidden = earlier(hidden)
        chosen = blocks[layer]
        normed = chosen.ln1(hidden)
        heads_of = chosen.attention.split_heads
        queries, keys = heads_of(chosen.attention.query(normed)), heads_of(chosen.attention.key(normed))
        values = heads_of(chosen.attention.value(normed))
        _, weights = scaled_dot_product_attention(queries, keys, values, causal_mask(len(ids)))
    return np.asarray(weights.data[0], dtype=np.float64)
    # END SOLUTION


def plot_attention(weights, labels, path="attention.png", title="Attention weights"):
    """One heat map per head (query position down, key position across), side by side; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    heads = len(weights)
    figure = Figure(figsize=(3.2 * heads + 0.8, 3.8), dpi=100)
    axes_row = figure.subplots(1, heads, squeeze=False)[0]
    for head, axes in enumerate(axes_row):
        image = axes.imshow(weights[head], cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        ticks = range(len(labels))
        axes.set_xticks(ticks, labels, fontsize=6)
        axes.set_yticks(ticks, labels, fontsize=6)
        axes.set(title=f"head {head}", xlabel="key (read)", ylabel="query (reading)" if head == 0 else None)
    figure.colorbar(image, ax=list(axes_row), shrink=0.8)
    figure.suptitle(title)
    figure.savefig(path)
    return path


def plot_learning_curves(history: dict, path="learning_curves.png", title="TinyGPT on tiny Shakespeare"):
    """Training loss per step and held-out loss per evaluation, in nats per character; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.add_subplot()
    axes.plot(np.arange(1, len(history["train_loss"]) + 1), history["train_loss"], lw=0.7, alpha=0.6,
              label="training batch")
    axes.plot(history["eval_step"], history["val_loss"], marker="o", label="held-out windows")
    axes.axhline(REFERENCE_TARGET, color="grey", ls="--", lw=0.8, label=f"target {REFERENCE_TARGET}")
    axes.set(title=title, xlabel="step", ylabel="cross-entropy (nats per character)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    return path


def show(path):
    """Display a saved PNG in a notebook (and do nothing in a plain Python run)."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        return
    if get_ipython() is not None:
        display(Image(filename=str(path)))


# %%
if __name__ == "__main__":
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    samples = {
        "greedy": sample(model, tokenizer, "ROMEO:\n", 200, temperature=0),
        "temperature 0.8, top 10": sample(model, tokenizer, "ROMEO:\n", 400, temperature=0.8, top_k=10, seed=0),
    }
    for name, text in samples.items():
        print(f"--- {name} ---\n{text}\n")
    (OUTPUT_DIR / "samples.txt").write_text("".join(f"--- {k} ---\n{v}\n\n" for k, v in samples.items()))
    show(plot_learning_curves(history, OUTPUT_DIR / "learning_curves.png"))
    probe = "First Citizen:\nWe are accounted poor"[: CONFIG.context_length]
    for layer in range(model.num_layers):
        weights = attention_maps(model, tokenizer.encode_array(probe), layer)
        labels = [character if character != "\n" else "\\n" for character in probe]
        show(plot_attention(weights, labels, OUTPUT_DIR / f"attention_layer{layer}.png", title=f"Block {layer}: {probe!r}"))

# %% [markdown]
# ## Part 4: Systems Analysis
# Count, then measure. With V the vocabulary, T the context, d the width and L the blocks:
#
# - **parameters**: V d (tokens) + T d (positions) + L (12 d^2 + 13 d) (per block: four d x d
#   attention projections with biases, the MLP d -> 4d -> d with biases, two layer norms)
#   + 2 d (final layer norm) + d V (head, no bias);
# - **FLOPs per token** (forward, a multiply-add = 2) for a token that attends to `n` earlier
#   positions: 2 (L 12 d^2 + d V) for the weight matrices and L 4 n d for attention's two
#   products (scores q.k and the weighted sum of values);
# - **activation memory**: the bytes of every array the graph of one forward pass to the loss
#   records (the backward pass needs them all). It grows with T^2: each block keeps its
#   attention scores and weights, (B, heads, T, T) each;
# - **KV cache**: 2 (keys and values) x L x B x heads x T x head_dim x 4 bytes (float32);
# - **tokens per second** of greedy generation with and without the cache, timed in alternation.

# %%
def parameter_formula(vocab_size: int, config: TinyGPTConfig) -> int:
    """The GPT's parameter count from the formula above (not from the model)."""
    # BEGIN SOLUTION: Part 4, parameter_formula - embeddings, blocks, final norm, head
    d = config.dim
    per_block = 12 * d * d + 13 * d
    return vocab_size * d + config.context_length * d + config.layers * per_block + 2 * d + d * vocab_size
    # END SOLUTION


def flops_per_token(vocab_size: int, config: TinyGPTConfig, attended: int) -> int:
    """Forward FLOPs of one token that attends to ``attended`` positions (itself included)."""
    # BEGIN SOLUTION: Part 4, flops_per_token - weight matrices, then attention's two products
    d = config.dim
    matrices = 2 * (config.layers * 12 * d * d + d * vocab_size)
    return matrices + config.layers * 4 * attended * d
    # END SOLUTION


def activation_bytes(model, batch_size: int, length: int, seed: int = 0) -> int:
    """Bytes of the arrays recorded by the graph of one forward pass and loss on random ids
    (batch_size, length): every tensor made by an op, parameters and inputs excluded."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, model.vocab_size, size=(batch_size, length + 1))
    # BEGIN SOLUTION: Part 4, activation_bytes - build the graph of one forward and loss, add up what it records
    loss = next_token_loss(model(ids[:, :-1]), ids[:, 1:])
    recorded = [node for node in topological_order(loss) if not node.is_leaf]
    return int(sum(node.data.nbytes for node in recorded))
    # END SOLUTION


def kv_cache_bytes(config: TinyGPTConfig, batch_size: int, itemsize: int = 4) -> int:
    """Bytes of a KV cache with room for the whole context of ``config``, by the formula."""
    # BEGIN SOLUTION: Part 4, kv_cache_bytes - keys and values of every layer, head and position
    head_dim = config.dim // config.heads
    return 2 * config.layers * batch_size * config.heads * config.context_length * head_dim * itemsize
    # END SOLUTION


def memory_table(model, vocab_size: int, config: TinyGPTConfig, lengths, batch_size: int = 1) -> list:
    """One row per context length T: {"length", "flops_per_token" (a token at position T, i.e.
    attending to T positions), "activation_bytes" (measured), "kv_cache_bytes" (formula, for
    a model of context T)}. Lengths must fit ``model``'s context."""
    rows = []
    for length in lengths:
        at_length = replace(config, context_length=length)
        rows.append({"length": length, "flops_per_token": flops_per_token(vocab_size, config, length),
                     "activation_bytes": activation_bytes(model, batch_size, length),
                     "kv_cache_bytes": kv_cache_bytes(at_length, batch_size)})
    return rows


def generation_speed(model, prompt_ids, new_tokens: int, rounds: int = 3) -> dict:
    """Greedy generation of ``new_tokens`` with and without the KV cache, timed in alternation.

    Returns ``{"cached", "uncached"}`` (the token arrays of the last round), ``"identical"``,
    the median seconds ``cached_seconds`` and ``uncached_seconds``, the rates
    ``cached_tokens_per_second`` and ``uncached_tokens_per_second`` (new tokens / median
    seconds) and ``speedup`` (uncached seconds / cached seconds).
    """
    # BEGIN SOLUTION: Part 4, generation_speed - alternate cached and uncached runs, medians, rates
    seconds = {True: [], False: []}
    produced = {}
    for _ in range(rounds):
        for cached in (True, False):
            began = time.perf_counter()
            produced[cached] = generate(model, prompt_ids, new_tokens, temperature=0, use_cache=cached)
            seconds[cached].append(time.perf_counter() - began)
    fast, slow = float(np.median(seconds[True])), float(np.median(seconds[False]))
    return {"cached": produced[True], "uncached": produced[False],
            "identical": bool(np.array_equal(produced[True], produced[False])),
            "cached_seconds": fast, "uncached_seconds": slow,
            "cached_tokens_per_second": new_tokens / fast, "uncached_tokens_per_second": new_tokens / slow,
            "speedup": slow / fast}
    # END SOLUTION


# %%
if __name__ == "__main__":
    vocab = tokenizer.vocab_size
    print(f"parameters: formula {parameter_formula(vocab, CONFIG):,}, model {model.parameter_count():,}")
    lengths = sorted({max(1, CONFIG.context_length // 4), CONFIG.context_length // 2, CONFIG.context_length})
    print(f"{'T':>5}{'FLOPs/token':>14}{'activations (B=1)':>20}{'KV cache (B=1)':>17}")
    for row in memory_table(model, vocab, CONFIG, lengths):
        print(f"{row['length']:>5}{row['flops_per_token']:>14,}{row['activation_bytes'] / 1024:>16.0f} KiB"
              f"{row['kv_cache_bytes'] / 1024:>13.1f} KiB")
    speed = generation_speed(model, tokenizer.encode_array("ROMEO:\n"), CONFIG.context_length - 7)
    print(f"greedy generation of {CONFIG.context_length - 7} tokens: with the cache "
          f"{speed['cached_tokens_per_second']:.0f} tokens/s, without {speed['uncached_tokens_per_second']:.0f} "
          f"tokens/s ({speed['speedup']:.1f}x), identical tokens: {speed['identical']}")

# %% [markdown]
# ## Part 5: Comparison Study
# How much does the model gain from reading further back? Train the same architecture with a
# short and a long context, the same number of steps, batches of the same number of windows,
# the same seed, and compare their held-out losses (each scored on windows of its own length).
# A context of a few characters can only learn spelling; a longer one can also learn words.

# %%
def compare_context_lengths(data: dict, config: TinyGPTConfig, lengths=(4, 32), path="context_lengths.png") -> dict:
    """Train ``replace(config, context_length=n)`` for each n in ``lengths``; plot their held-out curves.

    Returns ``{n: {"model", "history", "val_loss", "parameters"} for each n, "path": path}``;
    ``val_loss`` is the last held-out loss of the run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {}
    # BEGIN SOLUTION: Part 5, compare_context_lengths - one model and one training run per context length
    for length in lengths:
        variant = replace(config, context_length=length)
        network = build_gpt(data["tokenizer"].vocab_size, variant)
        curves = train_gpt(network, data, variant)
        result[length] = {"model": network, "history": curves, "val_loss": curves["val_loss"][-1],
                          "parameters": network.parameter_count()}
    # END SOLUTION
    figure = Figure(figsize=(7, 4), dpi=100)
    axes = figure.add_subplot()
    for length in lengths:
        entry = result[length]
        axes.plot(entry["history"]["eval_step"], entry["history"]["val_loss"], marker="o",
                  label=f"context {length}: {entry['val_loss']:.3f} ({entry['parameters']:,} parameters)")
    axes.set(title="Held-out loss against the context length", xlabel="step", ylabel="nats per character")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    result["path"] = path
    return result


# %%
if __name__ == "__main__":
    study = compare_context_lengths(data, replace(QUICK, steps=300, eval_every=100), path=OUTPUT_DIR / "context_lengths.png")
    show(study["path"])
    for length in (4, 32):
        print(f"context {length:>2}: held-out loss {study[length]['val_loss']:.3f}")
    figures = {"config": asdict(CONFIG), "val_loss": history["val_loss"][-1], "seconds": history["seconds"],
               "cpu_seconds": history["cpu_seconds"], "parameters": model.parameter_count(),
               "cached_tokens_per_second": speed["cached_tokens_per_second"],
               "uncached_tokens_per_second": speed["uncached_tokens_per_second"],
               "context_study": {n: study[n]["val_loss"] for n in (4, 32)}}
    (OUTPUT_DIR / "figures.json").write_text(json.dumps(figures, indent=2))

# %% [markdown]
# ## Milestone Deliverables
#
# Complete ALL of the following to pass this milestone:
#
# 1. A character-level GPT built from YOUR modules 10-14 (Part 1)
# 2. Training with YOUR Adam and a warm-up + cosine schedule; the `REFERENCE` run reaches a
#    held-out loss of at most 2.0 nats per character (Part 2)
# 3. Generated samples, learning curves and attention maps of every head, saved (Part 3)
# 4. Systems analysis: parameters, FLOPs per token, activation and KV-cache memory against the
#    context length, tokens/s with and without the cache (Part 4)
# 5. Comparison study: a short against a long context (Part 5)
#
# ## Success Criteria
# - Every figure you report is recomputed by the validation tests from your model's weights
# - Attention never reads the future; generation gives the same tokens with and without the cache
# - The longer context beats the shorter one on held-out text by a margin you measure
#
# Check your work with `pytest milestones/04_tinygpt` (or `tito milestone submit tinygpt`).

# %%
if __name__ == "__main__":
    print("Milestone 4 notebook ran to the end. Now run: pytest milestones/04_tinygpt")
