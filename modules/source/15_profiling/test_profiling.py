"""Unit tests of module 15 (profiling): sizes, FLOPs against hand counts, activation bytes,
timing statistics on an injected clock, and the op-level hooks (exact counts, restored after).

No test asserts how fast anything is: time is measured in the lab, never asserted here.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.attention import MultiHeadAttention
from tinytorch.autograd import BACKWARD_RULES
from tinytorch.layers import Flatten, Linear, Module, Sequential
from tinytorch import profiling
from tinytorch.profiling import (
    count_parameters,
    measure_latency,
    model_latency,
    percentile,
    profile_model,
    profile_ops,
    register_layer_type,
    summarize,
)
from tinytorch.spatial import AvgPool2d, BatchNorm2d, Conv2d, MaxPool2d
from tinytorch.transformers import TransformerBlock

pytestmark = pytest.mark.module("profiling")


class FakeClock:
    """Returns the given readings one call at a time (seconds), and counts the calls."""

    def __init__(self, readings):
        self.readings, self.calls = list(readings), 0

    def __call__(self):
        self.calls += 1
        return self.readings.pop(0)


# -- size ------------------------------------------------------------------------------------
def test_parameters_and_bytes_of_a_layer_and_of_a_model():
    assert count_parameters(Linear(3, 4)) == (3 * 4 + 4, 16 * 4)
    assert count_parameters(Linear(3, 4, bias=False)) == (12, 48)
    model = Sequential(Conv2d(2, 5, 3), BatchNorm2d(5), ReLU(), Flatten())
    # conv: 5*2*3*3 + 5 = 95; batch norm: weight 5 + bias 5 (running statistics are not parameters)
    assert count_parameters(model) == (105, 420)
    assert count_parameters(ReLU()) == (0, 0)


# -- FLOPs against hand counts ---------------------------------------------------------------
def test_linear_flops_count_a_multiply_add_as_two():
    profile = profile_model(Linear(3, 4), (5, 3))
    (record,) = profile.records
    assert record.flops == 2 * 5 * 3 * 4 + 5 * 4 == 140
    assert profile_model(Linear(3, 4, bias=False), (2, 5, 3)).total_flops == 2 * 10 * 3 * 4 == 240
    assert (record.input_shape, record.output_shape) == ((5, 3), (5, 4))
    assert record.activation_bytes == 5 * 4 * 4 and record.input_bytes == 5 * 3 * 4


def test_conv2d_flops_follow_stride_and_padding():
    # (9 + 2*1 - 3) // 2 + 1 = 5: output (2, 8, 5, 5) = 400 values, each 3*3*3 = 27 multiply-adds
    (record,) = profile_model(Conv2d(3, 8, 3, stride=2, padding=1), (2, 3, 9, 9)).records
    assert record.output_shape == (2, 8, 5, 5)
    assert record.flops == 2 * 400 * 27 + 400 == 22000
    (record,) = profile_model(Conv2d(3, 8, (3, 1), bias=False), (1, 3, 6, 6)).records
    assert record.output_shape == (1, 8, 4, 6) and record.flops == 2 * 192 * 9 == 3456  # 3 channels * 3x1 kernel


def test_pooling_flops():
    (record,) = profile_model(MaxPool2d(2), (1, 4, 6, 6)).records
    assert record.flops == 36 * 3 == 108          # 36 windows, 3 comparisons each
    (record,) = profile_model(AvgPool2d(3, stride=1), (1, 2, 5, 5)).records
    assert record.flops == 18 * 9 == 162          # 18 windows, 8 additions and a division each


def test_pooling_flops_with_rectangular_windows():
    """A 2x3 window: 5 comparisons, or 5 additions and a division; either side alone is wrong."""
    (record,) = profile_model(MaxPool2d((2, 3)), (1, 1, 4, 6)).records
    assert record.output_shape == (1, 1, 2, 2) and record.flops == 4 * (2 * 3 - 1) == 20
    (record,) = profile_model(AvgPool2d((3, 2)), (1, 1, 6, 4)).records
    assert record.output_shape == (1, 1, 2, 2) and record.flops == 4 * 3 * 2 == 24


def test_attention_flops_projections_scores_softmax_and_values():
    # B=2, T=4, dim=8, 2 heads: four Linear(8, 8) with bias on 8 rows: 4 * (2*8*8*8 + 8*8) = 4352;
    # Q K^T and A V: 2 * (2 * 2*4*4*8) = 1024; 2*2*4*4 = 64 scores * (scale 1 + mask 1 + softmax 5) = 448
    layer = MultiHeadAttention(8, 2, causal=True)
    profile = profile_model(layer, (2, 4, 8))
    assert [r.name for r in profile.records] == ["MultiHeadAttention"]
    assert profile.total_flops == 4352 + 1024 + 448 == 5824
    assert profile.records[0].parameters == 4 * (64 + 8)
    assert profile_model(MultiHeadAttention(8, 2, causal=False), (2, 4, 8)).total_flops == 5824 - 64


@pytest.mark.parametrize("length, masked", [(1, False), (2, True), (3, True)])
def test_attention_counts_the_mask_only_where_the_layer_applies_it(length, masked):
    """MultiHeadAttention adds the causal mask only for T > 1 (one token sees only itself)."""
    causal = profile_model(MultiHeadAttention(8, 2, causal=True), (1, length, 8)).total_flops
    open_ = profile_model(MultiHeadAttention(8, 2, causal=False), (1, length, 8)).total_flops
    assert causal - open_ == (2 * length * length if masked else 0)  # 2 heads x T x T scores


def test_a_cnn_stack_layer_by_layer():
    model = Sequential(Conv2d(1, 4, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(), Linear(64, 10))
    profile = profile_model(model, (2, 1, 8, 8))
    rows = [(r.name, r.kind, r.output_shape, r.flops, r.activation_bytes) for r in profile.records]
    assert rows == [
        ("0", "Conv2d", (2, 4, 8, 8), 2 * 512 * 9 + 512, 2048),
        ("1", "ReLU", (2, 4, 8, 8), 512, 2048),
        ("2", "MaxPool2d", (2, 4, 4, 4), 128 * 3, 512),
        ("3", "Flatten", (2, 64), 0, 512),
        ("4", "Linear", (2, 10), 2 * 2 * 64 * 10 + 20, 80),
    ]
    assert profile.total_flops == 9728 + 512 + 384 + 2580 == 13204
    assert profile.total_activation_bytes == 2048 + 2048 + 512 + 512 + 80
    assert profile.peak_activation_bytes == 2048 + 2048          # the ReLU's input and output
    assert profile.total_parameters == 4 * 9 + 4 + 640 + 10 and profile.uncounted == []
    records = profile.as_records()
    assert records[0]["output_shape"] == [2, 4, 8, 8] and records[4]["flops"] == 2580
    table = profile.table().splitlines()
    assert table[2].split() == ["0", "Conv2d", "(2,", "4,", "8,", "8)", "40", "9,728", "2,048"]
    assert "13,204 FLOPs" in table[-2] and "peak 4,096 bytes" in table[-1]


def test_nested_modules_are_opened_and_attention_is_one_unit():
    block = TransformerBlock(8, 2)
    profile = profile_model(block, (1, 3, 8))
    assert [r.name for r in profile.records] == ["ln1", "attention", "ln2", "mlp.fc", "mlp.proj"]
    ln = 7 * 24
    attention = 4 * (2 * 3 * 64 + 24) + 2 * 2 * 9 * 8 + 2 * 9 * 7
    mlp = (2 * 3 * 8 * 32 + 96) + (2 * 3 * 32 * 8 + 24)
    assert profile.total_flops == 2 * ln + attention + mlp
    assert profile.total_parameters == sum(p.size for p in block.parameters())


class Doubler(Module):
    def forward(self, x):
        return x * 2.0


def test_a_layer_of_unknown_type_is_reported_as_not_counted():
    profile = profile_model(Sequential(Linear(2, 3), Doubler()), (4, 2))
    assert profile.uncounted == ["1"]
    assert profile.records[1].flops is None and profile.records[1].activation_bytes == 48
    assert profile.total_flops == 2 * 4 * 2 * 3 + 12
    assert "not counted" in profile.table().splitlines()[3]
    assert "(not counted: 1)" in profile.table()


class ByteScaler(Module):
    """A layer of a 'later module': it keeps its weight in a plain int8 array, not a Parameter."""

    def __init__(self, features):
        super().__init__()
        self.weight = np.ones(features, dtype=np.int8)
        self.bias = np.zeros(features, dtype=np.int32)

    def forward(self, x):
        return x * 2.0


@pytest.fixture
def registry():
    """The profiler's tables as they were, put back after the test."""
    flop_counters, stored = list(profiling.FLOP_COUNTERS), list(profiling.STORED_PARAMETERS)
    yield
    profiling.FLOP_COUNTERS[:] = flop_counters
    profiling.STORED_PARAMETERS[:] = stored


