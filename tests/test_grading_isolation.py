"""The grader's process isolation: timeouts kill the whole group, limits hold, crashes are seen."""

import os
import signal
import sys
import time
from pathlib import Path

from pytest_tinytorch.course.grading import Limits, grading_environment, read_outcomes, run_isolated


def run(tmp_path: Path, code: str, limits: Limits):
    environment = grading_environment(tmp_path, tmp_path, tmp_path / "outcomes.jsonl")
    log = tmp_path / "log.txt"
    result = run_isolated([sys.executable, "-c", code], tmp_path, environment, limits, log)
    return result, log.read_text()


def process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" in status.read_text()  # a zombie is dead too


def test_every_submission_is_graded_with_the_same_derandomized_examples(tmp_path):
    code = (
        "import conftest\n"
        "from hypothesis import settings\n"
        "print(settings.default.derandomize, settings.default.database)\n"
    )
    (tmp_path / "conftest.py").write_text((Path(__file__).parents[1] / "conftest.py").read_text())
    (exit_code, timed_out, _), log = run(tmp_path, code, Limits(timeout_s=60, memory_mb=None))
    assert (exit_code, timed_out) == (0, False), log
    assert "True None" in log


def test_a_hanging_run_is_stopped_with_its_children(tmp_path):
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "while True: pass\n"
    )
    started = time.monotonic()
    (exit_code, timed_out, seconds), log = run(tmp_path, code, Limits(timeout_s=3, memory_mb=None))
    assert timed_out and exit_code is None
    assert 3 <= seconds < 20 and time.monotonic() - started < 20
    assert "started" in log
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while not process_is_gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_is_gone(child), "the grandchild survived the timeout"


def test_the_memory_limit_turns_a_huge_allocation_into_memory_error(tmp_path):
    code = "data = bytearray(768 * 1024 ** 2)\nprint('allocated', len(data))\n"
    (exit_code, timed_out, _), log = run(tmp_path, code, Limits(timeout_s=60, memory_mb=256))
    assert not timed_out and exit_code == 1
    assert "MemoryError" in log and "allocated" not in log
    # Negative control: without the limit the same allocation succeeds.
    (exit_code, _, _), log = run(tmp_path, code, Limits(timeout_s=60, memory_mb=None))
    assert exit_code == 0 and "allocated 805306368" in log


def test_a_crash_is_reported_as_the_signal(tmp_path):
    code = "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    (exit_code, timed_out, _), _ = run(tmp_path, code, Limits(timeout_s=60))
    assert not timed_out and exit_code == -signal.SIGSEGV


def test_the_environment_is_clean_and_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "--collect-only")
    monkeypatch.setenv("SECRET_TOKEN", "instructor-only")
    code = (
        "import os, urllib.request\n"
        "print('addopts', os.environ.get('PYTEST_ADDOPTS'), 'secret', os.environ.get('SECRET_TOKEN'))\n"
        "print('path0', os.environ['PYTHONPATH'])\n"
        "try:\n"
        "    urllib.request.urlopen('http://example.com/', timeout=5)\n"
        "    print('network: reachable')\n"
        "except OSError as error:\n"
        "    print('network: refused')\n"
    )
    (exit_code, _, seconds), log = run(tmp_path, code, Limits(timeout_s=60))
    assert exit_code == 0
    assert "addopts None secret None" in log
    assert f"path0 {tmp_path / 'src'}" in log
    assert "network: refused" in log and seconds < 10


def test_outcome_log_keeps_the_worst_outcome_per_test(tmp_path):
    log = tmp_path / "outcomes.jsonl"
    log.write_text(
        '{"nodeid": "t.py::a", "when": "call", "outcome": "passed"}\n'
        '{"nodeid": "t.py::b", "when": "call", "outcome": "failed"}\n'
        '{"nodeid": "t.py::a", "when": "teardown", "outcome": "error"}\n'
        'not json: a run killed mid-line\n'
        '{"nodeid": "t.py::c", "when": "setup", "outcome": "skipped"}\n'
        '{"nodeid": "t.py::d", "when": "start", "outcome": "started"}\n'
    )
    outcomes, unfinished = read_outcomes(log)
    assert outcomes == {"t.py::a": "error", "t.py::b": "failed", "t.py::c": "skipped"}
    assert unfinished == "t.py::d"  # started, never reported: where a run hung or crashed
