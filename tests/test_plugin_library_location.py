"""A checkout's tests must test that checkout's library, never another one that is installed."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_tinytorch.plugin.fingerprint import foreign_library

pytest_plugins = ["pytester"]

TEST_FILE = '''
import tinytorch

def test_passes_whatever_tinytorch_is():
    assert tinytorch is not None
'''


def make_checkout(pytester) -> Path:
    """A folder laid out like a TinyTorch checkout whose library is not the installed one."""
    package = pytester.path / "src" / "tinytorch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""An all-TODO edition."""\n')
    pytester.makepyfile(test_anything=TEST_FILE)
    return pytester.path


def test_another_installed_tinytorch_is_a_usage_error_with_the_fix(pytester):
    checkout = make_checkout(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 4
    message = result.stderr.str()
    assert message.startswith("ERROR: TinyTorch: this checkout's tests would run against the tinytorch at ")
    assert (f"not against this checkout's {checkout / 'src' / 'tinytorch'}. Install this checkout into the "
            f'environment you run pytest from: cd {checkout} && python -m pip install -e ".[dev]"') in message
    assert "1 passed" not in result.stdout.str()


def test_the_checkouts_own_library_first_on_the_path_is_accepted(pytester, monkeypatch):
    checkout = make_checkout(pytester)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(checkout / "src"), os.environ.get("PYTHONPATH", "")]))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_folders_that_are_not_a_checkout_are_left_alone(tmp_path):
    assert foreign_library(tmp_path) is None
    (tmp_path / "src" / "tinytorch").mkdir(parents=True)
    assert "not against this checkout's" in foreign_library(tmp_path)
    assert foreign_library(tmp_path, package="no_such_package_here") is None  # no src/no_such_package_here


def test_this_repository_tests_its_own_library():
    assert foreign_library(Path(__file__).resolve().parents[1]) is None
