"""Tests of ``tito mutate`` (pytest_tinytorch.course.mutation): operators, block restriction, the runner.

The operators are checked on small snippets, with the exact mutated source. The runner runs on a
tiny synthetic repository whose four functions have one mutant each, with a known fate:
killed by the unit tests, killed by the integration tests only, caught by the milestone's
validation only, or surviving everything. The last tests run a few of the audit's real bugs
(issue #9) against the real repository's gate: they must keep their milestone locked.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import textwrap
from pathlib import Path

import pytest

from pytest_tinytorch.course import cli, mutation, mutation_equivalents
from pytest_tinytorch.course.mutation import (
    KEPT, KILLED, LOCKED, LOST, SCORES_NOTHING, SURVIVED, UNLOCKED, MutationError, RepositoryCopy,
    find_mutants, mutant_from_replacement, mutants_of_source, run_mutant, run_mutants, module_test_plans,
)

REPOSITORY = Path(__file__).resolve().parents[1]


def block(body: str, before: str = "", after: str = "", signature: str = "def f(x, y, n, values):") -> str:
    """A one-function module whose solution block holds ``body`` (dedented, indented 4)."""
    def indent(text):
        return textwrap.indent(textwrap.dedent(text).strip("\n"), "    ") + "\n" if text.strip() else ""

    return (f"import numpy as np\n\n\n{signature}\n{indent(before)}    # BEGIN SOLUTION\n{indent(body)}"
            f"    # END SOLUTION\n{indent(after)}")


def mutated_bodies(body: str, operator: str, **kwargs) -> dict[str, str]:
    """description -> the solution block's text after the mutation, for one operator."""
    source = block(body, **kwargs)
    found = {}
    for mutant in mutants_of_source(source, "src/tinytorch/tensor.py", "01_tensor"):
        if mutant.operator == operator:
            lines = mutant.mutated.splitlines()
            begin = lines.index("    # BEGIN SOLUTION")
            end = lines.index("    # END SOLUTION")
            found[mutant.description] = "\n".join(line[4:] for line in lines[begin + 1 : end])
    return found


# -- operators on snippets ---------------------------------------------------------------------


def test_arithmetic_swaps_plus_minus_times_divide_and_augmented_assignments():
    assert mutated_bodies("z = x + y * n", "arithmetic") == {
        "+ -> - in x + y * n": "z = x - y * n",
        "* -> / in y * n": "z = x + y / n",
    }
    assert mutated_bodies("x -= y", "arithmetic") == {"-= -> += in x -= y": "x += y"}
    assert mutated_bodies("z = x // n", "arithmetic") == {"// -> / in x // n": "z = x / n"}


def test_arithmetic_leaves_string_concatenation_alone():
    assert mutated_bodies("z = 'a' + str(x)", "arithmetic") == {}


def test_comparison_flips_strictness_and_equality():
    assert mutated_bodies("ok = x < y and n >= 2 and x is None", "comparison") == {
        "< -> <= in x < y": "ok = x <= y and n >= 2 and x is None",
        ">= -> > in n >= 2": "ok = x < y and n > 2 and x is None",
        "is -> is not in x is None": "ok = x < y and n >= 2 and x is not None",
    }


def test_function_swaps_stay_in_their_family():
    assert mutated_bodies("z = np.max(x, axis=0) + x.sum() + max(n, 1)", "swap_function") == {
        "max(...) -> min(...) in np.max(x, axis=0)": "z = np.min(x, axis=0) + x.sum() + max(n, 1)",
        "sum(...) -> mean(...) in x.sum()": "z = np.max(x, axis=0) + x.mean() + max(n, 1)",
        "max(...) -> min(...) in max(n, 1)": "z = np.max(x, axis=0) + x.sum() + min(n, 1)",
    }
    assert mutated_bodies("z = sum(values)", "swap_function") == {}  # no builtin mean


def test_identity_returns_the_argument_with_parentheses_where_needed():
    assert mutated_bodies("z = np.abs(x)", "identity") == {"np.abs(x) -> x": "z = x"}
    assert mutated_bodies("z = -np.sqrt(x + y)", "identity") == {"np.sqrt(x + y) -> x + y": "z = -(x + y)"}
    assert mutated_bodies("z = x.exp()", "identity") == {"x.exp() -> x": "z = x"}
    assert mutated_bodies("np.exp(x, out=y)", "identity") == {}  # with out= it is not a pure function


