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
# # Module 16 — Quantization lab
#
# You implement post-training INT8 quantization in `src/tinytorch/quantization.py` (the
# `TODO (16_quantization)` blocks). This lab maps floats to int8 and back by hand, shows why
# per-channel scales and percentile ranges exist, then trains the milestone 2 MLP on the
# bundled digits, quantizes it and measures what changed: bytes, accuracy, agreement and time.
# The last section does the same to the milestone 3 CNN (your milestone 3 notebook trains it).
# Every number below is printed by the code above it. The tests are the judge:
# `pytest modules/source/16_quantization`.

# %%
import os
import platform
import statistics
import time

import numpy as np

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.autograd import no_grad
from tinytorch.dataloader import DataLoader, TensorDataset
from tinytorch.datasets import load_digits
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import CrossEntropyLoss
from tinytorch.optimizers import Adam, CosineAnnealingLR
from tinytorch.profiling import profile_model
from tinytorch.quantization import (
    QuantizedLinear,
    compute_qparams,
    dequantize,
    model_bytes,
    quantize,
    quantize_model,
    tensor_range,
)
from tinytorch.training import Trainer, accuracy

print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, "
      f"load average {os.getloadavg()[0]:.2f} (1 min)")

# %% [markdown]
# ## 1. Floats to int8 and back
#
# The range [-1, 3] spread over 256 levels: one step is 4 / 255 and real 0.0 sits on code
# -64. Every value inside the range comes back within half a step.

# %%
params = compute_qparams(-1.0, 3.0)
print(params)
x = np.array([-1.0, -0.3, 0.0, 0.01, 1.0, 2.99, 3.0], dtype=np.float32)
codes = quantize(x, params)
print("x         ", x)
print("codes     ", codes, codes.dtype)
print("back      ", dequantize(codes, params))
values = np.random.default_rng(0).uniform(-1, 3, 100_000).astype(np.float32)
error = np.abs(dequantize(quantize(values, params), params) - values)
print(f"100,000 values: largest error {error.max():.6f}, half a step {float(params.scale) / 2:.6f}, "
      f"mean error {error.mean():.6f} (a quarter step for uniform data: {float(params.scale) / 4:.6f})")

# %% [markdown]
# ## 2. The milestone 2 MLP on the digits
#
# The milestone's configuration: 64 -> 128 -> 64 -> 10 with ReLU, Adam at 1e-3 with a cosine
# schedule, 15 epochs of batches of 32, features standardized with the training statistics,
# a fifth of the training images held out for validation, seed 0.

# %%
(X_all, y_all), (X_test, y_test) = load_digits("train"), load_digits("test")
order = np.random.default_rng(0).permutation(len(X_all))
validation, train = order[:round(0.2 * len(X_all))], order[round(0.2 * len(X_all)):]
mean, spread = X_all[train].mean(axis=0), X_all[train].std(axis=0) + 0.1
X_train, X_val, X_test = [((X - mean) / spread).astype(np.float32) for X in (X_all[train], X_all[validation], X_test)]
y_train, y_val = y_all[train], y_all[validation]

tinytorch.manual_seed(0)
model = Sequential(Linear(64, 128), ReLU(), Linear(128, 64), ReLU(), Linear(64, 10))
optimizer = Adam(model.parameters(), lr=1e-3)
trainer = Trainer(model, optimizer, CrossEntropyLoss(), scheduler=CosineAnnealingLR(optimizer, T_max=15),
                  progress=False)
start = time.perf_counter()
history = trainer.fit(DataLoader(TensorDataset(X_train, y_train), 32, shuffle=True, seed=0), epochs=15,
                      val_batches=DataLoader(TensorDataset(X_val, y_val), 256))
print(f"trained in {time.perf_counter() - start:.1f} s; validation accuracy {history['val_accuracy'][-1]:.4f}")

# %% [markdown]
# ## 3. Quantize it
#
# Calibration: 8 batches of 32 training images run through the float model while each
# Linear layer records its input range. Then every Linear becomes a `QuantizedLinear`
# with int8 weights (symmetric, one scale per output column) and an int32 bias.

# %%
calibration = [X_train[i:i + 32] for i in range(0, 256, 32)]
quantized = quantize_model(model, calibration)
print(quantized)
with no_grad():
    float_logits = model(Tensor(X_test)).data
int8_logits = quantized(Tensor(X_test)).data
float_accuracy, int8_accuracy = accuracy(float_logits, y_test), accuracy(int8_logits, y_test)
agreement = np.mean(float_logits.argmax(1) == int8_logits.argmax(1))
print(f"test accuracy ({len(y_test)} images): float32 {100 * float_accuracy:.2f}%, int8 {100 * int8_accuracy:.2f}% "
      f"(change {100 * (int8_accuracy - float_accuracy):+.2f} points); same prediction for {100 * agreement:.2f}% "
      f"of the images; largest logit difference {np.abs(int8_logits - float_logits).max():.4f} "
      f"(logits span {np.ptp(float_logits):.1f})")
