"""The terminal report: what it shows, and that untrusted text is shown, never obeyed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from netsentry.engine import analyze
from netsentry.model import Packet
from netsentry.report import human_bytes, render_summary, safe_text
from netsentry.summary import CaptureInfo, Summary
from tests.factories import ether, icmp_echo, ip4, ipv4, tcp, udp, write_pcap

T0 = 1706702400.0


def _render(summary: Summary) -> str:
    console = Console(file=io.StringIO(), record=True, width=120, color_system=None)
    console.print(render_summary(summary))
    return console.export_text()


def _rows(text: str) -> list[list[str]]:
    """Table rows as lists of cell texts (box characters dropped)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def _packet(src: str, dst: str, size: int) -> Packet:
    pkt = Packet(0, int(T0 * 1e9), size, size)
    pkt.family = 4
    pkt.src = ip4(src)
    pkt.dst = ip4(dst)
    pkt.proto = 6
    return pkt


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    frames = [
        ether(ipv4(tcp(payload=b"x" * 1000))),  # 1054
        ether(ipv4(tcp(sport=80, dport=1234), src="10.0.0.2", dst="10.0.0.1")),  # 54
        ether(ipv4(udp(payload=b"q" * 20), dst="10.0.0.53")),  # 62
        ether(ipv4(icmp_echo(b"ping"), dst="10.0.0.99")),  # 46
    ]
    return write_pcap(tmp_path / "small.pcap", [(T0 + i, f) for i, f in enumerate(frames)])


def test_report_has_overview_protocols_talkers_and_conversations(capture: Path) -> None:
    summary = analyze([capture]).summary
    text = _render(summary)
    assert "netsentry summary" in text
    assert f"capture  {capture}  pcap, 4 packets" in text
    assert "bytes    1,216 (1.2 KiB) on the wire, 1,216 captured" in text
    assert "first    2024-01-31T12:00:00.000000+0000" in text
    assert "last     2024-01-31T12:00:03.000000+0000" in text
    assert "span     3.000 s" in text
    titles = [line.strip() for line in text.splitlines()]
    for title in ("Protocols", "Top talkers by bytes", "Top talkers by packets",
                  "Top conversations"):
        assert title in titles
    rows = _rows(text)
    assert ["TCP", "2", "50.0", "1.1 KiB"] in rows
    assert ["UDP", "1", "25.0", "62 B"] in rows
    assert ["ICMP", "1", "25.0", "46 B"] in rows
    # talkers by bytes, then by packets
    assert ["10.0.0.1", "4", "1.2 KiB"] in rows
    assert ["10.0.0.2", "2", "1.1 KiB"] in rows
    assert ["10.0.0.53", "1", "62 B"] in rows
    assert ["10.0.0.1", "10.0.0.2", "2", "1.1 KiB"] in rows
    assert ["10.0.0.1", "10.0.0.99", "1", "46 B"] in rows
    assert "Skipped or malformed packets" not in text
    assert "approximate" not in text


def test_report_of_an_empty_capture_has_only_the_overview(tmp_path: Path) -> None:
    empty = write_pcap(tmp_path / "empty.pcap", [])
    text = _render(analyze([empty]).summary)
    assert f"capture  {empty}  pcap, 0 packets" in text
    assert "packets  0" in text
    assert "Protocols" not in text
    assert "first" not in text


def test_report_lists_skipped_frames_fragments_and_damage() -> None:
    summary = Summary()
    summary.add(_packet("10.0.0.1", "10.0.0.2", 60))
    summary.skipped["unsupported link type 231 (DBUS)"] = 2
    summary.skipped["tcp: truncated header"] = 1
    summary.fragments["reassembled"] = 3
    summary.fragments["expired_incomplete"] = 1
    summary.captures = [CaptureInfo("cut.pcap.gz", "pcap", True, [1], packets=1, truncated=True)]
    text = _render(summary)
    assert "capture  cut.pcap.gz  pcap (gzip), 1 packets  damaged" in text
    assert "Skipped or malformed packets" in text
    rows = _rows(text)
    assert ["unsupported link type 231 (DBUS)", "2"] in rows
    assert ["tcp: truncated header", "1"] in rows
    assert "IP fragments: expired incomplete 1, reassembled 3" in text


def test_report_says_when_talker_tables_are_approximate() -> None:
    summary = Summary(max_keys=10)
    for i in range(40):
        summary.add(_packet(f"10.0.0.{i + 1}", "10.0.1.1", 60))
    # 41 addresses in a table of 10: every prune keeps at most half of it
    pruned = summary.talkers.pruned
    assert pruned == 41 - len(summary.talkers.counts)
    assert len(summary.talkers.counts) <= 10
    assert summary.talkers.counts[ip4("10.0.1.1")] == [40, 40 * 60]  # the heavy hitter stays exact
    text = " ".join(_render(summary).split())
    assert (
        f"Note: talker and conversation tables are approximate; {pruned} rarely-seen "
        "addresses and" in text
    )


def test_approximate_note_counts_dropped_conversations_too() -> None:
    summary = Summary(max_keys=30)
    hosts = [f"10.0.0.{i + 1}" for i in range(10)]  # 10 addresses, 45 pairs
    for a in hosts:
        for b in hosts:
            if a < b:
                summary.add(_packet(a, b, 60))
    assert summary.talkers.pruned == 0
    assert summary.conversations.pruned > 0
    text = " ".join(_render(summary).split())
    assert "approximate" in text
    assert "0 rarely-seen" not in text
    assert f"{summary.conversations.pruned:,}" in text


