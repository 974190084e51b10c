"""The ``netsentry`` command line: exit codes, stdout and stderr, checked separately.

Typer's ``CliRunner`` (this Typer vendors Click 8.2+ behaviour) keeps stderr apart
from stdout, so each stream is asserted on its own. Two tests run the real
``python -m netsentry`` process to prove the module entry point and a pipe on
standard input work outside the test runner.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest
from typer.testing import CliRunner, Result

from netsentry import __version__
from netsentry.cli import app
from tests.factories import (
    ether,
    gzipped,
    icmp_echo,
    ip4,
    ipv4,
    pcap_bytes,
    tcp,
    udp,
    write_pcap,
)

T0 = 1706702400.0  # 2024-01-31T12:00:00Z

# Keep rich from colouring output whatever the developer's environment says.
CLEAN_ENV: dict[str, str | None] = {
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "TTY_INTERACTIVE": None,
    "COLUMNS": None,
}


def _arp() -> bytes:
    arp = dpkt.arp.ARP(sha=b"\x00\x11\x22\x33\x44\x55", spa=ip4("10.0.0.1"),
                       tha=b"\x00" * 6, tpa=ip4("10.0.0.2"))
    return ether(bytes(arp), ethertype=0x0806)


def _mixed_frames() -> list[bytes]:
    """7 frames: 3 TCP (267 B), 2 UDP (144 B), 1 ICMP (46 B), 1 ARP (42 B) = 499 B."""
    return [
        ether(ipv4(tcp(payload=b"hello"))),  # 14+20+20+5 = 59
        ether(ipv4(tcp(sport=80, dport=1234), src="10.0.0.2", dst="10.0.0.1")),  # 54
        ether(ipv4(tcp(payload=b"x" * 100))),  # 154
        ether(ipv4(udp(payload=b"q" * 20), dst="10.0.0.53")),  # 14+20+8+20 = 62
        ether(ipv4(udp(sport=53, dport=5353, payload=b"r" * 40), src="10.0.0.53",
                   dst="10.0.0.1")),  # 82
        ether(ipv4(icmp_echo(b"ping"))),  # 14+20+4+4+4 = 46
        _arp(),  # 14+28 = 42
    ]


def _mixed(path: Path) -> Path:
    return write_pcap(path, [(T0 + i * 0.5, f) for i, f in enumerate(_mixed_frames())])


def _invoke(args: list[str], input: bytes | None = None, **env: str) -> Result:
    runner = CliRunner(env={**CLEAN_ENV, **env})
    return runner.invoke(app, args, input=input)


def _json(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run every test in its own directory so file names in messages stay short."""
    monkeypatch.chdir(tmp_path)
    yield


# -- analyze: table and JSON ----------------------------------------------------------------


