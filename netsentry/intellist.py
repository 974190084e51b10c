"""Local indicator lists (``analyze --intel FILE``) loaded without an object per line.

A list of 1,000,000 lines took 4.4 s and 400 MB through :meth:`IntelSet.add`: an
:class:`~netsentry.intel.Indicator`, a dict entry and two address parses per line.
Most lines of real lists are one bare IPv4 address, IPv4 range or host name, so those
lines are recognized in bulk (``inet_pton`` mapped over the lines, a regular
expression's ``fullmatch`` over the rest, without a Python frame per line where it can)
and kept compactly: addresses as their 4 packed bytes, ranges as integers per prefix
length, names as text, each with the number of times it was listed. Every other line
(IPv6, URLs, hashes, CSV rows, comments, ranges with host bits set, anything odd) goes
through the general per-line path as before.

Answers are built at lookup time and are the ones :meth:`IntelSet.add` gave: a bare
line that ``inet_pton`` accepts is a dotted quad without leading zeros, which is its
own canonical text (so is a range ``a.b.c.d/N``, N < 32, without host bits or a
leading zero in N); a bare ASCII name whose last label is not all digits is what
:func:`~netsentry.intel.guess_kind` calls a domain, and lowercasing it is all
:func:`~netsentry.intel.normalize_domain` does to it; a value listed twice answers twice.
"""

from __future__ import annotations

import re
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from netsentry.intel import Indicator, IntelSet, guess_kind, normalize_domain, normalize_url
from netsentry.intelindex import FeedInfo

BLOCK = 8 << 20  # characters of the file handled at a time: memory stays flat per block

# What a bare line may be: 1 an IPv4 address, 2 an IPv4 range (not /32: its text,
# "1.2.3.4/32", is not the address's; no leading zero in the length), 3 a host name of
# two labels or more whose last label is not all digits (guess_kind's rule, ASCII only).
# Each is confirmed (inet_pton, no host bits) or left to the general path.
_SHAPE = re.compile(
    r"([0-9.]{7,15})"
    r"|([0-9.]{7,15}/(?:3[01]|[12][0-9]|[0-9]))"
    r"|((?:[A-Za-z0-9_-]+\.)+[A-Za-z0-9_-]*[A-Za-z_-][A-Za-z0-9_-]*)"
)


class LocalList:
    """The bare addresses and names of one local list, answering like a compiled index."""

    def __init__(
        self,
        name: str,
        addresses: Counter[bytes],
        ranges: dict[int, Counter[int]],
        names: Counter[str],
    ) -> None:
        self.name = name
        self._v4 = addresses  # packed IPv4 address -> times listed
        self._ranges = ranges  # prefix length -> {network -> times listed}
        self._prefixes = sorted(ranges, reverse=True)  # longest first
        self._names = names  # normalized name -> times listed
        self.count = (
            addresses.total() + sum(c.total() for c in ranges.values()) + names.total()
        )
        self.feeds = [FeedInfo(name)] if self.count else []

    def lookup_ip(self, packed: bytes) -> tuple[int, list[Indicator]]:
        """(prefix length, indicators) of the most specific listed IPv4 address or range."""
        if len(packed) != 4:
            return -1, []
        times = self._v4.get(packed)
        if times:
            text = socket.inet_ntop(socket.AF_INET, packed)
            return 32, [Indicator(text, "ip", self.name)] * times
        value = int.from_bytes(packed, "big")
        for prefix in self._prefixes:
            net = (value >> (32 - prefix)) << (32 - prefix)
            times = self._ranges[prefix].get(net)
            if times:
                text = socket.inet_ntop(socket.AF_INET, net.to_bytes(4, "big"))
                return prefix, [Indicator(f"{text}/{prefix}", "ip", self.name)] * times
        return -1, []

    def lookup_exact(self, kind: str, value: str) -> list[Indicator]:
        """Nothing: URLs and hashes of a local list go through the general path."""
        return []

    def lookup_domain(self, name: str) -> list[Indicator]:
        """The indicators of a normalized name or of its nearest listed parent."""
        names = self._names
        candidate = name
        while candidate and names:
            times = names.get(candidate)
            if times:
                return [Indicator(candidate, "domain", self.name)] * times
            _, dot, candidate = candidate.partition(".")
            if not dot:
                break
        return []


def load_list(path: str | Path, name: str, into: IntelSet) -> int:
    """Load a local list into ``into``; return the lines that held no usable indicator."""
    packed: list[bytes] = []
    nets: dict[int, list[int]] = {}  # prefix length -> networks
    plain: list[str] = []
    bad = 0
    shape = _SHAPE.fullmatch
    pton, inet = socket.inet_pton, socket.AF_INET
    with open(path, encoding="utf-8", errors="replace") as handle:
        for block in _blocks(handle):
            for line in block.split("\n"):  # the file is read with universal newlines
                m = shape(line)
                if m is not None:
                    kind = m.lastindex
                    if kind == 3:
                        plain.append(line.lower())
                        continue
                    if kind == 1:
                        try:
                            packed.append(pton(inet, line))
                            continue
                        except OSError:
                            pass  # not a dotted quad inet_pton accepts (999.1.1.1, 01.2.3.4)
                    else:
                        addr, _, length = line.partition("/")
                        try:
                            value = int.from_bytes(pton(inet, addr), "big")
                        except OSError:
                            value = -1
                        prefix = int(length)
                        shift = 32 - prefix
                        if value >= 0 and (value >> shift) << shift == value:
                            group = nets.get(prefix)
                            if group is None:
                                group = nets[prefix] = []
                            group.append(value)
                            continue
                        # else: host bits set, the general path keeps the text as written
                bad += _add_line(line, name, into)
    fast = LocalList(
        name, Counter(packed), {p: Counter(v) for p, v in nets.items()}, Counter(plain)
    )
    if fast.count:
        into.attach(fast)
    return bad


def _blocks(handle: TextIO) -> Iterator[str]:
    """The file in blocks of whole lines (the last line may lack its newline)."""
    while True:
        lines = handle.readlines(BLOCK)
        if not lines:
            return
        yield "".join(lines)


def _add_line(line: str, name: str, into: IntelSet) -> int:
    """One line through the general path (as :func:`load_indicator_file` always read
    them); 1 when it held no usable indicator."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return 0
    # CSV exports quote their fields ("1.2.3.4",...): the quotes are not the value.
    value = text.split(",", 1)[0].split()[0].strip().strip("\"'")
    kind = guess_kind(value)
    if kind == "domain":
        value = normalize_domain(value)
    elif kind == "url":
        value = normalize_url(value)
    elif kind in ("ja3", "sha1"):
        value = value.lower()
    if kind is None or not into.add(Indicator(value, kind, name)):
        return 1
    return 0
