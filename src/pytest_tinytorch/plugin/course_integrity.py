"""Warnings for a local course run: conftest files and pytest plugins that are not the course's.

A ``conftest.py`` dropped into a milestone folder can make every test of an empty library pass,
and the student's own ``pytest --tinytorch-status`` would then report milestones COMPLETE.
``tito grade`` never loads such a file (and flags the submission), but a student, a TA or a CI
job looking at a local run deserves to know. So every course run and ``--tinytorch-status``
list, as a visible line and in the JSON report's ``warnings``:

* conftest files that are not the instructor's: in a student edition, the ones ``tito release``
  wrote (recorded with their sha256 in ``EDITION.json``, so a changed copy is noticed too); in
  the instructor's repository, ``REPOSITORY_CONFTESTS``;
* pytest plugins installed as ``pytest11`` entry points by distributions outside
  ``KNOWN_PLUGIN_DISTRIBUTIONS`` (pytest's own plugins are not entry points).

These are warnings, not verdicts: a local run is the student's own business.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from pytest_tinytorch.course.release import EDITION_FILE, SKIPPED_DIRECTORIES

REPOSITORY_CONFTESTS = ("conftest.py", "tests/conftest.py")
"""The conftest files the instructor's repository tracks (a test checks this against git)."""

KNOWN_PLUGIN_DISTRIBUTIONS = {
    "tinytorch",  # this plugin
    "pytest-xdist", "hypothesis", "pytest-json-report", "pytest-metadata", "pytest-benchmark",
    "pytest-cov", "pytest-timeout", "pytest-mock", "pytest-randomly", "pytest-asyncio", "anyio",
    "platformdirs",
}
"""Distributions whose pytest plugins report outcomes as they are: the course's tools, and
common ones that only measure, time out or reorder. A plugin that re-runs failures until they
pass, or sets variables, is not on the list."""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edition_conftests(root: Path) -> dict[str, str] | None:
    """What ``EDITION.json`` records: conftest path -> sha256 (None when it records nothing)."""
    try:
        record = json.loads((Path(root) / EDITION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    conftests = record.get("conftests") if isinstance(record, dict) else None
    return {str(k): str(v) for k, v in conftests.items()} if isinstance(conftests, dict) else None


def record_conftests(root: Path) -> dict[str, str]:
    """conftest path -> sha256 of every conftest file under ``root`` (what release records)."""
    return {relative: _digest(Path(root) / relative) for relative in course_conftests(root)}


def instructor_conftests(root: Path) -> dict[str, str | None]:
    """The instructor's conftest files in ``root``: path -> sha256, or None for "any content"."""
    recorded = edition_conftests(root)
    if recorded is not None:
        return recorded
    return dict.fromkeys(REPOSITORY_CONFTESTS)  # the repository, or an edition made before records


def course_conftests(root: Path) -> list[str]:
    """Relative paths of the conftest files under ``root`` (caches, environments and git skipped)."""
    found = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(  # as pytest's norecursedirs: no hidden folders, no environments
            d for d in subdirectories
            if not d.startswith(".") and d not in SKIPPED_DIRECTORIES and d != "site-packages"
            and not (Path(directory) / d / "pyvenv.cfg").exists()
        )
        if "conftest.py" in names:
            found.append((Path(directory) / "conftest.py").relative_to(root).as_posix())
    return sorted(found)


def conftest_warnings(root: Path, loaded: list[Path] = ()) -> list[dict]:
    """A warning for every conftest under ``root``, or ``loaded`` by this run, that is not the
    instructor's."""
    root = Path(root).resolve()
    allowed = instructor_conftests(root)
    candidates = {relative: root / relative for relative in course_conftests(root)}
    for path in loaded:
        path = Path(path).resolve()
        candidates.setdefault(path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path), path)
    warnings = []
    for shown, path in sorted(candidates.items()):
        if shown in allowed and (allowed[shown] is None or (path.is_file() and allowed[shown] == _digest(path))):
            continue
        what = "a changed copy of the course's conftest file" if shown in allowed else \
            "not one of the course's conftest files"
        warnings.append({
            "kind": "conftest", "source": shown,
            "message": f"tinytorch: warning: {shown} is {what}: pytest loads it, and a conftest can "
                       "change any test's outcome. Results of this run may not be true; "
                       "tito grade never loads it and flags a submission that has it.",
        })
    return warnings


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def plugin_warnings(distributions: list[tuple[str, str]]) -> list[dict]:
    """A warning for every (distribution, plugin name) outside the known distributions."""
    known = {_normalized(name) for name in KNOWN_PLUGIN_DISTRIBUTIONS}
    warnings = []
    for distribution, plugin in sorted(set(distributions)):
        if _normalized(distribution) not in known:
            warnings.append({
                "kind": "plugin", "source": distribution,
                "message": f"tinytorch: warning: the pytest plugin {plugin} (from {distribution}) is "
                           "not one of the course's: plugins can change test outcomes. Results of this run "
                           f"may not be true; run with -p no:{plugin} to leave it out.",
            })
    return warnings


def is_course(root: Path, config) -> bool:
    """A course run: the rootdir holds the library (or is an edition), or names its sources."""
    root = Path(root)
    return (root / "src/tinytorch").is_dir() or (root / EDITION_FILE).is_file() or \
        bool(config.getini("tinytorch_sources"))


def course_warnings(config) -> list[dict]:
    """The warnings of this pytest run (empty outside a course)."""
    root = Path(config.rootpath)
    if not is_course(root, config):
        return []
    manager = config.pluginmanager
    loaded = [Path(plugin.__file__) for plugin in manager.get_plugins()
              if getattr(plugin, "__file__", None) and Path(plugin.__file__).name == "conftest.py"]
    distributions = [(str(info.project_name), str(manager.get_name(plugin)))
                     for plugin, info in manager.list_plugin_distinfo()]
    return conftest_warnings(root, loaded) + plugin_warnings(distributions)
