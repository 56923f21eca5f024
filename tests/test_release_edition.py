"""A student edition built from a small synthetic repository: what goes, what stays, what changes."""

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from pytest_tinytorch.course.release import (
    EDITION_FILE,
    ReleaseError,
    release,
    scan_for_leaks,
    solution_fingerprints,
)

TENSOR = textwrap.dedent(
    '''\
    class Tensor:
        def __init__(self, data):
            self.data = data

        def double(self):
            # BEGIN SOLUTION
            doubled_values = [value * 2 for value in self.data]
            return Tensor(doubled_values)
            # END SOLUTION
    '''
)
AUTOGRAD = textwrap.dedent(
    '''\
    def backward(tensor):
        """Walk the graph."""
        # BEGIN SOLUTION: reverse topological order
        ordered_nodes = list(reversed(tensor.parents_in_topological_order()))
        return ordered_nodes
        # END SOLUTION
    '''
)
HELPER = "# TinyTorch module: 05_autograd\ndef unbroadcast(gradient, shape):\n    # BEGIN SOLUTION\n    summed_gradient = gradient.sum_to(shape)\n    return summed_gradient\n    # END SOLUTION\n"
STARTER = "def train():\n    # TODO: write the training loop\n    pass\n"
SOLUTION = "def train():\n    history_of_losses = run_the_secret_loop(epochs=3)\n    return history_of_losses\n"
HIDDEN_FILE = "import pytest\npytestmark = [pytest.mark.module('tensor'), pytest.mark.hidden]\n\ndef test_secret():\n    assert True\n"
MIXED_FILE = (
    "import pytest\n\n\ndef test_public():\n    assert True\n\n\n"
    "@pytest.mark.hidden\ndef test_private_hidden_check():\n    assert True\n"
)


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def source_repo(tmp_path):
    root = tmp_path / "instructor"
    write(root, {
        "pyproject.toml": "[project]\nname = 'tinytorch'\n",
        "src/tinytorch/__init__.py": "",
        "src/tinytorch/tensor.py": TENSOR,
        "src/tinytorch/autograd.py": AUTOGRAD,
        "src/tinytorch/_graph.py": HELPER,
        "milestones/01_perceptron/perceptron_milestone.py": STARTER,
        "milestones/01_perceptron/perceptron_solution.py": SOLUTION,
        "milestones/01_perceptron/test_perceptron.py": MIXED_FILE,
        "modules/source/01_tensor/test_tensor_hidden.py": HIDDEN_FILE,
        "tests/test_release_something.py": "def test_x():\n    assert True\n",
        "docs/guide.md": "# Guide\n",
        ".pytest_cache/v/tinytorch/state": '{"milestones": {"perceptron": "COMPLETE"}}',
        "src/tinytorch/__pycache__/tensor.cpython-311.pyc": "bytes",
        ".venv/lib/site.py": "x = 1\n",
    })
    return root


def test_edition_replaces_blocks_and_leaves_out_solutions_hidden_tests_and_caches(source_repo, tmp_path):
    out = tmp_path / "edition"
    summary = release(source_repo, out)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        EDITION_FILE,
        "README.md",
        "docs/guide.md",
        "milestones/01_perceptron/perceptron_milestone.py",
        "milestones/01_perceptron/test_perceptron.py",
        "pyproject.toml",
        "src/tinytorch/__init__.py",
        "src/tinytorch/_graph.py",
        "src/tinytorch/autograd.py",
        "src/tinytorch/tensor.py",
    ]
    assert (out / "src/tinytorch/tensor.py").read_text() == TENSOR.replace(
        '        # BEGIN SOLUTION\n        doubled_values = [value * 2 for value in self.data]\n'
        '        return Tensor(doubled_values)\n        # END SOLUTION\n',
        '        raise NotImplementedError("TODO (01_tensor): Tensor.double")\n',
    )
    assert 'raise NotImplementedError("TODO (05_autograd): backward (reverse topological order)")' in (
        out / "src/tinytorch/autograd.py").read_text()
    assert 'raise NotImplementedError("TODO (05_autograd): unbroadcast")' in (out / "src/tinytorch/_graph.py").read_text()
    test_text = (out / "milestones/01_perceptron/test_perceptron.py").read_text()
    assert "test_public" in test_text and "test_private_hidden_check" not in test_text
    assert len(summary.blocks_stubbed) == 3 and summary.blocks_kept == []
    assert sorted(summary.files_left_out) == [
        "milestones/01_perceptron/perceptron_solution.py",
        "modules/source/01_tensor/test_tensor_hidden.py",
        "tests/test_release_something.py",
    ]
    record = json.loads((out / EDITION_FILE).read_text())
    assert record["edition"] == "student" and record["solutions_through"] is None


