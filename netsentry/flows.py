"""The flow table: bidirectional flows keyed by the 5-tuple, with bounded memory.

A flow's client is the side that sent its first packet, except that a first
packet carrying SYN+ACK, or sent from a well-known port to an ephemeral one, is
taken as the server speaking (a capture that started mid-conversation).

Memory is bounded two ways: idle timeouts per protocol class (in capture time,
so a replayed week-old capture behaves like live traffic) and a maximum number
of flows, beyond which the least recently active flow is evicted. Each class
keeps its flows in least-recently-active order, so expiry only ever looks at
the front. Every flow that ends — closed, timed out, evicted, or still open at
the end of input — is handed to ``on_end`` exactly once.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netsentry.communityid import community_id
from netsentry.model import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, Packet

SEC = 1_000_000_000

FlowKey = tuple[int, bytes, int, bytes, int]
"""(proto, low address, its port, high address, its port): the same for both directions."""


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """Limits of the flow table (all times in seconds of capture time)."""

    tcp_timeout: float = 600.0
    tcp_closed_timeout: float = 30.0
    udp_timeout: float = 120.0
    other_timeout: float = 60.0
    max_flows: int = 200_000
    community_id_seed: int = 0


class Flow:
    """One bidirectional conversation and what is known about it.

    Index 0 of the per-direction lists is client-to-server ("toserver"), index 1
    server-to-client ("toclient"), as in Suricata's flow records.
    """

    __slots__ = (
        "_community_id",
        "app",
        "app_done",
        "app_proto",
        "bytes",
        "cli",
        "cport",
        "end_reason",
        "family",
        "fired",
        "first_num",
        "first_ts",
        "flags",
        "icmp_code",
        "icmp_type",
        "key",
        "last_ts",
        "pkts",
        "probes",
        "proto",
        "seed",
        "spt",
        "srv",
        "state",
        "streams",
        "tails",
    )

    def __init__(self, key: FlowKey, pkt: Packet, client_is_src: bool, seed: int) -> None:
        self.key = key
        self.proto = pkt.proto
        self.family = pkt.family
        if client_is_src:
            self.cli, self.cport, self.srv, self.spt = pkt.src, pkt.sport, pkt.dst, pkt.dport
        else:
            self.cli, self.cport, self.srv, self.spt = pkt.dst, pkt.dport, pkt.src, pkt.sport
        self.icmp_type = pkt.icmp_type
        self.icmp_code = pkt.icmp_code
        self.first_ts = pkt.ts
        self.last_ts = pkt.ts
        self.first_num = pkt.num
        self.pkts = [0, 0]
        self.bytes = [0, 0]
        self.flags = [0, 0]  # union of TCP flags seen per direction
        self.state = ""  # TCP: "new", "established", "closed"; others ""
        self.seed = seed
        self._community_id: str | None = None
        self.app: Any = None  # application-layer state, owned by netsentry.applayer
        self.app_proto = ""  # "http", "tls", ... once known; "failed" when nothing matched
        self.app_done = False  # nothing more to decode or scan (an encrypted session)
        self.probes = 0  # data chunks seen while no decoder recognized the flow
        self.streams: Any = None  # [Stream, Stream] when reassembling, else None
        self.end_reason = ""
        self.fired: set[str] | None = None  # rules that fire once per flow and did
        self.tails: list[bytes] | None = None  # last stream bytes per direction (matching)

    @property
    def community_id(self) -> str:
        """Community ID v1 of the flow (computed once, on first use)."""
        if self._community_id is None:
            if self.proto in (1, 58):
                sport, dport = self.icmp_type, self.icmp_code
            else:
                sport, dport = self.cport, self.spt
            self._community_id = community_id(
                self.proto, self.cli, self.srv, sport, dport, self.seed
            )
        return self._community_id

    @property
    def flow_id(self) -> int:
        """A stable positive 51-bit id (JSON-safe, like Suricata's), same in every run."""
        digest = hashlib.blake2b(repr((self.key, self.first_ts)).encode(), digest_size=8).digest()
        return (int.from_bytes(digest, "big") & ((1 << 51) - 1)) or 1

    @property
    def established(self) -> bool:
        """TCP three-way handshake completed (SYN, SYN-ACK, then the client's ACK)."""
        return self.state in ("established", "closed") and bool(self.flags[1] & TCP_SYN)


# Well-known service ports; a first packet *from* one of these is the server talking.
_SERVICE_PORT_MAX = 1024


def _client_is_src(pkt: Packet) -> bool:
    if pkt.proto == 6 and pkt.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK:
        return False
    if pkt.proto == 6 and pkt.tcp_flags & TCP_SYN:
        return True
    if pkt.proto in (1, 58):
        return pkt.icmp_type not in (0, 129, 14, 16, 18)  # a reply: the dst asked
    return not (pkt.sport < _SERVICE_PORT_MAX <= pkt.dport)


class FlowTable:
    """Finds or creates the flow of each packet; ends flows on timeout or pressure."""

    def __init__(
        self,
        config: FlowConfig | None = None,
        on_end: Callable[[Flow], None] | None = None,
    ) -> None:
        self.config = config or FlowConfig()
        self.on_end = on_end
        self.counters: Counter[str] = Counter()
        # One LRU order per timeout class; "closed" holds TCP flows after FIN/RST.
        self._classes: dict[str, OrderedDict[FlowKey, Flow]] = {
            "tcp": OrderedDict(),
            "closed": OrderedDict(),
            "udp": OrderedDict(),
            "other": OrderedDict(),
        }
        c = self.config
        self._timeouts = {
            "tcp": int(c.tcp_timeout * SEC),
            "closed": int(c.tcp_closed_timeout * SEC),
            "udp": int(c.udp_timeout * SEC),
            "other": int(c.other_timeout * SEC),
        }
        self._where: dict[FlowKey, str] = {}
        self._next_sweep = 0

    def __len__(self) -> int:
        return len(self._where)

    def lookup(self, pkt: Packet) -> tuple[Flow, int]:
        """The flow of ``pkt`` (created if new) and the packet's direction (0 or 1)."""
        ts = pkt.ts
        if ts >= self._next_sweep:
            self.expire(ts)
            self._next_sweep = ts + SEC
        proto = pkt.proto
        src, dst = pkt.src, pkt.dst
        if proto in (1, 58):
            sport = dport = 0
        else:
            sport, dport = pkt.sport, pkt.dport
        if (src, sport) <= (dst, dport):
            key: FlowKey = (proto, src, sport, dst, dport)
        else:
            key = (proto, dst, dport, src, sport)
        cls_name = self._where.get(key)
        if cls_name is not None:
            od = self._classes[cls_name]
            flow = od[key]
            reopened = pkt.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN
            if proto == 6 and cls_name == "closed" and reopened:
                # a new connection reusing the ports of a finished one
                self._end(key, "closed")
            else:
                od.move_to_end(key)
                direction = 0 if (src == flow.cli and sport == flow.cport) else 1
                if proto in (1, 58) and src == dst:
                    direction = 0
                self._account(flow, pkt, direction, key)
                return flow, direction
        if len(self._where) >= self.config.max_flows:
            self._evict_one()
        flow = Flow(key, pkt, _client_is_src(pkt), self.config.community_id_seed)
        flow.state = "new" if proto == 6 else ""
        cls_name = "tcp" if proto == 6 else "udp" if proto == 17 else "other"
        self._classes[cls_name][key] = flow
        self._where[key] = cls_name
        self.counters["flows"] += 1
        direction = 0 if (src == flow.cli and sport == flow.cport) else 1
        self._account(flow, pkt, direction, key)
        return flow, direction

    def _account(self, flow: Flow, pkt: Packet, direction: int, key: FlowKey) -> None:
        flow.last_ts = pkt.ts if pkt.ts > flow.last_ts else flow.last_ts
        flow.pkts[direction] += 1
        flow.bytes[direction] += pkt.wirelen
        if flow.proto != 6:
            return
        flags = pkt.tcp_flags
        flow.flags[direction] |= flags
        if flow.state == "new" and direction == 0 and flags & TCP_ACK and flow.flags[1] & TCP_SYN:
            flow.state = "established"
        ending = flags & TCP_RST or (flow.flags[0] & TCP_FIN and flow.flags[1] & TCP_FIN)
        if ending and flow.state != "closed":
            flow.state = "closed"
            if self._where.get(key) == "tcp":
                del self._classes["tcp"][key]
                self._classes["closed"][key] = flow
                self._where[key] = "closed"

    def expire(self, now: int) -> None:
        """End every flow idle for longer than its class's timeout."""
        for cls_name, od in self._classes.items():
            limit = now - self._timeouts[cls_name]
            while od:
                key, flow = next(iter(od.items()))
                if flow.last_ts >= limit:
                    break
                self._end(key, "timeout")

    def _evict_one(self) -> None:
        oldest_key: FlowKey | None = None
        oldest_ts = 0
        for od in self._classes.values():
            if od:
                key, flow = next(iter(od.items()))
                if oldest_key is None or flow.last_ts < oldest_ts:
                    oldest_key, oldest_ts = key, flow.last_ts
        if oldest_key is not None:
            self.counters["evicted"] += 1
            self._end(oldest_key, "evicted")

    def _end(self, key: FlowKey, reason: str) -> None:
        cls_name = self._where.pop(key)
        flow = self._classes[cls_name].pop(key)
        flow.end_reason = reason
        self.counters[f"ended: {reason}"] += 1
        if self.on_end is not None:
            self.on_end(flow)

    def flush(self) -> None:
        """End every remaining flow (end of input)."""
        for key in list(self._where):
            self._end(key, "end of input")

    def flows(self) -> list[Flow]:
        """The flows currently in the table (for tests and reports)."""
        return [f for od in self._classes.values() for f in od.values()]
