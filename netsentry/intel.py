"""Threat-intel indicator sets and fast lookups (no network here, ever).

An :class:`IntelSet` holds indicators of several kinds — IP addresses and CIDR
ranges (longest-prefix lookup), domains (a listed domain matches itself and its
subdomains on label boundaries: ``a.evil.com`` matches ``evil.com``,
``notevil.com`` does not), URLs (normalized), and hashes (JA3, certificate
SHA-1). Every hit names the feed(s) that listed it. Lookups are memoized per
value, since captures repeat addresses and names endlessly.

Indicators come from :meth:`IntelSet.add` (local files, tests, other importers) and
from compiled feed indexes attached with :meth:`IntelSet.attach` (see
:mod:`netsentry.intelindex`); a lookup answers from both, the most specific match
winning across them.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from netsentry.intelindex import FeedInfo


class IndicatorSource(Protocol):
    """Indicators kept outside an IntelSet's own tables: a compiled feed index
    (:class:`netsentry.intelindex.CompiledIntel`) or a local list's compact form
    (:class:`netsentry.intellist.LocalList`)."""

    count: int
    feeds: list[FeedInfo]

    def lookup_ip(self, packed: bytes) -> tuple[int, list[Indicator]]: ...

    def lookup_exact(self, kind: str, value: str) -> list[Indicator]: ...

    def lookup_domain(self, name: str) -> list[Indicator]: ...

KINDS = ("ip", "domain", "url", "ja3", "sha1")


@dataclass(frozen=True, slots=True)
class Indicator:
    """One listed value and where it came from."""

    value: str  # normalized: an address or CIDR, a lowercased domain, a URL, a hash
    kind: str  # ip (address or CIDR), domain, url, ja3, sha1
    feed: str
    category: str = "threat-intel"
    severity: str = ""


def normalize_domain(name: str) -> str:
    """Lowercase, no trailing dot, no leading '*.' or '.'."""
    name = name.strip().lower().rstrip(".")
    if name.startswith("*."):
        name = name[2:]
    return name.lstrip(".")


def normalize_url(url: str) -> str:
    """Scheme-less, lowercased host, no default port, no fragment: how URLs are compared."""
    url = url.strip()
    lower = url.lower()
    for scheme in ("http://", "https://"):
        if lower.startswith(scheme):
            url = url[len(scheme) :]
            break
    url = url.split("#", 1)[0]
    host, sep, rest = url.partition("/")
    host = host.lower()
    if host.endswith(":80") or host.endswith(":443"):
        host = host.rsplit(":", 1)[0]
    return host + sep + rest if sep else host + "/"


def parse_network(text: str) -> tuple[int, int, int] | None:
    """(IP version, prefix length, network as an integer) of an address or CIDR, or None.

    Feeds hold hundreds of thousands of addresses: ``ipaddress.ip_network`` cost ~7 µs
    each (1,000,000 indicators took 10 s to load); ``inet_pton`` parses the usual forms
    in a fraction of that. Anything else (netmask notation, scope ids) goes to ipaddress.
    """
    addr, slash, length = text.partition("/")
    six = ":" in addr
    bits = 128 if six else 32
    try:
        packed = socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, addr)
    except (OSError, ValueError):
        packed = b""
    if packed and (not slash or (length.isascii() and length.isdigit() and len(length) <= 3)):
        prefix = int(length) if slash else bits
        if prefix > bits:
            return None
        shift = bits - prefix
        return (6 if six else 4), prefix, (int.from_bytes(packed, "big") >> shift) << shift
    if not packed and "%" not in addr and not _IP_CHARS.issuperset(addr):
        return None  # a domain or a URL: not worth a slow ipaddress attempt
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return net.version, net.prefixlen, int(net.network_address)


_IP_CHARS = frozenset("0123456789abcdefABCDEF.:%")
_HOST = re.compile(r"[\w*.-]+")  # letters and digits of any script, '_', '*', '.', '-'


class IntelSet:
    """Indicators by kind, with memoized lookups."""

    MEMO = 65536  # lookups remembered per kind before the memo is cleared

    def __init__(self) -> None:
        self._exact: dict[str, dict[str, list[Indicator]]] = {k: {} for k in KINDS}
        # per IP version: prefix length -> {network int -> indicators}
        self._nets: dict[int, dict[int, dict[int, list[Indicator]]]] = {4: {}, 6: {}}
        self._prefixes: dict[int, list[int]] = {4: [], 6: []}
        self._memo: dict[str, dict[str, list[Indicator]]] = {k: {} for k in KINDS}
        self._packed_memo: dict[bytes, list[Indicator]] = {}
        self.count = 0
        self.feeds: set[str] = set()
        self._compiled: list[IndicatorSource] = []

    def __len__(self) -> int:
        return self.count

    def attach(self, compiled: IndicatorSource) -> None:
        """Answer lookups from a compiled feed index too (see :mod:`netsentry.intelindex`)."""
        self._compiled.append(compiled)
        self.count += compiled.count
        self.feeds.update(f.name for f in compiled.feeds)
        for memo in self._memo.values():
            memo.clear()
        self._packed_memo.clear()

    def add(self, indicator: Indicator) -> bool:
        """Add one indicator; False (and nothing added) when its value is not valid."""
        kind = indicator.kind
        if kind == "ip":
            parsed = parse_network(indicator.value)
            if parsed is None:
                return False
            version, prefix, network = parsed
            nets = self._nets[version]
            if prefix not in nets:
                nets[prefix] = {}
                self._prefixes[version] = sorted(nets, reverse=True)
            nets[prefix].setdefault(network, []).append(indicator)
        elif kind in KINDS:
            self._exact[kind].setdefault(indicator.value, []).append(indicator)
        else:
            return False
        self.count += 1
        self.feeds.add(indicator.feed)
        if self._memo[kind]:
            self._memo[kind].clear()
        if kind == "ip":
            self._packed_memo.clear()
        return True

    def update(self, indicators: Iterable[Indicator]) -> int:
        """Add many; return how many were valid."""
        return sum(1 for ind in indicators if self.add(ind))

    def lookup(self, kind: str, value: str) -> list[Indicator]:
        """Indicators matching ``value`` of a kind (ip, domain, url, ja3, sha1)."""
        memo = self._memo[kind]
        hit = memo.get(value)
        if hit is not None:
            return hit
        if kind == "ip":
            hit = self._lookup_ip(value)
        elif kind == "domain":
            hit = self._lookup_domain(value)
        elif kind == "url":
            url = normalize_url(value)
            hit = self._exact["url"].get(url, [])
            for compiled in self._compiled:
                hit = hit + compiled.lookup_exact("url", url)
        else:
            key = value.strip().lower()
            hit = self._exact[kind].get(key, [])
            for compiled in self._compiled:
                hit = hit + compiled.lookup_exact(kind, key)
        if len(memo) >= self.MEMO:
            memo.clear()
        memo[value] = hit
        return hit

    def lookup_packed(self, packed: bytes) -> list[Indicator]:
        """Indicators for an address in network byte order (4 or 16 bytes), memoized.

        The per-flow address lookups take this path: no text form is built unless a
        finding needs it."""
        hit = self._packed_memo.get(packed)
        if hit is None:
            hit = self._lookup_address(packed) if len(packed) in (4, 16) else []
            if len(self._packed_memo) >= self.MEMO:
                self._packed_memo.clear()
            self._packed_memo[packed] = hit
        return hit

    def _lookup_ip(self, text: str) -> list[Indicator]:
        # inet_pton: a quarter of ipaddress.ip_address's time
        six = ":" in text
        try:
            packed = socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, text)
        except (OSError, ValueError):
            return []
        return self._lookup_address(packed)

    def _lookup_address(self, packed: bytes) -> list[Indicator]:
        version = 4 if len(packed) == 4 else 6
        value = int.from_bytes(packed, "big")
        bits = 32 if version == 4 else 128
        nets = self._nets[version]
        best, hit = -1, []
        for prefix in self._prefixes[version]:  # longest prefix first
            key = (value >> (bits - prefix)) << (bits - prefix) if prefix else 0
            found = nets[prefix].get(key)
            if found:
                best, hit = prefix, found
                break
        for compiled in self._compiled:  # the most specific range wins across sources too
            prefix, found = compiled.lookup_ip(packed)
            if found and prefix > best:
                best, hit = prefix, found
            elif found and prefix == best:
                hit = hit + found
        return hit

    def _lookup_domain(self, name: str) -> list[Indicator]:
        name = normalize_domain(name)
        table = self._exact["domain"]
        candidate = name
        found: list[Indicator] = []
        while candidate:
            found = table.get(candidate, [])
            if found:
                break
            _, dot, candidate = candidate.partition(".")
            if not dot:
                break
        for compiled in self._compiled:
            # The nearest listed parent wins across sources, as within one.
            more = compiled.lookup_domain(name)
            if more and (not found or len(more[0].value) > len(found[0].value)):
                found = more
            elif more and more[0].value == found[0].value:
                found = found + more
        return found


def guess_kind(value: str) -> str | None:
    """The indicator kind of a bare value from a plain list, or None."""
    value = value.strip()
    if not value:
        return None
    if parse_network(value) is not None:
        return "ip"
    lower = value.lower()
    if lower.startswith(("http://", "https://")) or "/" in value:
        return "url"
    if len(value) == 32 and all(c in "0123456789abcdef" for c in lower):
        return "ja3"
    if len(value) == 40 and all(c in "0123456789abcdef" for c in lower):
        return "sha1"
    # A host name: letters, digits, '-', '_' (and a leading '*.'), not ending in a number.
    # "Anything with a dot" took '1.2.3.999', '1.2.3.4:8080' or '!!!.!!!' for domains,
    # so garbage lines were loaded as indicators instead of being counted as garbage.
    labels = lower.rstrip(".").split(".")
    if len(labels) > 1 and _HOST.fullmatch(lower) and not labels[-1].isdigit():
        return "domain"
    return None


def load_indicator_file(
    path: str | Path, feed: str | None = None, into: IntelSet | None = None
) -> tuple[IntelSet, int]:
    """A local list (one indicator per line, '#' comments; CSV takes the first column).

    Adds to ``into`` when given. Returns the set and the number of lines that held
    no usable indicator. Plain addresses and names are kept compactly
    (:mod:`netsentry.intellist`), the other lines through :meth:`IntelSet.add`.
    """
    from netsentry.intellist import load_list  # imports this module

    intel = into if into is not None else IntelSet()
    bad = load_list(path, feed or Path(path).name, intel)
    return intel, bad
