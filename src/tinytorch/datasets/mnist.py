"""MNIST: 70,000 handwritten digits (28x28, 256 grey levels), downloaded on first use.

MNIST is distributed as four gzip-compressed files in the IDX format, a tiny binary
format for n-dimensional arrays that this module reads itself:

    bytes 0-1   zero
    byte  2     element type (0x08 = unsigned byte, ... see IDX_TYPES)
    byte  3     number of dimensions n
    then        n sizes, each a big-endian 32-bit unsigned integer
    then        the elements, big-endian, in row-major order

The files are fetched from the first mirror that works, checked against their published
SHA-256 digests and kept in ``<cache>/mnist/`` (see ``download.default_cache_dir``), so
only the first call needs the network. Without network, ``load_digits()`` gives the
bundled 8x8 digits instead.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from tinytorch.datasets.download import RemoteFile, default_cache_dir, fetch

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist",
    "https://storage.googleapis.com/cvdf-datasets/mnist",
)
"""Base URLs tried in order: PyTorch's S3 mirror, then TensorFlow's Google Cloud mirror."""

MNIST_FILES = {
    "train": (
        RemoteFile("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9_912_422),
        RemoteFile("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28_881),
    ),
    "test": (
        RemoteFile("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1_648_877),
        RemoteFile("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4_542),
    ),
}
"""(images, labels) per split, with the SHA-256 digests and sizes of the published files."""

IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX element-type codes and their big-endian NumPy types."""


def parse_idx(raw: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode uncompressed IDX bytes into an array of the stored shape and type."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise ValueError(f"{name} is not an IDX file: its first 4 bytes are {raw[:4].hex()}, "
                         f"expected 00 00 <type code> <dimensions>")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{name} ends inside its header ({len(raw)} bytes)")
    shape = tuple(int(size) for size in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    body = len(raw) - header_size
    if body != expected:
        raise ValueError(f"{name} holds {body} bytes of data, expected {expected} for shape {shape}")
    array = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


def read_idx_gz(path: Path) -> np.ndarray:
    """Read a gzip-compressed IDX file, as MNIST is distributed."""
    with gzip.open(path, "rb") as file:
        return parse_idx(file.read(), name=Path(path).name)


def offline_hint(directory: Path) -> str:
    """What to do when MNIST cannot be downloaded."""
    names = ", ".join(remote.name for files in MNIST_FILES.values() for remote in files)
    return (
        "MNIST needs the network the first time. Either copy the files "
        f"({names}) into {directory} (or set the TINYTORCH_DATA environment variable to a "
        "directory whose mnist/ subdirectory holds them), or use "
        "tinytorch.datasets.load_digits(), the bundled 8x8 digits, which works offline."
    )


def load_mnist(
    split: str = "train",
    *,
    flatten: bool = True,
    normalize: bool = True,
    cache_dir: str | Path | None = None,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return MNIST's ``split`` ("train": 60,000 images, "test": 10,000) as ``(X, y)``.

    X is float32, shape (N, 784) when ``flatten`` else (N, 28, 28), scaled to [0, 1] when
    ``normalize`` else grey levels 0..255; y is int64 in 0..9.

    cache_dir: root of the data cache (files go to ``<cache_dir>/mnist``); defaults to
        ``$TINYTORCH_DATA`` or the user cache directory.
    mirrors: base URLs to try in order instead of ``MNIST_MIRRORS``.
    checksums: file name -> SHA-256 digest, replacing the published digests (for tests
        and private copies); the published sizes are then not checked either.
    progress: ``None`` shows download progress on a terminal, ``True`` always, ``False`` never.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"load_mnist: split must be 'train' or 'test', got {split!r}")
    directory = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "mnist"
    mirrors = MNIST_MIRRORS if mirrors is None else tuple(mirrors)
    remotes = MNIST_FILES[split]
    if checksums is not None:
        missing = [remote.name for remote in remotes if remote.name not in checksums]
        if missing:
            raise ValueError(f"load_mnist: checksums has no SHA-256 for {', '.join(missing)}")
        remotes = tuple(RemoteFile(remote.name, checksums[remote.name]) for remote in remotes)

    hint = offline_hint(directory)
    images_path, labels_path = (
        fetch(remote, mirrors, directory, progress=progress, offline_hint=hint) for remote in remotes
    )
    images, labels = read_idx_gz(images_path), read_idx_gz(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"MNIST {split} files disagree: images of shape {images.shape}, labels of shape "
            f"{labels.shape}; expected (N, rows, columns) and (N,)"
        )

    X = images.astype(np.float32)
    if normalize:
        X /= 255.0
    if flatten:
        X = X.reshape(len(X), -1)
    return X, labels.astype(np.int64)
