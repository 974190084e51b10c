"""The compiled indicator index: every feed's indicators in one file that loads in milliseconds.

``update-intel`` parses the cached feed bodies once and writes this index beside the
cache; ``analyze`` only reads it (never the network, never the feed bodies). Loading
1,000,000 indicators must take well under a second, so the file holds flat arrays that
:meth:`array.array.frombytes` reads without creating a Python object per indicator:

- IP addresses and CIDR ranges become **disjoint intervals** (one sorted array of
  interval starts per IP version, with, per interval, the id of the feed set that
  listed it and the prefix length of the most specific range covering it). A lookup
  is one binary search, whatever the number of prefix lengths. Allowlisted ranges and
  bogons are intervals with feed set 0, so they win over any range that contains them.
- Domains, URLs, JA3 hashes and certificate SHA-1s become sorted 64-bit BLAKE2b hashes
  of ``kind + NUL + normalized value``. A lookup hashes the value (and, for a domain,
  each parent on a label boundary) and binary-searches. The chance that a value not
  listed collides with one of 1M listed hashes is 1M / 2**64 (about 5e-14) per lookup.
  A 2 MiB bitmap of CRC-32s answers most misses before any BLAKE2b is computed.

No pickle: the file is a magic number, a JSON header (feeds, feed sets, section
offsets) and raw little- or big-endian arrays (the header says which).
"""

from __future__ import annotations

import array
import bisect
import hashlib
import json
import socket
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netsentry.atomicfile import atomic_binary
from netsentry.errors import NetsentryError
from netsentry.intel import Indicator, normalize_domain, parse_network

MAGIC = b"NSINTEL\x01"
FORMAT_VERSION = 1
_BITS = {4: 32, 6: 128}

BOGONS = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "100::/64",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)
"""Private, reserved, documentation and multicast ranges (RFC 6890): dropped from IP feeds
by default, because real lists carry them (FireHOL level 1 lists 10.0.0.0/8) and a LAN
must not light up as threat intel."""


class IntelIndexError(NetsentryError):
    """The index file is missing, damaged or from another version."""


