"""Module 06 — Optimizers: turning gradients into better weights.

After ``loss.backward()`` every parameter holds ``.grad``, the direction in which the loss
grows fastest. An optimizer moves each parameter a little the other way. How far and in which
exact direction is what distinguishes them:

- ``SGD``: ``p -= lr * g``, optionally with momentum (a running velocity that smooths noisy
  gradients and speeds up along consistent directions) and Nesterov's look-ahead variant;
- ``Adam``: a per-parameter step size from running averages of ``g`` and ``g**2``;
- ``AdamW``: Adam with weight decay applied to the weights directly, not mixed into ``g``.

Learning-rate schedules (``StepLR``, ``CosineAnnealingLR``) change ``optimizer.lr`` between
epochs.

Systems notes. Updates happen **in place** on ``param.data``: the model, other optimizers and
checkpoints hold references to those arrays, so replacing them would silently detach the
model from its optimizer. Each update is a handful of whole-array NumPy operations per
parameter (``out=`` avoids temporaries), never a Python loop over elements. The state an
optimizer keeps costs memory: nothing for plain SGD, one array per parameter for momentum,
two for Adam (so Adam triples the memory of the weights themselves).

The equations follow ``torch.optim`` exactly, so results can be compared number for number.
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch.tensor import Tensor


def _check_at_least(owner: str, name: str, value: float, low: float = 0.0) -> None:
    if not value >= low:  # also rejects NaN
        raise ValueError(f"{owner} {name}={value}: expected {name} >= {low}")


class Optimizer:
    """Base class: holds the parameters, their per-parameter state, and the learning rate.

    ``params`` is any iterable of tensors (``model.parameters()``). ``state[i]`` is a dict of
    arrays and numbers kept for ``params[i]`` (velocity, moments, step count), created on the
    first step that parameter takes. Subclasses list their hyper-parameters in
    ``hyperparameter_names`` so ``state_dict`` can save them.
    """

    hyperparameter_names: tuple[str, ...] = ("lr",)

    def __init__(self, params, lr: float):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name} expects an iterable of parameters, e.g. model.parameters(); got one Tensor")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{name} got an empty parameter list: expected at least one parameter")
        seen = set()
        for index, param in enumerate(self.params):
            if not isinstance(param, Tensor):
                raise TypeError(f"{name} parameter {index} is a {type(param).__name__}: expected a Tensor")
            if not param.is_leaf:
                raise ValueError(
                    f"{name} parameter {index} (shape {param.shape}) is the result of an operation; "
                    "expected leaf tensors such as model.parameters() (only leaves receive .grad)"
                )
            if id(param) in seen:
                raise ValueError(f"{name} parameter {index} appears twice in the parameter list")
            seen.add(id(param))
        if not any(param.requires_grad for param in self.params):
            raise ValueError(
                f"{name} got {len(self.params)} parameters and none requires gradients: expected "
                "tensors created with requires_grad=True (e.g. layers.Parameter); a frozen "
                "parameter (requires_grad=False) is allowed, but not only frozen ones"
            )
        _check_at_least(name, "lr", lr)
        self.lr = float(lr)
        self.state: list[dict] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget the gradients of the last step (``backward`` adds to ``.grad``, never resets it)."""
        # BEGIN SOLUTION
        for param in self.params:
            param.grad = None
        # END SOLUTION

    def step(self) -> None:
        """Update every parameter that has a gradient; parameters whose ``.grad`` is None are skipped."""
        raise NotImplementedError(f"{type(self).__name__} must define step()")

    # -- saving and resuming ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Hyper-parameters and per-parameter state as a flat dict of numbers and array copies.

        Keys are ``"lr"`` and the other hyper-parameters, then ``"state.<index>.<name>"`` (e.g.
        ``"state.0.exp_avg"``), flat like ``Module.state_dict`` so a checkpoint is one ``np.savez``.
        """
        state = {name: getattr(self, name) for name in self.hyperparameter_names}
        for index, entries in enumerate(self.state):
            for key, value in entries.items():
                state[f"state.{index}.{key}"] = value.copy() if isinstance(value, np.ndarray) else value
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned (numbers may arrive as 0-d arrays from ``np.load``)."""
        name = type(self).__name__
        missing = [key for key in self.hyperparameter_names if key not in state]
        if missing:
            raise KeyError(f"{name}.load_state_dict: missing hyper-parameters {missing}")
        restored: list[dict] = [{} for _ in self.params]
        for key, value in state.items():
            if not key.startswith("state."):
                continue
            _, index_text, entry = key.split(".", 2)
            index = int(index_text)
            if index >= len(self.params):
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter {index}, but this optimizer has "
                    f"{len(self.params)} parameters"
                )
            value = np.asarray(value)
            if value.dtype.kind in "iub":  # counters such as Adam's step
                restored[index][entry] = value.item()
                continue
            param = self.params[index]
            if value.shape != param.shape:
                raise ValueError(
                    f"{name}.load_state_dict: {key} has shape {value.shape} but parameter {index} "
                    f"has shape {param.shape}"
                )
            restored[index][entry] = np.array(value, dtype=param.data.dtype)
        for key in self.hyperparameter_names:
            setattr(self, key, np.asarray(state[key]).item())
        self.state = restored

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={getattr(self, key)}" for key in self.hyperparameter_names)
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.

    With g = grad + weight_decay * p (weight decay as an L2 penalty on the loss):

        plain:     p <- p - lr * g
        momentum:  v <- momentum * v + g ;  p <- p - lr * v            (v starts at g)
        nesterov:  v as above            ;  p <- p - lr * (g + momentum * v)
    """

    hyperparameter_names = ("lr", "momentum", "nesterov", "weight_decay")

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(params, lr)
        _check_at_least("SGD", "momentum", momentum)
        _check_at_least("SGD", "weight_decay", weight_decay)
        if nesterov and momentum == 0:
            raise ValueError("SGD nesterov=True needs momentum > 0; got momentum=0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)

    def step(self) -> None:
        lr, momentum, weight_decay = self.lr, self.momentum, self.weight_decay
        for param, state in zip(self.params, self.state):
            grad = param.grad
            if grad is None:
                continue
            # BEGIN SOLUTION
            if weight_decay:
                grad = grad + weight_decay * param.data
            if momentum:
                velocity = state.get("velocity")
                if velocity is None:
                    velocity = state["velocity"] = np.array(grad, dtype=param.data.dtype)
                else:
                    np.multiply(velocity, momentum, out=velocity)
                    np.add(velocity, grad, out=velocity)
                grad = grad + momentum * velocity if self.nesterov else velocity
            param.data -= lr * grad
            # END SOLUTION


class Adam(Optimizer):
    """Adam: each parameter gets its own step size from running moments of its gradient.

    With g = grad + weight_decay * p and t the parameter's step count (from 1):

        m <- beta1 * m + (1 - beta1) * g            first moment (mean of g)
        v <- beta2 * v + (1 - beta2) * g**2         second moment (mean of g squared)
        p <- p - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    m and v start at zero, so early on they are biased towards zero; dividing by
    ``1 - beta**t`` (the bias correction) removes that bias.
    """

    hyperparameter_names = ("lr", "beta1", "beta2", "eps", "weight_decay")
    decoupled_weight_decay = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        name = type(self).__name__
        if len(betas) != 2:
            raise ValueError(f"{name} betas={betas!r}: expected a pair (beta1, beta2)")
        for index, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name} betas[{index}]={beta}: expected 0 <= beta < 1")
        _check_at_least(name, "eps", eps)
        _check_at_least(name, "weight_decay", weight_decay)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)

    @property
    def betas(self) -> tuple[float, float]:
        return (self.beta1, self.beta2)

    def step(self) -> None:
        lr, beta1, beta2, eps, weight_decay = self.lr, self.beta1, self.beta2, self.eps, self.weight_decay
        for param, state in zip(self.params, self.state):
            grad = param.grad
            if grad is None:
                continue
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(param.data)
                state["exp_avg_sq"] = np.zeros_like(param.data)
            # BEGIN SOLUTION
            state["step"] += 1
            t = state["step"]
            if weight_decay and self.decoupled_weight_decay:
                param.data *= 1.0 - lr * weight_decay
            elif weight_decay:
                grad = grad + weight_decay * param.data
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            np.multiply(exp_avg, beta1, out=exp_avg)
            exp_avg += (1.0 - beta1) * grad
            np.multiply(exp_avg_sq, beta2, out=exp_avg_sq)
            squared = np.square(grad)
            squared *= 1.0 - beta2
            exp_avg_sq += squared
            bias_correction1 = 1.0 - beta1**t
            bias_correction2 = 1.0 - beta2**t
            denominator = np.sqrt(exp_avg_sq, out=np.empty_like(exp_avg_sq))  # an array even for 0-d
            denominator /= math.sqrt(bias_correction2)
            denominator += eps
            np.divide(exp_avg, denominator, out=denominator)
            denominator *= lr / bias_correction1
            param.data -= denominator
            # END SOLUTION


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p <- p * (1 - lr * weight_decay).

    In ``Adam`` the decay term goes into g and is then divided by sqrt(v), so parameters with
    large gradients are barely decayed. AdamW shrinks every weight by the same factor,
    before the Adam step, independent of its gradient history.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


class LRScheduler:
    """Sets ``optimizer.lr`` from the epoch count: call ``scheduler.step()`` once per epoch.

    ``base_lr`` is the optimizer's learning rate when the scheduler is made; ``last_epoch``
    counts the ``step()`` calls so far (0 right after construction).
    """

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} expects an Optimizer; got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def lr_at(self, epoch: int) -> float:
        """The learning rate for epoch ``epoch`` (0 is the first)."""
        raise NotImplementedError(f"{type(self).__name__} must define lr_at()")

    def step(self) -> None:
        """Move to the next epoch and set the optimizer's learning rate for it."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> float:
        return self.optimizer.lr

    def state_dict(self) -> dict:
        return {"base_lr": self.base_lr, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.base_lr = float(np.asarray(state["base_lr"]).item())
        self.last_epoch = int(np.asarray(state["last_epoch"]).item())


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs: base * gamma**(epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"StepLR step_size={step_size}: expected a positive whole number of epochs")
        if not gamma > 0:
            raise ValueError(f"StepLR gamma={gamma}: expected gamma > 0")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr_at(self, epoch: int) -> float:
        # BEGIN SOLUTION
        return self.base_lr * self.gamma ** (epoch // self.step_size)
        # END SOLUTION


class CosineAnnealingLR(LRScheduler):
    """Follow half a cosine from the base rate down to ``eta_min`` over ``T_max`` epochs:

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    Large steps early, a gentle landing at the end; no decision about *when* to decay.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        super().__init__(optimizer)
        if int(T_max) != T_max or T_max < 1:
            raise ValueError(f"CosineAnnealingLR T_max={T_max}: expected a positive whole number of epochs")
        _check_at_least("CosineAnnealingLR", "eta_min", eta_min)
        self.T_max, self.eta_min = int(T_max), float(eta_min)

    def lr_at(self, epoch: int) -> float:
        # BEGIN SOLUTION
        cosine = (1.0 + math.cos(math.pi * epoch / self.T_max)) / 2.0
        return self.eta_min + (self.base_lr - self.eta_min) * cosine
        # END SOLUTION


__all__ = ["Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "Optimizer", "SGD", "StepLR"]
