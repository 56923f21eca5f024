"""Validation of Milestone 5, the systems capstone: every figure of the record measured again.

The submission is a directory: ``record.json``, the ``.npz`` files it describes (the baseline,
the optimized model and the other candidates) and two Pareto plots. In the instructor's
repository the reference solution's ``build_submission`` writes it; in a student edition the
student's does. Nothing in the record is believed: each grader loads the files and measures
for itself.

- **Size**: the bytes of the arrays in each file, which must equal the record's figure
  exactly, and every array must have the dtype its architecture declares (an "int8" weight
  stored as float32 is caught even when the record's bytes were adjusted to match).
- **Accuracy**: the test images through a float64 NumPy forward pass of the file (the
  grader's own reading of the format); the record's accuracy must be the same count of
  correct images, exactly.
- **Identity**: each file's sha256 must be the record's, and the student's engine
  (``load_optimized``) must give the file's logits, so the model timed is the model submitted.
- **Latency**: the grader's own baseline (milestone 2's MLP with the baseline file's weights)
  against the student's engine, timed with module 19's ``compare`` (interleaved steps,
  medians) at batch 1 and 64 on batches the grader picks. Targets are judged on these
  re-measured speed-ups. A claimed speed-up must lie within a factor ``SPEEDUP_TOLERANCE``
  of the re-measured one: the two runs happen at different times on a shared machine whose
  load moves the ratio of medians by tens of percent (see the README), never by 1.5x.
- **KV cache** (the record's ``"generation"`` entry): milestone 4's GPT rebuilt by the grader
  from the record's config and the submitted weights (sha256 checked), then greedy generation
  of the record's workload with and without module 14's cache, whole generations interleaved
  by ``compare`` on the process's CPU time: both must give the record's tokens, the cache's bytes must be module 14's
  formula, the claimed speed-up must lie within ``GENERATION_TOLERANCE`` of one of up to
  ``GENERATION_ATTEMPTS`` re-measurements and reach ``GENERATION_FLOOR``.

``tests/test_systems_milestone_checks.py`` feeds each ``check_*`` a submission that lies.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from pytest_tinytorch import milestone
from pytest_tinytorch.course.milestone_code import assert_png_has_content, load_milestone

RECORD_FORMAT = "tinytorch-systems-capstone/1"
REQUIRED_SIZE_RATIO = 4.0
REQUIRED_SPEEDUP = 2.0
MAX_ACCURACY_DROP = 0.01
SPEEDUP_TOLERANCE = 1.5
"""A claimed speed-up must be within this factor of the grader's (either way)."""
TIMING_ROUNDS = 200
BATCH_SIZES = (1, 64)
BASELINE_SIZES = (64, 128, 64, 10)
"""Milestone 2's deliverable MLP, the baseline every submission starts from."""
BASELINE_ACCURACY = 0.95
"""Milestone 2's target: a baseline below it is not milestone 2's model."""
GPT_CONFIG_KEYS = ("vocab_size", "context_length", "dim", "heads", "layers")
"""The arguments of module 13's ``GPT``: the record's config rebuilds the submitted model."""
GENERATION_ROUNDS = 11
"""The grader's timed rounds of each generation (after one warm-up round)."""
GENERATION_TOLERANCE = 1.5
"""A claimed KV-cache speed-up must be within this factor of one of the grader's (either way)."""
GENERATION_ATTEMPTS = 3
"""The grader re-measures up to this many times, stopping at the first measurement that
agrees with the claim: one measurement can fall into a loaded patch of the machine."""
GENERATION_FLOOR = 2.0
"""The re-measured KV-cache speed-up every submission must reach: the reference workload
measures 2.9x to 4.1x in CPU time under loads of 1.5 to 4.5, a cache that recomputes the
prefix about 1x (see the README)."""
MIN_NEW_TOKENS = 200
"""The cache's gain grows with the prefix it does not recompute: the floor is for long runs."""
MAX_GPT_PARAMETERS = 150_000
"""Bounds the grader's re-measurement (the reference GPT has 12,768 parameters)."""


