"""The HTML report: self-contained, escaped, numbers equal to the EVE output, and it renders.

The rendering test opens the report in headless Chromium (Debian's ``chromium``,
installed by ``.ci/run``; skipped with the reason when missing), with no network and
a fresh profile, and checks that the browser logged no console message at all (the
report has no script, and its Content-Security-Policy turns any resource load into a
console error), that the numbers in the rendered DOM equal the EVE output of the same
run, and saves a screenshot in the test's temporary folder. A control page with a
script error proves the console check can fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from netsentry.aggregate import FindingAggregate
from netsentry.cli import app
from netsentry.htmlreport import render_html
from netsentry.summary import Summary
from tests.factories import Record
from tests.test_eve import RULES, T0, Conv, capture

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (.ci/run installs Debian's chromium)"
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


class DataAttrs(HTMLParser):
    """Collects the report's machine-readable numbers (``id``/``data-*`` attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.rules: dict[int, int] = {}
        self.categories: Counter[tuple[str, str]] = Counter()
        self.tags: Counter[str] = Counter()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags[tag] += 1
        for key in ("src", "href", "action", "srcset", "poster", "data"):
            if key in a:
                self.urls.append(a[key])
        if "id" in a and "data-value" in a:
            self.values[a["id"]] = a["data-value"]
        if tag == "section" and "data-sid" in a:
            self.rules[int(a["data-sid"])] = int(a["data-count"])
        if "data-category" in a:
            self.categories[(a["data-category"], a["data-severity"])] += int(a["data-count"])


def parse(html: str) -> DataAttrs:
    parser = DataAttrs()
    parser.feed(html)
    return parser


def _run(tmp_path: Path, pcap: Path, *extra: str) -> tuple[list[dict[str, Any]], str]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    eve, html = tmp_path / "eve.json", tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        ["analyze", "--no-progress", "-r", str(rules), "-f", "eve", "-o", str(eve),
         "--html", str(html), *extra, str(pcap)],
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in eve.read_text(encoding="utf-8").splitlines()]
    return events, html.read_text(encoding="utf-8")


def _check_numbers(data: DataAttrs, alerts: list[dict[str, Any]], packets: int) -> None:
    assert data.values["findings-total"] == str(len(alerts))
    assert data.values["packets"] == str(packets)
    by_sid = Counter(a["alert"]["signature_id"] for a in alerts)
    assert data.rules == dict(by_sid)
    by_sev = Counter(a["netsentry"]["severity"] for a in alerts)
    for severity in ("critical", "high", "medium", "low", "info"):
        assert data.values[f"severity-{severity}"] == str(by_sev.get(severity, 0))
    by_cat = Counter((a["netsentry"]["category"], a["netsentry"]["severity"]) for a in alerts)
    assert dict(data.categories) == dict(by_cat)


def test_report_numbers_equal_the_eve_output(tmp_path: Path) -> None:
    events, html = _run(tmp_path, capture(tmp_path))
    alerts = [e for e in events if e["event_type"] == "alert"]
    assert len(alerts) == 12
    _check_numbers(parse(html), alerts, packets=63)


def test_report_is_self_contained_and_runs_nothing(tmp_path: Path) -> None:
    _events, html = _run(tmp_path, capture(tmp_path))
    data = parse(html)
    assert data.urls == []  # no src/href at all: nothing to fetch
    assert data.tags["script"] == 0 and data.tags["link"] == 0 and data.tags["iframe"] == 0
    assert data.tags["svg"] >= 4  # timeline, categories, severities, talkers
    assert "default-src 'none'" in html
    assert "<title>netsentry report:" in html
    for section in ("Alert timeline", "Findings by category and severity", "Top talkers",
                    "Findings by rule", "Capture metadata"):
        assert f"<h2>{section}</h2>" in html


def test_identical_findings_are_one_row_with_a_count(tmp_path: Path) -> None:
    """Five identical requests: one aggregated row (count 5); EVE keeps five lines."""
    records: list[Record] = []
    conv = Conv(records, "10.0.0.1", "10.0.0.2", 40000, 80, T0).open()
    for _ in range(5):
        conv.send(b"GET /evil HTTP/1.1\r\nHost: a\r\n\r\n").reply(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        )
    conv.close()
    from tests.factories import write_pcap

    pcap = write_pcap(tmp_path / "five.pcap", records)
    events, html = _run(tmp_path, pcap)
    assert sum(e["event_type"] == "alert" for e in events) == 5
    assert '<section class="rule" data-rule="web-evil" data-sid="2000001" data-count="5">' in html
    assert html.count('<tr data-count="5">') == 1
    # --dedup: EVE keeps the first line only; the HTML still counts all five
    (tmp_path / "d").mkdir()
    events, html = _run(tmp_path / "d", pcap, "--dedup")
    assert sum(e["event_type"] == "alert" for e in events) == 1
    assert parse(html).values["findings-total"] == "5"


def test_captured_text_is_escaped(tmp_path: Path) -> None:
    records: list[Record] = []
    hostile = b"GET /evil<script>alert(1)</script>\x1b[2J\"'&amp; HTTP/1.1\r\nHost: a\r\n\r\n"
    Conv(records, "10.0.0.1", "10.0.0.2", 40000, 80, T0).open().send(hostile).close()
    from tests.factories import write_pcap

    _events, html = _run(tmp_path, write_pcap(tmp_path / "x.pcap", records))
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\x1b" not in html and "\\x1b[2J" in html
    assert "&amp;amp;" in html


def test_empty_run_renders() -> None:
    html = render_html(Summary(), FindingAggregate(), rules_loaded=False)
    data = parse(html)
    assert data.values["findings-total"] == "0" and data.values["packets"] == "0"
    assert "No findings." in html and "No detection rules were run" in html


# -- headless Chromium ---------------------------------------------------------------------


def _chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )


def console_messages(stderr: str) -> list[str]:
    """Chromium's logged console messages (any level: the report must log nothing)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@needs_chromium
@pytest.mark.timeout(240)
def test_chromium_renders_the_report_without_console_errors(tmp_path: Path) -> None:
    events, _html = _run(tmp_path, capture(tmp_path))
    page = tmp_path / "report.html"
    dom = _chromium(tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_messages(dom.stderr) == []
    alerts = [e for e in events if e["event_type"] == "alert"]
    _check_numbers(parse(dom.stdout), alerts, packets=63)  # numbers in the rendered DOM
    shot = tmp_path / "report.png"
    run = _chromium(tmp_path, page, "--window-size=1280,2000", f"--screenshot={shot}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_messages(run.stderr) == []
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


@needs_chromium
@pytest.mark.timeout(240)
def test_the_console_check_catches_errors(tmp_path: Path) -> None:
    """Control: the same harness does see a script error and a blocked external load."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body>"
        '<img src="http://127.0.0.1:9/x.png"><script>undefinedFunction()</script></body></html>',
        encoding="utf-8",
    )
    run = _chromium(tmp_path, bad, "--dump-dom")
    messages = console_messages(run.stderr)
    assert any("undefinedFunction is not defined" in m for m in messages), run.stderr[-2000:]
    assert any("Content Security Policy" in m for m in messages)
