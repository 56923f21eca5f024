"""Negative controls for the graders of milestone 5 (systems capstone): submissions that lie.

Each ``check_*`` of ``milestones/05_systems_capstone/test_systems.py`` first passes on an honest
submission built by the reference solution (``test_the_honest_submission_passes_every_check``);
then every control corrupts a copy of it the way a careless or dishonest record would, and the
grader must fail, naming what it measured. A grader that cannot fail grades nothing.

Hidden from the student edition: these tests start from the reference solution.
"""

from __future__ import annotations

from copy import deepcopy
import hashlib
import json
import shutil
import types

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from milestone_controls import graders_of, rejects
from pytest_tinytorch.course.milestone_code import load_milestone

pytestmark = pytest.mark.hidden


@pytest.fixture(scope="module")
def systems():
    return load_milestone("systems", variant="solution")


@pytest.fixture(scope="module")
def graders():
    return graders_of("systems")


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


@pytest.fixture(scope="module")
def generation(graders, honest):
    """The honest record's generation entry, the grader's GPT from its file, and the grader's
    measurements of it (``remeasure_generation``: the last one agrees with the claim)."""
    entry = graders.read_generation(graders.read_record(honest))
    model = graders.load_gpt(honest, entry["model"])
    return entry, model, graders.remeasure_generation(model, entry)


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


def test_the_honest_submission_passes_every_check(systems, graders, honest, digits, measured, generation):
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
    entry, model, measurements = generation
    graders.check_generation_workload(entry, model)
    assert graders.check_kv_cache_memory(entry, model) == 2 * 2 * 4 * 256 * 4 * 4  # layers, heads, context, head_dim, bytes
    graders.check_generation(entry, measurements)


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


# -- the KV cache of milestone 4's GPT ---------------------------------------------------------------
def claiming(entry, ms_per_token) -> dict:
    """A copy of ``entry`` that claims these times per token and everything that follows from
    them (its timing samples and medians, the speed-up): a careful liar, consistent with itself."""
    entry = deepcopy(entry)
    for name, ms in ms_per_token.items():
        seconds = ms * entry["new_tokens"] / 1e3
        entry["timing"]["summaries"][name].update(samples=[seconds], median=seconds)
        entry["ms_per_token"][name] = ms
    entry["speedup"] = ms_per_token["uncached"] / ms_per_token["cached"]
    return entry


def test_a_generation_speedup_claimed_3x_larger_than_measured_fails_with_both_figures(graders, generation):
    entry, _, measurements = generation
    measured = measurements[-1]
    liar = claiming(entry, {"uncached": measured["ms_per_token"]["uncached"],
                            "cached": measured["ms_per_token"]["cached"] / 3})
    rejects(graders.check_generation, liar, [measured],
            match=rf"claims a {liar['speedup']:.2f}x KV-cache speed-up, re-measured {measured['speedup']:.2f}x")
    typed_in = deepcopy(entry)
    typed_in["speedup"] *= 3  # the timing left as measured
    rejects(graders.check_generation, typed_in, [measured], match=r"speed-up, its own timing gives")
    modest = claiming(entry, {"uncached": measured["ms_per_token"]["uncached"],
                              "cached": measured["ms_per_token"]["cached"] * 3})  # a third of the truth
    rejects(graders.check_generation, modest, [measured], match=r"more than 1.5x apart")


def test_a_cache_that_recomputes_everything_fails_the_floor_even_when_claimed_honestly(graders, generation):
    from tinytorch.generation import generate

    def recomputing(model, prompt, new_tokens, **options):
        return generate(model, prompt, new_tokens, **{**options, "use_cache": False})

    entry, model, _ = generation
    [measured] = graders.remeasure_generation(model, entry, generate=recomputing, rounds=1, attempts=1)
    assert measured["speedup"] < 1.5, f"the control's 'cache' should gain nothing, measured {measured['speedup']:.2f}x"
    honest_about_it = claiming(entry, measured["ms_per_token"])
    rejects(graders.check_generation, honest_about_it, [measured],
            match=rf"re-measured KV-cache speed-up {measured['speedup']:.2f}x .*reaches 2x")


