"""Hypothesis strategies for grading autograd, all in one place.

Every strategy here produces *valid* inputs by construction: values are mapped into an op's
domain rather than filtered with ``assume()``, so hypothesis never wastes examples and never
gives up on an op. The rules, and why:

- shapes have 0 to 3 dimensions and sides of 1 to 4: side 1 is where broadcasting bugs live,
  and at most 64 elements keeps the element-by-element gradient check cheap;
- inputs of binary ops have *mutually broadcastable* shapes, often of different ranks;
- values are float64. ``real`` values have magnitudes from 1e-3 to 3 with many small ones
  (a backward that zeroes small values is caught) and never 0, so ``relu`` and ``abs`` are
  never evaluated within 1e-3 of their kink (finite differences use eps = 1e-6);
- ``positive`` values (log, sqrt, the base of pow) lie in [0.01, 3], away from the pole;
- ``distinct`` values (max, min) are a shuffled ladder, so no two are within 1e-2 and a
  tie never decides which entry wins;
- ``clip`` values keep 1e-3 away from the bounds.

A case (``OpCase``) is the inputs of one op call: the arrays, which of them require a
gradient, and the op's other arguments (axis, targets, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from math import prod

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_DIMS = 3
MAX_SIDE = 4
SMALLEST_MAGNITUDE = 1e-3
"""Real values never come closer than this to 0 (the kink of relu and abs)."""
LARGEST_MAGNITUDE = 3.0
SMALLEST_POSITIVE = 1e-2
CLIP_MARGIN = 1e-3
"""Values given to clip keep at least this far from its bounds."""


@dataclass(frozen=True)
class OpCase:
    """The inputs of one op call: arrays (float64), which require grad, other arguments."""

    inputs: tuple
    requires_grad: tuple
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        arrays = ", ".join(np.array_repr(array, precision=6) for array in self.inputs)
        parts = [f"inputs=[{arrays}]"]
        if not all(self.requires_grad):
            parts.append(f"requires_grad={self.requires_grad}")
        if self.params:
            parts.append(f"params={self.params!r}")
        return f"OpCase({', '.join(parts)})"


# -- shapes --------------------------------------------------------------------------------
@lru_cache(maxsize=None)  # strategies are immutable; building them anew for each draw is slow
def shapes(min_dims: int = 0, max_dims: int = MAX_DIMS, min_side: int = 1):
    """Array shapes with ``min_dims`` to ``max_dims`` dimensions and sides up to 4."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=MAX_SIDE)


@st.composite
def broadcastable_shapes(draw, count: int):
    """``count`` shapes that broadcast together: each keeps the trailing axes of one full shape
    (so ranks differ) and shrinks some of them to 1 (stretched by broadcasting); about a
    third of the time every input simply has the full shape."""
    full = draw(shapes())
    if draw(st.integers(0, 2)) == 0:
        return (full,) * count
    found = []
    for _ in range(count):
        rank = draw(st.integers(0, len(full)))
        kept = full[len(full) - rank:]
        stretched = draw(st.lists(st.booleans(), min_size=rank, max_size=rank))
        found.append(tuple(1 if stretch else side for side, stretch in zip(kept, stretched)))
    return tuple(found)


# -- values, mapped into each domain ---------------------------------------------------------
@lru_cache(maxsize=None)
def _unit_arrays(shape):
    """Arrays of floats in [-1, 1]; the domains below map these into their ranges."""
    return hnp.arrays(np.float64, shape, elements=st.floats(-1.0, 1.0, allow_subnormal=False))


def _magnitudes(unit: np.ndarray, smallest: float, largest: float) -> np.ndarray:
    """|u| in [0, 1] to [smallest, largest], cubed so that about a third of values are small."""
    return np.asarray(smallest + (largest - smallest) * np.abs(unit) ** 3)


def _to_real(unit: np.ndarray) -> np.ndarray:
    sign = np.where(unit < 0, -1.0, 1.0)
    return np.asarray(sign * _magnitudes(unit, SMALLEST_MAGNITUDE, LARGEST_MAGNITUDE))


def _to_positive(unit: np.ndarray) -> np.ndarray:
    return _magnitudes(unit, SMALLEST_POSITIVE, LARGEST_MAGNITUDE)


@lru_cache(maxsize=None)
def real_arrays(shape):
    """Values in ±[1e-3, 3]: never 0, often small."""
    return _unit_arrays(shape).map(_to_real)


