"""Input expansion for ``analyze``: capture files, folders of captures, and ``-`` (stdin).

A folder contributes the capture files found under it, recursively, sorted by their
path relative to the folder. A file counts as a capture by its first bytes (pcap,
pcapng or gzip magic, see :mod:`netsentry.capture`), never by its extension, so a
capture called ``trace.bin`` is read and a ``notes.pcap`` that is text is not.
Hidden entries (names starting with ``.``) are left out like ``ls`` does; symbolic
links are followed, each real folder is walked once (no loop on a link to a parent).
Files named on the command line are kept as given: opening them reports any problem.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from netsentry.capture import GZIP_MAGIC, PCAP_MAGIC, PCAPNG_SHB
from netsentry.errors import UsageError

_CAPTURE_MAGIC = frozenset((*PCAP_MAGIC, PCAPNG_SHB))


@dataclass
class Inputs:
    """The expanded inputs, in order, and what was left out of folders (for a warning)."""

    paths: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def is_capture_file(path: str) -> bool:
    """True when ``path`` starts like a pcap or pcapng file (also inside gzip)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
            if head[:2] == GZIP_MAGIC:
                handle.seek(0)
                # Only the first 4 decompressed bytes: cheap even for a large archive.
                with gzip.GzipFile(fileobj=handle, mode="rb") as inner:
                    head = inner.read(4)
    except (OSError, EOFError, zlib.error):
        return False
    return head in _CAPTURE_MAGIC


def _walk(root: str) -> tuple[list[str], int, int]:
    """Capture files under ``root`` (sorted), and counts of skipped and hidden entries."""
    found: list[str] = []
    skipped = 0
    hidden = 0
    seen: set[tuple[int, int]] = set()

    def visit(folder: str) -> None:
        nonlocal skipped, hidden
        try:
            info = os.stat(folder)
        except OSError:
            skipped += 1
            return
        if (info.st_dev, info.st_ino) in seen:
            return  # a symbolic link back to a folder already walked (a loop)
        seen.add((info.st_dev, info.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            skipped += 1
            return
        for entry in entries:
            if entry.name.startswith("."):
                hidden += 1
                continue
            try:
                is_dir = entry.is_dir()  # follows symbolic links
            except OSError:
                is_dir = False
            if is_dir:
                visit(entry.path)
            elif is_capture_file(entry.path):
                found.append(entry.path)
            else:
                skipped += 1

    visit(root)
    return found, skipped, hidden


def expand_inputs(args: Sequence[str]) -> Inputs:
    """Replace every folder in ``args`` by its capture files; raise UsageError for an empty one."""
    result = Inputs()
    for arg in args:
        if arg == "-" or not os.path.isdir(arg):
            result.paths.append(arg)
            continue
        found, skipped, hidden = _walk(arg)
        if not found:
            raise UsageError(f"{arg}: folder holds no capture file (pcap, pcapng or gzip)")
        result.paths.extend(found)
        if skipped or hidden:
            parts = []
            if skipped:
                parts.append(f"{skipped} file(s) that are not captures or cannot be read")
            if hidden:
                parts.append(f"{hidden} hidden entr{'y' if hidden == 1 else 'ies'}")
            result.warnings.append(f"{arg}: skipped {' and '.join(parts)}")
    return result
