"""Quiet re-runs: bring stale or unknown units up to date without guessing.

``--tinytorch-status`` and a milestone test run from an IDE need to know whether groups pass
against the current code. When the state cannot say, the groups are run in a child pytest:
no cache provider, the user's ``addopts`` cleared, the parent's state passed in and read
back through ``--tinytorch-state-file``, so that the parent stays the only process that
writes pytest's cache. The child uses one xdist worker per CPU when pytest-xdist is
installed (the ini option ``tinytorch_rerun_workers`` overrides that).

A re-run can take a while, so it is never silent: the child's controller appends one line per
finished test to a progress file (``TINYTORCH_PROGRESS_FILE``), and the parent shows which
units run, tests done out of the total and failures so far. Ctrl-C stops the child's whole
process group and ends with one line: nothing is recorded from an interrupted re-run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pytest_tinytorch.plugin.state import ProgressState, StateStore

QUIET_RUN_VARIABLE = "TINYTORCH_QUIET_RUN"
"""Set in the child's environment, so that a quiet run never starts another one."""
PROGRESS_FILE_VARIABLE = "TINYTORCH_PROGRESS_FILE"
"""Where the child's controller appends ``total``, then one ``passed``/``failed``/... line per test."""
PROGRESS_INTERVAL = 0.25
"""Seconds between two looks at the progress file."""


class QuietRunInterrupted(Exception):
    """Ctrl-C during a quiet re-run: the child was stopped and nothing was recorded."""


@dataclass
class Progress:
    """What the child has reported so far."""

    total: int | None = None
    done: int = 0
    failed: int = 0

    def read(self, path: Path) -> None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        self.total, self.done, self.failed = None, 0, 0
        for line in lines:
            kind, _, value = line.partition(" ")
            if kind == "total" and value.isdigit():
                self.total = int(value)
            elif kind in ("passed", "skipped"):
                self.done += 1
            elif kind in ("failed", "error"):
                self.done += 1
                self.failed += 1

    def line(self, what: str) -> str:
        total = f"/{self.total}" if self.total is not None else ""
        failures = f", {self.failed} failing so far" if self.failed else ""
        return f"tinytorch: re-running {what}: {self.done}{total} tests done{failures}"


@dataclass
class QuietRun:
    state: ProgressState
    returncode: int
    output: str
    progress: Progress
    seconds: float

    def summary(self, what: str) -> str:
        """One closing line, e.g. ``re-ran integration group 01_04: 120 tests in 4.2 s, 3 failing``."""
        failures = f", {self.progress.failed} failing" if self.progress.failed else ""
        return f"tinytorch: re-ran {what}: {self.progress.done} tests in {self.seconds:.1f} s{failures}"


def report_progress(report) -> None:
    """Child controller: append this test's outcome to the progress file (if one is set):
    the call phase's outcome, or ``error``/``skipped`` when setup stopped the test."""
    path = os.environ.get(PROGRESS_FILE_VARIABLE)
    if not path:
        return
    if report.when == "call":
        outcome = report.outcome
    elif report.when == "setup" and report.outcome != "passed":
        outcome = "error" if report.outcome == "failed" else "skipped"
    else:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{outcome} {report.nodeid}\n")


class ProgressPrinter:
    """Shows progress lines: rewritten in place on a terminal, else one line per quarter."""

    def __init__(self, write: Callable[[str], None], is_terminal: bool, rewrite: Callable[[str], None] | None = None):
        self.write, self.is_terminal, self.rewrite = write, is_terminal, rewrite
        self.quarters_shown = -1
        self.shown_any = False

    def __call__(self, line: str, progress: "Progress") -> None:
        if self.is_terminal and self.rewrite is not None:
            self.rewrite(line)
            self.shown_any = True
            return
        quarter = 4 * progress.done // max(progress.total or 1, 1)
        if quarter > self.quarters_shown:
            self.quarters_shown = quarter
            self.write(line)

    def finish(self) -> None:
        if self.is_terminal and self.shown_any and self.rewrite is not None:
            self.rewrite("")


def report_total(count: int) -> None:
    """Child controller: the number of tests the re-run will run."""
    path = os.environ.get(PROGRESS_FILE_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"total {count}\n")