# -- untrusted text ------------------------------------------------------------------------------


def test_safe_text_shows_control_characters() -> None:
    assert safe_text("\x1b[31m").plain == "\\x1b[31m"
    assert safe_text("a\nb\tc\x00\x7f").plain == "a\\x0ab\\x09c\\x00\\x7f"
    assert safe_text("café ünïcode").plain == "café ünïcode"


def test_safe_text_does_not_interpret_markup() -> None:
    text = safe_text("[bold red]alert[/bold red] [link=http://x]y[/link]")
    assert isinstance(text, Text)
    assert text.plain == "[bold red]alert[/bold red] [link=http://x]y[/link]"
    assert text.spans == []
    assert str(text.style) == ""
    assert str(safe_text("x", style="bold").style) == "bold"


def test_safe_text_accepts_any_object() -> None:
    assert safe_text(42).plain == "42"
    assert safe_text(None).plain == "None"


def test_safe_text_escapes_wide_code_points_unambiguously() -> None:
    assert safe_text("evil\u202etxt.exe").plain == "evil\\u202etxt.exe"


def test_markup_and_escapes_in_captured_names_reach_the_terminal_literally() -> None:
    summary = Summary()
    pkt = Packet(1, int(T0 * 1e9), 60, 60)
    pkt.label = "[blink]ARP\x1b[2J"
    summary.add(pkt)
    summary.skipped["bad [red]reason[/red]\x07"] = 1
    summary.captures = [CaptureInfo("[bold]x\x1b[31m.pcap", "pcap", False, [1], packets=1)]
    console = Console(
        file=io.StringIO(), record=True, width=120, force_terminal=True, color_system="truecolor"
    )
    console.print(render_summary(summary))
    plain = console.export_text()
    styled = console.export_text(styles=True)
    assert "capture  [bold]x\\x1b[31m.pcap  pcap, 1 packets" in plain
    assert ["[blink]ARP\\x1b[2J", "1", "100.0", "60 B"] in _rows(plain)
    assert ["bad [red]reason[/red]\\x07", "1"] in _rows(plain)
    # rich adds its own styling escapes, but none of the captured bytes survive raw
    assert "\x1b[2J" not in styled
    assert "\x07" not in styled
    assert "\x1b[31m.pcap" not in styled
    assert "\x1b[5m" not in styled  # [blink] was not obeyed


# -- human_bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * 1024**2, "5.0 MiB"),
        (3 * 1024**3 + 512 * 1024**2, "3.5 GiB"),
        (2 * 1024**4, "2.0 TiB"),
        (2048 * 1024**4, "2048.0 TiB"),
    ],
)
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text


def test_human_bytes_rounds_into_the_next_unit() -> None:
    assert human_bytes(1024**2 - 1) == "1.0 MiB"


# -- findings (aggregated) ---------------------------------------------------------------------


def _findings_text(aggregate: object, **kw: object) -> tuple[str, str]:
    from netsentry.report import render_aggregate

    console = Console(
        file=io.StringIO(), record=True, width=160, force_terminal=True, color_system="truecolor"
    )
    for part in render_aggregate(aggregate, **kw):  # type: ignore[arg-type]
        console.print(part)
    return console.export_text(), console.export_text(styles=True)


def test_findings_are_grouped_with_counts_and_talkers() -> None:
    from netsentry.aggregate import FindingAggregate
    from tests.test_aggregate import finding, rule

    agg = FindingAggregate(window=60)
    high, low = rule(1, "high"), rule(2, "low", "port-scan")
    for t in range(4):
        agg.add(finding(high, t))
    agg.add(finding(low, 10, src=ip4("10.0.0.3")))
    plain, _styled = _findings_text(agg, window=60)
    rows = _rows(plain)
    assert ["high", "sql-injection", "4"] in rows
    assert ["low", "port-scan", "1"] in rows
    assert "Repeated findings (same rule, source and target, less than 60 s apart)" in plain
    assert ["r1", "10.0.0.1 -> 10.0.0.2", "4", "2024-01-31 12:00:00.000",
            "2024-01-31 12:00:03.000"] in rows
    assert ["10.0.0.1", "4", "10.0.0.2", "5"] in rows  # top sources / targets
    rule_rows = [r for r in rows if r and r[1] in ("r1", "r2")]
    assert [r[:3] for r in rule_rows] == [["high", "r1", "4"], ["low", "r2", "1"]]


def test_hostile_evidence_is_shown_not_obeyed() -> None:
    from netsentry.aggregate import FindingAggregate
    from tests.test_aggregate import finding, rule

    agg = FindingAggregate()
    hit = finding(rule(), 0)
    hit.evidence = {"field": "http.uri", "match": "[bold red]x[/] \x1b[2J\x07 \u202eevil"}
    agg.add(hit)
    plain, styled = _findings_text(agg)
    assert "http.uri: [bold red]x[/] \\x1b[2J\\x07 \\u202eevil" in plain
    assert "\x1b[2J" not in styled and "\x07" not in styled and "\u202e" not in styled


def test_no_findings() -> None:
    from netsentry.aggregate import FindingAggregate

    plain, _ = _findings_text(FindingAggregate())
    assert plain.strip() == "No findings."
