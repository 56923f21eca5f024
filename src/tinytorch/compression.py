"""Module 17 — Compression: fewer weights, smaller layers, a small student taught by a big one.

Trained networks are redundant: many weights are close to zero and many neurons barely matter.
Four ways to use that, each measured in the lab:

- **Magnitude pruning** sets the smallest weights to exactly zero. *Per layer*, each weight
  tensor loses the same fraction; *globally*, one threshold is chosen across all layers, so a
  layer of large weights keeps more of them than a layer of small ones. The zeros must stay
  zeros while the network is fine-tuned to recover its accuracy: an optimizer step moves
  every weight (momentum, Adam's moments and weight decay do not care that a gradient is 0),
  so ``PruningMasks.attach(optimizer)`` makes every later ``step()`` zero the pruned
  gradients before the update and the pruned weights after it.
- Unstructured zeros save nothing by themselves: a dense matmul multiplies zeros as fast as
  anything else. **Structured pruning** removes whole neurons instead: in Linear -> ReLU ->
  Linear, hidden neuron j is column j of the first weight (and entry j of its bias) and row j
  of the second. Dropping them gives two smaller dense layers that compute exactly what the
  masked network computes, and the smaller matmuls are really faster. Between two
  convolutions the same holds for channels: filter j of the first, input channel j of the
  second.
- **Low-rank factorisation** replaces a weight W (in x out) by the product of two thin
  matrices from its singular value decomposition, ``W ~ (U_r S_r) (V_r^T)``: two Linear layers
  with r * (in + out) weights instead of in * out. Keeping the r largest singular values is the
  best rank-r approximation (Eckart-Young); the error is the root of the sum of the squared
  singular values dropped.
- **Knowledge distillation** (Hinton, Vinyals and Dean, 2015) trains a small student on the
  teacher's softened probabilities as well as the labels:
  ``alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))``.
  A temperature T > 1 spreads the teacher's probabilities, so the student also learns which
  wrong classes look alike; the T^2 keeps the soft term's gradient the same size at any T.
  It is composed from existing differentiable ops (log_softmax, softmax, cross_entropy), so
  its gradient comes from module 05's engine.
"""

from __future__ import annotations

import copy

import numpy as np

from tinytorch.activations import log_softmax, softmax
from tinytorch.layers import Linear, Module, Parameter, Sequential
from tinytorch.losses import cross_entropy
from tinytorch.optimizers import Optimizer
from tinytorch.spatial import Conv2d
from tinytorch.tensor import Tensor


# -- magnitude pruning -----------------------------------------------------------------------------
def prunable_weights(model: Module) -> dict:
    """The weights pruning applies to, by dotted name: the ``weight`` of every Linear and
    Conv2d (biases and normalisation parameters are few and matter more: they are kept)."""
    weights = {}
    for name, module in model.named_modules():
        if isinstance(module, (Linear, Conv2d)):
            weights[f"{name}.weight" if name else "weight"] = module.weight
    if not weights:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv2d weight to prune")
    return weights


def _check_sparsity(sparsity: float) -> None:
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity={sparsity}: expected the fraction of weights to remove, 0 <= sparsity < 1")


def _smallest_count(size: int, sparsity: float) -> int:
    return int(round(size * sparsity))


def smallest_magnitude_mask(values: np.ndarray, count: int) -> np.ndarray:
    """A boolean mask that is False at the ``count`` entries of smallest |value| (exactly
    ``count`` of them, ties broken by position) and True elsewhere."""
    # BEGIN SOLUTION
    keep = np.ones(values.size, dtype=bool)
    if count > 0:
        order = np.argsort(np.abs(values).ravel(), kind="stable")
        keep[order[:count]] = False
    return keep.reshape(values.shape)
    # END SOLUTION


