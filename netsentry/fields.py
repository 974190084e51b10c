"""The FIELDS registry: every name a rule can address, what it means, how to read it.

A rule names fields in Suricata's EVE vocabulary (``http.url``, ``dns.rrname``,
``tls.sni``, ``src_ip``). Each field belongs to one *record type* — the kind of
thing it is read from: a packet, a decoded application event (``http``, ``dns``,
``tls``, ...), a reassembled TCP stream chunk, or a flow when it ends. A rule's
record type is that of its fields; the address/port fields (``src_ip``, ...)
exist on every record and never decide it.

Getters take a :class:`Ctx` and return ``None`` when the value is absent, a
scalar, or a list (a multi-valued field matches when any element does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from netsentry.dga import default_scorer
from netsentry.model import PROTO_NAMES, Packet, ip_text
from netsentry.protocols.base import AppEvent

RECORD_TYPES = (
    "packet",
    "stream",
    "flow",
    "http",
    "dns",
    "tls",
    "irc",
    "smtp",
    "ftp",
    "auth",
    "ssh",
)
"""Kinds of records rules are evaluated on; app-layer ones equal the AppEvent.proto."""


class Ctx:
    """What a rule looks at: a packet (or the last packet of a flow) plus what it belongs to.

    ``src``/``dst`` follow the packet (or event) direction, as Suricata's alerts do.
    """

    __slots__ = (
        "data",
        "direction",
        "dport",
        "dst",
        "event",
        "flow",
        "pkt",
        "proto",
        "sport",
        "src",
        "ts",
    )

    def __init__(
        self,
        pkt: Packet | None,
        flow: Any,
        direction: int,
        event: AppEvent | None = None,
        data: bytes = b"",
    ) -> None:
        self.pkt = pkt
        self.flow = flow
        self.direction = direction
        self.event = event
        self.data = data  # a stream chunk for stream records
        if pkt is not None:
            self.src, self.dst, self.sport, self.dport = pkt.src, pkt.dst, pkt.sport, pkt.dport
            self.proto = pkt.proto
            self.ts = pkt.ts
        elif flow is not None:
            if direction == 0:
                self.src, self.dst, self.sport, self.dport = (
                    flow.cli,
                    flow.srv,
                    flow.cport,
                    flow.spt,
                )
            else:
                self.src, self.dst, self.sport, self.dport = (
                    flow.srv,
                    flow.cli,
                    flow.spt,
                    flow.cport,
                )
            self.proto = flow.proto
            self.ts = flow.last_ts
        else:
            self.src = self.dst = b""
            self.sport = self.dport = 0
            self.proto = -1
            self.ts = 0
        if event is not None and event.ts:
            self.ts = event.ts


Getter = Callable[[Ctx], Any]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One addressable field."""

    name: str
    record: str  # a RECORD_TYPES entry, or "any" for address/port fields
    type: str  # "str", "bytes", "int", "bool", "ip", "float" (lists: "list[str]")
    doc: str
    get: Getter
    side: int | None = None  # 0/1: only a request (toserver) / response (toclient) record has it


def _rec(key: str) -> Getter:
    def get(ctx: Ctx) -> Any:
        return ctx.event.record.get(key) if ctx.event is not None else None

    return get


def _rec2(key: str, sub: str) -> Getter:
    def get(ctx: Ctx) -> Any:
        if ctx.event is None:
            return None
        value = ctx.event.record.get(key)
        return value.get(sub) if isinstance(value, dict) else None

    return get


def _extra(key: str) -> Getter:
    def get(ctx: Ctx) -> Any:
        return ctx.event.extra.get(key) if ctx.event is not None else None

    return get


def _items(key: str, sub: str) -> Getter:
    def get(ctx: Ctx) -> Any:
        if ctx.event is None:
            return None
        items = ctx.event.record.get(key)
        if not items:
            return None
        return [
            item.get(sub) for item in items if isinstance(item, dict) and item.get(sub) is not None
        ]

    return get


