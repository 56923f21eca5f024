"""Make a student edition of TinyTorch from the instructor's repository.

The instructor's repository is the complete reference: every piece of student work in
``src/tinytorch`` sits between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines inside the
function it belongs to. A student edition is a copy of the repository in which

* each solution block becomes ``raise NotImplementedError("TODO (05_autograd): Tensor.backward")``
  at the block's indentation, so the function stays valid Python and says what to build;
* blocks of modules up to ``--solutions-through NN`` are kept (markers removed), for a course
  that releases module by module or a student who joins late;
* milestone reference solutions (``milestones/*/*_solution.py``) are left out, so milestone
  validation targets the student's starter notebook;
* tests marked ``hidden`` are left out: a test file whose module-level ``pytestmark`` carries
  ``pytest.mark.hidden`` is dropped whole, a test function or class decorated with
  ``@pytest.mark.hidden`` is removed from its file;
* instructor-only tooling tests (this release tool's, the grader's) are left out, since they
  need the reference solutions to pass, and so is the instructor guide;
* ``README.md`` is the edition's own, made from ``EDITION_README_TEMPLATE`` (what a student
  does first), not the reference README written for instructors;
* what ``tito milestone start`` and ``submit`` generate (``milestones/*/*.ipynb``,
  ``submission.json``) is never copied.

Every Python file written is compiled; a release that would ship broken code fails instead.
The edition is built in a temporary sibling folder and swapped in at the end, so a failed
release leaves the previous edition as it was; ``--overwrite`` replaces only an earlier
edition (a folder with its ``EDITION.json``), never a folder holding the repository, a
``.git`` or anything else.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import json
import os
import re
import shutil
import string
import subprocess
import tempfile
import tokenize
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from pytest_tinytorch.plugin.curriculum import Curriculum, CurriculumError, default_curriculum

BEGIN_PATTERN = re.compile(r"^#\s*BEGIN SOLUTION\b:?\s*(?P<label>.*?)\s*$")
END_PATTERN = re.compile(r"^#\s*END SOLUTION\b")
MODULE_DIRECTIVE = re.compile(r"^#\s*TinyTorch module:\s*(?P<module>\S+)\s*$", re.MULTILINE)
"""A helper file of ``src/tinytorch`` that is not itself a curriculum module names the module
its solution blocks belong to with a comment line such as ``# TinyTorch module: 05_autograd``."""

LIBRARY_DIR = PurePosixPath("src/tinytorch")
MILESTONE_SOLUTION_GLOB = "milestones/*/*_solution.py"
INSTRUCTOR_ONLY_GLOBS = (
    "tests/test_release_*.py",
    "tests/test_progression.py",
    "tests/test_grading_*.py",
    "tests/test_gradescope_autograder.py",  # builds archives from the grading tests' synthetic course
    "tests/test_classroom.py",  # grades editions of that synthetic course
    "tests/test_submission_scan.py",  # the grader's scan: releases editions, reads git
    "tests/test_cli_workflow.py",  # shares the grading tests' synthetic course
    "tests/test_gradcheck_*.py",  # tests of the autograd grader: gradcheck, registry, negative controls
    "tests/test_mutation_tool.py",  # mutates the reference solutions' blocks
    "tests/test_optimizer_property_controls.py",  # negative controls of the optimizer properties
    "benchmarks/bench_grading.py",
    "docs/instructor-guide.md",
)
"""Files that test or measure the course tooling against the reference solutions (they cannot
pass in a student edition), and the instructors' documentation: not for students."""

GENERATED_GLOBS = ("milestones/*/*.ipynb", "milestones/*/submission.json")
"""What ``tito milestone start`` and ``submit`` write into a working copy (git-ignored): a
student's notebook and report, never part of an edition."""

SKIPPED_DIRECTORIES = {
    ".git", "__pycache__", ".pytest_cache", ".hypothesis", ".ipynb_checkpoints", ".mypy_cache",
    ".ruff_cache", ".tox", ".nox", ".venv", "venv", ".venv-ci", "build", "dist", "node_modules",
}
"""Directories never copied when the source is not a git repository (caches, environments)."""

