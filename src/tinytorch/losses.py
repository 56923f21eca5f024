"""Module 04 — Losses: one number that says how wrong the model is.

Training minimises a loss, so it must be finite for any logits the model can produce.
Cross-entropy is therefore computed from log-softmax (``x - logsumexp(x)``), never as
``log(softmax(x))``: with logits of 1000 the latter is ``log(0) = -inf``, the former is exact.
"""

from __future__ import annotations

import numpy as np

from tinytorch.activations import log_softmax, stable_sigmoid
from tinytorch.tensor import Tensor, _lift

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction={reduction!r}: expected one of {', '.join(REDUCTIONS)}")


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _check_same_shape(name: str, prediction: Tensor, target: Tensor) -> None:
    """Refuse silent broadcasting: (N, 1) against (N,) would compare every pair."""
    if prediction.shape != target.shape:
        raise ValueError(
            f"{name} got predictions of shape {prediction.shape} and targets of shape "
            f"{target.shape}: expected equal shapes"
        )


def mse_loss(prediction: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean((prediction - target)^2)."""
    _check_reduction(reduction)
    target = _lift(target, prediction)
    _check_same_shape("mse_loss", prediction, target)
    # BEGIN SOLUTION
    return _reduce((prediction - target) ** 2, reduction)
    # END SOLUTION


def _class_targets(logits: Tensor, targets) -> np.ndarray:
    """Integer class indices of shape (N,), checked against logits of shape (N, C)."""
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if logits.ndim != 2:
        raise ValueError(
            f"cross_entropy expects logits of shape (N, C); got {logits.shape} "
            "(reshape sequences to (N*T, C) first)"
        )
    if targets.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy targets must be integer class indices; got dtype {targets.dtype}")
    if targets.shape != logits.shape[:1]:
        raise ValueError(
            f"cross_entropy got logits of shape {logits.shape} and targets of shape {targets.shape}: "
            f"expected targets of shape ({logits.shape[0]},)"
        )
    if targets.size and (targets.min() < 0 or targets.max() >= logits.shape[1]):
        raise ValueError(
            f"cross_entropy targets must lie in [0, {logits.shape[1] - 1}]; "
            f"got values from {targets.min()} to {targets.max()}"
        )
    return targets


def cross_entropy(logits: Tensor, targets, reduction: str = "mean") -> Tensor:
    """-log softmax(logits)[target], from raw logits (N, C) and integer targets (N,)."""
    _check_reduction(reduction)
    targets = _class_targets(logits, targets)
    # BEGIN SOLUTION
    log_probs = log_softmax(logits.detach(), dim=1).data
    losses = -log_probs[np.arange(len(targets)), targets]
    if reduction == "mean":
        data = losses.mean()
    elif reduction == "sum":
        data = losses.sum()
    else:
        data = losses
    # END SOLUTION
    saved = {"targets": targets, "reduction": reduction, "log_probs": log_probs}
    return Tensor._result(np.asarray(data, dtype=logits.dtype), "cross_entropy", (logits,), saved)


def binary_cross_entropy(probabilities: Tensor, target, reduction: str = "mean", eps: float = 1e-7) -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) for probabilities p; p is clipped to [eps, 1 - eps]."""
    _check_reduction(reduction)
    target = _lift(target, probabilities)
    _check_same_shape("binary_cross_entropy", probabilities, target)
    # BEGIN SOLUTION
    p = probabilities.clip(eps, 1.0 - eps)
    return _reduce(-(target * p.log() + (1.0 - target) * (1.0 - p).log()), reduction)
    # END SOLUTION


def binary_cross_entropy_with_logits(logits: Tensor, target, reduction: str = "mean") -> Tensor:
    """BCE from logits x: max(x, 0) - x y + log(1 + e^-|x|), finite for any x."""
    _check_reduction(reduction)
    target = _lift(target, logits)
    _check_same_shape("binary_cross_entropy_with_logits", logits, target)
    # BEGIN SOLUTION
    x, y = logits.data, target.data
    losses = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    data = losses.mean() if reduction == "mean" else losses.sum() if reduction == "sum" else losses
    # END SOLUTION
    saved = {"targets": target.data, "reduction": reduction}
    return Tensor._result(np.asarray(data, dtype=logits.dtype), "bce_with_logits", (logits,), saved)


class Loss:
    """Module form of a loss: ``loss_fn = CrossEntropyLoss(); loss = loss_fn(logits, y)``."""

    def __init__(self, reduction: str = "mean"):
        _check_reduction(reduction)
        self.reduction = reduction

    def __call__(self, prediction: Tensor, target) -> Tensor:
        return self.forward(prediction, target)

    def forward(self, prediction: Tensor, target) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSELoss(Loss):
    def forward(self, prediction, target):
        return mse_loss(prediction, target, self.reduction)


class CrossEntropyLoss(Loss):
    def forward(self, logits, targets):
        return cross_entropy(logits, targets, self.reduction)


class BinaryCrossEntropyLoss(Loss):
    def forward(self, probabilities, target):
        return binary_cross_entropy(probabilities, target, self.reduction)


class BCEWithLogitsLoss(Loss):
    def forward(self, logits, target):
        return binary_cross_entropy_with_logits(logits, target, self.reduction)


__all__ = [
    "BCEWithLogitsLoss", "BinaryCrossEntropyLoss", "CrossEntropyLoss", "Loss", "MSELoss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "mse_loss",
    "stable_sigmoid",
]
