"""Mutation testing of the course's tests: would they notice a student's plausible bug?

A *mutant* is the reference library with one small, plausible bug put into one solution
block of ``src/tinytorch/*.py``: ``np.max`` where ``np.min`` belongs, ``sum`` for ``mean``,
``np.sqrt(x)`` returning ``x``, an ``axis=`` forgotten, ``<`` for ``<=``, a clip or a check
left out. Code outside the blocks is what students are given, so it is never mutated.

Each mutant runs, in a temporary copy of the repository (the working tree is never touched),
against three sets of tests, each with ``pytest -x`` under the derandomized hypothesis
``ci`` profile:

(a) the unit tests of the mutated module (``modules/source/NN_name/``): *killed by unit tests*;
(b) the gate of the milestone that the module's integration group unlocks, i.e. the unit tests
    of every module of the group plus the group's integration tests: when any of them fails,
    the mutant *keeps the milestone locked* (unit tests fail first, so (a) implies (b));
(c) the milestone's validation tests: when one fails, the mutant *loses points*.

A test run that exceeds the per-mutant time budget counts as a failure (an infinite loop is a
bug the student would notice) and is reported separately. The plugin is disabled in these runs
(``-p no:tinytorch``): the tool applies the gate rule to the outcomes itself, and the
validation tests run whether or not the gate would have let them.

Some mutants change nothing observable (``extra > 0`` -> ``extra >= 0`` when summing over no
axes is the identity). They are excluded by the documented table in
``pytest_tinytorch.mutation_equivalents``.
"""

from __future__ import annotations

import ast
import copy
import difflib
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytest_tinytorch.curriculum import Curriculum, default_curriculum
from pytest_tinytorch.membership import TestIndex, unit_key
from pytest_tinytorch.mutation_equivalents import EQUIVALENT_MUTANTS, equivalence_reason
from pytest_tinytorch.release import LIBRARY_DIR, SolutionBlock, find_solution_blocks, module_key_for


class MutationError(Exception):
    """The mutation run cannot give meaningful figures: the message says what and why."""


# -- the operators: plausible student bugs -------------------------------------------------

ARITHMETIC_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
                    ast.FloorDiv: ast.Div, ast.Pow: ast.Mult}
COMPARISON_FLIPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
                    ast.In: ast.NotIn, ast.NotIn: ast.In}
SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Pow: "**",
           ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
           ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
FUNCTION_FAMILIES = [("max", "min"), ("amax", "amin"), ("maximum", "minimum"), ("argmax", "argmin"),
                     ("sum", "mean"), ("exp", "log"), ("zeros", "ones"), ("zeros_like", "ones_like"),
                     ("floor", "ceil")]
SWAPPED_NAMES = {a: b for pair in FUNCTION_FAMILIES for a, b in (pair, pair[::-1])}
BUILTIN_SWAPS = {"max": "min", "min": "max"}
"""Plain-name calls swap only where the other name exists as a builtin (``sum`` has no ``mean``)."""
IDENTITY_FUNCTIONS = {"exp", "log", "sqrt", "abs", "square", "tanh", "log1p", "expm1"}
"""``np.abs(x)`` -> ``x``: the function forgotten, its argument returned as it is."""
DROPPED_KEYWORDS = {"axis", "keepdims", "out"}


@dataclass(frozen=True)
class Mutant:
    """One plausible bug in one solution block, as the whole mutated file."""

    id: str  # "01_tensor:Tensor.max:247:swap_function:0"
    module: str  # "01_tensor"
    path: str  # "src/tinytorch/tensor.py"
    function: str  # "Tensor.max"
    line: int
    operator: str
    description: str  # "np.max(...) -> np.min(...)"
    original: str = field(repr=False)
    mutated: str = field(repr=False)

    @property
    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.original.splitlines(keepends=True), self.mutated.splitlines(keepends=True),
            f"a/{self.path}", f"b/{self.path}", n=1))


@dataclass(frozen=True)
class _Proposal:
    """A mutation found in the original tree, not yet rendered: ``rewrite`` edits a fresh copy."""

    node: ast.AST
    operator: str
    description: str
    rewrite: object  # callable(node copy) -> replacement node, list of statements, or None (remove)


def _short(node: ast.AST, limit: int = 40) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call_name(call: ast.Call) -> str | None:
    function = call.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)


def _with_name(call: ast.Call, name: str) -> ast.Call:
    if isinstance(call.func, ast.Attribute):
        call.func.attr = name
    else:
        call.func.id = name
    return call


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str)


