"""Grader declarations for the ops of module 04 (``tinytorch/losses.py``).

Only the logits are differentiable; targets and the reduction are the case's parameters.
Each ``reference`` computes the per-sample losses in plain NumPy from the formula, then
reduces them as ``reduction`` says.
"""

import numpy as np

from pytest_tinytorch.grader import strategies as cases
from pytest_tinytorch.grader.graded_ops.activations import reference_log_softmax
from pytest_tinytorch.grader.op_registry import register_op
from tinytorch import losses

MODULE = "losses"


def reduced(per_sample: np.ndarray, reduction: str) -> np.ndarray:
    """The mean, the sum, or (``"none"``) the per-sample losses themselves."""
    return {"mean": np.mean, "sum": np.sum, "none": np.asarray}[reduction](per_sample)


def reference_cross_entropy(logits: np.ndarray, targets: np.ndarray, reduction: str) -> np.ndarray:
    """-log softmax(logits)[target], per row."""
    log_probabilities = reference_log_softmax(logits, 1)
    return reduced(-np.take_along_axis(log_probabilities, targets[:, None], axis=1)[:, 0], reduction)


def reference_bce_with_logits(logits: np.ndarray, targets: np.ndarray, reduction: str) -> np.ndarray:
    """-(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))) = log(1 + e^x) - y x, per element."""
    return reduced(np.logaddexp(0.0, logits) - targets * logits, reduction)


register_op("cross_entropy", lambda logits, targets, reduction: losses.cross_entropy(logits, targets, reduction),
            arity=1, cases=cases.cross_entropy_cases(),
            domain="real logits (N, C), integer targets, any reduction", module=MODULE,
            reference=reference_cross_entropy)
register_op("bce_with_logits",
            lambda logits, targets, reduction: losses.binary_cross_entropy_with_logits(logits, targets, reduction),
            arity=1, cases=cases.bce_with_logits_cases(),
            domain="real logits, targets in [0, 1], any reduction", module=MODULE,
            reference=reference_bce_with_logits)
