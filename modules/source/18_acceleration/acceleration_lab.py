# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 18 — Acceleration lab
#
# You implement three matrix products, two sums and a fused bias + GELU in
# `src/tinytorch/acceleration.py` (the `TODO (18_acceleration)` blocks). This lab times each
# one against the fast path with module 19's interleaved `compare` (A B C A B C ..., medians
# and ratios), and counts what fusion saves with `tracemalloc`. Every figure is measured on
# this machine when you run it. Run it twice, once as it is and once with one BLAS thread:
#
#     python modules/source/18_acceleration/acceleration_lab.py
#     OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python modules/source/18_acceleration/acceleration_lab.py
#
# (the thread count is read when NumPy is imported, so it must be set before Python starts).
# The tests are the judge of correctness: `pytest modules/source/18_acceleration`.

# %%
import numpy as np

from tinytorch.acceleration import (
    bias_gelu_composed,
    column_sums_by_loop,
    fused_bias_gelu,
    matmul_loops,
    matmul_tiled,
    matmul_vectorized,
    peak_allocated_bytes,
    row_sums_by_loop,
    tile_count,
)
from tinytorch.benchmarking import compare  # interleaved timing: A B C A B C ..., medians and ratios
from tinytorch.benchmarking import environment

context = environment()
print(f"{context['machine']}, {context['cpu_count']} cores, NumPy {context['numpy']}, "
      f"BLAS {context['blas'].get('blas', {}).get('name', '?')} {context['blas'].get('blas', {}).get('version', '')}, "
      f"threads {context['threads']}, load average {context['load_average_1min']} (1 min)")
rng = np.random.default_rng(0)


def gflops(n_rows, inner, n_columns, seconds):
    """Billions of FLOPs per second of an (n_rows x inner) @ (inner x n_columns) product (2 per multiply-add)."""
    return 2 * n_rows * inner * n_columns / seconds / 1e9


# %% [markdown]
# ## 1. Where the loop runs: Python loops, NumPy loops, BLAS
#
# The same product three ways, on matrices small enough for the triple loop. First the
# numbers must agree; then the times. The loop version runs n * m * k multiply-adds in the
# interpreter; the vectorized one runs n Python iterations, each a broadcast multiply and a
# sum in compiled code; BLAS runs none.

# %%
n = 64
a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
reference = a @ b
products = [("loops", matmul_loops), ("vectorized", matmul_vectorized), ("tiled 16", lambda x, y: matmul_tiled(x, y, 16))]
for name, function in products:
    print(f"{name:>10}: largest difference from np.matmul {np.abs(function(a, b) - reference).max():.1e}")

small = compare({"np.matmul (BLAS)": lambda: a @ b, "vectorized": lambda: matmul_vectorized(a, b),
                 "loops": lambda: matmul_loops(a, b)}, warmup=1, rounds=7)
print(small.report(f"({n} x {n}) @ ({n} x {n}), float64"))
for name, summary in small.summaries.items():
    print(f"{name:>18}: {gflops(n, n, n, summary.median):8.3f} GFLOP/s")

# %% [markdown]
# At a larger size the loop version would take minutes; the other two show how the gap
# grows with the work per Python iteration.

# %%
n = 256
a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
medium = compare({"np.matmul (BLAS)": lambda: a @ b, "vectorized": lambda: matmul_vectorized(a, b)},
                 warmup=2, rounds=15)
print(medium.report(f"({n} x {n}) @ ({n} x {n}), float64"))
for name, summary in medium.summaries.items():
    print(f"{name:>18}: {gflops(n, n, n, summary.median):8.3f} GFLOP/s")

# %% [markdown]
# ## 2. Tiles: arithmetic per byte against loop overhead
#
# `matmul_tiled` loops over tiles in Python and multiplies each pair of tiles with NumPy.
# A tile product reads 2 t^2 numbers and does 2 t^3 FLOPs: t/8 FLOPs per byte in float64.
# Small tiles mean many Python iterations (`tile_count`) with little work each; large tiles
# mean few iterations and more reuse of what is in cache. The whole-matrix `np.matmul` is
# the limit: BLAS tiles too, in compiled code, for registers and every cache level.

