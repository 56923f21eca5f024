"""Grade a class: many student submissions, each with the instructor's tests, in isolation.

A submission is a student's copy of the edition (a directory holding ``src/tinytorch``).
Nothing in it is trusted except the student's work itself:

* a fresh *grading tree* is built from the instructor's repository (tests, plugin, hidden
  tests included, milestone solutions left out, library stubbed); only the submission's
  ``src/tinytorch`` files and milestone starter files are copied over it. The submission's own
  tests, ``conftest.py`` files, caches and recorded state are ignored;
* pytest runs in a child process of its own process group with a clean environment, a fresh
  cache directory, a wall-clock timeout (the whole group is killed), an address-space limit,
  a file-size limit, no core dumps, and proxies pointed at a dead loopback port;
* before anything runs, the submission is scanned (``submission_scan``): code that imports
  pytest or the plugin, touches ``sys.modules``, frames, builtins or the grader's environment,
  and any ``conftest.py``, pytest configuration, ``sitecustomize.py`` or ``.pth`` file in it,
  make it ``flagged``: it scores 0 with the findings as the reason, and is not run;
* after the run the grading tree's instructor files are hashed again: a submission that
  rewrote a test or planted a ``conftest.py`` scores 0 with that reason;
* a hanging, crashing or memory-hungry submission gets a score (0 when nothing was reported)
  and a reason, and the batch goes on.

Scores come from the plugin: each run writes the ``--tinytorch-report`` JSON and the
``--tinytorch-gradescope`` ``results.json``; the score is the Gradescope score, capped by the
*probes* (``probes``): a plain Python child imports the student's library and answers small
computations on inputs from a seed this process picks; this process judges the answers against
the reference library, and a milestone whose required groups fail a probe scores 0, whatever
pytest reported. Per submission ``<out>/<name>.json`` is written, and for the batch
``<out>/class.csv``.

This is isolation against accidents and casual cheating, not a security sandbox: code that
runs inside pytest can still lie to it. Grade untrusted code inside a container or VM as well.
The threat model is in docs/instructor-guide.md ("What grading catches").
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytest_tinytorch.plugin.curriculum import Curriculum, default_curriculum
from pytest_tinytorch.course.probes import (
    ProbeReport, is_imported_library, judge, probe_command, probes_for_groups, read_answers, reference_answers_here,
)
from pytest_tinytorch.course.release import LIBRARY_DIR, release
from pytest_tinytorch.plugin.state import write_json_atomically, write_text_atomically
from pytest_tinytorch.course.submission_scan import RULES, instructor_configuration, scan_submission, summarize

GRADED_PATHS = ("modules", "milestones")
"""Where the instructor's grading tests live in the grading tree."""

RESULT_SCHEMA = "tinytorch-grade/1"
OUTCOME_LOG_VARIABLE = "TINYTORCH_GRADING_OUTCOMES"
DEAD_PROXY = "http://127.0.0.1:9"
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
SKIPPED_NAMES = {"__pycache__", ".pytest_cache", ".hypothesis", ".ipynb_checkpoints", "conftest.py"}


class GradingError(Exception):
    """A grading request that cannot start (no such submission, not an instructor repository)."""


@dataclass
class Limits:
    """What one submission may use: wall-clock seconds and address space in megabytes."""

    timeout_s: float = 600.0
    memory_mb: int | None = 4096


@dataclass
class SubmissionResult:
    """The grade of one submission, as written to ``<out>/<name>.json``."""

    submission: str
    path: str
    status: str  # graded | flagged | timeout | crashed | tampered | invalid | error
    score: float = 0.0
    max_score: float = 0.0
    reason: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0
    tests: dict = field(default_factory=lambda: {"passed": 0, "failed": 0, "error": 0, "skipped": 0})
    failed_tests: list = field(default_factory=list)
    groups: dict = field(default_factory=dict)
    milestones: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)  # the scan's findings (submission_scan.Finding)
    probes: dict = field(default_factory=dict)  # the probe report (probes.ProbeReport), when probes ran
    schema: str = RESULT_SCHEMA

    def to_json(self) -> dict:
        return asdict(self)


