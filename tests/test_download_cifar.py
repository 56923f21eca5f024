"""CIFAR-10 against a loopback HTTP server: download, safe reading, caching, hostile archives.

The server (``LoopbackServer`` from ``test_download_mnist``, on 127.0.0.1) serves a small
``cifar-10-python.tar.gz`` built here in the real format: the folder
``cifar-10-batches-py`` with five training batches, a test batch, ``batches.meta`` and
``readme.html``, each batch a protocol-2 pickle written the way Python 2 wrote the real
ones (strings as Python 2 ``str``, arrays rebuilt by ``numpy.core.multiarray._reconstruct``).
No test touches the network.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
from test_download_mnist import LoopbackServer, cached_files

from tinytorch.datasets import CIFAR10_CLASSES, DownloadError, load_cifar10
from tinytorch.datasets import cifar
from tinytorch.datasets.cifar import ArchiveError

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
PER_TRAIN_BATCH, TEST_IMAGES = 4, 3


class Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` (SHORT_BINSTRING / BINSTRING), as the CIFAR batches are."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def python2_pickle(value) -> bytes:
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(value)
    # NumPy 2 names its reconstructor numpy._core.multiarray; the real files say numpy.core.
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def batch_pickle(images: np.ndarray, labels: np.ndarray, title: bytes) -> bytes:
    return python2_pickle({
        b"batch_label": title,
        b"labels": [int(label) for label in labels],
        b"data": images.reshape(len(images), 3072),
        b"filenames": [f"image_{n}.png".encode() for n in range(len(images))],
    })


def tarball(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, body in members:
            info.mtime = 0
            archive.addfile(info, io.BytesIO(body) if body is not None else None)
    return buffer.getvalue()


def file_member(name: str, body: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    return info, body


def folder_member() -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(FOLDER)
    info.type = tarfile.DIRTYPE
    return info, None


def cifar_members(train_images, train_labels, test_images, test_labels, replace=None):
    """The archive's members in the published order; ``replace`` swaps the body of one file."""
    members = [folder_member()]
    for number in range(1, 6):
        part = slice((number - 1) * PER_TRAIN_BATCH, number * PER_TRAIN_BATCH)
        body = batch_pickle(train_images[part], train_labels[part], f"training batch {number} of 5".encode())
        members.append(file_member(f"{FOLDER}/data_batch_{number}", body))
    members.append(file_member(f"{FOLDER}/test_batch", batch_pickle(test_images, test_labels, b"testing batch 1 of 1")))
    meta = python2_pickle({b"label_names": [name.encode() for name in CIFAR10_CLASSES], b"num_cases_per_batch": PER_TRAIN_BATCH})
    members.append(file_member(f"{FOLDER}/batches.meta", meta))
    members.append(file_member(f"{FOLDER}/readme.html", b"<meta HTTP-EQUIV=\"REFRESH\" content=\"0; url=https://www.cs.toronto.edu/~kriz/cifar.html\">"))
    for name, body in (replace or {}).items():
        members = [file_member(name, body) if info.name == name else (info, old) for info, old in members]
    return members


@pytest.fixture
def dataset():
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, size=(5 * PER_TRAIN_BATCH, 3, 32, 32), dtype=np.uint8)
    train_labels = rng.integers(0, 10, size=5 * PER_TRAIN_BATCH)
    test_images = rng.integers(0, 256, size=(TEST_IMAGES, 3, 32, 32), dtype=np.uint8)
    test_labels = rng.integers(0, 10, size=TEST_IMAGES)
    parts = (train_images, train_labels, test_images, test_labels)
    body = tarball(cifar_members(*parts))
    return {"parts": parts, "body": body, "sha256": hashlib.sha256(body).hexdigest()}


@pytest.fixture
def server():
    loopback = LoopbackServer()
    yield loopback
    loopback.close()


def serve_archive(server, body: bytes, prefix: str = "cifar", **behaviour) -> str:
    server.serve(prefix, ARCHIVE, body, **behaviour)
    return server.url(prefix)


def load(tmp_path, mirror, sha256, split="train", **options):
    return load_cifar10(split, cache_dir=tmp_path, mirrors=[mirror], sha256=sha256, progress=False, **options)


