"""The bundled 8x8 digits: shapes, scaling, the stratified split, integrity, packaging."""

import hashlib
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest

from tinytorch.datasets import ChecksumError, load_digits
from tinytorch.datasets import digits as digits_module

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("split, count", [("train", 1437), ("test", 360)])
def test_shapes_dtypes_and_range(split, count):
    X, y = load_digits(split)
    assert X.shape == (count, 64) and X.dtype == np.float32
    assert y.shape == (count,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert sorted(set(y.tolist())) == list(range(10))


def test_unflattened_raw_grey_levels_are_whole_numbers_up_to_16():
    images, _ = load_digits("test", flatten=False, normalize=False)
    assert images.shape == (360, 8, 8)
    assert images.max() == 16.0
    np.testing.assert_array_equal(images, np.round(images))


def test_normalized_is_raw_divided_by_16():
    raw, y_raw = load_digits("train", normalize=False)
    scaled, y_scaled = load_digits("train")
    np.testing.assert_allclose(scaled, raw / 16.0)
    np.testing.assert_array_equal(y_raw, y_scaled)


def test_split_is_stratified_by_digit():
    _, y_train = load_digits("train")
    _, y_test = load_digits("test")
    test_counts = np.bincount(y_test, minlength=10)
    assert test_counts.min() >= 35 and test_counts.max() <= 37
    # Every digit keeps the test share of the whole set, 360 / 1797, to within one image.
    totals = np.bincount(y_train, minlength=10) + test_counts
    assert np.all(np.abs(test_counts - totals * 360 / 1797) <= 1)


def test_labels_match_images_a_nearest_centroid_classifier_beats_85_percent():
    """If images and labels were shuffled apart, this would fall to about 10%."""
    X_train, y_train = load_digits("train")
    X_test, y_test = load_digits("test")
    centroids = np.stack([X_train[y_train == digit].mean(axis=0) for digit in range(10)])
    distances = ((X_test[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    accuracy = np.mean(distances.argmin(axis=1) == y_test)
    assert accuracy > 0.85
    shuffled = np.random.default_rng(0).permutation(y_test)
    assert np.mean(distances.argmin(axis=1) == shuffled) < 0.3


def test_each_call_returns_fresh_arrays():
    X1, _ = load_digits()
    X1[:] = -1.0
    X2, _ = load_digits()
    assert X2.min() == 0.0


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match=r"load_digits: split must be 'train' or 'test', got 'validation'"):
        load_digits("validation")


def test_a_damaged_bundled_file_fails_with_a_clear_checksum_error(tmp_path, monkeypatch):
    damaged = tmp_path / "digits.npz"
    content = bytearray(digits_module.DIGITS_PATH.read_bytes())
    content[len(content) // 2] ^= 0xFF
    damaged.write_bytes(bytes(content))
    monkeypatch.setattr(digits_module, "DIGITS_PATH", damaged)
    with pytest.raises(ChecksumError, match=r"digits file .* is damaged: its SHA-256 is [0-9a-f]{64}, expected 818a1a52"):
        load_digits()


def test_a_missing_bundled_file_says_to_reinstall(tmp_path, monkeypatch):
    monkeypatch.setattr(digits_module, "DIGITS_PATH", tmp_path / "absent.npz")
    with pytest.raises(FileNotFoundError, match="is missing: reinstall tinytorch"):
        load_digits()


def test_bundled_file_and_its_licence_are_package_data():
    config = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["tinytorch.datasets"]
    data = digits_module.DIGITS_PATH.parent
    for name in ("digits.npz", "LICENSE-digits.md"):
        assert (data / name).is_file()
        assert any(fnmatch(f"data/{name}", pattern) for pattern in patterns), name
    assert "CC BY 4.0" in (data / "LICENSE-digits.md").read_text()


def test_build_script_reproduces_the_bundled_file_byte_for_byte():
    pytest.importorskip("sklearn", reason="scripts/build_digits.py is a maintainer tool that needs scikit-learn")
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "scripts" / "build_digits.py"), "--check"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    expected = hashlib.sha256(digits_module.DIGITS_PATH.read_bytes()).hexdigest()
    assert f"rebuilt  {expected}" in result.stdout
    assert expected == digits_module.DIGITS_SHA256
