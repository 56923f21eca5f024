"""The bundled tiny-Shakespeare corpus, and ``load_text`` against a loopback HTTP server.

The server (``LoopbackServer`` from ``test_download_mnist``, on 127.0.0.1) serves small
texts and records every request, so each test can say exactly which requests were made.
No test touches the network.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import socket
import tomllib
from pathlib import Path

import pytest
from test_download_mnist import LoopbackServer, cached_files

from tinytorch.datasets import ChecksumError, DownloadError, load_shakespeare, load_text
from tinytorch.datasets import shakespeare
from tinytorch.datasets.shakespeare import SHAKESPEARE_PATH, SHAKESPEARE_SHA256, read_bundled_text, split_point

REPOSITORY = Path(__file__).resolve().parents[1]
SONNET = "Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n" * 3
"""A small text: 243 characters (81 per copy), so its split point is int(243 * 0.9) = 218."""


# -- the bundled corpus -----------------------------------------------------------------------
def test_the_bundled_corpus_is_char_rnns_tiny_shakespeare():
    text = load_shakespeare("all")
    assert len(text) == 1_115_394 and len(set(text)) == 65
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.")
    assert text.endswith("Whiles thou art waking.\n")
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == SHAKESPEARE_SHA256


def test_the_split_holds_out_the_last_tenth_and_loses_nothing():
    train, val, text = load_shakespeare("train"), load_shakespeare("val"), load_shakespeare("all")
    assert (len(train), len(val)) == (1_003_854, 111_540)
    assert train + val == text
    assert val.startswith("?\n\nGREMIO:\nGood morrow, neighbour Baptista.")
    assert load_shakespeare() == train  # the default split


def test_split_point_is_nanogpts_ninety_percent():
    assert [split_point(n) for n in (0, 1, 10, 243, 1_115_394)] == [0, 0, 9, 218, 1_003_854]


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match=r"load_shakespeare: split must be one of 'train', 'val', 'all', got 'test'"):
        load_shakespeare("test")


def test_the_compressed_corpus_is_package_data():
    """pyproject's package-data patterns must match the file, or a wheel would ship without it."""
    config = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["tinytorch.datasets"]
    relative = SHAKESPEARE_PATH.relative_to(SHAKESPEARE_PATH.parents[1]).as_posix()
    assert relative == "data/tinyshakespeare.txt.gz"
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns)


def test_a_damaged_bundled_text_is_refused(tmp_path):
    damaged = tmp_path / "damaged.txt.gz"
    damaged.write_bytes(gzip.compress(b"First Citizen:\nBefore we proceed any further, hear me speak!\n"))
    with pytest.raises(ChecksumError, match=rf"{damaged} is damaged: the SHA-256 of its text is [0-9a-f]{{64}}, "
                                            rf"expected {SHAKESPEARE_SHA256}\. Reinstall tinytorch"):
        read_bundled_text(damaged, SHAKESPEARE_SHA256)
    truncated = tmp_path / "truncated.txt.gz"
    truncated.write_bytes(SHAKESPEARE_PATH.read_bytes()[:5000])
    with pytest.raises(ChecksumError, match=rf"{truncated} is damaged: .*Reinstall tinytorch"):
        read_bundled_text(truncated, SHAKESPEARE_SHA256)
    with pytest.raises(FileNotFoundError, match=r"missing\.txt\.gz is missing: reinstall tinytorch"):
        read_bundled_text(tmp_path / "missing.txt.gz", SHAKESPEARE_SHA256)


# -- load_text: any other text, downloaded once -----------------------------------------------
@pytest.fixture
def server():
    loopback = LoopbackServer()
    yield loopback
    loopback.close()


@pytest.fixture
def sonnet_url(server):
    server.serve("corpus", "input.txt", SONNET.encode("utf-8"))
    return server.url("corpus") + "/input.txt"


SONNET_SHA256 = hashlib.sha256(SONNET.encode("utf-8")).hexdigest()


def test_downloads_checks_and_caches_so_the_second_call_makes_no_request(server, sonnet_url, tmp_path):
    assert load_text(sonnet_url, SONNET_SHA256, cache_dir=tmp_path, progress=False) == SONNET
    assert server.requests == ["/corpus/input.txt"]
    assert load_text(sonnet_url, SONNET_SHA256, cache_dir=tmp_path, progress=False) == SONNET
    assert server.requests == ["/corpus/input.txt"]
    assert cached_files(tmp_path) == ["input.txt"]
    assert load_text(sonnet_url, SONNET_SHA256, split="val", cache_dir=tmp_path, progress=False) == SONNET[218:]
    assert load_text(sonnet_url, SONNET_SHA256, split="train", cache_dir=tmp_path, progress=False) == SONNET[:218]


