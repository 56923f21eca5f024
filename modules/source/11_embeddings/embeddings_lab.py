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
# # Module 11 — Embeddings lab
#
# You implement the gather, its scatter-add backward, the two layers and the sinusoidal table
# in `src/tinytorch/embeddings.py` (the `TODO (11_embeddings)` blocks); this lab shows what
# repeated ids do to a gradient, measures three ways to write the backward, compares learned
# and fixed positions, and trains the smallest language model there is: a bigram table.
# The tests are the judge: `pytest modules/source/11_embeddings`.

# %%
import math
import statistics
import time

import matplotlib.pyplot as plt
import numpy as np

import tinytorch
from tinytorch import Tensor
from tinytorch.datasets import load_shakespeare
from tinytorch.embeddings import Embedding, PositionalEmbedding, embedding, sinusoidal_positions
from tinytorch.losses import cross_entropy
from tinytorch.optimizers import Adam
from tinytorch.tokenization import CharTokenizer

# %% [markdown]
# ## 1. A lookup with a shape
#
# Token ids of shape (B, T) become vectors of shape (B, T, D): one row of the table per id.

# %%
train_text, val_text = load_shakespeare("train"), load_shakespeare("val")
tokenizer = CharTokenizer().fit(train_text)
train_ids, val_ids = tokenizer.encode_array(train_text), tokenizer.encode_array(val_text)
tinytorch.manual_seed(0)
table = Embedding(tokenizer.vocab_size, 32)
batch = np.stack([train_ids[start:start + 8] for start in (0, 1000, 2000, 3000)])  # (4, 8)
vectors = table(batch)
print(table, "ids", batch.shape, "->", vectors.shape)
print("first sequence:", repr(tokenizer.decode(batch[0])))
print(f"weight mean {table.weight.data.mean():+.3f}, std {table.weight.data.std():.3f} (N(0, 1), as PyTorch)")

# %% [markdown]
# ## 2. Repeated ids: why the backward is a scatter-ADD
#
# In "the ... the", the row of "t" is read twice and must receive both gradients. NumPy's
# `grad[ids] += g` reads every row once, adds, and writes back once per id: with a repeated
# id the last write wins and the other gradients are lost.

# %%
ids = np.array([5, 2, 5, 5])
incoming = np.ones((4, 3))
lost = np.zeros((8, 3))
lost[ids] += incoming
summed = np.zeros((8, 3))
np.add.at(summed, ids, incoming)
print("grad[ids] += g  row 5:", lost[5], "<- one gradient of three")
print("np.add.at        row 5:", summed[5])
weight = Tensor(np.zeros((8, 3)), dtype=np.float64, requires_grad=True)
embedding(weight, ids).backward(incoming)
print("embedding's backward row 5:", weight.grad[5])

# %% [markdown]
# ## 3. Three ways to write the backward, timed
#
# For a batch of B*T ids and a table of V rows of size D:
#
# - `np.add.at(grad, ids, g)`: the direct scatter-add (what the library uses);
# - `np.bincount` over the flat positions `id * D + d` of the gradient table, weighted by
#   the flattened `g`: one C loop over all B*T*D numbers, no Python loop;
# - one-hot matmul: `onehot(ids).T @ g`, a (V, B*T) matrix of zeros and ones, then BLAS.
#
# All three give the same gradient. They are timed in alternation (A B C A B C ...) and the
# medians compared, so a busy patch of the shared machine slows all alike.

# %%
def add_at(ids, grad, rows):
    out = np.zeros((rows, grad.shape[1]), grad.dtype)
    np.add.at(out, ids, grad)
    return out


def bincount_flat(ids, grad, rows):
    dim = grad.shape[1]
    positions = (ids[:, None] * dim + np.arange(dim)).ravel()  # where each number of g goes
    return np.bincount(positions, weights=grad.ravel(), minlength=rows * dim).reshape(rows, dim).astype(grad.dtype)


def one_hot_matmul(ids, grad, rows):
    one_hot = np.zeros((len(ids), rows), grad.dtype)
    one_hot[np.arange(len(ids)), ids] = 1.0
    return one_hot.T @ grad


def interleaved_medians_ms(functions: dict, rounds: int) -> dict:
    """Median milliseconds of each function, called in alternation ``rounds`` times."""
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(times) for name, times in samples.items()}


