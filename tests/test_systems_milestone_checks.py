"""Negative controls for the graders of milestone 5 (systems capstone): submissions that lie.

Each ``check_*`` of ``milestones/05_systems_capstone/test_systems.py`` first passes on an honest
submission built by the reference solution (``test_the_honest_submission_passes_every_check``);
then every control corrupts a copy of it the way a careless or dishonest record would, and the
grader must fail, naming what it measured. A grader that cannot fail grades nothing.

Hidden from the student edition: these tests start from the reference solution.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import types

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from pytest_tinytorch.course.milestone_code import import_notebook, load_milestone, milestone_directory

pytestmark = pytest.mark.hidden

REJECTED = (AssertionError, pytest.fail.Exception)


def rejects(check, *args, match: str | None = None):
    """``check`` must fail on these arguments (with ``match`` in its message, when given)."""
    with pytest.raises(REJECTED, match=match):
        check(*args)


@pytest.fixture(scope="module")
def systems():
    return load_milestone("systems", variant="solution")


@pytest.fixture(scope="module")
def graders():
    return import_notebook(milestone_directory("systems") / "test_systems.py", "graders_of_milestone_5")


@pytest.fixture(scope="module")
def digits(systems):
    return systems.load_digits_data()


@pytest.fixture(scope="module")
def honest(systems, digits, tmp_path_factory):
    """An honest submission directory, built once by the reference solution."""
    directory = tmp_path_factory.mktemp("honest_submission")
    systems.build_submission(digits, directory)
    return directory


@pytest.fixture(scope="module")
def measured(systems, graders, honest, digits):
    """The grader's own speed-ups of the honest submission."""
    return graders.measure_speedups(systems, graders.read_record(honest), honest, digits)


@pytest.fixture
def copy(honest, tmp_path):
    """A fresh copy of the honest submission to corrupt, and its record."""
    directory = tmp_path / "submission"
    shutil.copytree(honest, directory)
    return directory


def read(directory) -> dict:
    return json.loads((directory / "record.json").read_text(encoding="utf-8"))


def write(directory, record) -> None:
    (directory / "record.json").write_text(json.dumps(record), encoding="utf-8")


