"""Module 15 — Profiling: where a model's parameters, arithmetic, memory and time go.

Before making a model smaller (16 quantization, 17 compression) or faster (18 acceleration),
measure it. This module answers four questions, each with a number that comes from the model
itself, never from a guess:

1. **How big is it?** Parameters and their bytes, per layer and in total.
2. **How much arithmetic does one forward pass need?** FLOPs per layer, computed from the
   shapes of one real forward pass. Convention: a multiply-add counts as **2 FLOPs** (one
   multiply, one add), so a (rows x k) @ (k x cols) product costs 2 * rows * k * cols, and a
   bias adds one FLOP per output. Elementwise layers cost a fixed number of FLOPs per
   element, listed in ``ELEMENTWISE_FLOPS`` (an exp or a tanh counts as one). Gathers,
   reshapes and copies (``Embedding``, ``Flatten``, ``Dropout`` in evaluation) cost 0.
3. **How much memory do its activations take?** The bytes of each layer's output for the
   given input. Training keeps every one of them for the backward pass (their sum); an
   inference pass needs at least one layer's input and output at once (the peak).
4. **How long does it take?** Wall time after warm-up calls, repeated, reported as the
   median with its spread (quartiles, minimum, maximum): one run of a shared machine says
   little, the median of many says more, and the spread says how much to trust it.

``profile_model`` runs one forward pass (evaluation mode, ``no_grad``; the modes are restored)
with every layer's ``forward`` wrapped to record the shapes it sees. A layer whose type has a
FLOP formula (``FLOP_COUNTERS``) is counted as a whole (``MultiHeadAttention`` includes its
four projections); a container is opened up; a leaf layer of an unknown type is reported as
**not counted** (its FLOPs are ``None``, it is named in ``ModelProfile.uncounted``, and the
total says so). Work done directly in a container's ``forward`` (a residual ``x + f(x)``, a
functional ``gelu``) belongs to no layer; ``profile_ops`` sees it.

Layer types of later modules are taught to the profiler where they are defined, never here
(an earlier module does not import a later one): ``register_layer_type(kind, flops,
stored_parameters)`` adds a FLOP counter and, for a layer that keeps its weights in plain
arrays instead of ``Parameter`` tensors (module 16's int8 layers), a counter of those arrays.

``profile_ops`` is the op-level view: for the duration of a ``with`` block it wraps
``Tensor._result`` (every forward op passes through it once) and every backward rule of
``tinytorch.autograd.BACKWARD_RULES``, counting calls and time per op type, and puts the
originals back when the block ends, also when it ends with an error.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from tinytorch.activations import GELU, Activation, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinytorch.attention import MultiHeadAttention
from tinytorch.autograd import BACKWARD_RULES, no_grad
from tinytorch.embeddings import Embedding, PositionalEmbedding
from tinytorch.layers import Dropout, Flatten, Linear, Module, Sequential
from tinytorch.spatial import AvgPool2d, BatchNorm2d, Conv2d, MaxPool2d
from tinytorch.tensor import Tensor
from tinytorch.transformers import LayerNorm

ELEMENTWISE_FLOPS = {
    ReLU: 1,        # max(0, x)
    Tanh: 1,        # tanh(x)
    Sigmoid: 4,     # 1 / (1 + exp(-x)): negate, exp, add, divide
    GELU: 9,        # 0.5 x (1 + tanh(s (x + c x^3))): 2 for x^3, then *c, +x, *s, tanh, +1, 0.5*x, *
    Softmax: 5,     # per element: compare for the max, subtract it, exp, add to the sum, divide
    LogSoftmax: 5,  # compare, subtract the max, exp, add to the sum, subtract the log-sum
}
"""FLOPs per output element of the elementwise layers (the formula in each comment)."""

NORM_FLOPS_PER_ELEMENT = {"statistics": 7, "running": 4}
"""A normalisation computing its statistics (LayerNorm; BatchNorm2d training): add for the
mean, subtract, square and add for the variance, multiply by 1/std, scale, shift = 7 per
element. With running statistics (BatchNorm2d in evaluation): subtract, multiply by 1/std,
scale, shift = 4. The per-vector (or per-channel) square roots are not counted."""

SOFTMAX_SCORE_FLOPS = ELEMENTWISE_FLOPS[Softmax]


# -- size ------------------------------------------------------------------------------------
STORED_PARAMETERS = []
"""(layer type, counter(layer) -> (count, bytes)) for layer types that keep weights in plain
NumPy arrays rather than ``Parameter`` tensors, so that ``parameters()`` cannot see them (module
16's ``QuantizedLinear`` holds an int8 weight and an int32 bias). Filled by
``register_layer_type``; first match wins."""


def stored_parameters_counter(layer):
    """The counter of the arrays ``layer`` stores outside its Parameters, or None."""
    for kind, counter in STORED_PARAMETERS:
        if isinstance(layer, kind):
            return counter
    return None


def _children(layer):
    """(attribute name, sub-layer) of a layer, in the order they were assigned, each once."""
    seen, children = set(), []
    for name, value in vars(layer).items():
        if isinstance(value, (Module, Activation)) and id(value) not in seen:
            seen.add(id(value))
            children.append((name, value))
    return children


def _all_layers(model) -> list:
    """``model`` and every layer inside it, each once."""
    found, stack, seen = [], [model], set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        found.append(layer)
        stack.extend(child for _, child in _children(layer))
    return found


def count_parameters(layer) -> tuple[int, int]:
    """(number of parameters, their bytes) of ``layer`` and everything inside it, each once:
    the ``Parameter`` tensors that ``parameters()`` finds, plus, for every layer inside whose
    type has a ``stored_parameters_counter``, the weights it keeps in plain arrays, at their
    real size (an int8 weight is 1 byte, not 4)."""
    parameters = layer.parameters() if hasattr(layer, "parameters") else []
    layers = _all_layers(layer) if isinstance(layer, (Module, Activation)) else []
    # BEGIN SOLUTION
    count = sum(int(p.data.size) for p in parameters)
    nbytes = sum(int(p.data.nbytes) for p in parameters)
    for inner in layers:
        counter = stored_parameters_counter(inner)
        if counter is not None:
            stored_count, stored_bytes = counter(inner)
            count, nbytes = count + int(stored_count), nbytes + int(stored_bytes)
    return count, nbytes
    # END SOLUTION


# -- FLOPs from shapes -------------------------------------------------------------------------
def _elements(shape) -> int:
    return int(math.prod(shape))


def linear_flops(layer: Linear, input_shape: tuple, output_shape: tuple) -> int:
    """(rows, in) @ (in, out): 2 * rows * in * out, plus rows * out for the bias."""
    # BEGIN SOLUTION
    rows = _elements(input_shape[:-1])
    flops = 2 * rows * layer.in_features * layer.out_features
    if layer.bias is not None:
        flops += rows * layer.out_features
    return flops
    # END SOLUTION


def conv2d_flops(layer: Conv2d, input_shape: tuple, output_shape: tuple) -> int:
    """Each output value sums C_in * kh * kw products: 2 * outputs * C_in * kh * kw, plus one
    FLOP per output for the bias. The output shape carries the stride and the padding."""
    # BEGIN SOLUTION
    kernel_rows, kernel_columns = layer.kernel_size
    outputs = _elements(output_shape)
    flops = 2 * outputs * layer.in_channels * kernel_rows * kernel_columns
    if layer.bias is not None:
        flops += outputs
    return flops
    # END SOLUTION


def max_pool2d_flops(layer: MaxPool2d, input_shape: tuple, output_shape: tuple) -> int:
    """kh * kw - 1 comparisons per output value."""
    # BEGIN SOLUTION
    return _elements(output_shape) * (layer.kernel_size[0] * layer.kernel_size[1] - 1)
    # END SOLUTION


def avg_pool2d_flops(layer: AvgPool2d, input_shape: tuple, output_shape: tuple) -> int:
    """kh * kw - 1 additions and one division per output value."""
    # BEGIN SOLUTION
    return _elements(output_shape) * layer.kernel_size[0] * layer.kernel_size[1]
    # END SOLUTION


def elementwise_flops(layer, input_shape: tuple, output_shape: tuple) -> int:
    """``ELEMENTWISE_FLOPS`` of the layer's type per output element."""
    per_element = next(cost for kind, cost in ELEMENTWISE_FLOPS.items() if isinstance(layer, kind))
    # BEGIN SOLUTION
    return per_element * _elements(output_shape)
    # END SOLUTION


def batch_norm2d_flops(layer: BatchNorm2d, input_shape: tuple, output_shape: tuple) -> int:
    """``NORM_FLOPS_PER_ELEMENT``: 7 per element while training, 4 with running statistics."""
    # BEGIN SOLUTION
    kind = "statistics" if layer.training else "running"
    return NORM_FLOPS_PER_ELEMENT[kind] * _elements(output_shape)
    # END SOLUTION


def layer_norm_flops(layer: LayerNorm, input_shape: tuple, output_shape: tuple) -> int:
    """Statistics of every vector, then normalise, scale and shift: 7 per element."""
    # BEGIN SOLUTION
    return NORM_FLOPS_PER_ELEMENT["statistics"] * _elements(output_shape)
    # END SOLUTION


def attention_flops(layer: MultiHeadAttention, input_shape: tuple, output_shape: tuple) -> int:
    """Self-attention over an input (B, T, dim), no cache:

    - four projections (query, key, value, out), each a Linear(dim, dim) with bias;
    - the scores Q K^T: per head (T x head_dim) @ (head_dim x T), 2 * B * T * T * dim in all;
    - per score: the 1/sqrt(head_dim) scale (1), the causal mask's add (1, when causal and
      T > 1) and the softmax (``SOFTMAX_SCORE_FLOPS``);
    - the weighted values A V: per head (T x T) @ (T x head_dim), 2 * B * T * T * dim.
    """
    batch, length, dim = input_shape
    # BEGIN SOLUTION
    projection = 2 * batch * length * dim * dim + batch * length * dim
    scores = batch * layer.heads * length * length
    per_score = 1 + (1 if layer.causal and length > 1 else 0) + SOFTMAX_SCORE_FLOPS
    products = 2 * (2 * batch * length * length * dim)
    return 4 * projection + products + scores * per_score
    # END SOLUTION


def positional_embedding_flops(layer: PositionalEmbedding, input_shape: tuple, output_shape: tuple) -> int:
    """``x + weight[:T]``: one addition per element."""
    # BEGIN SOLUTION
    return _elements(output_shape)
    # END SOLUTION


def no_flops(layer, input_shape: tuple, output_shape: tuple) -> int:
    """A gather, a reshape or (in evaluation) dropout: memory traffic, no arithmetic."""
    return 0


FLOP_COUNTERS = [
    (Linear, linear_flops),
    (Conv2d, conv2d_flops),
    (MaxPool2d, max_pool2d_flops),
    (AvgPool2d, avg_pool2d_flops),
    (BatchNorm2d, batch_norm2d_flops),
    (LayerNorm, layer_norm_flops),
    (MultiHeadAttention, attention_flops),
    (PositionalEmbedding, positional_embedding_flops),
    (Embedding, no_flops),
    (Flatten, no_flops),
    (tuple(ELEMENTWISE_FLOPS), elementwise_flops),
]
"""(layer type, counter(layer, input_shape, output_shape) -> FLOPs), first match wins."""


def register_layer_type(kind: type, flops, stored_parameters=None) -> None:
    """Teach the profiler a layer type defined after this module.

    ``flops(layer, input_shape, output_shape) -> int`` counts one call, under this module's
    convention. ``stored_parameters(layer) -> (count, bytes)``, when given, counts the weights
    the layer keeps in plain arrays instead of Parameters. The new entries go first, so they
    win over an entry for a base class; registering a type again replaces its entries.
    """
    if not isinstance(kind, type):
        raise TypeError(f"register_layer_type needs a layer class, e.g. QuantizedLinear; got {kind!r}")
    if not callable(flops):
        raise TypeError(f"register_layer_type({kind.__name__}, flops=...): expected a function "
                        f"flops(layer, input_shape, output_shape) -> int; got {type(flops).__name__}")
    if stored_parameters is not None and not callable(stored_parameters):
        raise TypeError(f"register_layer_type({kind.__name__}, stored_parameters=...): expected a function "
                        f"stored_parameters(layer) -> (count, bytes) or None; got {type(stored_parameters).__name__}")
    for table, counter in ((FLOP_COUNTERS, flops), (STORED_PARAMETERS, stored_parameters)):
        table[:] = [(known, known_counter) for known, known_counter in table if known is not kind]
        if counter is not None:
            table.insert(0, (kind, counter))


def flop_counter(layer):
    """The FLOP counter of ``layer``'s type, or None when its type has none."""
    if isinstance(layer, Dropout):
        return no_flops if not layer.training or layer.p == 0.0 else (lambda l, i, o: _elements(o))
    for kind, counter in FLOP_COUNTERS:
        if isinstance(layer, kind):
            return counter
    return None


# -- one forward pass, every layer recorded -----------------------------------------------------
@dataclass
class LayerRecord:
    """What one call of one layer cost. ``flops`` is None for a layer type that is not counted."""

    name: str
    kind: str
    input_shape: tuple
    output_shape: tuple
    parameters: int
    parameter_bytes: int
    flops: int | None
    activation_bytes: int
    input_bytes: int


def profiled_layers(model, prefix: str = "") -> list:
    """(dotted name, layer) of every layer that gets its own record: layers with a FLOP
    counter (not opened further) and leaf layers without one (recorded as not counted)."""
    if flop_counter(model) is not None:
        return [(prefix or type(model).__name__, model)]
    children = _children(model)
    if isinstance(model, Sequential):
        children = [(str(index), layer) for index, layer in enumerate(model.layers)]
    if not children:
        return [(prefix or type(model).__name__, model)]
    found = []
    for name, child in children:
        found.extend(profiled_layers(child, f"{prefix}.{name}" if prefix else name))
    return found


def _nbytes(value) -> int:
    if isinstance(value, Tensor):
        return int(value.data.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(item) for item in value)
    return int(np.asarray(value).nbytes)


def _shape(value) -> tuple:
    if isinstance(value, Tensor):
        return value.shape
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], Tensor):
        return value[0].shape
    return np.shape(value)


