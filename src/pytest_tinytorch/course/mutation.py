"""Mutation testing of the course's tests: would they notice a student's plausible bug?

A *mutant* is the reference library with one small, plausible bug put into one solution
block of ``src/tinytorch/*.py``: ``np.max`` where ``np.min`` belongs, ``sum`` for ``mean``,
``np.sqrt(x)`` returning ``x``, an ``axis=`` forgotten, ``<`` for ``<=``, a clip or a check
left out (the operators are in ``mutation_operators``). Code outside the blocks is what
students are given, so it is never mutated.

Each mutant runs, in a temporary copy of the repository (the working tree is never touched),
against three sets of tests, each with ``pytest -x`` under the derandomized hypothesis
``ci`` profile:

(a) the unit tests of the mutated module (``modules/source/NN_name/``): *killed by unit tests*;
(b) the gate of the milestone that the module's integration group unlocks, i.e. the unit tests
    of every module of the group plus the group's integration tests: when any of them fails,
    the mutant *keeps the milestone locked* (unit tests fail first, so (a) implies (b));
(c) the milestone's validation tests: when one fails, the mutant *loses points* (for every
    mutant, or only for those that leave the milestone unlocked: ``VALIDATION_MODES``).

A test run that exceeds the per-mutant time budget counts as a failure (an infinite loop is a
bug the student would notice) and is reported separately. The plugin is disabled in these runs
(``-p no:tinytorch``): the tool applies the gate rule to the outcomes itself, and the
validation tests run whether or not the plugin's gate would have let them.

Some mutants change nothing observable (``extra > 0`` -> ``extra >= 0`` when summing over no
axes is the identity). They are excluded by the documented table in
``pytest_tinytorch.course.mutation_equivalents``.
"""

from __future__ import annotations

import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from pytest_tinytorch.plugin.curriculum import Curriculum, default_curriculum
from pytest_tinytorch.plugin.membership import TestIndex, unit_key
from pytest_tinytorch.course.mutation_equivalents import EQUIVALENT_MUTANTS, equivalence_reason
from pytest_tinytorch.course.mutation_operators import Mutant, MutationError, mutants_of_source
from pytest_tinytorch.course.release import LIBRARY_DIR, find_solution_blocks, module_key_for


def library_files(root: Path) -> list[str]:
    """``src/tinytorch/*.py`` of the repository, as posix paths relative to ``root``."""
    return sorted(path.relative_to(root).as_posix() for path in (root / LIBRARY_DIR).glob("*.py"))


def find_mutants(root: Path, curriculum: Curriculum | None = None, modules: list[str] | None = None) -> list[Mutant]:
    """The mutants of every solution block of ``src/tinytorch/*.py`` (of ``modules`` only, if given)."""
    curriculum = curriculum or default_curriculum()
    wanted = {curriculum.module(name).key for name in modules} if modules else None
    found = []
    for relative in library_files(root):
        text = (root / relative).read_text(encoding="utf-8")
        if not find_solution_blocks(text, relative):
            continue
        key = module_key_for(relative, text, curriculum)
        if wanted is None or key in wanted:
            found += mutants_of_source(text, relative, key)
    return found


def split_equivalents(mutants: list[Mutant]) -> tuple[list[Mutant], list[tuple[Mutant, str]]]:
    """(mutants to run, [(equivalent mutant, reason)]) according to ``EQUIVALENT_MUTANTS``."""
    kept, excluded = [], []
    for mutant in mutants:
        reason = equivalence_reason(mutant.id, mutant.description, mutant.mutated_line)
        if reason is None:
            kept.append(mutant)
        else:
            excluded.append((mutant, reason))
    return kept, excluded


def sample_per_module(mutants: list[Mutant], size: int | None, seed: int) -> list[Mutant]:
    """At most ``size`` mutants of each module, the same ones for the same seed, in source order."""
    if size is None:
        return list(mutants)
    chosen = []
    for module in sorted({m.module for m in mutants}):
        own = [m for m in mutants if m.module == module]
        picked = random.Random(f"{seed}:{module}").sample(range(len(own)), min(size, len(own)))
        chosen += [own[index] for index in sorted(picked)]
    return chosen


