"""Module 19 — Benchmarking: comparisons that hold up on a shared, noisy machine.

Module 15 measured one thing at a time. A benchmark compares: is the quantized model faster
than the float one, the im2col convolution faster than the loops, TinyTorch as fast as
hand-written NumPy? Three habits make such an answer trustworthy:

1. **Interleave.** Time the contenders step by step, A B A B ..., instead of all of A then all
   of B. On a shared machine the load changes from second to second; interleaved, a slow patch
   hits every contender alike, where block by block it can land on one of them only.
2. **Report medians and ratios.** The median of many steps ignores the odd step that was
   interrupted; the interquartile range says how much the steps spread. Absolute times drift
   from run to run, so a result is a ratio against a baseline timed in the same run.
3. **Record the context.** A figure without its NumPy, its BLAS, its core count and its thread
   settings cannot be reproduced or compared. ``environment()`` collects them, and every JSON
   result carries them.

A ``BenchmarkResult`` puts what a model is worth next to what it costs: accuracy, latency,
activation memory and size, in one record. ``BenchmarkReport`` writes records, a comparison and
the environment to JSON and reads them back.

The statistics (warm-up, repeats, median, quartiles) are module 15's ``measure_latency`` and
``summarize``: one piece of code per idea.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinytorch.autograd import no_grad
from tinytorch.quantization import model_bytes
from tinytorch.profiling import (
    TimingSummary,
    count_parameters,
    model_latency,
    profile_model,
    summarize,
)
from tinytorch.tensor import Tensor
from tinytorch.training import accuracy

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables that fix the number of BLAS threads (set before NumPy is imported)."""


# -- the context of a figure ----------------------------------------------------------------------
def blas_info() -> dict:
    """NumPy's BLAS and LAPACK as ``numpy.show_config(mode="dicts")`` reports them (NumPy >= 1.26),
    or ``{"unavailable": reason}`` for an older NumPy."""
    try:
        config = np.show_config(mode="dicts")
    except TypeError as error:  # NumPy < 1.26 has no mode argument
        return {"unavailable": f"numpy {np.__version__}: {error}"}
    dependencies = (config or {}).get("Build Dependencies", {})
    return {name: {key: str(value) for key, value in dependencies.get(name, {}).items()
                   if key in ("name", "version", "openblas configuration", "found")}
            for name in ("blas", "lapack") if name in dependencies}


def environment() -> dict:
    """What a reader needs to reproduce a figure: Python (version and implementation), the
    platform, machine and processor, the CPU count, NumPy and its BLAS (``blas_info``), the
    BLAS thread settings (``THREAD_VARIABLES``, "default" when unset), the 1-minute load
    average (None where the platform has none) and the UTC time, ISO 8601."""
    try:
        load = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every platform
        load = None
    # BEGIN SOLUTION
    return dict(
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        platform=platform.platform(),
        machine=platform.machine(),
        processor=platform.processor(),
        cpu_count=os.cpu_count(),
        numpy=np.__version__,
        blas=blas_info(),
        threads={name: os.environ.get(name, "default") for name in THREAD_VARIABLES},
        load_average_1min=load,
        time_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    # END SOLUTION


# -- A B A B ... ------------------------------------------------------------------------------------
def _check_contenders(contenders) -> None:
    if not isinstance(contenders, dict) or not contenders:
        raise ValueError("interleaved_timings needs a dict of at least one name -> function to time")
    for name, function in contenders.items():
        if not callable(function):
            raise TypeError(f"contender {name!r} is {type(function).__name__}, not a function to call")


def interleaved_timings(contenders: dict, warmup: int = 5, rounds: int = 100, clock=time.perf_counter) -> dict:
    """Seconds of each step of each contender, timed in turn: A B C A B C ...

    ``warmup`` untimed rounds come first (also in turn), then ``rounds`` timed ones; every
    step is timed alone with ``clock``. Returns name -> list of ``rounds`` samples, in the
    order of ``contenders``.
    """
    _check_contenders(contenders)
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"interleaved_timings: warmup={warmup!r}, expected an integer >= 0")
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"interleaved_timings: rounds={rounds!r}, expected an integer >= 1")
    # BEGIN SOLUTION
    for _ in range(warmup):
        for function in contenders.values():
            function()
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, function in contenders.items():
            start = clock()
            function()
            samples[name].append(clock() - start)
    return samples
    # END SOLUTION


