"""The plugin under hostile conditions: wrong names, broken state files, no cache, xdist."""

import glob
import json
import os
import re
import stat

import pytest

pytest_plugins = ["pytester"]


@pytest.mark.parametrize(("marker", "expected"), [
    ('pytest.mark.module("alpah")',
     "unknown module 'alpah'; expected one of: 01_alpha, 02_beta, 03_gamma"),
    ('pytest.mark.integration("01_03")',
     "unknown integration group '01_03'; expected one of: 01_02, 03_03"),
    ('pytest.mark.milestone("frist", rubric="model")',
     "unknown milestone 'frist'; expected one of: first, second"),
    ('pytest.mark.milestone("first", rubric="style")',
     "unknown rubric category 'style' for milestone first; expected one of: model, training"),
])
def test_unknown_names_in_markers_are_collection_errors(course, marker, expected):
    course.write("modules/tests/test_misnamed.py", f'''
        import pytest

        @{marker}
        def test_something():
            pass
    ''')
    result = course.run("modules/tests/test_misnamed.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([
        "*ERROR collecting modules/tests/test_misnamed.py*",
        "TinyTorch marker error:",
        f"modules/tests/test_misnamed.py::test_something: @*: {expected}",
    ])


def test_a_collection_error_in_a_group_file_fails_the_group(course):
    course.write("modules/tests/integration/test_modules_03_03.py", "from mypkg import missing_op\n")
    _result, report = course.run_with_report("--continue-on-collection-errors")
    assert report["groups"]["03_03"]["state"] == "failed"
    assert report["groups"]["03_03"]["failing"] == ["modules/tests/integration/test_modules_03_03.py"]
    assert report["milestones"]["second"]["state"] == "LOCKED"


@pytest.mark.parametrize("content", ["{not json", '{"schema": "someone-else", "version": 3}',
                                     '{"schema": "tinytorch-state", "version": 1, "units": []}'])
def test_corrupt_or_foreign_state_file_warns_and_is_rebuilt(course, content):
    course.state_file.parent.mkdir(parents=True)
    course.state_file.write_text(content)
    result = course.run()
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["*TinyTorchWarning: TinyTorch state file * is unusable (*); "
                                 "it will be rebuilt from this run's results*"])
    rebuilt = json.loads(course.state_file.read_text())
    assert rebuilt["schema"] == "tinytorch-state"
    assert rebuilt["milestone_states"] == {"first": "COMPLETE", "second": "COMPLETE"}


def corrupt_outcomes(course, outcome) -> dict:
    """Replace every recorded failure of the state file by ``outcome``; return the old state."""
    state = json.loads(course.state_file.read_text())
    corrupted = json.loads(json.dumps(state))
    for record in corrupted["units"].values():
        record["tests"] = {nodeid: outcome if value == "failed" else value for nodeid, value in record["tests"].items()}
    corrupted["milestone_states"]["second"] = "COMPLETE"
    corrupted["history"]["groups"]["03_03"] = "passed yesterday"
    course.state_file.write_text(json.dumps(corrupted))
    return state


@pytest.mark.parametrize("outcome", ["passedd"])  # 1, True and the other fields: tests/test_state_schema.py
def test_a_state_with_wrong_outcomes_is_rebuilt_with_a_warning_even_in_status_mode(course, outcome):
    """An outcome of 1 or "passedd" once counted as passed and showed a milestone COMPLETE."""
    course.break_neg()
    course.run()
    old = corrupt_outcomes(course, outcome)
    status = course.status()
    bad_history = "history.groups['03_03'] is 'passed yesterday'; expected an ISO 8601 timestamp"
    status.stdout.fnmatch_lines([
        glob.escape(
            f"TinyTorchWarning: TinyTorch state file {course.state_file} is unusable (malformed TinyTorch state "
            f"file: units['group:03_03'].tests['modules/tests/integration/test_modules_03_03.py::test_neg'] is "
            f"{outcome!r}; expected one of passed, failed, error, skipped, xfailed, xpassed; {bad_history}); "
            f"it will be rebuilt from this run's results; kept 5 history entries, dropped 1: {bad_history}"),
        "  Milestone 2: Second * LOCKED*",
    ])
    rebuilt = json.loads(course.state_file.read_text())
    assert rebuilt["milestone_states"] == {"first": "UNLOCKED"}  # its validation was not re-run yet
    assert rebuilt["history"] == old["history"]  # the entries that were valid kept their first times
    assert course.status().stdout.str().count("TinyTorchWarning") == 0  # rebuilt once, clean after