def test_drop_keyword_removes_axis_keepdims_and_out_one_at_a_time():
    assert mutated_bodies("z = np.sum(x, axis=1, keepdims=1, dtype=n)", "drop_keyword") == {
        "axis= dropped from np.sum(x, axis=1, keepdims=1, dtype=n)": "z = np.sum(x, keepdims=1, dtype=n)",
        "keepdims= dropped from np.sum(x, axis=1, keepdims=1, dtype=n)": "z = np.sum(x, axis=1, dtype=n)",
    }


def test_constants_zero_one_two():
    assert mutated_bodies("z = x[0] * 1.0 + 7", "constant") == {
        "0 -> 1": "z = x[1] * 1.0 + 7",
        "1.0 -> 0.0": "z = x[0] * 0.0 + 7",
        "1.0 -> 2.0": "z = x[0] * 2.0 + 7",
    }


def test_off_by_one_in_ranges_and_slices():
    assert mutated_bodies("z = [values[:i] for i in range(n)]", "off_by_one") == {
        "+1 on upper bound of values[:i]": "z = [values[:i + 1] for i in range(n)]",
        "-1 on upper bound of values[:i]": "z = [values[:i - 1] for i in range(n)]",
        "+1 on argument 1 of range(n)": "z = [values[:i] for i in range(n + 1)]",
        "-1 on argument 1 of range(n)": "z = [values[:i] for i in range(n - 1)]",
    }


def test_swap_branches_exchanges_the_text_of_if_and_else():
    body = """
    if x > 0:
        z = x  # positive
    else:
        z = -x
    """
    assert mutated_bodies(body, "swap_branches") == {
        "if/else branches swapped under 'if x > 0'": "if x > 0:\n    z = -x\nelse:\n    z = x  # positive",
    }
    assert mutated_bodies("z = x if n else y", "swap_branches") == {
        "branches swapped in x if n else y": "z = y if n else x",
    }


def test_remove_statement_forgets_effects_and_reassignments_but_not_new_names():
    body = """
    z = x * 2
    z = z + y
    if n < 0:
        raise ValueError("negative")
    values.append(z)
    """
    assert mutated_bodies(body, "remove_statement") == {
        "removed 'z = z + y'": 'z = x * 2\nif n < 0:\n    raise ValueError("negative")\nvalues.append(z)',
        "removed 'if n < 0:'": "z = x * 2\nz = z + y\nvalues.append(z)",
        "removed 'raise ValueError('negative')'": "z = x * 2\nz = z + y\nif n < 0:\n    pass\nvalues.append(z)",
        "removed 'values.append(z)'": 'z = x * 2\nz = z + y\nif n < 0:\n    raise ValueError("negative")',
    }


def test_negation_removal():
    assert mutated_bodies("z = -x if not n else True", "negation") == {
        "-x -> x": "z = x if not n else True",
        "not n -> n": "z = -x if n else True",
        "True -> False": "z = -x if not n else False",
    }


def test_messages_are_not_mutated():
    mutants = mutants_of_source(block('raise ValueError(f"bad {n + 1}: {x[0]}")'), "src/tinytorch/tensor.py", "01_tensor")
    assert [m.operator for m in mutants] == ["remove_statement"]


def test_mutant_ids_are_module_function_line_operator_and_a_counter():
    source = block("z = x + y + n")
    ids = [m.id for m in mutants_of_source(source, "src/tinytorch/tensor.py", "01_tensor")]
    line = source.splitlines().index("    z = x + y + n") + 1
    assert ids == [f"01_tensor:f:{line}:arithmetic:0", f"01_tensor:f:{line}:arithmetic:1"]