# -- reading a submission -------------------------------------------------------------------
def read_record(directory) -> dict:
    path = Path(directory) / "record.json"
    assert path.is_file(), f"no record at {path}: build_submission should write record.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record.get("format") == RECORD_FORMAT, f"record format {record.get('format')!r}; expected {RECORD_FORMAT!r}"
    for key in ("baseline", "optimized", "claims", "candidates", "plots"):
        assert key in record, f"the record has no {key!r} entry"
    return record


def load_arrays(directory, description) -> dict:
    """The arrays of a described file, after checking it is the file the record describes."""
    path = Path(directory) / description["file"]
    assert path.is_file(), f"the record names {description['file']}, which is not in {directory}"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == description["sha256"], (
        f"{path.name} has sha256 {digest[:16]}..., the record says {description['sha256'][:16]}...: "
        "it is not the model the record describes"
    )
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def measured_bytes(arrays) -> int:
    return int(sum(array.nbytes for array in arrays.values()))


def check_declared_dtypes(arrays, architecture) -> None:
    """Every weight has the dtype its layer declares; int8 weights have one float32 scale per
    output neuron; biases are float32; every array of the file is used."""
    used = set()
    for position, entry in enumerate(architecture):
        if entry["kind"] == "relu":
            continue
        assert entry["kind"] == "linear", f"layer {position}: unknown kind {entry['kind']!r}"
        weight, bias = arrays[entry["weight"]], arrays[entry["bias"]]
        used |= {entry["weight"], entry["bias"]}
        declared = entry["dtype"]
        assert declared in ("int8", "float32"), f"layer {position}: dtype {declared!r}, expected int8 or float32"
        assert weight.dtype == np.dtype(declared), (
            f"layer {position}: weight declared {declared}, stored as {weight.dtype} ({weight.nbytes} bytes)"
        )
        assert weight.ndim == 2 and bias.shape == (weight.shape[1],) and bias.dtype == np.float32, (
            f"layer {position}: weight {weight.shape} and bias {bias.shape} {bias.dtype}; expected (in, out) and (out,) float32"
        )
        if declared == "int8":
            scale = arrays[entry["scale"]]
            used.add(entry["scale"])
            assert scale.dtype == np.float32 and scale.shape == (weight.shape[1],) and np.all(scale > 0), (
                f"layer {position}: int8 weight needs one positive float32 scale per output, got {scale.shape} {scale.dtype}"
            )
    unused = sorted(set(arrays) - used)
    assert not unused, f"arrays {unused} are in the file but in no layer"


def reference_logits(arrays, architecture, X) -> np.ndarray:
    """The file's logits in float64, read by the grader: weight = codes * scale for int8."""
    values = np.asarray(X, dtype=np.float64)
    for entry in architecture:
        if entry["kind"] == "relu":
            values = np.maximum(values, 0.0)
            continue
        weight = arrays[entry["weight"]].astype(np.float64)
        if entry["dtype"] == "int8":
            weight = weight * arrays[entry["scale"]].astype(np.float64)
        values = values @ weight + arrays[entry["bias"]].astype(np.float64)
    return values


def correct_count(arrays, architecture, data) -> int:
    logits = reference_logits(arrays, architecture, data["X_test"])
    return int(np.sum(np.argmax(logits, axis=1) == data["y_test"]))


def layer_sizes(architecture, arrays) -> tuple:
    weights = [arrays[e["weight"]] for e in architecture if e["kind"] == "linear"]
    return (weights[0].shape[0], *(w.shape[1] for w in weights))


# -- the graders ------------------------------------------------------------------------------
def check_files_are_the_submitted_models(record, directory) -> None:
    for role in ("baseline", "optimized"):
        arrays = load_arrays(directory, record[role])
        check_declared_dtypes(arrays, record[role]["architecture"])


