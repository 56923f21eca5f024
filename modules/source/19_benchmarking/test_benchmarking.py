"""Unit tests of module 19 (benchmarking): the interleaving order and the statistics on an
injected clock, ratios, the result record, accuracy (in evaluation mode, without a graph),
JSON written by the student's writers and read back by the given readers, the environment.

No test asserts how fast anything is: speed is measured in the lab and the benchmarks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import tinytorch
from tinytorch.autograd import is_grad_enabled
from tinytorch.benchmarking import (
    THREAD_VARIABLES,
    BenchmarkReport,
    BenchmarkResult,
    Comparison,
    benchmark_model,
    blas_info,
    compare,
    environment,
    interleaved_timings,
    model_accuracy,
    summary_from_dict,
    summary_to_dict,
)
from tinytorch.layers import Dropout, Linear, Module, Sequential
from tinytorch.profiling import summarize

pytestmark = pytest.mark.module("benchmarking")


class StepClock:
    """A fake clock: each reading adds the next duration, so step i takes durations[i]."""

    def __init__(self, durations):
        self.now, self.durations, self.reading = 0.0, list(durations), 0

    def __call__(self):
        if self.reading % 2 == 1:  # an end reading: the step took the next duration
            self.now += self.durations.pop(0)
        self.reading += 1
        return self.now


def test_contenders_run_in_turn_warm_up_first():
    log = []
    contenders = {name: (lambda name=name: log.append(name)) for name in "ABC"}
    clock = StepClock([1.0] * 6)
    samples = interleaved_timings(contenders, warmup=2, rounds=2, clock=clock)
    assert "".join(log) == "ABCABC" + "ABCABC"
    assert clock.reading == 12                      # warm-up steps are not timed
    assert samples == {"A": [1.0, 1.0], "B": [1.0, 1.0], "C": [1.0, 1.0]}


def test_each_sample_goes_to_the_contender_that_ran():
    contenders = {"fast": lambda: None, "slow": lambda: None}
    # rounds: fast 1, slow 4; fast 2, slow 3; fast 3, slow 5
    samples = interleaved_timings(contenders, warmup=0, rounds=3, clock=StepClock([1, 4, 2, 3, 3, 5]))
    assert samples == {"fast": [1, 2, 3], "slow": [4, 3, 5]}
    comparison = compare(contenders, warmup=0, rounds=3, clock=StepClock([1, 4, 2, 3, 3, 5]))
    assert comparison.baseline == "fast"
    assert comparison.summaries["slow"].median == 4 and comparison.summaries["slow"].iqr == 1.0
    assert comparison.ratios == {"fast": 1.0, "slow": 2.0}
    assert comparison.ratio("fast", to="slow") == 0.5
    assert comparison.medians_ms == {"fast": 2000.0, "slow": 4000.0}


def test_comparison_report_text():
    comparison = Comparison({"numpy": summarize([0.001, 0.002, 0.003]),
                             "tinytorch": summarize([0.003, 0.0025, 0.0035])}, "numpy")
    lines = comparison.report("mlp").splitlines()
    assert lines[0] == "mlp"
    assert lines[2].split() == ["numpy", "2.000", "1.000", "1.00x"]
    assert lines[3].split() == ["tinytorch", "3.000", "0.500", "1.50x"]
    assert lines[4] == "(median of 3 interleaved steps each; ratio = median / median of numpy)"


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="at least one"):
        compare({})
    with pytest.raises(TypeError, match="contender 'b' is int"):
        compare({"a": lambda: None, "b": 3})
    with pytest.raises(KeyError, match="baseline 'c' is not a contender"):
        compare({"a": lambda: None}, baseline="c")
    with pytest.raises(ValueError, match="rounds=0"):
        interleaved_timings({"a": lambda: None}, rounds=0)
    with pytest.raises(KeyError, match="'d' is not a contender"):
        compare({"a": lambda: None}, rounds=1, warmup=0).ratio("d")


def test_accuracy_counts_argmax_hits_and_restores_the_modes():
    layer = Linear(2, 3)
    layer.weight.data[...] = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32)
    layer.bias.data[...] = np.array([0, 0, 0.5], dtype=np.float32)
    inputs = np.array([[2, 0], [0, 2], [0, 0], [1, 0]], dtype=np.float32)  # argmax 0, 1, 2, 0
    assert model_accuracy(layer, inputs, np.array([0, 1, 2, 1])) == 0.75
    assert layer.training
    model = Sequential(layer, Dropout(0.5))
    model.layers[1].eval()                      # a mixed state comes back as it was
    assert model_accuracy(model, inputs, np.array([0, 1, 2, 0])) == 1.0  # dropout off while measuring
    assert model.training and not model.layers[1].training
    with pytest.raises(ValueError, match="labels must be 1-D"):
        model_accuracy(layer, inputs, np.array([[0, 1, 2, 1]]))
    with pytest.raises(ValueError, match="4 rows for 3 labels"):
        model_accuracy(layer, inputs, np.array([0, 1, 2]))


class Spy(Module):
    """Passes its input through and records, per call, the training flag and whether a graph
    was being recorded."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, is_grad_enabled()))
        return x


def test_accuracy_is_measured_in_evaluation_mode_without_a_graph():
    spy = Spy()
    model = Sequential(Linear(2, 3), spy)
    inputs = np.ones((4, 2), dtype=np.float32)
    model_accuracy(model, inputs, np.zeros(4, dtype=np.int64))
    assert spy.calls == [(False, False)]                # evaluation mode, no graph recorded
    assert model.training and spy.training and is_grad_enabled()
    spy.eval()
    model_accuracy(model, tinytorch.Tensor(inputs), np.zeros(4, dtype=np.int64))  # a Tensor goes in as it is
    assert spy.calls[-1] == (False, False) and model.training and not spy.training


