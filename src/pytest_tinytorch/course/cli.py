"""``tito``: the course's command line, a thin front over pytest, jupytext and the release tool.

    tito milestone status              the status table (pytest --tinytorch-status)
    tito milestone start perceptron    write the milestone notebook, once it is unlocked
    tito milestone submit perceptron   run its validation, print the scorecard, save the report
    tito module complete 04_losses     a module's tests, then its group's integration tests
    tito checkpoint                    when each module, group and milestone first passed
    tito release OUT_DIR               make the student edition (instructors)
    tito grade SUBMISSION... --out DIR grade a class in isolated processes (instructors)
    tito mutate --sample 10            do the tests catch plausible bugs? (instructors)
    tito gradescope build              the Gradescope autograder archive (instructors)
    tito classroom init                a GitHub Classroom workflow for an edition (instructors)

Every command that tests something runs ``python -m pytest`` in the repository root with the
repository's ``src`` first on ``PYTHONPATH``, so it grades the code in front of it even when a
different copy of TinyTorch is installed. Exit status: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from pytest_tinytorch.plugin.curriculum import Curriculum, CurriculumError, default_curriculum
from pytest_tinytorch.plugin.gating import describe_unit
from pytest_tinytorch.plugin.state import StateStore, state_path, write_text_atomically

LOCKED, UNLOCKED, COMPLETE = "LOCKED", "UNLOCKED", "COMPLETE"


class UsageError(Exception):
    """A wrong name, path or option: printed as ``tito: error: ...`` with exit status 2."""


class CommandFailed(Exception):
    """The command ran and the answer is no (tests failed, milestone locked): exit status 1."""


# -- finding the repository and running pytest -------------------------------------------


def find_root(start: Path | None = None) -> Path:
    """The TinyTorch repository containing ``start`` (the current directory by default)."""
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "src" / "tinytorch").is_dir():
            return folder
    raise UsageError(
        f"{start} is not inside a TinyTorch repository (no pyproject.toml with src/tinytorch/ "
        f"found here or above); run tito from your TinyTorch folder or pass --root"
    )


def pytest_environment(root: Path) -> dict[str, str]:
    environment = dict(os.environ)
    paths = [str(root / "src"), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


def run_pytest(root: Path, arguments: list[str], quiet: bool = False) -> int:
    """Run ``python -m pytest ARGUMENTS`` in ``root``; its output goes to ours unless quiet."""
    command = [sys.executable, "-m", "pytest", *arguments]
    output = subprocess.DEVNULL if quiet else None
    return subprocess.run(command, cwd=root, env=pytest_environment(root), stdout=output, stderr=output).returncode


def run_pytest_with_report(root: Path, arguments: list[str], quiet: bool = False) -> tuple[int, dict]:
    """Run pytest with ``--tinytorch-report``; return its exit code and the report (or {})."""
    with tempfile.TemporaryDirectory(prefix="tito-") as folder:
        report_path = Path(folder) / "report.json"
        code = run_pytest(root, [*arguments, f"--tinytorch-report={report_path}"], quiet=quiet)
        report = _load_report(report_path)
    return code, report


def _load_report(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# -- reading the plugin's report ---------------------------------------------------------


def _entries(report: dict, kind: str) -> dict[str, dict]:
    """The report's ``modules``, ``groups`` or ``milestones``: name -> entry with a ``state``
    (schema in docs/report-schema.md)."""
    return report.get(kind, {})


def state_of(entry: dict) -> str:
    return str(entry.get("state", ""))


def milestone_states(report: dict) -> dict[str, str]:
    return {name: state_of(entry).upper() for name, entry in _entries(report, "milestones").items()}


# -- progress history (tito checkpoint) --------------------------------------------------


def format_history(history: dict, curriculum: Curriculum) -> str:
    """The plugin's history (``report["history"]``) as a table: first time each passed.

    The shape is ``{"modules": {name: time}, "groups": {name: time},
    "milestones": {name: {"UNLOCKED": time, "COMPLETE": time}}}``; the plugin records it on
    every run, so runs made without tito count too.
    """
    modules, groups = history.get("modules", {}), history.get("groups", {})
    milestones = history.get("milestones", {})
    lines = ["Progress history (first time each passed)", "", "Modules"]
    for module in curriculum.modules:
        lines.append(f"  {module.key:<18} {modules.get(module.name, '-')}")
    lines += ["", "Integration groups"]
    for group in curriculum.groups:
        lines.append(f"  {group.name:<18} {groups.get(group.name, '-')}")
    lines += ["", f"Milestones{'':<24}{'unlocked':<28}complete"]
    for milestone in curriculum.milestones:
        record = milestones.get(milestone.name, {})
        lines.append(f"  {milestone.label:<32}{record.get(UNLOCKED, '-'):<28}{record.get(COMPLETE, '-')}")
    return "\n".join(lines)


# -- commands ----------------------------------------------------------------------------


def command_milestone_status(options, root: Path, curriculum: Curriculum) -> int:
    return 0 if run_pytest(root, ["--tinytorch-status"]) == 0 else 1


def _milestone(curriculum: Curriculum, name: str):
    try:
        return curriculum.milestone(name)
    except CurriculumError as error:
        raise UsageError(str(error)) from None


def _starter(root: Path, milestone) -> Path:
    starter = root / milestone.directory / milestone.starter_file
    if not starter.is_file():
        raise CommandFailed(f"{milestone.label} has no starter notebook yet: expected {starter}")
    return starter


def command_milestone_start(options, root: Path, curriculum: Curriculum) -> int:
    """Write the milestone's notebook; a locked milestone says so first, whatever else is missing."""
    milestone = _milestone(curriculum, options.name)
    report = _status_report(root)
    state = milestone_states(report).get(milestone.name)
    if state is None:
        raise CommandFailed("could not read the milestone status (pytest --tinytorch-status wrote no report)")
    if state == LOCKED:
        blocking = _entries(report, "milestones").get(milestone.name, {}).get("locked_by") or []
        detail = "; ".join(f"{describe_unit(entry['unit'])} {entry['state']}" for entry in blocking)
        raise CommandFailed(
            f"{milestone.label} is LOCKED: {detail or 'its groups have not passed'}. "
            f"Run: {report.get('next') or 'pytest --tinytorch-status'}"
        )
    starter = _starter(root, milestone)
    notebook = starter.with_suffix(".ipynb")
    if notebook.exists() and not options.force:
        raise CommandFailed(f"{notebook.relative_to(root)} already exists (your work?); pass --force to overwrite it")
    import jupytext

    document = jupytext.read(starter)
    document.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    jupytext.write(document, notebook)
    print(f"Created: {notebook.relative_to(root)}")
    print("Open it in Jupyter or Colab; with jupytext installed, saving it updates the .py starter too.")
    print(f"Complete all deliverables and run: tito milestone submit {milestone.name}")
    return 0


