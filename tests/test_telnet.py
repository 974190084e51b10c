"""Tests for netsentry.protocols.telnet: NVT decoding and the login heuristic."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits
from netsentry.protocols.telnet import PORTS, NvtDecoder, TelnetParser, erase, probe
from tests.test_lines import Chunk, bytewise, feed_all, shape, split_everywhere

IAC = b"\xff"
DO, WILL, WONT, SB, SE = b"\xfd", b"\xfb", b"\xfc", b"\xfa", b"\xf0"
NEGOTIATION = IAC + DO + b"\x18" + IAC + DO + b"\x20" + IAC + WILL + b"\x01"
TTYPE = IAC + SB + b"\x18\x00xterm-256color" + IAC + SE


def run(chunks: list[Chunk], close: bool = True) -> tuple[list[AppEvent], Counter[str]]:
    anomalies: Counter[str] = Counter()
    return feed_all(TelnetParser(anomalies), chunks, close), anomalies


def outcomes(events: list[AppEvent]) -> list[tuple[Any, Any, Any]]:
    return [(e.record["user"], e.record["result"], e.extra["reply"]) for e in events]


def typed(word: bytes, end: bytes = b"\r\x00", echo: bool = True) -> list[Chunk]:
    """A user typing ``word`` one character per segment, echoed by the server."""
    chunks: list[Chunk] = []
    for i in range(len(word)):
        chunks.append((TO_SERVER, word[i : i + 1]))
        if echo:
            chunks.append((TO_CLIENT, word[i : i + 1]))
    chunks.append((TO_SERVER, end))
    if echo:
        chunks.append((TO_CLIENT, b"\r\n"))
    return chunks


FAILED_THEN_OK: list[Chunk] = [
    (TO_CLIENT, NEGOTIATION),
    (TO_SERVER, IAC + WILL + b"\x18" + IAC + WONT + b"\x20" + TTYPE),
    (TO_CLIENT, b"Ubuntu 22.04 LTS\r\nhost login: "),
    *typed(b"root"),
    (TO_CLIENT, b"Password: "),
    *typed(b"toor", echo=False),
    (TO_CLIENT, b"\r\n"),
    (TO_CLIENT, b"\r\nLogin incorrect\r\nhost login: "),
    *typed(b"alice", end=b"\r\n"),
    (TO_CLIENT, b"Password: "),
    *typed(b"s3cret", echo=False),
    (TO_CLIENT, b"\r\nLast login: Mon Jan  1 10:00:00 2024 from 10.0.0.9\r\n"),
    (TO_CLIENT, b"alice@host:~$ "),
    (TO_SERVER, b"ls\r\n"),
]


def test_failure_then_success_exactly() -> None:
    events, anomalies = run(FAILED_THEN_OK)
    assert shape(events) == [
        ("auth", TO_CLIENT, {"service": "telnet", "user": "root", "result": "failure"},
         {"reply": "Login incorrect"}),
        ("auth", TO_CLIENT, {"service": "telnet", "user": "alice", "result": "success"},
         {"reply": "Last login: Mon Jan  1 10:00:00 2024 from 10.0.0.9"}),
    ]
    assert not anomalies


def test_every_split_gives_the_same_events() -> None:
    expected = shape(run(FAILED_THEN_OK)[0])
    for chunks in split_everywhere(FAILED_THEN_OK):
        assert shape(run(chunks)[0]) == expected
    assert shape(run(bytewise(FAILED_THEN_OK))[0]) == expected


def test_success_by_shell_prompt() -> None:
    events, _ = run([
        (TO_CLIENT, b"login: "), *typed(b"bob"), (TO_CLIENT, b"Password:"),
        *typed(b"pw", echo=False), (TO_CLIENT, b"\r\n$ "),
    ])
    assert outcomes(events) == [("bob", "success", "$")]


@pytest.mark.parametrize("prompt", [b"Router>", b"Router#", b"[root@box ~]# ", b"% "])
def test_shell_prompt_forms(prompt: bytes) -> None:
    events, _ = run([(TO_CLIENT, b"Username: "), *typed(b"u"), (TO_CLIENT, b"Password: "),
                     *typed(b"p", echo=False), (TO_CLIENT, b"\r\n\r\n" + prompt)])
    assert [r for _, r, _ in outcomes(events)] == ["success"]


@pytest.mark.parametrize(
    "message",
    [b"Login incorrect", b"% Authentication failed", b"Access denied", b"Login failed!",
     b"% Login invalid", b"% Bad passwords", b"Invalid password"],
)
def test_failure_messages(message: bytes) -> None:
    events, _ = run([(TO_CLIENT, b"User: "), *typed(b"admin"), (TO_CLIENT, b"Password: "),
                     *typed(b"1234", echo=False), (TO_CLIENT, b"\r\n" + message + b"\r\n")])
    assert outcomes(events) == [("admin", "failure", message.decode())]


def test_password_only_device_reprompt_is_failure() -> None:
    events, _ = run([
        (TO_CLIENT, b"\r\nUser Access Verification\r\n\r\nPassword: "),
        *typed(b"cisco", echo=False),
        (TO_CLIENT, b"\r\nPassword: "),
        *typed(b"admin", echo=False),
        (TO_CLIENT, b"\r\n% Bad passwords\r\n"),
    ])
    assert outcomes(events) == [(None, "failure", "Password:"), (None, "failure",
                                                                 "% Bad passwords")]


def test_silent_login_reprompt_is_failure() -> None:
    events, _ = run([(TO_CLIENT, b"login: "), *typed(b"guest"), (TO_CLIENT, b"Password: "),
                     *typed(b"x", echo=False), (TO_CLIENT, b"\r\n\r\nlogin: ")])
    assert outcomes(events) == [("guest", "failure", "login:")]


def test_user_refused_before_password() -> None:
    events, _ = run([(TO_CLIENT, b"login: "), *typed(b"nobody"),
                     (TO_CLIENT, b"Access denied\r\nlogin: ")])
    assert outcomes(events) == [("nobody", "failure", "Access denied")]


def test_failure_message_without_line_end_counts_at_close() -> None:
    events, _ = run([(TO_CLIENT, b"login: "), *typed(b"a"), (TO_CLIENT, b"Password: "),
                     *typed(b"b", echo=False), (TO_CLIENT, b"\r\nLogin incorrect")])
    assert outcomes(events) == [("a", "failure", "Login incorrect")]


def test_no_dialogue_no_event() -> None:
    events, _ = run([
        (TO_CLIENT, NEGOTIATION + b"Welcome to the BBS\r\nPress any key> "),
        (TO_SERVER, b"x\r\n"),
        (TO_CLIENT, b"Access denied to this area\r\n"),
        (TO_CLIENT, b"$ "),
    ])
    assert events == []


def test_backspaces_edit_the_user_name() -> None:
    events, _ = run([(TO_CLIENT, b"login: "), (TO_SERVER, b"rx\x7foox\x08t\r\n"),
                     (TO_CLIENT, b"Password: "), (TO_SERVER, b"x\r\n"),
                     (TO_CLIENT, b"Login incorrect\r\n")])
    # no echo, no line ends from the server: both prompts and the verdict share a line
    assert outcomes(events) == [("root", "failure", "login: Password: Login incorrect")]
    assert erase(b"ab\x08\x08\x08c") == b"c"


def test_negotiation_after_password_does_not_reprompt() -> None:
    events, _ = run([(TO_CLIENT, b"login: "), *typed(b"a"), (TO_CLIENT, b"Password: "),
                     *typed(b"b", echo=False), (TO_CLIENT, IAC + WILL + b"\x01"),
                     (TO_CLIENT, b"\r\nLast login: today\r\n")])
    assert outcomes(events) == [("a", "success", "Last login: today")]


def test_after_success_nothing_more() -> None:
    events, _ = run([(TO_CLIENT, b"login: "), *typed(b"a"), (TO_CLIENT, b"Password: "),
                     *typed(b"b", echo=False), (TO_CLIENT, b"\r\n$ "),
                     (TO_SERVER, b"cat log\r\n"), (TO_CLIENT, b"Login incorrect\r\nlogin: ")])
    assert [r for _, r, _ in outcomes(events)] == ["success"]


# -- NVT decoding ---------------------------------------------------------------------


def decode_all(chunks: list[bytes]) -> bytes:
    nvt = NvtDecoder()
    anomalies: Counter[str] = Counter()
    return b"".join(nvt.decode(c, anomalies) for c in chunks)


def test_nvt_strips_negotiation_and_keeps_escaped_255() -> None:
    data = NEGOTIATION + b"ab" + IAC + IAC + b"c" + TTYPE + b"d" + IAC + b"\xf1"
    data += b"e\r\nf\r\x00g\rh"
    assert decode_all([data]) == b"ab\xffcde\nf\ng\nh"


def test_nvt_every_split() -> None:
    data = NEGOTIATION + b"ab" + IAC + IAC + b"c" + IAC + SB + b"\x18" + IAC + IAC + b"x" + IAC + SE
    data += b"d\r\ne\r\x00f\r\n"
    expected = decode_all([data])
    assert expected == b"ab\xffcd\ne\nf\n"
    for cut in range(len(data) + 1):
        assert decode_all([data[:cut], data[cut:]]) == expected, cut
    assert decode_all([data[i : i + 1] for i in range(len(data))]) == expected


def test_nvt_runaway_subnegotiation_is_bounded() -> None:
    nvt = NvtDecoder()
    anomalies: Counter[str] = Counter()
    out = nvt.decode(IAC + SB + b"\x18" + b"x" * 5000 + b"data", anomalies)
    assert anomalies == Counter({"telnet: runaway subnegotiation": 1})
    assert out == b""
    assert nvt.decode(b"more", anomalies) == b"more"


def test_probe_and_ports() -> None:
    assert sorted(PORTS) == [23, 2323]
    assert probe(TO_CLIENT, IAC + DO + b"\x18")
    assert probe(TO_SERVER, IAC + WILL + b"\x18")
    assert probe(TO_CLIENT, IAC + SB + b"\x18\x01" + IAC + SE)
    assert not probe(TO_CLIENT, IAC)
    assert not probe(TO_CLIENT, b"login: ")
    assert not probe(TO_CLIENT, IAC + IAC)


_TELNET_WORDS = st.sampled_from([
    b"login: ", b"Password: ", b"Login incorrect\r\n", b"Last login\r\n", b"$ ", b"\r\n",
    b"\r", b"\x00", IAC, IAC + SB, IAC + SE, IAC + DO + b"\x01", b"root\r\n", b"\x7f",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.one_of(st.binary(max_size=60), _TELNET_WORDS)),
                max_size=40))
def test_fuzz_never_raises(steps: list[tuple[int, bytes]]) -> None:
    parser = TelnetParser(Counter(), Limits(max_line=32))
    for direction, data in steps:
        if direction == 2:
            parser.gap(TO_CLIENT, len(data))
        else:
            for event in parser.feed(direction, data):
                assert event.record["result"] in ("success", "failure")
    parser.close()