def _arithmetic(node: ast.AST) -> list[_Proposal]:
    if isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC_SWAPS and not (
            _is_text(node.left) or _is_text(node.right)):
        new = ARITHMETIC_SWAPS[type(node.op)]

        def rewrite(copy_node, new=new):
            copy_node.op = new()
            return copy_node

        return [_Proposal(node, "arithmetic", f"{SYMBOLS[type(node.op)]} -> {SYMBOLS[new]} in {_short(node)}", rewrite)]
    if isinstance(node, ast.AugAssign) and type(node.op) in ARITHMETIC_SWAPS:
        new = ARITHMETIC_SWAPS[type(node.op)]

        def rewrite(copy_node, new=new):
            copy_node.op = new()
            return copy_node

        return [_Proposal(node, "arithmetic", f"{SYMBOLS[type(node.op)]}= -> {SYMBOLS[new]}= in {_short(node)}", rewrite)]
    return []


def _comparison(node: ast.AST) -> list[_Proposal]:
    if not isinstance(node, ast.Compare):
        return []
    proposals = []
    for index, operator in enumerate(node.ops):
        if type(operator) in COMPARISON_FLIPS:
            new = COMPARISON_FLIPS[type(operator)]

            def rewrite(copy_node, index=index, new=new):
                copy_node.ops[index] = new()
                return copy_node

            proposals.append(_Proposal(
                node, "comparison", f"{SYMBOLS[type(operator)]} -> {SYMBOLS[new]} in {_short(node)}", rewrite))
    return proposals


def _swap_function(node: ast.AST) -> list[_Proposal]:
    if not isinstance(node, ast.Call):
        return []
    name = _call_name(node)
    table = SWAPPED_NAMES if isinstance(node.func, ast.Attribute) else BUILTIN_SWAPS
    if name not in table:
        return []
    new = table[name]
    return [_Proposal(node, "swap_function", f"{name}(...) -> {new}(...) in {_short(node)}",
                      lambda copy_node: _with_name(copy_node, new))]


def _identity(node: ast.AST) -> list[_Proposal]:
    """``np.sqrt(x)`` -> ``x`` and ``x.exp()`` -> ``x``: the function forgotten."""
    if not isinstance(node, ast.Call) or _call_name(node) not in IDENTITY_FUNCTIONS or node.keywords:
        return []
    name = _call_name(node)
    if len(node.args) == 1 and not isinstance(node.args[0], ast.Starred):
        return [_Proposal(node, "identity", f"{_short(node)} -> {_short(node.args[0])}",
                          lambda copy_node: copy_node.args[0])]
    if not node.args and isinstance(node.func, ast.Attribute):
        return [_Proposal(node, "identity", f"{_short(node)} -> {_short(node.func.value)}",
                          lambda copy_node: copy_node.func.value)]
    return []


def _drop_keyword(node: ast.AST) -> list[_Proposal]:
    if not isinstance(node, ast.Call):
        return []
    proposals = []
    for index, keyword in enumerate(node.keywords):
        if keyword.arg in DROPPED_KEYWORDS:

            def rewrite(copy_node, index=index):
                del copy_node.keywords[index]
                return copy_node

            proposals.append(_Proposal(node, "drop_keyword", f"{keyword.arg}= dropped from {_short(node)}", rewrite))
    return proposals


def _constant(node: ast.AST) -> list[_Proposal]:
    """0 -> 1, 1 -> 0, 1 -> 2 (ints and floats; booleans are ``negation``'s)."""
    if not isinstance(node, ast.Constant) or type(node.value) not in (int, float) or node.value not in (0, 1):
        return []
    kind = type(node.value)
    targets = [kind(1)] if node.value == 0 else [kind(0), kind(2)]
    proposals = []
    for target in targets:

        def rewrite(copy_node, target=target):
            copy_node.value = target
            return copy_node

        proposals.append(_Proposal(node, "constant", f"{node.value!r} -> {target!r}", rewrite))
    return proposals


def _shifted(node: ast.expr, step: int) -> ast.expr:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return ast.Constant(node.value + step)
    return ast.BinOp(node, ast.Add() if step > 0 else ast.Sub(), ast.Constant(1))


