"""``tito classroom init`` and ``tito classroom points``: the GitHub Classroom workflow.

The YAML comes from a small emitter, checked here by exact text and (PyYAML being importable
here, though not a dependency) by loading it back. The workflow's commands are checked
against the real command lines (tito's parser, pytest's options), and its graded steps are
run as GitHub would run them (``bash -eo pipefail``) on editions of the synthetic course of
``test_grading_submissions``, whose perceptron milestone has tests for two rubric categories
(model and training, 25 points each of its 100).
"""

import base64
import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pytest_tinytorch import plugin
from pytest_tinytorch.course.classroom import (
    WORKFLOW_PATH, ClassroomError, emit_yaml, init, runner_result, workflow,
)
from pytest_tinytorch.course.cli import build_parser, main
from pytest_tinytorch.plugin.curriculum import default_curriculum
from test_grading_submissions import edition, instructor  # noqa: F401

pytestmark = pytest.mark.skipif(not hasattr(plugin, "pytest_addoption"), reason="needs the plugin (not landed yet)")

REPOSITORY = Path(__file__).resolve().parents[1]
CURRICULUM = default_curriculum()
PERCEPTRON = CURRICULUM.milestone("perceptron")


# -- the YAML emitter --------------------------------------------------------------------------

SAMPLE = {
    "name": "Tests: 'quoted' # not a comment",
    "on": ["push"],
    "yes": True,
    "jobs": {"build": {"timeout-minutes": 30, "ratio": 0.5, "steps": [
        {"name": "multi", "run": "echo one\n\nexit 0\n"},
        {"uses": "actions/checkout@v4", "with": {}},
        "plain item",
        [],
    ]}},
}
SAMPLE_YAML = '''# Written by tito classroom init: TinyTorch's milestones, graded with partial credit.
name: "Tests: 'quoted' # not a comment"
"on":
  - "push"
"yes": true
jobs:
  build:
    timeout-minutes: 30
    ratio: 0.5
    steps:
      - name: "multi"
        run: |
          echo one

          exit 0
      - uses: "actions/checkout@v4"
        with: {}
      - "plain item"
      - []
'''


def test_the_emitter_writes_block_yaml_that_loads_back_to_the_same_data():
    assert emit_yaml(SAMPLE) == SAMPLE_YAML
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(SAMPLE_YAML) == SAMPLE


def test_the_emitter_refuses_what_it_cannot_write_faithfully():
    with pytest.raises(ClassroomError, match=r"cannot write set \{1\} as YAML: expected str, int, bool, list, dict"):
        emit_yaml({"a": {1}})
    with pytest.raises(ClassroomError, match=r"must end with one newline and have no trailing spaces"):
        emit_yaml({"run": "echo  \nexit 0\n"})


# -- the workflow ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def editions(instructor, tmp_path_factory):  # noqa: F811
    folder = tmp_path_factory.mktemp("editions")
    solved = edition(instructor, folder / "solved", solved=True)
    partly = edition(instructor, folder / "partly", solved=True)
    (partly / "milestones/01_perceptron/perceptron_milestone.py").write_text(
        "def accuracy(predictions, labels):\n    return 1.0\n")  # right only for perfect predictions
    unsolved = edition(instructor, folder / "unsolved", solved=False)
    for root in (solved, partly, unsolved):
        init(root, CURRICULUM)
    return {"solved": solved, "partly": partly, "unsolved": unsolved}


def loaded(root: Path) -> dict:
    text = (root / WORKFLOW_PATH).read_text()
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(text)


def test_init_writes_one_graded_step_per_milestone_with_its_points(editions):
    data = loaded(editions["solved"])
    assert data == workflow(CURRICULUM, editions["solved"])
    steps = data["jobs"]["run-autograding-tests"]["steps"]
    assert [step["name"] for step in steps] == [
        "Check out the code", "Set up Python", "Install the course", "Milestone 1: Perceptron (100 points)",
        "Progress badge", "Upload the reports and the badge", "Autograding reporter",
    ]
    graded = steps[3]
    assert graded["id"] == "perceptron" and graded["if"] == "always()"
    assert graded["run"].splitlines() == [
        "python -m pytest --milestone=perceptron --tinytorch-report=tinytorch-reports/perceptron.json"
        ' || echo "pytest exited with status $?"',
        "tito classroom points perceptron tinytorch-reports/perceptron.json --max-score 100",
    ]
    reporter = steps[-1]
    assert reporter["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    assert reporter["env"] == {"PERCEPTRON_RESULTS": "${{ steps.perceptron.outputs.result }}"}
    assert reporter["with"] == {"runners": "perceptron"}
    assert steps[-2]["with"] == {"name": "tinytorch-reports", "path": "tinytorch-reports/"}
    assert data["on"] == ["push", "workflow_dispatch", "repository_dispatch"]


def test_init_refuses_a_repository_that_is_not_an_edition_and_an_existing_workflow(instructor, editions, capsys):  # noqa: F811
    assert main(["--root", str(instructor), "classroom", "init"]) == 1
    assert capsys.readouterr().err == (
        f"tito: {instructor} is not a student edition (no EDITION.json); make one with tito release and run this "
        f"in it, or pass --root EDITION\n")
    assert main(["--root", str(editions["solved"]), "classroom", "init"]) == 1
    assert capsys.readouterr().err == (
        f"tito: {editions['solved'] / WORKFLOW_PATH} exists; pass --force to replace it\n")
    assert main(["classroom", "init", "--root", str(editions["solved"]), "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        f"GitHub Classroom workflow written to {editions['solved'] / WORKFLOW_PATH}",
        "  graded milestones: perceptron"]


def commands(data: dict) -> list[list[str]]:
    runs = [step["run"] for step in data["jobs"]["run-autograding-tests"]["steps"] if "run" in step]
    return [shlex.split(line.split(" || ")[0]) for script in runs for line in script.splitlines()]


def test_every_command_of_the_workflow_exists(editions):
    root = editions["solved"]
    lines = commands(loaded(root))
    assert [line[:3] for line in lines] == [
        ["python", "-m", "pip"], ["python", "-m", "pytest"], ["tito", "classroom", "points"], ["python", "-m", "pytest"]]
    assert lines[0] == ["python", "-m", "pip", "install", "-e", "."]  # an edition keeps the course's pyproject:
    pyproject = (REPOSITORY / "pyproject.toml").read_text()
    assert 'tito = "pytest_tinytorch.course.cli:main"' in pyproject and 'tinytorch = "pytest_tinytorch.plugin"' in pyproject
    for line in lines:
        if line[0] == "tito":
            build_parser().parse_args(line[1:])  # exits 2 on an unknown command or option
    helped = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=root, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(root / "src")))
    used = {argument.split("=")[0] for line in lines if line[2] == "pytest" for argument in line[3:]}
    assert used == {"--milestone", "--tinytorch-report", "--tinytorch-status", "--tinytorch-badge"}
    assert all(f"  {option}" in helped.stdout for option in used)


