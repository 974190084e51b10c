"""Sinks: where findings, application events and ended flows go while a run streams.

The engine calls three hooks as it goes (``on_finding``, ``on_event``,
``on_flow_end``); a :class:`Sink` turns them into an output. Writers that can
stream do (EVE lines, CSV rows): nothing waits for the end of the capture and
nothing is kept per finding. Views that need the whole picture (the terminal
and HTML reports) read a bounded :class:`~netsentry.aggregate.FindingAggregate`.

Registry (plain dict, DESIGN §1.4): ``EVE_TYPES`` names the EVE event types
``--eve-types`` accepts.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from typing import Any, Protocol, TextIO

from netsentry.aggregate import Deduper, FindingAggregate
from netsentry.eve import alert_event, app_event, dumps, flow_event, stats_event
from netsentry.findings import Finding
from netsentry.flows import Flow, FlowKey
from netsentry.protocols.base import AppEvent

EVE_TYPES: dict[str, str] = {
    "alert": "one line per finding (always on unless left out of the list)",
    "flow": "one line per ended flow: packets, bytes, start/end, state, TCP flags",
    "dns": "one line per DNS message (v3 shape)",
    "http": "one line per HTTP transaction (requests without a response at flow end)",
    "tls": "one line per TLS session: client and server hello and certificate merged",
    "stats": "one final line of decoder, flow, detection and app-layer counters",
}


class Sink(Protocol):
    """What the engine's hooks feed (every method is optional work for a sink)."""

    def finding(self, finding: Finding) -> None: ...

    def event(self, event: AppEvent) -> None: ...

    def flow_end(self, flow: Flow) -> None: ...


class Fanout:
    """Calls every sink in order (the order matters: see :class:`AlertedFlows`)."""

    def __init__(self, sinks: list[Any]) -> None:
        self._finding = [s.finding for s in sinks if hasattr(s, "finding")]
        self._event = [s.event for s in sinks if hasattr(s, "event")]
        self._flow = [s.flow_end for s in sinks if hasattr(s, "flow_end")]

    def finding(self, finding: Finding) -> None:
        for call in self._finding:
            call(finding)

    def event(self, event: AppEvent) -> None:
        for call in self._event:
            call(event)

    def flow_end(self, flow: Flow) -> None:
        for call in self._flow:
            call(flow)


def flow_identity(flow: Flow) -> tuple[FlowKey, int]:
    """What tells flows apart across two passes over the same input (key and start)."""
    return flow.key, flow.first_ts


class AlertedFlows:
    """The flows that raised at least one finding (for ``--pcap-out`` and ``flow.alerted``).

    One small tuple per alerted flow, not per finding. With ``keep=False`` a flow is
    forgotten once it ended (all ``flow.alerted`` needs), so memory follows the live
    flows; ``--pcap-out`` keeps them for its second pass. Put it before the sinks
    that ask, so a finding is recorded before its flow's end is written.
    """

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.ids: set[tuple[FlowKey, int]] = set()
        self.flows = 0  # alerted flows that have ended
        self.packets = 0  # and their packets

    def finding(self, finding: Finding) -> None:
        if finding.flow is not None:
            self.ids.add(flow_identity(finding.flow))

    def flow_end(self, flow: Flow) -> None:
        identity = flow_identity(flow)
        if identity in self.ids:
            self.flows += 1
            self.packets += flow.pkts0 + flow.pkts1

    def forget(self, flow: Flow) -> None:
        """Drop an ended flow unless kept (call after every sink saw its end)."""
        if not self.keep:
            self.ids.discard(flow_identity(flow))

    def __contains__(self, flow: Flow) -> bool:
        return flow_identity(flow) in self.ids


class AggregateSink:
    """Feeds a :class:`FindingAggregate` (terminal and HTML views)."""

    def __init__(self, aggregate: FindingAggregate) -> None:
        self.aggregate = aggregate

    def finding(self, finding: Finding) -> None:
        self.aggregate.add(finding)


