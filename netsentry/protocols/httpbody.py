"""HTTP/1.x message bodies: framing (Content-Length, chunked, until close) and decoding.

A :class:`BodyReader` is handed successive slices of one direction's stream and
says how much of each belonged to the body. It keeps the body dechunked and, for
responses, decompressed (``gzip``/``x-gzip``/``deflate``), never more than its
``keep`` bound. Decompression goes through :func:`zlib.decompressobj` with
``max_length``, so a gzip bomb costs at most ``keep`` bytes of output and the CPU
to produce them; once the bound is reached the rest is framed but not inflated.

Chunked framing and decoding follow libhtp (Suricata's HTTP parser), so bodies
hidden from strict parsers are recovered as Suricata recovers them: a chunk-size
line is its leading hex digits (blanks before, anything after ignored); bytes
after a chunk's data are skipped up to the next LF; a size line without hex
digits means the body is not chunked after all and runs, from that line, to
the end of the stream. Each content-coding layer detects gzip, zlib or raw
deflate from the data, skips a gzip header leniently and does not check the
trailer; a layer whose first bytes do not decode passes them through.

Nothing here raises on content: malformed framing or compressed data is counted
in the parser's anomaly counter (``"http: bad chunk size"``, ``"http: invalid
gzip body"``, ...) and the reader either carries on or ends the body there.
"""

from __future__ import annotations

import binascii
import json
import re
import zlib
from collections import Counter
from urllib.parse import parse_qsl

from netsentry.protocols.base import anomaly

LENGTH = 0  # body of Content-Length bytes
CHUNKED = 1  # Transfer-Encoding: chunked
UNTIL_CLOSE = 2  # no length given: the body ends when the connection does

MAX_CHUNK_LINE = 1024  # a chunk-size line, extensions included
MAX_TRAILERS = 64  # trailer lines after the last chunk

_HEX = re.compile(rb"[0-9a-fA-F]+")
_CHUNK_CTL = b"\r\n \t\x0b\x0c"  # skipped around a chunk size, as libhtp does
MAX_CHUNK_SIZE = 0x7FFFFFFF  # libhtp skips a size line above this


def _not_a_size(partial: bytes) -> bool:
    """libhtp's early probe: 8 bytes of a size line whose first non-blank is not hex."""
    if len(partial) < 8:
        return False
    rest = partial.lstrip(_CHUNK_CTL)
    return bool(rest) and rest[:1] not in b"0123456789abcdefABCDEF"


# chunked sub-states
_SIZE = 0
_DATA = 1
_DATA_CR = 2
_DATA_LF = 3
_TRAILER = 4


class _Inflater:
    """One content-coding layer, decoded the way libhtp does it.

    The format is read from the data, not from the header's word: a gzip member
    (magic ``1f 8b``), a zlib stream or raw deflate -- servers and evasions mix
    them up and libhtp retries the other formats. The gzip header is skipped
    leniently (reserved flag bits and a bad header CRC are ignored) and neither
    the gzip trailer nor the zlib checksum is checked. Output never
    exceeds the ``budget`` given to each call.
    """

    __slots__ = ("_head", "_obj", "_raw", "_raw_mode", "encoding", "fed", "produced")

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding  # the coding the header named ("gzip", "deflate")
        self._obj: zlib._Decompress | None = None
        self._head = b""  # first bytes, until the format (and gzip header) is known
        self.fed = 0  # compressed bytes accepted so far
        self.produced = 0  # decoded bytes handed out so far
        self._raw = bytearray()  # the input, while nothing came out (passed on if it fails)
        self._raw_mode = False  # read as raw deflate from the first byte

    def raw_prefix(self) -> bytes:
        """The bytes fed before anything decoded (at most MAX_RAW_PREFIX of them)."""
        return bytes(self._raw)

    def inflate(self, data: bytes, budget: int, final: bool = False) -> bytes:
        """Decode the next compressed bytes; at most ``budget`` (> 0) bytes come out.

        Raises :class:`zlib.error` when the bytes are not compressed data.
        """
        if not self.produced and len(self._raw) < MAX_RAW_PREFIX:
            self._raw += data[: MAX_RAW_PREFIX - len(self._raw)]
        try:
            out = self._inflate(data, budget, final)
        except zlib.error:
            if self.produced or self._raw_mode or len(self._raw) >= MAX_RAW_PREFIX:
                raise
            # libhtp restarts a decoder that fails at once as raw deflate, same bytes
            self._raw_mode = True
            self._head = b""
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._obj.decompress(bytes(self._raw), budget)
        if out:
            self.produced += len(out)
            self._raw = bytearray()
        return out

    def _inflate(self, data: bytes, budget: int, final: bool) -> bytes:
        obj = self._obj
        self.fed += len(data)
        if obj is None:
            data = self._head + data
            start = _stream_start(data, final)
            if start is None:
                if len(data) > MAX_GZIP_HEADER:
                    raise zlib.error("gzip header too long")
                self._head = data
                return b""
            self._head = b""
            offset, wbits = start
            self._raw_mode = offset == 0
            data = data[offset:]
            obj = zlib.decompressobj(wbits)
            self._obj = obj
        if obj.eof:
            return b""  # trailing bytes after the end of the compressed stream
        return obj.decompress(data, budget)

    def flush(self, budget: int) -> bytes:
        """Whatever the decoder still holds, bounded; called when the body ends."""
        if self._obj is None:
            if self._head and budget > 0:
                return self.inflate(b"", budget, final=True)
            return b""
        if self._obj.eof or budget <= 0:
            return b""
        # flush() has no output bound: drain what is left with a bounded decompress.
        out = self._obj.decompress(self._obj.unconsumed_tail, budget)
        self.produced += len(out)
        return out