# -- the tests each mutant faces ---------------------------------------------------------


@dataclass(frozen=True)
class TestPlan:
    """The test files of (a) the module, (b) its milestone's gate, (c) the milestone's validation."""

    __test__ = False  # not a pytest test class

    module: str
    unit_files: tuple[str, ...]
    gate_files: tuple[str, ...]  # every module of the group's unit tests, then the group's integration tests
    milestone: str | None
    validation_files: tuple[str, ...]


def module_test_plans(root: Path, curriculum: Curriculum | None = None) -> dict[str, TestPlan]:
    """module key -> its ``TestPlan``, from the test index (paths and markers) of ``root``.

    Only ``modules/`` and ``milestones/`` are searched: they hold the course's tests and are what
    the copies hold (the tooling tests in ``tests/`` may call ``curriculum.milestone("...")``,
    which a marker scan cannot tell from a marker)."""
    curriculum = curriculum or default_curriculum()
    search = [root / name for name in ("modules", "milestones") if (root / name).is_dir()]
    index = TestIndex(root, search, [], curriculum)
    plans = {}
    for module in curriculum.modules:
        group = curriculum.group_of_module(module.name)
        gate = [f for name in group.modules for f in index.files_of(unit_key("module", name))]
        gate += [f for f in index.files_of(unit_key("group", group.name)) if f not in gate]
        milestone = curriculum.milestone_of_group(group.name)
        validation = index.files_of(unit_key("milestone", milestone.name)) if milestone else []
        plans[module.key] = TestPlan(module.key, tuple(index.files_of(unit_key("module", module.name))),
                                     tuple(gate), milestone.name if milestone else None, tuple(validation))
    return plans


# -- running tests in a copy of the repository -------------------------------------------

COPIED = ("src", "modules", "milestones", "conftest.py", "pyproject.toml")
NOT_COPIED = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".hypothesis", "*.pyc", "*.ipynb_checkpoints")
GUARD_MODULE = "tito_mutation_guard"
GUARD_SOURCE = '''"""Stop the run unless tinytorch is imported from the mutation copy (written by tito mutate)."""
import os
from pathlib import Path

import pytest


def pytest_configure(config):
    import tinytorch

    copy = Path(os.environ["TITO_MUTATION_COPY"]).resolve()
    where = Path(tinytorch.__file__).resolve()
    if not where.is_relative_to(copy):
        raise pytest.UsageError(f"tinytorch was imported from {where}, not from the mutation copy {copy}")
'''
PASSED, FAILED, TIMEOUT = "passed", "failed", "timeout"


@dataclass
class RunOutcome:
    """How one ``pytest -x`` run ended; ``failure`` is the first failing test's id."""

    status: str  # passed, failed or timeout
    failure: str | None = None
    seconds: float = 0.0


