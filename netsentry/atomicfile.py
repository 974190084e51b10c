"""Files that appear whole or not at all: written beside the target, then renamed over it.

A crash, a full disk or an unreadable input half-way through a run never leaves a
half-written report where the old one was: the temporary file is removed and the
previous file (if any) is untouched.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from netsentry.errors import NetsentryError


class OutputError(NetsentryError):
    """A report file cannot be written (exit code 2, like other usage problems)."""


def current_umask() -> int:
    """The process umask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_binary(path: Path) -> Iterator[BinaryIO]:
    """Open ``path`` for writing bytes; it is replaced only when the block succeeds.

    Special files (a FIFO, /dev/stdout, a device) are written in place: renaming over
    them would replace the device node instead of writing to it.
    """
    if path.exists() and not path.is_file():
        try:
            handle = path.open("wb")
        except OSError as exc:
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
        with handle:
            yield handle
        return
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; honour the umask
        with os.fdopen(fd, "wb") as handle:
            yield handle
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_text(path: Path) -> Iterator[TextIO]:
    """Like :func:`atomic_binary`, for UTF-8 text."""
    with atomic_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8")
        yield text
        text.flush()
        text.detach()
