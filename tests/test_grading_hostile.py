"""Hostile submissions (issue #9, the audit's examples) are caught, not trusted.

The instructor repository here carries the real library (``src/tinytorch``, the reference),
the real plugin, a short integration test file for group 01_04 and the perceptron milestone of
the synthetic course in ``test_grading_submissions``, so one batch grades in well under a
minute. In one batch (``jobs=2``):

* ``good``: a solved edition: full marks, every probe passes, no flag (the positive control);
* ``patcher``: a fresh edition with the audit's 17 report-patching lines appended to
  ``src/tinytorch/__init__.py``: flagged, 0, the finding in the JSON and class.csv;
* ``dropper``: a fresh edition with a ``milestones/01_perceptron/conftest.py`` that forces passes;
* ``startup``: a fresh edition with a ``.pth`` and a ``sitecustomize.py``;
* ``disguised``: a solved edition whose ``Tensor.sum`` is wrong and whose report patch is
  written so that the static scan cannot see it: pytest says COMPLETE, the probes say no.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pytest_tinytorch import plugin
from pytest_tinytorch.plugin.curriculum import default_curriculum
from pytest_tinytorch.course.grading import Limits, answers_from_child, grade_submissions
from pytest_tinytorch.course.probes import PROBES, Verdict, compute_answers, judge, read_answers, write_answers
from pytest_tinytorch.course.release import release
from test_grading_submissions import MILESTONE_TESTS, PYPROJECT, SOLUTION, STARTER, write
from test_submission_scan import REPORT_PATCH

REPOSITORY = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(plugin, "pytest_addoption"), reason="needs the plugin (not landed yet)")

INTEGRATION = textwrap.dedent(
    '''\
    import numpy as np
    import pytest

    from tinytorch import Tensor
    from tinytorch.layers import Linear
    from tinytorch.losses import cross_entropy

    pytestmark = pytest.mark.integration("01_04")


    def test_sum_over_rows():
        assert np.allclose(Tensor([[1.0, 2.0], [3.0, 4.0]]).sum(axis=1).data, [3.0, 7.0])


    def test_linear_maps_features():
        assert Linear(3, 2)(Tensor(np.ones((4, 3), dtype=np.float32))).shape == (4, 2)


    def test_cross_entropy_of_uniform_logits_is_log_classes():
        loss = cross_entropy(Tensor(np.zeros((2, 4), dtype=np.float32)), np.array([0, 3]))
        assert abs(float(loss.data) - np.log(4)) < 1e-6
    '''
)
FORCE_PASSES = (
    "import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
    "    outcome = yield\n    report = outcome.get_result()\n    report.outcome = 'passed'\n"
)
HIDDEN_PATCH = textwrap.dedent('''\
    # the same patch, with every name assembled at run time: no static scan can follow it
    import importlib as _loader

    _reports = getattr(_loader, "import_" + "module")("_py" + "test.reports")
    _original = _reports.TestReport.from_item_and_call.__func__


    def _always_passed(cls, item, call):
        report = _original(cls, item, call)
        if report.when == "call" or report.outcome == "failed":
            report.outcome = "passed"
            report.longrepr = None
        return report


    _reports.TestReport.from_item_and_call = classmethod(_always_passed)
''')
RIGHT_SUM = "data = np.sum(self.data, axis=axis, keepdims=keepdims)"
WRONG_SUM = "data = np.sum(self.data, axis=0 if axis is not None else None, keepdims=keepdims)"


def tracked(relative: str) -> list[str]:
    listed = subprocess.run(["git", "ls-files", relative], cwd=REPOSITORY, capture_output=True, text=True)
    return listed.stdout.split()


@pytest.fixture(scope="module")
def instructor(tmp_path_factory):
    root = tmp_path_factory.mktemp("instructor")
    for relative in tracked("src/tinytorch") + ["conftest.py"]:  # the library as committed, not work in progress
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPOSITORY / relative, root / relative)
    shutil.copytree(REPOSITORY / "src/pytest_tinytorch", root / "src/pytest_tinytorch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    write(root, {
        "pyproject.toml": PYPROJECT,
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


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text)


@pytest.fixture(scope="module")
def graded(instructor, tmp_path_factory):
    klass = tmp_path_factory.mktemp("class")
    good = edition(instructor, klass / "good", solved=True)
    patcher = edition(instructor, klass / "patcher", solved=False)
    append(patcher / "src/tinytorch/__init__.py", REPORT_PATCH)
    dropper = edition(instructor, klass / "dropper", solved=False)
    write(dropper, {"milestones/01_perceptron/conftest.py": FORCE_PASSES})
    startup = edition(instructor, klass / "startup", solved=False)
    write(startup, {"src/tinytorch/evil.pth": "import os; os.environ['TINYTORCH_OFFLINE'] = '0'\n",
                    "sitecustomize.py": "print('hello from start-up')\n"})
    disguised = edition(instructor, klass / "disguised", solved=True)
    tensor = disguised / "src/tinytorch/tensor.py"
    assert RIGHT_SUM in tensor.read_text()
    tensor.write_text(tensor.read_text().replace(RIGHT_SUM, WRONG_SUM))
    append(disguised / "src/tinytorch/__init__.py", HIDDEN_PATCH)
    out = tmp_path_factory.mktemp("grades")
    results = grade_submissions(instructor, [good, patcher, dropper, startup, disguised], out, jobs=2,
                                limits=Limits(timeout_s=120, memory_mb=2048))
    with open(out / "class.csv", newline="") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    saved = {r.submission: json.loads((out / f"{r.submission}.json").read_text()) for r in results}
    return {r.submission: r for r in results}, saved, rows, out, klass


def test_a_correct_submission_keeps_full_marks_and_passes_every_probe(graded):
    results, saved, rows, _, _ = graded
    good = results["good"]
    assert (good.status, good.reason, good.findings) == ("graded", "", [])
    assert good.score == good.max_score == 50, good.reason  # model 25 + training 25 of the rubric
    assert good.milestones["perceptron"]["state"] == "COMPLETE"
    probes = saved["good"]["probes"]
    assert (probes["passed"], probes["failed"], probes["skipped"]) == (12, 0, 0)  # modules 01-04
    assert probes["zeroed_milestones"] == {} and 0 <= probes["seed"] < 2 ** 48
    assert rows["good"]["flags"] == "" and rows["good"]["milestones_complete"] == "perceptron"


def test_the_audits_report_patch_is_flagged_and_scores_zero(graded):
    results, saved, rows, out, klass = graded
    patcher = results["patcher"]
    line = len((klass / "good/src/tinytorch/__init__.py").read_text().splitlines()) + 3
    finding = f"src/tinytorch/__init__.py:{line} [test-machinery] imports _pytest.reports"
    assert patcher.status == "flagged" and patcher.score == 0 and patcher.max_score == 50
    assert patcher.reason == f"flagged by the submission scan, not run: {finding}"
    assert saved["patcher"]["findings"] == [{"path": "src/tinytorch/__init__.py", "line": line,
                                             "rule": "test-machinery", "reason": "imports _pytest.reports"}]
    assert rows["patcher"]["status"] == "flagged" and rows["patcher"]["score"] == "0"
    assert rows["patcher"]["flags"] == "test-machinery" and finding in rows["patcher"]["reason"]
    gradescope = json.loads((out / "patcher/results.json").read_text())
    assert gradescope["score"] == 0 and finding in gradescope["output"]


def test_a_conftest_dropped_into_a_milestone_folder_is_flagged(graded):
    results, _, rows, _, _ = graded
    dropper = results["dropper"]
    assert dropper.status == "flagged" and dropper.score == 0
    assert dropper.findings == [{"path": "milestones/01_perceptron/conftest.py", "line": 0,
                                 "rule": "pytest-configuration",
                                 "reason": "a conftest.py that is not the instructor's; pytest would load it"}]
    assert rows["dropper"]["flags"] == "pytest-configuration"


def test_startup_files_are_flagged(graded):
    results, _, rows, _, _ = graded
    startup = results["startup"]
    assert startup.status == "flagged" and startup.score == 0
    assert [(f["path"], f["rule"]) for f in startup.findings] == [
        ("sitecustomize.py", "startup-hook"), ("src/tinytorch/evil.pth", "startup-hook")]
    assert rows["startup"]["flags"] == "startup-hook"


def test_a_wrong_library_forced_green_is_caught_by_the_probes(graded):
    results, saved, rows, out, _ = graded
    disguised = results["disguised"]
    # pytest was fooled: every test passed and the plugin called the milestone COMPLETE ...
    assert disguised.findings == [] and disguised.status == "graded"
    assert disguised.tests["failed"] == 0 and disguised.milestones["perceptron"]["state"] == "COMPLETE"
    # ... the probes, judged in the parent, were not.
    assert disguised.score == 0 and disguised.max_score == 50
    reason = ("Milestone 1: Perceptron scores 0: probe 01_04 tensor.sum(axis=1) differs from the reference "
              "(output 1 of 3): it has shape (5,) where the reference has (3,)")
    assert disguised.reason.startswith(reason)
    probes = saved["disguised"]["probes"]
    failed = [v["probe"] for v in probes["verdicts"] if v["outcome"] == "failed"]
    assert failed[0] == "tensor: tensor.sum(axis=1)" and probes["zeroed_milestones"]["perceptron"].startswith(reason)
    assert saved["disguised"]["milestones"]["perceptron"]["probes_failed"].startswith(reason)
    assert rows["disguised"]["flags"] == "probes" and rows["disguised"]["milestones_complete"] == ""
    assert rows["disguised"]["reason"].startswith(reason)
    gradescope = json.loads((out / "disguised/results.json").read_text())
    assert gradescope["score"] == 0 and {t["status"] for t in gradescope["tests"]} == {"passed"}
    assert gradescope["output"].startswith(reason)


def test_a_local_status_warns_about_a_dropped_conftest(graded):
    """The student's own ``pytest --tinytorch-status`` in the dropper's edition says so (the
    negative control, a course without the file, is in tests/test_submission_scan.py)."""
    dropper = graded[4] / "dropper"
    environment = {**os.environ, "PYTHONPATH": str(dropper / "src")}
    environment.pop("PYTEST_ADDOPTS", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--tinytorch-status", "--tinytorch-report=status.json",
         "-o", "tinytorch_rerun_workers=0"], cwd=dropper, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((dropper / "status.json").read_text())
    assert [(w["kind"], w["source"]) for w in report["warnings"]] == [("conftest", "milestones/01_perceptron/conftest.py")]
    shown = [line for line in run.stdout.splitlines() if line.startswith("tinytorch: warning:")]
    assert shown == [report["warnings"][0]["message"]]
    assert "milestones/01_perceptron/conftest.py is not one of the course's conftest files" in shown[0]


# -- the judge on synthetic answers (fast) ---------------------------------------------------

SUM = next(p for p in PROBES if p.key == "tensor: tensor.sum(axis=1)")


def test_the_judge_compares_shapes_values_and_counts():
    reference = [np.array([1.0, 2.0, 3.0]), np.array(6.0)]
    assert judge(SUM, "01_04", reference, [np.array([1.0, 2.0, 3.0]), np.array(6.0)], None, None).outcome == "passed"
    close = [reference[0] * (1 + 5e-5), reference[1]]
    assert judge(SUM, "01_04", reference, close, None, None).outcome == "passed"  # within rtol 1e-4
    verdict = judge(SUM, "01_04", reference, [np.array([1.0, 2.5, 3.0]), np.array(6.0)], None, None)
    assert verdict.describe() == (
        "probe 01_04 tensor.sum(axis=1) differs from the reference (output 1 of 2): it is 2.5 at index (1,) "
        "where the reference has 2 (tolerance rtol 0.0001, atol 1e-05)")
    assert judge(SUM, "01_04", reference, [np.array([[1.0, 2.0, 3.0]]), np.array(6.0)], None, None).detail == (
        "differs from the reference (output 1 of 2): it has shape (1, 3) where the reference has (3,)")
    nan = judge(SUM, "01_04", reference, [np.array([1.0, np.nan, 3.0]), np.array(6.0)], None, None)
    assert nan.outcome == "failed" and "is nan at index (1,)" in nan.detail
    assert judge(SUM, "01_04", reference, reference[:1], None, None).detail == (
        "gave 1 outputs where the reference gives 2")
    raised = judge(SUM, "01_04", reference, None, None, "NotImplementedError: TODO (01_tensor): Tensor.sum")
    assert raised.describe() == (
        "probe 01_04 tensor.sum(axis=1) failed to answer: NotImplementedError: TODO (01_tensor): Tensor.sum")
    assert judge(SUM, "01_04", reference, None, None, None).detail == "was not answered"
    skipped = judge(SUM, "01_04", None, None, "AttributeError: no Tensor", None)
    assert skipped == Verdict(SUM.key, "01_04", "skipped", "the reference cannot answer it (AttributeError: no Tensor)")


def test_the_reference_answers_every_probe_and_the_same_seed_gives_the_same_inputs(tmp_path):
    first, errors = compute_answers(7, PROBES)
    assert errors == {} and len(first) == len(PROBES) == 19
    again, _ = compute_answers(7, PROBES)
    other, _ = compute_answers(8, PROBES)
    assert all(np.array_equal(a, b) for key in first for a, b in zip(first[key], again[key]))
    assert not np.array_equal(first[SUM.key][0], other[SUM.key][0])
    del first["layers: Linear forward"]
    write_answers(tmp_path, first, {"layers: Linear forward": "NotImplementedError: TODO"})
    answers, read_errors = read_answers(tmp_path)
    assert read_errors == {"layers: Linear forward": "NotImplementedError: TODO"}
    assert all(np.array_equal(a, b) for key in first for a, b in zip(first[key], answers[key]))
    (tmp_path / "answers.npz").write_bytes(b"not a zip")
    assert read_answers(tmp_path) is None  # unreadable answers are no answers


def test_probes_cover_every_built_module_and_follow_the_curriculum():
    curriculum = default_curriculum()
    modules = {p.module for p in PROBES}
    assert {"tensor", "activations", "layers", "losses", "autograd", "optimizers", "training"} <= modules
    assert modules <= {m.name for m in curriculum.modules}


def test_the_probe_child_on_a_fresh_edition_answers_every_probe_with_its_todo(graded, tmp_path):
    fresh = graded[4] / "dropper"  # a fresh edition (its planted conftest plays no part here)
    answers, errors = answers_from_child(fresh, 11, PROBES, tmp_path / "probes", Limits(timeout_s=120, memory_mb=2048))
    assert answers == {} and sorted(errors) == sorted(p.key for p in PROBES)
    assert all(error.startswith("NotImplementedError: TODO (0") for error in errors.values()), errors
    # the same child on the reference library answers exactly what this process computes
    reference, _ = answers_from_child(REPOSITORY, 11, PROBES[:3], tmp_path / "reference", Limits(timeout_s=120))
    here, _ = compute_answers(11, PROBES[:3])
    assert reference.keys() == here.keys() and all(
        np.array_equal(a, b) for key in here for a, b in zip(here[key], reference[key]))


# -- negative controls: one deliberately broken piece per module, in this process (fast) ------


def _break(monkeypatch, owner, name, make):
    monkeypatch.setattr(owner, name, make(getattr(owner, name)))


def _libraries():
    import tinytorch.activations as activations
    import tinytorch.autograd as autograd
    import tinytorch.layers as layers
    import tinytorch.losses as losses
    import tinytorch.optimizers as optimizers
    import tinytorch.tensor as tensor
    import tinytorch.training as training

    return tensor, activations, layers, losses, autograd, optimizers, training


BROKEN = {
    "tensor: tensor.sum(axis=1)": lambda m, lib: _break(
        m, lib[0].Tensor, "sum", lambda sum_: lambda self, axis=None, keepdims=False: sum_(self)),  # ignores the axis
    "activations: activations relu/sigmoid/tanh/gelu": lambda m, lib: _break(
        m, lib[1], "gelu", lambda gelu: lambda x: lib[1].relu(x)),  # GELU as ReLU
    "layers: Linear forward": lambda m, lib: _break(
        m, lib[2].Linear, "forward", lambda forward: lambda self, x: x @ self.weight),  # forgets the bias
    "losses: mse_loss and cross_entropy": lambda m, lib: _break(
        m, lib[3], "mse_loss", lambda mse: lambda p, t, reduction="mean": mse(p, t, "sum")),  # sums, not means
    "autograd: backward of a composite (matmul, broadcast add, relu, exp, mean)": lambda m, lib: m.setitem(
        lib[4].BACKWARD_RULES, "exp", lambda grad, out, a: (grad,)),  # d exp(x) = 1
    "optimizers: SGD steps with momentum, nesterov and weight decay": lambda m, lib: _break(
        m, lib[5].SGD, "step", lambda step: lambda self: [  # plain SGD: momentum ignored
            p.data.__isub__(self.lr * p.grad) for p in self.params if p.grad is not None]),
    "optimizers: StepLR and CosineAnnealingLR schedules": lambda m, lib: _break(
        m, lib[5].StepLR, "lr_at", lambda lr_at: lambda self, epoch: self.base_lr * self.gamma ** epoch),  # every epoch
    "training: clip_grad_norm": lambda m, lib: _break(
        m, lib[6], "clip_grad_norm", lambda clip: lambda params, max_norm: float(  # measures, never clips
            np.sqrt(sum(float((p.grad ** 2).sum()) for p in params)))),
    "training: Trainer: three steps of a tiny classifier": lambda m, lib: _break(
        m, lib[6].Trainer, "train_step", lambda step: lambda self, x, y: (  # never zeroes the gradients
            m.setattr(self.optimizer, "zero_grad", lambda: None), step(self, x, y))[1]),
}


@pytest.mark.parametrize("broken_probe", list(BROKEN))
def test_each_probe_catches_a_broken_implementation_of_its_module(broken_probe, monkeypatch):
    expected, _ = compute_answers(3, PROBES)
    BROKEN[broken_probe](monkeypatch, _libraries())
    answers, errors = compute_answers(3, PROBES)
    order = [m.name for m in default_curriculum().modules]
    broken_module = broken_probe.split(":")[0]
    failed = [p.key for p in PROBES
              if judge(p, "g", expected[p.key], answers.get(p.key), None, errors.get(p.key)).outcome == "failed"]
    assert broken_probe in failed
    # a break shows in its own module's probes and downstream, never upstream
    assert all(order.index(key.split(":")[0]) >= order.index(broken_module) for key in failed), failed
    monkeypatch.undo()
    again, _ = compute_answers(3, PROBES)  # and the reference is whole again
    assert all(judge(p, "g", expected[p.key], again[p.key], None, None).outcome == "passed" for p in PROBES)
