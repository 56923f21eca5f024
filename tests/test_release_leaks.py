"""A release of this repository never leaks a solution, and every released file compiles."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_tinytorch.course.release import (
    find_solution_blocks,
    release,
    repository_files,
    scan_for_leaks,
    solution_fingerprints,
)

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fingerprints():
    found = solution_fingerprints(REPOSITORY)
    assert len(found) >= 50, "too few solution lines to make the scan meaningful"
    return found


@pytest.fixture(scope="module")
def fresh_edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("leaks") / "edition"
    release(REPOSITORY, out)
    return out


def test_a_fresh_edition_contains_no_solution_line(fresh_edition, fingerprints):
    assert scan_for_leaks(fresh_edition, fingerprints) == []


def test_every_released_python_file_compiles_and_no_markers_remain(fresh_edition):
    for relative in repository_files(fresh_edition):
        if relative.endswith(".py"):
            source = (fresh_edition / relative).read_text(encoding="utf-8")
            compile(source, relative, "exec")
            if relative.startswith("src/tinytorch/"):
                assert find_solution_blocks(source, relative) == [], relative
    assert not any((fresh_edition / "milestones").glob("*/*_solution.py"))
    assert not list(fresh_edition.rglob(".pytest_cache")) and not list(fresh_edition.rglob("__pycache__"))


def test_every_block_of_the_repository_became_a_todo(fresh_edition):
    blocks = sum(
        len(find_solution_blocks((REPOSITORY / relative).read_text(encoding="utf-8"), relative))
        for relative in repository_files(REPOSITORY)
        if relative.startswith("src/tinytorch/") and relative.endswith(".py")
    )
    todos = sum(
        (fresh_edition / relative).read_text(encoding="utf-8").count('raise NotImplementedError("TODO (')
        for relative in repository_files(fresh_edition)
        if relative.startswith("src/tinytorch/") and relative.endswith(".py")
    )
    assert blocks > 0 and todos == blocks


def test_solutions_through_keeps_exactly_the_early_modules(tmp_path, fingerprints):
    out = tmp_path / "through_04"
    release(REPOSITORY, out, solutions_through=4)
    assert scan_for_leaks(out, fingerprints, allowed_modules_through=4) == []
    kept = {where.split(" <- ")[1].split(":")[0] for where in scan_for_leaks(out, fingerprints)}
    assert kept and kept <= {f"src/tinytorch/{name}.py" for name in ("tensor", "activations", "layers", "losses")}


def test_the_scan_catches_a_leaking_release(fresh_edition, fingerprints, tmp_path):
    """Negative control: an edition with one original library file copied back in."""
    broken = tmp_path / "broken"
    shutil.copytree(fresh_edition, broken)
    shutil.copyfile(REPOSITORY / "src/tinytorch/tensor.py", broken / "src/tinytorch/tensor.py")
    new_leaks = set(scan_for_leaks(broken, fingerprints)) - set(scan_for_leaks(fresh_edition, fingerprints))
    assert len(new_leaks) >= 10 and all(leak.startswith("src/tinytorch/tensor.py:") for leak in new_leaks)


def test_the_edition_has_its_own_readme_and_no_instructor_docs(fresh_edition):
    readme = (fresh_edition / "README.md").read_text(encoding="utf-8")
    assert readme != (REPOSITORY / "README.md").read_text(encoding="utf-8")
    assert "reference solution" not in readme and "tito release" not in readme
    for step in ('pip install -e ".[dev]"', "pytest --tinytorch-status", "src/tinytorch/tensor.py",
                 "pytest modules/source/01_tensor", "tito milestone start perceptron", 'pip install -e ".[notebook]"'):
        assert step in readme
    assert "| 01–04 | [`tensor`](modules/source/01_tensor/README.md), " in readme
    assert "[Milestone 1: Perceptron](milestones/01_perceptron/README.md)" in readme
    assert not (fresh_edition / "docs/instructor-guide.md").exists()
    assert (fresh_edition / "docs/student-guide.md").is_file()


def test_the_repository_checks_pass_inside_the_edition(fresh_edition):
    """The edition's README links resolve, its CI runs its README's test command, the paths its
    docs name exist: tests/test_repository.py, run in the edition as a student would."""
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_repository.py"],
        cwd=fresh_edition, env={**os.environ, "PYTHONPATH": str(fresh_edition / "src")},
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert re.search(r"\b(\d+) passed\b", completed.stdout).group(1) == str(count_tests(REPOSITORY / "tests/test_repository.py"))


def count_tests(path: Path) -> int:
    """Test functions in a file (none of test_repository's are parametrized)."""
    return len(re.findall(r"^def test_", path.read_text(encoding="utf-8"), re.M))
