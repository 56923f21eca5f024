"""``tito grade`` on a small class of fake submissions: good, failing, hanging, crashing,
memory-hungry, malicious (fake cache, patched tests, conftests that force passes, a library
that rewrites the tests while they run) and one that is not a submission at all.
(tests/test_grading_hostile.py has the hostile submissions of the audit, on the real library.)

The instructor repository is synthetic and small (two library files, one integration group,
one milestone) but carries the real plugin, so the scores are the plugin's Gradescope scores.
"""

import csv
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from pytest_tinytorch import plugin
from pytest_tinytorch.course.cli import main
from pytest_tinytorch.course.grading import Limits, grade_submissions
from pytest_tinytorch.course.release import release

REPOSITORY = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(plugin, "pytest_addoption"), reason="needs the plugin (not landed yet)")

PYPROJECT = textwrap.dedent(
    """\
    [project]
    name = "tinytorch"
    version = "0.1.0"

    [tool.pytest.ini_options]
    testpaths = ["modules", "milestones"]
    """
)
TENSOR = textwrap.dedent(
    '''\
    """Module 01, in miniature."""


    def double(values):
        # BEGIN SOLUTION
        return [2 * value for value in values]
        # END SOLUTION
    '''
)
ACTIVATIONS = textwrap.dedent(
    '''\
    """Module 02, in miniature."""


    def relu(values):
        # BEGIN SOLUTION
        return [value if value > 0 else 0 for value in values]
        # END SOLUTION
    '''
)
INTEGRATION = textwrap.dedent(
    '''\
    import pytest

    from tinytorch.activations import relu
    from tinytorch.tensor import double

    pytestmark = pytest.mark.integration("01_04")


    def test_double_then_relu():
        assert relu(double([-1, 2])) == [0, 4]


    def test_double_keeps_length():
        assert double([1, 2, 3]) == [2, 4, 6]


    @pytest.mark.hidden
    def test_relu_of_nothing():
        assert relu([]) == []
    '''
)
STARTER = "def accuracy(predictions, labels):\n    # TODO: the share of predictions equal to their label\n    raise NotImplementedError\n"
SOLUTION = (
    "def accuracy(predictions, labels):\n"
    "    hits = sum(p == l for p, l in zip(predictions, labels))\n"
    "    return hits / len(labels)\n"
)
MILESTONE_TESTS = textwrap.dedent(
    '''\
    import importlib.util
    from pathlib import Path

    from pytest_tinytorch import milestone

    HERE = Path(__file__).parent


    def load():
        path = HERE / "perceptron_solution.py"
        if not path.exists():
            path = HERE / "perceptron_milestone.py"
        spec = importlib.util.spec_from_file_location("perceptron_work", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


    @milestone("perceptron", rubric="model")
    def test_accuracy_counts_hits():
        assert load().accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5


    @milestone("perceptron", rubric="training")
    def test_accuracy_of_perfect_predictions():
        assert load().accuracy([2, 3], [2, 3]) == 1.0
    '''
)


def write(root: Path, files: dict) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture(scope="module")
def instructor(tmp_path_factory):
    root = tmp_path_factory.mktemp("instructor")
    shutil.copytree(REPOSITORY / "src/pytest_tinytorch", root / "src/pytest_tinytorch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    write(root, {
        "pyproject.toml": PYPROJECT,
        "src/tinytorch/__init__.py": "",
        "src/tinytorch/tensor.py": TENSOR,
        "src/tinytorch/activations.py": ACTIVATIONS,
        "modules/tests/integration/test_modules_01_04.py": INTEGRATION,
        "milestones/01_perceptron/perceptron_milestone.py": STARTER,
        "milestones/01_perceptron/perceptron_solution.py": SOLUTION,
        "milestones/01_perceptron/test_perceptron.py": MILESTONE_TESTS,
    })
    return root


def edition(instructor: Path, folder: Path, solved: bool) -> Path:
    release(instructor, folder, solutions_through=19 if solved else None)
    if solved:
        (folder / "milestones/01_perceptron/perceptron_milestone.py").write_text(SOLUTION)
    return folder


def with_library_line(folder: Path, module: str, function_body: str) -> None:
    """Replace the body of the single function of a library file."""
    path = folder / f"src/tinytorch/{module}.py"
    head = path.read_text().split("):\n")[0]
    path.write_text(head + "):\n" + textwrap.indent(textwrap.dedent(function_body), "    "))


