"""A student edition built from a small synthetic repository: what goes, what stays, what changes."""

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from pytest_tinytorch.release import (
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
    release(source_repo, out, overwrite=True)
    assert not (out / "keep.txt").exists()
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
