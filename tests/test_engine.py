"""The analysis pass: opening inputs, merging them by time, numbering, streaming."""

from __future__ import annotations

import io
import itertools
import os
import struct
from contextlib import ExitStack
from pathlib import Path

import pytest

from netsentry import capture
from netsentry.capture import CHUNK, CaptureReader
from netsentry.decode import Decoder
from netsentry.engine import PROGRESS_EVERY, analyze, open_all, packets
from netsentry.errors import CaptureError, ExitCode, NotACaptureError, UsageError
from netsentry.model import ip_text
from tests.factories import (
    ether,
    gzipped,
    ipv4,
    pcap_bytes,
    tcp,
    udp,
    write_pcap,
    write_pcapng,
)

T0 = 1706702400.0


def _tagged(tag: bytes) -> bytes:
    """A UDP frame whose payload names it, so the order of a stream can be read back."""
    return ether(ipv4(udp(payload=tag)))


def _payloads(paths: list[Path]) -> list[tuple[int, bytes]]:
    with ExitStack() as stack:
        readers = open_all(paths, stack)
        return [(p.num, p.payload) for p in packets(readers, Decoder())]


def test_merge_orders_by_timestamp_and_file_order_breaks_ties(tmp_path: Path) -> None:
    a = write_pcap(
        tmp_path / "a.pcap",
        [(T0 + 1, _tagged(b"A1")), (T0 + 2, _tagged(b"A2")), (T0 + 2, _tagged(b"A3")),
         (T0 + 4, _tagged(b"A4"))],
    )
    b = write_pcap(
        tmp_path / "b.pcap",
        [(T0 + 0.5, _tagged(b"B1")), (T0 + 2, _tagged(b"B2")), (T0 + 3, _tagged(b"B3"))],
    )
    assert _payloads([a, b]) == [
        (1, b"B1"), (2, b"A1"), (3, b"A2"), (4, b"A3"), (5, b"B2"), (6, b"B3"), (7, b"A4"),
    ]
    # the other way round, ties go to b first
    assert [tag for _n, tag in _payloads([b, a])] == [
        b"B1", b"A1", b"B2", b"A2", b"A3", b"B3", b"A4",
    ]


def test_merge_keeps_file_order_for_out_of_order_timestamps_in_one_file(tmp_path: Path) -> None:
    one = write_pcap(
        tmp_path / "one.pcap",
        [(T0 + 5, _tagged(b"late")), (T0 + 1, _tagged(b"early")), (T0 + 3, _tagged(b"mid"))],
    )
    assert _payloads([one]) == [(1, b"late"), (2, b"early"), (3, b"mid")]


def test_packets_are_numbered_from_one_across_files(tmp_path: Path) -> None:
    a = write_pcap(tmp_path / "a.pcap", [(T0 + i, _tagged(b"a")) for i in range(3)])
    b = write_pcapng(tmp_path / "b.pcapng", [(T0 + 10 + i, _tagged(b"b")) for i in range(2)])
    with ExitStack() as stack:
        readers = open_all([a, b], stack)
        nums = [p.num for p in packets(readers, Decoder())]
    assert nums == [1, 2, 3, 4, 5]


def test_merge_of_different_link_types_decodes_each_frame_with_its_own(tmp_path: Path) -> None:
    eth = write_pcap(tmp_path / "eth.pcap", [(T0 + 1, ether(ipv4(tcp(), src="10.1.1.1")))])
    raw = write_pcap(tmp_path / "raw.pcap", [(T0 + 0, ipv4(udp(), src="10.2.2.2"))], linktype=101)
    with ExitStack() as stack:
        readers = open_all([eth, raw], stack)
        got = [(p.proto_name, ip_text(p.src)) for p in packets(readers, Decoder())]
    assert got == [("UDP", "10.2.2.2"), ("TCP", "10.1.1.1")]
    summary = analyze([eth, raw]).summary
    assert [c.linktypes for c in summary.captures] == [[1], [101]]


