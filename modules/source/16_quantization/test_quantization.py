"""Unit tests of module 16 (quantization): post-training INT8.

Scales and zero points by hand; the round trip within half a step (a hypothesis property over
affine and symmetric, per-tensor and per-channel mappings); all-zero, constant and outlier
tensors; calibration over batches; quantized layers that store int8 and accumulate in int32
(checked exactly against an int64 reference), stay within the error bound of their float
layer and refuse gradients; quantize_model on a CNN and a digits MLP; bytes counted by hand;
the milestone 3 CNN trained on the shifted digits keeps its accuracy within 1 point; module
15's profiler counts the quantized layers' operations and int8 bytes by hand.

The checks are functions (``round_trip_violations``, ``check_stores_int8``, ...) applied to
the real code and, in the negative controls at the end, to deliberately broken versions that
they must reject: a wrong-signed zero point, a "quantized" layer that keeps float32 weights,
an int8 matmul that wraps around, a calibration that did not see the real input range.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.autograd import no_grad
from tinytorch.dataloader import RandomCrop
from tinytorch.datasets import load_digits, load_shifted_digits
from tinytorch.layers import Dropout, Flatten, Linear, Sequential
from tinytorch.losses import cross_entropy
from tinytorch.optimizers import Adam, CosineAnnealingLR
from tinytorch.profiling import count_parameters, profile_model
from tinytorch.quantization import (
    QUANTIZE_INPUT_OPS,
    SMALLEST_SCALE,
    QuantizedConv2d,
    QuantizedLinear,
    QuantParams,
    RangeObserver,
    compute_qparams,
    dequantize,
    model_bytes,
    quantize,
    quantize_model,
    tensor_range,
)
from tinytorch.spatial import BatchNorm2d, Conv2d, MaxPool2d
from tinytorch.training import accuracy
from pytest_tinytorch.grader.graded_ops.spatial import conv2d_reference

pytestmark = pytest.mark.module("quantization")

FLOAT32_SCALE_SLACK = 2e-5
"""The stored float32 scale differs from (high - low) / 255 by up to 6e-8 relatively, so the
ends of a range can land up to 255 * 6e-8 (1.5e-5) of a step beyond half a step."""


# -- checks, used on the real code and on the broken versions at the end ---------------------------
def round_trip_violations(x, params, quantize_fn=quantize) -> int:
    """How many values of ``x`` come back from int8 further than half a step (scale / 2, plus
    float32 rounding of the scale and of the dequantized value)."""
    x = np.asarray(x, dtype=np.float32)
    back = dequantize(quantize_fn(x, params), params).astype(np.float64)
    scale, _ = params.along(x.ndim)
    allowed = scale * (0.5 + FLOAT32_SCALE_SLACK) + np.spacing(np.abs(x))
    return int(np.count_nonzero(np.abs(back - x) > allowed))


def check_stores_int8(layer) -> None:
    """The layer holds its weight as int8 and its bias as int32, nothing as float weights."""
    assert isinstance(layer.weight, np.ndarray) and layer.weight.dtype == np.int8, (
        f"weight is {type(layer.weight).__name__} of dtype {getattr(layer.weight, 'dtype', None)}, expected int8")
    assert layer.bias is None or (isinstance(layer.bias, np.ndarray) and layer.bias.dtype == np.int32)
    assert layer.parameters() == []


def check_integer_accumulation(layer, codes, reference) -> None:
    """``integer_forward`` returns int32 equal to the int64 reference, element for element."""
    accumulator = layer.integer_forward(codes)
    assert accumulator.dtype == np.int32
    assert np.array_equal(accumulator.astype(np.int64), reference)


def check_weight_bytes_quartered(float_model, quantized_model, weight_count: int) -> None:
    """Each weight costs 1 byte instead of 4, and the whole model (with its int32 biases, scales
    and zero points) is more than 3.4 times smaller."""
    assert model_bytes(float_model) > 3.4 * model_bytes(quantized_model)
    float_weights = sum(layer.weight.data.nbytes for layer in float_model.layers if hasattr(layer, "weight"))
    stored_weights = sum(layer.weight.nbytes for layer in quantized_model.layers if hasattr(layer, "weight"))
    assert float_weights == 4 * weight_count and stored_weights == weight_count


def int64_linear_reference(codes, layer) -> np.ndarray:
    centered = codes.astype(np.int64) - int(layer.input_params.zero_point)
    return centered @ layer.weight.astype(np.int64) + layer.bias.astype(np.int64)


def small_linear(in_features=6, out_features=4, seed=0) -> Linear:
    tinytorch.manual_seed(seed)
    return Linear(in_features, out_features)


# -- scales and zero points by hand ------------------------------------------------------------------
def test_affine_mapping_of_minus_1_to_3_by_hand():
    """scale = 4 / 255; zero_point = round(-128 + 1 / scale) = round(-64.25) = -64."""
    params = compute_qparams(-1.0, 3.0)
    assert params.scale == np.float32(4 / 255) and params.zero_point == -64
    assert quantize([-1.0, 0.0, 1.0, 3.0, 7.0, -9.0], params).tolist() == [-128, -64, 0, 127, 127, -128]
    assert dequantize(np.array([-64], np.int8), params).tolist() == [0.0]  # real 0 is exact


def test_symmetric_mapping_uses_minus_127_to_127_and_zero_point_0():
    """scale = max(|-0.5|, |2.54|) / 127 = 0.02; -2.54 is clipped to -127, never -128."""
    params = compute_qparams(-0.5, 2.54, symmetric=True)
    assert params.scale == pytest.approx(0.02) and params.zero_point == 0
    assert (params.qmin, params.qmax) == (-127, 127)
    assert quantize([2.54, -0.5, 0.012, -2.54, -9.0], params).tolist() == [127, -25, 1, -127, -127]


def test_a_range_without_zero_is_stretched_to_include_it():
    """[2, 4] becomes [0, 4]: 0.0 stays exact (zero padding, dead ReLUs)."""
    params = compute_qparams(2.0, 4.0)
    assert params.scale == np.float32(4 / 255) and params.zero_point == -128
    assert dequantize(quantize([0.0], params), params).tolist() == [0.0]


def test_per_channel_scales_follow_each_column():
    """Column j of a Linear weight gets scale max|column j| / 127: its largest weight is +-127."""
    weight = np.array([[0.012, 1.0, -50.0], [-0.02, 0.6, 30.0]], dtype=np.float32)
    low, high = tensor_range(weight, axis=1)
    params = compute_qparams(low, high, symmetric=True, axis=1)
    assert params.scale == pytest.approx([0.02 / 127, 1.0 / 127, 50.0 / 127])
    assert quantize(weight, params).tolist() == [[76, 127, -127], [-127, 76, 76]]  # 0.6 * 127 = 76.2
    per_tensor = compute_qparams(*tensor_range(weight), symmetric=True)
    assert quantize(weight, per_tensor)[:, 0].tolist() == [0, 0]  # the small column is crushed


def test_an_all_zero_tensor_gets_scale_1_and_no_division_by_zero():
    zeros = np.zeros((3, 4), np.float32)
    with np.errstate(all="raise"):
        for symmetric in (False, True):
            params = compute_qparams(*tensor_range(zeros), symmetric=symmetric)
            assert params.scale == 1.0
            assert np.array_equal(dequantize(quantize(zeros, params), params), zeros)
        per_channel = compute_qparams(*tensor_range(zeros, axis=1), symmetric=True, axis=1)
        assert per_channel.scale.tolist() == [1.0] * 4


@pytest.mark.parametrize("value", [2.5, -3.0, 1e-3, -7e4])
def test_a_constant_tensor_comes_back_within_half_a_step(value):
    x = np.full((5, 2), value, np.float32)
    for symmetric in (False, True):
        params = compute_qparams(*tensor_range(x), symmetric=symmetric)
        assert params.scale == pytest.approx(abs(value) / (127 if symmetric else 255))
        assert round_trip_violations(x, params) == 0
        assert np.ptp(dequantize(quantize(x, params), params)) == 0  # still constant


def test_a_range_narrower_than_float32_normals_keeps_a_normal_scale():
    x = np.array([0.0, 1e-40, 2e-40], np.float32)  # subnormal float32
    params = compute_qparams(*tensor_range(x))
    assert params.scale == np.float32(SMALLEST_SCALE)
    assert round_trip_violations(x, params) == 0


# -- the round trip, as a property -----------------------------------------------------------------
finite_float32 = st.floats(-1e6, 1e6, width=32, allow_nan=False)


@given(
    x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=3, max_side=6), elements=finite_float32),
    symmetric=st.booleans(),
    per_channel=st.booleans(),
)
def test_round_trip_is_within_half_a_step_inside_the_calibrated_range(x, symmetric, per_channel):
    axis = 1 if per_channel else None
    params = compute_qparams(*tensor_range(x, axis=axis), symmetric=symmetric, axis=axis)
    assert round_trip_violations(x, params) == 0


@given(x=hnp.arrays(np.float32, st.integers(2, 40), elements=st.floats(-100, 100, width=32)),
       fraction=st.floats(0.0, 1.0))
def test_values_outside_the_range_are_clipped_to_its_ends(x, fraction):
    """Calibrate on part of the data: everything lands between the dequantized ends."""
    part = x[: max(1, int(len(x) * fraction))]
    params = compute_qparams(*tensor_range(part))
    codes = quantize(x, params)
    assert codes.dtype == np.int8
    ends = dequantize(np.array([-128, 127], np.int8), params)
    back = dequantize(codes, params)
    assert np.all(back >= ends[0]) and np.all(back <= ends[1])


# -- outliers and calibration --------------------------------------------------------------------------
def test_a_percentile_range_ignores_one_outlier_and_keeps_typical_values_precise():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(10_000).astype(np.float32)
    x[17] = 1000.0
    by_min_max = compute_qparams(*tensor_range(x))
    by_percentile = compute_qparams(*tensor_range(x, percentile=99.9))
    assert by_min_max.scale > 3.9  # (1000 + 3.9) / 255: the outlier sets the step
    assert by_percentile.scale < 0.03
    typical = np.abs(x) < 3
    error = {name: np.abs(dequantize(quantize(x, p), p) - x)[typical].mean()
             for name, p in (("min/max", by_min_max), ("percentile", by_percentile))}
    assert error["percentile"] < error["min/max"] / 50
    clipped = dequantize(quantize(x[17:18], by_percentile), by_percentile)[0]
    assert clipped == pytest.approx(float(by_percentile.scale) * (127 - int(by_percentile.zero_point)))


def test_a_percentile_range_per_channel_is_each_channels_own():
    """Columns 0..3 of (101, 4) hold 0..100 times 1, 2, 3, 4: the 10th and 90th percentiles of
    column c are 10 (c + 1) and 90 (c + 1), one pair per channel, not one for the whole tensor."""
    x = np.arange(101, dtype=np.float32)[:, None] * np.arange(1, 5, dtype=np.float32)
    low, high = tensor_range(x, axis=1, percentile=90.0)
    assert low.shape == high.shape == (4,)
    assert np.allclose(low, [10, 20, 30, 40]) and np.allclose(high, [90, 180, 270, 360])
    low, high = tensor_range(x.T, axis=0)
    assert np.array_equal(low, [0, 0, 0, 0]) and np.array_equal(high, [100, 200, 300, 400])


def test_a_min_max_observer_keeps_the_extremes_of_all_batches():
    observer = RangeObserver()
    for batch in ([0.5, 2.0], [-3.0, 1.0], [0.0, 1.5]):
        observer.observe(Tensor(batch))
    assert (observer.low, observer.high, observer.batches) == (-3.0, 2.0, 3)
    assert observer.qparams().scale == np.float32(5 / 255)


def test_a_percentile_observer_averages_the_percentiles_of_its_batches():
    observer = RangeObserver(percentile=100.0)  # the 100th percentile of a batch is its maximum
    for batch in ([0.0, 2.0], [-4.0, 6.0]):
        observer.observe(np.array(batch))
    assert (observer.low, observer.high) == (-2.0, 4.0)


def test_an_observer_averages_float32_batches_in_float64():
    """The running mean of float32 batches is kept in float64 (found by ``tito mutate``: an
    observer that kept NumPy's float32 scalars drifted from the mean in the last digits)."""
    batches = [np.random.default_rng(seed).standard_normal(1000).astype(np.float32) for seed in range(3)]
    observer = RangeObserver(percentile=99.0)
    for batch in batches:
        observer.observe(Tensor(batch))
    lows = [float(np.percentile(batch.astype(np.float64), 1.0)) for batch in batches]
    assert type(observer.low) is float and type(observer.high) is float
    assert observer.low == pytest.approx(sum(lows) / 3, rel=1e-6)


def test_an_observer_without_batches_and_bad_settings_are_refused():
    with pytest.raises(RuntimeError, match="seen no batch"):
        RangeObserver().qparams()
    with pytest.raises(ValueError, match=r"expected a number in \(50, 100\]"):
        tensor_range(np.ones(3), percentile=40)
    with pytest.raises(ValueError, match="expected finite low <= high"):
        compute_qparams(2.0, 1.0)
    with pytest.raises(ValueError, match="every scale must be positive"):
        QuantParams(0.0, 0)
    with pytest.raises(TypeError, match="expects int8 codes"):
        dequantize(np.array([1, 2]), compute_qparams(0.0, 1.0))


# -- QuantizedLinear ---------------------------------------------------------------------------------
def test_quantized_linear_stores_int8_weights_and_an_int32_bias():
    linear = small_linear()
    layer = QuantizedLinear(linear, compute_qparams(-2.0, 2.0))
    check_stores_int8(layer)
    assert layer.weight.shape == (6, 4) and layer.bias.shape == (4,)
    expected = np.round(linear.weight.data / layer.weight_params.scale).astype(np.int8)  # symmetric, zp 0
    assert np.array_equal(layer.weight, expected)
    assert np.abs(layer.weight).max(axis=0).tolist() == [127] * 4  # each column uses its full range


def test_the_accumulator_is_int32_and_exact_where_int16_would_overflow():
    """300 products of up to 255 * 127 sum to millions: exact against int64, in int32."""
    tinytorch.manual_seed(1)
    linear = Linear(300, 5)
    linear.weight.data[:, 0] = 1.0  # column 0 quantizes to 127 everywhere
    layer = QuantizedLinear(linear, compute_qparams(0.0, 5.0))  # zero point -128
    codes = np.random.default_rng(0).integers(-128, 128, (7, 300)).astype(np.int8)
    codes[0] = 127
    reference = int64_linear_reference(codes, layer)
    assert reference[0, 0] > 2**15 * 100  # far beyond int16
    check_integer_accumulation(layer, codes, reference)


def test_quantized_linear_is_within_its_error_bound_of_the_float_layer():
    """|y_q - y| <= sum_k (s_x / 2 |w_q| + |x| s_w / 2) + s_x s_w / 2, from the two round trips."""
    linear = small_linear(32, 8, seed=3)
    x = np.random.default_rng(1).uniform(-2, 2, (16, 32)).astype(np.float32)
    layer = QuantizedLinear(linear, compute_qparams(*tensor_range(x)))
    with no_grad():
        exact = linear(Tensor(x)).data.astype(np.float64)
    out = layer(Tensor(x))
    assert out.dtype == np.float32 and not out.requires_grad
    got = out.data.astype(np.float64)
    s_x, s_w = float(layer.input_params.scale), layer.weight_params.scale.astype(np.float64)
    w_q = dequantize(layer.weight, layer.weight_params).astype(np.float64)
    bound = s_x / 2 * np.abs(w_q).sum(axis=0) + np.abs(x) @ (np.ones((32, 1)) * s_w / 2) + s_x * s_w / 2
    assert np.all(np.abs(got - exact) <= bound + 1e-6)
    assert 0 < np.abs(got - exact).max() < 0.02 * np.abs(exact).max()


def test_per_tensor_weights_are_less_precise_than_per_channel_ones():
    linear = small_linear(16, 4, seed=5)
    linear.weight.data[:, 0] *= 100.0  # one column of large weights
    x = np.random.default_rng(2).uniform(-1, 1, (32, 16)).astype(np.float32)
    with no_grad():
        exact = linear(Tensor(x)).data
    errors = {}
    for per_channel in (True, False):
        layer = QuantizedLinear(linear, compute_qparams(*tensor_range(x)), per_channel=per_channel)
        errors[per_channel] = np.abs(layer(Tensor(x)).data - exact)[:, 1:].mean()
    assert errors[True] < errors[False] / 10


def test_quantized_layers_are_inference_only():
    layer = QuantizedLinear(small_linear(), compute_qparams(-1.0, 1.0))
    x = Tensor(np.ones((2, 6)), requires_grad=True)
    with pytest.raises(RuntimeError, match="QuantizedLinear is inference-only"):
        layer(x)
    with no_grad():
        assert layer(x).shape == (2, 4)
    assert not layer(np.ones((2, 6))).requires_grad
    with pytest.raises(ValueError, match=r"got input of shape \(2, 5\): expected last dimension 6"):
        layer(np.ones((2, 5)))


def test_quantized_layers_need_the_right_float_layer_and_input_mapping():
    with pytest.raises(TypeError, match="wraps a Linear"):
        QuantizedLinear(Conv2d(1, 1, 1), compute_qparams(0.0, 1.0))
    with pytest.raises(TypeError, match="per-tensor QuantParams for its input"):
        QuantizedLinear(small_linear(), compute_qparams(np.zeros(2), np.ones(2), axis=0))


# -- QuantizedConv2d ------------------------------------------------------------------------------------
def test_quantized_conv_accumulates_exactly_and_pads_with_real_zero():
    """The input is positive, so its zero point is -128: padding with code 0 instead of real 0
    would add 128 units along the border. The accumulator equals a float64 convolution of the
    centred codes (exact: every value is an integer far below 2**53)."""
    tinytorch.manual_seed(2)
    conv = Conv2d(2, 3, 3, stride=2, padding=1)
    x = np.random.default_rng(3).uniform(0, 4, (2, 2, 7, 6)).astype(np.float32)
    layer = QuantizedConv2d(conv, compute_qparams(*tensor_range(x)))
    check_stores_int8(layer)
    assert layer.input_params.zero_point == -128
    codes = quantize(x, layer.input_params)
    centered = codes.astype(np.float64) - int(layer.input_params.zero_point)
    reference = conv2d_reference(centered, layer.weight.astype(np.float64), layer.bias.astype(np.float64),
                                 stride=2, padding=1)
    check_integer_accumulation(layer, codes, reference.astype(np.int64))
    with no_grad():
        exact = conv(Tensor(x)).data
    got = layer(Tensor(x)).data
    assert got.shape == exact.shape == (2, 3, 4, 3)
    assert np.abs(got - exact).max() < 0.02 * np.abs(exact).max()


# -- whole models ----------------------------------------------------------------------------------------
def small_cnn(seed=0):
    tinytorch.manual_seed(seed)
    return Sequential(Conv2d(1, 4, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(), Linear(64, 16), ReLU(),
                      Linear(16, 3))


def test_quantize_model_swaps_every_layer_and_leaves_the_original_alone():
    model = small_cnn()
    before = model.state_dict()
    rng = np.random.default_rng(0)
    batches = [(Tensor(rng.standard_normal((8, 1, 8, 8))), np.zeros(8, np.int64)) for _ in range(3)]
    quantized = quantize_model(model, batches)
    assert [type(layer).__name__ for layer in quantized.layers] == [
        "QuantizedConv2d", "ReLU", "MaxPool2d", "Flatten", "QuantizedLinear", "ReLU", "QuantizedLinear"]
    assert quantized[0] is getattr(quantized, "0")  # the list and the attribute agree
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    assert type(model[0]) is Conv2d and model.training and quantized.training
    first_input = np.concatenate([b[0].data for b in batches])  # the first layer saw every batch
    assert quantized[0].input_params.scale == np.float32(np.ptp(first_input) / 255)
    x = Tensor(rng.standard_normal((4, 1, 8, 8)))
    with no_grad():
        exact = model(x).data
    assert np.abs(quantized(x).data - exact).max() < 0.03 * np.abs(exact).max()


def test_calibration_sees_the_ranges_of_inference():
    """The calibration batches run in evaluation mode: dropout passes everything through
    unscaled and batch norm uses (and does not move) its running statistics, so each observed
    range is the range the layer will see when the quantized model runs."""
    tinytorch.manual_seed(0)
    model = Sequential(Conv2d(1, 2, 3), BatchNorm2d(2), ReLU(), Flatten(), Dropout(0.5), Linear(72, 3))
    x = Tensor(np.random.default_rng(0).standard_normal((8, 1, 8, 8)) + 3.0)
    quantized = quantize_model(model, [x])               # the model is in training mode
    model.eval()
    with no_grad():
        features = model[3](model[2](model[1](model[0](x)))).data   # what Linear sees in inference
    model.train()
    assert quantized[5].input_params.scale == compute_qparams(features.min(), features.max()).scale
    assert quantized[1].num_batches_tracked == 0 and np.array_equal(quantized[1].running_mean, np.zeros(2))
    assert quantized.training and quantized[1].training and quantized[4].training


def test_quantize_model_refuses_models_it_cannot_quantize_or_calibrate():
    with pytest.raises(ValueError, match="no Linear or Conv2d"):
        quantize_model(Sequential(ReLU(), Flatten()), [np.ones((1, 3))])
    with pytest.raises(ValueError, match="saw no calibration batch"):
        quantize_model(small_cnn(), [])


def test_model_bytes_are_counted_array_by_array():
    """Linear(64, 128): 8,192 weights. Float: (8,192 + 128) * 4 bytes. Int8: 8,192 weight bytes,
    128 int32 bias codes, 128 float32 weight scales, one int32 weight zero point, and the input's
    float32 scale and int32 zero point."""
    model = Sequential(small_linear(64, 128))
    quantized = quantize_model(model, [np.random.default_rng(0).standard_normal((4, 64))])
    assert model_bytes(model) == (8192 + 128) * 4 == 33_280
    assert model_bytes(quantized) == 8192 + 128 * 4 + 128 * 4 + 4 + 4 + 4 == 9_228
    check_weight_bytes_quartered(model, quantized, 8192)


def train_digits_mlp(epochs=3, seed=0):
    """The milestone 2 network, smaller and trained briefly (the lab trains the full one)."""
    (X, y), (X_test, y_test) = load_digits("train"), load_digits("test")
    mean, spread = X.mean(axis=0), X.std(axis=0) + 0.1
    X, X_test = (X - mean) / spread, (X_test - mean) / spread
    tinytorch.manual_seed(seed)
    model = Sequential(Linear(64, 64), ReLU(), Linear(64, 10))
    optimizer = Adam(model.parameters(), lr=0.01)
    order = np.random.default_rng(seed)
    for _ in range(epochs):
        for batch in np.array_split(order.permutation(len(X)), len(X) // 64):
            optimizer.zero_grad()
            cross_entropy(model(Tensor(X[batch])), y[batch]).backward()
            optimizer.step()
    return model, X.astype(np.float32), X_test.astype(np.float32), y_test


def test_a_quantized_digits_mlp_keeps_its_accuracy_in_a_quarter_of_the_weight_bytes():
    model, X, X_test, y_test = train_digits_mlp()
    quantized = quantize_model(model, [X[start:start + 128] for start in range(0, 512, 128)])
    with no_grad():
        float_logits = model(Tensor(X_test)).data
    int8_logits = quantized(Tensor(X_test)).data
    float_accuracy, int8_accuracy = accuracy(float_logits, y_test), accuracy(int8_logits, y_test)
    assert float_accuracy > 0.9
    assert int8_accuracy >= float_accuracy - 0.02
    assert np.mean(float_logits.argmax(1) == int8_logits.argmax(1)) > 0.97
    check_weight_bytes_quartered(model, quantized, 64 * 64 + 64 * 10)


def milestone3_cnn():
    """Milestone 3's architecture: 3,818 parameters, 16x16 images in, 10 classes out."""
    return Sequential(Conv2d(1, 8, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(8, 16, 3, padding=1), ReLU(),
                      MaxPool2d(2), Flatten(), Linear(256, 10))


@pytest.fixture(scope="module")
def trained_cnn():
    """The milestone 3 CNN trained briefly on the shifted digits (milestone 3's data), with its
    shifts, Adam at 5e-3 and a cosine schedule: 6 epochs of batches of 32 (about a second on
    a quiet machine; the lab measures the milestone's full 10-epoch run)."""
    (X, y), (X_test, y_test) = load_shifted_digits("train"), load_shifted_digits("test")
    mean, spread = X.mean(), X.std()
    X, X_test = ((X - mean) / spread).astype(np.float32), ((X_test - mean) / spread).astype(np.float32)
    tinytorch.manual_seed(0)
    model, epochs = milestone3_cnn(), 6
    optimizer = Adam(model.parameters(), lr=5e-3)
    schedule = CosineAnnealingLR(optimizer, T_max=epochs)
    order, shift = np.random.default_rng(0), RandomCrop(16, padding=1, seed=0)
    for _ in range(epochs):
        for batch in np.array_split(order.permutation(len(X)), len(X) // 32):
            optimizer.zero_grad()
            cross_entropy(model(Tensor(shift(X[batch]))), y[batch]).backward()
            optimizer.step()
        schedule.step()
    calibration = [Tensor(X[start:start + 64]) for start in range(0, 256, 64)]
    return model, calibration, X_test, y_test


def float_and_int8_accuracy(model, quantized, X_test, y_test):
    with no_grad():
        float_logits = model(Tensor(X_test)).data
        int8_logits = quantized(Tensor(X_test)).data
    agreement = float(np.mean(float_logits.argmax(1) == int8_logits.argmax(1)))
    return accuracy(float_logits, y_test), accuracy(int8_logits, y_test), agreement


def test_the_milestone3_cnn_keeps_its_accuracy_within_one_point_in_a_quarter_of_the_bytes(trained_cnn):
    model, calibration, X_test, y_test = trained_cnn
    quantized = quantize_model(model, calibration)
    float_accuracy, int8_accuracy, agreement = float_and_int8_accuracy(model, quantized, X_test, y_test)
    assert float_accuracy > 0.8                       # a trained network, not chance (10%)
    assert abs(int8_accuracy - float_accuracy) <= 0.01, (float_accuracy, int8_accuracy)
    assert agreement > 0.97
    # float32: 3,818 parameters x 4. int8, per layer: int8 weights, int32 bias, a float32 scale per
    # output channel, the weights' int32 zero point, the input's float32 scale and int32 zero point
    conv1, conv2, linear = 72 + 8 * 4 + 8 * 4 + 4 + 8, 1152 + 16 * 4 + 16 * 4 + 4 + 8, 2560 + 10 * 4 + 10 * 4 + 4 + 8
    assert model_bytes(model) == 3818 * 4 == 15_272
    assert model_bytes(quantized) == conv1 + conv2 + linear == 4_092
    check_weight_bytes_quartered(model, quantized, 72 + 1152 + 2560)


def test_profiling_the_quantized_cnn_counts_every_layer_and_its_int8_bytes(trained_cnn):
    """Module 15's profiler, taught by this module: per quantized layer the float layer's FLOPs
    (the same multiply-adds, in int32), QUANTIZE_INPUT_OPS per input element, 1 per output for
    the rescale; parameters as many as the float model's, at 1 byte per int8 weight and 4 per
    int32 bias."""
    model, calibration, _, _ = trained_cnn
    quantized = quantize_model(model, calibration)
    profile = profile_model(quantized, (2, 1, 16, 16))
    assert profile.uncounted == []
    assert [r.kind for r in profile.records] == ["QuantizedConv2d", "ReLU", "MaxPool2d", "QuantizedConv2d", "ReLU",
                                                 "MaxPool2d", "Flatten", "QuantizedLinear"]
    assert QUANTIZE_INPUT_OPS == 6
    conv1 = 6 * (2 * 1 * 16 * 16) + (2 * 4096 * 9 + 4096) + 4096   # outputs 2 * 8 * 16 * 16 = 4,096
    conv2 = 6 * (2 * 8 * 8 * 8) + (2 * 2048 * 72 + 2048) + 2048    # outputs 2 * 16 * 8 * 8 = 2,048
    linear = 6 * (2 * 256) + (2 * 2 * 256 * 10 + 20) + 20
    assert [r.flops for r in profile.records] == [conv1, 4096, 1024 * 3, conv2, 2048, 512 * 3, 0, linear]
    assert (conv1, conv2, linear) == (84_992, 305_152, 13_352)
    float_profile = profile_model(model, (2, 1, 16, 16))
    assert [f.flops for f in float_profile.records if f.kind in ("Conv2d", "Linear")] == [
        conv1 - 3072 - 4096, conv2 - 6144 - 2048, linear - 3072 - 20]
    stored = [(r.parameters, r.parameter_bytes) for r in profile.records if r.kind.startswith("Quantized")]
    assert stored == [(72 + 8, 72 + 8 * 4), (1152 + 16, 1152 + 16 * 4), (2560 + 10, 2560 + 10 * 4)]
    assert (profile.total_parameters, profile.total_parameter_bytes) == (3818, 3920)
    assert count_parameters(quantized) == (3818, 3920) and count_parameters(model) == (3818, 15_272)
    no_bias = quantize_model(Sequential(Linear(4, 3, bias=False)), [np.ones((2, 4), np.float32)])
    assert count_parameters(no_bias) == (12, 12)
    assert profile_model(no_bias, (5, 4)).total_flops == 6 * 20 + 2 * 5 * 4 * 3 + 15


# -- negative controls: the checks above reject broken quantization ------------------------------------
def quantize_with_the_zero_point_subtracted(x, params):
    """A common slip: round(x / scale) - zero_point."""
    scale, zero_point = params.along(np.ndim(x))
    return np.clip(np.round(np.asarray(x, np.float64) / scale) - zero_point, params.qmin, params.qmax).astype(np.int8)


class FloatWeightsLinear(QuantizedLinear):
    """'Quantized' in name only: it rounds the weights to the int8 grid but stores them as float32."""

    def __init__(self, linear, input_params):
        super().__init__(linear, input_params)
        self.weight = dequantize(self.weight, self.weight_params)


class Int8MatmulLinear(QuantizedLinear):
    """Multiplies the int8 arrays directly: NumPy then accumulates in int8 and wraps around."""

    def integer_forward(self, codes):
        centered = (codes.astype(np.int32) - self.input_params.zero_point).astype(np.int8)
        return (np.matmul(centered, self.weight) + self.bias).astype(np.int32)


@pytest.mark.parametrize("low, high", [(0.0, 10.0), (-1.0, 3.0), (-6.0, 0.5)])
def test_control_a_zero_point_with_the_wrong_sign_fails_the_round_trip(low, high):
    x = np.linspace(low, high, 50, dtype=np.float32)
    params = compute_qparams(low, high)
    assert round_trip_violations(x, params) == 0
    assert round_trip_violations(x, params, quantize_with_the_zero_point_subtracted) > 10


def test_control_a_layer_keeping_float32_weights_fails_the_dtype_and_bytes_checks():
    linear = small_linear(64, 128)
    fake = FloatWeightsLinear(linear, compute_qparams(-1.0, 1.0))
    with pytest.raises(AssertionError, match="expected int8"):
        check_stores_int8(fake)
    with pytest.raises(AssertionError):
        check_weight_bytes_quartered(Sequential(linear), Sequential(fake), 8192)


def test_control_an_int8_matmul_fails_the_exact_accumulation_check():
    tinytorch.manual_seed(1)
    layer = Int8MatmulLinear(Linear(300, 5), compute_qparams(0.0, 5.0))
    codes = np.random.default_rng(0).integers(-128, 128, (7, 300)).astype(np.int8)
    with pytest.raises(AssertionError):
        check_integer_accumulation(layer, codes, int64_linear_reference(codes, layer))


def test_control_a_calibration_that_missed_the_input_range_loses_more_than_a_point(trained_cnn):
    """The within-1-point check can fail: calibrated on inputs a hundred times too small, the
    first layer clips almost every pixel and the accuracy collapses."""
    model, calibration, X_test, y_test = trained_cnn
    squeezed = quantize_model(model, [Tensor(batch.data / 100) for batch in calibration])
    float_accuracy, int8_accuracy, _ = float_and_int8_accuracy(model, squeezed, X_test, y_test)
    assert float_accuracy - int8_accuracy > 0.1
