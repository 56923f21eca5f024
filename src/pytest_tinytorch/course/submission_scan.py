"""A static scan of a submission for code and files that could rewrite its own grade.

Grading runs the instructor's tests against the student's library, inside one Python process.
Code in that process can reach pytest and change what it reports; files such as a
``conftest.py`` or a ``.pth`` make Python or pytest run code the instructor never wrote. This
scan reads the submission *without running it* and lists what it finds, as ``Finding``
records (file, line, rule, one-line reason); ``tito grade`` scores a flagged submission 0.

The library has no business touching the test machinery, the interpreter's module table, the
stack frames of its callers or the grader's environment, so the rules below flag exactly that.
Code is read with the ``ast`` module, so a rule never fires on a string or a comment. The
rules are a table (``RULES``): each one says what it matches and why.

This is a tripwire, not a proof: a name assembled at run time (``getattr(importlib,
"import_" + "module")``) gets past any static scan. The grader's probes (``probes.py``),
computed outside the student's pytest process, are the backstop for what the scan misses.
"""

from __future__ import annotations

import ast
import configparser
import hashlib
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from pytest_tinytorch.course.release import SKIPPED_DIRECTORIES


@dataclass(frozen=True)
class Rule:
    """One scan rule: its id, what it matches, and why that is flagged."""

    id: str
    matches: str
    why: str


RULES = {rule.id: rule for rule in (
    Rule("test-machinery", "import of pytest, _pytest, pluggy, xdist, hypothesis or pytest_tinytorch, "
         "also through __import__(...) or importlib.import_module(...)",
         "the library has no use for the tools that grade it; importing them is how a submission "
         "rewrites its own test reports"),
    Rule("dynamic-import", "__import__(...) or importlib.import_module(...) with a computed name",
         "the name cannot be checked, so the import could be any of the above"),
    Rule("module-table", "sys.modules",
         "the interpreter's table of loaded modules holds pytest and the plugin: reading it reaches "
         "them without an import, writing it swaps them"),
    Rule("import-machinery", "sys.path, sys.meta_path, sys.path_hooks, importlib.util, "
         "importlib.machinery, runpy, zipimport",
         "loads code by file name or changes where imports come from (the grader's own copy of "
         "the reference solution is one file name away)"),
    Rule("builtins", "import builtins, __builtins__",
         "replacing a builtin changes every module at once, the tests included"),
    Rule("garbage-collector", "import gc",
         "gc.get_objects() and gc.get_referrers() reach pytest's live objects without importing pytest"),
    Rule("stack-frames", "sys._getframe, sys.settrace, sys.setprofile, inspect.currentframe, inspect.stack, "
         "inspect.getouterframes, .f_back, .f_globals, .f_locals, .f_builtins, .tb_frame, .gi_frame, .cr_frame",
         "the caller's frame is the test's (or pytest's): its locals hold the expected values and the report"),
    Rule("ctypes", "import ctypes or _ctypes", "writes process memory directly, around every check"),
    Rule("grader-environment", "writes to os.environ (item assignment, del, setdefault, update, pop, clear) "
         "or os.putenv / os.unsetenv of a PYTEST* or TINYTORCH* variable, or of a computed name",
         "these variables configure pytest, its plugins and the grader's outcome log"),
    Rule("dynamic-code", "exec(...), eval(...), compile(...) as builtins",
         "runs code that this scan cannot read"),
    Rule("after-exit", "import atexit",
         "an exit handler runs after the tests, when the reports are already written, and can rewrite them"),
    Rule("pytest-configuration", "a conftest.py or pytest.ini that is not the instructor's, a tox.ini or "
         "setup.cfg with a pytest section, a pyproject.toml below the submission's top folder",
         "pytest loads these by itself: a conftest can force every test to pass"),
    Rule("startup-hook", "sitecustomize.py, usercustomize.py or a *.pth file anywhere",
         "Python runs these at start-up, before any test, in every process"),
    Rule("native-code", "a compiled extension module (*.so, *.pyd, *.dylib, *.dll) anywhere",
         "imported like a .py file, it runs machine code that this scan cannot read"),
)}