@pytest.mark.parametrize("spelling", ["1", "01_first", "First"])
def test_milestone_option_takes_any_spelling_of_the_milestone(course, spelling):
    _result, canonical = course.run_with_report("--milestone=first", "-o", "cache_dir=.cache_a", name="a.json")
    result, spelled = course.run_with_report(f"--milestone={spelling}", "-o", "cache_dir=.cache_b", name="b.json")
    result.stdout.fnmatch_lines(["Milestone 1: First scorecard (COMPLETE)", "  Total                 100.0/100"])
    assert course.states(spelled) == course.states(canonical)
    assert spelled["milestones"]["first"]["rubric"] == canonical["milestones"]["first"]["rubric"]
    assert sorted(t["nodeid"] for t in spelled["tests"]) == sorted(t["nodeid"] for t in canonical["tests"])


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_state_report_and_badge_get_the_umask_default_mode(course, umask, mode):
    """They were 0600 whatever the umask (mkstemp's mode), unreadable by a web server or a TA."""
    previous = os.umask(umask)
    try:
        course.run("--tinytorch-report=report.json", "--tinytorch-badge=badge.svg")
    finally:
        os.umask(previous)
    written = [course.state_file, course.path / "report.json", course.path / "badge.svg"]
    assert [oct(stat.S_IMODE(path.stat().st_mode)) for path in written] == [oct(mode)] * 3


def test_without_the_cache_provider_the_run_is_still_correct(course):
    course.break_neg()
    for _ in range(2):
        result, report = course.run_with_report("-p", "no:cacheprovider")
        assert course.states(report)["milestones"] == {"first": "COMPLETE", "second": "LOCKED"}
        result.stdout.fnmatch_lines(["Milestone 1: First COMPLETE"])  # nothing remembered
    assert not (course.path / ".pytest_cache").exists()
    status = course.status("-p", "no:cacheprovider")
    status.stdout.fnmatch_lines(["  Milestone 1: First * UNLOCKED*", "  Milestone 2: Second * LOCKED*"])


def test_xdist_gives_the_same_states_and_autograd_examples_as_serial(course):
    pytest.importorskip("xdist")
    course.write("modules/tests/integration/test_autograd_synthetic.py", '''
        import pytest
        from hypothesis import given, settings, strategies as st
        from mypkg import neg

        pytestmark = pytest.mark.integration("03_03")

        @pytest.mark.autograd_op("neg")
        @settings(database=None, derandomize=True, max_examples=50)
        @given(st.integers(-100, 100))
        def test_neg_twice(x):
            assert neg(x) == -x
    ''')
    course.break_neg()
    _serial, serial = course.run_with_report("-o", "cache_dir=.cache_serial", name="serial.json")
    parallel = course.pytester.runpytest_subprocess(
        "-n", "2", "-o", "cache_dir=.cache_xdist", "--tinytorch-report=xdist.json")
    xdist = json.loads((course.path / "xdist.json").read_text())
    parallel.stdout.fnmatch_lines(["*2 workers*", "Milestone 1: First COMPLETE"])
    assert course.states(xdist) == course.states(serial)
    assert course.states(serial)["groups"] == {"01_02": "passed", "03_03": "failed"}
    assert xdist["autograd"] == serial["autograd"]
    assert re.match(r"(Falsifying example|Failing test case): test_neg_twice\(", xdist["autograd"]["ops"]["neg"]["example"])
    assert sorted(t["nodeid"] for t in xdist["tests"]) == sorted(t["nodeid"] for t in serial["tests"])
    states = [json.loads((course.path / f"{d}/d/tinytorch/state.json").read_text())
              for d in (".cache_serial", ".cache_xdist")]
    assert states[0]["units"].keys() == states[1]["units"].keys()
    for key in states[0]["units"]:
        assert states[0]["units"][key]["tests"] == states[1]["units"][key]["tests"], key
