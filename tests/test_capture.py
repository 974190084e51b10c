"""netsentry.capture: pcap/pcapng framing, gzip, stdin, damage handling, streaming."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest

from netsentry.capture import CaptureReader, Frame, open_capture
from netsentry.errors import CaptureError, NotACaptureError
from tests.factories import (
    ether,
    gzipped,
    ipv4,
    pcap_header,
    pcap_record,
    pcapng_block,
    pcapng_epb,
    pcapng_idb,
    pcapng_idb_options,
    pcapng_pb,
    pcapng_shb,
    pcapng_spb,
    udp,
    write_pcap,
    write_pcapng,
)


def frame(n: int, size: int = 60) -> bytes:
    """A distinct Ethernet/IPv4/UDP frame of exactly ``size`` bytes."""
    base: bytes = ether(ipv4(udp(payload=bytes([n & 0xFF]) * (size - 42))))
    assert len(base) == size
    return base


def read_all(path: Path | str, **kw: io.BytesIO) -> tuple[CaptureReader, list[Frame]]:
    with open_capture(path, **kw) as reader:
        frames = list(reader.frames())
    return reader, frames


class ShortReads(io.RawIOBase):
    """A pipe that hands out 1, 2 or 3 bytes per read(), whatever was asked."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self._step = 0
        self.calls = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        self._step = self._step % 3 + 1
        n = self._step if size < 0 else min(size, self._step)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


# -- classic pcap ------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(
    ("nano", "frac", "expected_ns"),
    [(False, 123456, 1_700_000_000_123_456_000), (True, 123456789, 1_700_000_000_123_456_789)],
)
def test_pcap_byte_order_and_resolution(
    tmp_path: Path, order: str, nano: bool, frac: int, expected_ns: int
) -> None:
    f1, f2 = frame(1), frame(2, 100)
    data = (
        pcap_header(1, order=order, nano=nano)
        + pcap_record(1_700_000_000, frac, f1, order=order)
        + pcap_record(1_700_000_001, 0, f2, order=order, origlen=1500)
    )
    path = tmp_path / "x.pcap"
    path.write_bytes(data)
    reader, frames = read_all(path)
    assert frames == [(expected_ns, 1, f1, 60), (1_700_000_001_000_000_000, 1, f2, 1500)]
    assert reader.format == "pcap"
    assert reader.compressed is False
    assert reader.linktypes == {1}
    assert reader.warnings == []
    assert reader.truncated is False
    assert reader.name == str(path)
    assert reader.size == len(data)
    assert reader.bytes_read == len(data)


def test_pcap_written_by_dpkt(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "d.pcap", [(1.5, frame(1)), (2.25, frame(2))], linktype=101)
    _, frames = read_all(path)
    assert frames == [(1_500_000_000, 101, frame(1), 60), (2_250_000_000, 101, frame(2), 60)]


def test_pcap_bytes_factory_nanoseconds_big_endian(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "n.pcap", [(3.5, frame(7))], nano=True, big_endian=True)
    _, frames = read_all(path)
    assert frames == [(3_500_000_000, 1, frame(7), 60)]


def test_pre_2_3_pcap_has_caplen_and_len_swapped(tmp_path: Path) -> None:
    f = frame(1)
    # version 2.2 writers put the original length first: caplen field 1500, len field 60
    data = pcap_header(version=(2, 2)) + pcap_record(5, 0, f, caplen=1500, origlen=60)
    path = tmp_path / "old.pcap"
    path.write_bytes(data)
    reader, frames = read_all(path)
    assert frames == [(5_000_000_000, 1, f, 1500)]
    assert reader.warnings == []


def test_pcap_2_3_swaps_only_when_caplen_exceeds_len(tmp_path: Path) -> None:
    f1, f2 = frame(1), frame(2)
    data = (
        pcap_header(version=(2, 3))
        + pcap_record(1, 0, f1, caplen=1500, origlen=60)  # swapped writer
        + pcap_record(2, 0, f2, caplen=60, origlen=1500)  # normal record
    )
    path = tmp_path / "v23.pcap"
    path.write_bytes(data)
    _, frames = read_all(path)
    assert frames == [(1_000_000_000, 1, f1, 1500), (2_000_000_000, 1, f2, 1500)]