EDITION_FILE = "EDITION.json"


class ReleaseError(Exception):
    """The repository cannot be released as it is: the message names the file and line."""


@dataclass(frozen=True)
class SolutionBlock:
    """One ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` block of a library file."""

    path: str
    begin_line: int  # 1-based line of the BEGIN marker
    end_line: int  # 1-based line of the END marker
    indent: str
    task: str  # "Tensor.backward" or "Tensor.__add__ (broadcast-aware add)"
    body: tuple[str, ...]  # the solution lines between the markers


# -- finding solution blocks -------------------------------------------------------------


def _comment_lines(source: str, path: str) -> list[tuple[int, str]]:
    """(line number, comment text) of every comment that stands alone on its line."""
    lines = source.splitlines()
    comments = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                line_number = token.start[0]
                if lines[line_number - 1].strip() == token.string.strip():
                    comments.append((line_number, token.string.strip()))
    except (tokenize.TokenError, IndentationError, SyntaxError) as error:
        raise ReleaseError(f"{path}: cannot tokenize: {error}") from error
    return comments


def _enclosing_functions(tree: ast.AST) -> list[tuple[int, int, int, str]]:
    """(first line, last line, column, qualified name) of every function, outer ones first."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                found.append((child.lineno, child.end_lineno, child.col_offset, name))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _contains(function: tuple[int, int, int, str], line: int, column: int, lines: list[str]) -> bool:
    """True when a comment at ``line`` indented by ``column`` is inside ``function``.

    Comments are not in the syntax tree, so a block at the end of a function can lie past the
    function's last statement; it still belongs to the function when it is indented deeper than
    the ``def`` and only blank lines or deeper-indented lines separate the two.
    """
    first, last, def_column, _ = function
    if not first < line:
        return False
    if line <= last:
        return True
    if column <= def_column:
        return False
    between = lines[last : line - 1]
    return all(not text.strip() or len(text) - len(text.lstrip()) > def_column for text in between)


def find_solution_blocks(source: str, path: str = "<source>") -> list[SolutionBlock]:
    """Every solution block of ``source``, in order, with the function each belongs to.

    Raises ``ReleaseError`` naming ``path:line`` for an END without a BEGIN, a BEGIN inside an
    open block, a block left open, an END indented differently from its BEGIN, or a block that
    is not inside a function.
    """
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        raise ReleaseError(f"{path}:{error.lineno}: not valid Python: {error.msg}") from error
    functions = _enclosing_functions(tree)
    lines = source.splitlines()
    blocks = []
    open_line = None
    label = ""
    for line_number, comment in _comment_lines(source, path):
        begin = BEGIN_PATTERN.match(comment)
        if begin:
            if open_line is not None:
                raise ReleaseError(
                    f"{path}:{line_number}: nested '# BEGIN SOLUTION' (the block opened at line "
                    f"{open_line} has no '# END SOLUTION' yet); expected blocks not to nest"
                )
            open_line, label = line_number, begin.group("label")
        elif END_PATTERN.match(comment):
            if open_line is None:
                raise ReleaseError(
                    f"{path}:{line_number}: '# END SOLUTION' without an opening '# BEGIN SOLUTION'"
                )
            begin_text, end_text = lines[open_line - 1], lines[line_number - 1]
            indent = begin_text[: len(begin_text) - len(begin_text.lstrip())]
            end_indent = end_text[: len(end_text) - len(end_text.lstrip())]
            if indent != end_indent:
                raise ReleaseError(
                    f"{path}:{line_number}: '# END SOLUTION' is indented differently from its "
                    f"'# BEGIN SOLUTION' at line {open_line}; expected the same indentation"
                )
            inside = [f for f in functions if _contains(f, open_line, len(indent), lines)]
            if not inside:
                raise ReleaseError(
                    f"{path}:{open_line}: solution block is not inside a function; expected every "
                    f"'# BEGIN SOLUTION' ... '# END SOLUTION' block within the function it solves"
                )
            task = inside[-1][3] + (f" ({label})" if label else "")
            body = tuple(lines[open_line : line_number - 1])
            blocks.append(SolutionBlock(path, open_line, line_number, indent, task, body))
            open_line = None
    if open_line is not None:
        raise ReleaseError(f"{path}:{open_line}: '# BEGIN SOLUTION' is never closed by '# END SOLUTION'")
    return blocks


def module_key_for(relative_path: str, source: str, curriculum: Curriculum) -> str:
    """The curriculum module (``05_autograd``) whose work the blocks of a library file are.

    ``src/tinytorch/autograd.py`` is module ``autograd``; a file inside a directory named after
    a module (``src/tinytorch/spatial/im2col.py``) belongs to it; any other file must say so
    with a ``# TinyTorch module: NN_name`` line.
    """
    directive = MODULE_DIRECTIVE.search(source)
    candidates = [directive.group("module")] if directive else []
    parts = PurePosixPath(relative_path).relative_to(LIBRARY_DIR).with_suffix("").parts
    candidates += [part for part in reversed(parts)]
    for candidate in candidates:
        try:
            return curriculum.module(candidate).key
        except CurriculumError:
            if directive and candidate == directive.group("module"):
                raise ReleaseError(
                    f"{relative_path}: '# TinyTorch module: {candidate}' names no curriculum "
                    f"module; expected one of: {', '.join(m.key for m in curriculum.modules)}"
                ) from None
    raise ReleaseError(
        f"{relative_path} holds solution blocks but is not a curriculum module file; expected a "
        f"file named after a module (e.g. src/tinytorch/tensor.py) or a line "
        f"'# TinyTorch module: NN_name' naming the module its blocks belong to"
    )


# -- rewriting sources -------------------------------------------------------------------


def todo_statement(block: SolutionBlock, module_key: str) -> str:
    """The line that replaces a block: ``raise NotImplementedError("TODO (01_tensor): ...")``."""
    message = json.dumps(f"TODO ({module_key}): {block.task}")
    return f"{block.indent}raise NotImplementedError({message})"


def strip_solutions(source: str, module_key: str, keep: bool = False, path: str = "<source>") -> str:
    """``source`` with each solution block replaced by its TODO (or, with ``keep``, unmarked)."""
    blocks = find_solution_blocks(source, path)
    if not blocks:
        return source
    lines = source.splitlines()
    for block in reversed(blocks):
        replacement = list(block.body) if keep else [todo_statement(block, module_key)]
        lines[block.begin_line - 1 : block.end_line] = replacement
    result = "\n".join(lines) + ("\n" if source.endswith("\n") else "")
    _check_compiles(result, path)
    return result


def _is_hidden_mark(node: ast.AST) -> bool:
    """True for ``pytest.mark.hidden``, ``mark.hidden`` and ``hidden`` (called or not)."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr == "hidden" and isinstance(node.value, (ast.Attribute, ast.Name)) and (
            getattr(node.value, "attr", None) == "mark" or getattr(node.value, "id", None) == "mark"
        )
    return isinstance(node, ast.Name) and node.id == "hidden"


