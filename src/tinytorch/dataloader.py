"""Module 08 — DataLoader: from a pile of samples to a stream of shuffled, augmented batches.

Training looks at data one batch at a time, in a new random order every epoch. This module
builds the three pieces that do that, in the shape PyTorch gave them:

- a ``Dataset`` knows how many samples it has and how to fetch sample ``i``;
  ``TensorDataset`` is the common case, samples that are rows of arrays already in memory;
- a ``DataLoader`` cuts a dataset into batches: shuffled (reproducibly, with a seed, and
  differently each epoch), gathered, collated into arrays and handed out as ``Tensor``s;
- transforms (``Normalize``, ``RandomHorizontalFlip``, ``RandomCrop``, chained by
  ``Compose``) change a whole batch of images ``(N, C, H, W)`` at once, which is how data
  augmentation gets a CNN more out of the same pictures.

The systems lesson is in how a batch is gathered. A generic dataset can only be asked for
one sample at a time, so the loader calls ``dataset[i]`` for each index and stacks the
results (``default_collate``): a Python loop per sample. When the dataset is a block of
arrays (``TensorDataset``), one fancy-indexing operation ``array[indices]`` fetches the
whole batch in a single pass of compiled code. The lab measures the difference.

Randomness follows the library's convention (``tinytorch.rng``): a ``seed`` gives the
loader or transform its own generator, so its draws repeat exactly run after run; without
one it draws from the library's generator, which ``tinytorch.manual_seed`` resets.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from numbers import Integral

import numpy as np

from tinytorch.rng import generator
from tinytorch.tensor import Tensor


def _plain(value):
    """The array behind a Tensor, anything else unchanged (samples may mix both)."""
    return value.data if isinstance(value, Tensor) else value


class _Random:
    """Where a seeded object draws its random numbers: its own generator, or the library's."""

    def __init__(self, seed):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0):
            raise ValueError(f"seed={seed!r}: expected a non-negative integer or None")
        self.seed = seed
        self.own = np.random.default_rng(seed) if seed is not None else None

    def generator(self) -> np.random.Generator:
        # The library's generator is looked up on every draw: manual_seed replaces it.
        return self.own if self.own is not None else generator()


# -- datasets ----------------------------------------------------------------------------------
class Dataset(ABC):
    """A collection of samples: ``len(dataset)`` of them, sample ``i`` is ``dataset[i]``.

    Subclass it for data that is not a block of arrays: files on disk, samples generated on
    the fly. A sample is usually a tuple ``(input, label)``.
    """

    @abstractmethod
    def __len__(self) -> int:
        """The number of samples."""

    @abstractmethod
    def __getitem__(self, index: int):
        """Sample number ``index``, for 0 <= index < len(self)."""