MAX_RAW_PREFIX = 64 * 1024  # input remembered until a layer first decodes something
MAX_GZIP_HEADER = 4096  # bytes of gzip header (file name, comment, extra field) accepted

_FEXTRA = 0x04
_FNAME = 0x08
_FCOMMENT = 0x10
_FHCRC = 0x02


def _stream_start(data: bytes, final: bool) -> tuple[int, int] | None:
    """(where the deflate data starts, zlib wbits) of a compressed body's first bytes.

    None when more bytes are needed to tell (``final``: no more will come).
    """
    if len(data) < 2:
        return (0, -zlib.MAX_WBITS) if final and data else None
    if data[0] == 0x1F and data[1] == 0x8B:
        end = _gzip_header_end(data)
        if end is None:
            if final:
                raise zlib.error("truncated gzip header")
            return None
        return end, -zlib.MAX_WBITS
    if data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
        return 2, -zlib.MAX_WBITS  # zlib: skip the header, leave the Adler-32 unchecked
    return 0, -zlib.MAX_WBITS


def _gzip_header_end(data: bytes) -> int | None:
    """Length of the gzip member header at the start of ``data``; None if incomplete."""
    if len(data) < 10:
        return None
    flags = data[3]
    pos = 10
    if flags & _FEXTRA:
        if len(data) < pos + 2:
            return None
        pos += 2 + (data[pos] | data[pos + 1] << 8)
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag:
            nul = data.find(b"\0", pos)
            if nul < 0:
                return None
            pos = nul + 1
    if flags & _FHCRC:
        pos += 2
    return pos if pos <= len(data) else None


