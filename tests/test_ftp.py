"""Tests for netsentry.protocols.ftp: EVE ftp records and FTP login outcomes."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits
from netsentry.protocols.ftp import PORTS, FtpParser, probe
from tests.test_lines import (
    CORPUS,
    Chunk,
    bytewise,
    feed_all,
    needs_corpus,
    replay,
    shape,
    split_everywhere,
    stream_bytes,
)

BANNER = (TO_CLIENT, b"220 (vsFTPd 3.0.3)\r\n")


def run(chunks: list[Chunk], close: bool = True) -> tuple[list[AppEvent], Counter[str]]:
    anomalies: Counter[str] = Counter()
    return feed_all(FtpParser(anomalies), chunks, close), anomalies


def auths(events: list[AppEvent]) -> list[tuple[Any, Any, Any]]:
    return [(e.record["user"], e.record["result"], e.extra.get("reply")) for e in events
            if e.proto == "auth"]


def ftp(events: list[AppEvent]) -> list[dict[str, Any]]:
    return [e.record for e in events if e.proto == "ftp"]


FAILED_LOGIN: list[Chunk] = [
    BANNER,
    (TO_SERVER, b"USER bob\r\n"),
    (TO_CLIENT, b"331 Please specify the password.\r\n"),
    (TO_SERVER, b"PASS hunter2\r\n"),
    (TO_CLIENT, b"530 Login incorrect.\r\n"),
    (TO_SERVER, b"QUIT\r\n"),
    (TO_CLIENT, b"221 Goodbye.\r\n"),
]


def test_failed_login_events_exactly() -> None:
    events, anomalies = run(FAILED_LOGIN)
    assert shape(events) == [
        ("ftp", TO_CLIENT, {"command": "USER", "command_data": "bob",
                            "reply": ["Please specify the password."],
                            "completion_code": ["331"], "reply_received": "yes"}, {}),
        ("ftp", TO_CLIENT, {"command": "PASS", "command_data": "hunter2",
                            "reply": ["Login incorrect."], "completion_code": ["530"],
                            "reply_received": "yes"}, {}),
        ("auth", TO_CLIENT, {"service": "ftp", "user": "bob", "result": "failure"},
         {"reply": "530 Login incorrect."}),
        ("ftp", TO_CLIENT, {"command": "QUIT", "reply": ["Goodbye."],
                            "completion_code": ["221"], "reply_received": "yes"}, {}),
    ]
    assert not anomalies


def test_verdict_arrives_with_the_reply_packet() -> None:
    parser = FtpParser(Counter())
    assert parser.feed(*BANNER) == []
    assert parser.feed(TO_SERVER, b"USER bob\r\n") == []
    assert parser.feed(TO_SERVER, b"PASS x\r\n") == []
    got = parser.feed(TO_CLIENT, b"331 Password please.\r\n530 No.\r\n")
    assert auths(got) == [("bob", "failure", "530 No.")]


def test_every_split_gives_the_same_events() -> None:
    expected = shape(run(FAILED_LOGIN)[0])
    for chunks in split_everywhere(FAILED_LOGIN):
        assert shape(run(chunks)[0]) == expected
    assert shape(run(bytewise(FAILED_LOGIN))[0]) == expected


def test_success_with_multiline_reply() -> None:
    events, anomalies = run([
        BANNER,
        (TO_SERVER, b"USER alice\r\nPASS secret\r\n"),
        (TO_CLIENT, b"331 Password required\r\n230-Welcome, alice\r\n230-  quota: 1 GB\r\n"
                    b" more text\r\n230 Login successful.\r\n"),
    ])
    assert auths(events) == [("alice", "success", "230 Login successful.")]
    assert ftp(events)[1] == {
        "command": "PASS",
        "command_data": "secret",
        "reply": ["Welcome, alice", "  quota: 1 GB", " more text", "Login successful."],
        "completion_code": ["230", "230", "230"],
        "reply_received": "yes",
    }
    assert not anomalies


def test_multiline_banner_then_login() -> None:
    events, _ = run([
        (TO_CLIENT, b"220-FileZilla Server\r\n220-written by Tim Kosse\r\n220 Please visit\r\n"),
        (TO_SERVER, b"USER a\r\n"),
        (TO_CLIENT, b"331 ok\r\n"),
        (TO_SERVER, b"PASS b\r\n"),
        (TO_CLIENT, b"230 Logged on\r\n"),
    ])
    assert auths(events) == [("a", "success", "230 Logged on")]
    assert [r["command"] for r in ftp(events)] == ["USER", "PASS"]


def test_pipelined_logins_keep_their_users() -> None:
    events, anomalies = run([
        BANNER,
        (TO_SERVER, b"USER root\r\nPASS a\r\nUSER admin\r\nPASS b\r\nUSER ftp\r\nPASS c\r\n"),
        (TO_CLIENT, b"331 p\r\n530 no\r\n331 p\r\n530 no\r\n331 p\r\n230 yes\r\n"),
    ])
    assert auths(events) == [
        ("root", "failure", "530 no"),
        ("admin", "failure", "530 no"),
        ("ftp", "success", "230 yes"),
    ]
    assert not anomalies


@pytest.mark.parametrize(
    ("command", "code", "result"),
    [
        (b"USER bob", 230, "success"),
        (b"USER bob", 530, "failure"),
        (b"USER bob", 430, "failure"),
        (b"USER bob", 331, None),
        (b"USER bob", 501, None),
        (b"PASS x", 230, "success"),
        (b"PASS x", 232, "success"),
        (b"PASS x", 530, "failure"),
        (b"PASS x", 430, "failure"),
        (b"PASS x", 500, "failure"),
        (b"PASS x", 332, None),
        (b"PASS x", 421, None),
        (b"ACCT x", 230, "success"),
        (b"ACCT x", 530, "failure"),
        (b"SYST", 530, None),
        (b"CWD /", 530, None),
    ],
)
def test_outcome_rules(command: bytes, code: int, result: str | None) -> None:
    events, _ = run([BANNER, (TO_SERVER, command + b"\r\n"), (TO_CLIENT, b"%d x\r\n" % code)])
    got = [e.record["result"] for e in events if e.proto == "auth"]
    assert got == ([result] if result else [])


def test_530_to_other_commands_is_no_login_failure() -> None:
    # ndpi__ftp_failed.pcap in short: one failure, the SYST 530 does not count.
    events, _ = run([
        (TO_CLIENT, b"220 (vsFTPd 3.0.3)\r\n"),
        (TO_SERVER, b"USER hello\r\n"),
        (TO_CLIENT, b"530 This FTP server is anonymous only.\r\n"),
        (TO_SERVER, b"SYST\r\n"),
        (TO_CLIENT, b"530 Please login with USER and PASS.\r\n"),
    ])
    assert auths(events) == [("hello", "failure", "530 This FTP server is anonymous only.")]


def test_preliminary_reply_stays_with_its_command() -> None:
    events, _ = run([
        BANNER,
        (TO_SERVER, b"RETR a.txt\r\nNOOP\r\n"),
        (TO_CLIENT, b"150 Opening BINARY mode data connection.\r\n"),
        (TO_CLIENT, b"226 Transfer complete.\r\n200 NOOP ok.\r\n"),
    ])
    assert ftp(events) == [
        {"command": "RETR", "command_data": "a.txt",
         "reply": ["Opening BINARY mode data connection.", "Transfer complete."],
         "completion_code": ["150", "226"], "reply_received": "yes"},
        {"command": "NOOP", "reply": ["NOOP ok."], "completion_code": ["200"],
         "reply_received": "yes"},
    ]


@pytest.mark.parametrize(
    ("command", "reply", "port", "mode"),
    [
        (b"PASV", b"227 Entering Passive Mode (192,168,1,2,195,149).", 50069, "passive"),
        (b"EPSV", b"229 Entering Extended Passive Mode (|||6446|)", 6446, "passive"),
        (b"PORT 10,0,0,1,4,1", b"200 PORT command successful.", 1025, "active"),
        (b"EPRT |1|132.235.1.2|6275|", b"200 EPRT command successful.", 6275, "active"),
        (b"EPRT |2|1080::8:800:200C:417A|5282|", b"200 ok", 5282, "active"),
    ],
)
def test_data_channel_port(command: bytes, reply: bytes, port: int, mode: str) -> None:
    events, _ = run([BANNER, (TO_SERVER, command + b"\r\n"), (TO_CLIENT, reply + b"\r\n")])
    record = ftp(events)[0]
    assert record["dynamic_port"] == port
    assert record["mode"] == mode


def test_refused_data_channel_has_no_port() -> None:
    events, _ = run([BANNER, (TO_SERVER, b"PORT 10,0,0,1,4,1\r\n"), (TO_CLIENT, b"500 no\r\n")])
    assert "dynamic_port" not in ftp(events)[0]


def test_auth_tls_stops_parsing() -> None:
    events, anomalies = run([
        BANNER,
        (TO_SERVER, b"AUTH TLS\r\n"),
        (TO_CLIENT, b"234 Proceed with negotiation.\r\n"),
        (TO_SERVER, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03USER x\r\n"),
        (TO_CLIENT, b"\x16\x03\x03\x00\x5a\x02\r\n530 x\r\n"),
    ])
    assert [r["command"] for r in ftp(events)] == ["AUTH"]
    assert auths(events) == []
    assert not anomalies


def test_close_reports_unanswered_commands_and_attempt() -> None:
    events, _ = run([BANNER, (TO_SERVER, b"USER bob\r\n"), (TO_CLIENT, b"331 p\r\n"),
                     (TO_SERVER, b"PASS x\r\n")])
    assert shape(events)[-2:] == [
        ("ftp", TO_SERVER, {"command": "PASS", "command_data": "x", "reply_received": "no"}, {}),
        ("auth", TO_SERVER, {"service": "ftp", "user": "bob", "result": "attempt"}, {}),
    ]


def test_reply_without_command_is_counted_not_matched() -> None:
    # A capture that starts after USER: the 331 has no command, the PASS still counts.
    events, anomalies = run([
        (TO_CLIENT, b"331 Password required for admin.\r\n"),
        (TO_SERVER, b"PASS merlin\r\n"),
        (TO_CLIENT, b"530 Login incorrect.\r\n"),
    ])
    assert auths(events) == [(None, "failure", "530 Login incorrect.")]
    assert anomalies == Counter({"ftp: reply without command": 1})


def test_gap_forgets_waiting_commands() -> None:
    parser = FtpParser(Counter())
    feed_all(parser, [BANNER, (TO_SERVER, b"USER a\r\nPASS b\r\n")], close=False)
    parser.gap(TO_CLIENT, 100)
    got = parser.feed(TO_CLIENT, b"xx\r\n530 Login incorrect.\r\n")
    assert auths(got) == []
    assert parser.anomalies["ftp: stream gap"] == 1
    assert parser.anomalies["ftp: reply without command"] == 1


def test_long_lines_and_many_commands_are_bounded() -> None:
    limits = Limits(max_line=64, max_records=4)
    anomalies: Counter[str] = Counter()
    parser = FtpParser(anomalies, limits)
    parser.feed(*BANNER)
    parser.feed(TO_SERVER, b"USER " + b"a" * 1000 + b"\r\n" + b"NOOP\r\n" * 10)
    assert anomalies["ftp: line too long"] == 1
    assert anomalies["ftp: too many commands waiting for a reply"] == 7
    events = parser.close()
    assert [e.record["command"] for e in events] == ["NOOP"] * 4


def test_command_data_is_bounded() -> None:
    events, _ = run([BANNER, (TO_SERVER, b"USER " + b"u" * 2000 + b"\r\n"),
                     (TO_CLIENT, b"530 no\r\n")])
    record = ftp(events)[0]
    assert len(record["command_data"]) == 512
    assert record["command_truncated"] is True


def test_probe_and_ports() -> None:
    assert sorted(PORTS) == [21]
    assert probe(TO_CLIENT, b"220 (vsFTPd 3.0.3)\r\n")
    assert probe(TO_CLIENT, b"220---------- Welcome to Pure-FTPd [privsep] ----------\r\n")
    assert not probe(TO_CLIENT, b"220-FileZilla Server 0.9.60 beta\r\n")  # no word: port
    assert probe(TO_CLIENT, b"220 redmint FTP server (Version 6.4/OpenBSD/Linux-ftpd-0.17) ready.")
    assert probe(TO_CLIENT, b"220 Microsoft FTP Service\r\n")
    assert not probe(TO_CLIENT, b"220 mail.example.com ESMTP Postfix\r\n")
    assert not probe(TO_CLIENT, b"220 Welcome\r\n")  # the port decides
    assert not probe(TO_CLIENT, b"SSH-2.0-OpenSSH_8.9\r\n")
    assert not probe(TO_CLIENT, b"22")
    assert probe(TO_SERVER, b"USER anonymous\r\n")
    assert probe(TO_SERVER, b"AUTH TLS\r\n")
    assert not probe(TO_SERVER, b"GET / HTTP/1.1\r\n")


_FTP_WORDS = st.sampled_from([
    b"USER bob\r\n", b"PASS x\r\n", b"220 hi\r\n", b"230-a\r\n", b"230 b\r\n", b"530 no\r\n",
    b"331 p\r\n", b"150 go\r\n", b"AUTH TLS\r\n", b"234 ok\r\n", b"\r\n", b"\xff\xf4\xff\xf2",
    b"227 (1,2,3,4,5,6)\r\n", b"EPRT |1|x|\r\n", b"PASV\r\n",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.one_of(st.binary(max_size=60), _FTP_WORDS)),
                max_size=30))
def test_fuzz_never_raises(steps: list[tuple[int, bytes]]) -> None:
    parser = FtpParser(Counter(), Limits(max_line=32, max_records=8))
    for direction, data in steps:
        if direction == 2:
            parser.gap(TO_CLIENT, len(data))
        else:
            for event in parser.feed(direction, data):
                assert event.proto in ("ftp", "auth")
    parser.close()


# -- real captures --------------------------------------------------------------------


def _auth_results(path: str) -> tuple[Counter[tuple[Any, Any]], int, Counter[str]]:
    sessions, anomalies = replay(CORPUS / path, 21, FtpParser)
    results: Counter[tuple[Any, Any]] = Counter(
        (e.record["user"], e.record["result"]) for s in sessions for e in s if e.proto == "auth"
    )
    return results, len(sessions), anomalies


@needs_corpus
def test_zeek_ftp_bruteforce() -> None:
    # 30 connections, each USER bro / PASS <n> answered "530 Login incorrect.".
    # Zeek's notice says "20 failed logins" because FTP::bruteforce_threshold is
    # 20: it fires when the 20th arrives; labels.yaml measured 30 530 replies.
    results, connections, anomalies = _auth_results("bruteforce/zeek__ftp-bruteforce.pcap")
    assert connections == 30
    assert results == Counter({("bro", "failure"): 30})
    assert not anomalies
    replies = stream_bytes(CORPUS / "bruteforce/zeek__ftp-bruteforce.pcap", 21, TO_CLIENT)
    assert sum(len(re.findall(rb"^530 ", r, re.M)) for r in replies) == 30


@needs_corpus
def test_ndpi_ftp_failed() -> None:
    # USER hello -> 530 anonymous only (a failure); SYST -> 530 please login (not one).
    results, connections, _ = _auth_results("bruteforce/ndpi__ftp_failed.pcap")
    assert connections == 1
    assert results == Counter({("hello", "failure"): 1})


@needs_corpus
def test_ppa_ftp_crack() -> None:
    # Every frame of this capture is recorded twice (19,730 frames, 9,851 distinct TCP
    # segments); the replayer drops the copies as retransmissions.
    # labels.yaml: 703 PASS answered by 705 "530 Login incorrect." from 708 server
    # streams. 702 sessions are whole (USER admin x335, administrator x367); in 4
    # the capture starts after USER (331 first, so the user is unknown); 2 server
    # streams hold only a 530 for a PASS not captured: no command, no verdict.
    # 3 sessions end after USER: 699 + 3 = 702 USERs, 364 + 3 = 367 administrators.
    path = CORPUS / "bruteforce/ppa__ftp-crack.pcap"
    results, connections, anomalies = _auth_results("bruteforce/ppa__ftp-crack.pcap")
    assert connections == 708
    assert results == Counter({
        ("administrator", "failure"): 364,
        ("admin", "failure"): 335,
        (None, "failure"): 4,
    })
    assert anomalies == Counter({"ftp: reply without command": 6})
    sessions, _ = replay(path, 21, FtpParser)
    commands = Counter((e.record["command"], e.record["reply_received"], e.direction)
                       for events in sessions for e in events if e.proto == "ftp")
    assert commands == Counter({
        ("PASS", "yes", TO_CLIENT): 703,
        ("USER", "yes", TO_CLIENT): 699,
        ("USER", "no", TO_SERVER): 3,  # reported at close, no reply captured
    })
    client = stream_bytes(path, 21, TO_SERVER)
    server = stream_bytes(path, 21, TO_CLIENT)
    assert sum(len(re.findall(rb"^PASS ", c, re.M)) for c in client) == 703
    assert sum(len(re.findall(rb"^530 ", s, re.M)) for s in server) == 705
    assert sum(s == b"530 Login incorrect.\r\n" for s in server) == 2
