"""Outputs of the plugin on a synthetic course: JSON report, badge, Gradescope, CI summary,
autograd grade, curriculum hooks, progress history."""

import json
import re

import pytest

from pytest_tinytorch.plugin.state import read_progress

pytest_plugins = ["pytester"]


def test_report_json_holds_states_scores_tests_and_versions(course):
    course.break_neg()
    _result, report = course.run_with_report()
    assert report["schema"] == "tinytorch-report" and report["version"] == 1
    assert set(report["versions"]) == {"python", "numpy", "pytest", "tinytorch", "plugin"}
    assert len(report["fingerprint"]) == 16 and report["generated_at"].endswith("+00:00")
    first = report["milestones"]["first"]
    assert first["state"] == "COMPLETE"
    assert first["rubric"]["model"] == {"weight": 0.6, "passed": 2, "total": 2, "score": 0.6}
    assert first["rubric"]["training"] == {"weight": 0.4, "passed": 1, "total": 1, "score": 0.4}
    assert first["score"] == 1.0
    assert report["milestones"]["second"]["state"] == "LOCKED"
    assert report["milestones"]["second"]["score"] == 0
    assert report["groups"]["03_03"] == {
        "modules": ["gamma"], "test_file": "modules/tests/integration/test_modules_03_03.py",
        "state": "failed", "passed": 0, "total": 1,
        "failing": ["modules/tests/integration/test_modules_03_03.py::test_neg"],
        "test_files": ["modules/tests/integration/test_modules_03_03.py"],
        "gate": {"state": "failed", "units": {"group:03_03": "failed"}},  # gamma has no unit tests
    }
    assert report["milestones"]["second"]["locked_by"] == [{
        "unit": "group:03_03", "state": "failed",
        "failing": ["modules/tests/integration/test_modules_03_03.py::test_neg"]}]
    assert report["milestones"]["first"]["locked_by"] == []
    assert report["autograd"] is None
    tests = {test["nodeid"]: test for test in report["tests"]}
    assert len(tests) == 10
    neg = tests["modules/tests/integration/test_modules_03_03.py::test_neg"]
    assert neg["outcome"] == "failed" and neg["group"] == "03_03" and neg["module"] is None
    assert neg["message"] == "assert 4 == -4\n +  where 4 = neg(4)" or neg["message"].startswith("assert 4 == -4")
    second = tests["milestones/02_second/test_second.py::test_second_model"]
    assert second["outcome"] == "skipped" and second["milestone"] == "second" and second["rubric"] == "model"
    assert "is LOCKED" in second["message"]
    beta = tests["modules/source/02_beta/test_beta_unit.py::test_mul_small"]
    assert beta["module"] == "beta" and beta["outcome"] == "passed" and beta["duration"] >= 0
    assert report["history"]["groups"].keys() == {"01_02"}
    assert report["next"] == "pytest modules/tests/integration/test_modules_03_03.py"


def test_badge_svg_and_endpoint_json(course):
    course.break_neg()
    course.run("--tinytorch-badge=out/badge.svg")
    svg = (course.path / "out/badge.svg").read_text()
    assert svg.startswith("<svg") and ">milestones</text>" in svg and ">1/2</text>" in svg
    assert 'fill="#dfb317"' in svg  # half way: yellow
    endpoint = json.loads((course.path / "out/badge.json").read_text())
    assert endpoint == {"schemaVersion": 1, "label": "milestones", "message": "1/2", "color": "yellow"}
    course.edit_implementation("return a\n", "return -a\n")
    course.run("--tinytorch-badge=out/badge.svg")
    assert json.loads((course.path / "out/badge.json").read_text())["color"] == "brightgreen"


def test_gradescope_results_use_rubric_weights_and_hidden_visibility(course):
    course.write("milestones/01_first/test_first_hidden.py", '''
        import pytest
        from pytest_tinytorch import milestone

        @pytest.mark.hidden
        @milestone("first", rubric="training")
        def test_training_hidden_fails():
            assert 1 == 2
    ''')
    course.run("--tinytorch-gradescope=results.json")
    results = json.loads((course.path / "results.json").read_text())
    tests = {test["name"].split("::")[-1]: test for test in results["tests"]}
    assert tests["test_model_adds"]["max_score"] == 30.0 and tests["test_model_adds"]["score"] == 30.0
    assert tests["test_training"]["max_score"] == 20.0 and tests["test_training"]["score"] == 20.0
    hidden = tests["test_training_hidden_fails"]
    assert hidden == {"name": hidden["name"], "score": 0.0, "max_score": 20.0, "status": "failed",
                      "visibility": "hidden", "output": "assert 1 == 2"}
    assert tests["test_add_small"]["max_score"] == 0.0 and tests["test_add_small"]["visibility"] == "visible"
    assert results["score"] == 30 + 30 + 20 + 100  # second: one model test worth all 100
    assert "first: UNLOCKED" in results["output"]


