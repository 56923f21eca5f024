"""The plugin's plain parts, without pytest runs: fingerprints, the file index, outcomes,
state files, Gradescope and badge builders."""

import json
import os
from types import SimpleNamespace

import pytest

from pytest_tinytorch.plugin.badge import badge_color
from pytest_tinytorch.plugin.curriculum import default_curriculum
from pytest_tinytorch.plugin.fingerprint import Fingerprinter
from pytest_tinytorch.course.gradescope import gradescope_results
from pytest_tinytorch.plugin.membership import TestIndex, marker_calls
from pytest_tinytorch.plugin.outcomes import RunRecorder
from pytest_tinytorch.plugin.state import ProgressState, StateStore, read_progress, state_path


def test_fingerprint_hashes_contents_not_modification_times(tmp_path):
    source = tmp_path / "pkg" / "ops.py"
    source.parent.mkdir()
    source.write_text("def f(x):\n    return x\n")
    before = Fingerprinter(tmp_path, [tmp_path / "pkg"]).sources
    os.utime(source, (1, 1))
    assert Fingerprinter(tmp_path, [tmp_path / "pkg"]).sources == before
    source.write_text("def f(x):\n    return x + 1\n")
    assert Fingerprinter(tmp_path, [tmp_path / "pkg"]).sources != before


def test_fingerprint_ignores_comments_docstrings_and_layout_but_not_code(tmp_path):
    source = tmp_path / "pkg" / "ops.py"
    source.parent.mkdir()
    source.write_text('"""Ops."""\n\ndef f(x):\n    """Identity."""\n    return x\n')
    before = Fingerprinter(tmp_path, [tmp_path / "pkg"]).sources
    source.write_text('"""Ops, reworded."""\n\n\ndef f(x):  # a new comment\n    """Same."""\n    return (x)\n')
    assert Fingerprinter(tmp_path, [tmp_path / "pkg"]).sources == before
    for changed in ("def f(x):\n    return -x\n", "def f(y):\n    return y\n", "def f(x):\n    return 'x'\n",
                    "def f(x):\n    return x\n\nCONSTANT = 1\n", "def f(x) :\n  return x +\n"):
        source.write_text(changed)  # code changes, and a file that no longer parses
        assert Fingerprinter(tmp_path, [tmp_path / "pkg"]).sources != before, changed


def test_unit_fingerprint_includes_its_test_files(tmp_path):
    (tmp_path / "test_a.py").write_text("def test_a(): pass\n")
    fingerprinter = Fingerprinter(tmp_path, [])
    with_file = fingerprinter.of_files(["test_a.py"])
    assert with_file != fingerprinter.of_files([])
    (tmp_path / "test_a.py").write_text("def test_a(): assert 1\n")
    assert Fingerprinter(tmp_path, []).of_files(["test_a.py"]) != with_file


def test_marker_calls_reads_code_and_ignores_strings():
    source = '''
import pytest
pytestmark = pytest.mark.integration("01_04")
TEMPLATE = 'pytest.mark.module("tensor")'

@pytest.mark.autograd_op(op.name)
@milestone("perceptron", rubric="model")
def test_x(): pass

PERCEPTRON = CURRICULUM.milestone("perceptron")  # a curriculum lookup, not a marker
TENSOR = default_curriculum().module("tensor")

@mark.module("layers")
def test_y(): pass
'''
    assert sorted(marker_calls(source), key=str) == [
        ("autograd_op", None), ("integration", "01_04"), ("milestone", "perceptron"), ("module", "layers")]
    assert marker_calls("def broken(:\n") == []


def test_index_finds_unit_files_by_marker_and_by_path(tmp_path):
    def write(relpath, text):
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    write("modules/source/01_tensor/test_tensor_ops.py", "def test_a(): pass\n")
    write("modules/tests/integration/test_modules_01_04.py", "def test_b(): pass\n")
    write("tests/test_grader.py", "import pytest\npytestmark = pytest.mark.integration('05_07')\n")
    write("tests/test_plain.py", "X = 'pytest.mark.integration(\"05_07\")'\n")
    write("milestones/01_perceptron/test_perceptron.py", "def test_c(): pass\n")
    cache = {}
    index = TestIndex(tmp_path, [tmp_path], ["test_*.py"], default_curriculum(), cache)
    assert index.files_of("module:tensor") == ["modules/source/01_tensor/test_tensor_ops.py"]
    assert index.files_of("group:01_04") == ["modules/tests/integration/test_modules_01_04.py"]
    assert index.files_of("group:05_07") == ["tests/test_grader.py"]
    assert index.files_of("milestone:perceptron") == ["milestones/01_perceptron/test_perceptron.py"]
    assert cache["tests/test_grader.py"][2] == ["group:05_07"]
    cache["tests/test_grader.py"][2] = ["group:01_04"]  # a cached answer is reused while unchanged
    again = TestIndex(tmp_path, [tmp_path], ["test_*.py"], default_curriculum(), cache)
    assert "tests/test_grader.py" in again.files_of("group:01_04")


