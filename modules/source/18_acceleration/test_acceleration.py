"""Unit tests of module 18 (acceleration): loops, vectorized, tiled and BLAS matrix products;
row and column sums by loop; fused bias + GELU and the memory it saves.

Numbers only, never timings (speed is measured in the lab): every matmul agrees with NumPy's
and with a hand-computed case, tiles of every awkward size are covered, the sums match
NumPy's, the fused GELU matches the composed one and ``tinytorch.activations.gelu``, and
``tracemalloc`` shows the fused version allocating at least one full-size temporary less.
``check_matmul`` is a function so that the negative control at the end can show it rejects a
tiled product that forgets the edge tiles.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from tinytorch import Tensor
from tinytorch.acceleration import (
    FUSION_BLOCK_ELEMENTS,
    bias_gelu_composed,
    column_sums_by_loop,
    fused_bias_gelu,
    fusion_block_rows,
    matmul_loops,
    matmul_tiled,
    matmul_vectorized,
    peak_allocated_bytes,
    row_sums_by_loop,
    tile_count,
)
from tinytorch.activations import gelu

pytestmark = pytest.mark.module("acceleration")

MATMULS = {
    "loops": matmul_loops,
    "vectorized": matmul_vectorized,
    "tiled 64": matmul_tiled,
    "tiled 3": lambda a, b: matmul_tiled(a, b, tile=3),
}
SHAPES = [((1, 1), (1, 1)), ((1, 5), (5, 1)), ((5, 1), (1, 4)), ((7, 5), (5, 9)), ((10, 3), (3, 11))]


def check_matmul(function, a, b) -> None:
    """``function(a, b)`` has the shape and dtype of ``a @ b`` and its values to 1e-12."""
    expected = np.einsum("ik,kj->ij", a, b)
    result = function(a, b)
    assert isinstance(result, np.ndarray) and result.shape == expected.shape, getattr(result, "shape", result)
    assert result.dtype == np.result_type(a, b)
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)


# -- 1. loops, vectorized, BLAS -----------------------------------------------------------------------
def test_every_matmul_gives_the_hand_computed_product_exactly():
    a, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[5.0, 6.0], [7.0, 8.0]])
    for name, function in MATMULS.items():
        assert function(a, b).tolist() == [[19.0, 22.0], [43.0, 50.0]], name


@pytest.mark.parametrize("name", MATMULS)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_every_matmul_agrees_with_numpy(name, shapes):
    rng = np.random.default_rng(sum(shapes[0]) * 31 + sum(shapes[1]))
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    check_matmul(MATMULS[name], a, b)


@pytest.mark.parametrize("name", MATMULS)
def test_integer_matrices_give_the_exact_float64_product(name):
    rng = np.random.default_rng(1)
    a, b = rng.integers(-50, 50, (6, 4)), rng.integers(-50, 50, (4, 5))
    result = MATMULS[name](a, b)
    assert result.dtype == np.float64
    assert result.tolist() == (a @ b).astype(np.float64).tolist()


@pytest.mark.parametrize("name", MATMULS)
def test_precision_follows_the_inputs(name):
    rng = np.random.default_rng(2)
    a32, b32 = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((3, 2)).astype(np.float32)
    single = MATMULS[name](a32, b32)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, a32.astype(np.float64) @ b32.astype(np.float64), rtol=1e-5, atol=1e-5)
    assert MATMULS[name](a32, b32.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("name", MATMULS)
def test_a_matmul_refuses_shapes_that_do_not_multiply(name):
    function = MATMULS[name]
    with pytest.raises(ValueError, match=r"a has shape \(2, 3\) and b \(4, 5\); the inner sizes 3 and 4 must agree"):
        function(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"a has shape \(3,\) and b \(3, 2\); expected two 2-D matrices"):
        function(np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match="expected two 2-D matrices"):
        function(np.ones((1, 2, 2)), np.ones((2, 2)))
    with pytest.raises(TypeError, match="b has dtype <U1; expected real numbers"):
        function(np.ones((1, 1)), np.array([["x"]]))
    with pytest.raises(TypeError, match="a has dtype bool"):
        function(np.ones((1, 1), dtype=bool), np.ones((1, 1)))


def test_a_matmul_of_empty_inner_size_is_zeros():
    for name, function in MATMULS.items():
        result = function(np.ones((2, 0)), np.ones((0, 3)))
        assert result.shape == (2, 3) and not result.any(), name


# -- 2. tiles ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("tile", [1, 2, 5, 8, 16, 37, 64, 1000])
def test_tiled_matmul_is_right_for_sizes_no_tile_divides(tile):
    rng = np.random.default_rng(tile)
    a, b = rng.standard_normal((37, 53)), rng.standard_normal((53, 29))
    check_matmul(lambda x, y: matmul_tiled(x, y, tile=tile), a, b)


def test_tiled_matmul_adds_every_inner_tile_into_the_result_tile():
    """Only the inner dimension is split (tile 2 over k = 5: tiles of 2, 2 and 1)."""
    a = np.arange(5.0)[None, :]  # 1 x 5
    b = np.ones((5, 1))
    assert matmul_tiled(a, b, tile=2).tolist() == [[10.0]]


def test_tile_count_is_the_product_of_the_ceilings():
    assert tile_count((37, 53), (53, 29), 16) == 3 * 2 * 4  # ceil(37/16), ceil(29/16), ceil(53/16)
    assert tile_count((64, 64), (64, 64), 64) == 1
    assert tile_count((65, 64), (64, 64), 64) == 2
    assert tile_count((10, 10), (10, 10), 1000) == 1
    assert tile_count((4, 6), (6, 5), 1) == 4 * 5 * 6


@pytest.mark.parametrize("tile", [0, -3, 2.5, "8", True, None])
def test_a_tile_must_be_a_positive_integer(tile):
    with pytest.raises(ValueError, match=rf"matmul_tiled: tile={tile!r}, expected an integer >= 1"):
        matmul_tiled(np.ones((2, 2)), np.ones((2, 2)), tile=tile)


def test_numpy_integer_tiles_are_accepted():
    assert matmul_tiled(np.eye(3), np.full((3, 3), 2.0), tile=np.int64(2)).tolist() == [[2.0] * 3] * 3


# -- 3. memory layout --------------------------------------------------------------------------------
def test_sums_by_loop_equal_numpy_sums_in_either_memory_order():
    rng = np.random.default_rng(3)
    for matrix in (rng.standard_normal((13, 7)), np.asfortranarray(rng.standard_normal((6, 11))),
                   rng.standard_normal((9, 9)).T):
        np.testing.assert_allclose(row_sums_by_loop(matrix), matrix.sum(axis=1), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(column_sums_by_loop(matrix), matrix.sum(axis=0), rtol=1e-12, atol=1e-12)
    a = np.arange(6).reshape(2, 3)
    assert row_sums_by_loop(a).tolist() == [3.0, 12.0]
    assert column_sums_by_loop(a).tolist() == [3.0, 5.0, 7.0]
    assert row_sums_by_loop(a.astype(np.float32)).dtype == np.float32


def test_in_c_order_a_row_is_contiguous_and_a_column_is_strided():
    """The layout fact the two sums are timed on: a row's elements are itemsize apart, a
    column's a whole row apart, and a transpose is a view with the strides swapped."""
    a = np.zeros((100, 300))
    assert a[5, :].strides == (8,) and a[5, :].flags.c_contiguous
    assert a[:, 5].strides == (2400,) and not a[:, 5].flags.c_contiguous
    assert a.T.strides == (8, 2400) and np.shares_memory(a, a.T)
    assert np.ascontiguousarray(a.T).strides == (800, 8)


