"""Unit tests of module 01 (tensor): every forward op against NumPy, dtypes, shapes, errors.

No gradients here: module 05 (autograd) tests the backward of each op.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch
from tinytorch import Tensor, concatenate, stack

pytestmark = pytest.mark.module("tensor")

A = np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], dtype=np.float32)
B = np.array([[2.0, 0.5, -1.0], [3.0, -2.0, 0.25]], dtype=np.float32)
ROW = np.array([10.0, 20.0, 30.0], dtype=np.float32)
COLUMN = np.array([[1.0], [-1.0]], dtype=np.float32)


def assert_tensor(result, expected, dtype=np.float32):
    """``result`` is a Tensor whose data equals ``expected`` (shape, dtype and values)."""
    assert isinstance(result, Tensor), f"expected a Tensor, got {type(result).__name__}"
    expected = np.asarray(expected)
    assert result.shape == expected.shape
    assert result.dtype == dtype
    np.testing.assert_allclose(result.data, expected, rtol=1e-6, atol=1e-6)


# -- construction and dtypes ---------------------------------------------------------------
def test_construction_from_scalar_list_and_array():
    assert_tensor(Tensor(2.5), np.float32(2.5))
    assert_tensor(Tensor([[1.0, 2.0], [3.0, 4.0]]), [[1, 2], [3, 4]])
    assert_tensor(Tensor(np.arange(6.0).reshape(2, 3)), np.arange(6.0).reshape(2, 3))
    assert Tensor(2.5).shape == () and Tensor(2.5).ndim == 0 and Tensor(2.5).size == 1
    assert Tensor(A).shape == (2, 3) and Tensor(A).ndim == 2 and Tensor(A).size == 6


def test_floating_data_defaults_to_float32():
    assert Tensor(np.ones(3, dtype=np.float64)).dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.ones(3, dtype=np.float16)).dtype == np.float32


def test_float64_is_kept_when_asked():
    x = Tensor([1.0, 2.0], dtype=np.float64)
    assert x.dtype == np.float64
    assert (x + 1.5).dtype == np.float64
    assert (x * x).sum().dtype == np.float64
    assert (Tensor([1.0]) + x).dtype == np.float64  # float32 with float64: float64, as NumPy


def test_integer_and_boolean_data_keep_their_kind():
    assert Tensor([1, 2, 3]).dtype == np.int64
    assert Tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int32
    assert Tensor([True, False]).dtype == np.bool_
    assert (Tensor([1, 2]) + 1).dtype == np.int64


def test_integer_tensor_combined_with_floats_gives_float32_not_float64():
    """NumPy promotes int64 with float32 to float64; a tensor keeps the float32 default."""
    labels = Tensor([1, 2, 3])
    assert_tensor(labels / 2, [0.5, 1.0, 1.5])
    assert_tensor(labels * 0.5, [0.5, 1.0, 1.5])
    assert_tensor(labels.mean(), 2.0)
    assert_tensor(labels + Tensor([0.5, 0.5, 0.5]), [1.5, 2.5, 3.5])


def test_requires_grad_on_integer_data_is_refused():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients; got dtype int64"):
        Tensor([1, 2], requires_grad=True)
    assert Tensor([1.0], requires_grad=True).requires_grad is True
    assert Tensor([1.0]).requires_grad is False and Tensor([1.0]).grad is None


def test_non_numeric_data_is_refused_with_its_dtype():
    with pytest.raises(TypeError, match="dtype <U1: expected numbers"):
        Tensor(["a", "b"])


def test_tensor_of_a_tensor_takes_its_data_and_dtype_argument():
    x = Tensor([1.0, 2.0])
    assert Tensor(x).dtype == np.float32
    np.testing.assert_array_equal(Tensor(x).data, [1.0, 2.0])
    assert Tensor(x, dtype=np.float64).dtype == np.float64


# -- arithmetic and broadcasting -----------------------------------------------------------
@pytest.mark.parametrize(
    "op, reference",
    [
        (lambda a, b: a + b, np.add),
        (lambda a, b: a - b, np.subtract),
        (lambda a, b: a * b, np.multiply),
        (lambda a, b: a / b, np.divide),
    ],
    ids=["add", "sub", "mul", "div"],
)
@pytest.mark.parametrize("right", [B, ROW, COLUMN], ids=["same-shape", "row", "column"])
def test_binary_ops_match_numpy_with_broadcasting(op, reference, right):
    assert_tensor(op(Tensor(A), Tensor(right)), reference(A, right))


def test_broadcasting_both_ways_gives_the_outer_shape():
    column = Tensor(np.arange(3.0).reshape(3, 1))
    row = Tensor(np.arange(4.0))
    assert_tensor(column + row, np.arange(3.0).reshape(3, 1) + np.arange(4.0))
    assert (column * row).shape == (3, 4)


def test_reflected_forms_with_python_numbers():
    x = Tensor([1.0, 2.0, 4.0])
    assert_tensor(2 * x, [2.0, 4.0, 8.0])
    assert_tensor(2 + x, [3.0, 4.0, 6.0])
    assert_tensor(2 - x, [1.0, 0.0, -2.0])
    assert_tensor(1 / x, [1.0, 0.5, 0.25])
    assert_tensor(2**x, [2.0, 4.0, 16.0])
    assert_tensor(x - 1, [0.0, 1.0, 3.0])
    assert_tensor(x / 4, [0.25, 0.5, 1.0])


def test_ndarray_on_the_left_gives_a_tensor():
    x = Tensor([1.0, 2.0, 4.0])
    for result, expected in [
        (np.array([2.0, 3.0, 4.0]) * x, [2.0, 6.0, 16.0]),
        (np.array([1.0, 1.0, 1.0]) - x, [0.0, -1.0, -3.0]),
        (np.array([4.0, 4.0, 4.0]) / x, [4.0, 2.0, 1.0]),
        (np.array([1.0, 2.0, 3.0]) + x, [2.0, 4.0, 7.0]),
    ]:
        assert_tensor(result, expected)


def test_array_operand_takes_the_tensor_float_dtype():
    assert (Tensor([1.0, 2.0]) * np.array([1.0, 2.0], dtype=np.float64)).dtype == np.float32


def test_power_and_negation():
    x = Tensor([1.0, 2.0, 3.0])
    assert_tensor(x**2, [1.0, 4.0, 9.0])
    assert_tensor(x**0.5, np.sqrt([1.0, 2.0, 3.0]))
    assert_tensor(x ** Tensor([3.0, 2.0, 1.0]), [1.0, 4.0, 3.0])
    assert_tensor(-x, [-1.0, -2.0, -3.0])


def test_operations_do_not_modify_their_inputs():
    a, b = Tensor(A.copy()), Tensor(B.copy())
    _ = a + b, a * b, a - b, a / b, -a, a**2, a.exp(), a.reshape(3, 2), a.T
    np.testing.assert_array_equal(a.data, A)
    np.testing.assert_array_equal(b.data, B)


# -- matmul --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "left_shape, right_shape",
    [((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((5, 2, 3), (5, 3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,))],
)
def test_matmul_matches_numpy(left_shape, right_shape):
    rng = np.random.default_rng(0)
    left = rng.standard_normal(left_shape).astype(np.float32)
    right = rng.standard_normal(right_shape).astype(np.float32)
    result = Tensor(left) @ Tensor(right)
    assert result.shape == np.matmul(left, right).shape
    np.testing.assert_allclose(result.data, left @ right, rtol=1e-5, atol=1e-6)


def test_matmul_with_an_array_on_either_side():
    assert_tensor(Tensor(A) @ B.T, A @ B.T)
    assert_tensor(A @ Tensor(B.T), A @ B.T)


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError) as error:
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))
    message = str(error.value)
    assert "(2, 3)" in message and "(4, 5)" in message
    assert "inner dimensions differ (3 vs 4)" in message


def test_batched_matmul_with_clashing_batch_dimensions_names_both_shapes():
    """NumPy's own text ("operands could not be broadcast together with remapped shapes") names
    neither the op nor the shapes the student wrote."""
    with pytest.raises(ValueError) as error:
        Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((5, 4, 6)))
    assert str(error.value) == (
        "matmul of shapes (2, 3, 4) and (5, 4, 6): batch dimensions (2,) and (5,) cannot be broadcast "
        "(aligned from the last axis, sizes must be equal or 1, but axis -1 has 2 vs 5); expected "
        "(..., n, k) @ (..., k, m) with batch dimensions that broadcast"
    )
    assert (Tensor(np.ones((2, 1, 3, 4))) @ Tensor(np.ones((5, 4, 6)))).shape == (2, 5, 3, 6)


BROADCAST_CLASH = "cannot be broadcast: aligned from the last axis, sizes must be equal or 1, but axis -1 has 3 vs 4"


@pytest.mark.parametrize(
    "operation, message",
    [
        (lambda a, b: a + b, "add: shapes (2, 3) and (4,) " + BROADCAST_CLASH),
        (lambda a, b: a - b, "add: shapes (2, 3) and (4,) " + BROADCAST_CLASH),  # a + (-b)
        (lambda a, b: a * b, "mul: shapes (2, 3) and (4,) " + BROADCAST_CLASH),
        (lambda a, b: a / b, "mul: shapes (2, 3) and (4,) " + BROADCAST_CLASH),  # a * b ** -1
        (lambda a, b: a**b, "pow: shapes (2, 3) and (4,) " + BROADCAST_CLASH),
        (lambda a, b: a + b.data, "add: shapes (2, 3) and (4,) " + BROADCAST_CLASH),
        (lambda a, b: a < b, "less: shapes (2, 3) and (4,) " + BROADCAST_CLASH),
    ],
)
def test_elementwise_ops_on_shapes_that_do_not_broadcast_name_the_op_and_both_shapes(operation, message):
    with pytest.raises(ValueError) as error:
        operation(Tensor(A), Tensor([1.0, 2.0, 3.0, 4.0]))
    assert str(error.value) == message


def test_the_broadcast_message_names_the_first_clashing_axis_from_the_right():
    with pytest.raises(ValueError) as error:
        Tensor(np.ones((2, 3, 4))) * Tensor(np.ones((5, 1, 4)))
    assert str(error.value) == (
        "mul: shapes (2, 3, 4) and (5, 1, 4) cannot be broadcast: aligned from the last axis, sizes "
        "must be equal or 1, but axis -3 has 2 vs 5"
    )


def test_matmul_of_a_scalar_is_refused():
    with pytest.raises(ValueError, match=r"at least 1 dimension; got shapes \(\) and \(2,\)"):
        Tensor(2.0) @ Tensor([1.0, 2.0])


# -- comparisons -----------------------------------------------------------------------------
def test_comparisons_give_boolean_tensors_without_gradient():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [
        (x > 2.0, [False, False, True]),
        (x >= 2.0, [False, True, True]),
        (x < 2.0, [True, False, False]),
        (x <= 2.0, [True, True, False]),
        (x == Tensor([1.0, 0.0, 3.0]), [True, False, True]),
        (x != 2.0, [True, False, True]),
    ]:
        assert_tensor(result, expected, dtype=np.bool_)
        assert result.requires_grad is False


def test_tensors_hash_by_identity():
    x, y = Tensor([1.0]), Tensor([1.0])
    assert len({x, y}) == 2
    assert {x: "x"}[x] == "x"


# -- reductions ----------------------------------------------------------------------------
CUBE = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * np.float32(0.5) - 3


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize(
    "axis, keepdims",
    [(None, False), (None, True), (0, False), (1, True), (-1, False), (-2, True), ((0, 2), False), ((-1, 0), True)],
)
def test_reductions_match_numpy(name, axis, keepdims):
    result = getattr(Tensor(CUBE), name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(CUBE, axis=axis, keepdims=keepdims)
    assert_tensor(result, expected)


def test_reduction_axis_out_of_range_names_the_axis_and_the_rank():
    with pytest.raises(ValueError, match="axis 3 is out of range for a tensor with 3 dimensions"):
        Tensor(CUBE).sum(axis=3)
    with pytest.raises(ValueError, match="axis -4 is out of range"):
        Tensor(CUBE).mean(axis=-4)


def test_max_of_an_empty_tensor_is_refused():
    with pytest.raises(ValueError, match=r"max\(\) of an empty tensor of shape \(0,\)"):
        Tensor(np.zeros(0)).max()
    with pytest.raises(ValueError, match=r"min\(\) of an empty tensor of shape \(2, 0\)"):
        Tensor(np.zeros((2, 0))).min(axis=1)


# -- shape ---------------------------------------------------------------------------------
def test_reshape_accepts_a_tuple_or_separate_sizes_and_minus_one():
    x = Tensor(np.arange(12.0))
    assert_tensor(x.reshape(3, 4), np.arange(12.0).reshape(3, 4))
    assert_tensor(x.reshape((2, 6)), np.arange(12.0).reshape(2, 6))
    assert_tensor(x.reshape(-1, 3), np.arange(12.0).reshape(4, 3))
    assert x.reshape([2, 2, 3]).shape == (2, 2, 3)


def test_reshape_error_names_shape_size_and_target():
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(12,\) \(12 elements\) into \(5, 2\)"):
        Tensor(np.arange(12.0)).reshape(5, 2)


def test_transpose_permute_and_T():
    assert_tensor(Tensor(A).T, A.T)
    assert_tensor(Tensor(A).transpose(), A.T)
    assert_tensor(Tensor(CUBE).transpose(), CUBE.transpose())
    assert_tensor(Tensor(CUBE).transpose(0, 2), np.swapaxes(CUBE, 0, 2))
    assert_tensor(Tensor(CUBE).transpose(-1, 1), np.swapaxes(CUBE, -1, 1))
    assert_tensor(Tensor(CUBE).transpose((1, 2, 0)), CUBE.transpose(1, 2, 0))
    assert_tensor(Tensor(CUBE).permute(2, 0, 1), CUBE.transpose(2, 0, 1))
    assert_tensor(Tensor(CUBE).permute((2, 1, 0)), CUBE.transpose(2, 1, 0))
    assert_tensor(Tensor(A).transpose(1, 0), A.T)


@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (-2, -1), (-1, 0), (0, -1)])
def test_transpose_of_two_axes_swaps_them_as_in_pytorch(dims):
    """x.transpose(0, 1) of a matrix is its transpose (it used to be read as the identity
    permutation (0, 1) and return x unchanged)."""
    assert_tensor(Tensor(A).transpose(*dims), A.T)
    assert_tensor(Tensor(CUBE).transpose(*dims), np.swapaxes(CUBE, *dims))


def test_transpose_of_an_axis_with_itself_and_of_a_full_permutation():
    assert_tensor(Tensor(A).transpose(1, 1), A)
    assert_tensor(Tensor(A).transpose((0, 1)), A)  # a tuple is a permutation, as in NumPy
    assert_tensor(Tensor(A).transpose((1, 0)), A.T)
    assert_tensor(Tensor(CUBE).transpose(2, 0, 1), CUBE.transpose(2, 0, 1))
    assert_tensor(Tensor(ROW).transpose(0, -1), ROW)


def test_permute_and_transpose_errors():
    with pytest.raises(ValueError, match=r"permute needs 3 axes for shape \(2, 3, 4\); got \(0, 1\)"):
        Tensor(CUBE).permute(0, 1)
    with pytest.raises(ValueError, match=r"transpose axes \(0, 0, 1\) are not a permutation of 3 dimensions"):
        Tensor(CUBE).transpose((0, 0, 1))
    with pytest.raises(ValueError, match=r"transpose axes \(0, 1\) are not a permutation of 3 dimensions"):
        Tensor(CUBE).transpose((0, 1))


@pytest.mark.parametrize(
    "dims, error, message",
    [
        ((0, 2), ValueError, "transpose axis 2 is out of range for a tensor with 2 dimensions; expected an int in [-2, 1]"),
        ((-3, 0), ValueError, "transpose axis -3 is out of range for a tensor with 2 dimensions; expected an int in [-2, 1]"),
        ((0, 1.0), TypeError, "transpose axis 1.0 is not an integer; expected an int in [-2, 1]"),
        ((True, 0), TypeError, "transpose axis True is not an integer; expected an int in [-2, 1]"),
    ],
)
def test_transpose_of_bad_axes_says_which_axis_and_what_is_expected(dims, error, message):
    with pytest.raises(error) as raised:
        Tensor(A).transpose(*dims)
    assert str(raised.value) == message


def test_transpose_of_two_axes_of_a_0d_tensor_is_refused():
    with pytest.raises(ValueError) as raised:
        Tensor(1.0).transpose(0, 0)
    assert str(raised.value) == (
        "transpose axis 0 is out of range for a tensor with 0 dimensions; expected none: a 0-d tensor has no axes"
    )
    assert_tensor(Tensor(1.0).T, np.float32(1.0))


# -- indexing ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "index",
    [
        1,
        (1, 2),
        (slice(None), 1),
        (slice(None, None, -1),),
        (Ellipsis, slice(1, 3)),
        ([0, 0, 1],),
        (np.array([1, 0]), np.array([2, 2])),
        (slice(None), None, 0),
    ],
    ids=["int", "pair", "column", "reverse", "ellipsis", "fancy-repeat", "fancy-pair", "newaxis"],
)
def test_indexing_matches_numpy(index):
    assert_tensor(Tensor(A)[index], A[index])


def test_boolean_mask_indexing_with_an_array_or_a_tensor():
    x = Tensor(A)
    assert_tensor(x[A > 1.0], A[A > 1.0])
    assert_tensor(x[x > 1.0], [1.5, 3.0, 4.0])
    assert_tensor(x[Tensor([1, 0])], A[[1, 0]])


# -- elementwise functions -------------------------------------------------------------------
POSITIVE = np.array([[0.25, 1.0, 4.0], [9.0, 0.5, 2.0]], dtype=np.float32)


def test_elementwise_functions_match_numpy():
    assert_tensor(Tensor(A).exp(), np.exp(A))
    assert_tensor(Tensor(POSITIVE).log(), np.log(POSITIVE))
    assert_tensor(Tensor(POSITIVE).sqrt(), [[0.5, 1.0, 2.0], [3.0, np.sqrt(0.5), np.sqrt(2.0)]])
    assert_tensor(Tensor(A).abs(), np.abs(A))


def test_clip_with_both_bounds_or_one():
    assert_tensor(Tensor(A).clip(-1.0, 2.0), [[1.5, -1.0, 2.0], [0.5, 2.0, -1.0]])
    assert_tensor(Tensor(A).clip(0.0), np.maximum(A, 0.0))
    assert_tensor(Tensor(A).clip(high=1.0), np.minimum(A, 1.0))
    with pytest.raises(ValueError, match="clip needs at least one of low and high"):
        Tensor(A).clip()


# -- joining -------------------------------------------------------------------------------
def test_concatenate_along_any_axis():
    top, bottom = np.ones((1, 3), np.float32), np.zeros((2, 3), np.float32)
    assert_tensor(concatenate([Tensor(top), Tensor(bottom)]), np.concatenate([top, bottom]))
    assert_tensor(concatenate([Tensor(A), Tensor(COLUMN)], axis=1), np.concatenate([A, COLUMN], axis=1))
    assert_tensor(concatenate([Tensor(A), Tensor(B)], axis=-1), np.concatenate([A, B], axis=-1))
    assert tinytorch.concatenate is concatenate


def test_stack_adds_an_axis():
    assert_tensor(stack([Tensor(A), Tensor(B)]), np.stack([A, B]))
    assert_tensor(stack([Tensor(A), Tensor(B)], axis=2), np.stack([A, B], axis=2))
    assert_tensor(stack([Tensor(A), Tensor(B)], axis=-1), np.stack([A, B], axis=-1))
    assert stack([Tensor(ROW)] * 4, axis=1).shape == (3, 4)


def test_joining_nothing_or_mismatched_shapes_is_refused():
    with pytest.raises(ValueError, match="concatenate needs at least one tensor"):
        concatenate([])
    with pytest.raises(ValueError, match="stack needs at least one tensor"):
        stack([])
    with pytest.raises(ValueError):
        stack([Tensor(A), Tensor(ROW)])
    with pytest.raises(ValueError):
        concatenate([Tensor(A), Tensor(ROW)], axis=0)


# -- conversions and repr ------------------------------------------------------------------
def test_item_numpy_and_len():
    assert Tensor([[3.5]]).item() == 3.5 and isinstance(Tensor([[3.5]]).item(), float)
    assert Tensor([7]).item() == 7 and isinstance(Tensor([7]).item(), int)
    x = Tensor(A)
    assert x.numpy() is x.data
    assert len(x) == 2 and len(Tensor(np.zeros((5, 1)))) == 5
    with pytest.raises(ValueError, match=r"item\(\) needs a tensor with one element; this one has shape \(2, 3\)"):
        x.item()
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(Tensor(1.0))


def test_repr_shows_values_shape_dtype_and_gradient_state():
    assert repr(Tensor([1.0, 2.0])) == "Tensor([1., 2.], shape=(2,), dtype=float32)"
    assert repr(Tensor(3.0)) == "Tensor(3., shape=(), dtype=float32)"
    assert repr(Tensor([1, 2])) == "Tensor([1, 2], shape=(2,), dtype=int64)"
    leaf = Tensor([1.0, -2.0], requires_grad=True)
    assert repr(leaf) == "Tensor([ 1., -2.], shape=(2,), dtype=float32, requires_grad=True)"
    assert repr(leaf * 2) == "Tensor([ 2., -4.], shape=(2,), dtype=float32, op=mul)"
    assert repr(Tensor([[1.0, 2.0], [3.0, 4.0]])) == (
        "Tensor([[1., 2.],\n        [3., 4.]], shape=(2, 2), dtype=float32)"
    )


def test_results_record_their_graph_only_when_a_gradient_can_flow():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0])
    product = a * b
    assert product.requires_grad and not product.is_leaf
    assert product._op == "mul" and product._parents[0] is a and product._parents[1] is b
    constant = b * b
    assert not constant.requires_grad and constant.is_leaf and constant._parents == ()
    assert a.is_leaf
