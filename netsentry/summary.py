"""Traffic summary of an analyzed stream: counts, time span, protocols, talkers.

Memory stays bounded however many addresses a capture holds (a spoofed SYN
flood has millions): per-address and per-pair tables keep at most ``max_keys``
entries. When a table overflows, the entries that are in neither the top half by
bytes nor the top half by packets are dropped; heavy hitters survive, their
counts stay exact from the moment they entered, and the summary says it is
approximate so nobody mistakes it for a full census.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from netsentry.model import PROTO_NAMES, Packet, ip_short

DEFAULT_MAX_KEYS = 20_000


class TopTable:
    """Packets and bytes per key, bounded to ``max_keys`` entries (see module doc)."""

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.max_keys = max_keys
        self.counts: dict[Any, list[int]] = {}  # key -> [packets, bytes]
        self.pruned = 0  # keys dropped to stay within max_keys

    def add(self, key: Any, nbytes: int) -> None:
        entry = self.counts.get(key)
        if entry is None:
            if len(self.counts) >= self.max_keys:
                self._prune()
            self.counts[key] = [1, nbytes]
        else:
            entry[0] += 1
            entry[1] += nbytes

    def _prune(self) -> None:
        # Keep the top quarter by bytes and the top quarter by packets: at most half the
        # table survives even when the two rankings share no key, so a prune always frees
        # room for max_keys/2 new keys (amortized O(log n) per insert, never per packet).
        keep = max(1, self.max_keys // 4)
        items = self.counts.items()
        by_bytes = sorted(items, key=lambda kv: kv[1][1], reverse=True)[:keep]
        by_packets = sorted(items, key=lambda kv: kv[1][0], reverse=True)[:keep]
        survivors = dict(by_bytes)
        survivors.update(by_packets)
        self.pruned += len(self.counts) - len(survivors)
        self.counts = survivors

    def top(self, n: int, *, by: str = "bytes") -> list[tuple[Any, int, int]]:
        """The ``n`` largest entries as (key, packets, bytes), by ``bytes`` or ``packets``."""
        index = 1 if by == "bytes" else 0
        ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1][index], -kv[1][1 - index]))
        return [(k, v[0], v[1]) for k, v in ranked[:n]]


@dataclass
class CaptureInfo:
    """What was read from one input file."""

    name: str
    format: str
    compressed: bool
    linktypes: list[int]
    packets: int = 0
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)


class Summary:
    """Accumulates the traffic summary one packet at a time (``add``)."""

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.packets = 0
        self.bytes = 0  # original (wire) lengths
        self.captured_bytes = 0
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.protocols: dict[str, list[int]] = {}
        self.talkers = TopTable(max_keys)
        self.conversations = TopTable(max_keys)
        self.skipped: Counter[str] = Counter()
        self.fragments: Counter[str] = Counter()
        self.captures: list[CaptureInfo] = []
        self.fragment_packets = 0

    def add(self, pkt: Packet) -> None:
        """Count one packet."""
        self.packets += 1
        size = pkt.wirelen
        self.bytes += size
        self.captured_bytes += pkt.caplen
        ts = pkt.ts
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        if pkt.family:
            name = PROTO_NAMES.get(pkt.proto) or str(pkt.proto)
            src, dst = pkt.src, pkt.dst
            # TopTable.add inlined for the common case (key already counted): three
            # method calls per packet were a tenth of the summary's cost.
            talkers = self.talkers
            counts = talkers.counts
            entry = counts.get(src)
            if entry is None:
                talkers.add(src, size)
            else:
                entry[0] += 1
                entry[1] += size
            entry = counts.get(dst) if counts is talkers.counts else None
            if entry is None:
                talkers.add(dst, size)
            else:
                entry[0] += 1
                entry[1] += size
            self.conversations.add((src, dst) if src <= dst else (dst, src), size)
            if pkt.fragment:
                self.fragment_packets += 1
        else:
            name = pkt.label or "unknown"
        entry = self.protocols.get(name)
        if entry is None:
            self.protocols[name] = [1, size]
        else:
            entry[0] += 1
            entry[1] += size

    @property
    def duration(self) -> float:
        """Seconds between the first and the last packet."""
        if self.first_ts is None or self.last_ts is None:
            return 0.0
        return (self.last_ts - self.first_ts) / 1e9

    @property
    def approximate(self) -> bool:
        """True when a talker or conversation table dropped rarely-seen entries."""
        return bool(self.talkers.pruned or self.conversations.pruned)

    def warnings(self) -> list[str]:
        """Every reader warning, in input order."""
        return [w for c in self.captures for w in c.warnings]

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        """The summary as plain JSON-ready data (``--format json``)."""
        return {
            "captures": [
                {
                    "name": c.name,
                    "format": c.format,
                    "compressed": c.compressed,
                    "linktypes": c.linktypes,
                    "packets": c.packets,
                    "truncated": c.truncated,
                    "warnings": c.warnings,
                }
                for c in self.captures
            ],
            "packets": self.packets,
            "bytes": self.bytes,
            "captured_bytes": self.captured_bytes,
            "first_timestamp": format_ts(self.first_ts),
            "last_timestamp": format_ts(self.last_ts),
            "duration_seconds": round(self.duration, 6),
            "protocols": [
                {"protocol": name, "packets": p, "bytes": b}
                for name, (p, b) in sorted(self.protocols.items(), key=lambda kv: -kv[1][0])
            ],
            "top_talkers_by_bytes": _talkers(self.talkers.top(top, by="bytes")),
            "top_talkers_by_packets": _talkers(self.talkers.top(top, by="packets")),
            "top_conversations": [
                {"a": ip_short(a), "b": ip_short(b), "packets": p, "bytes": nb}
                for (a, b), p, nb in self.conversations.top(top, by="bytes")
            ],
            "skipped": [
                {"reason": reason, "packets": n} for reason, n in self.skipped.most_common()
            ],
            "fragments": dict(sorted(self.fragments.items())),
            "approximate": self.approximate,
            "warnings": self.warnings(),
        }


def _talkers(rows: list[tuple[Any, int, int]]) -> list[dict[str, Any]]:
    return [{"ip": ip_short(addr), "packets": p, "bytes": b} for addr, p, b in rows]


def format_ts(ts: int | None) -> str | None:
    """Nanosecond epoch time as EVE writes it: ``2024-01-31T12:00:00.123456+0000`` (UTC)."""
    if ts is None:
        return None
    seconds, ns = divmod(ts, 1_000_000_000)
    try:
        when = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{seconds}.{ns // 1000:06d}"  # outside what datetime can show (hostile files)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns // 1000:06d}+0000"