@lru_cache(maxsize=None)
def positive_arrays(shape):
    """Values in [0.01, 3]: the domain of log, sqrt and the base of pow."""
    return _unit_arrays(shape).map(_to_positive)


@st.composite
def distinct_arrays(draw, shape):
    """Values at least 0.4 * 6/size apart (a shuffled ladder), so max and min have no ties."""
    size = prod(shape)
    ranks = np.array(draw(st.permutations(range(size))), dtype=np.float64)
    jitter = draw(_unit_arrays((size,)))
    spacing = 2 * LARGEST_MAGNITUDE / max(size, 1)
    values = (ranks - (size - 1) / 2 + 0.3 * jitter) * spacing
    return values.reshape(shape)


@lru_cache(maxsize=None)
def probability_arrays(shape):
    """Targets for binary cross-entropy: values in [0, 1], the ends included."""
    return _unit_arrays(shape).map(lambda unit: np.asarray(np.abs(unit)))


def push_away(values: np.ndarray, points, margin: float) -> np.ndarray:
    """Move every value that lies within ``margin`` of a point out to distance ``margin``."""
    values = np.array(values, dtype=np.float64)
    for point in points:
        offset = values - point
        near = np.abs(offset) < margin
        values[near] = point + np.where(offset[near] < 0, -margin, margin)
    return values


DOMAINS = {"real": real_arrays, "positive": positive_arrays, "distinct": distinct_arrays}
"""Domain name -> strategy of arrays of a given shape."""


def _arrays(domain: str, shape):
    if domain not in DOMAINS:
        raise ValueError(f"unknown value domain {domain!r}; expected one of {', '.join(DOMAINS)}")
    return DOMAINS[domain](shape)


@st.composite
def _requires_grad(draw, count: int) -> tuple:
    """Which of ``count`` inputs require a gradient: all of them half of the time (and in the
    simplest example), else any mix with at least one (the rules' ``if a.requires_grad``
    branches need both)."""
    if count == 1 or not draw(st.booleans()):
        return (True,) * count
    flags = list(draw(st.lists(st.booleans(), min_size=count, max_size=count)))
    if all(flags) or not any(flags):
        chosen = draw(st.integers(0, count - 1))
        flags = [index == chosen for index in range(count)]
    return tuple(flags)


def seeds():
    """Seeds for the random cotangent and directions of a gradient check."""
    return st.integers(min_value=0, max_value=2**16)


# -- cases, one builder per family of ops -----------------------------------------------------
@st.composite
def elementwise_cases(draw, domain: str = "real"):
    """One input of any shape (0 to 3 dims), values from ``domain``."""
    return OpCase((draw(_arrays(domain, draw(shapes()))),), (True,))


@st.composite
def broadcast_cases(draw, domains=("real", "real")):
    """Inputs of mutually broadcastable shapes (different ranks), any of them requiring grad."""
    input_shapes = draw(broadcastable_shapes(len(domains)))
    inputs = tuple(draw(_arrays(domain, shape)) for domain, shape in zip(domains, input_shapes))
    return OpCase(inputs, draw(_requires_grad(len(domains))))


@st.composite
def axes_argument(draw, ndim: int, allow_none: bool = True):
    """An ``axis`` argument as a user writes it: None, an int (maybe negative) or a tuple."""
    if ndim == 0:
        return None if allow_none and draw(st.booleans()) else ()
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    negative = draw(st.booleans())
    chosen = [axis - ndim if negative else axis for axis in chosen]
    form = draw(st.sampled_from(["none", "int", "tuple"] if allow_none else ["int", "tuple"]))
    if form == "none":
        return None
    if form == "int":
        return chosen[0]
    return tuple(chosen)


@st.composite
def reduction_cases(draw, domain: str = "real"):
    """One input and ``axis``/``keepdims`` for sum, mean, max and min."""
    shape = draw(shapes())
    params = {"axis": draw(axes_argument(len(shape))), "keepdims": draw(st.booleans())}
    return OpCase((draw(_arrays(domain, shape)),), (True,), params)