class PruningMasks:
    """Boolean masks (True = kept) for some of a model's weights, by name.

    ``apply()`` zeroes the pruned weights; ``attach(optimizer)`` keeps them zero through every
    later optimizer step; ``sparsity()`` measures the fraction of zeros they impose.
    """

    def __init__(self, weights: dict, masks: dict):
        for name, mask in masks.items():
            if mask.shape != weights[name].shape or mask.dtype != bool:
                raise ValueError(f"mask of {name}: expected a boolean array of shape {weights[name].shape}")
        self.weights, self.masks = weights, masks

    def apply(self) -> None:
        """Set every pruned weight to exactly 0 (in place: the optimizer keeps its references)."""
        # BEGIN SOLUTION
        for name, mask in self.masks.items():
            self.weights[name].data *= mask
        # END SOLUTION

    def attach(self, optimizer: Optimizer) -> Optimizer:
        """Make ``optimizer.step()`` keep the pruned weights at 0 from now on, and return it.

        The optimizer's own ``step`` still does the update; around it, the pruned entries of
        each gradient are zeroed before (so momentum and Adam's moments stop growing there)
        and the pruned weights after (so momentum left from before pruning, and weight decay,
        cannot revive them).
        """
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"PruningMasks.attach expects an Optimizer; got {type(optimizer).__name__}")
        owned = {id(param) for param in optimizer.params}
        missing = [name for name, weight in self.weights.items() if id(weight) not in owned]
        if missing:
            raise ValueError(f"PruningMasks.attach: the optimizer does not update {missing}; expected an "
                             "optimizer over the pruned model's parameters")
        update = optimizer.step  # the class's step, or the step of masks attached before

        def step_keeping_pruned_weights_at_zero() -> None:
            # BEGIN SOLUTION
            for name, mask in self.masks.items():
                weight = self.weights[name]
                if weight.grad is not None:
                    weight.grad *= mask
            update()
            self.apply()
            # END SOLUTION

        optimizer.step = step_keeping_pruned_weights_at_zero
        return optimizer

    def sparsity(self) -> float:
        """Fraction of the masked weights that are pruned."""
        pruned = sum(int(mask.size - np.count_nonzero(mask)) for mask in self.masks.values())
        return pruned / sum(mask.size for mask in self.masks.values())

    def layer_sparsity(self) -> dict:
        return {name: 1.0 - np.count_nonzero(mask) / mask.size for name, mask in self.masks.items()}

    def __repr__(self) -> str:
        return f"PruningMasks({len(self.masks)} weights, sparsity={self.sparsity():.3f})"


def magnitude_prune(model: Module, sparsity: float, scope: str = "global") -> PruningMasks:
    """Zero the ``sparsity`` fraction of smallest-magnitude weights of every Linear and Conv2d.

    ``scope="layer"`` prunes that fraction of each weight tensor; ``scope="global"`` ranks all
    the weights together (one threshold), so layers lose different fractions. Returns the
    masks, already applied; ``masks.attach(optimizer)`` keeps them through fine-tuning.
    """
    _check_sparsity(sparsity)
    if scope not in ("global", "layer"):
        raise ValueError(f"scope={scope!r}: expected 'global' (one threshold) or 'layer' (each layer alike)")
    weights = prunable_weights(model)
    # BEGIN SOLUTION
    if scope == "layer":
        masks = {name: smallest_magnitude_mask(w.data, _smallest_count(w.size, sparsity))
                 for name, w in weights.items()}
    else:
        everything = np.concatenate([w.data.ravel() for w in weights.values()])
        flat = smallest_magnitude_mask(everything, _smallest_count(everything.size, sparsity))
        masks, start = {}, 0
        for name, w in weights.items():
            masks[name] = flat[start:start + w.size].reshape(w.shape)
            start += w.size
    # END SOLUTION
    pruning = PruningMasks(weights, masks)
    pruning.apply()
    return pruning


# -- structured pruning: remove whole neurons and channels --------------------------------------------
def neuron_importance(first: Linear) -> np.ndarray:
    """One score per hidden neuron of ``first``: the L2 norm of its incoming weights and bias
    (column j of the (in, out) weight)."""
    # BEGIN SOLUTION
    squares = np.sum(first.weight.data.astype(np.float64) ** 2, axis=0)
    if first.bias is not None:
        squares += first.bias.data.astype(np.float64) ** 2
    return np.sqrt(squares)
    # END SOLUTION


def channel_importance(conv: Conv2d) -> np.ndarray:
    """One score per output channel of ``conv``: the L2 norm of its filter and bias."""
    # BEGIN SOLUTION
    squares = np.sum(conv.weight.data.astype(np.float64) ** 2, axis=(1, 2, 3))
    if conv.bias is not None:
        squares += conv.bias.data.astype(np.float64) ** 2
    return np.sqrt(squares)
    # END SOLUTION


