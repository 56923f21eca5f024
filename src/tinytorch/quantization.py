"""Module 16 — Quantization: post-training INT8, stored and computed in integers.

A float32 weight costs 4 bytes. Most trained weights of a layer lie in a narrow range, so 256
evenly spaced levels cover them well: store each weight as one signed byte ``q`` (an int8 in
[-128, 127]) and keep, per tensor or per output channel, the two numbers that map it back:

    real value  ~  scale * (q - zero_point)

- **Affine** quantization picks ``scale = (high - low) / 255`` and the integer ``zero_point``
  that real 0.0 maps to, so a range such as [0, 6] (after a ReLU) uses all 256 levels. The
  range is first stretched to include 0, so that 0.0 (zero padding, a dead ReLU) is exact.
- **Symmetric** quantization fixes ``zero_point = 0`` and uses [-127, 127] with
  ``scale = max(|low|, |high|) / 127``: one level (-128) is given up so that q and -q mean
  x and -x. Weights are quantized symmetrically, which keeps the integer matmul free of a
  weight zero point.
- **Per-channel** quantization gives each output channel (a column of a ``Linear`` weight,
  a filter of a ``Conv2d``) its own scale, so a channel of small weights is not crushed by a
  channel of large ones.
- A range of width 0 (an all-zero tensor) gets ``scale = 1``: every value is exactly 0 and
  any scale represents it, and nothing is ever divided by zero. (A range so narrow that its
  scale would fall below float32's smallest normal number gets that number as its scale.) A constant tensor c != 0 is
  no special case: its range is stretched to [min(c, 0), max(c, 0)].

Inside its calibrated range a value is off by at most half a step (``scale / 2``) after the
round trip; outside it, values are clipped to the ends. The range of weights is known; the
range of *activations* is not, so it is **calibrated**: sample batches run through the float
model while observers record each quantized layer's input range. One outlier can stretch a
min/max range so far that all typical values share a few levels; a **percentile** observer
ignores the extreme tails instead (clipping the outliers).

``QuantizedLinear`` and ``QuantizedConv2d`` keep REAL ``np.int8`` weights and an int32 bias.
Their forward quantizes the input to int8, multiplies integers with int32 accumulation (an
int8 product is up to 127 * 128 = 16,256, so int8 or int16 sums would overflow; NumPy's
matmul of int8 arrays even accumulates in int8 and wraps), and rescales the int32 result to
float once: ``y = (input_scale * weight_scale) * accumulator``. They are inference-only:
the integer weights have no gradient. ``quantize_model`` swaps every ``Linear`` and
``Conv2d`` of a copy of a model for its quantized version; ``model_bytes`` counts the bytes
of the arrays a model really holds.

Module 15's profiler learns the two quantized layers here, through its
``register_layer_type``: their operations (the same integer multiply-adds as the float layer,
plus quantizing the input and rescaling the output) and their stored weights at their real
size (one byte per int8 weight, four per int32 bias).
"""

from __future__ import annotations

import copy

import numpy as np

from tinytorch.autograd import is_grad_enabled, no_grad
from tinytorch.layers import Linear, Module
from tinytorch.profiling import conv2d_flops, linear_flops, register_layer_type
from tinytorch.spatial import Conv2d, _check_images, _output_size, _show, im2col, pad_images
from tinytorch.tensor import Tensor, as_tensor

INT8_MIN, INT8_MAX = -128, 127
SYMMETRIC_MIN = -127
"""Symmetric quantization uses [-127, 127], so that the grid is symmetric around 0."""
INT32_MAX = 2**31 - 1


