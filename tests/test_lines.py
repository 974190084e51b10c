"""Tests for netsentry.protocols.lines: the bounded line layer of the text-protocol decoders.

Also home of :func:`replay`, the naive capture replayer that the FTP, mail and
SSH tests use to run a decoder over a real capture of the shared corpus
without the flow layer: TCP payloads grouped by connection, each direction
ordered by sequence number with retransmitted bytes dropped, and fed in
capture order.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.capture import open_capture
from netsentry.decode import Decoder
from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, StreamParser
from netsentry.protocols.lines import TEXT_MAX, LineSplitter, auth_event, text

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = Path(os.environ.get("NETSENTRY_CORPUS") or SHARED / "corpus")
needs_corpus = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.tsv").is_file(),
    reason=f"shared corpus not found at {CORPUS} (a user's clone has no ../shared)",
)

Chunk = tuple[int, bytes]
"""(direction, bytes) as the flow layer would feed them."""
Conn = tuple[bytes, int, bytes, int]
"""(client address, client port, server address, server port)."""


def tcp_sessions(path: Path, port: int) -> Iterator[tuple[Conn, list[Chunk]]]:
    """Every TCP connection to ``port`` in a capture, as in-order chunks to feed.

    Naive reassembly: a direction's segments are sorted by sequence number and
    bytes already seen are dropped (retransmissions, overlaps); a chunk is fed
    no earlier than the packet that carried it, nor before the bytes that
    precede it in its direction.
    """
    decoder = Decoder()
    segments: dict[tuple[Conn, int], list[tuple[int, int, bytes]]] = defaultdict(list)
    conns: dict[Conn, None] = {}
    with open_capture(path) as reader:
        for num, (ts, linktype, data, wirelen) in enumerate(reader.frames(), 1):
            pkt = decoder.decode(num, ts, linktype, data, wirelen)
            if pkt.proto != 6 or not pkt.payload or port not in (pkt.sport, pkt.dport):
                continue
            if pkt.dport == port:
                conn, direction = (pkt.src, pkt.sport, pkt.dst, pkt.dport), TO_SERVER
            else:
                conn, direction = (pkt.dst, pkt.dport, pkt.src, pkt.sport), TO_CLIENT
            conns.setdefault(conn)
            segments[(conn, direction)].append((pkt.seq, num, pkt.payload))
    for conn in conns:
        timed: list[tuple[int, int, bytes]] = []
        for direction in (TO_SERVER, TO_CLIENT):
            expected: int | None = None
            when = 0
            for seq, num, payload in sorted(segments[(conn, direction)]):
                if expected is None:
                    expected = seq
                if seq + len(payload) <= expected:
                    continue  # retransmission
                payload = payload[max(0, expected - seq) :]
                when = max(when, num)
                timed.append((when, direction, payload))
                expected = max(expected, seq) + len(payload)
        timed.sort(key=lambda t: t[0])
        yield conn, [(direction, payload) for _, direction, payload in timed]


def replay(
    path: Path, port: int, factory: Callable[[Counter[str]], StreamParser]
) -> tuple[list[list[AppEvent]], Counter[str]]:
    """Run a fresh decoder over every connection to ``port``; its events per connection."""
    anomalies: Counter[str] = Counter()
    sessions = []
    for _conn, chunks in tcp_sessions(path, port):
        parser = factory(anomalies)
        events: list[AppEvent] = []
        for direction, data in chunks:
            events += parser.feed(direction, data)
        events += parser.close()
        sessions.append(events)
    return sessions, anomalies


def stream_bytes(path: Path, port: int, direction: int) -> list[bytes]:
    """The reassembled bytes of one direction of every connection (for grep cross-checks)."""
    return [
        b"".join(data for d, data in chunks if d == direction)
        for _conn, chunks in tcp_sessions(path, port)
    ]


def feed_all(parser: StreamParser, chunks: list[Chunk], close: bool = True) -> list[AppEvent]:
    """Feed chunks in order (then close); all events."""
    events: list[AppEvent] = []
    for direction, data in chunks:
        events += parser.feed(direction, data)
    if close:
        events += parser.close()
    return events


def split_everywhere(chunks: list[Chunk]) -> Iterator[list[Chunk]]:
    """The same conversation with each chunk in turn cut in two at every byte."""
    for index, (direction, data) in enumerate(chunks):
        for cut in range(1, len(data)):
            yield [
                *chunks[:index],
                (direction, data[:cut]),
                (direction, data[cut:]),
                *chunks[index + 1 :],
            ]


def bytewise(chunks: list[Chunk]) -> list[Chunk]:
    """The same conversation fed one byte at a time."""
    return [(d, data[i : i + 1]) for d, data in chunks for i in range(len(data))]


def shape(events: list[AppEvent]) -> list[tuple[str, int, object, object]]:
    """What a test compares: proto, direction, record and extra of each event."""
    return [(e.proto, e.direction, e.record, e.extra) for e in events]


# -- LineSplitter ---------------------------------------------------------------------


def splitter(max_line: int = 100) -> tuple[LineSplitter, Counter[str]]:
    anomalies: Counter[str] = Counter()
    return LineSplitter(max_line, anomalies, "test"), anomalies


def drain(lines: LineSplitter) -> list[bytes]:
    out = []
    while (line := lines.next_line()) is not None:
        out.append(line)
    return out


def test_lines_end_at_lf_and_lose_one_cr() -> None:
    lines, _ = splitter()
    lines.push(b"one\r\ntwo\nthree\r\r\nfour")
    assert drain(lines) == [b"one", b"two", b"three\r"]
    assert lines.partial() == b"four"
    assert lines.pending == 4
    lines.push(b"\r\n")
    assert drain(lines) == [b"four"]
    assert lines.pending == 0


def test_cr_split_from_its_lf() -> None:
    lines, _ = splitter()
    lines.push(b"abc\r")
    assert drain(lines) == []
    lines.push(b"\n")
    assert drain(lines) == [b"abc"]


def test_every_split_gives_the_same_lines() -> None:
    data = b"USER bob\r\nPASS x\r\n\r\nQUIT\n"
    for cut in range(len(data) + 1):
        lines, _ = splitter()
        lines.push(data[:cut])
        got = drain(lines)
        lines.push(data[cut:])
        got += drain(lines)
        assert got == [b"USER bob", b"PASS x", b"", b"QUIT"], cut


def test_overlong_line_is_cut_counted_once_and_bounded() -> None:
    lines, anomalies = splitter(max_line=10)
    for _ in range(100):
        lines.push(b"x" * 1000)
        assert drain(lines) == []
        assert lines.pending == 0  # nothing of the long line is held beyond its head
        assert len(lines.partial()) == 10
    lines.push(b"yyy\r\nnext\r\n")
    assert drain(lines) == [b"x" * 10, b"next"]
    assert anomalies == Counter({"test: line too long": 1})


def test_overlong_complete_line_is_cut() -> None:
    lines, anomalies = splitter(max_line=4)
    lines.push(b"abcdefgh\r\nok\r\n")
    assert drain(lines) == [b"abcd", b"ok"]
    assert anomalies["test: line too long"] == 1


def test_take_and_skip_raw_bytes() -> None:
    lines, _ = splitter()
    lines.push(b"a1 LOGIN {5}\r\nalice rest\r\n")
    assert lines.next_line() == b"a1 LOGIN {5}"
    assert lines.take(5) == b"alice"
    assert not lines.bol
    assert lines.skip(3) == 3
    assert lines.next_line() == b"st"
    assert lines.skip(10) == 0
    assert lines.take(10) == b""


def test_take_all_returns_the_rest() -> None:
    lines, _ = splitter()
    lines.push(b"SSH-2.0-x\r\n\x00\x00\x01\x0c\n\x14")
    assert lines.next_line() == b"SSH-2.0-x"
    assert lines.take_all() == b"\x00\x00\x01\x0c\n\x14"
    assert lines.pending == 0


@pytest.mark.parametrize(
    ("body", "skipped"),
    [
        (b".\r\n", 0),
        (b".\n", 0),
        (b"hello\r\n.\r\n", 7),
        (b"hello\n.\n", 6),
        (b"..\r\nx\r\n.\r\n", 7),  # a dot-stuffed line is not the end
        (b".x\r\n.\r\n", 4),
        (b"a.\r\nb\r\n.\r\n", 7),
    ],
)
def test_skip_to_line(body: bytes, skipped: int) -> None:
    for cut in range(len(body) + 1):
        lines, _ = splitter()
        lines.push(body[:cut])
        found, n = lines.skip_to_line(b".")
        total = n
        if not found:
            lines.push(body[cut:] + b"AFTER\r\n")
            found, n = lines.skip_to_line(b".")
            total += n
        else:
            lines.push(body[cut:] + b"AFTER\r\n")
        assert found, cut
        assert total == skipped, cut
        assert lines.next_line() == b"AFTER"


def test_skip_to_line_not_at_line_start() -> None:
    lines, _ = splitter()
    lines.push(b"x")
    assert lines.take(1) == b"x"
    lines.push(b".\r\n.\r\n")
    assert lines.skip_to_line(b".") == (True, 3)


def test_skip_to_line_keeps_memory_flat() -> None:
    lines, _ = splitter()
    total = 0
    for _ in range(1000):
        lines.push(b"body line\r\n" * 100)
        found, n = lines.skip_to_line(b".")
        assert not found
        total += n
        assert lines.pending <= 3
    lines.push(b".\r\n")
    found, n = lines.skip_to_line(b".")
    assert found
    assert total + n == 1100000


def test_resync_drops_the_cut_line() -> None:
    lines, anomalies = splitter()
    lines.push(b"USER al")
    lines.resync()
    lines.push(b"ice\r\nPASS x\r\n")
    assert drain(lines) == [b"PASS x"]
    assert not anomalies


def test_clear_forgets_everything() -> None:
    lines, _ = splitter()
    lines.push(b"abc\r\ndef")
    lines.clear()
    assert lines.pending == 0
    assert lines.next_line() is None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=20), st.integers(min_value=1, max_value=30))
def test_lines_match_a_plain_split(parts: list[bytes], max_line: int) -> None:
    lines, _ = splitter(max_line)
    got: list[bytes] = []
    for part in parts:
        lines.push(part)
        got += drain(lines)
        assert lines.pending <= max_line + len(part)
        assert len(lines.partial()) <= max_line
    whole = b"".join(parts)
    expected = []
    for raw in whole.split(b"\n")[:-1]:
        line = raw[:-1] if raw.endswith(b"\r") else raw
        expected.append(line[:max_line])
    assert got == expected


# -- text and auth_event --------------------------------------------------------------


def test_text_decodes_and_bounds() -> None:
    assert text(b"caf\xc3\xa9") == "café"
    assert text(b"\xff") == "\ufffd"
    assert len(text(b"a" * 10000)) == TEXT_MAX
    assert text(b"abcdef", 3) == "abc"


def test_auth_event_shape() -> None:
    event = auth_event("ftp", "bob", "failure", "530 Login incorrect.")
    assert event.proto == "auth"
    assert event.direction == TO_CLIENT
    assert event.record == {"service": "ftp", "user": "bob", "result": "failure"}
    assert event.extra == {"reply": "530 Login incorrect."}
    attempt = auth_event("pop3", None, "attempt", direction=TO_SERVER)
    assert attempt.extra == {}
    assert attempt.direction == TO_SERVER