def most_important(scores: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the ``keep`` largest scores, in increasing order (the survivors keep their
    order; ties go to the earlier unit)."""
    # BEGIN SOLUTION
    return np.sort(np.argsort(-scores, kind="stable")[:keep])
    # END SOLUTION


def _check_zero_preserving(activation) -> None:
    """Removing a neuron equals zeroing it only if the activation maps 0 to 0."""
    at_zero = activation(Tensor(np.zeros(1, dtype=np.float32))).data
    if at_zero.shape != (1,) or at_zero[0] != 0.0:
        raise ValueError(f"prune_mlp_neurons: {activation!r} maps 0 to {at_zero.ravel()[:1]}, so a removed neuron "
                         "would still add to the next layer; expected an activation with f(0) = 0 (ReLU, Tanh, GELU)")


def prune_neurons(first: Linear, second: Linear, keep: int) -> tuple[Linear, Linear]:
    """Two smaller Linear layers that keep the ``keep`` most important hidden neurons.

    ``first`` (in, hidden) loses the weight columns and bias entries of the removed neurons,
    ``second`` (hidden, out) the matching weight rows; kept neurons stay in their order. With
    an activation f(0) = 0 between them, the result computes exactly what the original does
    with the removed neurons masked to zero.
    """
    if not (isinstance(first, Linear) and isinstance(second, Linear)):
        raise TypeError("prune_neurons expects two Linear layers (first, second)")
    if first.out_features != second.in_features:
        raise ValueError(f"prune_neurons: {first!r} has {first.out_features} outputs but {second!r} takes "
                         f"{second.in_features} inputs: expected consecutive layers")
    if not (isinstance(keep, (int, np.integer)) and 1 <= keep <= first.out_features):
        raise ValueError(f"prune_neurons keep={keep}: expected a whole number of neurons from 1 to {first.out_features}")
    smaller_first, smaller_second = copy.deepcopy(first), copy.deepcopy(second)
    # BEGIN SOLUTION
    kept = most_important(neuron_importance(first), keep)
    smaller_first.weight = Parameter(first.weight.data[:, kept], dtype=first.weight.dtype)
    if first.bias is not None:
        smaller_first.bias = Parameter(first.bias.data[kept], dtype=first.bias.dtype)
    smaller_second.weight = Parameter(second.weight.data[kept, :], dtype=second.weight.dtype)
    # END SOLUTION
    smaller_first.out_features = smaller_second.in_features = int(keep)
    return smaller_first, smaller_second


def prune_channels(first: Conv2d, second: Conv2d, keep: int) -> tuple[Conv2d, Conv2d]:
    """Two smaller Conv2d layers that keep the ``keep`` most important channels between them.

    ``first`` loses the filters (weight rows of axis 0) and bias entries of the removed
    channels, ``second`` the matching input channels (axis 1 of its weight). Between them
    only per-channel operations that map 0 to 0 may sit (ReLU, max or average pooling) for
    the result to equal the original with those channels masked to zero.
    """
    if not (isinstance(first, Conv2d) and isinstance(second, Conv2d)):
        raise TypeError("prune_channels expects two Conv2d layers (first, second)")
    if first.out_channels != second.in_channels:
        raise ValueError(f"prune_channels: {first!r} has {first.out_channels} output channels but {second!r} "
                         f"takes {second.in_channels}: expected consecutive layers")
    if not (isinstance(keep, (int, np.integer)) and 1 <= keep <= first.out_channels):
        raise ValueError(f"prune_channels keep={keep}: expected a whole number of channels from 1 to {first.out_channels}")
    smaller_first, smaller_second = copy.deepcopy(first), copy.deepcopy(second)
    # BEGIN SOLUTION
    kept = most_important(channel_importance(first), keep)
    smaller_first.weight = Parameter(first.weight.data[kept], dtype=first.weight.dtype)
    if first.bias is not None:
        smaller_first.bias = Parameter(first.bias.data[kept], dtype=first.bias.dtype)
    smaller_second.weight = Parameter(second.weight.data[:, kept], dtype=second.weight.dtype)
    # END SOLUTION
    smaller_first.out_channels = smaller_second.in_channels = int(keep)
    return smaller_first, smaller_second


def prune_mlp_neurons(model: Sequential, fraction: float) -> Sequential:
    """A new Sequential in which every Linear -> activation -> Linear pair keeps the
    ``1 - fraction`` most important hidden neurons (at least one). Layers are copied, the
    original model is unchanged."""
    _check_sparsity(fraction)
    if not isinstance(model, Sequential):
        raise TypeError(f"prune_mlp_neurons expects a Sequential; got {type(model).__name__}")
    layers = list(copy.deepcopy(model).layers)
    linear_positions = [i for i, layer in enumerate(layers) if isinstance(layer, Linear)]
    pairs = [(i, j) for i, j in zip(linear_positions, linear_positions[1:]) if j == i + 2]
    if not pairs:
        raise ValueError("prune_mlp_neurons found no Linear -> activation -> Linear pair in the model")
    for i, j in pairs:
        _check_zero_preserving(layers[i + 1])
        keep = max(1, int(round(layers[i].out_features * (1.0 - fraction))))
        layers[i], layers[j] = prune_neurons(layers[i], layers[j], keep)
    return Sequential(*layers)


# -- low-rank factorisation --------------------------------------------------------------------------
def low_rank_linear(linear: Linear, rank: int) -> Sequential:
    """Two Linear layers, (in -> rank, no bias) then (rank -> out, with the bias), whose product
    is the best rank-``rank`` approximation of ``linear.weight``: ``W ~ (U_r S_r) V_r^T``."""
    if not isinstance(linear, Linear):
        raise TypeError(f"low_rank_linear expects a Linear layer; got {type(linear).__name__}")
    full_rank = min(linear.in_features, linear.out_features)
    if not (isinstance(rank, (int, np.integer)) and 1 <= rank <= full_rank):
        raise ValueError(f"low_rank_linear rank={rank} for {linear!r}: expected a whole number from 1 to {full_rank}")
    dtype = linear.weight.dtype
    # BEGIN SOLUTION
    u, s, vt = np.linalg.svd(linear.weight.data.astype(np.float64), full_matrices=False)
    down = Linear(linear.in_features, rank, bias=False)
    down.weight = Parameter(u[:, :rank] * s[:rank], dtype=dtype)
    up = Linear(rank, linear.out_features, bias=linear.bias is not None)
    up.weight = Parameter(vt[:rank], dtype=dtype)
    if linear.bias is not None:
        up.bias = Parameter(linear.bias.data.copy(), dtype=dtype)
    # END SOLUTION
    return Sequential(down, up)


def low_rank_error(weight: np.ndarray, rank: int) -> float:
    """Relative Frobenius error of the best rank-``rank`` approximation of ``weight``:
    sqrt(sum of the dropped squared singular values / sum of all of them)."""
    s = np.linalg.svd(np.asarray(weight, dtype=np.float64), compute_uv=False)
    return float(np.sqrt(np.sum(s[rank:] ** 2) / np.sum(s**2)))


# -- knowledge distillation --------------------------------------------------------------------------
def distillation_loss(student_logits: Tensor, teacher_logits, targets, temperature: float = 4.0,
                      alpha: float = 0.5) -> Tensor:
    """Hinton's distillation loss, averaged over the batch:

        alpha * cross_entropy(student, targets)
        + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))

    with KL(p || q) = sum p (log p - log q) over the classes. The teacher is a constant (its
    logits are detached): only the student learns.
    """
    if not temperature > 0:
        raise ValueError(f"distillation_loss temperature={temperature}: expected T > 0")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"distillation_loss alpha={alpha}: expected 0 <= alpha <= 1 (the weight of the hard labels)")
    teacher = teacher_logits.detach() if isinstance(teacher_logits, Tensor) else Tensor(teacher_logits,
                                                                                         dtype=student_logits.dtype)
    if teacher.shape != student_logits.shape or student_logits.ndim != 2:
        raise ValueError(f"distillation_loss got student logits of shape {student_logits.shape} and teacher logits "
                         f"of shape {teacher.shape}: expected the same shape (N, C)")
    # BEGIN SOLUTION
    teacher_log_probs = log_softmax(teacher / temperature, dim=1)
    teacher_probs = softmax(teacher / temperature, dim=1)
    student_log_probs = log_softmax(student_logits / temperature, dim=1)
    kl = (teacher_probs * (teacher_log_probs - student_log_probs)).sum(axis=1).mean()
    hard = cross_entropy(student_logits, targets)
    return hard * alpha + kl * ((1.0 - alpha) * temperature**2)
    # END SOLUTION


__all__ = [
    "PruningMasks", "channel_importance", "distillation_loss", "low_rank_error", "low_rank_linear",
    "magnitude_prune", "most_important", "neuron_importance", "prunable_weights", "prune_channels",
    "prune_mlp_neurons", "prune_neurons", "smallest_magnitude_mask",
]