def _dga_score(ctx: Ctx) -> Any:
    """The highest DGA score among the message's queried names (netsentry.dga)."""
    if ctx.event is None:
        return None
    queries = ctx.event.record.get("queries")
    if not queries:
        return None
    return default_scorer().max_score(q.get("rrname") for q in queries if isinstance(q, dict))


def _http_headers(ctx: Ctx) -> Any:
    if ctx.event is None:
        return None
    key = "request_headers" if ctx.event.direction == 0 else "response_headers"
    headers = ctx.event.record.get(key)
    if not headers:
        return None
    return "\r\n".join(f"{h.get('name', '')}: {h.get('value', '')}" for h in headers)


def _http_cookie(ctx: Ctx) -> Any:
    if ctx.event is None:
        return None
    headers = ctx.event.extra.get("request_headers") or {}
    return headers.get("cookie") if isinstance(headers, dict) else None


def _http_side(key: str, direction: int) -> Getter:
    """A field that belongs to one side of the transaction only (request or response)."""

    def get(ctx: Ctx) -> Any:
        if ctx.event is None or ctx.event.direction != direction:
            return None
        return ctx.event.record.get(key)

    return get


def _tcp_flags(ctx: Ctx) -> Any:
    pkt = ctx.pkt
    if pkt is None or pkt.proto != 6:
        return None
    return _FLAG_TEXT[pkt.tcp_flags & 0xFF]


_FLAG_LETTERS = (
    (0x01, "F"),
    (0x02, "S"),
    (0x04, "R"),
    (0x08, "P"),
    (0x10, "A"),
    (0x20, "U"),
    (0x40, "E"),
    (0x80, "C"),
)
# Every flag byte spelled once, up front: the getter runs for every TCP packet.
_FLAG_TEXT = tuple(
    "".join(letter for bit, letter in _FLAG_LETTERS if value & bit) for value in range(256)
)


def _flow_attr(name: str) -> Getter:
    def get(ctx: Ctx) -> Any:
        return getattr(ctx.flow, name, None) if ctx.flow is not None else None

    return get


def _flow_dir(name: str, index: int) -> Getter:
    def get(ctx: Ctx) -> Any:
        return getattr(ctx.flow, name)[index] if ctx.flow is not None else None

    return get


def _stream(direction: int | None) -> Getter:
    def get(ctx: Ctx) -> Any:
        if direction is not None and ctx.direction != direction:
            return None
        return ctx.data or None

    return get


def _proto_name(ctx: Ctx) -> Any:
    return PROTO_NAMES.get(ctx.proto, str(ctx.proto)) if ctx.proto >= 0 else None