top_two = np.sort(float_logits, axis=1)[:, -2:]
print(f"margin between the two largest float logits: median {np.median(top_two[:, 1] - top_two[:, 0]):.2f}, "
      f"smallest {np.min(top_two[:, 1] - top_two[:, 0]):.3f}")
print(f"first layer input: scale {float(quantized[0].input_params.scale):.4f}, zero point "
      f"{int(quantized[0].input_params.zero_point)}; standardized training inputs span "
      f"[{X_train.min():.2f}, {X_train.max():.2f}]")

# %% [markdown]
# **Bytes.** `model_bytes` adds up the `nbytes` of every array the model holds.

# %%
float_bytes, int8_bytes = model_bytes(model), model_bytes(quantized)
layers = [layer for layer in quantized.layers if isinstance(layer, QuantizedLinear)]
weights = sum(layer.weight.nbytes for layer in layers)
biases = sum(layer.bias.nbytes for layer in layers)
mappings = sum(layer.weight_params.nbytes + layer.input_params.nbytes for layer in layers)
print(f"float32 model: {float_bytes:,} bytes ({sum(p.size for p in model.parameters()):,} parameters x 4)")
print(f"int8 model:    {int8_bytes:,} bytes = {weights:,} int8 weights + {biases:,} int32 bias + "
      f"{mappings:,} scales and zero points")
print(f"{float_bytes / int8_bytes:.2f}x smaller; the weights alone "
      f"{sum(layer.weight.data.nbytes for layer in model.layers if isinstance(layer, Linear)) / weights:.1f}x")

# %% [markdown]
# ## 4. Per channel against per tensor, min/max against percentile
#
# One scale for a whole weight matrix is set by its largest weight; columns of small weights
# then use a few of the 255 levels. And one outlier in the calibration data stretches an
# activation range for everyone.

# %%
with no_grad():
    for per_channel in (True, False):
        for percentile in (None, 99.9):
            variant = quantize_model(model, calibration, per_channel=per_channel, percentile=percentile)
            logits = variant(Tensor(X_test)).data
            print(f"per_channel={per_channel!s:<5} percentile={percentile!s:<5}: test accuracy "
                  f"{100 * accuracy(logits, y_test):.2f}%, mean |logit error| {np.abs(logits - float_logits).mean():.4f}")

first = model[0].weight.data
for per_channel in (True, False):
    axis = 1 if per_channel else None
    weight_params = compute_qparams(*tensor_range(first, axis=axis), symmetric=True, axis=axis)
    error = np.abs(dequantize(quantize(first, weight_params), weight_params) - first)
    print(f"first layer weights, per_channel={per_channel}: mean error {error.mean():.2e}, largest {error.max():.2e}")

glitched = [batch.copy() for batch in calibration]
glitched[0][0, 0] = 200.0  # one pixel of one calibration image: a glitch 50 standard deviations out
with no_grad():
    for percentile in (None, 99.9):
        variant = quantize_model(model, glitched, percentile=percentile)
        logits = variant(Tensor(X_test)).data
        print(f"calibration with one glitched pixel, percentile={percentile}: first layer input scale "
              f"{float(variant[0].input_params.scale):.4f} (zero point {int(variant[0].input_params.zero_point)}), "
              f"test accuracy {100 * accuracy(logits, y_test):.2f}%, "
              f"mean |logit error| {np.abs(logits - float_logits).mean():.4f}")

# %% [markdown]
# ## 5. Integer arithmetic in NumPy
#
# An int8 product needs 16 bits and a sum of 128 of them about 22: NumPy's `matmul` of int8
# arrays keeps the result in int8 and wraps around without a warning. Casting to int32 first
# is the rule. And speed: NumPy has no int8 matrix kernel (BLAS is floating point only), so
# the int32 matmul is a plain loop in C. The saving here is memory; the speed-up of int8
# needs hardware instructions (VNNI, dot-product units) that NumPy does not use.

# %%
a = np.full((1, 128), 100, np.int8)
b = np.full((128, 1), 100, np.int8)
print(f"int8 matmul: {np.matmul(a, b)[0, 0]} ({np.matmul(a, b).dtype}); int32: "
      f"{np.matmul(a.astype(np.int32), b.astype(np.int32))[0, 0]}; exact: {128 * 100 * 100}")


def interleaved_medians_ms(functions: dict, rounds: int) -> dict:
    """Median milliseconds of each function, called in alternation ``rounds`` times."""
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            samples[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(times) for name, times in samples.items()}


batch = Tensor(X_test)
with no_grad():
    medians = interleaved_medians_ms({"float32": lambda: model(batch), "int8": lambda: quantized(batch)}, rounds=30)
print(f"{len(X_test)} images through the MLP, medians of 30 alternating runs: float32 {medians['float32']:.2f} ms, "
      f"int8 {medians['int8']:.2f} ms ({medians['int8'] / medians['float32']:.1f}x the float time)")

# %% [markdown]
# **Try it.** Quantize with `per_channel=False` and only one calibration batch of 4 images:
# how far does the accuracy fall? Then give the MLP a first layer of 1024 hidden units and
# compare the bytes ratio with the one above: why does it approach 4?

