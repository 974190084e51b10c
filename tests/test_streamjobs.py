"""``analyze --jobs N`` on one stream: the output of N processes is the output of one.

The split is by flow (netsentry.streamjobs); these tests force N > 1 even on small
inputs and compare everything the run writes: EVE lines of every type in order, the
JSON document, table, CSV, --pcap-out and the exit code. The generated capture has the
cases a wrong split gets wrong: a threshold counted over many flows (brute force, DGA
names per client), a port scan, an HTTP request split over segments, flows that end by
timeout in the middle and at the end, and a flow that spans the whole capture.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import dpkt
import pytest
from typer.testing import CliRunner, Result

from netsentry.cli import app
from netsentry.dga import default_scorer
from netsentry.engine import AnalysisResult
from netsentry.flowsplit import Ownership, loads, pack
from netsentry.outputs import OutputFormat, OutputPlan, Outputs
from netsentry.ruleload import load_rules
from netsentry.rules import RuleSet
from netsentry.sinks import EVE_TYPES
from netsentry.streamjobs import analyze_split, auto_jobs, fallback_reason
from tests.factories import ether, ipv4, pcap_bytes, tcp, udp, write_pcap

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = Path(os.environ.get("NETSENTRY_CORPUS") or SHARED / "corpus")
HAVE_CORPUS = (CORPUS / "MANIFEST.tsv").is_file()
CORPUS_SKIP = f"shared corpus not found at {CORPUS} (a user's clone has no ../shared)"
CLEAN_ENV: dict[str, str | None] = {
    "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None, "COLUMNS": None
}
T0 = 1706702400.0
SYN, ACK, FIN, PSH = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_FIN, dpkt.tcp.TH_PUSH


@cache
def _rules() -> RuleSet:
    return load_rules(None)


def _no_fallback(text: str) -> None:
    raise AssertionError(f"the run was not split: {text}")


def _run(paths: list[Path], jobs: int) -> tuple[list[str], str, AnalysisResult]:
    """EVE lines of every type (the stats line without its wall time) and the JSON report."""
    handle = io.StringIO()
    plan = OutputPlan(OutputFormat.eve, eve_types=set(EVE_TYPES))
    outputs = Outputs(plan, handle)
    assert outputs.eve is not None
    result = analyze_split(
        [str(p) for p in paths],
        jobs,
        rules=_rules(),
        app_report=plan.app_events,
        full_events=outputs.eve.types,
        notice=_no_fallback,
        **outputs.hooks(),
    )
    outputs.write_report(result)
    lines = handle.getvalue().splitlines()
    assert json.loads(lines[-1])["event_type"] == "stats"
    stats = json.loads(lines[-1])
    stats["stats"]["uptime"] = 0
    lines[-1] = json.dumps(stats)
    document = io.StringIO()
    outputs.handle = document
    outputs._write_json(result)  # the -f json document, from the same run
    return lines, document.getvalue(), result


def _assert_same(paths: list[Path], jobs: tuple[int, ...] = (2, 3)) -> list[dict[str, Any]]:
    lines, document, result = _run(paths, 1)
    for n in jobs:
        other_lines, other_document, other = _run(paths, n)
        assert other_lines == lines, f"EVE differs with --jobs {n}"
        assert other_document == document, f"JSON differs with --jobs {n}"
        assert other.finding_count == result.finding_count
        assert other.suppressed == result.suppressed
        assert other.detector_errors == result.detector_errors
        assert other.partial == result.partial
    return [json.loads(line) for line in lines]


# -- the whole public corpus --------------------------------------------------------------


def _corpus() -> list[Path]:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        return [CORPUS / row["file"] for row in csv.DictReader(f, delimiter="\t")]


@pytest.mark.skipif(not HAVE_CORPUS, reason=CORPUS_SKIP)
def test_every_corpus_capture_gives_the_same_output_with_2_and_3_jobs() -> None:
    checked = 0
    alerts = 0
    for path in _corpus():
        events = _assert_same([path])
        alerts += sum(1 for e in events if e["event_type"] == "alert")
        checked += 1
    assert checked >= 100  # the manifest lists the whole corpus
    assert alerts >= 100  # and it is not quiet: the identity covers real findings


# -- a generated capture with everything a wrong split would break --------------------------


class _Tcp:
    """One TCP connection with consistent sequence numbers (handshake, data, close)."""

    def __init__(self, cli: str, cport: int, srv: str, sport: int) -> None:
        self.cli, self.cport, self.srv, self.sport = cli, cport, srv, sport
        self.seq = [1000, 5000]  # next sequence number: client, server

    def _frame(self, direction: int, flags: int, payload: bytes = b"") -> bytes:
        seq, ack = self.seq[direction], self.seq[1 - direction]
        if direction == 0:
            seg = tcp(self.cport, self.sport, payload, flags, seq, ack)
            frame = ether(ipv4(seg, src=self.cli, dst=self.srv))
        else:
            seg = tcp(self.sport, self.cport, payload, flags, seq, ack)
            frame = ether(ipv4(seg, src=self.srv, dst=self.cli))
        self.seq[direction] = (seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) % 2**32
        return frame

    def open(self, t: float) -> list[tuple[float, bytes]]:
        self.seq = [999, 4999]
        out = [(t, self._frame(0, SYN))]
        out.append((t + 0.001, self._frame(1, SYN | ACK)))
        out.append((t + 0.002, self._frame(0, ACK)))
        return out

    def send(self, t: float, direction: int, payload: bytes) -> tuple[float, bytes]:
        return t, self._frame(direction, ACK | PSH, payload)

    def close(self, t: float) -> list[tuple[float, bytes]]:
        return [(t, self._frame(0, FIN | ACK)), (t + 0.001, self._frame(1, FIN | ACK)),
                (t + 0.002, self._frame(0, ACK))]


def _dga_names(n: int) -> list[str]:
    """Names the shipped model scores at 0.95 or more (dga-host-names counts >= 0.9)."""
    scorer = default_scorer()
    names: list[str] = []
    state = 12345
    while len(names) < n:
        label = ""
        for _ in range(14):
            state = (state * 1103515245 + 12345) % 2**31
            label += "bcdfghjklmnpqrstvwxz"[state % 20]
        name = f"{label}.info"
        if scorer.score(name) >= 0.95:
            names.append(name)
    return names


def _dns_query(qid: int, name: str) -> bytes:
    query = dpkt.dns.DNS(id=qid, qd=[dpkt.dns.DNS.Q(name=name, type=1, cls=1)])
    return bytes(query)


def _generated() -> list[tuple[float, bytes]]:
    records: list[tuple[float, bytes]] = []
    # A flow spanning the whole capture (open at the end: ended by the final flush), with
    # an HTTP request whose URL is split over three segments (sqli-union-select).
    web = _Tcp("10.9.0.1", 50000, "10.9.0.80", 80)
    records += web.open(T0)
    request = b"GET /item.php?id=1%20UNION%20SELECT%20password%20FROM%20users HTTP/1.1\r\n"
    request += b"Host: shop.example\r\nUser-Agent: t\r\n\r\n"
    for i, part in enumerate((request[:20], request[20:45], request[45:])):
        records.append(web.send(T0 + 0.01 + i * 0.01, 0, part))
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    records.append(web.send(T0 + 0.05, 1, answer))
    # FTP brute force: 12 failed logins, one per connection (12 flows, spread over the
    # processes): brute-force-ftp counts 10 within 120 s across flows and fires once.
    for i in range(12):
        t = T0 + 1 + i * 5
        ftp = _Tcp("10.9.1.1", 41000 + i, "10.9.0.21", 21)
        records += ftp.open(t)
        records.append(ftp.send(t + 0.01, 1, b"220 ready\r\n"))
        records.append(ftp.send(t + 0.02, 0, b"USER admin\r\n"))
        records.append(ftp.send(t + 0.03, 1, b"331 password please\r\n"))
        records.append(ftp.send(t + 0.04, 0, f"PASS guess{i}\r\n".encode()))
        records.append(ftp.send(t + 0.05, 1, b"530 Login incorrect.\r\n"))
        records += ftp.close(t + 0.06)
    # DGA names from one client, each query from its own port (its own flow): 12 names,
    # dga-host-names counts 10 distinct per client and fires once. The UDP flows time out
    # (120 s) in the middle of the capture.
    for i, name in enumerate(_dga_names(12)):
        query = udp(30000 + i, 53, _dns_query(i, name))
        frame = ether(ipv4(query, src="10.9.2.2", dst="10.9.0.53"))
        records.append((T0 + 2 + i * 0.5, frame))
    # A SYN scan of 60 ports of one host (a packet rule: scan-tcp-ports fires once).
    for i in range(60):
        seg = tcp(45000, 1 + i, b"", SYN, 7000, 0)
        records.append((T0 + 70 + i * 0.01, ether(ipv4(seg, src="10.9.3.3", dst="10.9.0.9"))))
    # Much later: the long flow goes on (a second request), new short flows start, and the
    # old UDP/TCP flows are swept out by timeout in between.
    for i in range(40):
        t = T0 + 400 + i
        frame = ether(ipv4(udp(20000 + i % 4, 53, _dns_query(100 + i, "www.example.org")),
                           src="10.9.4.4", dst="10.9.0.53"))
        records.append((t, frame))
    second = b"GET /index.html HTTP/1.1\r\nHost: shop.example\r\n\r\n"
    records.append(web.send(T0 + 420, 0, second))
    records.append(web.send(T0 + 420.01, 1, answer))
    records.sort(key=lambda r: r[0])
    return records


@pytest.fixture()
def generated(tmp_path: Path) -> Path:
    return write_pcap(tmp_path / "generated.pcap", _generated())


def test_generated_capture_is_identical_and_finds_what_crosses_flows(generated: Path) -> None:
    events = _assert_same([generated])
    alerts = [e for e in events if e["event_type"] == "alert"]
    by_rule = Counter(a["netsentry"]["rule_id"] for a in alerts)
    # cross-flow thresholds fire exactly once, with the full count
    assert by_rule["brute-force-ftp"] == 1
    brute = next(a for a in alerts if a["netsentry"]["rule_id"] == "brute-force-ftp")
    assert brute["netsentry"]["evidence"]["count"] == 10
    assert brute["src_ip"] == "10.9.1.1"
    assert by_rule["dga-host-names"] == 1
    dga = next(a for a in alerts if a["netsentry"]["rule_id"] == "dga-host-names")
    assert dga["netsentry"]["evidence"]["count"] == 10
    assert by_rule["scan-tcp-ports"] == 1
    # the request split over three segments is matched once, at its last segment
    sqli = [a for a in alerts if a["netsentry"]["rule_id"] == "sqli-union-select"]
    assert len(sqli) == 1
    assert sqli[0]["http"]["url"].startswith("/item.php?id=1%20UNION")
    assert sqli[0]["app_proto"] == "http"
    flows = [e for e in events if e["event_type"] == "flow"]
    reasons = Counter(f["flow"]["reason"] for f in flows)
    assert reasons["timeout"] > 12  # FTP, DGA and scan flows swept out mid-capture
    assert reasons["shutdown"] >= 2  # the long web flow and the late DNS flows: at the end
    web = [f for f in flows if f.get("app_proto") == "http"]
    assert len(web) == 1 and web[0]["flow"]["reason"] == "shutdown"
    assert sum(1 for e in events if e["event_type"] == "http") == 2


def test_flows_of_the_generated_capture_are_spread_over_the_processes(generated: Path) -> None:
    # the identity above means something only if each process owns some of the flows
    from netsentry.capture import open_capture
    from netsentry.decode import Decoder
    from netsentry.flows import FlowTable

    seen: list[Any] = []
    table = FlowTable(on_end=seen.append)
    decoder = Decoder()
    with open_capture(generated) as reader:
        for n, (ts, linktype, data, wirelen) in enumerate(reader.frames(), 1):
            pkt = decoder.decode(n, ts, linktype, data, wirelen)
            if pkt.family:
                table.lookup(pkt)
    table.flush()
    for processes in (2, 3):
        owners = Counter(Ownership(processes, 0.6).owner(f) for f in seen)
        assert set(owners) == set(range(processes)), owners


# -- the CLI: every format, --pcap-out, exit codes ------------------------------------------


def _invoke(args: list[str]) -> Result:
    return CliRunner(env=CLEAN_ENV).invoke(app, args)


@pytest.fixture()
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    yield


@pytest.mark.usefixtures("_in_tmp")
@pytest.mark.parametrize("fmt", ["table", "csv", "json", "eve"])
def test_cli_formats_and_pcap_out_are_identical(fmt: str) -> None:
    write_pcap(Path("g.pcap"), _generated())
    outputs: dict[str, tuple[bytes, bytes, bytes]] = {}
    for jobs in ("1", "2", "3"):
        result = _invoke(
            ["analyze", "-f", fmt, "-j", jobs, "--pcap-out", f"a{jobs}.pcap",
             "--html", f"r{jobs}.html", "--fail-on", "high", "g.pcap"]
        )
        assert result.exit_code == 1, result.output  # high findings: --fail-on high
        assert "notice" not in result.stderr
        html = Path(f"r{jobs}.html").read_text(encoding="utf-8")
        # the HTML report says when it was written (wall clock): not part of the identity
        html = re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "", html)
        outputs[jobs] = (result.stdout_bytes, Path(f"a{jobs}.pcap").read_bytes(), html.encode())
    assert outputs["2"] == outputs["1"]
    assert outputs["3"] == outputs["1"]
    assert len(outputs["1"][1]) > 1000  # the alerted flows' packets were written


@pytest.mark.usefixtures("_in_tmp")
def test_truncated_capture_gives_the_same_exit_code_and_warning() -> None:
    Path("cut.pcap").write_bytes(pcap_bytes(_generated())[:-7])
    results = [_invoke(["analyze", "-f", "eve", "-j", j, "cut.pcap"]) for j in ("1", "2")]
    assert results[0].exit_code == results[1].exit_code == 4
    assert results[0].stdout_bytes == results[1].stdout_bytes
    assert results[0].stderr == results[1].stderr
    assert "cut.pcap" in results[0].stderr


@pytest.mark.usefixtures("_in_tmp")
def test_standard_input_and_signature_rules_run_in_one_process_with_a_notice() -> None:
    data = pcap_bytes(_generated())
    result = CliRunner(env=CLEAN_ENV).invoke(app, ["analyze", "-f", "eve", "-j", "2", "-"],
                                             input=data)
    assert result.exit_code == 0, result.output
    assert "notice: --jobs 2: analyzing in one process (standard input is read once)" in (
        result.stderr
    )
    assert fallback_reason(["-"], None) == "standard input is read once"
    os.mkfifo("pipe")
    assert fallback_reason(["pipe"], None) == (
        "pipe is not a regular file and can be read only once"
    )
    assert fallback_reason(["a.pcap"], _rules()) is None
    assert fallback_reason(["a.pcap"], _rules(), []) == (
        "no application decoders run, so there is nothing to split by flow"
    )
    assert fallback_reason(["a.pcap"], _rules(), ["dns"]) is None


def test_auto_jobs_splits_only_big_inputs(tmp_path: Path) -> None:
    small = write_pcap(tmp_path / "small.pcap", _generated())
    assert auto_jobs([str(small)]) == 1
    assert auto_jobs(["-"]) == 1
    big = tmp_path / "big.pcap"
    with big.open("wb") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: the size is all auto_jobs reads
    assert auto_jobs([str(big)]) == (os.cpu_count() or 1)


def test_values_cross_processes_as_the_same_objects() -> None:
    value = {
        "a": [b"\x00\x01", ("x", 1, 2.5), None, True],
        "\x00b": "a captured key that looks like a tag",
        "nested": {(b"\x0a\x00\x00\x01", 80): {"k": b""}},
        "big": 2**70,
    }
    back = loads(json.dumps(pack(value)))
    assert back == value
    assert type(back["a"][1]) is tuple and type(back["a"][0]) is bytes
    with pytest.raises(TypeError):
        pack({"x": bytearray(b"1")})


def test_a_failed_worker_means_one_process_again_and_no_spool_is_left(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    import netsentry.streamjobs as streamjobs

    spools = tmp_path / "spools"
    spools.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spools))
    lines, _document, _ = _run([generated], 1)

    def dies(*args: Any) -> None:
        os._exit(3)  # a worker that ends without its result (forked: sees this patch)

    monkeypatch.setattr(streamjobs, "_worker", dies)
    notices: list[str] = []
    handle = io.StringIO()
    plan = OutputPlan(OutputFormat.eve, eve_types=set(EVE_TYPES))
    outputs = Outputs(plan, handle)
    result = analyze_split(
        [str(generated)], 2, rules=_rules(), app_report=True, notice=notices.append,
        **outputs.hooks(),
    )
    outputs.write_report(result)
    assert notices == [
        "--jobs 2: worker 1 ended without a result (exit code 3); analyzing again in one process"
    ]
    again = handle.getvalue().splitlines()
    assert again[:-1] == lines[:-1]  # the same EVE lines (the last is stats, with uptime)
    assert list(spools.iterdir()) == []  # the spool folder was removed


def test_spool_lines_survive_line_separators_and_lone_surrogates(tmp_path: Path) -> None:
    from netsentry.flowsplit import Spool
    from netsentry.streamjobs import _ENCODING, _records

    path = tmp_path / "spool.jsonl"
    odd = "a\u2028b\x85c\rd\ne\udcff"
    with open(path, "w", **_ENCODING) as handle:  # type: ignore[call-overload]
        spool = Spool(handle)
        spool.slot(7, 2)
        spool._write("T", pack({"v": odd, "b": b"\xff"}))
        spool._write("T", 1)
    assert list(_records(str(path))) == [
        [7, 2, 0, 1, "T", {"v": odd, "b": b"\xff"}],
        [7, 2, 0, 2, "T", 1],
    ]
