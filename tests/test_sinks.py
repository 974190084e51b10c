"""Streaming outputs: EVE event types beyond alerts, CSV, and the CLI options that pick them."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from netsentry.cli import app
from netsentry.sinks import CSV_COLUMNS, csv_cell
from tests.factories import Record, write_pcap
from tests.test_eve import RULES, T0, Conv, capture, schema_errors

SHARED = Path(__file__).resolve().parents[2] / "shared"
SCHEMA = SHARED / "conformance" / "eve" / "suricata-8.0.6" / "etc" / "schema.json"


def _invoke(tmp_path: Path, pcap: Path, *args: str) -> Result:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    return CliRunner().invoke(
        app, ["analyze", "--no-progress", "-r", str(rules), *args, str(pcap)]
    )


def _events(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_default_output_off_a_terminal_is_eve_alerts(tmp_path: Path) -> None:
    events = _events(_invoke(tmp_path, capture(tmp_path)))
    assert len(events) == 12
    assert {e["event_type"] for e in events} == {"alert"}


def test_all_event_types(tmp_path: Path) -> None:
    events = _events(_invoke(tmp_path, capture(tmp_path), "-f", "eve", "--eve-types", "all"))
    kinds = Counter(e["event_type"] for e in events)
    # 12 alerts; 10 flows (7 TCP, a DNS query, an ICMP and an ICMPv6 ping); 1 DNS
    # message; 2 HTTP transactions (v4 and v6); 1 TLS session; and the final stats line
    assert kinds == {"alert": 12, "flow": 10, "dns": 1, "http": 2, "tls": 1, "stats": 1}
    assert events[-1]["event_type"] == "stats"
    stats = events[-1]["stats"]
    assert stats["detect"] == {"alert": 12, "alerts_suppressed": 0}
    assert stats["flow"] == {"total": 10, "tcp": 7, "udp": 1, "icmpv4": 1, "icmpv6": 1}
    assert stats["decoder"]["pkts"] == 63
    assert stats["app_layer"]["flow"] == {
        "http": 2, "dns_udp": 1, "tls": 1, "ssh": 1, "ftp": 1
    }
    assert events[-1]["netsentry"]["app_layer_flow"] == {"irc": 1}
    http = [e for e in events if e["event_type"] == "http"]
    assert http[0]["http"]["status"] == 200 and http[0]["http"]["url"] == "/evil?a=1"
    assert http[0]["tx_id"] == 0 and "direction" not in http[0]
    assert "request_headers" not in http[0]["http"]
    (tls,) = [e for e in events if e["event_type"] == "tls"]
    assert tls["tls"]["sni"] == "evil.example" and tls["src_port"] == 40010
    flows = {e["flow_id"]: e for e in events if e["event_type"] == "flow"}
    web = flows[next(e["flow_id"] for e in events if e["event_type"] == "http")]
    assert web["flow"]["pkts_toserver"] == 5 and web["flow"]["pkts_toclient"] == 3
    assert web["flow"]["alerted"] is True and web["tcp"]["syn"] is True
    assert web["tcp"]["tcp_flags"] == "1b" and web["app_proto"] == "http"
    if SCHEMA.is_file():
        for event in events:
            assert schema_errors(event) == [], event


def test_an_unanswered_request_is_written_when_its_flow_ends(tmp_path: Path) -> None:
    records: list[Record] = []
    conv = Conv(records, "10.0.0.1", "10.0.0.2", 40000, 80, T0).open()
    conv.send(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n").reply(
        b"HTTP/1.1 204 No Content\r\n\r\n"
    )
    conv.send(b"GET /two HTTP/1.1\r\nHost: a\r\n\r\n").close()
    pcap = write_pcap(tmp_path / "h.pcap", records)
    events = _events(_invoke(tmp_path, pcap, "-f", "eve", "--eve-types", "http,flow"))
    assert [(e["event_type"], e.get("http", {}).get("url")) for e in events] == [
        ("http", "/one"),
        ("http", "/two"),
        ("flow", None),
    ]
    assert events[0]["http"]["status"] == 204 and "status" not in events[1]["http"]
    assert [e.get("tx_id") for e in events[:2]] == [0, 1]


def test_eve_types_are_validated(tmp_path: Path) -> None:
    result = _invoke(tmp_path, capture(tmp_path), "-f", "eve", "--eve-types", "alert,smb")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --eve-types: unknown type smb (known: alert, flow, dns, http, tls, stats, or all)\n"
    )
    result = _invoke(tmp_path, capture(tmp_path), "-f", "csv", "--eve-types", "flow")
    assert result.exit_code == 2
    assert result.stderr == "error: --eve-types needs --format eve\n"


def test_dedup_keeps_the_first_of_identical_alerts(tmp_path: Path) -> None:
    records: list[Record] = []
    conv = Conv(records, "10.0.0.1", "10.0.0.2", 40000, 80, T0).open()
    for _ in range(4):
        conv.send(b"GET /evil HTTP/1.1\r\nHost: a\r\n\r\n")
    conv.close()
    pcap = write_pcap(tmp_path / "d.pcap", records)
    assert len(_events(_invoke(tmp_path, pcap, "-f", "eve"))) == 4
    events = _events(_invoke(tmp_path, pcap, "-f", "eve", "--dedup", "--eve-types", "alert,stats"))
    assert [e["event_type"] for e in events] == ["alert", "stats"]
    assert events[-1]["stats"]["detect"] == {"alert": 1, "alerts_suppressed": 3}
    assert events[-1]["netsentry"]["findings"] == 4
    # a window of 0 s: the requests are 1 ms apart, so all four are distinct again
    events = _events(_invoke(tmp_path, pcap, "-f", "eve", "--dedup", "--dedup-window", "0"))
    assert len(events) == 4


# -- CSV --------------------------------------------------------------------------------------


def test_csv_has_a_header_and_one_row_per_finding(tmp_path: Path) -> None:
    result = _invoke(tmp_path, capture(tmp_path), "-f", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 12
    assert list(rows[0]) == list(CSV_COLUMNS)
    web = next(r for r in rows if r["rule_id"] == "web-evil")
    assert (web["severity"], web["signature_id"], web["proto"]) == ("critical", "2000001", "TCP")
    assert (web["src_ip"], web["src_port"], web["dest_port"]) == ("10.0.0.1", "40000", "80")
    assert web["timestamp"] == "2024-01-31T12:00:00.003000+0000"
    assert json.loads(web["evidence"]) == {"field": "http.uri", "match": "/evil?a=1"}
    icmp = next(r for r in rows if r["rule_id"] == "ping-reply")
    assert icmp["src_port"] == "" and icmp["proto"] == "ICMP"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_cells_never_start_a_formula(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_csv_escapes_hostile_evidence(tmp_path: Path) -> None:
    records: list[Record] = []
    request = b"GET /evil=cmd|'/c calc'!A0,\"x\"\r\n HTTP/1.1\r\nHost: a\r\n\r\n"
    Conv(records, "10.0.0.1", "10.0.0.2", 40000, 80, T0).open().send(request).close()
    result = _invoke(tmp_path, write_pcap(tmp_path / "x.pcap", records), "-f", "csv")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert all(len(row) == len(CSV_COLUMNS) for row in rows)
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_alerted_flows_are_forgotten_at_flow_end_unless_kept() -> None:
    from netsentry.findings import Finding
    from netsentry.flows import Flow
    from netsentry.model import Packet
    from netsentry.sinks import AlertedFlows
    from tests.test_aggregate import rule

    first = Packet(1, 5, 60, 60)
    first.proto, first.src, first.dst, first.sport, first.dport = 6, b"a", b"b", 1, 2
    flow = Flow((6, b"a", 1, b"b", 2), first, True, 0)
    flow.pkts0, flow.pkts1 = 3, 2
    found = Finding(rule(), 5, 1, b"a", b"b", 1, 2, 6, 0, flow=flow)
    for keep, left in ((False, 0), (True, 1)):
        alerted = AlertedFlows(keep=keep)
        alerted.finding(found)
        assert flow in alerted
        alerted.flow_end(flow)
        alerted.forget(flow)
        assert (len(alerted.ids), alerted.flows, alerted.packets) == (left, 1, 5)