TEST_MACHINERY = {"pytest", "_pytest", "pluggy", "xdist", "hypothesis", "_hypothesis_pytestplugin", "pytest_tinytorch"}
MODULE_RULES = {
    "builtins": "builtins", "gc": "garbage-collector", "ctypes": "ctypes", "_ctypes": "ctypes",
    "atexit": "after-exit", "runpy": "import-machinery", "zipimport": "import-machinery",
    "importlib.util": "import-machinery", "importlib.machinery": "import-machinery",
}
"""Imported modules (or their submodules) that are flagged by themselves: module -> rule."""
NAME_RULES = {
    "sys.modules": "module-table",
    "sys.path": "import-machinery", "sys.meta_path": "import-machinery", "sys.path_hooks": "import-machinery",
    "sys.path_importer_cache": "import-machinery", "importlib.util": "import-machinery",
    "importlib.machinery": "import-machinery",
    "sys._getframe": "stack-frames", "sys.settrace": "stack-frames", "sys.setprofile": "stack-frames",
    "inspect.currentframe": "stack-frames", "inspect.stack": "stack-frames",
    "inspect.getouterframes": "stack-frames", "inspect.trace": "stack-frames",
    "__builtins__": "builtins", "builtins": "builtins",
}
"""Qualified names (after resolving import aliases) flagged wherever they are used."""
FRAME_ATTRIBUTES = {"f_back", "f_globals", "f_locals", "f_builtins", "tb_frame", "gi_frame", "cr_frame"}
DYNAMIC_CODE = {"exec", "eval", "compile", "builtins.exec", "builtins.eval", "builtins.compile"}
IMPORT_FUNCTIONS = {"__import__", "importlib.import_module", "importlib.__import__", "builtins.__import__"}
GRADER_VARIABLE_PREFIXES = ("PYTEST", "TINYTORCH")
ENVIRONMENT_WRITERS = {"setdefault", "update", "pop", "popitem", "clear", "__setitem__", "__delitem__"}

STARTUP_FILES = {"sitecustomize.py", "usercustomize.py"}
NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
INSTRUCTOR_CONFIG_FILES = {"conftest.py", "pytest.ini", "tox.ini", "setup.cfg"}
"""Configuration files that are fine when they are the instructor's own (same path, same bytes)."""


@dataclass(frozen=True)
class Finding:
    """One flagged line or file of a submission."""

    path: str  # relative to the submission (or the scanned tree)
    line: int  # 0 for a whole file
    rule: str
    reason: str

    def describe(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where} [{self.rule}] {self.reason}"

    def to_json(self) -> dict:
        return asdict(self)


# -- the code scan -------------------------------------------------------------------------


def _top(module: str) -> str:
    return module.split(".")[0]


ALLOWED_COURSE_MODULES = {"pytest_tinytorch.course.milestone_code", "pytest_tinytorch.milestone_code"}
"""Course modules student code may import: the milestone loader reads and runs milestone
notebooks (the capstone builds on milestone 2's through ``load_milestone``) and touches no
test machinery. The second name is its path before ``course/`` existed (``old_paths``)."""


def _module_rule(module: str) -> str | None:
    if any(module == allowed or module.startswith(allowed + ".") for allowed in ALLOWED_COURSE_MODULES):
        return None
    if _top(module) in TEST_MACHINERY:
        return "test-machinery"
    for name, rule in MODULE_RULES.items():
        if module == name or module.startswith(name + "."):
            return rule
    return None


