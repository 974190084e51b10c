"""Suricata-compatible EVE JSON for findings (``event_type: alert``).

Field names, value formats and key order follow Suricata 8.0 (see
``../shared/conformance/README.md`` §4): timestamps with microseconds and a
colon-less offset, IPv6 fully expanded, ``proto`` as a name, ports only for
TCP/UDP/SCTP and ``icmp_type``/``icmp_code`` for ICMP, ``alert.severity`` 1 as
the highest. Everything netsentry knows beyond Suricata's schema lives under one
``netsentry`` key, so SIEM pipelines that read Suricata read this unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from netsentry.findings import Finding
from netsentry.model import PROTO_NAMES, ip_text
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
    if app is not None and app.proto not in event:
        ours[app.proto] = _clean(app.record)
    event["netsentry"] = ours
    return event


def alert_line(finding: Finding) -> str:
    """One EVE line (compact JSON, no trailing newline)."""
    return json.dumps(alert_event(finding), separators=(",", ":"), ensure_ascii=False)
