"""Quiet re-runs are never silent, never run while collecting, and stop cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pytest_tinytorch.plugin.rerun import Progress, ProgressPrinter

pytest_plugins = ["pytester"]

SLOW_TEST = '''
    import time

    import pytest

    pytestmark = pytest.mark.integration("03_03")

    def test_slow():
        time.sleep({seconds})
'''


def test_progress_counts_tests_failures_and_the_total(tmp_path):
    path = tmp_path / "progress.txt"
    path.write_text("total 4\npassed a::t1\nfailed a::t2\nskipped a::t3\n")
    progress = Progress()
    progress.read(path)
    assert (progress.total, progress.done, progress.failed) == (4, 3, 1)
    assert progress.line("integration group 01_04") == (
        "tinytorch: re-running integration group 01_04: 3/4 tests done, 1 failing so far")
    progress.read(tmp_path / "missing.txt")  # nothing written yet: nothing changes
    assert progress.done == 3


def test_progress_without_a_terminal_prints_one_line_per_quarter():
    lines: list[str] = []
    printer = ProgressPrinter(lines.append, is_terminal=False)
    for done in range(0, 9):
        printer(f"{done}/8", Progress(total=8, done=done))
    assert lines == ["0/8", "2/8", "4/8", "6/8", "8/8"]


def test_progress_on_a_terminal_rewrites_one_line_and_clears_it():
    rewritten: list[str] = []
    printer = ProgressPrinter(print, is_terminal=True, rewrite=rewritten.append)
    printer("1/2", Progress(total=2, done=1))
    printer("2/2", Progress(total=2, done=2))
    printer.finish()
    assert rewritten == ["1/2", "2/2", ""]


def test_status_shows_live_progress_and_a_closing_line(course):
    course.write("modules/tests/integration/test_modules_03_03_slow.py", SLOW_TEST.format(seconds=1.5))
    status = course.status()
    status.stdout.fnmatch_lines([
        "re-running against the current code: *",
        "tinytorch: re-running *: */7 tests done*",
        "tinytorch: re-ran *: 7 tests in * s",
    ])


def test_collect_only_never_re_runs_anything(course):
    course.run()
    course.edit_implementation("return -a", "return 0 - a")
    result = course.run("--collect-only", "milestones")
    assert "against the current code" not in result.stdout.str()
    assert result.ret == 0


def test_ctrl_c_during_a_re_run_stops_cleanly_with_one_line(course):
    course.write("modules/tests/integration/test_modules_03_03_slow.py", SLOW_TEST.format(seconds=60))
    # Ctrl-C as at a terminal, even when this suite runs with SIGINT ignored (a job started in
    # the background by a shell without job control inherits SIG_IGN, and Python keeps it)
    child = subprocess.Popen([sys.executable, "-m", "pytest", "--tinytorch-status", "-p", "no:xdist"],
                             cwd=course.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"},
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    seen = ""
    while "re-running against the current code" not in seen and time.monotonic() < deadline:
        seen += child.stdout.readline()
    time.sleep(3)  # the slow test is running in the re-run's child now
    child.send_signal(signal.SIGINT)
    output, _ = child.communicate(timeout=30)
    output = seen + output
    assert child.returncode == 2
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert output.strip().splitlines()[-1] == (
        "tinytorch: re-run of unit tests of module alpha, unit tests of module beta, integration group "
        "01_02, integration group 03_03 interrupted (Ctrl-C); nothing was recorded")
    leftover = subprocess.run(["pgrep", "-f", str(Path(course.path, "modules"))], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""  # the re-run's child and its workers are gone


def test_status_outside_a_course_says_so_and_leaves_nothing_behind(pytester):
    pytester.makepyfile(test_unrelated="def test_something():\n    assert True\n")
    result = pytester.runpytest("--tinytorch-status")
    assert result.ret == 4
    result.stdout.fnmatch_lines([f"pytest --tinytorch-status: {pytester.path} is not a TinyTorch course: *"])
    assert "LOCKED" not in result.stdout.str()
    assert not (pytester.path / ".pytest_cache").exists()


def test_a_keyword_run_re_runs_gates_only_when_it_selects_a_milestone_test(course):
    course.run()
    course.edit_implementation("return -a", "return 0 - a")
    unit_only = course.run("-k", "mul_small")
    unit_only.assert_outcomes(passed=1)
    assert "against the current code first" not in unit_only.stdout.str()
    milestone_test = course.run("-k", "test_second_model")
    milestone_test.assert_outcomes(passed=1)
    milestone_test.stdout.fnmatch_lines([
        "tinytorch: running unit tests of module alpha, integration group 01_02, integration group 03_03 "
        "against the current code first, to decide the milestone gates",  # beta's ran in the -k run
    ])


def test_re_runs_use_workers_only_when_the_last_records_promise_enough_work(monkeypatch):
    from pytest_tinytorch.plugin.rerun import PARALLEL_WORTH_IT, worker_count

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert worker_count("auto", expected_passing=PARALLEL_WORTH_IT) == 2
    assert worker_count("auto", expected_passing=PARALLEL_WORTH_IT - 1) == 0  # a fresh edition fails fast
    assert worker_count("auto", expected_passing=None) == 2
    assert worker_count("3", expected_passing=0) == 3  # an explicit setting wins
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    assert worker_count("auto", expected_passing=10_000) == 0