def test_sums_by_loop_refuse_a_non_matrix():
    with pytest.raises(ValueError, match=r"row_sums_by_loop: a has shape \(4,\); expected a 2-D matrix"):
        row_sums_by_loop(np.ones(4))
    with pytest.raises(ValueError, match=r"column_sums_by_loop: a has shape \(1, 2, 3\)"):
        column_sums_by_loop(np.ones((1, 2, 3)))


# -- 4. fusion ---------------------------------------------------------------------------------------
def test_fused_bias_gelu_equals_the_composed_one_and_the_library_gelu():
    rng = np.random.default_rng(4)
    features = 100
    rows = 3 * fusion_block_rows(features) + 17  # three full blocks and a partial one
    x, bias = 3 * rng.standard_normal((rows, features)), rng.standard_normal(features)
    fused, composed = fused_bias_gelu(x, bias), bias_gelu_composed(x, bias)
    np.testing.assert_allclose(fused, composed, rtol=1e-13, atol=1e-15)
    reference = gelu(Tensor(x + bias, dtype=np.float64)).data
    np.testing.assert_allclose(fused, reference, rtol=1e-13, atol=1e-15)
    assert fused_bias_gelu(np.array([[0.0, 1.0]]), np.array([0.0, -1.0])).tolist() == [[0.0, 0.0]]


