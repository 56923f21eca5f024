"""Module 02 — Activations: the nonlinearities that let stacked layers learn curves.

Without an activation between them, two Linear layers collapse into one. Each activation is
an elementwise (or, for softmax, row-wise) function with a functional form (``relu(x)``) and
a module form (``ReLU()``) that fits into ``Sequential``.

Numerical care matters here: ``exp`` overflows float32 above about 88, so sigmoid, softmax
and log-softmax are written so that no intermediate ever overflows.
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch.tensor import Tensor, _normalize_axis

GELU_SCALE = math.sqrt(2.0 / math.pi)
GELU_CUBIC = 0.044715


def stable_sigmoid(values: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp is only ever taken of numbers <= 0."""
    # BEGIN SOLUTION
    small = np.exp(-np.abs(values))  # e^-|x|: e^-x for x >= 0, e^x for x < 0
    return (np.exp(np.minimum(values, 0)) / (1.0 + small)).astype(values.dtype, copy=False)
    # END SOLUTION


def relu(x: Tensor) -> Tensor:
    """max(0, x), elementwise."""
    # BEGIN SOLUTION
    data = np.maximum(x.data, 0)
    # END SOLUTION
    return Tensor._result(data, "relu", (x,))


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x), finite and exact to float precision even for |x| of 1000."""
    # BEGIN SOLUTION
    data = stable_sigmoid(x.data)
    # END SOLUTION
    return Tensor._result(data, "sigmoid", (x,))


def tanh(x: Tensor) -> Tensor:
    # BEGIN SOLUTION
    data = np.tanh(x.data)
    # END SOLUTION
    return Tensor._result(data, "tanh", (x,))


def gelu(x: Tensor) -> Tensor:
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (as GPT-2)."""
    # BEGIN SOLUTION
    v = x.data
    data = 0.5 * v * (1.0 + np.tanh(GELU_SCALE * (v + GELU_CUBIC * v * v * v)))
    # END SOLUTION
    return Tensor._result(data, "gelu", (x,))


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``; shifting by the max keeps exp from overflowing."""
    dim = _normalize_axis(dim, x.ndim)[0]
    # BEGIN SOLUTION
    shifted = np.exp(x.data - x.data.max(axis=dim, keepdims=True))
    data = shifted / shifted.sum(axis=dim, keepdims=True)
    # END SOLUTION
    return Tensor._result(data, "softmax", (x,), {"dim": dim})


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x)) computed as x - logsumexp(x): finite where softmax underflows to 0."""
    dim = _normalize_axis(dim, x.ndim)[0]
    # BEGIN SOLUTION
    shifted = x.data - x.data.max(axis=dim, keepdims=True)
    data = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
    # END SOLUTION
    return Tensor._result(data, "log_softmax", (x,), {"dim": dim})


class Activation:
    """Module form of an activation: callable, no parameters, fits in ``Sequential``."""

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def parameters(self) -> list:
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(Activation):
    def forward(self, x: Tensor) -> Tensor:
        return relu(x)


class Sigmoid(Activation):
    def forward(self, x: Tensor) -> Tensor:
        return sigmoid(x)


class Tanh(Activation):
    def forward(self, x: Tensor) -> Tensor:
        return tanh(x)


class GELU(Activation):
    def forward(self, x: Tensor) -> Tensor:
        return gelu(x)


class Softmax(Activation):
    def __init__(self, dim: int = -1):
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return softmax(x, self.dim)

    def __repr__(self) -> str:
        return f"Softmax(dim={self.dim})"


class LogSoftmax(Softmax):
    def forward(self, x: Tensor) -> Tensor:
        return log_softmax(x, self.dim)

    def __repr__(self) -> str:
        return f"LogSoftmax(dim={self.dim})"