class TensorDataset(Dataset):
    """Samples that are the rows of arrays of equal length: sample ``i`` is ``(a[i], b[i], ...)``.

    >>> data = TensorDataset(images, labels)      # images (N, C, H, W), labels (N,)
    >>> x, y = data[0]                            # one image and its label
    >>> xs, ys = data.gather(np.array([4, 0]))    # two samples, one fancy index per array

    Arrays and Tensors are both accepted and kept as NumPy arrays (no copy).
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array, e.g. TensorDataset(images, labels)")
        self.arrays = tuple(np.asarray(_plain(array)) for array in arrays)
        for position, array in enumerate(self.arrays):
            if array.ndim == 0:
                raise ValueError(
                    f"TensorDataset array {position} is a single number (shape ()): expected an "
                    "array with one row per sample"
                )
        lengths = [len(array) for array in self.arrays]
        if len(set(lengths)) > 1:
            described = ", ".join(f"array {position} has {length}" for position, length in enumerate(lengths))
            raise ValueError(
                f"TensorDataset arrays differ in their first dimension: {described}; expected the "
                "same number of samples (rows) in every array"
            )

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        # BEGIN SOLUTION
        return tuple(array[index] for array in self.arrays)
        # END SOLUTION

    def gather(self, indices: np.ndarray) -> tuple:
        """The samples at ``indices``, as one array per field: ``array[indices]`` for each array.

        One fancy-indexing operation per array, whatever the batch size: this is what makes a
        ``DataLoader`` over a ``TensorDataset`` fast.
        """
        # BEGIN SOLUTION
        return tuple(array[indices] for array in self.arrays)
        # END SOLUTION


def default_collate(samples: list):
    """Stack a list of samples into one batch.

    Samples that are tuples ``(x, y, ...)`` give a tuple of stacked arrays ``(X, Y, ...)``
    with the batch as the first axis; samples that are single arrays or numbers give one
    stacked array. Tensors are stacked by their data. All samples must have the same
    structure and shapes.
    """
    if not samples:
        raise ValueError("default_collate got no samples: expected a non-empty list")
    first = samples[0]
    if isinstance(first, (tuple, list)):
        widths = {len(sample) if isinstance(sample, (tuple, list)) else 1 for sample in samples}
        if widths != {len(first)}:
            raise ValueError(
                f"default_collate got samples with different numbers of fields {sorted(widths)}: "
                f"expected every sample to have {len(first)} like the first"
            )
        fields = list(zip(*samples))
    else:
        fields = None
    try:
        # BEGIN SOLUTION
        if fields is None:
            return np.stack([np.asarray(_plain(sample)) for sample in samples])
        return tuple(np.stack([np.asarray(_plain(value)) for value in field]) for field in fields)
        # END SOLUTION
    except ValueError as error:
        if "same shape" not in str(error):
            raise
        shapes = sorted({np.shape(_plain(sample[0] if fields is not None else sample)) for sample in samples})
        raise ValueError(
            f"default_collate cannot stack samples of different shapes (first fields have shapes "
            f"{shapes}): resize them to one shape, or pass DataLoader(..., collate_fn=...)"
        ) from None


# -- the loader ----------------------------------------------------------------------------------
class DataLoader:
    """Batches of a dataset, as Tensors, in a fresh order every epoch when ``shuffle``.

    batch_size: samples per batch; the last batch may be smaller unless ``drop_last``.
    shuffle: a new random order on every pass (``for batch in loader``); otherwise in order.
    seed: the loader's own generator, for an order that repeats run after run (the first
        epoch with seed 0 is always the same, the second differs from it, ...). Without a
        seed the order comes from the library's generator (``tinytorch.manual_seed``).
    collate_fn: turns a list of samples into a batch (default ``default_collate``). Giving one
        fetches samples one at a time, even from a ``TensorDataset``.
    transform: applied to the first field of every batch (the inputs) as a NumPy array,
        e.g. ``Compose([RandomCrop(32, padding=4), RandomHorizontalFlip()])``.

    Each batch is a tuple of Tensors ``(x, y, ...)`` (a single Tensor for one-field samples).
    ``len(loader)`` is the number of batches per epoch, so a ``Trainer`` can show progress.
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        collate_fn=None,
        transform=None,
    ):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(
                f"DataLoader dataset must have __len__ and __getitem__ (a Dataset or TensorDataset); "
                f"got {type(dataset).__name__}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
            raise ValueError(f"DataLoader batch_size={batch_size!r}: expected a positive integer")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader collate_fn must be callable; got {collate_fn!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader transform must be callable, e.g. Normalize(...); got {transform!r}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.collate_fn, self.transform = collate_fn, transform
        self.random = _Random(seed)
        self.vectorized = collate_fn is None and callable(getattr(dataset, "gather", None))
        """True when whole batches are fetched with one fancy index (``dataset.gather``)."""

    def __len__(self) -> int:
        """Batches per epoch: ``ceil(N / batch_size)``, or ``N // batch_size`` with ``drop_last``."""
        # BEGIN SOLUTION
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)
        # END SOLUTION

    def epoch_order(self) -> np.ndarray:
        """The sample indices of one epoch: a fresh permutation when shuffling, else 0..N-1."""
        # BEGIN SOLUTION
        if self.shuffle:
            return self.random.generator().permutation(len(self.dataset))
        return np.arange(len(self.dataset))
        # END SOLUTION

    def batch_indices(self):
        """The index arrays of one epoch's batches, in order (an epoch's order drawn first)."""
        order = self.epoch_order()
        # BEGIN SOLUTION
        for batch in range(len(self)):
            yield order[batch * self.batch_size : (batch + 1) * self.batch_size]
        # END SOLUTION

    def fetch(self, indices: np.ndarray):
        """One batch as arrays: ``dataset.gather(indices)`` when it can, else item by item + collate."""
        # BEGIN SOLUTION
        if self.vectorized:
            return self.dataset.gather(indices)
        collate = self.collate_fn or default_collate
        return collate([self.dataset[int(index)] for index in indices])
        # END SOLUTION

    def __iter__(self):
        for indices in self.batch_indices():
            batch = self.fetch(indices)
            fields = list(batch) if isinstance(batch, (tuple, list)) else [batch]
            if self.transform is not None:
                fields[0] = self.transform(_plain(fields[0]))
            tensors = tuple(Tensor(field) if isinstance(field, np.ndarray) else field for field in fields)
            yield tensors if isinstance(batch, (tuple, list)) else tensors[0]

    def __repr__(self) -> str:
        return (
            f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.random.seed})"
        )


