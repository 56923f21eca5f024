"""Module 18 — Acceleration: what makes NumPy code fast, each claim measured.

Every layer of this course ends in a few NumPy calls. Whether those calls take a millisecond
or a minute depends on four things, and this module builds one small, exact example of each
so that the lab can time them side by side (module 19's interleaved ``compare``):

1. **Where the loop runs.** ``matmul_loops`` multiplies matrices with three Python loops: one
   interpreted multiply-add at a time. ``matmul_vectorized`` keeps one Python loop (over the
   rows of the result) and lets NumPy do each row with broadcasting and a sum, in compiled
   code. ``np.matmul`` hands the whole product to BLAS, which uses SIMD registers, several
   cores and blocking for the caches. All three compute the same numbers.
2. **Blocking for the caches.** ``matmul_tiled`` computes the product tile by tile: for each
   tile of the result it adds up products of a tile of ``a`` and a tile of ``b``. Each tile
   product reads 2 * tile**2 numbers and does 2 * tile**3 FLOPs on them, so the bigger the
   tile, the more arithmetic per byte fetched, as long as the tiles still fit in cache. This is
   the scheme BLAS uses inside (with more levels and packed copies); written in Python it shows
   the price of a tile loop too: tiny tiles are dominated by interpreter overhead.
3. **Memory layout.** A C-ordered (row-major) array stores each row contiguously. Summing a
   row reads consecutive bytes, which the hardware fetches in cache lines and prefetches;
   summing a column jumps one whole row ahead per element. ``row_sums_by_loop`` and
   ``column_sums_by_loop`` do the same number of additions in the same number of Python
   iterations; only the access pattern differs.
4. **Memory traffic and fusion.** ``bias_gelu_composed`` writes ``gelu(x + bias)`` as one
   NumPy expression: each operator makes a full-size temporary array, so the data crosses
   memory about ten times and several temporaries are alive at once. ``fused_bias_gelu`` does
   the same arithmetic block of rows by block of rows into one output buffer, with NumPy's
   ``out=`` arguments and one small scratch block that stays in cache: the input is read once,
   the output written once, and nothing full-size is allocated besides the output.
   ``peak_allocated_bytes`` measures the difference with ``tracemalloc`` (NumPy reports its
   array buffers to it).

The last lesson, float32 against float64, needs no new function: the lab times ``np.matmul``
in both precisions and measures the error of each against a float64 reference.

Everything here works on NumPy arrays, not Tensors: this module is about the arrays under
the Tensors, and none of it records a graph.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from tinytorch.activations import GELU_CUBIC, GELU_SCALE

FUSION_BLOCK_ELEMENTS = 16_384
"""Elements per block of ``fused_bias_gelu``'s scratch buffer: 128 KiB in float64, 64 KiB in
float32, small enough to stay in a core's L2 cache while ten operations pass over it."""


