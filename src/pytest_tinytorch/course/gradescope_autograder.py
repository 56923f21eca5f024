"""A Gradescope autograder for the course: ``tito gradescope build`` and what the archive runs.

Gradescope unpacks the archive into ``/autograder/source``, runs ``setup.sh`` once when it
builds the image (network allowed), then for every submission runs ``run_autograder``, which
must leave ``/autograder/results/results.json``. The archive holds:

* ``setup.sh``: installs Python and the course (``pip install`` of ``course/``) into a venv;
* ``run_autograder``: runs ``python -m pytest_tinytorch.course.gradescope_autograder``, which grades
  ``/autograder/submission`` with ``grading.grade_one`` (the same grading tree, submission
  scan, isolated pytest child, tamper check and probes as ``tito grade``) and writes the
  results; if even Python fails, the script writes a results.json that says so;
* ``course/``: the grading tree of ``tito grade`` (your tests, hidden ones included, the
  plugin, the library stubbed, milestone solutions left out);
* ``probe_answers/<seed>/``: your library's probe answers for a few seeds. The reference
  library itself never ships (students' code runs in the same container): at grading time one
  seed is picked, its answers are read into memory, and the whole folder is deleted before
  any student code runs;
* ``autograder.json``: the settings (milestones, timeout, memory, hidden-test visibility).

Before the archive is written, the release tool's leak scan runs over everything in it: a
solution line anywhere stops the build.

Test mode: ``TINYTORCH_AUTOGRADER_ROOT`` replaces ``/autograder`` (a temporary folder laid out
the same way) and ``TINYTORCH_AUTOGRADER_PYTHON`` names an interpreter that already has the
course's dependencies, so ``run_autograder`` runs without ``setup.sh``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pytest_tinytorch.plugin.curriculum import Curriculum, CurriculumError, default_curriculum
from pytest_tinytorch.course.grading import (
    Limits, ReferenceAnswers, SubmissionResult, build_grading_base, grade_one, probed_groups, reference_answers,
)
from pytest_tinytorch.course.probes import probes_for_groups, read_answers, write_answers
from pytest_tinytorch.course.release import LIBRARY_DIR, is_test_file, scan_for_leaks, solution_fingerprints
from pytest_tinytorch.plugin.state import write_json_atomically

SETTINGS_FILE = "autograder.json"
SETTINGS_SCHEMA = "tinytorch-gradescope-autograder/1"
COURSE_DIR = "course"
PROBE_ANSWERS_DIR = "probe_answers"
ROOT_VARIABLE = "TINYTORCH_AUTOGRADER_ROOT"
PYTHON_VARIABLE = "TINYTORCH_AUTOGRADER_PYTHON"
DEFAULT_ROOT = Path("/autograder")
VENV = "/autograder/tinytorch-venv"
HIDDEN_VISIBILITIES = ("after_published", "hidden", "after_due_date")
"""Gradescope's visibilities for a hidden test: ``after_published`` shows it once grades are
published, ``after_due_date`` after the due date, ``hidden`` never to students."""
IGNORED_UPLOAD_NAMES = {"__MACOSX", ".DS_Store"}
POINTS_PER_MILESTONE = 100.0
"""A milestone's points, split by its rubric (``gradescope.gradescope_results``' default)."""

SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (the network is
# available here and nowhere else): Python, then the course and its dependencies in a venv.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q python3 python3-venv python3-pip
python3 -m venv {VENV}
{VENV}/bin/pip install --quiet --upgrade pip
{VENV}/bin/pip install --quiet /autograder/source/{COURSE_DIR}
{VENV}/bin/python -c "import numpy, pytest, hypothesis, jupytext, pytest_tinytorch"
"""

RUN_AUTOGRADER = f"""#!/usr/bin/env bash
# Gradescope runs this for every submission; it must leave results/results.json behind.
# Test mode: {ROOT_VARIABLE} replaces /autograder and {PYTHON_VARIABLE} names an
# interpreter that already has the course's dependencies (setup.sh is then not needed).
set -uo pipefail
ROOT="${{{ROOT_VARIABLE}:-/autograder}}"
PYTHON="${{{PYTHON_VARIABLE}:-{VENV}/bin/python}}"
mkdir -p "$ROOT/results"
PYTHONPATH="$ROOT/source/{COURSE_DIR}/src" "$PYTHON" -m pytest_tinytorch.course.gradescope_autograder --root "$ROOT"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
  printf '{{"score": 0, "output": "The autograder could not start (exit status %s): nothing was graded. Please tell your instructor.", "tests": []}}\\n' "$status" > "$ROOT/results/results.json"
fi
exit 0
"""


