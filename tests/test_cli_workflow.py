"""A student's path through tito, on a small synthetic course with the real plugin:
locked milestone refused, modules completed, milestone unlocked, notebook started,
submitted (failing, then complete), and the history that records it all."""

import json
import os
import shutil
import textwrap
from pathlib import Path

import jupytext
import pytest

from pytest_tinytorch import plugin
from pytest_tinytorch.course.cli import main, sync_notebook
from pytest_tinytorch.course.release import release
from test_grading_submissions import SOLUTION, STARTER, instructor  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(not hasattr(plugin, "pytest_addoption"), reason="needs the plugin (not landed yet)")

UNIT_TESTS = {
    "modules/source/01_tensor/test_tiny_tensor.py": textwrap.dedent(
        """\
        import pytest

        from tinytorch.tensor import double

        pytestmark = pytest.mark.module("tensor")


        def test_double():
            assert double([1, -2]) == [2, -4]
        """
    ),
    "modules/source/02_activations/test_tiny_activations.py": textwrap.dedent(
        """\
        import pytest

        from tinytorch.activations import relu

        pytestmark = pytest.mark.module("activations")


        def test_relu():
            assert relu([-1, 3]) == [0, 3]
        """
    ),
}


@pytest.fixture
def student(instructor, tmp_path):  # noqa: F811
    """A fresh student edition of the synthetic course, with unit tests for two modules."""
    course = tmp_path / "course"
    shutil.copytree(instructor, course)
    for relative, text in UNIT_TESTS.items():
        (course / relative).parent.mkdir(parents=True, exist_ok=True)
        (course / relative).write_text(text)
    release(course, tmp_path / "student")
    release(course, tmp_path / "solved", solutions_through=19)
    return tmp_path / "student", tmp_path / "solved"


def tito(root: Path, *arguments: str) -> int:
    return main(["--root", str(root), *arguments])


def solve(student: Path, solved: Path, module: str) -> None:
    shutil.copyfile(solved / f"src/tinytorch/{module}.py", student / f"src/tinytorch/{module}.py")


