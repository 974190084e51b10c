"""IRC decoder: message syntax, line splitting across feeds, bounds, probing, real sessions.

The real sessions come from the shared corpus: an rbot/SDBot C&C session (suricata-verify
``irc``) whose channel topics carry the bot's orders, and Zeek's basic IRC client trace.
Expected values are the ones corpus/MANIFEST.tsv lists for those captures.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.capture import open_capture
from netsentry.decode import Decoder
from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits
from netsentry.protocols.irc import PORTS, IrcParser, parse_line, probe

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
needs_corpus = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.tsv").is_file(),
    reason=f"shared corpus not found at {CORPUS} (a user's clone has no ../shared)",
)


def feed_all(
    chunks: list[bytes], direction: int = TO_SERVER, limits: Limits | None = None
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Feed ``chunks`` in order to a fresh parser, then close it; return records, anomalies."""
    anomalies: Counter[str] = Counter()
    parser = IrcParser(anomalies, limits)
    events: list[AppEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(direction, chunk))
    events.extend(parser.close())
    assert all(e.proto == "irc" and e.direction == direction for e in events)
    return [e.record for e in events], anomalies


# -- message syntax -------------------------------------------------------------------


def test_prefixed_privmsg_with_trailing() -> None:
    assert parse_line(b":bot!~u@10.0.0.1 PRIVMSG #c2 :.download http://x/y.exe\r") == {
        "command": "PRIVMSG",
        "params": ["#c2", ".download http://x/y.exe"],
        "prefix": "bot!~u@10.0.0.1",
        "nick": "bot",
        "target": "#c2",
        "text": ".download http://x/y.exe",
    }


def test_numeric_topic_reply() -> None:
    record = parse_line(b":irc.example.net 332 me #chan :.advscan dcom135 200 3 0 -r -s")
    assert record == {
        "command": "332",
        "params": ["me", "#chan", ".advscan dcom135 200 3 0 -r -s"],
        "prefix": "irc.example.net",
        "nick": None,  # a server name, not a nick
        "target": "#chan",
        "text": ".advscan dcom135 200 3 0 -r -s",
    }
    # Some servers send a one-word topic without the colon: still the text.
    record = parse_line(b":irc.example.net 332 me #chan .scan")
    assert record is not None and record["text"] == ".scan"
    # Other numerics: target is the channel they are about, else the recipient.
    record = parse_line(b":irc.example.net 353 me @ #chan :me @op")
    assert record is not None and record["target"] == "#chan"
    record = parse_line(b":irc.example.net 001 me :Welcome")
    assert record is not None and (record["target"], record["text"]) == ("me", "Welcome")


def test_client_commands() -> None:
    assert parse_line(b"NICK damn-0262937047") == {
        "command": "NICK",
        "params": ["damn-0262937047"],
        "prefix": None,
        "nick": "damn-0262937047",
        "target": None,
        "text": None,
    }
    record = parse_line(b"USER ghmfeirsfnw 0 0 :damn-0262937047")
    assert record is not None
    assert record["params"] == ["ghmfeirsfnw", "0", "0", "damn-0262937047"]
    assert record["text"] == "damn-0262937047" and record["target"] is None
    record = parse_line(b"join #sl0w3r l03dx")  # commands are case-insensitive
    assert record is not None
    assert (record["command"], record["target"], record["text"]) == ("JOIN", "#sl0w3r", None)
    record = parse_line(b"PRIVMSG #brotest test")  # text without the ':' marker
    assert record is not None and record["text"] == "test"
    record = parse_line(b"QUIT quitting")
    assert record is not None and record["text"] == "quitting"
    record = parse_line(b"PING :irc.example.net")
    assert record is not None and (record["params"], record["text"]) == (
        ["irc.example.net"],
        "irc.example.net",
    )


def test_nick_change_takes_the_new_nick() -> None:
    record = parse_line(b":old!u@h NICK :new")
    assert record is not None
    assert (record["nick"], record["prefix"], record["text"]) == ("new", "old!u@h", None)


def test_odd_whitespace_tags_and_ctcp() -> None:
    record = parse_line(b"    PRIVMSG          #BROTEST      :test")
    assert record is not None
    assert (record["params"], record["text"]) == (["#BROTEST", "test"], "test")
    record = parse_line(b"@time=2024-01-01T00:00:00Z;msgid=x :n!u@h PRIVMSG #c :hi")
    assert record is not None and (record["nick"], record["text"]) == ("n", "hi")
    record = parse_line(b":n!u@h PRIVMSG me :\x01VERSION\x01")
    assert record is not None and record["text"] == "\x01VERSION\x01"  # CTCP kept as sent
    record = parse_line(b":n!u@h PRIVMSG #c :caf\xe9 \xff")
    assert record is not None and record["text"] == "caf\ufffd \ufffd"


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"   ",
        b":prefixonly",
        b":p :trailing only",
        b"\x00\x01\x02",
        b"12 x",
        b"PRIV-MSG x",
        b"@tagsonly",
    ],
)
def test_not_messages(line: bytes) -> None:
    assert parse_line(line) is None


