"""HTTP responses under the evasions of Suricata's http-evader tests, read as libhtp reads them.

Each test writes out a response the way an evading server sends it and checks the
body (and headers) netsentry recovers: the same bytes Suricata's HTTP parser
(libhtp) hands to ``file_data``. The rules come from libhtp's response parser,
not from the individual captures; see netsentry/protocols/httphead.py and
httpbody.py.
"""

from __future__ import annotations

import gzip
import time
import zlib
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits
from netsentry.protocols.http import HttpParser
from netsentry.protocols.httphead import parse_response_head

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
REQUEST = b"GET /eicar.txt HTTP/1.1\r\nHost: evader.example\r\n\r\n"


def exchange(
    *chunks: bytes, request: bytes = REQUEST, limits: Limits | None = None
) -> tuple[list[AppEvent], Counter[str]]:
    """The response events (and anomalies) of one request answered by ``chunks``."""
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies, limits)
    events = parser.feed(TO_SERVER, request)
    for chunk in chunks:
        events += parser.feed(TO_CLIENT, chunk)
    events += parser.close()
    return [e for e in events if e.proto == "http" and e.direction == TO_CLIENT], anomalies


def body(*chunks: bytes) -> bytes:
    """The one response body recovered from ``chunks``."""
    answers, _ = exchange(*chunks)
    assert len(answers) == 1, answers
    data = answers[0].extra["response_body"]
    assert isinstance(data, bytes)
    return data


def in_pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def chunked(data: bytes, size: int = 15, fmt: bytes = b"%x") -> bytes:
    """``data`` in chunks whose size lines are written with ``fmt``."""
    out = [fmt % len(piece) + b"\r\n" + piece + b"\r\n" for piece in in_pieces(data, size)]
    return b"".join(out) + b"0\r\n\r\n"


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


HEAD = b"HTTP/1.1 200 ok\r\nContent-type: application/octet-stream\r\n"


# -- chunked framing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt", [b"%xx", b"%x,", b"%x x", b"%x;ext=1", b" %x", b"\t%x ", b"%X", b"0%x"]
)
def test_chunk_size_is_the_leading_hex_digits(fmt: bytes) -> None:
    response = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(EICAR, fmt=fmt)
    assert body(response) == EICAR


def test_chunk_data_end_skips_to_the_line_feed() -> None:
    response = HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nX5O!P junk\n3\r\nabc\n0\r\n\r\n"
    assert body(response) == b"X5O!Pabc"


def test_body_that_is_not_chunked_runs_until_close() -> None:
    # libhtp: a first "size" line without hex digits means the body was not chunked
    response = b"HTTP/1.0 200 ok\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    answers, anomalies = exchange(response + EICAR)
    assert answers[0].extra["response_body"] == EICAR
    assert "truncated" not in answers[0].extra
    assert anomalies["http: bad chunk size"] == 1


def test_not_chunked_found_after_a_few_bytes_split_anywhere() -> None:
    response = b"HTTP/1.1 200 ok\r\nTransfer-Encoding: chunked\r\n\r\n" + EICAR
    assert body(*in_pieces(response, 3)) == EICAR


def test_chunked_wins_over_content_length_even_on_http_1_0() -> None:
    response = b"http/1.0 200 ok\r\nContent-length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert body(response + chunked(EICAR)) == EICAR


@pytest.mark.parametrize(
    "te",
    [
        b"Transfer-Encoding: xchunked\r\n",
        b"Transfer-Encoding: x chunked\r\n",
        b"Transfer-Encoding: chunked;\r\n",
        b"Transfer-Encoding: chunked,\r\n",
        b"Transfer-Encoding: CHUNKED\r\n",
        b"Transfer-Encoding: chun\x00ked\r\n",
        b"Transfer-Encoding:\x0bchunked\r\n",
        b"Transfer-Encoding:\x7fchunked\r\n",
        b"Transfer-Encoding: lalala\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: lalala\r\n",
        b"Transfer-Encoding:: chunked\r\n",
    ],
)
def test_transfer_encoding_containing_chunked_is_chunked(te: bytes) -> None:
    assert body(HEAD + te + b"\r\n" + chunked(EICAR)) == EICAR


def test_transfer_encoding_without_chunked_falls_back_to_content_length() -> None:
    response = HEAD + b"Transfer-Encoding: lalala\r\nContent-Length: 5\r\n\r\nX5O!P"
    answers, _ = exchange(response, b"more")
    assert answers[0].extra["response_body"] == b"X5O!P"
    assert answers[0].record["length"] == 5