class BodyReader:
    """Frames and keeps one message body.

    ``wire_len`` counts the body bytes as the message carried them after
    dechunking and before decompression (libhtp's ``message_len``, which Suricata
    logs as ``http.length``); ``data`` is what was kept: dechunked, decoded when
    ``encoding`` was given, at most ``keep`` bytes. ``done`` turns true when the
    framing says the body is complete; ``error`` when the framing broke (the body
    ends there and the stream after it cannot be trusted).
    """

    __slots__ = (
        "_anomalies",
        "_chunk_left",
        "_coded",
        "_inflaters",
        "_kept",
        "_partial",
        "_state",
        "_trailers",
        "done",
        "encoding_left",
        "error",
        "gapped",
        "keep",
        "limited",
        "linger",
        "mode",
        "remaining",
        "wire_len",
    )

    def __init__(
        self,
        mode: int,
        length: int,
        anomalies: Counter[str],
        keep: int,
        encoding: str = "",
    ) -> None:
        self.mode = mode
        self.remaining = length  # LENGTH mode: body bytes still expected
        self.keep = keep
        self._anomalies = anomalies
        self._kept = bytearray()
        # ``encoding``: one coding, or the comma-separated layers to undo, first one first
        self._inflaters = [
            _Inflater(name) for name in encoding.split(",") if name in ("gzip", "deflate")
        ]
        self._coded = bool(self._inflaters)
        # a content coding the kept body still carries (unsupported, or failed to decode)
        known = ("", "identity", "gzip", "deflate")
        self.encoding_left = "" if self._inflaters or encoding in known else encoding
        self._state = _SIZE
        self._chunk_left = 0
        self._partial = b""  # an incomplete chunk-size or trailer line
        self._trailers = 0
        self.wire_len = 0
        self.done = mode == LENGTH and length == 0
        self.error = False
        self.limited = False  # the keep bound cut the kept body short
        self.gapped = False  # bytes were lost inside the body (the kept body has a hole)
        self.linger = False  # once done, wait for more bytes that may still join it

    @property
    def data(self) -> bytes:
        return bytes(self._kept)

    # -- framing ----------------------------------------------------------------

    def feed(self, buf: bytes, pos: int) -> int:
        """Consume body bytes of ``buf`` from ``pos``; return where the body stopped."""
        if self.done:
            return pos
        end = len(buf)
        if self.mode == LENGTH:
            take = min(self.remaining, end - pos)
            self._body(buf[pos : pos + take] if pos or take < end else buf)
            self.remaining -= take
            if self.remaining == 0:
                self._finish()
            return pos + take
        if self.mode == CHUNKED:
            pos = self._chunked(buf, pos)
            if self.mode == CHUNKED or self.done:
                return pos
        # UNTIL_CLOSE, or chunked framing that turned out not to be chunked
        self._body(buf[pos:] if pos else buf)
        return end

    def more(self, data: bytes) -> None:
        """Bytes after the framed end that libhtp still adds to a response body.

        Kept raw (bounded), except after a decoded body: raw bytes appended to
        decoded ones would be neither.
        """
        self.wire_len += len(data)
        room = self.keep - len(self._kept)
        if self._coded or room <= 0:
            self.limited = self.limited or (room <= 0 and bool(data))
            return
        if len(data) > room:
            self.limited = True
        self._kept += data[:room]

    def skip(self, size: int) -> bool:
        """Bytes of the body were lost; return False when framing cannot continue.

        A hole that ends exactly where the body does is fine: the body completes
        (with ``gapped`` set) on the next ``feed`` or at ``end``.
        """
        self.gapped = True
        self._stop_inflating()
        if self.mode == UNTIL_CLOSE:
            self.wire_len += size
            return True
        if self.mode == LENGTH and size <= self.remaining:
            self.remaining -= size
            self.wire_len += size
            return True
        if self.mode == CHUNKED and self._state == _DATA and size <= self._chunk_left:
            self._chunk_left -= size
            self.wire_len += size
            if self._chunk_left == 0:
                self._state = _DATA_CR
            return True
        return False

    def end(self) -> bool:
        """The stream ended; flush the decoder. Return True when the body was complete."""
        if not self.done:
            self._finish()
            return self.mode == UNTIL_CLOSE or (self.mode == LENGTH and self.remaining == 0)
        return True

    def _chunked(self, buf: bytes, pos: int) -> int:
        end = len(buf)
        while pos < end and not self.done:
            state = self._state
            if state == _DATA:
                take = min(self._chunk_left, end - pos)
                self._body(buf[pos : pos + take])
                pos += take
                self._chunk_left -= take
                if self._chunk_left == 0:
                    self._state = _DATA_CR
            elif state in (_DATA_CR, _DATA_LF):
                # like libhtp: whatever follows the chunk data up to the next LF is skipped
                nl = buf.find(b"\n", pos)
                skipped = buf[pos:nl] if nl >= 0 else buf[pos:]
                if skipped not in (b"", b"\r") or (skipped and state == _DATA_LF):
                    anomaly(self._anomalies, "http", "missing chunk terminator")
                if nl < 0:
                    self._state = _DATA_LF if skipped else state
                    return end
                self._state = _SIZE
                pos = nl + 1
            else:
                line, pos = self._line(buf, pos)
                if line is None:
                    break
                if state == _SIZE:
                    if not self._size_line(line):
                        self._not_chunked(line + b"\n")
                        return pos
                elif line.strip():
                    self._trailers += 1
                    if self._trailers > MAX_TRAILERS:
                        self._broken("too many chunk trailers")
                else:
                    self._finish()
        return pos

    def _line(self, buf: bytes, pos: int) -> tuple[bytes | None, int]:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            self._partial += buf[pos:]
            if self._state == _SIZE:
                if len(self._partial) > MAX_CHUNK_LINE or _not_a_size(self._partial):
                    line, self._partial = self._partial, b""
                    self._not_chunked(line)
            elif len(self._partial) > MAX_CHUNK_LINE:
                self._broken("chunk trailer too long")
            return None, len(buf)
        line = self._partial + buf[pos:nl] if self._partial else buf[pos:nl]
        self._partial = b""
        if len(line) > MAX_CHUNK_LINE and self._state != _SIZE:
            self._broken("chunk trailer too long")
            return None, nl + 1
        return line, nl + 1

    def _size_line(self, line: bytes) -> bool:
        """Read a chunk-size line the way libhtp does; False when it is not one.

        Leading whitespace and line ends are skipped, the hex digits read, and
        whatever follows them ignored (``f x``, ``f,``, extensions). A line without
        leading hex digits means the body is not chunked after all.
        """
        if len(line) > MAX_CHUNK_LINE:
            return False
        text = line.strip(_CHUNK_CTL)
        digits = _HEX.match(text)
        if digits is None:
            return not text  # an empty line between chunks is tolerated
        if digits.end() < len(text):
            anomaly(self._anomalies, "http", "chunk extension")
        size = int(digits.group(), 16)
        if size > MAX_CHUNK_SIZE:
            anomaly(self._anomalies, "http", "chunk size too large")
            return True  # libhtp skips such a line as if it were empty
        if size == 0:
            self._state = _TRAILER
        else:
            self._chunk_left = size
            self._state = _DATA
        return True

    def _not_chunked(self, line: bytes) -> None:
        """libhtp's fallback: from this line on the body runs to the end of the stream."""
        anomaly(self._anomalies, "http", "bad chunk size")
        self.mode = UNTIL_CLOSE
        self._body(line)

    def _broken(self, what: str) -> None:
        anomaly(self._anomalies, "http", what)
        self.error = True
        self._finish()

    # -- keeping ----------------------------------------------------------------

    def _body(self, data: bytes) -> None:
        if not data:
            return
        self.wire_len += len(data)
        room = self.keep - len(self._kept)
        if room <= 0:
            self._stop_inflating()
            self.limited = True
            return
        if not self._inflaters:
            if len(data) > room:
                self.limited = True
                data = data[:room]
            self._kept += data
            return
        self._decode(data, 0, final=False)

    def _decode(self, data: bytes, first: int, final: bool) -> None:
        """Pass ``data`` through the layers from index ``first`` on and keep the output.

        A layer whose very first bytes do not decode passes everything through (the
        header lied, as libhtp assumes); one that breaks midway ends the kept body.
        """
        layers = self._inflaters
        index = first
        while index < len(layers):
            room = self.keep - len(self._kept)
            if room <= 0:
                break
            layer = layers[index]
            try:
                data = layer.inflate(data, room, final) if data or not final else b""
                if final:
                    data += layer.flush(room - len(data))
            except zlib.error:
                anomaly(self._anomalies, "http", f"invalid {layer.encoding} body")
                if layer.produced:  # broken midway: keep what was decoded, nothing raw after
                    self._inflaters = []
                    self.keep = len(self._kept)
                    return
                # not compressed at all: this layer passes the bytes through from now on
                del layers[index]
                self.encoding_left = layer.encoding
                data = layer.raw_prefix()
                continue
            index += 1
            if not data and not final:
                return
        room = self.keep - len(self._kept)
        if len(data) > room:
            data = data[:room]
        self._kept += data
        if len(self._kept) >= self.keep:
            self.limited = True
            self._stop_inflating()

    def _stop_inflating(self) -> None:
        """No more output is wanted (bound reached, or a gap broke the stream)."""
        if self._inflaters:
            self._inflaters = []
            # identity from here on would mix raw bytes into decoded ones: keep nothing more
            self.keep = len(self._kept)

    def _finish(self) -> None:
        self.done = True
        if self._inflaters:
            self._decode(b"", 0, final=True)
            self._inflaters = []