rng = np.random.default_rng(0)
print(f"{'ids (B*T)':>10}{'V':>7}{'D':>5}{'add.at ms':>11}{'bincount ms':>13}{'one-hot ms':>12}{'one-hot MB':>12}")
for n, rows, dim in [(32 * 128, 65, 64), (32 * 128, 512, 64), (64 * 256, 512, 128), (64 * 256, 4096, 128)]:
    some_ids = rng.integers(0, rows, n)
    some_grad = rng.standard_normal((n, dim)).astype(np.float32)
    reference = add_at(some_ids, some_grad, rows)
    for method in (bincount_flat, one_hot_matmul):
        assert np.allclose(method(some_ids, some_grad, rows), reference, rtol=1e-4, atol=1e-3)
    medians = interleaved_medians_ms({
        "add.at": lambda: add_at(some_ids, some_grad, rows),
        "bincount": lambda: bincount_flat(some_ids, some_grad, rows),
        "one-hot": lambda: one_hot_matmul(some_ids, some_grad, rows),
    }, rounds=7)
    print(f"{n:>10}{rows:>7}{dim:>5}{medians['add.at']:>11.2f}{medians['bincount']:>13.2f}"
          f"{medians['one-hot']:>12.2f}{n * rows * 4 / 1e6:>12.1f}")

# %% [markdown]
# The one-hot matrix grows with the vocabulary (B*T x V floats, the last column) and is
# multiplied although it is almost all zeros; the scatter-adds touch only the rows that were
# read. The forward, a gather, copies B*T*D numbers and does no arithmetic at all.

# %% [markdown]
# ## 4. Positions: learned or fixed
#
# A learned `PositionalEmbedding(T, D)` has T*D parameters and knows nothing about positions
# it never saw; the sinusoidal table has none and exists for any length. Each of its column
# pairs is a clock: fast ones tell neighbours apart, slow ones far positions.

# %%
context, dim = 256, 64
learned = PositionalEmbedding(context, dim)
print(f"{learned}: {learned.weight.size:,} parameters; sinusoidal: 0")
fixed = sinusoidal_positions(context, dim, dtype=np.float64)
similarity = fixed @ fixed.T
for distance in (0, 1, 4, 16, 64):
    values = np.diagonal(similarity, offset=distance)
    print(f"<P[t], P[t+{distance:>2}]> = {values.mean():7.3f} for every t (spread {np.ptp(values):.1e})")

figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
left.imshow(fixed.T, aspect="auto", cmap="RdBu")
left.set(xlabel="position t", ylabel="column", title="sinusoidal_positions(256, 64)")
right.plot(similarity[0], label="similarity to position 0")
right.plot(similarity[128], label="similarity to position 128")
right.set(xlabel="position", title="dot products depend on the distance only")
right.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. The smallest language model: a bigram table
#
# `Embedding(65, 65)` read as logits: row c holds the scores of the character that follows c.
# Trained with cross-entropy on the training text, its validation loss measures how much one
# character of context is worth (log 65 = 4.17 nats for a uniform guess).

# %%
tinytorch.manual_seed(0)
bigram = Embedding(tokenizer.vocab_size, tokenizer.vocab_size)
optimizer = Adam(bigram.parameters(), lr=0.1)
batch_rng = np.random.default_rng(0)


def loss_on(ids: np.ndarray) -> float:
    return cross_entropy(bigram(ids[:-1]), ids[1:]).item()


start = time.perf_counter()
for step in range(301):
    starts = batch_rng.integers(0, len(train_ids) - 1, 4096)
    loss = cross_entropy(bigram(train_ids[starts]), train_ids[starts + 1])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 100 == 0:
        print(f"step {step:>3}: batch loss {loss.item():.3f}")
elapsed = time.perf_counter() - start
counts = np.zeros((65, 65))
np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)
frequencies = counts / counts.sum(axis=1, keepdims=True)
best_train = -np.mean(np.log(frequencies[train_ids[:-1], train_ids[1:]]))  # no bigram model does better
print(f"301 steps in {elapsed:.1f} s; uniform {math.log(65):.3f}, train {loss_on(train_ids):.3f} "
      f"(the counted bigram frequencies: {best_train:.3f}), val {loss_on(val_ids):.3f}")
row = bigram.weight.data[tokenizer.encode("q")[0]]
print("most likely after 'q':", [tokenizer.decode([i]) for i in np.argsort(row)[::-1][:3]])

# %% [markdown]
# **Try it.** Sample 200 characters from the bigram model (softmax of row c, draw, repeat):
# it spells like Shakespeare and means nothing. Module 12's attention is what lets a model
# read more than one character back.
