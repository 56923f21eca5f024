"""The release tool's source rewriting: solution blocks become TODOs, hidden tests go."""

import textwrap

import pytest

from pytest_tinytorch.plugin.curriculum import default_curriculum
from pytest_tinytorch.course.release import (
    ReleaseError,
    find_solution_blocks,
    module_key_for,
    remove_hidden_tests,
    strip_solutions,
)

LIBRARY = textwrap.dedent(
    '''\
    """A tiny library file."""
    import numpy as np

    MESSAGE = "# BEGIN SOLUTION inside a string is not a marker"


    class Tensor:
        def __init__(self, data):
            self.data = np.asarray(data)

        def __add__(self, other):
            """Elementwise sum."""
            other = other if isinstance(other, Tensor) else Tensor(other)
            # BEGIN SOLUTION: broadcast-aware add
            total = self.data + other.data
            return Tensor(total)
            # END SOLUTION

        def sum(self):
            # BEGIN SOLUTION
            return Tensor(self.data.sum())
            # END SOLUTION


    def relu(x):
        if x is None:
            raise ValueError("relu got None")
        else:
            # BEGIN SOLUTION
            return Tensor(np.maximum(x.data, 0))
            # END SOLUTION
    '''
)


def test_blocks_are_found_with_their_enclosing_function_and_label():
    blocks = find_solution_blocks(LIBRARY, "tensor.py")
    assert [(b.begin_line, b.end_line, b.task) for b in blocks] == [
        (14, 17, "Tensor.__add__ (broadcast-aware add)"),
        (20, 22, "Tensor.sum"),
        (29, 31, "relu"),
    ]
    assert blocks[0].indent == " " * 8
    assert blocks[2].indent == " " * 8
    assert blocks[0].body == ("        total = self.data + other.data", "        return Tensor(total)")


def test_stripping_replaces_each_block_by_a_todo_at_its_indentation():
    stripped = strip_solutions(LIBRARY, "01_tensor", path="tensor.py")
    lines = stripped.splitlines()
    assert lines[13] == '        raise NotImplementedError("TODO (01_tensor): Tensor.__add__ (broadcast-aware add)")'
    assert lines[16] == '        raise NotImplementedError("TODO (01_tensor): Tensor.sum")'
    assert lines[23] == '        raise NotImplementedError("TODO (01_tensor): relu")'
    assert "np.maximum" not in stripped and "self.data + other.data" not in stripped
    assert "other = other if isinstance(other, Tensor) else Tensor(other)" in stripped  # scaffolding
    assert 'MESSAGE = "# BEGIN SOLUTION inside a string is not a marker"' in stripped
    namespace = {}
    exec(compile(stripped, "tensor.py", "exec"), namespace)
    tensor = namespace["Tensor"]([1.0, 2.0])
    with pytest.raises(NotImplementedError, match=r"TODO \(01_tensor\): Tensor.sum"):
        tensor.sum()
    with pytest.raises(ValueError, match="relu got None"):
        namespace["relu"](None)  # code before the block still runs


def test_keeping_solutions_removes_only_the_markers():
    kept = strip_solutions(LIBRARY, "01_tensor", keep=True, path="tensor.py")
    assert "SOLUTION" not in kept.replace("# BEGIN SOLUTION inside a string", "")
    assert len(kept.splitlines()) == len(LIBRARY.splitlines()) - 6
    namespace = {}
    exec(compile(kept, "tensor.py", "exec"), namespace)
    assert namespace["Tensor"]([1.0, 2.0]).sum().data == 3.0


def test_a_block_that_is_the_whole_body_keeps_the_function_valid():
    source = "def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n"
    assert strip_solutions(source, "02_activations") == (
        'def f(x):\n    raise NotImplementedError("TODO (02_activations): f")\n'
    )


