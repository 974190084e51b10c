"""Suricata's inspection buffers (sticky buffers), read from netsentry's records.

Each buffer says which record type carries it (``packet``, ``http``, ``dns``,
``tls``), which side of a transaction it belongs to (0 request, 1 response,
None either: the event's own side), and how to read it as bytes. Values come
from the same decoded events the other rule kinds see; the buffer layout
follows Suricata's (``http.header`` is ``Name: value\\r\\n`` lines,
``http.header_names`` is ``\\r\\nName\\r\\n...\\r\\n\\r\\n``, ``http.start`` is the
request or status line plus the headers).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netsentry.fields import Ctx
from netsentry.matchers import url_decode

Reader = Callable[[Ctx, int], list[bytes] | None]


@dataclass(frozen=True, slots=True)
class Buffer:
    """One inspection buffer."""

    name: str
    record: str
    side: int | None
    read: Reader


def _b(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return str(value).encode()


def _one(value: Any) -> list[bytes] | None:
    data = _b(value)
    return [data] if data is not None else None


def _payload(ctx: Ctx, side: int) -> list[bytes] | None:
    if ctx.data:  # a reassembled stream chunk (stream signatures)
        return [ctx.data]
    pkt = ctx.pkt
    return [pkt.payload] if pkt is not None and pkt.payload else None


def _rec(key: str) -> Reader:
    def read(ctx: Ctx, side: int) -> list[bytes] | None:
        event = ctx.event
        return _one(event.record.get(key)) if event is not None else None

    return read


def _extra(key: str) -> Reader:
    def read(ctx: Ctx, side: int) -> list[bytes] | None:
        event = ctx.event
        return _one(event.extra.get(key)) if event is not None else None

    return read


def _named(header: str) -> Reader:
    """One header's value from the given side's headers (``request_headers`` names)."""

    def read(ctx: Ctx, side: int) -> list[bytes] | None:
        event = ctx.event
        if event is None:
            return None
        named = event.extra.get("request_headers" if side == 0 else "response_headers")
        if not isinstance(named, dict):
            return None
        return _one(named.get(header))

    return read


def _listed(ctx: Ctx, side: int) -> list[dict[str, str]] | None:
    event = ctx.event
    if event is None:
        return None
    if side == 0:
        headers = event.record.get("request_headers")
    elif event.direction == 1:
        headers = event.record.get("response_headers")
    else:
        headers = None
    return headers if isinstance(headers, list) else None


def _header_lines(headers: list[dict[str, str]], side: int) -> str:
    # Suricata leaves the cookies out of http.header: they have http.cookie.
    skip = "cookie" if side == 0 else "set-cookie"
    return "".join(
        f"{h.get('name', '')}: {h.get('value', '')}\r\n"
        for h in headers
        if str(h.get("name", "")).lower() != skip
    )


def _header_raw(ctx: Ctx, side: int) -> list[bytes] | None:
    headers = _listed(ctx, side)
    if not headers:
        return None
    text = "".join(f"{h.get('name', '')}: {h.get('value', '')}\r\n" for h in headers)
    return _one(text + "\r\n")


def _header(ctx: Ctx, side: int) -> list[bytes] | None:
    headers = _listed(ctx, side)
    if not headers:
        return None
    return _one(_header_lines(headers, side))


def _cookie(ctx: Ctx, side: int) -> list[bytes] | None:
    # Requests: Cookie; responses: Set-Cookie (Suricata's http.cookie covers both).
    return _named("cookie" if side == 0 else "set-cookie")(ctx, side)


_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")


def _decode_path(path: bytes) -> bytes:
    """Percent-decode a path, leaving encoded separators (%2F, %5C) as they are."""

    def one(found: re.Match[bytes]) -> bytes:
        value = int(found.group(1), 16)
        return found.group(0) if value in (0x2F, 0x5C) else bytes((value,))

    return _PCT.sub(one, path) if b"%" in path else path


def _remove_dot_segments(path: bytes) -> bytes:
    """RFC 3986 section 5.2.4, as libhtp normalizes request paths."""
    if b"." not in path:
        return path
    out: list[bytes] = []
    segments = path.split(b"/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == b".":
            if last:
                out.append(b"")
            continue
        if segment == b"..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append(b"")
            continue
        out.append(segment)
    result = b"/".join(out)
    if path.startswith(b"/") and not result.startswith(b"/"):
        result = b"/" + result
    return result


def normalized_uri(url: bytes) -> bytes:
    """Suricata's http.uri of a request target: the path percent-decoded (separators kept
    encoded) and without dot segments, then the query string as sent. An absolute-form
    target (``http://host/p``) contributes only its path and query."""
    if b"://" in url[:16] and not url.startswith(b"/"):
        rest = url.split(b"://", 1)[1]
        slash = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=-1)
        url = rest[slash:] if slash >= 0 else b"/"
        if url.startswith(b"?"):
            url = b"/" + url
    path, question, query = url.partition(b"?")
    return _remove_dot_segments(_decode_path(path)) + question + query


