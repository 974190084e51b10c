"""Suricata-compatible EVE JSON for findings (``event_type: alert``).

Field names, value formats and key order follow Suricata 8.0 (see
``../shared/conformance/README.md`` §4): timestamps with microseconds and a
colon-less offset, IPv6 fully expanded, ``proto`` as a name, ports only for
TCP/UDP/SCTP and ``icmp_type``/``icmp_code`` for ICMP, ``alert.severity`` 1 as
the highest. Everything netsentry knows beyond Suricata's schema lives under one
``netsentry`` key, so SIEM pipelines that read Suricata read this unchanged.

Besides alerts, the other event types ``--eve-types`` can ask for are built here
too: ``flow`` (one per ended flow), ``dns``/``http``/``tls`` (one per application
record, in the same v3/Suricata 8 shape the alerts embed) and a final ``stats``.
"""

from __future__ import annotations

import json
from typing import Any

from netsentry.findings import Finding
from netsentry.model import PROTO_NAMES, ip_text
from netsentry.protocols.base import AppEvent
from netsentry.summary import format_ts

_PORTED = frozenset((6, 17, 132))


def _clean(value: Any) -> Any:
    """JSON-safe copy: bytes become text with non-printables escaped."""
    if isinstance(value, bytes):
        return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in value[:512])
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def alert_event(finding: Finding, community_id: bool = True) -> dict[str, Any]:
    """One finding as an EVE ``alert`` record (a dict in Suricata's key order)."""
    rule = finding.rule
    flow = finding.flow
    event: dict[str, Any] = {"timestamp": format_ts(finding.ts)}
    if flow is not None:
        event["flow_id"] = flow.flow_id
    if finding.pkt_num:
        event["pcap_cnt"] = finding.pkt_num
    event["event_type"] = "alert"
    src, dst = ip_text(finding.src), ip_text(finding.dst)
    if src:
        event["src_ip"] = src
    if finding.proto in _PORTED:
        event["src_port"] = finding.sport
    if dst:
        event["dest_ip"] = dst
    if finding.proto in _PORTED:
        event["dest_port"] = finding.dport
    if finding.proto >= 0:
        event["proto"] = PROTO_NAMES.get(finding.proto, str(finding.proto))
        if len(finding.src) in (4, 16):
            event["ip_v"] = 4 if len(finding.src) == 4 else 6
    if finding.proto in (1, 58):
        # The packet's type and code, as Suricata writes them; the flow's (its first
        # packet's) only when the finding has no packet (a flow that ended).
        if finding.icmp_type >= 0:
            event["icmp_type"] = finding.icmp_type
            event["icmp_code"] = finding.icmp_code
        elif flow is not None and flow.icmp_type >= 0:
            event["icmp_type"] = flow.icmp_type
            event["icmp_code"] = flow.icmp_code
    if community_id and flow is not None:
        event["community_id"] = flow.community_id
    # Imported Suricata signatures carry their gid and classtype description, as Suricata
    # writes them; netsentry's own rules use gid 1 and the category label.
    category = getattr(rule, "eve_category", None)
    event["alert"] = {
        "action": "allowed",
        "gid": getattr(rule, "gid", 1),
        "signature_id": rule.sid,
        "rev": rule.rev,
        "signature": rule.title,
        "category": finding.category_label if category is None else category,
        "severity": finding.eve_severity,
    }
    app = finding.event
    if app is not None and app.proto in ("http", "dns", "tls", "smtp", "ftp", "ssh"):
        event[app.proto] = _clean(app.record)
    if flow is not None and flow.app_proto and flow.app_proto != "failed":
        event["app_proto"] = flow.app_proto
    event["direction"] = "to_server" if finding.direction == 0 else "to_client"
    ours: dict[str, Any] = {
        "rule_id": rule.id,
        "category": rule.category,
        "severity": rule.severity,
        "evidence": _clean(finding.evidence),
    }
    if rule.origin is not None:
        ours["rule_file"] = rule.origin.path
        ours["rule_line"] = rule.origin.line
    feeds = finding.evidence.get("feeds") if isinstance(finding.evidence, dict) else None
    if feeds:
        ours["feeds"] = _clean(feeds)
    if rule.mitre:
        ours["mitre"] = list(rule.mitre)
    if app is not None and app.proto not in event:
        ours[app.proto] = _clean(app.record)
    event["netsentry"] = ours
    return event


def alert_line(finding: Finding) -> str:
    """One EVE line (compact JSON, no trailing newline)."""
    return dumps(alert_event(finding))


