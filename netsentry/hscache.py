"""On-disk cache of compiled Hyperscan databases (``hyperscan/*.hsdb`` in the cache dir).

Compiling the rules' pattern sets costs 1-2 s of every ``analyze`` start-up (more with a
large Suricata rule set); loading the same database serialized by Hyperscan itself
(``hyperscan.dumpb``/``loadb``, never pickle) takes milliseconds. This module only
stores and returns byte blobs; :mod:`netsentry.matchers` serializes and loads them.

- The file name is a blake2b hash of everything that determines the database: the
  compiled expressions, flags, ids, mode, the Hyperscan version and the CPU platform
  (see :func:`database_key`). A changed rule is a new key, never a stale hit.
- Each file carries its own blake2b digest: a truncated or corrupt file is a miss (and
  is removed); Hyperscan's loader checks the version and platform again.
- Files are written atomically and the directory is kept under :data:`MAX_BYTES`
  (oldest used first out). Every failure to read or write is a miss, never an error:
  a read-only or missing cache directory only costs the compile.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

from netsentry.atomicfile import atomic_binary
from netsentry.config import cache_dir
from netsentry.errors import NetsentryError

SUBDIR = "hyperscan"
SUFFIX = ".hsdb"
# Bump when the key derivation or file layout changes: old files then simply miss.
_KEY_VERSION = b"netsentry-hsdb-key 1"
_MAGIC = b"netsentry-hsdb 1\n"
_DIGEST_SIZE = 32
# The default rules take 0.7 MB, the ET Open sample another 2.4 MB: many rule sets fit.
MAX_BYTES = 64 * 1024 * 1024
# Temporary files left by a killed writer are removed once this old (seconds).
_STALE_TMP = 3600.0


def directory() -> Path:
    """Where the compiled databases live."""
    return cache_dir() / SUBDIR


def database_key(
    fingerprint: str, mode: int, expressions: Sequence[bytes], ids: Sequence[int],
    flags: Sequence[int],
) -> str:
    """The cache key (hex) of one database: a blake2b hash of every compile input.

    ``fingerprint`` names the Hyperscan version and the CPU platform the database is
    compiled for. Each field is length-prefixed so no two inputs hash the same bytes.
    """
    digest = hashlib.blake2b(digest_size=_DIGEST_SIZE)

    def put(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)

    put(_KEY_VERSION)
    put(fingerprint.encode("utf-8"))
    put(str(mode).encode())
    put(str(len(expressions)).encode())
    for expression, pattern_id, flag in zip(expressions, ids, flags, strict=True):
        put(expression)
        put(str(pattern_id).encode())
        put(str(flag).encode())
    return digest.hexdigest()


def _path(key: str) -> Path | None:
    """The file of ``key``; None when there is no cache directory (no home directory)."""
    try:
        return directory() / f"{key}{SUFFIX}"
    except RuntimeError:  # Path.home() without HOME or a passwd entry
        return None


def load_blob(key: str) -> bytes | None:
    """The serialized database stored under ``key``, or None (missing, unreadable,
    truncated or corrupt: a corrupt file is removed so it is rewritten)."""
    path = _path(key)
    if path is None:
        return None
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + len(_MAGIC) + _DIGEST_SIZE + 1)
    except OSError:
        return None
    header = len(_MAGIC) + _DIGEST_SIZE
    blob = data[header:]
    if (
        len(data) <= header
        or not data.startswith(_MAGIC)
        or hashlib.blake2b(blob, digest_size=_DIGEST_SIZE).digest() != data[len(_MAGIC) : header]
    ):
        discard(key)
        return None
    with contextlib.suppress(OSError):  # mark it recently used, for pruning
        os.utime(path)
    return blob


def discard(key: str) -> None:
    """Remove the entry ``key`` (it was corrupt or Hyperscan refused it)."""
    path = _path(key)
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def store_blob(key: str, blob: bytes) -> bool:
    """Store a serialized database under ``key``; False when it could not be written
    (the cache is only an optimization: the caller carries on either way)."""
    if len(blob) > MAX_BYTES:
        return False
    path = _path(key)
    if path is None:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_binary(path) as handle:
            handle.write(_MAGIC)
            handle.write(hashlib.blake2b(blob, digest_size=_DIGEST_SIZE).digest())
            handle.write(blob)
    except (OSError, NetsentryError):
        return False
    prune(path.parent, MAX_BYTES, keep=path)
    return True


def prune(where: Path, max_bytes: int, keep: Path | None = None) -> None:
    """Remove the least recently used databases until the rest fit in ``max_bytes``
    (``keep``, the one just written, stays), and temporary files of killed writers."""
    entries: list[tuple[float, int, Path]] = []
    now = time.time()
    try:
        with os.scandir(where) as listing:
            for entry in listing:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                    if now - info.st_mtime > _STALE_TMP:
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)
                elif entry.name.endswith(SUFFIX):
                    entries.append((info.st_mtime, info.st_size, Path(entry.path)))
    except OSError:
        return
    total = sum(size for _mtime, size, _path in entries)
    for _mtime, size, path in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        if keep is not None and path == keep:
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size