def value_hash(kind: str, value: str) -> int:
    """The 64-bit key of a normalized string indicator."""
    digest = hashlib.blake2b(f"{kind}\0{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


BLOOM_BITS = 1 << 24
"""Bits of the pre-filter of string keys (2 MiB): with 1M keys, 6% of misses pass it."""


def bloom_bit(kind: str, value: str) -> int:
    """The pre-filter bit of a string indicator: CRC-32 costs a fifth of a BLAKE2b, and most
    lookups (every parent of every queried name) are misses that stop here."""
    return zlib.crc32(f"{kind}\0{value}".encode()) & (BLOOM_BITS - 1)


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """What a finding says about a feed that listed an indicator."""

    name: str
    category: str = "threat-intel"
    severity: str = ""


# -- building -------------------------------------------------------------------------------


class IndexBuilder:
    """Collects indicators of many feeds, then writes the index.

    Allowlist entries (:meth:`allow_network`, :meth:`allow_domain`) must come before
    the indicators they should drop: :meth:`add` drops an IP range inside an allowed
    range (or a bogon) and a domain that is allowed, and counts it as dropped.
    """

    def __init__(self, drop_bogons: bool = True) -> None:
        self.feeds: list[FeedInfo] = []
        self._ip: dict[int, dict[int, int]] = {4: {}, 6: {}}  # (net << 8 | prefix) -> feed bits
        self._str: dict[int, int] = {}  # value hash -> feed bits
        self._bloom = bytearray(BLOOM_BITS // 8)
        self._allow_nets: dict[int, set[tuple[int, int]]] = {4: set(), 6: set()}
        self._allow_exact: set[str] = set()
        self._allow_suffix: set[str] = set()
        self._allow_spans: dict[int, tuple[list[int], list[int]]] | None = None
        if drop_bogons:
            for block in BOGONS:
                self.allow_network(block)

    def feed(self, info: FeedInfo) -> int:
        """Register a feed; its index is used in :meth:`add`."""
        self.feeds.append(info)
        return len(self.feeds) - 1

    def allow_network(self, text: str) -> bool:
        """An address or CIDR that no feed may list; False when it is not one."""
        parsed = parse_network(text.strip())
        if parsed is None:
            return False
        version, prefix, net = parsed
        self._allow_nets[version].add((net, prefix))
        self._allow_spans = None
        return True

    def allow_domain(self, name: str, suffix: bool) -> bool:
        """A domain no feed may list: only itself, or (suffix) also its subdomains."""
        name = normalize_domain(name)
        if not name:
            return False
        (self._allow_suffix if suffix else self._allow_exact).add(name)
        return True

    def _spans(self) -> dict[int, tuple[list[int], list[int]]]:
        """Allowed ranges per IP version, coalesced into sorted disjoint [start, end)."""
        if self._allow_spans is None:
            spans: dict[int, tuple[list[int], list[int]]] = {}
            for version, nets in self._allow_nets.items():
                bits = _BITS[version]
                starts: list[int] = []
                ends: list[int] = []
                for net, prefix in sorted(nets):
                    end = net + (1 << (bits - prefix))
                    if ends and net <= ends[-1]:
                        ends[-1] = max(ends[-1], end)
                    else:
                        starts.append(net)
                        ends.append(end)
                spans[version] = (starts, ends)
            self._allow_spans = spans
        return self._allow_spans

    def _net_allowed(self, version: int, net: int, prefix: int) -> bool:
        starts, ends = self._spans()[version]
        i = bisect.bisect_right(starts, net) - 1
        return i >= 0 and net + (1 << (_BITS[version] - prefix)) <= ends[i]

    def domain_allowed(self, name: str) -> bool:
        """True when an allowlist covers this (normalized) domain."""
        if name in self._allow_exact:
            return True
        suffixes = self._allow_suffix
        if not suffixes:
            return False
        while name:
            if name in suffixes:
                return True
            _, dot, name = name.partition(".")
            if not dot:
                return False
        return False

    def add(self, kind: str, value: str, feed: int) -> str:
        """Add one normalized indicator: 'ok', 'dropped' (allowlisted or a bogon) or 'invalid'."""
        bit = 1 << feed
        if kind == "ip":
            parsed = parse_network(value)
            if parsed is None:
                return "invalid"
            version, prefix, net = parsed
            if self._net_allowed(version, net, prefix):
                return "dropped"
            table = self._ip[version]
            key = net << 8 | prefix
            table[key] = table.get(key, 0) | bit
            return "ok"
        if kind == "domain" and self.domain_allowed(value):
            return "dropped"
        if kind == "url" and self.domain_allowed(_url_host(value)):
            return "dropped"
        key = value_hash(kind, value)
        self._str[key] = self._str.get(key, 0) | bit
        at = bloom_bit(kind, value)
        self._bloom[at >> 3] |= 1 << (at & 7)
        return "ok"

    @property
    def count(self) -> int:
        """Distinct indicators kept so far."""
        return len(self._ip[4]) + len(self._ip[6]) + len(self._str)

    def write(self, path: Path, meta: dict[str, Any] | None = None) -> None:
        """Write the index atomically (a reader never sees half a file)."""
        sets: dict[int, int] = {}  # feed bits -> set id (1-based; 0 = not listed)

        def set_id(bits: int) -> int:
            found = sets.get(bits)
            if found is None:
                found = sets[bits] = len(sets) + 1
            return found

        sections: list[tuple[str, str, bytes, int]] = []
        for version in (4, 6):
            starts, infos, prefixes = self._intervals(version, set_id)
            if version == 4:
                blob = array.array("Q", starts).tobytes()
                kind = "Q"
            else:
                blob = b"".join(s.to_bytes(16, "big") for s in starts)
                kind = "u128be"
            sections.append((f"v{version}.starts", kind, blob, len(starts)))
            sections.append(
                (f"v{version}.sets", "I", array.array("I", infos).tobytes(), len(infos))
            )
            sections.append(
                (f"v{version}.prefix", "B", array.array("B", prefixes).tobytes(), len(prefixes))
            )
        keys = sorted(self._str)
        sections.append(("str.keys", "Q", array.array("Q", keys).tobytes(), len(keys)))
        sections.append(
            (
                "str.sets",
                "I",
                array.array("I", [set_id(self._str[k]) for k in keys]).tobytes(),
                len(keys),
            )
        )
        sections.append(("str.bloom", "B", bytes(self._bloom), len(self._bloom)))
        for name, values in (
            ("allow.exact", self._allow_exact),
            ("allow.suffix", self._allow_suffix),
        ):
            hashes = sorted({value_hash("domain", v) for v in values})
            sections.append((name, "Q", array.array("Q", hashes).tobytes(), len(hashes)))
        header: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "byteorder": sys.byteorder,
            "count": self.count,
            "feeds": [
                {"name": f.name, "category": f.category, "severity": f.severity} for f in self.feeds
            ],
            "sets": [
                [i for i in range(len(self.feeds)) if bits >> i & 1]
                for bits in sorted(sets, key=sets.__getitem__)
            ],
            "meta": meta or {},
            "sections": [],
        }
        offset = 0
        for name, kind, blob, count in sections:
            header["sections"].append(
                {"name": name, "type": kind, "count": count, "offset": offset, "size": len(blob)}
            )
            offset += len(blob)
        head = json.dumps(header).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_binary(path) as handle:
            handle.write(MAGIC)
            handle.write(len(head).to_bytes(4, "little"))
            handle.write(head)
            for _, _, blob, _ in sections:
                handle.write(blob)

    def _intervals(self, version: int, set_id: Any) -> tuple[list[int], list[int], list[int]]:
        """Flatten the (laminar) ranges into disjoint intervals, innermost range winning.

        CIDR blocks are either nested or disjoint. Sorted by start and then by size
        (largest first), a stack of open blocks gives, at each boundary, the innermost
        block covering what follows. Allowed blocks take part with set id 0.
        """
        bits = _BITS[version]
        limit = 1 << bits
        items: list[tuple[int, int, int]] = []  # (start, prefix, set id)
        for key, feeds in self._ip[version].items():
            items.append((key >> 8, key & 0xFF, set_id(feeds)))
        for net, prefix in self._allow_nets[version]:
            items.append((net, prefix, 0))
        # Same block listed and allowed cannot happen (add() drops it); equal blocks of
        # several feeds were merged in the dict. Ties on (start, prefix) are impossible.
        items.sort(key=lambda it: (it[0], it[1]))
        starts: list[int] = []
        infos: list[int] = []
        prefixes: list[int] = []

        def emit(at: int, info: int, prefix: int) -> None:
            if at >= limit:
                return
            if not info:
                prefix = 0  # not listed: which allowed block it came from does not matter
            if starts and starts[-1] == at:
                starts.pop()
                infos.pop()
                prefixes.pop()
            if (
                infos
                and infos[-1] == info
                and prefixes[-1] == prefix
                and (info == 0 or _same_block(starts[-1], at, prefix, bits))
            ):
                return
            starts.append(at)
            infos.append(info)
            prefixes.append(prefix)

        stack: list[tuple[int, int, int]] = []  # (end, set id, prefix)
        for start, prefix, info in items:
            while stack and stack[-1][0] <= start:
                end = stack.pop()[0]
                top = stack[-1] if stack else (0, 0, 0)
                emit(end, top[1], top[2])
            emit(start, info, prefix)
            stack.append((start + (1 << (bits - prefix)), info, prefix))
        while stack:
            end = stack.pop()[0]
            top = stack[-1] if stack else (0, 0, 0)
            emit(end, top[1], top[2])
        return starts, infos, prefixes


def _same_block(a: int, b: int, prefix: int, bits: int) -> bool:
    shift = bits - prefix
    return a >> shift == b >> shift


def _url_host(url: str) -> str:
    host = url.split("/", 1)[0]
    if host.startswith("["):
        return host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


# -- loading and lookups --------------------------------------------------------------------


class CompiledIntel:
    """A loaded index: lookups by kind, answering with :class:`Indicator` lists."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            data = memoryview(self.path.read_bytes())  # sections are views, not copies
        except FileNotFoundError:
            raise IntelIndexError(
                f"{path}: no compiled intel (run `netsentry update-intel`)"
            ) from None
        except OSError as exc:
            raise IntelIndexError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if bytes(data[:8]) != MAGIC or len(data) < 12:
            raise IntelIndexError(
                f"{path}: not a netsentry intel index (run `netsentry update-intel`)"
            )
        size = int.from_bytes(data[8:12], "little")
        try:
            header = json.loads(bytes(data[12 : 12 + size]))
            if header.get("version") != FORMAT_VERSION:
                raise ValueError("version")
            base = 12 + size
            swap = header["byteorder"] != sys.byteorder
            raw = {
                s["name"]: (s["type"], data[base + s["offset"] : base + s["offset"] + s["size"]])
                for s in header["sections"]
            }
            self.feeds = [
                FeedInfo(f["name"], f["category"], f["severity"]) for f in header["feeds"]
            ]
            self.sets: list[tuple[FeedInfo, ...]] = [()] + [
                tuple(self.feeds[i] for i in members) for members in header["sets"]
            ]
            self.count: int = header["count"]
            self.meta: dict[str, Any] = header.get("meta", {})
            self._v4 = _arr(raw["v4.starts"], swap)
            blob6 = raw["v6.starts"][1]
            self._v6 = [int.from_bytes(blob6[i : i + 16], "big") for i in range(0, len(blob6), 16)]
            self._ip_sets = {4: _arr(raw["v4.sets"], swap), 6: _arr(raw["v6.sets"], swap)}
            self._ip_prefix = {4: _arr(raw["v4.prefix"], swap), 6: _arr(raw["v6.prefix"], swap)}
            self._keys = _arr(raw["str.keys"], swap)
            self._key_sets = _arr(raw["str.sets"], swap)
            self._bloom = bytes(raw["str.bloom"][1])
            if len(self._bloom) != BLOOM_BITS // 8:
                raise ValueError("bloom size")
            self._allow_exact = _arr(raw["allow.exact"], swap)
            self._allow_suffix = _arr(raw["allow.suffix"], swap)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise IntelIndexError(
                f"{path}: damaged or from another netsentry version ({exc}); "
                "run `netsentry update-intel`"
            ) from None

    def exclude(self, names: set[str]) -> None:
        """Leave these feeds out of every answer (disabled since the index was built)."""
        if not names:
            return
        self.sets = [tuple(f for f in members if f.name not in names) for members in self.sets]
        self.feeds = [f for f in self.feeds if f.name not in names]

    def lookup_ip(self, packed: bytes) -> tuple[int, list[Indicator]]:
        """(prefix length, indicators) of the most specific listed range holding an address."""
        version = 4 if len(packed) == 4 else 6
        value = int.from_bytes(packed, "big")
        starts: Any = self._v4 if version == 4 else self._v6
        i = bisect.bisect_right(starts, value) - 1
        if i < 0:
            return -1, []
        set_id = self._ip_sets[version][i]
        if not set_id:
            return -1, []
        prefix = self._ip_prefix[version][i]
        bits = _BITS[version]
        net = (value >> (bits - prefix)) << (bits - prefix)
        text = socket.inet_ntop(
            socket.AF_INET if version == 4 else socket.AF_INET6,
            net.to_bytes(bits // 8, "big"),
        )
        if prefix != bits:
            text = f"{text}/{prefix}"
        return prefix, self._indicators(text, "ip", set_id)

    def lookup_exact(self, kind: str, value: str) -> list[Indicator]:
        """Indicators of a normalized URL, JA3 or SHA-1 (or one domain, no parents)."""
        if not self._maybe(kind, value):
            return []
        set_id = _find(self._keys, value_hash(kind, value), self._key_sets)
        return self._indicators(value, kind, set_id) if set_id else []

    def _maybe(self, kind: str, value: str) -> bool:
        at = bloom_bit(kind, value)
        return bool(self._bloom[at >> 3] >> (at & 7) & 1)

    def lookup_domain(self, name: str) -> list[Indicator]:
        """Indicators of a normalized domain or of its nearest listed parent."""
        candidate = name
        while candidate:
            set_id = (
                _find(self._keys, value_hash("domain", candidate), self._key_sets)
                if self._maybe("domain", candidate)
                else 0
            )
            if set_id:
                return (
                    []
                    if self.domain_allowed(name)
                    else self._indicators(candidate, "domain", set_id)
                )
            _, dot, candidate = candidate.partition(".")
            if not dot:
                break
        return []

    def domain_allowed(self, name: str) -> bool:
        """True when an allowlist covers the name (exactly, or a listed suffix)."""
        if _find(self._allow_exact, value_hash("domain", name)):
            return True
        if not len(self._allow_suffix):
            return False
        while name:
            if _find(self._allow_suffix, value_hash("domain", name)):
                return True
            _, dot, name = name.partition(".")
            if not dot:
                return False
        return False

    def _indicators(self, value: str, kind: str, set_id: int) -> list[Indicator]:
        # An empty set (every feed of it excluded) gives an empty list: no hit.
        return [Indicator(value, kind, f.name, f.category, f.severity) for f in self.sets[set_id]]


def _arr(section: tuple[str, memoryview], swap: bool) -> array.array[int]:
    kind, blob = section
    out = array.array(kind)
    out.frombytes(blob)
    if swap:
        out.byteswap()
    return out


def _find(keys: array.array[int], key: int, sets: array.array[int] | None = None) -> int:
    """The set id stored for a hash key (1 when ``sets`` is None), or 0 when absent."""
    i = bisect.bisect_left(keys, key)
    if i < len(keys) and keys[i] == key:
        return sets[i] if sets is not None else 1
    return 0


__all__ = [
    "BOGONS",
    "CompiledIntel",
    "FeedInfo",
    "IndexBuilder",
    "IntelIndexError",
    "value_hash",
]