def check_baseline(record, directory, data) -> None:
    arrays = load_arrays(directory, record["baseline"])
    architecture = record["baseline"]["architecture"]
    kinds = [entry["kind"] for entry in architecture]
    assert kinds == ["linear", "relu", "linear", "relu", "linear"] and layer_sizes(architecture, arrays) == BASELINE_SIZES, (
        f"the baseline should be milestone 2's MLP {'-'.join(map(str, BASELINE_SIZES))}; found {kinds}, "
        f"sizes {layer_sizes(architecture, arrays)}"
    )
    assert all(entry["dtype"] == "float32" for entry in architecture if entry["kind"] == "linear"), (
        "the baseline keeps its float32 weights"
    )
    accuracy = correct_count(arrays, architecture, data) / len(data["y_test"])
    assert accuracy >= BASELINE_ACCURACY, f"baseline test accuracy {accuracy:.2%}; milestone 2 reaches {BASELINE_ACCURACY:.0%}"


def check_size(record, directory) -> float:
    """Bytes measured equal bytes claimed, exactly; the optimized model is >= 4x smaller."""
    measured = {}
    for role in ("baseline", "optimized"):
        measured[role] = measured_bytes(load_arrays(directory, record[role]))
        assert record[role]["bytes"] == measured[role], (
            f"{role}: the record claims {record[role]['bytes']:,} bytes, its file's arrays hold {measured[role]:,}"
        )
    ratio = measured["baseline"] / measured["optimized"]
    assert record["claims"]["size_ratio"] == pytest.approx(ratio, rel=1e-9), (
        f"claimed {record['claims']['size_ratio']:.3f}x smaller, measured {ratio:.3f}x"
    )
    assert ratio >= REQUIRED_SIZE_RATIO, (
        f"the optimized model is {ratio:.2f}x smaller ({measured['baseline']:,} -> {measured['optimized']:,} bytes); "
        f"the target is {REQUIRED_SIZE_RATIO:.0f}x"
    )
    return ratio


def check_accuracy(record, directory, data) -> float:
    """Accuracy measured by the grader equals the claim (same count of correct test images);
    at most one point lost."""
    n = len(data["y_test"])
    measured = {}
    for role in ("baseline", "optimized"):
        arrays = load_arrays(directory, record[role])
        measured[role] = correct_count(arrays, record[role]["architecture"], data) / n
        claimed = record[role]["test_accuracy"]
        assert abs(claimed - measured[role]) < 0.5 / n, (
            f"{role}: the record claims test accuracy {claimed:.4f}, its file classifies "
            f"{measured[role] * n:.0f}/{n} = {measured[role]:.4f} of the test images"
        )
    drop = measured["baseline"] - measured["optimized"]
    assert record["claims"]["accuracy_drop"] == pytest.approx(drop, abs=0.5 / n), (
        f"claimed accuracy drop {record['claims']['accuracy_drop']:.4f}, measured {drop:.4f}"
    )
    assert drop <= MAX_ACCURACY_DROP + 1e-12, (
        f"the optimized model loses {drop:.2%} of test accuracy ({measured['baseline']:.2%} -> "
        f"{measured['optimized']:.2%}); at most {MAX_ACCURACY_DROP:.0%} is allowed"
    )
    return drop


def check_engine_runs_the_file(systems, record, directory, data) -> None:
    """The student's engine for the optimized file gives that file's logits."""
    description = record["optimized"]
    arrays = load_arrays(directory, description)
    engine = systems.load_optimized(Path(directory) / description["file"], description["architecture"])
    from tinytorch import Tensor
    from tinytorch.autograd import no_grad

    with no_grad():
        logits = np.asarray(engine(Tensor(data["X_test"])).data, dtype=np.float64)
    expected = reference_logits(arrays, description["architecture"], data["X_test"])
    assert logits.shape == expected.shape, f"the engine gives logits of shape {logits.shape}, expected {expected.shape}"
    worst = float(np.max(np.abs(logits - expected)))
    assert worst <= 1e-3 * max(1.0, float(np.max(np.abs(expected)))), (
        f"the engine's logits differ from the submitted file's by up to {worst:.3g}: "
        "load_optimized does not run the submitted model"
    )