def test_a_timing_summary_is_written_with_its_samples_median_and_spread():
    summary = summarize([0.4, 0.1, 0.3, 0.2, 0.5])
    written = summary_to_dict(summary)
    assert written == {"samples": [0.4, 0.1, 0.3, 0.2, 0.5], "median": 0.3, "q1": 0.2, "q3": 0.4,
                       "iqr": pytest.approx(0.2), "minimum": 0.1, "maximum": 0.5}
    assert summary_from_dict(json.loads(json.dumps(written))) == summary


def test_a_result_record_and_the_report_round_trip_through_json(tmp_path):
    tinytorch.manual_seed(0)
    layer = Linear(4, 3)
    inputs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    labels = np.argmax(layer(inputs).data, axis=1)
    clock = StepClock([0.5, 0.25, 0.75])
    result = benchmark_model("linear", layer, inputs, data=(inputs, labels), warmup=1, repeats=3, clock=clock)
    assert result.accuracy == 1.0
    assert (result.parameters, result.parameter_bytes, result.activation_bytes) == (15, 60, 5 * 3 * 4)
    assert result.model_bytes == 60  # a float layer holds nothing but its parameters
    assert result.latency.samples == (0.5, 0.25, 0.75) and result.latency.median == 0.5
    assert result.to_dict() == {"name": "linear", "latency": summary_to_dict(result.latency), "accuracy": 1.0,
                                "activation_bytes": 60, "parameters": 15, "parameter_bytes": 60, "extra": {},
                                "model_bytes": 60}
    comparison = compare({"a": lambda: None, "b": lambda: None}, rounds=2, warmup=0, clock=StepClock([1, 2, 3, 4]))
    report = BenchmarkReport([result], comparison)
    path = report.save(tmp_path / "report.json")
    data = json.loads(path.read_text())
    assert data["results"][0]["latency"]["median"] == 0.5
    assert data["comparison"]["ratios"] == {"a": 1.0, "b": 1.5}
    assert data["environment"]["numpy"] == np.__version__
    assert sorted(data) == ["comparison", "environment", "results"]
    assert data["environment"] == report.environment and data["comparison"] == comparison.to_dict()
    again = BenchmarkReport.load(path)
    assert again.to_dict() == report.to_dict()
    assert again.results[0] == result and again.comparison.ratio("b") == 1.5
    alone = BenchmarkReport([result, result])                   # no comparison: null in JSON
    assert json.loads(alone.to_json())["comparison"] is None
    assert BenchmarkReport.from_json(alone.to_json()).results == [result, result]
    assert "linear: accuracy 100.00%, latency median 500.000 ms" in again.text()
    with pytest.raises(ValueError, match=r"missing \['comparison'\]"):
        BenchmarkReport.from_json('{"environment": {}, "results": []}')


def test_environment_names_what_a_figure_depends_on(monkeypatch):
    import os
    import platform
    import time

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.14159, 2.0, 1.0))
    info = environment()
    assert sorted(info) == ["blas", "cpu_count", "implementation", "load_average_1min", "machine", "numpy",
                            "platform", "processor", "python", "threads", "time_utc"]
    assert info["numpy"] == np.__version__ and info["cpu_count"] == os.cpu_count() >= 1
    assert info["threads"]["OPENBLAS_NUM_THREADS"] == "1" and info["threads"]["MKL_NUM_THREADS"] == "default"
    assert sorted(info["threads"]) == sorted(THREAD_VARIABLES)
    assert info["python"] == platform.python_version() and info["python"].count(".") == 2
    assert (info["implementation"], info["platform"]) == (platform.python_implementation(), platform.platform())
    assert (info["machine"], info["processor"]) == (platform.machine(), platform.processor())
    assert info["load_average_1min"] == 3.14 and info["blas"] == blas_info()
    stamp = time.strptime(info["time_utc"], "%Y-%m-%dT%H:%M:%SZ")   # ISO 8601, UTC
    assert abs(time.mktime(stamp) - time.mktime(time.gmtime())) < 60
    monkeypatch.delattr(os, "getloadavg")                          # a platform without one
    assert environment()["load_average_1min"] is None
    blas = blas_info()
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    assert blas["blas"]["name"] == config["name"]


def test_a_quantized_model_is_measured_by_the_arrays_it_holds_not_as_zero_bytes():
    """int8 weights are not trainable parameters, but they are the model: its size in a result
    record is every array it holds (weights, int32 bias, scales), never 0."""
    from tinytorch.quantization import quantize_model

    tinytorch.manual_seed(0)
    model = Sequential(Linear(8, 4))
    inputs = np.random.default_rng(1).standard_normal((16, 8)).astype(np.float32)
    quantized = quantize_model(model, [inputs])
    result = benchmark_model("int8", quantized, inputs, warmup=0, repeats=1, clock=StepClock([1.0]))
    weight_bytes, bias_bytes = 8 * 4 * 1, 4 * 4  # int8 weights, int32 bias
    assert weight_bytes + bias_bytes < result.model_bytes < 4 * (8 * 4 + 4)  # plus scales, below float32
    assert benchmark_model("float", model, inputs, warmup=0, repeats=1, clock=StepClock([1.0])).model_bytes == 144
    assert (result.parameters, result.parameter_bytes) == (8 * 4 + 4, weight_bytes + bias_bytes)  # module 15 counts int8


def test_benchmark_model_names_bad_data():
    with pytest.raises(ValueError, match=r"benchmark_model\('m'\) got data of type ndarray: expected \(inputs, labels\)"):
        benchmark_model("m", Linear(2, 2), (3, 2), data=np.ones((3, 2)))
