"""Fetch a data file once, check it, and keep it: mirrors, SHA-256, a cache, atomic writes.

Real datasets live on servers that go down, move, or hand back a truncated file. A
download that is trusted blindly turns into a training run on garbage, and a download cut
half-way must not leave a half file that looks cached. So every file is described by its
name and its SHA-256 digest (``RemoteFile``), and ``fetch``

1. returns the cached copy if it exists and its digest matches (no network at all);
2. otherwise tries each mirror in turn, streaming into a temporary file in the cache
   directory while hashing, with a progress bar;
3. moves the temporary file into place with ``os.replace`` only when its size and digest
   match, so the cache holds complete, verified files or nothing;
4. raises ``DownloadError`` naming every mirror and what went wrong, plus a hint on what
   to do offline.

The cache directory is ``$TINYTORCH_DATA`` if set, else ``$XDG_CACHE_HOME/tinytorch``,
else ``~/.cache/tinytorch``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tinytorch.progress import ProgressBar

CHUNK_SIZE = 1 << 16
USER_AGENT = "tinytorch-datasets/1"


class ChecksumError(ValueError):
    """A file's SHA-256 digest is not the one it was published with."""


class DownloadError(RuntimeError):
    """No mirror produced a verified file. ``failures`` lists ``(url, error)`` per attempt."""

    def __init__(self, message: str, failures: Sequence[tuple[str, BaseException]] = ()) -> None:
        super().__init__(message)
        self.failures = list(failures)


@dataclass(frozen=True)
class RemoteFile:
    """A file known by name and content: ``size`` in bytes is optional. ``sha256`` is None only
    for a file whose digest the caller cannot know (a text URL given by a user): it is then
    downloaded completely or not at all, but its content is not checked."""

    name: str
    sha256: str | None
    size: int | None = None


def default_cache_dir() -> Path:
    """Where downloads are kept: ``$TINYTORCH_DATA``, else the user's cache directory."""
    configured = os.environ.get("TINYTORCH_DATA")
    if configured:
        return Path(configured).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "tinytorch"


def sha256_of(path: Path) -> str:
    """The SHA-256 hex digest of a file, read in chunks (MNIST's images are 10 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, remote: RemoteFile) -> None:
    """Raise ``ChecksumError`` unless ``path`` has the expected SHA-256 digest (if one is known)."""
    if remote.sha256 is None:
        return
    actual = sha256_of(path)
    if actual != remote.sha256.lower():
        raise ChecksumError(
            f"{remote.name}: SHA-256 mismatch, got {actual}, expected {remote.sha256}"
        )


def fetch(
    remote: RemoteFile,
    mirrors: Sequence[str],
    directory: Path,
    *,
    progress: bool | None = None,
    timeout: float = 30.0,
    offline_hint: str = "",
) -> Path:
    """Return the path of a verified local copy of ``remote``, downloading it if needed.

    mirrors: base URLs; the file's URL is ``mirror + "/" + remote.name``.
    directory: where the verified file is kept (created if missing).
    progress: ``None`` shows a bar on a terminal only, ``True`` always, ``False`` never.
    offline_hint: appended to the error when every mirror fails.
    """
    directory = Path(directory)
    target = directory / remote.name
    if target.exists():
        try:
            verify(target, remote)
            return target
        except ChecksumError:
            target.unlink()  # a stale or damaged copy: fetch a fresh one
    if not mirrors:
        message = f"{remote.name} is not in {directory} and no mirrors were given."
        raise DownloadError(message + ("\n" + offline_hint if offline_hint else ""))
    directory.mkdir(parents=True, exist_ok=True)

    failures: list[tuple[str, BaseException]] = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + remote.name
        try:
            download_verified(url, remote, target, progress=progress, timeout=timeout)
            return target
        # URLError, HTTPError and socket errors are OSErrors; a truncated chunked body
        # raises http.client.IncompleteRead, an HTTPException.
        except (OSError, http.client.HTTPException, ChecksumError) as error:
            failures.append((url, error))

    attempts = "\n".join(f"  {url}: {describe(error)}" for url, error in failures)
    message = f"Could not download {remote.name} from any mirror:\n{attempts}"
    if offline_hint:
        message += "\n" + offline_hint
    raise DownloadError(message, failures)


def download_verified(
    url: str,
    remote: RemoteFile,
    target: Path,
    *,
    progress: bool | None = None,
    timeout: float = 30.0,
) -> None:
    """Download ``url`` to ``target`` atomically: complete and verified, or not at all.

    The bytes go to a temporary file next to ``target`` (same file system, so the final
    ``os.replace`` is atomic). Whatever interrupts the download, a network error, a short
    body, a wrong digest or Ctrl-C, the temporary file is removed.
    """
    handle, temporary_name = tempfile.mkstemp(dir=target.parent, prefix=f".{remote.name}.", suffix=".part")
    temporary = Path(temporary_name)
    try:
        with os.fdopen(handle, "wb") as file:
            received, expected = _stream(url, file, remote, progress=progress, timeout=timeout)
        if expected is not None and received != expected:
            raise ConnectionError(
                f"connection closed after {received} of {expected} bytes (incomplete download)"
            )
        if remote.size is not None and received != remote.size:
            raise ChecksumError(
                f"{remote.name}: got {received} bytes, expected {remote.size}"
            )
        verify(temporary, remote)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _stream(
    url: str,
    file,
    remote: RemoteFile,
    *,
    progress: bool | None,
    timeout: float,
) -> tuple[int, int | None]:
    """Copy the response body into ``file``; return (bytes received, Content-Length or None)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length_header = response.headers.get("Content-Length")
        expected = int(length_header) if length_header and length_header.isdigit() else None
        received = 0
        bar = ProgressBar(
            total=expected or remote.size,
            description=remote.name,
            unit="B",
            enabled=progress is not False,
            force=progress is True,
        )
        with bar:
            for chunk in iter(lambda: response.read(CHUNK_SIZE), b""):
                file.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    return received, expected


def describe(error: BaseException) -> str:
    """One line for a failed attempt: ``HTTP 404 Not Found``, ``connection refused``, ..."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused (offline, or the server is down)"
        if isinstance(reason, socket.gaierror):
            return f"cannot look up the host name, offline? ({reason})"
        return f"cannot connect ({reason})"
    if isinstance(error, (ConnectionResetError, ConnectionAbortedError, http.client.IncompleteRead)):
        return "connection dropped during the download (incomplete download)"
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error)