@dataclass
class ModelProfile:
    """Every layer call of one forward pass, in the order they ran, and the model's totals."""

    records: list
    total_parameters: int
    total_parameter_bytes: int
    input_shape: tuple
    input_bytes: int

    @property
    def total_flops(self) -> int:
        """FLOPs of the counted layers (a lower bound when ``uncounted`` is not empty)."""
        return sum(record.flops for record in self.records if record.flops is not None)

    @property
    def uncounted(self) -> list:
        return [record.name for record in self.records if record.flops is None]

    @property
    def total_activation_bytes(self) -> int:
        """Bytes of every layer's output: what a training step keeps for the backward pass."""
        return sum(record.activation_bytes for record in self.records)

    @property
    def peak_activation_bytes(self) -> int:
        """The largest input + output of one layer: the least memory an inference pass needs."""
        return max((record.input_bytes + record.activation_bytes for record in self.records), default=0)

    def as_records(self) -> list:
        """One plain dict per layer call (shapes as lists): ready for JSON or a DataFrame."""
        rows = []
        for record in self.records:
            row = asdict(record)
            row["input_shape"], row["output_shape"] = list(record.input_shape), list(record.output_shape)
            rows.append(row)
        return rows

    def table(self) -> str:
        """The per-layer table as plain text, with the totals below it."""
        header = f"{'layer':<22}{'type':<20}{'output':<18}{'params':>10}{'FLOPs':>14}{'act bytes':>12}"
        lines = [header, "-" * len(header)]
        for r in self.records:
            flops = "not counted" if r.flops is None else f"{r.flops:,}"
            lines.append(f"{r.name:<22}{r.kind:<20}{str(tuple(r.output_shape)):<18}{r.parameters:>10,}"
                         f"{flops:>14}{r.activation_bytes:>12,}")
        lines.append("-" * len(header))
        flops = f"{self.total_flops:,} FLOPs"
        if self.uncounted:
            flops += f" (not counted: {', '.join(self.uncounted)})"
        lines.append(f"input {tuple(self.input_shape)}: {self.total_parameters:,} parameters "
                     f"({self.total_parameter_bytes:,} bytes), {flops}")
        lines.append(f"activations: {self.total_activation_bytes:,} bytes in all, "
                     f"peak {self.peak_activation_bytes:,} bytes (one layer's input + output)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _example_input(example):
    if isinstance(example, Tensor):
        return example
    if isinstance(example, tuple) and all(isinstance(side, (int, np.integer)) for side in example):
        if not example or min(example) < 1:
            raise ValueError(f"profile_model: input shape {example} must be positive sizes, e.g. (32, 784)")
        return Tensor(np.zeros(example, dtype=np.float32))
    array = np.asarray(example)
    return array if array.dtype.kind in "iu" else Tensor(array)


def profile_model(model, example) -> ModelProfile:
    """Run ``model`` once on ``example`` and record every layer's shapes, size, FLOPs and bytes.

    ``example`` is an input shape (float32 zeros of that shape go in), a Tensor, or an array
    (integer arrays, token ids, go in as they are). The pass runs in evaluation mode under
    ``no_grad``; every layer's training flag is restored afterwards, and no BatchNorm running
    statistic moves.
    """
    if not isinstance(model, (Module, Activation)):
        raise TypeError(f"profile_model needs a model (a Module or an activation layer); got {type(model).__name__}")
    inputs = _example_input(example)
    layers = profiled_layers(model)
    modes = [(module, module.training) for module in _all_layers(model) if hasattr(module, "training")]
    records = []
    try:
        for layer, _ in modes:
            object.__setattr__(layer, "training", False)
        for name, layer in layers:
            object.__setattr__(layer, "forward", _recording_forward(name, layer, records))
        with no_grad():
            model(inputs)
    finally:
        for _, layer in layers:
            layer.__dict__.pop("forward", None)
        for module, training in modes:
            object.__setattr__(module, "training", training)
    total, total_bytes = count_parameters(model)
    return ModelProfile(records, total, total_bytes, tuple(_shape(inputs)), _nbytes(inputs))


def _recording_forward(name: str, layer, records: list):
    """``layer``'s own forward, wrapped to append a ``LayerRecord`` per call."""
    forward = type(layer).forward.__get__(layer)
    counter = flop_counter(layer)

    def recorded(*args, **kwargs):
        output = forward(*args, **kwargs)
        # BEGIN SOLUTION
        input_shape, output_shape = tuple(_shape(args[0])), tuple(_shape(output))
        parameters, parameter_bytes = count_parameters(layer)
        flops = None if counter is None else int(counter(layer, input_shape, output_shape))
        records.append(LayerRecord(name, type(layer).__name__, input_shape, output_shape, parameters,
                                   parameter_bytes, flops, _nbytes(output), _nbytes(args[0])))
        # END SOLUTION
        return output

    return recorded


# -- time: warm-up, repeats, median and spread -------------------------------------------------
@dataclass(frozen=True)
class TimingSummary:
    """Seconds per call: the median and the spread of repeated measurements."""

    samples: tuple = field(repr=False)
    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float

    @property
    def iqr(self) -> float:
        """Interquartile range q3 - q1: the middle half of the runs lies in it."""
        return self.q3 - self.q1

    @property
    def repeats(self) -> int:
        return len(self.samples)

    def describe(self, unit: str = "ms") -> str:
        scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
        return (f"median {self.median * scale:.3f} {unit} (IQR {self.iqr * scale:.3f}, "
                f"min {self.minimum * scale:.3f}, max {self.maximum * scale:.3f}, n={self.repeats})")


def percentile(sorted_values, fraction: float) -> float:
    """Linear interpolation between the two nearest ranks (NumPy's default method)."""
    # BEGIN SOLUTION
    position = fraction * (len(sorted_values) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    weight = position - lower
    return float(sorted_values[lower] * (1.0 - weight) + sorted_values[upper] * weight)
    # END SOLUTION


def summarize(samples) -> TimingSummary:
    """Median, quartiles, minimum and maximum of a list of timings (seconds)."""
    values = [float(value) for value in samples]
    if not values:
        raise ValueError("summarize: no samples; time at least one run")
    if any(not math.isfinite(value) or value < 0 for value in values):
        raise ValueError(f"summarize: timings must be finite and >= 0; got {values}")
    # BEGIN SOLUTION
    ordered = sorted(values)
    return TimingSummary(tuple(values), percentile(ordered, 0.5), percentile(ordered, 0.25),
                         percentile(ordered, 0.75), ordered[0], ordered[-1])
    # END SOLUTION


def _check_counts(caller: str, warmup, repeats) -> None:
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"{caller}: warmup={warmup!r}, expected an integer >= 0")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"{caller}: repeats={repeats!r}, expected an integer >= 1")


