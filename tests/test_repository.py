"""Checks of the repository itself: the README's promises and the test layout rules."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The shell commands of the README's quick start block."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", text, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def test_ci_runs_exactly_the_readme_test_command():
    commands = readme_commands()
    test_command = next(c for c in commands if c.startswith("pytest -n"))
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert test_command in ci_lines, f"{test_command!r} is the README's test command but .ci/run does not run it"
    assert 'pip install --quiet -e ".[dev]"' in (ROOT / ".ci/run").read_text()


def test_quick_start_begins_with_clone_cd_venv_and_the_one_install():
    """A newcomer copies the block from the top: nothing may be assumed before it."""
    assert readme_commands()[:5] == [
        "git clone <your course repository URL> tinytorch",
        "cd tinytorch",
        "python -m venv .venv",
        "source .venv/bin/activate",
        'pip install -e ".[dev]"',
    ]


def test_readme_links_point_to_existing_files():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(((?!https?:)[^)#]+)\)", text)
    assert links, "the README links its docs"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []


INLINE_CODE = re.compile(r"`([^`\n]+)`")
FENCED_BLOCK = re.compile(r"^```.*?^```", re.S | re.M)
PLACEHOLDER = re.compile(r"[*?<>{}$…]|NN|\.\.\.")
"""Marks of a pattern or a placeholder (``tests/test_release_*.py``, ``modules/source/NN_name``)."""

ILLUSTRATIONS = {
    "src/tinytorch/spatial/im2col.py": "docs/instructor-guide.md: where a helper file of a module would go",
}
"""Paths the docs mention as examples of what a course could add, not as files that exist."""


def documented_paths(root: Path = ROOT) -> list[tuple[str, str]]:
    """(document, path) for every word in inline code of the docs, README.md and .ci/run (in its
    comments, any word) that names a path under one of the repository's top-level folders."""
    top_level = {path.name for path in root.iterdir() if path.is_dir()}
    documents = [*sorted((root / "docs").glob("*.md")), root / "README.md", root / ".ci/run"]
    found = []
    for document in documents:
        text = FENCED_BLOCK.sub("", document.read_text(encoding="utf-8"))
        if document.name == "run":  # a shell script: its comments are the prose
            text = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
        words = [word for code in INLINE_CODE.findall(text) for word in code.split()]
        words += re.findall(r"[\w./-]+", text) if document.name == "run" else []
        for word in words:
            path = word.strip("'\",.:;()").rstrip("/")
            if "/" in path and path.split("/")[0] in top_level and not PLACEHOLDER.search(path):
                found.append((document.relative_to(root).as_posix(), path))
    return found


def test_paths_named_in_the_docs_exist():
    """Planned curriculum folders, generated files and (in a student edition) the files a
    release leaves out (solutions, instructor tooling, hidden test files) may be named without
    existing; nothing else."""
    from pytest_tinytorch.plugin.curriculum import default_curriculum
    from pytest_tinytorch.course.release import (
        EDITION_FILE, GENERATED_GLOBS, INSTRUCTOR_ONLY_GLOBS, MILESTONE_SOLUTION_GLOB, is_test_file,
    )

    curriculum = default_curriculum()
    planned = {m.directory for m in curriculum.milestones} | {f"modules/source/{m.key}" for m in curriculum.modules}
    absent = [*GENERATED_GLOBS]
    edition = (ROOT / EDITION_FILE).exists()
    if edition:
        absent += [MILESTONE_SOLUTION_GLOB, *INSTRUCTOR_ONLY_GLOBS]
    paths = documented_paths()
    assert len(paths) > 20, "the docs name files; the scan must find them"
    missing = [
        f"{document}: {path}" for document, path in paths
        if not (ROOT / path).exists() and path not in planned and path not in ILLUSTRATIONS
        and not any(fnmatch.fnmatchcase(path, pattern) for pattern in absent)
        and not (edition and is_test_file(path))
    ]
    assert missing == []


def test_the_scan_catches_the_dead_references_it_was_written_for(tmp_path):
    """Negative control: the three dead references of issue #10 would be reported."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / ".ci").mkdir()
    (docs / "guide.md").write_text("See `tests/test_readme.py` and `docs/missing.md`; `tests/` exists.\n")
    (tmp_path / "README.md").write_text("```bash\npytest tests/in_a_block.py\n```\n")
    (tmp_path / ".ci/run").write_text("# keep in step: tests/test_readme.py checks it\npytest -n auto\n")
    assert documented_paths(tmp_path) == [("docs/guide.md", "tests/test_readme.py"), ("docs/guide.md", "docs/missing.md"),
                                  (".ci/run", "tests/test_readme.py")]


def test_no_reference_to_the_design_and_benchmark_documents_that_do_not_exist():
    """DESIGN.md and BENCHMARKS.md were never in the repository; the benchmark workloads are
    described in README.md's Performance section."""
    for name in ("DESIGN.md", "BENCHMARKS.md"):
        if not (ROOT / name).exists():
            for document in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "benchmarks/bench_mlp.py"]:
                if document.exists():
                    assert name not in document.read_text(encoding="utf-8"), f"{document.name} names {name}"
    assert "## Performance" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'README.md, "Performance"' in (ROOT / "benchmarks/bench_mlp.py").read_text(encoding="utf-8")


def test_files_that_tito_generates_are_git_ignored():
    """`tito milestone start`/`submit` write a notebook and a report next to the tracked starter;
    committed by accident they fail the drift test and end up in editions."""
    from pytest_tinytorch.course.release import GENERATED_GLOBS

    ignored = [line.strip() for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()]
    assert [pattern for pattern in GENERATED_GLOBS if pattern not in ignored] == []


def python_files() -> list[Path]:
    """The project's Python files: git's list in a checkout, else a walk (a student edition)."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if listing.returncode == 0 and (ROOT / ".git").exists():
        return [Path(f) for f in listing.stdout.split()]
    skipped = {".git", ".venv", ".venv-ci", "venv", "build", "dist", "__pycache__", ".pytest_cache"}
    return [
        path.relative_to(ROOT)
        for path in ROOT.rglob("*.py")
        if not skipped.intersection(path.relative_to(ROOT).parts)
    ]


def test_test_file_basenames_are_unique():
    """pytest's default import mode fails with 'import file mismatch' on repeated basenames."""
    tests = [path for path in python_files() if re.match(r"test_.*\.py$", path.name)]
    seen: dict[str, Path] = {}
    clashes = []
    for path in tests:
        if path.name in seen:
            clashes.append((str(seen[path.name]), str(path)))
        seen.setdefault(path.name, path)
    assert len(tests) > 10
    assert clashes == []