class RepositoryCopy:
    """A throw-away copy of what the tests need (``COPIED``), where one file at a time is mutated."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.path = Path(tempfile.mkdtemp(prefix="tito-mutate-"))
        try:
            for name in COPIED:
                source = self.root / name
                if source.is_dir():
                    shutil.copytree(source, self.path / name, ignore=NOT_COPIED)
                elif source.is_file():
                    shutil.copy2(source, self.path / name)
            guard = self.path / ".tito-mutate"
            guard.mkdir()
            (guard / f"{GUARD_MODULE}.py").write_text(GUARD_SOURCE, encoding="utf-8")
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def environment(self) -> dict[str, str]:
        environment = {key: value for key, value in os.environ.items()
                       if key not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "GITHUB_STEP_SUMMARY")}
        paths = [str(self.path / ".tito-mutate"), str(self.path / "src"),
                 *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        environment.update(PYTHONPATH=os.pathsep.join(paths), CI="1", HYPOTHESIS_PROFILE="ci",
                           PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", TITO_MUTATION_COPY=str(self.path))
        return environment

    def run_tests(self, files: tuple[str, ...] | list[str], timeout: float) -> RunOutcome:
        """``python -m pytest -x -q`` on ``files`` in the copy, killed after ``timeout`` seconds.

        A failing or erroring test, or a collection error (the module does not import), is a
        failure; no test collected, a usage error or an internal error stops the mutation run.
        """
        report = self.path / ".tito-mutate" / f"junit-{threading.get_ident()}.xml"
        report.unlink(missing_ok=True)  # never read the previous run's failure
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:tinytorch",
                   "-p", GUARD_MODULE, "-o", "addopts=", "--rootdir", str(self.path),
                   f"--junitxml={report}", *files]
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=self.path, env=self.environment(), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return RunOutcome(TIMEOUT, None, time.monotonic() - started)
        seconds = time.monotonic() - started
        if process.returncode == 0:
            return RunOutcome(PASSED, None, seconds)
        if process.returncode in (1, 2):
            return RunOutcome(FAILED, _first_failure(report) or _last_line(output), seconds)
        raise MutationError(
            f"pytest exited with status {process.returncode} on {' '.join(files)} in {self.path}; expected "
            f"tests that run (0 passed, 1 failed, 2 collection error). Its output ends with:\n"
            + "\n".join(output.splitlines()[-15:]))

    def write(self, relative: str, text: str) -> None:
        (self.path / relative).write_text(text, encoding="utf-8")


def _first_failure(report: Path) -> str | None:
    try:
        tree = ElementTree.parse(report)
    except (OSError, ElementTree.ParseError):
        return None
    for case in tree.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            return f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
    return None


def _last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "pytest failed without output"


# -- running mutants ---------------------------------------------------------------------

KILLED, SURVIVED, LOCKED, UNLOCKED, LOST, KEPT, NO_MILESTONE, SCORES_NOTHING = (
    "killed", "survived", "locked", "unlocked", "lost points", "kept points", "no milestone", "locked, scores 0")
VALIDATION_MODES = ("all", "unlocked")
"""``all``: the validation tests run for every mutant, so (c) measures them on their own.
``unlocked``: they run only for mutants that leave the milestone unlocked; a locked milestone
scores nothing (``gating.Progress.rubric_scores``), so a locked mutant loses its points anyway.
Much faster, since most mutants are killed by the unit tests in seconds."""


@dataclass
class MutantResult:
    """What the three test sets made of one mutant."""

    id: str
    module: str
    description: str
    diff: str
    unit: str  # killed / survived
    gate: str  # locked / unlocked
    validation: str  # lost points / kept points / locked, scores 0 / no milestone (or no validation tests yet)
    killed_by: str | None = None  # first failing test of the first set that failed
    timed_out: bool = False
    seconds: float = 0.0


def run_mutant(mutant: Mutant, plan: TestPlan, workspace: RepositoryCopy, timeout: float,
               validation_mode: str = "all") -> MutantResult:
    """Run (a), then (b) unless (a) already failed, then (c) (see ``VALIDATION_MODES``), in
    ``workspace``; the mutated file is restored afterwards."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    workspace.write(mutant.path, mutant.mutated)
    try:
        unit = workspace.run_tests(plan.unit_files, deadline - time.monotonic()) if plan.unit_files else RunOutcome(PASSED)
        gate = unit
        if unit.status == PASSED:
            rest = tuple(f for f in plan.gate_files if f not in plan.unit_files)
            gate = workspace.run_tests(rest, deadline - time.monotonic()) if rest else unit
        validation = None
        if plan.validation_files and (validation_mode == "all" or gate.status == PASSED):
            validation = workspace.run_tests(plan.validation_files, deadline - time.monotonic())
    finally:
        workspace.write(mutant.path, mutant.original)
    outcomes = [o for o in (unit, gate, validation) if o is not None]
    return MutantResult(
        mutant.id, mutant.module, mutant.description, mutant.diff,
        unit=SURVIVED if unit.status == PASSED else KILLED,
        gate=UNLOCKED if gate.status == PASSED else LOCKED,
        validation=(NO_MILESTONE if not plan.validation_files else SCORES_NOTHING if validation is None
                    else KEPT if validation.status == PASSED else LOST),
        killed_by=next((o.failure or o.status for o in outcomes if o.status != PASSED), None),
        timed_out=any(o.status == TIMEOUT for o in outcomes),
        seconds=round(time.monotonic() - started, 2),
    )