# -- header names, values, folding and line ends ------------------------------------------


@pytest.mark.parametrize(
    "te",
    [
        b"Transfer-Encoding : chunked\r\n",
        b"Transfer-Encoding\t: chunked\r\n",
        b"Transfer-Encoding\x0b: chunked\r\n",
        b"Transfer\x00-Encoding: chunked\r\n",
        b"Transfer-Encoding\r\n : chunked\r\n",
        b"Transfer-Encoding\r\n :\r\n chunked\r\n",
        b"Transfer-Encoding: \r\n chunked\r\n",
        b"Transfer-Encoding:\n\x00chunked\r\n",
        b"Transfer-Encoding:\r chunked\r\n",
    ],
)
def test_header_name_and_value_quirks(te: bytes) -> None:
    answers, _ = exchange(HEAD + te + b"\r\n" + chunked(EICAR))
    assert answers[0].extra["response_body"] == EICAR
    assert answers[0].extra["response_headers"]["transfer-encoding"].replace("\0", "") == (
        "chunked"
    )


@pytest.mark.parametrize("blank", [b" ", b"\t"])
def test_indented_name_colon_line_is_a_new_header_not_a_fold(blank: bytes) -> None:
    response = (
        b"HTTP/1.1 200 ok\r\nConnection: close\r\n" + blank + b"Transfer-Encoding: chunked\r\n"
    )
    answers, _ = exchange(response + b"\r\n" + chunked(EICAR))
    assert answers[0].extra["response_headers"]["connection"] == "close"
    assert answers[0].extra["response_body"] == EICAR


def test_fold_joins_the_value_with_its_fold_character() -> None:
    head = parse_response_head(b"HTTP/1.1 200 ok\r\nX-A: one\r\n two\r\n\tthree\r\n\r\n", 0)
    assert head is not None
    _end, status, fields = head
    assert status == b"HTTP/1.1 200 ok"
    assert fields == [(b"X-A", b"one two\tthree")]


@pytest.mark.parametrize(
    "eol",
    [b"\r", b"\n", b"\n\r"],
    ids=["cr", "lf", "lfcr"],
)
def test_lines_may_end_in_cr_lf_or_lf_cr(eol: bytes) -> None:
    lines = [b"HTTP/1.1 200 ok", b"Content-type: text/plain", b"Transfer-Encoding: chunked"]
    response = eol.join(lines) + b"\r\n\r\n" + chunked(EICAR)
    assert body(response) == EICAR


def test_status_line_ended_by_cr_alone() -> None:
    response = b"HTTP/1.1 200 ok\rTransfer-Encoding:chunked\r\nX: y\r\n\r\n" + chunked(EICAR)
    answers, _ = exchange(response)
    assert answers[0].record["status"] == 200
    assert answers[0].extra["response_body"] == EICAR


@pytest.mark.parametrize(
    "ending",
    [b"\n\r\r\n", b"\n\t\n", b"\r\n\n", b"\n\n"],
    ids=["lfcrcrlf", "lf-tab-lf", "crlflf", "lflf"],
)
def test_deformed_ends_of_head(ending: bytes) -> None:
    packed = gzip.compress(EICAR)
    response = HEAD + b"Content-Encoding: gzip\r\nContent-length: %d" % len(packed)
    assert body(response + ending + packed) == EICAR


def test_deformed_line_end_is_no_end_of_head() -> None:
    # "\r\n\r\r" before a header name is one (deformed) line end, not an empty line
    response = b"HTTP/1.1 200 ok\r\nConnection: close\r\n\r\rTransfer-Encoding: chunked\r\n\r\n"
    assert body(response + chunked(EICAR)) == EICAR


@pytest.mark.parametrize(
    "before",
    [b" \r\n\t\r\n", b" \t\r\r\n", b"foobar\r\n", b"SIP/2.0 200 ok\r\n", b" \r", b" \n", b"\x00"],
)
def test_lines_before_the_status_line_are_skipped(before: bytes) -> None:
    response = before + HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(EICAR)
    answers, anomalies = exchange(response)
    assert [a.extra["response_body"] for a in answers] == [EICAR]
    assert answers[0].record["status"] == 200
    # counted once when the skipped bytes are more than blanks
    assert anomalies["http: invalid response line"] == (1 if before.strip(b" \t\r\n\x00") else 0)