def test_a_registered_layer_type_is_counted_with_its_stored_weights(registry):
    model = Sequential(Linear(2, 3), ByteScaler(3), Doubler())
    assert count_parameters(model) == (9, 36)  # ByteScaler's arrays are invisible to parameters()
    register_layer_type(ByteScaler, lambda layer, i, o: 3 * int(np.prod(o)),
                        lambda layer: (layer.weight.size + layer.bias.size, layer.weight.nbytes + layer.bias.nbytes))
    register_layer_type(Doubler, lambda layer, i, o: int(np.prod(o)))
    profile = profile_model(model, (4, 2))
    assert profile.uncounted == []
    assert [r.flops for r in profile.records] == [2 * 4 * 2 * 3 + 12, 3 * 12, 12]
    assert (profile.records[1].parameters, profile.records[1].parameter_bytes) == (6, 3 * 1 + 3 * 4)
    assert (profile.total_parameters, profile.total_parameter_bytes) == (9 + 6, 36 + 15)
    assert count_parameters(Sequential(model, ByteScaler(5))) == (9 + 6 + 10, 36 + 15 + 25)  # each layer once
    register_layer_type(ByteScaler, lambda layer, i, o: 0)  # again: replaces, without stored weights
    assert sum(kind is ByteScaler for kind, _ in profiling.FLOP_COUNTERS) == 1
    assert profile_model(model, (4, 2)).records[1].flops == 0 and count_parameters(model) == (9, 36)