# -- the happy path, and what is cached ------------------------------------------------------------
def test_downloads_decodes_both_splits_and_caches_archive_and_arrays(server, dataset, tmp_path):
    mirror = serve_archive(server, dataset["body"])
    train_images, train_labels, test_images, test_labels = dataset["parts"]
    X, y = load(tmp_path, mirror, dataset["sha256"])
    assert X.shape == (20, 3, 32, 32) and X.dtype == np.uint8
    assert y.shape == (20,) and y.dtype == np.int64
    np.testing.assert_array_equal(X, train_images)  # five batches, in order
    np.testing.assert_array_equal(y, train_labels)
    assert server.requests == [f"/cifar/{ARCHIVE}"]
    assert cached_files(tmp_path) == [ARCHIVE, "cifar10-train.npz"]

    X_test, y_test = load(tmp_path, mirror, dataset["sha256"], split="test")
    np.testing.assert_array_equal(X_test, test_images)
    np.testing.assert_array_equal(y_test, test_labels)
    assert len(server.requests) == 1, "the test split comes from the cached archive"
    assert cached_files(tmp_path) == [ARCHIVE, "cifar10-test.npz", "cifar10-train.npz"]


def test_a_row_of_3072_values_is_red_then_green_then_blue_each_row_by_row(server, dataset, tmp_path):
    X, _ = load(tmp_path, serve_archive(server, dataset["body"]), dataset["sha256"])
    rows = X.reshape(20, 3072)  # the published layout, undone
    channel, row, column = 2, 5, 7
    assert X[3, channel, row, column] == rows[3, channel * 1024 + row * 32 + column]
    assert X[3, 0, 0, 1] == rows[3, 1] and X[3, 1, 0, 0] == rows[3, 1024]


def test_normalize_gives_float32_in_0_1(server, dataset, tmp_path):
    X, _ = load(tmp_path, serve_archive(server, dataset["body"]), dataset["sha256"], normalize=True)
    assert X.dtype == np.float32
    np.testing.assert_allclose(X, dataset["parts"][0] / 255.0, rtol=1e-6)


def test_cached_arrays_work_offline_even_without_the_archive(server, dataset, tmp_path, refused_url):
    load(tmp_path, serve_archive(server, dataset["body"]), dataset["sha256"])
    (tmp_path / "cifar10" / ARCHIVE).unlink()
    X, y = load(tmp_path, refused_url, dataset["sha256"])
    np.testing.assert_array_equal(y, dataset["parts"][1])
    assert X.shape == (20, 3, 32, 32) and len(server.requests) == 1


def test_cache_arrays_false_keeps_only_the_archive(server, dataset, tmp_path):
    load(tmp_path, serve_archive(server, dataset["body"]), dataset["sha256"], cache_arrays=False)
    assert cached_files(tmp_path) == [ARCHIVE]


def test_a_damaged_array_cache_is_rebuilt_from_the_archive(server, dataset, tmp_path):
    mirror = serve_archive(server, dataset["body"])
    load(tmp_path, mirror, dataset["sha256"])
    cache = tmp_path / "cifar10" / "cifar10-train.npz"
    cache.write_bytes(cache.read_bytes()[:5000])  # cut short
    X, y = load(tmp_path, mirror, dataset["sha256"])
    np.testing.assert_array_equal(X, dataset["parts"][0])
    assert len(server.requests) == 1, "rebuilt from the cached archive, not downloaded again"
    with np.load(cache) as rebuilt:
        np.testing.assert_array_equal(rebuilt["labels"], dataset["parts"][1])


def test_arrays_cached_from_another_archive_are_not_reused(server, dataset, tmp_path):
    load(tmp_path, serve_archive(server, dataset["body"]), dataset["sha256"])
    rng = np.random.default_rng(1)
    other_parts = (rng.integers(0, 256, (20, 3, 32, 32), dtype=np.uint8), np.arange(20) % 10,
                   rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8), np.arange(3))
    other = tarball(cifar_members(*other_parts))
    X, y = load(tmp_path, serve_archive(server, other, prefix="other"), hashlib.sha256(other).hexdigest())
    np.testing.assert_array_equal(X, other_parts[0])
    np.testing.assert_array_equal(y, other_parts[1])
    assert server.requests == [f"/cifar/{ARCHIVE}", f"/other/{ARCHIVE}"]


