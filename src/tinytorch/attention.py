"""Module 12 — Attention: every position looks at the others and takes what it needs.

A recurrent network carries the past through one hidden vector; attention lets each
position read every position it is allowed to see, directly. Each position makes three
vectors from its embedding: a **query** (what am I looking for?), a **key** (what do I
contain?) and a **value** (what do I hand over?). The output at position i is an average of
the values, weighted by how well query i matches each key:

    weights = softmax(q @ k.T / sqrt(d))        (T_q, T_k), each row sums to 1
    output  = weights @ v                       (T_q, d)

Dividing by sqrt(d) keeps the scores' variance near 1 whatever the head size d: the dot
product of two d-long random vectors has variance d, and a softmax of large scores is almost
one-hot, with gradients close to zero.

A language model must not read the future: position i may attend to positions 0..i only.
The **causal mask** is lower-triangular (True = may attend); masked scores become -inf
before the softmax, so their weights are exactly 0 and a change to a later token cannot
change an earlier output by a single bit.

**Multi-head attention** runs several smaller attentions side by side, each on its own slice
of the embedding, so one head can follow syntax while another follows a name. The heads are
split by a reshape and a transpose, (B, T, dim) -> (B, heads, T, head_dim), and computed in
one batched matrix product: no Python loop over heads, positions or batch.

Everything here is composed from ops that already have backward rules (matmul, transpose,
reshape, add, mul, softmax), so attention needs no new derivative.
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch.activations import softmax
from tinytorch.autograd import is_grad_enabled
from tinytorch.layers import Linear, Module
from tinytorch.tensor import Tensor, as_tensor


def causal_mask(length: int) -> np.ndarray:
    """(length, length) booleans, True on and below the diagonal: query i may see keys 0..i."""
    if not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"causal_mask({length!r}): expected a positive integer length")
    # BEGIN SOLUTION
    return np.tril(np.ones((length, length), dtype=bool))
    # END SOLUTION


def _check_attention_inputs(q: Tensor, k: Tensor, v: Tensor) -> None:
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        if tensor.ndim < 2:
            raise ValueError(
                f"scaled_dot_product_attention got {name} of shape {tensor.shape}: expected (..., T, d)"
            )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"scaled_dot_product_attention got q of shape {q.shape} and k of shape {k.shape}: "
            f"queries and keys must have the same last dimension ({q.shape[-1]} vs {k.shape[-1]})"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention got k of shape {k.shape} and v of shape {v.shape}: "
            f"expected one value per key ({k.shape[-2]} keys vs {v.shape[-2]} values)"
        )


def _checked_mask(mask, q: Tensor, k: Tensor) -> np.ndarray:
    """The mask as a boolean array that broadcasts to the scores (..., T_q, T_k)."""
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if mask.dtype != np.bool_:
        raise TypeError(
            f"attention mask has dtype {mask.dtype}: expected booleans (True = may attend), "
            "e.g. causal_mask(T)"
        )
    scores_shape = (*np.broadcast_shapes(q.shape[:-2], k.shape[:-2]), q.shape[-2], k.shape[-2])
    try:
        np.broadcast_shapes(mask.shape, scores_shape)
    except ValueError:
        raise ValueError(
            f"attention mask of shape {mask.shape} does not broadcast to the scores of shape "
            f"{scores_shape} (q {q.shape}, k {k.shape}): expected (..., {q.shape[-2]}, {k.shape[-2]})"
        ) from None
    if not np.all(np.any(mask, axis=-1)):
        raise ValueError(
            f"attention mask of shape {mask.shape} lets some query attend to no key at all: "
            "its softmax would divide 0 by 0; every row needs at least one True"
        )
    return mask


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask=None) -> tuple:
    """softmax(q @ k^T / sqrt(d) where mask, -inf elsewhere) @ v, and the weights.

    ``q`` (..., T_q, d), ``k`` (..., T_k, d), ``v`` (..., T_k, d_v); leading axes (batch,
    heads) broadcast as in matmul. ``mask`` is boolean and broadcasts to (..., T_q, T_k):
    True where a query may attend to a key. Returns ``(output, weights)`` with output of shape
    (..., T_q, d_v) and weights (..., T_q, T_k), every row of which sums to 1.
    """
    q, k, v = as_tensor(q), as_tensor(k), as_tensor(v)
    _check_attention_inputs(q, k, v)
    if mask is not None:
        mask = _checked_mask(mask, q, k)
    # BEGIN SOLUTION
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        blocked = np.where(mask, 0.0, -np.inf).astype(scores.dtype)
        scores = scores + Tensor._constant(blocked)
    weights = softmax(scores, dim=-1)
    return weights @ v, weights
    # END SOLUTION


class MultiHeadAttention(Module):
    """Self-attention with ``heads`` heads of size dim // heads, as in GPT-2 and nanoGPT.

    Three projections ``query``, ``key`` and ``value`` (Linear(dim, dim) each) make q, k and v
    for all heads at once; the heads are split by reshape and transpose; the heads' outputs
    are joined back to (B, T, dim) and mixed by the output projection ``out`` (Linear(dim,
    dim)). With ``causal=True`` position i attends to positions 0..i only; the lower-triangular
    mask is made once and kept (``mask``), grown only if a longer sequence arrives.

    The weights of ``query``, ``key`` and ``value`` lie side by side in one (dim, 3 dim)
    array, each Linear's weight a view of its columns (``join_projections``). When no
    gradient is recorded (generation runs under ``no_grad``), one matmul with that array
    makes q, k and v together, as nanoGPT's single ``c_attn`` projection does: a third of the
    matmul and bias calls for the same numbers. The three Linears stay the parameters, by
    the same names, so the state dict and the gradients are those of three projections.
    """

    def __init__(self, dim: int, heads: int, causal: bool = True):
        super().__init__()
        if not isinstance(dim, (int, np.integer)) or not isinstance(heads, (int, np.integer)) \
                or dim < 1 or heads < 1:
            raise ValueError(f"MultiHeadAttention(dim={dim!r}, heads={heads!r}): expected positive integers")
        if dim % heads != 0:
            raise ValueError(
                f"MultiHeadAttention(dim={dim}, heads={heads}): dim must be divisible by heads "
                f"({dim} % {heads} = {dim % heads}); each head gets dim // heads features"
            )
        self.dim, self.heads, self.head_dim, self.causal = int(dim), int(heads), int(dim // heads), causal
        self.query = Linear(dim, dim)
        self.key = Linear(dim, dim)
        self.value = Linear(dim, dim)
        self.out = Linear(dim, dim)
        self.join_projections()
        self.mask = causal_mask(1)

    def join_projections(self) -> None:
        """Copy the weights of ``query``, ``key`` and ``value`` side by side into one array
        ``joined_weight`` (dim, 3 dim), their biases into ``joined_bias`` (3 dim,), and make
        each Linear's weight and bias views of its columns. Whatever changes the parameters
        in place (an optimizer step, ``load_state_dict``, an initialisation) then changes the
        joined arrays too. Replacing a parameter's ``.data`` (a dtype change, a copy of the
        model) ends the joining (``projections_joined`` turns False) until this is called again.
        """
        projections = (self.query, self.key, self.value)
        self.joined_weight = np.concatenate([projection.weight.data for projection in projections], axis=1)
        self.joined_bias = np.concatenate([projection.bias.data for projection in projections])
        for index, projection in enumerate(projections):
            columns = slice(index * self.dim, (index + 1) * self.dim)
            projection.weight.data = self.joined_weight[:, columns]
            projection.bias.data = self.joined_bias[columns]

    def projections_joined(self) -> bool:
        """True while the query, key and value parameters are views of the joined arrays."""
        for projection in (self.query, self.key, self.value):
            weight, bias = getattr(projection, "weight", None), getattr(projection, "bias", None)
            if weight is None or bias is None or weight.data.base is not self.joined_weight \
                    or bias.data.base is not self.joined_bias:
                return False
        return True

    def causal_rows(self, start: int, count: int) -> np.ndarray:
        """Rows start..start+count of the causal mask, over keys 0..start+count: the mask of
        ``count`` new queries at positions start.. that see ``start`` earlier (cached) keys."""
        end = start + count
        if end > len(self.mask):
            self.mask = causal_mask(max(end, 2 * len(self.mask)))
        return self.mask[start:end, :end]

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, dim) -> (B, heads, T, head_dim)."""
        batch, length, _ = x.shape
        # BEGIN SOLUTION
        return x.reshape(batch, length, self.heads, self.head_dim).transpose(1, 2)
        # END SOLUTION

    def merge_heads(self, x: Tensor) -> Tensor:
        """(B, heads, T, head_dim) -> (B, T, dim): the inverse of ``split_heads``."""
        batch, _, length, _ = x.shape
        # BEGIN SOLUTION
        return x.transpose(1, 2).reshape(batch, length, self.dim)
        # END SOLUTION

    def project(self, x: Tensor) -> tuple:
        """q, k and v of ``x`` (B, T, dim), each split into heads: (B, heads, T, head_dim).

        While a gradient may be recorded, each of ``query``, ``key`` and ``value`` makes its
        own, so that the gradient reaches its parameters. Under ``no_grad``, with the
        projections joined, one matmul makes all three, (B, T, 3 dim), and one reshape and
        transpose split it into (3, B, heads, T, head_dim): q, k and v are its three slices.
        """
        # BEGIN SOLUTION
        if is_grad_enabled() or not self.projections_joined():
            return tuple(self.split_heads(projection(x)) for projection in (self.query, self.key, self.value))
        batch, length, _ = x.shape
        joined = x @ Tensor._constant(self.joined_weight) + Tensor._constant(self.joined_bias)
        joined = joined.reshape(batch, length, 3, self.heads, self.head_dim).transpose(2, 0, 3, 1, 4)
        return joined[0], joined[1], joined[2]
        # END SOLUTION

    def forward(self, x: Tensor, kv_cache=None) -> Tensor:
        """``x`` (B, T, dim) -> (B, T, dim).

        ``kv_cache`` (module 14, ``generation.LayerKVCache``) holds the keys and values of
        earlier positions: the new keys and values are appended to it and the T new queries
        attend to all of them, with the causal mask's rows for their positions. A single
        query (T = 1) is the last position and may see every key: it needs no mask.
        """
        x = as_tensor(x)
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"{self!r} got input of shape {x.shape}: expected (batch, T, {self.dim})")
        start = 0 if kv_cache is None else kv_cache.length
        # BEGIN SOLUTION
        q, k, v = self.project(x)
        if kv_cache is not None:
            k, v = kv_cache.append(k, v)
        mask = self.causal_rows(start, x.shape[1]) if self.causal and x.shape[1] > 1 else None
        attended, _ = scaled_dot_product_attention(q, k, v, mask)
        return self.out(self.merge_heads(attended))
        # END SOLUTION

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}, causal={self.causal}"


__all__ = ["MultiHeadAttention", "causal_mask", "scaled_dot_product_attention"]