def sync_notebook(starter: Path) -> bool:
    """Copy a milestone notebook's edits into its ``.py`` starter; True when it did.

    Only a notebook that is newer than the starter and differs from it in content (the cells'
    kinds and sources) is copied, so submitting without a notebook, or with one that was only
    opened and saved, leaves the tracked starter byte for byte as it was. A copied starter
    keeps its own jupytext header.
    """
    notebook = starter.with_suffix(".ipynb")
    if not notebook.exists() or notebook.stat().st_mtime <= starter.stat().st_mtime:
        return False
    import jupytext

    edited = jupytext.read(notebook)
    if _cells(edited) == _cells(jupytext.read(starter)):
        return False
    header = _jupytext_header(starter.read_text(encoding="utf-8"))
    edited.metadata = {"jupytext": {"notebook_metadata_filter": "-all", "cell_metadata_filter": "-all"}}
    body = jupytext.writes(edited, fmt="py:percent")
    write_text_atomically(starter, f"{header}\n{body}" if header else body)
    return True


def _cells(notebook) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def _jupytext_header(text: str) -> str:
    """The ``# ---`` ... ``# ---`` metadata block a jupytext script starts with, or ''."""
    if text.startswith("# ---\n"):
        end = text.find("\n# ---\n", len("# ---"))
        if end != -1:
            return text[: end + len("\n# ---\n")]
    return ""


def command_milestone_submit(options, root: Path, curriculum: Curriculum) -> int:
    milestone = _milestone(curriculum, options.name)
    starter = _starter(root, milestone)
    if sync_notebook(starter):
        print(f"Updated {starter.relative_to(root)} from {starter.with_suffix('.ipynb').name}")
    report_path = root / milestone.directory / "submission.json"
    code = run_pytest(root, [f"--milestone={milestone.name}", f"--tinytorch-report={report_path}"])
    report = _load_report(report_path)
    state = milestone_states(report).get(milestone.name, "unknown")
    print(f"\n{milestone.label}: {state}. Submission report: {report_path.relative_to(root)}")
    return 0 if code == 0 and state == COMPLETE else 1