def test_diff_shows_exactly_the_changed_lines_even_in_a_long_file():
    """difflib would show the repeated '# END SOLUTION' lines of a long file as changed."""
    filler = "".join(f"def g{i}(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n\n\n" for i in range(60))
    source = filler + block("z = x + 1")
    mutant = next(m for m in mutants_of_source(source, "src/tinytorch/tensor.py", "01_tensor")
                  if m.description == "+ -> - in x + 1")
    line = source.splitlines().index("    z = x + 1") + 1
    assert mutant.diff == (
        "--- a/src/tinytorch/tensor.py\n+++ b/src/tinytorch/tensor.py\n"
        f"@@ -{line - 1},3 +{line - 1},3 @@\n"
        "     # BEGIN SOLUTION\n-    z = x + 1\n+    z = x - 1\n     # END SOLUTION\n")
    removal = next(m for m in mutants_of_source(block("z = x\nz = z + y"), "src/tinytorch/tensor.py", "01_tensor")
                   if m.operator == "remove_statement")
    assert removal.diff.splitlines()[2:] == ["@@ -6,3 +6,2 @@", "     z = x", "-    z = z + y", "     # END SOLUTION"]


# -- only solution blocks are mutated ------------------------------------------------------------


def test_code_outside_solution_blocks_is_never_mutated():
    source = block("z = x + 1", before="w = x - 1\nif n > 0:\n    w = -w", after="return np.max(w + z)")
    mutants = mutants_of_source(source, "src/tinytorch/tensor.py", "01_tensor")
    assert sorted(m.description for m in mutants) == ["+ -> - in x + 1", "1 -> 0", "1 -> 2"]
    lines = source.splitlines()
    inside = range(lines.index("    # BEGIN SOLUTION") + 1, lines.index("    # END SOLUTION"))
    for mutant in mutants:
        changed = [i for i, (a, b) in enumerate(zip(lines, mutant.mutated.splitlines())) if a != b]
        assert changed and all(i in inside for i in changed), mutant.id


def test_every_mutant_of_the_real_library_changes_only_lines_inside_its_blocks():
    mutants = find_mutants(REPOSITORY, modules=["tensor", "optimizers"])
    assert {m.module for m in mutants} == {"01_tensor", "06_optimizers"}
    inside_of = {}
    for mutant in mutants:
        original = mutant.original.splitlines()
        if mutant.path not in inside_of:
            blocks = mutation.find_solution_blocks(mutant.original, mutant.path)
            inside_of[mutant.path] = {n for b in blocks for n in range(b.begin_line + 1, b.end_line)}
        inside = inside_of[mutant.path]
        mutated = mutant.mutated.splitlines()
        first = next(i for i, (a, b) in enumerate(zip(original, mutated)) if a != b) + 1
        tail = next(i for i, (a, b) in enumerate(zip(reversed(original), reversed(mutated))) if a != b)
        last_original = len(original) - tail
        assert first in inside and last_original in inside, f"{mutant.id} changes line {first}-{last_original}"
        compile(mutant.mutated, mutant.path, "exec")


def test_a_replacement_outside_a_block_is_refused():
    with pytest.raises(MutationError, match="not inside a solution block"):
        mutant_from_replacement(REPOSITORY, "src/tinytorch/tensor.py", "DEFAULT_DTYPE = np.float32",
                                "DEFAULT_DTYPE = np.float64", "scaffolding")


# -- equivalent mutants ---------------------------------------------------------------------------


def test_equivalents_table_excludes_matching_mutants_with_their_reason(monkeypatch):
    source = block("z = x + 1")
    mutants = mutants_of_source(source, "src/tinytorch/tensor.py", "01_tensor")
    monkeypatch.setattr(mutation_equivalents, "EQUIVALENT_MUTANTS", (
        mutation_equivalents.Equivalent("01_tensor:f:*:constant:*", "1 -> 2", "z is only compared with 0"),))
    kept, excluded = mutation.split_equivalents(mutants)
    assert [m.description for m in kept] == ["+ -> - in x + 1", "1 -> 0"]
    assert [(m.description, reason) for m, reason in excluded] == [("1 -> 2", "z is only compared with 0")]
    monkeypatch.setattr(mutation_equivalents, "EQUIVALENT_MUTANTS", (
        mutation_equivalents.Equivalent("01_tensor:f:*", "*", "only this line", mutated_line="z = x - 1"),))
    assert [m.description for m, _ in mutation.split_equivalents(mutants)[1]] == ["+ -> - in x + 1"]