class AutograderError(Exception):
    """The archive cannot be built as asked (unknown milestone, a leak, a bad output path)."""


@dataclass
class BuildSummary:
    """What ``build_autograder`` wrote, for the CLI to print and the tests to check."""

    archive: Path
    files: int
    milestones: list
    probe_seeds: list
    lines_in_tests: list  # solution lines your tests repeat ("course/<test>:line <- source")

    def describe(self) -> str:
        repeated = (f"\n  solution lines repeated by your tests (kept; students' code runs beside them): "
                    f"{len(self.lines_in_tests)}" if self.lines_in_tests else "")
        return (f"Gradescope autograder written to {self.archive}\n"
                f"  files: {self.files}\n"
                f"  milestones graded: {', '.join(self.milestones)}\n"
                f"  probe answer sets: {len(self.probe_seeds)}{repeated}\n"
                f"  upload it as the assignment's autograder (Configure Autograder -> Zip file upload)")


# -- building the archive ------------------------------------------------------------------


def chosen_milestones(curriculum: Curriculum, instructor_root: Path, names: list[str] | None) -> list:
    """The milestones to grade: the named ones, or every milestone whose folder exists."""
    if names:
        try:
            chosen = [curriculum.milestone(name) for name in names]
        except CurriculumError as error:
            raise AutograderError(str(error)) from None
    else:
        chosen = [m for m in curriculum.milestones if (instructor_root / m.directory).is_dir()]
    missing = [m.name for m in chosen if not (instructor_root / m.directory).is_dir()]
    if missing:
        raise AutograderError(f"milestone {', '.join(missing)} has no folder in {instructor_root}; "
                              f"expected {', '.join(curriculum.milestone(n).directory for n in missing)}")
    if not chosen:
        raise AutograderError(f"no milestone folder in {instructor_root}: nothing to grade")
    return list({m.name: m for m in chosen}.values())  # each once, in the order given


def write_probe_answers(instructor_root: Path, course: Path, folder: Path, seeds: list[int],
                        curriculum: Curriculum, limits: Limits) -> None:
    """Your library's probe answers for each seed, in ``folder/<seed>/`` (the format of the
    probe child's answers)."""
    by_group = probes_for_groups(curriculum, probed_groups(curriculum, course))
    probes = [item for items in by_group.values() for item in items]
    for seed in seeds:
        answers, errors = reference_answers(instructor_root / LIBRARY_DIR, seed, probes, limits)
        target = folder / str(seed)
        target.mkdir(parents=True)
        write_answers(target, answers, errors)


def build_autograder(
    instructor_root: Path | str, archive: Path | str, milestones: list[str] | None = None,
    timeout_s: float = 600.0, memory_mb: int | None = 4096, hidden_visibility: str = "after_published",
    probe_seeds: int = 8, allow_rules: tuple = (), curriculum: Curriculum | None = None,
) -> BuildSummary:
    """Write the Gradescope archive for ``instructor_root`` to ``archive`` (atomically)."""
    instructor_root, archive = Path(instructor_root).resolve(), Path(archive).resolve()
    curriculum = curriculum or default_curriculum()
    if hidden_visibility not in HIDDEN_VISIBILITIES:
        raise AutograderError(f"hidden visibility {hidden_visibility!r} is not one of {', '.join(HIDDEN_VISIBILITIES)}")
    if archive.suffix != ".zip":
        raise AutograderError(f"{archive} does not end in .zip: Gradescope expects a zip archive")
    if archive.is_relative_to(instructor_root / "src"):
        raise AutograderError(f"{archive} is inside the library; write the archive elsewhere")
    chosen = chosen_milestones(curriculum, instructor_root, milestones)
    with tempfile.TemporaryDirectory(prefix="tinytorch-autograder-") as scratch:
        staged = Path(scratch) / "archive"
        staged.mkdir()
        build_grading_base(instructor_root, staged / COURSE_DIR, curriculum)
        seeds = [secrets.randbits(48) for _ in range(probe_seeds)]
        write_probe_answers(instructor_root, staged / COURSE_DIR, staged / PROBE_ANSWERS_DIR, seeds, curriculum,
                            Limits(timeout_s=timeout_s, memory_mb=memory_mb))
        write_json_atomically(staged / SETTINGS_FILE, {
            "schema": SETTINGS_SCHEMA, "milestones": [m.name for m in chosen], "timeout_s": timeout_s,
            "memory_mb": memory_mb, "hidden_visibility": hidden_visibility, "allow_rules": list(allow_rules),
        }, indent=2)
        (staged / "setup.sh").write_text(SETUP_SH, encoding="utf-8")
        (staged / "run_autograder").write_text(RUN_AUTOGRADER, encoding="utf-8")
        leaks, in_tests = split_leaks(scan_for_leaks(staged, solution_fingerprints(instructor_root, curriculum=curriculum)))
        if leaks:
            shown = "\n  ".join(leaks[:10])
            raise AutograderError(f"solution lines in the archive's contents ({len(leaks)}), nothing written:\n  {shown}")
        files = write_zip(staged, archive)
    return BuildSummary(archive, files, [m.name for m in chosen], seeds, in_tests)