def baseline_model(record, directory):
    """Milestone 2's MLP with the baseline file's weights: the grader's own baseline."""
    from tinytorch.layers import Linear

    mlp = load_milestone("mlp")
    arrays = load_arrays(directory, record["baseline"])
    sizes = layer_sizes(record["baseline"]["architecture"], arrays)
    model = mlp.MLP(input_dim=sizes[0], hidden_dims=sizes[1:-1], output_dim=sizes[-1])
    linears = [layer for layer in model.layers.layers if isinstance(layer, Linear)]
    entries = [entry for entry in record["baseline"]["architecture"] if entry["kind"] == "linear"]
    for layer, entry in zip(linears, entries):
        layer.weight.data = arrays[entry["weight"]].astype(np.float32)
        layer.bias.data = arrays[entry["bias"]].astype(np.float32)
    model.eval()
    return model


def measure_speedups(systems, record, directory, data, rounds=TIMING_ROUNDS) -> dict:
    """Baseline median / engine median at each batch size, interleaved by module 19."""
    from tinytorch import Tensor
    from tinytorch.autograd import no_grad
    from tinytorch.benchmarking import compare

    baseline = baseline_model(record, directory)
    engine = systems.load_optimized(Path(directory) / record["optimized"]["file"], record["optimized"]["architecture"])
    X = data["X_test"][::-1]  # the grader's own batches, not the student's
    speedups = {}
    with no_grad():
        for size in BATCH_SIZES:
            batches = [Tensor(np.ascontiguousarray(X[start:start + size])) for start in range(0, 8 * size, size)]
            turns = {"baseline": itertools.cycle(batches), "optimized": itertools.cycle(batches)}
            comparison = compare({"baseline": lambda: baseline(next(turns["baseline"])),
                                  "optimized": lambda: engine(next(turns["optimized"]))}, rounds=rounds)
            speedups[size] = 1.0 / comparison.ratio("optimized")
    return speedups


def check_latency(record, measured) -> None:
    """Targets on the grader's speed-ups; claims within ``SPEEDUP_TOLERANCE`` of them."""
    for size in BATCH_SIZES:
        claimed = float(record["claims"]["speedup"][str(size)])
        speedup = measured[size]
        assert 1 / SPEEDUP_TOLERANCE <= claimed / speedup <= SPEEDUP_TOLERANCE, (
            f"batch {size}: the record claims a {claimed:.2f}x speed-up, re-measured {speedup:.2f}x "
            f"(more than {SPEEDUP_TOLERANCE}x apart: beyond the noise of this machine)"
        )
        assert speedup >= REQUIRED_SPEEDUP, (
            f"batch {size}: re-measured {speedup:.2f}x faster than the baseline; the target is {REQUIRED_SPEEDUP:.0f}x"
        )


def check_plots(record, directory) -> None:
    assert set(record["plots"]) == {"accuracy_vs_size", "accuracy_vs_latency"}, (
        f"expected the plots accuracy_vs_size and accuracy_vs_latency, found {sorted(record['plots'])}"
    )
    for name in record["plots"].values():
        assert_png_has_content(Path(directory) / name, min_width=500, min_height=350)


def check_pareto_front(systems) -> None:
    points = [("a", 1.0, 0.90), ("b", 2.0, 0.95), ("c", 3.0, 0.94), ("d", 2.0, 0.93), ("e", 4.0, 0.97),
              ("f", 1.0, 0.90)]
    front = systems.pareto_front(points)
    assert sorted(front) == ["a", "b", "e", "f"], (
        f"pareto_front{points} gave {front}: c is beaten by b, d by b (same cost, less accurate); "
        "a and f tie and beat no one"
    )