def _off_by_one(node: ast.AST) -> list[_Proposal]:
    """``range(n)`` -> ``range(n + 1)`` / ``range(n - 1)``, and slice bounds moved by one."""
    spots = []  # (description of the spot, function that finds the spot in a copy)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        for index in range(len(node.args)):
            spots.append((f"argument {index + 1} of {_short(node)}",
                          lambda n, index=index: (n.args, index)))
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        for bound in ("lower", "upper"):
            if getattr(node.slice, bound) is not None:
                spots.append((f"{bound} bound of {_short(node)}", lambda n, bound=bound: (n.slice, bound)))
    proposals = []
    for where, locate in spots:
        for step in (1, -1):

            def rewrite(copy_node, locate=locate, step=step):
                holder, key = locate(copy_node)
                if isinstance(holder, list):
                    holder[key] = _shifted(holder[key], step)
                else:
                    setattr(holder, key, _shifted(getattr(holder, key), step))
                return copy_node

            proposals.append(_Proposal(node, "off_by_one", f"{'+1' if step > 0 else '-1'} on {where}", rewrite))
    return proposals


def _negation(node: ast.AST) -> list[_Proposal]:
    """``not x`` -> ``x``, ``-x`` -> ``x``, ``True`` <-> ``False``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        return [_Proposal(node, "negation", f"{_short(node)} -> {_short(node.operand)}",
                          lambda copy_node: copy_node.operand)]
    if isinstance(node, ast.Constant) and type(node.value) is bool:

        def rewrite(copy_node):
            copy_node.value = not copy_node.value
            return copy_node

        return [_Proposal(node, "negation", f"{node.value} -> {not node.value}", rewrite)]
    return []


def _swap_branches(node: ast.AST) -> list[_Proposal]:
    if isinstance(node, ast.IfExp):

        def rewrite(copy_node):
            copy_node.body, copy_node.orelse = copy_node.orelse, copy_node.body
            return copy_node

        return [_Proposal(node, "swap_branches", f"branches swapped in {_short(node)}", rewrite)]
    if isinstance(node, ast.If) and node.orelse and not _is_elif(node):

        def rewrite(copy_node):
            copy_node.body, copy_node.orelse = copy_node.orelse, copy_node.body
            return copy_node

        return [_Proposal(node, "swap_branches", f"if/else branches swapped under 'if {_short(node.test)}'", rewrite)]
    return []


def _is_elif(node: ast.If) -> bool:
    return len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If) and node.orelse[0].col_offset == node.col_offset


def _remove_statement(node: ast.AST, assigned_before: set[str]) -> list[_Proposal]:
    """A line forgotten: a call for its effect, an in-place update, a re-assignment, a whole
    ``if`` without ``else`` (a check, a clip), a ``raise``. Assignments of new names are kept:
    removing one is a NameError, not a plausible bug."""
    removable = (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        or isinstance(node, (ast.AugAssign, ast.Raise))
        or isinstance(node, ast.If) and not node.orelse
        or isinstance(node, ast.Assign) and all(
            name.id in assigned_before for target in node.targets for name in ast.walk(target)
            if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store))
    )
    if not removable:
        return []
    first_line = ast.unparse(node).splitlines()[0]
    shown = first_line if len(first_line) <= 60 else first_line[:57] + "..."
    return [_Proposal(node, "remove_statement", f"removed '{shown}'", lambda copy_node: None)]


EXPRESSION_OPERATORS = (_arithmetic, _comparison, _swap_function, _identity, _drop_keyword,
                        _constant, _off_by_one, _negation, _swap_branches)
OPERATOR_NAMES = ("arithmetic", "comparison", "swap_function", "identity", "drop_keyword", "constant",
                  "off_by_one", "negation", "swap_branches", "remove_statement")


# -- finding mutants inside solution blocks ----------------------------------------------


def _inside(node: ast.AST, block: SolutionBlock) -> bool:
    return block.begin_line < node.lineno and node.end_lineno < block.end_line


def _names_assigned(function: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of every parameter and assigned name in a function, in line order."""
    found = []
    arguments = function.args
    for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                     arguments.vararg, arguments.kwarg]:
        if argument is not None:
            found.append((function.lineno, argument.arg))
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.append((node.lineno, node.id))
    return found


def _in_message(node: ast.AST, parents: dict) -> bool:
    """True inside an f-string or the message of a ``raise``: mutating a message is noise."""
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.JoinedStr, ast.Raise)):
            return True
    return False


