"""What the negative controls of the milestone graders share (``tests/test_*milestone_checks.py``).

Each milestone's validation file keeps its graders as ``check_*`` functions; a control hands
one of them broken work and expects it to fail. A grader that cannot fail grades nothing.
"""

from __future__ import annotations

import types

import pytest

from pytest_tinytorch.course.milestone_code import import_notebook, milestone_directory
from pytest_tinytorch.plugin.curriculum import default_curriculum

REJECTED = (AssertionError, pytest.fail.Exception)
"""How a grader says no: an assertion, or ``pytest.fail``."""


def rejects(check, *args, match: str | None = None, **kwargs) -> None:
    """``check`` must fail on these arguments (with ``match`` in its message, when given)."""
    with pytest.raises(REJECTED, match=match):
        check(*args, **kwargs)


def with_changes(module, **replacements):
    """A copy of a milestone module's namespace with some names replaced."""
    return types.SimpleNamespace(**{**vars(module), **replacements})


def graders_of(name: str):
    """Milestone ``name``'s validation file, imported as a module of its ``check_*`` graders."""
    number = default_curriculum().milestone(name).number
    return import_notebook(milestone_directory(name) / f"test_{name}.py", f"graders_of_milestone_{number}")
