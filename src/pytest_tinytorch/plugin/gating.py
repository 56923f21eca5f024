"""Gating: unit states from recorded outcomes, milestone states from unit states.

The rules, in one place:

- A unit (module, group, milestone validation, autograd) is **passed** when, against its
  current fingerprint, every one of its test files has run completely and none of its tests
  failed or errored; **failed** as soon as one did; **stale** when its record belongs to
  older code; **not run** otherwise. A group whose test file does not exist is **not built
  yet**. A test that did not run (``-k``, a single node id, deselection) changes nothing.
- A group's **gate** follows the course plan (Module Implementation -> Unit Tests ->
  Integration Tests -> Milestone Unlock): it is passed only when the unit tests of every one of
  its modules *and* its integration tests pass against the current code, failed as soon as one
  of them fails. A module without unit-test files does not take part (the real course ships
  unit tests for every module, and ``tito grade`` restores them).
- Milestone k is **LOCKED** until the gates of all its required groups pass, **UNLOCKED**
  after, and **COMPLETE** when its validation tests pass too. Nothing else makes it complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_tinytorch.plugin.curriculum import Curriculum, Milestone
from pytest_tinytorch.plugin.fingerprint import Fingerprinter
from pytest_tinytorch.plugin.membership import AUTOGRAD, TestIndex, unit_key, units_of
from pytest_tinytorch.plugin.outcomes import FAILING, RunRecorder
from pytest_tinytorch.plugin.state import ProgressState, UnitRecord, now

PASSED, FAILED, NOT_RUN, STALE, NOT_BUILT = "passed", "failed", "not run", "stale", "not built yet"
LOCKED, UNLOCKED, COMPLETE = "LOCKED", "UNLOCKED", "COMPLETE"
STALE_MILESTONE = "STALE"
"""Shown (never gated on) for a milestone that was UNLOCKED or COMPLETE and has not been
re-checked since the code changed: an edit is not a re-lock."""


class Course:
    """The curriculum as found on disk for one run: test files and fingerprints per unit."""

    def __init__(self, curriculum: Curriculum, rootdir: Path, index: TestIndex, fingerprinter: Fingerprinter):
        self.curriculum = curriculum
        self.rootdir = Path(rootdir)
        self.index = index
        self.fingerprinter = fingerprinter
        self._fingerprints: dict[str, str] = {}

    def units(self) -> list[str]:
        """Every unit key, in curriculum order (milestones last)."""
        keys = [unit_key("module", m.name) for m in self.curriculum.modules]
        keys += [unit_key("group", g.name) for g in self.curriculum.groups]
        keys += [AUTOGRAD]
        keys += [unit_key("milestone", m.name) for m in self.curriculum.milestones]
        return keys

    def test_files(self, unit: str) -> list[str]:
        return self.index.files_of(unit)

    def fingerprint(self, unit: str) -> str:
        """Sources + the unit's test files (+ for a milestone, every ``*.py`` of its directory)."""
        if unit not in self._fingerprints:
            files = list(self.test_files(unit))
            if unit.startswith("milestone:"):
                directory = self.rootdir / self.curriculum.milestone(unit.split(":", 1)[1]).directory
                if directory.is_dir():
                    files += [p.relative_to(self.rootdir).as_posix() for p in sorted(directory.rglob("*.py"))]
            self._fingerprints[unit] = self.fingerprinter.of_files(files)
        return self._fingerprints[unit]

    def group_built(self, name: str) -> bool:
        return (self.rootdir / self.curriculum.group(name).test_file).is_file()


def describe_unit(unit: str) -> str:
    """``module:tensor`` -> ``unit tests of module tensor``; ``group:01_04`` -> ``integration
    group 01_04``; ``milestone:mlp`` -> ``milestone mlp``; ``autograd`` -> ``the autograd grade``."""
    if unit == AUTOGRAD:
        return "the autograd grade"
    kind, name = unit.split(":", 1)
    return {"module": f"unit tests of module {name}", "group": f"integration group {name}",
            "milestone": f"milestone {name}"}[kind]


