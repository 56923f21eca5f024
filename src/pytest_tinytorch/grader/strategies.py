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
    third of the time every input simply has the full shape.

    When shapes differ, every side of the full shape is at least 2, so that a side shrunk to
    1 is really stretched: with sides of 1 allowed, most drawn cases broadcast only over
    leading axes, and an engine that undoes only those slipped through 30 examples."""
    if draw(st.integers(0, 2)) == 0:
        return (draw(shapes()),) * count
    full = draw(shapes(min_side=2))
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



# -- images: convolution, pooling, batch normalisation --------------------------------------------
# Image cases stay tiny (batch 1 or 2, at most 3 channels, sides up to 7) so that every
# property of the grader runs in milliseconds, yet cover what goes wrong in these ops: kernels
# of 1 to 3 (square and rectangular), strides of 1 to 3 (windows that overlap, touch, or skip
# pixels), padding of 0 to 2, and odd and even sides, down to an input exactly the kernel size.
KERNEL_SIDES = (1, 2, 3)
IMAGE_STRIDES = (1, 2, 3, (1, 2), (2, 1))
IMAGE_PADDINGS = (0, 1, 2, (0, 1), (1, 0))
MAX_IMAGE_SIDE_EXCESS = 4
"""An image side is the kernel side (minus padding) plus 0 to this many pixels."""


def _as_pair(value) -> tuple:
    return (value, value) if isinstance(value, int) else tuple(value)


@st.composite
def kernel_sizes(draw):
    """A kernel size as a user writes it: an int, or (rows, columns) now and then."""
    rows = draw(st.sampled_from(KERNEL_SIDES))
    if draw(st.integers(0, 3)) == 0:
        return rows, draw(st.sampled_from(KERNEL_SIDES))
    return rows


@st.composite
def image_sides(draw, kernel, padding=0):
    """(H, W) such that the padded image holds at least one window of ``kernel``."""
    sides = []
    for k, p in zip(_as_pair(kernel), _as_pair(padding)):
        smallest = max(1, k - 2 * p)
        sides.append(draw(st.integers(smallest, smallest + MAX_IMAGE_SIDE_EXCESS)))
    return tuple(sides)


@st.composite
def conv2d_cases(draw):
    """Images (N, C_in, H, W), a weight (C_out, C_in, kh, kw), maybe a bias (C_out,), a
    ``stride`` and a ``padding`` (ints or pairs); any of the tensors requiring grad."""
    kernel = _as_pair(draw(kernel_sizes()))
    stride, padding = draw(st.sampled_from(IMAGE_STRIDES)), draw(st.sampled_from(IMAGE_PADDINGS))
    n, in_channels, out_channels = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    shapes_ = [(n, in_channels, *draw(image_sides(kernel, padding))), (out_channels, in_channels, *kernel)]
    if draw(st.booleans()):
        shapes_.append((out_channels,))
    inputs = tuple(draw(real_arrays(shape)) for shape in shapes_)
    return OpCase(inputs, draw(_requires_grad(len(inputs))), {"stride": stride, "padding": padding})


POOL_WINNER_MARGIN = 0.04
"""The maximum of the first pooling window is shifted to within this of 0 (see pool_cases)."""


@st.composite
def pool_cases(draw, domain: str = "real"):
    """Images (N, C, H, W), a ``kernel_size`` and a ``stride`` (None: the kernel size).

    For max pooling (``domain="distinct"``) the values are a shuffled ladder, so no window has
    a tie, shifted so that the maximum of the first window lies within 0.04 of 0: a backward
    that zeroes the gradient of small inputs then loses a gradient that really flows.
    """
    kernel = draw(kernel_sizes())
    stride = draw(st.sampled_from((None, *IMAGE_STRIDES)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *draw(image_sides(kernel)))
    values = draw(_arrays(domain, shape))
    if domain == "distinct":
        rows, columns = _as_pair(kernel)
        first_window_max = values[0, 0, :rows, :columns].max()
        values = values - first_window_max + draw(st.floats(-POOL_WINNER_MARGIN, POOL_WINNER_MARGIN))
    return OpCase((values,), (True,), {"kernel_size": kernel, "stride": stride})


@st.composite
def batch_norm2d_cases(draw):
    """Images (N, C, H, W), a weight and a bias (C,), in training or evaluation mode.

    Training needs at least two values per channel; the images are a shuffled ladder, so each
    channel's values are spread out (its variance is never tiny next to ``eps``, where finite
    differences lose precision). Evaluation takes running statistics as the case's params (a
    positive ``running_var``); training takes none, so the case's params are never updated.
    """
    training = draw(st.booleans())
    n, channels = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if training and n * h * w < 2:
        n = 2
    shape = (n, channels, h, w)
    inputs = (draw(distinct_arrays(shape)), draw(real_arrays((channels,))), draw(real_arrays((channels,))))
    params = {"training": training, "eps": draw(st.sampled_from([1e-5, 1e-3, 0.1]))}
    if not training:
        params["running_mean"] = draw(real_arrays((channels,)))
        params["running_var"] = draw(positive_arrays((channels,)))
    return OpCase(inputs, draw(_requires_grad(3)), params)


# -- token ids: embedding lookups --------------------------------------------------------------
MAX_EMBEDDING_ROWS = 5
SMALL_READ_VALUE = 0.04
"""One weight of a row that the ids read lies within this of 0 (see embedding_cases)."""


@st.composite
def embedding_cases(draw):
    """A table (num_embeddings, dim) of 1 to 5 rows and integer ``indices`` of 0 to 2 dimensions.

    Two times in three there are at least two ids, drawn from fewer rows than there are ids,
    so some id repeats and its gradients must be added; otherwise the ids have any shape (a
    single 0-d id included). Rows above the ones drawn from are never read (their gradient
    must be exactly 0). The ids always include a row holding a value within 0.04 of 0, so a
    backward that zeroes the gradient of small inputs loses a real gradient.
    """
    rows, dim = draw(st.integers(1, MAX_EMBEDDING_ROWS)), draw(st.integers(1, MAX_SIDE))
    repeat = draw(st.integers(0, 2)) > 0
    index_shape = draw(shapes(1, 2, min_side=2) if repeat else shapes(0, 2))
    size = prod(index_shape)
    readable = min(rows, size - 1) if repeat else rows
    read = draw(st.integers(0, readable - 1))  # ids come from rows 0 .. read
    ids = draw(st.lists(st.integers(0, read), min_size=size, max_size=size))
    indices = np.array(ids, dtype=draw(st.sampled_from([np.int64, np.int32]))).reshape(index_shape)
    weight = draw(real_arrays((rows, dim))).copy()
    weight[int(indices.flat[0]), draw(st.integers(0, dim - 1))] = draw(st.floats(-SMALL_READ_VALUE, SMALL_READ_VALUE))
    return OpCase((weight,), (True,), {"indices": indices})


# -- vectors: layer normalisation ---------------------------------------------------------------
@st.composite
def layer_norm_cases(draw):
    """An input (..., features) of 1 to 3 dimensions with 2 to 4 features, a weight and a bias
    (features,), and an ``eps``; any of the three requiring grad.

    The input is a shuffled ladder, so the values of every vector are spread out (a vector's
    variance is never tiny next to ``eps``, where finite differences lose precision); weight
    and bias are real values, a third of them small.
    """
    features = draw(st.integers(2, MAX_SIDE))
    shape = (*draw(shapes(0, MAX_DIMS - 1)), features)
    inputs = (draw(distinct_arrays(shape)), draw(real_arrays((features,))), draw(real_arrays((features,))))
    return OpCase(inputs, draw(_requires_grad(3)), {"eps": draw(st.sampled_from([1e-5, 1e-3, 0.1]))})


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


# -- optimizers, schedules and training (graded in group 05-07) ----------------------------------
# Hyper-parameters are drawn over the whole range a student may meet, with the special values
# that switch a branch on or off (momentum 0, weight decay 0) drawn often, so that every branch
# of every update rule is taken; arrays are small (the same shapes as the autograd cases).
@dataclass(frozen=True)
class OptimizerProblem:
    """Starting values of 1 to 3 parameters and the gradient each step gives them (None: the
    parameter has no gradient at that step and must be left alone)."""

    starts: tuple
    gradients: tuple  # one tuple per step: an array or None per parameter

    def __repr__(self) -> str:
        starts = ", ".join(np.array_repr(start, precision=6) for start in self.starts)
        steps = "; ".join(
            ", ".join("None" if g is None else np.array_repr(g, precision=6) for g in step)
            for step in self.gradients
        )
        return f"OptimizerProblem(starts=[{starts}], gradients per step=[{steps}])"


@st.composite
def optimizer_problems(draw, max_steps: int = 5):
    """1 to 3 parameters of any shape, 1 to ``max_steps`` steps of real gradients; now and then
    a parameter without a gradient at a step (at least one has one at every step)."""
    starts = tuple(draw(real_arrays(shape)) for shape in draw(st.lists(shapes(), min_size=1, max_size=3)))
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        present = [draw(st.integers(0, 4)) > 0 for _ in starts]
        if not any(present):
            present[draw(st.integers(0, len(starts) - 1))] = True
        steps.append(tuple(draw(real_arrays(start.shape)) if has else None for start, has in zip(starts, present)))
    return OptimizerProblem(starts, tuple(steps))


def _switchable(low: float, high: float):
    """0 (the feature off) a third of the time, else a value in [low, high]."""
    return st.one_of(st.just(0.0), st.floats(low, high), st.floats(low, high))


@st.composite
def sgd_hyperparameters(draw):
    """``SGD`` keyword arguments: lr, momentum (maybe 0), nesterov (only with momentum), weight_decay."""
    momentum = draw(_switchable(0.1, 0.99))
    return {
        "lr": draw(st.floats(1e-3, 1.0)),
        "momentum": momentum,
        "nesterov": momentum > 0 and draw(st.booleans()),
        "weight_decay": draw(_switchable(0.01, 0.5)),
    }


@st.composite
def adam_hyperparameters(draw, weight_decay=None):
    """``Adam``/``AdamW`` keyword arguments: lr, betas (beta2 from 0.5: any smaller makes no
    sense), eps from 1e-8 to 0.1, weight_decay (maybe 0)."""
    return {
        "lr": draw(st.floats(1e-4, 0.5)),
        "betas": (draw(st.floats(0.0, 0.99)), draw(st.floats(0.5, 0.9999))),
        "eps": draw(st.sampled_from([1e-8, 1e-6, 1e-3, 0.1])),
        "weight_decay": draw(weight_decay if weight_decay is not None else _switchable(0.01, 0.5)),
    }


@st.composite
def step_lr_settings(draw):
    """base_lr, step_size, gamma, and a number of epochs that crosses several steps."""
    step_size = draw(st.integers(1, 5))
    return {"base_lr": draw(st.floats(1e-3, 1.0)), "step_size": step_size,
            "gamma": draw(st.floats(0.05, 0.95)), "epochs": draw(st.integers(1, 3 * step_size + 2))}


@st.composite
def cosine_settings(draw):
    """base_lr, T_max, eta_min (below base_lr) and a number of epochs up to twice T_max."""
    base_lr, t_max = draw(st.floats(1e-3, 1.0)), draw(st.integers(1, 10))
    return {"base_lr": base_lr, "T_max": t_max, "eta_min": draw(st.sampled_from([0.0, 0.1, 0.5])) * base_lr,
            "epochs": draw(st.integers(1, 2 * t_max + 1))}


@st.composite
def gradient_sets(draw):
    """Gradients of 1 to 3 parameters (None: a parameter without one; all zeros now and then)
    and a ``max_norm`` from a tenth to three times their joint norm, so that clipping happens
    about two times in three."""
    grads = []
    for shape in draw(st.lists(shapes(), min_size=1, max_size=3)):
        kind = draw(st.sampled_from(["values", "values", "values", "zeros", "none"]))
        grads.append(None if kind == "none" else np.zeros(shape) if kind == "zeros" else draw(real_arrays(shape)))
    norm = float(np.sqrt(sum(np.sum(g**2) for g in grads if g is not None)))
    max_norm = draw(st.floats(0.1, 3.0)) * norm if norm > 0 else draw(st.floats(0.1, 3.0))
    return tuple(grads), max_norm


@dataclass(frozen=True)
class TrainingCase:
    """A linear model ``x @ weight + bias``, batches of (x, y), and how to train it."""

    weight: np.ndarray
    bias: np.ndarray
    batches: tuple  # (x (n, in), y (n, out)) pairs
    sgd: dict
    clip_norm: float | None
    step_size: int
    gamma: float
    epochs: int

    def __repr__(self) -> str:
        batches = ", ".join(f"({np.array_repr(x, precision=4)}, {np.array_repr(y, precision=4)})"
                            for x, y in self.batches)
        return (f"TrainingCase(weight={np.array_repr(self.weight, precision=6)}, "
                f"bias={np.array_repr(self.bias, precision=6)}, batches=[{batches}], sgd={self.sgd}, "
                f"clip_norm={self.clip_norm}, step_size={self.step_size}, gamma={self.gamma}, "
                f"epochs={self.epochs})")


@st.composite
def training_cases(draw, max_epochs: int = 3):
    """A small regression problem (1 to 3 features and outputs, 1 to 3 batches of 1 to 4
    samples), SGD settings, clipping (None or a norm that sometimes bites) and a StepLR."""
    features, outputs = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batches = tuple(
        (draw(real_arrays((n, features))), draw(real_arrays((n, outputs))))
        for n in draw(st.lists(st.integers(1, MAX_SIDE), min_size=1, max_size=3))
    )
    return TrainingCase(
        weight=draw(real_arrays((features, outputs))), bias=draw(real_arrays((outputs,))),
        batches=batches, sgd=draw(sgd_hyperparameters()).copy(),
        clip_norm=draw(st.sampled_from([None, 0.1, 1.0, 10.0])),
        step_size=draw(st.integers(1, 2)), gamma=draw(st.floats(0.1, 0.9)),
        epochs=draw(st.integers(1, max_epochs)),
    )


@st.composite
def scores_and_targets(draw):
    """For ``accuracy``: class scores (N, C) and class targets, or binary logits (N,) or (N, 1)
    (never 0) and 0/1 targets."""
    n = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["classes", "logits (N,)", "logits (N, 1)"]))
    if kind == "classes":
        classes = draw(st.integers(2, 4))
        targets = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
        return draw(real_arrays((n, classes))), targets
    logits = draw(real_arrays((n,) if kind == "logits (N,)" else (n, 1)))
    return logits, np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))