class _CodeScanner(ast.NodeVisitor):
    """Walks one module's syntax tree; import aliases are resolved module-wide (a tripwire
    does not need scoping: a name that is an alias anywhere is treated as one everywhere)."""

    def __init__(self, path: str):
        self.path = path
        self.aliases: dict[str, str] = {}
        self.findings: list[Finding] = []

    def flag(self, node: ast.AST, rule: str, reason: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), rule, reason))

    def qualified(self, node: ast.AST) -> str | None:
        """``sys.modules`` for ``import sys as s; s.modules``; None for anything not a dotted name."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    # imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or _top(alias.name)] = alias.name if alias.asname else _top(alias.name)
            self._check_module(node, alias.name, "imports")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:  # relative: the student's own package
            return
        self._check_module(node, node.module, "imports from")
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = full
            if _module_rule(node.module) is None and _module_rule(full) is None:
                self._check_name(node, full)
            elif _module_rule(node.module) is None:
                self._check_module(node, full, "imports")

    def _check_module(self, node: ast.AST, module: str, verb: str) -> None:
        rule = _module_rule(module)
        if rule:
            self.flag(node, rule, f"{verb} {module}")

    def _check_name(self, node: ast.AST, name: str | None) -> bool:
        rule = NAME_RULES.get(name or "")
        if rule:
            self.flag(node, rule, f"uses {name}")
        return bool(rule)

    # names and attributes
    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self.flag(node, "builtins", "uses __builtins__")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in FRAME_ATTRIBUTES:
            self.flag(node, "stack-frames", f"reads the frame attribute .{node.attr}")
        if not self._check_name(node, self.qualified(node)):
            self.generic_visit(node)

    # calls
    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualified(node.func)
        first = node.args[0] if node.args else None
        if name in IMPORT_FUNCTIONS:
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._check_module(node, first.value, f"imports (through {name})")
            else:
                self.flag(node, "dynamic-import", f"{name}() with a computed module name")
        elif name in DYNAMIC_CODE:
            self.flag(node, "dynamic-code", f"calls {name}()")
        elif name == "getattr" and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
            attribute = str(node.args[1].value)
            base = self.qualified(node.args[0])
            if attribute in FRAME_ATTRIBUTES:
                self.flag(node, "stack-frames", f"reads the frame attribute {attribute!r} through getattr")
            elif base:
                self._check_name(node, f"{base}.{attribute}")
        elif name in ("os.putenv", "os.unsetenv") and first is not None:
            self._check_variable(node, first, f"{name}()")
        elif isinstance(node.func, ast.Attribute) and self.qualified(node.func.value) == "os.environ" \
                and node.func.attr in ENVIRONMENT_WRITERS:
            self._check_environment_call(node)
        self.generic_visit(node)

    # os.environ writes
    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._check_environment_target(target, "sets")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_environment_target(node.target, "changes")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._check_environment_target(target, "deletes")
        self.generic_visit(node)

    def _check_environment_target(self, target: ast.AST, verb: str) -> None:
        if isinstance(target, ast.Subscript) and self.qualified(target.value) == "os.environ":
            self._check_variable(target, target.slice, f"{verb} os.environ[...]")

    def _check_environment_call(self, node: ast.Call) -> None:
        method = f"os.environ.{node.func.attr}"
        if node.func.attr in ("clear", "popitem"):
            self.flag(node, "grader-environment", f"writes the environment ({method}() can remove the grader's variables)")
            return
        if node.func.attr == "update":
            keys = [k for k in node.keywords if k.arg is not None]
            literal = node.args[0] if node.args else None
            if any(k.arg is None for k in node.keywords) or (literal is not None and not isinstance(literal, ast.Dict)):
                self.flag(node, "grader-environment", f"writes environment variables with computed names ({method}())")
                return
            for keyword in keys:
                self._check_variable(node, ast.Constant(keyword.arg), f"{method}()")
            for key in (literal.keys if literal is not None else []):
                self._check_variable(node, key, f"{method}()")
            return
        if node.args:
            self._check_variable(node, node.args[0], f"{method}()")

    def _check_variable(self, node: ast.AST, key: ast.AST | None, how: str) -> None:
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            if key.value.upper().startswith(GRADER_VARIABLE_PREFIXES):
                self.flag(node, "grader-environment", f"writes the grader's variable {key.value} ({how})")
        else:
            self.flag(node, "grader-environment", f"writes an environment variable with a computed name ({how})")


_PARSE_LOCK = threading.Lock()
"""``tito grade --jobs N`` scans in threads, and CPython 3.11's ``ast.parse`` is not safe in
concurrent threads (``SystemError: AST constructor recursion depth mismatch``, CPython
gh-106905): one parse at a time."""


def scan_source(source: str | bytes, path: str) -> list[Finding]:
    """The findings of one Python source file. Pass the file's bytes: Python honours a coding
    line (``# coding: utf-7`` turns ``+AAo-`` into a new line, so code can hide in what reads as
    a comment), and so does the parser here only when it gets bytes. A file that does not parse
    has no findings: it cannot run either, and its tests fail on their own."""
    try:
        with _PARSE_LOCK:
            tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError):
        return []
    scanner = _CodeScanner(path)
    scanner.visit(tree)
    return sorted(set(scanner.findings), key=lambda f: (f.path, f.line, f.rule, f.reason))


# -- the file scan -------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def instructor_configuration(root: Path) -> dict[str, str]:
    """sha256 of the instructor's own configuration files in ``root`` (conftests, pytest.ini,
    tox.ini, setup.cfg), by path relative to ``root``: what a submission may carry unchanged."""
    root = Path(root)
    return {
        relative: _digest(root / relative)
        for relative in _walk(root) if Path(relative).name in INSTRUCTOR_CONFIG_FILES
    }


def _walk(root: Path):
    """Relative paths of the files under ``root``, skipping caches, virtual environments and git."""
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(
            d for d in subdirectories
            if d not in SKIPPED_DIRECTORIES and d != "site-packages" and not (Path(directory) / d / "pyvenv.cfg").exists()
        )
        for name in sorted(names):
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(root).as_posix()


def _has_pytest_section(path: Path) -> bool:
    """Does an ini-style file configure pytest (``[pytest]`` or ``[tool:pytest]``)?"""
    text = path.read_text(encoding="utf-8", errors="replace")
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:  # pytest reads what it can: a broken file still counts
        return "[pytest]" in text or "[tool:pytest]" in text
    return parser.has_section("pytest") or parser.has_section("tool:pytest")


def file_finding(submission: Path, relative: str, allowed: dict[str, str]) -> Finding | None:
    """Why the file ``relative`` of a submission is flagged, or None."""
    path = Path(submission) / relative
    name = path.name
    if name in STARTUP_FILES or name.endswith(".pth"):
        return Finding(relative, 0, "startup-hook", f"{name} makes Python run code at start-up")
    if name.endswith(NATIVE_SUFFIXES) or ".so." in name:
        return Finding(relative, 0, "native-code", f"{name} is compiled code, which the scan cannot read")
    if name in INSTRUCTOR_CONFIG_FILES and allowed.get(relative) == _digest(path):
        return None
    if name == "conftest.py":
        what = "a changed copy of the instructor's conftest.py" if relative in allowed else \
            "a conftest.py that is not the instructor's"
        return Finding(relative, 0, "pytest-configuration", f"{what}; pytest would load it")
    if name == "pytest.ini":
        return Finding(relative, 0, "pytest-configuration", "a pytest.ini that is not the instructor's")
    if name in ("tox.ini", "setup.cfg") and _has_pytest_section(path):
        return Finding(relative, 0, "pytest-configuration", f"{name} with a pytest section that is not the instructor's")
    if name == "pyproject.toml" and "/" in relative:
        return Finding(relative, 0, "pytest-configuration", "a pyproject.toml inside the submission's folders")
    return None


def scan_files(submission: Path, allowed: dict[str, str] | None = None) -> list[Finding]:
    """Configuration and start-up files anywhere in the submission (``allowed``: the
    instructor's configuration, from ``instructor_configuration``)."""
    allowed = allowed or {}
    findings = (file_finding(submission, relative, allowed) for relative in _walk(Path(submission)))
    return sorted((finding for finding in findings if finding is not None), key=lambda f: f.path)


def scan_code(root: Path, relatives) -> list[Finding]:
    """The code findings of the Python files ``relatives`` (paths relative to ``root``)."""
    findings = []
    for relative in relatives:
        if relative.endswith(".py"):
            findings += scan_source((Path(root) / relative).read_bytes(), relative)
    return findings


def scan_submission(submission: Path, code_root: Path, code_files, allowed: dict[str, str] | None = None,
                    allow_rules=()) -> list[Finding]:
    """Every finding of a submission: its files, and the code of ``code_files`` under
    ``code_root`` (the grading tree's copy of the student's files), minus ``allow_rules``."""
    findings = scan_files(submission, allowed) + scan_code(code_root, code_files)
    return [finding for finding in findings if finding.rule not in set(allow_rules)]


def summarize(findings: list[Finding], shown: int = 3) -> str:
    """One line for a reason column: the first findings, and how many more."""
    text = "; ".join(finding.describe() for finding in findings[:shown])
    more = len(findings) - shown
    return text + (f"; and {more} more" if more > 0 else "")
