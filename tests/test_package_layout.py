"""The package's three sub-packages, and the old flat import paths that must keep working.

Instructors' conftests (``from pytest_tinytorch.curriculum import Milestone``), student
notebooks of older editions (``pytest_tinytorch.milestone_code``) and the docs of earlier
versions import modules by the paths they had before ``plugin/``, ``grader/`` and ``course/``.
"""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_tinytorch
from pytest_tinytorch.old_paths import FAMILIES, MOVED

PACKAGE = Path(pytest_tinytorch.__file__).parent


def test_every_module_lives_in_its_family_and_none_is_left_flat():
    flat = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__", "old_paths"]
    for family, names in FAMILIES.items():
        for name in names:
            assert (PACKAGE / family / f"{name}.py").is_file() or (PACKAGE / family / name / "__init__.py").is_file(), \
                f"{family}/{name}"
    listed = {name for names in FAMILIES.values() for name in names}
    present = {p.stem for family in FAMILIES for p in (PACKAGE / family).glob("*.py") if p.stem != "__init__"}
    # every module of the sub-packages came from the flat package, so each has its old path;
    # a module written later (no old path) is the one place to add an exception here
    assert present - listed == set(), "a module here that was never flat needs no alias: list it as new"


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_moved_module_itself(old):
    assert importlib.import_module(old) is importlib.import_module(MOVED[old])


def test_documented_old_imports_work_in_a_fresh_interpreter():
    code = (
        "from pytest_tinytorch.curriculum import Milestone, default_curriculum\n"
        "from pytest_tinytorch.milestone_code import load_milestone\n"
        "from pytest_tinytorch import strategies as cases\n"
        "from pytest_tinytorch.op_registry import register_op\n"
        "from pytest_tinytorch.graded_ops.spatial import conv2d_reference\n"
        "import pytest_tinytorch.state, pytest_tinytorch.plugin.state as new\n"
        "assert pytest_tinytorch.state is new\n"
        "assert cases.__name__ == 'pytest_tinytorch.grader.strategies'\n"
        "assert Milestone.__module__ == 'pytest_tinytorch.plugin.curriculum'\n"
        "print(len(default_curriculum().milestones))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"


def test_a_name_that_never_existed_is_still_an_import_error():
    with pytest.raises(ModuleNotFoundError, match="pytest_tinytorch.no_such_module"):
        importlib.import_module("pytest_tinytorch.no_such_module")


def test_entry_points_name_the_new_modules():
    text = (PACKAGE.parents[1] / "pyproject.toml").read_text()
    assert 'tinytorch = "pytest_tinytorch.plugin"' in text
    assert 'tito = "pytest_tinytorch.course.cli:main"' in text
