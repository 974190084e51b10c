"""One error family for netsentry and the process exit codes.

The tree::

    NetsentryError            anything netsentry reports to the user in one line
    ├── UsageError            bad command-line input (ExitCode.USAGE)
    └── CaptureError          a capture cannot be read at all (ExitCode.INPUT)
        └── NotACaptureError  the file is neither pcap nor pcapng (nor gzip of those)

Damage found *inside* a readable capture (a truncated tail, a corrupt record
length) is not an exception: the reader stops, records a warning with the byte
offset, and everything read so far is still analyzed.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes, documented in ``--help`` and the README."""

    OK = 0
    """Analysis finished; nothing at or above ``--fail-on`` was found."""
    FINDINGS = 1
    """Findings at or above the ``--fail-on`` severity were reported."""
    USAGE = 2
    """Bad command line, or an invalid rule/config file."""
    INPUT = 3
    """An input capture could not be read at all."""
    PARTIAL = 4
    """The run finished, but part of the input was damaged or a component failed."""


class NetsentryError(Exception):
    """Base class: an error with a one-line, user-facing message."""

    exit_code: ExitCode = ExitCode.USAGE


class UsageError(NetsentryError):
    """The user asked for something that cannot be done as asked."""

    exit_code = ExitCode.USAGE


class CaptureError(NetsentryError):
    """A capture file cannot be opened or read at all."""

    exit_code = ExitCode.INPUT


class NotACaptureError(CaptureError):
    """The input starts with neither a pcap nor a pcapng magic number."""