# -- merging one run into the state -------------------------------------------------------
def merge_unit(course: Course, state: ProgressState, run: RunRecorder, unit: str,
               unit_items: list[str], collected_files: set[str], narrowed_files: set[str]) -> None:
    """Fold a run's outcomes for ``unit`` into its record (a new record if the code changed).

    ``unit_items`` are the run's collected tests of the unit, before any deselection.
    """
    files = course.test_files(unit)
    results = run.finished_outcomes(unit_items)
    errors = {f: message for f, message in run.collection_errors.items() if f in files}
    unfinished_files = {nodeid.split("::")[0] for nodeid in unit_items if nodeid not in results}
    complete = [
        f for f in files
        if f in collected_files and f not in narrowed_files and f not in errors
        and f not in unfinished_files
    ]
    if not results and not errors and not complete:
        return
    fingerprint = course.fingerprint(unit)
    record = state.units.get(unit)
    if record is None or record.fingerprint != fingerprint:
        record = state.units[unit] = UnitRecord(fingerprint)
    for relpath in complete:  # a complete file replaces what was known about it
        for nodeid in [n for n in record.tests if n.split("::")[0] == relpath]:
            del record.tests[nodeid]
            record.details.pop(nodeid, None)
        if relpath not in record.complete_files:
            record.complete_files.append(relpath)
    for relpath, message in errors.items():
        record.tests[relpath] = "error"
        record.details[relpath] = {"message": message}
    for nodeid, result in results.items():
        record.tests[nodeid] = result.outcome
        tags = run.items[nodeid]
        detail = {key: value for key, value in (
            ("rubric", tags.get("rubric")), ("op", tags.get("autograd_op")),
            ("example", result.example), ("message", result.message if result.outcome in FAILING else None),
        ) if value}
        if detail:
            record.details[nodeid] = detail
        else:
            record.details.pop(nodeid, None)
    record.updated_at = now()


def merge_run(course: Course, state: ProgressState, run: RunRecorder, narrowed_files: set[str]) -> None:
    """Merge a whole run. Milestone tests count only if the milestone is unlocked after it."""
    by_unit = run.tests_by_unit(units_of)
    collected_files = run.files()
    for unit in course.units():
        if not unit.startswith("milestone:"):
            merge_unit(course, state, run, unit, by_unit.get(unit, []), collected_files, narrowed_files)
    evaluation = Evaluation(course, state)
    for milestone in course.curriculum.milestones:
        if evaluation.milestone_state(milestone)[0] != LOCKED:
            unit = unit_key("milestone", milestone.name)
            merge_unit(course, state, run, unit, by_unit.get(unit, []), collected_files, narrowed_files)


# -- reading the state --------------------------------------------------------------------
@dataclass
class Gate:
    """What to do with a milestone's tests in this run, decided once on the controller."""

    decision: str  # "open", "closed" or "deferred" (its groups run in this run first)
    reason: str = ""