def test_every_entry_of_the_real_equivalents_table_matches_a_real_mutant():
    """A stale entry (the code changed) would silently stop excluding anything."""
    descriptions = [(m.id, m.description, m.mutated_line) for m in find_mutants(REPOSITORY)]
    for entry in mutation_equivalents.EQUIVALENT_MUTANTS:
        matches = [d for d in descriptions if mutation_equivalents.equivalence_reason(*d) == entry.reason]
        assert matches, f"no mutant matches {entry}"
        assert entry.reason.strip() and len(entry.reason) > 20


# -- the runner on a synthetic repository -----------------------------------------------------------

LIBRARY = '''
def total(a, b):
    # BEGIN SOLUTION
    result = a + b
    # END SOLUTION
    return result


def product(a, b):
    # BEGIN SOLUTION
    result = a * b
    # END SOLUTION
    return result


def power(a, b):
    # BEGIN SOLUTION
    result = a ** b
    # END SOLUTION
    return result


def biggest(values):
    # BEGIN SOLUTION
    result = max(values)
    # END SOLUTION
    return result
'''
TESTS = {
    "modules/source/01_tensor/test_tensor.py": "from tinytorch.tensor import total\n\n\n"
                                              "def test_total():\n    assert total(2, 3) == 5\n",
    "modules/tests/integration/test_modules_01_04.py": "from tinytorch.tensor import product\n\n\n"
                                                       "def test_product():\n    assert product(2, 4) == 8\n",
    "milestones/01_perceptron/test_perceptron.py": "from tinytorch.tensor import biggest, power\n\n\n"
                                                   "def test_power():\n    assert power(3, 3) == 27\n\n\n"
                                                   "def test_biggest_of_one():\n    assert biggest([4]) == 4\n",
}
FATES = {  # mutant description -> (unit, gate, validation with mode "all")
    "+ -> - in a + b": (KILLED, LOCKED, KEPT),
    "* -> / in a * b": (SURVIVED, LOCKED, KEPT),
    "** -> * in a ** b": (SURVIVED, UNLOCKED, LOST),
    "max(...) -> min(...) in max(values)": (SURVIVED, UNLOCKED, KEPT),
}