def command_module_complete(options, root: Path, curriculum: Curriculum) -> int:
    """A module's tests; when every module of its group passes, the group's integration tests."""
    try:
        module = curriculum.module(options.name)
        group = curriculum.group_of_module(module.name)
    except CurriculumError as error:
        raise UsageError(str(error)) from None
    tests = root / "modules" / "source" / module.key
    if not tests.is_dir():
        raise CommandFailed(f"no tests for module {module.key}: expected the folder {tests.relative_to(root)}")
    print(f"Module {module.key}: running its tests")
    code, report = run_pytest_with_report(root, [tests.relative_to(root).as_posix(), "-q"])
    if code != 0:
        print(f"\nModule {module.key} is not complete yet: fix the failing tests above and run again.")
        return 1
    print(f"\nModule {module.key}: all tests pass.")
    if not (root / group.test_file).exists():
        print(f"Integration group {group.name} is not built yet ({group.test_file} does not exist).")
        return 0
    before = milestone_states(report)
    others = [
        folder.relative_to(root).as_posix() for name in group.modules if name != module.name
        for folder in [root / "modules" / "source" / curriculum.module(name).key] if folder.is_dir()
    ]
    print(f"Integration group {group.name} ({', '.join(group.modules)}): checking its other modules and its tests")
    code, report = run_pytest_with_report(root, [*others, group.test_file, "-q"], quiet=True)
    modules = {name: state_of(entry).lower() for name, entry in _entries(report, "modules").items()}
    tested = [name for name in group.modules
              if name == module.name or (root / "modules" / "source" / curriculum.module(name).key).is_dir()]
    waiting = [f"{curriculum.module(name).key} ({modules.get(name, 'not run')})"
               for name in tested if modules.get(name) != "passed"]
    if waiting:
        print(f"Integration group {group.name} waits for: {', '.join(waiting)}")
        return 0
    entry = _entries(report, "groups").get(group.name, {})
    if state_of(entry).lower() != "passed":
        failing = entry.get("failing") or []
        print(f"\nIntegration group {group.name} fails although its modules pass:")
        for nodeid in failing[:10]:
            print(f"  {nodeid}")
        print(f"Run: pytest {group.test_file}")
        return 1
    print(f"Integration group {group.name}: all tests pass.")
    after = milestone_states(report)
    for milestone in curriculum.milestones:
        if after.get(milestone.name) in (UNLOCKED, COMPLETE) and before.get(milestone.name) == LOCKED:
            print(f"\n{milestone.label} UNLOCKED!\nRun: tito milestone start {milestone.name}")
    return 0


def _status_report(root: Path) -> dict:
    """The report of a quiet ``pytest --tinytorch-status``; a warning about the saved state
    (which that run rebuilds, out of sight) is printed first."""
    _state, warning = StateStore(state_path(root)).load()
    if warning:
        print(f"tito: warning: {warning}", file=sys.stderr)
    return run_pytest_with_report(root, ["--tinytorch-status"], quiet=True)[1]


def command_checkpoint(options, root: Path, curriculum: Curriculum) -> int:
    report = _status_report(root)
    if not report:
        raise CommandFailed("could not read the progress (pytest --tinytorch-status wrote no report)")
    print(format_history(report.get("history", {}), curriculum))
    return 0


def command_release(options, root: Path, curriculum: Curriculum) -> int:
    from pytest_tinytorch.course.release import ReleaseError, release

    through = options.solutions_through
    try:
        summary = release(root, options.out_dir, solutions_through=through, curriculum=curriculum,
                          overwrite=options.overwrite)
    except ReleaseError as error:
        raise CommandFailed(str(error)) from None
    print(summary.describe())
    return 0