def test_pcap_linktype_fcs_bits_are_masked(tmp_path: Path) -> None:
    path = tmp_path / "fcs.pcap"
    path.write_bytes(pcap_header(0x30000001) + pcap_record(1, 0, frame(1)))
    reader, frames = read_all(path)
    assert reader.linktypes == {1}
    assert [f[1] for f in frames] == [1]


def test_empty_pcap_has_no_frames_and_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(pcap_header(113))
    reader, frames = read_all(path)
    assert frames == []
    assert reader.warnings == []
    assert reader.truncated is False
    assert reader.linktypes == {113}


# -- pcapng ------------------------------------------------------------------------


def test_pcapng_interfaces_link_types_and_resolutions(tmp_path: Path) -> None:
    f1, f2, f3, f4 = frame(1), frame(2, 61), frame(3), frame(4)
    data = (
        pcapng_shb()
        + pcapng_idb(1)  # no if_tsresol: microseconds
        + pcapng_idb(101, tsresol=9)  # nanoseconds
        + pcapng_idb(0, tsresol=0x8A)  # 2^-10 seconds
        + pcapng_idb_options(113, [(9, b"\x03"), (14, (100).to_bytes(8, "little"))])
        + pcapng_epb(0, 1_700_000_000_123_456, f1)
        + pcapng_epb(1, 1_700_000_000_987_654_321, f2)
        + pcapng_epb(2, 5 * 1024 + 512, f3)  # 5.5 s
        + pcapng_epb(3, 2_250, f4)  # 2.25 s in milliseconds, plus if_tsoffset 100 s
    )
    path = tmp_path / "multi.pcapng"
    path.write_bytes(data)
    reader, frames = read_all(path)
    assert frames == [
        (1_700_000_000_123_456_000, 1, f1, 60),
        (1_700_000_000_987_654_321, 101, f2, 61),
        (5_500_000_000, 0, f3, 60),
        (102_250_000_000, 113, f4, 60),
    ]
    assert reader.format == "pcapng"
    assert reader.linktypes == {0, 1, 101, 113}
    assert reader.warnings == []
    assert reader.bytes_read == len(data)


def test_pcapng_written_by_dpkt(tmp_path: Path) -> None:
    path = write_pcapng(tmp_path / "d.pcapng", [(10.5, frame(1)), (11.0, frame(2))], linktype=1)
    reader, frames = read_all(path)
    assert frames == [(10_500_000_000, 1, frame(1), 60), (11_000_000_000, 1, frame(2), 60)]
    assert reader.warnings == []


def test_pcapng_second_section_in_other_byte_order_resets_interfaces(tmp_path: Path) -> None:
    f1, f2, f3 = frame(1), frame(2), frame(3)
    first = pcapng_shb() + pcapng_idb(1) + pcapng_idb(101) + pcapng_epb(1, 1_000_000, f1)
    second = pcapng_shb(">") + pcapng_idb(113, tsresol=9, order=">")
    second += pcapng_epb(0, 7, f2, ">")
    bad = pcapng_epb(1, 8, f3, ">")  # interface 1 belonged to the first section only
    path = tmp_path / "sections.pcapng"
    path.write_bytes(first + second + bad)
    reader, frames = read_all(path)
    assert frames == [(1_000_000_000, 101, f1, 60), (7, 113, f2, 60)]
    offset = len(first + second)
    assert reader.warnings == [
        f"{path}: corrupt block at byte offset {offset}: packet names interface 1, "
        "which is not defined; stopped reading"
    ]
    assert reader.truncated is True
    assert reader.linktypes == {1, 101, 113}


def test_pcapng_obsolete_packet_block_and_simple_packet_block(tmp_path: Path) -> None:
    f1, f2, f3 = frame(1), frame(2, 61), frame(3, 63)  # odd lengths exercise the padding
    data = (
        pcapng_shb()
        + pcapng_idb(1, tsresol=9)
        + pcapng_pb(0, 4_000_000_001, f1)
        + pcapng_spb(f2)  # no timestamp: the previous packet's is reused
        + pcapng_spb(f3)
    )
    path = tmp_path / "old.pcapng"
    path.write_bytes(data)
    reader, frames = read_all(path)
    ts = 4_000_000_001
    assert frames == [(ts, 1, f1, 60), (ts, 1, f2, 61), (ts, 1, f3, 63)]
    assert reader.warnings == []


