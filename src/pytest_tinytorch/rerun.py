"""Quiet re-runs: bring stale or unknown units up to date without guessing.

``--tinytorch-status`` and a milestone test run from an IDE need to know whether groups pass
against the current code. When the state cannot say, the groups are run in a child pytest:
no cache provider, the user's ``addopts`` cleared, the parent's state passed in and read
back through ``--tinytorch-state-file``, so that the parent stays the only process that
writes pytest's cache. The child uses one xdist worker per CPU when pytest-xdist is
installed (the ini option ``tinytorch_rerun_workers`` overrides that).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pytest_tinytorch.state import ProgressState, StateStore

QUIET_RUN_VARIABLE = "TINYTORCH_QUIET_RUN"
"""Set in the child's environment, so that a quiet run never starts another one."""


@dataclass
class QuietRun:
    state: ProgressState
    returncode: int
    output: str


def worker_count(setting: str) -> int:
    """Workers for a quiet run: ``auto`` is one per CPU when pytest-xdist is installed, and
    none inside an xdist worker (whose siblings already keep the CPUs busy)."""
    if setting.strip().lower() != "auto":
        return int(setting)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return 0
    try:
        import xdist  # noqa: F401
    except ImportError:
        return 0
    return os.cpu_count() or 1


def run_quietly(rootdir: Path, inifile: Path | None, files: list[str], units: list[str],
                state: ProgressState, workers: int = 0) -> QuietRun:
    """Run the tests of ``units`` found in ``files`` in a child pytest; return its state."""
    with tempfile.TemporaryDirectory(prefix="tinytorch-") as directory:
        state_file = Path(directory, "state.json")
        store = StateStore(state_file)
        store.save(state)
        command = [
            sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider",
            "-o", "addopts=", "--rootdir", str(rootdir),
            "--tinytorch-state-file", str(state_file), "--tinytorch-only", ",".join(units),
        ]
        if workers > 1:
            command += ["-n", str(workers)]
        if inifile is not None:
            command += ["-c", str(inifile)]
        command += [str(Path(rootdir, f)) for f in files]
        environment = dict(os.environ, **{QUIET_RUN_VARIABLE: "1"})
        environment.pop("PYTEST_ADDOPTS", None)
        environment.pop("GITHUB_STEP_SUMMARY", None)
        completed = subprocess.run(command, cwd=rootdir, env=environment, capture_output=True, text=True)
        new_state, _warning = store.load()
        return QuietRun(new_state, completed.returncode, completed.stdout + completed.stderr)


def in_quiet_run() -> bool:
    return os.environ.get(QUIET_RUN_VARIABLE) == "1"