def _proposals(tree: ast.AST, blocks: list[SolutionBlock]) -> list[tuple[SolutionBlock, ast.AST, _Proposal]]:
    """(block, innermost enclosing function, proposal) of every mutation inside ``blocks``."""
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    assigned = {function: _names_assigned(function) for function in functions}
    found = []
    for node in ast.walk(tree):
        if not hasattr(node, "lineno"):
            continue
        block = next((b for b in blocks if _inside(node, b)), None)
        if block is None:
            continue
        function = min((f for f in functions if f.lineno < node.lineno <= f.end_lineno),
                       key=lambda f: f.end_lineno - f.lineno)
        proposals = []
        if isinstance(node, ast.stmt):
            before = {name for line, name in assigned[function] if line < node.lineno}
            proposals += _remove_statement(node, before)
        if not _in_message(node, parents):
            for operator in EXPRESSION_OPERATORS:
                proposals += operator(node)
        found += [(block, function, proposal) for proposal in proposals]
    found.sort(key=lambda item: (item[2].node.lineno, item[2].node.col_offset,
                                 OPERATOR_NAMES.index(item[2].operator)))
    return found


class _SourceText:
    """Offsets in a file's text from the syntax tree's (line, UTF-8 byte column) positions."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int, byte_column: int) -> int:
        raw = self.lines[line - 1].encode("utf-8")[:byte_column]
        return self.starts[line - 1] + len(raw.decode("utf-8"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)


def _same_position(a: ast.AST, b: ast.AST) -> bool:
    return type(a) is type(b) and all(
        getattr(a, name, None) == getattr(b, name, None)
        for name in ("lineno", "col_offset", "end_lineno", "end_col_offset"))


def _replace_in_tree(tree: ast.AST, target: ast.AST, rewrite) -> ast.AST | None:
    """Apply ``rewrite`` to the node of ``tree`` at ``target``'s position; return the new node."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, ast.AST) and _same_position(item, target):
                        new = rewrite(item)
                        if new is None:
                            del value[index]
                            if not value and name in ("body", "orelse", "finalbody"):
                                value.append(ast.Pass())
                        else:
                            value[index] = new
                        return new
            elif isinstance(value, ast.AST) and _same_position(value, target):
                new = rewrite(value)
                setattr(parent, name, new)
                return new
    raise MutationError(f"internal error: no node at line {target.lineno} to mutate")


def _function_dump(text: str, function: ast.AST, extra_lines: int) -> str | None:
    """The syntax tree (as ``ast.dump``) of ``function`` read back from ``text``, where the
    mutation moved its end by ``extra_lines``; None when it does not parse.

    Only the function is parsed and compared, not the whole file: hundreds of mutants per
    file would otherwise cost minutes."""
    lines = text.splitlines(keepends=True)[function.lineno - 1 : function.end_lineno + extra_lines]
    nested = function.col_offset > 0  # a method: parsed under ``if 1:``, keeping its indentation
    try:
        parsed = ast.parse(("if 1:\n" if nested else "") + "".join(lines))
    except SyntaxError:
        return None
    body = parsed.body[0].body if nested else parsed.body
    return ast.dump(body[0]) if len(parsed.body) == 1 and len(body) == 1 else None


def _render(source: _SourceText, function: ast.AST, proposal: _Proposal) -> str | None:
    """The mutated file text with only the mutated node's text changed, or None when no
    rendering parses back to the intended tree."""
    expected_function = copy.deepcopy(function)
    new = _replace_in_tree(expected_function, proposal.node, proposal.rewrite)
    expected_function.decorator_list = []  # above the ``def`` line: not in the text read back
    expected = ast.dump(expected_function)
    node = proposal.node
    if isinstance(node, ast.stmt):
        start = source.starts[node.lineno - 1]
        end = source.starts[node.end_lineno]
        if source.text[start:source.offset(node.lineno, node.col_offset)].strip() or \
                source.text[source.offset(node.end_lineno, node.end_col_offset):end].strip():
            return None  # shares its line with other code
        indent = " " * node.col_offset
        if new is None:
            candidates = ["", indent + "pass\n"]
        elif isinstance(node, ast.If):
            candidates = [_swapped_if_text(source, node, indent)]
        else:
            candidates = ["\n".join(indent + line for line in ast.unparse(new).splitlines()) + "\n"]
    else:
        start, end = source.span(node)
        text = ast.unparse(new)
        candidates = [text, f"({text})"]
    replaced_lines = source.text.count("\n", start, end)
    for candidate in candidates:
        mutated = source.text[:start] + candidate + source.text[end:]
        if _function_dump(mutated, function, candidate.count("\n") - replaced_lines) == expected:
            return mutated
    return None


