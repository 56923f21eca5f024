"""GitHub Classroom autograding for a student edition: ``tito classroom init`` and ``points``.

GitHub Classroom grades with a workflow, ``.github/workflows/classroom.yml``, whose graded steps
each hand a result to ``classroom-resources/autograding-grading-reporter``. The reporter reads
every runner's result from the environment variable ``<RUNNER>_RESULTS`` (base64 of a JSON
document ``{"version": 1, "status", "max_score", "tests": [{"name", "status", "score", ...}]}``)
and reports the sum of the tests' ``score`` out of the sum of the runners' ``max_score``.

The stock command grader (``autograding-command-grader``) is pass/fail: a milestone would
earn all of its points or none. So each milestone's step here runs the plugin's milestone
command, ``pytest --milestone=NAME --tinytorch-report=...``, then ``tito classroom points``,
which reads the milestone's rubric score from the report (the same rubric as Gradescope's
partial credit) and writes the result in the reporter's format to the step's output, one test
per rubric category. A final step writes the progress badge (``--tinytorch-badge``) and
uploads the reports as a workflow artifact.

This runs in the student's own repository, with the student's code: the points are feedback
and a convenience, not proof (the student controls the workflow file too). Grade for the
record with ``tito grade`` or the Gradescope autograder.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

from pytest_tinytorch.plugin.curriculum import Curriculum
from pytest_tinytorch.course.release import EDITION_FILE
from pytest_tinytorch.plugin.state import write_text_atomically

WORKFLOW_PATH = ".github/workflows/classroom.yml"
REPORTS_DIR = "tinytorch-reports"
POINTS_PER_MILESTONE = 100
PYTHON_VERSION = "3.12"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
RUNNER_NAME = re.compile(r"^[A-Za-z0-9]+$")
"""The reporter's pattern for a runner id: letters and digits only."""


class ClassroomError(Exception):
    """The workflow cannot be written, or a points request is malformed."""


# -- the workflow ------------------------------------------------------------------------


def graded_milestones(curriculum: Curriculum, edition: Path) -> list:
    """The milestones whose folder exists in the edition, in course order."""
    return [m for m in curriculum.milestones if (edition / m.directory).is_dir()]


def milestone_step(milestone) -> dict:
    """The graded step of one milestone: run it, then record its points as the step's result."""
    if not RUNNER_NAME.match(milestone.name):
        raise ClassroomError(f"milestone name {milestone.name!r} cannot be a runner id: expected letters and digits")
    report = f"{REPORTS_DIR}/{milestone.name}.json"
    return {
        "name": f"{milestone.label} ({POINTS_PER_MILESTONE} points)",
        "id": milestone.name,
        "if": "always()",  # every milestone records its result, whatever an earlier step did
        "run": (f"python -m pytest --milestone={milestone.name} --tinytorch-report={report}"
                f' || echo "pytest exited with status $?"\n'
                f"tito classroom points {milestone.name} {report} --max-score {POINTS_PER_MILESTONE}\n"),
    }


def workflow(curriculum: Curriculum, edition: Path) -> dict:
    """The Classroom workflow of ``edition`` as data (emitted as YAML by ``emit_yaml``)."""
    milestones = graded_milestones(curriculum, edition)
    if not milestones:
        raise ClassroomError(f"no milestone folder in {edition}: nothing to grade")
    steps = [
        {"name": "Check out the code", "uses": "actions/checkout@v4"},
        {"name": "Set up Python", "uses": "actions/setup-python@v5", "with": {"python-version": PYTHON_VERSION}},
        {"name": "Install the course", "run": "python -m pip install -e .\n"},  # tito, the plugin, the dependencies
        *[milestone_step(m) for m in milestones],
        {"name": "Progress badge", "if": "always()",
         "run": (f"python -m pytest --tinytorch-status --tinytorch-report={REPORTS_DIR}/status.json "
                 f"--tinytorch-badge={REPORTS_DIR}/milestones.svg\n")},
        {"name": "Upload the reports and the badge", "if": "always()", "uses": "actions/upload-artifact@v4",
         "with": {"name": REPORTS_DIR, "path": f"{REPORTS_DIR}/"}},
        {"name": "Autograding reporter", "if": "always()", "uses": REPORTER,
         "env": {f"{m.name.upper()}_RESULTS": f"${{{{ steps.{m.name}.outputs.result }}}}" for m in milestones},
         "with": {"runners": ",".join(m.name for m in milestones)}},
    ]
    return {
        "name": "Autograding Tests",
        "on": ["push", "workflow_dispatch", "repository_dispatch"],
        "permissions": {"checks": "write", "actions": "read", "contents": "read"},
        "jobs": {"run-autograding-tests": {
            "runs-on": "ubuntu-latest",
            "if": "github.actor != 'github-classroom[bot]'",
            "timeout-minutes": 30,
            "env": {"HYPOTHESIS_PROFILE": "ci", "MPLBACKEND": "Agg"},
            "steps": steps,
        }},
    }


def init(edition: Path, curriculum: Curriculum, force: bool = False) -> Path:
    """Write ``.github/workflows/classroom.yml`` into a student edition; its path."""
    edition = Path(edition)
    if not (edition / EDITION_FILE).is_file():
        raise ClassroomError(f"{edition} is not a student edition (no {EDITION_FILE}); make one with tito release "
                             f"and run this in it, or pass --root EDITION")
    target = edition / WORKFLOW_PATH
    if target.exists() and not force:
        raise ClassroomError(f"{target} exists; pass --force to replace it")
    write_text_atomically(target, emit_yaml(workflow(curriculum, edition)))
    return target


