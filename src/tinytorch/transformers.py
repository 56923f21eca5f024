"""Module 13 — Transformers: attention, an MLP and layer norms, stacked into a GPT.

A transformer block lets every position first gather information from the others
(attention, module 12), then think about it on its own (an MLP applied to each position).
Two ideas make a deep stack of blocks trainable:

- **residual connections**: each block *adds* its result to its input,
  ``x = x + attention(...)``, so the gradient reaches the first block through the additions
  unchanged, however deep the stack;
- **layer normalisation**: before each sub-layer (pre-norm, as GPT-2), every position's
  vector is rescaled to mean 0 and variance 1 over its features, then given a learned scale
  and shift. Unlike batch normalisation (module 09) it uses no statistics of the batch, so a
  sequence's output does not depend on its batch mates, and training and evaluation agree.

``GPT`` is nanoGPT's model: token embeddings plus learned positions (module 11), a stack of
pre-norm blocks, a final layer norm and a linear head that gives one score per vocabulary
token at every position. Its initialisation follows GPT-2: weights from N(0, 0.02), and the
two projections that write into the residual stream (attention's ``out`` and the MLP's
``proj``) scaled down by 1/sqrt(2 * layers), so that the sum of 2 * layers residual
additions keeps a variance that does not grow with depth.

``layer_norm`` is one differentiable op, its backward rule right after it, like
``batch_norm2d``: composed from mean, subtract, square, sqrt and divide it would record ten
ops and walk the activations ten times in each direction.
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch.activations import gelu
from tinytorch.attention import MultiHeadAttention
from tinytorch.autograd import backward_rule
from tinytorch.embeddings import Embedding, PositionalEmbedding, checked_indices, embedding
from tinytorch.layers import Linear, Module, Parameter, Sequential
from tinytorch.losses import cross_entropy
from tinytorch.rng import generator
from tinytorch.tensor import Tensor, as_tensor

INIT_STD = 0.02
"""GPT-2's standard deviation for every weight matrix and embedding."""