def _swapped_if_text(source: _SourceText, node: ast.If, indent: str) -> str:
    """``if c:`` with the text of its two branches exchanged (comments inside them kept)."""
    def lines_of(statements):
        return "".join(source.lines[statements[0].lineno - 1 : statements[-1].end_lineno])

    header = "".join(source.lines[node.lineno - 1 : node.body[0].lineno - 1])
    between = "".join(source.lines[node.body[-1].end_lineno : node.orelse[0].lineno - 1])
    return header + lines_of(node.orelse) + between + lines_of(node.body)


def mutants_of_source(text: str, relative_path: str, module_key: str) -> list[Mutant]:
    """Every mutant of the solution blocks of one library file, in source order."""
    blocks = find_solution_blocks(text, relative_path)
    if not blocks:
        return []
    tree = ast.parse(text, filename=relative_path)
    source = _SourceText(text)
    mutants, counts = [], {}
    for block, function, proposal in _proposals(tree, blocks):
        mutated = _render(source, function, proposal)
        if mutated is None or mutated == text:
            continue
        function = block.task.split(" (", 1)[0]
        stem = f"{module_key}:{function}:{proposal.node.lineno}:{proposal.operator}"
        number = counts.get(stem, 0)
        counts[stem] = number + 1
        mutants.append(Mutant(f"{stem}:{number}", module_key, relative_path, function, proposal.node.lineno,
                              proposal.operator, proposal.description, text, mutated))
    return mutants


def library_files(root: Path) -> list[str]:
    """``src/tinytorch/*.py`` of the repository, as posix paths relative to ``root``."""
    return sorted(path.relative_to(root).as_posix() for path in (root / LIBRARY_DIR).glob("*.py"))


def find_mutants(root: Path, curriculum: Curriculum | None = None, modules: list[str] | None = None) -> list[Mutant]:
    """The mutants of every solution block of ``src/tinytorch/*.py`` (of ``modules`` only, if given)."""
    curriculum = curriculum or default_curriculum()
    wanted = {curriculum.module(name).key for name in modules} if modules else None
    found = []
    for relative in library_files(root):
        text = (root / relative).read_text(encoding="utf-8")
        if not find_solution_blocks(text, relative):
            continue
        key = module_key_for(relative, text, curriculum)
        if wanted is None or key in wanted:
            found += mutants_of_source(text, relative, key)
    return found


def split_equivalents(mutants: list[Mutant]) -> tuple[list[Mutant], list[tuple[Mutant, str]]]:
    """(mutants to run, [(equivalent mutant, reason)]) according to ``EQUIVALENT_MUTANTS``."""
    kept, excluded = [], []
    for mutant in mutants:
        reason = equivalence_reason(mutant.id, mutant.description)
        if reason is None:
            kept.append(mutant)
        else:
            excluded.append((mutant, reason))
    return kept, excluded


def sample_per_module(mutants: list[Mutant], size: int | None, seed: int) -> list[Mutant]:
    """At most ``size`` mutants of each module, the same ones for the same seed, in source order."""
    if size is None:
        return list(mutants)
    chosen = []
    for module in sorted({m.module for m in mutants}):
        own = [m for m in mutants if m.module == module]
        picked = random.Random(f"{seed}:{module}").sample(range(len(own)), min(size, len(own)))
        chosen += [own[index] for index in sorted(picked)]
    return chosen


# -- the tests each mutant faces ---------------------------------------------------------


@dataclass(frozen=True)
class TestPlan:
    """The test files of (a) the module, (b) its milestone's gate, (c) the milestone's validation."""

    __test__ = False  # not a pytest test class

    module: str
    unit_files: tuple[str, ...]
    gate_files: tuple[str, ...]  # every module of the group's unit tests, then the group's integration tests
    milestone: str | None
    validation_files: tuple[str, ...]


def module_test_plans(root: Path, curriculum: Curriculum | None = None) -> dict[str, TestPlan]:
    """module key -> its ``TestPlan``, from the test index (paths and markers) of ``root``."""
    curriculum = curriculum or default_curriculum()
    search = [root / name for name in ("modules", "milestones", "tests") if (root / name).is_dir()]
    index = TestIndex(root, search, [], curriculum)
    plans = {}
    for module in curriculum.modules:
        group = curriculum.group_of_module(module.name)
        gate = [f for name in group.modules for f in index.files_of(unit_key("module", name))]
        gate += [f for f in index.files_of(unit_key("group", group.name)) if f not in gate]
        milestone = curriculum.milestone_of_group(group.name)
        validation = index.files_of(unit_key("milestone", milestone.name)) if milestone else []
        plans[module.key] = TestPlan(module.key, tuple(index.files_of(unit_key("module", module.name))),
                                     tuple(gate), milestone.name if milestone else None, tuple(validation))
    return plans


