"""What happened in one run: collected tests, their outcomes, collection errors.

The recorder is fed the same way in a serial run and under xdist: test reports through
``pytest_runtest_logreport`` (xdist forwards them to the controller), the collected tests
and their tags from the collecting process (under xdist a worker's ``workeroutput``). So a
serial and a parallel run of the same tests produce the same record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FAILING = frozenset({"failed", "error"})
"""Outcomes that fail a unit. Passed, skipped (by the test's own condition), xfailed and
non-strict xpassed tests do not."""

GATED_PROPERTY = "tinytorch_gated"
"""user_properties key set on a milestone test skipped because its milestone is locked."""
EXAMPLE_PROPERTY = "tinytorch_falsifying_example"
"""user_properties key carrying hypothesis's minimal failing example from worker to controller."""

MINIMAL_EXAMPLE_PREFIXES = ("Falsifying example:", "Failing test case:")
"""How hypothesis introduces the minimal failing input among an exception's ``__notes__``:
"Falsifying example:" up to about 6.16x, "Failing test case:" in later releases."""


def minimal_examples(notes) -> list:
    """The notes that show hypothesis's minimal failing input, whatever its version's wording."""
    return [note for note in notes or () if isinstance(note, str) and note.startswith(MINIMAL_EXAMPLE_PREFIXES)]


@dataclass
class TestResult:
    """The outcome of one test over its setup, call and teardown phases."""

    __test__ = False

    nodeid: str
    outcome: str = "passed"
    duration: float = 0.0
    message: str = ""
    example: str | None = None
    gated: bool = False
    finished: bool = False  # the teardown report arrived: the test ran to its end


def _message(report) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, lineno, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    text = str(longrepr).strip()
    return text.splitlines()[-1] if text else ""


@dataclass
class RunRecorder:
    """Collects one run's facts; plain data, no pytest objects kept."""

    items: dict[str, dict] = field(default_factory=dict)  # nodeid -> tags, before deselection
    results: dict[str, TestResult] = field(default_factory=dict)
    collection_errors: dict[str, str] = field(default_factory=dict)  # file -> message
    collected: bool = False

    def add_collection(self, items: dict[str, dict]) -> None:
        """The collected tests, before deselection (first collecting process wins; xdist
        workers agree). A deselected test has no result, so its file is not complete."""
        if not self.collected:
            self.items = dict(items)
            self.collected = True

    def add_collect_report(self, report) -> None:
        if report.failed:
            relpath = report.nodeid.split("::")[0]
            self.collection_errors[relpath] = _message(report) or "collection error"

    def add_report(self, report) -> None:
        result = self.results.get(report.nodeid)
        if result is None:
            result = self.results[report.nodeid] = TestResult(report.nodeid)
        result.duration += getattr(report, "duration", 0.0) or 0.0
        if report.user_properties:
            properties = dict(report.user_properties)
            if GATED_PROPERTY in properties:
                result.gated = True
            if properties.get(EXAMPLE_PROPERTY):
                result.example = properties[EXAMPLE_PROPERTY]
        if report.when == "teardown":
            result.finished = True
            if report.failed and result.outcome not in FAILING:
                result.outcome, result.message = "error", _message(report)
            return
        if result.outcome in FAILING or result.outcome in ("skipped", "xfailed"):
            return  # the first decisive phase wins
        if hasattr(report, "wasxfail"):
            result.outcome = "xfailed" if report.skipped else "xpassed"
            result.message = str(report.wasxfail)
        elif report.failed:
            result.outcome = "error" if report.when == "setup" else "failed"
            result.message = _message(report)
        elif report.skipped:
            result.outcome, result.message = "skipped", _message(report)

    def files(self) -> set[str]:
        """Every test file that collected at least one test."""
        return {nodeid.split("::")[0] for nodeid in self.items}

    def tests_by_unit(self, units_of) -> dict[str, list[str]]:
        """Collected tests grouped by unit (``units_of(tags)`` names a test's units)."""
        grouped: dict[str, list[str]] = {}
        for nodeid, tags in self.items.items():
            for unit in units_of(tags):
                grouped.setdefault(unit, []).append(nodeid)
        return grouped

    def finished_outcomes(self, nodeids) -> dict[str, TestResult]:
        """Results of these tests that ran to their end and were not skipped by a gate."""
        results = {}
        for nodeid in nodeids:
            result = self.results.get(nodeid)
            if result is not None and result.finished and not result.gated:
                results[nodeid] = result
        return results
