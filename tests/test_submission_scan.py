"""The submission scan: what it flags (file, line, rule), what it must leave alone, and that
the reference solution and a fresh student edition scan clean."""

import hashlib
import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from pytest_tinytorch.plugin.course_integrity import (
    REPOSITORY_CONFTESTS, conftest_warnings, edition_conftests, plugin_warnings,
)
from pytest_tinytorch.plugin.curriculum import default_curriculum
from pytest_tinytorch.course.grading import _student_files, build_grading_base
from pytest_tinytorch.course.release import release
from pytest_tinytorch.course.submission_scan import (
    RULES, instructor_configuration, scan_code, scan_files, scan_source, scan_submission, summarize,
)

pytest_plugins = ["pytester"]

REPOSITORY = Path(__file__).resolve().parents[1]

REPORT_PATCH = textwrap.dedent('''\
    # --- appended by the audit: every test passes ---
    import _pytest.reports as _reports

    _original = _reports.TestReport.from_item_and_call.__func__


    def _always_passed(cls, item, call):
        report = _original(cls, item, call)
        if report.when == "call" or report.outcome == "failed":
            report.outcome = "passed"
            report.longrepr = None
        return report


    _reports.TestReport.from_item_and_call = classmethod(_always_passed)
    del _always_passed
    # a library that never lies has no reason to be here
''')
"""The audit's 17 lines, appended to a student's ``src/tinytorch/__init__.py``."""


def found(source: str) -> list[tuple[int, str]]:
    return [(finding.line, finding.rule) for finding in scan_source(textwrap.dedent(source), "lib.py")]


def test_the_audits_report_patch_is_flagged_at_its_import():
    findings = scan_source(REPORT_PATCH, "src/tinytorch/__init__.py")
    assert [(f.line, f.rule, f.reason) for f in findings] == [(2, "test-machinery", "imports _pytest.reports")]
    assert findings[0].describe() == "src/tinytorch/__init__.py:2 [test-machinery] imports _pytest.reports"


@pytest.mark.parametrize("source, expected", [
    ("import pytest", [(1, "test-machinery")]),
    ("from _pytest.runner import CallInfo", [(1, "test-machinery")]),
    ("import pluggy\nimport xdist.plugin", [(1, "test-machinery"), (2, "test-machinery")]),
    ("from hypothesis import given", [(1, "test-machinery")]),
    ("import pytest_tinytorch.plugin.gating as g", [(1, "test-machinery")]),
    ("from pytest_tinytorch.course.milestone_code import load_milestone", []),  # the capstone's loader
    ("from pytest_tinytorch.milestone_codes import x\nimport pytest_tinytorch",
     [(1, "test-machinery"), (2, "test-machinery")]),
    ("x = __import__('pytest')", [(1, "test-machinery")]),
    ("import importlib\nr = importlib.import_module('_pytest.reports')", [(2, "test-machinery")]),
    ("from importlib import import_module as load\nload('pluggy')", [(2, "test-machinery")]),
    ("import importlib\nimportlib.import_module(name)", [(2, "dynamic-import")]),
    ("__import__('py' + 'test')", [(1, "dynamic-import")]),
    ("import sys\nsys.modules['numpy'] = None", [(2, "module-table")]),
    ("import sys as s\nhit = s.modules.get('_pytest.reports')", [(2, "module-table")]),
    ("from sys import modules", [(1, "module-table")]),
    ("import sys\nm = getattr(sys, 'modules')", [(2, "module-table")]),
    ("import sys\nsys.path.insert(0, '/instructor/src')", [(2, "import-machinery")]),
    ("import importlib.util", [(1, "import-machinery")]),
    ("import runpy", [(1, "import-machinery")]),
    ("import builtins\nbuiltins.len = None", [(1, "builtins")]),
    ("__builtins__['len'] = None", [(1, "builtins")]),
    ("import gc\nobjects = gc.get_objects()", [(1, "garbage-collector")]),
    ("import sys\nframe = sys._getframe(1)", [(2, "stack-frames")]),
    ("import inspect\ncaller = inspect.currentframe().f_back", [(2, "stack-frames"), (2, "stack-frames")]),
    ("values = frame.f_locals['expected']", [(1, "stack-frames")]),
    ("g = getattr(frame, 'f_globals')", [(1, "stack-frames")]),
    ("import ctypes", [(1, "ctypes")]),
    ("import os\nos.environ['PYTEST_ADDOPTS'] = '-p no:tinytorch'", [(2, "grader-environment")]),
    ("from os import environ\nenviron['TINYTORCH_GRADING_OUTCOMES'] = '/dev/null'", [(2, "grader-environment")]),
    ("import os\nos.environ.setdefault('pytest_plugins', 'x')", [(2, "grader-environment")]),
    ("import os\nos.environ.update({'TINYTORCH_OFFLINE': '0'})", [(2, "grader-environment")]),
    ("import os\nos.environ.update(PYTEST_ADDOPTS='-x')", [(2, "grader-environment")]),
    ("import os\ndel os.environ['TINYTORCH_GRADING_OUTCOMES']", [(2, "grader-environment")]),
    ("import os\nos.environ[name] = value", [(2, "grader-environment")]),
    ("import os\nos.putenv('PYTEST_ADDOPTS', '')", [(2, "grader-environment")]),
    ("exec(open('payload.py').read())", [(1, "dynamic-code")]),
    ("y = eval('x + 1')", [(1, "dynamic-code")]),
    ("code = compile(text, 'f', 'exec')", [(1, "dynamic-code")]),
    ("import atexit", [(1, "after-exit")]),
])
def test_each_rule_fires_on_what_it_names(source, expected):
    assert found(source) == expected


