"""MNIST downloads against a loopback HTTP server: caching, mirrors, checksums, failures.

The server (``http.server`` in a thread on 127.0.0.1, port 0) serves small files in
MNIST's real format, gzip-compressed IDX, generated here, and records every request, so
each test can say exactly which requests were made. No test touches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest

from tinytorch.datasets import ChecksumError, DownloadError, default_cache_dir, load_mnist
from tinytorch.datasets import download, mnist
from tinytorch.datasets.download import RemoteFile, fetch
from tinytorch.progress import ProgressBar

TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


def idx_bytes(array: np.ndarray, type_code: int) -> bytes:
    """Encode an array in the IDX format: 0, 0, type code, dimensions, sizes, big-endian data."""
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def mnist_like(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, bytes, bytes]:
    """Random 28x28 uint8 images and labels, and their gzipped IDX files."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count, dtype=np.uint8)
    # mtime=0 keeps the gzip bytes, and so the checksums, independent of the clock.
    return images, labels, gzip.compress(idx_bytes(images, 0x08), mtime=0), gzip.compress(idx_bytes(labels, 0x08), mtime=0)


class Route:
    """What the server does for one path: serve ``body``, maybe cut it short."""

    def __init__(self, body: bytes, cut_after: int | None = None, chunked: bool = False):
        self.body, self.cut_after, self.chunked = body, cut_after, chunked


class LoopbackServer:
    """An HTTP server on 127.0.0.1 that serves registered routes and logs requested paths."""

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                server.requests.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Connection", "close")
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    part = route.body[: route.cut_after]
                    self.wfile.write(f"{len(route.body):x}\r\n".encode() + part)
                else:
                    self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    self.wfile.write(route.body[: route.cut_after])
                self.wfile.flush()
                self.close_connection = True
                if route.cut_after is not None:
                    self.connection.shutdown(socket.SHUT_RDWR)  # drop the connection mid-body

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{prefix}"

    def serve(self, prefix: str, name: str, body: bytes, **behaviour) -> None:
        self.routes[f"/{prefix}/{name}"] = Route(body, **behaviour)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    loopback = LoopbackServer()
    yield loopback
    loopback.close()


@pytest.fixture
def refused_url():
    """A loopback URL on which nothing listens: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist"


@pytest.fixture
def dataset():
    """Small train and test sets in MNIST's format, with their SHA-256 checksums."""
    train_images, train_labels, train_images_gz, train_labels_gz = mnist_like(30, seed=0)
    test_images, test_labels, test_images_gz, test_labels_gz = mnist_like(10, seed=1)
    files = {TRAIN_IMAGES: train_images_gz, TRAIN_LABELS: train_labels_gz,
             TEST_IMAGES: test_images_gz, TEST_LABELS: test_labels_gz}
    return {
        "files": files,
        "checksums": {name: hashlib.sha256(body).hexdigest() for name, body in files.items()},
        "train": (train_images, train_labels),
        "test": (test_images, test_labels),
    }


def serve_all(server: LoopbackServer, prefix: str, files: dict[str, bytes]) -> None:
    for name, body in files.items():
        server.serve(prefix, name, body)


def cached_files(root) -> list[str]:
    """Every file under the cache root, temporary files included."""
    return sorted(path.name for path in root.rglob("*") if path.is_file())


def test_downloads_parses_and_caches_so_the_second_call_makes_no_request(server, dataset, tmp_path):
    serve_all(server, "mnist", dataset["files"])
    X, y = load_mnist("train", cache_dir=tmp_path, mirrors=[server.url("mnist")],
                      checksums=dataset["checksums"], progress=False)
    images, labels = dataset["train"]
    assert X.shape == (30, 784) and X.dtype == np.float32
    np.testing.assert_allclose(X, images.reshape(30, -1) / 255.0, rtol=1e-6)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    assert server.requests == [f"/mnist/{TRAIN_IMAGES}", f"/mnist/{TRAIN_LABELS}"]
    assert cached_files(tmp_path) == sorted([TRAIN_IMAGES, TRAIN_LABELS])
    assert (tmp_path / "mnist" / TRAIN_IMAGES).read_bytes() == dataset["files"][TRAIN_IMAGES]

    X_again, y_again = load_mnist("train", cache_dir=tmp_path, mirrors=[server.url("mnist")],
                                  checksums=dataset["checksums"], progress=False)
    assert len(server.requests) == 2
    np.testing.assert_array_equal(X_again, X)
    np.testing.assert_array_equal(y_again, y)


def test_test_split_unflattened_and_raw(server, dataset, tmp_path):
    serve_all(server, "mnist", dataset["files"])
    X, y = load_mnist("test", flatten=False, normalize=False, cache_dir=tmp_path,
                      mirrors=[server.url("mnist")], checksums=dataset["checksums"], progress=False)
    images, labels = dataset["test"]
    assert X.shape == (10, 28, 28) and X.dtype == np.float32
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)
    assert server.requests == [f"/mnist/{TEST_IMAGES}", f"/mnist/{TEST_LABELS}"]