@pytest.mark.parametrize(
    "source, message",
    [
        ("def f():\n    # END SOLUTION\n    return 1\n", r"mod.py:2: '# END SOLUTION' without"),
        ("def f():\n    # BEGIN SOLUTION\n    return 1\n", r"mod.py:2: '# BEGIN SOLUTION' is never closed"),
        (
            "def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n",
            r"mod.py:3: nested '# BEGIN SOLUTION' \(the block opened at line 2",
        ),
        ("# BEGIN SOLUTION\nX = 1\n# END SOLUTION\n", r"mod.py:1: solution block is not inside a function"),
        (
            "def f(x):\n    if x:\n        # BEGIN SOLUTION\n        return 1\n    # END SOLUTION\n",
            r"mod.py:5: '# END SOLUTION' is indented differently",
        ),
        ("def f(:\n    pass\n", r"mod.py:1: not valid Python"),
    ],
)
def test_malformed_markers_are_reported_with_file_and_line(source, message):
    with pytest.raises(ReleaseError, match=message):
        find_solution_blocks(source, "mod.py")


def test_a_block_that_would_leave_broken_code_fails_the_release():
    # The block swallows the first line of a statement that continues after it.
    source = "def f(x):\n    # BEGIN SOLUTION\n    y = (x +\n    # END SOLUTION\n         1)\n    return y\n"
    with pytest.raises(ReleaseError, match="would not compile"):
        strip_solutions(source, "01_tensor", path="mod.py")


def test_module_key_comes_from_the_file_name_a_directory_or_a_directive():
    curriculum = default_curriculum()
    assert module_key_for("src/tinytorch/autograd.py", "", curriculum) == "05_autograd"
    assert module_key_for("src/tinytorch/spatial/im2col.py", "", curriculum) == "09_spatial"
    helper = "# TinyTorch module: 05_autograd\ndef f():\n    pass\n"
    assert module_key_for("src/tinytorch/_helpers.py", helper, curriculum) == "05_autograd"
    with pytest.raises(ReleaseError, match="not a curriculum module file"):
        module_key_for("src/tinytorch/_helpers.py", "def f():\n    pass\n", curriculum)
    with pytest.raises(ReleaseError, match="names no curriculum module"):
        module_key_for("src/tinytorch/_helpers.py", "# TinyTorch module: 99_magic\n", curriculum)


TESTS = textwrap.dedent(
    '''\
    import pytest

    pytestmark = pytest.mark.module("tensor")


    def test_visible():
        assert 1 + 1 == 2


    @pytest.mark.hidden
    def test_hidden_function():
        assert "secret" == "secret"


    class TestMixed:
        def test_kept(self):
            assert True

        @pytest.mark.hidden
        @pytest.mark.parametrize("x", [1, 2])
        def test_hidden_method(self, x):
            assert x > 0


    @pytest.mark.hidden()
    class TestAllHidden:
        def test_one(self):
            assert "hidden class" == "hidden class"


    class TestEmptied:
        @pytest.mark.hidden
        def test_only(self):
            assert "emptied" == "emptied"
    '''
)


def test_hidden_functions_methods_and_classes_are_removed():
    released = remove_hidden_tests(TESTS, "test_x.py")
    assert "test_visible" in released and "test_kept" in released
    for name in ("test_hidden_function", "test_hidden_method", "TestAllHidden", "secret", "emptied"):
        assert name not in released
    assert "class TestEmptied:\n    pass" in released
    compile(released, "test_x.py", "exec")


def test_a_file_marked_hidden_at_module_level_is_dropped_whole():
    assert remove_hidden_tests("import pytest\npytestmark = pytest.mark.hidden\n") is None
    listed = "import pytest\npytestmark = [pytest.mark.module('tensor'), pytest.mark.hidden]\n"
    assert remove_hidden_tests(listed) is None
    visible = "import pytest\npytestmark = [pytest.mark.module('tensor')]\n"
    assert remove_hidden_tests(visible) == visible