@st.composite
def matmul_cases(draw):
    """Vector and matrix products, and batched products whose batch axes broadcast (one side
    has a batch of 2 to 4, the other none or 1), at most 3 dimensions."""
    n, k, m = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    kind = draw(st.sampled_from(
        ["matrix @ matrix", "batch against a batch of 1", "batch against no batch",
         "vector @ vector", "vector @ matrix", "matrix @ vector"]
    ))
    if kind == "matrix @ matrix":
        batch = draw(shapes(0, 1))
        left, right = (*batch, n, k), (*batch, k, m)
    elif kind.startswith("batch against"):
        batch, other = (draw(st.integers(2, MAX_SIDE)),), ((1,) if kind.endswith("1") else ())
        left_batch, right_batch = (batch, other) if draw(st.booleans()) else (other, batch)
        left, right = (*left_batch, n, k), (*right_batch, k, m)
    elif kind == "vector @ vector":
        left, right = (k,), (k,)
    elif kind == "vector @ matrix":
        left, right = (k,), (*draw(shapes(0, 1)), k, m)
    else:
        left, right = (*draw(shapes(0, 1)), n, k), (k,)
    inputs = (draw(real_arrays(left)), draw(real_arrays(right)))
    return OpCase(inputs, draw(_requires_grad(2)))