@pytest.mark.parametrize("source", [
    "message = 'import pytest; sys.modules; eval(x)'  # import pytest, sys._getframe",
    '"""Docstring: never use __builtins__ or os.environ["PYTEST_ADDOPTS"]."""',
    "import re\npattern = re.compile('[a-z]+')",
    "model.eval()\nlayer.compile()",
    "import os\nroot = os.environ.get('TINYTORCH_DATA')\nos.environ['OMP_NUM_THREADS'] = '1'",
    "import sys\nprint('x', file=sys.stderr)\nsys.exit(0) if False else None",
    "from . import tensor\nfrom .tensor import Tensor",
    "import numpy as np\nimport importlib.metadata as md",
    "def f(frame_back):\n    return frame_back",
    "this is not valid python (",
])
def test_strings_comments_and_ordinary_code_are_not_flagged(source):
    assert scan_source(textwrap.dedent(source), "lib.py") == []


def test_code_hidden_behind_a_coding_line_is_read_as_python_reads_it():
    source = b"# coding: utf-7\n# only a comment +AAo-import pytest\n"
    assert [(f.line, f.rule) for f in scan_source(source, "lib.py")] == [(3, "test-machinery")]  # as Python counts
    assert scan_source(source.decode("utf-8"), "lib.py") == []  # read as UTF-8 text it hides (negative control)


def test_every_rule_says_what_it_matches_and_why():
    assert len(RULES) == 14
    for rule_id, rule in RULES.items():
        assert rule.id == rule_id and rule.matches and len(rule.why) > 30


def write(root: Path, files: dict) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_configuration_and_startup_files_are_flagged_unless_the_instructors(tmp_path):
    instructor, submission = tmp_path / "instructor", tmp_path / "submission"
    conftest = "import pytest\n"
    write(instructor, {"conftest.py": conftest, "tests/conftest.py": "X = 1\n", "setup.cfg": "[tool:pytest]\n"})
    write(submission, {
        "conftest.py": conftest,                                   # the instructor's, unchanged
        "tests/conftest.py": "X = 2\n",                            # the instructor's, changed
        "setup.cfg": "[tool:pytest]\n",                             # the instructor's, unchanged
        "milestones/01_perceptron/conftest.py": conftest,          # planted
        "modules/pytest.ini": "[pytest]\naddopts = -p no:tinytorch\n",
        "modules/tox.ini": "[tox]\nenvlist = py311\n",             # no pytest section: fine
        "milestones/tox.ini": "[tox]\n[pytest]\naddopts = -x\n",
        "src/setup.cfg": "[metadata]\nname = x\n[tool:pytest]\n",
        "src/tinytorch/pyproject.toml": "[tool.pytest.ini_options]\n",
        "pyproject.toml": "[project]\nname = 'tinytorch'\n",        # the package's own: fine
        "src/tinytorch/evil.pth": "import os\n",
        "sitecustomize.py": "",
        "notes/usercustomize.py": "",
        "src/tinytorch/fast.cpython-311-x86_64-linux-gnu.so": "\x7fELF",
        ".venv/pyvenv.cfg": "home = /usr/bin\n",                    # an environment: not submitted code
        ".venv/lib/site-packages/distutils-precedence.pth": "import os\n",
        ".git/hooks/conftest.py": "",
    })
    findings = scan_files(submission, instructor_configuration(instructor))
    assert [(f.path, f.rule) for f in findings] == [
        ("milestones/01_perceptron/conftest.py", "pytest-configuration"),
        ("milestones/tox.ini", "pytest-configuration"),
        ("modules/pytest.ini", "pytest-configuration"),
        ("notes/usercustomize.py", "startup-hook"),
        ("sitecustomize.py", "startup-hook"),
        ("src/setup.cfg", "pytest-configuration"),
        ("src/tinytorch/evil.pth", "startup-hook"),
        ("src/tinytorch/fast.cpython-311-x86_64-linux-gnu.so", "native-code"),
        ("src/tinytorch/pyproject.toml", "pytest-configuration"),
        ("tests/conftest.py", "pytest-configuration"),
    ]
    reasons = {f.path: f.reason for f in findings}
    assert reasons["tests/conftest.py"] == "a changed copy of the instructor's conftest.py; pytest would load it"
    assert reasons["src/tinytorch/evil.pth"] == "evil.pth makes Python run code at start-up"
    assert summarize(findings, shown=1) == (
        "milestones/01_perceptron/conftest.py [pytest-configuration] a conftest.py that is not the "
        "instructor's; pytest would load it; and 9 more"
    )


