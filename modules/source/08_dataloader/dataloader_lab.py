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
# # Module 08 — DataLoader lab
#
# You implement datasets, the loader and the batch transforms in
# `src/tinytorch/dataloader.py` (the `TODO (08_dataloader)` blocks); this lab looks at what
# they do to a training run and measures what they cost. Run it top to bottom after each
# task. The tests are the judge: `pytest modules/source/08_dataloader`.

# %%
import statistics
import time

import matplotlib.pyplot as plt
import numpy as np

import tinytorch
from tinytorch.activations import ReLU
from tinytorch.dataloader import (
    Compose,
    DataLoader,
    Dataset,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    TensorDataset,
)
from tinytorch.datasets import load_digits
from tinytorch.layers import Linear, Sequential
from tinytorch.losses import CrossEntropyLoss
from tinytorch.optimizers import SGD
from tinytorch.training import Trainer

# %% [markdown]
# ## 1. From arrays to batches
#
# A `TensorDataset` pairs arrays row by row; a `DataLoader` cuts it into batches of Tensors.
# `len(loader)` counts batches, which is what a progress bar needs.

# %%
train_x, train_y = load_digits("train", flatten=False)  # (1437, 8, 8) in [0, 1]
test_x, test_y = load_digits("test", flatten=False)
train_images, test_images = train_x[:, None], test_x[:, None]  # (N, 1, 8, 8): one channel
train_set = TensorDataset(train_images, train_y)

loader = DataLoader(train_set, batch_size=64, shuffle=True, seed=0)
x, y = next(iter(loader))
print(loader)
print("batches per epoch:", len(loader), "| first batch:", x.shape, x.dtype, y.shape, y.dtype)
print("with drop_last:", len(DataLoader(train_set, batch_size=64, drop_last=True)), "batches")

# %% [markdown]
# ## 2. A new order every epoch, the same order every run
#
# With `seed=0` the loader owns a generator: its first epoch is the same every time you run
# this notebook, and each later epoch draws a new permutation.

# %%
def first_labels(loader, count=8):
    return next(iter(loader))[1].data[:count].tolist()


seeded = DataLoader(train_set, batch_size=64, shuffle=True, seed=0)
print("epoch 1:", first_labels(seeded))
print("epoch 2:", first_labels(seeded))
print("a new loader with seed 0, epoch 1:", first_labels(DataLoader(train_set, batch_size=64, shuffle=True, seed=0)))

# %% [markdown]
# ## 3. Why shuffle at all?
#
# Sort the training set by digit and train without shuffling: every epoch ends with a run
# of nines, and each epoch's last updates pull the network towards whatever it saw last.
# The same data shuffled every epoch trains an unbiased network.

# %%
sorted_order = np.argsort(train_y, kind="stable")
sorted_set = TensorDataset(train_images[sorted_order].reshape(-1, 64), train_y[sorted_order])
test_batches = [(test_images.reshape(-1, 64), test_y)]


def train_mlp(loader, epochs=8):
    tinytorch.manual_seed(0)
    model = Sequential(Linear(64, 32), ReLU(), Linear(32, 10))
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1, momentum=0.9), CrossEntropyLoss(), progress=False)
    history = trainer.fit(loader, epochs=epochs, val_batches=test_batches)
    predictions = model(tinytorch.Tensor(test_images.reshape(-1, 64))).data.argmax(axis=1)
    return history, np.bincount(predictions, minlength=10)


for name, loader in {
    "sorted, not shuffled": DataLoader(sorted_set, batch_size=32),
    "shuffled every epoch": DataLoader(sorted_set, batch_size=32, shuffle=True, seed=0),
}.items():
    history, predicted = train_mlp(loader)
    print(f"{name:22s} test accuracy {history['val_accuracy'][-1]:.3f}  predictions per digit {predicted.tolist()}")

# %% [markdown]
# ## 4. Gathering a batch: item by item, or one fancy index
#
# A generic `Dataset` answers one index at a time, so the loader loops in Python and stacks
# the samples (`default_collate`). A `TensorDataset` hands over `array[indices]` for the
# whole batch. Same batches, bit for bit; the difference is the time. Both loaders are timed
# on whole epochs over 20,000 images of 1x16x16, interleaved (A B A B ...) so that a slow
# moment of the shared machine hits both alike, and the medians are compared.