# -- argument checks (given) ------------------------------------------------------------------------
def _float_array(name: str, what: str, value) -> np.ndarray:
    """``value`` as a NumPy array of real numbers (integers become float64)."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name}: {what} has dtype {array.dtype}; expected real numbers (int or float)")
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def _check_matmul(name: str, a, b) -> tuple[np.ndarray, np.ndarray]:
    """Two matrices whose inner sizes agree, in one common float dtype."""
    a, b = _float_array(name, "a", a), _float_array(name, "b", b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"{name}: a has shape {a.shape} and b {b.shape}; expected two 2-D matrices")
    if a.shape[1] != b.shape[0]:
        raise ValueError(
            f"{name}: a has shape {a.shape} and b {b.shape}; the inner sizes {a.shape[1]} and "
            f"{b.shape[0]} must agree for (n, k) @ (k, m)"
        )
    dtype = np.result_type(a, b)
    return a.astype(dtype, copy=False), b.astype(dtype, copy=False)


def _check_tile(tile) -> int:
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 1:
        raise ValueError(f"matmul_tiled: tile={tile!r}, expected an integer >= 1")
    return int(tile)


def _check_matrix(name: str, a) -> np.ndarray:
    a = _float_array(name, "a", a)
    if a.ndim != 2:
        raise ValueError(f"{name}: a has shape {a.shape}; expected a 2-D matrix")
    return a


def _check_bias(name: str, x, bias) -> tuple[np.ndarray, np.ndarray]:
    x, bias = _float_array(name, "x", x), _float_array(name, "bias", bias)
    if x.ndim < 1 or bias.ndim != 1 or bias.shape[0] != x.shape[-1]:
        raise ValueError(
            f"{name}: x has shape {x.shape} and bias {bias.shape}; expected a 1-D bias with one "
            f"value per feature (the last dimension of x)"
        )
    dtype = np.result_type(x, bias)
    return x.astype(dtype, copy=False), bias.astype(dtype, copy=False)


# -- 1. where the loop runs ---------------------------------------------------------------------------
def matmul_loops(a, b) -> np.ndarray:
    """(n, k) @ (k, m) by the definition: ``out[i, j] = sum_p a[i, p] * b[p, j]``, one Python
    multiply-add at a time (n * m * k of them). The reference that the fast versions must match."""
    a, b = _check_matmul("matmul_loops", a, b)
    # BEGIN SOLUTION
    rows, inner = a.shape
    columns = b.shape[1]
    out = np.zeros((rows, columns), dtype=a.dtype)
    for i in range(rows):
        for j in range(columns):
            total = 0.0
            for p in range(inner):
                total += a[i, p] * b[p, j]
            out[i, j] = total
    return out
    # END SOLUTION


def matmul_vectorized(a, b) -> np.ndarray:
    """(n, k) @ (k, m) with one Python loop over the n rows of the result: row i is
    ``sum_p a[i, p] * b[p, :]``, computed by broadcasting ``a[i]`` as a column against ``b``
    (a (k, m) temporary) and summing over p, in NumPy's compiled loops and without BLAS."""
    a, b = _check_matmul("matmul_vectorized", a, b)
    # BEGIN SOLUTION
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    for i in range(a.shape[0]):
        out[i] = (a[i][:, None] * b).sum(axis=0)
    return out
    # END SOLUTION


# -- 2. blocking for the caches -------------------------------------------------------------------------
def matmul_tiled(a, b, tile: int = 64) -> np.ndarray:
    """(n, k) @ (k, m) tile by tile: for every (tile x tile) block of the result, add up the
    products of the matching blocks of ``a`` (a row of tiles) and ``b`` (a column of tiles).

    Edge tiles are smaller when a size is not a multiple of ``tile``; a tile larger than the
    matrices is one tile. Inside a tile the product is NumPy's, so the Python loop runs
    ceil(n/tile) * ceil(m/tile) * ceil(k/tile) times and each step does up to 2 * tile**3 FLOPs
    on 2 * tile**2 inputs that fit in cache.
    """
    a, b = _check_matmul("matmul_tiled", a, b)
    tile = _check_tile(tile)
    # BEGIN SOLUTION
    rows, inner = a.shape
    columns = b.shape[1]
    out = np.zeros((rows, columns), dtype=a.dtype)
    for i in range(0, rows, tile):
        for j in range(0, columns, tile):
            block = out[i:i + tile, j:j + tile]  # a view: the sums land in ``out``
            for p in range(0, inner, tile):
                block += a[i:i + tile, p:p + tile] @ b[p:p + tile, j:j + tile]
    return out
    # END SOLUTION


