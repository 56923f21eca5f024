"""Gating on a synthetic course: pass, fail, partial runs, stale code, IDE runs, --milestone."""

import json

pytest_plugins = ["pytester"]


def test_full_passing_run_unlocks_and_completes(course):
    result, report = course.run_with_report()
    result.assert_outcomes(passed=10)
    assert course.states(report) == {
        "modules": {"alpha": "passed", "beta": "passed", "gamma": "not run"},
        "groups": {"01_02": "passed", "03_03": "passed"},
        "milestones": {"first": "COMPLETE", "second": "COMPLETE"},
    }
    result.stdout.fnmatch_lines(["Milestone 1: First COMPLETE", "Milestone 2: Second COMPLETE"])
    assert result.ret == 0


def test_failing_group_locks_its_milestones_and_skips_their_tests(course):
    course.break_add()
    result, report = course.run_with_report("-rs")
    result.assert_outcomes(passed=3, failed=3, skipped=4)
    assert report["groups"]["01_02"]["state"] == "failed"
    assert report["groups"]["03_03"]["state"] == "passed"
    assert report["milestones"]["first"]["state"] == "LOCKED"
    assert report["milestones"]["second"]["state"] == "LOCKED"
    assert report["groups"]["01_02"]["failing"] == [
        "modules/tests/integration/test_modules_01_02.py::test_add_then_mul",
        "modules/tests/integration/test_modules_01_02.py::test_add_is_commutative",
    ]
    result.stdout.fnmatch_lines([
        "SKIPPED * milestones/01_first/test_first.py:*: Milestone 1: First is LOCKED: unit tests of "
        "module alpha failed (*test_alpha_unit.py::test_add_small); integration "
        "group 01_02 failed (*test_add_then_mul, *test_add_is_commutative). "
        "Run: pytest modules/source/01_alpha/test_alpha_unit.py",
    ])
    assert report["groups"]["01_02"]["gate"] == {"state": "failed", "units": {
        "module:alpha": "failed", "module:beta": "passed", "group:01_02": "failed"}}
    assert [entry["unit"] for entry in report["milestones"]["first"]["locked_by"]] == [
        "module:alpha", "group:01_02"]
    assert report["milestones"]["first"]["score"] == 0


def break_mul_for_negatives(course) -> None:
    """A bug the integration tests cannot see (they multiply non-negative numbers only) but a
    unit test of module beta can: the course plan's gate must keep Milestone 1 locked."""
    course.edit_implementation("return a * b", "return a * b if a >= 0 else 0")
    course.write("modules/source/02_beta/test_beta_signs.py", '''
        from mypkg import mul

        def test_mul_negative():
            assert mul(-2, 3) == -6
    ''')


def test_a_bug_only_unit_tests_see_keeps_the_milestone_locked(course):
    break_mul_for_negatives(course)
    result, report = course.run_with_report("-rs")
    result.assert_outcomes(passed=6, failed=1, skipped=4)
    assert report["groups"]["01_02"]["state"] == "passed"  # its integration tests alone pass
    assert report["groups"]["01_02"]["gate"]["state"] == "failed"
    assert report["milestones"]["first"]["state"] == "LOCKED"
    assert report["milestones"]["first"]["score"] == 0
    assert report["milestones"]["first"]["locked_by"] == [{
        "unit": "module:beta", "state": "failed",
        "failing": ["modules/source/02_beta/test_beta_signs.py::test_mul_negative"]}]
    result.stdout.fnmatch_lines([
        "SKIPPED * Milestone 1: First is LOCKED: unit tests of module beta failed "
        "(modules/source/02_beta/test_beta_signs.py::test_mul_negative). "
        "Run: pytest modules/source/02_beta/test_beta_signs.py modules/source/02_beta/test_beta_unit.py",
    ])
    status = course.status()
    status.stdout.fnmatch_lines([
        "  01_02 (alpha..beta) * failed * 3/3 tests; unit tests failing in beta",
        "  Milestone 1: First * LOCKED * requires 01_02",
        "Next: pytest modules/source/02_beta/test_beta_signs.py modules/source/02_beta/test_beta_unit.py",
    ])