def test_fused_bias_gelu_on_three_dimensions_and_float32():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 700, 33)).astype(np.float32)
    bias = rng.standard_normal(33).astype(np.float32)
    fused = fused_bias_gelu(x, bias)
    assert fused.shape == x.shape and fused.dtype == np.float32
    np.testing.assert_allclose(fused, bias_gelu_composed(x.astype(np.float64), bias.astype(np.float64)),
                               rtol=1e-5, atol=1e-6)


def test_fused_bias_gelu_writes_into_the_given_buffer():
    rng = np.random.default_rng(6)
    x, bias = rng.standard_normal((40, 8)), rng.standard_normal(8)
    out = np.full_like(x, np.nan)
    assert fused_bias_gelu(x, bias, out=out) is out
    np.testing.assert_allclose(out, bias_gelu_composed(x, bias), rtol=1e-13, atol=1e-15)
    same = x.copy()
    fused_bias_gelu(same, bias, out=same)  # in place over its own input
    np.testing.assert_allclose(same, out, rtol=0, atol=0)


def test_fused_bias_gelu_in_place_over_many_blocks_reads_each_input_row_once():
    """In place (``out`` is ``x``), block after block: a block that started one row early would
    read a row that the previous block already overwrote with its GELU."""
    rng = np.random.default_rng(7)
    features = 64
    x, bias = rng.standard_normal((3 * fusion_block_rows(features) + 5, features)), rng.standard_normal(features)
    expected = bias_gelu_composed(x, bias)
    fused_bias_gelu(x, bias, out=x)
    np.testing.assert_allclose(x, expected, rtol=1e-13, atol=1e-15)


def test_fused_bias_gelu_with_rows_wider_than_the_block_budget_goes_row_by_row():
    rng = np.random.default_rng(8)
    features = FUSION_BLOCK_ELEMENTS + 3  # one row per block
    x, bias = rng.standard_normal((3, features)), rng.standard_normal(features)
    np.testing.assert_allclose(fused_bias_gelu(x, bias), bias_gelu_composed(x, bias), rtol=1e-13, atol=1e-15)


