"""TCP stream reassembly (netsentry.streams.Stream), one direction at a time.

Segments are given by stream offset; ``seq_at`` turns an offset into the sequence
number on the wire (data starts at ISN + 1), so the same tests cover sequence
numbers that wrap around 2**32.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.streams import MASK, Stream

ISN = 1_000_000
RETRANS = "tcp: retransmission"
OVERLAP = "tcp: overlap with different data"
GAP = "tcp: gap"
DEPTH = "tcp: reassembly depth reached"


def seq_at(offset: int, isn: int = ISN) -> int:
    """Sequence number of stream byte ``offset`` after a SYN with ``isn``."""
    return (isn + 1 + offset) & MASK


def new_stream(
    *, depth: int = 0, max_ooo: int = 1 << 20, isn: int | None = ISN
) -> tuple[Stream, Counter[str]]:
    """A stream (after a SYN with ``isn`` unless None) and its anomaly counter."""
    anomalies: Counter[str] = Counter()
    stream = Stream(anomalies, depth, max_ooo)
    if isn is not None:
        stream.syn(isn)
    return stream, anomalies


def joined(items: list[bytes | int]) -> bytes:
    """The data of delivered items; fails if a gap is among them."""
    assert all(isinstance(i, bytes) for i in items), items
    return b"".join(i for i in items if isinstance(i, bytes))


# -- ordering ------------------------------------------------------------------------


def test_in_order_segments_are_delivered_as_they_come() -> None:
    s, anomalies = new_stream()
    assert s.add(seq_at(0), b"GET ") == [b"GET "]
    assert s.add(seq_at(4), b"/ HTTP/1.1") == [b"/ HTTP/1.1"]
    assert s.add(seq_at(14), b"\r\n") == [b"\r\n"]
    assert s.flush() == []
    assert anomalies == Counter()


def test_three_segments_in_reverse_order_make_one_stream_in_order() -> None:
    s, anomalies = new_stream()
    assert s.add(seq_at(8), b"ijkl") == []
    assert s.add(seq_at(4), b"efgh") == []
    assert s.add(seq_at(0), b"abcd") == [b"abcd", b"efgh", b"ijkl"]
    assert s.flush() == []
    assert anomalies == Counter()


def test_reverse_order_delivers_the_exact_bytes() -> None:
    s, _ = new_stream()
    s.add(seq_at(6), b"world")
    s.add(seq_at(5), b" ")
    assert joined(s.add(seq_at(0), b"hello")) == b"hello world"
    assert s.flush() == []


def test_syn_is_only_taken_once() -> None:
    s, _ = new_stream()
    s.syn(ISN + 500)  # a retransmitted SYN with a different ISN does not move the start
    assert s.add(seq_at(0), b"abc") == [b"abc"]


# -- retransmission and overlap ---------------------------------------------------------


def test_identical_retransmission_is_counted_and_not_delivered_again() -> None:
    s, anomalies = new_stream()
    assert s.add(seq_at(0), b"hello") == [b"hello"]
    assert s.add(seq_at(0), b"hello") == []
    assert s.add(seq_at(1), b"ell") == []
    assert anomalies == Counter({RETRANS: 2})


def test_retransmission_extending_past_the_delivered_data_delivers_only_the_new_part() -> None:
    s, anomalies = new_stream()
    s.add(seq_at(0), b"hello")
    assert s.add(seq_at(3), b"lo world") == [b" world"]
    assert anomalies == Counter()


def test_overlap_with_different_delivered_data_keeps_the_first() -> None:
    s, anomalies = new_stream()
    assert s.add(seq_at(0), b"hello") == [b"hello"]
    assert s.add(seq_at(0), b"jello") == []
    assert anomalies == Counter({RETRANS: 1, OVERLAP: 1})
    # partly old (different), partly new: only the new bytes are delivered
    assert s.add(seq_at(2), b"XYZ!") == [b"!"]
    assert anomalies == Counter({RETRANS: 1, OVERLAP: 2})


def test_overlap_with_different_buffered_data_at_the_same_offset_keeps_the_first() -> None:
    s, anomalies = new_stream()
    assert s.add(seq_at(4), b"EFGH") == []
    assert s.add(seq_at(4), b"efgh") == []
    assert anomalies == Counter({OVERLAP: 1})
    assert joined(s.add(seq_at(0), b"ABCD")) == b"ABCDEFGH"
    assert anomalies == Counter({OVERLAP: 1})


def test_overlap_with_buffered_data_at_another_offset_keeps_the_first() -> None:
    s, anomalies = new_stream()
    assert s.add(seq_at(4), b"EFGH") == []
    assert s.add(seq_at(2), b"CDefgh") == []  # arrives later, starts earlier
    assert anomalies == Counter({OVERLAP: 1})
    assert joined(s.add(seq_at(0), b"AB")) == b"ABCDEFGH"
    assert anomalies == Counter({OVERLAP: 1})


def test_in_order_segment_overlapping_buffered_data_keeps_the_buffered_bytes() -> None:
    s, anomalies = new_stream()
    assert s.add(seq_at(4), b"EFGH") == []
    assert joined(s.add(seq_at(0), b"ABCDef")) == b"ABCDEFGH"
    assert anomalies == Counter({OVERLAP: 1})


def test_longer_duplicate_of_a_buffered_segment_does_not_replace_its_neighbour() -> None:
    s, anomalies = new_stream()
    s.add(seq_at(4), b"EF")
    s.add(seq_at(6), b"GH")
    s.add(seq_at(4), b"EFxyIJ")  # same start, longer: overlaps "GH" with other bytes
    assert anomalies == Counter({OVERLAP: 1})
    assert joined(s.add(seq_at(0), b"ABCD")) == b"ABCDEFGHIJ"


def test_identical_overlapping_buffered_segments_are_not_an_anomaly() -> None:
    s, anomalies = new_stream()
    s.add(seq_at(6), b"GHIJ")
    s.add(seq_at(4), b"EFGH")
    s.add(seq_at(5), b"FGHIJKL")
    assert joined(s.add(seq_at(0), b"ABCD")) == b"ABCDEFGHIJKL"
    assert anomalies == Counter()


def test_retransmission_after_a_reordered_run_compares_with_the_right_bytes() -> None:
    # The delivered tail must hold every chunk of a drained run, not only the last two:
    # otherwise this identical retransmission looks like different data.
    s, anomalies = new_stream()
    assert s.add(seq_at(0), b"X") == [b"X"]
    s.add(seq_at(2), b"B")
    s.add(seq_at(3), b"C")
    assert s.add(seq_at(1), b"A") == [b"A", b"B", b"C"]
    assert s.add(seq_at(0), b"XABC") == []
    assert anomalies == Counter({RETRANS: 1})


# -- gaps -------------------------------------------------------------------------------


def test_full_out_of_order_buffer_skips_the_hole_with_its_exact_size() -> None:
    s, anomalies = new_stream(max_ooo=10)
    assert s.add(seq_at(0), b"abc") == [b"abc"]
    assert s.add(seq_at(5), b"0123456789") == []  # 10 bytes buffered: at the limit
    assert s.add(seq_at(15), b"X") == [2, b"0123456789", b"X"]
    assert anomalies == Counter({GAP: 1})
    assert s.add(seq_at(16), b"next") == [b"next"]
    # the skipped hole arriving late is old data now
    assert s.add(seq_at(3), b"de") == []
    assert anomalies == Counter({GAP: 1, RETRANS: 1})


def test_full_buffer_skips_every_hole_needed_to_get_back_under_the_limit() -> None:
    # Memory bound: small runs behind several holes must not let the buffer grow.
    s, anomalies = new_stream(max_ooo=10)
    for off in (10, 20, 30):
        assert s.add(seq_at(off), b"x") == []
    assert s.add(seq_at(100), b"y" * 20) == [10, b"x", 9, b"x", 9, b"x", 69, b"y" * 20]
    assert anomalies == Counter({GAP: 4})
    assert s.ooo_bytes == 0
    assert s.flush() == []


def test_ack_past_a_hole_skips_it() -> None:
    s, anomalies = new_stream()
    assert s.add(seq_at(0), b"abc") == [b"abc"]
    assert s.add(seq_at(8), b"xyz") == []
    assert s.acked(seq_at(3)) == []  # acks what we have: nothing lost yet
    assert s.acked(seq_at(6)) == []  # below the buffered data: the hole may still come
    assert anomalies == Counter()
    assert s.acked(seq_at(11)) == [5, b"xyz"]
    assert anomalies == Counter({GAP: 1})
    assert s.add(seq_at(11), b"!") == [b"!"]


def test_ack_without_buffered_data_does_nothing() -> None:
    s, anomalies = new_stream()
    s.add(seq_at(0), b"abc")
    assert s.acked(seq_at(100)) == []
    assert s.add(seq_at(3), b"def") == [b"def"]
    assert anomalies == Counter()


def test_flush_delivers_buffered_data_with_its_gaps() -> None:
    s, anomalies = new_stream()
    assert s.add(seq_at(0), b"abc") == [b"abc"]
    assert s.add(seq_at(10), b"fg") == []
    assert s.add(seq_at(6), b"de") == []
    assert s.flush() == [3, b"de", 2, b"fg"]
    assert anomalies == Counter({GAP: 2})
    assert s.flush() == []


# -- depth ------------------------------------------------------------------------------


def test_depth_limit_delivers_exactly_depth_bytes_then_nothing() -> None:
    s, anomalies = new_stream(depth=10)
    assert s.add(seq_at(0), b"012345") == [b"012345"]
    assert anomalies == Counter()
    assert s.add(seq_at(6), b"6789AB") == [b"6789"]
    assert s.add(seq_at(12), b"CDEF") == []
    assert s.add(seq_at(100), b"far") == []
    assert s.acked(seq_at(200)) == []
    assert s.flush() == []
    assert anomalies == Counter({DEPTH: 1})


def test_depth_reached_exactly_is_counted_once() -> None:
    s, anomalies = new_stream(depth=4)
    assert s.add(seq_at(0), b"abcd") == [b"abcd"]
    assert s.add(seq_at(4), b"e") == []
    assert anomalies == Counter({DEPTH: 1})


def test_depth_limit_trims_a_reordered_run() -> None:
    s, anomalies = new_stream(depth=7)
    s.add(seq_at(3), b"def")
    s.add(seq_at(6), b"ghi")
    assert s.add(seq_at(0), b"abc") == [b"abc", b"def", b"g"]
    assert anomalies == Counter({DEPTH: 1})


def test_depth_counts_a_gap() -> None:
    s, anomalies = new_stream(depth=8)
    s.add(seq_at(0), b"ab")
    s.add(seq_at(5), b"fghijk")
    assert s.flush() == [3, b"fgh"]
    assert anomalies == Counter({GAP: 1, DEPTH: 1})


# -- sequence numbers -------------------------------------------------------------------


def test_sequence_numbers_wrap_around() -> None:
    isn = 2**32 - 3  # data starts at 2**32 - 2 and crosses zero after two bytes
    s, anomalies = new_stream(isn=isn)
    assert seq_at(0, isn) == 2**32 - 2
    assert seq_at(2, isn) == 0
    assert s.add(seq_at(0, isn), b"ab") == [b"ab"]
    assert s.add(seq_at(5, isn), b"fgh") == []  # after the wrap, out of order
    assert s.add(seq_at(2, isn), b"cde") == [b"cde", b"fgh"]
    assert s.add(seq_at(1, isn), b"bc") == []  # retransmission straddling the wrap
    assert s.add(seq_at(8, isn), b"i") == [b"i"]
    assert anomalies == Counter({RETRANS: 1})


def test_stream_longer_than_half_the_sequence_space() -> None:
    # Offsets must be taken relative to the next expected byte, not to the ISN:
    # past 2 GiB (and again past 4 GiB) the sequence numbers wrap but data is new.
    s, anomalies = new_stream(max_ooo=0)
    assert s.add(seq_at(0), b"a") == [b"a"]
    step = 1 << 30
    for k in range(1, 5):  # each jump is a hole skipped at once (max_ooo=0)
        assert s.add(seq_at(k * step), b"x") == [step - 1, b"x"]
    assert s.add(seq_at(4 * step + 1), b"y") == [b"y"]
    assert s.add(seq_at(4 * step), b"x") == []  # old data after 4 GiB
    assert anomalies == Counter({GAP: 4, RETRANS: 1})


def test_mid_stream_pickup_starts_at_the_first_segment_seen() -> None:
    s, anomalies = new_stream(isn=None)
    assert s.add(5000, b"abc") == [b"abc"]
    assert s.add(5003, b"def") == [b"def"]
    assert s.add(4990, b"early") == []  # before the first byte we saw: old
    assert s.add(5010, b"k") == []
    assert s.add(5006, b"ghij") == [b"ghij", b"k"]
    assert anomalies == Counter({RETRANS: 1})


def test_empty_segments_deliver_nothing() -> None:
    s, anomalies = new_stream(isn=None)
    assert s.add(7, b"") == []
    assert s.add(100, b"abc") == [b"abc"]  # an empty segment does not fix the start
    assert anomalies == Counter()


# -- property: any order, any duplication -----------------------------------------------


@st.composite
def shuffled_segments(draw: st.DrawFn) -> tuple[int, bytes, list[tuple[int, bytes]]]:
    """An ISN, a payload, and segments covering it (plus overlapping copies), shuffled."""
    payload = draw(st.binary(min_size=1, max_size=600))
    cuts = (
        draw(st.sets(st.integers(1, len(payload) - 1), max_size=20)) if len(payload) > 1 else set()
    )
    bounds = [0, *sorted(cuts), len(payload)]
    segments = [(a, payload[a:b]) for a, b in pairwise(bounds)]
    extra = draw(
        st.lists(st.tuples(st.integers(0, len(payload) - 1), st.integers(1, 64)), max_size=10)
    )
    segments += [(a, payload[a : a + n]) for a, n in extra]
    segments = draw(st.permutations(segments))
    isn = draw(st.integers(0, MASK))
    return isn, payload, segments


@settings(max_examples=200, deadline=None)
@given(shuffled_segments())
def test_any_order_and_duplication_delivers_the_original_payload(
    case: tuple[int, bytes, list[tuple[int, bytes]]],
) -> None:
    isn, payload, segments = case
    s, anomalies = new_stream(isn=isn)
    out: list[bytes | int] = []
    for off, data in segments:
        out += s.add(seq_at(off, isn), data)
    out += s.flush()
    assert joined(out) == payload
    assert anomalies[OVERLAP] == 0
    assert anomalies[GAP] == 0


@st.composite
def lossy_segments(draw: st.DrawFn) -> tuple[int, int, bytes, list[tuple[int, bytes]]]:
    """Limits (max_ooo, depth), a payload, and a shuffled subset of its segments."""
    payload = draw(st.binary(min_size=1, max_size=400))
    cuts = draw(st.sets(st.integers(1, max(1, len(payload) - 1)), max_size=30))
    bounds = sorted({0, len(payload), *(c for c in cuts if c < len(payload))})
    segments = [(a, payload[a:b]) for a, b in pairwise(bounds)]
    kept = draw(st.lists(st.sampled_from(segments), max_size=2 * len(segments)))
    max_ooo = draw(st.integers(0, 200))
    depth = draw(st.integers(0, len(payload)))
    return max_ooo, depth, payload, kept


@settings(max_examples=200, deadline=None)
@given(lossy_segments())
def test_with_loss_and_limits_every_byte_lands_at_its_offset(
    case: tuple[int, int, bytes, list[tuple[int, bytes]]],
) -> None:
    max_ooo, depth, payload, segments = case
    s, anomalies = new_stream(depth=depth, max_ooo=max_ooo)
    out: list[bytes | int] = []
    for off, data in segments:
        out += s.add(seq_at(off), data)
        assert s.ooo_bytes <= max_ooo  # the buffer stays bounded
    out += s.flush()
    pos = 0
    for item in out:
        if isinstance(item, int):
            assert item > 0
            pos += item
        else:
            assert item and item == payload[pos : pos + len(item)]
            pos += len(item)
    assert pos <= (depth or len(payload))
    assert anomalies[GAP] == sum(isinstance(i, int) for i in out)
    assert anomalies[OVERLAP] == 0
    assert anomalies[DEPTH] <= 1