def _marks_hidden(value: ast.AST) -> bool:
    """True when a ``pytestmark`` value is, or lists, the hidden mark."""
    if isinstance(value, (ast.List, ast.Tuple)):
        return any(_is_hidden_mark(element) for element in value.elts)
    return _is_hidden_mark(value)


def remove_hidden_tests(source: str, path: str = "<test>") -> str | None:
    """A test file without its hidden tests, or ``None`` when the whole file is hidden."""
    tree = ast.parse(source, filename=path)
    for statement in tree.body:
        if isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            if any(getattr(t, "id", None) == "pytestmark" for t in targets) and statement.value:
                if _marks_hidden(statement.value):
                    return None
    spans = []  # (first line, last line, indent of the definition) of each hidden definition
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if any(_is_hidden_mark(decorator) for decorator in node.decorator_list):
                first = min(d.lineno for d in node.decorator_list)
                spans.append((first, node.end_lineno, node.col_offset))
    if not spans:
        return source
    lines = source.splitlines()
    for first, last, column in sorted(spans, reverse=True):
        if any(f < first and last <= l for f, l, _ in spans):
            continue  # already inside a hidden class that goes as a whole
        lines[first - 1 : last] = []
    result = "\n".join(lines) + "\n"
    result = _fill_empty_bodies(result, path)
    _check_compiles(result, path)
    return result