def _report(nodeid, when, outcome, **extra):
    longrepr = SimpleNamespace(reprcrash=SimpleNamespace(message=f"{when} broke")) if outcome == "failed" else None
    return SimpleNamespace(nodeid=nodeid, when=when, outcome=outcome, passed=outcome == "passed",
                           failed=outcome == "failed", skipped=outcome == "skipped",
                           duration=0.5, user_properties=[], longrepr=longrepr, **extra)


def test_recorder_combines_phases_into_one_outcome():
    recorder = RunRecorder()
    for report in [
        _report("a", "setup", "passed"), _report("a", "call", "passed"), _report("a", "teardown", "failed"),
        _report("b", "setup", "failed"), _report("b", "teardown", "passed"),
        _report("c", "setup", "passed"), _report("c", "call", "skipped", wasxfail="known bug"),
        _report("c", "teardown", "passed"),
        _report("d", "setup", "passed"), _report("d", "call", "failed"),
    ]:
        recorder.add_report(report)
    outcomes = {nodeid: (r.outcome, r.finished) for nodeid, r in recorder.results.items()}
    assert outcomes == {"a": ("error", True), "b": ("error", True), "c": ("xfailed", True), "d": ("failed", False)}
    assert recorder.results["a"].message == "teardown broke"
    assert recorder.results["a"].duration == 1.5


def test_state_store_round_trip_is_atomic(tmp_path):
    path = state_path(tmp_path)
    state = ProgressState()
    state.record_first("groups", "01_04", at="2026-01-01T00:00:00+00:00")
    state.record_first("groups", "01_04", at="2027-01-01T00:00:00+00:00")  # first time wins
    StateStore(path).save(state)
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary left
    assert read_progress(tmp_path).history["groups"] == {"01_04": "2026-01-01T00:00:00+00:00"}
    path.write_text(json.dumps({"schema": "tinytorch-state", "version": 99}))
    loaded, warning = StateStore(path).load()
    assert loaded.history == ProgressState().history
    assert "state version 99; expected 1" in warning


def test_gradescope_results_from_a_report_dict():
    report = {
        "milestones": {
            "m": {"state": "UNLOCKED", "rubric": {"model": {"weight": 0.5}, "training": {"weight": 0.5}}},
            "n": {"state": "LOCKED", "rubric": {"model": {"weight": 1.0}}},
        },
        "tests": [
            {"nodeid": "t1", "outcome": "passed", "milestone": "m", "rubric": "model", "hidden": False},
            {"nodeid": "t2", "outcome": "failed", "milestone": "m", "rubric": "model", "hidden": True,
             "message": "wrong"},
            {"nodeid": "t3", "outcome": "passed", "milestone": "m", "rubric": "training", "hidden": False},
            {"nodeid": "t4", "outcome": "passed", "milestone": "n", "rubric": "model", "hidden": False},
            {"nodeid": "t5", "outcome": "passed", "milestone": None, "rubric": None, "hidden": False},
        ],
    }
    results = gradescope_results(report)
    scores = {t["name"]: (t["score"], t["max_score"], t["visibility"]) for t in results["tests"]}
    assert scores == {"t1": (25.0, 25.0, "visible"), "t2": (0.0, 25.0, "hidden"), "t3": (50.0, 50.0, "visible"),
                      "t4": (0.0, 100.0, "visible"), "t5": (0.0, 0.0, "visible")}
    assert results["score"] == 75.0


def test_gradescope_shares_of_a_third_add_up_to_the_whole_milestone():
    """Three tests share a category of 25 points: each is worth 25 / 3, and a solved milestone
    scores exactly 100, not 99.9999 or 100.0001 from shares rounded one by one."""
    rubric = {"model": {"weight": 0.25}, "training": {"weight": 0.75}}
    tests = [{"nodeid": f"t{i}", "outcome": "passed", "milestone": "m", "rubric": "model", "hidden": False}
             for i in range(3)]
    tests += [{"nodeid": f"u{i}", "outcome": "passed", "milestone": "m", "rubric": "training", "hidden": False}
              for i in range(3)]
    results = gradescope_results({"milestones": {"m": {"state": "COMPLETE", "rubric": rubric}}, "tests": tests})
    assert results["score"] == 100.0
    assert [t["max_score"] for t in results["tests"]][:1] == [pytest.approx(25 / 3, abs=1e-12)]


@pytest.mark.parametrize(("done", "total", "color"), [
    (0, 5, "#e05d44"), (1, 5, "#fe7d37"), (2, 5, "#dfb317"), (4, 5, "#a4a61d"), (5, 5, "#4c1")])
def test_badge_colour_follows_progress(done, total, color):
    assert badge_color(done, total) == color
