"""``tito gradescope build`` and the archive's ``run_autograder``, end to end.

The archive is built from the small synthetic instructor repository of
``test_grading_submissions`` (two library files, one integration group, the perceptron
milestone, whose rubric here has tests for ``model`` and ``training`` only: 50 points), unpacked
into temporary roots laid out like Gradescope's ``/autograder`` and run in test mode (the
current interpreter instead of the venv that ``setup.sh`` makes). Six uploads share one
module-scoped batch: solved (zipped as one top folder), partly solved, unsolved (GitHub
layout), hanging, hostile and not a repository. Every ``results.json`` is checked against the
JSON Schema of Gradescope's format below.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pytest_tinytorch import plugin
from pytest_tinytorch.course.cli import main
from pytest_tinytorch.course.gradescope_autograder import (
    PYTHON_VARIABLE, ROOT_VARIABLE, AutograderError, build_autograder, find_submission, unpack,
)
from pytest_tinytorch.course.grading import Limits
from test_grading_submissions import SOLUTION, edition, instructor, with_library_line, write  # noqa: F401
from test_submission_scan import REPORT_PATCH

pytestmark = pytest.mark.skipif(not hasattr(plugin, "pytest_addoption"), reason="needs the plugin (not landed yet)")

TIMEOUT_S = 15
VISIBILITIES = ["hidden", "after_due_date", "after_published", "visible"]
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["score", "execution_time", "output", "stdout_visibility", "tests", "leaderboard"],
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "execution_time": {"type": "integer", "minimum": 0},
        "output": {"type": "string"},
        "visibility": {"enum": VISIBILITIES},
        "stdout_visibility": {"enum": VISIBILITIES},
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "score", "max_score", "visibility"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "score": {"type": "number", "minimum": 0},
                "max_score": {"type": "number", "minimum": 0},
                "status": {"enum": ["passed", "failed"]},
                "output": {"type": "string"},
                "visibility": {"enum": VISIBILITIES},
            },
        }},
        "leaderboard": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "value"],
            "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "value": {"type": "number"},
                           "order": {"enum": ["asc", "desc"]}},
        }},
    },
}
"""Gradescope's results.json (the autograder specification), the fields this autograder writes."""

TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float)}


def schema_errors(value, schema: dict, where: str = "$") -> list[str]:
    """The rules of ``GRADESCOPE_SCHEMA`` (type, required, additionalProperties, properties,
    items, enum, minimum), checked by hand: jsonschema is not a dependency."""
    errors = []
    if "type" in schema and (not isinstance(value, TYPES[schema["type"]]) or isinstance(value, bool)):
        return [f"{where}: expected {schema['type']}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{where}: {value} < {schema['minimum']}")
    if isinstance(value, dict):
        errors += [f"{where}: missing {key}" for key in schema.get("required", []) if key not in value]
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            errors += [f"{where}: unexpected {key}" for key in value if key not in properties]
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for number, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{where}[{number}]")
    return errors


def test_the_hand_validator_rejects_what_the_schema_forbids():
    good = {"score": 1.5, "execution_time": 3, "output": "", "stdout_visibility": "hidden", "tests": [],
            "leaderboard": [{"name": "Milestone 1", "value": 50.0, "order": "desc"}]}
    assert schema_errors(good, GRADESCOPE_SCHEMA) == []
    bad = dict(good, score=-1, execution_time=2.5, stdout_visibility="students",
               tests=[{"name": "t", "score": 1, "max_score": 1, "visibility": "visible", "points": 1}])
    del bad["output"]
    assert schema_errors(bad, GRADESCOPE_SCHEMA) == [
        "$: missing output",
        "$.score: -1 < 0",
        "$.execution_time: expected integer, got float",
        "$.stdout_visibility: 'students' not in ['hidden', 'after_due_date', 'after_published', 'visible']",
        "$.tests[0]: unexpected points",
    ]


def assert_valid(document: dict) -> None:
    assert schema_errors(document, GRADESCOPE_SCHEMA) == []
    try:
        import jsonschema
    except ImportError:
        return
    jsonschema.validate(document, GRADESCOPE_SCHEMA)


# -- the archive ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(instructor, tmp_path_factory):  # noqa: F811
    path = tmp_path_factory.mktemp("build") / "autograder.zip"
    summary = build_autograder(instructor, path, timeout_s=TIMEOUT_S, memory_mb=1024,
                               hidden_visibility="after_due_date", probe_seeds=2)
    return path, summary