def _fill_empty_bodies(source: str, path: str) -> str:
    """Give ``pass`` to a class whose every test was hidden (its body is now empty)."""
    try:
        ast.parse(source, filename=path)
        return source
    except SyntaxError:
        pass
    lines = source.splitlines()
    output = []
    for index, line in enumerate(lines):
        output.append(line)
        stripped = line.strip()
        if stripped.startswith("class ") and stripped.endswith(":"):
            indent = line[: len(line) - len(line.lstrip())]
            following = next((l for l in lines[index + 1 :] if l.strip()), "")
            following_indent = following[: len(following) - len(following.lstrip())]
            if len(following_indent) <= len(indent):
                output.append(indent + "    pass")
    return "\n".join(output) + "\n"


def _check_compiles(source: str, path: str) -> None:
    try:
        compile(source, path, "exec")
    except SyntaxError as error:
        raise ReleaseError(
            f"{path}:{error.lineno}: the released file would not compile ({error.msg}); "
            f"check the solution markers around this line"
        ) from error


# -- choosing files ----------------------------------------------------------------------


def repository_files(root: Path) -> list[str]:
    """Files of the repository, as posix paths relative to ``root``.

    In a git work tree: tracked files plus untracked files that are not ignored (what
    ``git ls-files --cached --others --exclude-standard`` lists), minus deleted ones. Elsewhere:
    a walk that skips caches, virtual environments, build output and egg-info.
    """
    root = Path(root)
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, check=True,
        ).stdout.decode()
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, check=True,
        ).stdout.decode().strip()
        if Path(top).resolve() == root.resolve():
            names = sorted({name for name in listing.split("\0") if name})
            return [name for name in names if (root / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(
            d for d in subdirectories if d not in SKIPPED_DIRECTORIES and not d.endswith(".egg-info")
        )
        for name in sorted(names):
            if name.endswith((".pyc", ".pyo")):
                continue
            files.append((Path(directory) / name).relative_to(root).as_posix())
    return files


def _matches(path: str, patterns: tuple[str, ...] | list[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def is_test_file(path: str) -> bool:
    name = PurePosixPath(path).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def is_library_file(path: str) -> bool:
    return path.endswith(".py") and PurePosixPath(path).is_relative_to(LIBRARY_DIR)


# -- the edition -------------------------------------------------------------------------


@dataclass
class ReleaseSummary:
    """What a release did, for the CLI to print and the tests to check."""

    out_dir: Path
    solutions_through: int | None
    files_written: int = 0
    blocks_stubbed: list[str] = field(default_factory=list)  # "src/tinytorch/x.py:12 (01_tensor)"
    blocks_kept: list[str] = field(default_factory=list)
    files_left_out: list[str] = field(default_factory=list)
    hidden_tests_removed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        through = "none" if self.solutions_through is None else f"{self.solutions_through:02d}"
        return (
            f"student edition written to {self.out_dir}\n"
            f"  solutions kept through module: {through}\n"
            f"  files written: {self.files_written}\n"
            f"  solution blocks replaced by TODOs: {len(self.blocks_stubbed)}\n"
            f"  solution blocks kept: {len(self.blocks_kept)}\n"
            f"  files left out (solutions, hidden or instructor-only tests): {len(self.files_left_out)}\n"
            f"  test files with hidden tests removed: {len(self.hidden_tests_removed)}"
        )


def _module_number(key: str) -> int:
    return int(key.split("_", 1)[0])


def release(
    source_root: Path | str,
    out_dir: Path | str,
    solutions_through: int | None = None,
    curriculum: Curriculum | None = None,
    overwrite: bool = False,
    keep_hidden_tests: bool = False,
    edition: str = "student",
) -> ReleaseSummary:
    """Write the student edition of ``source_root`` into ``out_dir``.

    ``solutions_through`` keeps the solution blocks of modules numbered up to it (``4`` keeps
    01-04); ``None`` replaces every block. ``out_dir`` must not exist (or be empty) unless
    ``overwrite`` is set and it holds an earlier edition; it must neither lie inside
    ``source_root`` nor contain it. The grader builds its trees with
    ``keep_hidden_tests=True`` and ``edition="grading"``.
    """
    source_root, out_dir = Path(source_root).resolve(), Path(out_dir).resolve()
    curriculum = curriculum or default_curriculum()
    if not (source_root / LIBRARY_DIR).is_dir():
        raise ReleaseError(f"{source_root} is not a TinyTorch repository: expected {LIBRARY_DIR}/ in it")
    if solutions_through is not None and not 0 <= solutions_through <= len(curriculum.modules):
        raise ReleaseError(
            f"--solutions-through {solutions_through} is not a module number; expected 0 to "
            f"{len(curriculum.modules)}"
        )
    replaced = _check_output_folder(source_root, out_dir, overwrite)

    summary = ReleaseSummary(out_dir, solutions_through)
    left_out_patterns = (MILESTONE_SOLUTION_GLOB, *INSTRUCTOR_ONLY_GLOBS, *GENERATED_GLOBS)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        for relative in repository_files(source_root):
            if _matches(relative, left_out_patterns):
                summary.files_left_out.append(relative)
                continue
            source_path = source_root / relative
            target = staged / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if relative == "README.md":
                continue  # the edition gets its own, written below
            if is_library_file(relative):
                text = source_path.read_text(encoding="utf-8")
                text = _release_library_file(relative, text, curriculum, solutions_through, summary)
                target.write_text(text, encoding="utf-8")
            elif is_test_file(relative) and not keep_hidden_tests:
                text = source_path.read_text(encoding="utf-8")
                stripped = remove_hidden_tests(text, relative)
                if stripped is None:
                    summary.files_left_out.append(relative)
                    continue
                if stripped != text:
                    summary.hidden_tests_removed.append(relative)
                target.write_text(stripped, encoding="utf-8")
            else:
                shutil.copy2(source_path, target)
            summary.files_written += 1
        (staged / "README.md").write_text(edition_readme(source_root, curriculum), encoding="utf-8")
        summary.files_written += 1
        _write_edition_file(staged, source_root, solutions_through, edition)
        _swap_into_place(staged, out_dir, replaced)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return summary


def _check_output_folder(source_root: Path, out_dir: Path, overwrite: bool) -> bool:
    """Refuse an output folder the release could damage; True when it replaces an edition.

    ``--overwrite`` replaces an earlier edition only: a folder with its ``EDITION.json``, no
    ``.git`` anywhere in it, and not holding the repository itself. Anything else might be
    someone's work, and a release never deletes what it did not write.
    """
    if out_dir == source_root or out_dir.is_relative_to(source_root) and not _ignored_by_git(source_root, out_dir):
        raise ReleaseError(f"output directory {out_dir} lies inside the repository {source_root}; choose another")
    if source_root.is_relative_to(out_dir):
        raise ReleaseError(
            f"output directory {out_dir} contains the repository {source_root}; choose a folder "
            f"outside it, e.g. {out_dir / (source_root.name + '-student')}"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise ReleaseError(f"output {out_dir} is a file; expected a folder for the edition")
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return False
    if not overwrite:
        raise ReleaseError(f"output directory {out_dir} is not empty; remove it or pass --overwrite")
    if not _is_edition(out_dir):
        raise ReleaseError(
            f"output directory {out_dir} is not a TinyTorch edition (no valid {EDITION_FILE} in it), "
            f"so --overwrite will not delete it; choose an empty folder or remove it yourself"
        )
    repository = next(_git_folders(out_dir), None)
    if repository is not None:
        raise ReleaseError(
            f"output directory {out_dir} holds a git repository ({repository}), so --overwrite will "
            f"not delete it; release into a fresh folder and copy the files over"
        )
    return True


def _is_edition(folder: Path) -> bool:
    """True when ``folder`` has the ``EDITION.json`` that ``release`` writes."""
    try:
        record = json.loads((folder / EDITION_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(record, dict) and "edition" in record and "solutions_through" in record


def _git_folders(folder: Path):
    """Every ``.git`` (a repository's folder, or a worktree's or submodule's file) under ``folder``."""
    for directory, subdirectories, files in os.walk(folder):
        for name in (*subdirectories, *files):
            if name == ".git":
                yield Path(directory) / name
        subdirectories[:] = [d for d in subdirectories if d != ".git"]


def _swap_into_place(staged: Path, out_dir: Path, replaced: bool) -> None:
    """Move the finished edition to ``out_dir``: the old one aside, the new one in, the old one
    deleted. Until the new one is in place the old one is intact (put back on a failure)."""
    if not out_dir.exists():
        os.replace(staged, out_dir)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
    os.replace(out_dir, aside)  # an empty folder is replaced by rename on POSIX
    try:
        os.replace(staged, out_dir)
    except BaseException:
        os.replace(aside, out_dir)
        raise
    if replaced:
        shutil.rmtree(aside)
    else:
        aside.rmdir()  # it was empty


EDITION_README_TEMPLATE = "src/pytest_tinytorch/course/templates/EDITION_README.md"
"""The edition's README, relative to the repository: what a student does first. The reference
README speaks to instructors ("this repository is the complete reference solution") and is
not shipped. ``$course_table`` is filled in from the curriculum."""


def edition_readme(source_root: Path, curriculum: Curriculum) -> str:
    """The student edition's README: the template with the course table filled in.

    A module or milestone is linked to its README when the repository has one, so that every
    link resolves inside the edition.
    """
    template = source_root / EDITION_README_TEMPLATE
    if not template.is_file():
        template = Path(__file__).parent / "templates" / "EDITION_README.md"

    def link(title: str, readme: str) -> str:
        return f"[{title}]({readme})" if (source_root / readme).is_file() else title

    rows = ["| group | modules (`src/tinytorch/…`) | unlocks |", "|---|---|---|"]
    for group in curriculum.groups:
        modules = ", ".join(
            link(f"`{name}`", f"modules/source/{curriculum.module(name).key}/README.md") for name in group.modules
        )
        milestone = curriculum.milestone_of_group(group.name)
        unlocks = link(milestone.label, f"{milestone.directory}/README.md") if milestone else ""
        rows.append(f"| {group.name.replace('_', '–')} | {modules} | {unlocks} |")
    try:
        return string.Template(template.read_text(encoding="utf-8")).substitute(course_table="\n".join(rows))
    except (KeyError, ValueError) as error:
        raise ReleaseError(
            f"{template}: unknown placeholder {error}; the only one is $course_table (write $$ for a dollar sign)"
        ) from None


def _release_library_file(
    relative: str, text: str, curriculum: Curriculum, solutions_through: int | None,
    summary: ReleaseSummary,
) -> str:
    blocks = find_solution_blocks(text, relative)
    if not blocks:
        return text
    key = module_key_for(relative, text, curriculum)
    keep = solutions_through is not None and _module_number(key) <= solutions_through
    for block in blocks:
        (summary.blocks_kept if keep else summary.blocks_stubbed).append(
            f"{relative}:{block.begin_line} ({key}: {block.task})"
        )
    return strip_solutions(text, key, keep=keep, path=relative)


def _ignored_by_git(root: Path, path: Path) -> bool:
    """True when ``path`` (inside the repository) is git-ignored, e.g. ``/out/``."""
    try:
        return subprocess.run(
            ["git", "check-ignore", "-q", str(path)], cwd=root, capture_output=True
        ).returncode == 0
    except OSError:
        return False


def _conftest_record(out_dir: Path) -> dict[str, str]:
    """The edition's conftest files and their sha256: the plugin warns about any other
    (``course_integrity``)."""
    from pytest_tinytorch.plugin.course_integrity import record_conftests

    return record_conftests(out_dir)


def _write_edition_file(out_dir: Path, source_root: Path, solutions_through: int | None, edition: str) -> None:
    """Record where the edition came from, so a grader or a bug report can tell."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source_root, capture_output=True, check=True
        ).stdout.decode().strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    record = {
        "edition": edition,
        "solutions_through": solutions_through,
        "source_commit": commit,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "conftests": _conftest_record(out_dir),
    }
    (out_dir / EDITION_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


# -- leak scan ---------------------------------------------------------------------------


def _normalise(line: str) -> str:
    return " ".join(line.split())


MIN_TOKENS = 6
"""A solution line is only evidence of a leak when it says something: ``loss.backward()`` or
``return (grad,)`` (five tokens) also appear in tests and docs that use the library."""


def _is_telling(normal: str, min_length: int) -> bool:
    """True for a normalised line long and rich enough to identify a solution."""
    if len(normal) < min_length or normal.startswith("#"):
        return False
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(normal).readline)
                  if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.COMMENT)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return True
    return len(tokens) >= MIN_TOKENS


def solution_fingerprints(source_root: Path | str, min_length: int = 12,
                          curriculum: Curriculum | None = None) -> dict[str, tuple[str, str]]:
    """Normalised, non-trivial solution lines of the repository -> (where, module key).

    Milestone reference solutions count too (their lines that the starter does not show).
    A line is trivial when it is a comment, shorter than ``min_length`` characters or fewer
    than ``MIN_TOKENS`` tokens (``return out``, ``loss.backward()``), or also appears outside solution blocks in the library (it is
    then scaffolding that students see anyway).
    """
    curriculum = curriculum or default_curriculum()
    source_root = Path(source_root)
    solution_lines: dict[str, tuple[str, str]] = {}
    scaffolding: set[str] = set()
    for relative in repository_files(source_root):
        if not is_library_file(relative):
            continue
        text = (source_root / relative).read_text(encoding="utf-8")
        blocks = find_solution_blocks(text, relative)
        key = module_key_for(relative, text, curriculum) if blocks else ""
        inside = set()
        for block in blocks:
            for offset, line in enumerate(block.body):
                number = block.begin_line + 1 + offset
                inside.add(number)
                normal = _normalise(line)
                if _is_telling(normal, min_length):
                    solution_lines.setdefault(normal, (f"{relative}:{number}", key))
        for number, line in enumerate(text.splitlines(), start=1):
            if number not in inside:
                scaffolding.add(_normalise(line))
    for relative in repository_files(source_root):
        if fnmatch.fnmatchcase(relative, MILESTONE_SOLUTION_GLOB):
            _add_milestone_solution_lines(source_root, relative, min_length, solution_lines, scaffolding)
    return {line: origin for line, origin in solution_lines.items() if line not in scaffolding}


def _add_milestone_solution_lines(
    source_root: Path, relative: str, min_length: int,
    solution_lines: dict[str, tuple[str, str]], scaffolding: set[str],
) -> None:
    """Lines of a milestone's reference solution that its starter notebook does not show."""
    solution_path = source_root / relative
    for starter_path in solution_path.parent.glob("*.py"):  # the starter, whatever its name
        if starter_path != solution_path and not is_test_file(starter_path.relative_to(source_root).as_posix()):
            scaffolding.update(_normalise(line) for line in starter_path.read_text(encoding="utf-8").splitlines())
    for number, line in enumerate(solution_path.read_text(encoding="utf-8").splitlines(), start=1):
        normal = _normalise(line)
        if _is_telling(normal, min_length):
            solution_lines.setdefault(normal, (f"{relative}:{number}", "milestone"))


def scan_for_leaks(
    edition_root: Path | str, fingerprints: dict[str, tuple[str, str]],
    allowed_modules_through: int | None = None,
) -> list[str]:
    """Every place in the edition where a solution line appears: ``"edition:line <- source"``.

    Text files of the whole edition are scanned (library, tests, docs, notebooks). With
    ``allowed_modules_through``, the solutions of modules up to that number are expected in
    the edition and not reported.
    """
    edition_root = Path(edition_root)
    wanted = {
        line: where for line, (where, key) in fingerprints.items()
        if allowed_modules_through is None or key == "milestone"
        or _module_number(key) > allowed_modules_through
    }
    leaks = []
    for relative in repository_files(edition_root):
        try:
            text = (edition_root / relative).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            normal = _normalise(line)
            if normal in wanted:
                leaks.append(f"{relative}:{number} <- {wanted[normal]}")
    return leaks
