"""The flow table: bidirectional flows keyed by the 5-tuple, with bounded memory.

A flow's client is the side that sent its first packet, except that a first
packet carrying SYN+ACK, or sent from a well-known port to an ephemeral one, is
taken as the server speaking (a capture that started mid-conversation).

Memory is bounded two ways: idle timeouts per protocol and TCP state (in capture
time, so a replayed week-old capture behaves like live traffic) and a maximum
number of flows. Expiry is a sweep over the table, run at most once per second of
capture time and only after enough packets to pay for it (amortized to a few
flow checks per packet), so the per-packet path is one dict lookup with no LRU
bookkeeping. A flow therefore ends up to about a second of capture time after
its timeout. When the table is full, the sweep first expires with short
"emergency" timeouts (as Suricata does) and then evicts the least recently active
flows, unestablished ones first (a spoofed SYN flood fills tables with them).
Every flow that ends — closed, timed out, evicted, or still open at the end of
input — is handed to ``on_end`` exactly once.
"""

from __future__ import annotations

import hashlib
from collections import Counter
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
    tcp_new_timeout: float = 30.0  # handshake not completed: half-open, often spoofed
    tcp_closed_timeout: float = 10.0  # after FIN both ways or RST: late ACKs, retransmissions
    udp_timeout: float = 120.0
    other_timeout: float = 60.0
    max_flows: int = 100_000
    community_id_seed: int = 0
    emergency_factor: float = 0.1  # timeouts are scaled by this when the table is full


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
        "bytes0",
        "bytes1",
        "cli",
        "cport",
        "end_reason",
        "family",
        "fired",
        "first_num",
        "first_ts",
        "flags0",
        "flags1",
        "icmp_code",
        "icmp_type",
        "isn",
        "key",
        "last_ts",
        "owner",
        "pkts0",
        "pkts1",
        "probes",
        "proto",
        "seed",
        "shipped",
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
        # per direction (0 toserver, 1 toclient): packets, bytes, union of TCP flags
        self.pkts0 = self.pkts1 = 0
        self.bytes0 = self.bytes1 = 0
        self.flags0 = self.flags1 = 0
        self.state = ""  # TCP: "new", "established", "closed"; others ""
        self.seed = seed
        self._community_id: str | None = None
        self.app: Any = None  # application-layer state, owned by netsentry.applayer
        self.app_proto = ""  # "http", "tls", ... once known; "failed" when nothing matched
        self.app_done = False  # nothing more to decode or scan (an encrypted session)
        self.probes = 0  # data chunks seen while no decoder recognized the flow
        self.streams: Any = None  # [Stream, Stream] when reassembling, else None
        self.isn: tuple[int, int] | None = None  # SYN sequence numbers seen before any data
        self.end_reason = ""
        self.fired: set[str] | None = None  # rules that fire once per flow and did
        self.tails: list[bytes] | None = None  # last stream bytes per direction (matching)
        # --jobs N (netsentry.flowsplit): the process that analyzes this flow's content
        # (-1: not decided yet), and the app_proto last reported to the merger.
        self.owner = -1
        self.shipped = ""

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
        return self.state in ("established", "closed") and bool(self.flags1 & TCP_SYN)

    @property
    def pkts(self) -> tuple[int, int]:
        """Packets (toserver, toclient)."""
        return self.pkts0, self.pkts1

    @property
    def bytes(self) -> tuple[int, int]:
        """Bytes on the wire (toserver, toclient)."""
        return self.bytes0, self.bytes1

    @property
    def flags(self) -> tuple[int, int]:
        """Union of the TCP flags seen (toserver, toclient)."""
        return self.flags0, self.flags1


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
        self._flows: dict[FlowKey, Flow] = {}
        c = self.config
        self._timeouts = {
            "tcp": int(c.tcp_timeout * SEC),
            "new": int(c.tcp_new_timeout * SEC),
            "closed": int(c.tcp_closed_timeout * SEC),
            "udp": int(c.udp_timeout * SEC),
            "other": int(c.other_timeout * SEC),
        }
        self._next_sweep = 0
        self._since_sweep = 0  # packets since the last sweep

    def __len__(self) -> int:
        return len(self._flows)

    def lookup(self, pkt: Packet) -> tuple[Flow, int]:
        """The flow of ``pkt`` (created if new) and the packet's direction (0 or 1)."""
        ts = pkt.ts
        self._since_sweep += 1
        flows = self._flows
        if ts >= self._next_sweep and self._since_sweep * 4 >= len(flows):
            self.expire(ts)
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
        flow = flows.get(key)
        if flow is not None:
            if (
                proto == 6
                and flow.state == "closed"
                and pkt.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN
            ):
                self._end(key, "closed")  # a new connection reusing a finished one's ports
            else:
                direction = 0 if (src == flow.cli and sport == flow.cport) else 1
                if proto in (1, 58) and src == dst:
                    direction = 0
                # _account inlined for the packets of known flows (nearly all of them);
                # only a packet that can change the TCP state calls _tcp_state.
                if ts > flow.last_ts:
                    flow.last_ts = ts
                flags = pkt.tcp_flags
                if direction == 0:
                    flow.pkts0 += 1
                    flow.bytes0 += pkt.wirelen
                    flow.flags0 |= flags
                else:
                    flow.pkts1 += 1
                    flow.bytes1 += pkt.wirelen
                    flow.flags1 |= flags
                if proto == 6:
                    state = flow.state
                    if state == "new" or (
                        state != "closed"
                        and (flags & TCP_RST or flow.flags0 & flow.flags1 & TCP_FIN)
                    ):
                        self._tcp_state(flow, flags, direction)
                return flow, direction
        if len(flows) >= self.config.max_flows:
            self.expire(ts, full=True)
        flow = Flow(key, pkt, _client_is_src(pkt), self.config.community_id_seed)
        flow.state = "new" if proto == 6 else ""
        flows[key] = flow
        self.counters["flows"] += 1
        direction = 0 if (src == flow.cli and sport == flow.cport) else 1
        self._account(flow, pkt, direction)
        return flow, direction

    def _account(self, flow: Flow, pkt: Packet, direction: int) -> None:
        if pkt.ts > flow.last_ts:
            flow.last_ts = pkt.ts
        flags = pkt.tcp_flags
        if direction == 0:
            flow.pkts0 += 1
            flow.bytes0 += pkt.wirelen
            flow.flags0 |= flags
        else:
            flow.pkts1 += 1
            flow.bytes1 += pkt.wirelen
            flow.flags1 |= flags
        if flow.proto == 6:
            self._tcp_state(flow, flags, direction)

    def _tcp_state(self, flow: Flow, flags: int, direction: int) -> None:
        """Advance a TCP flow's state after a packet with ``flags`` was counted."""
        state = flow.state
        if (
            state == "new"
            and direction == 0
            and flags & (TCP_ACK | TCP_RST | TCP_SYN) == TCP_ACK  # a RST|ACK aborts instead
            and flow.flags1 & TCP_SYN
        ):
            flow.state = state = "established"
        if state != "closed" and (flags & TCP_RST or (flow.flags0 & flow.flags1 & TCP_FIN)):
            flow.state = "closed"

    def _timeout(self, flow: Flow) -> int:
        if flow.proto == 6:
            state = flow.state
            return self._timeouts[
                "closed" if state == "closed" else "new" if state == "new" else "tcp"
            ]
        return self._timeouts["udp" if flow.proto == 17 else "other"]

    def expire(self, now: int, full: bool = False) -> None:
        """End every flow idle for longer than its timeout; make room when the table is full."""
        self._next_sweep = now + SEC
        self._since_sweep = 0
        flows = self._flows
        limit = self.config.max_flows
        factor = self.config.emergency_factor if full or len(flows) >= limit * 0.9 else 1.0
        timeout = self._timeout
        stale = [key for key, flow in flows.items() if now - flow.last_ts > timeout(flow) * factor]
        for key in stale:
            self._end(key, "timeout")
        if full and len(flows) >= limit:
            # Still full: evict the least recently active flows, unestablished ones first,
            # down to 90% so that evictions come in batches, not one sort per new flow.
            target = min(limit - 1, int(limit * 0.9))
            ranked = sorted(
                flows.items(), key=lambda kv: (kv[1].state == "established", kv[1].last_ts)
            )
            for key, _flow in ranked[: len(flows) - target]:
                self.counters["evicted"] += 1
                self._end(key, "evicted")

    def _end(self, key: FlowKey, reason: str) -> None:
        flow = self._flows.pop(key)
        flow.end_reason = reason
        self.counters[f"ended: {reason}"] += 1
        if self.on_end is not None:
            self.on_end(flow)

    def flush(self) -> None:
        """End every remaining flow (end of input)."""
        for key in list(self._flows):
            self._end(key, "end of input")

    def flows(self) -> list[Flow]:
        """The flows currently in the table (for tests and reports)."""
        return list(self._flows.values())