PARALLEL_WORTH_IT = 200
"""Passing tests a re-run is expected to run before xdist workers pay for their start-up (each
collects every test again). A fresh edition fails fast on its TODOs and runs about a hundred
tests: serially its status took 11.0 s here, with two workers 13.7 s."""


def worker_count(setting: str, expected_passing: int | None = None) -> int:
    """Workers for a quiet run: ``auto`` is one per CPU when pytest-xdist is installed, none
    inside an xdist worker (whose siblings already keep the CPUs busy), and none when the
    units' last records (``expected_passing``, any code version) promise too little work."""
    if setting.strip().lower() != "auto":
        return int(setting)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return 0
    if expected_passing is not None and expected_passing < PARALLEL_WORTH_IT:
        return 0
    try:
        import xdist  # noqa: F401
    except ImportError:
        return 0
    return os.cpu_count() or 1


def run_quietly(rootdir: Path, inifile: Path | None, files: list[str], units: list[str],
                state: ProgressState, workers: int = 0,
                show: Callable[[str, "Progress"], None] | None = None, what: str = "") -> QuietRun:
    """Run the tests of ``units`` found in ``files`` in a child pytest; return its state.

    ``show(line, progress)`` receives a progress line now and then; Ctrl-C kills
    the child's process group and raises ``QuietRunInterrupted``. The child reports
    failures with ``--tb=line``: only their messages are recorded, and pytest's long
    tracebacks (the source of every frame, parsed to find its statement) cost a fresh
    edition's quiet run about a third of its time.
    """
    with tempfile.TemporaryDirectory(prefix="tinytorch-") as directory:
        state_file = Path(directory, "state.json")
        progress_file = Path(directory, "progress.txt")
        store = StateStore(state_file)
        store.save(state)
        command = [
            sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider",
            "-o", "addopts=", "--tb=line", "--rootdir", str(rootdir),
            "--tinytorch-state-file", str(state_file), "--tinytorch-only", ",".join(units),
        ]
        if workers > 1:
            command += ["-n", str(workers)]
        if inifile is not None:
            command += ["-c", str(inifile)]
        command += [str(Path(rootdir, f)) for f in files]
        environment = dict(os.environ, **{QUIET_RUN_VARIABLE: "1", PROGRESS_FILE_VARIABLE: str(progress_file)})
        environment.pop("PYTEST_ADDOPTS", None)
        environment.pop("GITHUB_STEP_SUMMARY", None)
        output_file = Path(directory, "output.txt")
        with open(output_file, "w+", encoding="utf-8") as output:
            child = subprocess.Popen(command, cwd=rootdir, env=environment, stdout=output,
                                     stderr=subprocess.STDOUT, start_new_session=True)
            started = time.perf_counter()
            try:
                returncode = _wait_showing_progress(child, progress_file, show, what)
            except KeyboardInterrupt:
                _stop(child)
                raise QuietRunInterrupted(
                    f"tinytorch: re-run of {what or 'the stale units'} interrupted (Ctrl-C); "
                    "nothing was recorded") from None
            output.seek(0)
            text = output.read()
        seconds = time.perf_counter() - started
        progress = Progress()
        progress.read(progress_file)
        new_state, _warning = store.load()
        return QuietRun(new_state, returncode, text, progress, seconds)


def _wait_showing_progress(child: subprocess.Popen, progress_file: Path,
                           show: Callable[[str, Progress], None] | None, what: str) -> int:
    """Wait for the child, passing a progress line to ``show`` whenever the count moved."""
    progress, last_shown = Progress(), None
    while True:
        try:
            return child.wait(timeout=PROGRESS_INTERVAL)
        except subprocess.TimeoutExpired:
            pass
        if show is None:
            continue
        progress.read(progress_file)
        line = progress.line(what)
        if line != last_shown and progress.total is not None:
            show(line, progress)
            last_shown = line


def _stop(child: subprocess.Popen) -> None:
    """Stop the child's whole process group (xdist workers included), then reap it."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(child.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            child.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


def in_quiet_run() -> bool:
    return os.environ.get(QUIET_RUN_VARIABLE) == "1"