def test_a_student_goes_from_locked_to_complete(student, capfd):
    student, solved = student
    starter = student / "milestones/01_perceptron/perceptron_milestone.py"

    assert tito(student, "milestone", "status") == 0
    assert "Milestone 1: Perceptron" in capfd.readouterr().out

    assert tito(student, "milestone", "start", "perceptron") == 1
    error = capfd.readouterr().err
    assert "Milestone 1: Perceptron is LOCKED: unit tests of module tensor failed; " in error
    assert not starter.with_suffix(".ipynb").exists()
    assert tito(student, "milestone", "start", "cnn") == 1  # locked, and no starter written yet either
    assert capfd.readouterr().err.startswith(
        "tito: Milestone 3: CNN is LOCKED: unit tests of module tensor failed; unit tests of module "
        "activations failed; ")

    assert tito(student, "module", "complete", "01_tensor") == 1  # still a TODO
    assert "Module 01_tensor is not complete yet" in capfd.readouterr().out

    solve(student, solved, "tensor")
    assert tito(student, "module", "complete", "01_tensor") == 0
    printed = capfd.readouterr().out
    assert "Module 01_tensor: all tests pass." in printed
    assert "Integration group 01_04 waits for: 02_activations (failed)" in printed

    solve(student, solved, "activations")
    assert tito(student, "module", "complete", "02_activations") == 0
    printed = capfd.readouterr().out
    assert "Integration group 01_04: all tests pass." in printed
    assert "Milestone 1: Perceptron UNLOCKED!\nRun: tito milestone start perceptron" in printed

    assert tito(student, "milestone", "start", "Perceptron") == 0  # any spelling of the milestone
    assert "Created: milestones/01_perceptron/perceptron_milestone.ipynb" in capfd.readouterr().out
    notebook = json.loads(starter.with_suffix(".ipynb").read_text())
    assert notebook["metadata"]["jupytext"]["formats"] == "ipynb,py:percent"
    assert "raise NotImplementedError" in "".join("".join(cell["source"]) for cell in notebook["cells"])
    assert tito(student, "milestone", "start", "perceptron") == 1
    assert "already exists (your work?); pass --force" in capfd.readouterr().err

    untouched = starter.read_bytes()
    assert tito(student, "milestone", "submit", "01_perceptron") == 1  # the starter is still a TODO
    assert "Milestone 1: Perceptron: UNLOCKED." in capfd.readouterr().out
    assert starter.read_bytes() == untouched  # the notebook was never edited: no rewrite
    starter.write_text(SOLUTION)
    assert tito(student, "milestone", "submit", "perceptron") == 0
    assert "Milestone 1: Perceptron: COMPLETE. Submission report: milestones/01_perceptron/submission.json" in (
        capfd.readouterr().out)
    report = json.loads((student / "milestones/01_perceptron/submission.json").read_text())
    assert report["milestones"]["perceptron"]["state"] == "COMPLETE"

    # A damaged state file (a wrong outcome, a bad time) is rebuilt; its valid history survives.
    state_file = student / ".pytest_cache/d/tinytorch/state.json"
    state = json.loads(state_file.read_text())
    for record in state["units"].values():
        record["tests"] = {nodeid: "passedd" for nodeid in record["tests"]}
    state["history"]["modules"]["layers"] = 1
    state_file.write_text(json.dumps(state))
    assert tito(student, "checkpoint") == 0
    printed = capfd.readouterr()
    assert printed.err.startswith(f"tito: warning: TinyTorch state file {state_file} is unusable (malformed ")
    assert printed.err.rstrip().endswith(
        "it will be rebuilt from this run's results; kept 5 history entries, dropped 1: "
        "history.modules['layers'] is 1; expected an ISO 8601 timestamp")
    assert json.loads(state_file.read_text())["history"]["modules"]["tensor"] == state["history"]["modules"]["tensor"]
    history = printed.out.splitlines()
    line = {text.split()[0]: text for text in history if text.strip()}
    assert line["01_tensor"].split()[1].startswith("20")  # a timestamp, not "-"
    assert line["03_layers"].split()[1] == "-"
    assert line["01_04"].split()[1].startswith("20")
    perceptron = next(text for text in history if "Milestone 1: Perceptron" in text)
    assert perceptron.split()[-2].startswith("20") and perceptron.split()[-1].startswith("20")
    mlp = next(text for text in history if "Milestone 2: MLP" in text)
    assert mlp.split()[-2:] == ["-", "-"]


def test_submit_takes_the_notebook_when_it_is_newer(tmp_path):
    starter = tmp_path / "perceptron_milestone.py"
    starter.write_text("# %%\n" + STARTER)
    notebook = jupytext.read(starter)
    notebook.cells[0].source = SOLUTION
    jupytext.write(notebook, starter.with_suffix(".ipynb"))
    older = starter.with_suffix(".ipynb").stat().st_mtime - 10
    os.utime(starter, (older, older))
    assert sync_notebook(starter)
    assert "hits = sum(p == l for p, l in zip(predictions, labels))" in starter.read_text()
    assert not sync_notebook(starter)  # now the .py is the newer one


def test_submit_leaves_the_starter_alone_when_the_notebook_is_absent_or_unchanged(tmp_path):
    """An untouched notebook once rewrote the tracked starter (jupytext's header), failing the
    repository's drift test."""
    starter = tmp_path / "perceptron_milestone.py"
    original = "# ---\n# jupyter:\n#   jupytext:\n#     formats: py:percent\n# ---\n\n# %%\n" + STARTER
    starter.write_text(original)
    assert not sync_notebook(starter)  # no notebook
    notebook = jupytext.read(starter)
    notebook.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    jupytext.write(notebook, starter.with_suffix(".ipynb"))
    older = starter.with_suffix(".ipynb").stat().st_mtime - 10
    os.utime(starter, (older, older))
    assert not sync_notebook(starter)  # newer, but the same cells
    assert starter.read_text() == original
    edited = jupytext.read(starter.with_suffix(".ipynb"))
    edited.cells[0].source = SOLUTION.rstrip("\n")  # a cell's source has no final newline
    jupytext.write(edited, starter.with_suffix(".ipynb"))
    os.utime(starter, (older, older))
    assert sync_notebook(starter)
    assert starter.read_text() == (
        "# ---\n# jupyter:\n#   jupytext:\n#     formats: py:percent\n# ---\n\n# %%\n" + SOLUTION)

