"""The shifted digits: every image is one digit of the right split and label at some place.

Each test image is searched, position by position, for the 8x8 digit it was made from; the
check that a CNN beats an MLP of the same size on these images lives with the CNN, in
``modules/tests/integration/test_modules_08_09.py``, and the measured figures in
``docs/datasets.md``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tinytorch.datasets import load_digits, load_shifted_digits


def digit_positions(images: np.ndarray, labels: np.ndarray, digits: np.ndarray, digit_labels: np.ndarray):
    """For each canvas, the (top, left) of a window that is exactly a digit of that label, with
    nothing else on the canvas; None where there is no such window."""
    by_bytes = {}
    for digit, label in zip(digits.astype(np.uint8), digit_labels):
        by_bytes.setdefault(digit.tobytes(), set()).add(int(label))
    size = images.shape[-1]
    positions = []
    for canvas, label in zip(images[:, 0], labels):
        found = None
        for top in range(size - 7):
            for left in range(size - 7):
                window = canvas[top : top + 8, left : left + 8]
                if int(label) in by_bytes.get(window.astype(np.uint8).tobytes(), ()) and window.sum() == canvas.sum():
                    found = (top, left)
                    break
            if found:
                break
        positions.append(found)
    return positions


@pytest.mark.parametrize("split, count", [("train", 2874), ("test", 720)])
def test_shapes_dtypes_range_and_every_digit(split, count):
    X, y = load_shifted_digits(split)
    assert X.shape == (count, 1, 16, 16) and X.dtype == np.float32
    assert y.shape == (count,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y, minlength=10).min() >= 2 * 35  # two copies of each digit of the split
    assert set(y[:50].tolist()) == set(range(10)), "rows are shuffled: a slice holds every digit"


def test_each_test_image_is_one_test_digit_of_its_label_at_a_varying_place():
    X, y = load_shifted_digits("test", normalize=False)
    digits, digit_labels = load_digits("test", flatten=False, normalize=False)
    positions = digit_positions(X, y, digits, digit_labels)
    assert None not in positions
    tops, lefts = zip(*positions)
    # a digit with an empty border matches at more than one place; the search takes the first
    assert set(tops) == set(range(9)) and set(lefts) == set(range(9))
    np.testing.assert_array_equal(np.bincount(y, minlength=10), 2 * np.bincount(digit_labels, minlength=10))


def test_training_images_never_contain_a_test_digit():
    X, y = load_shifted_digits("train", normalize=False)
    test_digits, test_labels = load_digits("test", flatten=False, normalize=False)
    train_digits, train_labels = load_digits("train", flatten=False, normalize=False)
    assert None not in digit_positions(X[:300], y[:300], train_digits, train_labels)
    assert digit_positions(X[:300], y[:300], test_digits, test_labels).count(None) == 300


def test_the_same_seed_gives_the_same_arrays_and_another_seed_other_positions():
    X, y = load_shifted_digits("train", seed=3)
    X_again, y_again = load_shifted_digits("train", seed=3)
    np.testing.assert_array_equal(X, X_again)
    np.testing.assert_array_equal(y, y_again)
    X_other, y_other = load_shifted_digits("train", seed=4)
    assert not np.array_equal(X_other, X)
    np.testing.assert_array_equal(np.sort(y_other), np.sort(y))


@pytest.mark.parametrize("split, digest", [
    ("train", "d7e9f9a7bd16445c140b2fe67516f78e1435aa3798125bc500ec56dfc3b7a163"),
    ("test", "dca3a177473a122f289e41fd9323fdcc245fe82c9927b7ad034d2b8c01dd7a38"),
])
def test_the_default_arrays_are_the_ones_the_documented_figures_were_measured_on(split, digest):
    """docs/datasets.md quotes accuracies on exactly these arrays. NumPy keeps its generators'
    streams stable in practice but does not promise it across versions: if this fails after an
    upgrade, the data changed, and the figures must be measured again."""
    X, y = load_shifted_digits(split, normalize=False)
    assert hashlib.sha256(X.astype(np.uint8).tobytes() + y.tobytes()).hexdigest() == digest


def test_clutter_adds_fragments_of_other_digits_around_the_digit():
    clean, labels = load_shifted_digits("test", normalize=False)
    cluttered, cluttered_labels = load_shifted_digits("test", normalize=False, clutter=3)
    np.testing.assert_array_equal(np.sort(labels), np.sort(cluttered_labels))
    ink = (clean > 0).sum(axis=(1, 2, 3)).mean()
    cluttered_ink = (cluttered > 0).sum(axis=(1, 2, 3)).mean()
    assert cluttered_ink > ink + 10, (ink, cluttered_ink)
    assert cluttered.max() == 16.0 and cluttered.min() == 0.0, "overlaps keep the brighter pixel, never add"


def test_canvas_size_copies_flatten():
    X, y = load_shifted_digits("test", canvas_size=20, copies=1, flatten=True)
    assert X.shape == (360, 400) and y.shape == (360,)
    X8, _ = load_shifted_digits("test", canvas_size=8, copies=1, normalize=False)
    digits, _ = load_digits("test", flatten=False, normalize=False)
    np.testing.assert_array_equal(np.sort(X8.reshape(360, -1), axis=0), np.sort(digits.reshape(360, -1), axis=0))


@pytest.mark.parametrize("arguments, message", [
    ({"split": "valid"}, "load_shifted_digits: split must be 'train' or 'test', got 'valid'"),
    ({"canvas_size": 7}, "load_shifted_digits: canvas_size must be an integer >= 8, got 7"),
    ({"copies": 0}, "load_shifted_digits: copies must be an integer >= 1, got 0"),
    ({"clutter": -1}, "load_shifted_digits: clutter must be an integer >= 0, got -1"),
    ({"fragment_size": 9}, "load_shifted_digits: fragment_size must be at most 8 (a piece of an 8x8 digit), got 9"),
    ({"seed": -2}, "load_shifted_digits: seed must be an integer >= 0, got -2"),
    ({"seed": None}, "load_shifted_digits: seed must be an integer >= 0, got None"),
])
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError) as caught:
        load_shifted_digits(**arguments)
    assert str(caught.value) == message
