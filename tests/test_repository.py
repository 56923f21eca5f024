"""Checks of the repository itself: the README's promises and the test layout rules."""

from __future__ import annotations

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
    assert commands[0] == 'pip install -e ".[dev]"'


def test_readme_links_point_to_existing_files():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(((?!https?:)[^)#]+)\)", text)
    assert links, "the README links its docs"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []


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