def check_baseline(workspace: RepositoryCopy, plans: list[TestPlan], timeout: float) -> None:
    """The unmutated copy must pass every test set the mutants face; otherwise no figure means anything.

    A set contained in another (a module's unit tests are part of its gate) is not run twice."""
    sets = {files for plan in plans for files in (plan.unit_files, plan.gate_files, plan.validation_files) if files}
    for files in sorted(s for s in sets if not any(set(s) < set(other) for other in sets)):
        outcome = workspace.run_tests(files, timeout)
        if outcome.status != PASSED:
            raise MutationError(
                f"the unmutated repository does not pass {' '.join(files)} ({outcome.status}: "
                f"{outcome.failure or 'time budget exceeded'}); fix that first, mutation figures would be meaningless")


def run_mutants(root: Path, mutants: list[Mutant], plans: dict[str, TestPlan], jobs: int = 1,
                timeout: float = 300.0, progress=None, baseline: bool = True,
                validation_mode: str = "all") -> list[MutantResult]:
    """Run every mutant in ``jobs`` separate copies of ``root``; results in the mutants' order.

    ``baseline`` first checks that the unmutated copy passes every test set involved.
    """
    if validation_mode not in VALIDATION_MODES:
        raise MutationError(f"validation mode {validation_mode!r}: expected one of {', '.join(VALIDATION_MODES)}")
    missing = sorted({m.module for m in mutants if not plans[m.module].unit_files})
    if missing:
        raise MutationError(f"no unit tests found for {', '.join(missing)}: expected modules/source/NN_name/test_*.py")
    copies = [RepositoryCopy(root) for _ in range(max(1, min(jobs, len(mutants) or 1)))]
    try:
        if baseline:
            check_baseline(copies[0], [plans[key] for key in sorted({m.module for m in mutants})], timeout)
        free: queue.Queue = queue.Queue()
        for workspace in copies:
            free.put(workspace)

        def one(mutant: Mutant) -> MutantResult:
            workspace = free.get()
            try:
                result = run_mutant(mutant, plans[mutant.module], workspace, timeout, validation_mode)
            finally:
                free.put(workspace)
            if progress is not None:
                progress(result)
            return result

        with ThreadPoolExecutor(max_workers=len(copies)) as pool:
            return list(pool.map(one, mutants))
    finally:
        for workspace in copies:
            workspace.remove()


# -- the report --------------------------------------------------------------------------


@dataclass
class ModuleSummary:
    module: str
    milestone: str | None
    mutants: int  # mutants run
    excluded: int  # equivalent mutants of the module, left out
    found: int  # every mutant of the module (before exclusion and sampling)
    unit_killed: int
    milestone_locked: int
    points_lost: int | None  # None while the milestone has no validation tests
    timeouts: int

    def share(self, count: int | None) -> float | None:
        return count / self.mutants if self.mutants and count is not None else None


