"""Module 14 — Generation: sampling text from a GPT, and the KV cache that makes it fast.

A language model gives, at every position, scores (logits) for the next token. To generate,
feed the prompt, pick a token from the last position's scores, append it, and repeat:

- **greedy** (temperature 0): always the highest score;
- **sampling**: draw from softmax(logits / temperature); a temperature below 1 sharpens the
  distribution, above 1 flattens it; **top-k** first keeps only the k highest scores.

Done naively, every new token re-runs the model over the whole prefix, although the keys
and values of the earlier positions never change: causal attention means a position's keys
and values depend only on the tokens up to it. The **KV cache** keeps them. The prompt is
processed once (the *prefill*), its keys and values stored for every layer; afterwards each
step feeds only the new token, at the next position, appends its key and value, and attends
to all the cached ones. A step then costs O(T) instead of O(T^2) attention and O(1) instead
of O(T) for everything else (projections, MLP, head).

The cache's memory is 2 (keys and values) x layers x batch x heads x capacity x head_dim x
bytes per number: it is allocated once, for the model's context length.

**When the cache is full.** The model has position vectors for 0 .. context_length - 1
only, so, as nanoGPT does, the context is cropped to its last ``context_length`` tokens. With
learned absolute positions a cropped window shifts every token to a new position, which
changes every key and value: the cached ones are no longer valid. The policy here is
therefore exact: once the sequence is longer than the context, each step recomputes the
cropped window from scratch (a fresh prefill), giving exactly the tokens of generation
without a cache. The cache pays off up to the context length; models that must run past it
use relative positions (RoPE, ALiBi) or a sliding window, which this course does not build.
"""

from __future__ import annotations

import numpy as np

from tinytorch.autograd import no_grad
from tinytorch.rng import generator
from tinytorch.tensor import Tensor


class LayerKVCache:
    """The keys and values of one attention layer: arrays (batch, heads, capacity, head_dim),
    of which positions 0 .. length - 1 are filled."""

    def __init__(self, batch: int, heads: int, capacity: int, head_dim: int, dtype=np.float32):
        self.keys = np.zeros((batch, heads, capacity, head_dim), dtype=dtype)
        self.values = np.zeros((batch, heads, capacity, head_dim), dtype=dtype)
        self.length = 0

    @property
    def capacity(self) -> int:
        return self.keys.shape[2]

    def append(self, keys: Tensor, values: Tensor) -> tuple:
        """Store the keys and values (batch, heads, T, head_dim) of the next T positions;
        return the keys and values of every position so far, as constant tensors."""
        batch, heads, _, head_dim = self.keys.shape
        count = keys.shape[2] if keys.ndim == 4 else None
        for name, tensor in (("keys", keys), ("values", values)):
            if tensor.shape != (batch, heads, count, head_dim):
                raise ValueError(
                    f"LayerKVCache.append got {name} of shape {tensor.shape}: expected (batch={batch}, "
                    f"heads={heads}, T, head_dim={head_dim}), keys and values of the same T"
                )
            if tensor.requires_grad:
                raise RuntimeError(
                    "the KV cache stores plain arrays, so no gradient can flow through it: "
                    "generate under tinytorch.autograd.no_grad()"
                )
        if self.length + keys.shape[2] > self.capacity:
            raise ValueError(
                f"the KV cache holds {self.length} of {self.capacity} positions: no room for "
                f"{keys.shape[2]} more; crop the context and start a new cache"
            )
        # BEGIN SOLUTION
        end = self.length + keys.shape[2]
        self.keys[:, :, self.length:end] = keys.data
        self.values[:, :, self.length:end] = values.data
        self.length = end
        return Tensor._constant(self.keys[:, :, :end]), Tensor._constant(self.values[:, :, :end])
        # END SOLUTION


