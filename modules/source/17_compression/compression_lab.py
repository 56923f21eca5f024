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
# # Module 17 — Compression lab
#
# You implement pruning, low-rank factorisation and distillation in
# `src/tinytorch/compression.py` (the `TODO (17_compression)` blocks). This lab applies each
# to the milestone 2 MLP trained on the bundled digits and measures what it buys and costs:
# accuracy against sparsity (with and without fine-tuning), the speed of really smaller
# layers against zeroed ones, the error of low-rank factors, and a small student taught by
# the MLP. Every number is printed by the code above it. The tests are the judge:
# `pytest modules/source/17_compression`.

# %%
import copy
import os
import platform
import statistics
import time

import numpy as np

import tinytorch
from tinytorch import Tensor
from tinytorch.activations import ReLU
from tinytorch.autograd import no_grad
from tinytorch.compression import (
    distillation_loss,
    low_rank_error,
    low_rank_linear,
    magnitude_prune,
    prune_mlp_neurons,
)
from tinytorch.dataloader import DataLoader, TensorDataset
from tinytorch.datasets import load_digits
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import CrossEntropyLoss
from tinytorch.optimizers import Adam, CosineAnnealingLR
from tinytorch.training import Trainer, accuracy

print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, "
      f"load average {os.getloadavg()[0]:.2f} (1 min)")

# %% [markdown]
# ## 1. The milestone 2 MLP
#
# 64 -> 128 -> 64 -> 10 with ReLU, Adam at 1e-3 with a cosine schedule, 15 epochs of batches
# of 32, standardized features, a fifth of the training images for validation, seed 0.

# %%
(X_all, y_all), (X_test, y_test) = load_digits("train"), load_digits("test")
order = np.random.default_rng(0).permutation(len(X_all))
validation, train = order[:round(0.2 * len(X_all))], order[round(0.2 * len(X_all)):]
mean, spread = X_all[train].mean(axis=0), X_all[train].std(axis=0) + 0.1
X_train, X_val, X_test = [((X - mean) / spread).astype(np.float32) for X in (X_all[train], X_all[validation], X_test)]
y_train, y_val = y_all[train], y_all[validation]


def batches(seed=0):
    return DataLoader(TensorDataset(X_train, y_train), 32, shuffle=True, seed=seed)


def train(model, epochs, lr=1e-3, loss_fn=None, seed=0):
    optimizer = Adam(model.parameters(), lr=lr)
    trainer = Trainer(model, optimizer, loss_fn or CrossEntropyLoss(),
                      scheduler=CosineAnnealingLR(optimizer, T_max=epochs), progress=False)
    trainer.fit(batches(seed), epochs)
    return optimizer


def test_set_accuracy(model) -> float:
    with no_grad():
        return accuracy(model(Tensor(X_test)).data, y_test)


def mlp(sizes, seed=0):
    tinytorch.manual_seed(seed)
    layers = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        layers += [Linear(fan_in, fan_out), ReLU()]
    return Sequential(*layers[:-1])


model = mlp((64, 128, 64, 10))
train(model, 15)
dense_accuracy = test_set_accuracy(model)
weights = sum(layer.weight.size for layer in model.layers if isinstance(layer, Linear))
print(f"dense test accuracy {100 * dense_accuracy:.2f}% with {weights:,} weights "
      f"({sum(p.size for p in model.parameters()):,} parameters)")

# %% [markdown]
# ## 2. Sparsity against accuracy
#
# Prune a copy of the trained model to each sparsity (globally: one threshold; per layer:
# the same fraction everywhere), measure, then fine-tune for 3 epochs (Adam 1e-3, cosine)
# with the masks attached to the optimizer, and measure again. The zeros survive the
# fine-tuning: the last column counts them.

# %%
print(f"{'sparsity':>8} {'scope':>7} {'pruned':>8} {'fine-tuned':>11} {'zeros kept':>11}   per-layer sparsity")
for sparsity in (0.5, 0.7, 0.8, 0.9, 0.95, 0.98):
    for scope in ("global", "layer"):
        pruned_model = copy.deepcopy(model)
        masks = magnitude_prune(pruned_model, sparsity, scope=scope)
        pruned = test_set_accuracy(pruned_model)
        optimizer = Adam(pruned_model.parameters(), lr=1e-3)
        masks.attach(optimizer)
        Trainer(pruned_model, optimizer, CrossEntropyLoss(), scheduler=CosineAnnealingLR(optimizer, T_max=3),
                progress=False).fit(batches(1), 3)
        zeros = sum(int(np.count_nonzero(masks.weights[n].data[~m] == 0)) for n, m in masks.masks.items())
        pruned_count = sum(int(np.count_nonzero(~m)) for m in masks.masks.values())
        layers = " ".join(f"{value:.2f}" for value in masks.layer_sparsity().values())
        print(f"{sparsity:>8.2f} {scope:>7} {100 * pruned:>7.2f}% {100 * test_set_accuracy(pruned_model):>10.2f}% "
              f"{zeros:>5}/{pruned_count:<5}   {layers}")

# %% [markdown]
# ## 3. Zeros are not speed; fewer neurons are
#
# A 90% sparse weight matrix is still a dense array: the matmul multiplies its zeros too.
# Removing hidden neurons makes the matrices themselves smaller. Timed on a wider MLP
# (64 -> 1024 -> 1024 -> 10) with a batch of 512, one forward at a time in alternation,
# medians of 30 runs each.

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