def test_pcapng_non_packet_blocks_are_skipped(tmp_path: Path) -> None:
    f = frame(1)
    nrb = pcapng_block(4, b"\x00" * 4)  # name resolution block with only its end record
    isb = pcapng_block(5, b"\x00" * 12)  # interface statistics
    path = tmp_path / "misc.pcapng"
    path.write_bytes(pcapng_shb() + nrb + pcapng_idb(1) + isb + pcapng_epb(0, 0, f))
    reader, frames = read_all(path)
    assert frames == [(0, 1, f, 60)]
    assert reader.warnings == []


@pytest.mark.parametrize("with_idb", [False, True])
def test_empty_pcapng_has_no_frames_and_no_warning(tmp_path: Path, with_idb: bool) -> None:
    path = tmp_path / "empty.pcapng"
    path.write_bytes(pcapng_shb() + (pcapng_idb(1) if with_idb else b""))
    reader, frames = read_all(path)
    assert frames == []
    assert reader.warnings == []
    assert reader.truncated is False
    assert reader.linktypes == ({1} if with_idb else set())


def test_pcapng_simple_packet_block_without_length_field_is_corrupt(tmp_path: Path) -> None:
    # A 12-byte SPB has no room for its length field; this used to raise struct.error.
    head = pcapng_shb() + pcapng_idb(1)
    path = tmp_path / "spb.pcapng"
    path.write_bytes(head + pcapng_block(3, b""))
    reader, frames = read_all(path)
    assert frames == []
    assert reader.warnings == [
        f"{path}: corrupt block at byte offset {len(head)}: simple packet block too short; "
        "stopped reading"
    ]


def test_pcapng_interface_option_cut_by_block_end_is_ignored(tmp_path: Path) -> None:
    # if_tsresol announces 1 byte that the block does not hold (used to raise IndexError)
    idb = pcapng_block(1, b"\x01\x00\x00\x00\xff\xff\x00\x00" + b"\x09\x00\x01\x00")
    f = frame(1)
    path = tmp_path / "idb.pcapng"
    path.write_bytes(pcapng_shb() + idb + pcapng_epb(0, 2_000_000, f))
    reader, frames = read_all(path)
    assert frames == [(2_000_000_000, 1, f, 60)]  # default resolution: microseconds
    assert reader.warnings == []


# -- gzip --------------------------------------------------------------------------


def test_gzip_pcap_detected_by_magic_whatever_the_name(tmp_path: Path) -> None:
    f1, f2 = frame(1), frame(2)
    packed = gzipped(pcap_header(nano=True) + pcap_record(1, 5, f1) + pcap_record(2, 6, f2))
    path = tmp_path / "notes.txt"
    path.write_bytes(packed)
    reader, frames = read_all(path)
    assert frames == [(1_000_000_005, 1, f1, 60), (2_000_000_006, 1, f2, 60)]
    assert reader.compressed is True
    assert reader.format == "pcap"
    assert reader.size == len(packed)
    assert reader.bytes_read == len(packed)
    assert reader.warnings == []


def test_gzip_pcapng(tmp_path: Path) -> None:
    f = frame(9)
    path = tmp_path / "c.pcapng.gz"
    path.write_bytes(gzipped(pcapng_shb() + pcapng_idb(228) + pcapng_epb(0, 3, f)))
    reader, frames = read_all(path)
    assert frames == [(3_000, 228, f, 60)]
    assert reader.compressed is True
    assert reader.format == "pcapng"
    assert reader.linktypes == {228}


def test_gzip_missing_its_trailer_still_yields_every_record(tmp_path: Path) -> None:
    records = [frame(i) for i in range(20)]
    packed = gzipped(pcap_header() + b"".join(pcap_record(i, 0, f) for i, f in enumerate(records)))
    cut = packed[:-8]  # CRC32 and ISIZE gone: all data decompresses, then EOFError
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(cut)
    reader, frames = read_all(path)
    assert [f[2] for f in frames] == records
    assert reader.truncated is True
    assert reader.warnings == [
        f"{path}: read error after {len(cut)} bytes: "
        "Compressed file ended before the end-of-stream marker was reached"
    ]