def test_analyze_counts_packets_per_capture(tmp_path: Path) -> None:
    a = write_pcap(tmp_path / "a.pcap", [(T0 + i, _tagged(b"a")) for i in range(4)])
    gz = tmp_path / "b.pcap.gz"
    gz.write_bytes(gzipped(pcap_bytes([(T0 + 0.5, _tagged(b"b"))])))
    result = analyze([a, gz])
    summary = result.summary
    assert summary.packets == 5
    assert [(c.name, c.format, c.compressed, c.packets) for c in summary.captures] == [
        (str(a), "pcap", False, 4),
        (str(gz), "pcap", True, 1),
    ]
    assert not result.damaged


def test_analyze_reads_stdin_once(tmp_path: Path) -> None:
    data = pcap_bytes([(T0 + i, _tagged(b"s")) for i in range(3)])
    a = write_pcap(tmp_path / "a.pcap", [(T0 + 1.5, _tagged(b"a"))])
    summary = analyze(["-", a], stdin=io.BytesIO(data)).summary
    assert summary.packets == 4
    assert [(c.name, c.packets) for c in summary.captures] == [("<stdin>", 3), (str(a), 1)]


def test_damaged_input_marks_the_result_damaged(tmp_path: Path) -> None:
    good = write_pcap(tmp_path / "good.pcap", [(T0 + i, _tagged(b"g")) for i in range(3)])
    data = pcap_bytes([(T0 + i, _tagged(b"c")) for i in range(2)])
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-5])
    result = analyze([good, cut])
    assert result.damaged
    assert [(c.packets, c.truncated) for c in result.summary.captures] == [(3, False), (1, True)]
    assert result.summary.packets == 4
    (warning,) = result.summary.warnings()
    # 24-byte file header + one 16+43-byte record; the second record lacks 5 bytes
    assert warning == (
        f"{cut}: file truncated in a record at byte offset 83 (54 of 59 bytes present); "
        "analyzed everything before it"
    )


# -- laziness and progress -------------------------------------------------------------------


def _big_capture(path: Path, count: int) -> Path:
    """``count`` identical 60-byte frames, built without a per-record Python loop."""
    frame = ether(ipv4(tcp()))[:60].ljust(60, b"\x00")
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    record = struct.pack("<IIII", int(T0), 0, len(frame), len(frame)) + frame
    path.write_bytes(header + record * count)
    return path


def test_packets_generator_is_lazy(tmp_path: Path) -> None:
    big = _big_capture(tmp_path / "big.pcap", 80_000)  # 6.1 MB
    size = big.stat().st_size
    assert size > 5 * CHUNK
    with ExitStack() as stack:
        (reader,) = open_all([big], stack)
        stream = packets([reader], Decoder())
        assert reader.bytes_read <= 64  # at most the header, sniffed at open
        first = list(itertools.islice(stream, 3))
        assert [p.num for p in first] == [1, 2, 3]
        assert [p.proto_name for p in first] == ["TCP", "TCP", "TCP"]
        assert reader.bytes_read <= CHUNK + 4  # one read chunk, not the file
        assert reader.bytes_read < size


def test_progress_reports_bytes_read_and_ends_at_the_file_size(tmp_path: Path) -> None:
    count = 3 * PROGRESS_EVERY + 100
    big = _big_capture(tmp_path / "big.pcap", count)
    calls: list[int] = []
    summary = analyze([big], progress=calls.append).summary
    assert summary.packets == count
    assert len(calls) == 4  # after 8192, 16384 and 24576 packets, then once at the end
    assert calls == sorted(calls)
    assert calls[-1] == big.stat().st_size


def test_on_open_sees_every_reader_before_analysis(tmp_path: Path) -> None:
    a = write_pcap(tmp_path / "a.pcap", [(T0, _tagged(b"a"))])
    b = write_pcap(tmp_path / "b.pcap", [(T0, _tagged(b"b"))])
    seen: list[list[str]] = []

    def on_open(readers: list[CaptureReader]) -> None:
        seen.append([r.name for r in readers])
        assert all(r.bytes_read <= 64 for r in readers)  # opened, not yet read

    analyze([a, b], on_open=on_open)
    assert seen == [[str(a), str(b)]]