def test_the_cache_directory_follows_TINYTORCH_DATA(server, sonnet_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path))
    load_text(sonnet_url, SONNET_SHA256, progress=False)
    (cached,) = (tmp_path / "text").rglob("input.txt")
    assert cached.read_text(encoding="utf-8") == SONNET


def test_a_checksum_mismatch_is_refused_and_nothing_is_kept(server, sonnet_url, tmp_path):
    wrong = "0" * 64
    with pytest.raises(DownloadError, match=rf"input\.txt: SHA-256 mismatch, got {SONNET_SHA256}, expected {wrong}"):
        load_text(sonnet_url, wrong, cache_dir=tmp_path, progress=False)
    assert cached_files(tmp_path) == []


def test_a_damaged_cached_copy_is_downloaded_again(server, sonnet_url, tmp_path):
    load_text(sonnet_url, SONNET_SHA256, cache_dir=tmp_path, progress=False)
    (cached,) = tmp_path.rglob("input.txt")
    cached.write_text("garbage", encoding="utf-8")
    assert load_text(sonnet_url, SONNET_SHA256, cache_dir=tmp_path, progress=False) == SONNET
    assert server.requests == ["/corpus/input.txt"] * 2


def test_without_a_digest_the_first_complete_download_is_kept(server, sonnet_url, tmp_path):
    assert load_text(sonnet_url, cache_dir=tmp_path, progress=False) == SONNET
    assert load_text(sonnet_url, cache_dir=tmp_path, progress=False) == SONNET
    assert server.requests == ["/corpus/input.txt"]


@pytest.mark.parametrize("sha256", [SONNET_SHA256, None], ids=["with digest", "without digest"])
def test_a_connection_dropped_mid_download_leaves_no_partial_file(server, tmp_path, sha256):
    body = SONNET.encode("utf-8")
    server.serve("cut", "input.txt", body, cut_after=100)
    with pytest.raises(DownloadError, match=rf"connection closed after 100 of {len(body)} bytes \(incomplete download\)"):
        load_text(server.url("cut") + "/input.txt", sha256, cache_dir=tmp_path, progress=False)
    assert cached_files(tmp_path) == []


def test_offline_error_says_what_to_do_and_what_works_offline(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/corpus/input.txt"
    with pytest.raises(DownloadError) as caught:
        load_text(url, SONNET_SHA256, cache_dir=tmp_path, progress=False)
    message = str(caught.value)
    assert message.startswith(f"Could not download input.txt from any mirror:\n  {url}: connection refused")
    assert f"load_text needs the network the first time it reads {url}" in message
    assert "load_shakespeare(), which is bundled" in message
    assert cached_files(tmp_path) == []


def test_a_cached_text_loads_offline(tmp_path):
    loopback = LoopbackServer()
    loopback.serve("corpus", "input.txt", SONNET.encode("utf-8"))
    url = loopback.url("corpus") + "/input.txt"
    try:
        load_text(url, SONNET_SHA256, cache_dir=tmp_path, progress=False)
    finally:
        loopback.close()  # from now on the port refuses every connection
    assert load_text(url, SONNET_SHA256, cache_dir=tmp_path, progress=False) == SONNET


def test_two_corpora_called_input_txt_do_not_share_a_cache_entry(server, sonnet_url, tmp_path):
    server.serve("other", "input.txt", "To be, or not to be\n".encode("utf-8"))
    assert load_text(sonnet_url, cache_dir=tmp_path, progress=False) == SONNET
    assert load_text(server.url("other") + "/input.txt", cache_dir=tmp_path, progress=False) == "To be, or not to be\n"
    assert cached_files(tmp_path) == ["input.txt", "input.txt"]


def test_a_text_that_is_not_utf8_is_named(server, tmp_path):
    server.serve("latin", "input.txt", "Roméo".encode("latin-1"))
    with pytest.raises(ValueError, match=r"load_text: .*/latin/input\.txt is not UTF-8 text"):
        load_text(server.url("latin") + "/input.txt", cache_dir=tmp_path, progress=False)


@pytest.mark.parametrize("url", ["ftp://example.org/input.txt", "https://example.org/corpus/",
                                 "https://example.org/input.txt?raw=1", "input.txt"])
def test_a_url_that_names_no_file_is_refused_before_any_request(url, tmp_path):
    with pytest.raises(ValueError, match=r"is not a plain http\(s\) URL of a file"):
        load_text(url, cache_dir=tmp_path)
    assert cached_files(tmp_path) == []


def test_a_bad_split_is_refused_before_any_request(server, sonnet_url, tmp_path):
    with pytest.raises(ValueError, match=r"load_text: split must be one of 'train', 'val', 'all', got 'validation'"):
        load_text(sonnet_url, split="validation", cache_dir=tmp_path)
    assert server.requests == []


def test_the_source_url_is_char_rnns():
    assert shakespeare.SHAKESPEARE_URL.endswith("karpathy/char-rnn/master/data/tinyshakespeare/input.txt")
