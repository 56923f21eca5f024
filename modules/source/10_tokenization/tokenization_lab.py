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
# # Module 10 — Tokenization lab
#
# You implement a character tokenizer and byte-level BPE in `src/tinytorch/tokenization.py`
# (the `TODO (10_tokenization)` blocks): first the obviously right trainer that recounts
# every pair after each merge, then the incremental one that must give exactly the same
# merges. This lab checks that they agree, measures how much faster the second is, and
# looks at what a larger vocabulary buys. The tests are the judge:
# `pytest modules/source/10_tokenization`.

# %%
import statistics
import time

import matplotlib.pyplot as plt

from tinytorch.datasets import load_shakespeare
from tinytorch.tokenization import (
    PRETOKENIZE_PATTERN,
    BPETokenizer,
    CharTokenizer,
    chunk_counts,
    count_pairs,
    learn_merges,
    learn_merges_naive,
)

train_text, val_text = load_shakespeare("train"), load_shakespeare("val")
print(f"train {len(train_text):,} characters, validation {len(val_text):,}")

# %% [markdown]
# ## 1. Characters
#
# The vocabulary is the sorted set of characters: newline and space come first.

# %%
chars = CharTokenizer().fit(train_text)
print(chars, repr("".join(chars.vocabulary)))
ids = chars.encode("First Citizen:")
print(ids, "->", repr(chars.decode(ids)))
try:
    chars.encode("Æthelred")
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# ## 2. Byte-pair encoding, one merge at a time
#
# The classic example: `aaabdaaabac`. Count the pairs, merge the most frequent (ties go to the
# smallest pair of ids), repeat. Ids 97-100 are the bytes of a, b, c, d.

# %%
tiny = BPETokenizer(300).train("aaabdaaabac")
for rank, pair in enumerate(tiny.merges):
    print(f"merge {rank}: {pair} -> {256 + rank} = {tiny.token_bytes[256 + rank]!r}")
print("encode('aaabdaaabac') =", tiny.encode("aaabdaaabac"), " encode('abc') =", tiny.encode("abc"))

# %% [markdown]
# Training never sees the raw text, only its chunks and their frequencies: a word with the
# space before it, a run of punctuation, a run of spaces. Merges never cross a chunk.

# %%
print(PRETOKENIZE_PATTERN.findall("First Citizen:\nBefore we proceed any further, hear me speak."))
words = chunk_counts(train_text)
pairs = count_pairs(words)
print(f"{sum(words.values()):,} chunks in the training text, {len(words):,} distinct "
      f"({sum(words.values()) / len(words):.0f}x fewer); the distinct chunks hold "
      f"{sum(len(chunk) - 1 for chunk in words if chunk):,} pairs of neighbours, {len(pairs):,} different ones")

# %% [markdown]
# ## 3. Naive against incremental: the same merges, and how much faster
#
# The naive trainer recounts all pairs of all distinct chunks after every merge. The
# incremental one counts once, then after each merge re-counts only the chunks that held the
# merged pair (most merges touch a few hundred of the chunks), and finds the best pair with a
# heap. First: exactly the same merges, on the whole training text up to vocabulary 512.

# %%
def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


naive_merges, naive_seconds = timed(learn_merges_naive, words, 256)
fast_merges, fast_seconds = timed(learn_merges, words, 256)
assert fast_merges == naive_merges, "the incremental trainer must agree exactly"
print(f"256 merges of the whole training text: identical; naive {naive_seconds:.1f} s, "
      f"incremental {fast_seconds:.2f} s ({naive_seconds / fast_seconds:.0f}x, one run each)")

# %% [markdown]
# Why the incremental trainer wins: a merge only has to revisit the chunks that contain its
# pair, and after the first few merges those are few.

# %%
merged_bytes = BPETokenizer(512)
merged_bytes.merges = fast_merges
merged_bytes._build_tables()
for rank in (0, 1, 10, 100, 255):
    text_of_token = merged_bytes.token_bytes[256 + rank]
    holding = sum(1 for chunk in words if text_of_token in bytes(chunk))
    print(f"merge {rank:>3} {text_of_token.decode()!r:>10}: in {holding:>5,} of {len(words):,} distinct chunks")

# %% [markdown]
# One run each can be unlucky on a shared machine. On a slice of 200,000 characters both are
# timed in alternation (A B A B ...) and the medians compared, so a busy moment slows both.

# %%
def interleaved_medians(functions: dict, rounds: int) -> dict:
    """Median seconds of each function, called in alternation ``rounds`` times."""
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


slice_words = chunk_counts(train_text[:200_000])
medians = interleaved_medians({
    "naive": lambda: learn_merges_naive(slice_words, 256),
    "incremental": lambda: learn_merges(slice_words, 256),
}, rounds=3)
print(f"200,000 characters ({len(slice_words):,} distinct chunks), 256 merges, medians of 3: naive "
      f"{medians['naive']:.2f} s, incremental {medians['incremental']:.3f} s "
      f"({medians['naive'] / medians['incremental']:.0f}x)")

# %% [markdown]
# Everything `BPETokenizer.train` does, chunking included, on the whole training text:

# %%
bpe, train_seconds = timed(BPETokenizer(512).train, train_text)
val_ids, encode_seconds = timed(bpe.encode, val_text)
assert bpe.decode(val_ids) == val_text
print(f"train to vocabulary 512: {train_seconds:.1f} s; encode the validation text: {encode_seconds:.2f} s")
print("first merges:", [bpe.token_bytes[i].decode() for i in range(256, 266)])
longest = sorted(range(256, bpe.vocab_size), key=lambda i: -len(bpe.token_bytes[i]))[:8]
print("longest tokens:", [bpe.token_bytes[i].decode() for i in longest])

# %% [markdown]
# ## 4. What a larger vocabulary buys
#
# A model sees a fixed number of ids at a time (its context), so fewer ids per text means
# more text in view. Measured on the validation text, which training never saw.

# %%
sizes, ratios = [256, 320, 512, 1024], []
print(f"{'vocabulary':>10}{'val ids':>10}{'characters per id':>19}")
print(f"{'65 (chars)':>10}{len(val_text):>10,}{1.0:>19.2f}")
for size in sizes:
    tokenizer = BPETokenizer(size).train(train_text)
    count = len(tokenizer.encode(val_text))
    ratios.append(len(val_text) / count)
    print(f"{size:>10}{count:>10,}{ratios[-1]:>19.2f}")
plt.plot(sizes, ratios, marker="o")
plt.xlabel("BPE vocabulary size")
plt.ylabel("characters per id (validation)")
plt.title("tiny Shakespeare")
plt.show()

# %% [markdown]
# The price is a larger embedding table and output layer (vocabulary x model width
# parameters each, module 11), and rarer ids that get fewer gradient updates each.
#
# **Try it.** Save the 512 tokenizer (`bpe.save("bpe512.json")`), load it back and check that
# it encodes the validation text to the same ids. Then train on the validation text instead:
# which merges differ?