def dumps(event: dict[str, Any]) -> str:
    """An EVE record as one compact JSON line (no trailing newline)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def _endpoints(event: dict[str, Any], flow: Any, direction: int) -> None:
    """The 5-tuple, protocol and ICMP fields of ``flow`` seen in ``direction`` (0: as opened)."""
    if direction == 0:
        src, sport, dst, dport = flow.cli, flow.cport, flow.srv, flow.spt
    else:
        src, sport, dst, dport = flow.srv, flow.spt, flow.cli, flow.cport
    event["src_ip"] = ip_text(src)
    if flow.proto in _PORTED:
        event["src_port"] = sport
    event["dest_ip"] = ip_text(dst)
    if flow.proto in _PORTED:
        event["dest_port"] = dport
    event["proto"] = PROTO_NAMES.get(flow.proto, str(flow.proto))
    event["ip_v"] = 4 if len(src) == 4 else 6
    if flow.proto in (1, 58) and flow.icmp_type >= 0:
        event["icmp_type"] = flow.icmp_type
        event["icmp_code"] = flow.icmp_code


# Keys Suricata leaves out of http events unless ``dump-all-headers`` is set: full header
# lists are large and attacker-sized.
_HTTP_HEAVY = ("request_headers", "response_headers")


def app_event(event: AppEvent, community_id: bool = True) -> dict[str, Any] | None:
    """An application record as its own EVE event (``dns``, ``http``, ``tls``, ...).

    The header is the flow's, seen in the record's direction: a DNS response has the
    responder as ``src_ip``, as Suricata 8 writes v3 DNS. None when the record has no flow.
    """
    flow = event.flow
    if flow is None:
        return None
    out: dict[str, Any] = {"timestamp": format_ts(event.ts or flow.last_ts)}
    out["flow_id"] = flow.flow_id
    if event.pkt_num:
        out["pcap_cnt"] = event.pkt_num
    out["event_type"] = event.proto
    # HTTP transactions and TLS sessions are logged from the client's side, whichever
    # half completed them.
    _endpoints(out, flow, 0 if event.proto in ("http", "tls") else event.direction)
    if community_id:
        out["community_id"] = flow.community_id
    tx_id = event.extra.get("tx_id") if event.extra else None
    if isinstance(tx_id, int):
        out["tx_id"] = tx_id
    record = event.record
    if event.proto == "http":
        record = {k: v for k, v in record.items() if k not in _HTTP_HEAVY}
    out[event.proto] = _clean(record)
    if flow.app_proto and flow.app_proto != "failed":
        out["app_proto"] = flow.app_proto
    if event.proto not in ("http", "tls"):  # transactions and sessions: no direction
        out["direction"] = "to_server" if event.direction == 0 else "to_client"
    return out


# Our reasons for ending a flow, in Suricata's vocabulary.
_END_REASONS = {
    "timeout": "timeout",
    "closed": "timeout",  # Suricata ends closed TCP flows by (a short) timeout too
    "evicted": "forced",
    "end of input": "shutdown",
}
_TCP_FLAG_NAMES = (
    (0x01, "fin"),
    (0x02, "syn"),
    (0x04, "rst"),
    (0x08, "psh"),
    (0x10, "ack"),
    (0x20, "urg"),
    (0x40, "ecn"),
    (0x80, "cwr"),
)


def flow_event(flow: Any, alerted: bool = False, community_id: bool = True) -> dict[str, Any]:
    """An ended flow as an EVE ``flow`` event (timestamp: the flow's start, as Suricata)."""
    out: dict[str, Any] = {"timestamp": format_ts(flow.first_ts), "flow_id": flow.flow_id}
    out["event_type"] = "flow"
    _endpoints(out, flow, 0)
    if community_id:
        out["community_id"] = flow.community_id
    if flow.app_proto and flow.app_proto != "failed":
        out["app_proto"] = flow.app_proto
    # TCP: our tracker's state; others: established once both sides spoke, as Suricata
    state = (flow.state or "new") if flow.proto == 6 else ("established" if flow.pkts1 else "new")
    out["flow"] = {
        "pkts_toserver": flow.pkts0,
        "pkts_toclient": flow.pkts1,
        "bytes_toserver": flow.bytes0,
        "bytes_toclient": flow.bytes1,
        "start": format_ts(flow.first_ts),
        "end": format_ts(flow.last_ts),
        "age": max(0, (flow.last_ts - flow.first_ts) // 1_000_000_000),
        "state": state,
        "reason": _END_REASONS.get(flow.end_reason, "shutdown"),
        "alerted": alerted,
    }
    if flow.proto == 6:
        both = flow.flags0 | flow.flags1
        tcp: dict[str, Any] = {
            "tcp_flags": f"{both:02x}",
            "tcp_flags_ts": f"{flow.flags0:02x}",
            "tcp_flags_tc": f"{flow.flags1:02x}",
        }
        for bit, name in _TCP_FLAG_NAMES:
            if both & bit:
                tcp[name] = True
        tcp["state"] = state
        out["tcp"] = tcp
    return out


def stats_event(
    ts: int | None,
    uptime: float,
    decoder: dict[str, int],
    flows: dict[str, int],
    alerts: int,
    suppressed: int,
    app_flows: dict[str, int],
    ours: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The final ``stats`` event: decoder, flow, detection and app-layer counters.

    Only counter names Suricata's schema knows are written under ``stats``; the rest
    (e.g. protocols Suricata names differently) goes under ``netsentry``.
    """
    out: dict[str, Any] = {"timestamp": format_ts(ts or 0), "event_type": "stats"}
    known_apps = {k: v for k, v in app_flows.items() if k in SURICATA_APP_FLOWS}
    out["stats"] = {
        "uptime": int(uptime),
        "decoder": dict(decoder),
        "flow": dict(flows),
        "detect": {"alert": alerts, "alerts_suppressed": suppressed},
        "app_layer": {"flow": known_apps},
    }
    extra = dict(ours or {})
    other = {k: v for k, v in app_flows.items() if k not in SURICATA_APP_FLOWS}
    if other:
        extra["app_layer_flow"] = other
    if extra:
        out["netsentry"] = _clean(extra)
    return out


# ``stats.app_layer.flow`` names in Suricata 8's schema that netsentry's decoders produce.
SURICATA_APP_FLOWS = frozenset(
    ("http", "tls", "ftp", "smtp", "ssh", "imap", "pop3", "telnet", "dns_udp", "dns_tcp")
)