def test_lower_case_protocol_is_a_response() -> None:
    response = b"http/1.1 200 ok\r\nContent-length: %d\r\n\r\n" % len(EICAR) + EICAR
    assert body(response) == EICAR


def test_no_status_line_at_all_is_the_body() -> None:
    # libhtp hands a first "line" that does not start with http to the body
    answers, anomalies = exchange(EICAR)
    assert [a.extra["response_body"] for a in answers] == [EICAR]
    assert "status" not in answers[0].record
    assert anomalies["http: response without status line"] == 1


def test_bodiless_statuses_without_a_length_have_none() -> None:
    request = REQUEST + b"GET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"
    responses = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc"
    )
    answers, _ = exchange(responses, request=request)
    assert [(a.record["status"], a.extra["response_body"]) for a in answers] == [
        (304, b""),
        (204, b""),
        (200, b"c"),
    ]


def test_lines_after_a_body_join_it_up_to_the_next_response() -> None:
    # libhtp: what follows a body and cannot start a response is more of that body
    request = REQUEST + b"GET /b HTTP/1.1\r\n\r\n"
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 34\r\n\r\n" + EICAR + b"\r\nmore\r\n"
    second = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    answers, anomalies = exchange(first + second, request=request)
    assert [a.extra["response_body"] for a in answers] == [EICAR + b"\r\nmore\r\n", b"ok"]
    assert anomalies["http: unexpected response body"] == 1


def test_junk_after_a_response_is_not_a_second_response() -> None:
    request = REQUEST + b"GET /b HTTP/1.1\r\n\r\n"
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    answers, _ = exchange(first, b"EXTRA", request=request)
    assert [a.extra["response_body"] for a in answers] == [b"ok"]


@pytest.mark.parametrize("status", [100, 101, 102, 204, 304])
def test_bodiless_statuses_with_a_length_carry_a_body(status: int) -> None:
    # libhtp: a Content-Length (or Transfer-Encoding) gives 1xx, 204 and 304 a body
    response = b"HTTP/1.1 %d ok\r\nContent-length: %d\r\n\r\n" % (status, len(EICAR)) + EICAR
    answers, _ = exchange(response)
    assert [(a.record["status"], a.extra["response_body"]) for a in answers] == [(status, EICAR)]


def test_content_length_leading_junk_skipped_trailing_junk_reads_on() -> None:
    answers, _ = exchange(HEAD + b"Content-length: x5\r\n\r\nX5O!P", b"more")
    assert answers[0].extra["response_body"] == b"X5O!P"
    answers, _ = exchange(HEAD + b"Content-length: 34 68\r\n\r\n" + EICAR)
    assert answers[0].extra["response_body"] == EICAR


# -- content codings -------------------------------------------------------------------------


GZIPPED = gzip.compress(EICAR)
DEFLATED = raw_deflate(EICAR)


def test_content_length_with_more_after_its_digits_waits_for_the_rest() -> None:
    # libhtp reads 34, then the bytes that follow (no response line) as more body,
    # whichever segments they come in
    response = HEAD + b"Content-length: 34 68\r\n\r\n" + EICAR
    for size in (1, 2, 3, 40):
        assert body(*in_pieces(response, size)) == EICAR, size


