"""pytest_tinytorch.course.milestone_code: which file a milestone's tests grade, and the plot check."""

from __future__ import annotations

import os
import sys
import types
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from pytest_tinytorch.course import milestone_code
from pytest_tinytorch.plugin.curriculum import default_curriculum
from pytest_tinytorch.course.milestone_code import (
    MilestoneCodeError, assert_png_has_content, import_notebook, load_milestone, milestone_file,
    starter_from_solution,
)


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A repository with milestone 1's directory holding a starter and a solution."""
    monkeypatch.delenv(milestone_code.VARIANT_VARIABLE, raising=False)
    directory = tmp_path / "milestones" / "01_perceptron"
    directory.mkdir(parents=True)
    (directory / "perceptron_milestone.py").write_text('VALUE = "starter"\n')
    (directory / "perceptron_solution.py").write_text('VALUE = "solution"\n')
    return tmp_path


def test_the_solution_is_graded_when_present_and_the_starter_otherwise(course):
    assert load_milestone("perceptron", start=course).VALUE == "solution"
    assert load_milestone("perceptron", variant="starter", start=course).VALUE == "starter"
    (course / "milestones" / "01_perceptron" / "perceptron_solution.py").unlink()
    assert load_milestone("perceptron", start=course).VALUE == "starter"
    with pytest.raises(MilestoneCodeError, match="perceptron_solution.py does not exist"):
        load_milestone("perceptron", variant="solution", start=course)


def test_the_environment_can_ask_for_the_starter(course, monkeypatch):
    monkeypatch.setenv(milestone_code.VARIANT_VARIABLE, "starter")
    assert load_milestone("perceptron", start=course).VALUE == "starter"
    with pytest.raises(ValueError, match="expected one of auto, solution, starter"):
        milestone_file("perceptron", variant="reference", start=course)


def test_the_directory_is_found_upwards_from_a_subdirectory(course):
    deeper = course / "notes" / "week1"
    deeper.mkdir(parents=True)
    assert milestone_file("perceptron", start=deeper) == (
        course / "milestones" / "01_perceptron" / "perceptron_solution.py"
    ).resolve()


def test_a_missing_directory_names_what_was_expected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MilestoneCodeError, match="milestones/02_mlp"):
        milestone_file("mlp", start=tmp_path)
    with pytest.raises(Exception, match="unknown milestone 'resnet'"):
        milestone_file("resnet", start=tmp_path)


def test_a_changed_file_is_imported_again_and_an_unchanged_one_is_not(course):
    first = load_milestone("perceptron", start=course)
    assert load_milestone("perceptron", start=course) is first
    solution = course / "milestones" / "01_perceptron" / "perceptron_solution.py"
    solution.write_text('VALUE = "edited"\n')
    stat = solution.stat()
    os.utime(solution, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load_milestone("perceptron", start=course).VALUE == "edited"


def test_a_notebook_that_fails_to_import_leaves_no_module_behind(tmp_path):
    broken = tmp_path / "broken_milestone.py"
    broken.write_text('raise NotImplementedError("TODO: at import")\n')
    with pytest.raises(NotImplementedError):
        import_notebook(broken, "milestone_code_test_broken")
    assert "milestone_code_test_broken" not in sys.modules


def test_a_pytest_config_supplies_the_rootdir_and_the_course_curriculum(tmp_path):
    curriculum = default_curriculum()
    curriculum.milestones[0] = replace(curriculum.milestones[0], directory="projects/first")
    directory = tmp_path / "projects" / "first"
    directory.mkdir(parents=True)
    (directory / "perceptron_milestone.py").write_text("VALUE = 1\n")
    plugin = types.SimpleNamespace(curriculum=curriculum)
    config = types.SimpleNamespace(
        rootpath=tmp_path,
        pluginmanager=types.SimpleNamespace(get_plugin=lambda name: plugin if name == "tinytorch-session" else None),
    )
    assert milestone_file("perceptron", config=config) == (directory / "perceptron_milestone.py").resolve()


# -- starter_from_solution -------------------------------------------------------------------------
SOLUTION = '''\
def train(model, epochs=3):
    """Train."""
    history = []
    for epoch in range(epochs):
        # Hint: one step per epoch.
        # BEGIN SOLUTION: Part 2, train - one step
        history.append(model.step())
        # END SOLUTION
    return history
'''


def test_each_block_becomes_a_todo_that_names_its_task():
    starter = starter_from_solution(SOLUTION)
    assert starter == SOLUTION.replace(
        "        # BEGIN SOLUTION: Part 2, train - one step\n"
        "        history.append(model.step())\n"
        "        # END SOLUTION\n",
        '        raise NotImplementedError("TODO: Part 2, train - one step")\n',
    )
    namespace = {}
    exec(compile(starter, "starter", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="TODO: Part 2, train - one step"):
        namespace["train"](object())


def test_a_block_without_a_task_is_refused():
    unlabelled = SOLUTION.replace("# BEGIN SOLUTION: Part 2, train - one step", "# BEGIN SOLUTION")
    with pytest.raises(ValueError, match="needs a task"):
        starter_from_solution(unlabelled, "demo_solution.py")


# -- assert_png_has_content ----------------------------------------------------------------------
def save(path, draw, size=(6, 4)):
    figure = Figure(figsize=size, dpi=100)
    draw(figure.add_subplot())
    figure.savefig(path)
    return path


def test_a_real_plot_passes_and_reports_its_size(tmp_path):
    path = save(tmp_path / "plot.png", lambda axes: axes.plot(np.sin(np.linspace(0, 6, 50)), label="sin"))
    assert assert_png_has_content(path) == (600, 400)


def test_missing_blank_small_and_non_png_files_fail(tmp_path):
    with pytest.raises(AssertionError, match="no file was written"):
        assert_png_has_content(tmp_path / "absent.png")
    text = tmp_path / "text.png"
    text.write_text("not an image")
    with pytest.raises(AssertionError, match="not a PNG"):
        assert_png_has_content(text)
    blank = save(tmp_path / "blank.png", lambda axes: axes.set_axis_off())
    with pytest.raises(AssertionError, match="distinct colours"):
        assert_png_has_content(blank)
    small = save(tmp_path / "small.png", lambda axes: axes.plot([0, 1]), size=(1, 1))
    with pytest.raises(AssertionError, match="expected at least 200x150"):
        assert_png_has_content(small)
    nearly_blank = save(tmp_path / "dot.png", lambda axes: (axes.set_axis_off(), axes.scatter([0], [0], s=4, c=[[0.2, 0.5, 0.9]])))
    with pytest.raises(AssertionError, match=r"one colour|distinct colours"):
        assert_png_has_content(nearly_blank)
