"""CIFAR-10: 60,000 colour images of 32x32 pixels in ten classes, downloaded on first use.

The data set (Krizhevsky, *Learning Multiple Layers of Features from Tiny Images*, 2009)
is published as one archive, ``cifar-10-python.tar.gz`` (170,498,071 bytes), holding five
training batches of 10,000 images, a test batch of 10,000 and a small metadata file. Each
batch is a Python *pickle* of a dict: ``b"data"``, a uint8 array of shape (10000, 3072)
(the 1,024 red values of an image, then green, then blue, each row by row) and
``b"labels"``, a list of 10,000 class numbers.

Two things in that format are dangerous to trust:

- a tar member's name is a path that ``extractall`` would follow anywhere (``../``, an
  absolute path, a symbolic link); so nothing is extracted at all: every member is
  checked (a regular file, or the one folder, with one of the expected names) and the
  batches are read from the archive straight into memory;
- ``pickle.load`` runs whatever code a pickle asks for; so the batches are read by an
  unpickler that can build only plain containers and NumPy arrays (``BatchUnpickler``).

The archive is fetched by the generic downloader (``download.fetch``: SHA-256 checked,
atomic, with a progress bar) into ``<cache>/cifar10/``. The decoded arrays are then kept
next to it as ``cifar10-<split>.npz``, so later calls read plain arrays in a fraction of
a second and work offline, even without the archive. Without network and without a cache,
``load_shifted_digits()`` is the offline image dataset.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import tarfile
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Sequence

import numpy as np

from tinytorch.datasets.download import RemoteFile, default_cache_dir, fetch

CIFAR10_MIRRORS = ("https://www.cs.toronto.edu/~kriz",)
"""The official site (https://www.cs.toronto.edu/~kriz/cifar.html)."""

CIFAR10_ARCHIVE = RemoteFile(
    "cifar-10-python.tar.gz",
    sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    size=170_498_071,
)
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
"""The MD5 digest the CIFAR page publishes; the loader checks the stronger SHA-256 above,
which is the digest of the same file (as Keras's loader also pins it)."""

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
"""Class names in label order, as in the archive's ``batches.meta``."""

FOLDER = "cifar-10-batches-py"
BATCHES = {
    "train": tuple(f"{FOLDER}/data_batch_{number}" for number in range(1, 6)),
    "test": (f"{FOLDER}/test_batch",),
}
EXPECTED_FILES = frozenset({*BATCHES["train"], *BATCHES["test"], f"{FOLDER}/batches.meta", f"{FOLDER}/readme.html"})
"""Every regular file the archive may hold; its only folder is ``FOLDER``."""

IMAGE_SHAPE = (3, 32, 32)
CACHE_FORMAT_VERSION = 1


class ArchiveError(ValueError):
    """An archive or a batch in it is not what CIFAR-10 publishes: unsafe, incomplete or malformed."""


class BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch and nothing else: only the callables that rebuild a NumPy array.

    A pickle names the functions that rebuild its objects (``find_class``); a malicious one
    names ``os.system``. CIFAR's batches need NumPy's array reconstructor, ``ndarray`` and
    ``dtype`` (and ``_codecs.encode``, with which Python 3 writes bytes in protocol 2);
    anything else is refused before it can run.
    """

    def find_class(self, module: str, name: str):
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _array_reconstructor()
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):
            return codecs.encode
        raise pickle.UnpicklingError(
            f"the pickle asks for {module}.{name}; a CIFAR-10 batch only needs NumPy arrays, "
            "lists and bytes, so it is refused"
        )


def _array_reconstructor():
    try:
        from numpy._core.multiarray import _reconstruct  # NumPy 2
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def check_member(member: tarfile.TarInfo, archive_name: str) -> None:
    """Raise ``ArchiveError`` unless ``member`` is the folder or one of the expected files."""
    name = member.name
    path = PurePosixPath(name)
    where = f"{archive_name}: member {name!r}"
    if path.is_absolute() or PureWindowsPath(name).drive:
        raise ArchiveError(f"{where} has an absolute path; refusing the archive")
    if ".." in path.parts or "\\" in name:
        raise ArchiveError(f"{where} points outside its folder; refusing the archive")
    if member.issym() or member.islnk():
        raise ArchiveError(f"{where} is a link (to {member.linkname!r}); refusing the archive")
    if not (member.isfile() or member.isdir()):
        raise ArchiveError(f"{where} is a device, pipe or other special file; refusing the archive")
    expected = name.rstrip("/") == FOLDER if member.isdir() else name in EXPECTED_FILES
    if not expected:
        raise ArchiveError(
            f"{where} is not part of CIFAR-10; expected only the folder {FOLDER}/ with "
            f"{', '.join(sorted(PurePosixPath(file).name for file in EXPECTED_FILES))}"
        )


def read_batches(archive_path: Path, names: Sequence[str]) -> dict[str, dict]:
    """Check every member of the archive, then unpickle the batches ``names`` from memory."""
    archive_name = Path(archive_path).name
    wanted, found = set(names), {}
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            for member in archive:
                check_member(member, archive_name)
                if member.name in wanted:
                    raw = archive.extractfile(member).read()
                    found[member.name] = _unpickle(raw, f"{archive_name}: {member.name}")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveError(f"{archive_name} is not a readable .tar.gz archive ({error})") from error
    missing = [name for name in names if name not in found]
    if missing:
        raise ArchiveError(f"{archive_name} lacks {', '.join(missing)}; expected every CIFAR-10 batch")
    return found


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        # encoding="bytes": the batches were pickled by Python 2, whose strings are bytes here.
        batch = BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise ArchiveError(f"{where} is not a CIFAR-10 batch: {error}") from error
    if not isinstance(batch, dict):
        raise ArchiveError(f"{where} is not a CIFAR-10 batch: it holds a {type(batch).__name__}, expected a dict")
    return batch


def decode_batch(batch: dict, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 from one unpickled batch."""
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        described = f"shape {data.shape}, dtype {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ArchiveError(f"{where}: b'data' is {described}; expected a uint8 array of shape (N, 3072)")
    labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
    if labels.shape != (len(data),):
        raise ArchiveError(f"{where}: {len(data)} images but {labels.size} labels; expected one label per image")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ArchiveError(f"{where}: labels run from {labels.min()} to {labels.max()}; expected 0..9")
    return data.reshape(len(data), *IMAGE_SHAPE), labels


def offline_hint(directory: Path) -> str:
    """What to do when CIFAR-10 cannot be downloaded."""
    return (
        f"CIFAR-10 needs the network once (one {CIFAR10_ARCHIVE.size:,}-byte download). Either copy "
        f"{CIFAR10_ARCHIVE.name} (from https://www.cs.toronto.edu/~kriz/cifar.html) into {directory} "
        "(or set the TINYTORCH_DATA environment variable to a directory whose cifar10/ subdirectory "
        "holds it), or work offline with tinytorch.datasets.load_shifted_digits(), an image dataset "
        "made from the bundled digits, which needs no download."
    )


def load_cifar10(
    split: str = "train",
    *,
    normalize: bool = False,
    cache_dir: str | Path | None = None,
    mirrors: Sequence[str] | None = None,
    sha256: str | None = None,
    cache_arrays: bool = True,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return CIFAR-10's ``split`` ("train": 50,000 images, "test": 10,000) as ``(X, y)``.

    X has shape (N, 3, 32, 32): uint8 values 0..255 (150 MB for the training set), or
    float32 in [0, 1] when ``normalize`` (four times that). y is int64 in 0..9; the class
    names are ``CIFAR10_CLASSES``.

    cache_dir: root of the data cache (files go to ``<cache_dir>/cifar10``); defaults to
        ``$TINYTORCH_DATA`` or the user cache directory.
    mirrors: base URLs to try in order instead of ``CIFAR10_MIRRORS``.
    sha256: the archive's digest, replacing the published one (for tests and private
        copies); its size is then not checked.
    cache_arrays: keep the decoded arrays as ``cifar10-<split>.npz`` and read them next time.
    progress: ``None`` shows download progress on a terminal, ``True`` always, ``False`` never.
    """
    if split not in BATCHES:
        raise ValueError(f"load_cifar10: split must be 'train' or 'test', got {split!r}")
    directory = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "cifar10"
    remote = CIFAR10_ARCHIVE if sha256 is None else RemoteFile(CIFAR10_ARCHIVE.name, sha256)
    arrays_path = directory / f"cifar10-{split}.npz"

    decoded = _read_arrays(arrays_path, remote.sha256) if cache_arrays else None
    if decoded is None:
        mirrors = CIFAR10_MIRRORS if mirrors is None else tuple(mirrors)
        archive = fetch(remote, mirrors, directory, progress=progress, offline_hint=offline_hint(directory))
        batches = read_batches(archive, BATCHES[split])
        parts = [decode_batch(batches[name], f"{archive.name}: {name}") for name in BATCHES[split]]
        decoded = np.concatenate([images for images, _ in parts]), np.concatenate([labels for _, labels in parts])
        if cache_arrays:
            _write_arrays(arrays_path, *decoded, source_sha256=remote.sha256)

    images, labels = decoded
    if normalize:
        scaled = images.astype(np.float32)
        scaled /= 255.0
        return scaled, labels
    return images, labels


def _read_arrays(path: Path, source_sha256: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays, or None when there are none, or they are damaged or from another archive."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as cached:
            version = int(cached["format_version"])
            source = str(cached["source_sha256"])
            images, labels = cached["images"], cached["labels"]
    except Exception:  # a damaged file (bad zip, bad CRC, missing array) is rebuilt, never trusted
        path.unlink(missing_ok=True)
        return None
    valid = (
        version == CACHE_FORMAT_VERSION
        and source == source_sha256.lower()
        and images.dtype == np.uint8
        and images.shape[1:] == IMAGE_SHAPE
        and labels.dtype == np.int64
        and labels.shape == (len(images),)
    )
    return (images, labels) if valid else None


def _write_arrays(path: Path, images: np.ndarray, labels: np.ndarray, *, source_sha256: str) -> None:
    """Save the decoded arrays atomically: a temporary file in the same folder, then a rename."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(
                file, images=images, labels=labels, source_sha256=np.array(source_sha256.lower()),
                format_version=np.array(CACHE_FORMAT_VERSION),
            )
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