# -- the mapping between floats and int8 ---------------------------------------------------------
class QuantParams:
    """Scale and zero point of a quantized tensor: ``real = scale * (q - zero_point)``.

    ``scale`` is float32 and ``zero_point`` int32, both of shape () for a per-tensor mapping,
    or ``scale`` of shape (channels,) along ``axis`` for a per-channel one. A symmetric
    mapping keeps one zero point 0 (shape ()), shared by every channel.
    """

    def __init__(self, scale, zero_point, axis: int | None = None, symmetric: bool = False):
        self.scale = np.asarray(scale, dtype=np.float32)
        self.zero_point = np.asarray(zero_point, dtype=np.int32)
        self.axis, self.symmetric = axis, bool(symmetric)
        if not np.all(self.scale > 0):
            raise ValueError(f"QuantParams scale {self.scale}: every scale must be positive")
        if (axis is None) != (self.scale.ndim == 0):
            raise ValueError(
                f"QuantParams with axis={axis} got a scale of shape {self.scale.shape}: expected "
                "shape () without an axis (per tensor), shape (channels,) with one (per channel)"
            )
        if self.zero_point.shape not in ((), self.scale.shape):
            raise ValueError(
                f"QuantParams zero_point of shape {self.zero_point.shape}: expected () or {self.scale.shape}"
            )
        if np.any(self.zero_point < self.qmin) or np.any(self.zero_point > self.qmax):
            raise ValueError(f"QuantParams zero_point {self.zero_point}: expected values in [{self.qmin}, {self.qmax}]")

    @property
    def qmin(self) -> int:
        return SYMMETRIC_MIN if self.symmetric else INT8_MIN

    @property
    def qmax(self) -> int:
        return INT8_MAX

    def along(self, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        """Scale (float64) and zero point shaped to broadcast against a tensor of ``ndim`` axes."""
        shape = [1] * ndim
        if self.axis is not None:
            if not -ndim <= self.axis < ndim:
                raise ValueError(f"QuantParams axis {self.axis} is not an axis of a {ndim}-d tensor")
            shape[self.axis] = -1
        scale = self.scale.astype(np.float64).reshape(shape if self.scale.ndim else ())
        zero_point = self.zero_point.reshape(shape if self.zero_point.ndim else ())
        return scale, zero_point

    @property
    def nbytes(self) -> int:
        return self.scale.nbytes + self.zero_point.nbytes

    def __repr__(self) -> str:
        kind = "symmetric" if self.symmetric else "affine"
        where = "per tensor" if self.axis is None else f"per channel along axis {self.axis}"
        return f"QuantParams({kind}, {where}, scale={self.scale}, zero_point={self.zero_point})"


def _float_array(x) -> np.ndarray:
    array = np.asarray(x.data if isinstance(x, Tensor) else x)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"expected real numbers to quantize; got dtype {array.dtype}")
    return array


SMALLEST_SCALE = float(np.finfo(np.float32).tiny)
"""The smallest normal float32: a smaller scale would be stored with fewer significant bits."""


def _scale(width: np.ndarray, steps: int) -> np.ndarray:
    """``width / steps`` as float32; 1 for a width of 0, never below ``SMALLEST_SCALE``."""
    return np.where(width > 0, np.maximum(width / steps, SMALLEST_SCALE), 1.0).astype(np.float32)


def compute_qparams(low, high, symmetric: bool = False, axis: int | None = None) -> QuantParams:
    """Scale and zero point that map the range [low, high] onto int8.

    ``low`` and ``high`` are numbers (per tensor) or arrays of shape (channels,) (per channel,
    along ``axis``). Affine: the range is stretched to include 0, ``scale = (high - low) / 255``
    and ``zero_point = round(-128 - low / scale)``. Symmetric: ``scale = max(|low|, |high|) /
    127`` and ``zero_point = 0``. A range of width 0 (all zeros) gets scale 1.
    """
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if low.shape != high.shape or low.ndim > 1:
        raise ValueError(f"compute_qparams got low of shape {low.shape} and high of shape {high.shape}: "
                         "expected two numbers, or two arrays of shape (channels,)")
    if (axis is None) != (low.ndim == 0):
        raise ValueError(f"compute_qparams with axis={axis}: expected per-channel ranges (arrays) exactly "
                         "when an axis is given")
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low <= high)):
        raise ValueError(f"compute_qparams got the range [{low}, {high}]: expected finite low <= high")
    # BEGIN SOLUTION
    low, high = np.minimum(low, 0.0), np.maximum(high, 0.0)  # 0.0 must be representable
    if symmetric:
        width = np.maximum(-low, high)
        scale = _scale(width, INT8_MAX)
        zero_point = np.zeros((), dtype=np.int32)
    else:
        width = high - low
        scale = _scale(width, INT8_MAX - INT8_MIN)
        zero_point = np.clip(np.round(INT8_MIN - low / scale), INT8_MIN, INT8_MAX).astype(np.int32)
    # END SOLUTION
    return QuantParams(scale, zero_point, axis, symmetric)


