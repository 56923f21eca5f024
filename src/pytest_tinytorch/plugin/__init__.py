"""pytest entry point (``pytest11``) for TinyTorch: markers, gating, status, reports.

The hook functions here are a thin skin. The work is done by plain classes:
``membership`` (which test belongs to which unit), ``outcomes`` (what a run did),
``gating`` (states and rules), ``state`` (persistence), ``status`` / ``reports`` /
``badge`` / ``gradescope`` (output), ``rerun`` (quiet re-runs of stale groups).

Process roles follow pytest's own plugins: every process collects and validates markers;
only the controller (``not hasattr(config, "workerinput")``) decides gates, merges outcomes
and writes the state. Gates travel to xdist workers in ``workerinput``; collected tests come
back in ``workeroutput``; outcomes come back on the test reports.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

from pytest_tinytorch.plugin.badge import write_badge
from pytest_tinytorch.plugin.course_integrity import course_warnings
from pytest_tinytorch.plugin.curriculum import Curriculum, CurriculumError, default_curriculum
from pytest_tinytorch.plugin.fingerprint import Fingerprinter, default_source_roots, foreign_library
from pytest_tinytorch.plugin.gating import (
    COMPLETE, FAILED, LOCKED, NOT_BUILT, NOT_RUN, STALE, UNLOCKED, Course, Evaluation, Gate, describe_unit,
    merge_run,
)
from pytest_tinytorch.course.gradescope import write_gradescope
from pytest_tinytorch.plugin.membership import (
    AUTOGRAD, TestIndex, item_tags, marker_errors, unit_key, units_by_path, units_of,
)
from pytest_tinytorch.plugin.outcomes import EXAMPLE_PROPERTY, FAILING, GATED_PROPERTY, RunRecorder, minimal_examples
from pytest_tinytorch.plugin.reports import build_report
from pytest_tinytorch.plugin.rerun import (
    ProgressPrinter, QuietRunInterrupted, in_quiet_run, report_progress, report_total, run_quietly, worker_count,
)
from pytest_tinytorch.plugin.state import CACHE_SUBDIRECTORY, STATE_FILE, StateStore, write_json_atomically
from pytest_tinytorch.plugin.status import render_markdown, render_scorecard, render_status

MARKERS = [
    "module(name): the test is a unit test of curriculum module NAME (e.g. 'tensor').",
    "integration(group): the test belongs to integration group GROUP (e.g. '01_04').",
    "milestone(name, rubric=category): a validation test of milestone NAME, scored under "
    "the rubric CATEGORY.",
    "hidden: left out of the student edition; hidden visibility on Gradescope.",
    "autograd_op(name): a property test of the differentiable op NAME (autograd grade).",
]
NARROWING_OPTIONS = ("keyword", "markexpr", "deselect", "lf", "stepwise", "tinytorch_only")


def describe_units(units: list[str]) -> str:
    """``["module:tensor", "group:01_04"]`` -> ``unit tests of module tensor, integration group 01_04``."""
    return ", ".join(describe_unit(unit) for unit in units)


class TinyTorchWarning(pytest.PytestWarning):
    """Something the plugin had to work around (an unusable state file)."""


# -- hooks: registration and options ------------------------------------------------------
def pytest_addhooks(pluginmanager):
    from pytest_tinytorch.plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser):
    group = parser.getgroup("tinytorch", "TinyTorch course progress")
    group.addoption("--milestone", metavar="NAME", default=None,
                    help="run milestone NAME's prerequisite groups, then its validation, and print its scorecard.")
    group.addoption("--tinytorch-status", action="store_true", default=False,
                    help="print modules, groups and milestones (re-running stale groups quietly) and exit.")
    group.addoption("--tinytorch-report", metavar="PATH", default=None,
                    help="write the versioned JSON progress report to PATH.")
    group.addoption("--tinytorch-badge", metavar="PATH.svg", default=None,
                    help="write an SVG badge 'milestones N/M' to PATH and a shields.io endpoint JSON beside it.")
    group.addoption("--tinytorch-gradescope", metavar="PATH", default=None,
                    help="write a Gradescope results.json to PATH.")
    group.addoption("--tinytorch-state-file", metavar="PATH", default=None,
                    help="(internal) read and write the state at PATH instead of pytest's cache.")
    group.addoption("--tinytorch-only", metavar="UNITS", default=None,
                    help="(internal) deselect tests outside these comma-separated units, e.g. group:01_04.")
    parser.addini("tinytorch_sources", type="paths", default=[],
                  help="files or directories whose *.py make up the implementation's fingerprint "
                       "(default: the installed tinytorch package).")
    parser.addini("tinytorch_rerun_workers", default="auto",
                  help="xdist workers for quiet re-runs of stale groups: a number, or 'auto' "
                       "(one per CPU when pytest-xdist is installed; 0 runs them serially).")


def pytest_configure(config):
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    plugin = TinyTorchPlugin(config)
    config.pluginmanager.register(plugin, "tinytorch-session")
    plugin.configure()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    if not config.getoption("tinytorch_status", False):
        return None
    config._do_configure()  # as pytest's own --markers does: configure, answer, unconfigure
    try:
        return config.pluginmanager.get_plugin("tinytorch-session").show_status()
    finally:
        config._ensure_unconfigure()


class DeferredGates:
    """Registered only when a gate waits for this run's groups: checks each milestone test
    against the group failures seen so far (in a serial run, all of them: milestone tests
    run last). Kept apart so that runs without deferred gates pay no per-test hook."""

    def __init__(self, plugin: "TinyTorchPlugin"):
        self.plugin = plugin

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        plugin = self.plugin
        name = plugin.tags.get(item.nodeid, {}).get("milestone")
        gate = plugin.gates.get(name) if name else None
        if gate is not None and gate.decision == "deferred":
            reason = plugin._failed_in_this_run(plugin.curriculum.milestone(name))
            if reason:
                plugin.skip_locked(item, reason)


class FailFast:
    """What a quiet re-run (status, a milestone's prerequisites) no longer needs to run.

    A re-run only decides states, and one failing test fails its unit: once every unit of a
    test has failed in this process, the test cannot change anything. An autograd property test
    is decided once *its op* has failed, so every op still gets its own verdict (and its
    smallest example) in the autograd grade. On a fresh edition, where every test fails on a
    TODO, this runs one test per unit and per op instead of all of them.
    """

    def __init__(self):
        self.failed_units: set[str] = set()
        self.failed_ops: set[str] = set()

    def record_failure(self, tags: dict) -> None:
        self.failed_units.update(units_of(tags))
        if tags.get("autograd_op"):
            self.failed_ops.add(tags["autograd_op"])

    def decided(self, tags: dict) -> bool:
        if tags.get("autograd_op"):
            return tags["autograd_op"] in self.failed_ops
        units = units_of(tags)
        return bool(units) and all(unit in self.failed_units for unit in units)


class TinyTorchPlugin:
    """Per-process plugin state; the controller also owns the course, the state and the run."""

    def __init__(self, config):
        self.config = config
        self.is_worker = hasattr(config, "workerinput")
        self.rootdir = Path(config.rootpath)
        self.recorder = RunRecorder()
        self.tags: dict[str, dict] = {}
        self.gates: dict[str, Gate] = {}
        self.course: Course | None = None
        self.store: StateStore | None = None
        self.state = None
        self.evaluation: Evaluation | None = None
        self.changes: list = []
        self._report: dict | None = None
        self.finished = False
        self._curriculum: Curriculum | None = None
        self._total_reported = False
        self._gates_wait_for_collection = False
        self.fail_fast = FailFast()

    # -- setup ------------------------------------------------------------------------------
    @property
    def curriculum(self) -> Curriculum:
        if self._curriculum is None:
            curriculum = default_curriculum()
            self.config.hook.pytest_tinytorch_modify_curriculum(curriculum=curriculum, config=self.config)
            curriculum.validate()
            self._curriculum = curriculum
        return self._curriculum

    def configure(self) -> None:
        if not self.is_worker and not self.config.getini("tinytorch_sources"):
            problem = foreign_library(self.rootdir)
            if problem:
                raise pytest.UsageError(f"TinyTorch: {problem}")
        name = self.config.getoption("milestone")
        if name is not None:
            try:
                milestone = self.curriculum.milestone(name)
            except CurriculumError as error:
                raise pytest.UsageError(f"--milestone: {error}") from None
            if self.config.args_source != pytest.Config.ArgsSource.ARGS:
                paths = self._milestone_paths(milestone)
                if paths:
                    self.config.args = paths
        if self.is_worker:
            gates = self.config.workerinput.get("tinytorch_gates", {})
            self.set_gates({name: Gate(*gate) for name, gate in gates.items()})

    def set_gates(self, gates: dict[str, Gate]) -> None:
        self.gates = gates
        deferred = any(gate.decision == "deferred" for gate in gates.values())
        if deferred and not self.config.pluginmanager.has_plugin("tinytorch-deferred-gates"):
            self.config.pluginmanager.register(DeferredGates(self), "tinytorch-deferred-gates")

    def gate_units_of(self, milestone) -> list[str]:
        """Every unit the milestone's gates depend on: the unit tests of its groups' modules and
        the groups' integration tests, in curriculum order."""
        units = []
        for name in milestone.requires:
            group = self.curriculum.group(name)
            units += [unit_key("module", module) for module in group.modules] + [unit_key("group", name)]
        return units

    def _milestone_paths(self, milestone) -> list[str]:
        index = self._index({})
        files = [f for unit in self.gate_units_of(milestone) for f in index.files_of(unit)]
        files.append(milestone.directory)
        return [str(self.rootdir / f) for f in dict.fromkeys(files) if (self.rootdir / f).exists()]

    def selected_units(self) -> set[str] | None:
        """Units this run is restricted to (``--milestone`` / ``--tinytorch-only``), or None."""
        only = self.config.getoption("tinytorch_only")
        if only:
            return {unit.strip() for unit in only.split(",") if unit.strip()}
        name = self.config.getoption("milestone")
        if name:
            milestone = self.curriculum.milestone(name)
            return {unit_key("milestone", milestone.name), *self.gate_units_of(milestone)}
        return None

    def _index(self, cache: dict, learned: dict | None = None) -> TestIndex:
        testpaths = self.config.getini("testpaths") or ["."]
        roots = [self.rootdir / path for path in testpaths]
        return TestIndex(self.rootdir, roots, self.config.getini("python_files"), self.curriculum,
                         cache, learned)

    def prepare(self) -> None:
        """Controller: load the state, find the unit files, fingerprint the code."""
        state_file = self.config.getoption("tinytorch_state_file")
        if state_file:
            self.store = StateStore(Path(state_file))
        elif getattr(self.config, "cache", None) is not None:
            self.store = StateStore(self.config.cache.mkdir(CACHE_SUBDIRECTORY) / STATE_FILE)
        else:
            self.store = StateStore(None)  # -p no:cacheprovider: correct within the run only
        self.state, warning = self.store.load()
        if warning:
            self.config.issue_config_time_warning(TinyTorchWarning(warning), stacklevel=2)
        sources = self.config.getini("tinytorch_sources") or default_source_roots()
        self.course = Course(self.curriculum, self.rootdir, self._index(self.state.scan_cache, self.state.learned_units),
                             Fingerprinter(self.rootdir, sources))
        self.evaluation = Evaluation(self.course, self.state)

    def learn_membership(self) -> None:
        """Remember which units each collected file holds (markers with computed arguments
        included), and re-index, so that this run is merged with the complete file sets."""
        narrowed = self.narrowed_files()
        by_file: dict[str, set[str]] = {}
        for nodeid, tags in self.recorder.items.items():
            by_file.setdefault(nodeid.split("::")[0], set()).update(units_of(tags))
        learned = self.state.learned_units
        changed = False
        for relpath, units in by_file.items():
            try:
                stat = (self.rootdir / relpath).stat()
            except OSError:
                continue
            key = [stat.st_mtime_ns, stat.st_size]
            old = learned.get(relpath)
            if relpath in narrowed and old and old[:2] == key:
                units = units | set(old[2])  # a partial collection only adds
            entry = [*key, sorted(units)]
            if entry != old:
                learned[relpath], changed = entry, True
        if changed:
            self.course = Course(self.curriculum, self.rootdir, self._index(self.state.scan_cache, learned),
                                 self.course.fingerprinter)

    def quiet_run(self, units: list[str], write_line, printer: ProgressPrinter | None = None) -> None:
        """Re-run ``units`` in a child pytest, showing its progress, and adopt the state it leaves.

        Ctrl-C stops the child and raises ``QuietRunInterrupted`` (one line, nothing recorded)."""
        files = sorted({f for unit in units for f in self.course.test_files(unit)})
        last_passing = sum(outcome not in FAILING for unit in units if unit in self.state.units
                           for outcome in self.state.units[unit].tests.values())
        workers = worker_count(self.config.getini("tinytorch_rerun_workers"), last_passing)
        printer = printer or ProgressPrinter(write_line, is_terminal=False)
        try:
            what = describe_units(units) if len(units) <= 4 else f"{len(units)} units"
            result = run_quietly(self.rootdir, self.config.inipath, files, units, self.state, workers,
                                 show=printer, what=what)
        finally:
            printer.finish()
        write_line(result.summary(what))
        if result.returncode not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            tail = "\n".join(result.output.strip().splitlines()[-15:])
            write_line(f"tinytorch: the quiet re-run ended with exit code {result.returncode}:\n{tail}")
        self.state = result.state
        self.course = Course(self.curriculum, self.rootdir,
                             self._index(self.state.scan_cache, self.state.learned_units), self.course.fingerprinter)
        self.evaluation = Evaluation(self.course, self.state)

    # -- which files does this run cover (decided before collection) -------------------------
    def _argument_paths(self) -> list[tuple[Path, bool]]:
        """(resolved path, narrowed to node ids) for every command-line path."""
        base = Path(self.config.invocation_params.dir)
        paths = []
        for argument in self.config.args:
            path, _, rest = str(argument).partition("::")
            paths.append(((base / path).resolve(), bool(rest)))
        return paths

    def narrowed_files(self) -> set[str]:
        narrowed = set()
        for path, is_narrowed in self._argument_paths():
            if is_narrowed and path.is_relative_to(self.rootdir.resolve()):
                narrowed.add(path.relative_to(self.rootdir.resolve()).as_posix())
        return narrowed

    def covers(self, relpath: str, whole: bool = True) -> bool:
        """Will this run collect ``relpath`` (and, if ``whole``, all of its tests)?"""
        if whole and any(self.config.getoption(name, None) for name in NARROWING_OPTIONS):
            return False
        target = (self.rootdir / relpath).resolve()
        ignored = [Path(self.config.invocation_params.dir, p).resolve() for p in self.config.getoption("ignore") or []]
        if any(target.is_relative_to(path) for path in ignored):
            return False
        return any(
            target.is_relative_to(path) and not (whole and is_narrowed)
            for path, is_narrowed in self._argument_paths()
        )

    # -- controller: session start ----------------------------------------------------------
    def pytest_sessionstart(self, session):
        if self.is_worker:
            return
        self.prepare()
        if in_quiet_run():
            return
        if not self.config.pluginmanager.has_plugin("dsession"):
            self._gates_wait_for_collection = True  # serial: decide once -k & co. have deselected
            return
        # xdist's controller collects nothing itself and must hand the gates to its workers now:
        # decide for every milestone whose test files the command line reaches.
        self.decide_gates([
            m for m in self.curriculum.milestones
            if any(self.covers(f, whole=False) for f in self.course.test_files(unit_key("milestone", m.name)))
        ])

    def decide_gates(self, milestones) -> None:
        """Gate these milestones' tests: re-run the stale units of their gates that this run will
        not run in full itself (quietly, showing progress), then open, close or defer each gate."""
        group_covered = lambda name: all(  # noqa: E731
            self.covers(f) for unit in self.evaluation.gate_units(name) for f in self.course.test_files(unit))
        recheck: list[str] = []
        for milestone in milestones:
            states = self.evaluation.group_states(milestone)
            if any(state in (FAILED, NOT_BUILT) for state in states.values()):
                continue  # locked whatever the unknown groups would say
            for name, state in states.items():
                if state in (STALE, NOT_RUN) and not group_covered(name):
                    recheck += [u for u in self.evaluation.units_to_recheck(name) if u not in recheck]
        if recheck and not self.config.option.collectonly:  # collecting never runs tests
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            write_line = reporter.write_line if reporter is not None else print
            write_line(f"tinytorch: running {describe_units(recheck)} against the current code first, "
                       "to decide the milestone gates")
            printer = ProgressPrinter(write_line, is_terminal=bool(reporter and reporter.isatty),
                                      rewrite=reporter.rewrite if reporter is not None else None)
            try:
                self.quiet_run(recheck, write_line, printer)
            except QuietRunInterrupted as interrupted:
                pytest.exit(str(interrupted), returncode=pytest.ExitCode.INTERRUPTED)
        self.set_gates({m.name: self.evaluation.gate(m, group_covered) for m in milestones})

    def gate_selected_items(self, items) -> None:
        """Serial runs, once every deselection (``-k``, ``-m``, node ids) is done: gate only the
        milestones that still have a test selected; a run without one re-runs nothing."""
        self._gates_wait_for_collection = False
        selected = {self.tags.get(item.nodeid, {}).get("milestone") for item in items}
        self.decide_gates([m for m in self.curriculum.milestones if m.name in selected])
        self.gate_closed_items(items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):  # xdist controller, one call per worker
        node.workerinput["tinytorch_gates"] = {
            name: [gate.decision, gate.reason] for name, gate in self.gates.items()
        }

    # -- every process: collection -----------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector):
        report = yield
        if report.passed and report.result:
            errors = [e for node in report.result for e in marker_errors(node, self.curriculum)]
            if errors:
                report.outcome = "failed"
                report.longrepr = "TinyTorch marker error:\n" + "\n".join(dict.fromkeys(errors))
                report.result = []
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session, config, items):
        path_units: dict[str, dict] = {}  # one lookup per file, not per test
        for item in items:
            relpath = item.nodeid.split("::")[0]
            if relpath not in path_units:
                path_units[relpath] = units_by_path(relpath, self.curriculum)
            self.tags[item.nodeid] = item_tags(item, path_units[relpath], self.curriculum)
        allowed = self.selected_units()
        if allowed is not None:
            keep = [item for item in items if allowed & set(units_of(self.tags[item.nodeid]))]
            dropped = [item for item in items if not allowed & set(units_of(self.tags[item.nodeid]))]
            if dropped:
                config.hook.pytest_deselected(items=dropped)
            items[:] = keep
        # milestone tests last, so that a serial run knows its groups' outcomes first
        items.sort(key=lambda item: self.tags[item.nodeid]["milestone"] is not None)
        self.gate_closed_items(items)

    def pytest_collection_finish(self, session):
        if self._gates_wait_for_collection:
            self.gate_selected_items(session.items)
        if not self.is_worker and in_quiet_run():
            report_total(len(session.items))
        self.recorder.add_collection(self.tags)
        if self.is_worker:
            self.config.workeroutput["tinytorch_items"] = self.tags

    # -- every process: running -------------------------------------------------------------
    def gate_closed_items(self, items) -> None:
        """Skip the tests of milestones whose gate is closed (a skip mark points at the test)."""
        for item in items:
            name = self.tags[item.nodeid]["milestone"]
            gate = self.gates.get(name) if name else None
            if gate is not None and gate.decision == "closed":
                self.skip_locked(item, gate.reason)

    @staticmethod
    def skip_locked(item, reason: str) -> None:
        item.user_properties.append((GATED_PROPERTY, True))
        item.add_marker(pytest.mark.skip(reason=reason))

    def _failed_in_this_run(self, milestone) -> str:
        """Why a deferred milestone is locked by failures already seen in this run ('' if none)."""
        failing_now: dict[str, list[str]] = {}
        for nodeid, result in self.recorder.results.items():
            if result.outcome in FAILING:
                for unit in units_of(self.tags.get(nodeid, {})):
                    failing_now.setdefault(unit, []).append(nodeid)
        gate_units = set(self.gate_units_of(milestone))
        if not any(unit in gate_units for unit in failing_now):
            return ""
        parts, command = [], ""
        for unit in self.gate_units_of(milestone):
            failing = failing_now.get(unit)
            if failing:
                shown = ", ".join(failing[:3]) + (f" and {len(failing) - 3} more" if len(failing) > 3 else "")
                parts.append(f"{describe_unit(unit)} failed ({shown})")
                command = command or "pytest " + " ".join(self.course.test_files(unit))
        return f"{milestone.label} is LOCKED: {'; '.join(parts)}. Run: {command}"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        """Keep hypothesis's minimal failing example (``__notes__``) on the test's reports."""
        try:
            return (yield)
        except BaseException as error:
            examples = minimal_examples(getattr(error, "__notes__", None))
            if examples:
                item.user_properties.append((EXAMPLE_PROPERTY, "\n".join(examples)))
            raise

    def pytest_runtest_logreport(self, report):
        self.recorder.add_report(report)
        if in_quiet_run():
            if report.failed:
                self.fail_fast.record_failure(self.tags.get(report.nodeid, {}))
            if not self.is_worker:
                report_progress(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        """In a quiet re-run, do not run tests whose outcome can no longer change a state."""
        if in_quiet_run() and self.fail_fast.decided(self.tags.get(item.nodeid, {})):
            return True  # nothing reported: the unit is failed already, whatever this test does
        return None

    def pytest_collectreport(self, report):
        self.recorder.add_collect_report(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        if in_quiet_run() and not self._total_reported:  # one line, from the first worker
            self._total_reported = True
            report_total(len(ids))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        output = getattr(node, "workeroutput", None) or {}
        if "tinytorch_items" in output:
            self.recorder.add_collection(output["tinytorch_items"])

    # -- controller: the end of the run -----------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self.is_worker or self.course is None:
            return
        self.finish()
        name = self.config.getoption("milestone")
        if name and self.evaluation.milestone_state(self.curriculum.milestone(name))[0] == LOCKED:
            if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def finish(self) -> None:
        """Merge the run, save the state, announce changes, write the requested outputs."""
        if self.finished:
            return
        self.finished = True
        if self.recorder.collected or self.recorder.results or self.recorder.collection_errors:
            self.learn_membership()
            merge_run(self.course, self.state, self.recorder, self.narrowed_files())
        self._settle()
        self.write_outputs()

    def _settle(self) -> None:
        """Record history and announcements, save, then tell the hooks."""
        self.evaluation = Evaluation(self.course, self.state)
        self.evaluation.update_history()
        if not in_quiet_run():  # announcing is the parent's job
            self.changes = self.evaluation.announce_changes()
        self.state.scan_cache = self.course.index.cache
        self.store.save(self.state)
        for milestone, old, new in self.changes:
            self.config.hook.pytest_tinytorch_milestone_changed(
                milestone=milestone, old_state=old, new_state=new, config=self.config)

    @property
    def report(self) -> dict:
        """The JSON report of this run, built on first use (most runs never need it)."""
        if self._report is None:
            self._report = build_report(self.evaluation, self.recorder, warnings=self.integrity_warnings)
        return self._report

    @functools.cached_property
    def integrity_warnings(self) -> list[dict]:
        """Conftests and pytest plugins in this run that are not the course's (``course_integrity``)."""
        return course_warnings(self.config)

    def write_outputs(self) -> None:
        if in_quiet_run():
            return
        report_path = self.config.getoption("tinytorch_report")
        if report_path:
            write_json_atomically(Path(report_path), self.report)
        badge_path = self.config.getoption("tinytorch_badge")
        if badge_path:
            states = [self.evaluation.milestone_state(m)[0] for m in self.curriculum.milestones]
            write_badge(badge_path, states.count(COMPLETE), len(states))
        gradescope_path = self.config.getoption("tinytorch_gradescope")
        if gradescope_path:
            write_gradescope(self.report, gradescope_path)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(render_markdown(self.evaluation))

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report):
        if self.is_worker or self.course is None:
            return
        self.finish()
        json_report["tinytorch"] = self.report

    def change_lines(self) -> list[str]:
        lines = []
        for milestone, _old, new in self.changes:
            if new == UNLOCKED:
                lines.append(f"{milestone.label} UNLOCKED — run: pytest --milestone={milestone.name}")
            elif new == COMPLETE:
                lines.append(f"{milestone.label} COMPLETE")
            else:
                lines.append(f"{milestone.label} LOCKED — run: {self.evaluation.group_command(milestone)}")
        return lines

    def pytest_terminal_summary(self, terminalreporter):
        if self.is_worker or self.evaluation is None or in_quiet_run():
            return
        lines = []
        name = self.config.getoption("milestone")
        if name:
            milestone = self.curriculum.milestone(name)
            ran = any(self.recorder.items.get(nodeid, {}).get("milestone") == milestone.name
                      for nodeid in self.recorder.results)
            if self.evaluation.milestone_state(milestone)[0] == LOCKED:
                lines.append(self.evaluation.locked_reason(milestone))
            else:
                if not ran:
                    lines.append(f"No validation test of {milestone.label} ran in this run (its folder "
                                 f"{milestone.directory} was not selected); the scorecard shows what earlier "
                                 "runs recorded against the current code.")
                lines.append(render_scorecard(self.evaluation, milestone))
        ran_autograd = any(tags.get("autograd_op") for tags in self.recorder.items.values())
        grade = self.evaluation.autograd_grade()
        if ran_autograd and grade is not None:
            lines.append(f"autograd: {grade['verified']}/{grade['total']} ops verified")
        lines += self.change_lines()
        lines += [warning["message"] for warning in self.integrity_warnings]
        if lines:
            terminalreporter.write_sep("-", "tinytorch")
            for line in lines:
                terminalreporter.write_line(line)

    # -- --tinytorch-status -----------------------------------------------------------------
    def show_status(self) -> int:
        from _pytest.config import create_terminal_writer

        writer = create_terminal_writer(self.config)
        if not self._index({}).files:  # before prepare(), which would create a cache folder
            testpaths = ", ".join(self.config.getini("testpaths") or ["."])
            writer.line(f"pytest --tinytorch-status: {self.rootdir} is not a TinyTorch course: no module, "
                        f"integration-group or milestone tests were found under {testpaths}. Run it from the "
                        "root of a TinyTorch checkout (the folder with pyproject.toml, modules/ and milestones/).")
            return pytest.ExitCode.USAGE_ERROR
        self.prepare()
        if self.store.warning:  # no warnings summary in this mode: say it here
            writer.line(f"TinyTorchWarning: {self.store.warning}", yellow=True)
        stale = [unit for g in self.curriculum.groups if self.course.group_built(g.name)
                 for unit in self.evaluation.units_to_recheck(g.name)]
        if self.evaluation.unit_state(AUTOGRAD) in (STALE, NOT_RUN) and self.course.test_files(AUTOGRAD):
            stale.append(AUTOGRAD)
        if stale and not in_quiet_run():
            writer.line(f"re-running against the current code: {describe_units(stale)} ...")
            printer = ProgressPrinter(writer.line, is_terminal=sys.stdout.isatty(),  # the writer's file
                                      rewrite=lambda line: writer.write("\r\x1b[K" + line, flush=True))
            try:
                self.quiet_run(stale, writer.line, printer)
            except QuietRunInterrupted as interrupted:
                writer.line("")
                writer.line(str(interrupted))
                return pytest.ExitCode.INTERRUPTED
        self._settle()
        self.write_outputs()
        writer.line(render_status(self.evaluation))
        for line in self.change_lines():
            writer.line(line)
        for warning in self.integrity_warnings:
            writer.line(warning["message"], yellow=True)
        return 0