@dataclass
class Comparison:
    """Timing summaries of contenders measured together, and their ratios to a baseline."""

    summaries: dict
    baseline: str

    def __post_init__(self):
        if self.baseline not in self.summaries:
            raise KeyError(f"baseline {self.baseline!r} is not a contender; contenders: {list(self.summaries)}")

    def ratio(self, name: str, to: str | None = None) -> float:
        """Median of ``name`` / median of ``to`` (the baseline by default): 2.0 = twice as slow."""
        to = self.baseline if to is None else to
        for key in (name, to):
            if key not in self.summaries:
                raise KeyError(f"{key!r} is not a contender; contenders: {list(self.summaries)}")
        # BEGIN SOLUTION
        return self.summaries[name].median / self.summaries[to].median
        # END SOLUTION

    @property
    def ratios(self) -> dict:
        return {name: self.ratio(name) for name in self.summaries}

    @property
    def medians_ms(self) -> dict:
        return {name: 1e3 * summary.median for name, summary in self.summaries.items()}

    def report(self, title: str = "") -> str:
        """A plain-text table: median and IQR in ms per step, ratio to the baseline."""
        header = f"{'implementation':<22}{'ms/step':>10}{'IQR ms':>10}{'ratio':>10}"
        lines = ([title] if title else []) + [header]
        for name, summary in self.summaries.items():
            lines.append(f"{name:<22}{summary.median * 1e3:>10.3f}{summary.iqr * 1e3:>10.3f}"
                         f"{self.ratio(name):>9.2f}x")
        count = min(summary.repeats for summary in self.summaries.values())
        lines.append(f"(median of {count} interleaved steps each; ratio = median / median of {self.baseline})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"baseline": self.baseline, "ratios": self.ratios,
                "summaries": {name: summary_to_dict(s) for name, s in self.summaries.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "Comparison":
        return cls({name: summary_from_dict(s) for name, s in data["summaries"].items()}, data["baseline"])


def compare(contenders: dict, baseline: str | None = None, warmup: int = 5, rounds: int = 100,
            clock=time.perf_counter) -> Comparison:
    """Time ``contenders`` (name -> function) interleaved and summarise each one with module
    15's ``summarize`` (median, quartiles, minimum, maximum), in a ``Comparison``.

    ``baseline`` defaults to the first contender.
    """
    _check_contenders(contenders)
    baseline = next(iter(contenders)) if baseline is None else baseline
    if baseline not in contenders:
        raise KeyError(f"baseline {baseline!r} is not a contender; contenders: {list(contenders)}")
    # BEGIN SOLUTION
    samples = interleaved_timings(contenders, warmup, rounds, clock)
    return Comparison({name: summarize(values) for name, values in samples.items()}, baseline)
    # END SOLUTION


# -- a model's worth and cost in one record --------------------------------------------------------
def summary_to_dict(summary: TimingSummary) -> dict:
    """A timing as JSON: every sample (seconds), so a reader can recompute anything, and the
    summary a reader looks at first: ``median``, ``q1``, ``q3``, ``iqr``, ``minimum``,
    ``maximum``. ``summary_from_dict`` reads it back."""
    # BEGIN SOLUTION
    return {"samples": list(summary.samples), "median": summary.median, "q1": summary.q1, "q3": summary.q3,
            "iqr": summary.iqr, "minimum": summary.minimum, "maximum": summary.maximum}
    # END SOLUTION


def summary_from_dict(data: dict) -> TimingSummary:
    """The ``TimingSummary`` that ``summary_to_dict`` wrote."""
    return TimingSummary(tuple(data["samples"]), data["median"], data["q1"], data["q3"],
                         data["minimum"], data["maximum"])


@dataclass
class BenchmarkResult:
    """One model measured: accuracy (None when not measured), latency of an inference forward
    pass, activation memory (bytes of every layer's output) and size: module 15's
    ``count_parameters`` (weights and biases at their stored size: an int8 weight of module 16
    is 1 byte) and ``model_bytes``, every array the model holds (also the scales and zero
    points of a quantized model, and running statistics, which are not parameters)."""

    name: str
    latency: TimingSummary
    accuracy: float | None = None
    activation_bytes: int | None = None
    parameters: int | None = None
    parameter_bytes: int | None = None
    extra: dict = field(default_factory=dict)
    model_bytes: int | None = None

    def to_dict(self) -> dict:
        """The record as JSON: every field under its own name, the latency as ``summary_to_dict``
        writes it. ``from_dict`` reads it back."""
        # BEGIN SOLUTION
        return {"name": self.name, "latency": summary_to_dict(self.latency), "accuracy": self.accuracy,
                "activation_bytes": self.activation_bytes, "parameters": self.parameters,
                "parameter_bytes": self.parameter_bytes, "extra": self.extra, "model_bytes": self.model_bytes}
        # END SOLUTION

    @classmethod
    def from_dict(cls, data: dict) -> "BenchmarkResult":
        return cls(data["name"], summary_from_dict(data["latency"]), data["accuracy"],
                   data["activation_bytes"], data["parameters"], data["parameter_bytes"], data.get("extra", {}),
                   data.get("model_bytes"))

    def describe(self) -> str:
        accuracy = "accuracy not measured" if self.accuracy is None else f"accuracy {self.accuracy:.2%}"
        return (f"{self.name}: {accuracy}, latency {self.latency.describe('ms')}, "
                f"{self.parameters:,} parameters ({self.parameter_bytes:,} bytes), "
                f"{'size not measured' if self.model_bytes is None else f'{self.model_bytes:,} bytes in all'}, "
                f"activations {self.activation_bytes:,} bytes")


def model_accuracy(model, inputs, labels) -> float:
    """Module 07's ``accuracy`` of ``model``'s outputs on ``inputs``: the arg-max against integer
    labels (or logit > 0 against 0/1 labels for one output), computed in evaluation mode
    without a graph; every layer's training flag is restored afterwards."""
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.ndim != 1:
        raise ValueError(f"model_accuracy: labels must be 1-D, one per input row; got shape {labels.shape}")
    inputs = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
    # BEGIN SOLUTION
    modes = [(module, module.training) for _, module in model.named_modules()] \
        if hasattr(model, "named_modules") else []
    try:
        for module, _ in modes:
            object.__setattr__(module, "training", False)
        with no_grad():
            outputs = model(inputs)
    finally:
        for module, training in modes:
            object.__setattr__(module, "training", training)
    # END SOLUTION
    if outputs.shape[0] != len(labels):
        raise ValueError(f"model_accuracy: the model gave {outputs.shape[0]} rows for {len(labels)} labels")
    return accuracy(outputs, labels)


def benchmark_model(name: str, model, example, data=None, warmup: int = 5, repeats: int = 30,
                    clock=time.perf_counter) -> BenchmarkResult:
    """Measure ``model`` on ``example`` (an input shape or a batch) with module 15's tools:
    latency (``model_latency`` with ``warmup``, ``repeats`` and ``clock``), activation bytes
    (``profile_model``'s total), parameters and their bytes (``count_parameters``) and every
    array it holds (module 16's ``model_bytes``); with ``data = (inputs, labels)``, accuracy
    too (``model_accuracy``)."""
    if data is not None and (not isinstance(data, (tuple, list)) or len(data) != 2):
        raise ValueError(f"benchmark_model({name!r}) got data of type {type(data).__name__}: expected "
                         "(inputs, labels) to measure accuracy, or None")
    # BEGIN SOLUTION
    profile = profile_model(model, example)
    parameters, parameter_bytes = count_parameters(model)
    latency = model_latency(model, example, warmup, repeats, clock)
    measured = None if data is None else model_accuracy(model, *data)
    return BenchmarkResult(name, latency, measured, profile.total_activation_bytes, parameters, parameter_bytes,
                           model_bytes=model_bytes(model))
    # END SOLUTION


# -- results to JSON and back -----------------------------------------------------------------------
@dataclass
class BenchmarkReport:
    """Results, an optional comparison and the environment they were measured in."""

    results: list = field(default_factory=list)
    comparison: Comparison | None = None
    environment: dict = field(default_factory=environment)

    def to_dict(self) -> dict:
        """The report as JSON: ``environment``, ``results`` (each ``BenchmarkResult.to_dict``) and
        ``comparison`` (``Comparison.to_dict``, or None). ``from_json`` reads it back."""
        # BEGIN SOLUTION
        return {"environment": self.environment, "results": [result.to_dict() for result in self.results],
                "comparison": None if self.comparison is None else self.comparison.to_dict()}
        # END SOLUTION

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "BenchmarkReport":
        data = json.loads(text)
        missing = {"environment", "results", "comparison"} - set(data)
        if missing:
            raise ValueError(f"not a benchmark report: missing {sorted(missing)}")
        comparison = None if data["comparison"] is None else Comparison.from_dict(data["comparison"])
        return cls([BenchmarkResult.from_dict(item) for item in data["results"]], comparison, data["environment"])

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path) -> "BenchmarkReport":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def text(self) -> str:
        lines = [f"Python {self.environment.get('python')}, NumPy {self.environment.get('numpy')}, "
                 f"{self.environment.get('cpu_count')} cores, threads {self.environment.get('threads')}"]
        lines += [result.describe() for result in self.results]
        if self.comparison is not None:
            lines.append(self.comparison.report())
        return "\n".join(lines)


__all__ = [
    "THREAD_VARIABLES", "BenchmarkReport", "BenchmarkResult", "Comparison", "benchmark_model",
    "blas_info", "compare", "environment", "interleaved_timings", "model_accuracy", "summary_from_dict",
    "summary_to_dict",
]