def test_falls_over_to_the_next_mirror_when_one_is_down(server, dataset, tmp_path, refused_url):
    serve_all(server, "mirror2", dataset["files"])
    mirrors = [refused_url, server.url("mirror1"), server.url("mirror2")]  # refused, then 404
    X, y = load_mnist("test", cache_dir=tmp_path, mirrors=mirrors,
                      checksums=dataset["checksums"], progress=False)
    np.testing.assert_array_equal(y, dataset["test"][1])
    assert server.requests == [
        f"/mirror1/{TEST_IMAGES}", f"/mirror2/{TEST_IMAGES}",
        f"/mirror1/{TEST_LABELS}", f"/mirror2/{TEST_LABELS}",
    ]
    assert cached_files(tmp_path) == sorted([TEST_IMAGES, TEST_LABELS])


def test_a_corrupt_file_is_a_checksum_error_and_nothing_is_cached(server, dataset, tmp_path):
    corrupt = bytearray(dataset["files"][TEST_IMAGES])
    corrupt[100] ^= 0x01
    serve_all(server, "mnist", dataset["files"])
    server.serve("mnist", TEST_IMAGES, bytes(corrupt))
    with pytest.raises(DownloadError, match=rf"{TEST_IMAGES}: SHA-256 mismatch, got [0-9a-f]{{64}}, expected "
                                            + dataset["checksums"][TEST_IMAGES]) as caught:
        load_mnist("test", cache_dir=tmp_path, mirrors=[server.url("mnist")],
                   checksums=dataset["checksums"], progress=False)
    [(url, error)] = caught.value.failures
    assert url == server.url("mnist") + "/" + TEST_IMAGES
    assert isinstance(error, ChecksumError)
    assert cached_files(tmp_path) == []


def test_a_corrupt_mirror_is_skipped_for_a_good_one(server, dataset, tmp_path):
    corrupt = bytearray(dataset["files"][TEST_LABELS])
    corrupt[-1] ^= 0x01
    server.serve("bad", TEST_LABELS, bytes(corrupt))
    serve_all(server, "good", dataset["files"])
    _, y = load_mnist("test", cache_dir=tmp_path, mirrors=[server.url("bad"), server.url("good")],
                      checksums=dataset["checksums"], progress=False)
    np.testing.assert_array_equal(y, dataset["test"][1])
    assert f"/bad/{TEST_LABELS}" in server.requests and f"/good/{TEST_LABELS}" in server.requests


def test_a_connection_dropped_mid_body_leaves_nothing_cached(server, dataset, tmp_path):
    serve_all(server, "mnist", dataset["files"])
    size = len(dataset["files"][TEST_IMAGES])
    server.serve("mnist", TEST_IMAGES, dataset["files"][TEST_IMAGES], cut_after=100)
    with pytest.raises(DownloadError, match=rf"connection closed after 100 of {size} bytes \(incomplete download\)"):
        load_mnist("test", cache_dir=tmp_path, mirrors=[server.url("mnist")],
                   checksums=dataset["checksums"], progress=False)
    assert cached_files(tmp_path) == []


def test_a_chunked_body_cut_short_leaves_nothing_cached(server, dataset, tmp_path):
    serve_all(server, "mnist", dataset["files"])
    server.serve("mnist", TEST_IMAGES, dataset["files"][TEST_IMAGES], cut_after=100, chunked=True)
    with pytest.raises(DownloadError, match=r"connection dropped during the download \(incomplete download\)"):
        load_mnist("test", cache_dir=tmp_path, mirrors=[server.url("mnist")],
                   checksums=dataset["checksums"], progress=False)
    assert cached_files(tmp_path) == []


def test_offline_error_says_what_to_do(dataset, tmp_path, refused_url):
    second_refused = refused_url.replace("/mnist", "/mirror")
    with pytest.raises(DownloadError) as caught:
        load_mnist("train", cache_dir=tmp_path, mirrors=[refused_url, second_refused],
                   checksums=dataset["checksums"], progress=False)
    message = str(caught.value)
    assert message.startswith(f"Could not download {TRAIN_IMAGES} from any mirror:")
    assert message.count("connection refused (offline, or the server is down)") == 2
    assert f"{refused_url}/{TRAIN_IMAGES}" in message
    assert str(tmp_path / "mnist") in message  # where to put the files
    assert "TINYTORCH_DATA" in message
    assert "load_digits()" in message and "works offline" in message
    assert cached_files(tmp_path) == []


def test_files_placed_under_TINYTORCH_DATA_load_without_any_request(server, dataset, tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    for name in (TEST_IMAGES, TEST_LABELS):
        (tmp_path / "mnist" / name).write_bytes(dataset["files"][name])
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path))
    _, y = load_mnist("test", mirrors=[server.url("mnist")], checksums=dataset["checksums"], progress=False)
    np.testing.assert_array_equal(y, dataset["test"][1])
    assert server.requests == []


