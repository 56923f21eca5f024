"""Which tests belong to which curriculum unit: from markers at collection, from files before.

A *unit* is anything the plugin grades: a module's unit tests (``module:tensor``), an
integration group (``group:01_04``), a milestone's validation (``milestone:perceptron``) and
the autograd grade (``autograd``). A test belongs to a unit through its markers
(``module``, ``integration``, ``milestone``, ``autograd_op``) or by where it lives: the
group's own test file, ``modules/source/NN_name/`` and the milestone's directory.

Two views of the same rule:

- ``item_tags`` reads a collected test's markers (the truth, used for outcomes);
- ``TestIndex`` finds, without importing anything, the test files that hold each unit's
  tests (by path and by a syntax-tree scan for marker calls). Those files are part of the
  unit's fingerprint, make a run of the unit *complete*, and are what a quiet re-run runs.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
from pathlib import Path, PurePosixPath

from pytest_tinytorch.plugin.curriculum import Curriculum, CurriculumError

AUTOGRAD = "autograd"
MARKER_KINDS = {"module": "module", "integration": "group", "milestone": "milestone", "autograd_op": AUTOGRAD}
"""Marker name -> the kind of unit it puts a test in."""

TAGGING_MARKERS = {*MARKER_KINDS, "hidden"}
MARKER_CALL = re.compile(r"(?<![\w])(?:module|integration|milestone|autograd_op)\s*\(")
"""A quick textual filter (``import_module(`` does not match) before the syntax-tree scan."""

SKIPPED_DIRECTORIES = {"__pycache__", "node_modules", "build", "dist", "site-packages", "venv"}


def unit_key(kind: str, name: str | None = None) -> str:
    """``unit_key("group", "01_04") == "group:01_04"``; the autograd grade is just ``autograd``."""
    return AUTOGRAD if kind == AUTOGRAD else f"{kind}:{name}"


def units_of(tags: dict) -> list[str]:
    """The unit keys a test with these tags belongs to."""
    units = []
    for kind in ("module", "group", "milestone"):
        if tags.get(kind):
            units.append(unit_key(kind, tags[kind]))
    if tags.get("autograd_op"):
        units.append(AUTOGRAD)
    return units


def units_by_path(relpath: str, curriculum: Curriculum) -> dict[str, str]:
    """Membership by location: the group's test file, a module's or a milestone's directory."""
    found: dict[str, str] = {}
    path = PurePosixPath(relpath)
    for group in curriculum.groups:
        if relpath == group.test_file:
            found["group"] = group.name
    for module in curriculum.modules:
        if path.is_relative_to(f"modules/source/{module.key}"):
            found["module"] = module.name
    for milestone in curriculum.milestones:
        if path.is_relative_to(milestone.directory):
            found["milestone"] = milestone.name
    return found


def _first_argument(mark) -> str | None:
    return mark.args[0] if mark.args and isinstance(mark.args[0], str) else None


def marker_errors(node, curriculum: Curriculum) -> list[str]:
    """Problems with a collected test's TinyTorch markers, each naming the valid choices."""
    errors = []
    for mark in node.iter_markers():
        if mark.name not in MARKER_KINDS or mark.name == "autograd_op":
            if mark.name == "autograd_op" and not _first_argument(mark):
                errors.append(f"{node.nodeid}: @autograd_op needs the op's name, e.g. autograd_op('matmul')")
            continue
        name = _first_argument(mark)
        try:
            if mark.name == "module":
                curriculum.module(name or "")
            elif mark.name == "integration":
                curriculum.group(name or "")
            else:
                milestone = curriculum.milestone(name or "")
                rubric = mark.kwargs.get("rubric", mark.args[1] if len(mark.args) > 1 else None)
                if rubric is not None and rubric not in milestone.rubric:
                    raise CurriculumError(
                        f"unknown rubric category {rubric!r} for milestone {milestone.name}; "
                        f"expected one of: {', '.join(milestone.rubric)}"
                    )
        except CurriculumError as error:
            errors.append(f"{node.nodeid}: @{mark.name}: {error}")
    return errors


def item_tags(item, path_units: dict[str, str], curriculum: Curriculum) -> dict:
    """What the plugin needs to know about one collected test (markers already validated).

    The closest marker wins (a function's marker over its module's ``pytestmark``); a test
    without a marker belongs to the unit whose file or directory it is in (``path_units``,
    from ``units_by_path`` of its file).
    """
    tags: dict = {"module": None, "group": None, "milestone": None, "rubric": None,
                  "hidden": False, "autograd_op": None}
    tags.update(path_units)
    seen = set()
    for mark in item.iter_markers():  # closest first, in one walk up the node chain
        if mark.name in seen or mark.name not in TAGGING_MARKERS:
            continue
        seen.add(mark.name)
        if mark.name == "module":
            tags["module"] = curriculum.module(mark.args[0]).name
        elif mark.name == "integration":
            tags["group"] = mark.args[0]
        elif mark.name == "milestone":
            tags["milestone"] = curriculum.milestone(mark.args[0]).name  # "Perceptron" -> "perceptron"
            tags["rubric"] = mark.kwargs.get("rubric", mark.args[1] if len(mark.args) > 1 else None)
        elif mark.name == "autograd_op":
            tags["autograd_op"] = mark.args[0]
        else:
            tags["hidden"] = True
    return tags


def marker_calls(source: str) -> list[tuple[str, str | None]]:
    """(marker name, first argument) of every ``module("x")``-style call in Python source.

    The argument is None when it is not a string literal (``autograd_op(op.name)``).

    Reading the syntax tree (not the text) ignores marker calls quoted inside strings, such
    as the synthetic test files that pytester tests write.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        function = node.func
        if isinstance(function, ast.Attribute):
            # pytest.mark.module("x") or mark.milestone(...), never curriculum.milestone("x")
            owner = function.value
            owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            name = function.attr if owner_name == "mark" else None
        else:
            name = getattr(function, "id", None)
        argument = node.args[0]
        if name in MARKER_KINDS:
            constant = isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            calls.append((name, argument.value if constant else None))
    return calls


class TestIndex:
    """The test files of every unit, found by path and by a syntax-tree scan, never imported.

    ``cache`` maps a file to [mtime_ns, size, units]; it is kept in the plugin's state so that
    only changed files are parsed again. ``learned`` has the same shape and holds the units
    seen when the file was last collected: it covers markers whose argument is computed
    (``integration(grading_group(op))``), which no scan can read.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, rootdir: Path, search_roots: list[Path], file_patterns: list[str],
                 curriculum: Curriculum, cache: dict | None = None, learned: dict | None = None):
        self.rootdir = Path(rootdir)
        self.curriculum = curriculum
        self.file_patterns = file_patterns or ["test_*.py", "*_test.py"]
        self.cache: dict = cache if cache is not None else {}
        self.learned: dict = learned if learned is not None else {}
        self.files: dict[str, set[str]] = {}
        scanned = sorted(self._test_files(search_roots))
        for relpath in scanned:
            for unit in self._units_of_file(relpath):
                self.files.setdefault(unit, set()).add(relpath)
        for known in (self.cache, self.learned):
            for relpath in set(known) - set(scanned):  # forget deleted or moved files
                del known[relpath]
        for group in curriculum.groups:  # a group's own file counts even outside testpaths
            if (self.rootdir / group.test_file).is_file():
                self.files.setdefault(unit_key("group", group.name), set()).add(group.test_file)

    def files_of(self, unit: str) -> list[str]:
        return sorted(self.files.get(unit, ()))

    def _test_files(self, search_roots: list[Path]):
        seen = set()
        for root in search_roots:
            root = Path(root)
            candidates = [root] if root.is_file() else self._walk(root)
            for path in candidates:
                try:
                    relpath = path.resolve().relative_to(self.rootdir.resolve()).as_posix()
                except ValueError:
                    continue
                if relpath not in seen and self._is_test_file(path.name):
                    seen.add(relpath)
                    yield relpath

    def _walk(self, root: Path):
        for directory, subdirectories, files in os.walk(root):
            subdirectories[:] = sorted(
                name for name in subdirectories
                if name not in SKIPPED_DIRECTORIES and not name.startswith(".")
                and not name.endswith(".egg-info")
            )
            for name in sorted(files):
                yield Path(directory, name)

    def _is_test_file(self, name: str) -> bool:
        return name.endswith(".py") and any(fnmatch.fnmatch(name, pattern) for pattern in self.file_patterns)

    def _units_of_file(self, relpath: str) -> list[str]:
        path = self.rootdir / relpath
        try:
            stat = path.stat()
        except OSError:
            return []
        learned = self.learned.get(relpath)
        extra = learned[2] if learned and learned[:2] == [stat.st_mtime_ns, stat.st_size] else []
        cached = self.cache.get(relpath)
        if cached and cached[0] == stat.st_mtime_ns and cached[1] == stat.st_size:
            return sorted({*cached[2], *extra})
        units = {unit_key(kind, name) for kind, name in units_by_path(relpath, self.curriculum).items()}
        source = path.read_text(encoding="utf-8", errors="replace")
        if MARKER_CALL.search(source):  # parse only files that may call a marker
            for marker, name in marker_calls(source):
                units.update(self._known_unit(marker, name))
        self.cache[relpath] = [stat.st_mtime_ns, stat.st_size, sorted(units)]
        return sorted({*units, *extra})

    def _known_unit(self, marker: str, name: str | None) -> list[str]:
        """The unit a marker call names, or nothing when the name is not in the curriculum."""
        kind = MARKER_KINDS[marker]
        if kind == AUTOGRAD:
            return [AUTOGRAD]  # any op: the op names are often computed
        if name is None:
            return []
        try:
            if kind == "module":
                name = self.curriculum.module(name).name
            elif kind == "group":
                self.curriculum.group(name)
            elif kind == "milestone":
                name = self.curriculum.milestone(name).name
        except CurriculumError:
            return []
        return [unit_key(kind, name)]