def test_a_registration_goes_first_so_a_subclass_beats_its_base(registry):
    class CheapLinear(Linear):
        pass

    register_layer_type(CheapLinear, lambda layer, i, o: 1)
    assert profile_model(Sequential(CheapLinear(2, 3), Linear(3, 1)), (4, 2)).total_flops == 1 + 2 * 4 * 3 + 4


def test_a_bad_registration_says_what_was_expected(registry):
    with pytest.raises(TypeError, match="needs a layer class"):
        register_layer_type(ByteScaler(2), lambda layer, i, o: 0)
    with pytest.raises(TypeError, match=r"flops\(layer, input_shape, output_shape\) -> int; got int"):
        register_layer_type(ByteScaler, 3)
    with pytest.raises(TypeError, match=r"stored_parameters\(layer\) -> \(count, bytes\) or None; got str"):
        register_layer_type(ByteScaler, lambda layer, i, o: 0, "weights")
    assert all(kind is not ByteScaler for kind, _ in profiling.FLOP_COUNTERS)


def test_profiling_restores_modes_and_moves_no_running_statistic():
    norm = BatchNorm2d(2)
    model = Sequential(Conv2d(1, 2, 3), norm)
    x = np.random.default_rng(0).standard_normal((2, 1, 5, 5)).astype(np.float32)
    profile = profile_model(model, x)
    assert profile.records[1].flops == 4 * 2 * 2 * 3 * 3   # evaluation: running statistics
    assert model.training and norm.training and norm.num_batches_tracked == 0
    assert np.array_equal(norm.running_mean, np.zeros(2)) and "forward" not in vars(norm)


def test_profile_model_errors():
    with pytest.raises(TypeError, match="needs a model"):
        profile_model(lambda x: x, (2, 3))
    with pytest.raises(ValueError, match=r"input shape \(2, 0\)"):
        profile_model(Linear(2, 3), (2, 0))


# -- timing statistics on a fake clock --------------------------------------------------------
def test_summary_of_hand_samples():
    summary = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (summary.median, summary.q1, summary.q3, summary.iqr) == (3.0, 2.0, 4.0, 2.0)
    assert (summary.minimum, summary.maximum, summary.repeats) == (1.0, 5.0, 5)
    assert summarize([0.5, 0.1, 0.2, 0.4]).median == pytest.approx(0.3)
    samples = np.random.default_rng(1).exponential(size=37)
    summary = summarize(samples)
    assert summary.q1 == pytest.approx(np.percentile(samples, 25))
    assert summary.q3 == pytest.approx(np.percentile(samples, 75))
    assert percentile([7.0], 0.75) == 7.0
    assert percentile([1.0, 2.0, 3.0], 0.75) == 2.5   # between the last two ranks
    assert percentile([1.0, 2.0, 3.0], 1.0) == 3.0 and percentile([1.0, 2.0, 3.0], 0.0) == 1.0
    assert summarize([2.0]).describe("ms") == "median 2000.000 ms (IQR 0.000, min 2000.000, max 2000.000, n=1)"


def test_summary_refuses_no_samples_or_bad_ones():
    with pytest.raises(ValueError, match="no samples"):
        summarize([])
    with pytest.raises(ValueError, match="finite and >= 0"):
        summarize([1.0, -0.5])