def quantize(x, params: QuantParams) -> np.ndarray:
    """int8 codes of ``x``: ``clip(round(x / scale) + zero_point, qmin, qmax)``.

    Computed in float64 from the stored float32 scale; values outside the calibrated range are
    clipped to its ends. Returns a NumPy array of dtype int8.
    """
    values = _float_array(x).astype(np.float64)
    scale, zero_point = params.along(values.ndim)
    # BEGIN SOLUTION
    codes = np.round(values / scale) + zero_point
    return np.clip(codes, params.qmin, params.qmax).astype(np.int8)
    # END SOLUTION


def dequantize(q: np.ndarray, params: QuantParams) -> np.ndarray:
    """float32 values of the int8 codes ``q``: ``scale * (q - zero_point)``."""
    q = np.asarray(q)
    if q.dtype != np.int8:
        raise TypeError(f"dequantize expects int8 codes; got dtype {q.dtype}")
    scale, zero_point = params.along(q.ndim)
    # BEGIN SOLUTION
    return (scale * (q.astype(np.int32) - zero_point)).astype(np.float32)
    # END SOLUTION


def _reduced_axes(ndim: int, axis: int | None) -> tuple:
    """Every axis but the channel axis (every axis for a per-tensor range)."""
    if axis is None:
        return tuple(range(ndim))
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is not an axis of a {ndim}-d tensor")
    return tuple(a for a in range(ndim) if a != axis % ndim)


def tensor_range(x, axis: int | None = None, percentile: float | None = None) -> tuple:
    """(low, high) of ``x``, per tensor or per channel along ``axis``.

    The minimum and maximum, or with ``percentile=p`` (e.g. 99.9) the (100 - p)-th and p-th
    percentiles, which leave the rarest extreme values outside the range (they are clipped).
    """
    values = _float_array(x)
    if values.size == 0:
        raise ValueError("tensor_range of an empty tensor: there is no range to calibrate")
    if percentile is not None and not 50.0 < percentile <= 100.0:
        raise ValueError(f"percentile={percentile}: expected a number in (50, 100], e.g. 99.9")
    axes = _reduced_axes(values.ndim, axis)
    # BEGIN SOLUTION
    if percentile is None:
        return values.min(axis=axes), values.max(axis=axes)
    low, high = np.percentile(values, [100.0 - percentile, percentile], axis=axes)
    return low, high
    # END SOLUTION


# -- calibration -----------------------------------------------------------------------------------
class RangeObserver:
    """Records the range of the tensors it sees, batch after batch (an activation's range).

    With ``percentile=None`` the range is the smallest and largest value seen in any batch.
    With a percentile, each batch contributes its own percentile range and the observer keeps
    their mean: one batch's outlier moves the range by 1/batches of its pull, not all of it.
    """

    def __init__(self, percentile: float | None = None):
        if percentile is not None and not 50.0 < percentile <= 100.0:
            raise ValueError(f"RangeObserver percentile={percentile}: expected a number in (50, 100]")
        self.percentile = percentile
        self.batches = 0
        self.low = self.high = None

    def observe(self, x) -> None:
        low, high = tensor_range(x, percentile=self.percentile)
        # BEGIN SOLUTION
        low, high = float(low), float(high)
        if self.batches == 0:
            self.low, self.high = low, high
        elif self.percentile is None:
            self.low, self.high = min(self.low, low), max(self.high, high)
        else:  # running mean of the per-batch percentiles
            self.low += (low - self.low) / (self.batches + 1)
            self.high += (high - self.high) / (self.batches + 1)
        # END SOLUTION
        self.batches += 1

    def qparams(self, symmetric: bool = False) -> QuantParams:
        """The per-tensor mapping of the range seen so far."""
        if self.batches == 0:
            raise RuntimeError("RangeObserver has seen no batch: run calibration batches through it first")
        return compute_qparams(self.low, self.high, symmetric=symmetric)

    def __repr__(self) -> str:
        return f"RangeObserver(percentile={self.percentile}, batches={self.batches}, range=[{self.low}, {self.high}])"