def rewrite_file(directory, description, arrays) -> None:
    """Save ``arrays`` as the described file and make the record agree with it (hash, bytes):
    a careful liar leaves no cheap inconsistency."""
    path = directory / description["file"]
    np.savez(path, **arrays)
    description["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    description["bytes"] = int(sum(array.nbytes for array in arrays.values()))


def test_the_honest_submission_passes_every_check(systems, graders, honest, digits, measured):
    record = graders.read_record(honest)
    graders.check_files_are_the_submitted_models(record, honest)
    graders.check_baseline(record, honest, digits)
    assert graders.check_size(record, honest) >= 4
    assert graders.check_accuracy(record, honest, digits) <= 0.01
    graders.check_engine_runs_the_file(systems, record, honest, digits)
    graders.check_latency(record, measured)
    graders.check_plots(record, honest)
    graders.check_pareto_front(systems)
    graders.check_candidates(record, honest, digits)


# -- size ------------------------------------------------------------------------------------------
def test_a_record_claiming_fewer_bytes_than_its_file_holds_fails(graders, copy):
    record = read(copy)
    record["optimized"]["bytes"] -= 1
    rejects(graders.check_size, record, copy, match="claims 2,703 bytes, its file's arrays hold 2,704")
    record = read(copy)
    record["claims"]["size_ratio"] *= 1.5
    rejects(graders.check_size, record, copy, match="smaller, measured")


def test_an_int8_model_stored_in_float32_fails_even_with_an_honest_byte_count(graders, copy):
    record = read(copy)
    with np.load(copy / record["optimized"]["file"]) as stored:
        arrays = {name: stored[name].astype(np.float32) for name in stored.files}
    rewrite_file(copy, record["optimized"], arrays)
    record["claims"]["size_ratio"] = record["baseline"]["bytes"] / record["optimized"]["bytes"]
    rejects(graders.check_files_are_the_submitted_models, record, copy, match="declared int8, stored as float32")


def test_a_model_that_is_too_big_fails_on_the_target(graders, copy):
    record = read(copy)
    record["optimized"] = dict(record["candidates"][1])  # the baseline with int8 weights: 3.7x
    record["claims"]["size_ratio"] = record["baseline"]["bytes"] / record["optimized"]["bytes"]
    rejects(graders.check_size, record, copy, match="the target is 4x")


# -- accuracy --------------------------------------------------------------------------------------
def test_an_accuracy_typed_in_fails(graders, copy, digits):
    record = read(copy)
    record["optimized"]["test_accuracy"] = 0.99
    rejects(graders.check_accuracy, record, copy, digits, match="claims test accuracy 0.9900")
    record = read(copy)
    record["baseline"]["test_accuracy"] += 1 / len(digits["y_test"])  # one image more than it gets right
    rejects(graders.check_accuracy, record, copy, digits, match="baseline: the record claims")


def test_a_model_that_loses_more_than_a_point_fails_even_when_honest(systems, graders, copy, digits):
    record = read(copy)
    with np.load(copy / record["optimized"]["file"]) as stored:
        arrays = {name: stored[name] for name in stored.files}
    first = record["optimized"]["architecture"][0]
    arrays[first["weight"]] = (arrays[first["weight"]] // 4).astype(np.int8)  # two bits of every weight lost
    rewrite_file(copy, record["optimized"], arrays)
    n = len(digits["y_test"])
    measured = graders.correct_count(arrays, record["optimized"]["architecture"], digits) / n
    record["optimized"]["test_accuracy"] = measured
    record["claims"]["accuracy_drop"] = record["baseline"]["test_accuracy"] - measured
    assert record["claims"]["accuracy_drop"] > 0.01, "the control must really lose accuracy"
    rejects(graders.check_accuracy, record, copy, digits, match="at most 1% is allowed")


# -- latency ---------------------------------------------------------------------------------------
def test_a_speedup_claimed_but_not_reproduced_fails(graders, copy, measured):
    record = read(copy)
    record["claims"]["speedup"]["64"] = 10.0
    rejects(graders.check_latency, record, measured, match="batch 64: the record claims a 10.00x speed-up, re-measured")
    record = read(copy)
    record["claims"]["speedup"]["1"] = 1.0  # far below the truth is not a measurement either
    rejects(graders.check_latency, record, measured, match="batch 1: the record claims a 1.00x")


def test_a_slow_engine_fails_the_target_on_the_graders_own_timing(systems, graders, copy, digits):
    def slow_load_optimized(path, architecture):
        engine = systems.load_optimized(path, architecture)

        def forward(x):
            for _ in range(3):
                engine(x)
            return engine(x)
        return forward

    slow = types.SimpleNamespace(load_optimized=slow_load_optimized)
    record = read(copy)
    speedups = graders.measure_speedups(slow, record, copy, digits)
    record["claims"]["speedup"] = {str(size): value for size, value in speedups.items()}  # even claimed honestly
    rejects(graders.check_latency, record, speedups, match="the target is 2x")


# -- plots -----------------------------------------------------------------------------------------
def test_a_blank_plot_fails(graders, copy):
    record = read(copy)
    figure = Figure(figsize=(7, 5), dpi=100)
    figure.add_subplot().set_axis_off()
    figure.savefig(copy / record["plots"]["accuracy_vs_latency"])
    rejects(graders.check_plots, record, copy, match="is the figure empty")
    (copy / record["plots"]["accuracy_vs_size"]).unlink()
    rejects(graders.check_plots, record, copy, match="no file was written there")


def test_a_wrong_pareto_front_fails(systems, graders):
    everyone = types.SimpleNamespace(pareto_front=lambda points: [name for name, _, _ in points])
    rejects(graders.check_pareto_front, everyone, match="c is beaten by b")
    strict = types.SimpleNamespace(pareto_front=lambda points: [
        name for name, cost, accuracy in points
        if not any(c <= cost and a >= accuracy and (c, a) != (cost, accuracy) for _, c, a in points)
        and [(c, a) for _, c, a in points].count((cost, accuracy)) == 1])  # drops tied points
    rejects(graders.check_pareto_front, strict)


# -- identity --------------------------------------------------------------------------------------
def test_a_file_that_is_not_the_submitted_one_fails(graders, copy, digits):
    record = read(copy)
    shutil.copyfile(copy / record["candidates"][2]["file"], copy / record["optimized"]["file"])  # float32 model
    for check, args in ((graders.check_files_are_the_submitted_models, (record, copy)),
                        (graders.check_size, (record, copy)),
                        (graders.check_accuracy, (record, copy, digits))):
        rejects(check, *args, match="it is not the model the record describes")


def test_an_engine_that_runs_another_model_fails(systems, graders, copy, digits):
    record = read(copy)
    baseline = record["baseline"]

    def other_model(path, architecture):
        return systems.load_optimized(copy / baseline["file"], baseline["architecture"])

    rejects(graders.check_engine_runs_the_file, types.SimpleNamespace(load_optimized=other_model), record, copy,
            digits, match="does not run the submitted model")


def test_a_candidate_whose_figures_are_typed_in_fails(graders, copy, digits):
    record = read(copy)
    record["candidates"][1]["test_accuracy"] = 1.0
    rejects(graders.check_candidates, record, copy, digits, match="candidate baseline int8: claims accuracy")
    record = read(copy)
    record["candidates"][2]["bytes"] = 100
    rejects(graders.check_candidates, record, copy, digits, match="claims 100 bytes")


def test_a_submission_beaten_by_its_own_candidate_fails(graders, copy, digits):
    record = read(copy)
    record["optimized"] = dict(record["candidates"][2])  # 64-32-10 in float32: its int8 twin is smaller, as accurate
    rejects(graders.check_candidates, record, copy, digits, match=r"beaten on size and accuracy by \['64-32-10 int8'\]")