_SPECS: list[FieldSpec] = [
    # -- on every record -------------------------------------------------------------
    FieldSpec(
        "src_ip",
        "any",
        "ip",
        "source address of the packet or event",
        lambda c: ip_text(c.src) or None,
    ),
    FieldSpec("dest_ip", "any", "ip", "destination address", lambda c: ip_text(c.dst) or None),
    FieldSpec("src_port", "any", "int", "source port (TCP/UDP/SCTP)", lambda c: c.sport),
    FieldSpec("dest_port", "any", "int", "destination port", lambda c: c.dport),
    FieldSpec(
        "proto",
        "any",
        "str",
        "IP protocol as EVE names it (TCP, UDP, ICMP, IPv6-ICMP)",
        _proto_name,
    ),
    FieldSpec(
        "direction",
        "any",
        "str",
        "toserver or toclient, relative to the flow",
        lambda c: "toserver" if c.direction == 0 else "toclient",
    ),
    FieldSpec(
        "app_proto",
        "any",
        "str",
        "application protocol of the flow (http, tls, ...)",
        lambda c: (c.flow.app_proto or None) if c.flow is not None else None,
    ),
    # -- packets ---------------------------------------------------------------------
    FieldSpec(
        "payload",
        "packet",
        "bytes",
        "transport payload of one packet",
        lambda c: c.pkt.payload if c.pkt else None,
    ),
    FieldSpec(
        "pkt.size",
        "packet",
        "int",
        "original length of the frame on the wire",
        lambda c: c.pkt.wirelen if c.pkt else None,
    ),
    FieldSpec(
        "tcp.flags",
        "packet",
        "str",
        "TCP flags as letters in the order FSRPAUEC, e.g. 'S', 'SA'",
        _tcp_flags,
    ),
    FieldSpec(
        "icmp.type",
        "packet",
        "int",
        "ICMP/ICMPv6 message type",
        lambda c: c.pkt.icmp_type if c.pkt and c.pkt.icmp_type >= 0 else None,
    ),
    FieldSpec(
        "icmp.code",
        "packet",
        "int",
        "ICMP/ICMPv6 message code",
        lambda c: c.pkt.icmp_code if c.pkt and c.pkt.icmp_code >= 0 else None,
    ),
    FieldSpec(
        "ip.version",
        "packet",
        "int",
        "4 or 6",
        lambda c: c.pkt.family if c.pkt and c.pkt.family else None,
    ),
    # -- reassembled TCP streams -----------------------------------------------------
    FieldSpec(
        "stream", "stream", "bytes", "reassembled TCP stream data, either direction", _stream(None)
    ),
    FieldSpec(
        "stream.toserver", "stream", "bytes", "reassembled client-to-server data", _stream(0)
    ),
    FieldSpec(
        "stream.toclient", "stream", "bytes", "reassembled server-to-client data", _stream(1)
    ),
    # -- flows (evaluated when a flow ends) -----------------------------------------------
    FieldSpec(
        "flow.state",
        "flow",
        "str",
        "TCP state at the end: new, established, closed",
        _flow_attr("state"),
    ),
    FieldSpec(
        "flow.established", "flow", "bool", "the TCP handshake completed", _flow_attr("established")
    ),
    FieldSpec(
        "flow.end_reason",
        "flow",
        "str",
        "closed, timeout, evicted or end of input",
        _flow_attr("end_reason"),
    ),
    FieldSpec(
        "flow.pkts_toserver", "flow", "int", "packets client to server", _flow_dir("pkts", 0)
    ),
    FieldSpec(
        "flow.pkts_toclient", "flow", "int", "packets server to client", _flow_dir("pkts", 1)
    ),
    FieldSpec(
        "flow.bytes_toserver", "flow", "int", "bytes client to server", _flow_dir("bytes", 0)
    ),
    FieldSpec(
        "flow.bytes_toclient", "flow", "int", "bytes server to client", _flow_dir("bytes", 1)
    ),
    # -- HTTP ------------------------------------------------------------------------
    FieldSpec(
        "http.hostname", "http", "str", "Host header, lowercased, without port", _rec("hostname")
    ),
    FieldSpec("http.url", "http", "str", "request target exactly as sent (raw)", _rec("url")),
    FieldSpec(
        "http.uri",
        "http",
        "str",
        "request target percent-decoded once ('+' as space in the query)",
        _extra("uri_normalized"),
    ),
    FieldSpec(
        "http.uri_decoded_twice",
        "http",
        "str",
        "request target percent-decoded twice (double-encoding evasion)",
        _extra("uri_decoded_twice"),
    ),
    FieldSpec("http.path", "http", "str", "path part of the request target", _extra("uri_path")),
    FieldSpec(
        "http.query", "http", "str", "query string of the request target", _extra("uri_query")
    ),
    FieldSpec("http.method", "http", "str", "request method", _rec("http_method")),
    FieldSpec("http.user_agent", "http", "str", "User-Agent header", _rec("http_user_agent")),
    FieldSpec("http.referer", "http", "str", "Referer header", _rec("http_refer")),
    FieldSpec("http.protocol", "http", "str", "HTTP version string", _rec("protocol")),
    FieldSpec(
        "http.request_content_type",
        "http",
        "str",
        "Content-Type of the request",
        _http_side("http_content_type", 0),
    ),
    FieldSpec(
        "http.content_type",
        "http",
        "str",
        "Content-Type of the response",
        _http_side("http_content_type", 1),
    ),
    FieldSpec("http.status", "http", "int", "response status code", _http_side("status", 1)),
    FieldSpec(
        "http.request_body",
        "http",
        "bytes",
        "request body (bounded)",
        lambda c: c.event.extra.get("request_body") if c.event and c.event.direction == 0 else None,
    ),
    FieldSpec(
        "http.response_body",
        "http",
        "bytes",
        "response body, dechunked and decompressed (bounded)",
        _extra("response_body"),
    ),
    FieldSpec(
        "http.headers",
        "http",
        "str",
        "headers of this message as 'Name: value' lines",
        _http_headers,
    ),
    FieldSpec("http.cookie", "http", "str", "Cookie header of the request", _http_cookie),
    FieldSpec(
        "http.redirect", "http", "str", "Location of a redirect response", _http_side("redirect", 1)
    ),
    # -- DNS -------------------------------------------------------------------------
    FieldSpec("dns.rrname", "dns", "list[str]", "queried names", _items("queries", "rrname")),
    FieldSpec(
        "dns.rrtype",
        "dns",
        "list[str]",
        "queried record types (A, AAAA, TXT, ...)",
        _items("queries", "rrtype"),
    ),
    FieldSpec("dns.type", "dns", "str", "request or response", _rec("type")),
    FieldSpec("dns.rcode", "dns", "str", "response code (NOERROR, NXDOMAIN, ...)", _rec("rcode")),
    FieldSpec(
        "dns.answer",
        "dns",
        "list[str]",
        "answer data (addresses, names, text)",
        _items("answers", "rdata"),
    ),
    FieldSpec(
        "dns.answer_name",
        "dns",
        "list[str]",
        "owner names of the answers",
        _items("answers", "rrname"),
    ),
    FieldSpec(
        "dns.label_max",
        "dns",
        "int",
        "length of the longest label in the message's names",
        _extra("label_max"),
    ),
    FieldSpec(
        "dns.txt_bytes", "dns", "int", "bytes of TXT data in the answers", _extra("txt_bytes")
    ),
    FieldSpec(
        "dns.dga_score",
        "dns",
        "float",
        "highest DGA score (0..1) of the queried names (`netsentry dga score` explains one)",
        _dga_score,
    ),
    # -- TLS -------------------------------------------------------------------------
    FieldSpec("tls.sni", "tls", "str", "server name from the ClientHello", _rec("sni")),
    FieldSpec("tls.version", "tls", "str", "TLS version as Suricata writes it", _rec("version")),
    FieldSpec("tls.ja3.hash", "tls", "str", "JA3 client fingerprint (MD5)", _rec2("ja3", "hash")),
    FieldSpec(
        "tls.ja3.string", "tls", "str", "JA3 client fingerprint string", _rec2("ja3", "string")
    ),
    FieldSpec(
        "tls.ja3s.hash", "tls", "str", "JA3S server fingerprint (MD5)", _rec2("ja3s", "hash")
    ),
    FieldSpec("tls.ja4", "tls", "str", "JA4 client fingerprint", _rec("ja4")),
    FieldSpec("tls.subject", "tls", "str", "server certificate subject", _rec("subject")),
    FieldSpec("tls.issuerdn", "tls", "str", "server certificate issuer", _rec("issuerdn")),
    FieldSpec(
        "tls.cert_sha1",
        "tls",
        "str",
        "SHA-1 of the server certificate (40 hex digits)",
        _extra("cert_sha1"),
    ),
    FieldSpec(
        "tls.alpn", "tls", "list[str]", "ALPN protocols offered by the client", _rec("client_alpns")
    ),
    # -- IRC -------------------------------------------------------------------------
    FieldSpec(
        "irc.command",
        "irc",
        "str",
        "IRC command or numeric reply (PRIVMSG, 332, ...)",
        _rec("command"),
    ),
    FieldSpec("irc.text", "irc", "str", "trailing text (message body, topic)", _rec("text")),
    FieldSpec("irc.nick", "irc", "str", "nick of the sender (or of a NICK command)", _rec("nick")),
    FieldSpec("irc.target", "irc", "str", "channel or nick addressed", _rec("target")),
    # -- SMTP ------------------------------------------------------------------------
    FieldSpec("smtp.helo", "smtp", "str", "HELO/EHLO name", _rec("helo")),
    FieldSpec("smtp.mail_from", "smtp", "str", "envelope sender", _rec("mail_from")),
    FieldSpec("smtp.rcpt_to", "smtp", "list[str]", "envelope recipients", _rec("rcpt_to")),
    FieldSpec(
        "smtp.rcpt_count", "smtp", "int", "recipients in the transaction", _extra("rcpt_count")
    ),
    # -- FTP -------------------------------------------------------------------------
    FieldSpec("ftp.command", "ftp", "str", "FTP command", _rec("command")),
    FieldSpec("ftp.command_data", "ftp", "str", "FTP command argument", _rec("command_data")),
    # -- logins ----------------------------------------------------------------------
    FieldSpec(
        "auth.service", "auth", "str", "ftp, smtp, pop3, imap, telnet, http, ssh", _rec("service")
    ),
    FieldSpec("auth.result", "auth", "str", "failure, success or attempt", _rec("result")),
    FieldSpec("auth.user", "auth", "str", "user name tried, when visible", _rec("user")),
    # -- SSH -------------------------------------------------------------------------
    FieldSpec(
        "ssh.client.software_version",
        "ssh",
        "str",
        "client software from its banner",
        lambda c: (_rec2("client", "software_version"))(c),
    ),
    FieldSpec(
        "ssh.server.software_version",
        "ssh",
        "str",
        "server software from its banner",
        lambda c: (_rec2("server", "software_version"))(c),
    ),
]

