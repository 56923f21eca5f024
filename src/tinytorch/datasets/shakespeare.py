"""Tiny Shakespeare: 1.1 million characters of plays, bundled, for language models.

The corpus of Karpathy's char-rnn (``data/tinyshakespeare/input.txt``): passages of
Shakespeare's plays, one speech after another ("First Citizen:\\nBefore we proceed any
further, hear me speak."), 1,115,394 characters drawn from 65 distinct ones. The text is in
the public domain. It ships gzip-compressed with the package (434 KB), so the language-model
modules and milestone work offline, and its SHA-256 (of the uncompressed text) is checked on
every load.

The split is fixed, as in nanoGPT: the first 90% of the characters are for training, the
last 10% are held out for validation. A contiguous hold-out (not random lines) is what
measures generalisation for a model that reads context: the validation text continues plays
the model has never seen the end of.

``load_text(url, sha256=None)`` downloads any other UTF-8 text once, through the same
downloader as MNIST and CIFAR-10 (atomic writes, a cache, a progress bar, a clear error
offline), and checks its SHA-256 when one is given.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.parse
from functools import lru_cache
from pathlib import Path

from tinytorch.datasets.download import ChecksumError, RemoteFile, default_cache_dir, fetch

SHAKESPEARE_PATH = Path(__file__).parent / "data" / "tinyshakespeare.txt.gz"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
"""SHA-256 of the uncompressed UTF-8 text, the file char-rnn distributes."""
SHAKESPEARE_LENGTH = 1_115_394
SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
"""Where the corpus comes from; ``load_text(SHAKESPEARE_URL, SHAKESPEARE_SHA256)`` fetches it."""
VALIDATION_FRACTION = 0.1
SPLITS = ("train", "val", "all")


def split_point(length: int) -> int:
    """Characters before this index are training text, the rest validation (nanoGPT's rule)."""
    return int(length * (1.0 - VALIDATION_FRACTION))


def _split(text: str, split: str, caller: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"{caller}: split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
    if split == "all":
        return text
    boundary = split_point(len(text))
    return text[:boundary] if split == "train" else text[boundary:]


def load_shakespeare(split: str = "train") -> str:
    """The bundled tiny-Shakespeare text: "train" (the first 1,003,854 characters), "val" (the
    last 111,540) or "all". Checked against its SHA-256 on every call."""
    return _split(read_bundled_text(SHAKESPEARE_PATH, SHAKESPEARE_SHA256), split, "load_shakespeare")


@lru_cache(maxsize=4)
def read_bundled_text(path: Path, sha256: str) -> str:
    """A gzip-compressed UTF-8 text of the package, decompressed and checked (kept in memory:
    a str cannot be changed by its caller, so every call may share it)."""
    if not path.exists():
        raise FileNotFoundError(f"The bundled text {path} is missing: reinstall tinytorch")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise ChecksumError(f"The bundled text {path} is damaged: {error}. Reinstall tinytorch.") from error
    actual = hashlib.sha256(raw).hexdigest()
    if actual != sha256:
        raise ChecksumError(
            f"The bundled text {path} is damaged: the SHA-256 of its text is {actual}, expected "
            f"{sha256}. Reinstall tinytorch."
        )
    return raw.decode("utf-8")


def text_location(url: str, cache_dir: str | Path | None = None) -> tuple[str, str, Path]:
    """(base URL, file name, cache directory) for a text URL. Each URL has a directory of its
    own (named by the URL's digest): many corpora are called ``input.txt``."""
    parts = urllib.parse.urlsplit(url)
    name = parts.path.rsplit("/", 1)[-1]
    if parts.scheme not in ("http", "https") or not parts.netloc or not name or parts.query or parts.fragment:
        raise ValueError(
            f"load_text: {url!r} is not a plain http(s) URL of a file: expected e.g. "
            "'https://example.org/corpus/input.txt' (no query string, no fragment)"
        )
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    directory = root / "text" / hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return url[: -len(name) - 1], name, directory


def load_text(
    url: str,
    sha256: str | None = None,
    *,
    split: str = "all",
    cache_dir: str | Path | None = None,
    progress: bool | None = None,
    timeout: float = 30.0,
) -> str:
    """Download the UTF-8 text at ``url`` once and return it (or its "train" / "val" part,
    split as ``load_shakespeare``'s).

    sha256: the digest of the file; when given, a download (or a cached copy) with another
        digest is refused (``DownloadError`` naming the mismatch) and nothing is kept. Without
        it the first complete download is trusted and cached.
    cache_dir: root of the data cache (files go to ``<cache_dir>/text/<digest of the URL>/``);
        defaults to ``$TINYTORCH_DATA`` or the user cache directory.
    progress: ``None`` shows download progress on a terminal, ``True`` always, ``False`` never.
    """
    _split("", split, "load_text")  # refuse a bad split before any download
    base, name, directory = text_location(url, cache_dir)
    hint = (
        f"load_text needs the network the first time it reads {url}. Offline, copy the file to "
        f"{directory / name}, or use tinytorch.datasets.load_shakespeare(), which is bundled."
    )
    path = fetch(RemoteFile(name, sha256), [base], directory, progress=progress, timeout=timeout,
                 offline_hint=hint)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"load_text: {url} is not UTF-8 text ({error}); cached at {path}") from error
    return _split(text, split, "load_text")


__all__ = ["SHAKESPEARE_SHA256", "SHAKESPEARE_URL", "load_shakespeare", "load_text", "split_point"]
