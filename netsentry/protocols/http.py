"""HTTP/1.0 and HTTP/1.1 over reassembled TCP: requests, responses, login outcomes.

:class:`HttpParser` reads both directions of one connection. Requests are queued
in the order they arrive and each response is matched to the oldest request
still waiting for one (pipelining), interim ``1xx`` responses excepted. It emits

* a ``TO_SERVER`` :class:`~netsentry.protocols.base.AppEvent` when a request's
  headers and body are complete: ``record`` is the EVE ``http`` object
  (``hostname``, ``http_port``, ``url``, ``http_user_agent``,
  ``http_content_type``, ``http_refer``, ``http_method``, ``protocol``,
  ``request_headers``), ``extra`` holds ``uri_normalized``, ``uri_path``,
  ``uri_query``, ``request_body`` (raw, bounded), ``request_headers`` (lower-case
  name -> value, repeats joined with ``", "``), ``tx_id`` (0-based per flow) and,
  when a second percent-decoding changes the URI, ``uri_decoded_twice``;
* a ``TO_CLIENT`` event when the response is complete: the request's fields plus
  ``status``, ``redirect``, ``length`` and ``response_headers``, with
  ``http_content_type`` now the response's; ``extra`` is the request's extra
  (without ``request_body``) plus ``response_body`` (dechunked, gzip/deflate
  decoded, bounded), ``status_line``, ``response_headers`` (dict), and, when they
  apply, ``truncated`` (the body ended early: flow end or broken chunking),
  ``body_truncated`` (a limit cut the kept body), ``gap`` (bytes were lost inside
  the body) -- these three also on requests -- and ``content_encoding`` (a coding
  left undecoded, e.g. ``br``);
* ``proto="auth"`` events (``record = {"service": "http", "user", "result"}``)
  for login outcomes, see :mod:`netsentry.protocols.httpbody`'s login rules:
  ``failure``/``success`` after the response, ``attempt`` when credentials went
  out and the response (or its absence at close) says nothing; ``extra`` holds
  ``tx_id``, ``method`` (``basic``/``form``), ``reason`` and ``reply`` (the
  status line, None when no response came).

URIs: ``uri_normalized`` is the request-target percent-decoded once (``+`` read
as a space in the query only); ``./`` and ``../`` segments are kept so traversal
stays visible. ``uri_path`` is the decoded path (absolute-form targets lose
``scheme://authority``), ``uri_query`` the decoded query. Decoded bytes are read
as UTF-8, or Latin-1 when they are not valid UTF-8.

Responses are read the way libhtp (Suricata's HTTP parser) reads them, so that
evasions aimed at strict parsers recover the body Suricata sees: heads by
:func:`~netsentry.protocols.httphead.parse_response_head` (lines before the
status line skipped, CR-only and LF-CR line ends, lenient folding and names,
``"http: invalid response line"`` counted once for skipped bytes); "chunked"
anywhere in Transfer-Encoding means chunked on any HTTP version; Content-Length
is its first digits; a repeated header's values are joined with ``", "``
(Content-Length keeps the first); a 1xx, 204 or 304 with a length has a body
(and a 101 with one is no switch); Content-Encoding may name several layers (at
most ``MAX_CODING_LAYERS`` undone); lines right after a body that cannot start a
response join that body (``"http: unexpected response body"``; only bytes
already received, the response is not held back for more); and a response with
no status line at all, before any other response, is the body of the first
request (at close).
Chunk sizes and codings: see :mod:`netsentry.protocols.httpbody`.

Never raises on content: a start line that is not HTTP, a header line longer
than ``limits.max_line`` or a header section larger than ``limits.max_pending``
is counted (``"http: invalid request line"``, ``"http: header line too long"``,
...) and that direction is no longer parsed; so is a direction after a gap
that a body length cannot absorb (resynchronizing would pair responses with
the wrong requests). ``101 Switching Protocols`` and ``CONNECT`` end parsing of
the connection (what follows is not HTTP). At most ``MAX_WAITING`` requests wait
for responses; beyond that the oldest is dropped and counted.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from typing import Any
from urllib.parse import unquote_to_bytes

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits, StreamParser, anomaly
from netsentry.protocols.httpbody import (
    CHUNKED,
    LENGTH,
    UNTIL_CLOSE,
    BodyReader,
    basic_auth_user,
    decode_text,
    login_form,
    login_outcome,
)
from netsentry.protocols.httphead import HeadProgress, has_status_line, parse_response_head

PORTS: frozenset[int] = frozenset({80, 8080, 8000, 8008, 8888, 3128, 81, 591})
MAX_WAITING = 64  # requests kept waiting for their response (pipelining depth)
MAX_HEAD_ATTEMPTS = 64  # parses of one response head that may find no end
MAX_CODING_LAYERS = 3  # content codings undone (Suricata's decompress-layer-limit)

METHODS = frozenset(
    b"GET POST HEAD PUT DELETE OPTIONS PATCH CONNECT TRACE PROPFIND PROPPATCH MKCOL COPY "
    b"MOVE LOCK UNLOCK SEARCH REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY SUBSCRIBE "
    b"UNSUBSCRIBE PURGE".split()
)


def probe(direction: int, data: bytes) -> bool:
    """True when ``data`` (the first bytes of a direction) looks like HTTP/1.x.

    A request starts with a known method and a space, or is a whole request line
    with another upper-case method (``XFOC / HTTP/1.1``, as scanners send).
    """
    if direction == TO_CLIENT:
        return data.startswith(b"HTTP/1.")
    sp = data.find(b" ", 0, 13)
    return (sp > 0 and data[:sp] in METHODS) or _ANY_REQUEST_LINE.match(data) is not None


_HEAD = 0  # reading a start line and headers
_BODY = 1  # reading a body
_DEAD = 2  # gave up on this direction
_TUNNEL = 3  # no longer HTTP (CONNECT, 101 Switching Protocols)

_LEADING_EOL = re.compile(rb"[\r\n]*")
_HEAD_END = re.compile(rb"\n\r?\n")
_ANY_REQUEST_LINE = re.compile(rb"[A-Z][A-Z_-]{1,19} [^ \r\n]{1,2048} HTTP/1\.[01]\r?\n")
_REQUEST_START = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}(?: |\Z)")
_BAD_START = ("invalid request line", "invalid response line")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(r"HTTP/\d\.\d")
_STATUS = re.compile(r"\d{3}")
_DIGITS = re.compile(r"[0-9]+")
# an empty line can only be there if two line ends meet (a fold char between them
# at most): a response head is re-parsed only when new bytes bring such a spot
_HEAD_END_HINT = re.compile(rb"\n\n|\r\r|[\r\n]{3}|[\r\n][\t \x00][\r\n]")
_HOST_PORT = re.compile(r"(\[[^\]]*\]|[^:]*)(?::(\d*))?")


class _Tx:
    """One request/response exchange."""

    __slots__ = ("basic", "emitted", "extra", "form", "method", "record", "tx_id", "user")

    def __init__(self, tx_id: int, method: str, record: dict[str, Any], extra: dict[str, Any]):
        self.tx_id = tx_id
        self.method = method
        self.record = record
        self.extra = extra
        self.emitted = False  # the request event went out
        self.basic = False  # carried Authorization: Basic
        self.form = False  # looked like a login form
        self.user: str | None = None


class _Half:
    """Parsing state of one direction."""

    __slots__ = ("body", "buf", "head", "junk", "progress", "scan", "state", "tries", "tx")

    def __init__(self) -> None:
        self.buf = b""  # undecoded bytes of an incomplete header section
        # requests: where in ``buf`` to resume looking for the end of headers;
        # responses: how many bytes of ``buf`` were already looked at
        self.scan = 0
        self.junk = False  # lines that are no status line were skipped (counted once)
        self.tries = 0  # parses of an incomplete response head
        self.progress = HeadProgress()  # how far that head was read
        self.state = _HEAD
        self.body: BodyReader | None = None
        self.tx: _Tx | None = None  # the message being read
        self.head: tuple[int | None, str, list[dict[str, str]], dict[str, str]] | None = None


class HttpParser(StreamParser):
    """HTTP/1.x decoder for one TCP connection (see the module docstring)."""

    name = "http"

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self._halves = (_Half(), _Half())
        self._waiting: deque[_Tx] = deque()  # requests without a final response, oldest first
        self._next_id = 0
        self._closed = False
        self._answered = False  # a response was read on this connection
        self._max_head = max(self.limits.max_pending, self.limits.max_line)

    # -- StreamParser -------------------------------------------------------------

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        half = self._halves[direction]
        if half.state >= _DEAD or self._closed or not data:
            return []
        events: list[AppEvent] = []
        buf = half.buf + data if half.buf else data
        pos = 0
        end = len(buf)
        # a finished body is handled even at the end of the bytes (it may linger)
        while pos < end or (half.state == _BODY and half.body is not None and half.body.done):
            if half.state == _BODY:
                body = half.body
                assert body is not None
                pos = body.feed(buf, pos)
                if body.done:
                    if direction == TO_CLIENT and not body.error:
                        pos = self._trailing_body(body, buf, pos)
                        if body.linger and _undecided(buf, pos):
                            # what its Content-Length left out may come next
                            half.buf = buf[pos:]
                            return events
                    self._body_done(direction, half, events, complete=not body.error)
                    if body.error:
                        self._give_up(half)
                continue
            if half.state != _HEAD:
                break
            eol = _LEADING_EOL.match(buf, pos)
            assert eol is not None  # "*" always matches
            pos = eol.end()
            if pos >= end:
                break
            if direction == TO_CLIENT:
                if not half.junk and not _may_start_response(buf, pos):
                    # libhtp reads lines before a status line as body; we skip them
                    half.junk = True
                    anomaly(self.anomalies, "http", _BAD_START[TO_CLIENT])
                head = self._response_head_at(half, buf, pos)
                if head is None:
                    return events
                half.junk = False
                self._response_head(half, head[1], head[2], events)
                pos = head[0]
                continue
            if not _plausible(direction, buf, pos):
                self._fail(half, _BAD_START[direction])
                return events
            found = _HEAD_END.search(buf, max(pos, half.scan))
            if found is None:
                self._partial_head(half, buf, pos)
                return events
            half.scan = 0
            self._head(direction, half, buf[pos : found.start() + 1], events)
            pos = found.end()
        half.buf = b""
        half.scan = 0
        return events

    def gap(self, direction: int, size: int) -> None:
        super().gap(direction, size)
        half = self._halves[direction]
        if half.state == _BODY and half.body is not None:
            if half.body.done:  # a finished body waiting for more: end it on the next bytes
                half.body.linger = False
                half.buf = b""
                return
            if half.body.skip(size):
                return
        if half.state == _HEAD and not half.buf and direction == TO_CLIENT and not self._waiting:
            return  # between exchanges with nothing outstanding: nothing to misattribute
        self._give_up(half)

    def close(self) -> list[AppEvent]:
        if self._closed:
            return []
        self._closed = True
        events: list[AppEvent] = []
        for direction in (TO_SERVER, TO_CLIENT):
            half = self._halves[direction]
            if half.state == _BODY and half.body is not None:
                if half.body.done and half.buf and not has_status_line(half.buf):
                    half.body.more(half.buf)  # left waiting: the stream ended, it is body
                complete = half.body.end()
                if not complete:
                    what = "request" if direction == TO_SERVER else "response"
                    anomaly(self.anomalies, "http", f"{what} body truncated at close")
                self._body_done(direction, half, events, complete=complete)
        self._headless_response(events)
        for tx in self._waiting:  # credentials sent, no response seen
            if tx.emitted and (tx.basic or tx.form):
                events.append(_auth_event(tx, "attempt", "no response", TO_SERVER, None))
        self._waiting.clear()
        return events

    def _trailing_body(self, body: BodyReader, buf: bytes, pos: int) -> int:
        """libhtp's rule after a response: following lines that cannot start a
        response (no ``http`` first) are more of its body, up to one that can.

        Only the bytes already at hand are looked at: the response is not held back
        waiting for more. Returns where the next response may start.
        """
        end = len(buf)
        eol = _LEADING_EOL.match(buf, pos)
        assert eol is not None  # "*" always matches
        if eol.end() >= end or _may_start_response(buf, eol.end()):
            return pos
        stop = end
        nl = buf.find(b"\n", pos)
        while nl >= 0:
            nxt = _LEADING_EOL.match(buf, nl + 1)
            assert nxt is not None
            if nxt.end() < end and _may_start_response(buf, nxt.end()):
                stop = nl + 1
                break
            nl = buf.find(b"\n", nxt.end())
        anomaly(self.anomalies, "http", "unexpected response body")
        body.more(buf[pos:stop])
        return stop

    def _headless_response(self, events: list[AppEvent]) -> None:
        """At close, server bytes without any status line answer the oldest request.

        libhtp hands a response "line" that does not start with ``http`` to the
        body, as browsers do (an HTTP/0.9-style answer): so does this, for what is
        left buffered when the connection ends, if no response came before.
        """
        half = self._halves[TO_CLIENT]
        if half.state != _HEAD or not half.buf or not self._waiting or self._answered:
            return  # after a response, libhtp adds such bytes to that (finished) body
        if has_status_line(half.buf):
            return
        anomaly(self.anomalies, "http", "response without status line")
        half.tx = self._waiting.popleft()
        half.head = (None, "", [], {})
        body = half.buf[: self.limits.max_body]
        more = {"body_truncated": True} if len(half.buf) > len(body) else {}
        half.buf = b""
        self._response_done(half, body, len(body), events, **more)

    # -- headers ------------------------------------------------------------------

    def _response_head_at(
        self, half: _Half, buf: bytes, pos: int
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        """The response head at ``pos`` once complete; None (bytes kept) until then.

        ``half.scan`` counts the bytes already looked at, ``half.progress`` how far
        the head was parsed and ``half.tries`` the parses that found no end: only
        bytes that could end the head cause another parse (resumed at the header
        it stopped in), and a hostile head forcing too many fails.
        """
        # new bytes, and those from where the last parse stopped (it may have needed
        # more bytes after a spot it found)
        since = min(pos + half.scan - 3, pos + half.progress.at)
        if half.scan and not _HEAD_END_HINT.search(buf, max(pos, since)):
            self._partial_head(half, buf, pos, keep_scan=True)
            half.scan = len(buf) - pos
            return None
        head = parse_response_head(buf, pos, half.progress)
        if head is not None:
            half.scan = half.tries = 0
            half.progress = HeadProgress()
            return head
        half.tries += 1
        if half.tries > MAX_HEAD_ATTEMPTS:
            self._fail(half, "header section too large")
            return None
        self._partial_head(half, buf, pos, keep_scan=True)
        half.scan = len(buf) - pos
        return None

    def _partial_head(self, half: _Half, buf: bytes, pos: int, keep_scan: bool = False) -> None:
        """No end of headers yet: keep the bytes unless a line or the section is too long."""
        end = len(buf)
        line_start = buf.rfind(b"\n", pos) + 1 or pos
        # the slack of 1 and 2 bytes is a pending "\r" (and "\n"): a whole line or
        # section at the limit must pass here as it passes in _head
        if end - line_start > self.limits.max_line + 1:
            self._fail(half, "header line too long")
        elif end - pos > self._max_head + 2:
            self._fail(half, "header section too large")
        else:
            half.buf = buf[pos:] if pos else buf
            if not keep_scan:
                half.scan = max(0, end - pos - 2)

    def _head(self, direction: int, half: _Half, block: bytes, events: list[AppEvent]) -> None:
        if len(block) > self._max_head:
            self._fail(half, "header section too large")
            return
        text = block.decode("latin-1")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        if (
            len(text) > self.limits.max_line
            and max(map(len, text.split("\n"))) > self.limits.max_line
        ):
            self._fail(half, "header line too long")
            return
        start, _, fields = text.partition("\n")  # ``text`` ends with a newline
        listed, named = self._headers(fields[:-1]) if fields else ([], {})
        if direction == TO_SERVER:
            self._request(half, start, listed, named, events)
        else:
            self._response(half, start, listed, named, events)

    def _headers(self, text: str) -> tuple[list[dict[str, str]], dict[str, str]]:
        """Header lines (joined by ``\\n``) as Suricata's list and a lower-case dict."""
        listed: list[dict[str, str]] = []
        named: dict[str, str] = {}
        last = ""
        for line in text.split("\n"):
            if line[:1] in (" ", "\t") and listed:  # obsolete line folding
                folded = listed[-1]["value"] + " " + line.strip(" \t")
                listed[-1]["value"] = folded
                named[last] = folded
                continue
            name, colon, value = line.partition(":")
            name = name.strip(" \t")
            if not colon or not name:
                anomaly(self.anomalies, "http", "invalid header line")
                continue
            if len(listed) >= self.limits.max_headers:
                anomaly(self.anomalies, "http", "too many headers")
                break
            value = value.strip(" \t")
            listed.append({"name": name, "value": value})
            last = name.lower()
            named[last] = named[last] + ", " + value if last in named else value
        return listed, named

    def _response_head(
        self,
        half: _Half,
        status: bytes,
        headers: list[tuple[bytes, bytes]],
        events: list[AppEvent],
    ) -> None:
        """A head read by :func:`parse_response_head`: headers as for requests, with
        names looked up without case or NULs and repeats joined by ``", "`` (a
        repeated Content-Length keeps its first value), as libhtp does."""
        if len(status) > self.limits.max_line or any(
            len(n) + len(v) > self.limits.max_line for n, v in headers
        ):
            self._fail(half, "header line too long")
            return
        listed: list[dict[str, str]] = []
        named: dict[str, str] = {}
        for raw_name, raw_value in headers:
            if not raw_name:
                anomaly(self.anomalies, "http", "invalid header line")
                continue
            if len(listed) >= self.limits.max_headers:
                anomaly(self.anomalies, "http", "too many headers")
                break
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            listed.append({"name": name, "value": value})
            key = name.replace("\0", "").lower()
            if key not in named:
                named[key] = value
            elif key != "content-length":
                named[key] = named[key] + ", " + value
        self._response(half, status.decode("latin-1"), listed, named, events)

    # -- requests -----------------------------------------------------------------

    def _request(
        self,
        half: _Half,
        line: str,
        listed: list[dict[str, str]],
        named: dict[str, str],
        events: list[AppEvent],
    ) -> None:
        method, _, rest = line.partition(" ")
        url, _, version = rest.strip(" ").rpartition(" ")
        url = url.strip(" ")
        if not _TOKEN.fullmatch(method) or not url or not _VERSION.fullmatch(version):
            self._fail(half, _BAD_START[TO_SERVER])
            return
        if version == "HTTP/2.0":
            self._fail(half, "HTTP/2 prior knowledge not decoded")
            return
        record: dict[str, Any] = {}
        authority, path_start = _authority(url)
        self._host(record, authority if authority is not None else named.get("host"))
        record["url"] = url
        for key, header in _REQUEST_FIELDS:
            if header in named:
                record[key] = named[header]
        record["http_method"] = method
        record["protocol"] = version
        record["request_headers"] = listed
        extra = _uri_fields(url, path_start)
        extra["request_headers"] = named
        extra["tx_id"] = self._next_id
        tx = _Tx(self._next_id, method, record, extra)
        self._next_id += 1
        auth = named.get("authorization", "")
        if auth[:6].lower() == "basic ":
            tx.basic = True
            tx.user = basic_auth_user(auth[6:])
        if self._halves[TO_CLIENT].state in (_HEAD, _BODY):  # else no response will come
            if len(self._waiting) >= MAX_WAITING:
                anomaly(self.anomalies, "http", "too many requests without response")
                self._waiting.popleft()
            self._waiting.append(tx)
        half.tx = tx
        if method == "CONNECT":
            # what follows is a tunnel, not HTTP: stop before reading it as requests
            self._request_done(tx, b"", events)
            half.state = _TUNNEL
            return
        length = self._framing(named, is_request=True)
        if length is None:
            self._request_done(tx, b"", events)
            self._give_up(half)
            return
        mode, size = length
        if mode == LENGTH and size == 0:
            self._request_done(tx, b"", events)
            return
        half.body = BodyReader(mode, size, self.anomalies, self.limits.max_body)
        half.state = _BODY

    def _request_done(self, tx: _Tx, body: bytes, events: list[AppEvent], **more: Any) -> None:
        tx.emitted = True
        if tx.method == "POST" and not tx.basic:
            tx.form, user = login_form(
                tx.extra["uri_path"], tx.extra["request_headers"].get("content-type", ""), body
            )
            tx.user = user
        # the body is not kept with the transaction: a pipeline of pending requests
        # must not hold max_body bytes each
        extra = dict(tx.extra, request_body=body, **more)
        events.append(AppEvent("http", tx.record, TO_SERVER, extra))

    # -- responses ----------------------------------------------------------------

    def _response(
        self,
        half: _Half,
        line: str,
        listed: list[dict[str, str]],
        named: dict[str, str],
        events: list[AppEvent],
    ) -> None:
        version, _, rest = line.partition(" ")
        code = rest.strip(" ").partition(" ")[0]
        if not version.upper().startswith("HTTP"):
            self._fail(half, _BAD_START[TO_CLIENT])
            return
        status: int | None = int(code) if _STATUS.fullmatch(code) else None
        # libhtp: with a Content-Length or Transfer-Encoding, 1xx/204/304 carry a body
        # (browsers read one), and 101 is no switch
        has_body = "transfer-encoding" in named or "content-length" in named
        if status is None:
            anomaly(self.anomalies, "http", "invalid status code")
        elif 100 <= status < 200 and status != 101 and not has_body:
            return  # interim response (100 Continue): the final one follows
        if self._waiting:
            tx = self._waiting.popleft()
        else:
            anomaly(self.anomalies, "http", "response without request")
            record: dict[str, Any] = {"protocol": version}
            tx = _Tx(self._next_id, "", record, {"tx_id": self._next_id})
            self._next_id += 1
        half.tx = tx
        half.head = (status, line, listed, named)
        switching = status == 101 and not has_body  # libhtp: with a length, read a body
        if switching or (tx.method == "CONNECT" and status is not None and status < 300):
            self._response_done(half, b"", 0, events)
            for both in self._halves:
                both.state = _TUNNEL
            return
        if tx.method == "HEAD" or (status in (204, 304) and not has_body):
            self._response_done(half, b"", 0, events)
            return
        mode, size, linger = self._response_framing(
            named.get("transfer-encoding"), named.get("content-length")
        )
        coding = _codings(named.get("content-encoding", ""))
        keep = self.limits.max_body
        if coding and coding.split(",")[0] in ("gzip", "deflate"):
            keep = self.limits.max_decompressed
        # even an empty body is read on: lines after it may still join it
        half.body = BodyReader(mode, size, self.anomalies, keep, coding)
        half.body.linger = linger
        half.state = _BODY

    def _response_done(
        self, half: _Half, body: bytes, length: int, events: list[AppEvent], **more: Any
    ) -> None:
        tx = half.tx
        assert tx is not None and half.head is not None
        status, line, listed, named = half.head
        half.head = None
        self._answered = True
        record = {k: v for k, v in tx.record.items() if k not in _REQUEST_ONLY}
        if "content-type" in named:
            record["http_content_type"] = named["content-type"]
        if status is not None:
            record["status"] = status
        if "location" in named:
            record["redirect"] = named["location"]
        record["length"] = length
        if "request_headers" in tx.record:
            record["request_headers"] = tx.record["request_headers"]
        record["response_headers"] = listed
        extra = dict(tx.extra)
        extra.update(response_body=body, status_line=line, response_headers=named, tx_id=tx.tx_id)
        extra.update(more)
        events.append(AppEvent("http", _ordered(record), TO_CLIENT, extra))
        if tx.basic or tx.form:
            outcome = None
            if status is not None:
                path = tx.extra.get("uri_path", "")
                outcome = login_outcome(status, tx.basic, path, named.get("location"), body)
            result, reason = outcome or ("attempt", "no verdict in the response")
            events.append(_auth_event(tx, result, reason, TO_CLIENT, line))

    # -- shared -------------------------------------------------------------------

    def _body_done(
        self, direction: int, half: _Half, events: list[AppEvent], complete: bool
    ) -> None:
        body = half.body
        tx = half.tx
        assert body is not None and tx is not None
        half.body = None
        half.state = _HEAD
        more: dict[str, Any] = {} if complete else {"truncated": True}
        if body.limited:
            more["body_truncated"] = True
        if body.gapped:
            more["gap"] = True
        if direction == TO_SERVER:
            if not tx.emitted:
                self._request_done(tx, body.data, events, **more)
            return
        if body.encoding_left:
            more["content_encoding"] = body.encoding_left
        self._response_done(half, body.data, body.wire_len, events, **more)

    def _framing(self, named: dict[str, str], is_request: bool) -> tuple[int, int] | None:
        """(mode, Content-Length) for a message with a body; None when it cannot be framed."""
        te = named.get("transfer-encoding")
        cl = named.get("content-length")
        if te is not None:
            if cl is not None:
                anomaly(self.anomalies, "http", "content-length with transfer-encoding")
            if te.rpartition(",")[2].strip(" ").lower() == "chunked":
                return CHUNKED, 0
            anomaly(self.anomalies, "http", "unsupported transfer-encoding")
            return None if is_request else (UNTIL_CLOSE, 0)
        if cl is None:
            return (LENGTH, 0) if is_request else (UNTIL_CLOSE, 0)
        values = {v.strip(" ") for v in cl.split(",")}
        if len(values) == 1:
            value = values.pop()
            if value.isdigit() and value.isascii():
                return LENGTH, int(value)
        anomaly(self.anomalies, "http", "invalid content-length")
        return None if is_request else (UNTIL_CLOSE, 0)

    def _response_framing(self, te: str | None, cl: str | None) -> tuple[int, int, bool]:
        """(mode, Content-Length, linger) of a response body, by libhtp's rule:
        "chunked" anywhere in Transfer-Encoding (any case, NULs ignored, any HTTP
        version) means chunked, Content-Length ignored; else the first digits of
        Content-Length; else the body runs until the close. ``linger``: the
        Content-Length had more after its digits, so the bytes it leaves out are
        waited for (libhtp reads them as more body) before the response ends."""
        if te is not None:
            if cl is not None:
                anomaly(self.anomalies, "http", "content-length with transfer-encoding")
            if "chunked" in te.replace("\0", "").lower():
                return CHUNKED, 0, False
            anomaly(self.anomalies, "http", "unsupported transfer-encoding")
        if cl is None:
            return UNTIL_CLOSE, 0, False
        # libhtp takes the first digits, junk before or after them aside (what the
        # junk hides is then read as more body, see _trailing_body)
        found = _DIGITS.search(cl)
        if found is None or len(found.group()) > 18:
            anomaly(self.anomalies, "http", "invalid content-length")
            return UNTIL_CLOSE, 0, False
        if found.group() != cl.strip(" \t\r\n\x0b\x0c"):
            anomaly(self.anomalies, "http", "content-length with extra data")
        linger = bool(cl[found.end() :].strip(" \t\r\n\x0b\x0c"))
        return LENGTH, int(found.group()), linger

    def _host(self, record: dict[str, Any], host: str | None) -> None:
        """``hostname`` (lower-case, without port) and ``http_port`` from a Host value."""
        if not host:
            return
        found = _HOST_PORT.match(host.strip(" "))
        assert found is not None  # every string matches
        name, port = found.group(1), found.group(2)
        if name:
            record["hostname"] = name.lower()
        if port:
            if len(port) <= 5 and 0 < int(port) < 65536:
                record["http_port"] = int(port)
            else:
                anomaly(self.anomalies, "http", "invalid host port")

    def _fail(self, half: _Half, what: str) -> None:
        anomaly(self.anomalies, "http", what)
        self._give_up(half)

    def _give_up(self, half: _Half) -> None:
        half.state = _DEAD
        half.buf = b""
        half.body = None
        half.progress = HeadProgress()