# -- the outcome recorder (a pytest plugin loaded into the graded run) ---------------------


def _log_outcome(entry: dict) -> None:
    path = os.environ.get(OUTCOME_LOG_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")


def pytest_runtest_logstart(nodeid, location) -> None:
    """Note that a test started, so a hang can be blamed on the test that never finished."""
    _log_outcome({"nodeid": nodeid, "when": "start", "outcome": "started"})


def pytest_runtest_logreport(report) -> None:
    """Append each test's outcome to the outcome log as it happens.

    The log survives a run that is killed, so a timed-out or crashed submission still shows
    what passed before. Active only when the grader sets ``TINYTORCH_GRADING_OUTCOMES``.
    """
    if report.when == "call" or report.outcome == "skipped" and report.when == "setup":
        outcome = report.outcome
    elif report.outcome == "failed":
        outcome = "error"  # a failing fixture (setup or teardown)
    else:
        return
    _log_outcome({"nodeid": report.nodeid, "when": report.when, "outcome": outcome})


def read_outcomes(path: Path) -> tuple[dict[str, str], str | None]:
    """(nodeid -> passed / failed / error / skipped, the test that started and never finished).

    Read from an outcome log; a test's worst outcome wins (a failing teardown after a passing
    call is an error).
    """
    outcomes: dict[str, str] = {}
    unfinished = None
    if not path.exists():
        return outcomes, unfinished
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            nodeid, outcome = entry["nodeid"], entry["outcome"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
        if outcome == "started":
            unfinished = nodeid
            continue
        if unfinished == nodeid:
            unfinished = None
        if outcomes.get(nodeid) in ("failed", "error") and outcome in ("passed", "skipped"):
            continue
        outcomes[nodeid] = outcome
    return outcomes, unfinished


def count_outcomes(outcomes: dict[str, str]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# -- the grading tree --------------------------------------------------------------------


def build_grading_base(instructor_root: Path, base_dir: Path, curriculum: Curriculum | None = None) -> Path:
    """The instructor's repository as graders need it: tests and hidden tests, stubbed library.

    Starting from stubs means a file a student deleted counts as not done rather than
    falling back to the reference solution.
    """
    instructor_root = Path(instructor_root)
    if not (instructor_root / LIBRARY_DIR).is_dir():
        raise GradingError(f"{instructor_root} is not a TinyTorch repository: expected {LIBRARY_DIR}/ in it")
    release(instructor_root, base_dir, curriculum=curriculum, keep_hidden_tests=True, edition="grading")
    return base_dir


def _student_files(submission: Path, curriculum: Curriculum) -> list[tuple[Path, str]]:
    """(source path, destination relative path) of the files graded from a submission.

    Only regular files that really live inside the submission count: a symlink (to the
    instructor's solutions, say) is never followed.
    """
    chosen = []
    inside = Path(submission).resolve()
    library = submission / LIBRARY_DIR
    for directory, subdirectories, names in os.walk(library):
        subdirectories[:] = [d for d in subdirectories if d not in SKIPPED_NAMES]
        for name in names:
            path = Path(directory) / name
            if name in SKIPPED_NAMES or name.endswith((".pyc", ".pth")):
                continue
            chosen.append((path, path.relative_to(submission).as_posix()))
    for milestone in curriculum.milestones:
        folder = submission / milestone.directory
        for starter in (folder / milestone.starter_file, folder / milestone.notebook_file):
            chosen.append((starter, starter.relative_to(submission).as_posix()))
    return [
        (path, relative) for path, relative in chosen
        if not path.is_symlink() and path.is_file() and path.resolve().is_relative_to(inside)
    ]


def submission_problem(submission: Path) -> str | None:
    """Why a folder cannot be graded as a submission, or None."""
    library = submission / LIBRARY_DIR
    if not library.is_dir():
        return f"no {LIBRARY_DIR}/ in the submission; expected a copy of the student edition"
    if not library.resolve().is_relative_to(Path(submission).resolve()):
        return f"{LIBRARY_DIR} in the submission is a link to {library.resolve()}; expected the student's own files"
    return None


def prepare_tree(base_dir: Path, submission: Path, work_dir: Path, curriculum: Curriculum) -> Path:
    """A grading tree for one submission: the base with the student's files copied over it."""
    shutil.copytree(base_dir, work_dir)
    for source, relative in _student_files(submission, curriculum):
        target = work_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    _starters_from_notebooks(work_dir, base_dir, curriculum)
    return work_dir


def _starters_from_notebooks(work_dir: Path, base_dir: Path, curriculum: Curriculum) -> None:
    """Use a milestone notebook when the student worked there and left the ``.py`` untouched."""
    for milestone in curriculum.milestones:
        notebook = work_dir / milestone.directory / milestone.notebook_file
        if not notebook.is_file():
            continue
        script = notebook.with_suffix(".py")
        original = base_dir / script.relative_to(work_dir)
        untouched = not script.exists() or (
            original.exists() and script.read_bytes() == original.read_bytes()
        )
        if untouched:
            import jupytext

            try:
                jupytext.write(jupytext.read(notebook), script, fmt="py:percent")
            except Exception:  # an unreadable notebook: grade the .py as it is
                pass


def instructor_fingerprint(tree: Path, curriculum: Curriculum) -> dict[str, str]:
    """sha256 of every file in the tree that the student does not own (tests, plugin, config)."""
    student_owned = {relative for _, relative in _student_files(tree, curriculum)}
    digests = {}
    for directory, subdirectories, names in os.walk(tree):
        subdirectories[:] = [d for d in subdirectories if d not in {"__pycache__", ".hypothesis"}]
        for name in names:
            path = Path(directory) / name
            relative = path.relative_to(tree).as_posix()
            if relative in student_owned or relative.endswith(".pyc"):
                continue
            if relative.startswith(f"{LIBRARY_DIR}/") and name != "conftest.py":
                continue
            digests[relative] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "?"
    return digests


CODE_SUFFIXES = (".py", ".pth", ".ini", ".cfg", ".toml")
"""New files with these endings could change what pytest or Python runs; other new files
(plots, data a milestone saves) are ordinary output."""


def tampered_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Instructor files changed or removed during a run, and new code or configuration files."""
    changed = [path for path, digest in before.items() if after.get(path) != digest]
    added = [path for path in after if path not in before and path.endswith(CODE_SUFFIXES)]
    return sorted(changed + added)


# -- running one submission --------------------------------------------------------------


def _limit_resources(memory_mb: int | None):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_OUTPUT_BYTES, MAX_OUTPUT_BYTES))
        if memory_mb:
            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def grading_environment(tree: Path, home: Path, outcome_log: Path) -> dict[str, str]:
    """A clean environment: the tree's ``src`` first on the path, no proxies that work."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(tree / "src"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "TINYTORCH_OFFLINE": "1",
        "HYPOTHESIS_PROFILE": "ci",  # derandomized: every submission meets the same examples
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "no_proxy": "",
        OUTCOME_LOG_VARIABLE: str(outcome_log),
    }
    for name in ("SYSTEMROOT", "TMPDIR", "VIRTUAL_ENV"):
        if name in os.environ:
            environment[name] = os.environ[name]
    return environment


def graded_command(tree: Path, results: Path, arguments: list[str] | None = None) -> list[str]:
    """The graded run: the instructor's test paths (or ``arguments``), fresh cache, report and
    Gradescope output."""
    return [
        sys.executable, "-m", "pytest", *(GRADED_PATHS if arguments is None else arguments),
        "--rootdir", str(tree),
        "-o", f"cache_dir={results / 'cache'}",
        "-p", "pytest_tinytorch.course.grading",
        "-o", "tinytorch_rerun_workers=0",  # submissions already run side by side (--jobs)
        "-q", "--no-header", "-rN",
        f"--tinytorch-report={results / 'report.json'}",
        f"--tinytorch-gradescope={results / 'results.json'}",
    ]


def run_isolated(
    command: list[str], cwd: Path, environment: dict[str, str], limits: Limits, log_path: Path
) -> tuple[int | None, bool, float]:
    """Run ``command`` in its own process group: (exit code or None, timed out, seconds)."""
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=environment, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_limit_resources(limits.memory_mb),
        )
        timed_out = False
        try:
            process.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(process.pid)  # also reaps children a finished run left behind
            process.wait()
    return (None if timed_out else process.returncode), timed_out, time.monotonic() - started


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def grade_one(
    submission: Path, name: str, base_dir: Path, out_dir: Path, limits: Limits,
    curriculum: Curriculum, scratch: Path, arguments: list[str] | None = None,
    allow_rules: frozenset[str] = frozenset(), reference_library: Path | ReferenceAnswers | None = None,
) -> SubmissionResult:
    """Grade one submission; never raises for anything the submission does.

    ``arguments`` replaces the default test paths (the validator runs single milestones);
    ``allow_rules`` are scan rules the instructor allows for this course;
    ``reference_library`` (the instructor's ``src/tinytorch``, or its ``ReferenceAnswers``
    computed ahead for one seed) answers the probes: without it no probes run.
    """
    submission = Path(submission)
    result = SubmissionResult(name, str(submission.resolve()), status="error")
    problem = submission_problem(submission)
    if problem:
        result.status, result.reason = "invalid", problem
        return result
    results = out_dir / name
    if results.exists():
        shutil.rmtree(results)
    results.mkdir(parents=True)
    tree = scratch / name / "tree"
    home = scratch / name / "home"
    home.mkdir(parents=True)
    prepare_tree(base_dir, submission, tree, curriculum)
    student_files = [relative for _, relative in _student_files(tree, curriculum)]
    findings = scan_submission(submission, tree, student_files, instructor_configuration(base_dir), allow_rules)
    if findings:
        result.findings = [finding.to_json() for finding in findings]
        result.status, result.score = "flagged", 0.0
        result.reason = f"flagged by the submission scan, not run: {summarize(findings)}"
        _write_failure_gradescope(results / "results.json", result)
        shutil.rmtree(scratch / name, ignore_errors=True)
        return result
    before = instructor_fingerprint(tree, curriculum)
    outcome_log = results / "outcomes.jsonl"
    log_path = results / "pytest.log"
    code, timed_out, seconds = run_isolated(
        graded_command(tree, results, arguments), tree, grading_environment(tree, home, outcome_log), limits, log_path,
    )
    result.exit_code, result.duration_s = code, round(seconds, 2)
    outcomes, unfinished = read_outcomes(outcome_log)
    result.tests = count_outcomes(outcomes)
    result.failed_tests = sorted(n for n, o in outcomes.items() if o in ("failed", "error"))[:100]
    _read_plugin_outputs(result, results)
    after = instructor_fingerprint(tree, curriculum)
    changed = tampered_files(before, after)
    log_text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""

    if changed:
        result.status, result.score = "tampered", 0.0
        result.reason = f"the submission changed instructor files during grading: {', '.join(changed[:5])}"
    elif timed_out:
        result.status, result.score = "timeout", 0.0
        result.reason = (
            f"timed out after {limits.timeout_s:g} s and was stopped while running "
            f"{unfinished or 'no test (collection or start-up)'}; {result.tests['passed']} tests had passed"
        )
    elif code is not None and code < 0:
        result.status, result.score = "crashed", 0.0
        where = f" in {unfinished}" if unfinished else ""
        result.reason = f"the test process was killed by {_signal_name(code)}{where}; output ends with:\n{_tail(log_path)}"
    elif not (results / "report.json").exists():
        result.status, result.score = ("crashed" if code not in (0, 1) else "error"), 0.0
        result.reason = f"pytest exited with code {code} and wrote no report; output ends with:\n{_tail(log_path)}"
    else:
        result.status = "graded"
        if code not in (0, 1):
            result.reason = f"pytest exited with code {code}"
    if "MemoryError" in log_text and limits.memory_mb:
        note = f"the code ran out of memory (limit {limits.memory_mb} MB)"
        result.reason = f"{result.reason}; {note}" if result.reason else note
    if result.status != "graded":
        _write_failure_gradescope(results / "results.json", result)
    elif result.score > 0 and reference_library is not None:  # a score of 0 has nothing to cap
        reference = reference_library if isinstance(reference_library, ReferenceAnswers) else Path(reference_library)
        apply_probes(result, results, tree, base_dir, reference, limits, curriculum)
    shutil.rmtree(scratch / name, ignore_errors=True)
    return result


# -- probes: the parent judges the library, outside the student's pytest process ------------

PROBE_TIMEOUT_S = 120.0
"""A probe child answers in about a second; a hang is stopped after this (or --timeout)."""


def probed_groups(curriculum: Curriculum, base_dir: Path) -> list[str]:
    """Groups some milestone requires and whose integration tests exist (are built)."""
    required = {name for milestone in curriculum.milestones for name in milestone.requires}
    return [group.name for group in curriculum.groups
            if group.name in required and (Path(base_dir) / group.test_file).is_file()]


def answers_from_child(root: Path, seed: int, probes: list, folder: Path, limits: Limits):
    """Run the probe child with ``root/src`` first on the path, isolated like the pytest run:
    (probe key -> arrays, probe key -> error). A child that wrote nothing fails every probe."""
    folder.mkdir(parents=True, exist_ok=True)
    home = folder / "home"
    home.mkdir(exist_ok=True)
    log = folder / "probes.log"
    probe_limits = Limits(timeout_s=min(limits.timeout_s, PROBE_TIMEOUT_S), memory_mb=limits.memory_mb)
    code, timed_out, _ = run_isolated(
        probe_command(seed, folder, [item.key for item in probes]), folder,
        grading_environment(root, home, folder / "outcomes.jsonl"), probe_limits, log,
    )
    answered = read_answers(folder)
    if answered is not None:
        return answered
    how = f"timed out after {probe_limits.timeout_s:g} s" if timed_out else f"exited with code {code}"
    tail = " | ".join(_tail(log, 3).splitlines())
    return {}, {item.key: f"the probe process {how} and wrote no answers ({tail})" for item in probes}


@dataclass(frozen=True)
class ReferenceAnswers:
    """The reference's probe answers for one seed, computed ahead of time.

    The Gradescope archive carries a few of these instead of the reference library (which
    must not ship where students' code runs); ``grade_one`` takes one as its reference."""

    seed: int
    answers: dict
    errors: dict


def reference_answers(reference_library: Path, seed: int, probes: list, limits: Limits):
    """The reference's answers: in this process when the instructor's library is the
    ``tinytorch`` this process imports, else in a child running only the instructor's code
    (its files are deleted before the submission's child starts: it never sees them)."""
    if is_imported_library(reference_library):
        return reference_answers_here(seed, probes)
    with tempfile.TemporaryDirectory(prefix="tinytorch-reference-") as folder:
        return answers_from_child(reference_library.parents[1], seed, probes, Path(folder), limits)


def apply_probes(
    result: SubmissionResult, results: Path, tree: Path, base_dir: Path,
    reference_library: Path | ReferenceAnswers, limits: Limits, curriculum: Curriculum,
) -> None:
    """Judge the submission's probe answers against the reference; zero the milestones whose
    required groups fail a probe (in ``result`` and in the Gradescope ``results.json``)."""
    by_group = probes_for_groups(curriculum, probed_groups(curriculum, base_dir))
    probes = [item for items in by_group.values() for item in items]
    if not probes:
        return
    folder = results / "probes"
    if isinstance(reference_library, ReferenceAnswers):
        report = ProbeReport(seed=reference_library.seed)
        expected, expected_errors = reference_library.answers, reference_library.errors
    else:
        report = ProbeReport(seed=secrets.randbits(48))
        expected, expected_errors = reference_answers(reference_library, report.seed, probes, limits)
    answerable = [item for item in probes if item.key in expected]
    answers, errors = (answers_from_child(tree, report.seed, answerable, folder / "submission", limits)
                       if answerable else ({}, {}))
    for group, items in by_group.items():
        for item in items:
            report.verdicts.append(judge(item, group, expected.get(item.key), answers.get(item.key),
                                         expected_errors.get(item.key), errors.get(item.key)))
    for milestone in curriculum.milestones:
        failing = [v for v in report.verdicts if v.outcome == "failed" and v.group in milestone.requires]
        if failing:
            more = f" (and {len(failing) - 1} more failing probes)" if len(failing) > 1 else ""
            report.zeroed[milestone.name] = f"{milestone.label} scores 0: {failing[0].describe()}{more}"
    result.probes = report.to_json()
    if report.zeroed:
        _zero_milestones(result, results, curriculum, report.zeroed)


def _zero_milestones(result: SubmissionResult, results: Path, curriculum: Curriculum, zeroed: dict) -> None:
    """Set the points of the ``zeroed`` milestones' tests to 0 and re-add the score.

    A test belongs to a milestone by its folder (known to this process), else by the tag in
    the plugin's report."""
    gradescope = _load_json(results / "results.json")
    gradescope = gradescope if isinstance(gradescope, dict) else {}
    report = _load_json(results / "report.json")
    tagged = {}
    if isinstance(report, dict):
        tagged = {t.get("nodeid"): t.get("milestone") for t in report.get("tests", []) if isinstance(t, dict)}
    folders = {milestone.name: milestone.directory.rstrip("/") + "/" for milestone in curriculum.milestones}

    def milestone_of(nodeid: str) -> str | None:
        return next((name for name, folder in folders.items() if nodeid.startswith(folder)), tagged.get(nodeid))

    tests = [t for t in gradescope.get("tests", []) if isinstance(t, dict)]
    for test in tests:
        name = milestone_of(str(test.get("name", "")))
        if name in zeroed and test.get("score"):
            test["score"] = 0.0
            test["output"] = f"{zeroed[name]}\n{test.get('output', '')}".strip()
    gradescope["tests"] = tests
    gradescope["score"] = round(sum(float(t.get("score") or 0) for t in tests), 4)
    gradescope["output"] = "\n".join([*zeroed.values(), str(gradescope.get("output", ""))]).strip()
    _write_json(results / "results.json", gradescope)
    result.score = gradescope["score"]
    for name, reason in zeroed.items():
        if isinstance(result.milestones.get(name), dict):
            result.milestones[name].update(score=0.0, probes_failed=reason)
    note = "; ".join(zeroed.values())
    result.reason = f"{result.reason}; {note}" if result.reason else note


def _read_plugin_outputs(result: SubmissionResult, results: Path) -> None:
    """Score from the plugin's Gradescope results; groups and milestones from its report."""
    gradescope = _load_json(results / "results.json")
    if gradescope:
        tests = gradescope.get("tests", [])
        result.max_score = float(sum(t.get("max_score", 0) or 0 for t in tests))
        result.score = float(gradescope["score"]) if "score" in gradescope else float(
            sum(t.get("score", 0) or 0 for t in tests)
        )
    report = _load_json(results / "report.json")
    if report:  # schema in docs/report-schema.md
        result.groups = {name: group["state"] for name, group in report.get("groups", {}).items()}
        result.milestones = {
            name: {key: milestone.get(key) for key in ("state", "score", "rubric")}
            for name, milestone in report.get("milestones", {}).items()
        }


def _load_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_failure_gradescope(path: Path, result: SubmissionResult) -> None:
    _write_json(path, {
        "score": 0.0,
        "output": f"Not graded: {result.status}. {result.reason}",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    })


def _write_json(path: Path, data) -> None:
    write_json_atomically(path, data, indent=2)


# -- a batch -----------------------------------------------------------------------------

CSV_COLUMNS = [
    "submission", "status", "score", "max_score", "passed", "failed", "error", "skipped",
    "groups_passed", "milestones_unlocked", "milestones_complete", "duration_s", "flags", "reason",
]


def _unique_names(submissions: list[Path]) -> list[str]:
    names, seen = [], {}
    for submission in submissions:
        name = Path(submission).resolve().name or "submission"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return names


def grade_submissions(
    instructor_root: Path | str,
    submissions: list[Path | str],
    out_dir: Path | str,
    jobs: int = 1,
    limits: Limits | None = None,
    curriculum: Curriculum | None = None,
    progress=None,
    allow_rules=(),
) -> list[SubmissionResult]:
    """Grade every submission (``jobs`` at a time); write per-submission JSON and ``class.csv``.

    ``progress`` is called with each ``SubmissionResult`` as it finishes (the CLI prints it);
    ``allow_rules`` names scan rules (``submission_scan.RULES``) this course allows.
    """
    unknown = sorted(set(allow_rules) - set(RULES))
    if unknown:
        raise GradingError(f"unknown scan rule {', '.join(unknown)}; expected one of: {', '.join(RULES)}")
    curriculum = curriculum or default_curriculum()
    limits = limits or Limits()
    submissions = [Path(s) for s in submissions]
    missing = [str(s) for s in submissions if not s.is_dir()]
    if missing:
        raise GradingError(f"no such submission directory: {', '.join(missing)}")
    if jobs < 1:
        raise GradingError(f"--jobs must be at least 1, got {jobs}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="tinytorch-grading-"))
    lock = threading.Lock()
    try:
        base = build_grading_base(Path(instructor_root), scratch / "base", curriculum)

        def grade(item: tuple[Path, str]) -> SubmissionResult:
            submission, name = item
            try:
                outcome = grade_one(submission, name, base, out_dir, limits, curriculum, scratch,
                                    allow_rules=frozenset(allow_rules),
                                    reference_library=Path(instructor_root) / LIBRARY_DIR)
            except Exception as error:  # a grader bug must not stop the class
                outcome = SubmissionResult(name, str(submission.resolve()), "error",
                                           reason=f"grader error: {type(error).__name__}: {error}")
            _write_json(out_dir / f"{name}.json", outcome.to_json())
            if progress:
                with lock:
                    progress(outcome)
            return outcome

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(grade, zip(submissions, _unique_names(submissions))))
        _fill_max_scores(results, out_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_class_csv(out_dir / "class.csv", results)
    return results


def _fill_max_scores(results: list[SubmissionResult], out_dir: Path) -> None:
    """A submission that produced no Gradescope results is out of the same points as the rest."""
    best = max((r.max_score for r in results), default=0.0)
    for result in results:
        if result.max_score == 0 and best > 0:
            result.max_score = best
            _write_json(out_dir / f"{result.submission}.json", result.to_json())


def write_class_csv(path: Path, results: list[SubmissionResult]) -> None:
    """One row per submission: score, test counts, groups and milestones reached, reason."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for result in results:
        states = {name: milestone["state"] for name, milestone in result.milestones.items()
                  if not milestone.get("probes_failed")}  # a claim the probes disproved
        writer.writerow({
            "submission": result.submission, "status": result.status,
            "score": f"{result.score:g}", "max_score": f"{result.max_score:g}",
            **{key: result.tests.get(key, 0) for key in ("passed", "failed", "error", "skipped")},
            "groups_passed": " ".join(name for name, state in result.groups.items() if state == "passed"),
            "milestones_unlocked": " ".join(
                name for name, state in states.items() if state in ("UNLOCKED", "COMPLETE")),
            "milestones_complete": " ".join(name for name, state in states.items() if state == "COMPLETE"),
            "duration_s": f"{result.duration_s:.1f}",
            "flags": " ".join(sorted({finding["rule"] for finding in result.findings})
                              + (["probes"] if result.probes.get("zeroed_milestones") else [])),
            "reason": result.reason.splitlines()[0] if result.reason else "",
        })
    write_text_atomically(path, buffer.getvalue())