# -- what bodies say about logins ---------------------------------------------------
#
# The rules, deliberately conservative (a missed login attempt costs less than a
# brute-force alert on a user who merely browsed):
#
# * Basic authentication: a request carrying ``Authorization: Basic`` answered
#   401 is a failure, answered 2xx a success; the user is the part of the decoded
#   credentials before ``:``. Other statuses say nothing (the parser reports an
#   ``attempt``).
# * Form login: only a POST whose path contains one of LOGIN_WORDS (``login``,
#   ``signin``, ``logon``, ... which covers ``wp-login.php``) or whose body has a
#   PASSWORD_FIELDS field (urlencoded or a JSON object). It is a failure when the
#   answer is 401 or 403, a 200 whose (decoded) body contains a FAILURE_PHRASES
#   phrase, or a redirect whose Location path is the login page again (the
#   request's own path or one containing a login word). The user is the first
#   non-empty USER_FIELDS field of the form. No success is inferred for forms: a
#   2xx or a redirect elsewhere is too often something else (an ``attempt``).
# * Failure phrases are looked for only in the first MAX_FORM bytes of the kept
#   (decoded) body, and only in a 200 answering a login form.

LOGIN_WORDS = ("login", "signin", "sign-in", "sign_in", "logon", "log-in", "log_in")
PASSWORD_FIELDS = frozenset(
    {"password", "passwd", "pass", "pwd", "pw", "passwort", "user_pass", "userpassword"}
)
USER_FIELDS = ("username", "user", "login", "email", "log", "user_login", "userid", "uname")
FAILURE_PHRASES = re.compile(
    rb"invalid (?:password|username|user name|login|credentials)|incorrect|login failed"
    rb"|log ?in (?:failed|incorrect)|authentication failed|wrong (?:password|username)"
    rb"|bad password|failed login|unknown user",
    re.IGNORECASE,
)
MAX_FORM = 64 * 1024  # bytes of a form body or response body inspected
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def basic_auth_user(credentials: str) -> str | None:
    """The user of a Basic ``Authorization`` value (after ``Basic ``), or None."""
    token = credentials.strip(" ")
    try:
        raw = binascii.a2b_base64(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    user, colon, _ = raw.partition(b":")
    return decode_text(user) if colon and user else None


def login_form(path: str, content_type: str, body: bytes) -> tuple[bool, str | None]:
    """(whether a POST looks like a login form, the user it names)."""
    fields = _form_fields(content_type.lower(), body[:MAX_FORM])
    lower = path.lower()
    if not any(word in lower for word in LOGIN_WORDS) and PASSWORD_FIELDS.isdisjoint(fields):
        return False, None
    return True, next((fields[key] for key in USER_FIELDS if fields.get(key)), None)


def login_outcome(
    status: int, basic: bool, path: str, location: str | None, body: bytes
) -> tuple[str, str] | None:
    """(``"failure"``/``"success"``, reason) of a login request's response, or None."""
    if basic:
        if status == 401:
            return "failure", "status 401"
        if 200 <= status < 300:
            return "success", f"status {status}"
        return None
    if status in (401, 403):
        return "failure", f"status {status}"
    if status == 200 and FAILURE_PHRASES.search(body, 0, MAX_FORM):
        return "failure", "failure phrase in page"
    if status in _REDIRECTS and location is not None:
        target = location.strip(" ")
        scheme = target.find("://", 0, 16)
        if scheme >= 0:
            slash = target.find("/", scheme + 3)
            target = target[slash:] if slash >= 0 else "/"
        target = target.partition("?")[0].lower()
        if target == path.lower() or any(word in target for word in LOGIN_WORDS):
            return "failure", "redirect to login page"
    return None


def _form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """Lower-case field name -> first value, from a urlencoded or JSON body."""
    if not body:
        return {}
    if "json" in content_type:
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return {}
        if not isinstance(parsed, dict):
            return {}
        return {str(k).lower(): v for k, v in parsed.items() if isinstance(v, str)}
    if "multipart" in content_type or b"=" not in body:
        return {}
    fields: dict[str, str] = {}
    try:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=256)
    except ValueError:
        return {}
    for key, value in pairs:
        fields.setdefault(key.lower(), value)
    return fields


def decode_text(data: bytes) -> str:
    """Bytes as UTF-8 text, or Latin-1 when they are not valid UTF-8 (never fails)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
