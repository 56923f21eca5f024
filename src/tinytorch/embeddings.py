"""Module 11 — Embeddings: from token ids to vectors a network can learn from.

A tokenizer (module 10) turns text into integers, but an integer id says nothing about its
token: id 42 is not "close" to id 43. An **embedding** gives every id a row of learnable
numbers, ``weight[id]``, so that training can move tokens that behave alike close together.
Looking up a batch of ids is a **gather**: ``weight[ids]`` picks one row per id, and the
output has the shape of the ids plus the embedding dimension.

The backward pass is the gather's adjoint, a **scatter-add**: the gradient of each output row
is added to the weight row it was read from. A token that appears twice in a batch ("the ...
the") must receive the *sum* of both gradients. NumPy's ``grad[ids] += g`` does not do that:
with a repeated id it writes the same row twice and keeps only the last value.
``np.add.at`` (or ``np.bincount``) adds every occurrence.

Attention (module 12) does not know where a token sits in the sequence, so a position signal
is added to each token's vector: either **learned** (``PositionalEmbedding``, one row per
position up to the context length, as GPT-2) or **fixed** (``sinusoidal_positions``, the sines
and cosines of "Attention is all you need", which need no training and exist for any length).
"""

from __future__ import annotations

import numpy as np

from tinytorch.autograd import backward_rule
from tinytorch.layers import Module, Parameter
from tinytorch.rng import generator
from tinytorch.tensor import DEFAULT_DTYPE, Tensor

SINUSOID_BASE = 10000.0
"""The wavelengths of the sinusoidal encoding grow geometrically from 2 pi to 2 pi * 10000."""


# -- token ids, checked (given) ------------------------------------------------------------------
def checked_indices(name: str, indices, table_size: int) -> np.ndarray:
    """``indices`` (a list, an array or an integer Tensor) as an integer array whose every
    entry lies in [0, table_size); errors start with ``name`` and say what was wrong.

    Negative ids are refused, although NumPy would read -1 as the last row: a negative token
    id is always a bug upstream (a padding value, a failed lookup), never an intended row.
    """
    array = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if array.size == 0 and array.dtype.kind == "f":
        array = array.astype(np.int64)  # np.asarray([]) is float64; an empty batch is fine
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{name} got indices of dtype {array.dtype}: expected integer token ids "
            "(e.g. np.int64); embeddings look rows up, they do not interpolate"
        )
    if array.size:
        outside = (array < 0) | (array >= table_size)
        if outside.any():
            position = tuple(int(i) for i in np.argwhere(outside)[0])
            where = f" (at position {position} of indices of shape {array.shape})" if array.ndim else ""
            raise IndexError(
                f"{name} got index {int(array[position])}: expected 0 <= index < {table_size}{where}"
            )
    return array


def _check_positive(name: str, **sizes) -> None:
    for what, value in sizes.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: {what}={value!r}, expected a positive integer")