def measure_latency(function, warmup: int = 5, repeats: int = 30, clock=time.perf_counter) -> TimingSummary:
    """Call ``function()`` ``warmup`` times untimed (caches, allocator, BLAS threads settle),
    then ``repeats`` times, each timed alone with ``clock`` (seconds; inject a fake clock to
    test), and summarise."""
    _check_counts("measure_latency", warmup, repeats)
    if not callable(function):
        raise TypeError(f"measure_latency needs a function to call; got {type(function).__name__}")
    # BEGIN SOLUTION
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        start = clock()
        function()
        samples.append(clock() - start)
    return summarize(samples)
    # END SOLUTION


def model_latency(model, example, warmup: int = 5, repeats: int = 30, clock=time.perf_counter) -> TimingSummary:
    """Latency of one inference forward pass of ``model`` on ``example`` (``no_grad``)."""
    inputs = _example_input(example)

    def forward():
        with no_grad():
            model(inputs)

    return measure_latency(forward, warmup, repeats, clock)


# -- op by op: hook the dispatch for the duration of a block ------------------------------------
@dataclass
class OpStats:
    calls: int = 0
    seconds: float = 0.0


@dataclass
class OpProfile:
    """Calls and seconds per op type, forward and backward, of one ``profile_ops`` block.

    Forward time of an op is the time from the end of the previous recorded event (the
    previous op, a backward rule, or the start of the block) to the end of this op: it holds
    the op's own work and the Python that ran between the two (argument checks, a layer's
    bookkeeping, an optimizer's NumPy update). Backward time is each rule's own time.
    """

    forward: dict = field(default_factory=dict)
    backward: dict = field(default_factory=dict)
    wall_seconds: float = 0.0

    def forward_counts(self) -> dict:
        return {op: stats.calls for op, stats in self.forward.items()}

    def backward_counts(self) -> dict:
        return {op: stats.calls for op, stats in self.backward.items()}

    def table(self) -> str:
        """Ops sorted by forward + backward time, as plain text."""
        ops = sorted(set(self.forward) | set(self.backward),
                     key=lambda op: -(self.forward.get(op, OpStats()).seconds + self.backward.get(op, OpStats()).seconds))
        header = f"{'op':<16}{'fwd calls':>10}{'fwd ms':>10}{'bwd calls':>10}{'bwd ms':>10}"
        lines = [header, "-" * len(header)]
        for op in ops:
            f, b = self.forward.get(op, OpStats()), self.backward.get(op, OpStats())
            lines.append(f"{op:<16}{f.calls:>10}{f.seconds * 1e3:>10.3f}{b.calls:>10}{b.seconds * 1e3:>10.3f}")
        lines.append(f"block wall time {self.wall_seconds * 1e3:.3f} ms")
        return "\n".join(lines)