def test_gzip_cut_in_the_middle_yields_the_whole_records_before_the_cut(tmp_path: Path) -> None:
    # Incompressible-ish payloads so the cut lands well inside the deflate data.
    records = []
    for i in range(3000):
        head = frame(i)[:42]
        records.append(head + bytes((i * 31 + j * 17) % 251 for j in range(18 + (i * 7919) % 900)))
    raw = pcap_header() + b"".join(pcap_record(i, 0, f) for i, f in enumerate(records))
    packed = gzipped(raw)
    path = tmp_path / "half.pcap.gz"
    path.write_bytes(packed[: len(packed) // 2])
    reader, frames = read_all(path)
    assert 0 < len(frames) < len(records)
    assert [f[2] for f in frames] == records[: len(frames)]
    assert reader.truncated is True
    assert len(reader.warnings) == 1
    assert reader.warnings[0].startswith(f"{path}: read error after ")


def test_damaged_gzip_header_is_a_capture_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.gz"
    path.write_bytes(b"\x1f\x8b" + b"\xff" * 30)
    with pytest.raises(CaptureError) as info:
        open_capture(path)
    assert str(info.value).startswith(f"{path}: damaged gzip data (")
    assert not isinstance(info.value, NotACaptureError)


def test_gzip_of_a_text_file_is_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "text.gz"
    path.write_bytes(gzipped(b"hello, world\n"))
    with pytest.raises(NotACaptureError) as info:
        open_capture(path)
    assert str(info.value) == f"{path}: not a pcap or pcapng file"


# -- standard input ----------------------------------------------------------------


def test_stdin_stream(tmp_path: Path) -> None:
    f1, f2 = frame(1), frame(2)
    stream = io.BytesIO(pcap_header() + pcap_record(1, 2, f1) + pcap_record(3, 4, f2))
    reader, frames = read_all("-", stdin=stream)
    assert frames == [(1_000_002_000, 1, f1, 60), (3_000_004_000, 1, f2, 60)]
    assert reader.name == "<stdin>"
    assert reader.size is None
    assert stream.closed is False  # never close the caller's stdin


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_stdin_pipe_with_short_reads(fmt: str, compress: bool) -> None:
    records = [frame(i, 60 + i) for i in range(30)]
    if fmt == "pcap":
        data = pcap_header() + b"".join(pcap_record(i, i, f) for i, f in enumerate(records))
        expected = [(i * 1_000_001_000, 1, f, len(f)) for i, f in enumerate(records)]
    else:
        data = pcapng_shb() + pcapng_idb(1, tsresol=9)
        data += b"".join(pcapng_epb(0, i, f) for i, f in enumerate(records))
        expected = [(i, 1, f, len(f)) for i, f in enumerate(records)]
    if compress:
        data = gzipped(data)
    pipe = ShortReads(data)
    with open_capture("-", stdin=pipe) as reader:  # type: ignore[arg-type]
        frames = list(reader.frames())
    assert frames == expected
    assert reader.format == fmt
    assert reader.compressed is compress
    assert reader.warnings == []
    assert reader.bytes_read == len(data)
    assert pipe.calls > len(data) // 3  # it really was read a few bytes at a time


# -- damage inside a capture -------------------------------------------------------


def test_pcap_truncated_in_a_record(tmp_path: Path) -> None:
    f = [frame(i) for i in range(3)]
    data = pcap_header() + b"".join(pcap_record(i, 0, x) for i, x in enumerate(f))
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: 24 + 76 + 76 + 30])
    reader, frames = read_all(path)
    assert [x[2] for x in frames] == f[:2]
    assert reader.truncated is True
    assert reader.warnings == [
        f"{path}: file truncated in a record at byte offset 176 (30 of 76 bytes present); "
        "analyzed everything before it"
    ]


def test_pcap_truncated_in_a_record_header(tmp_path: Path) -> None:
    data = pcap_header() + pcap_record(0, 0, frame(0)) + pcap_record(1, 0, frame(1))
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: 24 + 76 + 10])
    reader, frames = read_all(path)
    assert len(frames) == 1
    assert reader.warnings == [
        f"{path}: file truncated in a record header at byte offset 100 (10 of 16 bytes present); "
        "analyzed everything before it"
    ]