def tile_count(shape_a: tuple, shape_b: tuple, tile: int) -> int:
    """How many tile products ``matmul_tiled`` computes: ceil(n/t) * ceil(m/t) * ceil(k/t)."""
    (rows, inner), columns = shape_a, shape_b[1]
    tile = _check_tile(tile)
    return -(-rows // tile) * -(-columns // tile) * -(-inner // tile)


# -- 3. memory layout ------------------------------------------------------------------------------------
def row_sums_by_loop(a) -> np.ndarray:
    """The sum of each row of a matrix, one row per Python iteration. In a C-ordered array a
    row is contiguous: each sum reads consecutive memory."""
    a = _check_matrix("row_sums_by_loop", a)
    # BEGIN SOLUTION
    return np.array([a[i, :].sum() for i in range(a.shape[0])], dtype=a.dtype)
    # END SOLUTION


def column_sums_by_loop(a) -> np.ndarray:
    """The sum of each column of a matrix, one column per Python iteration. In a C-ordered
    array the elements of a column lie ``a.strides[0]`` bytes apart: one cache line fetched
    per element, used for one number."""
    a = _check_matrix("column_sums_by_loop", a)
    # BEGIN SOLUTION
    return np.array([a[:, j].sum() for j in range(a.shape[1])], dtype=a.dtype)
    # END SOLUTION


# -- 4. memory traffic and fusion ------------------------------------------------------------------------
def bias_gelu_composed(x, bias) -> np.ndarray:
    """``gelu(x + bias)`` (tanh approximation, as ``tinytorch.activations.gelu``) written as
    one NumPy expression: every operator allocates a full-size temporary. The baseline."""
    x, bias = _check_bias("bias_gelu_composed", x, bias)
    z = x + bias
    return 0.5 * z * (1.0 + np.tanh(GELU_SCALE * (z + GELU_CUBIC * z * z * z)))


def fusion_block_rows(features: int) -> int:
    """Rows per block of ``fused_bias_gelu``: as many as fit in ``FUSION_BLOCK_ELEMENTS``, at least one."""
    return max(1, FUSION_BLOCK_ELEMENTS // max(1, features))


def fused_bias_gelu(x, bias, out: np.ndarray | None = None) -> np.ndarray:
    """``gelu(x + bias)``, equal to ``bias_gelu_composed`` up to rounding, computed block of
    rows by block of rows into ``out`` (allocated when not given) with one scratch block of
    ``fusion_block_rows(features)`` rows as the only other allocation.

    Per block: ``out = x + bias`` (this is z), then in the scratch block
    ``s = tanh(GELU_SCALE * (z + GELU_CUBIC * z**3))``, ``s = 0.5 * (1 + s)``, and finally
    ``out *= s``; every step is a NumPy ufunc with ``out=``, so it writes into memory that
    already exists and, the block being small, is still in cache.
    """
    x, bias = _check_bias("fused_bias_gelu", x, bias)
    if out is None:
        out = np.empty(x.shape, dtype=x.dtype)
    elif not isinstance(out, np.ndarray) or out.shape != x.shape or out.dtype != x.dtype:
        raise ValueError(
            f"fused_bias_gelu: out must be an array of shape {x.shape} and dtype {x.dtype}; got "
            f"{getattr(out, 'shape', type(out).__name__)} {getattr(out, 'dtype', '')}".rstrip()
        )
    elif not out.flags.c_contiguous:
        raise ValueError("fused_bias_gelu: out must be C-contiguous (blocks of rows are written through a view)")
    features = x.shape[-1]
    rows_in, rows_out = x.reshape(-1, features), out.reshape(-1, features)  # out's reshape is a view
    block = fusion_block_rows(features)
    scratch = np.empty((min(block, rows_in.shape[0]), features), dtype=x.dtype)
    # BEGIN SOLUTION
    for start in range(0, rows_in.shape[0], block):
        z = rows_out[start:start + block]
        s = scratch[:z.shape[0]]
        np.add(rows_in[start:start + block], bias, out=z)
        np.multiply(z, z, out=s)
        np.multiply(s, z, out=s)
        np.multiply(s, GELU_CUBIC, out=s)
        np.add(s, z, out=s)
        np.multiply(s, GELU_SCALE, out=s)
        np.tanh(s, out=s)
        np.add(s, 1.0, out=s)
        np.multiply(s, 0.5, out=s)
        np.multiply(z, s, out=z)
    # END SOLUTION
    return out


def peak_allocated_bytes(function, *args, **kwargs) -> tuple:
    """``(function(*args, **kwargs), peak bytes allocated during the call)``, from ``tracemalloc``.

    The peak is counted from what was allocated when the call started, so it covers the
    arrays (and small Python objects) the call creates, including the result it returns.
    Works whether or not ``tracemalloc`` was already tracing; leaves it as it found it.
    """
    if not callable(function):
        raise TypeError(f"peak_allocated_bytes needs a function to call; got {type(function).__name__}")
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = function(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return result, peak - before


__all__ = [
    "FUSION_BLOCK_ELEMENTS", "bias_gelu_composed", "column_sums_by_loop", "fused_bias_gelu", "fusion_block_rows",
    "matmul_loops", "matmul_tiled", "matmul_vectorized", "peak_allocated_bytes", "row_sums_by_loop", "tile_count",
]
