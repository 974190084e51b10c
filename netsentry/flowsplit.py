"""``--jobs N`` on one stream: who owns a flow, order keys, and what crosses between processes.

Every process decodes every packet and runs the whole flow table, so flows, their
ids, timeouts and ends are identical everywhere. Each flow's content (application
decoding, stream rules, event and flow-record rules) is analyzed by ONE process, its
*owner*, chosen by a stable hash of the flow's identity (:class:`Ownership`).

Each process writes what it produced to a spool (:class:`Spool`), one JSON line per
record, each starting with an *order key* ``(packet, phase, index, seq)`` that every
process computes the same way (see :mod:`netsentry.streamjobs` for the phases). A
k-way merge of the spools on that key gives the order ``--jobs 1`` works in, and
:class:`Replay` feeds the records to the same hooks, in that order.

Nothing is pickled: values cross as JSON, with bytes, tuples and non-text dict keys
tagged (:func:`pack` / :func:`unpack_hook`) so that they come back as exactly the
objects they were (evidence, threshold keys and distinct values compare and print
the same). A finding refers to its flow by a reference (:func:`flow_ref`); the
merger keeps one :class:`~netsentry.flows.Flow` view per live flow, updated as
records arrive (its ``app_proto``) and completed at the flow's end.
"""

from __future__ import annotations

import dataclasses
import json
import json.scanner
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from netsentry.findings import Deferred, Finding
from netsentry.flows import Flow
from netsentry.model import Packet
from netsentry.protocols.base import AppEvent
from netsentry.rules import Rule

FLUSH = 1 << 62
"""The packet number of the final flush (after every real packet)."""

BUCKETS = 240  # hash buckets flows fall into; divides evenly among 2, 3, 4, 5, 6 processes

_TAG_BYTES = "\x00b"
_TAG_TUPLE = "\x00t"
_TAG_DICT = "\x00d"


# -- values -------------------------------------------------------------------------------


def pack(value: Any) -> Any:
    """A JSON-able form of ``value`` that :func:`unpack_hook` turns back into an equal object.

    bytes, tuples and dicts with keys other than plain text are tagged as one-key dicts
    whose key starts with NUL (a plain dict with such a key is tagged too, so no
    captured text can pass for a tag). Anything else unexpected raises TypeError: the
    run then falls back to one process rather than write something different.
    """
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        if all(type(k) is str and not k.startswith("\x00") for k in value):
            return {k: pack(v) for k, v in value.items()}
        return {_TAG_DICT: [[pack(k), pack(v)] for k, v in value.items()]}
    if kind is list:
        return [pack(v) for v in value]
    if kind is tuple:
        return {_TAG_TUPLE: [pack(v) for v in value]}
    if kind is bytes:
        return {_TAG_BYTES: value.hex()}
    raise TypeError(f"cannot pass a {kind.__name__} between processes")


def unpack_hook(obj: dict[str, Any]) -> Any:
    """``json.loads`` object hook undoing :func:`pack`."""
    if len(obj) == 1:
        key = next(iter(obj))
        if key == _TAG_BYTES:
            return bytes.fromhex(obj[key])
        if key == _TAG_TUPLE:
            return tuple(obj[key])
        if key == _TAG_DICT:
            return {k: v for k, v in obj[key]}
    return obj


# typeshed types make_scanner's argument as the scanner class; it is the decoder (context)
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder(object_hook=unpack_hook)  # type: ignore[arg-type]
)


def loads(line: str) -> Any:
    """One spool line back as Python objects (the decoder's C scanner: a line is one value)."""
    return _scan(line, 0)[0]


# -- ownership ------------------------------------------------------------------------------


