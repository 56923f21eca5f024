"""The proof that gating tells the truth, on real student editions of this repository.

For each integration group k that is built, an edition whose solutions are kept through
group k's last module passes groups 1..k, fails group k+1, and shows milestones 1..k
unlocked and k+1 locked. A fresh edition (every block a TODO) shows every milestone LOCKED.

Each edition runs in its own pytest subprocess with ``PYTHONPATH=<edition>/src``, which puts
the edition's ``tinytorch`` and ``pytest_tinytorch`` ahead of the editable install of this
repository (its ``.pth`` entry comes after PYTHONPATH on ``sys.path``); the first test checks
that this is so.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_tinytorch import plugin
from pytest_tinytorch.plugin.curriculum import default_curriculum
from pytest_tinytorch.plugin.membership import TestIndex, unit_key
from pytest_tinytorch.course.release import release

REPOSITORY = Path(__file__).resolve().parents[1]
CURRICULUM = default_curriculum()
BUILT_GROUPS = [g for g in CURRICULUM.groups if (REPOSITORY / g.test_file).is_file()]

pytestmark = pytest.mark.skipif(
    not hasattr(plugin, "pytest_addoption") or not BUILT_GROUPS,
    reason="needs the plugin's options and at least one integration group (not landed yet)",
)


def edition_environment(edition: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    environment["PYTHONPATH"] = str(edition / "src")
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    environment["HYPOTHESIS_PROFILE"] = "smoke"  # pass/fail of whole groups, not the grader's depth
    return environment


def run_in(edition: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *arguments], cwd=edition, env=edition_environment(edition),
        capture_output=True, text=True, timeout=600,
    )


def pytest_in(edition: Path, *arguments: str) -> tuple[subprocess.CompletedProcess, dict]:
    """Run pytest in the edition (state kept in the edition's own cache dir); return its report."""
    report = edition / "progression-report.json"
    report.unlink(missing_ok=True)
    nested = "0" if os.environ.get("PYTEST_XDIST_WORKER") else "auto"  # no -n 2 inside -n 2
    completed = run_in(
        edition, "-m", "pytest", "-o", f"cache_dir={edition / '.cache'}", "-o", "addopts=",
        "-o", f"tinytorch_rerun_workers={nested}", f"--tinytorch-report={report}", *arguments,
    )
    data = json.loads(report.read_text()) if report.exists() else {}
    return completed, data


def by_name(report: dict, kind: str) -> dict[str, str]:
    entries = report.get(kind, {})
    if isinstance(entries, list):
        entries = {entry["name"]: entry for entry in entries}
    return {name: str(entry.get("state") if isinstance(entry, dict) else entry) for name, entry in entries.items()}


@pytest.fixture(scope="module")
def fresh_edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("editions") / "fresh"
    release(REPOSITORY, out)
    return out


def test_a_subprocess_imports_the_edition_not_the_editable_install(fresh_edition):
    completed = run_in(
        fresh_edition, "-c",
        "import tinytorch, pytest_tinytorch.plugin as p; print(tinytorch.__file__); print(p.__file__)",
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [
        str(fresh_edition / "src/tinytorch/__init__.py"),
        str(fresh_edition / "src/pytest_tinytorch/plugin/__init__.py"),
    ]


def test_a_fresh_edition_shows_every_milestone_locked_without_crashing(fresh_edition):
    completed, report = pytest_in(fresh_edition, "--tinytorch-status")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    states = by_name(report, "milestones")
    assert states == {m.name: "LOCKED" for m in CURRICULUM.milestones}
    for milestone in CURRICULUM.milestones:
        assert milestone.title in completed.stdout
    assert "Traceback" not in completed.stdout + completed.stderr


def group_files(group) -> list[str]:
    """The test files of a group, found as the plugin finds them (its own file, marked files)."""
    index = TestIndex(REPOSITORY, [REPOSITORY / "modules"], [], CURRICULUM)
    return index.files_of(unit_key("group", group.name))


def gate_files(group) -> list[str]:
    """Everything a group's gate needs: its modules' unit-test files, then its own files.
    A milestone unlocks only when all of them pass (the course plan's gating)."""
    index = TestIndex(REPOSITORY, [REPOSITORY / "modules"], [], CURRICULUM)
    modules = [f for name in group.modules for f in index.files_of(unit_key("module", name))]
    return modules + index.files_of(unit_key("group", group.name))


@pytest.mark.parametrize("group", BUILT_GROUPS, ids=[g.name for g in BUILT_GROUPS])
def test_solutions_through_a_group_pass_it_and_fail_the_next(group, tmp_path):
    """Groups 1..k run in full (their modules' unit tests and their integration tests) and
    pass; group k+1's integration tests run until their first failure (``-x``): one failing
    test is enough to fail a group, and the rest of a stubbed group is slow."""
    index = CURRICULUM.groups.index(group)
    last_module = CURRICULUM.module(group.modules[-1]).number
    edition = tmp_path / f"through_{last_module:02d}"
    release(REPOSITORY, edition, solutions_through=last_module)
    earlier_files = [f for g in CURRICULUM.groups[: index + 1] for f in gate_files(g)]
    completed, report = pytest_in(edition, "-q", *earlier_files)
    output = completed.stdout[-4000:] + completed.stderr[-2000:]
    # A file of an earlier group may also hold tests of a later one: the autograd properties
    # grade conv2d (module 09) in group 08_09. Only those may fail.
    later_groups = {g.name for g in CURRICULUM.groups[index + 1 :]}
    failed = [test for test in report.get("tests", []) if test["outcome"] in ("failed", "error")]
    assert [test["nodeid"] for test in failed if test["group"] not in later_groups] == [], output
    assert completed.returncode == (1 if failed else 0), output
    following = CURRICULUM.groups[index + 1] if index + 1 < len(CURRICULUM.groups) else None
    if following is not None and (REPOSITORY / following.test_file).is_file():
        # The group's own file first: a file it shares (the autograd properties) also holds
        # tests of later groups, whose failure would stop -x before any of this group's ran.
        files = [following.test_file] + [f for f in group_files(following) if f != following.test_file]
        completed, report = pytest_in(edition, "-q", "-x", *files)
        output = completed.stdout[-4000:] + completed.stderr[-2000:]
        assert completed.returncode == 1, output
        assert by_name(report, "groups")[following.name] == "failed", output
    elif following is not None:
        assert by_name(report, "groups")[following.name] == "not built yet"
    groups = by_name(report, "groups")
    for earlier in CURRICULUM.groups[: index + 1]:
        assert groups[earlier.name] == "passed", output
    milestones = by_name(report, "milestones")
    unlocked_through = CURRICULUM.milestone_of_group(group.name)
    for milestone in CURRICULUM.milestones:
        expected_open = unlocked_through is not None and milestone.number <= unlocked_through.number
        assert (milestones[milestone.name] != "LOCKED") == expected_open, (milestone.name, milestones)
