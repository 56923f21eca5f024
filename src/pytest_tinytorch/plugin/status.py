"""Human-readable progress: the status table, the milestone scorecard, the CI summary.

Plain functions of an ``Evaluation``; the plugin prints them, ``tito`` can too.
"""

from __future__ import annotations

from pytest_tinytorch.plugin.curriculum import RUBRIC_TITLES, Milestone
from pytest_tinytorch.plugin.gating import Evaluation
from pytest_tinytorch.plugin.membership import unit_key


def _tests(evaluation: Evaluation, unit: str) -> str:
    passing, total = evaluation.counts(unit)
    return f"{passing}/{total} tests" if total else ""


def module_rows(evaluation: Evaluation) -> list[tuple[str, str, str]]:
    rows = []
    for module in evaluation.curriculum.modules:
        unit = unit_key("module", module.name)
        state, note = evaluation.unit_state(unit), _tests(evaluation, unit)
        if state == "not run" and note:  # some tests ran, but never a whole file
            passing, total = evaluation.counts(unit)
            note = f"{passing}/{total} tests passed in partial runs; run the whole module to record it"
        elif state == "stale":
            note = "not re-checked since your last change"
        rows.append((module.key, state, note))
    return rows


def group_rows(evaluation: Evaluation) -> list[tuple[str, str, str]]:
    """One row per group: its *gate* state (unit tests of its modules and integration tests),
    with the integration tests' count and whatever keeps the gate from passing."""
    rows = []
    for group in evaluation.curriculum.groups:
        unit = unit_key("group", group.name)
        failing = evaluation.failing_tests(unit)
        notes = [_tests(evaluation, unit)] if _tests(evaluation, unit) else []
        if failing:
            notes.append(f"failing: {', '.join(failing[:3])}" + (" ..." if len(failing) > 3 else ""))
        blocked_by = [name.split(":", 1)[1] for name in evaluation.gate_units(group.name)[:-1]
                      if evaluation.unit_state(name) == "failed"]
        if blocked_by:
            notes.append(f"unit tests failing in {', '.join(blocked_by)}")
        if evaluation.gate_state(group.name) == "stale":
            notes = ["not re-checked since your last change"]
        rows.append((f"{group.name} ({group.modules[0]}..{group.modules[-1]})",
                     evaluation.gate_state(group.name), "; ".join(notes)))
    return rows


def milestone_rows(evaluation: Evaluation) -> list[tuple[str, str, str]]:
    rows = []
    for milestone in evaluation.curriculum.milestones:
        state = evaluation.display_state(milestone)
        if state == "LOCKED":
            note = f"requires {', '.join(milestone.requires)}"
        elif state == "STALE":
            was = evaluation.state.milestone_states.get(milestone.name)
            gates_known = all(state == "passed" for state in evaluation.group_states(milestone).values())
            command = f"pytest --milestone={milestone.name}" if gates_known else "pytest --tinytorch-status"
            note = f"was {was}; not re-checked since your last change (run: {command})"
        else:
            note = f"score {total_score(evaluation, milestone):.0%}"
        rows.append((milestone.label, state, note))
    return rows


def autograd_line(evaluation: Evaluation) -> str | None:
    grade = evaluation.autograd_grade()
    if grade is None:
        return None
    failing = [op for op, entry in grade["ops"].items() if entry["outcome"] == "failed"]
    line = f"autograd: {grade['verified']}/{grade['total']} ops verified"
    if failing:
        line += f" (failing: {', '.join(failing)})"
    return line


def _table(title: str, rows: list[tuple[str, str, str]]) -> list[str]:
    width = max((len(row[0]) for row in rows), default=0)
    lines = [title]
    for name, state, note in rows:
        lines.append(f"  {name:<{width}}  {state:<13}  {note}".rstrip())
    return lines


def render_status(evaluation: Evaluation) -> str:
    """The ``--tinytorch-status`` table: modules, groups, milestones, autograd, next command."""
    lines = [f"TinyTorch status (code fingerprint {evaluation.course.fingerprinter.sources[:8]})", ""]
    lines += _table("Modules (unit tests)", module_rows(evaluation)) + [""]
    lines += _table("Integration groups (gate: unit tests + integration tests)", group_rows(evaluation)) + [""]
    lines += _table("Milestones", milestone_rows(evaluation)) + [""]
    autograd = autograd_line(evaluation)
    if autograd:
        lines += [autograd]
        for op, entry in evaluation.autograd_grade()["ops"].items():
            if entry["example"]:
                lines += [f"  {op}: " + entry["example"].replace("\n", "\n    ")]
        lines += [""]
    lines.append(f"Next: {evaluation.next_command()}")
    return "\n".join(lines)


def total_score(evaluation: Evaluation, milestone: Milestone) -> float:
    return sum(entry["score"] for entry in evaluation.rubric_scores(milestone).values())


def render_scorecard(evaluation: Evaluation, milestone: Milestone) -> str:
    """Score per rubric category and the total, e.g. ``Training Success  25.0/25  (3/3 tests)``."""
    lines = [f"{milestone.label} scorecard ({evaluation.display_state(milestone)})"]
    scores = evaluation.rubric_scores(milestone)
    width = max((len(RUBRIC_TITLES.get(c, c)) for c in scores), default=0)
    for category, entry in scores.items():
        tests = f"{entry['passed']}/{entry['total']} tests" if entry["total"] else "no tests"
        lines.append(f"  {RUBRIC_TITLES.get(category, category):<{width}}  "
                     f"{100 * entry['score']:5.1f}/{100 * entry['weight']:.0f}  ({tests})")
    lines.append(f"  {'Total':<{width}}  {100 * total_score(evaluation, milestone):5.1f}/100")
    return "\n".join(lines)


def render_markdown(evaluation: Evaluation) -> str:
    """A markdown summary for ``$GITHUB_STEP_SUMMARY``."""
    lines = ["## TinyTorch progress", "", "| milestone | state | requires | score |", "|---|---|---|---|"]
    for milestone in evaluation.curriculum.milestones:
        state = evaluation.display_state(milestone)
        lines.append(f"| {milestone.label} | {state} | {', '.join(milestone.requires)} | "
                     f"{100 * total_score(evaluation, milestone):.0f}% |")
    lines += ["", "| integration group | state |", "|---|---|"]
    for name, state, _note in group_rows(evaluation):
        lines.append(f"| {name} | {state} |")
    autograd = autograd_line(evaluation)
    if autograd:
        lines += ["", autograd]
    return "\n".join(lines) + "\n"