class Ownership:
    """Which process analyzes a flow's content: a stable hash of its identity into buckets.

    ``parent_share`` is process 0's share relative to another process (it also does
    the per-packet work: summary and packet rules, so it takes fewer flows).
    """

    def __init__(self, processes: int, parent_share: float = 1.0) -> None:
        weights = [max(0.0, parent_share)] + [1.0] * (processes - 1)
        total = sum(weights) or 1.0
        table: list[int] = []
        for index, weight in enumerate(weights):
            table += [index] * round(BUCKETS * weight / total)
        while len(table) < BUCKETS:
            table.append(processes - 1)
        self.table = table[:BUCKETS]
        self.processes = processes

    def owner(self, flow: Flow) -> int:
        """The owner of ``flow`` (zlib.crc32: the same in every process and every run)."""
        proto, low, lport, high, hport = flow.key
        digest = zlib.crc32(low + high + struct.pack("!BHHq", proto, lport, hport, flow.first_ts))
        return self.table[digest % BUCKETS]


# -- flows ------------------------------------------------------------------------------------


def flow_ref(flow: Flow) -> list[Any]:
    """What the merger needs to recreate a flow's fixed part (identity first)."""
    proto, low, lport, high, hport = flow.key
    return [
        proto,
        low.hex(),
        lport,
        high.hex(),
        hport,
        flow.first_ts,
        flow.cli.hex(),
        flow.cport,
        flow.srv.hex(),
        flow.spt,
        flow.icmp_type,
        flow.icmp_code,
        flow.family,
        flow.first_num,
    ]


def flow_end_state(flow: Flow) -> list[Any]:
    """A flow's counters and state at its end (all an ended flow's EVE line and stats read)."""
    return [
        flow.app_proto,
        flow.last_ts,
        flow.pkts0,
        flow.pkts1,
        flow.bytes0,
        flow.bytes1,
        flow.flags0,
        flow.flags1,
        flow.state,
        flow.end_reason,
    ]


def _new_view(ref: list[Any], seed: int) -> Flow:
    """A Flow object built from a reference (no packet): what the sinks and EVE read.

    Built through ``Flow.__init__`` from a stand-in first packet rather than
    ``Flow.__new__`` plus attributes: the native build's Flow is a compiled class,
    which cannot be made without its constructor.
    """
    first = Packet(ref[13], ref[5], 0, 0)
    first.proto, first.family = ref[0], ref[12]
    first.src, first.sport = bytes.fromhex(ref[6]), ref[7]
    first.dst, first.dport = bytes.fromhex(ref[8]), ref[9]
    first.icmp_type, first.icmp_code = ref[10], ref[11]
    key = (ref[0], bytes.fromhex(ref[1]), ref[2], bytes.fromhex(ref[3]), ref[4])
    view = Flow(key, first, True, seed)
    view.app_done = True
    return view


# -- the spool ----------------------------------------------------------------------------------


class Spool:
    """One process's records, in its own order-key order, as JSON lines.

    ``slot(packet, phase, index)`` sets where the following records happen; every
    record gets the next sequence number, so keys are unique and increasing.
    """

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.packet = 0
        self.phase = 0
        self.index = 0
        self.seq = 0
        self.lines = 0
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def slot(self, packet: int, phase: int, index: int = 0) -> None:
        self.packet = packet
        self.phase = phase
        self.index = index

    def _write(self, kind: str, *payload: Any) -> None:
        self.seq += 1
        self.handle.write(
            self._dumps([self.packet, self.phase, self.index, self.seq, kind, *payload])
        )
        self.handle.write("\n")
        self.lines += 1

    def sync(self, flow: Flow) -> None:
        """Report a change of the flow's app_proto before anything the flow emits next."""
        if flow.app_proto != flow.shipped:
            flow.shipped = flow.app_proto
            self._write("A", flow_ref(flow), flow.app_proto)

    def finding(self, finding: Finding) -> None:
        """A finding (a Deferred one carries the cross-flow step that decides it)."""
        if type(finding) is Deferred:
            self._write("S", pack(finding.step), finding_snapshot(finding))
        else:
            self._write("F", finding_snapshot(finding))

    def event(self, event: AppEvent, full: bool) -> None:
        """An application event: whole when a hook needs it, else what AppSummary reads."""
        if not full:  # the summary's fields only, and no flow
            self._write("E", event.proto, summary_fields(event), event.direction)
            return
        tx_id = event.extra.get("tx_id") if event.extra else None
        self._write(
            "E",
            event.proto,
            pack(event.record),
            event.direction,
            tx_id if isinstance(tx_id, int) else None,
            event.ts,
            event.pkt_num,
            flow_ref(event.flow) if event.flow is not None else None,
        )

    def flow_end(self, flow: Flow, full: bool) -> None:
        """The owner's flow ended (its last record): its final state when a hook reads it."""
        self._write("X", flow_ref(flow), flow_end_state(flow) if full else None)