_REQUEST_FIELDS = (
    ("http_user_agent", "user-agent"),
    ("http_content_type", "content-type"),
    ("http_refer", "referer"),
)
_REQUEST_ONLY = frozenset({"http_content_type", "request_headers"})
_ORDER = (
    "hostname",
    "http_port",
    "url",
    "http_user_agent",
    "http_content_type",
    "http_refer",
    "http_method",
    "protocol",
    "status",
    "redirect",
    "length",
    "request_headers",
    "response_headers",
)


def _auth_event(tx: _Tx, result: str, reason: str, direction: int, reply: str | None) -> AppEvent:
    """A login outcome (``extra``: tx_id, method basic/form, reason, the status line)."""
    method = "basic" if tx.basic else "form"
    extra = {"tx_id": tx.tx_id, "method": method, "reason": reason, "reply": reply}
    return AppEvent(
        "auth", {"service": "http", "user": tx.user, "result": result}, direction, extra
    )


def _codings(value: str) -> str:
    """The content codings to undo, outermost first, as BodyReader takes them.

    Read as libhtp reads Content-Encoding: the whole value (any case, NULs
    ignored) naming one coding; else every token between commas and spaces is a
    layer -- one containing ``gzip`` or ``deflate`` is decoded, others
    (``identity``, unknown words) are not -- up to MAX_CODING_LAYERS tokens; the
    last coding listed was applied last, so it is undone first. A value naming
    no coding netsentry decodes (``br``) is returned as it is.
    """
    whole = value.replace("\0", "").strip(" \t").lower()
    if whole in ("gzip", "x-gzip"):
        return "gzip"
    if whole in ("deflate", "x-deflate"):
        return "deflate"
    if whole in ("", "identity", "inflate", "none"):
        return ""
    tokens = [t for t in re.split(r"[, ]", value) if t][:MAX_CODING_LAYERS]
    layers = []
    for token in reversed(tokens):
        lower = token.lower()
        if "gzip" in lower:
            layers.append("gzip")
        elif "deflate" in lower:
            layers.append("deflate")
    return ",".join(layers) if layers else whole


