"""Tests for the mail decoders: netsentry.protocols.smtp, .pop3imap and .mail (SASL)."""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.protocols import pop3imap, smtp
from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits, StreamParser
from netsentry.protocols.mail import SaslExchange, b64decode, sasl_user
from netsentry.protocols.pop3imap import ImapParser, Pop3Parser
from netsentry.protocols.smtp import SmtpParser, address
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


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def run(
    factory: Callable[[Counter[str]], StreamParser], chunks: list[Chunk], close: bool = True
) -> tuple[list[AppEvent], Counter[str]]:
    anomalies: Counter[str] = Counter()
    return feed_all(factory(anomalies), chunks, close), anomalies


def auths(events: list[AppEvent]) -> list[tuple[Any, Any, Any]]:
    return [(e.record["user"], e.record["result"], e.extra.get("reply")) for e in events
            if e.proto == "auth"]


# -- SASL -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mech", "response", "user"),
    [
        ("PLAIN", b64(b"\x00alice\x00secret"), "alice"),
        ("PLAIN", b64(b"admin\x00alice\x00secret"), "alice"),
        ("PLAIN", b64(b"admin\x00\x00secret"), "admin"),
        ("PLAIN", b64(b"no separators"), None),
        ("LOGIN", b64(b"bob"), "bob"),
        ("CRAM-MD5", b64(b"tim b913a602c7eda7a495b4e6e7334d3890"), "tim"),
        ("DIGEST-MD5", b64(b'charset=utf-8,username="chris",realm="elwood"'), "chris"),
        ("XOAUTH2", b64(b"user=someuser@example.com\x01auth=Bearer ya29\x01\x01"),
         "someuser@example.com"),
        ("OAUTHBEARER", b64(b"n,a=user@example.com,\x01auth=Bearer x\x01\x01"),
         "user@example.com"),
        ("GSSAPI", b64(b"\x60\x82"), None),
        ("PLAIN", b"!!!not base64!!!", None),
        ("LOGIN", b"=", None),
    ],
)
def test_sasl_user(mech: str, response: bytes, user: str | None) -> None:
    assert sasl_user(mech, 0, response) == user


def test_sasl_later_steps_reveal_nothing() -> None:
    assert sasl_user("LOGIN", 1, b64(b"password")) is None
    exchange = SaslExchange("login")
    exchange.respond(b64(b"carol"))
    exchange.respond(b64(b"password"))
    assert (exchange.mech, exchange.user, exchange.sent) == ("LOGIN", "carol", 2)


def test_b64decode() -> None:
    assert b64decode(b"=") == b""
    assert b64decode(b64(b"x") + b"\r") == b"x"
    assert b64decode(b"a") is None


# -- SMTP -----------------------------------------------------------------------------