wide = mlp((64, 1024, 1024, 10), seed=1)
sparse_wide = copy.deepcopy(wide)
magnitude_prune(sparse_wide, 0.9)
candidates = {"dense": wide, "90% zeros": sparse_wide}
for fraction in (0.5, 0.75, 0.9):
    candidates[f"{int(100 * fraction)}% neurons removed"] = prune_mlp_neurons(wide, fraction)
x = Tensor(np.random.default_rng(0).standard_normal((512, 64)).astype(np.float32))
with no_grad():
    medians = interleaved_medians_ms({name: (lambda m=m: m(x)) for name, m in candidates.items()}, rounds=30)
dense_flops = sum(2 * 512 * layer.weight.size for layer in wide.layers if isinstance(layer, Linear))
for name, candidate in candidates.items():
    shapes = [layer.weight.shape for layer in candidate.layers if isinstance(layer, Linear)]
    flops = sum(2 * 512 * layer.weight.size for layer in candidate.layers if isinstance(layer, Linear))
    print(f"{name:<22} weights {shapes}: {medians[name]:7.2f} ms, {medians['dense'] / medians[name]:6.2f}x the "
          f"dense speed, {dense_flops / flops:5.2f}x fewer matmul FLOPs")

# %% [markdown]
# Structured pruning of the trained digits MLP: accuracy right after removing neurons and
# after 3 epochs of fine-tuning (nothing to mask: the removed neurons no longer exist).

# %%
for fraction in (0.5, 0.75, 0.9):
    smaller = prune_mlp_neurons(model, fraction)
    removed = test_set_accuracy(smaller)
    train(smaller, 3, seed=1)
    print(f"{int(100 * fraction)}% of the hidden neurons removed: "
          f"{[layer.weight.shape for layer in smaller.layers if isinstance(layer, Linear)]}, "
          f"{sum(p.size for p in smaller.parameters()):,} parameters; test accuracy {100 * removed:.2f}% "
          f"-> {100 * test_set_accuracy(smaller):.2f}% after fine-tuning")

# %% [markdown]
# ## 4. Low rank
#
# Replace the middle layer (128 -> 64, 8,192 weights) by two thin layers of rank r:
# r * (128 + 64) weights. The relative error of the weight is set by the dropped singular
# values; what the network's accuracy makes of it is measured.

# %%
middle = model[2]
print(f"{'rank':>5} {'weights':>8} {'weight error':>13} {'test accuracy':>14}")
for rank in (1, 2, 4, 8, 16, 32, 64):
    factored_model = copy.deepcopy(model)
    factored = low_rank_linear(middle, rank)
    factored_model.layers[2] = factored
    setattr(factored_model, "2", factored)
    count = sum(layer.weight.size for layer in factored.layers)
    print(f"{rank:>5} {count:>8,} {low_rank_error(middle.weight.data, rank):>13.3f} "
          f"{100 * test_set_accuracy(factored_model):>13.2f}%")

# %% [markdown]
# ## 5. Distillation: a small student taught by the MLP
#
# A student of 64 -> 16 -> 10 (1,210 parameters, 7% of the teacher's 17,226), trained for 15
# epochs (Adam 1e-2, cosine) from the same initialisation, on the labels alone and on
# Hinton's loss with alpha = 0.3 on the labels at several temperatures, three seeds each.

# %%
class Distillation:
    """A loss for the Trainer: distillation_loss against the teacher's logits for the batch."""

    def __init__(self, teacher, temperature, alpha):
        self.teacher, self.temperature, self.alpha = teacher, temperature, alpha

    def __call__(self, student_logits, targets):
        with no_grad():
            teacher_logits = self.teacher(self.inputs)
        return distillation_loss(student_logits, teacher_logits, targets, self.temperature, self.alpha)


class RememberInputs:
    """The student, recording its input so the loss can ask the teacher about the same batch."""

    def __init__(self, student, loss):
        self.student, self.loss = student, loss

    def __call__(self, x):
        self.loss.inputs = x
        return self.student(x)


with no_grad():
    train_logits = model(Tensor(X_train)).data
for temperature in (1.0, 4.0):
    softened = np.exp((train_logits - train_logits.max(axis=1, keepdims=True)) / temperature)
    softened /= softened.sum(axis=1, keepdims=True)
    print(f"teacher on the training images at T = {temperature:g}: mean probability of the top class "
          f"{softened.max(axis=1).mean():.3f}")

results = {}
for seed in (0, 1, 2):
    student = mlp((64, 16, 10), seed=10 + seed)
    train(student, 15, lr=1e-2, seed=seed)
    results.setdefault("labels only", []).append(test_set_accuracy(student))
    for temperature in (1.0, 2.0, 4.0, 8.0):
        student = mlp((64, 16, 10), seed=10 + seed)
        loss = Distillation(model, temperature=temperature, alpha=0.3)
        optimizer = Adam(student.parameters(), lr=1e-2)
        Trainer(RememberInputs(student, loss), optimizer, loss, scheduler=CosineAnnealingLR(optimizer, T_max=15),
                progress=False).fit(batches(seed), 15)
        results.setdefault(f"distilled, T = {temperature:g}", []).append(test_set_accuracy(student))
for kind, accuracies in results.items():
    print(f"student, {kind:<17}: test accuracy {', '.join(f'{100 * a:.2f}%' for a in accuracies)} "
          f"(mean {100 * np.mean(accuracies):.2f}%)")
print(f"teacher: {100 * dense_accuracy:.2f}%")

# %% [markdown]
# **Try it.** Fine-tune the 98% sparse model for 10 epochs instead of 3: how much comes back?
# Distil with T = 1 and T = 10: which wrong classes does the teacher's softened distribution
# hint at for a 4 (print `softmax(teacher_logits / T)` for one test image)?