def test_a_cache_that_changes_the_tokens_fails(graders, generation):
    from tinytorch.generation import generate

    def wrong_last_token(model, prompt, new_tokens, **options):
        ids = generate(model, prompt, new_tokens, **options)
        if options.get("use_cache"):
            ids = ids.copy()
            ids[-1] = (ids[-1] + 1) % model.vocab_size
        return ids

    entry, model, measurements = generation
    [measured] = graders.remeasure_generation(model, entry, generate=wrong_last_token, rounds=1, attempts=1)
    rejects(graders.check_generation, entry, [measured],
            match=rf"with the KV cache differs from generation without it \(new token {entry['new_tokens'] - 1}: ")
    typed_in = deepcopy(entry)
    typed_in["tokens"][5] = (typed_in["tokens"][5] + 1) % model.vocab_size
    rejects(graders.check_generation, typed_in, measurements[-1:], match=r"the record's tokens are not those .*new token 5")


def test_missing_or_tampered_gpt_weights_fail(graders, copy):
    record = read(copy)
    description = record["generation"]["model"]
    path = copy / description["file"]
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    tampered = dict(arrays)
    tampered["head.weight"] = tampered["head.weight"] * 2  # the record's hash left as it was
    np.savez(path, **tampered)
    rejects(graders.load_gpt, copy, description, match="gpt.npz has sha256 .* it is not the model the record describes")
    short = {name: array for name, array in arrays.items() if name != "ln_final.weight"}
    rewrite_file(copy, description, short)  # hash made consistent: a parameter is missing all the same
    rejects(graders.load_gpt, copy, description, match=r"does not hold the parameters of GPT.*missing \['ln_final.weight'\]")
    rewrite_file(copy, description, arrays)
    wider = dict(description, config={**description["config"], "dim": 64})
    rejects(graders.load_gpt, copy, wider, match=r"arrays of the wrong shape for GPT")
    path.unlink()
    rejects(graders.load_gpt, copy, description, match="the record names gpt.npz, which is not in")
    untimed = deepcopy(record["generation"])
    del untimed["timing"]["summaries"]["cached"]
    rejects(graders.read_generation, dict(record, generation=untimed), match="no samples and median for 'cached'")
    del record["generation"]
    rejects(graders.read_generation, record, match="the record has no 'generation' entry")


def test_kv_cache_bytes_typed_in_or_allocated_off_the_formula_fail(graders, generation, monkeypatch):
    from tinytorch.generation import KVCache

    entry, model, _ = generation
    typed_in = deepcopy(entry)
    typed_in["kv_cache_bytes"]["arrays"] //= 2
    rejects(graders.check_kv_cache_memory, typed_in, model, match="the record claims a KV cache of")
    float64 = KVCache.for_model.__func__

    def in_float64(cls, model, batch):
        cache = float64(cls, model, batch)
        for layer in cache.layers:
            layer.keys, layer.values = layer.keys.astype(np.float64), layer.values.astype(np.float64)
        return cache

    monkeypatch.setattr(KVCache, "for_model", classmethod(in_float64))
    rejects(graders.check_kv_cache_memory, entry, model, match="allocates 131,072 bytes .* gives 65,536")


def test_a_generation_workload_too_short_or_past_the_context_fails(graders, generation):
    entry, model, _ = generation
    short = dict(entry, new_tokens=100)
    rejects(graders.check_generation_workload, short, model, match="at least 200 new tokens")
    long = dict(entry, prompt_ids=entry["prompt_ids"] * 2, prompt_length=2 * entry["prompt_length"])
    rejects(graders.check_generation_workload, long, model, match="exceed the context of 256")
    outside = dict(entry, prompt_ids=[0, 65])
    rejects(graders.check_generation_workload, outside, model, match="expected 0 <= id < 65")
