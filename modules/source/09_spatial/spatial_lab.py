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
# # Module 09 — Spatial lab
#
# You implement convolution, pooling and batch normalisation in `src/tinytorch/spatial.py`
# (the `TODO (09_spatial)` blocks). This lab first writes a convolution the obvious way, six
# nested loops, checks the fast im2col version against it, and then measures what the fast
# version buys and what it costs: time, FLOPs and memory for each layer of the course's `cnn`
# benchmark model. Run it top to bottom after each task. The tests are the judge:
# `pytest modules/source/09_spatial`.

# %%
import os
import platform
import statistics
import time

import numpy as np

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.spatial import BatchNorm2d, Conv2d, MaxPool2d, conv2d, im2col, pad_images

print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, "
      f"load average {os.getloadavg()[0]:.2f} (1 min)")

# %% [markdown]
# ## 1. Convolution in six loops
#
# For every image `n`, output channel `o` and output position `(r, c)`, add up
# `weight[o, i, u, v] * padded[n, i, r * stride + u, c * stride + v]` over the input channels
# `i` and the kernel offsets `(u, v)`. No flip of the kernel: deep-learning libraries compute
# a cross-correlation and call it convolution (the kernel is learned, so the flip would not
# change what a network can learn).

# %%
def conv2d_six_loops(images, weight, bias, stride=1, padding=0):
    """The definition, one multiply-add at a time (NumPy arrays in, a NumPy array out)."""
    batch, channels_in, height, width = images.shape
    channels_out, _, kernel_rows, kernel_columns = weight.shape
    framed = np.zeros((batch, channels_in, height + 2 * padding, width + 2 * padding))
    framed[:, :, padding:padding + height, padding:padding + width] = images
    out_rows = (height + 2 * padding - kernel_rows) // stride + 1
    out_columns = (width + 2 * padding - kernel_columns) // stride + 1
    result = np.zeros((batch, channels_out, out_rows, out_columns))
    for n in range(batch):
        for o in range(channels_out):
            for r in range(out_rows):
                for c in range(out_columns):
                    total = bias[o]
                    for i in range(channels_in):
                        for u in range(kernel_rows):
                            for v in range(kernel_columns):
                                total += weight[o, i, u, v] * framed[n, i, r * stride + u, c * stride + v]
                    result[n, o, r, c] = total
    return result


rng = np.random.default_rng(0)
images = rng.standard_normal((2, 3, 9, 8))
weight, bias = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
for stride, padding in [(1, 0), (1, 1), (2, 1), (3, 2)]:
    slow = conv2d_six_loops(images, weight, bias, stride, padding)
    fast = conv2d(Tensor(images, dtype=np.float64), Tensor(weight, dtype=np.float64),
                  Tensor(bias, dtype=np.float64), stride, padding).data
    print(f"stride {stride}, padding {padding}: output {fast.shape}, "
          f"largest difference {np.abs(slow - fast).max():.1e}")

# %% [markdown]
# ## 2. What im2col buys
#
# Time both on the first layer of the `cnn` model (3 -> 16 channels, 3x3, padding 1) for a
# few 32x32 images. The two are timed in alternation (A B A B ...) and the medians compared,
# so a busy patch of a shared machine slows both alike.

# %%
def interleaved_medians_ms(functions: dict, rounds: int) -> dict:
    """Median milliseconds of each function, called in alternation ``rounds`` times."""
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(times) for name, times in samples.items()}


batch = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
tinytorch.manual_seed(0)
first_layer = Conv2d(3, 16, 3, padding=1)
w, b = first_layer.weight.data, first_layer.bias.data
medians = interleaved_medians_ms({
    "six loops": lambda: conv2d_six_loops(batch, w, b, 1, 1),
    "im2col": lambda: first_layer(Tensor(batch)),
}, rounds=5)
speedup = medians["six loops"] / medians["im2col"]
print(f"2 images of 3x32x32 -> 16 channels: six loops {medians['six loops']:.0f} ms, "
      f"im2col {medians['im2col']:.3f} ms: {speedup:,.0f}x faster")