# -- transforms on whole batches (N, C, H, W) ------------------------------------------------------
def _image_batch(name: str, images) -> np.ndarray:
    images = np.asarray(_plain(images))
    if images.ndim != 4:
        raise ValueError(f"{name} expects a batch of images of shape (N, C, H, W); got shape {images.shape}")
    return images


class Compose:
    """Apply transforms one after another: ``Compose([RandomCrop(28, 2), Normalize(...)])``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for position, transform in enumerate(self.transforms):
            if not callable(transform):
                raise TypeError(f"Compose transform {position} is not callable: {transform!r}")

    def __call__(self, images):
        for transform in self.transforms:
            images = transform(images)
        return images

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(transform) for transform in self.transforms) + "])"


class Normalize:
    """Per channel: ``(x - mean[c]) / std[c]``, as float32. Works on (N, C, ...) of any rank >= 2.

    Use the training set's channel means and standard deviations, so every channel reaches
    the network centred and of unit scale.
    """

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1)
        if len(self.mean) != len(self.std):
            raise ValueError(
                f"Normalize got {len(self.mean)} means and {len(self.std)} standard deviations: "
                "expected one of each per channel"
            )
        if not np.all(self.std > 0):
            raise ValueError(f"Normalize std={self.std.tolist()}: expected every standard deviation > 0")

    def __call__(self, images):
        images = np.asarray(_plain(images))
        if images.ndim < 2 or images.shape[1] != len(self.mean):
            raise ValueError(
                f"Normalize has {len(self.mean)} channel means but got a batch of shape {images.shape}: "
                f"expected (N, {len(self.mean)}, ...)"
            )
        per_channel = (1, len(self.mean)) + (1,) * (images.ndim - 2)
        # BEGIN SOLUTION
        normalized = images.astype(np.float32)  # a new array: the caller's batch is left alone
        normalized -= self.mean.reshape(per_channel)
        normalized /= self.std.reshape(per_channel)
        return normalized
        # END SOLUTION

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``, all images of a batch at once."""

    def __init__(self, p: float = 0.5, seed: int | None = None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip p={p}: expected a probability, 0 <= p <= 1")
        self.p = float(p)
        self.random = _Random(seed)

    def __call__(self, images):
        images = _image_batch("RandomHorizontalFlip", images)
        # BEGIN SOLUTION
        flip = self.random.generator().random(len(images)) < self.p
        return np.where(flip[:, None, None, None], images[..., ::-1], images)
        # END SOLUTION

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomCrop:
    """Pad each side with ``padding`` zeros, then cut a ``size`` window at a random place per image.

    size: an int for square crops or ``(height, width)``. With ``padding=p`` and a crop the
    size of the image, the picture moves by up to ``p`` pixels in each direction: the
    standard CIFAR-10 augmentation is ``RandomCrop(32, padding=4)``.
    """

    def __init__(self, size, padding: int = 0, seed: int | None = None):
        sizes = (size, size) if isinstance(size, Integral) else tuple(size)
        if len(sizes) != 2 or not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes):
            raise ValueError(f"RandomCrop size={size!r}: expected a positive int or (height, width)")
        if isinstance(padding, bool) or not isinstance(padding, Integral) or padding < 0:
            raise ValueError(f"RandomCrop padding={padding!r}: expected an integer >= 0")
        self.size = (int(sizes[0]), int(sizes[1]))
        self.padding = int(padding)
        self.random = _Random(seed)

    def __call__(self, images):
        images = _image_batch("RandomCrop", images)
        height, width = self.size
        padded_height, padded_width = images.shape[2] + 2 * self.padding, images.shape[3] + 2 * self.padding
        if height > padded_height or width > padded_width:
            raise ValueError(
                f"RandomCrop size {self.size} is larger than the padded images "
                f"({padded_height}, {padded_width}) of a batch of shape {images.shape}"
            )
        count = len(images)
        # BEGIN SOLUTION
        p = self.padding
        padded = np.pad(images, ((0, 0), (0, 0), (p, p), (p, p)))
        random = self.random.generator()
        tops = random.integers(0, padded_height - height + 1, size=count)
        lefts = random.integers(0, padded_width - width + 1, size=count)
        windows = np.lib.stride_tricks.sliding_window_view(padded, (height, width), axis=(2, 3))
        return windows[np.arange(count), :, tops, lefts]  # (N, C, height, width)
        # END SOLUTION

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


__all__ = [
    "Compose", "DataLoader", "Dataset", "Normalize", "RandomCrop", "RandomHorizontalFlip",
    "TensorDataset", "default_collate",
]
