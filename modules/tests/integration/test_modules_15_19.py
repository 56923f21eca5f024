"""Integration of modules 15-19: measure a trained model, make it smaller, compare the versions.

Passing this group unlocks milestone 5 (systems capstone). What it proves: a small MLP trained
here on the bundled 8x8 digits (the milestone 2 recipe, about a second) goes through the whole
systems pipeline. Profiling (15) counts its parameters, bytes and FLOPs exactly as the shapes
say; the matrix products of acceleration (18) recompute its first layer from the trained
weights; quantization (16) makes an int8 copy almost 4x smaller at the same accuracy (within 2
points); magnitude pruning (17) zeroes half of the weights, which stay zero while Adam
fine-tunes through attached masks, and stay zero once the pruned model is quantized too;
benchmarking (19) records accuracy, latency, activation memory and size of the baseline and
the int8 model and times them interleaved. Timings are never asserted: the harness runs on a
virtual clock whose ticks are known, so its medians and ratios can be checked exactly, and
once on the real clock where only the number and sign of the samples are checked.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor
from tinytorch.acceleration import matmul_tiled, matmul_vectorized
from tinytorch.activations import ReLU
from tinytorch.autograd import no_grad
from tinytorch.benchmarking import BenchmarkReport, benchmark_model, compare, model_accuracy
from tinytorch.compression import magnitude_prune
from tinytorch.datasets.digits import load_digits
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import cross_entropy
from tinytorch.optimizers import Adam
from tinytorch.profiling import count_parameters, profile_model
from tinytorch.quantization import QuantizedLinear, model_bytes, quantize_model

pytestmark = pytest.mark.integration("15_19")

HIDDEN = 64
PARAMETERS = 64 * HIDDEN + HIDDEN + HIDDEN * 10 + 10  # 4,810


@pytest.fixture(scope="module")
def digits():
    return load_digits("train") + load_digits("test")


def train_epochs(model, optimizer, digits, epochs: int, seed: int) -> float:
    """Shuffled mini-batches of 64; returns the last batch's loss."""
    train_x, train_y = digits[0], digits[1]
    order = np.random.default_rng(seed)
    for _ in range(epochs):
        permutation = order.permutation(len(train_x))
        for start in range(0, len(train_x), 64):
            rows = permutation[start:start + 64]
            optimizer.zero_grad()
            loss = cross_entropy(model(Tensor(train_x[rows])), train_y[rows])
            loss.backward()
            optimizer.step()
    return loss.item()


@pytest.fixture(scope="module")
def trained(digits):
    """64-64-10 ReLU MLP, Adam lr 0.01, 20 epochs (measured: 96.1% on the 360 test digits)."""
    tinytorch.manual_seed(0)
    model = Sequential(Linear(64, HIDDEN), ReLU(), Linear(HIDDEN, 10))
    last_loss = train_epochs(model, Adam(model.parameters(), lr=0.01), digits, epochs=20, seed=0)
    return model, last_loss


@pytest.fixture(scope="module")
def calibration(digits):
    train_x = digits[0]
    return [train_x[start:start + 256] for start in range(0, len(train_x), 256)]


def test_the_trained_model_is_profiled_exactly_as_its_shapes_say(trained, digits):
    model, last_loss = trained
    test_x, test_y = digits[2], digits[3]
    assert last_loss < 0.2 and model_accuracy(model, test_x, test_y) > 0.93, "chance is 0.10 (measured: 0.961)"
    profile = profile_model(model, test_x)
    rows = len(test_x)  # 360
    first, relu, second = (2 * rows * 64 * HIDDEN + rows * HIDDEN, rows * HIDDEN, 2 * rows * HIDDEN * 10 + rows * 10)
    assert [record.flops for record in profile.records] == [first, relu, second]
    assert profile.total_flops == first + relu + second == 3_459_600
    assert profile.uncounted == []
    assert (profile.total_parameters, profile.total_parameter_bytes) == (PARAMETERS, 4 * PARAMETERS)
    assert count_parameters(model) == (PARAMETERS, 4 * PARAMETERS)
    assert [record.activation_bytes for record in profile.records] == [rows * HIDDEN * 4, rows * HIDDEN * 4, rows * 40]
    assert profile.peak_activation_bytes == rows * 64 * 4 + rows * HIDDEN * 4  # layer 0's input + output


def test_acceleration_products_recompute_the_trained_first_layer(trained, digits):
    model, _ = trained
    layer = model.layers[0]
    x = digits[2][:50]
    with no_grad():
        expected = layer(Tensor(x)).data
    for product in (matmul_tiled(x, layer.weight.data, tile=16), matmul_vectorized(x, layer.weight.data)):
        assert product.dtype == np.float32
        np.testing.assert_allclose(product + layer.bias.data, expected, rtol=1e-5, atol=1e-5)


