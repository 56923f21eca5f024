"""The milestone starters are notebooks: they convert with jupytext, set up Colab only on
Colab, follow the course plan's template, and run no training when imported; milestone 2's
given data loader picks MNIST only when all of it is cached.

Also (hidden from the student edition, since it needs the reference solutions): each starter
is exactly its solution with every solution block replaced by a TODO, so the two cannot drift.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import types

import jupytext
import nbformat
import numpy as np
import pytest

from pytest_tinytorch.plugin.curriculum import RUBRIC_TITLES, default_curriculum
from pytest_tinytorch.course.milestone_code import import_notebook, milestone_directory, starter_from_solution

NOTEBOOK_MILESTONES = ("perceptron", "mlp", "cnn", "tinygpt", "systems")
"""Milestones whose starters this file checks (add later milestones as they adopt the template)."""
COURSE_REPOSITORY = "https://github.com/tinytorch/tinytorch"
TEMPLATE_HEADINGS = (
    "## Prerequisites", "## Learning Objectives", "## What You'll Build", "## Part 1", "## Part 2",
    "## Part 3", "## Part 4", "## Part 5", "## Milestone Deliverables", "## Success Criteria",
)


def starter_path(name):
    return milestone_directory(name) / default_curriculum().milestone(name).starter_file


def solution_path(name):
    return milestone_directory(name) / f"{name}_solution.py"


def setup_cell_source(name) -> str:
    notebook = jupytext.read(starter_path(name))
    first = notebook.cells[0]
    assert first.cell_type == "code", f"the first cell of {name}'s starter should be the Colab setup code"
    return first.source


@pytest.mark.parametrize("name", NOTEBOOK_MILESTONES)
def test_starter_converts_to_a_valid_ipynb_with_the_template_sections(name):
    notebook = jupytext.read(starter_path(name))
    ipynb = nbformat.reads(jupytext.writes(notebook, fmt="ipynb"), as_version=4)
    nbformat.validate(ipynb)
    markdown = "\n".join(cell.source for cell in ipynb.cells if cell.cell_type == "markdown")
    milestone = default_curriculum().milestone(name)
    assert f"# Milestone {milestone.number}:" in markdown
    missing = [heading for heading in TEMPLATE_HEADINGS if heading not in markdown]
    assert not missing, f"{name}'s starter lacks the course plan's sections {missing}"
    code_cells = [cell for cell in ipynb.cells if cell.cell_type == "code"]
    assert len(code_cells) >= 10 and "TINYTORCH_REPO" in code_cells[0].source
    round_trip = jupytext.reads(jupytext.writes(ipynb, fmt="py:percent"), fmt="py:percent")
    assert [cell.source for cell in round_trip.cells] == [cell.source for cell in ipynb.cells]


@pytest.mark.parametrize("name", NOTEBOOK_MILESTONES)
def test_setup_cell_does_nothing_outside_colab(name, monkeypatch, capsys):
    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"the setup cell ran {args} outside Colab")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.setitem(sys.modules, "google.colab", None)  # makes "import google.colab" fail
    namespace = {}
    exec(compile(setup_cell_source(name), f"{name}: setup cell", "exec"), namespace)
    assert namespace["IN_COLAB"] is False
    assert namespace["TINYTORCH_REPO"] == COURSE_REPOSITORY
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", NOTEBOOK_MILESTONES)
@pytest.mark.parametrize("mount", [False, True])
def test_setup_cell_installs_tinytorch_and_reports_the_runtime_on_colab(name, mount, monkeypatch, capsys):
    commands, mounts = [], []
    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounts.append)
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: commands.append(command))
    monkeypatch.setattr("shutil.which", lambda program: None)
    source = setup_cell_source(name)
    if mount:
        assert "MOUNT_GOOGLE_DRIVE = False" in source
        source = source.replace("MOUNT_GOOGLE_DRIVE = False", "MOUNT_GOOGLE_DRIVE = True")
    namespace = {}
    exec(compile(source, f"{name}: setup cell", "exec"), namespace)
    assert namespace["IN_COLAB"] is True
    assert commands == [[sys.executable, "-m", "pip", "install", "--quiet", f"git+{COURSE_REPOSITORY}"]]
    assert mounts == (["/content/drive"] if mount else [])
    assert "No GPU" in capsys.readouterr().out


@pytest.mark.parametrize("name", NOTEBOOK_MILESTONES)
def test_readme_rubric_has_the_curriculum_weights(name):
    readme = (milestone_directory(name) / "README.md").read_text(encoding="utf-8")
    for category, weight in default_curriculum().milestone(name).rubric.items():
        row = f"| {RUBRIC_TITLES[category]} | {weight:.0%} |"
        assert row in readme, f"{name}'s README should have the rubric row {row!r} (from the curriculum)"


ALLOWED_TOP_LEVEL = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign, ast.Try)


def is_main_guard(node) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("__name__ == '__main__'", "IN_COLAB")


@pytest.mark.parametrize("name", NOTEBOOK_MILESTONES)
def test_importing_a_starter_runs_nothing_but_definitions(name):
    tree = ast.parse(starter_path(name).read_text(encoding="utf-8"))
    for node in tree.body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        assert docstring or is_main_guard(node) or isinstance(node, ALLOWED_TOP_LEVEL), (
            f"{starter_path(name).name}:{node.lineno} runs `{ast.unparse(node)[:60]}` at import; put "
            "demonstrations and training under `if __name__ == \"__main__\":`"
        )
    module = import_notebook(starter_path(name), f"starter_import_check_{name}")
    assert module.IN_COLAB is False


@pytest.mark.hidden
@pytest.mark.parametrize("name", NOTEBOOK_MILESTONES)
def test_starter_is_the_solution_with_each_block_replaced_by_a_todo(name):
    solution = solution_path(name)
    expected = starter_from_solution(solution.read_text(encoding="utf-8"), str(solution))
    assert starter_path(name).read_text(encoding="utf-8") == expected, (
        f"{starter_path(name).name} has drifted from {name}_solution.py; regenerate it with "
        "starter_from_solution (see docs/milestones.md)"
    )


@pytest.mark.hidden
@pytest.mark.parametrize(("name", "model_class"), [("perceptron", "Perceptron"), ("mlp", "MLP"), ("cnn", "CNN")])
def test_the_starter_model_is_a_todo(name, model_class):
    starter = import_notebook(starter_path(name), f"starter_todo_check_{name}")
    with pytest.raises(NotImplementedError, match="TODO: Part 1"):
        getattr(starter, model_class)()


@pytest.mark.hidden
def test_the_tinygpt_starter_model_is_a_todo():
    starter = import_notebook(starter_path("tinygpt"), "starter_todo_check_tinygpt")
    with pytest.raises(NotImplementedError, match="TODO: Part 1"):
        starter.build_gpt(65, starter.QUICK)


@pytest.mark.hidden
def test_the_systems_starter_work_is_a_todo():
    starter = import_notebook(starter_path("systems"), "starter_todo_check_systems")
    with pytest.raises(NotImplementedError, match="TODO: Part 3, quantize_weight"):
        starter.quantize_weight(np.ones((3, 2), dtype=np.float32))
    with pytest.raises(NotImplementedError, match="TODO: Part 4, pareto_front"):
        starter.pareto_front([("a", 1.0, 0.5)])
    with pytest.raises(NotImplementedError, match="TODO: Part 2, compress"):
        starter.compress(starter.mlp.MLP(), None)
    with pytest.raises(NotImplementedError, match="TODO: Part 4, kv_cache_memory"):
        starter.kv_cache_memory(None)
    with pytest.raises(NotImplementedError, match="TODO: Part 4, kv_cache_speedup"):
        starter.kv_cache_speedup(None, [0], 1)


def test_mlp_data_uses_the_bundled_digits_unless_mnist_is_cached(monkeypatch, tmp_path):
    from pytest_tinytorch.course.milestone_code import load_milestone

    mlp = load_milestone("mlp")
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path))
    assert mlp.mnist_is_cached() is False
    data = mlp.load_data()
    assert data["name"] == "digits"
    sizes = [len(data[key]) for key in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")]
    assert sizes == [1150, 1150, 287, 287, 360, 360]
    assert abs(data["X_train"].mean(axis=0)).max() < 1e-4, "features are standardized with training statistics"
    names = [remote.name for files in mlp.MNIST_FILES.values() for remote in files]
    (tmp_path / "mnist").mkdir()
    for name in names[:-1]:
        (tmp_path / "mnist" / name).write_bytes(b"")
    assert mlp.mnist_is_cached() is False, "three of four MNIST files are not a cached MNIST"
    (tmp_path / "mnist" / names[-1]).write_bytes(b"")
    assert mlp.mnist_is_cached() is True


def test_cnn_data_is_standardized_shifted_digits_unless_cifar10_is_asked_for(monkeypatch):
    from pytest_tinytorch.course.milestone_code import load_milestone

    cnn = load_milestone("cnn")
    data = cnn.load_data()
    assert data["name"] == "shifted_digits" and data["classes"] == tuple("0123456789")
    sizes = [len(data[key]) for key in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")]
    assert sizes == [2299, 2299, 575, 575, 720, 720]
    assert data["X_train"].shape[1:] == (1, 16, 16) and data["X_train"].dtype == np.float32
    assert abs(float(data["X_train"].mean())) < 1e-4 and abs(float(data["X_train"].std()) - 1) < 1e-3, (
        "images are standardized with the training statistics"
    )
    assert isinstance(cnn.augmentation(data), cnn.RandomCrop), "digits only move: a mirrored digit is another shape"
    with pytest.raises(ValueError, match="expected 'shifted_digits' or 'cifar10'"):
        cnn.load_data("mnist")
    with pytest.raises(ValueError, match="image_size=18: expected a multiple of 4"):
        cnn.CNN(image_size=18)
    with pytest.raises(ValueError, match="kernel_size=4: expected an odd size"):
        cnn.CNN(kernel_size=4)
    with pytest.raises(ValueError, match="expected 'sgd', 'momentum' or 'adam'"):
        cnn.make_optimizer("rmsprop", [], 0.1)

    rng = np.random.default_rng(0)
    requested = []

    def offline_cifar10(split="train"):
        requested.append(split)
        count = 50 if split == "train" else 20
        return rng.integers(0, 256, (count, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, count)

    monkeypatch.setattr(cnn, "load_cifar10", offline_cifar10)
    cifar = cnn.load_data("cifar10")
    assert requested == ["train", "test"] and cifar["classes"] == cnn.CIFAR10_CLASSES
    assert [len(cifar[key]) for key in ("X_train", "X_val", "X_test")] == [40, 10, 20]
    per_channel = cifar["X_train"].transpose(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(per_channel.mean(axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(per_channel.std(axis=1), 1, atol=1e-3)
    assert "RandomHorizontalFlip" in repr(cnn.augmentation(cifar))
    model = cnn.make_model(cifar, (4, 6))
    assert model(cnn.Tensor(cifar["X_test"][:2])).shape == (2, 10)
