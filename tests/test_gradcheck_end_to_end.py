"""End to end: the real grader file, run by pytest against a broken autograd, fails exactly
the ops that are broken and shows their smallest failing input."""

import textwrap
from pathlib import Path

pytest_plugins = ["pytester"]

REPOSITORY = Path(__file__).resolve().parents[1]
GRADER = REPOSITORY / "modules" / "tests" / "integration" / "test_autograd_properties.py"


def run_grader_with(pytester, installer: str, *selection: str):
    """Run a copy of the grader (in a child process) with a plugin that installs a broken
    autograd, ``installer``, while it runs."""
    pytester.makepyfile(test_copy_of_the_autograd_grader=GRADER.read_text(encoding="utf-8"))
    # the repository's hypothesis profiles, and the one CI grades with (30 derandomized examples
    # per property): without them the copy ran hypothesis's default of 100 examples per op
    pytester.makeconftest((REPOSITORY / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(install_broken_autograd=textwrap.dedent(f"""
        import contextlib

        from pytest_tinytorch.grader.broken_autograd import broken_engine, broken_rule

        BROKEN = {installer}

        def pytest_configure(config):
            BROKEN.__enter__()

        def pytest_unconfigure(config):
            BROKEN.__exit__(None, None, None)
    """))
    return pytester.runpytest_subprocess(
        "-p", "install_broken_autograd", "-p", "no:tinytorch", "-p", "no:cacheprovider",
        "-W", "ignore::pytest.PytestUnknownMarkWarning", "--hypothesis-profile=ci", "-q", *selection,
    )


def test_a_wrong_sign_in_mul_fails_mul_only_with_the_smallest_example(pytester):
    result = run_grader_with(pytester, 'broken_rule("mul", "wrong sign")', "-k", "vjp and (mul or add or matmul)")
    result.assert_outcomes(failed=1, passed=2)
    result.stdout.re_match_lines([r".*(Falsifying example|Failing test case): vjp_of_mul\(", r".*case=OpCase\(inputs=\(array\("])
    result.stdout.fnmatch_lines(["FAILED *test_vjp_matches_finite_differences[[]mul[]]*"])


def test_an_engine_that_forgets_to_unbroadcast_fails_the_broadcasting_ops(pytester):
    result = run_grader_with(pytester, 'broken_engine("forgets to undo broadcasting")', "-k", "shape_and_dtype")
    from pytest_tinytorch.grader.op_registry import registered_ops

    result.assert_outcomes(failed=4, passed=len(registered_ops()) - 4)
    for op in ("add", "matmul", "mul", "pow"):
        result.stdout.fnmatch_lines([f"FAILED *test_gradient_has_the_input_shape_and_dtype[[]{op}[]]*"])