def run_graded_steps(root: Path, output: Path) -> list[str]:
    """Run the workflow's milestone and badge steps as GitHub does; the lines of $GITHUB_OUTPUT."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "TINYTORCH"))}
    environment.update(PYTHONPATH=str(root / "src"), GITHUB_OUTPUT=str(output), HYPOTHESIS_PROFILE="ci")
    steps = loaded(root)["jobs"]["run-autograding-tests"]["steps"]
    for step in steps[3:-2]:
        finished = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=root, env=environment,
                                  capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stdout + finished.stderr
    return output.read_text().splitlines()


@pytest.fixture(scope="module")
def results(editions, tmp_path_factory):
    folder = tmp_path_factory.mktemp("outputs")

    def run(item):
        name, root = item
        lines = run_graded_steps(root, folder / f"{name}.txt")
        assert len(lines) == 1 and lines[0].startswith("result=")
        return name, json.loads(base64.b64decode(lines[0][len("result="):]))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, editions.items()))


def reporter_total(result: dict) -> tuple[float, float]:
    """What the Classroom reporter adds up: the tests' scores, out of the runner's max_score."""
    return sum(test["score"] for test in result["tests"]), result["max_score"]


def test_a_solved_edition_earns_the_points_of_its_tested_categories(results, editions):
    solved = results["solved"]
    assert reporter_total(solved) == (50.0, 100.0)
    assert solved["version"] == 1 and solved["status"] == "fail"  # 50 of 100: three categories have no tests here
    by_category = {test["name"]: (test["status"], test["score"], test["message"]) for test in solved["tests"]}
    assert by_category["Milestone 1: Perceptron: model"] == ("pass", 25.0, "1 of 1 tests pass; 25 of 25 points (COMPLETE)")
    assert by_category["Milestone 1: Perceptron: training"] == ("pass", 25.0, "1 of 1 tests pass; 25 of 25 points (COMPLETE)")
    assert by_category["Milestone 1: Perceptron: visualization"] == ("fail", 0.0, "0 of 0 tests pass; 0 of 20 points (COMPLETE)")
    badge = (editions["solved"] / "tinytorch-reports/milestones.svg").read_text()
    assert "milestones" in badge and "1/5" in badge


def test_partial_credit_counts_each_rubric_category(results):
    partly = results["partly"]
    assert reporter_total(partly) == (25.0, 100.0)
    scores = {test["name"].rsplit(": ", 1)[-1]: test["score"] for test in partly["tests"]}
    assert scores["model"] == 0.0 and scores["training"] == 25.0


def test_an_unsolved_edition_earns_nothing(results):
    unsolved = results["unsolved"]
    assert reporter_total(unsolved) == (0.0, 100.0)
    assert {test["message"].split("(")[-1] for test in unsolved["tests"]} == {"LOCKED)"}


def test_points_without_a_report_record_an_error_result(tmp_path, capsys):
    output = tmp_path / "github_output"
    assert main(["classroom", "points", "perceptron", str(tmp_path / "missing.json"),
                 "--github-output", str(output)]) == 0
    result = json.loads(base64.b64decode(output.read_text().strip()[len("result="):]))
    assert result == runner_result(None, PERCEPTRON, 100.0)
    assert result["status"] == "error" and reporter_total(result) == (0, 100.0)
    assert result["tests"][0]["message"] == "no report was written"
    assert capsys.readouterr().out.splitlines() == [
        "Milestone 1: Perceptron: 0 / 100 points (error)", "  report: no report was written"]
    assert main(["classroom", "points", "resnet", "report.json"]) == 2
