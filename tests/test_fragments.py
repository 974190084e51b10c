"""netsentry.fragments: IPv4/IPv6 reassembly, overlaps, and the three memory bounds."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from netsentry.decode import Decoder
from netsentry.fragments import Defragmenter
from netsentry.model import Packet
from tests.factories import (
    ether,
    ip4,
    ip6,
    ipv4_fragment,
    ipv6,
    ipv6_ext,
    ipv6_frag_header,
    tcp_raw,
    udp_raw,
)

SECOND = 1_000_000_000
PAYLOAD = bytes(range(40))
DATAGRAM = udp_raw(5000, 6000, PAYLOAD)  # 48 bytes: 8-byte header + 40
PIECES = [(0, DATAGRAM[0:16]), (16, DATAGRAM[16:32]), (32, DATAGRAM[32:48])]
KEY = (ip4("10.0.0.1"), ip4("10.0.0.2"), 17, 0x1234)


def key(ident: int) -> tuple[bytes, bytes, int, int]:
    return (KEY[0], KEY[1], KEY[2], ident)


def v4(offset: int, piece: bytes, *, last: bool = False, ident: int = 0x1234) -> bytes:
    return ether(ipv4_fragment(piece, offset, more=not last, ident=ident))


def v4_pieces(order: Sequence[int]) -> list[bytes]:
    return [v4(PIECES[i][0], PIECES[i][1], last=i == 2) for i in order]


def run(frames: Sequence[bytes], decoder: Decoder | None = None, step: int = 0) -> list[Packet]:
    decoder = decoder if decoder is not None else Decoder()
    return [decoder.decode(n, n * step, 1, f, len(f)) for n, f in enumerate(frames, 1)]


def assert_reassembled(pkt: Packet, payload: bytes = PAYLOAD) -> None:
    assert pkt.fragment is False
    assert (pkt.family, pkt.proto, pkt.sport, pkt.dport) == (4, 17, 5000, 6000)
    assert pkt.payload == payload
    assert pkt.error == ""


# -- IPv4 through the decoder --------------------------------------------------------


def test_ipv4_in_order() -> None:
    decoder = Decoder()
    pkts = run(v4_pieces([0, 1, 2]), decoder)
    for pkt, (_, piece) in zip(pkts[:2], PIECES, strict=False):
        assert pkt.fragment is True
        assert (pkt.family, pkt.proto, pkt.sport, pkt.dport) == (4, 17, 0, 0)
        assert pkt.payload == piece
        assert (pkt.src, pkt.dst) == (ip4("10.0.0.1"), ip4("10.0.0.2"))
    assert_reassembled(pkts[2])
    assert decoder.defrag.counters == {"reassembled": 1}
    assert len(decoder.defrag) == 0
    assert decoder.defrag.buffered_bytes == 0
    assert decoder.skipped == {}


@pytest.mark.parametrize("order", [(2, 0, 1), (2, 1, 0), (1, 2, 0), (0, 2, 1)])
def test_ipv4_out_of_order(order: tuple[int, int, int]) -> None:
    decoder = Decoder()
    pkts = run(v4_pieces(order), decoder)
    assert [p.fragment for p in pkts] == [True, True, False]
    assert_reassembled(pkts[2])
    assert decoder.defrag.counters == {"reassembled": 1}


def test_ipv4_duplicate_fragment() -> None:
    decoder = Decoder()
    pkts = run(v4_pieces([0, 0, 1, 2]), decoder)
    assert [p.fragment for p in pkts] == [True, True, True, False]
    assert_reassembled(pkts[3])
    assert decoder.defrag.counters == {"duplicate": 1, "reassembled": 1}


def test_ipv4_overlap_with_different_bytes_first_data_wins() -> None:
    evil = b"E" * 16  # covers bytes 8..24: 8 already held (different), 8 new
    decoder = Decoder()
    frames = [v4(0, DATAGRAM[0:16]), v4(8, evil), v4(24, DATAGRAM[24:48], last=True)]
    pkts = run(frames, decoder)
    assert_reassembled(pkts[2], DATAGRAM[8:16] + b"E" * 8 + DATAGRAM[24:48])
    assert decoder.defrag.counters == {"overlap": 1, "overlap_differs": 1, "reassembled": 1}


def test_ipv4_overlap_with_identical_bytes_is_not_a_difference() -> None:
    decoder = Decoder()
    frames = [v4(0, DATAGRAM[0:16]), v4(8, DATAGRAM[8:32]), v4(32, DATAGRAM[32:], last=True)]
    pkts = run(frames, decoder)
    assert_reassembled(pkts[2])
    assert decoder.defrag.counters == {"overlap": 1, "reassembled": 1}


def test_ipv4_tcp_segment_reassembled() -> None:
    segment = tcp_raw(443, 50000, b"A" * 30, seq=77)
    decoder = Decoder()
    frames = [
        ether(ipv4_fragment(segment[:24], 0, True, proto=6, ident=9)),
        ether(ipv4_fragment(segment[24:], 24, False, proto=6, ident=9)),
    ]
    pkts = run(frames, decoder)
    assert (pkts[0].proto, pkts[0].fragment) == (6, True)
    last = pkts[1]
    assert (last.proto, last.sport, last.dport, last.seq, last.payload) == (
        6,
        443,
        50000,
        77,
        b"A" * 30,
    )


def test_interleaved_datagrams_are_kept_apart() -> None:
    other = udp_raw(1, 2, b"z" * 40)
    decoder = Decoder()
    frames = [
        v4(0, DATAGRAM[:24]),
        v4(0, other[:24], ident=7),
        v4(24, other[24:], last=True, ident=7),
        v4(24, DATAGRAM[24:], last=True),
    ]
    pkts = run(frames, decoder)
    assert (pkts[2].sport, pkts[2].payload) == (1, b"z" * 40)
    assert_reassembled(pkts[3])
    assert decoder.defrag.counters == {"reassembled": 2}


# -- IPv6 ----------------------------------------------------------------------------


def test_ipv6_fragments_after_a_hop_by_hop_header() -> None:
    def frame(offset: int, piece: bytes, more: bool) -> bytes:
        body = ipv6_ext(44) + ipv6_frag_header(17, offset, more, ident=0xBEEF) + piece
        return ether(ipv6(body, nxt=0), 0x86DD)

    decoder = Decoder()
    frames = [frame(16, DATAGRAM[16:32], True), frame(0, DATAGRAM[:16], True)]
    frames.append(frame(32, DATAGRAM[32:], False))
    pkts = run(frames, decoder)
    assert [p.fragment for p in pkts] == [True, True, False]
    assert (pkts[0].family, pkts[0].proto, pkts[0].payload) == (6, 17, DATAGRAM[16:32])
    last = pkts[2]
    assert (last.family, last.src, last.dst) == (6, ip6("2001:db8::1"), ip6("2001:db8::2"))
    assert (last.proto, last.sport, last.dport, last.payload) == (17, 5000, 6000, PAYLOAD)
    assert decoder.defrag.counters == {"reassembled": 1}


def test_ipv6_overlap_counted() -> None:
    def frame(offset: int, piece: bytes, more: bool) -> bytes:
        return ipv6(ipv6_frag_header(17, offset, more) + piece, nxt=44)

    decoder = Decoder()
    frames = [frame(0, DATAGRAM[:24], True), frame(16, b"X" * 32, False)]
    pkts = [decoder.decode(n, 0, 229, f, len(f)) for n, f in enumerate(frames, 1)]
    assert pkts[1].payload == PAYLOAD[:16] + b"X" * 24
    assert decoder.defrag.counters == {"overlap": 1, "overlap_differs": 1, "reassembled": 1}


# -- timeouts and bounds ---------------------------------------------------------------


def test_timeout_in_capture_time() -> None:
    decoder = Decoder(Defragmenter(timeout_ns=10 * SECOND))
    frames = v4_pieces([0, 1, 2])
    pkts = run(frames, decoder, step=6 * SECOND)  # ts 6 s, 12 s, 18 s
    # the third fragment comes 12 s after the first: the datagram expired
    assert [p.fragment for p in pkts] == [True, True, True]
    assert decoder.defrag.counters == {"timed_out": 1}
    assert len(decoder.defrag) == 1  # the late fragment starts a new datagram
    assert decoder.defrag.buffered_bytes == 16


def test_timeout_boundary_is_inclusive() -> None:
    decoder = Decoder(Defragmenter(timeout_ns=10 * SECOND))
    pkts = run(v4_pieces([0, 1, 2]), decoder, step=5 * SECOND)  # exactly 10 s apart
    assert_reassembled(pkts[2])
    assert decoder.defrag.counters == {"reassembled": 1}


def test_max_datagrams_evicts_the_oldest() -> None:
    d = Defragmenter(max_datagrams=2)
    for ident in (1, 2, 3):
        assert d.add(0, key(ident), 0, True, 17, DATAGRAM[:16]) is None
    assert d.counters == {"evicted": 1}
    assert len(d) == 2
    # 1 was evicted: its tail starts a new datagram, which pushes out 2 (now the oldest)
    assert d.add(0, key(1), 16, False, 17, DATAGRAM[16:]) is None
    assert d.counters == {"evicted": 2}
    assert d.add(0, key(3), 16, False, 17, DATAGRAM[16:]) == (17, DATAGRAM)
    assert d.counters == {"evicted": 2, "reassembled": 1}
    assert len(d) == 1


def test_max_bytes_bound() -> None:
    d = Defragmenter(max_bytes=100)
    d.add(0, key(1), 0, True, 17, b"a" * 64)
    assert d.buffered_bytes == 64
    d.add(0, key(2), 0, True, 17, b"b" * 64)
    assert d.counters == {"evicted": 1}
    assert (len(d), d.buffered_bytes) == (1, 64)
    # a single fragment larger than the bound cannot be kept either
    assert d.add(0, key(3), 0, True, 17, b"c" * 200) is None
    assert d.counters == {"evicted": 3}
    assert (len(d), d.buffered_bytes) == (0, 0)


def test_oversize_fragment_is_dropped_with_its_datagram() -> None:
    decoder = Decoder()
    first = v4(0, DATAGRAM[:16])
    beyond = v4(65528, b"x" * 16)  # the largest offset field (0x1FFF) plus 16 bytes
    pkts = run([first, beyond], decoder)
    assert pkts[1].fragment is True
    assert decoder.defrag.counters == {"oversize": 1}
    assert len(decoder.defrag) == 0
    assert decoder.defrag.buffered_bytes == 0


def test_flush_counts_incomplete_datagrams() -> None:
    d = Defragmenter()
    d.flush()
    assert d.counters == {}
    d.add(0, KEY, 0, True, 17, DATAGRAM[:16])
    d.add(0, key(2), 16, False, 17, DATAGRAM[16:])
    d.flush()
    assert d.counters == {"incomplete_at_end": 2}
    assert (len(d), d.buffered_bytes) == (0, 0)


def test_engine_style_flush_through_the_decoder() -> None:
    decoder = Decoder()
    run(v4_pieces([0, 1]), decoder)
    decoder.defrag.flush()
    assert decoder.defrag.counters == {"incomplete_at_end": 1}


# -- overlap rules, directly ------------------------------------------------------------


def test_later_fragment_at_lower_offset_does_not_override_earlier_data() -> None:
    d = Defragmenter()
    assert d.add(0, KEY, 8, True, 17, b"X" * 16) is None  # bytes 8..24 arrive first
    assert d.add(0, KEY, 0, True, 17, b"Y" * 16) is None  # 0..16: its 8..16 lose
    assert d.add(0, KEY, 24, False, 17, b"Z" * 8) == (17, b"Y" * 8 + b"X" * 16 + b"Z" * 8)
    assert d.counters == {"overlap": 1, "overlap_differs": 1, "reassembled": 1}


def test_longer_retransmission_does_not_overwrite_a_later_piece() -> None:
    d = Defragmenter()
    d.add(0, KEY, 0, True, 17, b"A" * 8)
    d.add(0, KEY, 8, True, 17, b"B" * 8)
    d.add(0, KEY, 0, True, 17, b"C" * 24)  # covers both, adds 16..24
    assert d.buffered_bytes == 24  # only the new 8 bytes were buffered
    assert d.add(0, KEY, 24, False, 17, b"D" * 8) == (17, b"A" * 8 + b"B" * 8 + b"C" * 8 + b"D" * 8)
    assert d.counters == {"overlap": 1, "overlap_differs": 1, "reassembled": 1}
    assert d.buffered_bytes == 0


def test_fragment_filling_a_hole_between_two_pieces() -> None:
    d = Defragmenter()
    d.add(0, KEY, 0, True, 17, b"a" * 8)
    d.add(0, KEY, 24, False, 17, b"d" * 8)
    # spans 0..32: only 8..24 is new, and the overlapped bytes are identical
    assert d.add(0, KEY, 0, True, 17, b"a" * 8 + b"b" * 16 + b"d" * 8) == (
        17,
        b"a" * 8 + b"b" * 16 + b"d" * 8,
    )
    assert d.counters == {"overlap": 1, "reassembled": 1}


def test_conflicting_last_fragments_keep_the_first_end() -> None:
    d = Defragmenter()
    assert d.add(0, KEY, 16, False, 17, b"x" * 8) is None  # end = 24
    assert d.add(0, KEY, 24, False, 17, b"y" * 8) is None  # claims end = 32
    assert d.add(0, KEY, 0, True, 17, b"w" * 16) == (17, b"w" * 16 + b"x" * 8)
    assert d.counters == {"conflicting_end": 1, "reassembled": 1}


def test_datagram_without_its_first_fragment_never_completes() -> None:
    d = Defragmenter()
    assert d.add(0, KEY, 8, True, 17, b"x" * 8) is None
    assert d.add(0, KEY, 16, False, 17, b"y" * 8) is None
    assert len(d) == 1
    assert d.counters == {}


def test_empty_first_fragment_then_data() -> None:
    d = Defragmenter()
    assert d.add(0, KEY, 0, True, 17, b"") is None
    assert d.add(0, KEY, 0, False, 17, b"whole") == (17, b"whole")
    assert d.counters == {"reassembled": 1}
