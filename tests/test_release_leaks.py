"""A release of this repository never leaks a solution, and every released file compiles."""

import shutil
from pathlib import Path

import pytest

from pytest_tinytorch.release import (
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