def test_the_archive_holds_tests_and_plugin_but_no_solution(archive):
    path, summary = archive
    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
        settings = json.loads(bundle.read("autograder.json"))
        tensor = bundle.read("course/src/tinytorch/tensor.py").decode()
        integration = bundle.read("course/modules/tests/integration/test_modules_01_04.py").decode()
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in bundle.infolist()}
    assert {"setup.sh", "run_autograder", "course/pyproject.toml", "course/src/pytest_tinytorch/course/grading.py",
            "course/milestones/01_perceptron/test_perceptron.py",
            "course/milestones/01_perceptron/perceptron_milestone.py"} <= names
    assert not any(name.endswith("_solution.py") for name in names)
    assert "return [2 * value for value in values]" not in tensor and "NotImplementedError" in tensor
    assert "def test_relu_of_nothing" in integration  # the hidden test ships, to run on Gradescope
    assert modes["run_autograder"] == modes["setup.sh"] == 0o755 and modes["autograder.json"] == 0o644
    seeds = sorted(int(n.split("/")[1]) for n in names if n.startswith("probe_answers/") and n.endswith(".json"))
    assert len(seeds) == 2 and sorted(summary.probe_seeds) == seeds
    assert settings == {"schema": "tinytorch-gradescope-autograder/1", "milestones": ["perceptron"],
                        "timeout_s": TIMEOUT_S, "memory_mb": 1024, "hidden_visibility": "after_due_date",
                        "allow_rules": []}
    assert summary.milestones == ["perceptron"] and summary.files == len(names)


def test_setup_sh_parses_and_names_only_files_of_the_archive(archive, tmp_path):
    path, _ = archive
    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
        script = bundle.read("setup.sh").decode()
        runner = bundle.read("run_autograder").decode()
    for name, text in (("setup.sh", script), ("run_autograder", runner)):
        (tmp_path / name).write_text(text)
        checked = subprocess.run(["bash", "-n", str(tmp_path / name)], capture_output=True, text=True)
        assert (checked.returncode, checked.stderr) == (0, "")
    named = re.findall(r"/autograder/source/([\w./-]+)", script)
    assert named == ["course"]
    assert all(any(n.startswith(f"{folder}/") for n in names) for folder in named)
    assert "pip install --quiet /autograder/source/course" in script


def test_a_leaking_archive_is_refused_and_nothing_is_written(instructor, tmp_path):  # noqa: F811
    copy = tmp_path / "instructor"
    shutil.copytree(instructor, copy)
    write(copy, {"modules/source/01_tensor/tensor_lab.py": "def double(values):\n    return [2 * value for value in values]\n"})
    with pytest.raises(AutograderError) as caught:
        build_autograder(copy, tmp_path / "autograder.zip", probe_seeds=1)
    assert str(caught.value) == ("solution lines in the archive's contents (1), nothing written:\n"
                                 "  course/modules/source/01_tensor/tensor_lab.py:2 <- src/tinytorch/tensor.py:6")
    assert list(tmp_path.glob("*.zip*")) == [] and list(tmp_path.glob(".autograder*")) == []


def test_bad_build_requests_name_what_was_expected(instructor, tmp_path):  # noqa: F811
    with pytest.raises(AutograderError, match=r"hidden visibility 'soon' is not one of after_published, hidden"):
        build_autograder(instructor, tmp_path / "a.zip", hidden_visibility="soon")
    with pytest.raises(AutograderError, match=r"a.tar does not end in .zip"):
        build_autograder(instructor, tmp_path / "a.tar")
    with pytest.raises(AutograderError, match=r"milestone mlp has no folder in .*; expected milestones/02_mlp"):
        build_autograder(instructor, tmp_path / "a.zip", milestones=["perceptron", "mlp"])


