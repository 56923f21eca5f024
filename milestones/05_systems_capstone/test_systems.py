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

``tests/test_systems_milestone_checks.py`` feeds each ``check_*`` a submission that lies.
"""

from __future__ import annotations

import hashlib
import itertools
import json
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
