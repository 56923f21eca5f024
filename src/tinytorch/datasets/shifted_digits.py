"""Shifted digits: the bundled 8x8 digits pasted at random places on a larger canvas, offline.

An image dataset on which *where* a stroke is matters less than *what shape* it has: the
same digit appears anywhere on a 16x16 canvas (by default), so a network must recognise it
wherever it is. A convolutional network gets that for free (the same filters slide over
every position, pooling forgets the exact place); a fully connected network must learn
every digit again at every position. That makes it the course's offline test bed for
Milestone 3, where a CNN has to beat an MLP of the same size, in the spirit of the
"translated" and "cluttered" MNIST variants used to test spatial models (Mnih et al.,
*Recurrent Models of Visual Attention*, 2014).

Made from ``load_digits`` (CC BY 4.0, see ``data/LICENSE-digits.md``), deterministically
from ``seed`` and in a few tens of milliseconds, so nothing is downloaded or stored:

- each image of the digits' ``split`` is pasted ``copies`` times, at uniformly random
  positions, so the test set holds only digits never seen in training;
- ``clutter`` optional distractors per image: ``fragment_size`` x ``fragment_size``
  pieces cut from random other digits of the same split and pasted at random positions
  (overlaps keep the brighter pixel);
- rows come back shuffled, so any slice of them holds every digit.
"""

from __future__ import annotations

import numpy as np

from tinytorch.datasets.digits import GREY_LEVELS, SPLITS, load_digits
from tinytorch.datasets.toy import _check_count

DIGIT_SIZE = 8
SPLIT_STREAMS = {"train": 0, "test": 1}
"""Each split draws from its own stream of the seed, so the two never share positions."""


def load_shifted_digits(
    split: str = "train",
    *,
    canvas_size: int = 16,
    copies: int = 2,
    clutter: int = 0,
    fragment_size: int = 4,
    seed: int = 0,
    normalize: bool = True,
    flatten: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Digits of ``split`` at random positions on a ``canvas_size`` square, as ``(X, y)``.

    X is float32 of shape (N, 1, canvas_size, canvas_size), or (N, canvas_size**2) when
    ``flatten``; scaled to [0, 1] when ``normalize``, else grey levels 0..16. y is int64 in
    0..9. N = ``copies`` x 1,437 for "train" and ``copies`` x 360 for "test".

    The same arguments give the same arrays on every machine.
    """
    function = "load_shifted_digits"
    if split not in SPLITS:
        raise ValueError(f"{function}: split must be 'train' or 'test', got {split!r}")
    _check_count(function, "canvas_size", canvas_size, minimum=DIGIT_SIZE)
    _check_count(function, "copies", copies, minimum=1)
    _check_count(function, "clutter", clutter, minimum=0)
    _check_count(function, "fragment_size", fragment_size, minimum=1)
    if fragment_size > DIGIT_SIZE:
        raise ValueError(
            f"{function}: fragment_size must be at most {DIGIT_SIZE} (a piece of an 8x8 digit), "
            f"got {fragment_size}"
        )
    _check_count(function, "seed", seed, minimum=0)  # no None: the dataset is fixed by its seed
    random = np.random.default_rng([seed, SPLIT_STREAMS[split]])

    digits, labels = load_digits(split, flatten=False, normalize=False)
    digits = digits.astype(np.uint8)
    count = len(labels) * copies
    source = np.tile(np.arange(len(labels)), copies)
    canvas = np.zeros((count, canvas_size, canvas_size), dtype=np.uint8)
    for _ in range(clutter):
        donors = random.integers(0, len(labels), count)
        fragments = _windows(digits[donors], random, fragment_size)
        _paste(canvas, fragments, random)
    _paste(canvas, digits[source], random)

    order = random.permutation(count)
    X = canvas[order, None].astype(np.float32)
    if normalize:
        X /= GREY_LEVELS
    if flatten:
        X = X.reshape(count, -1)
    return X, labels[source][order].astype(np.int64)


def _windows(images: np.ndarray, random: np.random.Generator, size: int) -> np.ndarray:
    """One ``size`` x ``size`` window per image, at a random place inside it."""
    tops = random.integers(0, images.shape[1] - size + 1, len(images))
    lefts = random.integers(0, images.shape[2] - size + 1, len(images))
    rows = (tops[:, None] + np.arange(size))[:, :, None]
    columns = (lefts[:, None] + np.arange(size))[:, None, :]
    return images[np.arange(len(images))[:, None, None], rows, columns]


def _paste(canvas: np.ndarray, pieces: np.ndarray, random: np.random.Generator) -> None:
    """Paste piece ``n`` onto canvas ``n`` at a random position, keeping the brighter pixel."""
    count, height, width = pieces.shape
    tops = random.integers(0, canvas.shape[1] - height + 1, count)
    lefts = random.integers(0, canvas.shape[2] - width + 1, count)
    images = np.arange(count)[:, None, None]
    rows = (tops[:, None] + np.arange(height))[:, :, None]
    columns = (lefts[:, None] + np.arange(width))[:, None, :]
    canvas[images, rows, columns] = np.maximum(canvas[images, rows, columns], pieces)