def check_candidates(record, directory, data) -> None:
    """Every candidate's bytes and accuracy re-measured; the submitted model is among them and
    on the accuracy-against-size front."""
    n = len(data["y_test"])
    names = [candidate["name"] for candidate in record["candidates"]]
    assert len(names) >= 3 and len(set(names)) == len(names), f"expected at least 3 distinct candidates, got {names}"
    files = {candidate["file"] for candidate in record["candidates"]}
    assert {record["baseline"]["file"], record["optimized"]["file"]} <= files, "the baseline and the submitted model are candidates too"
    points = []
    for candidate in record["candidates"]:
        arrays = load_arrays(directory, candidate)
        check_declared_dtypes(arrays, candidate["architecture"])
        assert candidate["bytes"] == measured_bytes(arrays), (
            f"candidate {candidate['name']}: claims {candidate['bytes']:,} bytes, holds {measured_bytes(arrays):,}"
        )
        accuracy = correct_count(arrays, candidate["architecture"], data) / n
        assert abs(candidate["test_accuracy"] - accuracy) < 0.5 / n, (
            f"candidate {candidate['name']}: claims accuracy {candidate['test_accuracy']:.4f}, measured {accuracy:.4f}"
        )
        points.append((candidate["name"], candidate["file"], measured_bytes(arrays), accuracy))
    _, _, size, accuracy = next(point for point in points if point[1] == record["optimized"]["file"])
    beaten_by = [name for name, _, other_size, other_accuracy in points
                 if other_size <= size and other_accuracy >= accuracy and (other_size, other_accuracy) != (size, accuracy)]
    assert not beaten_by, f"the submitted model is beaten on size and accuracy by {beaten_by}"


# -- the KV cache of milestone 4's GPT -----------------------------------------------------------
GENERATION_KEYS = ("model", "prompt_ids", "prompt_length", "new_tokens", "clock", "tokens", "identical",
                   "ms_per_token", "speedup", "timing", "kv_cache_bytes")
GENERATION_CLOCK = "process_time"
"""Generation is timed in the process's CPU time: the work the cache saves, whatever else runs
on the machine (wall-clock ratios of the same workload spread from 3x to 10x, see the README)."""


def read_generation(record) -> dict:
    assert "generation" in record, (
        "the record has no 'generation' entry: build_submission should add generation_record's "
        "measurement of milestone 4's GPT with and without the KV cache"
    )
    entry = record["generation"]
    missing = [key for key in GENERATION_KEYS if key not in entry]
    assert not missing, f"the record's generation entry lacks {missing}; expected {list(GENERATION_KEYS)}"
    lacking = [key for key in ("file", "sha256", "config", "parameters") if key not in entry["model"]]
    assert not lacking, f"the record's generation model lacks {lacking}; save_gpt describes file, sha256, config, parameters"
    for name in ("cached", "uncached"):
        summary = entry["timing"].get("summaries", {}).get(name, {}) if isinstance(entry["timing"], dict) else {}
        assert isinstance(summary.get("samples"), list) and summary["samples"] and "median" in summary, (
            f"the record's generation timing has no samples and median for {name!r}: expected module 19's "
            "Comparison.to_dict() of the contenders 'uncached' and 'cached'"
        )
        assert name in entry["ms_per_token"], f"the record's ms_per_token lacks {name!r}"
    assert entry["clock"] == GENERATION_CLOCK, (
        f"the record's generation times are on the clock {entry['clock']!r}; the grader times the process's "
        f"CPU time, {GENERATION_CLOCK!r} (time.process_time, module 19's clock argument)"
    )
    return entry