def command_grade(options, root: Path, curriculum: Curriculum) -> int:
    from pytest_tinytorch.course.grading import GradingError, Limits, grade_submissions

    def show(result) -> None:
        reason = f"  ({result.reason.splitlines()[0]})" if result.reason else ""
        print(f"{result.submission:<30} {result.status:<9} {result.score:6.1f} / {result.max_score:<6.1f}"
              f" {result.duration_s:6.1f} s{reason}", flush=True)

    limits = Limits(timeout_s=options.timeout, memory_mb=options.memory_mb or None)
    try:
        results = grade_submissions(root, options.submissions, options.out, jobs=options.jobs,
                                    limits=limits, curriculum=curriculum, progress=show,
                                    allow_rules=options.allow_rule)
    except GradingError as error:
        raise UsageError(str(error)) from None
    graded = sum(r.status == "graded" for r in results)
    print(f"\n{graded} of {len(results)} submissions graded normally; results in {options.out}"
          f" (one JSON per submission, class.csv)")
    return 0


def command_mutate(options, root: Path, curriculum: Curriculum) -> int:
    """Mutation testing of the course's tests (pytest_tinytorch.course.mutation): exit 1 when a module's
    share of mutants that keep its milestone locked is under --threshold."""
    from pytest_tinytorch.course import mutation

    try:
        mutants = mutation.find_mutants(root, curriculum, options.module or None)
    except CurriculumError as error:
        raise UsageError(str(error)) from None
    kept, excluded = mutation.split_equivalents(mutants)
    sampled = {mutant.id for mutant in mutation.sample_per_module(mutants, options.sample, options.seed)}
    chosen = [mutant for mutant in kept if mutant.id in sampled]  # the same sample whatever the table excludes
    print(f"{len(mutants)} mutants in the solution blocks, {len(excluded)} excluded as equivalent, "
          f"{len(chosen)} to run" + (f" (sample of {options.sample} per module, seed {options.seed})"
                                     if options.sample else ""), flush=True)
    if options.list:
        for mutant in chosen:
            print(f"{mutant.id}  {mutant.description}")
        return 0
    plans = mutation.module_test_plans(root, curriculum)

    def show(result) -> None:
        print(f"  {result.id:<58} unit {result.unit:<9} milestone {result.gate:<9} {result.validation:<12}"
              f" {result.seconds:6.1f} s{'  (timeout)' if result.timed_out else ''}", flush=True)

    try:
        results = mutation.run_mutants(root, chosen, plans, jobs=options.jobs, timeout=options.timeout,
                                       progress=show, validation_mode=options.validation)
    except mutation.MutationError as error:
        raise CommandFailed(str(error)) from None
    summaries = mutation.summarize(results, excluded, plans, found=mutants)
    survivors = mutation.format_survivors(results)
    print("\n" + mutation.format_table(summaries))
    if survivors:
        print("\nMutants that leave their milestone unlocked:\n\n" + survivors)
    if options.json:
        settings = {"modules": options.module, "sample": options.sample, "seed": options.seed,
                    "timeout_s": options.timeout, "threshold": options.threshold, "jobs": options.jobs,
                    "validation": options.validation}
        data = mutation.report_data(summaries, results, excluded, settings)
        options.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"\nJSON report: {options.json}")
    failing = mutation.below_threshold(summaries, options.threshold)
    if failing:
        names = ", ".join(f"{s.module} ({100 * s.share(s.milestone_locked):.1f}%)" for s in failing)
        raise CommandFailed(f"mutants keep the milestone locked less often than {options.threshold:.0%} in: {names}")
    return 0


def command_gradescope_build(options, root: Path, curriculum: Curriculum) -> int:
    """Write the Gradescope autograder archive (pytest_tinytorch.course.gradescope_autograder)."""
    from pytest_tinytorch.course.gradescope_autograder import AutograderError, build_autograder
    from pytest_tinytorch.course.submission_scan import RULES

    unknown = sorted(set(options.allow_rule) - set(RULES))
    if unknown:
        raise UsageError(f"unknown scan rule {', '.join(unknown)}; expected one of: {', '.join(RULES)}")
    try:
        summary = build_autograder(root, options.out, milestones=options.milestone, timeout_s=options.timeout,
                                   memory_mb=options.memory_mb or None, hidden_visibility=options.hidden_visibility,
                                   probe_seeds=options.probe_seeds, allow_rules=tuple(options.allow_rule),
                                   curriculum=curriculum)
    except AutograderError as error:
        raise CommandFailed(str(error)) from None
    print(summary.describe())
    return 0