# %%
class OneAtATime(Dataset):
    """The same samples as a TensorDataset, but only reachable one index at a time."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]


rng = np.random.default_rng(0)
images = rng.random((20_000, 1, 16, 16), dtype=np.float32)
labels = rng.integers(0, 10, 20_000)
loaders = {
    "item by item + collate": DataLoader(OneAtATime(images, labels), batch_size=64, shuffle=True, seed=1),
    "vectorized gather": DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True, seed=1),
}
for (a_x, a_y), (b_x, b_y) in zip(*loaders.values()):
    assert np.array_equal(a_x.data, b_x.data) and np.array_equal(a_y.data, b_y.data)
print("identical batches from both loaders")


def epoch_seconds(loader):
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def interleaved_medians(loaders, rounds=7):
    times = {name: [] for name in loaders}
    for _ in range(rounds):
        for name, loader in loaders.items():
            times[name].append(epoch_seconds(loader))
    return {name: statistics.median(seconds) for name, seconds in times.items()}


medians = interleaved_medians(loaders)
for name, seconds in medians.items():
    print(f"{name:24s} {seconds * 1e3:7.1f} ms per epoch   {len(images) / seconds:12,.0f} images/s")
slow, fast = medians.values()
print(f"vectorized gathering is {slow / fast:.0f}x faster")

# %% [markdown]
# **Try it.** Change the batch size to 8 and to 512. The item-by-item loader costs about
# the same per *image* whatever the batch size; the vectorized one gets cheaper per image as
# batches grow, because its Python overhead is paid once per batch.

# %% [markdown]
# ## 5. Transforms on whole batches
#
# `RandomCrop(8, padding=2)` shifts each digit by up to two pixels; `RandomHorizontalFlip`
# mirrors (fine for cats and trucks, wrong for digits: a mirrored 2 is not a 2, which is
# why augmentation must suit the data). Both draw one random decision per image for the
# whole batch at once.

# %%
augment = Compose([RandomCrop(8, padding=2, seed=0), RandomHorizontalFlip(p=0.5, seed=0)])
originals = train_images[:8]
augmented = augment(originals)
figure, axes = plt.subplots(2, 8, figsize=(8, 2.2))
for column in range(8):
    axes[0, column].imshow(originals[column, 0], cmap="gray_r")
    axes[1, column].imshow(augmented[column, 0], cmap="gray_r")
    for row in (0, 1):
        axes[row, column].axis("off")
axes[0, 0].set_title("original", fontsize=8, loc="left")
axes[1, 0].set_title("crop + flip", fontsize=8, loc="left")

# %% [markdown]
# What a transform costs per batch of 256 CIFAR-sized images (3x32x32, uint8 like the real
# data), each transform timed alone, in interleaved rounds:

# %%
cifar_sized = rng.integers(0, 256, size=(256, 3, 32, 32), dtype=np.uint8)
channel_mean = np.array([125.3, 123.0, 113.9], dtype=np.float32).reshape(1, 3, 1, 1)
channel_std = np.array([63.0, 62.1, 66.7], dtype=np.float32).reshape(1, 3, 1, 1)
transforms = {
    "Normalize": Normalize([125.3, 123.0, 113.9], [63.0, 62.1, 66.7]),
    "Normalize, 2 temporaries": lambda batch: (batch.astype(np.float32) - channel_mean) / channel_std,
    "RandomHorizontalFlip": RandomHorizontalFlip(seed=0),
    "RandomCrop(32, padding=4)": RandomCrop(32, padding=4, seed=0),
}
samples = {name: [] for name in transforms}
for _ in range(15):
    for name, transform in transforms.items():
        start = time.perf_counter()
        transform(cifar_sized)
        samples[name].append(time.perf_counter() - start)
for name, seconds in samples.items():
    print(f"{name:26s} {statistics.median(seconds) * 1e3:6.2f} ms per batch of 256")
assert np.allclose(transforms["Normalize"](cifar_sized), transforms["Normalize, 2 temporaries"](cifar_sized))

# %% [markdown]
# **Look closely.** Both `Normalize` versions compute the same numbers. The one written as
# `(x - mean) / std` allocates a fresh 3 MB array for each of its two steps; writing the
# second and third steps in place (`-=`, `/=`) on the one float32 copy avoids that, and
# fresh memory is not free: the system must hand over (and zero) new pages each time.

# %% [markdown]
# ## 6. Normalizing with the training set's statistics
#
# Compute the per-channel mean and standard deviation on the *training* images only, and
# use the same numbers for the test images: the test set must not leak into training.

# %%
mean, std = train_images.mean(axis=(0, 2, 3)), train_images.std(axis=(0, 2, 3))
normalized = Normalize(mean, std)(train_images)
print("channel mean", mean.round(4), "std", std.round(4))
print("after Normalize: mean", normalized.mean().round(6), "std", normalized.std().round(4))
