"""Fixtures for the plugin's pytester tests: a small synthetic course.

The synthetic course has three modules (alpha, beta, gamma), two integration groups
(01_02, 03_03) and two milestones (first, second), installed from the course's own
``conftest.py`` through ``pytest_tinytorch_modify_curriculum``. Its "implementation" is the
tiny package ``mypkg``; ``tinytorch_sources = mypkg`` makes it the fingerprinted source.
Breaking ``mypkg`` is the negative control: the gating must notice.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

COURSE_CONFTEST = '''
from pytest_tinytorch.plugin.curriculum import Group, Milestone, Module


def pytest_tinytorch_modify_curriculum(curriculum, config):
    curriculum.modules[:] = [Module(1, "alpha", "Alpha"), Module(2, "beta", "Beta"),
                             Module(3, "gamma", "Gamma")]
    curriculum.groups[:] = [Group("01_02", ("alpha", "beta")), Group("03_03", ("gamma",))]
    curriculum.milestones[:] = [
        Milestone(1, "first", "First", ("01_02",), "milestones/01_first",
                  {"model": 0.6, "training": 0.4}),
        Milestone(2, "second", "Second", ("01_02", "03_03"), "milestones/02_second",
                  {"model": 1.0}),
    ]
'''

IMPLEMENTATION = '''
def add(a, b):
    return a + b


def mul(a, b):
    return a * b


def neg(a):
    return -a
'''

FILES = {
    "modules/source/01_alpha/test_alpha_unit.py": '''
        import pytest
        from mypkg import add

        pytestmark = pytest.mark.module("alpha")

        def test_add_small():
            assert add(1, 2) == 3
    ''',
    "modules/source/02_beta/test_beta_unit.py": '''
        from mypkg import mul

        def test_mul_small():
            assert mul(2, 3) == 6
    ''',
    "modules/tests/integration/test_modules_01_02.py": '''
        import pytest
        from mypkg import add, mul

        pytestmark = pytest.mark.integration("01_02")

        def test_add_then_mul():
            assert mul(add(1, 2), 4) == 12

        def test_add_is_commutative():
            assert add(2, 5) == add(5, 2) == 7

        def test_mul_by_zero():
            assert mul(7, 0) == 0
    ''',
    "modules/tests/integration/test_modules_03_03.py": '''
        import pytest
        from mypkg import neg

        pytestmark = pytest.mark.integration("03_03")

        def test_neg():
            assert neg(4) == -4
    ''',
    "milestones/01_first/test_first.py": '''
        from pytest_tinytorch import milestone
        from mypkg import add, mul

        @milestone("first", rubric="model")
        def test_model_adds():
            assert add(2, 2) == 4

        @milestone("first", rubric="model")
        def test_model_multiplies():
            assert mul(3, 3) == 9

        @milestone("first", rubric="training")
        def test_training():
            assert add(mul(2, 2), 1) == 5
    ''',
    "milestones/02_second/test_second.py": '''
        from pytest_tinytorch import milestone
        from mypkg import neg

        @milestone("second", rubric="model")
        def test_second_model():
            assert neg(neg(3)) == 3
    ''',
}


class SyntheticCourse:
    """A synthetic course in a pytester directory, with helpers to run and break it."""

    def __init__(self, pytester: pytest.Pytester):
        self.pytester = pytester
        self.path = Path(pytester.path)
        pytester.makeini(textwrap.dedent("""
            [pytest]
            tinytorch_sources = mypkg
            testpaths = modules milestones
            tinytorch_rerun_workers = 0
        """))
        pytester.makeconftest(COURSE_CONFTEST)
        self.write("mypkg/__init__.py", IMPLEMENTATION)
        for relpath, source in FILES.items():
            self.write(relpath, source)

    def write(self, relpath: str, source: str) -> Path:
        path = self.path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        return path

    def edit_implementation(self, old: str, new: str) -> None:
        path = self.path / "mypkg/__init__.py"
        text = path.read_text()
        assert old in text, f"{old!r} not in mypkg"
        path.write_text(text.replace(old, new))

    def break_add(self) -> None:
        """A wrong implementation of add: the negative control for group 01_02."""
        self.edit_implementation("return a + b", "return a - b")

    def break_neg(self) -> None:
        self.edit_implementation("return -a", "return a")

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest(*args)

    def run_with_report(self, *args: str, name: str = "report.json") -> tuple[pytest.RunResult, dict]:
        result = self.run(f"--tinytorch-report={name}", *args)
        return result, json.loads((self.path / name).read_text())

    def status(self, *args: str) -> pytest.RunResult:
        return self.run("--tinytorch-status", *args)

    @staticmethod
    def states(report: dict) -> dict:
        """The comparable part of a report: every unit's and milestone's state."""
        return {
            kind: {name: entry["state"] for name, entry in report[kind].items()}
            for kind in ("modules", "groups", "milestones")
        }

    @property
    def state_file(self) -> Path:
        return self.path / ".pytest_cache/d/tinytorch/state.json"


OUTER_ENVIRONMENT = ("GITHUB_STEP_SUMMARY", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER",
                     "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID", "TINYTORCH_QUIET_RUN")
"""Variables of the run that hosts these tests, which must not leak into the synthetic runs."""


@pytest.fixture
def course(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> SyntheticCourse:
    for name in OUTER_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return SyntheticCourse(pytester)