def test_the_archive_placed_under_TINYTORCH_DATA_loads_without_any_request(server, dataset, tmp_path, monkeypatch):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / ARCHIVE).write_bytes(dataset["body"])
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path))
    _, y = load_cifar10("test", mirrors=[server.url("cifar")], sha256=dataset["sha256"], progress=False)
    np.testing.assert_array_equal(y, dataset["parts"][3])
    assert server.requests == []


# -- failed downloads leave nothing ------------------------------------------------------------------
def test_a_corrupt_archive_is_a_checksum_error_and_nothing_is_kept(server, dataset, tmp_path):
    corrupt = bytearray(dataset["body"])
    corrupt[len(corrupt) // 2] ^= 0xFF
    with pytest.raises(DownloadError, match=rf"{ARCHIVE}: SHA-256 mismatch, got [0-9a-f]{{64}}, expected {dataset['sha256']}"):
        load(tmp_path, serve_archive(server, bytes(corrupt)), dataset["sha256"])
    assert cached_files(tmp_path) == []


def test_a_connection_dropped_mid_download_leaves_no_partial_file(server, dataset, tmp_path):
    size = len(dataset["body"])
    mirror = serve_archive(server, dataset["body"], cut_after=1000)
    with pytest.raises(DownloadError, match=rf"connection closed after 1000 of {size} bytes \(incomplete download\)"):
        load(tmp_path, mirror, dataset["sha256"])
    assert cached_files(tmp_path) == []


def test_the_published_size_is_checked_with_the_published_digest(server, dataset, tmp_path):
    with pytest.raises(DownloadError, match=rf"{ARCHIVE}: got {len(dataset['body'])} bytes, expected 170498071"):
        load_cifar10(cache_dir=tmp_path, mirrors=[serve_archive(server, dataset["body"])], progress=False)
    assert cached_files(tmp_path) == []


def test_offline_error_says_what_to_do_and_what_works_offline(tmp_path, refused_url):
    with pytest.raises(DownloadError) as caught:
        load(tmp_path, refused_url, "0" * 64)
    message = str(caught.value)
    assert message.startswith(f"Could not download {ARCHIVE} from any mirror:\n  {refused_url}/{ARCHIVE}: connection refused")
    assert str(tmp_path / "cifar10") in message
    assert "TINYTORCH_DATA" in message and "https://www.cs.toronto.edu/~kriz/cifar.html" in message
    assert "load_shifted_digits()" in message and "needs no download" in message
    assert cached_files(tmp_path) == []


@pytest.fixture
def refused_url():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/cifar"


# -- hostile and malformed archives ----------------------------------------------------------------
def hostile_members(dataset, extra):
    return cifar_members(*dataset["parts"])[:3] + [extra] + cifar_members(*dataset["parts"])[3:]


def symlink(name: str, target: str):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, None


def hardlink(name: str, target: str):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info, None


def device(name: str):
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info, None


@pytest.mark.parametrize("extra, message", [
    (file_member("../escaped.txt", b"outside"),
     "member '../escaped.txt' points outside its folder; refusing the archive"),
    (file_member(f"{FOLDER}/../../escaped.txt", b"outside"),
     f"member '{FOLDER}/../../escaped.txt' points outside its folder; refusing the archive"),
    (file_member("/tmp/tinytorch-escaped.txt", b"outside"),
     "member '/tmp/tinytorch-escaped.txt' has an absolute path; refusing the archive"),
    (symlink(f"{FOLDER}/link", "/etc/passwd"),
     f"member '{FOLDER}/link' is a link (to '/etc/passwd'); refusing the archive"),
    (hardlink(f"{FOLDER}/readme.html", "/etc/shadow"),
     f"member '{FOLDER}/readme.html' is a link (to '/etc/shadow'); refusing the archive"),
    (device(f"{FOLDER}/null"),
     f"member '{FOLDER}/null' is a device, pipe or other special file; refusing the archive"),
    (file_member(f"{FOLDER}/extra.py", b"print('hi')"),
     f"member '{FOLDER}/extra.py' is not part of CIFAR-10; expected only the folder {FOLDER}/ with "
     "batches.meta, data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, readme.html, test_batch"),
])
def test_a_hostile_member_refuses_the_whole_archive_and_writes_nothing(server, dataset, tmp_path, extra, message):
    body = tarball(hostile_members(dataset, extra))
    with pytest.raises(ArchiveError) as caught:
        load(tmp_path, serve_archive(server, body), hashlib.sha256(body).hexdigest())
    assert str(caught.value) == f"{ARCHIVE}: {message}"
    assert cached_files(tmp_path) == [ARCHIVE], "no arrays are cached from a refused archive"
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()
    assert not os.path.exists("/tmp/tinytorch-escaped.txt")


def test_a_batch_that_is_a_symlink_is_refused(server, dataset, tmp_path):
    members = [symlink(f"{FOLDER}/data_batch_1", "/etc/passwd") if info.name == f"{FOLDER}/data_batch_1" else (info, body)
               for info, body in cifar_members(*dataset["parts"])]
    body = tarball(members)
    with pytest.raises(ArchiveError, match=f"member '{FOLDER}/data_batch_1' is a link"):
        load(tmp_path, serve_archive(server, body), hashlib.sha256(body).hexdigest())


def test_a_pickle_that_would_run_code_is_refused_before_it_runs(server, dataset, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    evil = pickle.dumps({b"data": Exploit(), b"labels": []}, protocol=2)
    body = tarball(cifar_members(*dataset["parts"], replace={f"{FOLDER}/data_batch_2": evil}))
    with pytest.raises(ArchiveError) as caught:
        load(tmp_path, serve_archive(server, body), hashlib.sha256(body).hexdigest())
    assert str(caught.value) == (
        f"{ARCHIVE}: {FOLDER}/data_batch_2 is not a CIFAR-10 batch: the pickle asks for "
        f"{os.system.__module__}.system; a CIFAR-10 batch only needs NumPy arrays, lists and bytes, so it is refused"
    )
    assert not marker.exists()


def test_a_batch_with_too_few_labels_is_named(server, dataset, tmp_path):
    images = dataset["parts"][0][:4]
    short = batch_pickle(images, np.array([1, 2, 3]), b"training batch 3 of 5")
    body = tarball(cifar_members(*dataset["parts"], replace={f"{FOLDER}/data_batch_3": short}))
    with pytest.raises(ArchiveError) as caught:
        load(tmp_path, serve_archive(server, body), hashlib.sha256(body).hexdigest())
    assert str(caught.value) == f"{ARCHIVE}: {FOLDER}/data_batch_3: 4 images but 3 labels; expected one label per image"


def test_an_archive_without_the_test_batch_says_what_is_missing(server, dataset, tmp_path):
    members = [(info, body) for info, body in cifar_members(*dataset["parts"]) if info.name != f"{FOLDER}/test_batch"]
    body = tarball(members)
    with pytest.raises(ArchiveError) as caught:
        load(tmp_path, serve_archive(server, body), hashlib.sha256(body).hexdigest(), split="test")
    assert str(caught.value) == f"{ARCHIVE} lacks {FOLDER}/test_batch; expected every CIFAR-10 batch"


def test_a_file_that_is_no_archive_is_named(server, tmp_path):
    body = b"<html>a captive portal page, not the data</html>"
    with pytest.raises(ArchiveError, match=rf"^{ARCHIVE} is not a readable \.tar\.gz archive"):
        load(tmp_path, serve_archive(server, body), hashlib.sha256(body).hexdigest())


# -- the published facts ---------------------------------------------------------------------------
def test_the_published_archive_and_classes():
    assert cifar.CIFAR10_MIRRORS == ("https://www.cs.toronto.edu/~kriz",)
    assert cifar.CIFAR10_ARCHIVE.name == ARCHIVE and cifar.CIFAR10_ARCHIVE.size == 170_498_071
    assert cifar.CIFAR10_ARCHIVE.sha256 == "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    assert cifar.CIFAR10_MD5 == "c58f30108f718f92721af3b95e74349a"
    assert CIFAR10_CLASSES[0] == "airplane" and CIFAR10_CLASSES[9] == "truck" and len(set(CIFAR10_CLASSES)) == 10


def test_unknown_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="^load_cifar10: split must be 'train' or 'test', got 'valid'$"):
        load_cifar10("valid", cache_dir=tmp_path)