def _uri(ctx: Ctx, side: int) -> list[bytes] | None:
    event = ctx.event
    if event is None:
        return None
    url = _b(event.record.get("url"))
    return [normalized_uri(url)] if url else None


def _header_names(ctx: Ctx, side: int) -> list[bytes] | None:
    headers = _listed(ctx, side)
    if not headers:
        return None
    return _one("\r\n" + "".join(f"{h.get('name', '')}\r\n" for h in headers) + "\r\n")


def _request_line(ctx: Ctx, side: int) -> list[bytes] | None:
    event = ctx.event
    if event is None or not event.record.get("http_method"):
        return None
    record = event.record
    return _one(f"{record.get('http_method')} {record.get('url', '')} {record.get('protocol', '')}")


def _response_line(ctx: Ctx, side: int) -> list[bytes] | None:
    event = ctx.event
    return _one(event.extra.get("status_line")) if event is not None else None


def _start(ctx: Ctx, side: int) -> list[bytes] | None:
    first = _request_line(ctx, 0) if side == 0 else _response_line(ctx, 1)
    headers = _listed(ctx, side) or []
    if first is None:
        return None
    text = "".join(f"{h.get('name', '')}: {h.get('value', '')}\r\n" for h in headers)
    return [first[0] + b"\r\n" + text.encode("utf-8", "surrogateescape") + b"\r\n"]


def _stat_msg(ctx: Ctx, side: int) -> list[bytes] | None:
    event = ctx.event
    if event is None:
        return None
    line = str(event.extra.get("status_line") or "")
    parts = line.split(" ", 2)
    return _one(parts[2]) if len(parts) == 3 else None


def _request_body(ctx: Ctx, side: int) -> list[bytes] | None:
    event = ctx.event
    if event is None or event.direction != 0:
        return None
    body = event.extra.get("request_body")
    return [body] if body else None


def _response_body(ctx: Ctx, side: int) -> list[bytes] | None:
    event = ctx.event
    if event is None or event.direction != 1:
        return None
    body = event.extra.get("response_body")
    return [body] if body else None


def _dns_query(ctx: Ctx, side: int) -> list[bytes] | None:
    event = ctx.event
    if event is None or event.direction != 0:
        return None
    queries = event.record.get("queries") or ()
    names = [_b(q.get("rrname")) for q in queries if isinstance(q, dict) and q.get("rrname")]
    return [n for n in names if n is not None] or None


def _ja3(ctx: Ctx, side: int) -> list[bytes] | None:
    event = ctx.event
    if event is None:
        return None
    ja3 = event.record.get("ja3")
    return _one(ja3.get("hash")) if isinstance(ja3, dict) else None


_BUFFERS: list[Buffer] = [
    Buffer("payload", "packet", None, _payload),
    Buffer("http.uri", "http", 0, _uri),
    Buffer("http.uri.raw", "http", 0, _rec("url")),
    Buffer("http.method", "http", 0, _rec("http_method")),
    Buffer("http.protocol", "http", None, _rec("protocol")),
    Buffer("http.host", "http", 0, _rec("hostname")),
    Buffer("http.host.raw", "http", 0, _named("host")),
    Buffer("http.user_agent", "http", 0, _named("user-agent")),
    Buffer("http.cookie", "http", None, _cookie),
    Buffer("http.referer", "http", 0, _named("referer")),
    Buffer("http.accept", "http", 0, _named("accept")),
    Buffer("http.accept_enc", "http", 0, _named("accept-encoding")),
    Buffer("http.accept_lang", "http", 0, _named("accept-language")),
    Buffer("http.connection", "http", None, _named("connection")),
    Buffer("http.content_type", "http", None, _named("content-type")),
    Buffer("http.content_len", "http", None, _named("content-length")),
    Buffer("http.location", "http", 1, _named("location")),
    Buffer("http.server", "http", 1, _named("server")),
    Buffer("http.header", "http", None, _header),
    Buffer("http.header.raw", "http", None, _header_raw),
    Buffer("http.header_names", "http", None, _header_names),
    Buffer("http.request_line", "http", 0, _request_line),
    Buffer("http.response_line", "http", 1, _response_line),
    Buffer("http.start", "http", None, _start),
    Buffer("http.stat_code", "http", 1, _rec("status")),
    Buffer("http.stat_msg", "http", 1, _stat_msg),
    Buffer("http.request_body", "http", 0, _request_body),
    Buffer("http.response_body", "http", 1, _response_body),
    Buffer("dns.query", "dns", 0, _dns_query),
    Buffer("tls.sni", "tls", 0, _rec("sni")),
    Buffer("tls.cert_subject", "tls", 1, _rec("subject")),
    Buffer("tls.cert_issuer", "tls", 1, _rec("issuerdn")),
    Buffer("ja3.hash", "tls", 0, _ja3),
    Buffer("ja4.hash", "tls", 0, _rec("ja4")),
]

