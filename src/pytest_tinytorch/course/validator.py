"""``MilestoneValidator``: the course plan's grading API, for instructors who script grading.

    validator = MilestoneValidator("perceptron", instructor_root="~/tinytorch")
    prerequisites = validator.check_prerequisites("submissions/ada")
    implementation = validator.validate_implementation("submissions/ada")
    deliverables = validator.grade_deliverables("submissions/ada")
    print(validator.generate_feedback([prerequisites, implementation, deliverables]))

Each check grades the submission exactly as ``tito grade`` does (a fresh grading tree from the
instructor's repository, the student's ``src/tinytorch`` and starter copied in, an isolated
pytest process with a timeout and a memory limit) but runs only the tests it is about:

* ``check_prerequisites``: the integration groups the milestone requires;
* ``validate_implementation``: those groups plus the unit tests of their modules;
* ``grade_deliverables``: ``pytest --milestone=NAME`` (prerequisites, then the validation
  tests) and the rubric scorecard.

The plan's ``check_prerequisites(student_id)`` takes the student's submission folder; its
name is the student id in the results.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pytest_tinytorch.plugin.curriculum import Curriculum, RUBRIC_TITLES, default_curriculum
from pytest_tinytorch.course.grading import Limits, SubmissionResult, build_grading_base, grade_one


@dataclass
class CheckResult:
    """The answer of one validator check, with the grading details behind it."""

    check: str  # "prerequisites" | "implementation" | "deliverables"
    milestone: str
    student: str
    passed: bool
    summary: str
    groups: dict = field(default_factory=dict)
    rubric: dict = field(default_factory=dict)  # category -> {"weight", "passed", "total", "score"}
    score: float = 0.0  # for deliverables: the rubric total, 0..1
    failed_tests: list = field(default_factory=list)
    grading: SubmissionResult | None = None


class MilestoneValidator:
    """Checks one milestone for any number of submissions (the grading tree is built once)."""

    def __init__(
        self, milestone: str, instructor_root: Path | str = ".", limits: Limits | None = None,
        curriculum: Curriculum | None = None, out_dir: Path | str | None = None,
    ):
        self.curriculum = curriculum or default_curriculum()
        self.milestone = self.curriculum.milestone(milestone)  # unknown names fail here, listing the valid ones
        self.instructor_root = Path(instructor_root).expanduser().resolve()
        self.limits = limits or Limits()
        self._scratch = Path(tempfile.mkdtemp(prefix="tinytorch-validator-"))
        self.out_dir = Path(out_dir) if out_dir else self._scratch / "results"
        self._base: Path | None = None

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> "MilestoneValidator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the plan's four methods ----------------------------------------------------------
    def check_prerequisites(self, submission: Path | str) -> CheckResult:
        """Do the milestone's required integration groups pass for this submission?"""
        files = [self.curriculum.group(name).test_file for name in self.milestone.requires]
        missing = [f for f in files if not (self.instructor_root / f).is_file()]
        grading = self._run(submission, "prerequisites", [f for f in files if f not in missing])
        states = {name: grading.groups.get(name, "not run") for name in self.milestone.requires}
        for name, test_file in zip(self.milestone.requires, files):
            if test_file in missing:
                states[name] = "not built yet"
        passed = grading.status == "graded" and all(state == "passed" for state in states.values())
        failing = ", ".join(f"{name} ({state})" for name, state in states.items() if state != "passed")
        summary = (f"{self.milestone.label}: prerequisites met" if passed else
                   f"{self.milestone.label}: prerequisites not met: {failing or grading.reason}")
        return CheckResult("prerequisites", self.milestone.name, grading.submission, passed, summary,
                           groups=states, failed_tests=grading.failed_tests, grading=grading)

    def validate_implementation(self, submission: Path | str) -> CheckResult:
        """Do the unit tests of the prerequisite modules and their integration groups pass?"""
        paths = []
        for name in self.milestone.requires:
            group = self.curriculum.group(name)
            for module_name in group.modules:
                folder = f"modules/source/{self.curriculum.module(module_name).key}"
                if (self.instructor_root / folder).is_dir():
                    paths.append(folder)
            if (self.instructor_root / group.test_file).is_file():
                paths.append(group.test_file)
        grading = self._run(submission, "implementation", paths)
        counts = grading.tests
        passed = grading.status == "graded" and counts["failed"] == 0 and counts["error"] == 0 and counts["passed"] > 0
        summary = (f"implementation: {counts['passed']} tests passed, {counts['failed']} failed, "
                   f"{counts['error']} errors" + (f" ({grading.reason})" if grading.reason else ""))
        return CheckResult("implementation", self.milestone.name, grading.submission, passed, summary,
                           groups=grading.groups, failed_tests=grading.failed_tests, grading=grading)

    def grade_deliverables(self, submission: Path | str) -> CheckResult:
        """Run the milestone (``pytest --milestone=NAME``) and score its rubric."""
        grading = self._run(submission, "deliverables", [f"--milestone={self.milestone.name}"])
        entry = grading.milestones.get(self.milestone.name, {})
        rubric = entry.get("rubric") or {}
        state = entry.get("state") or "not graded"
        score = float(entry.get("score") or 0.0)
        passed = grading.status == "graded" and str(state).upper() == "COMPLETE"
        summary = f"{self.milestone.label}: {state}, rubric score {score:.0%}" + (
            f" ({grading.reason})" if grading.reason else "")
        return CheckResult("deliverables", self.milestone.name, grading.submission, passed, summary,
                           groups=grading.groups, rubric=rubric, score=score,
                           failed_tests=grading.failed_tests, grading=grading)

    def generate_feedback(self, results: CheckResult | list[CheckResult]) -> str:
        """Feedback a student can act on: what passed, what failed, the rubric, what to run."""
        results = [results] if isinstance(results, CheckResult) else list(results)
        lines = []
        for result in results:
            lines.append(f"[{'PASS' if result.passed else 'FAIL'}] {result.summary}")
            for category, detail in result.rubric.items():
                title = RUBRIC_TITLES.get(category, category)
                lines.append(
                    f"    {title:<22} {detail.get('passed', 0)}/{detail.get('total', 0)} tests"
                    f"  {float(detail.get('score', 0)):.2f} of {float(detail.get('weight', 0)):.2f}"
                )
            for nodeid in result.failed_tests[:10]:
                lines.append(f"    failing: {nodeid}")
            if len(result.failed_tests) > 10:
                lines.append(f"    ... and {len(result.failed_tests) - 10} more failing tests")
        if results and not all(r.passed for r in results):
            lines.append(f"Next: fix the failing tests, then run: pytest --milestone={self.milestone.name}")
        return "\n".join(lines)

    # -- shared machinery -----------------------------------------------------------------
    def _run(self, submission: Path | str, check: str, arguments: list[str]) -> SubmissionResult:
        submission = Path(submission)
        if not submission.is_dir():
            raise FileNotFoundError(f"no such submission directory: {submission}")
        if self._base is None:
            self._base = build_grading_base(self.instructor_root, self._scratch / "base", self.curriculum)
        name = f"{submission.resolve().name}-{check}"
        result = grade_one(submission, name, self._base, self.out_dir, self.limits, self.curriculum,
                           self._scratch / "work", arguments=arguments or ["--collect-only", "-q"],
                           reference_library=self.instructor_root / "src/tinytorch")
        result.submission = submission.resolve().name
        return result