# -- open_all: all or nothing ------------------------------------------------------------------


def test_open_all_needs_a_capture() -> None:
    with ExitStack() as stack, pytest.raises(UsageError) as info:
        open_all([], stack)
    assert str(info.value) == "no capture given"
    assert info.value.exit_code is ExitCode.USAGE


def test_open_all_rejects_stdin_twice() -> None:
    with ExitStack() as stack, pytest.raises(UsageError) as info:
        open_all(["-", "-"], stack, io.BytesIO(b""))
    assert str(info.value) == "standard input ('-') can be given only once"


def test_analyze_without_paths_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^no capture given$"):
        analyze([])


@pytest.mark.interpreted_only("wraps engine.open_capture")
def test_unreadable_second_file_raises_before_any_analysis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write_pcap(tmp_path / "good.pcap", [(T0 + i, _tagged(b"g")) for i in range(3)])
    missing = tmp_path / "missing.pcap"
    opened: list[CaptureReader] = []
    real_open = capture.open_capture

    def recording_open(source: str | os.PathLike[str], *, stdin: object = None) -> CaptureReader:
        reader = real_open(source)
        opened.append(reader)
        return reader

    monkeypatch.setattr("netsentry.engine.open_capture", recording_open)
    progress: list[int] = []
    on_open: list[int] = []
    with pytest.raises(CaptureError) as info:
        analyze([good, missing], progress=progress.append,
                on_open=lambda readers: on_open.append(len(readers)))
    assert str(info.value) == f"{missing}: no such file"
    assert info.value.exit_code is ExitCode.INPUT
    assert (progress, on_open) == ([], [])
    (first,) = opened
    assert first.bytes_read <= 64  # nothing of the good file (201 bytes) was analyzed...
    assert first._raw.closed  # ...and it was closed again


def test_text_second_file_is_not_a_capture(tmp_path: Path) -> None:
    good = write_pcap(tmp_path / "good.pcap", [(T0, _tagged(b"g"))])
    text = tmp_path / "notes.txt"
    text.write_text("hello\n", encoding="utf-8")
    with pytest.raises(NotACaptureError) as info:
        analyze([good, text])
    assert str(info.value) == f"{text}: not a pcap or pcapng file"


def test_findings_can_be_streamed_instead_of_kept(tmp_path: Path) -> None:
    """on_finding sees every finding as made; on_flow_end every flow after its findings."""
    from netsentry.findings import Finding
    from netsentry.flows import Flow
    from tests.test_eve import capture, ruleset

    pcap, rules = capture(tmp_path), ruleset(tmp_path)
    kept = analyze([pcap], rules=rules, app_report=False)
    seen: list[Finding] = []
    ended: list[Flow] = []
    order: list[str] = []

    def on_finding(finding: Finding) -> None:
        seen.append(finding)
        order.append(f"finding {finding.flow.flow_id if finding.flow else 0}")

    def on_flow_end(flow: Flow) -> None:
        ended.append(flow)
        order.append(f"end {flow.flow_id}")

    streamed = analyze(
        [pcap], rules=rules, app_report=False, on_finding=on_finding, on_flow_end=on_flow_end,
        keep_findings=False,
    )
    assert streamed.findings == [] and streamed.finding_count == len(seen) == 12
    assert kept.finding_count == 12
    assert sorted(f.sort_key() for f in seen) == [f.sort_key() for f in kept.findings]
    assert len(ended) == 10 == kept.flow_counters["flows"]
    for flow in ended:  # a flow's findings all come before its end
        last_finding = max(
            (i for i, o in enumerate(order) if o == f"finding {flow.flow_id}"), default=-1
        )
        assert last_finding < order.index(f"end {flow.flow_id}")
