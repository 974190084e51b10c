"""Tests for netsentry.protocols.ssh: banners, key-exchange walk, login-attempt guess."""

from __future__ import annotations

import os
import struct
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits
from netsentry.protocols.ssh import PORTS, SHORT_SESSION_BYTES, SshParser, parse_banner, probe
from tests.test_lines import CORPUS, Chunk, feed_all, needs_corpus, replay, shape

CLIENT_BANNER = b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n"
SERVER_BANNER = b"SSH-2.0-OpenSSH_7.4\r\n"


def packet(msg: int, size: int) -> bytes:
    """A cleartext SSH 2 binary packet: message code ``msg`` and ``size`` more payload bytes."""
    payload = bytes([msg]) + b"\x07" * size
    pad = 8 - (5 + len(payload)) % 8
    if pad < 4:
        pad += 8
    return struct.pack(">IB", 1 + len(payload) + pad, pad) + payload + b"\x00" * pad


def packet_v1(msg: int, size: int) -> bytes:
    """A cleartext SSH 1 packet: length, 1-8 padding bytes, type, data, CRC."""
    length = 1 + size + 4
    return struct.pack(">I", length) + b"\x00" * (8 - length % 8) + bytes([msg]) + b"\x07" * (
        size + 4)


def kex(encrypted: int) -> bytes:
    """KEXINIT, one key-exchange message, NEWKEYS, then ``encrypted`` opaque bytes."""
    return packet(20, 1000) + packet(30, 40) + packet(21, 0) + os.urandom(encrypted)


SESSION: list[Chunk] = [
    (TO_SERVER, CLIENT_BANNER),
    (TO_CLIENT, SERVER_BANNER),
    (TO_SERVER, kex(300)),
    (TO_CLIENT, kex(500)),
]

BANNERS = {
    "client": {"proto_version": "2.0", "software_version": "OpenSSH_8.9p1"},
    "server": {"proto_version": "2.0", "software_version": "OpenSSH_7.4"},
}


def run(chunks: list[Chunk]) -> tuple[list[AppEvent], Counter[str]]:
    anomalies: Counter[str] = Counter()
    return feed_all(SshParser(anomalies), chunks), anomalies


def test_session_exactly() -> None:
    parser = SshParser(Counter())
    assert parser.feed(*SESSION[0]) == []
    assert shape(parser.feed(*SESSION[1])) == [("ssh", TO_CLIENT, BANNERS, {})]
    assert parser.feed(*SESSION[2]) == []
    assert parser.feed(*SESSION[3]) == []
    assert shape(parser.close()) == [
        ("auth", TO_SERVER, {"service": "ssh", "user": None, "result": "attempt"},
         {"client_bytes": 300, "server_bytes": 500, "short_session": True}),
    ]
    assert not parser.anomalies


def test_every_split_and_bytewise() -> None:
    whole = b"".join(d for _, d in SESSION[0::2])
    server = b"".join(d for _, d in SESSION[1::2])
    expected = [(e.proto, e.record, e.extra) for e in run(SESSION)[0]]
    for cut in range(len(whole) + 1):
        chunks: list[Chunk] = [(TO_SERVER, whole[:cut]), (TO_CLIENT, server),
                               (TO_SERVER, whole[cut:])]
        events, anomalies = run(chunks)
        assert [(e.proto, e.record, e.extra) for e in events] == expected, cut
        assert not anomalies
    bytewise = [(TO_SERVER, whole[i : i + 1]) for i in range(len(whole))]
    bytewise += [(TO_CLIENT, server[i : i + 1]) for i in range(len(server))]
    events, _ = run(bytewise)
    assert events[-1].extra == {"client_bytes": 300, "server_bytes": 500, "short_session": True}


def test_long_session_is_not_short() -> None:
    events, _ = run([(TO_SERVER, CLIENT_BANNER), (TO_CLIENT, SERVER_BANNER),
                     (TO_SERVER, kex(SHORT_SESSION_BYTES)), (TO_CLIENT, kex(100))])
    assert events[-1].extra == {"client_bytes": SHORT_SESSION_BYTES, "server_bytes": 100,
                                "short_session": False}
    events, _ = run([(TO_SERVER, CLIENT_BANNER), (TO_CLIENT, SERVER_BANNER),
                     (TO_SERVER, kex(900)), (TO_CLIENT, kex(500000))])
    assert events[-1].extra["short_session"] is False  # a download that logged in


def test_no_attempt_without_key_exchange() -> None:
    events, _ = run([(TO_SERVER, CLIENT_BANNER), (TO_CLIENT, SERVER_BANNER),
                     (TO_SERVER, packet(20, 1000))])
    assert [e.proto for e in events] == ["ssh"]


def test_banner_only_reported_at_close() -> None:
    events, _ = run([(TO_CLIENT, SERVER_BANNER)])
    assert shape(events) == [("ssh", TO_SERVER, {"server": BANNERS["server"]}, {})]


def test_server_lines_before_the_banner() -> None:
    events, anomalies = run([
        (TO_CLIENT, b"Welcome\r\nauthorized use only\r\n" + SERVER_BANNER + packet(20, 10)),
        (TO_SERVER, CLIENT_BANNER + kex(64)),
        (TO_CLIENT, packet(31, 10) + packet(21, 0) + b"x" * 48),
    ])
    assert events[0].record == BANNERS
    assert events[-1].extra == {"client_bytes": 64, "server_bytes": 48, "short_session": True}
    assert not anomalies