# -- line splitting -------------------------------------------------------------------

SESSION = (
    b"PASS secret\r\nNICK bot\r\nUSER bot 0 0 :bot\r\n"
    b"JOIN #c2\nPRIVMSG #c2 :[DOWNLOAD]: Downloaded 28.6 KB\r\n"
)


def test_lines_split_at_every_byte() -> None:
    whole, anomalies = feed_all([SESSION])
    assert [r["command"] for r in whole] == ["PASS", "NICK", "USER", "JOIN", "PRIVMSG"]
    assert not anomalies
    for cut in range(1, len(SESSION)):
        records, anomalies = feed_all([SESSION[:cut], SESSION[cut:]])
        assert records == whole, cut
        assert not anomalies
    records, _ = feed_all([SESSION[i : i + 1] for i in range(len(SESSION))])
    assert records == whole


def test_directions_are_independent() -> None:
    anomalies: Counter[str] = Counter()
    parser = IrcParser(anomalies)
    assert parser.feed(TO_SERVER, b"NICK a") == []
    assert parser.feed(TO_CLIENT, b":srv 001 a :Wel") == []
    assert [e.record["command"] for e in parser.feed(TO_SERVER, b"\r\n")] == ["NICK"]
    events = parser.feed(TO_CLIENT, b"come\r\n")
    assert events[0].record["text"] == "Welcome" and events[0].direction == TO_CLIENT


def test_long_line_is_skipped_to_the_next_newline() -> None:
    limits = Limits(max_line=64)
    long = b"PRIVMSG #c :" + b"A" * 200
    # Whole in one feed, then arriving in pieces (buffered past the bound).
    for chunks in (
        [long + b"\r\nNICK after\r\n"],
        [long[:50], long[50:120], long[120:] + b"\r\nNICK after\r\n"],
    ):
        records, anomalies = feed_all(chunks, limits=limits)
        assert [r["command"] for r in records] == ["NICK"]
        assert anomalies == Counter({"irc: line too long": 1})


def test_gap_resumes_after_next_newline_and_close_flushes() -> None:
    anomalies: Counter[str] = Counter()
    parser = IrcParser(anomalies)
    assert parser.feed(TO_SERVER, b"PRIVMSG #c :half") == []
    parser.gap(TO_SERVER, 10)
    assert parser.feed(TO_SERVER, b"of a line\r\nNICK x\r\nQUIT :bye") != []
    assert [e.record["command"] for e in parser.close()] == ["QUIT"]
    assert anomalies == Counter({"irc: stream gap": 1})


def test_junk_lines_are_counted() -> None:
    records, anomalies = feed_all([b"\x16\x03\x01\x00\xa5\x01\n:x\nNICK ok\n"])
    assert [r["command"] for r in records] == ["NICK"]
    assert anomalies == Counter({"irc: malformed line": 2})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_fuzz_never_raises(chunks: list[bytes]) -> None:
    anomalies: Counter[str] = Counter()
    parser = IrcParser(anomalies, Limits(max_line=128))
    for i, chunk in enumerate(chunks):
        for event in parser.feed(i % 2, chunk):
            assert isinstance(event.record["command"], str)
        if i == 3:
            parser.gap(TO_SERVER, 7)
    parser.close()
    probe(TO_SERVER, b"".join(chunks))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_fuzz_text_lines(line: str) -> None:
    record = parse_line(line.encode("utf-8", "surrogatepass"))
    if record is not None:
        assert record["command"].isupper() or record["command"].isdigit()


# -- probing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "data"),
    [
        (TO_SERVER, b"NICK bot\r\nUSER bot 0 0 :bot\r\n"),
        (TO_SERVER, b"PASS l0m3za\r\n"),
        (TO_SERVER, b"CAP LS\r\nPASS test\r\n"),
        (TO_SERVER, b"USER xxxxx +iw xxxxx :Xxxxxx Xxxx\r\n"),
        (TO_SERVER, b"JOIN #chan\r\n"),
        (TO_CLIENT, b":hunt3d.devilz.net NOTICE AUTH :*** Looking up your hostname...\r\n"),
        (TO_CLIENT, b":irc.example.net 001 me :Welcome\r\n"),
        (TO_CLIENT, b"PING :irc.example.net\r\n"),
        (TO_CLIENT, b"NOTICE AUTH :*** Processing connection\r\n"),
        (TO_CLIENT, b"ERROR :Closing Link\r\n"),
        (TO_SERVER, b":srv NOTICE * :partial line without its end"),
    ],
)
def test_probe_recognizes_irc(direction: int, data: bytes) -> None:
    assert probe(direction, data)