# %%
n = 512
a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
reference = a @ b
tiles = [8, 16, 32, 64, 128, 256]
contenders = {"np.matmul (BLAS)": lambda: a @ b}
for t in tiles:
    contenders[f"tiled {t}"] = (lambda t=t: matmul_tiled(a, b, t))
    assert np.allclose(matmul_tiled(a, b, t), reference, rtol=1e-12, atol=1e-10)
tiled = compare(contenders, warmup=1, rounds=7)
print(tiled.report(f"({n} x {n}) @ ({n} x {n}), float64"))
for t in tiles:
    summary = tiled.summaries[f"tiled {t}"]
    print(f"tile {t:>3}: {tile_count(a.shape, b.shape, t):>7,} tile products, "
          f"{summary.median / tile_count(a.shape, b.shape, t) * 1e6:9.2f} us each, "
          f"{gflops(n, n, n, summary.median):7.2f} GFLOP/s, "
          f"tile pair {2 * t * t * 8 / 1024:7.1f} KiB")
print(f"BLAS whole: {gflops(n, n, n, tiled.summaries['np.matmul (BLAS)'].median):.2f} GFLOP/s")

# %% [markdown]
# ## 3. Memory layout: contiguous rows, strided columns
#
# A 2,000 x 2,000 float64 matrix (32 MB) in C order. Each row sum reads 16,000 consecutive
# bytes; each column sum reads 2,000 numbers 16,000 bytes apart, one cache line (64 bytes)
# fetched for each 8-byte number. Same additions, same 2,000 Python iterations.

# %%
m = rng.standard_normal((2000, 2000))
print(f"strides: row elements {m[0, :].strides[0]} bytes apart, column elements {m[:, 0].strides[0]} bytes apart")
assert np.allclose(row_sums_by_loop(m), m.sum(axis=1)) and np.allclose(column_sums_by_loop(m), m.sum(axis=0))
layout = compare({"row sums (contiguous)": lambda: row_sums_by_loop(m),
                  "column sums (strided)": lambda: column_sums_by_loop(m),
                  "copy .T, row sums": lambda: row_sums_by_loop(np.ascontiguousarray(m.T)),
                  "m.copy()": lambda: m.copy(),
                  "copy of m.T": lambda: np.ascontiguousarray(m.T),
                  "m.sum(axis=1)": lambda: m.sum(axis=1),
                  "m.sum(axis=0)": lambda: m.sum(axis=0)}, warmup=2, rounds=15)
print(layout.report("sums over a (2000, 2000) float64 matrix"))

# %% [markdown]
# `m.sum(axis=0)` is NumPy's own answer to the strided case: it adds whole rows to a running
# row of column sums, so it reads memory in order even though it sums columns. The loop
# order, not the loop language, decides the access pattern. The two copies move the same
# 32 MB; the copy of the transposed view reads it with a stride of 16,000 bytes.
#
# ## 4. Fusion: memory traffic and allocations
#
# `bias_gelu_composed` makes a full-size temporary for each of its operators;
# `fused_bias_gelu` writes into one output and a 128 KiB scratch block. First the bytes
# (tracemalloc, deterministic), then the time.