def load_gpt(directory, description):
    """The grader's own GPT (module 13's class, built from the record's config) holding the
    submitted weights, after checking that the file is the one the record describes and holds
    exactly that GPT's parameters."""
    from tinytorch.transformers import GPT

    config = description.get("config")
    assert isinstance(config, dict) and sorted(config) == sorted(GPT_CONFIG_KEYS), (
        f"the GPT's config is {config!r}; expected a dict of {list(GPT_CONFIG_KEYS)}, the arguments of GPT"
    )
    arrays = load_arrays(directory, description)
    model = GPT(**config)
    expected = {name: parameter.shape for name, parameter in model.named_parameters()}
    missing, unexpected = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
    assert not missing and not unexpected, (
        f"{description['file']} does not hold the parameters of GPT({config}): missing {missing[:4]}"
        f"{' ...' if len(missing) > 4 else ''}, unexpected {unexpected[:4]}{' ...' if len(unexpected) > 4 else ''}"
    )
    wrong = [f"{name} {arrays[name].shape} (expected {shape})" for name, shape in expected.items()
             if arrays[name].shape != shape]
    assert not wrong, f"{description['file']}: arrays of the wrong shape for GPT({config}): {wrong[:4]}"
    model.load_state_dict(arrays)
    assert description.get("parameters") == model.parameter_count(), (
        f"the record claims {description.get('parameters')} GPT parameters, its file holds {model.parameter_count():,}"
    )
    return model.eval()


def check_generation_workload(entry, model) -> None:
    """The prompt is token ids of the model's vocabulary; the run is long enough for the floor
    and fits one context (past it the cache is refilled, module 14); the model is small enough
    to re-measure in seconds."""
    prompt = np.asarray(entry["prompt_ids"])
    assert prompt.ndim == 1 and len(prompt) >= 1 and prompt.dtype.kind in "iu", (
        f"prompt_ids should be a non-empty list of token ids, got {entry['prompt_ids']!r}"
    )
    assert prompt.min() >= 0 and prompt.max() < model.vocab_size, (
        f"prompt ids from {prompt.min()} to {prompt.max()}: expected 0 <= id < {model.vocab_size}"
    )
    assert entry["prompt_length"] == len(prompt), (
        f"the record's prompt_length is {entry['prompt_length']}, its prompt_ids hold {len(prompt)}"
    )
    new_tokens = entry["new_tokens"]
    assert isinstance(new_tokens, int) and new_tokens >= MIN_NEW_TOKENS, (
        f"new_tokens={new_tokens!r}: the cache's gain is measured on at least {MIN_NEW_TOKENS} new tokens"
    )
    assert len(prompt) + new_tokens <= model.context_length, (
        f"a {len(prompt)}-token prompt and {new_tokens} new tokens exceed the context of {model.context_length}: "
        "past it the cache is refilled at every step; time the cache within one context"
    )
    assert model.parameter_count() <= MAX_GPT_PARAMETERS, (
        f"the GPT has {model.parameter_count():,} parameters; the grader re-times at most {MAX_GPT_PARAMETERS:,}"
    )


def check_kv_cache_memory(entry, model) -> int:
    """The cache's bytes: module 14's formula, computed here, equals what ``KVCache`` allocates
    and what the record claims."""
    from tinytorch.generation import KVCache

    per_head = model.dim // model.heads
    bytes_per_number = model.token.weight.data.itemsize
    keys_and_values = 2
    formula = keys_and_values * model.num_layers * model.heads * model.context_length * per_head * bytes_per_number
    allocated = KVCache.for_model(model, 1).nbytes
    assert allocated == formula, (
        f"KVCache.for_model allocates {allocated:,} bytes for one sequence; module 14's formula "
        f"2 x {model.num_layers} layers x 1 x {model.heads} heads x {model.context_length} x {per_head} x "
        f"{bytes_per_number} gives {formula:,}"
    )
    claimed = entry["kv_cache_bytes"]
    assert claimed.get("batch") == 1 and claimed.get("formula") == formula and claimed.get("arrays") == allocated, (
        f"the record claims a KV cache of {claimed}; measured {{'batch': 1, 'formula': {formula}, 'arrays': {allocated}}}"
    )
    return formula