class FlowStats:
    """Flow counters by transport and application protocol, in Suricata's stats names."""

    def __init__(self) -> None:
        self.flows: Counter[str] = Counter(total=0)
        self.app: Counter[str] = Counter()

    def flow_end(self, flow: Flow) -> None:
        self.flows["total"] += 1
        proto = flow.proto
        l4 = {6: "tcp", 17: "udp", 1: "icmpv4", 58: "icmpv6"}.get(proto)
        if l4:
            self.flows[l4] += 1
        app = flow.app_proto
        if app == "dns":
            app = "dns_udp" if proto == 17 else "dns_tcp"
        elif app == "failed" and l4 in ("tcp", "udp"):
            app = f"failed_{l4}"
        if app:
            self.app[app] += 1


_HTTP_PENDING_MAX = 64  # unanswered requests held per flow before they are written anyway


class EveSink:
    """Writes EVE lines as things happen: alerts, and the ``--eve-types`` asked for."""

    def __init__(
        self,
        handle: TextIO,
        types: set[str],
        *,
        dedup: Deduper | None = None,
        alerted: AlertedFlows | None = None,
        community_id: bool = True,
        capture: str | None = None,
    ) -> None:
        self.handle = handle
        self.types = types
        self.capture = capture  # --per-file: the capture's name, in each alert's netsentry key
        self.dedup = dedup
        self.alerted = alerted
        self.community_id = community_id
        self.lines = 0
        self.alerts = 0
        self.flow_stats = FlowStats() if "stats" in types else None
        self._pending: dict[int, dict[int, AppEvent]] = {}  # id(flow) -> tx_id -> request
        self._tls: dict[int, AppEvent] = {}  # id(flow) -> the session's merged record
        self._started = time.monotonic()

    def _write(self, event: dict[str, Any] | None) -> None:
        if event is None:
            return
        self.handle.write(dumps(event))
        self.handle.write("\n")
        self.lines += 1

    def finding(self, finding: Finding) -> None:
        if "alert" not in self.types:
            return
        if self.dedup is not None and not self.dedup.admit(finding):
            return
        self.alerts += 1
        event = alert_event(finding, self.community_id)
        if self.capture is not None:
            event["netsentry"]["capture"] = self.capture
        self._write(event)

    def event(self, event: AppEvent) -> None:
        proto = event.proto
        if proto not in self.types:
            return
        if proto == "http":
            self._http(event)
            return
        if proto == "tls" and event.flow is not None:
            self._tls_merge(event)
            return
        self._write(app_event(event, self.community_id))

    def _tls_merge(self, event: AppEvent) -> None:
        """One line per session, like Suricata: the hellos and certificate in one record.

        Later records win where both have a key (``version``: the server's choice);
        the line carries the first record's time and packet and is written at flow end.
        """
        key = id(event.flow)
        merged = self._tls.get(key)
        if merged is None:
            self._tls[key] = AppEvent(
                "tls", dict(event.record), 0, {}, event.ts, event.pkt_num, event.flow
            )
        else:
            merged.record.update(event.record)

    def _http(self, event: AppEvent) -> None:
        """One line per transaction, like Suricata: written when its response completes it."""
        flow = event.flow
        tx_id = event.extra.get("tx_id") if event.extra else None
        if flow is None or not isinstance(tx_id, int):
            self._write(app_event(event, self.community_id))
            return
        pending = self._pending.setdefault(id(flow), {})
        if event.direction == 0:
            if len(pending) >= _HTTP_PENDING_MAX:
                oldest = min(pending)
                self._write(app_event(pending.pop(oldest), self.community_id))
            # keep only what the line needs (no bodies)
            pending[tx_id] = AppEvent(
                "http", event.record, 0, {"tx_id": tx_id}, event.ts, event.pkt_num, flow
            )
            return
        pending.pop(tx_id, None)
        self._write(app_event(event, self.community_id))

    def flow_end(self, flow: Flow) -> None:
        tls = self._tls.pop(id(flow), None)
        if tls is not None:
            self._write(app_event(tls, self.community_id))
        pending = self._pending.pop(id(flow), None)
        if pending:
            for tx_id in sorted(pending):
                self._write(app_event(pending[tx_id], self.community_id))
        if self.flow_stats is not None:
            self.flow_stats.flow_end(flow)
        if "flow" in self.types:
            alerted = self.alerted is not None and flow in self.alerted
            self._write(flow_event(flow, alerted, self.community_id))

    def close(self, result: Any) -> None:
        """Write the final ``stats`` event when asked for (``result``: the AnalysisResult)."""
        if self.flow_stats is None:
            return
        summary = result.summary
        names = {
            "TCP": "tcp", "UDP": "udp", "ICMP": "icmpv4", "IPv6-ICMP": "icmpv6", "SCTP": "sctp"
        }
        decoder = {"pkts": summary.packets, "bytes": summary.bytes}
        for name, (packets, _bytes) in summary.protocols.items():
            if name in names:
                decoder[names[name]] = packets
        decoder["invalid"] = sum(summary.skipped.values())
        suppressed = (self.dedup.suppressed if self.dedup is not None else 0) + result.suppressed
        self._write(
            stats_event(
                summary.last_ts,
                time.monotonic() - self._started,
                decoder,
                dict(self.flow_stats.flows),
                self.alerts,
                suppressed,
                dict(self.flow_stats.app),
                {
                    "findings": result.finding_count,
                    "deduplicated": self.dedup.suppressed if self.dedup is not None else 0,
                    "allowlisted": result.suppressed,
                    "detector_errors": dict(result.detector_errors),
                },
            )
        )