def test_latency_warms_up_untimed_then_times_each_repeat():
    calls = []
    clock = FakeClock([0.0, 0.5, 1.0, 1.1, 2.0, 2.3])
    summary = measure_latency(lambda: calls.append(1), warmup=2, repeats=3, clock=clock)
    assert len(calls) == 5 and clock.calls == 6
    assert summary.samples == pytest.approx((0.5, 0.1, 0.3))
    assert summary.median == pytest.approx(0.3) and summary.minimum == pytest.approx(0.1)
    with pytest.raises(ValueError, match="repeats=0"):
        measure_latency(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup=-1"):
        measure_latency(lambda: None, warmup=-1)


def test_model_latency_runs_the_model_without_a_graph():
    layer = Linear(2, 2)
    clock = FakeClock([0.0, 0.25, 1.0, 1.5])
    summary = model_latency(layer, (3, 2), warmup=1, repeats=2, clock=clock)
    assert summary.samples == pytest.approx((0.25, 0.5))


# -- op by op ----------------------------------------------------------------------------------
def test_profile_ops_counts_a_linear_forward_and_backward_exactly():
    tinytorch.manual_seed(0)
    layer = Linear(3, 2)
    x = Tensor(np.ones((4, 3), dtype=np.float32))
    with profile_ops() as report:
        layer(x).sum().backward()
    assert report.forward_counts() == {"matmul": 1, "add": 1, "sum": 1}
    assert report.backward_counts() == {"sum": 1, "add": 1, "matmul": 1}
    assert layer.weight.grad.shape == (3, 2) and np.allclose(layer.bias.grad, [4.0, 4.0])
    with profile_ops() as report:
        Sequential(Conv2d(1, 2, 3), ReLU(), Flatten(), Linear(8, 1))(Tensor(np.ones((1, 1, 4, 4))))
    assert report.forward_counts() == {"conv2d": 1, "relu": 1, "reshape": 1, "matmul": 1, "add": 1}


def test_profile_ops_times_on_the_injected_clock():
    layer = Linear(2, 2)
    x = Tensor(np.ones((1, 2), dtype=np.float32))
    # start 0; matmul ends at 1; add ends at 3; sum at 3.5; backward rules sum 4->4.25,
    # add 5->5.5, matmul 6->7; the block ends at 10
    clock = FakeClock([0.0, 1.0, 3.0, 3.5, 4.0, 4.25, 5.0, 5.5, 6.0, 7.0, 10.0])
    with profile_ops(clock=clock) as report:
        layer(x).sum().backward()
    assert {op: s.seconds for op, s in report.forward.items()} == {"matmul": 1.0, "add": 2.0, "sum": 0.5}
    assert {op: s.seconds for op, s in report.backward.items()} == {"sum": 0.25, "add": 0.5, "matmul": 1.0}
    assert report.wall_seconds == 10.0
    lines = report.table().splitlines()
    assert lines[2].split() == ["add", "1", "2000.000", "1", "500.000"]
    assert lines[-1] == "block wall time 10000.000 ms"


def test_a_forward_op_after_a_backward_is_timed_from_the_end_of_the_last_rule():
    """The second forward's matmul is timed from the end of the backward (7), not from the end
    of the first forward (3.5): a backward rule's time is never counted twice."""
    layer = Linear(2, 2)
    x = Tensor(np.ones((1, 2), dtype=np.float32))
    # first forward: matmul ends at 1, add at 3, sum at 3.5; rules 4->4.25, 5->5.5, 6->7;
    # second forward: matmul ends at 9, add at 9.5; the block ends at 10
    clock = FakeClock([0.0, 1.0, 3.0, 3.5, 4.0, 4.25, 5.0, 5.5, 6.0, 7.0, 9.0, 9.5, 10.0])
    with profile_ops(clock=clock) as report:
        layer(x).sum().backward()
        layer(x)
    assert {op: s.seconds for op, s in report.forward.items()} == {"matmul": 1.0 + 2.0, "add": 2.0 + 0.5,
                                                                  "sum": 0.5}
    assert report.forward_counts() == {"matmul": 2, "add": 2, "sum": 1}


def test_profile_ops_restores_the_dispatch_even_after_an_error():
    result_before = Tensor.__dict__["_result"]
    rules_before = dict(BACKWARD_RULES)
    with pytest.raises(ValueError, match="got input of shape"):
        with profile_ops() as report:
            Linear(3, 2)(Tensor(np.ones((1, 3)))).sum()
            Linear(3, 2)(Tensor(np.ones((1, 4))))
    assert report.forward_counts() == {"matmul": 1, "add": 1, "sum": 1}
    assert Tensor.__dict__["_result"] is result_before
    assert BACKWARD_RULES == rules_before
    assert all(BACKWARD_RULES[op] is rule for op, rule in rules_before.items())
    with profile_ops() as outer:
        with profile_ops() as inner:
            Tensor(np.ones(2)) + Tensor(np.ones(2))
    assert outer.forward_counts() == inner.forward_counts() == {"add": 1}
    assert Tensor.__dict__["_result"] is result_before