# -- running tests in a copy of the repository -------------------------------------------

COPIED = ("src", "modules", "milestones", "conftest.py", "pyproject.toml")
NOT_COPIED = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".hypothesis", "*.pyc", "*.ipynb_checkpoints")
GUARD_MODULE = "tito_mutation_guard"
GUARD_SOURCE = '''"""Stop the run unless tinytorch is imported from the mutation copy (written by tito mutate)."""
import os
from pathlib import Path

import pytest


def pytest_configure(config):
    import tinytorch

    copy = Path(os.environ["TITO_MUTATION_COPY"]).resolve()
    where = Path(tinytorch.__file__).resolve()
    if not where.is_relative_to(copy):
        raise pytest.UsageError(f"tinytorch was imported from {where}, not from the mutation copy {copy}")
'''
PASSED, FAILED, TIMEOUT = "passed", "failed", "timeout"


@dataclass
class RunOutcome:
    """How one ``pytest -x`` run ended; ``failure`` is the first failing test's id."""

    status: str  # passed, failed or timeout
    failure: str | None = None
    seconds: float = 0.0


class RepositoryCopy:
    """A throw-away copy of what the tests need (``COPIED``), where one file at a time is mutated."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.path = Path(tempfile.mkdtemp(prefix="tito-mutate-"))
        try:
            for name in COPIED:
                source = self.root / name
                if source.is_dir():
                    shutil.copytree(source, self.path / name, ignore=NOT_COPIED)
                elif source.is_file():
                    shutil.copy2(source, self.path / name)
            guard = self.path / ".tito-mutate"
            guard.mkdir()
            (guard / f"{GUARD_MODULE}.py").write_text(GUARD_SOURCE, encoding="utf-8")
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def environment(self) -> dict[str, str]:
        environment = {key: value for key, value in os.environ.items()
                       if key not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "GITHUB_STEP_SUMMARY")}
        paths = [str(self.path / ".tito-mutate"), str(self.path / "src"),
                 *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        environment.update(PYTHONPATH=os.pathsep.join(paths), CI="1", HYPOTHESIS_PROFILE="ci",
                           PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", TITO_MUTATION_COPY=str(self.path))
        return environment

    def run_tests(self, files: tuple[str, ...] | list[str], timeout: float) -> RunOutcome:
        """``python -m pytest -x -q`` on ``files`` in the copy, killed after ``timeout`` seconds.

        A failing or erroring test, or a collection error (the module does not import), is a
        failure; no test collected, a usage error or an internal error stops the mutation run.
        """
        report = self.path / ".tito-mutate" / f"junit-{threading.get_ident()}.xml"
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:tinytorch",
                   "-p", GUARD_MODULE, "-o", "addopts=", "--rootdir", str(self.path),
                   f"--junitxml={report}", *files]
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=self.path, env=self.environment(), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return RunOutcome(TIMEOUT, None, time.monotonic() - started)
        seconds = time.monotonic() - started
        if process.returncode == 0:
            return RunOutcome(PASSED, None, seconds)
        if process.returncode in (1, 2):
            return RunOutcome(FAILED, _first_failure(report) or _last_line(output), seconds)
        raise MutationError(
            f"pytest exited with status {process.returncode} on {' '.join(files)} in {self.path}; expected "
            f"tests that run (0 passed, 1 failed, 2 collection error). Its output ends with:\n"
            + "\n".join(output.splitlines()[-15:]))

    def write(self, relative: str, text: str) -> None:
        (self.path / relative).write_text(text, encoding="utf-8")


def _first_failure(report: Path) -> str | None:
    try:
        tree = ElementTree.parse(report)
    except (OSError, ElementTree.ParseError):
        return None
    for case in tree.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            return f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
    return None


def _last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "pytest failed without output"


# -- running mutants ---------------------------------------------------------------------

KILLED, SURVIVED, LOCKED, UNLOCKED, LOST, KEPT, NO_MILESTONE, SCORES_NOTHING = (
    "killed", "survived", "locked", "unlocked", "lost points", "kept points", "no milestone", "locked, scores 0")
VALIDATION_MODES = ("all", "unlocked")
"""``all``: the validation tests run for every mutant, so (c) measures them on their own.
``unlocked``: they run only for mutants that leave the milestone unlocked; a locked milestone
scores nothing (``gating.Progress.rubric_scores``), so a locked mutant loses its points anyway.
Much faster, since most mutants are killed by the unit tests in seconds."""


@dataclass
class MutantResult:
    """What the three test sets made of one mutant."""

    id: str
    module: str
    description: str
    diff: str
    unit: str  # killed / survived
    gate: str  # locked / unlocked
    validation: str  # lost points / kept points / no milestone / locked, scores 0
    killed_by: str | None = None  # first failing test of the first set that failed
    timed_out: bool = False
    seconds: float = 0.0


def run_mutant(mutant: Mutant, plan: TestPlan, workspace: RepositoryCopy, timeout: float,
               validation_mode: str = "all") -> MutantResult:
    """Run (a), then (b) unless (a) already failed, then (c) (see ``VALIDATION_MODES``), in
    ``workspace``; the mutated file is restored afterwards."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    workspace.write(mutant.path, mutant.mutated)
    try:
        unit = workspace.run_tests(plan.unit_files, deadline - time.monotonic()) if plan.unit_files else RunOutcome(PASSED)
        gate = unit
        if unit.status == PASSED:
            rest = tuple(f for f in plan.gate_files if f not in plan.unit_files)
            gate = workspace.run_tests(rest, deadline - time.monotonic()) if rest else unit
        validation = None
        if plan.validation_files and (validation_mode == "all" or gate.status == PASSED):
            validation = workspace.run_tests(plan.validation_files, deadline - time.monotonic())
    finally:
        workspace.write(mutant.path, mutant.original)
    outcomes = [o for o in (unit, gate, validation) if o is not None]
    return MutantResult(
        mutant.id, mutant.module, mutant.description, mutant.diff,
        unit=SURVIVED if unit.status == PASSED else KILLED,
        gate=UNLOCKED if gate.status == PASSED else LOCKED,
        validation=(NO_MILESTONE if not plan.milestone else SCORES_NOTHING if validation is None
                    else KEPT if validation.status == PASSED else LOST),
        killed_by=next((o.failure or o.status for o in outcomes if o.status != PASSED), None),
        timed_out=any(o.status == TIMEOUT for o in outcomes),
        seconds=round(time.monotonic() - started, 2),
    )