# %%
x = rng.standard_normal((4096, 1024))
bias = rng.standard_normal(1024)
composed, composed_peak = peak_allocated_bytes(bias_gelu_composed, x, bias)
fused, fused_peak = peak_allocated_bytes(fused_bias_gelu, x, bias)
out = np.empty_like(x)
_, into_peak = peak_allocated_bytes(fused_bias_gelu, x, bias, out=out)
print(f"largest difference fused vs composed: {np.abs(fused - composed).max():.1e}")
print(f"one full array: {x.nbytes:,} bytes")
print(f"peak allocated, composed:          {composed_peak:>12,} bytes ({composed_peak / x.nbytes:.2f} full arrays)")
print(f"peak allocated, fused:             {fused_peak:>12,} bytes ({fused_peak / x.nbytes:.2f} full arrays)")
print(f"peak allocated, fused into out=:   {into_peak:>12,} bytes")
# Memory traffic of the composed expression, counted from its operators: each reads its
# full-size operands and writes one full-size result (the bias and scalars are negligible).
operators = [("x + bias", 1), ("z * z", 2), ("* z", 2), ("0.044715 *", 1), ("z +", 2), ("sqrt(2/pi) *", 1),
             ("tanh", 1), ("1 +", 1), ("0.5 * z", 1), ("* (...)", 2)]
composed_traffic = sum(reads + 1 for _, reads in operators) * x.nbytes
print(f"full-array traffic, composed: {len(operators)} operators, {composed_traffic / x.nbytes:.0f} full arrays "
      f"({composed_traffic / 1e6:.0f} MB); fused: read x once, write out once (2 full arrays, "
      f"{2 * x.nbytes / 1e6:.0f} MB), the rest in a cached block")

fusion = compare({"composed": lambda: bias_gelu_composed(x, bias),
                  "fused": lambda: fused_bias_gelu(x, bias),
                  "fused into out=": lambda: fused_bias_gelu(x, bias, out=out)}, warmup=2, rounds=15)
print(fusion.report("gelu(x + bias), x (4096, 1024) float64"))

# %% [markdown]
# ## 5. float32 against float64: speed and error
#
# Half the bytes per number, twice the numbers per SIMD instruction. The price is precision:
# float32 keeps about 7 significant digits, float64 about 16. The error of each product is
# measured against a product of the same (float32-representable) inputs in extended precision
# (`np.longdouble`: 80-bit on x86-64, 64-bit mantissa; NumPy multiplies it without BLAS).

# %%
n = 512
a32, b32 = rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32)
a64, b64 = a32.astype(np.float64), b32.astype(np.float64)
print(f"reference precision: np.longdouble, machine epsilon {np.finfo(np.longdouble).eps:.1e}")
exact = a32.astype(np.longdouble) @ b32.astype(np.longdouble)
for name, product in [("float32", a32 @ b32), ("float64", a64 @ b64), ("float32 tiled 64", matmul_tiled(a32, b32, 64))]:
    error = float(np.sqrt(((product.astype(np.longdouble) - exact) ** 2).sum() / (exact ** 2).sum()))
    print(f"{name:>17}: relative error {error:.1e} (machine epsilon {np.finfo(product.dtype).eps:.1e})")
precision = compare({"float64": lambda: a64 @ b64, "float32": lambda: a32 @ b32}, warmup=3, rounds=31)
print(precision.report(f"({n} x {n}) @ ({n} x {n})"))
for name, summary in precision.summaries.items():
    print(f"{name}: {gflops(n, n, n, summary.median):.2f} GFLOP/s")
xf32, bias32 = x.astype(np.float32), bias.astype(np.float32)
gelu_precision = compare({"float64": lambda: fused_bias_gelu(x, bias),
                          "float32": lambda: fused_bias_gelu(xf32, bias32)}, warmup=2, rounds=15)
print(gelu_precision.report("fused gelu(x + bias), (4096, 1024)"))

# %% [markdown]
# ## What to take away
#
# Write the figures of your own run next to each claim: the speed-up of BLAS over the Python
# loops and over the row loop; the tile size where `matmul_tiled` stops improving and how far
# it stays from BLAS; the cost of a strided loop; the bytes fusion saves and whether it was
# faster too; float32's speed-up and its error. Then run it again with one BLAS thread and
# see which figures move (the BLAS ones) and which do not (the ones that never call BLAS).