def test_unit_tests_are_rechecked_before_a_milestone_runs(course):
    """A milestone run from an IDE re-runs the stale unit tests of its groups' modules too, and
    a unit-test failure found there locks the milestone."""
    course.run()
    break_mul_for_negatives(course)
    result = course.run("-rs", "milestones/01_first/test_first.py::test_training")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([
        "tinytorch: running unit tests of module alpha, unit tests of module beta, integration group "
        "01_02 against the current code first*",
        "SKIPPED * Milestone 1: First is LOCKED: unit tests of module beta failed*",
    ])
    course.edit_implementation("return a * b if a >= 0 else 0", "return a * b")
    fixed = course.run("--milestone=first")
    fixed.assert_outcomes(passed=9)
    fixed.stdout.fnmatch_lines(["Milestone 1: First COMPLETE"])


def test_fixing_the_code_unlocks_then_breaking_it_relocks(course):
    course.break_add()
    course.run()
    course.edit_implementation("return a - b", "return a + b")
    fixed = course.run()
    fixed.stdout.fnmatch_lines(["Milestone 1: First COMPLETE"])
    course.break_add()
    broken = course.run()
    broken.stdout.fnmatch_lines(["Milestone 1: First LOCKED — run: pytest modules/source/01_alpha/test_alpha_unit.py"])


def test_single_test_or_keyword_run_on_fresh_state_passes_nothing(course):
    _result, report = course.run_with_report(
        "modules/tests/integration/test_modules_01_02.py::test_mul_by_zero")
    assert report["groups"]["01_02"]["state"] == "not run"
    assert report["milestones"]["first"]["state"] == "LOCKED"
    _result, report = course.run_with_report("-k", "add_then or commutative", "modules")
    assert report["groups"]["01_02"]["state"] == "not run"


def test_partial_runs_after_a_full_run_change_nothing(course):
    course.run()
    before = json.loads(course.state_file.read_text())
    one = course.run("modules/tests/integration/test_modules_01_02.py::test_mul_by_zero")
    one.assert_outcomes(passed=1)
    keyword = course.run("-k", "mul")
    keyword.assert_outcomes(passed=4)
    _result, report = course.run_with_report("-k", "nothing_matches_this")
    after = json.loads(course.state_file.read_text())
    assert after["milestone_states"] == before["milestone_states"] == {"first": "COMPLETE", "second": "COMPLETE"}
    assert report["milestones"]["first"]["state"] == "COMPLETE"
    assert "UNLOCKED" not in one.stdout.str() + keyword.stdout.str()


def test_a_partial_run_with_a_failure_fails_the_group(course):
    course.run()
    course.break_add()
    result, report = course.run_with_report("modules/tests/integration/test_modules_01_02.py::test_add_then_mul")
    result.assert_outcomes(failed=1)
    assert report["groups"]["01_02"]["state"] == "failed"
    assert report["milestones"]["first"]["state"] == "LOCKED"
    result.stdout.fnmatch_lines(["Milestone 1: First LOCKED*"])


def test_edited_code_makes_records_stale_and_status_recomputes_them(course):
    course.run()
    course.edit_implementation("return a * b", "return b * a  # same maths, new fingerprint")
    _result, report = course.run_with_report("modules/source/02_beta")
    assert report["modules"]["beta"]["state"] == "passed"
    assert report["groups"]["01_02"]["state"] == "stale"
    assert report["modules"]["alpha"]["state"] == "stale"
    status = course.status()
    assert status.ret == 0
    status.stdout.fnmatch_lines([
        "re-running against the current code: unit tests of module alpha, integration group 01_02, "
        "integration group 03_03 ...",
        "Integration groups (gate: unit tests + integration tests)",
        "  01_02 (alpha..beta) * passed * 3/3 tests",
        "  03_03 (gamma..gamma) * passed * 1/1 tests",
    ])
    course.break_neg()
    status = course.status()
    status.stdout.fnmatch_lines([
        "re-running against the current code: unit tests of module alpha, unit tests of module beta, "
        "integration group 01_02, integration group 03_03 ...",
        "  03_03 (gamma..gamma) * failed * 0/1 tests; failing: *test_modules_03_03.py::test_neg",
        "  Milestone 2: Second * LOCKED * requires 01_02, 03_03",
        "Next: pytest --milestone=first",
        "Milestone 2: Second LOCKED — run: pytest modules/tests/integration/test_modules_03_03.py",
    ])
    assert status.ret == 0