# -- a minimal YAML emitter (block style; PyYAML is not a dependency) ----------------------

PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
RESERVED_WORDS = {"on", "off", "yes", "no", "y", "n", "true", "false", "null"}
"""Words YAML 1.1 readers (PyYAML, and so many tools) turn into booleans or null: ``on`` is
the workflow's trigger key and must stay a string."""


def _key(key: str) -> str:
    return key if PLAIN_KEY.match(key) and key.lower() not in RESERVED_WORDS else json.dumps(key)


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a double-quoted JSON string is a YAML string
    raise ClassroomError(f"cannot write {type(value).__name__} {value!r} as YAML: expected str, int, bool, list, dict")


def _block(text: str, indent: str) -> str:
    """A multi-line string as a literal block (``|``); it must end with a newline."""
    if not text.endswith("\n") or text.endswith("\n\n") or any(line != line.rstrip() for line in text.splitlines()):
        raise ClassroomError(f"multi-line YAML text must end with one newline and have no trailing spaces: {text!r}")
    return "|\n" + "".join(f"{indent}{line}\n" if line else "\n" for line in text.splitlines())


def _value(value, indent: str) -> str:
    """What follows ``key:`` or ``- ``: an inline scalar, or a newline and a nested block."""
    if isinstance(value, str) and "\n" in value:
        return " " + _block(value, indent + "  ")
    if isinstance(value, dict) and value:
        return "\n" + _mapping(value, indent + "  ")
    if isinstance(value, list) and value:
        return "\n" + _sequence(value, indent + "  ")
    if isinstance(value, (dict, list)):
        return " {}\n" if isinstance(value, dict) else " []\n"
    return " " + _scalar(value) + "\n"


def _mapping(data: dict, indent: str) -> str:
    return "".join(f"{indent}{_key(str(key))}:{_value(value, indent)}" for key, value in data.items())


def _sequence(items: list, indent: str) -> str:
    lines = []
    for item in items:
        if isinstance(item, dict) and item:
            nested = _mapping(item, indent + "  ")
            lines.append(f"{indent}- {nested[len(indent) + 2:]}")  # the first key on the dash's line
        else:
            lines.append(f"{indent}-{_value(item, indent)}")
    return "".join(lines)


def emit_yaml(data: dict) -> str:
    """``data`` (dicts, lists, str, int, bool) as block-style YAML that YAML readers load back
    to the same data."""
    return f"# Written by tito classroom init: TinyTorch's milestones, graded with partial credit.\n{_mapping(data, '')}"


# -- points from a report ------------------------------------------------------------------


def runner_result(report: dict | None, milestone, max_score: float) -> dict:
    """The reporter's result for one milestone: one test per rubric category, each earning
    ``max_score`` x its share of the rubric score (0 while the milestone is locked)."""
    entry = (report or {}).get("milestones", {}).get(milestone.name) if isinstance(report, dict) else None
    if not isinstance(entry, dict):
        why = "no report was written" if report is None else f"the report has no milestone {milestone.name}"
        return {"version": 1, "status": "error", "max_score": max_score,
                "tests": [{"name": f"{milestone.label}: report", "status": "error", "score": 0, "message": why,
                           "test_code": "", "filename": "", "line_no": 0, "duration": 0}]}
    tests = []
    for category, rubric in sorted((entry.get("rubric") or {}).items()):
        points = round(max_score * float(rubric.get("score") or 0), 2)
        worth = round(max_score * float(rubric.get("weight") or 0), 2)
        tests.append({
            "name": f"{milestone.label}: {category}",
            "status": "pass" if points >= worth else "fail",
            "score": points,
            "message": (f"{rubric.get('passed', 0)} of {rubric.get('total', 0)} tests pass; "
                        f"{points:g} of {worth:g} points ({entry.get('state', '?')})"),
            "test_code": f"pytest --milestone={milestone.name}", "filename": milestone.directory, "line_no": 0,
            "duration": 0,
        })
    earned = round(sum(t["score"] for t in tests), 2)
    return {"version": 1, "status": "pass" if earned >= max_score else "fail", "max_score": max_score,
            "tests": tests}


def encoded(result: dict) -> str:
    """The result as the reporter reads it: base64 of its JSON."""
    return base64.b64encode(json.dumps(result).encode("utf-8")).decode("ascii")


def record_points(report_path: Path, milestone, max_score: float, github_output: str | None) -> dict:
    """Read the report, build the milestone's result and append ``result=...`` to the step's
    output file (``$GITHUB_OUTPUT``) when there is one."""
    try:
        report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = None
    result = runner_result(report, milestone, max_score)
    if github_output:
        with open(github_output, "a", encoding="utf-8") as output:
            output.write(f"result={encoded(result)}\n")
    return result


def describe(result: dict, milestone) -> str:
    earned = sum(t["score"] for t in result["tests"])
    lines = [f"{milestone.label}: {earned:g} / {result['max_score']:g} points ({result['status']})"]
    lines += [f"  {t['name'].rsplit(': ', 1)[-1]}: {t['message']}" for t in result["tests"]]
    return "\n".join(lines)


def github_output_path() -> str | None:
    return os.environ.get("GITHUB_OUTPUT") or None
