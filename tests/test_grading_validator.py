"""The plan's MilestoneValidator API on the synthetic course: a solved and an unsolved student."""

import pytest

from pytest_tinytorch import plugin
from pytest_tinytorch.plugin.curriculum import CurriculumError
from pytest_tinytorch.course.grading import Limits
from pytest_tinytorch.course.validator import MilestoneValidator
from test_grading_submissions import edition, instructor  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(not hasattr(plugin, "pytest_addoption"), reason="needs the plugin (not landed yet)")


@pytest.fixture(scope="module")
def validator(instructor):  # noqa: F811
    with MilestoneValidator("perceptron", instructor_root=instructor, limits=Limits(timeout_s=120)) as checker:
        yield checker


@pytest.fixture(scope="module")
def students(instructor, tmp_path_factory):  # noqa: F811
    folder = tmp_path_factory.mktemp("students")
    return edition(instructor, folder / "ada", solved=True), edition(instructor, folder / "bob", solved=False)


def test_a_solved_submission_passes_every_check(validator, students):
    ada, _ = students
    prerequisites = validator.check_prerequisites(ada)
    assert prerequisites.passed and prerequisites.groups == {"01_04": "passed"}
    assert prerequisites.student == "ada"
    implementation = validator.validate_implementation(ada)
    assert implementation.passed and implementation.summary.startswith("implementation: 3 tests passed, 0 failed")
    deliverables = validator.grade_deliverables(ada)
    assert deliverables.passed and deliverables.score == pytest.approx(0.5)  # model 0.25 + training 0.25
    assert deliverables.rubric["model"]["score"] == pytest.approx(0.25)
    assert deliverables.rubric["visualization"]["total"] == 0
    feedback = validator.generate_feedback([prerequisites, implementation, deliverables])
    assert "[PASS] Milestone 1: Perceptron: prerequisites met" in feedback
    assert "Model Implementation" in feedback and "1/1 tests  0.25 of 0.25" in feedback
    assert "[FAIL]" not in feedback and "Next:" not in feedback


def test_an_unsolved_submission_gets_feedback_it_can_act_on(validator, students):
    _, bob = students
    prerequisites = validator.check_prerequisites(bob)
    assert not prerequisites.passed and prerequisites.groups == {"01_04": "failed"}
    deliverables = validator.grade_deliverables(bob)
    assert not deliverables.passed and deliverables.score == 0
    feedback = validator.generate_feedback([prerequisites, deliverables])
    assert "[FAIL] Milestone 1: Perceptron: prerequisites not met: 01_04 (failed)" in feedback
    assert "failing: modules/tests/integration/test_modules_01_04.py::test_double_then_relu" in feedback
    assert feedback.splitlines()[-1] == "Next: fix the failing tests, then run: pytest --milestone=perceptron"


def test_wrong_names_and_paths_are_refused(instructor, validator, tmp_path):  # noqa: F811
    with pytest.raises(CurriculumError, match="unknown milestone 'resnet'; expected one of: perceptron"):
        MilestoneValidator("resnet", instructor_root=instructor)
    with pytest.raises(FileNotFoundError, match="no such submission directory"):
        validator.check_prerequisites(tmp_path / "missing")