print(f"a batch of 32 in six loops: about {16 * medians['six loops'] / 1000:.0f} s for this one layer's forward")

# %% [markdown]
# ## 3. The `cnn` benchmark model, layer by layer
#
# Input (32, 3, 32, 32) -> Conv2d 3->16 k3 pad1 -> ReLU -> MaxPool 2 -> Conv2d 16->32 k3 pad1
# -> ReLU -> MaxPool 2 -> flatten (2048) -> Linear 10. A convolution does one multiply and
# one add per weight per output position: FLOPs = 2 * N * C_out * OH * OW * C_in * kh * kw.
# im2col copies each input value into every window that covers it: the columns hold
# C_in * kh * kw values per output position, about kh * kw times the input for stride 1.

# %%
tinytorch.manual_seed(0)
x = Tensor(rng.standard_normal((32, 3, 32, 32)).astype(np.float32))
layers = [Conv2d(3, 16, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(16, 32, 3, padding=1), ReLU(), MaxPool2d(2)]
print(f"{'layer':<42}{'output':>18}{'MFLOP fwd':>11}{'out MB':>8}{'im2col MB':>11}{'blow-up':>9}{'ms fwd':>8}{'GFLOP/s':>9}")
h = x
for layer in layers:
    inputs = h
    h = layer(inputs)
    line = f"{layer!r:<42}{str(h.shape):>18}"
    if isinstance(layer, Conv2d):
        kh, kw = layer.kernel_size
        flops = 2 * h.size * layer.in_channels * kh * kw
        columns = im2col(pad_images(inputs.data, layer.padding), layer.kernel_size, layer.stride)
        timing = interleaved_medians_ms({"conv": lambda: layer(inputs)}, rounds=20)["conv"]
        line += (f"{flops / 1e6:>11.1f}{h.data.nbytes / 1e6:>8.2f}{columns.nbytes / 1e6:>11.2f}"
                 f"{columns.nbytes / inputs.data.nbytes:>8.1f}x{timing:>8.2f}{flops / timing / 1e6:>9.1f}")
    else:
        line += f"{'':>11}{h.data.nbytes / 1e6:>8.2f}"
    print(line)
print(f"{'Flatten -> Linear(2048, 10)':<42}{str((32, 10)):>18}{2 * 32 * 2048 * 10 / 1e6:>11.1f}")

# %% [markdown]
# The second convolution does three times the work of the first (16 input channels instead
# of 3, on a quarter of the positions), and the Linear layer is a rounding error. The im2col
# columns are 9x the padded input for a 3x3 kernel at stride 1, minus the border: that is the
# memory the speed costs, held until the backward pass has used it.

# %% [markdown]
# ## 4. Batch normalisation: training versus evaluation
#
# While training, each channel is normalised with the statistics of the current batch, so an
# image's output depends on the other images in its batch. `eval()` switches to the running
# averages, and the same image then gives the same output in any batch.

# %%
norm = BatchNorm2d(1, momentum=0.1)
data = rng.normal(5.0, 3.0, (64, 1, 4, 4))
for _ in range(50):
    norm(Tensor(data))
print(f"running mean {norm.running_mean[0]:.3f} (batch {data.mean():.3f}), running var "
      f"{norm.running_var[0]:.3f} (unbiased batch var {data.var(ddof=1):.3f})")
one_image = Tensor(data[:1])
with_others = norm.train()(Tensor(np.concatenate([data[:1], data[1:2] + 10.0])))
norm.eval()
alone, in_a_batch = norm(one_image).data, norm(Tensor(data[:8])).data[:1]
print("eval: same output alone and in a batch:", np.allclose(alone, in_a_batch))
print(f"train: the first image's mean output changes with its batch mate: "
      f"{float(with_others.data[0].mean()):.3f} vs {float(alone.mean()):.3f} in eval")

# %% [markdown]
# **Try it.** Change `stride` to 2 in the first layer of section 3 and compare the FLOPs and
# the blow-up factor. Then time `conv2d` with `padding=0` against `padding=1`: how much of a
# layer's time is the padding copy?