def test_solutions_through_keeps_the_early_modules_only(source_repo, tmp_path):
    out = tmp_path / "edition"
    summary = release(source_repo, out, solutions_through=4)
    tensor = (out / "src/tinytorch/tensor.py").read_text()
    assert "doubled_values = [value * 2 for value in self.data]" in tensor and "SOLUTION" not in tensor
    assert "TODO (05_autograd)" in (out / "src/tinytorch/autograd.py").read_text()
    assert len(summary.blocks_kept) == 1 and len(summary.blocks_stubbed) == 2
    fingerprints = solution_fingerprints(source_repo)
    assert scan_for_leaks(out, fingerprints, allowed_modules_through=4) == []
    assert [leak.split(" <- ")[0] for leak in scan_for_leaks(out, fingerprints)] == ["src/tinytorch/tensor.py:6"]


def test_leak_scan_finds_solution_text_anywhere_in_a_broken_edition(source_repo, tmp_path):
    out = tmp_path / "edition"
    release(source_repo, out)
    fingerprints = solution_fingerprints(source_repo)
    assert set(fingerprints) == {  # "return ordered_nodes" and the like say too little to count
        "doubled_values = [value * 2 for value in self.data]",
        "ordered_nodes = list(reversed(tensor.parents_in_topological_order()))",
        "summed_gradient = gradient.sum_to(shape)",
        "history_of_losses = run_the_secret_loop(epochs=3)",
    }
    assert scan_for_leaks(out, fingerprints) == []
    # Negative controls: a solution pasted into the docs, a milestone solution copied in.
    (out / "docs/guide.md").write_text("Hint:\n    summed_gradient   = gradient.sum_to(shape)\n")
    (out / "milestones/01_perceptron/notes.py").write_text(SOLUTION)
    assert sorted(scan_for_leaks(out, fingerprints)) == [
        "docs/guide.md:2 <- src/tinytorch/_graph.py:4",
        "milestones/01_perceptron/notes.py:2 <- milestones/01_perceptron/perceptron_solution.py:2",
    ]


def test_a_git_repository_releases_its_listed_files_only(source_repo, tmp_path):
    (source_repo / ".gitignore").write_text(".pytest_cache/\n__pycache__/\n.venv/\nscratch.txt\n")
    (source_repo / "scratch.txt").write_text("instructor notes")
    subprocess.run(["git", "init", "-q"], cwd=source_repo, check=True)
    subprocess.run(["git", "add", "pyproject.toml", "src"], cwd=source_repo, check=True)
    out = tmp_path / "edition"
    release(source_repo, out)
    assert not (out / "scratch.txt").exists() and not (out / ".pytest_cache").exists()
    assert (out / "docs/guide.md").exists()  # untracked but not ignored: still part of the work
    assert not list(out.rglob("__pycache__"))


def test_refuses_a_non_empty_output_directory_and_a_bad_module_number(source_repo, tmp_path):
    out = tmp_path / "edition"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ReleaseError, match="is not empty"):
        release(source_repo, out)
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    release(source_repo, out)  # an empty folder is fine
    (out / "stale.txt").write_text("from an earlier edition")
    release(source_repo, out, overwrite=True)  # an edition (it has EDITION.json) is replaced
    assert not (out / "stale.txt").exists() and (out / EDITION_FILE).is_file()
    with pytest.raises(ReleaseError, match="--solutions-through 42 is not a module number"):
        release(source_repo, tmp_path / "other", solutions_through=42)
    with pytest.raises(ReleaseError, match="is not a TinyTorch repository"):
        release(tmp_path / "nowhere", tmp_path / "other")