def test_github_step_summary_gets_a_markdown_table(course, monkeypatch):
    summary = course.path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    course.run()
    text = summary.read_text()
    assert text.startswith("# earlier step\n## TinyTorch progress")
    assert "| Milestone 1: First | COMPLETE | 01_02 | 100% |" in text
    assert "| 03_03 (gamma..gamma) | passed |" in text


def test_autograd_grade_keeps_the_falsifying_example(course):
    course.write("modules/tests/integration/test_autograd_synthetic.py", '''
        import pytest
        from hypothesis import given, settings, strategies as st
        from mypkg import add, neg

        pytestmark = pytest.mark.integration("01_02")

        @pytest.mark.autograd_op("add")
        @settings(database=None, derandomize=True, max_examples=50)
        @given(st.integers(-100, 100))
        def test_add_zero(x):
            assert add(x, 0) == x

        @pytest.mark.parametrize("op", [pytest.param("neg", marks=pytest.mark.autograd_op("neg"))])
        @settings(database=None, derandomize=True, max_examples=50)
        @given(st.integers(-100, 100))
        def test_neg_twice(op, x):
            assert neg(neg(x)) == x and neg(x) == -x
    ''')
    course.break_neg()
    result, report = course.run_with_report("modules/tests/integration")
    grade = report["autograd"]
    assert grade["verified"] == 1 and grade["total"] == 2
    assert grade["ops"]["add"] == {"outcome": "passed", "example": None}
    assert grade["ops"]["neg"]["outcome"] == "failed"
    assert re.match(r"(Falsifying example|Failing test case): test_neg_twice\(", grade["ops"]["neg"]["example"])
    assert "x=1" in grade["ops"]["neg"]["example"]
    result.stdout.fnmatch_lines(["autograd: 1/2 ops verified"])
    status = course.status()
    status.stdout.fnmatch_lines(["autograd: 1/2 ops verified (failing: neg)", "  neg: *: test_neg_twice(*"])


def test_conftest_hooks_reweight_a_rubric_and_hear_milestone_changes(course):
    course.write("conftest.py", (course.path / "conftest.py").read_text() + '''

    curriculum.set_rubric("first", {"model": 0.25, "training": 0.75})


def pytest_tinytorch_milestone_changed(milestone, old_state, new_state, config):
    with open("changes.log", "a") as log:
        log.write(f"{milestone.name} {old_state} -> {new_state}\\n")
''')
    _result, report = course.run_with_report("--milestone=first")
    assert report["milestones"]["first"]["rubric"]["training"]["weight"] == 0.75
    assert (course.path / "changes.log").read_text() == "first LOCKED -> COMPLETE\n"
    course.break_add()
    course.run()
    assert (course.path / "changes.log").read_text().splitlines()[1:] == ["first COMPLETE -> LOCKED"]


def test_history_records_when_each_unit_first_passed(course):
    course.break_neg()
    course.run()
    history = read_progress(course.path).history
    assert set(history["modules"]) == {"alpha", "beta"}
    assert set(history["groups"]) == {"01_02"}
    assert set(history["milestones"]["first"]) == {"UNLOCKED", "COMPLETE"}
    first_pass = history["groups"]["01_02"]
    course.edit_implementation("return a\n", "return -a\n")
    course.run()
    later = read_progress(course.path).history
    assert later["groups"]["01_02"] == first_pass
    assert set(later["groups"]) == {"01_02", "03_03"}
    assert read_progress(course.path / "nowhere").history == {"modules": {}, "groups": {}, "milestones": {}}


def test_pytest_json_report_gets_a_tinytorch_section(course):
    pytest.importorskip("pytest_jsonreport")
    course.run("--json-report", "--json-report-file=full.json")
    section = json.loads((course.path / "full.json").read_text())["tinytorch"]
    assert section["schema"] == "tinytorch-report"
    assert section["milestones"]["first"]["state"] == "COMPLETE"
    assert len(section["tests"]) == 10
