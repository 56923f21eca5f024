"""Module 03 — Layers: parameters, modules, and the Linear layer.

A ``Module`` is anything with a ``forward``. Assigning a ``Parameter`` or another ``Module`` to
an attribute registers it, so ``model.parameters()`` finds every weight of a nested model
without any bookkeeping by hand (the trick PyTorch's ``nn.Module`` plays with ``__setattr__``).
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch.rng import generator
from tinytorch.tensor import Tensor, as_tensor


class Parameter(Tensor):
    """A tensor that is a learnable weight: float, requires_grad, found by ``parameters()``."""

    __slots__ = ()

    def __init__(self, data, dtype=None):
        super().__init__(data, dtype=dtype, requires_grad=True)


class Module:
    """Base class of every layer and model."""

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before assigning {name!r}"
            )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- walking the tree -------------------------------------------------------------------
    def named_modules(self, prefix: str = ""):
        """Yield (dotted name, module) for this module and every module inside it."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self):
        """Yield (dotted name, parameter), e.g. ``("layers.0.weight", ...)``, each once."""
        seen = set()
        for module_name, module in self.named_modules():
            for name, parameter in module._parameters.items():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    yield (f"{module_name}.{name}" if module_name else name), parameter

    def parameters(self) -> list:
        return [parameter for _, parameter in self.named_parameters()]

    def zero_grad(self) -> None:
        for parameter in self.parameters():
            parameter.grad = None

    def train(self, mode: bool = True) -> "Module":
        for _, module in self.named_modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # -- saving and loading -----------------------------------------------------------------
    def state_dict(self) -> dict:
        """Copies of every parameter's array, by dotted name."""
        return {name: parameter.data.copy() for name, parameter in self.named_parameters()}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy arrays into the parameters in place (optimizers keep their references)."""
        parameters = dict(self.named_parameters())
        missing = sorted(set(parameters) - set(state))
        unexpected = sorted(set(state) - set(parameters))
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        for name, parameter in parameters.items():
            if name not in state:
                continue
            value = np.asarray(state[name])
            if value.shape != parameter.shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {value.shape} in the state but "
                    f"{parameter.shape} in the model"
                )
            parameter.data[...] = value

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


class Linear(Module):
    """y = x @ W + b, with W of shape (in_features, out_features).

    Initialisation (as PyTorch's default): W and b uniform in [-1/sqrt(in), 1/sqrt(in)]. Each
    weight then has variance 1/(3 in), so the output's variance is about a third of the input's
    whatever the layer's width: the scale does not blow up with width (He init for ReLU would
    use variance 2/in instead).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear({in_features}, {out_features}): feature counts must be positive integers"
            )
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        rng = generator()
        self.weight = Parameter(rng.uniform(-bound, bound, (in_features, out_features)))
        self.bias = Parameter(rng.uniform(-bound, bound, out_features)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """``x`` of shape (..., in_features); a list or array is taken as a constant Tensor."""
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear({self.in_features}, {self.out_features}) got input of shape {x.shape}: "
                f"expected last dimension {self.in_features}"
            )
        # BEGIN SOLUTION
        out = x @ self.weight
        if self.bias is not None:
            out = out + self.bias
        return out
        # END SOLUTION

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Apply layers one after another: ``Sequential(Linear(2, 8), ReLU(), Linear(8, 1))``."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = list(layers)
        for index, layer in enumerate(self.layers):
            if not callable(layer):
                raise TypeError(f"Sequential layer {index} is {layer!r}, which is not callable")
            setattr(self, str(index), layer)

    def forward(self, x):
        # BEGIN SOLUTION
        for layer in self.layers:
            x = layer(x)
        return x
        # END SOLUTION

    def __getitem__(self, index):
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}): " + repr(layer).replace("\n", "\n  ") for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"


class Dropout(Module):
    """Zero each input with probability p while training, scaling the rest by 1/(1-p).

    The scaling keeps the expected activation unchanged, so evaluation (where dropout is
    off and the input passes through untouched) needs no correction.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout probability p={p}: expected 0 <= p < 1")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        # BEGIN SOLUTION
        keep = generator().random(x.shape) >= self.p
        mask = (keep / (1.0 - self.p)).astype(x.dtype)
        return x * Tensor._constant(mask)
        # END SOLUTION

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Keep the batch axis, flatten the rest: (N, C, H, W) -> (N, C*H*W)."""

    def forward(self, x: Tensor) -> Tensor:
        # BEGIN SOLUTION
        return x.reshape(x.shape[0], -1)
        # END SOLUTION