def deferred(finding: Finding, step: list[Any]) -> Deferred:
    """``finding`` held back until the cross-flow ``step`` decides it (run by the merger)."""
    return Deferred(
        finding.rule,
        finding.ts,
        finding.pkt_num,
        finding.src,
        finding.dst,
        finding.sport,
        finding.dport,
        finding.proto,
        finding.direction,
        finding.flow,
        finding.event,
        finding.evidence,
        finding.icmp_type,
        finding.icmp_code,
        step,
    )


def summary_fields(event: AppEvent) -> dict[str, Any]:
    """The part of an event's record :meth:`AppSummary.add` reads."""
    record = event.record
    out: dict[str, Any] = {}
    for key in ("hostname", "url", "type", "rcode", "sni", "ja4"):
        if key in record:
            out[key] = pack(record[key])
    queries = record.get("queries")
    if queries:
        out["queries"] = [{"rrname": pack(q.get("rrname", ""))} for q in queries]
    return out


def finding_snapshot(finding: Finding) -> list[Any]:
    """A finding as JSON-able values, taken when it was made (its flow by reference)."""
    rule = finding.rule
    event = finding.event
    return [
        rule.id,
        rule.category,
        rule.severity,
        finding.ts,
        finding.pkt_num,
        finding.src.hex(),
        finding.dst.hex(),
        finding.sport,
        finding.dport,
        finding.proto,
        finding.direction,
        flow_ref(finding.flow) if finding.flow is not None else None,
        None
        if event is None
        else [event.proto, pack(event.record), event.direction, event.ts, event.pkt_num],
        pack(finding.evidence),
        finding.icmp_type,
        finding.icmp_code,
    ]


# -- counters whose key order shows in reports ------------------------------------------------


class FirstSeen:
    """When (order key) each key of some Counters first appeared in this process.

    Merged counters must list keys in the order one process would have created them
    (``most_common`` keeps that order among equal counts): the earliest first-seen key
    over all processes.
    """

    def __init__(self, counters: list[Counter[str]]) -> None:
        self.counters = counters
        self.known = [len(c) for c in counters]
        self.total = sum(self.known)  # keys are never removed: a new key changes the sum
        self.first: list[dict[str, list[int]]] = [{} for _ in counters]

    def check(self, spool: Spool) -> None:
        """Note the keys that appeared since the last call (called after every slot)."""
        if sum(map(len, self.counters)) == self.total:
            return  # nearly always: one cheap test per packet
        self.total = sum(map(len, self.counters))
        for i, counter in enumerate(self.counters):
            if len(counter) != self.known[i]:
                first = self.first[i]
                for pos, key in enumerate(list(counter)[self.known[i] :]):
                    first[key] = [spool.packet, spool.phase, spool.index, spool.seq, pos]
                self.known[i] = len(counter)

    def to_json(self) -> list[list[list[Any]]]:
        return [
            [[key, counter[key], self.first[i].get(key, [0, 0, 0, 0, 0])] for key in counter]
            for i, counter in enumerate(self.counters)
        ]


def merge_counters(parts: Iterable[list[list[Any]]]) -> Counter[str]:
    """Counters of all processes summed, keys in first-seen order."""
    total: Counter[str] = Counter()
    first: dict[str, list[int]] = {}
    for part in parts:
        for key, count, seen in part:
            total[key] += count
            if key not in first or seen < first[key]:
                first[key] = seen
    ordered: Counter[str] = Counter()
    for key in sorted(total, key=lambda k: first[k]):
        ordered[key] = total[key]
    return ordered