def test_allowed_rules_are_left_out(tmp_path):
    write(tmp_path, {"src/tinytorch/profiling.py": "import gc\nimport sys\nsys.modules\n"})
    files = ["src/tinytorch/profiling.py"]
    assert [f.rule for f in scan_submission(tmp_path, tmp_path, files)] == ["garbage-collector", "module-table"]
    assert [f.rule for f in scan_submission(tmp_path, tmp_path, files, allow_rules={"garbage-collector"})] == [
        "module-table"]


CURRICULUM = default_curriculum()


def student_code(root: Path) -> list[str]:
    return [relative for _, relative in _student_files(root, CURRICULUM)]


def test_the_reference_solution_scans_clean():
    files = student_code(REPOSITORY)
    assert "src/tinytorch/tensor.py" in files and "milestones/01_perceptron/perceptron_milestone.py" in files
    solutions = [p.relative_to(REPOSITORY).as_posix() for p in REPOSITORY.glob("milestones/*/*_solution.py")]
    assert scan_code(REPOSITORY, files + solutions) == []


@pytest.fixture(scope="module")
def fresh_edition(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scan")
    base = build_grading_base(REPOSITORY, folder / "base")
    release(REPOSITORY, folder / "edition")
    return folder / "edition", base


def test_a_fresh_student_edition_scans_clean(fresh_edition):
    edition, base = fresh_edition
    allowed = instructor_configuration(base)
    assert {"conftest.py", "tests/conftest.py"} <= set(allowed)
    assert scan_submission(edition, edition, student_code(edition), allowed) == []
    # Negative control: the same edition with the audit's lines appended is flagged.
    library = edition / "src/tinytorch/__init__.py"
    original = library.read_text()
    try:
        library.write_text(original + REPORT_PATCH)
        findings = scan_submission(edition, edition, student_code(edition), allowed)
        line = len(original.splitlines()) + 2
        assert [f.describe() for f in findings] == [
            f"src/tinytorch/__init__.py:{line} [test-machinery] imports _pytest.reports"]
    finally:
        library.write_text(original)


# -- local runs: conftests and plugins that are not the course's (course_integrity) ---------


def test_the_repository_constant_names_the_conftests_git_tracks():
    listed = subprocess.run(["git", "ls-files", "conftest.py", "*/conftest.py"], cwd=REPOSITORY,
                            capture_output=True, text=True, check=True).stdout.split()
    assert sorted(listed) == sorted(REPOSITORY_CONFTESTS)


def test_an_edition_records_its_conftests_and_their_digests(fresh_edition):
    edition, _ = fresh_edition
    recorded = edition_conftests(edition)
    assert recorded == {
        name: hashlib.sha256((REPOSITORY / name).read_bytes()).hexdigest() for name in REPOSITORY_CONFTESTS}
    assert conftest_warnings(edition) == []
    (edition / "milestones/01_perceptron/conftest.py").write_text("X = 1\n")
    try:
        assert [w["source"] for w in conftest_warnings(edition)] == ["milestones/01_perceptron/conftest.py"]
    finally:
        (edition / "milestones/01_perceptron/conftest.py").unlink()


def test_unknown_plugins_are_warned_about_by_distribution():
    warnings = plugin_warnings([("tinytorch", "tinytorch"), ("pytest-xdist", "xdist"), ("hypothesis", "hypothesispytest"),
                                ("pytest_rerunfailures", "rerunfailures"), ("pytest-json-report", "pytest_jsonreport")])
    assert [w["source"] for w in warnings] == ["pytest_rerunfailures"]
    assert warnings[0]["message"] == (
        "tinytorch: warning: the pytest plugin rerunfailures (from pytest_rerunfailures) is not one of the "
        "course's: plugins can change test outcomes. Results of this run may not be true; run with "
        "-p no:rerunfailures to leave it out.")


def warning_lines(result) -> list[str]:
    return [line for line in result.outlines if line.startswith("tinytorch: warning:")]


def test_a_course_run_and_the_status_warn_about_a_dropped_conftest(course):
    result, report = course.run_with_report()
    assert report["warnings"] == [] and warning_lines(result) == []  # the course's own conftest is fine
    course.write("milestones/01_first/conftest.py", '''
        import pytest

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(item, call):
            outcome = yield
            outcome.get_result().outcome = "passed"
    ''')
    course.break_add()
    result, report = course.run_with_report()
    assert [(w["kind"], w["source"]) for w in report["warnings"]] == [("conftest", "milestones/01_first/conftest.py")]
    assert warning_lines(result) == [report["warnings"][0]["message"]]
    assert report["warnings"][0]["message"].startswith(
        "tinytorch: warning: milestones/01_first/conftest.py is not one of the course's conftest files")
    status = course.status("--tinytorch-report=status.json")
    assert warning_lines(status) == [report["warnings"][0]["message"]]
    saved = json.loads((course.path / "status.json").read_text())
    assert [w["source"] for w in saved["warnings"]] == ["milestones/01_first/conftest.py"]


def test_a_changed_copy_of_an_edition_conftest_is_warned_about(course):
    root_conftest = course.path / "conftest.py"
    record = {"edition": "student", "conftests": {"conftest.py": hashlib.sha256(root_conftest.read_bytes()).hexdigest()}}
    (course.path / "EDITION.json").write_text(json.dumps(record))
    assert course.run_with_report()[1]["warnings"] == []
    root_conftest.write_text(root_conftest.read_text() + "\n# changed\n")
    warnings = course.run_with_report()[1]["warnings"]
    assert [w["source"] for w in warnings] == ["conftest.py"]
    assert "is a changed copy of the course's conftest file" in warnings[0]["message"]


class FakePluginManager:
    """What ``course_warnings`` reads from pytest's plugin manager."""

    def __init__(self, plugins, distributions):
        self.plugins, self.distributions = plugins, distributions

    def get_plugins(self):
        return self.plugins

    def list_plugin_distinfo(self):
        return self.distributions

    def get_name(self, plugin):
        return plugin.__name__.split(".")[0]


def test_course_warnings_read_the_loaded_conftests_and_plugin_distributions(tmp_path):
    from types import ModuleType, SimpleNamespace

    from pytest_tinytorch.plugin.course_integrity import course_warnings

    (tmp_path / "src/tinytorch").mkdir(parents=True)
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere" / "conftest.py"  # loaded from above the rootdir
    conftest, rerun = ModuleType("conftest"), ModuleType("rerunfailures.plugin")
    conftest.__file__ = str(outside)
    manager = FakePluginManager([conftest, rerun], [(rerun, SimpleNamespace(project_name="pytest-rerunfailures"))])
    config = SimpleNamespace(rootpath=tmp_path, pluginmanager=manager, getini=lambda name: [])
    assert [(w["kind"], w["source"]) for w in course_warnings(config)] == [
        ("conftest", str(outside)), ("plugin", "pytest-rerunfailures")]
    (tmp_path / "src/tinytorch").rmdir()
    (tmp_path / "src").rmdir()
    assert course_warnings(config) == []  # not a course: another project's run is its own business


def test_tito_grade_refuses_an_unknown_scan_rule(tmp_path, capsys):
    from pytest_tinytorch.course.cli import main

    (tmp_path / "ada/src/tinytorch").mkdir(parents=True)
    code = main(["--root", str(REPOSITORY), "grade", str(tmp_path / "ada"), "--out", str(tmp_path / "out"),
                 "--allow-rule", "garbage-collector", "--allow-rule", "everything"])
    assert code == 2
    assert capsys.readouterr().err.startswith(
        "tito: error: unknown scan rule everything; expected one of: test-machinery, dynamic-import,")
    assert not (tmp_path / "out").exists()
