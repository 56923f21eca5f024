"""What the grader takes from a submission, and what counts as tampering with the grading tree."""

import os
from pathlib import Path

from pytest_tinytorch.plugin.curriculum import default_curriculum
from pytest_tinytorch.course.grading import prepare_tree, submission_problem, tampered_files

CURRICULUM = default_curriculum()


def write(root: Path, files: dict) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_only_the_students_library_and_starters_are_taken(tmp_path):
    base, submission, secret = tmp_path / "base", tmp_path / "submission", tmp_path / "instructor_secret.py"
    secret.write_text("ANSWER = 42\n")
    write(base, {
        "src/tinytorch/tensor.py": "raise NotImplementedError\n",
        "modules/tests/integration/test_modules_01_04.py": "def test_real():\n    assert False\n",
        "milestones/01_perceptron/perceptron_milestone.py": "# starter\n",
    })
    write(submission, {
        "src/tinytorch/tensor.py": "STUDENT = True\n",
        "src/tinytorch/extra/helpers.py": "HELP = 1\n",
        "src/tinytorch/conftest.py": "raise SystemExit\n",
        "src/tinytorch/evil.pth": "import os\n",
        "modules/tests/integration/test_modules_01_04.py": "def test_real():\n    assert True\n",
        "conftest.py": "raise SystemExit\n",
        ".pytest_cache/d/tinytorch/state.json": "{}",
        "milestones/01_perceptron/perceptron_milestone.py": "# the student's work\n",
        "milestones/01_perceptron/test_perceptron.py": "def test_nothing():\n    pass\n",
    })
    os.symlink(secret, submission / "src/tinytorch/answers.py")
    tree = prepare_tree(base, submission, tmp_path / "tree", CURRICULUM)
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    assert files == [
        "milestones/01_perceptron/perceptron_milestone.py",
        "modules/tests/integration/test_modules_01_04.py",
        "src/tinytorch/extra/helpers.py",
        "src/tinytorch/tensor.py",
    ]
    assert (tree / "src/tinytorch/tensor.py").read_text() == "STUDENT = True\n"
    assert (tree / "modules/tests/integration/test_modules_01_04.py").read_text().endswith("assert False\n")
    assert (tree / "milestones/01_perceptron/perceptron_milestone.py").read_text() == "# the student's work\n"


def test_the_capstone_starter_is_taken_by_its_course_plan_name(tmp_path):
    """Milestone 5's starter is ``systems_capstone.py`` (not ``<name>_milestone.py``): the
    student's copy and its notebook are graded, a file under the other name is not."""
    base, submission = tmp_path / "base", tmp_path / "submission"
    write(base, {"src/tinytorch/tensor.py": "", "milestones/05_systems_capstone/systems_capstone.py": "# starter\n"})
    write(submission, {
        "src/tinytorch/tensor.py": "",
        "milestones/05_systems_capstone/systems_capstone.py": "# the student's capstone\n",
        "milestones/05_systems_capstone/systems_milestone.py": "# not a starter name\n",
    })
    tree = prepare_tree(base, submission, tmp_path / "tree", CURRICULUM)
    assert (tree / "milestones/05_systems_capstone/systems_capstone.py").read_text() == "# the student's capstone\n"
    assert not (tree / "milestones/05_systems_capstone/systems_milestone.py").exists()
    assert CURRICULUM.milestone("systems").notebook_file == "systems_capstone.ipynb"
    assert CURRICULUM.milestone("cnn").starter_file == "cnn_milestone.py"


def test_a_library_that_links_elsewhere_is_not_a_submission(tmp_path):
    elsewhere = tmp_path / "instructor/src/tinytorch"
    write(elsewhere, {"tensor.py": "SOLVED = True\n"})
    linked = tmp_path / "linked"
    (linked / "src").mkdir(parents=True)
    os.symlink(elsewhere, linked / "src/tinytorch")
    assert submission_problem(linked).startswith("src/tinytorch in the submission is a link to ")
    assert submission_problem(tmp_path / "instructor") is None
    assert "no src/tinytorch/" in submission_problem(tmp_path)


def test_tampering_is_a_changed_or_removed_file_or_new_code():
    before = {"modules/tests/test_a.py": "1", "pyproject.toml": "2", "milestones/01_perceptron/README.md": "3"}
    assert tampered_files(before, dict(before)) == []
    plots = {**before, "milestones/01_perceptron/boundary.png": "9", "results.json": "8"}
    assert tampered_files(before, plots) == []  # ordinary output of a run
    assert tampered_files(before, {**before, "modules/tests/test_a.py": "changed"}) == ["modules/tests/test_a.py"]
    removed = {k: v for k, v in before.items() if k != "pyproject.toml"}
    assert tampered_files(before, removed) == ["pyproject.toml"]
    planted = {**before, "modules/conftest.py": "4", "sitecustomize.py": "5", "pytest.ini": "6"}
    assert tampered_files(before, planted) == ["modules/conftest.py", "pytest.ini", "sitecustomize.py"]