@pytest.mark.parametrize(
    ("direction", "data"),
    [
        (TO_SERVER, b"USER anonymous\r\n"),  # FTP / POP3
        (TO_CLIENT, b"220 ProFTPD Server ready.\r\n"),
        (TO_CLIENT, b"+OK POP3 ready\r\n"),
        (TO_SERVER, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        (TO_CLIENT, b"SSH-2.0-OpenSSH_9.6\r\n"),
        (TO_SERVER, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
        (TO_SERVER, b"NICK\r\n"),
        (TO_SERVER, b"NICK a\x00b\r\n"),
        (TO_CLIENT, b":server FOO bar\r\n"),
        (TO_SERVER, b""),
    ],
)
def test_probe_rejects_other_protocols(direction: int, data: bytes) -> None:
    assert not probe(direction, data)


def test_ports() -> None:
    assert 6667 in PORTS and 6697 in PORTS and 7000 in PORTS


# -- real sessions --------------------------------------------------------------------


def session(path: Path) -> list[AppEvent]:
    """IRC events of a one-connection capture, reassembled naively.

    The first TCP packet's sender is the client; per direction, segments are ordered by
    sequence number with duplicates dropped and fed to one parser, client side first.
    """
    decoder = Decoder()
    segments: dict[int, dict[int, bytes]] = {TO_SERVER: {}, TO_CLIENT: {}}
    client: tuple[bytes, int] | None = None
    with open_capture(path) as reader:
        for num, (ts, linktype, data, wirelen) in enumerate(reader.frames(), 1):
            pkt = decoder.decode(num, ts, linktype, data, wirelen)
            if pkt.proto != 6:
                continue
            if client is None:
                client = (pkt.src, pkt.sport)
            direction = TO_SERVER if (pkt.src, pkt.sport) == client else TO_CLIENT
            if pkt.payload:
                segments[direction].setdefault(pkt.seq, pkt.payload)
    anomalies: Counter[str] = Counter()
    parser = IrcParser(anomalies)
    events: list[AppEvent] = []
    for direction in (TO_SERVER, TO_CLIENT):
        ordered = [segments[direction][seq] for seq in sorted(segments[direction])]
        assert ordered and probe(direction, ordered[0])
        for data in ordered:
            events.extend(parser.feed(direction, data))
    events.extend(parser.close())
    assert not anomalies
    return events


@needs_corpus
def test_botnet_session_topics_and_reports() -> None:
    events = session(CORPUS / "irc" / "sv__irc.pcap")
    topics = [
        (e.record["target"], e.record["text"]) for e in events if e.record["command"] == "332"
    ]
    assert [target for target, _ in topics] == ["#s01", "#s02", "#s03", "#sl0w3r"]
    texts = [text for _, text in topics]
    assert texts[0].startswith(".download http://www.wanees.net/bbnz.exe")
    assert texts[1].startswith(".download http://webacceptor.findwhatevernow.com:8091/get.file?")
    assert texts[1].endswith("jocker.exe 1")
    assert texts[2].startswith(".download http://ysbweb.com/ist/scripts/ysb_exe.php?")
    assert "ysbinstall_1000489_3.exe" in texts[2]
    assert texts[3] == ".advscan dcom135 200 3 0 -r -s"
    assert all(e.direction == TO_CLIENT for e in events if e.record["command"] == "332")

    reports = [
        e.record for e in events if e.record["command"] == "PRIVMSG" and e.direction == TO_SERVER
    ]
    assert all(r["text"].startswith("[DOWNLOAD]: ") for r in reports)
    said = [r["text"] for r in reports]
    assert "[DOWNLOAD]: Downloading URL: http://www.wanees.net/bbnz.exe to: bbnz.exe." in said
    assert any(
        t.startswith("[DOWNLOAD]: Downloaded 28.6 KB to ysbinstall_1000489_3.exe") for t in said
    )
    assert "[DOWNLOAD]: Opened: ysbinstall_1000489_3.exe." in said
    assert {r["target"] for r in reports} == {"#s01", "#s02", "#s03"}

    nicks = [e.record["nick"] for e in events if e.record["command"] == "NICK"]
    assert nicks == ["damn-0262937047"]
    joins = [e.record for e in events if e.record["command"] == "JOIN" and e.direction == TO_CLIENT]
    assert [j["target"] for j in joins] == ["#s01", "#s02", "#s03", "#sl0w3r"]
    assert {j["nick"] for j in joins} == {"damn-0262937047"}


@needs_corpus
def test_basic_client_session() -> None:
    events = session(CORPUS / "irc" / "zeek__irc-basic.pcap")
    sent = [e.record for e in events if e.direction == TO_SERVER]
    assert [r["command"] for r in sent] == ["USER", "NICK", "JOIN", "PRIVMSG", "QUIT"]
    assert sent[0]["params"] == ["brotest", "*", "*", "brotest"]
    assert sent[1]["nick"] == "brotest"
    assert sent[2]["target"] == "#brotest"
    assert (sent[3]["target"], sent[3]["text"]) == ("#brotest", "test")


@needs_corpus
@pytest.mark.parametrize(
    "name", ["zeek__irc-whitespace.pcap", "zeek__irc-more-commands.pcap", "ndpi__irc.pcap"]
)
def test_other_corpus_sessions_parse_cleanly(name: str) -> None:
    events = session(CORPUS / "irc" / name)
    assert any(e.record["command"] == "NICK" for e in events)