def test_a_malformed_block_fails_the_release_and_writes_nothing(source_repo, tmp_path):
    (source_repo / "src/tinytorch/losses.py").write_text("def mse():\n    # BEGIN SOLUTION\n    return 0\n")
    out = tmp_path / "edition"
    with pytest.raises(ReleaseError, match=r"src/tinytorch/losses.py:2: '# BEGIN SOLUTION' is never closed"):
        release(source_repo, out)
    assert not out.exists() and not (tmp_path / "edition.partial").exists()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (``.git`` included)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_overwrite_refuses_a_folder_that_contains_the_repository(source_repo, tmp_path):
    """`tito release .. --overwrite` once deleted the repository, .git and all."""
    subprocess.run(["git", "init", "-q"], cwd=source_repo, check=True)
    (tmp_path / "notes.txt").write_text("a sibling of the repository")
    before = snapshot(tmp_path)
    assert any(name.startswith("instructor/.git/") for name in before)
    with pytest.raises(ReleaseError) as error:
        release(source_repo, source_repo / "..", overwrite=True)
    assert str(error.value) == (
        f"output directory {tmp_path} contains the repository {source_repo}; choose a folder "
        f"outside it, e.g. {tmp_path / 'instructor-student'}"
    )
    assert snapshot(tmp_path) == before


def test_overwrite_refuses_a_folder_that_is_not_an_edition(source_repo, tmp_path):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("years of work")
    (out / EDITION_FILE).write_text("not json")  # a file of that name is not enough
    with pytest.raises(ReleaseError) as error:
        release(source_repo, out, overwrite=True)
    assert str(error.value) == (
        f"output directory {out} is not a TinyTorch edition (no valid {EDITION_FILE} in it), so "
        "--overwrite will not delete it; choose an empty folder or remove it yourself"
    )
    assert snapshot(out) == {"chapter1.tex": b"years of work", EDITION_FILE: b"not json"}


def test_overwrite_refuses_an_edition_that_holds_a_git_repository(source_repo, tmp_path):
    out = tmp_path / "edition"
    release(source_repo, out)
    subprocess.run(["git", "init", "-q"], cwd=out / "docs", check=True)  # the class's pushed copy
    before = snapshot(out)
    with pytest.raises(ReleaseError, match=rf"holds a git repository \({out / 'docs/.git'}\), so --overwrite will not"):
        release(source_repo, out, overwrite=True)
    assert snapshot(out) == before


def test_a_failed_overwrite_leaves_the_old_edition_intact_and_no_partial_folder(source_repo, tmp_path, monkeypatch):
    out = tmp_path / "edition"
    release(source_repo, out, solutions_through=4)
    before = snapshot(out)
    from pytest_tinytorch.course import release as release_module

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(release_module, "_write_edition_file", fail)
    with pytest.raises(OSError, match="disk full"):
        release(source_repo, out, overwrite=True)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edition", "instructor"]
    monkeypatch.undo()
    release(source_repo, out, overwrite=True)  # and a release that succeeds replaces it
    assert "TODO (01_tensor)" in (out / "src/tinytorch/tensor.py").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edition", "instructor"]


def test_generated_milestone_files_are_never_released(source_repo, tmp_path):
    folder = source_repo / "milestones/01_perceptron"
    (folder / "perceptron_milestone.ipynb").write_text("{}")
    (folder / "submission.json").write_text("{}")
    summary = release(source_repo, tmp_path / "edition")
    assert sorted(p.name for p in (tmp_path / "edition" / "milestones/01_perceptron").iterdir()) == [
        "perceptron_milestone.py", "test_perceptron.py"]
    assert {"milestones/01_perceptron/perceptron_milestone.ipynb",
            "milestones/01_perceptron/submission.json"} <= set(summary.files_left_out)