def test_client_that_is_not_ssh() -> None:
    events, anomalies = run([(TO_CLIENT, SERVER_BANNER), (TO_SERVER, b"GET / HTTP/1.1\r\n")])
    assert shape(events) == [("ssh", TO_SERVER, {"server": BANNERS["server"]}, {})]
    assert anomalies == Counter({"ssh: no identification line": 1})


def test_bad_packet_length_stops_the_walk() -> None:
    events, anomalies = run([(TO_SERVER, CLIENT_BANNER), (TO_CLIENT, SERVER_BANNER),
                             (TO_SERVER, b"\xff\xff\xff\xff" + b"x" * 100)])
    assert [e.proto for e in events] == ["ssh"]
    assert anomalies == Counter({"ssh: bad packet length": 1})


def test_ssh1_encrypts_after_the_first_packet() -> None:
    # Server 1.99 speaks first and must wait for the client's version to read packets.
    events, anomalies = run([
        (TO_CLIENT, b"SSH-1.99-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2\n" + packet_v1(2, 260)),
        (TO_SERVER, b"SSH-1.5-OpenSSH_6.2\n" + packet_v1(3, 140) + b"e" * 40),
        (TO_CLIENT, b"s" * 16),
    ])
    assert events[0].record == {
        "client": {"proto_version": "1.5", "software_version": "OpenSSH_6.2"},
        "server": {"proto_version": "1.99", "software_version": "OpenSSH_6.6.1p1"},
    }
    assert events[-1].extra == {"client_bytes": 40, "server_bytes": 16, "short_session": True}
    assert not anomalies


def test_gap_after_key_exchange_counts_as_encrypted() -> None:
    parser = SshParser(Counter())
    feed_all(parser, SESSION, close=False)
    parser.gap(TO_SERVER, 1000)
    (_attempt,) = parser.close()
    assert _attempt.extra["client_bytes"] == 1300


def test_parse_banner() -> None:
    assert parse_banner(b"SSH-2.0-OpenSSH_6.6p1-hpn14v4") == {
        "proto_version": "2.0", "software_version": "OpenSSH_6.6p1-hpn14v4"}
    assert parse_banner(b"SSH-2.0-paramiko_1.15.2") == {
        "proto_version": "2.0", "software_version": "paramiko_1.15.2"}
    assert parse_banner(b"SSH-2.0") == {"proto_version": "2.0", "software_version": ""}


def test_probe_and_ports() -> None:
    assert sorted(PORTS) == [22, 2222]
    assert probe(TO_CLIENT, SERVER_BANNER)
    assert probe(TO_SERVER, CLIENT_BANNER)
    assert not probe(TO_CLIENT, b"220 ssh.example.com ESMTP\r\n")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.one_of(
    st.binary(max_size=80),
    st.sampled_from([CLIENT_BANNER, SERVER_BANNER, b"SSH-1.99-x\n", b"SSH-1.5-y\n",
                     packet(20, 30), packet(21, 0), packet_v1(2, 10), b"\r\n"]))),
    max_size=30))
def test_fuzz_never_raises(steps: list[tuple[int, bytes]]) -> None:
    parser = SshParser(Counter(), Limits(max_line=64, max_pending=256))
    for direction, data in steps:
        if direction == 2:
            parser.gap(TO_SERVER if len(data) % 2 else TO_CLIENT, len(data))
        else:
            parser.feed(direction, data)
    for event in parser.close():
        assert event.proto in ("ssh", "auth")


# -- real capture ---------------------------------------------------------------------


@needs_corpus
def test_zeek_ssh() -> None:
    # 20 connections to port 22 (plus one to 2200 and one to 41644), every one with both
    # banners and a finished key exchange: 11 SSH 2 and 9 SSH 1.5 clients.
    path = CORPUS / "benign/zeek__ssh-ssh.pcap"
    sessions, anomalies = replay(path, 22, SshParser)
    assert len(sessions) == 20
    assert not anomalies
    banners = [s[0].record for s in sessions]
    assert all(e.proto == "ssh" for e in (s[0] for s in sessions))
    assert banners[0] == {
        "client": {"proto_version": "2.0", "software_version": "OpenSSH_5.9"},
        "server": {"proto_version": "2.0", "software_version": "OpenSSH_5.8"},
    }
    assert Counter(b["client"]["proto_version"] for b in banners) == Counter(
        {"2.0": 11, "1.5": 9})
    assert Counter(b["server"]["software_version"] for b in banners)["OpenSSH_6.6.1p1"] == 11
    assert {"proto_version": "1.99",
            "software_version": "OpenSSH_3.4+p1+gssapi+OpenSSH_3.7.1buf_fix+2006100301"} in [
        b["server"] for b in banners]
    attempts = [s[1].extra for s in sessions]
    assert len(attempts) == 20
    # Two sessions downloaded about 530 KB from the server: not short; all others are.
    assert sum(a["short_session"] for a in attempts) == 18
    assert sorted(a["server_bytes"] for a in attempts if not a["short_session"]) == [
        532672, 532912]
    (paramiko,), _ = replay(path, 2200, SshParser)
    assert paramiko[0].record["server"] == {"proto_version": "2.0",
                                            "software_version": "paramiko_1.15.2"}
