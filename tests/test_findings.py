"""Findings: where a rule fired, read from the record context, and their order."""

from __future__ import annotations

from netsentry.fields import Ctx
from netsentry.findings import Finding
from netsentry.model import Packet
from netsentry.protocols.base import AppEvent
from netsentry.rules import MatchRule, Rule
from tests.factories import ip4, ip6


def rule(sid: int = 7, severity: str = "high", category: str = "sql-injection") -> Rule:
    return MatchRule(
        id=f"r{sid}",
        sid=sid,
        title="t",
        category=category,
        severity=severity,
        field="http.uri",
        content="x",
    )


def packet(num: int, src: bytes, dst: bytes, proto: int = 6, ts: int = 5_000) -> Packet:
    pkt = Packet(num, ts, 60, 60)
    pkt.family = 4 if len(src) == 4 else 6
    pkt.src, pkt.dst, pkt.sport, pkt.dport, pkt.proto = src, dst, 40000, 80, proto
    return pkt


def test_from_a_packet_context() -> None:
    pkt = packet(12, ip4("10.0.0.1"), ip4("192.0.2.9"))
    finding = Finding.from_ctx(rule(), Ctx(pkt, None, 0), {"field": "payload"})
    assert (finding.pkt_num, finding.ts, finding.direction) == (12, 5_000, 0)
    assert (finding.src_ip, finding.sport, finding.dest_ip, finding.dport) == (
        "10.0.0.1",
        40000,
        "192.0.2.9",
        80,
    )
    assert finding.proto_name == "TCP"
    assert finding.evidence == {"field": "payload"}
    assert finding.event is None and finding.flow is None


def test_event_number_and_time_win_over_the_packet() -> None:
    pkt = packet(12, ip4("10.0.0.1"), ip4("192.0.2.9"))
    event = AppEvent("http", {"url": "/"}, direction=1, ts=9_000, pkt_num=15)
    finding = Finding.from_ctx(rule(), Ctx(pkt, None, 1, event), {})
    assert (finding.pkt_num, finding.ts, finding.direction) == (15, 9_000, 1)
    assert finding.event is event


def test_event_without_a_packet_keeps_number_zero_unless_set() -> None:
    event = AppEvent("dns", {"type": "request"})
    finding = Finding.from_ctx(rule(), Ctx(None, None, 0, event), {})
    assert finding.pkt_num == 0
    assert finding.src_ip == "" and finding.dest_ip == ""
    assert finding.proto_name == "-1"


def test_ipv6_addresses_are_fully_expanded() -> None:
    pkt = packet(1, ip6("2001:db8::1"), ip6("::1"), proto=58)
    finding = Finding.from_ctx(rule(), Ctx(pkt, None, 0), {})
    assert finding.src_ip == "2001:0db8:0000:0000:0000:0000:0000:0001"
    assert finding.dest_ip == "0000:0000:0000:0000:0000:0000:0000:0001"
    assert finding.proto_name == "IPv6-ICMP"


def test_unnamed_protocols_are_numbers() -> None:
    finding = Finding.from_ctx(
        rule(), Ctx(packet(1, ip4("1.1.1.1"), ip4("2.2.2.2"), 253), None, 0), {}
    )
    assert finding.proto_name == "253"


def test_category_and_severity_for_eve() -> None:
    finding = Finding.from_ctx(rule(severity="critical"), Ctx(None, None, 0), {})
    assert (finding.category, finding.category_label) == ("sql-injection", "SQL Injection")
    assert finding.eve_severity == 1
    assert Finding.from_ctx(rule(severity="info"), Ctx(None, None, 0), {}).eve_severity == 5
    assert Finding.from_ctx(rule(category="port-scan"), Ctx(None, None, 0), {}).category_label == (
        "Port Scan"
    )


def test_sort_key_orders_by_packet_then_time_then_sid() -> None:
    a = Finding.from_ctx(
        rule(9), Ctx(packet(3, ip4("1.1.1.1"), ip4("2.2.2.2"), ts=50), None, 0), {}
    )
    b = Finding.from_ctx(
        rule(1), Ctx(packet(3, ip4("1.1.1.1"), ip4("2.2.2.2"), ts=50), None, 0), {}
    )
    c = Finding.from_ctx(
        rule(1), Ctx(packet(2, ip4("1.1.1.1"), ip4("2.2.2.2"), ts=90), None, 0), {}
    )
    assert sorted([a, b, c], key=Finding.sort_key) == [c, b, a]
    assert a.sort_key() == (3, 50, 9)