def test_pcap_truncated_in_the_file_header(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    path.write_bytes(pcap_header()[:10])
    reader, frames = read_all(path)
    assert frames == []
    assert reader.truncated is True
    assert reader.warnings == [
        f"{path}: file truncated in the pcap file header at byte offset 0 (10 of 24 bytes "
        "present); analyzed everything before it"
    ]


def test_pcapng_truncated_in_a_block(tmp_path: Path) -> None:
    head = pcapng_shb() + pcapng_idb(1) + pcapng_epb(0, 1, frame(1))
    epb = pcapng_epb(0, 2, frame(2))  # 12 + 20 + 60 = 92 bytes
    path = tmp_path / "cut.pcapng"
    path.write_bytes(head + epb[:50])
    reader, frames = read_all(path)
    assert len(frames) == 1
    assert reader.warnings == [
        f"{path}: file truncated in block type 0x6 at byte offset {len(head)} "
        "(50 of 92 bytes present); analyzed everything before it"
    ]


def test_pcap_corrupt_record_length(tmp_path: Path) -> None:
    f = frame(1)
    data = pcap_header() + pcap_record(1, 0, f) + pcap_record(2, 0, f, caplen=300_000)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(data)
    reader, frames = read_all(path)
    assert frames == [(1_000_000_000, 1, f, 60)]
    assert reader.truncated is True
    assert reader.warnings == [
        f"{path}: corrupt record at byte offset 100: captured length 300000 exceeds the limit "
        "of 262144 bytes; stopped reading"
    ]


def test_pcapng_corrupt_block_lengths(tmp_path: Path) -> None:
    head = pcapng_shb() + pcapng_idb(1)
    epb = bytearray(pcapng_epb(0, 1, frame(1)))
    epb[-4:] = (88).to_bytes(4, "little")  # trailer disagrees with the leading length
    path = tmp_path / "trailer.pcapng"
    path.write_bytes(head + bytes(epb))
    reader, _ = read_all(path)
    assert reader.warnings == [
        f"{path}: corrupt block at byte offset {len(head)}: block length 92 does not match its "
        "trailer 88; stopped reading"
    ]
    path.write_bytes(head + b"\x06\x00\x00\x00\x0d\x00\x00\x00" + b"\x00" * 8)
    reader, _ = read_all(path)
    assert reader.warnings == [
        f"{path}: corrupt block at byte offset {len(head)}: block length 13 is invalid; "
        "stopped reading"
    ]


def test_pcapng_unknown_byte_order_magic(tmp_path: Path) -> None:
    shb = bytearray(pcapng_shb())
    shb[8:12] = b"\x01\x02\x03\x04"
    path = tmp_path / "bom.pcapng"
    path.write_bytes(bytes(shb))
    reader, frames = read_all(path)
    assert frames == []
    assert reader.warnings == [
        f"{path}: corrupt block at byte offset 0: section header with an unknown byte-order "
        "magic; stopped reading"
    ]


# -- files that are not captures at all ----------------------------------------------


def test_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "notes.pcap"
    path.write_text("this is not a capture\n")
    with pytest.raises(NotACaptureError) as info:
        open_capture(path)
    assert str(info.value) == f"{path}: not a pcap or pcapng file"


def test_short_file_is_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "tiny"
    path.write_bytes(b"\xd4\xc3")
    with pytest.raises(NotACaptureError) as info:
        open_capture(path)
    assert str(info.value) == f"{path}: not a pcap or pcapng file"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(NotACaptureError) as info:
        open_capture(path)
    assert str(info.value) == f"{path}: empty file, not a pcap or pcapng file"


def test_empty_stdin() -> None:
    with pytest.raises(NotACaptureError) as info:
        open_capture("-", stdin=io.BytesIO(b""))
    assert str(info.value) == "<stdin>: empty file, not a pcap or pcapng file"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pcap"
    with pytest.raises(CaptureError) as info:
        open_capture(path)
    assert str(info.value) == f"{path}: no such file"
    assert not isinstance(info.value, NotACaptureError)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(CaptureError) as info:
        open_capture(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a capture file"


# -- streaming ---------------------------------------------------------------------


def test_reader_streams_in_bounded_memory(tmp_path: Path) -> None:
    count = 200_000
    rec = pcap_record(1, 0, frame(0))
    path = tmp_path / "big.pcap"
    with path.open("wb") as out:
        out.write(pcap_header())
        block = rec * 1000
        for _ in range(count // 1000):
            out.write(block)
    size = path.stat().st_size
    assert size > 15_000_000
    n = 0
    tracemalloc.start()
    try:
        with open_capture(path) as reader:
            for _ts, _linktype, data, wirelen in reader.frames():
                n += 1
                assert len(data) == wirelen == 60
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == count
    assert reader.bytes_read == size
    assert reader.warnings == []
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes: the reader does not stream"