# -- the op: gather forward, scatter-add backward ------------------------------------------------
def embedding(weight: Tensor, indices) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices`` of any shape.

    out[..., :] = weight[indices[...], :], of shape ``indices.shape + (dim,)``. Only ``weight``
    carries a gradient; the indices are data, like the targets of ``cross_entropy``.
    """
    if weight.ndim != 2:
        raise ValueError(f"embedding got weight of shape {weight.shape}: expected (num_embeddings, embedding_dim)")
    indices = checked_indices(f"embedding with weight of shape {weight.shape}", indices, weight.shape[0])
    # BEGIN SOLUTION
    data = weight.data[indices]
    # END SOLUTION
    return Tensor._result(data, "embedding", (weight,), {"indices": indices})


@backward_rule("embedding")
def embedding_backward(grad, out, weight, indices):
    """Scatter-add: row ``indices[k]`` of the weight's gradient collects the gradient of every
    output row k that read it; rows no id read get zero."""
    # BEGIN SOLUTION
    grad_weight = np.zeros(weight.shape, dtype=grad.dtype)
    np.add.at(grad_weight, indices.reshape(-1), grad.reshape(-1, weight.shape[1]))
    return (grad_weight,)
    # END SOLUTION


# -- layers --------------------------------------------------------------------------------------
class Embedding(Module):
    """A table of ``num_embeddings`` learnable vectors of size ``embedding_dim``, as PyTorch.

    ``weight`` has shape (num_embeddings, embedding_dim) and starts from N(0, 1), PyTorch's
    default: unlike ``Linear``, an embedding sums nothing, so no 1/sqrt(fan_in) scaling keeps
    its output's variance at 1. Drawn from ``tinytorch.rng`` (``manual_seed`` repeats it).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        _check_positive(f"Embedding({num_embeddings}, {embedding_dim})",
                        num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.weight = Parameter(generator().standard_normal((self.num_embeddings, self.embedding_dim)))

    def forward(self, indices) -> Tensor:
        """Integer ids of any shape (B, T) -> vectors (B, T, embedding_dim)."""
        indices = checked_indices(repr(self), indices, self.num_embeddings)
        # BEGIN SOLUTION
        return embedding(self.weight, indices)
        # END SOLUTION

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class PositionalEmbedding(Module):
    """Learned positions: one vector per position 0 .. context_length - 1, as GPT-2.

    ``forward(x)`` takes token vectors ``x`` of shape (..., T, embedding_dim) and returns
    ``x + weight[:T]``: position t's vector is added to the token at position t of every
    sequence in the batch. It is an embedding over positions, looked up with the ids
    0, 1, ..., T - 1, so the gradient of row t is the sum over the batch of the gradients at
    position t. A sequence longer than ``context_length`` has no vector for its later
    positions and is refused (generation must crop its context, module 14).
    ``weight`` starts from N(0, 1), like ``Embedding``'s.
    """

    def __init__(self, context_length: int, embedding_dim: int):
        super().__init__()
        _check_positive(f"PositionalEmbedding({context_length}, {embedding_dim})",
                        context_length=context_length, embedding_dim=embedding_dim)
        self.context_length, self.embedding_dim = int(context_length), int(embedding_dim)
        self.weight = Parameter(generator().standard_normal((self.context_length, self.embedding_dim)))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[-1] != self.embedding_dim:
            raise ValueError(
                f"{self!r} got input of shape {x.shape}: expected (..., T, {self.embedding_dim}), "
                "token vectors with the sequence axis second to last"
            )
        length = x.shape[-2]
        if length > self.context_length:
            raise ValueError(
                f"{self!r} got a sequence of length {length} (input of shape {x.shape}): the "
                f"context length is {self.context_length}; crop the sequence to its last "
                f"{self.context_length} tokens"
            )
        # BEGIN SOLUTION
        return x + embedding(self.weight, np.arange(length))
        # END SOLUTION

    def extra_repr(self) -> str:
        return f"{self.context_length}, {self.embedding_dim}"


# -- fixed positions -----------------------------------------------------------------------------
def sinusoidal_positions(length: int, dim: int, dtype=DEFAULT_DTYPE) -> np.ndarray:
    """The fixed position encoding of "Attention is all you need" (Vaswani et al., 2017), an
    array (length, dim):

        P[t, 2i]     = sin(t / 10000^(2i / dim))
        P[t, 2i + 1] = cos(t / 10000^(2i / dim))

    Column pair i is a clock of wavelength 2 pi * 10000^(2i / dim): the first pairs turn fast
    and tell neighbouring positions apart, the last turn slowly and tell far ones apart. For an
    odd ``dim`` the last column is a sine without its cosine. It is a constant (no gradient):
    add it to token vectors as ``x + Tensor(sinusoidal_positions(T, dim))``.
    """
    _check_positive(f"sinusoidal_positions({length!r}, {dim!r})", length=length, dim=dim)
    # BEGIN SOLUTION
    positions = np.arange(length, dtype=np.float64)[:, None]  # (length, 1)
    pair_index = np.arange(0, dim, 2, dtype=np.float64)  # 2i for each column pair
    angles = positions / SINUSOID_BASE ** (pair_index / dim)  # (length, ceil(dim / 2))
    table = np.empty((length, dim), dtype=np.float64)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : dim // 2])
    # END SOLUTION
    return table.astype(dtype)


__all__ = ["Embedding", "PositionalEmbedding", "checked_indices", "embedding", "sinusoidal_positions"]