# %% [markdown]
# ## 6. The milestone 3 CNN
#
# The same steps on a convolutional network: milestone 3's deliverable run (its `CNN` with 8
# and 16 filters, 3,818 parameters, trained by its `train_cnn` on the shifted digits: Adam at
# 5e-3 with a cosine schedule, 10 epochs of batches of 32 with shifts, seed 0). The code comes
# from your milestone 3 notebook (`load_milestone("cnn")`, the reference solution in the
# instructor's repository), so finish that first. Calibration: 8 batches of 32 training images.

# %%
from pytest_tinytorch.course.milestone_code import load_milestone

cnn = load_milestone("cnn")
cnn_data = cnn.load_data()
settings = cnn.DELIVERABLE
tinytorch.manual_seed(settings["seed"])
cnn_model = cnn.make_model(cnn_data, settings["channels"])
start = time.perf_counter()
cnn.train_cnn(cnn_model, cnn_data, epochs=settings["epochs"], lr=settings["lr"], batch_size=settings["batch_size"],
              seed=settings["seed"])
print(f"trained in {time.perf_counter() - start:.1f} s")
cnn_calibration = [Tensor(cnn_data["X_train"][i:i + 32]) for i in range(0, 256, 32)]
cnn_quantized = quantize_model(cnn_model, cnn_calibration)
print(cnn_quantized)
cnn_test, cnn_labels = Tensor(cnn_data["X_test"]), cnn_data["y_test"]
with no_grad():
    cnn_float_logits = cnn_model(cnn_test).data
cnn_int8_logits = cnn_quantized(cnn_test).data
cnn_float_accuracy, cnn_int8_accuracy = accuracy(cnn_float_logits, cnn_labels), accuracy(cnn_int8_logits, cnn_labels)
print(f"test accuracy ({len(cnn_labels)} images): float32 {100 * cnn_float_accuracy:.2f}%, "
      f"int8 {100 * cnn_int8_accuracy:.2f}% (change {100 * (cnn_int8_accuracy - cnn_float_accuracy):+.2f} points); "
      f"same prediction for {100 * np.mean(cnn_float_logits.argmax(1) == cnn_int8_logits.argmax(1)):.2f}% of the "
      f"images; largest logit difference {np.abs(cnn_int8_logits - cnn_float_logits).max():.4f} "
      f"(logits span {np.ptp(cnn_float_logits):.1f})")
for per_channel in (True, False):
    for percentile in (None, 99.9):
        variant = quantize_model(cnn_model, cnn_calibration, per_channel=per_channel, percentile=percentile)
        logits = variant(cnn_test).data
        print(f"per_channel={per_channel!s:<5} percentile={percentile!s:<5}: test accuracy "
              f"{100 * accuracy(logits, cnn_labels):.2f}%, mean |logit error| "
              f"{np.abs(logits - cnn_float_logits).mean():.4f}")

# %% [markdown]
# **Bytes, FLOPs and time.** Module 15's profiler counts the quantized layers too (this module
# registers them): the same multiply-adds as the float layers, in int32, plus quantizing
# each layer's input and rescaling its output. Times: medians of 30 alternating runs.

# %%
cnn_float_bytes, cnn_int8_bytes = model_bytes(cnn_model), model_bytes(cnn_quantized)
cnn_layers = [layer for layer in cnn_quantized.layers.layers if hasattr(layer, "weight_params")]
cnn_weights = sum(layer.weight.nbytes for layer in cnn_layers)
cnn_float_weights = sum(layer.weight.data.nbytes for layer in cnn_model.layers.layers if hasattr(layer, "weight"))
print(f"float32 model: {cnn_float_bytes:,} bytes; int8 model: {cnn_int8_bytes:,} bytes = {cnn_weights:,} int8 "
      f"weights + {sum(layer.bias.nbytes for layer in cnn_layers):,} int32 bias + "
      f"{sum(layer.weight_params.nbytes + layer.input_params.nbytes for layer in cnn_layers):,} scales and zero "
      f"points; {cnn_float_bytes / cnn_int8_bytes:.2f}x smaller, the weights alone "
      f"{cnn_float_weights / cnn_weights:.1f}x")
for name, network in (("float32", cnn_model), ("int8", cnn_quantized)):
    profile = profile_model(network, (1, 1, 16, 16))
    print(f"{name}: {profile.total_parameters:,} parameters in {profile.total_parameter_bytes:,} bytes, "
          f"{profile.total_flops:,} FLOPs per image, not counted: {profile.uncounted or 'none'}")
for batch_size in (1, 64):
    images = Tensor(cnn_data["X_test"][:batch_size])
    with no_grad():
        medians = interleaved_medians_ms({"float32": lambda: cnn_model(images),
                                          "int8": lambda: cnn_quantized(images)}, rounds=30)
    print(f"batch {batch_size}: float32 {medians['float32']:.3f} ms, int8 {medians['int8']:.3f} ms "
          f"({medians['int8'] / medians['float32']:.1f}x the float time)")
print(f"load average {os.getloadavg()[0]:.2f} (1 min)")