def command_classroom_init(options, root: Path, curriculum: Curriculum) -> int:
    """Write the GitHub Classroom workflow into a student edition (pytest_tinytorch.course.classroom)."""
    from pytest_tinytorch.course.classroom import ClassroomError, graded_milestones, init

    try:
        path = init(root, curriculum, force=options.force)
    except ClassroomError as error:
        raise CommandFailed(str(error)) from None
    names = ", ".join(m.name for m in graded_milestones(curriculum, root))
    print(f"GitHub Classroom workflow written to {path}\n  graded milestones: {names}\n"
          f"  commit and push it with the edition; use the repository as the assignment's template")
    return 0


def command_classroom_points(options, root: Path, curriculum: Curriculum) -> int:
    """Record a milestone's points from a JSON report for the Classroom reporter."""
    from pytest_tinytorch.course.classroom import describe, github_output_path, record_points

    try:
        milestone = curriculum.milestone(options.name)
    except CurriculumError as error:
        raise UsageError(str(error)) from None
    result = record_points(options.report, milestone, options.max_score,
                           str(options.github_output) if options.github_output else github_output_path())
    print(describe(result, milestone))
    return 0


# -- the parser --------------------------------------------------------------------------


def _module_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a module number such as 04, got {text!r}") from None


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def mutation_modes() -> tuple[str, ...]:
    from pytest_tinytorch.course.mutation import VALIDATION_MODES

    return VALIDATION_MODES


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tito", description="TinyTorch course tool: milestones, modules, progress, release, grading.",
    )
    parser.add_argument("--root", type=Path, help="the TinyTorch repository (default: found from the current folder)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    milestone = commands.add_parser("milestone", help="milestone status, start and submit")
    milestone_commands = milestone.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = milestone_commands.add_parser("status", help="show modules, groups and milestones (LOCKED/UNLOCKED/COMPLETE)")
    status.set_defaults(handler=command_milestone_status)
    start = milestone_commands.add_parser("start", help="create the milestone notebook (.ipynb) once it is unlocked")
    start.add_argument("name", help="milestone name, e.g. perceptron")
    start.add_argument("--force", action="store_true", help="overwrite an existing notebook")
    start.set_defaults(handler=command_milestone_start)
    submit = milestone_commands.add_parser("submit", help="run the milestone's validation and write the submission report")
    submit.add_argument("name", help="milestone name, e.g. perceptron")
    submit.set_defaults(handler=command_milestone_submit)

    module = commands.add_parser("module", help="module commands")
    module_commands = module.add_subparsers(dest="action", metavar="ACTION", required=True)
    complete = module_commands.add_parser(
        "complete", help="run a module's tests, then its integration group; report what unlocked")
    complete.add_argument("name", help="module key, name or number, e.g. 04_losses")
    complete.set_defaults(handler=command_module_complete)

    checkpoint = commands.add_parser("checkpoint", help="progress history: when each module, group and milestone first passed")
    checkpoint.set_defaults(handler=command_checkpoint)

    release = commands.add_parser("release", help="write the student edition (instructors)")
    release.add_argument("out_dir", type=Path, help="folder to write the edition into (must be empty or absent)")
    release.add_argument("--solutions-through", type=_module_number, metavar="NN",
                         help="keep the solutions of modules 01..NN (default: replace all)")
    release.add_argument("--overwrite", action="store_true",
                         help="replace an earlier edition in OUT_DIR (one with its EDITION.json; never a folder "
                              "holding a .git or the repository)")
    release.set_defaults(handler=command_release)

    grade = commands.add_parser("grade", help="grade submissions in isolated processes (instructors)")
    grade.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION_DIR",
                       help="student folders, each holding src/tinytorch")
    grade.add_argument("--out", type=Path, required=True, help="folder for <name>.json, class.csv and logs")
    grade.add_argument("--jobs", type=_positive(int), default=1, help="submissions graded at once (default 1)")
    grade.add_argument("--timeout", type=_positive(float), default=600.0,
                       help="wall-clock seconds per submission before its processes are killed (default 600)")
    grade.add_argument("--memory-mb", type=int, default=4096,
                       help="address-space limit per submission in MB, 0 for none (default 4096)")
    grade.add_argument("--allow-rule", action="append", default=[], metavar="RULE",
                       help="a submission-scan rule this course allows (repeatable), e.g. garbage-collector "
                            "for a profiling module; the rules are in docs/instructor-guide.md")
    grade.set_defaults(handler=command_grade)

    mutate = commands.add_parser("mutate", help="mutation testing: do the tests catch plausible bugs? (instructors)")
    mutate.add_argument("--module", action="append", metavar="NAME",
                        help="only this module (key, name or number); repeat for several (default: all)")
    mutate.add_argument("--jobs", type=_positive(int), default=1, help="mutants run at once, each in its own copy (default 1)")
    mutate.add_argument("--sample", type=_positive(int), metavar="K", help="at most K mutants per module, chosen by --seed")
    mutate.add_argument("--seed", type=int, default=0, help="seed of the per-module sample (default 0)")
    mutate.add_argument("--timeout", type=_positive(float), default=300.0,
                        help="seconds per mutant for its three test runs; past it the mutant counts as killed (default 300)")
    mutate.add_argument("--threshold", type=_share, default=0.95,
                        help="least share of mutants that must keep their milestone locked (default 0.95)")
    mutate.add_argument("--validation", choices=mutation_modes(), default="all",
                        help="run the milestone's validation tests for every mutant (all, default) or only for "
                             "mutants that leave it unlocked (unlocked: a locked milestone scores nothing)")
    mutate.add_argument("--json", type=Path, metavar="PATH", help="also write the full results as JSON")
    mutate.add_argument("--list", action="store_true", help="list the mutants that would run, run nothing")
    mutate.set_defaults(handler=command_mutate)

    gradescope = commands.add_parser("gradescope", help="Gradescope autograder (instructors)")
    gradescope_commands = gradescope.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = gradescope_commands.add_parser("build", help="write the autograder archive to upload to Gradescope")
    build.add_argument("--out", type=Path, default=Path("autograder.zip"), help="the archive (default autograder.zip)")
    build.add_argument("--milestone", action="append", metavar="NAME",
                       help="grade this milestone (repeatable; default: every milestone whose folder exists)")
    build.add_argument("--timeout", type=_positive(float), default=600.0,
                       help="wall-clock seconds per submission before its processes are killed (default 600); "
                            "set Gradescope's own limit above it")
    build.add_argument("--memory-mb", type=int, default=4096,
                       help="address-space limit of the graded processes in MB, 0 for none (default 4096)")
    build.add_argument("--hidden-visibility", choices=("after_published", "hidden", "after_due_date"),
                       default="after_published", help="when students see hidden tests (default after_published)")
    build.add_argument("--probe-seeds", type=_positive(int), default=8,
                       help="answer sets of your library's probes stored in the archive (default 8)")
    build.add_argument("--allow-rule", action="append", default=[], metavar="RULE",
                       help="a submission-scan rule this course allows (repeatable), as for tito grade")
    build.set_defaults(handler=command_gradescope_build)

    classroom = commands.add_parser("classroom", help="GitHub Classroom autograding (instructors)")
    classroom_commands = classroom.add_subparsers(dest="action", metavar="ACTION", required=True)
    classroom_init = classroom_commands.add_parser(
        "init", help="write .github/workflows/classroom.yml into a student edition (use --root EDITION)")
    classroom_init.add_argument("--root", type=Path, default=argparse.SUPPRESS, metavar="EDITION",
                                help="the student edition (same as tito --root EDITION classroom init)")
    classroom_init.add_argument("--force", action="store_true", help="replace an existing workflow file")
    classroom_init.set_defaults(handler=command_classroom_init)
    points = classroom_commands.add_parser(
        "points", help="a milestone's points from a --tinytorch-report, for the Classroom reporter (used by the workflow)")
    points.add_argument("name", help="milestone name, e.g. perceptron")
    points.add_argument("report", type=Path, help="the JSON report of pytest --milestone=NAME --tinytorch-report=REPORT")
    points.add_argument("--max-score", type=_positive(float), default=100.0, help="the milestone's points (default 100)")
    points.add_argument("--github-output", type=Path, metavar="PATH",
                        help="append result=<base64 JSON> here (default: $GITHUB_OUTPUT when set)")
    points.set_defaults(handler=command_classroom_points)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    try:
        root = Path(options.root).resolve() if options.root else find_root()
        if options.root and not (root / "src" / "tinytorch").is_dir():
            raise UsageError(f"--root {options.root} is not a TinyTorch repository: expected src/tinytorch/ in it")
        return options.handler(options, root, default_curriculum())
    except UsageError as error:
        print(f"tito: error: {error}", file=sys.stderr)
        return 2
    except CommandFailed as error:
        print(f"tito: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