# Fields that belong to one side of a transaction. A rule whose main field is one of
# these is evaluated only on that side's records, so an HTTP request matched on its
# URL does not fire again when its response (which repeats the URL) completes.
_REQUEST_SIDE = frozenset(
    (
        "http.hostname",
        "http.url",
        "http.uri",
        "http.uri_decoded_twice",
        "http.path",
        "http.query",
        "http.method",
        "http.user_agent",
        "http.referer",
        "http.cookie",
        "dns.rrname",
        "dns.rrtype",
        "tls.sni",
        "tls.ja3.hash",
        "tls.ja3.string",
        "tls.ja4",
        "tls.alpn",
    )
)
_RESPONSE_SIDE = frozenset(
    (
        "dns.rcode",
        "dns.answer",
        "dns.answer_name",
        "dns.txt_bytes",
        "tls.ja3s.hash",
        "tls.subject",
        "tls.issuerdn",
        "tls.cert_sha1",
    )
)

FIELDS: dict[str, FieldSpec] = {
    spec.name: replace(
        spec,
        side=0 if spec.name in _REQUEST_SIDE else 1 if spec.name in _RESPONSE_SIDE else spec.side,
    )
    for spec in _SPECS
}
"""Every field a rule may name."""

ALIASES: dict[str, str] = {
    "http.http_user_agent": "http.user_agent",
    "http.http_method": "http.method",
    "http.http_refer": "http.referer",
    "dns.query": "dns.rrname",
    "tls.ja4.hash": "tls.ja4",
    "ja3.hash": "tls.ja3.hash",
    "ja4.hash": "tls.ja4",
}
"""Other spellings accepted for a field (Suricata keyword names)."""


def resolve(name: str) -> FieldSpec | None:
    """The FieldSpec for a name or alias, or None."""
    spec = FIELDS.get(name)
    if spec is None and name in ALIASES:
        spec = FIELDS[ALIASES[name]]
    return spec
