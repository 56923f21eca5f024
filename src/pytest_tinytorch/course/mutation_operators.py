"""The mutation operators of ``tito mutate``: plausible student bugs, put into solution blocks.

Each operator looks at one node of a library file's syntax tree and proposes the bugs a
student could plausibly write there: ``+`` for ``-``, ``<=`` for ``<``, ``np.min`` for
``np.max``, ``np.sqrt(x)`` forgotten, an ``axis=`` dropped, a ``1`` for a ``0``, a range one
too long, the branches of an ``if`` swapped, a line forgotten, a ``not`` dropped. Only nodes
inside ``# BEGIN SOLUTION`` / ``# END SOLUTION`` blocks (found by the release tool's
``find_solution_blocks``) are looked at: the code around them is given to students.

A mutant changes only the text of the mutated node (comments and layout elsewhere stay), and
is kept only when the changed function parses back to exactly the intended syntax tree, with
parentheses added where precedence needs them (``-np.abs(a + b)`` -> ``-(a + b)``).
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field

from pytest_tinytorch.course.release import SolutionBlock, find_solution_blocks


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
    description: str  # "max(...) -> min(...) in np.max(self.data, axis=axis)"
    original: str = field(repr=False)
    mutated: str = field(repr=False)

    @property
    def mutated_line(self) -> str:
        """The first line the mutation changed, as it reads in the mutant (stripped)."""
        before, after = self.original.splitlines(), self.mutated.splitlines()
        return next((b.strip() for a, b in zip(before, after) if a != b), "")

    @property
    def diff(self) -> str:
        """The change as a unified diff with one line of context.

        Made by hand, not with ``difflib``: a mutant is one contiguous change, and difflib
        treats lines as common as ``# END SOLUTION`` as noise in files over 200 lines, showing
        unchanged lines as changed."""
        before, after = self.original.splitlines(keepends=True), self.mutated.splitlines(keepends=True)
        first = next((i for i, (a, b) in enumerate(zip(before, after)) if a != b), min(len(before), len(after)))
        common_tail = 0
        while (common_tail < min(len(before), len(after)) - first
               and before[-1 - common_tail] == after[-1 - common_tail]):
            common_tail += 1
        low = max(first - 1, 0)
        end_before, end_after = len(before) - common_tail, len(after) - common_tail
        high = min(end_before + 1, len(before))
        lines = [f"--- a/{self.path}\n", f"+++ b/{self.path}\n",
                 f"@@ -{low + 1},{high - low} +{low + 1},{high - low + end_after - end_before} @@\n"]
        lines += [" " + line for line in before[low:first]]
        lines += ["-" + line for line in before[first:end_before]]
        lines += ["+" + line for line in after[first:end_after]]
        lines += [" " + line for line in before[end_before:high]]
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


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