def test_fused_bias_gelu_refuses_bad_bias_and_bad_buffers():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"x has shape \(4, 3\) and bias \(4,\); expected a 1-D bias with one value"):
        fused_bias_gelu(x, np.ones(4))
    with pytest.raises(ValueError, match="expected a 1-D bias"):
        bias_gelu_composed(x, np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"out must be an array of shape \(4, 3\) and dtype float64; got \(3, 4\) "):
        fused_bias_gelu(x, np.ones(3), out=np.empty((3, 4)))
    with pytest.raises(ValueError, match="got \\(4, 3\\) float32"):
        fused_bias_gelu(x, np.ones(3), out=np.empty((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        fused_bias_gelu(x, np.ones(3), out=np.empty((3, 4)).T)


def test_fusion_blocks_fit_the_scratch_budget():
    assert fusion_block_rows(100) == FUSION_BLOCK_ELEMENTS // 100
    assert fusion_block_rows(FUSION_BLOCK_ELEMENTS) == 1
    assert fusion_block_rows(10 * FUSION_BLOCK_ELEMENTS) == 1  # a row wider than the budget is one block


def test_the_fused_version_allocates_at_least_one_full_temporary_less():
    """Composed: the result and the temporaries alive at once (x + bias, z*z*z, ...). Fused:
    the result, one scratch block, and NumPy's iterator buffer for the broadcast bias (at most
    ``np.getbufsize()`` elements), plus small Python objects."""
    rng = np.random.default_rng(7)
    x, bias = rng.standard_normal((400, 256)), rng.standard_normal(256)
    full = x.nbytes  # 819,200 bytes: one full-size array
    composed, composed_peak = peak_allocated_bytes(bias_gelu_composed, x, bias)
    fused, fused_peak = peak_allocated_bytes(fused_bias_gelu, x, bias)
    np.testing.assert_allclose(fused, composed, rtol=1e-13, atol=1e-15)
    scratch = fusion_block_rows(256) * 256 * 8
    iterator_buffer = np.getbufsize() * 8
    assert composed_peak >= 3 * full, composed_peak  # the result and at least two temporaries
    assert full <= fused_peak <= full + scratch + iterator_buffer + 8192, fused_peak
    assert composed_peak - fused_peak >= full, (composed_peak, fused_peak)
    out = np.empty_like(x)
    _, into_buffer_peak = peak_allocated_bytes(fused_bias_gelu, x, bias, out=out)
    assert into_buffer_peak <= scratch + iterator_buffer + 8192, into_buffer_peak


# -- peak_allocated_bytes ------------------------------------------------------------------------------
def test_peak_allocated_bytes_counts_an_array_and_returns_the_result():
    result, peak = peak_allocated_bytes(np.ones, 10_000)
    assert result.shape == (10_000,) and result.sum() == 10_000
    assert 80_000 <= peak < 80_000 + 2048
    _, temporary_peak = peak_allocated_bytes(lambda: float(np.ones(20_000).sum()))
    assert 160_000 <= temporary_peak < 160_000 + 2048, "freed before the end, still counted at its peak"


def test_peak_allocated_bytes_leaves_tracemalloc_as_it_found_it():
    if tracemalloc.is_tracing():  # e.g. under PYTHONTRACEMALLOC: the not-tracing case cannot be run
        tracemalloc.stop()
        restart = True
    else:
        restart = False
    peak_allocated_bytes(np.zeros, 10)
    assert not tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        keep = np.ones(50_000)  # allocated before the call: not counted
        _, peak = peak_allocated_bytes(np.ones, 1000)
        assert tracemalloc.is_tracing()
        assert 8000 <= peak < 8000 + 2048 and keep.size == 50_000
    finally:
        if not restart:
            tracemalloc.stop()
    with pytest.raises(TypeError, match="needs a function to call; got int"):
        peak_allocated_bytes(3)


# -- negative control -------------------------------------------------------------------------------
def test_check_matmul_rejects_a_tiled_product_that_forgets_the_edge_tiles():
    def tiles_without_edges(a, b, tile=16):
        out = np.zeros((a.shape[0], b.shape[1]))
        for i in range(0, a.shape[0] - tile + 1, tile):
            for j in range(0, b.shape[1] - tile + 1, tile):
                for p in range(0, a.shape[1] - tile + 1, tile):
                    out[i:i + tile, j:j + tile] += a[i:i + tile, p:p + tile] @ b[p:p + tile, j:j + tile]
        return out

    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((37, 53)), rng.standard_normal((53, 29))
    check_matmul(tiles_without_edges, a[:32, :48], b[:48, :16])  # sizes the tile divides: right
    with pytest.raises(AssertionError):
        check_matmul(tiles_without_edges, a, b)
