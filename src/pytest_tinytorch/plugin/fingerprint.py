"""Fingerprints: a short hash of the code that a recorded test outcome was measured against.

A group's outcome is only true for the implementation it ran against. The fingerprint of a
unit (module, group, milestone) hashes the *code* (never the mtimes) of the library's
sources together with the unit's own test files, so editing either makes the record stale.
For the library, "code" is the syntax tree (``code_hash``): a comment, a docstring or a
layout change is not a change to the implementation and keeps the records.

The library's sources are, by default, every ``*.py`` of the installed ``tinytorch`` package,
found with ``importlib.util.find_spec`` so that nothing is imported. A course (or a test of
this plugin) points elsewhere with the ini option ``tinytorch_sources``.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path

SKIPPED_DIRECTORIES = {"__pycache__", ".git", ".hypothesis", ".pytest_cache", "node_modules"}


def default_source_roots(package: str = "tinytorch") -> list[Path]:
    """Where the installed ``package`` lives, without importing it (empty if not installed)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [Path(location) for location in spec.submodule_search_locations]
    return [Path(spec.origin)] if spec.origin else []


def foreign_library(rootdir: Path, package: str = "tinytorch") -> str | None:
    """Why this checkout's tests would not test this checkout's library, or None.

    A TinyTorch checkout holds its library in ``src/<package>``. When the ``package`` that
    Python would import lives elsewhere (another checkout's editable install, a wheel),
    every test would grade that one instead: with one venv and two checkouts, a student
    edition full of TODOs printed "92 passed". Returns the message of the usage error.
    """
    local = Path(rootdir, "src", package)
    if not local.is_dir():
        return None  # not a TinyTorch checkout (a course configured elsewhere)
    found = default_source_roots(package)
    if any(Path(root).resolve() == local.resolve() for root in found):
        return None
    where = f"the {package} at {found[0]}" if found else f"no {package} at all (it is not installed)"
    return (f"this checkout's tests would run against {where}, not against this checkout's "
            f"{local}. Install this checkout into the environment you run pytest from: "
            f'cd {rootdir} && python -m pip install -e ".[dev]"'
            f" (or put its src first: PYTHONPATH={Path(rootdir, 'src')} pytest ...)")


def python_sources(roots: Iterable[Path]) -> list[tuple[str, Path]]:
    """Every ``*.py`` under ``roots`` as (stable name, path), sorted by name.

    The name is relative to its root, so the fingerprint does not change when the
    repository is moved or copied to another machine.
    """
    found: dict[str, Path] = {}
    for root in roots:
        root = Path(root)
        if root.is_file():
            found[root.name] = root
            continue
        for directory, subdirectories, files in os.walk(root):
            subdirectories[:] = [
                name for name in subdirectories
                if name not in SKIPPED_DIRECTORIES and not name.startswith(".")
            ]
            for name in files:
                if name.endswith(".py"):
                    path = Path(directory, name)
                    found[f"{root.name}/{path.relative_to(root).as_posix()}"] = path
    return sorted(found.items())


def content_hash(path: Path) -> str:
    """sha256 of a file's bytes, or ``"missing"`` when it does not exist."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return "missing"


def code_hash(path: Path) -> str:
    """sha256 of a Python file's *code*: its syntax tree without comments, layout or docstrings.

    Rewording a comment or a docstring, or re-indenting a line, is not a change to the
    implementation, so it must not make recorded outcomes stale (a student who fixes a typo
    in a comment would otherwise wait for every group to re-run). A file that does not parse
    falls back to its bytes, so a broken file still changes the fingerprint.
    """
    try:
        source = Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return "missing"
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return hashlib.sha256(source).hexdigest()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def combine(parts: Iterable[tuple[str, str]]) -> str:
    """Hash (name, content hash) pairs into a 16-hex-digit fingerprint."""
    digest = hashlib.sha256()
    for name, value in parts:
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(value.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


class Fingerprinter:
    """Fingerprints of the library sources and of units built on them, for one run.

    File hashes are computed once per run and shared between units, so fingerprinting the
    whole curriculum costs one read of each file.
    """

    def __init__(self, rootdir: Path, source_roots: Iterable[Path]):
        self.rootdir = Path(rootdir)
        self._file_hashes: dict[str, str] = {}
        self.sources = combine((name, code_hash(path)) for name, path in python_sources(source_roots))

    def file_hash(self, relpath: str) -> str:
        if relpath not in self._file_hashes:
            self._file_hashes[relpath] = content_hash(self.rootdir / relpath)
        return self._file_hashes[relpath]

    def of_files(self, relpaths: Iterable[str]) -> str:
        """The fingerprint of the sources plus these files (paths relative to the rootdir)."""
        parts = [("<sources>", self.sources)]
        parts += [(relpath, self.file_hash(relpath)) for relpath in sorted(set(relpaths))]
        return combine(parts)