# -- layer normalisation ------------------------------------------------------------------------
def _check_layer_norm_arguments(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> None:
    if x.ndim < 1 or weight.ndim != 1 or x.shape[-1] != weight.shape[0]:
        raise ValueError(
            f"layer_norm got input of shape {x.shape} and weight of shape {weight.shape}: "
            f"expected input (..., features) and weight (features,)"
        )
    if bias.shape != weight.shape:
        raise ValueError(f"layer_norm got bias of shape {bias.shape}: expected {weight.shape}")
    if not eps > 0:
        raise ValueError(f"layer_norm eps={eps}: expected eps > 0")


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """Normalise each vector along the last axis, then scale and shift it:

        x_hat = (x - mean(x)) / sqrt(var(x) + eps)       mean and (biased) variance per vector
        out   = x_hat * weight + bias                    weight, bias of shape (features,)
    """
    _check_layer_norm_arguments(x, weight, bias, eps)
    # BEGIN SOLUTION
    features = x.shape[-1]
    centered = x.data - x.data.sum(axis=-1, keepdims=True) / features
    variance = np.square(centered).sum(axis=-1, keepdims=True) / features
    inverse_std = 1.0 / np.sqrt(variance + eps)
    normalized = centered * inverse_std
    data = normalized * weight.data + bias.data
    # END SOLUTION
    saved = {"normalized": normalized, "inverse_std": inverse_std}
    return Tensor._result(data, "layer_norm", (x, weight, bias), saved)


@backward_rule("layer_norm")
def layer_norm_backward(grad, out, x, weight, bias, normalized, inverse_std):
    """With g_hat = grad * weight and means over the features of each vector:
    dx = (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat)) / std (the mean and the std
    depend on x too); dweight = sum over all vectors of grad * x_hat; dbias = sum of grad."""
    # BEGIN SOLUTION
    vector_axes = tuple(range(grad.ndim - 1))
    grad_weight = (grad * normalized).sum(axis=vector_axes) if weight.requires_grad else None
    grad_bias = grad.sum(axis=vector_axes) if bias.requires_grad else None
    grad_x = None
    if x.requires_grad:
        features = grad.shape[-1]
        grad_normalized = grad * weight.data
        grad_x = grad_normalized - grad_normalized.sum(axis=-1, keepdims=True) / features
        grad_x -= normalized * ((grad_normalized * normalized).sum(axis=-1, keepdims=True) / features)
        grad_x *= inverse_std
    return grad_x, grad_weight, grad_bias
    # END SOLUTION


class LayerNorm(Module):
    """``layer_norm`` over the last axis with a learned ``weight`` (ones) and ``bias`` (zeros)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"LayerNorm({dim!r}): dim must be a positive integer")
        if not eps > 0:
            raise ValueError(f"LayerNorm eps={eps}: expected eps > 0")
        self.dim, self.eps = int(dim), eps
        self.weight = Parameter(np.ones(self.dim))
        self.bias = Parameter(np.zeros(self.dim))

    def forward(self, x: Tensor) -> Tensor:
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"{self!r} got input of shape {x.shape}: expected last dimension {self.dim}")
        # BEGIN SOLUTION
        return layer_norm(x, self.weight, self.bias, self.eps)
        # END SOLUTION

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}"


# -- the block --------------------------------------------------------------------------------
class MLP(Module):
    """Linear(dim, hidden) -> GELU -> Linear(hidden, dim), applied to each position alone."""

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        hidden = 4 * dim if hidden is None else hidden
        self.fc = Linear(dim, hidden)
        self.proj = Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        # BEGIN SOLUTION
        return self.proj(gelu(self.fc(x)))
        # END SOLUTION


class TransformerBlock(Module):
    """Pre-norm block: ``x = x + attention(ln1(x)); x = x + mlp(ln2(x))``."""

    def __init__(self, dim: int, heads: int, hidden: int | None = None):
        super().__init__()
        self.ln1 = LayerNorm(dim)
        self.attention = MultiHeadAttention(dim, heads, causal=True)
        self.ln2 = LayerNorm(dim)
        self.mlp = MLP(dim, hidden)

    def forward(self, x: Tensor, kv_cache=None) -> Tensor:
        """``x`` (B, T, dim) -> (B, T, dim); ``kv_cache`` is this block's layer cache (module 14)."""
        # BEGIN SOLUTION
        x = x + self.attention(self.ln1(x), kv_cache=kv_cache)
        return x + self.mlp(self.ln2(x))
        # END SOLUTION


# -- the model ----------------------------------------------------------------------------------
class GPT(Module):
    """A decoder-only transformer language model, as nanoGPT (without dropout or weight tying).

    ``forward(ids)`` takes integer token ids (B, T) with T <= context_length and returns
    logits (B, T, vocab_size): at every position, the scores of the next token.
    """

    def __init__(self, vocab_size: int, context_length: int, dim: int, heads: int, layers: int):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("context_length", context_length), ("dim", dim),
                            ("heads", heads), ("layers", layers)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GPT {name}={value!r}: expected a positive integer")
        if dim % heads != 0:
            raise ValueError(
                f"GPT(dim={dim}, heads={heads}): dim must be divisible by heads ({dim} % {heads} = {dim % heads})"
            )
        self.vocab_size, self.context_length, self.dim = int(vocab_size), int(context_length), int(dim)
        self.heads, self.num_layers = int(heads), int(layers)
        self.token = Embedding(vocab_size, dim)
        self.position = PositionalEmbedding(context_length, dim)
        self.blocks = Sequential(*(TransformerBlock(dim, heads) for _ in range(layers)))
        self.ln_final = LayerNorm(dim)
        self.head = Linear(dim, vocab_size, bias=False)
        self.initialize()

    def initialize(self) -> None:
        """GPT-2's initialisation: every Linear weight and both embeddings from N(0, 0.02),
        biases 0, layer norms weight 1 and bias 0, and the residual projections (``out`` of
        attention, ``proj`` of the MLP) from N(0, 0.02 / sqrt(2 * layers))."""
        rng = generator()
        residual_std = INIT_STD / math.sqrt(2 * self.num_layers)
        # BEGIN SOLUTION
        for name, module in self.named_modules():
            if isinstance(module, Linear):
                std = residual_std if name.endswith(("attention.out", "mlp.proj")) else INIT_STD
                module.weight.data[...] = rng.normal(0.0, std, module.weight.shape)
                if module.bias is not None:
                    module.bias.data[...] = 0.0
            elif isinstance(module, (Embedding, PositionalEmbedding)):
                module.weight.data[...] = rng.normal(0.0, INIT_STD, module.weight.shape)
        # END SOLUTION

    def parameter_count(self) -> int:
        """Every learnable number: vocab*dim + context*dim + layers*(12 dim^2 + 13 dim) + 2 dim
        + dim*vocab (two layer norms, four attention projections and the MLP per block)."""
        return sum(parameter.size for parameter in self.parameters())

    def forward(self, ids, kv_cache=None) -> Tensor:
        """Token ids (B, T) -> logits (B, T, vocab_size).

        With a ``kv_cache`` (module 14) that already holds ``kv_cache.length`` positions, the
        ids are the tokens at the next positions: their position vectors are those rows, and
        every block attends to the cached keys and values too.
        """
        ids = checked_indices(f"GPT({self.extra_repr()})", ids, self.vocab_size)
        if ids.ndim != 2:
            raise ValueError(f"GPT got token ids of shape {ids.shape}: expected (batch, T)")
        start = 0 if kv_cache is None else kv_cache.length
        if start + ids.shape[1] > self.context_length:
            raise ValueError(
                f"GPT got a sequence of length {ids.shape[1]}"
                + (f" after {start} cached positions" if start else "")
                + f": the context length is {self.context_length}; crop to the last "
                f"{self.context_length} tokens"
            )
        caches = [None] * self.num_layers if kv_cache is None else kv_cache.layers
        # BEGIN SOLUTION
        positions = np.arange(start, start + ids.shape[1])
        x = embedding(self.token.weight, ids) + embedding(self.position.weight, positions)
        for block, layer_cache in zip(self.blocks.layers, caches):
            x = block(x, kv_cache=layer_cache)
        logits = self.head(self.ln_final(x))
        return logits
        # END SOLUTION

    def extra_repr(self) -> str:
        return (f"vocab_size={self.vocab_size}, context_length={self.context_length}, dim={self.dim}, "
                f"heads={self.heads}, layers={self.num_layers}")


def next_token_loss(logits: Tensor, targets) -> Tensor:
    """Mean cross-entropy over every position: logits (B, T, V) against target ids (B, T)."""
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if logits.ndim != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(
            f"next_token_loss got logits of shape {logits.shape} and targets of shape {targets.shape}: "
            "expected logits (B, T, vocab) and targets (B, T)"
        )
    # BEGIN SOLUTION
    return cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    # END SOLUTION


__all__ = ["GPT", "LayerNorm", "MLP", "TransformerBlock", "layer_norm", "next_token_loss"]
