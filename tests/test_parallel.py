"""``analyze --per-file`` and ``--jobs``: each capture on its own, same bytes for any N."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest
from typer.testing import CliRunner, Result

from netsentry.cli import app
from tests.factories import ether, gzipped, ipv4, pcap_bytes, tcp, udp, write_pcap, write_pcapng

T0 = 1706702400.0
SYN = dpkt.tcp.TH_SYN
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CORPUS = Path(os.environ.get("NETSENTRY_CORPUS") or DEFAULT_CORPUS)
HAVE_CORPUS = (CORPUS / "MANIFEST.tsv").is_file()
NO_CORPUS = f"shared corpus not found at {CORPUS} (a user's clone has no ../shared)"
CLEAN_ENV: dict[str, str | None] = {
    "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None, "COLUMNS": None
}


def _invoke(args: list[str], input: bytes | None = None) -> Result:
    return CliRunner(env=CLEAN_ENV).invoke(app, args, input=input)


def _scan(src: str, ports: range, t0: float) -> list[tuple[float, bytes]]:
    """SYN probes from ``src`` to ports of 10.0.0.9 (scan-tcp-ports needs 50 within 60 s)."""
    return [
        (t0 + i * 0.01, ether(ipv4(tcp(sport=40000, dport=p, flags=SYN), src=src, dst="10.0.0.9")))
        for i, p in enumerate(ports)
    ]


def _chatter(t0: float, n: int) -> list[tuple[float, bytes]]:
    """Ordinary UDP and TCP packets (flows, no finding)."""
    return [
        (t0 + i * 0.1, ether(ipv4(udp(sport=5000 + i % 3, dport=53, payload=b"q" * i))))
        if i % 2
        else (t0 + i * 0.1, ether(ipv4(tcp(sport=1234, dport=443, payload=b"x" * i))))
        for i in range(n)
    ]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # short, relative capture names in the output
    yield


def _folder() -> Path:
    """caps/: two scans (one per file), chatter, and one scan split over two files."""
    root = Path("caps")
    (root / "sub").mkdir(parents=True)
    write_pcap(root / "a-scan.pcap", _scan("10.0.0.1", range(1, 61), T0) + _chatter(T0, 20))
    write_pcapng(root / "b-chatter.pcapng", _chatter(T0 + 5, 40))
    (root / "c-scan.gz").write_bytes(gzipped(pcap_bytes(_scan("10.0.0.2", range(100, 170), T0))))
    write_pcap(root / "sub" / "d-half.pcap", _scan("10.0.0.3", range(1, 31), T0 + 1))
    write_pcap(root / "sub" / "e-half.pcap", _scan("10.0.0.3", range(31, 61), T0 + 2))
    (root / "notes.txt").write_text("not a capture\n")
    return root


ORDER = ["caps/a-scan.pcap", "caps/b-chatter.pcapng", "caps/c-scan.gz",
         "caps/sub/d-half.pcap", "caps/sub/e-half.pcap"]


def _alerts(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("fmt", ["eve", "json", "csv", "table"])
def test_jobs_2_writes_the_same_bytes_as_jobs_1(fmt: str) -> None:
    root = _folder()
    one = _invoke(["analyze", "--per-file", "-j", "1", "-f", fmt, str(root)])
    two = _invoke(["analyze", "--per-file", "-j", "2", "-f", fmt, str(root)])
    assert one.exit_code == 0, one.output
    assert two.exit_code == 0, two.output
    assert one.stdout_bytes == two.stdout_bytes
    assert len(one.stdout_bytes) > 200


def test_each_capture_has_its_own_thresholds_and_names_itself() -> None:
    root = _folder()
    merged = _alerts(_invoke(["analyze", "-f", "eve", str(root)]).stdout)
    # one stream: the scan split over d-half and e-half reaches 60 ports together
    assert sorted(a["src_ip"] for a in merged) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert all("capture" not in a["netsentry"] for a in merged)
    per_file = _alerts(_invoke(["analyze", "--per-file", "-j", "2", "-f", "eve", str(root)]).stdout)
    ours = [(a["src_ip"], a["netsentry"]["rule_id"], a["netsentry"]["capture"]) for a in per_file]
    assert ours == [
        ("10.0.0.1", "scan-tcp-ports", "caps/a-scan.pcap"),
        ("10.0.0.2", "scan-tcp-ports", "caps/c-scan.gz"),
    ]
    assert [a["pcap_cnt"] for a in per_file] == [50, 50]  # numbered from 1 in each file


def test_json_is_one_document_per_capture_in_input_order() -> None:
    root = _folder()
    result = _invoke(["analyze", "--per-file", "-f", "json", str(root)])
    assert result.exit_code == 0, result.output
    docs = json.loads(result.stdout)
    assert [d["capture"] for d in docs] == ORDER
    assert [d["packets"] for d in docs] == [80, 40, 70, 30, 30]
    assert [d["finding_counts"]["total"] for d in docs] == [1, 0, 1, 0, 0]
    assert "skipped 1 file(s) that are not captures" in result.stderr


def test_csv_has_one_header_and_a_capture_column() -> None:
    root = _folder()
    result = _invoke(["analyze", "--per-file", "-j", "2", "-f", "csv", str(root)])
    lines = result.stdout.splitlines()
    assert lines[0].endswith(",evidence,capture")
    assert len(lines) == 3
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == ["caps/a-scan.pcap", "caps/c-scan.gz"]


def test_table_has_one_section_per_capture() -> None:
    root = _folder()
    out = _invoke(["analyze", "--per-file", "-j", "2", "-f", "table", str(root)]).stdout
    heads = [line.strip("─ ") for line in out.splitlines() if "capture: caps/" in line]
    assert heads == [f"capture: {name}" for name in ORDER]


def test_stdin_mixes_with_folders_and_files() -> None:
    root = _folder()
    data = pcap_bytes(_scan("10.0.0.7", range(1, 61), T0))
    for jobs in ("1", "2"):
        result = _invoke(
            ["analyze", "--per-file", "-j", jobs, "-f", "eve", "caps/b-chatter.pcapng", "-",
             str(root / "sub")],
            input=data,
        )
        assert result.exit_code == 0, result.output
        assert [(a["src_ip"], a["netsentry"]["capture"]) for a in _alerts(result.stdout)] == [
            ("10.0.0.7", "<stdin>")
        ]


def test_exit_code_is_the_worst_over_captures() -> None:
    root = _folder()
    fail = ["analyze", "--per-file", "-j", "2", "--fail-on", "medium"]
    assert _invoke([*fail, str(root)]).exit_code == 1
    assert _invoke([*fail, "caps/b-chatter.pcapng"]).exit_code == 0
    # a capture cut short inside a record: partial (4) outranks findings
    cut = pcap_bytes(_chatter(T0, 10))[:-7]
    Path("caps/sub/f-cut.pcap").write_bytes(cut)
    result = _invoke(["analyze", "--per-file", "-j", "2", "--fail-on", "medium", str(root)])
    assert result.exit_code == 4, result.output
    assert "caps/sub/f-cut.pcap" in result.stderr


def test_unreadable_inputs_and_empty_folders_fail_before_any_output() -> None:
    Path("empty").mkdir()
    result = _invoke(["analyze", "--per-file", "empty"])
    assert result.exit_code == 2
    assert result.stderr == "error: empty: folder holds no capture file (pcap, pcapng or gzip)\n"
    assert result.stdout == ""
    _folder()
    result = _invoke(["analyze", "--per-file", "-j", "2", "caps", "missing.pcap"])
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "missing.pcap: no such file" in result.stderr


def test_per_file_refuses_html_and_pcap_out() -> None:
    _folder()
    result = _invoke(["analyze", "--per-file", "--html", "r.html", "caps"])
    assert result.exit_code == 2
    assert "--per-file cannot be combined with --html or --pcap-out" in result.stderr
    assert not Path("r.html").exists()


def test_jobs_without_per_file_runs_one_merged_stream() -> None:
    root = _folder()
    one = _invoke(["analyze", "-j", "1", "-f", "eve", str(root)])
    two = _invoke(["analyze", "-j", "2", "-f", "eve", str(root)])
    assert one.exit_code == two.exit_code == 0
    assert one.stdout_bytes == two.stdout_bytes
    assert len(_alerts(one.stdout)) == 3


@pytest.mark.skipif(not HAVE_CORPUS, reason=NO_CORPUS)
@pytest.mark.parametrize("fmt", ["eve", "json"])
def test_corpus_folders_give_the_same_bytes_with_any_jobs(fmt: str) -> None:
    folders = [str(CORPUS / name) for name in ("bruteforce", "benign", "scan")]
    args = ["analyze", "--per-file", "-f", fmt, "--eve-types",
            # every type but stats (it carries the run's wall time)
            "alert,flow,dns,http,tls" if fmt == "eve" else "alert"]
    one = _invoke([*args, "-j", "1", *folders])
    two = _invoke([*args, "-j", "2", *folders])
    assert one.exit_code == two.exit_code
    assert one.stdout_bytes == two.stdout_bytes
    if fmt == "json":
        docs = json.loads(one.stdout)
        expected = [str(p) for f in folders for p in sorted(Path(f).iterdir())
                    if p.suffix in (".pcap", ".pcapng")]
        assert [d["capture"] for d in docs] == expected