BUFFERS: dict[str, Buffer] = {b.name: b for b in _BUFFERS}
"""Every buffer a signature can inspect, by its Suricata 5+ sticky-buffer name."""

STICKY_ALIASES: dict[str, str] = {
    "pkt_data": "payload",
    "http_uri": "http.uri",
    "http_raw_uri": "http.uri.raw",
    "http_method": "http.method",
    "http_host": "http.host",
    "http_raw_host": "http.host.raw",
    "http_user_agent": "http.user_agent",
    "http_cookie": "http.cookie",
    "http_header": "http.header",
    "http_client_body": "http.request_body",
    "http_server_body": "http.response_body",
    "http_stat_code": "http.stat_code",
    "http_stat_msg": "http.stat_msg",
    "http_content_type": "http.content_type",
    "http_content_len": "http.content_len",
    "http_referer": "http.referer",
    "http_accept": "http.accept",
    "http_accept_enc": "http.accept_enc",
    "http_accept_lang": "http.accept_lang",
    "http_connection": "http.connection",
    "http_protocol": "http.protocol",
    "http_request_line": "http.request_line",
    "http_response_line": "http.response_line",
    "http_start": "http.start",
    "http_header_names": "http.header_names",
    "http_raw_header": "http.header.raw",
    "http.uri.raw": "http.uri.raw",
    "file_data": "http.response_body",
    "file.data": "http.response_body",
    "http.response_body": "http.response_body",
    "http.request_body": "http.request_body",
    "dns_query": "dns.query",
    "tls_sni": "tls.sni",
    "tls_cert_subject": "tls.cert_subject",
    "tls_cert_issuer": "tls.cert_issuer",
    "ja3_hash": "ja3.hash",
    "ja4_hash": "ja4.hash",
}
"""Other names Suricata accepts for a sticky buffer (legacy and alternative spellings)."""

LEGACY_MODIFIERS: frozenset[str] = frozenset(
    {
        "http_uri",
        "http_raw_uri",
        "http_method",
        "http_host",
        "http_raw_host",
        "http_user_agent",
        "http_cookie",
        "http_header",
        "http_client_body",
        "http_server_body",
        "http_stat_code",
        "http_stat_msg",
        "http_content_type",
        "http_raw_header",
    }
)
"""Content modifiers (Snort style) that move the *preceding* content to a buffer."""


def _hash(name: str) -> Callable[[bytes], bytes]:
    return lambda data: hashlib.new(name, data).digest()


TRANSFORMS: dict[str, Callable[[bytes], bytes]] = {
    "url_decode": url_decode,
    "to_lowercase": bytes.lower,
    "to_uppercase": bytes.upper,
    "dotprefix": lambda data: b"." + data,
    "compress_whitespace": lambda data: b" ".join(data.split()),
    "strip_whitespace": lambda data: b"".join(data.split()),
    "to_md5": _hash("md5"),
    "to_sha1": _hash("sha1"),
    "to_sha256": _hash("sha256"),
}
"""Suricata transforms netsentry applies to a sticky buffer, in rule order."""


def read_buffer(buf: Buffer, transforms: tuple[str, ...], ctx: Ctx, side: int) -> list[bytes]:
    """The buffer's values for a record (several for multi-valued ones such as dns.query)."""
    values = buf.read(ctx, side)
    if not values:
        return []
    if transforms:
        out = []
        for value in values:
            for name in transforms:
                value = TRANSFORMS[name](value)
            out.append(value)
        return out
    return values
