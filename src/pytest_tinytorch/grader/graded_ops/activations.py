"""Grader declarations for the ops of module 02 (``tinytorch/activations.py``).

Each ``reference`` is the activation in plain NumPy, written from its formula (the inputs the
grader draws are at most 3 in magnitude, so the textbook forms cannot overflow here).
"""

import numpy as np

from pytest_tinytorch.grader import strategies as cases
from pytest_tinytorch.grader.op_registry import register_op
from tinytorch import activations

MODULE = "activations"


def reference_gelu(x: np.ndarray) -> np.ndarray:
    """The tanh approximation of GELU that the library documents (as GPT-2)."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def reference_log_softmax(x: np.ndarray, dim: int) -> np.ndarray:
    """x - log(sum(exp(x))) along ``dim``, with the maximum taken out first."""
    top = np.max(x, axis=dim, keepdims=True)
    return x - top - np.log(np.sum(np.exp(x - top), axis=dim, keepdims=True))


register_op("relu", activations.relu, arity=1, cases=cases.elementwise_cases(),
            domain="real, never within 1e-3 of 0", module=MODULE, reference=lambda x: np.where(x > 0, x, 0.0))
register_op("sigmoid", activations.sigmoid, arity=1, cases=cases.elementwise_cases(), domain="real",
            module=MODULE, reference=lambda x: 1.0 / (1.0 + np.exp(-x)))
register_op("tanh", activations.tanh, arity=1, cases=cases.elementwise_cases(), domain="real", module=MODULE,
            reference=np.tanh)
register_op("gelu", activations.gelu, arity=1, cases=cases.elementwise_cases(), domain="real", module=MODULE,
            reference=reference_gelu)
register_op("softmax", lambda x, dim: activations.softmax(x, dim), arity=1, cases=cases.softmax_cases(),
            domain="real; any dim", module=MODULE, reference=lambda x, dim: np.exp(reference_log_softmax(x, dim)))
register_op("log_softmax", lambda x, dim: activations.log_softmax(x, dim), arity=1,
            cases=cases.softmax_cases(), domain="real; any dim", module=MODULE, reference=reference_log_softmax)