def summarize(results: list[MutantResult], excluded: list[tuple[Mutant, str]],
              plans: dict[str, TestPlan], found: list[Mutant] | None = None) -> list[ModuleSummary]:
    """Per module: how many mutants ran and what killed them. ``found`` is every mutant before
    exclusion and sampling (default: those run plus those excluded)."""
    modules = sorted({r.module for r in results} | {m.module for m, _ in excluded})
    summaries = []
    for module in modules:
        own = [r for r in results if r.module == module]
        summaries.append(ModuleSummary(
            module, plans[module].milestone, len(own), sum(m.module == module for m, _ in excluded),
            sum(m.module == module for m in found) if found is not None
            else len(own) + sum(m.module == module for m, _ in excluded),
            sum(r.unit == KILLED for r in own), sum(r.gate == LOCKED for r in own),
            sum(r.validation in (LOST, SCORES_NOTHING) for r in own) if plans[module].validation_files else None,
            sum(r.timed_out for r in own)))
    return summaries


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_table(summaries: list[ModuleSummary]) -> str:
    header = (f"{'module':<16}{'milestone':<12}{'found':>6}{'run':>6}{'excluded':>10}{'(a) unit':>10}"
              f"{'(b) locked':>12}{'(c) points':>12}{'timeouts':>10}")
    lines = [header, "-" * len(header)]
    for s in summaries:
        lines.append(f"{s.module:<16}{s.milestone or '-':<12}{s.found:>6}{s.mutants:>6}{s.excluded:>10}"
                     f"{_percent(s.share(s.unit_killed)):>10}{_percent(s.share(s.milestone_locked)):>12}"
                     f"{_percent(s.share(s.points_lost)):>12}{s.timeouts:>10}")
    return "\n".join(lines)


def format_survivors(results: list[MutantResult]) -> str:
    """The mutants that leave their milestone unlocked, each with its diff."""
    parts = []
    for result in results:
        if result.gate == UNLOCKED:
            parts.append(f"{result.id}  {result.description}  (validation: {result.validation})\n{result.diff}")
    return "\n".join(parts)


def below_threshold(summaries: list[ModuleSummary], threshold: float) -> list[ModuleSummary]:
    """Modules with a milestone whose share (b) of mutants keeping it locked is under ``threshold``."""
    return [s for s in summaries if s.milestone and s.mutants and s.share(s.milestone_locked) < threshold]


def report_data(summaries: list[ModuleSummary], results: list[MutantResult],
                excluded: list[tuple[Mutant, str]], settings: dict) -> dict:
    """Everything of a run as JSON-ready data (``tito mutate --json``)."""
    return {
        "settings": settings,
        "modules": {
            s.module: {**asdict(s), "unit_killed_share": s.share(s.unit_killed),
                       "milestone_locked_share": s.share(s.milestone_locked),
                       "points_lost_share": s.share(s.points_lost)}
            for s in summaries},
        "mutants": [asdict(r) for r in results],
        "excluded": [{"id": m.id, "description": m.description, "reason": reason} for m, reason in excluded],
        "equivalents_table_entries": len(EQUIVALENT_MUTANTS),
    }


def mutant_from_replacement(root: Path, relative_path: str, old: str, new: str, description: str,
                             curriculum: Curriculum | None = None) -> Mutant:
    """A hand-written mutant: ``old`` (found once, inside a solution block) replaced by ``new``.

    For regression tests of bugs found by an audit, whose exact form no operator produces.
    """
    curriculum = curriculum or default_curriculum()
    text = (Path(root) / relative_path).read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise MutationError(f"{relative_path}: {old!r} occurs {text.count(old)} times; expected exactly once")
    start = text.index(old)
    first_line = text.count("\n", 0, start) + 1
    last_line = first_line + old.count("\n")
    block = next((b for b in find_solution_blocks(text, relative_path)
                  if b.begin_line < first_line and last_line < b.end_line), None)
    if block is None:
        raise MutationError(f"{relative_path}:{first_line}: {old!r} is not inside a solution block")
    function = block.task.split(" (", 1)[0]
    key = module_key_for(relative_path, text, curriculum)
    mutated = text[:start] + new + text[start + len(old):]
    return Mutant(f"{key}:{function}:{first_line}:replacement:0", key, relative_path, function, first_line,
                  "replacement", description, text, mutated)