def measure_generation(model, entry, generate=None, rounds=GENERATION_ROUNDS) -> dict:
    """The grader's own run of the record's workload: greedy generation with and without the
    KV cache, whole generations interleaved by module 19's ``compare`` on the process's CPU
    time (one warm-up round, medians), the allocator settled first as the notebook's
    ``settle_allocator`` does. ``generate`` is module 14's unless given (the negative
    controls give broken ones)."""
    from tinytorch.benchmarking import compare

    if generate is None:
        from tinytorch.generation import generate
    prompt = np.asarray(entry["prompt_ids"], dtype=np.int64)
    new_tokens = entry["new_tokens"]
    outputs = {}
    block = np.empty(16 << 20, dtype=np.uint8)  # freed at once: malloc keeps blocks up to 16 MB for reuse,
    del block  # so a fresh process pays no page faults that a long-running one does not (README)

    def generation(cached):
        def whole_generation():
            outputs[cached] = np.asarray(generate(model, prompt, new_tokens, temperature=0, use_cache=cached))
        return whole_generation

    cpu_seconds = time.process_time
    timing = compare({"uncached": generation(False), "cached": generation(True)}, warmup=1, rounds=rounds, clock=cpu_seconds)
    seconds = {name: summary.median for name, summary in timing.summaries.items()}
    return {"cached": outputs[True][len(prompt):], "uncached": outputs[False][len(prompt):],
            "speedup": seconds["uncached"] / seconds["cached"],
            "ms_per_token": {name: 1e3 * seconds[name] / new_tokens for name in ("cached", "uncached")}}


def agrees(entry, measured) -> bool:
    """The claim is within ``GENERATION_TOLERANCE`` of this measurement, which clears the floor."""
    ratio = float(entry["speedup"]) / measured["speedup"]
    return 1 / GENERATION_TOLERANCE <= ratio <= GENERATION_TOLERANCE and measured["speedup"] >= GENERATION_FLOOR


def remeasure_generation(model, entry, generate=None, rounds=GENERATION_ROUNDS, attempts=GENERATION_ATTEMPTS) -> list:
    """The grader's measurements: up to ``attempts``, stopping at the first that agrees with the
    claim (a record that disagrees costs all of them)."""
    measurements = []
    while len(measurements) < attempts:
        measurements.append(measure_generation(model, entry, generate, rounds))
        if agrees(entry, measurements[-1]):
            break
    return measurements


def first_difference(a, b) -> str:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return f"{len(a)} tokens against {len(b)}"
    index = int(np.flatnonzero(a != b)[0])
    return f"new token {index}: {a[index]} against {b[index]}"


def check_generation(entry, measurements) -> None:
    """Same tokens with and without the cache, in every measurement, and the record's; the
    record's figures are its own timings'; the claimed speed-up within ``GENERATION_TOLERANCE``
    of one of the grader's ``measurements`` (from ``remeasure_generation``), which reaches
    ``GENERATION_FLOOR``."""
    for measured in measurements:
        cached, uncached = measured["cached"], measured["uncached"]
        assert np.array_equal(cached, uncached), (
            f"greedy generation with the KV cache differs from generation without it "
            f"({first_difference(cached, uncached)}): the cache does not give the model's tokens"
        )
        assert np.array_equal(np.asarray(entry["tokens"]), uncached), (
            f"the record's tokens are not those its GPT generates ({first_difference(entry['tokens'], uncached)})"
        )
    assert entry["identical"] is True, f"the record says identical={entry['identical']!r}; the grader's runs agree"
    summaries = entry["timing"]["summaries"]
    medians = {}
    for name in ("cached", "uncached"):
        samples = summaries[name]["samples"]
        medians[name] = float(np.median(samples))
        assert summaries[name]["median"] == pytest.approx(medians[name], rel=1e-9), (
            f"the record's {name} median {summaries[name]['median']:.6f} s is not the median of its samples, "
            f"{medians[name]:.6f} s"
        )
        claimed_ms = entry["ms_per_token"][name]
        assert claimed_ms == pytest.approx(1e3 * medians[name] / entry["new_tokens"], rel=1e-6), (
            f"the record claims {claimed_ms:.3f} CPU ms per token {name}, its own timing gives "
            f"{1e3 * medians[name] / entry['new_tokens']:.3f}"
        )
    assert entry["speedup"] == pytest.approx(medians["uncached"] / medians["cached"], rel=1e-6), (
        f"the record claims a {entry['speedup']:.2f}x KV-cache speed-up, its own timing gives "
        f"{medians['uncached'] / medians['cached']:.2f}x"
    )
    claimed = float(entry["speedup"])
    figures = ", ".join(f"{m['speedup']:.2f}x ({m['ms_per_token']['cached']:.2f} CPU ms per token cached, "
                        f"{m['ms_per_token']['uncached']:.2f} uncached)" for m in measurements)
    assert any(1 / GENERATION_TOLERANCE <= claimed / m["speedup"] <= GENERATION_TOLERANCE for m in measurements), (
        f"the record claims a {claimed:.2f}x KV-cache speed-up, re-measured {figures}: more than "
        f"{GENERATION_TOLERANCE}x apart, beyond the noise of this machine"
    )
    best = max(m["speedup"] for m in measurements)
    assert best >= GENERATION_FLOOR, (
        f"re-measured KV-cache speed-up {figures}; a cache that feeds one token per step reaches "
        f"{GENERATION_FLOOR:.0f}x on {entry['new_tokens']} new tokens"
    )


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def systems(pytestconfig):
    return load_milestone("systems", config=pytestconfig)