def split_leaks(leaks: list[str]) -> tuple[list[str], list[str]]:
    """(leaks that stop the build, solution lines repeated by your tests).

    A test may compute its expected value the way the solution does (hidden tests included,
    which the archive keeps): that is your test, not your solution, and it is listed, not
    refused. A solution line in the library, a starter, a lab, a benchmark or the docs stops
    the build."""
    def in_test(leak: str) -> bool:
        return is_test_file(leak.split(":", 1)[0])

    return [leak for leak in leaks if not in_test(leak)], [leak for leak in leaks if in_test(leak)]


def write_zip(folder: Path, archive: Path) -> int:
    """Zip ``folder``'s files (scripts executable) into ``archive`` atomically; the file count."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".partial", dir=archive.parent)
    os.close(descriptor)
    count = 0
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(folder.rglob("*")):
                if not path.is_file() or path.is_symlink() or "__pycache__" in path.parts:
                    continue
                relative = path.relative_to(folder).as_posix()
                info = zipfile.ZipInfo(relative, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                executable = relative in ("setup.sh", "run_autograder")
                info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
                bundle.writestr(info, path.read_bytes())
                count += 1
        os.replace(partial, archive)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return count


def unpack(archive: Path | str, folder: Path | str) -> None:
    """Unpack an autograder archive as Gradescope does, refusing a member that would land
    outside ``folder`` (an absolute path or ``..``); scripts keep their executable bit."""
    folder = Path(folder).resolve()
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            name = PurePosixPath(info.filename)
            target = (folder / name).resolve()
            if name.is_absolute() or ".." in name.parts or not target.is_relative_to(folder):
                raise AutograderError(f"archive member {info.filename!r} would be written outside {folder}")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(bundle.read(info))
            target.chmod((info.external_attr >> 16) & 0o777 or 0o644)


# -- grading one submission inside Gradescope ------------------------------------------------


def find_submission(upload: Path) -> Path:
    """The folder holding ``src/tinytorch`` in what the student uploaded.

    Gradescope's GitHub integration and a zip of the repository's contents put it at the top;
    a zip of the repository folder nests it one level down, in a single top folder (macOS's
    ``__MACOSX`` and hidden files beside it are ignored)."""
    if (upload / LIBRARY_DIR).is_dir():
        return upload
    entries = sorted(e for e in upload.iterdir() if e.name not in IGNORED_UPLOAD_NAMES and not e.name.startswith("."))
    folders = [e for e in entries if e.is_dir() and not e.is_symlink()]
    if len(folders) == 1 and len(entries) == 1 and (folders[0] / LIBRARY_DIR).is_dir():
        return folders[0]
    found = ", ".join(e.name + ("/" if e.is_dir() else "") for e in entries[:12]) or "nothing"
    raise AutograderError(
        f"no {LIBRARY_DIR}/ in the upload: expected your TinyTorch repository (its contents, or one "
        f"folder holding them, with {LIBRARY_DIR}/ inside); found: {found}")


def take_probe_answers(folder: Path) -> ReferenceAnswers | None:
    """One stored answer set, chosen at random, read into memory; then the folder is deleted
    so that no student code that runs after this can read any answers."""
    seeds = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []
    chosen = None
    if seeds:
        seed = secrets.choice(seeds)
        stored = read_answers(folder / str(seed))
        if stored is not None:
            chosen = ReferenceAnswers(seed, *stored)
    shutil.rmtree(folder, ignore_errors=True)
    return chosen


def load_settings(source: Path) -> dict:
    try:
        settings = json.loads((source / SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise AutograderError(f"cannot read {source / SETTINGS_FILE}: {error}") from None
    if settings.get("schema") != SETTINGS_SCHEMA:
        raise AutograderError(f"{source / SETTINGS_FILE} has schema {settings.get('schema')!r}, expected {SETTINGS_SCHEMA}")
    return settings


def gradescope_document(result: SubmissionResult, plugin_results: dict | None, settings: dict,
                        curriculum: Curriculum, seconds: float) -> dict:
    """The final ``results.json``: the plugin's per-test entries (hidden tests get the chosen
    visibility), the top-level score, timing, a summary in ``output``, a leaderboard entry per
    milestone. A submission that was not graded normally scores 0 with the reason."""
    graded = result.status == "graded" and isinstance(plugin_results, dict)
    tests = []
    for test in (plugin_results or {}).get("tests", []) if graded else []:
        if isinstance(test, dict):
            entry = {key: test[key] for key in ("name", "score", "max_score", "status", "output") if key in test}
            entry["visibility"] = settings["hidden_visibility"] if test.get("visibility") == "hidden" else "visible"
            tests.append(entry)
    score = round(sum(float(t.get("score") or 0) for t in tests), 4) if graded else 0.0
    max_score = round(sum(float(t.get("max_score") or 0) for t in tests), 4)
    lines = [f"TinyTorch: {score:g} / {max_score:g} points ({result.status})." if graded
             else f"TinyTorch: 0 points ({result.status})."]
    if result.reason:
        lines.append(("Not graded: " if not graded else "") + result.reason)
    leaderboard = []
    for name in settings["milestones"]:
        milestone = curriculum.milestone(name)
        entry = result.milestones.get(name) or {}
        points = round(POINTS_PER_MILESTONE * float(entry.get("score") or 0), 2) if graded else 0.0
        lines.append(f"  {milestone.label}: {entry.get('state', 'not run') if graded else 'not graded'}, {points:g} points")
        leaderboard.append({"name": milestone.label, "value": points, "order": "desc"})
    return {
        "score": score,
        "execution_time": int(round(seconds)),
        "output": "\n".join(lines),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "leaderboard": leaderboard,
    }


def grade_upload(root: Path, curriculum: Curriculum | None = None) -> dict:
    """Grade ``root/submission`` with the archive in ``root/source``; write and return
    ``root/results/results.json``. Whatever goes wrong, a valid document is written."""
    started = time.monotonic()
    curriculum = curriculum or default_curriculum()
    source, results_path = root / "source", root / "results" / "results.json"
    scratch = Path(tempfile.mkdtemp(prefix="tinytorch-gradescope-"))
    settings = {"milestones": [], "hidden_visibility": "hidden"}
    result = SubmissionResult("submission", str(root / "submission"), status="error")
    plugin_results = None
    try:
        settings = load_settings(source)
        reference = take_probe_answers(source / PROBE_ANSWERS_DIR)
        try:
            submission = find_submission(root / "submission")
        except AutograderError as error:
            result.status, result.reason = "invalid", str(error)
        else:
            milestones = [curriculum.milestone(name) for name in settings["milestones"]]
            arguments = ["modules", *(m.directory for m in milestones)]
            limits = Limits(timeout_s=float(settings["timeout_s"]), memory_mb=settings.get("memory_mb"))
            result = grade_one(submission, "submission", source / COURSE_DIR, scratch / "out", limits, curriculum,
                               scratch / "work", arguments=arguments,
                               allow_rules=frozenset(settings.get("allow_rules", ())), reference_library=reference)
            plugin_results = _load(scratch / "out" / "submission" / "results.json")
    except Exception as error:  # a grader problem still gives the student a results.json
        result.status = "error"
        result.reason = f"grader error: {type(error).__name__}: {error}"
        traceback.print_exc()
    finally:
        document = gradescope_document(result, plugin_results, settings, curriculum, time.monotonic() - started)
        write_json_atomically(results_path, document, indent=2)
        shutil.rmtree(scratch, ignore_errors=True)
    print(document["output"])
    return document


def _load(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    """``python -m pytest_tinytorch.course.gradescope_autograder [--root /autograder]`` (run_autograder)."""
    parser = argparse.ArgumentParser(prog="python -m pytest_tinytorch.course.gradescope_autograder",
                                     description="Grade /autograder/submission; write /autograder/results/results.json.")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_VARIABLE, DEFAULT_ROOT)),
                        help=f"the folder laid out like /autograder (default: ${ROOT_VARIABLE} or /autograder)")
    options = parser.parse_args(argv)
    grade_upload(options.root.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
