"""The state file's schema: every field checked, bad files rebuilt with what was kept and
dropped said, and files written with the permissions an ordinary ``open()`` gives."""

import json
import os
import stat

import pytest

from pytest_tinytorch.plugin.state import (
    ProgressState,
    StateError,
    StateStore,
    UnitRecord,
    write_json_atomically,
    write_text_atomically,
)

WHEN = "2026-03-01T12:00:00+00:00"


def valid_document() -> dict:
    state = ProgressState(
        units={"module:tensor": UnitRecord("abc123", {"t.py::test_add": "passed", "t.py::test_mul": "xfailed"},
                                           ["t.py"], {"t.py::test_add": {"rubric": "model"}}, WHEN)},
        milestone_states={"perceptron": "COMPLETE", "mlp": "LOCKED"},
        history={"modules": {"tensor": WHEN, "layers": WHEN}, "groups": {"01_04": WHEN},
                 "milestones": {"perceptron": {"UNLOCKED": WHEN, "COMPLETE": WHEN}}},
        scan_cache={"t.py": [1700000000000000000, 812, ["module:tensor"]]},
    )
    return state.to_json()


def test_a_valid_state_round_trips():
    document = valid_document()
    assert ProgressState.from_json(json.loads(json.dumps(document))).to_json() == document


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["units"]["module:tensor"]["tests"].update({"t.py::test_add": 1}),
     "units['module:tensor'].tests['t.py::test_add'] is 1; expected one of passed, failed, error, "
     "skipped, xfailed, xpassed"),
    (lambda d: d["units"]["module:tensor"]["tests"].update({"t.py::test_add": "passedd"}),
     "units['module:tensor'].tests['t.py::test_add'] is 'passedd'; expected one of passed, failed"),
    (lambda d: d["units"]["module:tensor"].update(fingerprint=7),
     "units['module:tensor'].fingerprint is 7; expected a string"),
    (lambda d: d["units"]["module:tensor"].update(complete_files="t.py"),
     "units['module:tensor'].complete_files is 't.py'; expected a list of paths"),
    (lambda d: d["units"]["module:tensor"].update(updated_at="last week"),
     "units['module:tensor'].updated_at is 'last week'; expected an ISO 8601 timestamp"),
    (lambda d: d["units"]["module:tensor"]["details"]["t.py::test_add"].update(rubric=["model"]),
     "units['module:tensor'].details['t.py::test_add'].rubric is ['model']; expected a string"),
    (lambda d: d["units"]["module:tensor"].update(score=3),
     "units['module:tensor'].score is an unknown field"),
    (lambda d: d["milestone_states"].update(perceptron="Complete"),
     "milestone_states['perceptron'] is 'Complete'; expected one of LOCKED, UNLOCKED, COMPLETE"),
    (lambda d: d["milestone_states"].update(perceptron=True),
     "milestone_states['perceptron'] is True; expected one of LOCKED, UNLOCKED, COMPLETE"),
    (lambda d: d["history"]["modules"].update(tensor="yesterday"),
     "history.modules['tensor'] is 'yesterday'; expected an ISO 8601 timestamp"),
    (lambda d: d["history"]["milestones"]["perceptron"].update(DONE=WHEN),
     "history.milestones['perceptron']['DONE'] is '2026-03-01T12:00:00+00:00'; expected an ISO 8601 "
     "timestamp of UNLOCKED or COMPLETE"),
    (lambda d: d["scan_cache"].update({"t.py": [True, 812, ["module:tensor"]]}),
     "scan_cache['t.py'] is [True, 812, ['module:tensor']]; expected [mtime_ns, size, [unit, ...]]"),
    (lambda d: d.pop("milestone_states"), "milestone_states is missing"),
])
def test_every_field_is_checked_and_the_error_says_where_and_what(change, message):
    document = valid_document()
    change(document)
    with pytest.raises(StateError) as error:
        ProgressState.from_json(document)
    assert str(error.value).startswith("malformed TinyTorch state file: ")
    assert message in str(error.value)


def test_an_invalid_file_is_rebuilt_keeping_its_valid_history(tmp_path):
    document = valid_document()
    document["units"]["module:tensor"]["tests"]["t.py::test_add"] = "passedd"
    document["history"]["modules"]["layers"] = "yesterday"
    document["history"]["milestones"]["mlp"] = "soon"
    path = tmp_path / "state.json"
    path.write_text(json.dumps(document))
    store = StateStore(path)
    state, warning = store.load()
    assert state.units == {} and state.milestone_states == {}
    assert state.history == {"modules": {"tensor": WHEN}, "groups": {"01_04": WHEN},
                             "milestones": {"perceptron": {"UNLOCKED": WHEN, "COMPLETE": WHEN}}}
    assert warning == store.warning == (
        f"TinyTorch state file {path} is unusable (malformed TinyTorch state file: "
        "units['module:tensor'].tests['t.py::test_add'] is 'passedd'; expected one of passed, failed, "
        "error, skipped, xfailed, xpassed; history.modules['layers'] is 'yesterday'; expected an ISO 8601 "
        "timestamp; history.milestones['mlp'] is 'soon'; expected an object of UNLOCKED and COMPLETE "
        "times); it will be rebuilt from this run's results; kept 4 history entries, dropped 2: "
        "history.modules['layers'] is 'yesterday'; expected an ISO 8601 timestamp; "
        "history.milestones['mlp'] is 'soon'; expected an object of UNLOCKED and COMPLETE times"
    )


@pytest.mark.parametrize("content", ["{not json", '{"schema": "someone-else", "version": 1}',
                                     '{"schema": "tinytorch-state", "version": 2, "history": {}}'])
def test_a_corrupt_or_foreign_file_keeps_nothing(tmp_path, content):
    path = tmp_path / "state.json"
    path.write_text(content)
    state, warning = StateStore(path).load()
    assert state.history == {"modules": {}, "groups": {}, "milestones": {}}
    assert warning.endswith("it will be rebuilt from this run's results")


def test_a_good_file_loads_without_warning(tmp_path):
    path = tmp_path / "state.json"
    write_json_atomically(path, valid_document())
    state, warning = StateStore(path).load()
    assert warning is None and state.units["module:tensor"].tests["t.py::test_add"] == "passed"


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_umask_default_mode(tmp_path, umask, expected):
    previous = os.umask(umask)
    try:
        write_text_atomically(tmp_path / "badge.svg", "<svg/>")
        write_json_atomically(tmp_path / "d" / "state.json", valid_document())
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "badge.svg").stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "d" / "state.json").stat().st_mode) == expected
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_rewriting_a_file_keeps_its_own_mode(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("{}")
    path.chmod(0o640)
    previous = os.umask(0o022)
    try:
        write_text_atomically(path, '{"a": 1}')
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == '{"a": 1}'
