"""``--pcap-out``: every packet of every flow that raised a finding, nothing else, as written.

The expected count comes from the run's own EVE ``flow`` events (packets to server
plus to client of each flow whose ``flow_id`` has an alert), and ``tcpdump -r`` must
read the file and count the same (skipped with a reason where tcpdump is missing).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from netsentry.capture import open_capture
from netsentry.cli import app
from netsentry.fragments import Defragmenter
from netsentry.pcapout import PcapngWriter, PcapWriter, Spool, _InOrder
from tests.factories import (
    Record,
    ether,
    icmp_echo,
    ipv4,
    ipv4_fragment,
    pcap_bytes,
    udp,
    udp_raw,
    write_pcap,
)
from tests.test_eve import RULES, T0, Conv, capture

TCPDUMP = shutil.which("tcpdump")
TSHARK = shutil.which("tshark")
needs_tcpdump = pytest.mark.skipif(
    TCPDUMP is None, reason="tcpdump not installed (.ci/run installs it with apt-get)"
)
needs_tshark = pytest.mark.skipif(
    TSHARK is None, reason="tshark not installed (.ci/run installs it with apt-get)"
)


def _frames(path: Path) -> list[tuple[int, int, bytes, int]]:
    with ExitStack() as stack:
        reader = stack.enter_context(open_capture(path))
        return [(ts, lt, bytes(data), wl) for ts, lt, data, wl in reader.frames()]


def _tcpdump_count(path: Path) -> int:
    assert TCPDUMP is not None
    proc = subprocess.run(
        [TCPDUMP, "-n", "-r", str(path)], capture_output=True, timeout=60, check=True
    )
    return len(proc.stdout.splitlines())


def _run(args: list[str], input: bytes | None = None) -> Any:
    result = CliRunner().invoke(app, ["analyze", "--no-progress", *args], input=input)
    return result


def _expected(eve_path: Path) -> tuple[int, set[int], list[dict[str, Any]]]:
    events = [json.loads(line) for line in eve_path.read_text(encoding="utf-8").splitlines()]
    alerted = {e["flow_id"] for e in events if e["event_type"] == "alert" and "flow_id" in e}
    flows = [e for e in events if e["event_type"] == "flow"]
    packets = sum(
        f["flow"]["pkts_toserver"] + f["flow"]["pkts_toclient"]
        for f in flows
        if f["flow_id"] in alerted
    )
    return packets, alerted, flows


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return path


def _with_quiet_flows(tmp_path: Path) -> Path:
    """The EVE test capture plus two flows that raise nothing (they must stay out)."""
    records: list[Record] = []
    Conv(records, "10.0.0.7", "10.0.0.8", 50000, 8080, T0 + 0.5).open().send(b"hello").close()
    # an echo request with no reply (the rules fire on UDP flows and on echo replies)
    records.append((T0 + 0.7, ether(ipv4(icmp_echo(b"quiet"), "10.0.0.7", "10.0.0.8"))))
    base = capture(tmp_path)
    merged = sorted(
        [(ts / 1e9, data) for ts, _lt, data, _wl in _frames(base)] + records,
        key=lambda r: r[0],
    )
    return write_pcap(tmp_path / "mixed.pcap", merged)


@pytest.mark.parametrize("via_stdin", [False, True], ids=["file", "stdin"])
def test_pcap_out_holds_exactly_the_alerted_flows(
    tmp_path: Path, rules_file: Path, via_stdin: bool
) -> None:
    pcap = _with_quiet_flows(tmp_path)
    out, eve = tmp_path / "alerts.pcap", tmp_path / "eve.json"
    args = ["-r", str(rules_file), "-f", "eve", "--eve-types", "alert,flow", "-o", str(eve)]
    args += ["--pcap-out", str(out)]
    stdin = pcap.read_bytes() if via_stdin else None
    result = _run([*args, "-" if via_stdin else str(pcap)], input=stdin)
    assert result.exit_code == 0, result.output
    packets, alerted, flows = _expected(eve)
    assert len(alerted) == 10  # one flow per rule family of the EVE test capture
    assert len(flows) == 12  # and the two quiet flows
    written = _frames(out)
    assert len(written) == packets == 63
    # original order and timestamps: a subsequence of the input with equal bytes
    original = _frames(pcap)
    it = iter(original)
    assert all(any(frame == other for other in it) for frame in written)
    assert not any(b"quiet" in data or b"hello" in data for _ts, _lt, data, _wl in written)
    assert out.read_bytes()[:4] == b"\x4d\x3c\xb2\xa1"  # pcap, nanosecond timestamps


@needs_tcpdump
def test_tcpdump_reads_the_alert_pcap(tmp_path: Path, rules_file: Path) -> None:
    pcap = _with_quiet_flows(tmp_path)
    out, eve = tmp_path / "alerts.pcap", tmp_path / "eve.json"
    result = _run(
        ["-r", str(rules_file), "-f", "eve", "--eve-types", "alert,flow", "-o", str(eve),
         "--pcap-out", str(out), str(pcap)]
    )
    assert result.exit_code == 0, result.output
    packets, _alerted, _flows = _expected(eve)
    assert _tcpdump_count(out) == packets == 63


def test_no_findings_gives_an_empty_but_valid_pcap(tmp_path: Path) -> None:
    pcap = write_pcap(tmp_path / "q.pcap", [(T0, ether(ipv4(udp(1, 2, b"x"))))])
    out = tmp_path / "none.pcap"
    result = _run(["--no-rules", "-f", "eve", "--pcap-out", str(out), str(pcap)])
    assert result.exit_code == 0, result.output
    assert len(out.read_bytes()) == 24 and _frames(out) == []


@needs_tshark
def test_mixed_link_types_become_pcapng(tmp_path: Path, rules_file: Path) -> None:
    """An Ethernet capture and a raw-IP one (link type 101) merged: one pcapng, two interfaces.

    Read back with tshark (Wireshark's reader): libpcap, hence tcpdump, refuses a pcapng
    whose interfaces have different link types; the README says so.
    """
    records: list[Record] = []
    Conv(records, "10.0.0.1", "10.0.0.2", 40000, 80, T0).open().send(
        b"GET /evil HTTP/1.1\r\nHost: a\r\n\r\n"
    ).close()
    eth = write_pcap(tmp_path / "eth.pcap", records)
    raw_records = [(T0 + 0.5 + i, bytes(ipv4(udp(7, 9, b"/evil"), "10.9.0.1", "10.9.0.2")))
                   for i in range(2)]
    raw = tmp_path / "raw.pcap"
    raw.write_bytes(pcap_bytes(raw_records, linktype=101))
    rules = tmp_path / "udp.yaml"
    rules.write_text(
        RULES + "  - id: udp-evil\n    sid: 2000020\n    title: evil in UDP\n"
        "    category: exploit\n    severity: low\n    field: payload\n    content: /evil\n",
        encoding="utf-8",
    )
    out, eve = tmp_path / "alerts.pcapng", tmp_path / "eve.json"
    result = _run(
        ["-r", str(rules), "-f", "eve", "--eve-types", "alert,flow", "-o", str(eve),
         "--pcap-out", str(out), str(eth), str(raw)]
    )
    assert result.exit_code == 0, result.output
    packets, alerted, _flows = _expected(eve)
    assert len(alerted) == 2
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    written = _frames(out)
    assert sorted({lt for _ts, lt, _d, _w in written}) == [1, 101]
    assert len(written) == packets == 7 + 2  # handshake, request, close; two datagrams
    assert TSHARK is not None
    proc = subprocess.run(
        [TSHARK, "-n", "-r", str(out)], capture_output=True, timeout=60, check=True
    )
    assert len(proc.stdout.splitlines()) == packets


def test_writers_round_trip_through_our_reader(tmp_path: Path) -> None:
    frames = [(1_706_702_400_123_456_789, 1, b"\x01" * 60, 60), (1_706_702_401_000_000_001, 1,
              b"\x02" * 61, 1500)]
    path = tmp_path / "w.pcap"
    with path.open("wb") as f:
        writer = PcapWriter(f, 1)
        for frame in frames:
            writer.write(*frame)
    assert _frames(path) == frames  # nanoseconds and original lengths survive
    path = tmp_path / "w.pcapng"
    with path.open("wb") as f:
        ng = PcapngWriter(f)
        ng.write(*frames[0])
        ng.write(frames[1][0], 101, frames[1][2], frames[1][3])
    assert _frames(path) == [frames[0], (frames[1][0], 101, frames[1][2], frames[1][3])]


def test_spool_copies_what_is_read() -> None:
    source, copy = io.BytesIO(b"abcdef" * 1000), io.BytesIO()
    spool = Spool(source, copy)
    assert spool.read(4) == b"abcd"
    buffer = bytearray(10)
    assert spool.readinto(buffer) == 10
    rest = spool.read()
    assert copy.getvalue() == b"abcdef" * 1000 == b"abcd" + bytes(buffer) + rest


def _fragmented_capture(tmp_path: Path) -> tuple[Path, list[bytes], list[bytes]]:
    """A UDP datagram carrying /evil in three IPv4 fragments, interleaved with other traffic.

    Returns the capture, the frames that belong to the alerted flow (in capture order)
    and those that must stay out.
    """
    evil = udp_raw(5000, 6000, b"GET /evil please, this needs three fragments!")
    quiet = udp_raw(7000, 8000, b"nothing to see here, nothing at all, no sir....")

    def frag(datagram: bytes, at: int, size: int, ident: int, src: str = "10.0.0.1") -> bytes:
        piece = datagram[at : at + size]
        last = at + size >= len(datagram)
        return ether(ipv4_fragment(piece, at, more=not last, ident=ident, src=src))

    flow = [
        frag(evil, 0, 16, 0x1234),
        ether(ipv4(udp(5000, 6000, b"same flow, not fragmented"), "10.0.0.1", "10.0.0.2")),
        frag(evil, 16, 16, 0x1234),
        frag(evil, 32, 32, 0x1234),  # completes the datagram: the alert
        ether(ipv4(udp(5000, 6000, b"same flow, later"), "10.0.0.1", "10.0.0.2")),
    ]
    others = [
        frag(quiet, 0, 16, 0x4321),  # a quiet fragmented datagram, completed
        ether(ipv4(udp(9000, 9001, b"another flow"), "10.0.0.3", "10.0.0.4")),
        frag(quiet, 16, 40, 0x4321),
        frag(evil, 0, 16, 0x7777, src="10.0.0.9"),  # never completed: no flow at all
    ]
    order = [others[0], flow[0], others[1], flow[1], flow[2], others[2], others[3], flow[3],
             flow[4]]
    path = write_pcap(tmp_path / "frag.pcap", [(T0 + i * 0.01, f) for i, f in enumerate(order)])
    return path, flow, others


@pytest.mark.parametrize("tool", ["ours", "tcpdump"])
def test_pcap_out_writes_every_fragment_of_a_reassembled_datagram(
    tmp_path: Path, tool: str
) -> None:
    if tool == "tcpdump" and TCPDUMP is None:
        pytest.skip("tcpdump not installed (.ci/run installs it with apt-get)")
    pcap, flow, others = _fragmented_capture(tmp_path)
    rules = tmp_path / "udp.yaml"
    rules.write_text(
        "rules:\n  - id: udp-evil\n    sid: 2000020\n    title: evil in UDP\n"
        "    category: exploit\n    severity: low\n    field: payload\n    content: /evil\n",
        encoding="utf-8",
    )
    out, eve = tmp_path / "alerts.pcap", tmp_path / "eve.json"
    result = _run(["-r", str(rules), "-f", "eve", "--eve-types", "alert,flow", "-o", str(eve),
                   "--pcap-out", str(out), str(pcap)])
    assert result.exit_code == 0, result.output
    packets, alerted, _flows = _expected(eve)
    assert len(alerted) == 1 and packets == 3  # the flow table counts the datagram once
    if tool == "tcpdump":
        assert _tcpdump_count(out) == len(flow) == 5
        return
    written = [data for _ts, _lt, data, _wl in _frames(out)]
    assert written == flow  # every fragment, in capture order, original bytes
    assert not any(frame in written for frame in others)


class _Frames:
    """A writer that remembers what it was given."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, ts: int, linktype: int, data: bytes, wirelen: int) -> None:
        self.frames.append(data)


def test_held_frames_are_released_once_a_fragment_can_no_longer_complete() -> None:
    """A lone fragment holds the flow's later frames only for the reassembly timeout."""
    defrag = Defragmenter(timeout_ns=10 * 10**9)
    out = _Frames()
    order = _InOrder(out, defrag)  # type: ignore[arg-type]
    key = (b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", 17, 1)
    assert defrag.add(0, key, 0, True, 17, b"x" * 16) is None
    order.fragment((0, 1, b"lone fragment", 50), key)
    order.packet((5 * 10**9, 1, b"wanted 1", 50), True, None)
    order.packet((6 * 10**9, 1, b"unwanted", 50), False, None)
    assert out.frames == [] and len(order.queue) == 2  # the fragment may still complete
    order.packet((11 * 10**9, 1, b"wanted 2", 50), True, None)
    assert out.frames == [b"wanted 1", b"wanted 2"] and not order.queue and not order.by_key


def test_fragments_of_a_wanted_datagram_are_written_before_later_frames() -> None:
    defrag = Defragmenter()
    out = _Frames()
    order = _InOrder(out, defrag)  # type: ignore[arg-type]
    key = (b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", 17, 1)
    defrag.add(0, key, 0, True, 17, b"x" * 16)
    order.fragment((0, 1, b"first", 50), key)
    order.packet((1, 1, b"same flow", 50), True, None)
    assert out.frames == []
    order.packet((2, 1, b"last", 50), True, key)
    order.finish()
    assert out.frames == [b"first", b"same flow", b"last"]