# -- the merger -----------------------------------------------------------------------------------


class Replay:
    """Turns merged records back into findings, events and ended flows, in order.

    ``steps`` runs a Deferred finding's cross-flow step (True: it fires), ``emit``
    receives the findings, ``on_event`` the events, ``on_flow_end`` the ended flows.
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        seed: int,
        steps: Callable[[Any, Finding], bool],
        emit: Callable[[Finding], None],
        on_event: Callable[[AppEvent], None],
        on_flow_end: Callable[[Flow], None] | None,
    ) -> None:
        self.rules: dict[str, Rule] = {r.id: r for r in rules}
        self._derived: dict[tuple[str, str, str], Rule] = {}
        self.seed = seed
        self.steps = steps
        self.emit = emit
        self.on_event = on_event
        self.on_flow_end = on_flow_end
        self.views: dict[tuple[Any, ...], Flow] = {}

    def view(self, ref: list[Any]) -> Flow:
        """The one live view of the flow ``ref`` names (created on first mention)."""
        ident = (ref[0], ref[1], ref[2], ref[3], ref[4], ref[5])
        view = self.views.get(ident)
        if view is None:
            view = self.views[ident] = _new_view(ref, self.seed)
        return view

    def rule(self, rule_id: str, category: str, severity: str) -> Rule:
        rule = self.rules[rule_id]
        if (rule.category, rule.severity) == (category, severity):
            return rule
        key = (rule_id, category, severity)  # an intel hit rated by its feed
        derived = self._derived.get(key)
        if derived is None:
            derived = self._derived[key] = dataclasses.replace(
                rule,
                category=category,
                severity=severity,
            )
        return derived

    def finding(self, snap: list[Any]) -> Finding:
        flow = self.view(snap[11]) if snap[11] is not None else None
        event = None
        if snap[12] is not None:
            proto, record, direction, ts, pkt_num = snap[12]
            event = AppEvent(proto, record, direction, {}, ts, pkt_num, flow)
        return Finding(
            rule=self.rule(snap[0], snap[1], snap[2]),
            ts=snap[3],
            pkt_num=snap[4],
            src=bytes.fromhex(snap[5]),
            dst=bytes.fromhex(snap[6]),
            sport=snap[7],
            dport=snap[8],
            proto=snap[9],
            direction=snap[10],
            flow=flow,
            event=event,
            evidence=snap[13],
            icmp_type=snap[14],
            icmp_code=snap[15],
        )

    def record(self, rec: list[Any]) -> None:
        """Replay one merged record."""
        kind = rec[4]
        if kind == "F":
            self.emit(self.finding(rec[5]))
        elif kind == "S":
            finding = self.finding(rec[6])
            if self.steps(rec[5], finding):
                self.emit(finding)
        elif kind == "E":
            if len(rec) == 8:  # summary fields only
                self.on_event(AppEvent(rec[5], rec[6], rec[7]))
                return
            _, _, _, _, _, proto, record, direction, tx_id, ts, pkt_num, ref = rec
            extra = {"tx_id": tx_id} if tx_id is not None else {}
            flow = self.view(ref) if ref is not None else None
            self.on_event(AppEvent(proto, record, direction, extra, ts, pkt_num, flow))
        elif kind == "A":
            self.view(rec[5]).app_proto = rec[6]
        elif kind == "X":
            ref, state = rec[5], rec[6]
            view = self.views.pop((ref[0], ref[1], ref[2], ref[3], ref[4], ref[5]), None)
            if self.on_flow_end is None:
                return
            if view is None:
                view = _new_view(ref, self.seed)
            (
                view.app_proto,
                view.last_ts,
                view.pkts0,
                view.pkts1,
                view.bytes0,
                view.bytes1,
                view.flags0,
                view.flags1,
                view.state,
                view.end_reason,
            ) = state
            self.on_flow_end(view)
        else:
            raise ValueError(f"unknown spool record {kind!r}")