@pytest.fixture(scope="module")
def digits(systems):
    return systems.load_digits_data()


@pytest.fixture(scope="module")
def submission(systems, digits, tmp_path_factory):
    """The submission directory, built once by the notebook's ``build_submission``."""
    directory = tmp_path_factory.mktemp("systems_submission")
    systems.build_submission(digits, directory)
    return directory, read_record(directory)


# -- Part 1 and 3: the model ---------------------------------------------------------------------
@milestone("systems", rubric="model")
def test_files_are_the_described_models_in_their_declared_dtypes(submission, digits):
    directory, record = submission
    check_files_are_the_submitted_models(record, directory)
    check_baseline(record, directory, digits)


@milestone("systems", rubric="model")
def test_engine_runs_the_submitted_file(systems, submission, digits):
    directory, record = submission
    check_engine_runs_the_file(systems, record, directory, digits)


# -- Part 2: training (accuracy kept) -------------------------------------------------------------
@milestone("systems", rubric="training")
def test_accuracy_remeasured_within_one_point_of_the_baseline(submission, digits):
    directory, record = submission
    check_accuracy(record, directory, digits)


# -- Part 4: systems: size and speed -------------------------------------------------------------
@milestone("systems", rubric="systems")
def test_at_least_4x_fewer_bytes_measured_exactly(submission):
    directory, record = submission
    check_size(record, directory)


@milestone("systems", rubric="systems")
def test_at_least_2x_faster_at_batch_1_and_64_remeasured_interleaved(systems, submission, digits):
    directory, record = submission
    check_latency(record, measure_speedups(systems, record, directory, digits))


@milestone("systems", rubric="systems")
def test_kv_cache_of_the_milestone_4_gpt_remeasured_same_tokens_faster(submission):
    directory, record = submission
    entry = read_generation(record)
    model = load_gpt(directory, entry["model"])
    check_generation_workload(entry, model)
    check_kv_cache_memory(entry, model)
    check_generation(entry, remeasure_generation(model, entry))


# -- Part 4: visualization ------------------------------------------------------------------------
@milestone("systems", rubric="visualization")
def test_pareto_plots_are_drawn(systems, submission):
    directory, record = submission
    check_pareto_front(systems)
    check_plots(record, directory)


# -- Part 5: comparison study ---------------------------------------------------------------------
@milestone("systems", rubric="comparison")
def test_every_candidate_remeasured_and_the_submission_is_on_the_front(submission, digits):
    directory, record = submission
    check_candidates(record, directory, digits)