def test_status_shows_module_rows_and_the_next_command(course):
    course.run("modules/source")
    course.break_add()
    course.run("modules/source")
    status = course.status()
    status.stdout.fnmatch_lines([
        "Modules (unit tests)",
        "  01_alpha * failed * 0/1 tests",
        "  02_beta * passed * 1/1 tests",
        "  03_gamma * not run",
        "*",
        "Next: pytest modules/source/01_alpha/test_alpha_unit.py",
    ])


def test_ide_run_of_a_milestone_test_runs_unknown_groups_quietly_first(course):
    result = course.run("milestones/01_first/test_first.py::test_training")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["tinytorch: running unit tests of module alpha, unit tests of module beta, "
                                 "integration group 01_02 against the current code first*"])
    assert json.loads(course.state_file.read_text())["units"]["group:01_02"]["tests"]


def test_ide_run_of_a_locked_milestone_test_is_skipped_with_the_reason(course):
    course.break_add()
    result = course.run("-rs", "milestones/01_first/test_first.py::test_training")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED *Milestone 1: First is LOCKED: unit tests of module alpha failed*"
                                 "integration group 01_02 failed*"])


def test_milestone_option_when_locked_skips_and_fails_the_run(course):
    course.break_add()
    result = course.run("--milestone=first")
    result.assert_outcomes(passed=2, failed=3, skipped=3)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["Milestone 1: First is LOCKED: unit tests of module alpha failed*"])
    assert "test_modules_03_03" not in result.stdout.str()


def test_milestone_option_fails_when_a_group_is_not_built(course):
    (course.path / "modules/tests/integration/test_modules_03_03.py").unlink()
    result = course.run("--milestone=second")
    result.assert_outcomes(passed=5, skipped=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "Milestone 2: Second is LOCKED: integration group 03_03 is not built yet "
        "(modules/tests/integration/test_modules_03_03.py does not exist)*",
    ])


def test_milestone_option_when_unlocked_prints_the_scorecard(course):
    course.write("milestones/01_first/test_first_more.py", '''
        from pytest_tinytorch import milestone

        @milestone("first", rubric="training")
        def test_training_fails():
            assert False, "loss did not go down"
    ''')
    result = course.run("--milestone=first")
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines([
        "Milestone 1: First scorecard (UNLOCKED)",
        "  Model Implementation   60.0/60  (2/2 tests)",
        "  Training Success       20.0/40  (1/2 tests)",
        "  Total                  80.0/100",
        "Milestone 1: First UNLOCKED — run: pytest --milestone=first",
    ])


def test_milestone_option_rejects_an_unknown_name(course):
    result = course.run("--milestone=thrid")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--milestone: unknown milestone 'thrid'; expected one of: first, second"])