def _factorizations(size: int) -> list:
    """Every shape of 0 to 3 dimensions holding ``size`` elements."""
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    found = {(size,)} | ({()} if size == 1 else set())
    for first in divisors:
        found.add((first, size // first))
        for second in divisors:
            if (size // first) % second == 0:
                found.add((first, second, size // first // second))
    return sorted(found)


@st.composite
def reshape_cases(draw):
    """An input and a new shape with the same number of elements, sometimes using -1."""
    shape = draw(shapes())
    target = list(draw(st.sampled_from(_factorizations(prod(shape)))))
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return OpCase((draw(real_arrays(shape)),), (True,), {"shape": tuple(target)})


@st.composite
def transpose_cases(draw):
    """An input and a permutation of its axes."""
    shape = draw(shapes())
    axes = tuple(draw(st.permutations(range(len(shape)))))
    return OpCase((draw(real_arrays(shape)),), (True,), {"axes": axes})


@st.composite
def getitem_cases(draw):
    """An input and an index: basic (ints, slices, ellipsis), integer arrays (repeats) or a mask."""
    shape = draw(shapes())
    kinds = ["basic"] + (["integer arrays", "mask"] if shape else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "basic":
        index = draw(hnp.basic_indices(shape))
    elif kind == "integer arrays":
        index = draw(hnp.integer_array_indices(shape, result_shape=shapes(1, 2)))
    else:
        index = draw(hnp.arrays(np.bool_, shape))
    return OpCase((draw(real_arrays(shape)),), (True,), {"index": index})


@st.composite
def clip_cases(draw):
    """An input, and bounds (one may be None) that every value keeps 1e-3 away from."""
    low = draw(st.sampled_from([None, -1.5, -0.5, 0.25]))
    high = draw(st.sampled_from([None, 0.5, 1.0, 2.0]) if low is not None else st.sampled_from([0.5, 1.0, 2.0]))
    values = draw(real_arrays(draw(shapes())))
    values = push_away(values, [bound for bound in (low, high) if bound is not None], CLIP_MARGIN)
    return OpCase((values,), (True,), {"low": low, "high": high})


@st.composite
def concatenate_cases(draw):
    """One to three inputs that agree in every dimension but ``axis``."""
    base = list(draw(shapes(1)))
    axis = draw(st.integers(-len(base), len(base) - 1))
    count = draw(st.integers(1, 3))
    input_shapes = []
    for _ in range(count):
        base[axis] = draw(st.integers(1, MAX_SIDE))
        input_shapes.append(tuple(base))
    inputs = tuple(draw(real_arrays(shape)) for shape in input_shapes)
    return OpCase(inputs, draw(_requires_grad(count)), {"axis": axis})


@st.composite
def stack_cases(draw):
    """One to three inputs of one shape (0 to 2 dims), stacked along a new axis."""
    shape = draw(shapes(0, MAX_DIMS - 1))
    axis = draw(st.integers(-len(shape) - 1, len(shape)))
    count = draw(st.integers(1, 3))
    inputs = tuple(draw(real_arrays(shape)) for _ in range(count))
    return OpCase(inputs, draw(_requires_grad(count)), {"axis": axis})


@st.composite
def softmax_cases(draw):
    """One input of 1 to 3 dimensions and the ``dim`` to normalise over (maybe negative)."""
    shape = draw(shapes(1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return OpCase((draw(real_arrays(shape)),), (True,), {"dim": dim})


REDUCTIONS = ("mean", "sum", "none")


@st.composite
def cross_entropy_cases(draw):
    """Logits (N, C), integer targets (N,) and a reduction."""
    n, classes = draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE + 1))
    targets = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)), dtype=np.int64)
    params = {"targets": targets, "reduction": draw(st.sampled_from(REDUCTIONS))}
    return OpCase((draw(real_arrays((n, classes))),), (True,), params)


@st.composite
def bce_with_logits_cases(draw):
    """Logits of any shape, targets in [0, 1] of the same shape, and a reduction."""
    shape = draw(shapes())
    params = {"targets": draw(probability_arrays(shape)), "reduction": draw(st.sampled_from(REDUCTIONS))}
    return OpCase((draw(real_arrays(shape)),), (True,), params)


# -- random compositions of smooth ops (the chain rule) -----------------------------------------
def _activation(name):
    """A step applying ``tinytorch.activations.<name>`` (imported late: grading code may be
    imported before the library is complete)."""

    def apply(h, operand, axis):
        from tinytorch import activations

        if name in ("softmax", "log_softmax"):
            return getattr(activations, name)(h, axis) if h.ndim else activations.tanh(h)
        return getattr(activations, name)(h)

    return apply


COMPOSITION_STEPS = {
    # name: apply(h, operand, axis) -> new h. Each is smooth everywhere, so no step of a random
    # chain can land on a kink; several use h twice (fan-out) or broadcast against an input.
    "add input": lambda h, x, axis: h + x,
    "subtract input": lambda h, x, axis: h - x,
    "multiply by input": lambda h, x, axis: h * x,
    "divide by (input^2 + 1)": lambda h, x, axis: h / (x * x + 1.0),
    "tanh": _activation("tanh"),
    "sigmoid": _activation("sigmoid"),
    "gelu": _activation("gelu"),
    "exp(tanh(h))": lambda h, x, axis: _activation("tanh")(h, x, axis).exp(),
    "log(sigmoid(h))": lambda h, x, axis: _activation("sigmoid")(h, x, axis).log(),
    "sqrt(h^2 + 1)": lambda h, x, axis: (h * h + 1.0).sqrt(),
    "(h^2 + 0.5)^1.5": lambda h, x, axis: (h * h + 0.5) ** 1.5,
    "h * h": lambda h, x, axis: h * h,
    "h + tanh(h)": lambda h, x, axis: h + _activation("tanh")(h, x, axis),
    "h - mean(h, axis)": lambda h, x, axis: h - h.mean(axis=axis, keepdims=True),
    "sum(h, axis)": lambda h, x, axis: h.sum(axis=axis, keepdims=True),
    "softmax(h, axis)": _activation("softmax"),
    "log_softmax(h, axis)": _activation("log_softmax"),
    "flatten and reshape back": lambda h, x, axis: h.reshape(-1).reshape(h.shape),
    "transpose twice": lambda h, x, axis: h.T.T,
}


@dataclass(frozen=True)
class Composition:
    """A random chain of smooth ops over 1 to 3 inputs: ``h = x0``, then each step."""

    inputs: tuple
    steps: tuple  # (step name, input index, axis choice)

    def __call__(self, *tensors):
        h = tensors[0]
        for name, operand, axis_choice in self.steps:
            axis = axis_choice % h.ndim if h.ndim else None
            h = COMPOSITION_STEPS[name](h, tensors[operand], axis)
        return h

    def __repr__(self) -> str:
        arrays = ", ".join(np.array_repr(array, precision=6) for array in self.inputs)
        steps = ", ".join(f"{name} (input {operand}, axis choice {axis})" for name, operand, axis in self.steps)
        return f"Composition(inputs=[{arrays}], steps=[{steps}])"


@st.composite
def compositions(draw, max_steps: int = 6):
    """A ``Composition`` of 1 to ``max_steps`` steps over broadcastable real inputs."""
    count = draw(st.integers(1, 3))
    inputs = tuple(draw(real_arrays(shape)) for shape in draw(broadcastable_shapes(count)))
    step = st.tuples(st.sampled_from(sorted(COMPOSITION_STEPS)), st.integers(0, count - 1), st.integers(0, 2))
    return Composition(inputs, tuple(draw(st.lists(step, min_size=1, max_size=max_steps))))
