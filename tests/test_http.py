"""HTTP/1.x decoder: framing, pipelining, bodies, URIs, login outcomes, hostile input.

Every message fed here is written out in the test, so the expected values can be
checked by reading. The real-capture tests at the end read ``../shared/corpus``
and skip when it is absent.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import tracemalloc
import zlib
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netsentry.capture import open_capture
from netsentry.decode import Decoder
from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits
from netsentry.protocols.http import PORTS, HttpParser, probe

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
SCHEMA = SHARED / "conformance" / "eve" / "suricata-8.0.6" / "etc" / "schema.json"

Chunks = list[tuple[int, bytes]]


def run(chunks: Chunks, limits: Limits | None = None, close: bool = True) -> list[AppEvent]:
    """Feed (direction, bytes) pairs in order to a fresh parser; return every event."""
    events, _ = run_counting(chunks, limits, close)
    return events


def run_counting(
    chunks: Chunks, limits: Limits | None = None, close: bool = True
) -> tuple[list[AppEvent], Counter[str]]:
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies, limits)
    events: list[AppEvent] = []
    for direction, data in chunks:
        events += parser.feed(direction, data)
    if close:
        events += parser.close()
    return events, anomalies


def view(events: list[AppEvent]) -> list[tuple[str, int, dict[str, Any], dict[str, Any]]]:
    return [(e.proto, e.direction, e.record, e.extra) for e in events]


def http_events(events: list[AppEvent], direction: int) -> list[AppEvent]:
    return [e for e in events if e.proto == "http" and e.direction == direction]


def headers(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


# -- requests ----------------------------------------------------------------------------

GET = (
    b"GET /index.php?id=1%27%20OR%201=1 HTTP/1.1\r\n"
    b"Host: WWW.Example.com:8080\r\n"
    b"User-Agent: curl/8.0\r\n"
    b"Referer: http://a.example/\r\n"
    b"Accept: */*\r\n"
    b"\r\n"
)
POST_CHUNKED = (
    b"POST /upload HTTP/1.1\r\n"
    b"Host: up.example\r\n"
    b"Content-Type: text/plain\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
    b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
)
POST_LENGTH = (
    b"POST /form HTTP/1.0\r\n"
    b"Host: up.example\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 7\r\n"
    b"\r\n"
    b"a=1&b=2"
)


def test_request_record_and_extra() -> None:
    [event] = run([(TO_SERVER, GET)])
    assert event.proto == "http"
    assert event.direction == TO_SERVER
    assert event.record == {
        "hostname": "www.example.com",
        "http_port": 8080,
        "url": "/index.php?id=1%27%20OR%201=1",
        "http_user_agent": "curl/8.0",
        "http_refer": "http://a.example/",
        "http_method": "GET",
        "protocol": "HTTP/1.1",
        "request_headers": headers(
            ("Host", "WWW.Example.com:8080"),
            ("User-Agent", "curl/8.0"),
            ("Referer", "http://a.example/"),
            ("Accept", "*/*"),
        ),
    }
    assert event.extra == {
        "uri_normalized": "/index.php?id=1' OR 1=1",
        "uri_path": "/index.php",
        "uri_query": "id=1' OR 1=1",
        "request_body": b"",
        "request_headers": {
            "host": "WWW.Example.com:8080",
            "user-agent": "curl/8.0",
            "referer": "http://a.example/",
            "accept": "*/*",
        },
        "tx_id": 0,
    }


def test_request_bodies_chunked_and_length() -> None:
    events = run([(TO_SERVER, POST_CHUNKED + POST_LENGTH)])
    assert [e.extra["request_body"] for e in events] == [b"hello, world", b"a=1&b=2"]
    assert [e.extra["tx_id"] for e in events] == [0, 1]
    assert events[0].record["http_content_type"] == "text/plain"
    assert events[1].record["protocol"] == "HTTP/1.0"
    assert "http_port" not in events[1].record


def test_request_split_at_every_byte_boundary_gives_identical_events() -> None:
    stream = GET + POST_CHUNKED + POST_LENGTH
    whole = view(run([(TO_SERVER, stream)]))
    assert len(whole) == 3
    for cut in range(1, len(stream)):
        parts = [(TO_SERVER, stream[:cut]), (TO_SERVER, stream[cut:])]
        assert view(run(parts)) == whole, f"split at byte {cut}"
    one_by_one = [(TO_SERVER, stream[i : i + 1]) for i in range(len(stream))]
    assert view(run(one_by_one)) == whole


def test_folded_header_and_bare_lf_line_ends() -> None:
    data = b"GET / HTTP/1.1\nHost: h\nX-Long: a\n  b\n\n"
    [event] = run([(TO_SERVER, data)])
    assert event.record["request_headers"] == headers(("Host", "h"), ("X-Long", "a b"))
    assert event.extra["request_headers"] == {"host": "h", "x-long": "a b"}


def test_repeated_headers_joined_in_extra() -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n"
    [event] = run([(TO_SERVER, data)])
    assert event.extra["request_headers"]["cookie"] == "a=1, b=2"
    assert event.record["request_headers"][1:] == headers(("Cookie", "a=1"), ("Cookie", "b=2"))


# -- hosts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (b"Example.COM", {"hostname": "example.com"}),
        (b"example.com:8080", {"hostname": "example.com", "http_port": 8080}),
        (b"[2001:DB8::1]:8443", {"hostname": "[2001:db8::1]", "http_port": 8443}),
        (b"10.0.0.1:", {"hostname": "10.0.0.1"}),
        (b"example.com:99999", {"hostname": "example.com"}),
    ],
)
def test_host_header(host: bytes, expected: dict[str, Any]) -> None:
    [event] = run([(TO_SERVER, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")])
    got = {k: v for k, v in event.record.items() if k in ("hostname", "http_port")}
    assert got == expected


def test_absolute_form_target_names_the_host() -> None:
    data = b"GET http://Proxy.Example:3128/a%20b?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"
    [event] = run([(TO_SERVER, data)])
    assert event.record["hostname"] == "proxy.example"
    assert event.record["http_port"] == 3128
    assert event.record["url"] == "http://Proxy.Example:3128/a%20b?q=1"
    assert event.extra["uri_path"] == "/a b"
    assert event.extra["uri_query"] == "q=1"


# -- URI normalization -------------------------------------------------------------------


def uri_extra(target: bytes) -> dict[str, Any]:
    [event] = run([(TO_SERVER, b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n")])
    assert event.record["url"] == target.decode("latin-1")
    return {k: v for k, v in event.extra.items() if k.startswith("uri_")}


def test_percent_decoding_of_sql_injection() -> None:
    assert uri_extra(b"/search.php?q=%27%20UNION%20SELECT%20pass%20FROM%20users--+x") == {
        "uri_normalized": "/search.php?q=' UNION SELECT pass FROM users-- x",
        "uri_path": "/search.php",
        "uri_query": "q=' UNION SELECT pass FROM users-- x",
    }


def test_double_encoding_decoded_once_and_twice() -> None:
    assert uri_extra(b"/a.php?id=1%2527%20OR%20%25271%2527=%25271") == {
        "uri_normalized": "/a.php?id=1%27 OR %271%27=%271",
        "uri_path": "/a.php",
        "uri_query": "id=1%27 OR %271%27=%271",
        "uri_decoded_twice": "/a.php?id=1' OR '1'='1",
    }


def test_traversal_segments_kept_and_plus_only_in_query() -> None:
    assert uri_extra(b"/static/..%2f..%2f./etc/passwd") == {
        "uri_normalized": "/static/../.././etc/passwd",
        "uri_path": "/static/../.././etc/passwd",
        "uri_query": "",
    }
    assert uri_extra(b"/a+b?c+d=%2B") == {
        "uri_normalized": "/a+b?c d=+",
        "uri_path": "/a+b",
        "uri_query": "c d=+",
    }


def test_non_utf8_escapes_read_as_latin1_and_utf8_as_utf8() -> None:
    assert uri_extra(b"/%ff%c3")["uri_normalized"] == "/\xff\xc3"
    assert uri_extra(b"/caf%C3%A9")["uri_normalized"] == "/café"
    assert uri_extra(b"/plain?x=1") == {
        "uri_normalized": "/plain?x=1",
        "uri_path": "/plain",
        "uri_query": "x=1",
    }


# -- responses ---------------------------------------------------------------------------


def response(status: str, head: bytes = b"", body: bytes = b"") -> bytes:
    return b"HTTP/1.1 " + status.encode() + b"\r\n" + head + b"\r\n" + body


def chunked(body: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def test_pipelining_three_requests_in_one_feed() -> None:
    requests = b"".join(b"GET /r%d HTTP/1.1\r\nHost: pipe.example\r\n\r\n" % i for i in range(3))
    responses = b"".join(
        response("200 OK", b"Content-Length: %d\r\n" % len(b"body%d" % i), b"body%d" % i)
        for i in range(3)
    )
    events = run([(TO_SERVER, requests), (TO_CLIENT, responses)])
    assert [(e.direction, e.record["url"], e.extra["tx_id"]) for e in events] == [
        (TO_SERVER, "/r0", 0),
        (TO_SERVER, "/r1", 1),
        (TO_SERVER, "/r2", 2),
        (TO_CLIENT, "/r0", 0),
        (TO_CLIENT, "/r1", 1),
        (TO_CLIENT, "/r2", 2),
    ]
    assert [e.extra["response_body"] for e in events[3:]] == [b"body0", b"body1", b"body2"]


def test_response_record_and_extra() -> None:
    body = b"<h1>moved</h1>"
    resp = response(
        "301 Moved Permanently",
        b"Content-Type: text/html\r\nLocation: https://www.example.com/\r\n"
        b"Content-Length: %d\r\n" % len(body),
        body,
    )
    events = run([(TO_SERVER, GET), (TO_CLIENT, resp)])
    request, answer = events
    assert answer.direction == TO_CLIENT
    assert answer.record == {
        "hostname": "www.example.com",
        "http_port": 8080,
        "url": "/index.php?id=1%27%20OR%201=1",
        "http_user_agent": "curl/8.0",
        "http_content_type": "text/html",
        "http_refer": "http://a.example/",
        "http_method": "GET",
        "protocol": "HTTP/1.1",
        "status": 301,
        "redirect": "https://www.example.com/",
        "length": 14,
        "request_headers": request.record["request_headers"],
        "response_headers": headers(
            ("Content-Type", "text/html"),
            ("Location", "https://www.example.com/"),
            ("Content-Length", "14"),
        ),
    }
    assert answer.extra == {
        **{k: v for k, v in request.extra.items() if k != "request_body"},
        "response_body": body,
        "status_line": "HTTP/1.1 301 Moved Permanently",
        "response_headers": {
            "content-type": "text/html",
            "location": "https://www.example.com/",
            "content-length": "14",
        },
    }


def test_chunked_gzip_response_split_anywhere() -> None:
    page = b"<html>" + b"netsentry " * 300 + b"</html>"
    packed = gzip.compress(page)
    resp = response(
        "200 OK",
        b"Content-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        chunked(packed, 100),
    )
    request = (TO_SERVER, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    whole = run([request, (TO_CLIENT, resp)])
    answer = whole[1]
    assert answer.extra["response_body"] == page
    assert answer.record["length"] == len(packed)
    assert answer.record["http_content_type"] == "text/html"
    assert "truncated" not in answer.extra
    for cut in range(1, len(resp), 7):
        parts = [request, (TO_CLIENT, resp[:cut]), (TO_CLIENT, resp[cut:])]
        assert view(run(parts)) == view(whole), f"split at byte {cut}"


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_response_zlib_wrapped_or_raw(wbits: int) -> None:
    page = b"deflated " * 100
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    packed = packer.compress(page) + packer.flush()
    resp = response(
        "200 OK", b"Content-Encoding: deflate\r\nContent-Length: %d\r\n" % len(packed), packed
    )
    events, anomalies = run_counting(
        [(TO_SERVER, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), (TO_CLIENT, resp)]
    )
    assert events[1].extra["response_body"] == page
    assert events[1].record["length"] == len(packed)
    assert not anomalies


def test_head_response_has_no_body() -> None:
    requests = b"HEAD /big HTTP/1.1\r\nHost: h\r\n\r\nGET /small HTTP/1.1\r\nHost: h\r\n\r\n"
    responses = response("200 OK", b"Content-Length: 5000\r\n") + response(
        "200 OK", b"Content-Length: 2\r\n", b"ok"
    )
    events = run([(TO_SERVER, requests), (TO_CLIENT, responses)], close=False)
    answers = http_events(events, TO_CLIENT)
    assert [
        (e.record["http_method"], e.record["length"], e.extra["response_body"]) for e in answers
    ] == [
        ("HEAD", 0, b""),
        ("GET", 2, b"ok"),
    ]


def test_304_and_204_have_no_body() -> None:
    requests = b'GET /a HTTP/1.1\r\nHost: h\r\nIf-None-Match: "x"\r\n\r\n' + (
        b"DELETE /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    responses = (
        response("304 Not Modified", b'ETag: "x"\r\n')
        + response("204 No Content")
        + response("200 OK", b"Content-Length: 1\r\n", b"c")
    )
    events = run([(TO_SERVER, requests), (TO_CLIENT, responses)], close=False)
    answers = http_events(events, TO_CLIENT)
    assert [(e.record["url"], e.record["status"], e.extra["response_body"]) for e in answers] == [
        ("/a", 304, b""),
        ("/b", 204, b""),
        ("/c", 200, b"c"),
    ]


def test_100_continue() -> None:
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies)
    head = b"POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    assert parser.feed(TO_SERVER, head) == []
    assert parser.feed(TO_CLIENT, b"HTTP/1.1 100 Continue\r\n\r\n") == []
    [request] = parser.feed(TO_SERVER, b"hello")
    assert request.extra["request_body"] == b"hello"
    [answer] = parser.feed(TO_CLIENT, response("201 Created", b"Content-Length: 0\r\n"))
    assert (answer.record["status"], answer.extra["tx_id"]) == (201, 0)
    assert parser.close() == []
    assert not anomalies


def test_response_without_length_ends_at_close() -> None:
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies)
    parser.feed(TO_SERVER, b"GET /old HTTP/1.0\r\n\r\n")
    assert parser.feed(TO_CLIENT, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\npart1") == []
    assert parser.feed(TO_CLIENT, b"part2") == []
    [answer] = parser.close()
    assert answer.extra["response_body"] == b"part1part2"
    assert answer.record["length"] == 10
    assert "truncated" not in answer.extra
    assert parser.close() == []
    assert not anomalies


def test_close_emits_cut_response_once_and_no_duplicate_requests() -> None:
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies)
    requests = parser.feed(TO_SERVER, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    assert [e.record["url"] for e in requests] == ["/a", "/b"]
    assert (
        parser.feed(TO_CLIENT, response("200 OK", b"Content-Length: 100\r\n", b"0123456789")) == []
    )
    [answer] = parser.close()
    assert answer.extra["response_body"] == b"0123456789"
    assert answer.extra["truncated"] is True
    assert answer.record["length"] == 10
    assert answer.record["url"] == "/a"
    assert anomalies == Counter({"http: response body truncated at close": 1})
    assert parser.close() == []


def test_request_with_lying_content_length_emitted_at_close() -> None:
    events, anomalies = run_counting(
        [(TO_SERVER, b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\nshort")]
    )
    [request] = events
    assert request.extra["request_body"] == b"short"
    assert request.extra["truncated"] is True
    assert anomalies == Counter({"http: request body truncated at close": 1})


def test_response_content_length_too_short_rest_joins_the_body() -> None:
    # libhtp: lines after a body that cannot start a response are more of that body
    responses = response("200 OK", b"Content-Length: 2\r\n", b"okEXTRA") + response(
        "200 OK", b"Content-Length: 0\r\n"
    )
    events, anomalies = run_counting(
        [(TO_SERVER, b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), (TO_CLIENT, responses)]
    )
    assert [e.extra["response_body"] for e in http_events(events, TO_CLIENT)] == [
        b"okEXTRAHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    ]
    assert anomalies == Counter({"http: unexpected response body": 1})


def test_switching_protocols_ends_parsing() -> None:
    upgrade = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    switch = response("101 Switching Protocols", b"Upgrade: websocket\r\n")
    events, anomalies = run_counting(
        [
            (TO_SERVER, upgrade),
            (TO_CLIENT, switch + b"\x81\x05hello"),
            (TO_SERVER, b"\x81\x85\x00\x00\x00\x00hello"),
        ]
    )
    assert [(e.direction, e.record.get("status")) for e in events] == [
        (TO_SERVER, None),
        (TO_CLIENT, 101),
    ]
    assert not anomalies


def test_response_without_request_is_reported() -> None:
    events, anomalies = run_counting(
        [(TO_CLIENT, response("200 OK", b"Content-Length: 1\r\n", b"x"))]
    )
    [answer] = events
    assert answer.record == {
        "protocol": "HTTP/1.1",
        "status": 200,
        "length": 1,
        "response_headers": headers(("Content-Length", "1")),
    }
    assert anomalies == Counter({"http: response without request": 1})


def test_gap_inside_a_sized_body_is_skipped() -> None:
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies)
    parser.feed(TO_SERVER, b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    assert parser.feed(TO_CLIENT, response("200 OK", b"Content-Length: 10\r\n", b"abc")) == []
    parser.gap(TO_CLIENT, 4)
    events = parser.feed(TO_CLIENT, b"xyz" + response("200 OK", b"Content-Length: 1\r\n", b"b"))
    assert [(e.record["url"], e.extra["response_body"], e.extra.get("gap")) for e in events] == [
        ("/a", b"abcxyz", True),
        ("/b", b"b", None),
    ]
    assert events[0].record["length"] == 10
    assert anomalies == Counter({"http: stream gap": 1})


def test_gap_ending_exactly_at_the_body_end_keeps_parsing() -> None:
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies)
    parser.feed(TO_SERVER, b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    parser.feed(TO_CLIENT, response("200 OK", b"Content-Length: 10\r\n", b"abc"))
    parser.gap(TO_CLIENT, 7)
    events = parser.feed(TO_CLIENT, response("200 OK", b"Content-Length: 1\r\n", b"b"))
    assert [(e.record["url"], e.extra["response_body"], e.extra.get("gap")) for e in events] == [
        ("/a", b"abc", True),
        ("/b", b"b", None),
    ]
    assert "truncated" not in events[0].extra


def test_gap_between_requests_stops_the_request_direction() -> None:
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies)
    assert len(parser.feed(TO_SERVER, b"GET /a HTTP/1.1\r\n\r\n")) == 1
    parser.gap(TO_SERVER, 100)
    assert parser.feed(TO_SERVER, b"GET /c HTTP/1.1\r\n\r\n") == []
    # the response to the request seen is still matched
    [answer] = parser.feed(TO_CLIENT, response("200 OK", b"Content-Length: 0\r\n"))
    assert answer.record["url"] == "/a"
    assert anomalies == Counter({"http: stream gap": 1})


def test_pipeline_depth_is_bounded() -> None:
    requests = b"".join(b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(100))
    events, anomalies = run_counting(
        [(TO_SERVER, requests), (TO_CLIENT, response("200 OK", b"Content-Length: 0\r\n"))]
    )
    assert len(events) == 101
    assert (events[-1].record["url"], events[-1].extra["tx_id"]) == ("/36", 36)
    assert anomalies == Counter({"http: too many requests without response": 36})


def test_response_content_type_replaces_the_request_one() -> None:
    events = run(
        [
            (TO_SERVER, form_post(b"/api", b"a=1")),
            (TO_CLIENT, response("204 No Content")),
        ]
    )
    assert events[0].record["http_content_type"] == "application/x-www-form-urlencoded"
    assert "http_content_type" not in events[1].record
    assert "request_body" not in events[1].extra


def test_invalid_status_code_counted_and_left_out() -> None:
    events, anomalies = run_counting(
        [
            (TO_SERVER, b"GET / HTTP/1.1\r\n\r\n"),
            (TO_CLIENT, b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"),
        ]
    )
    assert "status" not in events[1].record
    assert events[1].extra["status_line"] == "HTTP/1.1 2000 OK"
    assert anomalies == Counter({"http: invalid status code": 1})


@pytest.mark.parametrize("extra_bytes", [0, 1])
def test_header_line_at_the_limit_same_verdict_however_split(extra_bytes: int) -> None:
    limits = Limits(max_line=64)
    line = b"X: " + b"v" * (64 - 3 + extra_bytes) + b"\r\n"
    stream = b"GET / HTTP/1.1\r\n" + line + b"\r\n"
    verdicts = set()
    for cut in range(1, len(stream)):
        events, anomalies = run_counting(
            [(TO_SERVER, stream[:cut]), (TO_SERVER, stream[cut:])], limits
        )
        verdicts.add((len(events), tuple(anomalies.items())))
    expected = (0, (("http: header line too long", 1),)) if extra_bytes else (1, ())
    assert verdicts == {expected}


# -- login outcomes ----------------------------------------------------------------------


def auth_events(events: list[AppEvent]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(e.record, e.extra) for e in events if e.proto == "auth"]


def basic(user: str, password: str) -> bytes:
    return base64.b64encode(f"{user}:{password}".encode())


def test_basic_auth_401_is_failure_and_200_success() -> None:
    requests = b"".join(
        b"GET /admin HTTP/1.1\r\nHost: h\r\nAuthorization: Basic " + basic(user, pw) + b"\r\n\r\n"
        for user, pw in (("admin", "guess"), ("admin", "s3cret"))
    )
    responses = response("401 Unauthorized", b"WWW-Authenticate: Basic\r\nContent-Length: 0\r\n")
    responses += response("200 OK", b"Content-Length: 2\r\n", b"hi")
    events = run([(TO_SERVER, requests), (TO_CLIENT, responses)])
    assert auth_events(events) == [
        (
            {"service": "http", "user": "admin", "result": "failure"},
            {
                "tx_id": 0,
                "method": "basic",
                "reason": "status 401",
                "reply": "HTTP/1.1 401 Unauthorized",
            },
        ),
        (
            {"service": "http", "user": "admin", "result": "success"},
            {"tx_id": 1, "method": "basic", "reason": "status 200", "reply": "HTTP/1.1 200 OK"},
        ),
    ]
    # each auth event follows the response event of its exchange
    assert [e.proto for e in events] == ["http", "http", "http", "auth", "http", "auth"]


def test_basic_auth_undecodable_credentials_give_no_user() -> None:
    request = b"GET / HTTP/1.1\r\nAuthorization: Basic !!!!\r\n\r\n"
    events = run([(TO_SERVER, request), (TO_CLIENT, response("401 No", b"Content-Length: 0\r\n"))])
    assert [r for r, _ in auth_events(events)] == [
        {"service": "http", "user": None, "result": "failure"}
    ]


def form_post(
    path: bytes, body: bytes, ctype: bytes = b"application/x-www-form-urlencoded"
) -> bytes:
    return (
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: h\r\nContent-Type: "
        + ctype
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )


def login(request: bytes, answer: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return auth_events(run([(TO_SERVER, request), (TO_CLIENT, answer)]))


def test_login_form_answered_200_login_failed() -> None:
    page = b"<html><p class='error'>Login failed</p></html>"
    got = login(
        form_post(b"/dvwa/login.php", b"username=alice&password=hunter2&Login=Login"),
        response("200 OK", b"Content-Length: %d\r\n" % len(page), page),
    )
    assert got == [
        (
            {"service": "http", "user": "alice", "result": "failure"},
            {
                "tx_id": 0,
                "method": "form",
                "reason": "failure phrase in page",
                "reply": "HTTP/1.1 200 OK",
            },
        )
    ]


def test_login_form_failure_phrase_inside_gzip_page() -> None:
    page = gzip.compress(b"<p>The password you entered is incorrect.</p>")
    got = login(
        form_post(b"/wp-login.php", b"log=admin&pwd=x&wp-submit=Log+In"),
        response("200 OK", b"Content-Encoding: gzip\r\nContent-Length: %d\r\n" % len(page), page),
    )
    assert [r for r, _ in got] == [{"service": "http", "user": "admin", "result": "failure"}]


def test_login_form_redirect_back_to_login_page_and_403() -> None:
    post = form_post(b"/account/signin", b"email=bob%40example.com&passwd=x")
    back = response(
        "302 Found", b"Location: https://h/account/signin?error=1\r\nContent-Length: 0\r\n"
    )
    forbidden = response("403 Forbidden", b"Content-Length: 0\r\n")
    for answer, reason in ((back, "redirect to login page"), (forbidden, "status 403")):
        reply = answer.partition(b"\r\n")[0].decode()
        assert login(post, answer) == [
            (
                {"service": "http", "user": "bob@example.com", "result": "failure"},
                {"tx_id": 0, "method": "form", "reason": reason, "reply": reply},
            )
        ]


def test_login_json_body_answered_401() -> None:
    body = json.dumps({"email": "carol@example.com", "password": "x"}).encode()
    got = login(
        form_post(b"/api/session", body, b"application/json"),
        response("401 Unauthorized", b"Content-Length: 0\r\n"),
    )
    assert [r for r, _ in got] == [
        {"service": "http", "user": "carol@example.com", "result": "failure"}
    ]


def test_login_heuristic_says_attempt_when_unsure() -> None:
    incorrect = b"<p>Your answer is incorrect</p>"
    page = response("200 OK", b"Content-Length: %d\r\n" % len(incorrect), incorrect)
    # not a login form: no login word in the path, no password field
    assert login(form_post(b"/quiz", b"answer=42"), page) == []
    # a GET of the login page is no attempt
    assert login(b"GET /login HTTP/1.1\r\n\r\n", page) == []
    # a login form whose answer says nothing: a redirect elsewhere, a plain 200
    post = form_post(b"/login", b"user=dave&password=x")
    away = response("302 Found", b"Location: /dashboard\r\nContent-Length: 0\r\n")
    welcome = response("200 OK", b"Content-Length: 7\r\n", b"welcome")
    for answer in (away, welcome):
        assert login(post, answer) == [
            (
                {"service": "http", "user": "dave", "result": "attempt"},
                {
                    "tx_id": 0,
                    "method": "form",
                    "reason": "no verdict in the response",
                    "reply": answer.partition(b"\r\n")[0].decode(),
                },
            )
        ]


def test_login_without_response_is_an_attempt_at_close() -> None:
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies)
    post = form_post(b"/wp-login.php", b"log=eve&pwd=x")
    assert [e.proto for e in parser.feed(TO_SERVER, post)] == ["http"]
    [attempt] = parser.close()
    assert (attempt.proto, attempt.direction, attempt.record) == (
        "auth",
        TO_SERVER,
        {"service": "http", "user": "eve", "result": "attempt"},
    )
    assert attempt.extra == {"tx_id": 0, "method": "form", "reason": "no response", "reply": None}
    assert parser.close() == []


# -- hostile input -----------------------------------------------------------------------


def test_binary_garbage_counted_and_ignored() -> None:
    garbage = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) * 4
    events, anomalies = run_counting([(TO_SERVER, garbage), (TO_SERVER, b"GET / HTTP/1.1\r\n\r\n")])
    assert events == []
    assert anomalies == Counter({"http: invalid request line": 1})
    events, anomalies = run_counting([(TO_CLIENT, b"SSH-2.0-OpenSSH_9.6\r\n")])
    assert events == []
    assert anomalies == Counter({"http: invalid response line": 1})


def test_ten_megabyte_header_line_is_bounded_and_fast() -> None:
    start = b"GET / HTTP/1.1\r\nX-Big: "
    filler = b"A" * (64 * 1024)
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies)
    tracemalloc.start()
    began = time.perf_counter()
    try:
        events = parser.feed(TO_SERVER, start)
        for _ in range(160):  # 10 MiB in 64 KiB reads
            events += parser.feed(TO_SERVER, filler)
        events += parser.feed(TO_SERVER, b"\r\n\r\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - began
    assert events == []
    assert anomalies == Counter({"http: header line too long": 1})
    assert peak < 512 * 1024, peak  # the header is never buffered whole
    assert elapsed < 1.0, elapsed
    # the same line in one feed
    events, anomalies = run_counting([(TO_SERVER, b"GET /" + b"A" * (10 * 1024 * 1024))])
    assert events == []
    assert anomalies == Counter({"http: header line too long": 1})


def test_too_many_headers_kept_to_limit() -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(10))
    events, anomalies = run_counting(
        [(TO_SERVER, b"GET / HTTP/1.1\r\n" + many + b"\r\n")], Limits(max_headers=4)
    )
    assert len(events[0].record["request_headers"]) == 4
    assert anomalies == Counter({"http: too many headers": 1})


def test_bad_chunk_size_turns_the_rest_into_body_until_close() -> None:
    # libhtp: a line that is no chunk size means the body was not chunked after all
    resp = response("200 OK", b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\nzz\r\nmore")
    events, anomalies = run_counting(
        [(TO_SERVER, b"GET / HTTP/1.1\r\n\r\n"), (TO_CLIENT, resp), (TO_CLIENT, b"HTTP/1.1 200")]
    )
    answers = http_events(events, TO_CLIENT)
    assert [(e.extra["response_body"], e.extra.get("truncated")) for e in answers] == [
        (b"abczz\r\nmoreHTTP/1.1 200", None)
    ]
    assert anomalies == Counter({"http: bad chunk size": 1})


def test_invalid_gzip_kept_raw() -> None:
    resp = response("200 OK", b"Content-Encoding: gzip\r\nContent-Length: 11\r\n", b"not gzipped")
    events, anomalies = run_counting([(TO_SERVER, b"GET / HTTP/1.1\r\n\r\n"), (TO_CLIENT, resp)])
    answer = events[1]
    assert answer.extra["response_body"] == b"not gzipped"
    assert answer.extra["content_encoding"] == "gzip"
    assert anomalies == Counter({"http: invalid gzip body": 1})


def test_gzip_broken_midway_keeps_the_decoded_part_only() -> None:
    page = b"".join(b"line %d of the page\n" % i for i in range(400))
    packed = gzip.compress(page)
    broken = packed[:200] + b"\xff" * 32 + packed[232:]
    resp = response(
        "200 OK", b"Content-Encoding: gzip\r\nContent-Length: %d\r\n" % len(broken), broken
    )
    chunks = [(TO_SERVER, b"GET / HTTP/1.1\r\n\r\n")]
    chunks += [(TO_CLIENT, resp[i : i + 100]) for i in range(0, len(resp), 100)]
    events, anomalies = run_counting(chunks)
    body = events[1].extra["response_body"]
    assert body.startswith(b"line 0 of the page\nline 1 of the page\n")
    assert len(body) < len(page)
    assert "content_encoding" not in events[1].extra
    assert events[1].record["length"] == len(broken)
    assert anomalies == Counter({"http: invalid gzip body": 1})


def gzip_bomb(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    out = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join(out) + packer.flush()


def test_gzip_bomb_output_bounded() -> None:
    bomb = gzip_bomb(256 * 1024 * 1024)  # 256 MiB of zeros in about 250 KB
    resp = response("200 OK", b"Content-Encoding: gzip\r\nContent-Length: %d\r\n" % len(bomb), bomb)
    limits = Limits(max_decompressed=1024 * 1024)
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies, limits)
    parser.feed(TO_SERVER, b"GET /bomb HTTP/1.1\r\n\r\n")
    tracemalloc.start()
    began = time.perf_counter()
    try:
        events = [
            e for i in range(0, len(resp), 1460) for e in parser.feed(TO_CLIENT, resp[i : i + 1460])
        ]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - began
    [answer] = events
    assert answer.extra["response_body"] == bytes(1024 * 1024)
    assert answer.extra["body_truncated"] is True
    assert answer.record["length"] == len(bomb)
    assert peak < 8 * 1024 * 1024, peak
    assert elapsed < 2.0, elapsed
    assert not anomalies


def test_body_limits() -> None:
    body = b"x" * 1000
    limits = Limits(max_body=100)
    events = run(
        [
            (TO_SERVER, form_post(b"/up", body)),
            (TO_CLIENT, response("200 OK", b"Content-Length: 1000\r\n", body)),
        ],
        limits,
    )
    kept = [
        len(e.extra["request_body" if e.direction == TO_SERVER else "response_body"])
        for e in events
    ]
    assert kept == [
        100,
        100,
    ]
    assert events[1].record["length"] == 1000
    assert events[1].extra["body_truncated"] is True


# -- probe -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "data", "expected"),
    [
        (TO_SERVER, b"GET / HTTP/1.1\r\n", True),
        (TO_SERVER, b"PROPFIND /dav HTTP/1.1\r\n", True),
        (TO_SERVER, b"CONNECT h:443 HTTP/1.1\r\n", True),
        (TO_SERVER, b"XFOC / HTTP/1.1\r\n", True),  # unknown method, whole request line
        (TO_SERVER, b"XFOC / HT", False),
        (TO_SERVER, b"get / HTTP/1.1\r\n", False),
        (TO_SERVER, b"\x16\x03\x01\x00\xa5", False),
        (TO_SERVER, b"SSH-2.0-x\r\n", False),
        (TO_CLIENT, b"HTTP/1.1 200 OK\r\n", True),
        (TO_CLIENT, b"HTTP/1.0 404 Not Found\r\n", True),
        (TO_CLIENT, b"220 mail ESMTP\r\n", False),
    ],
)
def test_probe(direction: int, data: bytes, expected: bool) -> None:
    assert probe(direction, data) is expected


def test_ports() -> None:
    assert frozenset({80, 8080, 8000, 8008, 8888, 3128, 81, 591}) == PORTS


# -- schema ------------------------------------------------------------------------------


@pytest.mark.skipif(not SCHEMA.is_file(), reason=f"Suricata EVE schema not found at {SCHEMA}")
def test_records_use_only_eve_http_keys_and_types() -> None:
    props = json.loads(SCHEMA.read_text())["properties"]["http"]["properties"]
    json_types = {"string": str, "integer": int, "array": list}
    login_page = b"Login failed"
    events = run(
        [
            (TO_SERVER, GET + form_post(b"/login", b"user=u&password=p")),
            (
                TO_CLIENT,
                response("302 Found", b"Location: /x\r\nContent-Length: 0\r\n")
                + response(
                    "200 OK", b"Content-Type: text/html\r\nContent-Length: 12\r\n", login_page
                ),
            ),
        ]
    )
    records = [e.record for e in events if e.proto == "http"]
    assert len(records) == 4
    for record in records:
        json.dumps(record)
        for key, value in record.items():
            assert key in props, key
            assert isinstance(value, json_types[props[key]["type"]]), key


# -- fuzz --------------------------------------------------------------------------------

PIECES = [
    GET,
    POST_CHUNKED,
    POST_LENGTH,
    b"GET / HTTP/1.1\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: -1\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Content-Encoding: gzip\r\n",
    b"Content-Encoding: deflate\r\n",
    b"\r\n",
    b"\n",
    b"ffffffffffffffffff\r\n",
    b"5\r\nab",
    b"0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 101 Switching\r\n\r\n",
    b"HEAD / HTTP/1.1\r\n\r\n",
    b"CONNECT h:443 HTTP/1.1\r\n\r\n",
    b"Authorization: Basic YWRtaW46eA==\r\n",
    b"HTTP/1.1 401 No\r\nContent-Length: 0\r\n\r\n",
    gzip.compress(b"hello")[:12],
    gzip.compress(b"hello"),
    b"\x1f\x8b\x08\x00garbage",
    b" folded\r\n",
    b"Host: [::1]:99\r\n",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([TO_SERVER, TO_CLIENT]),
            st.one_of(st.sampled_from(PIECES), st.binary(max_size=64)),
            st.integers(min_value=0, max_value=3),
        ),
        max_size=40,
    )
)
def test_fuzz_never_raises(steps: list[tuple[int, bytes, int]]) -> None:
    limits = Limits(
        max_line=256, max_headers=8, max_body=512, max_decompressed=1024, max_pending=1024
    )
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies, limits)
    events: list[AppEvent] = []
    for direction, data, action in steps:
        if action == 3:
            parser.gap(direction, len(data) + 1)
        else:
            events += parser.feed(direction, data)
    events += parser.close()
    for event in events:
        assert event.proto in ("http", "auth")
        json.dumps(event.record)
        for key in ("request_body", "response_body"):
            assert len(event.extra.get(key, b"")) <= 1024
    assert all(name.startswith("http: ") for name in anomalies)


VALID_RESPONSES = [
    response("200 OK", b"Content-Length: 5\r\n", b"hello"),
    response(
        "200 OK",
        b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        chunked(gzip.compress(b"zipped " * 50), 17),
    ),
    response("404 Not Found", b"Transfer-Encoding: chunked\r\n", chunked(b"nope", 1)),
    response("302 Found", b"Location: /login\r\nContent-Length: 0\r\n"),
]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=6),
    st.lists(st.integers(min_value=1, max_value=4000), max_size=8),
)
def test_any_split_gives_the_same_events(picks: list[int], cuts: list[int]) -> None:
    requests = b"".join(
        [GET, POST_CHUNKED, POST_LENGTH, form_post(b"/login", b"user=a&pass=b")][i] for i in picks
    )
    responses = b"".join(VALID_RESPONSES[i] for i in picks)

    def split(data: bytes, direction: int) -> Chunks:
        points = sorted({0, len(data), *(c % len(data) for c in cuts)})
        return [(direction, data[a:b]) for a, b in pairwise(points)]

    whole = view(run([(TO_SERVER, requests), (TO_CLIENT, responses)]))
    assert len([e for e in whole if e[0] == "http"]) == 2 * len(picks)
    assert view(run(split(requests, TO_SERVER) + split(responses, TO_CLIENT))) == whole


# -- real captures -----------------------------------------------------------------------


def capture_events(path: Path) -> list[tuple[int, AppEvent]]:
    """Decode a capture, reassemble each TCP connection naively, feed an HttpParser.

    Segments are taken in capture order per direction; a retransmission (data at or
    below the next expected sequence number) is trimmed, a hole becomes ``gap()``.
    Events are returned with the number of the packet that completed them.
    """
    decoder = Decoder()
    parsers: dict[tuple[bytes, int, bytes, int], HttpParser] = {}
    next_seq: dict[tuple[tuple[bytes, int, bytes, int], int], int] = {}
    anomalies: Counter[str] = Counter()
    events: list[tuple[int, AppEvent]] = []
    with open_capture(path) as reader:
        for num, (ts, linktype, data, wirelen) in enumerate(reader.frames(), 1):
            pkt = decoder.decode(num, ts, linktype, data, wirelen)
            if pkt.proto != 6 or not pkt.payload:
                continue
            forward = (pkt.src, pkt.sport, pkt.dst, pkt.dport)
            backward = (pkt.dst, pkt.dport, pkt.src, pkt.sport)
            if backward in parsers:
                key, direction = backward, TO_CLIENT
            else:
                key, direction = forward, TO_SERVER
                parsers.setdefault(key, HttpParser(anomalies))
            parser = parsers[key]
            seq, payload = pkt.seq, pkt.payload
            expected = next_seq.get((key, direction))
            if expected is not None:
                if seq + len(payload) <= expected:
                    continue
                if seq < expected:
                    payload = payload[expected - seq :]
                    seq = expected
                elif seq > expected:
                    parser.gap(direction, seq - expected)
            next_seq[key, direction] = seq + len(payload)
            events += [(num, e) for e in parser.feed(direction, payload)]
    for parser in parsers.values():
        events += [(1 << 62, e) for e in parser.close()]
    events.sort(key=lambda pair: pair[0])
    return events


needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(),
    reason=f"shared corpus not found at {CORPUS} (a user's clone has no ../shared)",
)

# `tshark -r ndpi__WebattackSQLinj.pcap -Y http.request -T fields -e frame.number
#  -e http.request.uri` with TShark 4.0.17 (Debian 4.0.17-0+deb12u3).
SQLINJ_REQUESTS = [
    (4, "/dv/vulnerabilities/sqli/?id=1%27&Submit=Submit"),
    (15, "/dv/vulnerabilities/sqli/?id=1%27+and+1%3D1%23&Submit=Submit"),
    (
        25,
        "/dv/vulnerabilities/sqli/?id=1%27+and+1%3D1+union+select+database%28%29%2C+user%28%29%23"
        "&Submit=Submit",
    ),
    (
        35,
        "/dv/vulnerabilities/sqli/?id=1%27+and+1%3D1+union+select+null%2C+table_name+from"
        "+information_schema.tables%23&Submit=Submit",
    ),
    (
        46,
        "/dv/vulnerabilities/sqli/?id=1%27+and+1%3D1+union+select+user%2C+password+from+users%23"
        "&Submit=Submit",
    ),
    (56, "/dv/vulnerabilities/sqli/?id=1%27&Submit=Submit"),
    (66, "/dv/vulnerabilities/sqli/?id=1%27+and+1%3D1%23&Submit=Submit"),
    (
        76,
        "/dv/vulnerabilities/sqli/?id=1%27+and+1%3D1+union+select+database%28%29%2C+user%28%29%23"
        "&Submit=Submit",
    ),
    (
        86,
        "/dv/vulnerabilities/sqli/?id=1%27+and+1%3D1+union+select+null%2C+table_name+from"
        "+information_schema.tables%23&Submit=Submit",
    ),
]
# `tshark ... -Y http.response -T fields -e frame.number -e http.response.code
#  -e http.content_length`, and the length of `-T json -e http.file_data` (tshark's
#  gunzipped body), same version: every response is gzip-encoded.
SQLINJ_RESPONSES = [
    (6, 200, 141, 161),
    (17, 200, 1488, 5347),
    (27, 200, 1529, 5488),
    (37, 200, 3797, 47327),
    (48, 200, 1669, 6063),
    (58, 200, 141, 161),
    (68, 200, 1488, 5347),
    (78, 200, 1529, 5488),
    (89, 200, 3797, 47327),
]
SQL_ERROR = (
    b"<pre>You have an error in your SQL syntax; check the manual that corresponds to your "
    b"MySQL server version for the right syntax to use near ''1''' at line 1</pre>"
)


@needs_corpus
def test_corpus_sql_injection_requests_match_tshark() -> None:
    events = capture_events(CORPUS / "http-attacks" / "ndpi__WebattackSQLinj.pcap")
    requests = [(n, e) for n, e in events if e.direction == TO_SERVER]
    assert [(n, e.record["url"]) for n, e in requests] == SQLINJ_REQUESTS
    assert {e.record["hostname"] for _, e in requests} == {"205.174.165.68"}
    assert requests[1][1].extra["uri_normalized"] == (
        "/dv/vulnerabilities/sqli/?id=1' and 1=1#&Submit=Submit"
    )
    answers = [(n, e) for n, e in events if e.direction == TO_CLIENT]
    got = [
        (n, e.record["status"], e.record["length"], len(e.extra["response_body"]))
        for n, e in answers
    ]
    assert got == SQLINJ_RESPONSES
    assert answers[0][1].extra["response_body"] == SQL_ERROR
    for _, answer in answers[1:5]:  # decoded HTML, not gzip
        assert answer.extra["response_body"].startswith(b"\r\n<!DOCTYPE html PUBLIC")
        assert "truncated" not in answer.extra


# `tshark -r zeek__http-bro.org.pcap -Y http.request -T fields -e frame.number
#  -e http.request.uri`, TShark 4.0.17. Host is bro.org except frames 693 and 697.
BRO_REQUESTS = [
    (4, "/"),
    (40, "/css/pygments.css"),
    (52, "/css/960.css"),
    (54, "/css/bro-ids.css"),
    (56, "/css/print.css"),
    (58, "/js/jquery.cycle.all.min.js"),
    (60, "/js/jquery.fancybox-1.3.4.pack.js"),
    (66, "/js/jquery.tweet.js"),
    (149, "/js/jquery.zrssfeed.js"),
    (150, "/js/jquery.tableofcontents.js"),
    (164, "/js/superfish.js"),
    (194, "/js/hoverIntent.js"),
    (209, "/js/general.js"),
    (212, "/favicon.ico"),
    (249, "/js/jquery.collapse.js"),
    (251, "/images/bro-eyes.png"),
    (253, "/images/new.png"),
    (255, "/images/icons/feed-icon-14x14.png"),
    (257, "/images/logo-icsi.png"),
    (259, "/images/logo-lbl.png"),
    (270, "/images/logo-ncsa.png"),
    (292, "/images/logo-nsf.jpg"),
    (384, "/images/to-top.gif"),
    (386, "/images/menu/default-submenu-sprite.png"),
    (608, "/download/index.html"),
    (641, "/images/logo-bro.png"),
    (643, "/js/breadcrumbs.js"),
    (645, "/images/icons/download.png"),
    (693, "/downloads/release/binpac-0.41.tar.gz.asc"),
    (697, "/favicon.ico"),
    (724, "/download/CHANGES.binpac.txt"),
]
# tshark's responses (frame, uri, Content-Length), same version. tshark lists 30:
# it drops the response to /js/jquery.cycle.all.min.js, whose body lost 7240 bytes
# to the capture (frames 117..179); we report it too, at frame 207, with gap=True.
BRO_RESPONSES = [
    (38, "/", 15961),
    (65, "/css/pygments.css", 2957),
    (101, "/css/print.css", 334),
    (107, "/css/960.css", 5600),
    (163, "/js/jquery.tweet.js", 8894),
    (178, "/css/bro-ids.css", 24765),
    (206, "/js/jquery.fancybox-1.3.4.pack.js", 15669),
    (207, "/js/jquery.cycle.all.min.js", 31052),  # not in tshark's list, see above
    (217, "/js/jquery.zrssfeed.js", 3325),
    (229, "/js/jquery.tableofcontents.js", 10384),
    (235, "/js/superfish.js", 3833),
    (237, "/favicon.ico", 1150),
    (242, "/js/hoverIntent.js", 3257),
    (247, "/js/general.js", 5104),
    (268, "/js/jquery.collapse.js", 5735),
    (280, "/images/logo-icsi.png", 5686),
    (282, "/images/icons/feed-icon-14x14.png", 689),
    (287, "/images/new.png", 2590),
    (316, "/images/logo-lbl.png", 4021),
    (331, "/images/logo-ncsa.png", 10673),
    (382, "/images/bro-eyes.png", 46415),
    (413, "/images/menu/default-submenu-sprite.png", 517),
    (414, "/images/to-top.gif", 172),
    (606, "/images/logo-nsf.jpg", 186859),
    (639, "/download/index.html", 26270),
    (660, "/images/logo-bro.png", 10869),
    (667, "/js/breadcrumbs.js", 3180),
    (670, "/images/icons/download.png", 716),
    (695, "/downloads/release/binpac-0.41.tar.gz.asc", 836),
    (701, "/favicon.ico", 1150),
    (730, "/download/CHANGES.binpac.txt", 3912),
]


@needs_corpus
def test_corpus_bro_org_requests_match_tshark() -> None:
    events = capture_events(CORPUS / "benign" / "zeek__http-bro.org.pcap")
    requests = [(n, e) for n, e in events if e.direction == TO_SERVER]
    assert [(n, e.record["url"]) for n, e in requests] == BRO_REQUESTS
    hosts = [e.record["hostname"] for _, e in requests]
    assert hosts == ["bro.org"] * 28 + ["www.bro.org"] * 2 + ["bro.org"]
    answers = [(n, e) for n, e in events if e.direction == TO_CLIENT]
    assert [(n, e.record["url"], e.record["length"]) for n, e in answers] == BRO_RESPONSES
    gapped = [e.record["url"] for _, e in answers if e.extra.get("gap")]
    assert gapped == ["/js/jquery.cycle.all.min.js"]
    for _, answer in answers:
        if not answer.extra.get("gap"):
            assert len(answer.extra["response_body"]) == answer.record["length"]