# -- integer layers ------------------------------------------------------------------------------
def integer_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b of integer arrays, accumulated in int32 (both are cast to int32 before the product)."""
    # BEGIN SOLUTION
    return np.matmul(a.astype(np.int32), b.astype(np.int32))
    # END SOLUTION


def _refuse_gradients(layer: Module, x: Tensor) -> None:
    if is_grad_enabled() and x.requires_grad:
        raise RuntimeError(
            f"{type(layer).__name__} is inference-only: its int8 weights have no gradient and "
            "integer rounding has no useful derivative. Train the float model and quantize it "
            "again, or run the quantized model under no_grad() on inputs that need no gradient"
        )


def _check_accumulator(name: str, terms: int, bias_codes: np.ndarray) -> None:
    """Refuse a layer whose int32 sum could overflow: each term is at most 255 * 127 in size."""
    largest = terms * (INT8_MAX - INT8_MIN) * INT8_MAX + int(np.abs(bias_codes.astype(np.int64)).max(initial=0))
    if largest > INT32_MAX:
        raise ValueError(f"{name}: an int32 accumulator could overflow ({terms} products of up to "
                         f"{(INT8_MAX - INT8_MIN) * INT8_MAX}, bias up to {np.abs(bias_codes).max()})")


def _bias_codes(bias, input_params: QuantParams, weight_params: QuantParams) -> np.ndarray | None:
    """The float bias in units of the accumulator, ``round(bias / (input_scale * weight_scale))``."""
    if bias is None:
        return None
    step = input_params.scale.astype(np.float64) * weight_params.scale.astype(np.float64)
    codes = np.round(bias.data.astype(np.float64) / step)
    if np.abs(codes).max(initial=0) > INT32_MAX:
        raise ValueError("quantized bias does not fit int32: the input scale is far too small for this bias")
    return codes.astype(np.int32)


class _QuantizedLayer(Module):
    """What QuantizedLinear and QuantizedConv2d share: the input mapping, int8 weights, int32 bias."""

    weight_axis: int  # the output-channel axis of the float layer's weight

    def __init__(self, layer, input_params: QuantParams, per_channel: bool):
        super().__init__()
        if not isinstance(input_params, QuantParams) or input_params.axis is not None:
            raise TypeError(f"{type(self).__name__} needs per-tensor QuantParams for its input (from "
                            f"calibration); got {input_params!r}")
        self.input_params = input_params
        weight = layer.weight.data
        low, high = tensor_range(weight, axis=self.weight_axis if per_channel else None)
        self.weight_params = compute_qparams(low, high, symmetric=True,
                                             axis=self.weight_axis if per_channel else None)
        self.weight = quantize(weight, self.weight_params)  # np.int8
        self.bias = _bias_codes(layer.bias, input_params, self.weight_params)  # np.int32 or None

    def _output_scale(self) -> np.ndarray:
        """The float value of one unit of the accumulator, per output channel."""
        return self.input_params.scale.astype(np.float64) * self.weight_params.scale.astype(np.float64)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        _refuse_gradients(self, x)
        self._check(x)
        accumulator = self.integer_forward(quantize(x, self.input_params))
        return Tensor(self._rescale(accumulator), dtype=np.float32)


class QuantizedLinear(_QuantizedLayer):
    """A ``Linear`` with int8 weights (symmetric, per output column or per tensor) and an int32 bias.

    ``y = input_scale * weight_scale * ((q_x - zero_point) @ q_w + q_b)``, the bracket in int32.
    """

    weight_axis = 1  # Linear's weight is (in_features, out_features)

    def __init__(self, linear: Linear, input_params: QuantParams, per_channel: bool = True):
        if not isinstance(linear, Linear):
            raise TypeError(f"QuantizedLinear wraps a Linear layer; got {type(linear).__name__}")
        super().__init__(linear, input_params, per_channel)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        _check_accumulator(repr(self), self.in_features, self.bias if self.bias is not None else np.zeros(0))

    def _check(self, x: Tensor) -> None:
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r} got input of shape {x.shape}: expected last dimension {self.in_features}")

    def integer_forward(self, codes: np.ndarray) -> np.ndarray:
        """The int32 accumulator ``(codes - zero_point) @ weight + bias`` for int8 input codes."""
        # BEGIN SOLUTION
        centered = codes.astype(np.int32) - self.input_params.zero_point
        accumulator = integer_matmul(centered, self.weight)
        if self.bias is not None:
            accumulator += self.bias
        return accumulator
        # END SOLUTION

    def _rescale(self, accumulator: np.ndarray) -> np.ndarray:
        return accumulator * self._output_scale()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class QuantizedConv2d(_QuantizedLayer):
    """A ``Conv2d`` with int8 filters (symmetric, per output channel or per tensor) and an int32 bias.

    The input codes are centred (``q - zero_point``, in int32) before the zero padding, so the
    padding means real 0.0; then im2col and one integer matmul, as module 09's ``conv2d``.
    """

    weight_axis = 0  # Conv2d's weight is (out_channels, in_channels, kh, kw)

    def __init__(self, conv: Conv2d, input_params: QuantParams, per_channel: bool = True):
        if not isinstance(conv, Conv2d):
            raise TypeError(f"QuantizedConv2d wraps a Conv2d layer; got {type(conv).__name__}")
        super().__init__(conv, input_params, per_channel)
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding
        terms = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        _check_accumulator(repr(self), terms, self.bias if self.bias is not None else np.zeros(0))

    def _check(self, x: Tensor) -> None:
        _check_images(repr(self), x, self.in_channels)
        _output_size(repr(self), x.shape, self.kernel_size, self.stride, self.padding)

    def integer_forward(self, codes: np.ndarray) -> np.ndarray:
        """The int32 accumulator (N, C_out, OH, OW) of the convolution of int8 input codes."""
        n = codes.shape[0]
        out_size = _output_size(repr(self), codes.shape, self.kernel_size, self.stride, self.padding)
        # BEGIN SOLUTION
        centered = codes.astype(np.int32) - self.input_params.zero_point
        columns = im2col(pad_images(centered, self.padding), self.kernel_size, self.stride)
        weight_rows = self.weight.reshape(self.out_channels, -1)
        accumulator = integer_matmul(weight_rows, columns).reshape(n, self.out_channels, *out_size)
        if self.bias is not None:
            accumulator += self.bias.reshape(-1, 1, 1)
        return accumulator
        # END SOLUTION

    def _rescale(self, accumulator: np.ndarray) -> np.ndarray:
        return accumulator * self._output_scale().reshape(-1, 1, 1)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={_show(self.kernel_size)}, "
                f"stride={_show(self.stride)}, padding={_show(self.padding)}")


# -- what the profiler counts ------------------------------------------------------------------------
QUANTIZE_INPUT_OPS = 6
"""Operations per input element of a quantized layer's forward: divide by the scale, round, add
the zero point, clip (two comparisons), and subtract the zero point again in int32 before the
product. (The casts to int8 and int32 move bytes and are not counted.)"""

FLOAT_FLOP_COUNTERS = {QuantizedLinear: linear_flops, QuantizedConv2d: conv2d_flops}
"""Module 15's counter of the float layer each quantized layer replaces. The quantized layer
has the attributes it reads (``in_features``/``out_features``, or ``in_channels`` and
``kernel_size``, and ``bias``)."""


def quantized_layer_flops(layer, input_shape: tuple, output_shape: tuple) -> int:
    """Operations of one forward pass of a ``QuantizedLinear`` or ``QuantizedConv2d``, integer
    and float alike, under module 15's convention (a multiply-add is 2):

    - quantizing the input: ``QUANTIZE_INPUT_OPS`` per input element;
    - the int32 multiply-adds and the bias: exactly the float layer's FLOPs (same shapes,
      same products, in integers);
    - the rescale of the accumulator to float: one multiply per output element.
    """
    float_flops = FLOAT_FLOP_COUNTERS[type(layer)]
    # BEGIN SOLUTION
    inputs, outputs = int(np.prod(input_shape)), int(np.prod(output_shape))
    return QUANTIZE_INPUT_OPS * inputs + float_flops(layer, input_shape, output_shape) + outputs
    # END SOLUTION


def quantized_stored_parameters(layer) -> tuple[int, int]:
    """(weights and biases, their bytes) of a quantized layer: the int8 weight (1 byte each) and
    the int32 bias (4 bytes each), as many numbers as the float layer had. The scales and zero
    points are the mapping, not parameters: ``model_bytes`` counts them."""
    arrays = [layer.weight] if layer.bias is None else [layer.weight, layer.bias]
    # BEGIN SOLUTION
    return sum(int(array.size) for array in arrays), sum(int(array.nbytes) for array in arrays)
    # END SOLUTION


register_layer_type(QuantizedLinear, quantized_layer_flops, quantized_stored_parameters)
register_layer_type(QuantizedConv2d, quantized_layer_flops, quantized_stored_parameters)


# -- whole models ------------------------------------------------------------------------------------
QUANTIZED_VERSIONS = {Linear: QuantizedLinear, Conv2d: QuantizedConv2d}


def _replace_child(parent: Module, name: str, old, new) -> None:
    """Put ``new`` where ``old`` was: the attribute, and any list of layers that holds it
    (``Sequential.layers``)."""
    setattr(parent, name, new)
    for value in vars(parent).values():
        if isinstance(value, list):
            for index, item in enumerate(value):
                if item is old:
                    value[index] = new


def _quantizable_layers(model: Module) -> list:
    """(parent, attribute name, layer) for every Linear and Conv2d inside ``model``."""
    found = []
    for _, parent in model.named_modules():
        for name, child in list(parent._modules.items()):
            if type(child) in QUANTIZED_VERSIONS:
                found.append((parent, name, child))
    return found


class _Observed(Module):
    """A float layer that records the range of its input while it computes as before."""

    def __init__(self, layer, observer: RangeObserver):
        super().__init__()
        self.layer, self.observer = layer, observer

    def forward(self, x):
        self.observer.observe(as_tensor(x))
        return self.layer(x)


def _inputs_of(batch):
    """A calibration batch is an input, or an (input, target) pair whose target is ignored."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def quantize_model(model: Module, calibration_batches, per_channel: bool = True,
                   percentile: float | None = None) -> Module:
    """A copy of ``model`` in which every ``Linear`` and ``Conv2d`` is quantized to int8.

    ``calibration_batches`` (inputs, or (input, target) pairs) run through the float copy in
    evaluation mode under ``no_grad`` while an observer records each layer's input range
    (min/max, or the given ``percentile``). Weights are quantized symmetrically, per output
    channel unless ``per_channel=False``. The original ``model`` is not changed.
    """
    if not isinstance(model, Module):
        raise TypeError(f"quantize_model expects a Module; got {type(model).__name__}")
    quantized = copy.deepcopy(model)
    targets = _quantizable_layers(quantized)
    if not targets:
        raise ValueError("quantize_model found no Linear or Conv2d layer to quantize in the model")
    # BEGIN SOLUTION
    observed = []
    for parent, name, layer in targets:
        wrapper = _Observed(layer, RangeObserver(percentile))
        _replace_child(parent, name, layer, wrapper)
        observed.append((parent, name, wrapper))
    was_training = [(module, module.training) for _, module in quantized.named_modules()]
    quantized.eval()
    with no_grad():
        for batch in calibration_batches:
            quantized(_inputs_of(batch))
    for module, mode in was_training:
        object.__setattr__(module, "training", mode)
    for parent, name, wrapper in observed:
        if wrapper.observer.batches == 0:
            raise ValueError(f"quantize_model: layer {name!r} ({wrapper.layer!r}) saw no calibration "
                             "batch: expected at least one batch that reaches every layer")
        version = QUANTIZED_VERSIONS[type(wrapper.layer)]
        _replace_child(parent, name, wrapper, version(wrapper.layer, wrapper.observer.qparams(), per_channel))
    # END SOLUTION
    return quantized


def model_bytes(model: Module) -> int:
    """Bytes of every array the model holds: parameters, int8 weights, int32 biases, scales and
    zero points, running statistics (each array counted once, by its ``nbytes``)."""
    seen, total = set(), 0

    def count(array) -> None:
        nonlocal total
        if id(array) not in seen:
            seen.add(id(array))
            total += array.nbytes

    for _, module in model.named_modules():
        for value in vars(module).values():
            if isinstance(value, Tensor):
                count(value.data)
            elif isinstance(value, np.ndarray):
                count(value)
            elif isinstance(value, QuantParams):
                count(value.scale)
                count(value.zero_point)
    return total


__all__ = [
    "INT8_MAX", "INT8_MIN", "QUANTIZE_INPUT_OPS", "QuantParams", "QuantizedConv2d", "QuantizedLinear", "RangeObserver",
    "SYMMETRIC_MIN", "compute_qparams", "dequantize", "integer_matmul", "model_bytes", "quantize",
    "quantize_model", "quantized_layer_flops", "quantized_stored_parameters", "tensor_range",
]