def _undecided(buf: bytes, pos: int) -> bool:
    """Whether the bytes from ``pos`` are too few to tell a response from more body."""
    rest = buf[pos : pos + 64].lstrip(b" \t\r\n\x0b\x0c\x00")
    return len(rest) < 4 and b"http".startswith(rest.lower()) and len(buf) - pos < 64


def _may_start_response(buf: bytes, pos: int) -> bool:
    """Whether the bytes at ``pos`` begin (or may yet begin) a status line: blanks or
    NULs, then ``http`` in any case."""
    start = buf[pos : pos + 64].lstrip(b" \t\r\n\x0b\x0c\x00")[:4].lower()
    return b"http".startswith(start)


def _plausible(direction: int, buf: bytes, pos: int) -> bool:
    """Whether the bytes at ``pos`` can begin a request (method and space) or a response."""
    start = buf[pos : pos + 33]
    if direction == TO_SERVER:
        return _REQUEST_START.match(start) is not None
    return b"HTTP/".startswith(start[:5])


def _ordered(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its keys in the order Suricata writes them."""
    return {key: record[key] for key in _ORDER if key in record}


def _authority(url: str) -> tuple[str | None, int]:
    """(authority, where the path starts) of an absolute-form target; (None, 0) otherwise."""
    if url.startswith("/"):
        return None, 0
    scheme_end = url.find("://", 0, 16)
    if scheme_end < 0:
        return None, 0
    start = scheme_end + 3
    path_start = len(url)
    for stop in ("/", "?"):
        found = url.find(stop, start)
        if 0 <= found < path_start:
            path_start = found
    authority = url[start:path_start].rpartition("@")[2]
    return authority, path_start


def _uri_fields(url: str, path_start: int) -> dict[str, Any]:
    """``uri_normalized``/``uri_path``/``uri_query`` (and ``uri_decoded_twice``) of a target."""
    target = url[path_start:]
    path, question, query = target.partition("?")
    if "%" not in url and "+" not in query:
        return {"uri_normalized": url, "uri_path": path or "/", "uri_query": query}
    raw = url.encode("latin-1")
    before, question_b, query_b = raw.partition(b"?")
    once_before = unquote_to_bytes(before)
    once_query = unquote_to_bytes(query_b.replace(b"+", b" "))
    once = once_before + question_b + once_query
    fields: dict[str, Any] = {
        "uri_normalized": decode_text(once),
        "uri_path": decode_text(unquote_to_bytes(path.encode("latin-1"))) or "/",
        "uri_query": decode_text(once_query) if question else "",
    }
    if b"%" in once:
        twice = unquote_to_bytes(once)
        if twice != once:
            fields["uri_decoded_twice"] = decode_text(twice)
    return fields