@pytest.fixture(scope="module")
def graded(instructor, tmp_path_factory):
    klass = tmp_path_factory.mktemp("class")
    good = edition(instructor, klass / "good", solved=True)
    failing = edition(instructor, klass / "failing", solved=False)
    hanging = edition(instructor, klass / "hanging", solved=True)
    with_library_line(hanging, "tensor", "while True:\n    pass\n")
    crashing = edition(instructor, klass / "crashing", solved=True)
    with_library_line(crashing, "activations", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    hog = edition(instructor, klass / "hog", solved=True)
    with_library_line(hog, "tensor", "hoard = []\nwhile True:\n    hoard.append(bytearray(50 * 1024 * 1024))\n")
    faker = edition(instructor, klass / "faker", solved=False)
    write(faker, {
        ".pytest_cache/d/tinytorch/state.json": json.dumps({"milestone_states": {"perceptron": "COMPLETE"}}),
        ".pytest_cache/v/cache/lastfailed": "{}",
        "modules/tests/integration/test_modules_01_04.py": "def test_everything():\n    assert True\n",
        "milestones/01_perceptron/test_perceptron.py": "def test_nothing():\n    pass\n",
    })
    planter = edition(instructor, klass / "planter", solved=False)
    write(planter, {
        "conftest.py": (
            "import pytest\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
            "    outcome = yield\n    report = outcome.get_result()\n    report.outcome = 'passed'\n"
        ),
        "src/tinytorch/conftest.py": "raise SystemExit('a conftest inside the library must not be loaded')\n",
    })
    rewriter = edition(instructor, klass / "rewriter", solved=False)
    (rewriter / "src/tinytorch/__init__.py").write_text(
        "from pathlib import Path\n"
        "for test in Path.cwd().glob('modules/tests/integration/test_*.py'):\n"
        "    test.write_text('def test_rigged():\\n    assert True\\n')\n"
    )
    stranger = klass / "stranger"
    write(stranger, {"notes.txt": "not a TinyTorch folder"})
    out = tmp_path_factory.mktemp("grades")
    submissions = [good, failing, hanging, crashing, hog, faker, planter, rewriter, stranger]
    results = grade_submissions(instructor, submissions, out, jobs=2, limits=Limits(timeout_s=15, memory_mb=1024))
    return {r.submission: r for r in results}, out


def test_a_good_submission_earns_every_point(graded):
    results, out = graded
    good = results["good"]
    assert good.status == "graded" and good.reason == ""
    assert good.max_score > 0 and good.score == pytest.approx(good.max_score)
    assert good.tests["failed"] == 0 and good.tests["error"] == 0 and good.tests["passed"] == 5
    assert good.groups["01_04"] == "passed"
    assert good.milestones["perceptron"]["state"] == "COMPLETE"
    # The probes of modules 01-04 ran, but this course's miniature library has no Tensor: the
    # reference cannot answer them, so they are skipped and cap nothing.
    assert (good.probes["passed"], good.probes["failed"], good.probes["skipped"]) == (0, 0, 12)
    assert good.probes["verdicts"][0]["detail"].startswith("the reference cannot answer it (")
    gradescope = json.loads((out / "good/results.json").read_text())
    visibility = {test["name"].split("::")[-1]: test["visibility"] for test in gradescope["tests"]}
    assert visibility["test_relu_of_nothing"] == "hidden"  # the hidden test ran, hidden on Gradescope
    assert visibility["test_double_then_relu"] == "visible"


def test_a_failing_submission_scores_zero_with_its_failures(graded):
    results, _ = graded
    failing = results["failing"]
    assert failing.status == "graded" and failing.score == 0
    assert failing.groups["01_04"] == "failed"
    assert failing.milestones["perceptron"]["state"] == "LOCKED"
    assert "modules/tests/integration/test_modules_01_04.py::test_double_keeps_length" in failing.failed_tests


def test_a_hanging_submission_is_stopped_and_the_batch_goes_on(graded):
    results, _ = graded
    hanging = results["hanging"]
    assert hanging.status == "timeout" and hanging.score == 0
    assert hanging.reason == (
        "timed out after 15 s and was stopped while running "
        "modules/tests/integration/test_modules_01_04.py::test_double_then_relu; 0 tests had passed"
    )
    assert 15 <= hanging.duration_s < 30
    assert hanging.max_score == results["good"].max_score  # out of the same points as the class


def test_a_crashing_submission_reports_the_signal(graded):
    results, _ = graded
    crashing = results["crashing"]
    assert crashing.status == "crashed" and crashing.score == 0
    assert crashing.reason.startswith(
        "the test process was killed by SIGSEGV in "
        "modules/tests/integration/test_modules_01_04.py::test_double_then_relu"
    )


def test_a_memory_hog_hits_the_limit_and_is_graded(graded):
    results, _ = graded
    hog = results["hog"]
    assert hog.score < results["good"].score
    assert "ran out of memory (limit 1024 MB)" in hog.reason
    assert "modules/tests/integration/test_modules_01_04.py::test_double_keeps_length" in hog.failed_tests


def test_cached_state_and_patched_tests_in_a_submission_are_ignored(graded):
    results, _ = graded
    faker = results["faker"]
    assert faker.status == "graded" and faker.score == 0 and faker.findings == []
    assert faker.groups["01_04"] == "failed" and faker.milestones["perceptron"]["state"] == "LOCKED"
    assert faker.tests["failed"] >= 3  # the instructor's tests ran, not the submission's


def test_planted_conftests_are_flagged_and_not_run(graded):
    results, out = graded
    planter = results["planter"]
    assert planter.status == "flagged" and planter.score == 0
    assert planter.reason.startswith("flagged by the submission scan, not run: conftest.py [pytest-configuration]")
    assert planter.findings == [
        {"path": "conftest.py", "line": 0, "rule": "pytest-configuration",
         "reason": "a conftest.py that is not the instructor's; pytest would load it"},
        {"path": "src/tinytorch/conftest.py", "line": 0, "rule": "pytest-configuration",
         "reason": "a conftest.py that is not the instructor's; pytest would load it"},
    ]
    assert planter.tests == {"passed": 0, "failed": 0, "error": 0, "skipped": 0}  # nothing ran
    assert planter.max_score == results["good"].max_score
    assert not (out / "planter/pytest.log").exists()


def test_a_library_that_rewrites_the_tests_is_caught(graded):
    results, _ = graded
    rewriter = results["rewriter"]
    assert rewriter.status == "tampered" and rewriter.score == 0
    assert "modules/tests/integration/test_modules_01_04.py" in rewriter.reason


def test_a_folder_that_is_not_a_submission_is_invalid(graded):
    results, _ = graded
    assert results["stranger"].status == "invalid"
    assert "no src/tinytorch/ in the submission" in results["stranger"].reason


def test_one_json_per_submission_and_a_class_csv(graded):
    results, out = graded
    for name, result in results.items():
        saved = json.loads((out / f"{name}.json").read_text())
        assert saved["status"] == result.status and saved["score"] == result.score
        assert saved["schema"] == "tinytorch-grade/1"
    with open(out / "class.csv", newline="") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    assert list(rows) == ["good", "failing", "hanging", "crashing", "hog", "faker", "planter", "rewriter", "stranger"]
    assert rows["planter"]["status"] == "flagged" and rows["planter"]["flags"] == "pytest-configuration"
    assert rows["good"]["flags"] == ""
    assert rows["good"]["milestones_complete"] == "perceptron" and rows["good"]["groups_passed"] == "01_04"
    assert rows["hanging"]["status"] == "timeout" and rows["hanging"]["score"] == "0"
    for name in ("hanging", "crashing", "rewriter", "planter"):
        gradescope = json.loads((out / name / "results.json").read_text())
        assert gradescope["score"] == 0 and gradescope["output"].startswith("Not graded:")


def test_tito_grade_runs_the_same_grader(instructor, tmp_path, capsys):
    good = edition(instructor, tmp_path / "ada", solved=True)
    out = tmp_path / "grades"
    assert main(["--root", str(instructor), "grade", str(good), "--out", str(out), "--timeout", "60"]) == 0
    printed = capsys.readouterr().out
    assert "ada" in printed and "graded" in printed and "1 of 1 submissions graded normally" in printed
    assert json.loads((out / "ada.json").read_text())["status"] == "graded"