class KVCache:
    """One ``LayerKVCache`` per transformer block; ``length`` positions are filled in each."""

    def __init__(self, layers: int, batch: int, heads: int, capacity: int, head_dim: int, dtype=np.float32):
        self.layers = [LayerKVCache(batch, heads, capacity, head_dim, dtype) for _ in range(layers)]

    @classmethod
    def for_model(cls, model, batch: int) -> "KVCache":
        """A cache for ``model`` (a ``GPT``) with room for its whole context."""
        dtype = model.token.weight.dtype
        return cls(model.num_layers, batch, model.heads, model.context_length, model.dim // model.heads, dtype)

    @property
    def length(self) -> int:
        return self.layers[0].length

    @property
    def capacity(self) -> int:
        return self.layers[0].capacity

    @property
    def nbytes(self) -> int:
        """Bytes held: 2 x layers x batch x heads x capacity x head_dim x itemsize."""
        return sum(layer.keys.nbytes + layer.values.nbytes for layer in self.layers)


def pick_next_token(logits: np.ndarray, temperature: float, top_k, rng: np.random.Generator) -> np.ndarray:
    """One token id per row of ``logits`` (batch, vocab): the argmax at temperature 0, else a
    draw from softmax(logits / temperature) restricted to the ``top_k`` highest scores."""
    # BEGIN SOLUTION
    if temperature == 0:
        return np.argmax(logits, axis=-1)
    scaled = logits.astype(np.float64) / temperature
    if top_k is not None:
        kth_largest = np.sort(scaled, axis=-1)[:, -top_k][:, None]
        scaled = np.where(scaled < kth_largest, -np.inf, scaled)
    probabilities = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    cumulative = np.cumsum(probabilities, axis=-1)
    draws = rng.random((len(logits), 1)) * cumulative[:, -1:]
    return np.minimum((cumulative <= draws).sum(axis=-1), logits.shape[-1] - 1)
    # END SOLUTION


def _checked_prompt(model, prompt_ids) -> np.ndarray:
    ids = np.asarray(prompt_ids.data if isinstance(prompt_ids, Tensor) else prompt_ids)
    if ids.dtype.kind not in "iu" or ids.ndim not in (1, 2) or ids.shape[-1] == 0:
        raise ValueError(
            f"generate got prompt ids of shape {ids.shape} and dtype {ids.dtype}: expected integer "
            "token ids of shape (T,) or (batch, T) with T >= 1"
        )
    if ids.min() < 0 or ids.max() >= model.vocab_size:
        raise ValueError(
            f"generate got prompt ids from {ids.min()} to {ids.max()}: expected 0 <= id < {model.vocab_size}"
        )
    return ids.astype(np.int64)


def _check_sampling(model, max_new_tokens, temperature, top_k) -> None:
    if not isinstance(max_new_tokens, (int, np.integer)) or isinstance(max_new_tokens, bool) or max_new_tokens < 0:
        raise ValueError(f"generate max_new_tokens={max_new_tokens!r}: expected an integer >= 0")
    if not (np.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"generate temperature={temperature!r}: expected a finite number >= 0 (0 = greedy)")
    if top_k is not None and not (isinstance(top_k, (int, np.integer)) and 1 <= top_k <= model.vocab_size):
        raise ValueError(f"generate top_k={top_k!r}: expected None or an integer from 1 to {model.vocab_size}")


def last_logits(model, ids: np.ndarray, cache) -> np.ndarray:
    """The next-token logits (batch, vocab) after ``ids``; with a cache, ``ids`` are the tokens
    at the positions after the cached ones."""
    return model(ids, kv_cache=cache).data[:, -1]


def generate(model, prompt_ids, max_new_tokens: int, temperature: float = 1.0, top_k=None, seed=None,
             use_cache: bool = True) -> np.ndarray:
    """Continue ``prompt_ids`` ((T,) or (batch, T)) by ``max_new_tokens`` tokens; returns the
    prompt and the new tokens, an int64 array of shape (T + max_new_tokens,) or (batch, ...).

    ``temperature`` 0 is greedy; otherwise tokens are sampled, from the ``top_k`` highest
    scores when given, with ``np.random.default_rng(seed)`` (the library's generator when
    ``seed`` is None), so a seed repeats a sample. ``use_cache`` switches the KV cache on
    (default) or off: both give the same tokens. The model runs under ``no_grad`` and in
    evaluation mode, and gets its training mode back afterwards.
    """
    ids = _checked_prompt(model, prompt_ids)
    _check_sampling(model, max_new_tokens, temperature, top_k)
    single = ids.ndim == 1
    ids = ids[None] if single else ids
    rng = generator() if seed is None else np.random.default_rng(seed)
    context = model.context_length
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            # BEGIN SOLUTION
            cache = KVCache.for_model(model, len(ids)) if use_cache else None
            logits = last_logits(model, ids[:, -context:], cache)  # the prefill
            for step in range(max_new_tokens):
                new = pick_next_token(logits, temperature, top_k, rng)
                ids = np.concatenate([ids, new[:, None]], axis=1)
                if step == max_new_tokens - 1:
                    break
                if cache is None:
                    logits = last_logits(model, ids[:, -context:], None)
                elif cache.length < context:
                    logits = last_logits(model, new[:, None], cache)
                else:  # full: the cropped window shifts every position, so prefill it afresh
                    cache = KVCache.for_model(model, len(ids))
                    logits = last_logits(model, ids[:, -context:], cache)
            # END SOLUTION
    finally:
        model.train(was_training)
    return ids[0] if single else ids


__all__ = ["KVCache", "LayerKVCache", "generate", "last_logits", "pick_next_token"]