def test_int8_quantization_is_almost_4x_smaller_at_the_same_accuracy(trained, digits, calibration):
    model, _ = trained
    test_x, test_y = digits[2], digits[3]
    before = {name: w.data.copy() for name, w in zip("ab", model.parameters())}
    quantized = quantize_model(model, calibration)
    assert [type(layer) for layer in quantized.layers] == [QuantizedLinear, ReLU, QuantizedLinear]
    assert all(np.array_equal(w.data, before[name]) for name, w in zip("ab", model.parameters())), "original untouched"
    float_bytes, int8_bytes = model_bytes(model), model_bytes(quantized)
    assert float_bytes == 4 * PARAMETERS == 19_240
    weight_bytes = 64 * HIDDEN + HIDDEN * 10  # one byte per weight
    assert int8_bytes >= weight_bytes + 4 * (HIDDEN + 10)  # and an int32 per bias, plus the scales
    assert 3.3 < float_bytes / int8_bytes < 4.0, (float_bytes, int8_bytes)  # measured: 3.59x
    float_accuracy, int8_accuracy = model_accuracy(model, test_x, test_y), model_accuracy(quantized, test_x, test_y)
    assert abs(int8_accuracy - float_accuracy) <= 0.02, (float_accuracy, int8_accuracy)
    with no_grad():
        same = np.mean(np.argmax(model(Tensor(test_x)).data, 1) == np.argmax(quantized(Tensor(test_x)).data, 1))
    assert same >= 0.97, same


def prunable(model):
    """The weights of the model's Linear layers, in order (what ``magnitude_prune`` masks)."""
    return [layer.weight for layer in model.layers if isinstance(layer, Linear)]


def test_half_the_weights_pruned_stay_zero_through_fine_tuning_and_quantization(trained, digits, calibration):
    model, _ = trained
    test_x, test_y = digits[2], digits[3]
    pruned = copy.deepcopy(model)
    masks = magnitude_prune(pruned, 0.5)
    weights = 64 * HIDDEN + HIDDEN * 10  # 4,736 prunable weights (biases are kept)
    zeros = lambda: sum(int(np.count_nonzero(w.data == 0)) for w in masks.weights.values())  # noqa: E731
    assert masks.sparsity() == 0.5 and zeros() == weights // 2
    kept = [w.data != 0 for w in masks.weights.values()]
    optimizer = masks.attach(Adam(pruned.parameters(), lr=0.003))
    train_epochs(pruned, optimizer, digits, epochs=2, seed=1)  # 46 steps
    assert zeros() == weights // 2, "a pruned weight came back to life"
    assert all(np.array_equal(w.data != 0, mask) for w, mask in zip(masks.weights.values(), kept))
    moved = [w.data[mask] for w, mask in zip(masks.weights.values(), kept)]
    original = [w.data[mask] for w, mask in zip(prunable(model), kept)]
    assert all(np.abs(a - b).max() > 1e-3 for a, b in zip(moved, original)), "the kept weights were fine-tuned"
    float_accuracy, pruned_accuracy = model_accuracy(model, test_x, test_y), model_accuracy(pruned, test_x, test_y)
    assert pruned_accuracy >= float_accuracy - 0.02, (float_accuracy, pruned_accuracy)  # measured: 0.961 -> 0.975
    both = quantize_model(pruned, calibration)
    int8_layers = [layer for layer in both.layers if isinstance(layer, QuantizedLinear)]
    int8_zeros = sum(int(np.count_nonzero(layer.weight == 0)) for layer in int8_layers)
    assert int8_zeros >= weights // 2, "symmetric quantization maps 0 to the code 0"
    assert model_accuracy(both, test_x, test_y) >= float_accuracy - 0.03


class VirtualClock:
    """A clock that moves only when told: ``tick(seconds)``."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def test_benchmark_records_and_an_interleaved_comparison_of_baseline_and_int8(trained, digits, calibration):
    model, _ = trained
    test_x, test_y = digits[2], digits[3]
    quantized = quantize_model(model, calibration)
    clock = VirtualClock()
    float_bytes, int8_bytes = model_bytes(model), model_bytes(quantized)

    def run(network, cost):
        def step():
            with no_grad():
                network(Tensor(test_x))
            clock.tick(cost)  # a clock charging by bytes of weights read: a known, exact cost
        return step

    comparison = compare({"float32": run(model, float_bytes * 1e-9), "int8": run(quantized, int8_bytes * 1e-9)},
                         warmup=1, rounds=5, clock=clock)
    assert comparison.baseline == "float32"
    assert comparison.ratio("int8") == pytest.approx(int8_bytes / float_bytes, rel=1e-9)
    assert [s.repeats for s in comparison.summaries.values()] == [5, 5]

    results = []
    for name, network in (("float32", model), ("int8", quantized)):
        clock = VirtualClock()
        ticking = lambda: clock.tick(0.001) or clock.now  # noqa: E731 - every reading is 1 ms later
        result = benchmark_model(name, network, test_x, data=(test_x, test_y), warmup=1, repeats=4, clock=ticking)
        assert result.latency.median == pytest.approx(0.001) and result.latency.repeats == 4
        assert result.accuracy == model_accuracy(network, test_x, test_y)
        assert result.activation_bytes == profile_model(network, test_x).total_activation_bytes == 198_720
        results.append(result)
    assert results[0].parameters == PARAMETERS and results[0].parameter_bytes == 4 * PARAMETERS
    assert abs(results[0].accuracy - results[1].accuracy) <= 0.02

    real = compare({"float32": run(model, 0.0), "int8": run(quantized, 0.0)}, warmup=1, rounds=3)
    assert all(s.repeats == 3 and s.minimum > 0 for s in real.summaries.values())  # real seconds, not asserted
    report = BenchmarkReport(results, comparison)
    loaded = BenchmarkReport.from_json(report.to_json())
    assert [r.to_dict() for r in loaded.results] == [r.to_dict() for r in results]
    assert loaded.comparison.ratios == comparison.ratios
    assert loaded.environment["numpy"] == np.__version__
