"""The versioned JSON report (``--tinytorch-report``), documented in docs/report-schema.md.

``build_report`` is a plain function of an ``Evaluation`` and the run's recorder, so that the
plugin, pytest-json-report's ``tinytorch`` section and ``tito grade`` share one document.
"""

from __future__ import annotations

import platform
from importlib import metadata

from pytest_tinytorch.plugin.gating import Evaluation
from pytest_tinytorch.plugin.membership import unit_key
from pytest_tinytorch.plugin.outcomes import RunRecorder
from pytest_tinytorch.plugin.state import now
from pytest_tinytorch.plugin.status import total_score

SCHEMA = "tinytorch-report"
VERSION = 1


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    return {
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "pytest": _version("pytest"),
        "tinytorch": _version("tinytorch"),
        "plugin": _version("tinytorch"),  # the plugin ships in the tinytorch distribution
    }


def _unit_entry(evaluation: Evaluation, unit: str) -> dict:
    passing, total = evaluation.counts(unit)
    return {"state": evaluation.unit_state(unit), "passed": passing, "total": total,
            "failing": evaluation.failing_tests(unit), "test_files": evaluation.course.test_files(unit)}


def _gate_entry(evaluation: Evaluation, group: str) -> dict:
    """The group's gate: its state and the state of each unit it is made of."""
    units = evaluation.gate_units(group) if evaluation.course.group_built(group) else []
    return {"state": evaluation.gate_state(group),
            "units": {unit: evaluation.unit_state(unit) for unit in units}}


def _locked_by(evaluation: Evaluation, milestone) -> list[dict]:
    """Why a milestone is locked: every unit of its groups' gates that has not passed
    (``unit``, ``state``, ``failing`` tests), in curriculum order; empty when unlocked."""
    if evaluation.display_state(milestone) != "LOCKED":
        return []
    blocking = []
    for group in milestone.requires:
        if not evaluation.course.group_built(group):
            blocking.append({"unit": unit_key("group", group), "state": "not built yet", "failing": []})
            continue
        for unit in evaluation.gate_units(group):
            state = evaluation.unit_state(unit)
            if state != "passed":
                blocking.append({"unit": unit, "state": state, "failing": evaluation.failing_tests(unit)})
    return blocking


def build_report(evaluation: Evaluation, run: RunRecorder | None = None, warnings: list[dict] | None = None) -> dict:
    """The report document: schema, version, states, grades, this run's tests, and its
    ``warnings`` (conftests and plugins that are not the course's: ``course_integrity``)."""
    curriculum = evaluation.curriculum
    modules = {}
    for module in curriculum.modules:
        modules[module.name] = {"number": module.number, "key": module.key, "title": module.title,
                                **_unit_entry(evaluation, unit_key("module", module.name))}
    groups = {}
    for group in curriculum.groups:
        groups[group.name] = {"modules": list(group.modules), "test_file": group.test_file,
                              **_unit_entry(evaluation, unit_key("group", group.name)),
                              "gate": _gate_entry(evaluation, group.name)}
    milestones = {}
    for milestone in curriculum.milestones:
        validation = unit_key("milestone", milestone.name)
        milestones[milestone.name] = {
            "number": milestone.number, "title": milestone.title,
            "state": evaluation.display_state(milestone),
            "requires": list(milestone.requires),
            "locked_by": _locked_by(evaluation, milestone),
            "validation": _unit_entry(evaluation, validation),
            "rubric": evaluation.rubric_scores(milestone),
            "score": round(total_score(evaluation, milestone), 6),
        }
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "generated_at": now(),
        "fingerprint": evaluation.course.fingerprinter.sources,
        "versions": versions(),
        "modules": modules,
        "groups": groups,
        "milestones": milestones,
        "autograd": evaluation.autograd_grade(),
        "history": evaluation.state.history,
        "next": evaluation.next_command(),
        "tests": _tests(run) if run is not None else [],
        "warnings": list(warnings or []),
    }


def _tests(run: RunRecorder) -> list[dict]:
    tests = []
    for nodeid, result in run.results.items():
        tags = run.items.get(nodeid, {})
        tests.append({
            "nodeid": nodeid,
            "outcome": "skipped" if result.gated else result.outcome,
            "duration": round(result.duration, 6),
            "module": tags.get("module"),
            "group": tags.get("group"),
            "milestone": tags.get("milestone"),
            "rubric": tags.get("rubric"),
            "autograd_op": tags.get("autograd_op"),
            "hidden": bool(tags.get("hidden")),
            "message": result.message,
        })
    return tests