class Evaluation:
    """States computed from a ``ProgressState`` against the current code."""

    def __init__(self, course: Course, state: ProgressState):
        self.course = course
        self.state = state
        self.curriculum = course.curriculum

    def record(self, unit: str) -> UnitRecord | None:
        record = self.state.units.get(unit)
        if record is not None and record.fingerprint == self.course.fingerprint(unit):
            return record
        return None

    def unit_state(self, unit: str) -> str:
        if unit.startswith("group:") and not self.course.group_built(unit.split(":", 1)[1]):
            return NOT_BUILT
        saved = self.state.units.get(unit)
        if saved is None:
            return NOT_RUN
        record = self.record(unit)
        if record is None:
            return STALE
        if any(outcome in FAILING for outcome in record.tests.values()):
            return FAILED
        files = self.course.test_files(unit)
        if record.tests and files and set(files) <= set(record.complete_files):
            return PASSED
        return NOT_RUN

    def gate_units(self, group: str) -> list[str]:
        """The units whose tests decide a group's gate: its modules' unit tests (those that
        have test files), then its integration tests."""
        modules = [unit_key("module", name) for name in self.curriculum.group(group).modules]
        return [unit for unit in modules if self.course.test_files(unit)] + [unit_key("group", group)]

    def gate_state(self, group: str) -> str:
        """The state of a group's gate: every unit of ``gate_units`` must pass."""
        if not self.course.group_built(group):
            return NOT_BUILT
        states = [self.unit_state(unit) for unit in self.gate_units(group)]
        if FAILED in states:
            return FAILED
        if all(state == PASSED for state in states):
            return PASSED
        return STALE if STALE in states else NOT_RUN

    def units_to_recheck(self, group: str) -> list[str]:
        """The units of a group's gate that must run before the gate is known (stale or never run)."""
        return [unit for unit in self.gate_units(group)
                if self.unit_state(unit) in (STALE, NOT_RUN) and self.course.test_files(unit)]

    def failing_tests(self, unit: str) -> list[str]:
        record = self.record(unit)
        if record is None:
            return []
        return [nodeid for nodeid, outcome in record.tests.items() if outcome in FAILING]

    def counts(self, unit: str) -> tuple[int, int]:
        """(passing, recorded) tests of the unit against the current code."""
        record = self.record(unit)
        if record is None:
            return 0, 0
        return sum(o not in FAILING for o in record.tests.values()), len(record.tests)

    def group_states(self, milestone: Milestone) -> dict[str, str]:
        """The gate state of each group the milestone requires."""
        return {name: self.gate_state(name) for name in milestone.requires}

    def milestone_state(self, milestone: Milestone) -> tuple[str, str | None]:
        """(state to show, state that is *known*: None while a required group is unknown).

        Only known states are announced and remembered, so a partial run or an edit never
        re-locks or re-unlocks anything by itself.
        """
        groups = self.group_states(milestone).values()
        if any(state in (FAILED, NOT_BUILT) for state in groups):
            return LOCKED, LOCKED
        if not all(state == PASSED for state in groups):
            return LOCKED, None
        validation = self.unit_state(unit_key("milestone", milestone.name))
        if validation == PASSED:
            return COMPLETE, COMPLETE
        if validation == FAILED:
            return UNLOCKED, UNLOCKED
        known = None if self.state.milestone_states.get(milestone.name) == COMPLETE else UNLOCKED
        return UNLOCKED, known

    def display_state(self, milestone: Milestone) -> str:
        """The state to *show*: ``milestone_state``, except that a milestone last known as
        UNLOCKED or COMPLETE whose gates or validation have not been re-checked since the
        code changed shows STALE instead of looking re-locked (or unscored)."""
        shown, known = self.milestone_state(milestone)
        last = self.state.milestone_states.get(milestone.name, LOCKED)
        if known is None and last in (UNLOCKED, COMPLETE):
            return STALE_MILESTONE
        return shown

    def gate(self, milestone: Milestone, covered) -> Gate:
        """Whether a run may run this milestone's tests. ``covered(group)``: will the run
        run all of that group's tests (so that the decision can wait for them)."""
        states = self.group_states(milestone)
        blocking = [name for name, state in states.items() if state in (FAILED, NOT_BUILT)]
        if blocking:
            return Gate("closed", self.locked_reason(milestone))
        unknown = [name for name, state in states.items() if state != PASSED]
        if not unknown:
            return Gate("open")
        if all(covered(name) for name in unknown):
            return Gate("deferred")
        return Gate("closed", self.locked_reason(milestone))

    def locked_reason(self, milestone: Milestone, failing_now: dict[str, list[str]] | None = None) -> str:
        """Why a milestone is locked, naming the failing tests and the command to run.

        ``failing_now`` maps unit keys to tests that failed in the current run (deferred gates).
        """
        parts = []
        for name, state in self.group_states(milestone).items():
            if state == NOT_BUILT:
                parts.append(f"integration group {name} is not built yet "
                             f"({self.curriculum.group(name).test_file} does not exist)")
                continue
            failed_any = False
            for unit in self.gate_units(name):
                failing = (failing_now or {}).get(unit) or (
                    self.failing_tests(unit) if self.unit_state(unit) == FAILED else [])
                if failing:
                    failed_any = True
                    shown = ", ".join(failing[:3]) + (f" and {len(failing) - 3} more" if len(failing) > 3 else "")
                    parts.append(f"{describe_unit(unit)} failed ({shown})")
            if not failed_any and state != PASSED:
                waiting = [describe_unit(unit) for unit in self.gate_units(name) if self.unit_state(unit) != PASSED]
                parts.append(f"{', '.join(waiting)} {'has' if len(waiting) == 1 else 'have'} "
                             "not run against the current code")
        return (f"{milestone.label} is LOCKED: {'; '.join(parts)}. "
                f"Run: {self.group_command(milestone)}")

    def group_command(self, milestone: Milestone) -> str:
        """The command that checks a milestone's prerequisites (and then the milestone): the
        first failing unit's tests (a module's unit tests come before its group's)."""
        for name, state in self.group_states(milestone).items():
            if state == FAILED:
                for unit in self.gate_units(name):
                    if self.unit_state(unit) == FAILED:
                        return "pytest " + " ".join(self.course.test_files(unit))
        return f"pytest --milestone={milestone.name}"

    # -- grades -------------------------------------------------------------------------
    def rubric_scores(self, milestone: Milestone) -> dict[str, dict]:
        """Per rubric category: weight, tests passed, tests total, score (weight x share passed).

        A locked milestone scores nothing: its tests do not count until it is unlocked.
        """
        record = self.record(unit_key("milestone", milestone.name))
        unlocked = self.milestone_state(milestone)[0] != LOCKED
        scores = {}
        for category, weight in milestone.rubric.items():
            outcomes = [
                record.tests[nodeid] for nodeid, detail in (record.details.items() if record else ())
                if detail.get("rubric") == category and nodeid in record.tests
            ] if unlocked else []
            passed = sum(outcome not in FAILING for outcome in outcomes)
            score = weight * passed / len(outcomes) if outcomes else 0.0
            scores[category] = {"weight": weight, "passed": passed, "total": len(outcomes), "score": round(score, 6)}
        return scores

    def autograd_grade(self) -> dict | None:
        """``{"verified", "total", "ops": {op: {"outcome", "example"}}}`` or None if unknown."""
        record = self.record(AUTOGRAD)
        if record is None:
            return None
        ops: dict[str, dict] = {}
        for nodeid, outcome in record.tests.items():
            op = record.details.get(nodeid, {}).get("op")
            if op is None:
                continue
            entry = ops.setdefault(op, {"outcome": "passed", "example": None})
            if outcome in FAILING:
                entry["outcome"] = "failed"
                entry["example"] = entry["example"] or record.details[nodeid].get("example") \
                    or record.details[nodeid].get("message")
        if not ops:
            return None
        verified = sum(entry["outcome"] == "passed" for entry in ops.values())
        return {"verified": verified, "total": len(ops), "ops": dict(sorted(ops.items())),
                "complete": self.unit_state(AUTOGRAD) in (PASSED, FAILED)}

    def next_command(self) -> str:
        """The one command a student should run next."""
        for module in self.curriculum.modules:
            unit = unit_key("module", module.name)
            if self.unit_state(unit) == FAILED:
                return "pytest " + " ".join(self.course.test_files(unit) or [f"modules/source/{module.key}"])
        for group in self.curriculum.groups:
            state = self.gate_state(group.name)
            if state == NOT_BUILT:
                return f"(integration group {group.name} is not built yet; nothing to run)"
            if state != PASSED:
                for unit in self.gate_units(group.name):  # unit tests first, as in the course plan
                    if self.unit_state(unit) != PASSED:
                        return "pytest " + " ".join(self.course.test_files(unit))
            milestone = self.curriculum.milestone_of_group(group.name)
            if milestone is not None and self.milestone_state(milestone)[0] != COMPLETE:
                return f"pytest --milestone={milestone.name}"
        for milestone in self.curriculum.milestones:
            if self.milestone_state(milestone)[0] == UNLOCKED:
                return f"pytest --milestone={milestone.name}"
        return "(every milestone is complete)"

    def update_history(self) -> None:
        for module in self.curriculum.modules:
            if self.unit_state(unit_key("module", module.name)) == PASSED:
                self.state.record_first("modules", module.name)
        for group in self.curriculum.groups:
            if self.gate_state(group.name) == PASSED:
                self.state.record_first("groups", group.name)

    def announce_changes(self) -> list[tuple[Milestone, str, str]]:
        """Known milestone states that differ from the last announced ones (and remember them)."""
        changes = []
        for milestone in self.curriculum.milestones:
            known = self.milestone_state(milestone)[1]
            old = self.state.milestone_states.get(milestone.name, LOCKED)
            if known is not None and known != old:
                changes.append((milestone, old, known))
                self.state.milestone_states[milestone.name] = known
            if known in (UNLOCKED, COMPLETE):
                self.state.record_first("milestones", milestone.name, UNLOCKED)
            if known == COMPLETE:
                self.state.record_first("milestones", milestone.name, COMPLETE)
        return changes