def test_lingering_response_ends_when_the_next_one_starts() -> None:
    request = REQUEST + b"GET /b HTTP/1.1\r\n\r\n"
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies)
    parser.feed(TO_SERVER, request)
    first = HEAD + b"Content-length: 5 (five)\r\n\r\nX5O!P"
    assert parser.feed(TO_CLIENT, first) == []  # it may go on
    assert parser.feed(TO_CLIENT, b"%@AP[") == []
    events = parser.feed(TO_CLIENT, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert [e.extra["response_body"] for e in events] == [b"X5O!P%@AP[", b"ok"]


def test_plain_content_length_response_is_not_held_back() -> None:
    parser = HttpParser(Counter())
    parser.feed(TO_SERVER, REQUEST)
    events = parser.feed(TO_CLIENT, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert [e.extra["response_body"] for e in events] == [b"ok"]
    events = parser.feed(TO_CLIENT, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert [e.extra["response_body"] for e in events] == [b""]


@pytest.mark.parametrize(
    ("ce", "payload"),
    [
        (b"Content-Encoding: gzip,\r\n", GZIPPED),
        (b"Content-Encoding: ,gzip\r\n", GZIPPED),
        (b"Content-Encoding: gzip x\r\n", GZIPPED),
        (b"Content-Encoding: gz\x00ip\r\n", GZIPPED),
        (b"Content-Encoding:\xa0gzip\r\n", GZIPPED),
        (b"Content-Encoding: x-deflate\r\n", DEFLATED),
        (b"Content-Encoding: deflate;\r\n", DEFLATED),
        (b"Content-Encoding: identity,gzip\r\n", GZIPPED),
        (b"Content-Encoding: gzip,identity\r\n", GZIPPED),
        (b"Content-Encoding: identity\r\nContent-Encoding: deflate\r\n", DEFLATED),
        (b"Content-Encoding:deflate\r\n ,\r\n \r\n", DEFLATED),
        (b"Content-Encoding\r\n :\r\n gzip\r\n", GZIPPED),
        # the coding named does not matter: libhtp tries gzip, zlib and raw deflate
        (b"Content-Encoding: gzip\r\n", DEFLATED),
        (b"Content-Encoding: deflate\r\n", GZIPPED),
        (b"Content-Encoding: deflate\r\n", zlib.compress(EICAR)),
        (b"Content-Encoding: deflate\r\n", zlib.compress(EICAR)[:-4] + b"\xff" * 4),
        # raw deflate whose first bytes pass for a zlib header: retried as raw
        (b"Content-Encoding: deflate\r\n", b"\x78\x01\x00\xfe\xffX" + raw_deflate(EICAR[1:])),
    ],
)
def test_content_encoding_quirks(ce: bytes, payload: bytes) -> None:
    response = HEAD + ce + b"Content-length: %d\r\n\r\n" % len(payload) + payload
    assert body(response) == EICAR


@pytest.mark.parametrize(
    ("ce", "payload"),
    [
        (b"deflate, deflate", raw_deflate(raw_deflate(EICAR))),
        (b"gzip, deflate", raw_deflate(gzip.compress(EICAR))),
        (b"deflate,gzip", gzip.compress(raw_deflate(EICAR))),
        (b"gzip,deflate, gzip", gzip.compress(raw_deflate(gzip.compress(EICAR)))),
    ],
)
def test_layered_codings_are_all_undone(ce: bytes, payload: bytes) -> None:
    # repeated Content-Encoding headers are joined with ", " as libhtp joins them
    first, _, rest = ce.partition(b", ")
    lines = b"Content-Encoding: " + first + b"\r\n"
    if rest:
        lines += b"Content-Encoding: " + rest + b"\r\n"
    response = HEAD + lines + b"Content-length: %d\r\n\r\n" % len(payload) + payload
    assert body(*in_pieces(response, 7)) == EICAR


def test_layers_beyond_the_limit_are_left() -> None:
    payload = raw_deflate(raw_deflate(raw_deflate(raw_deflate(EICAR))))
    ce = b"Content-Encoding: deflate,deflate,deflate,deflate\r\n"
    answers, _ = exchange(HEAD + ce + b"Content-length: %d\r\n\r\n" % len(payload) + payload)
    assert answers[0].extra["response_body"] == raw_deflate(EICAR)


def gzip_with(flags: int, extra: bytes, trailer: bytes | None = None) -> bytes:
    """EICAR gzipped with the header ``flags`` byte and fields ``extra`` after the header."""
    packed = gzip.compress(EICAR, mtime=0)
    end = packed[-8:] if trailer is None else trailer
    return packed[:3] + bytes([flags]) + packed[4:10] + extra + packed[10:-8] + end


@pytest.mark.parametrize(
    "payload",
    [
        gzip_with(0x01, b""),  # FTEXT
        gzip_with(0x02, b"\x00\x00"),  # FHCRC with a wrong CRC
        gzip_with(0x04, b"\x00\x00"),  # FEXTRA, empty
        gzip_with(0x04, b"\x03\x00abc"),  # FEXTRA, three bytes
        gzip_with(0x08, b"eicar.txt\x00"),  # FNAME
        gzip_with(0x10, b"a comment\x00"),  # FCOMMENT
        gzip_with(0x20, b""),  # reserved bits: ignored
        gzip_with(0x40, b""),
        gzip_with(0x80, b""),
        gzip_with(0x00, b"", trailer=b""),  # no trailer
        gzip_with(0x00, b"", trailer=b"\xff" * 8),  # wrong CRC and size
    ],
)
def test_gzip_header_read_leniently_and_trailer_not_checked(payload: bytes) -> None:
    response = HEAD + b"Content-Encoding: gzip\r\nContent-length: %d\r\n\r\n" % len(payload)
    assert body(*in_pieces(response + payload, 5)) == EICAR


def test_brotli_is_left_encoded() -> None:
    answers, _ = exchange(HEAD + b"Content-Encoding: br\r\nContent-length: 4\r\n\r\nabcd")
    assert answers[0].extra["response_body"] == b"abcd"
    assert answers[0].extra["content_encoding"] == "br"


TOKEN = st.text(alphabet="abcXYZ-_019!#~", min_size=1, max_size=12)
VALUE = st.binary(max_size=30).map(lambda v: v.replace(b"\r", b"").replace(b"\n", b""))


@given(st.lists(st.tuples(TOKEN, VALUE), max_size=12), st.binary(max_size=20))
def test_plain_heads_read_alike_by_both_paths(fields: list[tuple[str, bytes]], rest: bytes) -> None:
    # a leading blank keeps a head off the one-regex path: both must agree
    lines = b"".join(name.encode() + b":" + value + b"\r\n" for name, value in fields)
    head = b"HTTP/1.1 200 OK\r\n" + lines + b"\r\n" + rest
    fast = parse_response_head(head, 0)
    slow = parse_response_head(b" " + head, 0)
    assert fast is not None and slow is not None
    assert (fast[0] + 1, fast[1], fast[2]) == slow
    assert [name for name, _ in fast[2]] == [name.encode() for name, _ in fields]


# -- any split of the stream --------------------------------------------------------------


SPLIT_SAMPLES = [
    b"HTTP/1.1 200 ok\rContent-type: a\rTransfer-Encoding: chunked\rX: foo\r\n\n" + chunked(EICAR),
    b"HTTP/1.1 200 ok\n\rTransfer-Encoding: chunked\n\rX: foo\r\n\r\n" + chunked(EICAR),
    HEAD + b"Content-Encoding: gzip\r\nContent-length: %d\n\t\n" % len(GZIPPED) + GZIPPED,
    HEAD + b"Content-Encoding: gzip\r\nContent-length: %d\n\r\r\n" % len(GZIPPED) + GZIPPED,
    b"HTTP/1.1 200 ok\r\nConnection: close\r\n\r\rTransfer-Encoding: chunked\r\n\r\n"
    + chunked(EICAR, fmt=b"%x x"),
    b" \r\n\t\r\nHTTP/1.1 200 ok\r\nContent-Encoding\r\n :\r\n gzip\r\n\r\n" + GZIPPED,
    b"HTTP/1.0 200 ok\r\nTransfer-Encoding: chunked\r\n\r\n" + EICAR,
]


@pytest.mark.parametrize("response", SPLIT_SAMPLES)
def test_any_split_of_the_stream_gives_the_same_body(response: bytes) -> None:
    whole = body(response)
    assert EICAR in whole
    assert body(*in_pieces(response, 1)) == whole
    for cut in range(1, len(response)):
        assert body(response[:cut], response[cut:]) == whole, cut


# -- bounds on hostile input --------------------------------------------------------------------


def test_response_head_trickled_byte_by_byte_is_bounded() -> None:
    # many spots that could end the head but do not: the re-parses are capped
    hostile = b"HTTP/1.1 200 ok\r\n" + b"X: a\r\n\r\t" * 6000
    anomalies: Counter[str] = Counter()
    parser = HttpParser(anomalies)
    parser.feed(TO_SERVER, REQUEST)
    began = time.perf_counter()
    for piece in in_pieces(hostile, 4):
        parser.feed(TO_CLIENT, piece)
    assert time.perf_counter() - began < 5
    assert anomalies["http: header section too large"] == 1


def test_head_trickled_without_end_spots_is_not_refused() -> None:
    # far more feeds than MAX_HEAD_ATTEMPTS: only feeds that could end the head count
    response = HEAD + b"".join(b"X-%d: v\r\n" % i for i in range(200)) + b"Content-length: 2\r\n"
    answers, anomalies = exchange(*in_pieces(response + b"\r\nok", 1))
    assert answers[0].extra["response_body"] == b"ok"
    assert len(answers[0].record["response_headers"]) == 202
    assert anomalies == Counter()