@contextlib.contextmanager
def profile_ops(clock=time.perf_counter):
    """``with profile_ops() as report:`` counts and times every op that runs in the block."""
    report = OpProfile()
    original_result = Tensor.__dict__["_result"]
    original_rules = dict(BACKWARD_RULES)
    start = clock()
    mark = [start]  # end of the last recorded event

    def timed_result(data, op, parents, saved=None):
        # BEGIN SOLUTION
        out = original_result.__func__(data, op, parents, saved)
        now = clock()
        stats = report.forward.setdefault(op, OpStats())
        stats.calls += 1
        stats.seconds += now - mark[0]
        mark[0] = now
        return out
        # END SOLUTION

    def timed_rule(op, rule):
        def timed(*args, **kwargs):
            # BEGIN SOLUTION
            begin = clock()
            grads = rule(*args, **kwargs)
            end = clock()
            stats = report.backward.setdefault(op, OpStats())
            stats.calls += 1
            stats.seconds += end - begin
            mark[0] = end
            return grads
            # END SOLUTION
        return timed

    try:
        Tensor._result = staticmethod(timed_result)
        for op, rule in original_rules.items():
            BACKWARD_RULES[op] = timed_rule(op, rule)
        yield report
    finally:
        Tensor._result = original_result
        BACKWARD_RULES.update(original_rules)
        report.wall_seconds = clock() - start


__all__ = [
    "ELEMENTWISE_FLOPS", "FLOP_COUNTERS", "LayerRecord", "ModelProfile", "NORM_FLOPS_PER_ELEMENT",
    "OpProfile", "OpStats", "TimingSummary", "attention_flops", "avg_pool2d_flops", "batch_norm2d_flops",
    "conv2d_flops", "count_parameters", "elementwise_flops", "flop_counter", "layer_norm_flops",
    "linear_flops", "max_pool2d_flops", "measure_latency", "model_latency", "percentile",
    "positional_embedding_flops", "profile_model", "profile_ops", "profiled_layers", "register_layer_type",
    "STORED_PARAMETERS", "stored_parameters_counter", "summarize",
]