def test_unpacking_refuses_a_member_outside_the_folder(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as bundle:
        bundle.writestr("setup.sh", "true\n")
        bundle.writestr("../escaped.txt", "out\n")
    with pytest.raises(AutograderError, match=r"archive member '../escaped.txt' would be written outside"):
        unpack(evil, tmp_path / "root")
    assert not (tmp_path / "escaped.txt").exists()


# -- upload layouts ------------------------------------------------------------------------


def test_both_upload_layouts_are_recognised_and_anything_else_is_explained(tmp_path):
    flat = tmp_path / "github"
    (flat / "src/tinytorch").mkdir(parents=True)
    assert find_submission(flat) == flat
    zipped = tmp_path / "zipped"
    (zipped / "tinytorch-ada/src/tinytorch").mkdir(parents=True)
    (zipped / "__MACOSX").mkdir()
    (zipped / ".DS_Store").write_text("")
    assert find_submission(zipped) == zipped / "tinytorch-ada"
    two = tmp_path / "two"
    (two / "a/src/tinytorch").mkdir(parents=True)
    (two / "b").mkdir()
    (two / "notes.txt").write_text("")
    with pytest.raises(AutograderError) as caught:
        find_submission(two)
    assert str(caught.value) == (
        "no src/tinytorch/ in the upload: expected your TinyTorch repository (its contents, or one folder "
        "holding them, with src/tinytorch/ inside); found: a/, b/, notes.txt")


# -- run_autograder on a batch of uploads ----------------------------------------------------


def run_autograder(archive_path: Path, root: Path, upload: Path) -> dict:
    """Lay ``root`` out like /autograder, run the archive's script in test mode, read the results."""
    unpack(archive_path, root / "source")
    shutil.copytree(upload, root / "submission", symlinks=True)
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "TINYTORCH"))}
    environment.update({ROOT_VARIABLE: str(root), PYTHON_VARIABLE: sys.executable})
    finished = subprocess.run(["bash", str(root / "source/run_autograder")], env=environment, capture_output=True,
                              text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr
    document = json.loads((root / "results/results.json").read_text())
    return {"document": document, "stdout": finished.stdout, "root": root}


@pytest.fixture(scope="module")
def runs(archive, instructor, tmp_path_factory):  # noqa: F811
    uploads = tmp_path_factory.mktemp("uploads")
    solved = edition(instructor, uploads / "solved" / "tinytorch-main", solved=True)  # zip of the folder
    partly = edition(instructor, uploads / "partly", solved=True)
    (partly / "milestones/01_perceptron/perceptron_milestone.py").write_text(
        "def accuracy(predictions, labels):\n    return 1.0\n")  # right only for perfect predictions
    unsolved = edition(instructor, uploads / "unsolved", solved=False)
    hanging = edition(instructor, uploads / "hanging", solved=True)
    with_library_line(hanging, "tensor", "while True:\n    pass\n")
    hostile = edition(instructor, uploads / "hostile", solved=False)
    (hostile / "src/tinytorch/__init__.py").write_text(REPORT_PATCH)
    stranger = uploads / "stranger"
    write(stranger, {"homework.py": "print('hello')\n", "notes/readme.txt": "no library here\n"})
    roots = tmp_path_factory.mktemp("roots")
    chosen = {"solved": uploads / "solved", "partly": partly, "unsolved": unsolved, "hanging": hanging,
              "hostile": hostile, "stranger": stranger}
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(lambda item: (item[0], run_autograder(archive[0], roots / item[0], item[1])), chosen.items())
        return dict(done)


def test_every_results_json_follows_gradescopes_format(runs):
    for name, run in runs.items():
        assert schema_errors(run["document"], GRADESCOPE_SCHEMA) == [], name
        assert_valid(run["document"])
        assert run["stdout"].splitlines()[0] == run["document"]["output"].splitlines()[0]


def test_a_solved_upload_in_a_top_folder_earns_every_point(runs):
    document = runs["solved"]["document"]
    assert document["score"] == 50.0 and sum(t["max_score"] for t in document["tests"]) == 50.0
    assert document["output"].splitlines() == ["TinyTorch: 50 / 50 points (graded).",
                                               "  Milestone 1: Perceptron: COMPLETE, 50 points"]
    assert document["leaderboard"] == [{"name": "Milestone 1: Perceptron", "value": 50.0, "order": "desc"}]
    visibility = {t["name"].split("::")[-1]: t["visibility"] for t in document["tests"]}
    assert visibility["test_relu_of_nothing"] == "after_due_date"  # hidden, shown after the due date
    assert visibility["test_double_then_relu"] == "visible"
    scores = {t["name"].split("::")[-1]: (t["score"], t["max_score"]) for t in document["tests"]}
    assert scores["test_accuracy_counts_hits"] == scores["test_accuracy_of_perfect_predictions"] == (25.0, 25.0)
    assert scores["test_double_then_relu"] == (0.0, 0.0)  # module and integration tests carry no points
    assert document["stdout_visibility"] == "hidden" and 0 <= document["execution_time"] < 120
    # the probe answers were read, then deleted before the student's code ran
    assert not (runs["solved"]["root"] / "source/probe_answers").exists()


def test_partial_credit_follows_the_rubric_categories(runs):
    document = runs["partly"]["document"]
    scores = {t["name"].split("::")[-1]: t["score"] for t in document["tests"]}
    assert scores["test_accuracy_of_perfect_predictions"] == 25.0  # training
    assert scores["test_accuracy_counts_hits"] == 0.0  # model
    assert document["score"] == 25.0
    assert document["leaderboard"][0]["value"] == 25.0


def test_an_unsolved_upload_scores_zero_with_its_tests_listed(runs):
    document = runs["unsolved"]["document"]
    assert document["score"] == 0.0 and len(document["tests"]) == 5
    assert all(t["score"] == 0 for t in document["tests"])
    assert document["output"].splitlines() == ["TinyTorch: 0 / 50 points (graded).",
                                               "  Milestone 1: Perceptron: LOCKED, 0 points"]


def test_a_hanging_upload_times_out_with_the_reason(runs):
    document = runs["hanging"]["document"]
    assert document["score"] == 0.0 and document["tests"] == []
    assert document["output"].splitlines()[:2] == [
        "TinyTorch: 0 points (timeout).",
        f"Not graded: timed out after {TIMEOUT_S} s and was stopped while running "
        "modules/tests/integration/test_modules_01_04.py::test_double_then_relu; 0 tests had passed",
    ]
    assert TIMEOUT_S <= document["execution_time"] < TIMEOUT_S + 60


def test_a_hostile_upload_is_flagged_and_not_run(runs):
    document = runs["hostile"]["document"]
    assert document["score"] == 0.0 and document["tests"] == []
    lines = document["output"].splitlines()
    assert lines[0] == "TinyTorch: 0 points (flagged)."
    assert lines[1].startswith("Not graded: flagged by the submission scan, not run: ")
    assert "test-machinery" in lines[1]
    assert document["leaderboard"] == [{"name": "Milestone 1: Perceptron", "value": 0.0, "order": "desc"}]


def test_an_upload_without_the_library_says_what_was_expected(runs):
    document = runs["stranger"]["document"]
    assert document["score"] == 0.0 and document["tests"] == []
    assert document["output"].splitlines()[:2] == [
        "TinyTorch: 0 points (invalid).",
        "Not graded: no src/tinytorch/ in the upload: expected your TinyTorch repository (its contents, or one "
        "folder holding them, with src/tinytorch/ inside); found: homework.py, notes/",
    ]


def test_tito_gradescope_build_prints_what_it_wrote_and_refuses_bad_names(instructor, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "grader.zip"
    assert main(["--root", str(instructor), "gradescope", "build", "--out", str(out), "--probe-seeds", "1",
                 "--hidden-visibility", "hidden", "--milestone", "perceptron"]) == 0
    with zipfile.ZipFile(out) as bundle:
        files = len(bundle.namelist())
        assert json.loads(bundle.read("autograder.json"))["hidden_visibility"] == "hidden"
    assert capsys.readouterr().out.splitlines() == [
        f"Gradescope autograder written to {out}", f"  files: {files}", "  milestones graded: perceptron",
        "  probe answer sets: 1",
        "  upload it as the assignment's autograder (Configure Autograder -> Zip file upload)",
    ]
    assert main(["--root", str(instructor), "gradescope", "build", "--out", str(out), "--milestone", "resnet"]) == 1
    assert capsys.readouterr().err.startswith("tito: unknown milestone 'resnet'; expected one of: perceptron")
    assert main(["--root", str(instructor), "gradescope", "build", "--allow-rule", "magic"]) == 2
    assert capsys.readouterr().err.startswith("tito: error: unknown scan rule magic; expected one of: ")


def test_stored_probe_answers_are_the_references_and_vanish_once_read(tmp_path):
    """The answer sets the archive carries are exactly the reference's answers for their seed
    (here computed from this repository's library), and taking one deletes them all."""
    import numpy as np

    from pytest_tinytorch.plugin.curriculum import default_curriculum
    from pytest_tinytorch.course.gradescope_autograder import take_probe_answers, write_probe_answers
    from pytest_tinytorch.course.grading import probed_groups
    from pytest_tinytorch.course.probes import compute_answers, probes_for_groups

    repository = Path(__file__).resolve().parents[1]
    curriculum = default_curriculum()
    folder = tmp_path / "probe_answers"
    write_probe_answers(repository, repository, folder, [1234], curriculum, Limits(timeout_s=120))
    taken = take_probe_answers(folder)
    assert not folder.exists()
    probes = [p for items in probes_for_groups(curriculum, probed_groups(curriculum, repository)).values() for p in items]
    expected, errors = compute_answers(1234, probes)
    assert taken.seed == 1234 and taken.errors == errors and sorted(taken.answers) == sorted(expected)
    assert len(expected) >= 12
    for key, arrays in expected.items():
        assert len(taken.answers[key]) == len(arrays)
        assert all(np.array_equal(got, np.asarray(want, dtype=np.float64)) for got, want in zip(taken.answers[key], arrays))
    assert take_probe_answers(folder) is None  # nothing left to take