def check_baseline(workspace: RepositoryCopy, plans: list[TestPlan], timeout: float) -> None:
    """The unmutated copy must pass every test set the mutants face; otherwise no figure means anything."""
    for files in sorted({files for plan in plans for files in (plan.unit_files, plan.gate_files, plan.validation_files)
                         if files}):
        outcome = workspace.run_tests(files, timeout)
        if outcome.status != PASSED:
            raise MutationError(
                f"the unmutated repository does not pass {' '.join(files)} ({outcome.status}: "
                f"{outcome.failure or 'time budget exceeded'}); fix that first, mutation figures would be meaningless")


def run_mutants(root: Path, mutants: list[Mutant], plans: dict[str, TestPlan], jobs: int = 1,
                timeout: float = 300.0, progress=None, baseline: bool = True,
                validation_mode: str = "all") -> list[MutantResult]:
    """Run every mutant in ``jobs`` separate copies of ``root``; results in the mutants' order.

    ``baseline`` first checks that the unmutated copy passes every test set involved.
    """
    if validation_mode not in VALIDATION_MODES:
        raise MutationError(f"validation mode {validation_mode!r}: expected one of {', '.join(VALIDATION_MODES)}")
    missing = sorted({m.module for m in mutants if not plans[m.module].unit_files})
    if missing:
        raise MutationError(f"no unit tests found for {', '.join(missing)}: expected modules/source/NN_name/test_*.py")
    copies = [RepositoryCopy(root) for _ in range(max(1, min(jobs, len(mutants) or 1)))]
    try:
        if baseline:
            check_baseline(copies[0], [plans[key] for key in sorted({m.module for m in mutants})], timeout)
        free: queue.Queue = queue.Queue()
        for workspace in copies:
            free.put(workspace)

        def one(mutant: Mutant) -> MutantResult:
            workspace = free.get()
            try:
                result = run_mutant(mutant, plans[mutant.module], workspace, timeout, validation_mode)
            finally:
                free.put(workspace)
            if progress is not None:
                progress(result)
            return result

        with ThreadPoolExecutor(max_workers=len(copies)) as pool:
            return list(pool.map(one, mutants))
    finally:
        for workspace in copies:
            workspace.remove()