# Cells a spreadsheet would run as a formula (CSV injection); captured text can start so.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = (
    "timestamp",
    "severity",
    "rule_id",
    "signature_id",
    "signature",
    "category",
    "proto",
    "src_ip",
    "src_port",
    "dest_ip",
    "dest_port",
    "app_proto",
    "flow_id",
    "pcap_cnt",
    "community_id",
    "evidence",
)


def csv_header(per_file: bool = False) -> list[str]:
    """The CSV header row; ``--per-file`` adds a last ``capture`` column."""
    return [*CSV_COLUMNS, "capture"] if per_file else list(CSV_COLUMNS)


def csv_cell(value: Any) -> str:
    """Text for one CSV cell, with a leading quote when a spreadsheet would see a formula."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


class CsvSink:
    """Findings as CSV rows (one per finding, or per admitted one with ``--dedup``)."""

    def __init__(
        self,
        handle: TextIO,
        *,
        dedup: Deduper | None = None,
        capture: str | None = None,
        header: bool = True,
    ) -> None:
        self.writer = csv.writer(handle, lineterminator="\n")
        self.capture = capture  # --per-file: a last "capture" column names the file
        if header:
            self.writer.writerow(csv_header(capture is not None))
        self.dedup = dedup
        self.rows = 0

    def finding(self, finding: Finding) -> None:
        if self.dedup is not None and not self.dedup.admit(finding):
            return
        event = alert_event(finding)
        ours = event["netsentry"]
        row = {
            "timestamp": event["timestamp"],
            "severity": ours["severity"],
            "rule_id": ours["rule_id"],
            "signature_id": event["alert"]["signature_id"],
            "signature": event["alert"]["signature"],
            "category": ours["category"],
            "proto": event.get("proto", ""),
            "src_ip": event.get("src_ip", ""),
            "src_port": event.get("src_port", ""),
            "dest_ip": event.get("dest_ip", ""),
            "dest_port": event.get("dest_port", ""),
            "app_proto": event.get("app_proto", ""),
            "flow_id": event.get("flow_id", ""),
            "pcap_cnt": event.get("pcap_cnt", ""),
            "community_id": event.get("community_id", ""),
            "evidence": json.dumps(ours["evidence"], ensure_ascii=False, sort_keys=True),
        }
        cells = [csv_cell(row[c]) for c in CSV_COLUMNS]
        if self.capture is not None:
            cells.append(csv_cell(self.capture))
        self.writer.writerow(cells)
        self.rows += 1