def write_synthetic_repository(root: Path) -> Path:
    files = {"pyproject.toml": "[project]\nname = 'mini'\n", "conftest.py": "",
             "src/tinytorch/__init__.py": "", "src/tinytorch/tensor.py": LIBRARY, **TESTS,
             "README.md": "not copied\n",
             # a tooling test that looks a milestone up, which a marker scan takes for a marker
             "tests/test_tooling.py": "from pytest_tinytorch.plugin.curriculum import default_curriculum\n\n"
                                      "PERCEPTRON = default_curriculum().milestone('perceptron')\n"}
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    return root


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {path.relative_to(root).as_posix(): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
            for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    """The synthetic repository, and a private temporary folder for the runner's copies.

    Its tests need no pytest plugin: not loading the installed ones makes each run start fast."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    (tmp_path / "scratch").mkdir()
    return write_synthetic_repository(tmp_path / "repository")


def test_runner_on_a_synthetic_repository_knows_which_mutants_die_where(synthetic, tmp_path):
    before = snapshot(synthetic)
    mutants = find_mutants(synthetic)
    assert sorted(m.description for m in mutants) == sorted(FATES)
    plans = module_test_plans(synthetic)
    assert plans["01_tensor"].unit_files == ("modules/source/01_tensor/test_tensor.py",)
    assert plans["01_tensor"].gate_files == ("modules/source/01_tensor/test_tensor.py",
                                             "modules/tests/integration/test_modules_01_04.py")
    assert plans["01_tensor"].milestone == "perceptron"
    assert plans["01_tensor"].validation_files == ("milestones/01_perceptron/test_perceptron.py",)
    results = run_mutants(synthetic, mutants, plans, jobs=2, timeout=120)
    assert {r.description: (r.unit, r.gate, r.validation) for r in results} == FATES
    killed_by = {r.description: r.killed_by for r in results}
    assert killed_by["+ -> - in a + b"].endswith("test_total")
    assert killed_by["* -> / in a * b"].endswith("test_product")
    assert killed_by["** -> * in a ** b"].endswith("test_power")
    assert killed_by["max(...) -> min(...) in max(values)"] is None

    summary, = mutation.summarize(results, [], plans)
    assert (summary.mutants, summary.unit_killed, summary.milestone_locked, summary.points_lost) == (4, 1, 2, 1)
    table = mutation.format_table([summary])
    assert table.splitlines()[2].split() == ["01_tensor", "perceptron", "4", "4", "0", "25.0%", "50.0%", "25.0%", "0"]
    survivors = mutation.format_survivors(results)
    assert "-    result = max(values)\n+    result = min(values)" in survivors
    assert "result = a / b" not in survivors and "result = a - b" not in survivors  # locked: not survivors

    assert snapshot(synthetic) == before  # the working tree is untouched
    assert list((tmp_path / "scratch").iterdir()) == []  # and every copy is removed


def test_threshold_sets_the_exit_status_and_json_holds_the_figures(synthetic, tmp_path, capsys):
    report = tmp_path / "mutation.json"
    code = cli.main(["--root", str(synthetic), "mutate", "--threshold", "0.6", "--validation", "unlocked",
                     "--json", str(report)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "01_tensor (50.0%)" in err and "60%" in err
    assert "4 mutants in the solution blocks, 0 excluded as equivalent, 4 to run" in out
    data = json.loads(report.read_text())
    figures = data["modules"]["01_tensor"]
    assert (figures["unit_killed_share"], figures["milestone_locked_share"], figures["points_lost_share"]) == (
        0.25, 0.5, 0.75)  # locked milestones score nothing: the 2 locked mutants lose their points too
    assert {m["description"]: m["validation"] for m in data["mutants"]} == {
        "+ -> - in a + b": SCORES_NOTHING, "* -> / in a * b": SCORES_NOTHING,
        "** -> * in a ** b": LOST, "max(...) -> min(...) in max(values)": KEPT}
    assert data["settings"]["validation"] == "unlocked"
    assert (figures["found"], figures["mutants"], figures["excluded"]) == (4, 4, 0)


def test_below_threshold_only_for_modules_with_a_milestone():
    def summary(module, milestone, locked):
        return mutation.ModuleSummary(module, milestone, 20, 0, 20, locked, locked, locked, 0)

    summaries = [summary("01_tensor", "perceptron", 19), summary("05_autograd", "mlp", 18),
                 summary("10_tokenization", None, 0)]
    assert [s.module for s in mutation.below_threshold(summaries, 0.95)] == ["05_autograd"]
    assert mutation.below_threshold(summaries, 0.90) == []


def test_sample_is_deterministic_per_module_and_seed():
    mutants = find_mutants(REPOSITORY, modules=["tensor", "layers"])
    first = [m.id for m in mutation.sample_per_module(mutants, 5, seed=3)]
    assert first == [m.id for m in mutation.sample_per_module(mutants, 5, seed=3)]
    assert first != [m.id for m in mutation.sample_per_module(mutants, 5, seed=4)]
    assert [m.split(":")[0] for m in first] == ["01_tensor"] * 5 + ["03_layers"] * 5


def test_an_endless_loop_is_a_timeout_that_counts_as_killed(synthetic):
    mutant = mutant_from_replacement(synthetic, "src/tinytorch/tensor.py", "result = a + b",
                                     "while True:\n        pass", "endless loop")
    workspace = RepositoryCopy(synthetic)
    try:
        result = run_mutant(mutant, module_test_plans(synthetic)["01_tensor"], workspace, timeout=8)
    finally:
        workspace.remove()
    assert (result.unit, result.gate, result.timed_out, result.killed_by) == (KILLED, LOCKED, True, "timeout")
    assert 8 <= result.seconds < 30


def test_the_copy_must_import_its_own_tinytorch(synthetic):
    workspace = RepositoryCopy(synthetic)
    try:
        for path in sorted((workspace.path / "src" / "tinytorch").iterdir(), reverse=True):
            path.unlink()
        (workspace.path / "src" / "tinytorch").rmdir()  # the installed tinytorch would be imported
        with pytest.raises(MutationError, match="not from the mutation copy"):
            workspace.run_tests(["modules/source/01_tensor/test_tensor.py"], timeout=120)
    finally:
        workspace.remove()


# -- the audit's bugs against the real repository's gate (issue #9) ---------------------------------

AUDIT_MUTANTS = [  # (file, solution text, bug, what it is)
    ("src/tinytorch/tensor.py", "data = np.max(self.data, axis=axis, keepdims=keepdims)",
     "data = np.min(self.data, axis=axis, keepdims=keepdims)", "Tensor.max computes the minimum"),
    ("src/tinytorch/tensor.py", "data = np.sum(self.data, axis=axis, keepdims=keepdims)",
     "data = np.mean(self.data, axis=axis, keepdims=keepdims)", "Tensor.sum computes the mean"),
    ("src/tinytorch/tensor.py", "data = np.exp(self.data)", "data = self.data", "exp returns its input"),
    ("src/tinytorch/layers.py", "mask = (keep / (1.0 - self.p))", "mask = (keep / (1.0 + self.p))",
     "Dropout scaled by 1/(1+p)"),
    ("src/tinytorch/losses.py", "        data = losses.sum()", "        data = losses.mean()",
     "cross-entropy 'sum' reduction averages"),
    ("src/tinytorch/optimizers.py", "denominator /= math.sqrt(bias_correction2)",
     "denominator /= bias_correction2", "Adam's bias correction without its square root"),
    ("src/tinytorch/optimizers.py", "if weight_decay and self.decoupled_weight_decay:", "if False:",
     "AdamW's decay coupled into the gradient"),
    ("src/tinytorch/training.py", "        self.check_finite(loss_value)\n", "",
     "the NaN-loss check removed"),
]


@pytest.fixture(scope="module")
def real_copy():
    """A copy of the real repository whose unmutated unit tests of the audited modules pass
    (the negative control: a failure below must come from the bug, not from a broken test)."""
    workspace = RepositoryCopy(REPOSITORY)
    try:
        plans = module_test_plans(REPOSITORY)
        modules = {mutation.module_key_for(path, (REPOSITORY / path).read_text(encoding="utf-8"),
                                           mutation.default_curriculum()) for path, *_ in AUDIT_MUTANTS}
        unit_files = sorted({f for key in modules for f in plans[key].unit_files})
        assert workspace.run_tests(unit_files, timeout=300).status == mutation.PASSED
        yield workspace
    finally:
        workspace.remove()


@pytest.mark.parametrize("path, solution, bug, what", AUDIT_MUTANTS, ids=[m[3] for m in AUDIT_MUTANTS])
def test_audit_bug_keeps_its_milestone_locked(real_copy, path, solution, bug, what):
    mutant = mutant_from_replacement(REPOSITORY, path, solution, bug, what)
    plan = module_test_plans(REPOSITORY)[mutant.module]
    result = run_mutant(mutant, plan, real_copy, timeout=120, validation_mode="unlocked")
    assert (result.gate, result.validation) == (LOCKED, SCORES_NOTHING), result.killed_by
    assert (real_copy.path / path).read_text(encoding="utf-8") == mutant.original  # restored for the next one


def test_a_milestone_without_validation_tests_yet_shows_no_points_figure(synthetic):
    (synthetic / "milestones/01_perceptron/test_perceptron.py").unlink()
    plans = module_test_plans(synthetic)
    assert (plans["01_tensor"].milestone, plans["01_tensor"].validation_files) == ("perceptron", ())
    mutant = next(m for m in find_mutants(synthetic) if m.description == "max(...) -> min(...) in max(values)")
    results = run_mutants(synthetic, [mutant], plans, timeout=120)
    assert (results[0].gate, results[0].validation) == (UNLOCKED, mutation.NO_MILESTONE)
    summary, = mutation.summarize(results, [], plans)
    assert summary.points_lost is None
    assert mutation.format_table([summary]).splitlines()[2].split() == [
        "01_tensor", "perceptron", "1", "1", "0", "0.0%", "0.0%", "-", "0"]
    assert [s.module for s in mutation.below_threshold([summary], 0.95)] == ["01_tensor"]  # the gate still counts


def test_tito_mutate_reports_how_many_equivalents_it_excluded(synthetic, monkeypatch, capsys):
    monkeypatch.setattr(mutation_equivalents, "EQUIVALENT_MUTANTS", (
        mutation_equivalents.Equivalent("01_tensor:biggest:*:swap_function:*", "*", "a test-only entry"),))
    assert cli.main(["--root", str(synthetic), "mutate", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "4 mutants in the solution blocks, 1 excluded as equivalent, 3 to run"
    assert [line.split("  ")[1] for line in out[1:]] == ["+ -> - in a + b", "* -> / in a * b", "** -> * in a ** b"]