def test_a_damaged_cached_file_is_downloaded_again(server, dataset, tmp_path):
    serve_all(server, "mnist", dataset["files"])
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / TEST_LABELS).write_bytes(b"not the labels")
    (tmp_path / "mnist" / TEST_IMAGES).write_bytes(dataset["files"][TEST_IMAGES])
    _, y = load_mnist("test", cache_dir=tmp_path, mirrors=[server.url("mnist")],
                      checksums=dataset["checksums"], progress=False)
    np.testing.assert_array_equal(y, dataset["test"][1])
    assert server.requests == [f"/mnist/{TEST_LABELS}"]


def test_an_interrupted_download_leaves_no_partial_file(server, dataset, tmp_path, monkeypatch):
    serve_all(server, "mnist", dataset["files"])

    def interrupt(self, amount=1, status=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(ProgressBar, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        load_mnist("test", cache_dir=tmp_path, mirrors=[server.url("mnist")],
                   checksums=dataset["checksums"], progress=False)
    assert cached_files(tmp_path) == []


def test_a_wrong_size_is_rejected_before_the_checksum(server, tmp_path):
    body = b"x" * 50
    server.serve("files", "data.bin", body)
    remote = RemoteFile("data.bin", hashlib.sha256(body).hexdigest(), size=60)
    with pytest.raises(DownloadError, match="data.bin: got 50 bytes, expected 60"):
        fetch(remote, [server.url("files")], tmp_path, progress=False)
    assert cached_files(tmp_path) == []


def test_progress_bar_is_drawn_when_forced_and_silent_when_off(server, tmp_path, capsys):
    body = bytes(range(256)) * 4
    server.serve("files", "data.bin", body)
    remote = RemoteFile("data.bin", hashlib.sha256(body).hexdigest())
    fetch(remote, [server.url("files")], tmp_path / "forced", progress=True)
    assert capsys.readouterr().err.endswith("data.bin [##############################] 100% 1.0 KB/1.0 KB\n")
    fetch(remote, [server.url("files")], tmp_path / "off", progress=False)
    assert capsys.readouterr().err == ""


def test_cache_directory_comes_from_TINYTORCH_DATA_then_XDG_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "data"
    monkeypatch.delenv("TINYTORCH_DATA")
    assert default_cache_dir() == tmp_path / "xdg" / "tinytorch"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "tinytorch"


def test_published_table_has_two_https_mirrors_and_a_sha256_per_file():
    assert len(mnist.MNIST_MIRRORS) >= 2
    assert all(mirror.startswith("https://") for mirror in mnist.MNIST_MIRRORS)
    names = [remote.name for files in mnist.MNIST_FILES.values() for remote in files]
    assert names == [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]
    for files in mnist.MNIST_FILES.values():
        for remote in files:
            assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0
            assert remote.size is not None and remote.size > 0


def test_checksums_must_cover_the_requested_files(tmp_path):
    with pytest.raises(ValueError, match=f"checksums has no SHA-256 for {TEST_IMAGES}, {TEST_LABELS}"):
        load_mnist("test", cache_dir=tmp_path, mirrors=[], checksums={TRAIN_IMAGES: "0" * 64})


def test_unknown_split_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="load_mnist: split must be 'train' or 'test', got 'val'"):
        load_mnist("val", cache_dir=tmp_path)


@pytest.mark.parametrize("dtype, code", [(">u1", 0x08), (">i1", 0x09), (">i2", 0x0B), (">i4", 0x0C), (">f4", 0x0D), (">f8", 0x0E)])
def test_parse_idx_reads_every_element_type_in_native_byte_order(dtype, code):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype) if dtype != ">u1" else np.arange(24, dtype=">u1").reshape(2, 3, 4)
    parsed = mnist.parse_idx(idx_bytes(array, code))
    assert parsed.shape == (2, 3, 4) and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, array)
    parsed[0, 0, 0] = 1  # a writable copy, not a view of the downloaded bytes


def test_parse_idx_reports_a_bad_header_and_a_short_body():
    with pytest.raises(ValueError, match="labels is not an IDX file: its first 4 bytes are 1f8b0800"):
        mnist.parse_idx(b"\x1f\x8b\x08\x00rest", name="labels")
    data = idx_bytes(np.zeros((5, 2, 2), dtype=np.uint8), 0x08)
    with pytest.raises(ValueError, match=r"images holds 19 bytes of data, expected 20 for shape \(5, 2, 2\)"):
        mnist.parse_idx(data[:-1], name="images")


def test_describe_names_common_failures():
    assert download.describe(TimeoutError()) == "timed out"
    assert download.describe(ConnectionResetError()) == "connection dropped during the download (incomplete download)"