SMTP_SESSION: list[Chunk] = [
    (TO_CLIENT, b"220 mx.example.com ESMTP Postfix\r\n"),
    (TO_SERVER, b"EHLO client.example.org\r\n"),
    (TO_CLIENT, b"250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
    (TO_SERVER, b"MAIL FROM:<alice@example.org> SIZE=100\r\nRCPT TO:<bob@example.com>\r\n"
                b"RCPT TO:<nobody@example.com>\r\nRCPT TO:<carol@example.com>\r\nDATA\r\n"),
    (TO_CLIENT, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no such user\r\n"
                b"250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
    (TO_SERVER, b"Subject: hi\r\n\r\nRCPT TO:<inbody@example.com>\r\n..leading dot\r\n"
                b"QUIT\r\n.\r\nQUIT\r\n"),
    (TO_CLIENT, b"250 2.0.0 Ok: queued as 12345\r\n221 2.0.0 Bye\r\n"),
]
SMTP_BODY = b"Subject: hi\r\n\r\nRCPT TO:<inbody@example.com>\r\n..leading dot\r\nQUIT\r\n"


def test_smtp_transaction_exactly() -> None:
    events, anomalies = run(SmtpParser, SMTP_SESSION)
    assert shape(events) == [
        ("smtp", TO_SERVER, {
            "helo": "client.example.org",
            "mail_from": "alice@example.org",
            "rcpt_to": ["bob@example.com", "nobody@example.com", "carol@example.com"],
        }, {"rcpt_count": 3, "rcpt_refused": 1, "body_bytes": len(SMTP_BODY)}),
    ]
    assert not anomalies


def test_smtp_every_split_gives_the_same_events() -> None:
    expected = shape(run(SmtpParser, SMTP_SESSION)[0])
    for chunks in split_everywhere(SMTP_SESSION):
        assert shape(run(SmtpParser, chunks)[0]) == expected
    assert shape(run(SmtpParser, bytewise(SMTP_SESSION))[0]) == expected


def test_smtp_body_sent_before_the_354_is_held() -> None:
    # The whole client side first, then the replies: the decoder waits for 354.
    client = b"".join(d for direction, d in SMTP_SESSION if direction == TO_SERVER)
    server = b"".join(d for direction, d in SMTP_SESSION if direction == TO_CLIENT)
    events, anomalies = run(SmtpParser, [(TO_SERVER, client), (TO_CLIENT, server)])
    assert shape(events) == shape(run(SmtpParser, SMTP_SESSION)[0])
    assert not anomalies


def test_smtp_rejected_data_keeps_reading_commands() -> None:
    events, _ = run(SmtpParser, [
        (TO_CLIENT, b"220 mx ESMTP\r\n"),
        (TO_SERVER, b"HELO a\r\nMAIL FROM:<>\r\nRCPT TO:<x@y>\r\nDATA\r\n"),
        (TO_CLIENT, b"250 hi\r\n250 ok\r\n550 no\r\n554 no valid recipients\r\n"),
        (TO_SERVER, b"RSET\r\nMAIL FROM:<b@c>\r\nQUIT\r\n"),
        (TO_CLIENT, b"250 reset\r\n250 ok\r\n221 bye\r\n"),
    ])
    assert shape(events) == [
        ("smtp", TO_CLIENT, {"helo": "a", "mail_from": "", "rcpt_to": ["x@y"]},
         {"rcpt_count": 1, "rcpt_refused": 1, "body_bytes": 0}),
        ("smtp", TO_CLIENT, {"helo": "a", "mail_from": "b@c"},
         {"rcpt_count": 0, "rcpt_refused": 0, "body_bytes": 0}),
    ]


def test_smtp_open_transaction_reported_at_close() -> None:
    events, _ = run(SmtpParser, [
        (TO_CLIENT, b"220 mx ESMTP\r\n"),
        (TO_SERVER, b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
    ])
    assert shape(events) == [
        ("smtp", TO_SERVER, {"helo": "a", "mail_from": "a@b", "rcpt_to": ["c@d"]},
         {"rcpt_count": 1, "rcpt_refused": 0, "body_bytes": 0}),
    ]


def test_smtp_session_without_mail_has_no_record() -> None:
    events, _ = run(SmtpParser, [(TO_CLIENT, b"220 mx ESMTP\r\n"), (TO_SERVER, b"EHLO a\r\n"),
                                 (TO_CLIENT, b"250 ok\r\n"), (TO_SERVER, b"QUIT\r\n"),
                                 (TO_CLIENT, b"221 bye\r\n")])
    assert events == []


def test_smtp_two_messages_in_one_session() -> None:
    events, _ = run(SmtpParser, [
        (TO_CLIENT, b"220 mx ESMTP\r\n"),
        (TO_SERVER, b"HELO h\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
        (TO_CLIENT, b"250 h\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        (TO_SERVER, b"one\r\n.\r\nMAIL FROM:<c@x>\r\nRCPT TO:<d@x>\r\nDATA\r\n"),
        (TO_CLIENT, b"250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        (TO_SERVER, b".\r\nQUIT\r\n"),
        (TO_CLIENT, b"250 queued\r\n221 bye\r\n"),
    ])
    assert [(e.record["mail_from"], e.record["rcpt_to"], e.extra["body_bytes"])
            for e in events] == [("a@x", ["b@x"], 5), ("c@x", ["d@x"], 0)]


def test_smtp_bdat() -> None:
    events, anomalies = run(SmtpParser, [
        (TO_CLIENT, b"220 mx ESMTP\r\n"),
        (TO_SERVER, b"EHLO h\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 6\r\nQUIT\r\n"),
        (TO_SERVER, b"BDAT 3 LAST\r\n.\r\nQUIT\r\n"),
        (TO_CLIENT, b"250 h\r\n250 ok\r\n250 ok\r\n250 6 octets\r\n250 queued\r\n221 bye\r\n"),
    ])
    assert [(e.record["mail_from"], e.extra["body_bytes"]) for e in events] == [("a@x", 9)]
    assert not anomalies


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        (b"FROM:<alice@example.org> SIZE=100 BODY=8BITMIME", "alice@example.org"),
        (b"FROM: <alice@example.org>", "alice@example.org"),
        (b"From:<>", ""),
        (b"TO:bob@example.com", "bob@example.com"),
        (b"TO:<@relay.example:bob@example.com>", "@relay.example:bob@example.com"),
        (b"TO:<unterminated", "unterminated"),
        (b"", ""),
    ],
)
def test_smtp_address(arg: bytes, expected: str) -> None:
    assert address(arg) == expected


SMTP_AUTH_LOGIN: list[Chunk] = [
    (TO_CLIENT, b"220 mx ESMTP\r\n"),
    (TO_SERVER, b"EHLO h\r\n"),
    (TO_CLIENT, b"250-mx\r\n250 AUTH LOGIN PLAIN\r\n"),
    (TO_SERVER, b"AUTH LOGIN\r\n"),
    (TO_CLIENT, b"334 VXNlcm5hbWU6\r\n"),
    (TO_SERVER, b64(b"mallory") + b"\r\n"),
    (TO_CLIENT, b"334 UGFzc3dvcmQ6\r\n"),
    (TO_SERVER, b64(b"letmein") + b"\r\n"),
    (TO_CLIENT, b"535 5.7.8 Error: authentication failed\r\n"),
    (TO_SERVER, b"AUTH LOGIN " + b64(b"mallory") + b"\r\n"),
    (TO_CLIENT, b"334 UGFzc3dvcmQ6\r\n"),
    (TO_SERVER, b64(b"123456") + b"\r\n"),
    (TO_CLIENT, b"235 2.7.0 Authentication successful\r\n"),
    (TO_SERVER, b"QUIT\r\n"),
    (TO_CLIENT, b"221 bye\r\n"),
]


def test_smtp_auth_login_outcomes() -> None:
    events, anomalies = run(SmtpParser, SMTP_AUTH_LOGIN)
    assert shape(events) == [
        ("auth", TO_CLIENT, {"service": "smtp", "user": "mallory", "result": "failure"},
         {"reply": "535 5.7.8 Error: authentication failed"}),
        ("auth", TO_CLIENT, {"service": "smtp", "user": "mallory", "result": "success"},
         {"reply": "235 2.7.0 Authentication successful"}),
    ]
    assert not anomalies


def test_smtp_auth_every_split() -> None:
    expected = shape(run(SmtpParser, SMTP_AUTH_LOGIN)[0])
    for chunks in split_everywhere(SMTP_AUTH_LOGIN):
        assert shape(run(SmtpParser, chunks)[0]) == expected


def test_smtp_auth_client_lines_held_until_the_verdict() -> None:
    # QUIT is valid base64: it must not be read as a response before the 535 is seen.
    events, anomalies = run(SmtpParser, [
        (TO_CLIENT, b"220 mx ESMTP\r\n"),
        (TO_SERVER, b"AUTH PLAIN " + b64(b"\x00eve\x00pw") + b"\r\nQUIT\r\n"),
        (TO_CLIENT, b"535 5.7.8 nope\r\n221 bye\r\n"),
    ])
    assert auths(events) == [("eve", "failure", "535 5.7.8 nope")]
    assert not anomalies


@pytest.mark.parametrize(
    ("mech", "responses", "user"),
    [
        (b"PLAIN", [b64(b"\x00dave\x00pw")], "dave"),
        (b"CRAM-MD5", [b64(b"tim b913a602c7eda7a495b4e6e7334d3890")], "tim"),
        (b"LOGIN", [b64(b"erin"), b64(b"pw")], "erin"),
    ],
)
def test_smtp_auth_with_challenges(mech: bytes, responses: list[bytes], user: str) -> None:
    chunks: list[Chunk] = [(TO_CLIENT, b"220 mx ESMTP\r\n"), (TO_SERVER, b"AUTH " + mech + b"\r\n")]
    for response in responses:
        chunks += [(TO_CLIENT, b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+\r\n"),
                   (TO_SERVER, response + b"\r\n")]
    chunks.append((TO_CLIENT, b"235 ok\r\n"))
    events, _ = run(SmtpParser, chunks)
    assert auths(events) == [(user, "success", "235 ok")]


def test_smtp_auth_cancel_and_unsupported_are_no_verdict() -> None:
    events, _ = run(SmtpParser, [
        (TO_CLIENT, b"220 mx ESMTP\r\n"),
        (TO_SERVER, b"AUTH LOGIN\r\n"), (TO_CLIENT, b"334 VXNlcm5hbWU6\r\n"),
        (TO_SERVER, b"*\r\n"), (TO_CLIENT, b"501 cancelled\r\n"),
        (TO_SERVER, b"AUTH NTLM\r\n"), (TO_CLIENT, b"504 unrecognized\r\n"),
    ])
    assert auths(events) == []


def test_smtp_auth_attempt_at_close() -> None:
    events, _ = run(SmtpParser, [(TO_CLIENT, b"220 mx ESMTP\r\n"),
                                 (TO_SERVER, b"AUTH PLAIN " + b64(b"\x00u\x00p") + b"\r\n")])
    assert shape(events) == [
        ("auth", TO_SERVER, {"service": "smtp", "user": "u", "result": "attempt"}, {}),
    ]


def test_smtp_starttls_stops_parsing() -> None:
    events, anomalies = run(SmtpParser, [
        (TO_CLIENT, b"220 mx ESMTP\r\n"),
        (TO_SERVER, b"EHLO h\r\nSTARTTLS\r\n\x16\x03\x01\x00\xa5\x01MAIL FROM:<x@y>\r\n"),
        (TO_CLIENT, b"250 mx\r\n220 2.0.0 Ready to start TLS\r\n\x16\x03\x03garbage\r\n"),
        (TO_SERVER, b"\x17\x03\x03AUTH PLAIN AHUAcA==\r\n"),
        (TO_CLIENT, b"235 ok\r\n"),
    ])
    assert events == []
    assert not anomalies


def test_smtp_refused_starttls_continues() -> None:
    events, _ = run(SmtpParser, [
        (TO_CLIENT, b"220 mx ESMTP\r\n"),
        (TO_SERVER, b"STARTTLS\r\nMAIL FROM:<x@y>\r\n"),
        (TO_CLIENT, b"454 TLS not available\r\n250 ok\r\n"),
    ])
    assert [e.record for e in events] == [{"mail_from": "x@y"}]


def test_smtp_recipients_are_bounded() -> None:
    anomalies: Counter[str] = Counter()
    parser = SmtpParser(anomalies, Limits(max_records=5))
    parser.feed(TO_CLIENT, b"220 mx ESMTP\r\n")
    parser.feed(TO_SERVER, b"MAIL FROM:<a@b>\r\n" + b"".join(
        b"RCPT TO:<r%d@x>\r\n" % i for i in range(12)))
    (event,) = parser.close()
    assert event.record["rcpt_to"] == [f"r{i}@x" for i in range(5)]
    assert event.extra["rcpt_count"] == 12
    assert anomalies["smtp: too many recipients"] == 1


def test_smtp_unanswered_data_gives_up_after_max_pending() -> None:
    anomalies: Counter[str] = Counter()
    parser = SmtpParser(anomalies, Limits(max_pending=1000))
    parser.feed(TO_CLIENT, b"220 mx ESMTP\r\n")
    parser.feed(TO_SERVER, b"MAIL FROM:<a@b>\r\nDATA\r\n")
    events = parser.feed(TO_SERVER, b"x" * 998 + b"\r\n" + b"y\r\n.\r\n")
    assert [e.extra["body_bytes"] for e in events] == [1003]
    assert anomalies["smtp: no reply to DATA"] == 1


def test_smtp_probe_and_ports() -> None:
    assert sorted(smtp.PORTS) == [25, 587, 2525]
    assert smtp.probe(TO_CLIENT, b"220 mx.example.com ESMTP Postfix (Ubuntu)\r\n")
    assert smtp.probe(TO_CLIENT, b"220-mail01 ESMTP Exim 4.96\r\n")
    assert smtp.probe(TO_CLIENT, b"220 pigeon.eyrie.af.mil ESMTP Sendmail 8.8.7/8.8.7\r\n")
    assert not smtp.probe(TO_CLIENT, b"220 (vsFTPd 3.0.3)\r\n")
    assert not smtp.probe(TO_CLIENT, b"220 mail.example.com FTP server ready\r\n")
    assert not smtp.probe(TO_CLIENT, b"220 hello\r\n")
    assert smtp.probe(TO_SERVER, b"EHLO client\r\n")
    assert smtp.probe(TO_SERVER, b"helo client\r\n")
    assert not smtp.probe(TO_SERVER, b"USER bob\r\n")


_SMTP_WORDS = st.sampled_from([
    b"220 mx ESMTP\r\n", b"250 ok\r\n", b"250-x\r\n", b"354 go\r\n", b"334 VXNlcm5hbWU6\r\n",
    b"235 ok\r\n", b"535 no\r\n", b"220 tls\r\n", b"MAIL FROM:<a@b>\r\n", b"RCPT TO:<c@d>\r\n",
    b"DATA\r\n", b".\r\n", b"AUTH LOGIN\r\n", b"AUTH PLAIN AHUAcA==\r\n", b"STARTTLS\r\n",
    b"BDAT 5 LAST\r\n", b"BDAT 99999999999\r\n", b"RSET\r\n", b"QUIT\r\n", b"\r\n",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.one_of(st.binary(max_size=60), _SMTP_WORDS)),
                max_size=30))
def test_smtp_fuzz_never_raises(steps: list[tuple[int, bytes]]) -> None:
    parser = SmtpParser(Counter(), Limits(max_line=32, max_records=4, max_pending=256))
    for direction, data in steps:
        if direction == 2:
            parser.gap(TO_SERVER if len(data) % 2 else TO_CLIENT, len(data))
        else:
            parser.feed(direction, data)
    for event in parser.close():
        assert event.proto in ("smtp", "auth")


# -- POP3 -----------------------------------------------------------------------------

POP3_SESSION: list[Chunk] = [
    (TO_CLIENT, b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"),
    (TO_SERVER, b"USER frank\r\n"),
    (TO_CLIENT, b"+OK\r\n"),
    (TO_SERVER, b"PASS wrong\r\n"),
    (TO_CLIENT, b"-ERR [AUTH] Authentication failed.\r\n"),
    (TO_SERVER, b"USER frank\r\nPASS right\r\nRETR 1\r\nLIST\r\nQUIT\r\n"),
    (TO_CLIENT, b"+OK\r\n+OK Logged in.\r\n+OK 40 octets\r\n-ERR fake\r\n+OK fake\r\n"
                b"..dot\r\n.\r\n+OK 1 message\r\n1 40\r\n.\r\n+OK Logging out.\r\n"),
]


def test_pop3_outcomes_exactly() -> None:
    events, anomalies = run(Pop3Parser, POP3_SESSION)
    assert shape(events) == [
        ("auth", TO_CLIENT, {"service": "pop3", "user": "frank", "result": "failure"},
         {"reply": "-ERR [AUTH] Authentication failed."}),
        ("auth", TO_CLIENT, {"service": "pop3", "user": "frank", "result": "success"},
         {"reply": "+OK Logged in."}),
    ]
    assert not anomalies


def test_pop3_every_split() -> None:
    expected = shape(run(Pop3Parser, POP3_SESSION)[0])
    for chunks in split_everywhere(POP3_SESSION):
        assert shape(run(Pop3Parser, chunks)[0]) == expected
    assert shape(run(Pop3Parser, bytewise(POP3_SESSION))[0]) == expected


@pytest.mark.parametrize(
    ("client", "reply", "expected"),
    [
        (b"USER nobody\r\n", b"-ERR no such user\r\n", [("nobody", "failure")]),
        (b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n", b"+OK maildrop\r\n",
         [("mrose", "success")]),
        (b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n", b"-ERR permission denied\r\n",
         [("mrose", "failure")]),
        (b"AUTH PLAIN " + b64(b"\x00gina\x00pw") + b"\r\n", b"+OK\r\n", [("gina", "success")]),
        (b"STAT\r\n", b"-ERR not logged in\r\n", []),
    ],
)
def test_pop3_rules(client: bytes, reply: bytes, expected: list[tuple[str, str]]) -> None:
    events, _ = run(Pop3Parser, [(TO_CLIENT, b"+OK ready\r\n"), (TO_SERVER, client),
                                 (TO_CLIENT, reply)])
    assert [(u, r) for u, r, _ in auths(events)] == expected


def test_pop3_auth_with_continuation() -> None:
    events, anomalies = run(Pop3Parser, [
        (TO_CLIENT, b"+OK ready\r\n"),
        (TO_SERVER, b"AUTH LOGIN\r\n"),
        (TO_CLIENT, b"+ VXNlcm5hbWU6\r\n"),
        (TO_SERVER, b64(b"hank") + b"\r\n"),
        (TO_CLIENT, b"+ UGFzc3dvcmQ6\r\n"),
        (TO_SERVER, b64(b"pw") + b"\r\n"),
        (TO_CLIENT, b"-ERR [AUTH] Authentication failed.\r\n"),
        (TO_SERVER, b"QUIT\r\n"),
        (TO_CLIENT, b"+OK bye\r\n"),
    ])
    assert auths(events) == [("hank", "failure", "-ERR [AUTH] Authentication failed.")]
    assert not anomalies


def test_pop3_capa_listing_is_skipped() -> None:
    events, anomalies = run(Pop3Parser, [
        (TO_CLIENT, b"+OK ready\r\n"),
        (TO_SERVER, b"CAPA\r\nUSER a\r\nPASS b\r\n"),
        (TO_CLIENT, b"+OK\r\nUSER\r\n-ERR not a reply\r\n.\r\n+OK\r\n-ERR bad\r\n"),
    ])
    assert auths(events) == [("a", "failure", "-ERR bad")]
    assert not anomalies


def test_pop3_stls_stops_and_close_attempt() -> None:
    events, _ = run(Pop3Parser, [
        (TO_CLIENT, b"+OK ready\r\n"), (TO_SERVER, b"STLS\r\n"), (TO_CLIENT, b"+OK go\r\n"),
        (TO_SERVER, b"\x16\x03\x01USER x\r\nPASS y\r\n"), (TO_CLIENT, b"-ERR x\r\n"),
    ])
    assert events == []
    events, _ = run(Pop3Parser, [(TO_CLIENT, b"+OK ready\r\n"),
                                 (TO_SERVER, b"USER ivan\r\nPASS x\r\n")])
    assert shape(events) == [
        ("auth", TO_SERVER, {"service": "pop3", "user": "ivan", "result": "attempt"}, {}),
    ]


def test_pop3_probe_and_ports() -> None:
    assert sorted(pop3imap.POP3_PORTS) == [110]
    assert pop3imap.pop3_probe(TO_CLIENT, b"+OK Dovecot ready.\r\n")
    assert not pop3imap.pop3_probe(TO_CLIENT, b"* OK IMAP4rev1\r\n")
    assert pop3imap.pop3_probe(TO_SERVER, b"CAPA\r\n")
    assert pop3imap.pop3_probe(TO_SERVER, b"APOP mrose c4c9\r\n")
    assert not pop3imap.pop3_probe(TO_SERVER, b"EHLO x\r\n")


# -- IMAP -----------------------------------------------------------------------------

IMAP_SESSION: list[Chunk] = [
    (TO_CLIENT, b"* OK [CAPABILITY IMAP4rev1 LITERAL+] Dovecot ready.\r\n"),
    (TO_SERVER, b"a1 LOGIN judy wrong\r\n"),
    (TO_CLIENT, b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
    (TO_SERVER, b'a2 LOGIN "ju\\"dy" "p w"\r\n'),
    (TO_CLIENT, b"a2 BAD bad\r\n"),
    (TO_SERVER, b"a3 LOGIN {4}\r\n"),
    (TO_CLIENT, b"+ OK\r\n"),
    (TO_SERVER, b"judy {5+}\r\nright\r\n"),
    # a literal from the server holding a line that looks like a3's verdict
    (TO_CLIENT, b"* 1 FETCH (BODY[] {14}\r\na3 NO fake!!\r\n)\r\n"
                b"* CAPABILITY IMAP4rev1\r\na3 OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
    (TO_SERVER, b"a5 APPEND INBOX {12+}\r\na6 LOGIN x\r\n\r\n"),
    (TO_CLIENT, b"a5 OK done\r\n"),
]


def test_imap_outcomes_exactly() -> None:
    events, anomalies = run(ImapParser, IMAP_SESSION)
    assert shape(events) == [
        ("auth", TO_CLIENT, {"service": "imap", "user": "judy", "result": "failure"},
         {"reply": "a1 NO [AUTHENTICATIONFAILED] Authentication failed."}),
        ("auth", TO_CLIENT, {"service": "imap", "user": 'ju"dy', "result": "failure"},
         {"reply": "a2 BAD bad"}),
        ("auth", TO_CLIENT, {"service": "imap", "user": "judy", "result": "success"},
         {"reply": "a3 OK [CAPABILITY IMAP4rev1] Logged in"}),
    ]
    assert not anomalies


def test_imap_every_split() -> None:
    expected = shape(run(ImapParser, IMAP_SESSION)[0])
    for chunks in split_everywhere(IMAP_SESSION):
        assert shape(run(ImapParser, chunks)[0]) == expected
    assert shape(run(ImapParser, bytewise(IMAP_SESSION))[0]) == expected


def test_imap_authenticate_plain() -> None:
    events, _ = run(ImapParser, [
        (TO_CLIENT, b"* OK ready\r\n"),
        (TO_SERVER, b"b1 AUTHENTICATE PLAIN\r\n"),
        (TO_CLIENT, b"+ \r\n"),
        (TO_SERVER, b64(b"\x00kate\x00pw") + b"\r\n"),
        (TO_CLIENT, b"b1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
        (TO_SERVER, b"b2 AUTHENTICATE PLAIN " + b64(b"\x00kate\x00pw2") + b"\r\n"),
        (TO_CLIENT, b"b2 OK Logged in\r\n"),
        (TO_SERVER, b"b3 LOGOUT\r\n"),
    ])
    assert [(u, r) for u, r, _ in auths(events)] == [("kate", "failure"), ("kate", "success")]


def test_imap_starttls_and_attempt() -> None:
    events, _ = run(ImapParser, [
        (TO_CLIENT, b"* OK ready\r\n"), (TO_SERVER, b"t STARTTLS\r\n"),
        (TO_CLIENT, b"t OK Begin TLS negotiation now\r\n"),
        (TO_SERVER, b"x LOGIN a b\r\n"), (TO_CLIENT, b"x NO no\r\n"),
    ])
    assert events == []
    events, _ = run(ImapParser, [(TO_CLIENT, b"* OK ready\r\n"), (TO_SERVER, b"x LOGIN lea b\r\n")])
    assert shape(events) == [
        ("auth", TO_SERVER, {"service": "imap", "user": "lea", "result": "attempt"}, {}),
    ]


def test_imap_empty_literal_argument() -> None:
    events, _ = run(ImapParser, [(TO_CLIENT, b"* OK ready\r\n"),
                                 (TO_SERVER, b"a LOGIN {0}\r\n {2}\r\npw\r\n"),
                                 (TO_CLIENT, b"a NO no\r\n")])
    assert auths(events) == [("", "failure", "a NO no")]


def test_imap_huge_literal_is_skipped_not_kept() -> None:
    parser = ImapParser(Counter())
    parser.feed(TO_CLIENT, b"* OK ready\r\n")
    parser.feed(TO_SERVER, b"a LOGIN {1000000}\r\n")
    for _ in range(100):
        parser.feed(TO_SERVER, b"u" * 10000)
    parser.feed(TO_SERVER, b" pw\r\n")
    (event,) = parser.feed(TO_CLIENT, b"a NO no\r\n")
    assert event.record["user"] == "u" * 512  # text() bound; 1024 literal bytes kept


def test_imap_probe_and_ports() -> None:
    assert sorted(pop3imap.IMAP_PORTS) == [143]
    assert pop3imap.imap_probe(TO_CLIENT, b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
    assert pop3imap.imap_probe(TO_CLIENT, b"* PREAUTH ready\r\n")
    assert not pop3imap.imap_probe(TO_CLIENT, b"+OK ready\r\n")
    assert pop3imap.imap_probe(TO_SERVER, b"a001 CAPABILITY\r\n")
    assert pop3imap.imap_probe(TO_SERVER, b"A1 login bob pw\r\n")
    assert not pop3imap.imap_probe(TO_SERVER, b"GET / HTTP/1.1\r\n")


_POP_IMAP_WORDS = st.sampled_from([
    b"+OK\r\n", b"-ERR x\r\n", b"+ \r\n", b"USER a\r\n", b"PASS b\r\n", b"RETR 1\r\n", b".\r\n",
    b"AUTH PLAIN\r\n", b"STLS\r\n", b"* OK\r\n", b"a LOGIN {3}\r\n", b"a OK\r\n", b"a NO\r\n",
    b"* 1 FETCH {99999999999}\r\n", b"b AUTHENTICATE PLAIN\r\n", b"{5+}\r\n", b"\r\n",
])


@pytest.mark.parametrize("factory", [Pop3Parser, ImapParser])
@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 2),
                                st.one_of(st.binary(max_size=60), _POP_IMAP_WORDS)),
                      max_size=30))
def test_pop3_imap_fuzz_never_raises(
    factory: Callable[[Counter[str], Limits], StreamParser], steps: list[tuple[int, bytes]]
) -> None:
    parser = factory(Counter(), Limits(max_line=32, max_records=4))
    for direction, data in steps:
        if direction == 2:
            parser.gap(TO_SERVER if len(data) % 2 else TO_CLIENT, len(data))
        else:
            parser.feed(direction, data)
    for event in parser.close():
        assert event.proto == "auth"


# -- real captures --------------------------------------------------------------------


@needs_corpus
def test_smtp_many_addresses() -> None:
    path = CORPUS / "email/zeek__smtp-smtp-many-addresses.pcap.gz"
    sessions, anomalies = replay(path, 25, SmtpParser)
    ((event,),) = sessions
    assert event.record["helo"] == "mxsrp.mz.example"
    assert event.record["mail_from"] == "itzltrab@kmzcztrw.kkk.com"
    rcpt = event.record["rcpt_to"]
    assert len(rcpt) == 600
    assert len(set(rcpt)) == 600
    assert rcpt[:2] == ["vphtarrb@dgsq.ngp.org", "djkpvqou@oofdbwbqfw.tzn.org"]
    assert len({r.split("@")[1] for r in rcpt}) == 600
    assert event.extra == {"rcpt_count": 600, "rcpt_refused": 0, "body_bytes": 116178}
    assert not anomalies
    # Cross-check against the reassembled client text.
    (client,) = stream_bytes(path, 25, TO_SERVER)
    grepped = re.findall(rb"^RCPT TO:<([^>]*)>\r$", client, re.M)
    assert [g.decode() for g in grepped] == rcpt
    start = client.index(b"\r\nDATA\r\n") + len(b"\r\nDATA\r\n")
    assert client.index(b"\r\n.\r\n", start) + 2 - start == 116178


@needs_corpus
def test_ndpi_smtp() -> None:
    sessions, anomalies = replay(CORPUS / "email/ndpi__smtp.pcap", 25, SmtpParser)
    ((event,),) = sessions
    assert event.record["helo"] == "delta.peach.mil"  # EHLO refused (500), then HELO
    assert event.record["mail_from"] == "coreys@delta.peach.mil"
    assert len(event.record["rcpt_to"]) == 30
    assert event.record["rcpt_to"][0] == "camronm@pigeon.eyrie.af.mil"
    assert event.record["rcpt_to"][-1] == "channinm@pigeon.eyrie.af.mil"
    assert all(r.endswith("@pigeon.eyrie.af.mil") for r in event.record["rcpt_to"])
    assert event.extra == {"rcpt_count": 30, "rcpt_refused": 0, "body_bytes": 15264}
    assert not anomalies


@needs_corpus
def test_chrissanders_mail_sender_attachment() -> None:
    path = CORPUS / "email/chrissanders__mail_sender_attachment.pcapng"
    sessions, anomalies = replay(path, 25, SmtpParser)
    ((event,),) = sessions
    assert event.record == {
        "helo": "[172.16.16.225]",
        "mail_from": "sanders@skynet.local",
        "rcpt_to": ["ppa@skynet.local"],
    }
    # The client announced MAIL FROM:<...> SIZE=76692: the body we skipped is that long.
    assert event.extra == {"rcpt_count": 1, "rcpt_refused": 0, "body_bytes": 76692}
    assert not anomalies