def test_files_with_computed_group_markers_are_learned_from_collection(course):
    course.edit_implementation("def neg(a):", "def double(a):\n    return 2 * a\n\n\ndef neg(a):")
    course.write("modules/tests/test_computed_group.py", '''
        import pytest
        from mypkg import double

        GROUP = "03_" + "03"  # no scan can read this: the plugin learns it when collecting

        @pytest.mark.integration(GROUP)
        def test_double():
            assert double(4) == 8
    ''')
    course.run()
    course.edit_implementation("return 2 * a", "return 3 * a")
    _result, report = course.run_with_report("modules/tests/integration/test_modules_03_03.py")
    assert "modules/tests/test_computed_group.py" in report["groups"]["03_03"]["test_files"]
    assert report["groups"]["03_03"]["state"] == "not run"  # its other file has not run
    status = course.status()
    status.stdout.fnmatch_lines([
        "  03_03 (gamma..gamma) * failed * 1/2 tests; failing: modules/tests/test_computed_group.py::test_double",
    ])


def test_an_edit_shows_stale_milestones_not_relocked_ones(course, monkeypatch, tmp_path):
    """After an edit, one passing editor test must not make the report or the step summary
    show a COMPLETE milestone as LOCKED (its groups are only stale), nor as UNLOCKED 0%."""
    course.run()
    course.edit_implementation("return a * b", "return b * a  # same maths, new code")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    _result, report = course.run_with_report("modules/source/02_beta")
    assert report["milestones"]["first"]["state"] == "STALE"
    assert report["milestones"]["second"]["state"] == "STALE"
    assert report["milestones"]["first"]["locked_by"] == []
    assert "| Milestone 1: First | STALE | 01_02 | 0% |" in summary.read_text()
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    _result, report = course.run_with_report("--milestone=first", name="again.json")
    assert report["milestones"]["first"]["state"] == "COMPLETE"


def test_status_rows_say_stale_and_partial_truthfully(course):
    course.run()
    course.edit_implementation("return -a", "return 0 - a")
    status = course.status()
    status.stdout.fnmatch_lines([
        "re-running against the current code: unit tests of module alpha, unit tests of module beta, "
        "integration group 01_02, integration group 03_03 ...",
        "  01_alpha * passed * 1/1 tests",
        "  Milestone 1: First * STALE * was COMPLETE; not re-checked since your last change "
        "(run: pytest --milestone=first)",
    ])
    assert course.run("--milestone=first").ret == 0
    course.status().stdout.fnmatch_lines(["  Milestone 1: First * COMPLETE * score 100%"])


def test_a_module_run_only_in_part_is_not_shown_as_run(course):
    (course.path / "modules/tests/integration/test_modules_03_03.py").unlink()  # gamma is not gated
    course.write("modules/source/03_gamma/test_gamma_unit.py", '''
        from mypkg import neg

        def test_neg_positive():
            assert neg(2) == -2

        def test_neg_zero():
            assert neg(0) == 0
    ''')
    course.run("modules/source/03_gamma/test_gamma_unit.py::test_neg_zero")
    course.status().stdout.fnmatch_lines([
        "  03_gamma * not run * 1/1 tests passed in partial runs; run the whole module to record it",
    ])


def test_milestone_option_with_paths_that_leave_the_milestone_out_says_so(course):
    locked = course.run("--milestone=first", "modules/source/01_alpha")
    locked.assert_outcomes(passed=1)  # the unit tests of a gate module are the milestone's business
    locked.stdout.fnmatch_lines([
        "Milestone 1: First is LOCKED: unit tests of module beta, integration group 01_02 have not run "
        "against the current code. Run: pytest --milestone=first"])
    course.run()
    result = course.run("--milestone=first", "modules/source/01_alpha")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "No validation test of Milestone 1: First ran in this run (its folder milestones/01_first was "
        "not selected); the scorecard shows what earlier runs recorded against the current code.",
        "Milestone 1: First scorecard (COMPLETE)",
        "  Total                 100.0/100",
    ])


def test_a_comment_or_docstring_edit_keeps_every_record(course):
    course.run()
    course.edit_implementation("def neg(a):", 'def neg(a):\n    """Minus a."""  # reworded later')
    result, report = course.run_with_report("modules/source/02_beta")
    assert report["milestones"]["first"]["state"] == report["milestones"]["second"]["state"] == "COMPLETE"
    assert "re-running" not in course.status().stdout.str()
