"""Handwritten digits, 8x8 pixels, bundled with TinyTorch so they work offline.

1,797 images (grey levels 0..16) from the UCI "Optical Recognition of Handwritten
Digits" data set (CC BY 4.0, see ``data/LICENSE-digits.md``), split once, stratified by
digit, into 1,437 training and 360 test images by ``scripts/build_digits.py``. Small
enough to train an MLP in seconds on a laptop, real enough that test accuracy measures
generalisation: the 360 test images are never seen in training.

The file's SHA-256 digest is checked on every load, so a damaged installation fails
loudly instead of training on garbage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinytorch.datasets.download import ChecksumError, sha256_of

DIGITS_PATH = Path(__file__).parent / "data" / "digits.npz"
DIGITS_SHA256 = "818a1a52e4fe144dc0406ccee135875833e9add32185247a297774c5dada05b2"
GREY_LEVELS = 16  # pixel values run from 0 to 16
SPLITS = ("train", "test")


def load_digits(
    split: str = "train",
    flatten: bool = True,
    normalize: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the bundled digits' ``split`` ("train": 1,437 images, "test": 360) as ``(X, y)``.

    X is float32, shape (N, 64) when ``flatten`` else (N, 8, 8), scaled to [0, 1] when
    ``normalize`` else grey levels 0..16; y is int64 in 0..9.
    """
    if split not in SPLITS:
        raise ValueError(f"load_digits: split must be 'train' or 'test', got {split!r}")
    if not DIGITS_PATH.exists():
        raise FileNotFoundError(
            f"The bundled digits file {DIGITS_PATH} is missing: reinstall tinytorch "
            "(maintainers: python scripts/build_digits.py)"
        )
    actual = sha256_of(DIGITS_PATH)
    if actual != DIGITS_SHA256:
        raise ChecksumError(
            f"The bundled digits file {DIGITS_PATH} is damaged: its SHA-256 is {actual}, "
            f"expected {DIGITS_SHA256}. Reinstall tinytorch (maintainers: "
            "python scripts/build_digits.py, then update DIGITS_SHA256)."
        )

    with np.load(DIGITS_PATH, allow_pickle=False) as archive:
        images = archive[f"{split}_images"]
        labels = archive[f"{split}_labels"]

    X = images.astype(np.float32)
    if normalize:
        X /= GREY_LEVELS
    if flatten:
        X = X.reshape(len(X), -1)
    return X, labels.astype(np.int64)