def test_analyze_prints_the_summary_table() -> None:
    _mixed(Path("mixed.pcap"))
    result = _invoke(["analyze", "-f", "table", "mixed.pcap"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    out = result.stdout
    assert "netsentry summary" in out
    assert "capture  mixed.pcap  pcap, 7 packets" in out
    assert "packets  7 " in out
    assert "bytes    499 (499 B) on the wire, 499 captured" in out
    assert "first    2024-01-31T12:00:00.000000+0000" in out
    assert "last     2024-01-31T12:00:03.000000+0000" in out
    assert "span     3.000 s" in out
    lines = [line.rstrip() for line in out.splitlines()]
    assert "Protocols" in lines
    assert "Top talkers by bytes" in lines
    assert "Top conversations" in lines
    # protocol rows: name, packets, share, bytes
    assert any(line.split() == ["│", "TCP", "│", "3", "│", "42.9", "│", "267", "B", "│"]
               for line in lines)
    assert any(line.split() == ["│", "ARP", "│", "1", "│", "14.3", "│", "42", "B", "│"]
               for line in lines)
    assert "\x1b[" not in out  # not a terminal: no colour codes


def test_analyze_json_has_exact_counts() -> None:
    _mixed(Path("mixed.pcap"))
    result = _invoke(["analyze", "--format", "json", "mixed.pcap"])
    assert result.exit_code == 0
    assert result.stderr == ""
    data = _json(result)
    assert data["packets"] == 7
    assert data["bytes"] == 499
    assert data["captured_bytes"] == 499
    assert data["protocols"] == [
        {"protocol": "TCP", "packets": 3, "bytes": 267},
        {"protocol": "UDP", "packets": 2, "bytes": 144},
        {"protocol": "ICMP", "packets": 1, "bytes": 46},
        {"protocol": "ARP", "packets": 1, "bytes": 42},
    ]
    assert data["top_talkers_by_bytes"] == [
        {"ip": "10.0.0.1", "packets": 6, "bytes": 457},
        {"ip": "10.0.0.2", "packets": 4, "bytes": 313},
        {"ip": "10.0.0.53", "packets": 2, "bytes": 144},
    ]
    assert data["top_conversations"] == [
        {"a": "10.0.0.1", "b": "10.0.0.2", "packets": 4, "bytes": 313},
        {"a": "10.0.0.1", "b": "10.0.0.53", "packets": 2, "bytes": 144},
    ]
    assert data["first_timestamp"] == "2024-01-31T12:00:00.000000+0000"
    assert data["last_timestamp"] == "2024-01-31T12:00:03.000000+0000"
    assert data["duration_seconds"] == 3.0
    assert data["captures"] == [
        {
            "name": "mixed.pcap",
            "format": "pcap",
            "compressed": False,
            "linktypes": [1],
            "packets": 7,
            "truncated": False,
            "warnings": [],
        }
    ]
    assert (data["skipped"], data["fragments"], data["approximate"], data["warnings"]) == (
        [],
        {},
        False,
        [],
    )


def test_format_option_is_case_insensitive() -> None:
    _mixed(Path("mixed.pcap"))
    result = _invoke(["analyze", "-f", "JSON", "mixed.pcap"])
    assert result.exit_code == 0
    assert _json(result)["packets"] == 7


def test_unknown_format_is_a_usage_error() -> None:
    _mixed(Path("mixed.pcap"))
    result = _invoke(["analyze", "--format", "xml", "mixed.pcap"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Invalid value for '--format'" in result.stderr


# -- -o / --output ------------------------------------------------------------------------


def test_output_file_gets_the_report_and_stdout_stays_empty() -> None:
    _mixed(Path("mixed.pcap"))
    result = _invoke(["analyze", "--format", "json", "-o", "report.json", "mixed.pcap"])
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("", "")
    data = json.loads(Path("report.json").read_text(encoding="utf-8"))
    assert (data["packets"], data["bytes"]) == (7, 499)
    assert sorted(p.name for p in Path(".").iterdir()) == ["mixed.pcap", "report.json"]


def test_output_file_table_has_no_escape_codes() -> None:
    _mixed(Path("mixed.pcap"))
    result = _invoke(["analyze", "-f", "table", "-o", "report.txt", "mixed.pcap"])
    assert result.exit_code == 0
    text = Path("report.txt").read_text(encoding="utf-8")
    assert "capture  mixed.pcap  pcap, 7 packets" in text
    assert "\x1b" not in text


def test_output_into_missing_directory_fails_cleanly() -> None:
    _mixed(Path("mixed.pcap"))
    result = _invoke(["analyze", "--format", "json", "-o", "nodir/out.json", "mixed.pcap"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "error: nodir/out.json: cannot write (No such file or directory)\n"
    assert sorted(p.name for p in Path(".").iterdir()) == ["mixed.pcap"]


def test_output_onto_a_directory_leaves_no_temporary_file() -> None:
    _mixed(Path("mixed.pcap"))
    Path("out").mkdir()
    result = _invoke(["analyze", "--format", "json", "-o", "out", "mixed.pcap"])
    assert result.exit_code == 2
    assert result.stderr == "error: out: cannot write (Is a directory)\n"
    assert sorted(p.name for p in Path(".").iterdir()) == ["mixed.pcap", "out"]
    assert list(Path("out").iterdir()) == []


def test_failed_run_leaves_an_existing_output_file_untouched() -> None:
    Path("notes.txt").write_text("not a capture\n", encoding="utf-8")
    Path("report.json").write_text("previous report\n", encoding="utf-8")
    result = _invoke(["analyze", "--format", "json", "-o", "report.json", "notes.txt"])
    assert result.exit_code == 3
    assert Path("report.json").read_text(encoding="utf-8") == "previous report\n"
    assert sorted(p.name for p in Path(".").iterdir()) == ["notes.txt", "report.json"]


def test_output_replaces_an_existing_file_whole() -> None:
    _mixed(Path("mixed.pcap"))
    Path("report.json").write_text("x" * 100_000, encoding="utf-8")
    result = _invoke(["analyze", "--format", "json", "-o", "report.json", "mixed.pcap"])
    assert result.exit_code == 0
    assert json.loads(Path("report.json").read_text(encoding="utf-8"))["packets"] == 7


def test_output_file_mode_follows_the_umask() -> None:
    _mixed(Path("mixed.pcap"))
    old = os.umask(0o022)
    try:
        result = _invoke(["analyze", "--format", "json", "-o", "report.json", "mixed.pcap"])
    finally:
        os.umask(old)
    assert result.exit_code == 0
    assert stat.S_IMODE(Path("report.json").stat().st_mode) == 0o644


def test_output_into_a_fifo_writes_into_it() -> None:
    _mixed(Path("mixed.pcap"))
    os.mkfifo("pipe")
    reader = os.open("pipe", os.O_RDONLY | os.O_NONBLOCK)  # a reader, so opening never blocks
    try:
        result = _invoke(["analyze", "--format", "json", "-o", "pipe", "mixed.pcap"])
        try:
            received = os.read(reader, 1 << 20)
        except BlockingIOError:
            received = b""
    finally:
        os.close(reader)
    assert result.exit_code == 0
    assert stat.S_ISFIFO(os.stat("pipe").st_mode)
    assert json.loads(received)["packets"] == 7


# -- several inputs, stdin ------------------------------------------------------------------


def test_several_files_are_merged_in_timestamp_order() -> None:
    frame = ether(ipv4(udp(payload=b"x")))  # 43 bytes
    write_pcap(Path("a.pcap"), [(T0 + 1, frame), (T0 + 3, frame), (T0 + 5, frame)])
    write_pcap(Path("b.pcap"), [(T0 + 0.25, frame), (T0 + 4, frame), (T0 + 9.5, frame)])
    result = _invoke(["analyze", "--format", "json", "a.pcap", "b.pcap"])
    assert result.exit_code == 0
    data = _json(result)
    assert data["packets"] == 6
    assert data["bytes"] == 6 * 43
    assert data["first_timestamp"] == "2024-01-31T12:00:00.250000+0000"
    assert data["last_timestamp"] == "2024-01-31T12:00:09.500000+0000"
    assert data["duration_seconds"] == 9.25
    assert [(c["name"], c["packets"]) for c in data["captures"]] == [("a.pcap", 3), ("b.pcap", 3)]


def test_stdin_dash_reads_the_capture() -> None:
    data = pcap_bytes([(T0 + i, f) for i, f in enumerate(_mixed_frames())])
    result = _invoke(["analyze", "--format", "json", "-"], input=data)
    assert result.exit_code == 0
    assert result.stderr == ""
    out = _json(result)
    assert (out["packets"], out["bytes"]) == (7, 499)
    assert out["captures"][0]["name"] == "<stdin>"
    assert out["captures"][0]["compressed"] is False


def test_stdin_gzip_capture() -> None:
    data = gzipped(pcap_bytes([(T0 + i, f) for i, f in enumerate(_mixed_frames())]))
    result = _invoke(["analyze", "--format", "json", "-"], input=data)
    assert result.exit_code == 0
    out = _json(result)
    assert out["packets"] == 7
    assert out["captures"][0]["compressed"] is True


def test_stdin_twice_is_a_usage_error() -> None:
    result = _invoke(["analyze", "-", "-"], input=b"")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "error: standard input ('-') can be given only once\n"


def test_empty_stdin_is_unreadable_input() -> None:
    result = _invoke(["analyze", "-"], input=b"")
    assert result.exit_code == 3
    assert result.stderr == "error: <stdin>: empty file, not a pcap or pcapng file\n"


# -- unreadable and damaged input -------------------------------------------------------------


def test_text_file_is_not_a_capture() -> None:
    Path("notes.txt").write_text("hello, world\n", encoding="utf-8")
    result = _invoke(["analyze", "notes.txt"])
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == "error: notes.txt: not a pcap or pcapng file\n"


def test_missing_file() -> None:
    result = _invoke(["analyze", "nope.pcap"])
    assert result.exit_code == 3
    assert result.stderr == "error: nope.pcap: no such file\n"


def test_unreadable_second_file_means_no_report() -> None:
    _mixed(Path("mixed.pcap"))
    Path("notes.txt").write_text("hello\n", encoding="utf-8")
    result = _invoke(["analyze", "mixed.pcap", "notes.txt"])
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == "error: notes.txt: not a pcap or pcapng file\n"


def test_error_for_a_long_path_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    target = deep / "capture notes.txt"
    target.write_text("hello\n", encoding="utf-8")
    result = _invoke(["analyze", str(target)], COLUMNS="40")
    assert result.exit_code == 3
    assert result.stderr == f"error: {target}: not a pcap or pcapng file\n"


def test_markup_in_a_file_name_is_printed_literally() -> None:
    Path("[bold]x.txt").write_text("hello\n", encoding="utf-8")
    result = _invoke(["analyze", "[bold]x.txt"])
    assert result.exit_code == 3
    assert result.stderr == "error: [bold]x.txt: not a pcap or pcapng file\n"


def test_control_characters_in_a_file_name_are_made_visible() -> None:
    name = "a\x1b[31mred\nb.txt"
    Path(name).write_text("hello\n", encoding="utf-8")
    result = _invoke(["analyze", name])
    assert result.exit_code == 3
    assert result.stderr == "error: a\\x1b[31mred\\x0ab.txt: not a pcap or pcapng file\n"


def test_markup_in_a_capture_name_is_not_interpreted_in_the_table() -> None:
    _mixed(Path("[bold red]evil[reset].pcap"))
    result = _invoke(["analyze", "-f", "table", "[bold red]evil[reset].pcap"])
    assert result.exit_code == 0
    assert "capture  [bold red]evil[reset].pcap  pcap, 7 packets" in result.stdout


def _cut_capture(path: Path) -> tuple[int, int]:
    """3 records, the third cut in half; returns (its byte offset, bytes of it present)."""
    frames = [ether(ipv4(udp(payload=bytes([i]) * 30))) for i in range(3)]  # 72 bytes each
    data = pcap_bytes([(T0 + i, f) for i, f in enumerate(frames)])
    third = 24 + 2 * (16 + 72)
    present = 16 + 36
    path.write_bytes(data[: third + present])
    return third, present


def test_truncated_capture_exits_4_with_a_warning_and_keeps_the_packets() -> None:
    assert _cut_capture(Path("cut.pcap")) == (200, 52)
    result = _invoke(["analyze", "--format", "json", "cut.pcap"])
    assert result.exit_code == 4
    warning = (
        "cut.pcap: file truncated in a record at byte offset 200 (52 of 88 bytes present); "
        "analyzed everything before it"
    )
    assert result.stderr == f"warning: {warning}\n"
    data = _json(result)
    assert (data["packets"], data["bytes"]) == (2, 144)
    assert data["captures"][0]["truncated"] is True
    assert data["captures"][0]["packets"] == 2
    assert data["warnings"] == [warning]


def test_quiet_hides_the_warning_but_not_the_exit_code() -> None:
    _cut_capture(Path("cut.pcap"))
    result = _invoke(["analyze", "--quiet", "--format", "json", "cut.pcap"])
    assert result.exit_code == 4
    assert result.stderr == ""
    assert _json(result)["packets"] == 2


def test_truncated_capture_table_marks_it_damaged() -> None:
    _cut_capture(Path("cut.pcap"))
    result = _invoke(["analyze", "-f", "table", "cut.pcap"])
    assert result.exit_code == 4
    assert "capture  cut.pcap  pcap, 2 packets  damaged" in result.stdout


# -- version and help -------------------------------------------------------------------------


def test_version() -> None:
    result = _invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"netsentry {__version__}\n"
    assert __version__ == "0.1.0"
    assert result.stderr == ""


def test_help_lists_the_exit_codes() -> None:
    for args in (["--help"], ["analyze", "--help"]):
        result = _invoke(args)
        assert result.exit_code == 0
        text = " ".join(result.stdout.split())
        assert (
            "Exit codes: 0 success; 1 findings at or above --fail-on; 2 usage error or invalid "
            "rule file; 3 unreadable input; 4 partial (a capture was damaged or a component "
            "failed)." in text
        )


def test_analyze_help_lists_its_options() -> None:
    result = _invoke(["analyze", "--help"])
    assert result.exit_code == 0
    for option in ("--format", "--output", "--no-progress", "--quiet"):
        assert option in result.stdout


def test_no_arguments_shows_usage_and_exits_2() -> None:
    result = _invoke([])
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: netsentry [OPTIONS] COMMAND [ARGS]...")


def test_analyze_without_a_capture_is_a_usage_error() -> None:
    result = _invoke(["analyze"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Missing argument 'PCAP...'" in result.stderr


# -- the real process ---------------------------------------------------------------------------


def _subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env["COLUMNS"] = "40"
    return env


@pytest.mark.timeout(60)
def test_python_dash_m_entry_point() -> None:
    _mixed(Path("mixed.pcap"))
    proc = subprocess.run(
        [sys.executable, "-m", "netsentry", "analyze", "--format", "json", "mixed.pcap"],
        capture_output=True,
        env=_subprocess_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    data = json.loads(proc.stdout)
    assert (data["packets"], data["bytes"]) == (7, 499)


@pytest.mark.timeout(60)
def test_pipe_a_capture_through_stdin() -> None:
    data = pcap_bytes([(T0 + i, f) for i, f in enumerate(_mixed_frames())])
    proc = subprocess.run(
        [sys.executable, "-m", "netsentry", "analyze", "--format", "json", "-"],
        input=data,
        capture_output=True,
        env=_subprocess_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["packets"] == 7
    assert out["captures"][0]["name"] == "<stdin>"


@pytest.mark.timeout(60)
def test_real_process_error_is_one_line_on_a_narrow_terminal(tmp_path: Path) -> None:
    target = tmp_path / ("x" * 150) / "[bold]notes.txt"
    target.parent.mkdir()
    target.write_text("hello\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "netsentry", "analyze", str(target)],
        capture_output=True,
        env=_subprocess_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    assert proc.stdout == b""
    assert proc.stderr.decode() == f"error: {target}: not a pcap or pcapng file\n"


# -- report options (issue 6) -------------------------------------------------------------------


def _rules_and_capture() -> tuple[str, str]:
    from tests.test_eve import RULES, capture

    Path("rules.yaml").write_text(RULES, encoding="utf-8")
    return "rules.yaml", str(capture(Path(".")))


def test_default_format_follows_the_terminal() -> None:
    from netsentry.outputs import OutputFormat, default_format

    assert default_format(True) is OutputFormat.table
    assert default_format(False) is OutputFormat.eve
    _mixed(Path("mixed.pcap"))
    result = _invoke(["analyze", "--no-rules", "mixed.pcap"])  # CliRunner: not a terminal
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")  # EVE: no alerts


def test_table_report_shows_findings_by_severity_rule_and_repeats() -> None:
    rules, pcap = _rules_and_capture()
    result = _invoke(["analyze", "-f", "table", "-r", rules, pcap])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "alerts   12 findings: 2 critical, 2 high, 1 medium, 5 low, 2 info" in out
    assert "Findings by rule" in out and "Top finding sources and targets" in out
    assert "Findings: 12" in out
    row = next(line for line in out.splitlines() if "web-evil" in line)
    assert row.split("│")[3].strip() == "2"  # v4 and v6 requests, one rule row
    assert "2024-01-31 12:00:00.003" in out  # first seen


def test_json_report_has_finding_groups_with_counts() -> None:
    rules, pcap = _rules_and_capture()
    result = _invoke(["analyze", "-f", "json", "-r", rules, pcap])
    assert result.exit_code == 0, result.output
    data = _json(result)
    assert data["finding_counts"]["total"] == 12
    assert sum(a["netsentry"]["count"] for a in data["findings"]) == 12
    web = [a for a in data["findings"] if a["netsentry"]["rule_id"] == "web-evil"]
    assert [a["netsentry"]["count"] for a in web] == [1, 1]  # two source/target pairs


def test_fail_on_exit_code() -> None:
    rules, pcap = _rules_and_capture()
    assert _invoke(["analyze", "-r", rules, "--fail-on", "critical", pcap]).exit_code == 1
    only_low = Path("low.yaml")
    from tests.test_eve import RULES

    only_low.write_text(RULES.split("  - id: tls-evil")[0].replace("critical", "low"),
                        encoding="utf-8")
    assert _invoke(["analyze", "-r", "low.yaml", "--fail-on", "high", pcap]).exit_code == 0
    assert _invoke(["analyze", "-r", "low.yaml", "--fail-on", "medium", pcap]).exit_code == 1


def test_quiet_and_verbose_exclude_each_other() -> None:
    _mixed(Path("mixed.pcap"))
    result = _invoke(["analyze", "-q", "-v", "mixed.pcap"])
    assert result.exit_code == 2
    assert result.stderr == "error: --quiet and --verbose cannot be combined\n"


def test_verbose_reports_the_run_on_stderr() -> None:
    rules, pcap = _rules_and_capture()
    result = _invoke(["analyze", "-v", "-r", rules, "--pcap-out", "out.pcap", pcap])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 12
    err = result.stderr.splitlines()
    assert err[0].startswith("info: analyzed 63 packets (")
    assert "info: findings: 12 in 12 groups; 0 suppressed by allowlists" in err
    assert "info: eve: 12 lines (12 alerts)" in err
    assert "info: pcap-out: 63 packets of 10 flows" in err


def test_html_and_pcap_out_are_atomic_on_failure() -> None:
    Path("notes.txt").write_text("not a capture\n", encoding="utf-8")
    Path("report.html").write_text("old\n", encoding="utf-8")
    result = _invoke(["analyze", "--html", "report.html", "--pcap-out", "a.pcap", "notes.txt"])
    assert result.exit_code == 3
    assert Path("report.html").read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in Path(".").iterdir()) == ["notes.txt", "report.html"]


def test_html_into_a_missing_directory_is_one_line() -> None:
    _mixed(Path("mixed.pcap"))
    result = _invoke(["analyze", "--html", "nodir/r.html", "mixed.pcap"])
    assert result.exit_code == 2
    assert result.stderr == "error: nodir/r.html: cannot write (No such file or directory)\n"


def test_exit_code_help_names_every_code_in_order() -> None:
    from netsentry.cli import EXIT_CODES_HELP
    from netsentry.errors import ExitCode

    positions = [EXIT_CODES_HELP.index(f"{int(code)} ") for code in ExitCode]
    assert positions == sorted(positions) and len(positions) == 5