# -- the report --------------------------------------------------------------------------


@dataclass
class ModuleSummary:
    module: str
    milestone: str | None
    mutants: int
    excluded: int
    unit_killed: int
    milestone_locked: int
    points_lost: int
    timeouts: int

    def share(self, count: int) -> float | None:
        return count / self.mutants if self.mutants else None


def summarize(results: list[MutantResult], excluded: list[tuple[Mutant, str]],
              plans: dict[str, TestPlan]) -> list[ModuleSummary]:
    modules = sorted({r.module for r in results} | {m.module for m, _ in excluded})
    summaries = []
    for module in modules:
        own = [r for r in results if r.module == module]
        summaries.append(ModuleSummary(
            module, plans[module].milestone, len(own), sum(m.module == module for m, _ in excluded),
            sum(r.unit == KILLED for r in own), sum(r.gate == LOCKED for r in own),
            sum(r.validation in (LOST, SCORES_NOTHING) for r in own), sum(r.timed_out for r in own)))
    return summaries


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_table(summaries: list[ModuleSummary]) -> str:
    header = (f"{'module':<16}{'milestone':<12}{'mutants':>8}{'excluded':>10}{'(a) unit':>10}"
              f"{'(b) locked':>12}{'(c) points':>12}{'timeouts':>10}")
    lines = [header, "-" * len(header)]
    for s in summaries:
        points = s.share(s.points_lost) if s.milestone else None
        lines.append(f"{s.module:<16}{s.milestone or '-':<12}{s.mutants:>8}{s.excluded:>10}"
                     f"{_percent(s.share(s.unit_killed)):>10}{_percent(s.share(s.milestone_locked)):>12}"
                     f"{_percent(points):>12}{s.timeouts:>10}")
    return "\n".join(lines)


def format_survivors(results: list[MutantResult]) -> str:
    """The mutants that leave their milestone unlocked, each with its diff."""
    parts = []
    for result in results:
        if result.gate == UNLOCKED:
            parts.append(f"{result.id}  {result.description}  (validation: {result.validation})\n{result.diff}")
    return "\n".join(parts)


def below_threshold(summaries: list[ModuleSummary], threshold: float) -> list[ModuleSummary]:
    """Modules with a milestone whose share (b) of mutants keeping it locked is under ``threshold``."""
    return [s for s in summaries if s.milestone and s.mutants and s.share(s.milestone_locked) < threshold]


def report_data(summaries: list[ModuleSummary], results: list[MutantResult],
                excluded: list[tuple[Mutant, str]], settings: dict) -> dict:
    """Everything of a run as JSON-ready data (``tito mutate --json``)."""
    return {
        "settings": settings,
        "modules": {
            s.module: {**asdict(s), "unit_killed_share": s.share(s.unit_killed),
                       "milestone_locked_share": s.share(s.milestone_locked),
                       "points_lost_share": s.share(s.points_lost) if s.milestone else None}
            for s in summaries},
        "mutants": [asdict(r) for r in results],
        "excluded": [{"id": m.id, "description": m.description, "reason": reason} for m, reason in excluded],
        "equivalents_table_entries": len(EQUIVALENT_MUTANTS),
    }


def mutant_from_replacement(root: Path, relative_path: str, old: str, new: str, description: str,
                             curriculum: Curriculum | None = None) -> Mutant:
    """A hand-written mutant: ``old`` (found once, inside a solution block) replaced by ``new``.

    For regression tests of bugs found by an audit, whose exact form no operator produces.
    """
    curriculum = curriculum or default_curriculum()
    text = (Path(root) / relative_path).read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise MutationError(f"{relative_path}: {old!r} occurs {text.count(old)} times; expected exactly once")
    start = text.index(old)
    first_line = text.count("\n", 0, start) + 1
    last_line = first_line + old.count("\n")
    block = next((b for b in find_solution_blocks(text, relative_path)
                  if b.begin_line < first_line and last_line < b.end_line), None)
    if block is None:
        raise MutationError(f"{relative_path}:{first_line}: {old!r} is not inside a solution block")
    function = block.task.split(" (", 1)[0]
    key = module_key_for(relative_path, text, curriculum)
    mutated = text[:start] + new + text[start + len(old):]
    return Mutant(f"{key}:{function}:{first_line}:replacement:0", key, relative_path, function, first_line,
                  "replacement", description, text, mutated)
