"""TLS decoder: ClientHello/ServerHello fingerprints and the server certificate, EVE-shaped.

The flow layer feeds reassembled TCP bytes per direction. :class:`TlsParser`
walks TLS records (RFC 8446 §5.1, RFC 5246 §6.2), reassembles handshake
messages that span records, and emits one :class:`AppEvent` per

- ClientHello (client -> server): ``sni``, ``version``, ``ja3``, ``ja4``,
  ``client_alpns``; the first of the flow has ``extra["hello_index"] == 1``,
  later ones (after a HelloRetryRequest, or a client repeating itself) count up;
- ServerHello (server -> client): ``version`` (negotiated), ``ja3s``,
  ``server_alpns``; HelloRetryRequests are ServerHellos too and say so in extra;
- server Certificate message (TLS <= 1.2, the last version that sends it in the
  clear): ``subject``, ``issuerdn``, ``serial``, ``fingerprint``, ``notbefore``,
  ``notafter`` of the first certificate.

``version`` is spelled as Suricata spells it (``TLSv1``, ``TLS 1.2``,
``TLS 1.3 draft-28``...). Suricata writes one ``tls`` object per flow whose
version is the server's once the server answered; for a flow with only a
ClientHello it writes the client's (suricata-verify ``bug-5713-02-ja4``: a lone
TLS 1.0 hello is logged as ``TLSv1``). So the ClientHello event carries the
client's version (first recognized supported_versions entry, else the hello's
version field) and the ServerHello event the negotiated one. A consumer wanting
Suricata's single per-flow object merges the first ClientHello, then the
ServerHello(s) and the certificate record, later keys winning.

``extra`` keys (lists are GREASE-free, wire order, integers):

- ClientHello: ``hello_index``, ``ja4_r``, ``ja4_o``, ``ja4_ro``,
  ``supported_versions``, ``ciphers``, ``extensions``, ``sig_algs``,
  ``client_version`` (text), ``client_handshake`` (Suricata's optional
  ``tls.client_handshake`` object); SSLv2 hellos: ``sslv2``, ``ciphers`` (3-byte
  SSLv2 cipher specs), no JA3/JA4 (neither is defined over SSLv2).
- ServerHello: ``hello_index``, ``hello_retry_request``, ``cipher``,
  ``extensions``, ``selected_version`` (0 if absent), ``server_handshake``.
- Certificate: ``cert_sha1`` (40 hex digits, for intel lookups), ``chain_sha1``,
  ``chain_der`` (the DER certificates, server's first).

Once a direction is encrypted (an application_data record, or the TLS <= 1.2
ChangeCipherSpec) it is dropped: ``feed`` returns at once and buffers nothing.
TLS 1.3's ChangeCipherSpec is a compatibility no-op (RFC 8446 §D.4), so after it
a plaintext second ClientHello (after HelloRetryRequest) is still read.

Nothing here raises on content: a malformed record or message counts an
anomaly (``"tls: ..."``) and stops that direction.
"""

from __future__ import annotations

import hashlib
import struct
from collections import Counter
from typing import Any, ClassVar

from netsentry.protocols.base import (
    TO_CLIENT,
    TO_SERVER,
    AppEvent,
    Limits,
    StreamParser,
    anomaly,
)
from netsentry.protocols.fingerprints import (
    EXT_ALPN,
    EXT_EC_POINT_FORMATS,
    EXT_SIGNATURE_ALGORITHMS,
    EXT_SNI,
    EXT_SUPPORTED_GROUPS,
    EXT_SUPPORTED_VERSIONS,
    ClientHello,
    ServerHello,
    is_grease,
    ja3,
    ja3s,
    ja4,
)
from netsentry.protocols.x509 import X509Error, parse_certificate

PORTS: frozenset[int] = frozenset({443, 465, 993, 995, 8443, 636, 989, 990, 992, 994, 5061, 853})
"""TCP ports where TLS is expected from the first byte (HTTPS, SMTPS, IMAPS, POP3S, ...)."""

# Record content types (RFC 8446 §5.1; heartbeat from RFC 6520).
CT_CHANGE_CIPHER_SPEC = 20
CT_ALERT = 21
CT_HANDSHAKE = 22
CT_APPLICATION_DATA = 23
CT_HEARTBEAT = 24
_CONTENT_TYPES = frozenset((20, 21, 22, 23, 24))

# Handshake message types we act on.
HS_CLIENT_HELLO = 1
HS_SERVER_HELLO = 2
HS_HELLO_RETRY_REQUEST = 6  # TLS 1.3 drafts before 22 had a message of its own
HS_CERTIFICATE = 11
# Every handshake type ever registered (IANA TLS HandshakeType): anything else in
# a plaintext handshake stream means we are not looking at TLS (or lost sync).
_KNOWN_HS_TYPES = frozenset(
    (0, 1, 2, 3, 4, 5, 6, 8, 11, 12, 13, 14, 15, 16, 17, 20, 21, 22, 23, 24, 25, 67, 254)
)

# TLSCiphertext may carry 2^14 + 2048 bytes (RFC 5246 §6.2.3); larger is not TLS.
MAX_RECORD = 16384 + 2048
_HEADER = 5

# A ServerHello with this random is a HelloRetryRequest (RFC 8446 §4.1.3).
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

# Suricata's spelling of versions (app-layer-ssl.c SSLVersionToString).
_VERSION_NAMES: dict[int, str] = {
    0x0000: "UNDETERMINED",
    0x0200: "SSLv2",
    0x0300: "SSLv3",
    0x0301: "TLSv1",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
    **{0x7F00 + n: f"TLS 1.3 draft-{n}" for n in range(16, 29)},
    0x7F01: "TLS 1.3 draft-<16",
    0xFB14: "TLS 1.3 draft-20-fb",
    0xFB15: "TLS 1.3 draft-21-fb",
    0xFB16: "TLS 1.3 draft-22-fb",
    0xFB17: "TLS 1.3 draft-23-fb",
    0xFB1A: "TLS 1.3 draft-26-fb",
}
_PRE_DRAFT16 = 0x7F01


def version_name(version: int) -> str:
    """Suricata's ``tls.version`` text for a version code (``"0x%04x"`` when unnamed)."""
    name = _VERSION_NAMES.get(version)
    return name if name is not None else f"0x{version:04x}"


def _suricata_hello_version(version: int) -> int:
    """Apply Suricata's draft folding to a hello's version field.

    Drafts 1-15 used 0x7f01-0x7f0f, or 0x0304 itself in the version field,
    and Suricata reports all of them as "TLS 1.3 draft-<16"; a final TLS 1.3
    hello carries 0x0303 there and announces 0x0304 in supported_versions.
    """
    if 0x7F01 <= version < 0x7F10 or version == 0x0304:
        return _PRE_DRAFT16
    return version


def _is_tls13(version: int) -> bool:
    """True for TLS 1.3 and its drafts (IETF 0x7fNN, Facebook 0xfbNN)."""
    return version == 0x0304 or (version >> 8) in (0x7F, 0xFB)


def _legacy_server_hello_layout(version: int) -> bool:
    """Drafts before 22 dropped session_id and compression from the ServerHello."""
    return version == 0x0304 or 0x7F00 <= version < 0x7F16 or version in (0xFB14, 0xFB15)


class Malformed(Exception):
    """A handshake message whose lengths do not add up (internal, never escapes)."""


class _Reader:
    """Bounds-checked big-endian reader over one handshake message body."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def left(self) -> int:
        return self.end - self.pos

    def u8(self) -> int:
        if self.pos + 1 > self.end:
            raise Malformed("u8")
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        if self.pos + 2 > self.end:
            raise Malformed("u16")
        self.pos += 2
        return (self.data[self.pos - 2] << 8) | self.data[self.pos - 1]

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise Malformed("length")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def sub(self, n: int) -> _Reader:
        """A reader over the next ``n`` bytes, which are consumed here."""
        if self.pos + n > self.end:
            raise Malformed("length")
        self.pos += n
        return _Reader(self.data, self.pos - n, self.pos)

    def u16_list(self, nbytes: int) -> tuple[int, ...]:
        """``nbytes`` (even) bytes read as big-endian 16-bit values."""
        if nbytes % 2 or self.pos + nbytes > self.end:
            raise Malformed("length")
        values: tuple[int, ...] = struct.unpack_from(f">{nbytes // 2}H", self.data, self.pos)
        self.pos += nbytes
        return values


def _alpn_list(r: _Reader) -> tuple[bytes, ...]:
    """ALPN ProtocolNameList (RFC 7301 §3.1): u16 length, then u8-prefixed names."""
    names = r.sub(r.u16())
    out: list[bytes] = []
    while names.left():
        out.append(names.take(names.u8()))
    return tuple(out)


def _sni(r: _Reader) -> str | None:
    """First host_name of a server_name extension (RFC 6066 §3)."""
    names = r.sub(r.u16())
    while names.left():
        kind = names.u8()
        value = names.take(names.u16())
        if kind == 0:
            return value.decode("utf-8", "replace")
    return None


def parse_client_hello(body: bytes, counter: Counter[str] | None = None) -> ClientHello:
    """Decode a ClientHello message body (after the 4-byte handshake header).

    Raises :class:`Malformed` when the fixed part or the extension framing is
    inconsistent. A damaged *inside* of one extension only loses that
    extension's contents (counted as ``"tls: malformed extension"`` when a
    counter is given): its type still counts for the fingerprints, as it does
    for the reference implementations, which read the framing only.
    """
    r = _Reader(body)
    version = r.u16()
    r.take(32)  # random
    session_id = r.take(r.u8())
    ciphers = r.u16_list(r.u16())  # an odd length is malformed (RFC 8446 §4.1.2)
    r.take(r.u8())  # compression methods
    exts: list[int] = []
    groups: tuple[int, ...] = ()
    formats: tuple[int, ...] = ()
    sigs: tuple[int, ...] = ()
    versions: tuple[int, ...] = ()
    alpns: tuple[bytes, ...] = ()
    sni: str | None = None
    has_sni = has_alpn = False
    if r.left() >= 2:  # extensions are optional (RFC 5246 §7.4.1.2)
        block = r.sub(r.u16())
        while block.left():
            ext_type = block.u16()
            data = block.sub(block.u16())
            exts.append(ext_type)
            try:
                if ext_type == EXT_SNI:
                    has_sni = True
                    if data.left():
                        sni = _sni(data) if sni is None else sni
                elif ext_type == EXT_ALPN:
                    has_alpn = True
                    alpns = _alpn_list(data)
                elif ext_type == EXT_SUPPORTED_GROUPS:
                    groups = data.u16_list(data.u16())
                elif ext_type == EXT_EC_POINT_FORMATS:
                    formats = tuple(data.take(data.u8()))
                elif ext_type == EXT_SIGNATURE_ALGORITHMS:
                    sigs = data.u16_list(data.u16())
                elif ext_type == EXT_SUPPORTED_VERSIONS:
                    versions = data.u16_list(data.u8())
            except Malformed:
                if counter is not None:
                    anomaly(counter, "tls", "malformed extension")
    return ClientHello(
        version=version,
        ciphers=ciphers,
        extensions=tuple(exts),
        supported_groups=groups,
        ec_point_formats=formats,
        sig_algs=sigs,
        supported_versions=versions,
        alpns=alpns,
        sni=sni,
        session_id=session_id,
        has_sni=has_sni,
        has_alpn=has_alpn,
    )


def parse_server_hello(body: bytes, counter: Counter[str] | None = None) -> ServerHello:
    """Decode a ServerHello message body; raises :class:`Malformed` on bad framing."""
    r = _Reader(body)
    version = r.u16()
    random = r.take(32)
    session_id = b""
    legacy = _legacy_server_hello_layout(version)
    if not legacy:
        session_id = r.take(r.u8())
    cipher = r.u16()
    if not legacy:
        r.u8()  # compression method
    exts: list[int] = []
    selected = 0
    alpns: tuple[bytes, ...] = ()
    if r.left() >= 2:
        block = r.sub(r.u16())
        while block.left():
            ext_type = block.u16()
            data = block.sub(block.u16())
            exts.append(ext_type)
            try:
                if ext_type == EXT_SUPPORTED_VERSIONS:
                    selected = data.u16()
                elif ext_type == EXT_ALPN:
                    alpns = _alpn_list(data)
            except Malformed:
                if counter is not None:
                    anomaly(counter, "tls", "malformed extension")
    return ServerHello(
        version=version,
        cipher=cipher,
        extensions=tuple(exts),
        selected_version=selected,
        alpns=alpns,
        session_id=session_id,
        hello_retry_request=random == HRR_RANDOM,
    )


def _without_empty(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v != []}


def _text_list(values: tuple[bytes, ...]) -> list[str]:
    return [v.decode("utf-8", "replace") for v in values]


def client_hello_record(hello: ClientHello, index: int) -> AppEvent:
    """The EVE ``tls`` record (and extras) for one ClientHello; ``index`` is 1-based."""
    fp = ja4(hello)
    client_version = _suricata_client_version(hello.version, hello.supported_versions)
    record: dict[str, Any] = {}
    if hello.sni is not None:
        record["sni"] = hello.sni
    # What Suricata logs for a flow the server has not answered (module docstring).
    record["version"] = version_name(client_version)
    record["ja3"] = ja3(hello)
    record["ja4"] = fp.ja4
    if hello.alpns:
        record["client_alpns"] = _text_list(hello.alpns)
    ciphers = [c for c in hello.ciphers if not is_grease(c)]
    exts = [e for e in hello.extensions if not is_grease(e)]
    sigs = [s for s in hello.sig_algs if not is_grease(s)]
    offered = [v for v in hello.supported_versions if not is_grease(v)]
    handshake_version = _first_valid(hello.supported_versions) or hello.version
    extra: dict[str, Any] = {
        "hello_index": index,
        "ja4_r": fp.ja4_r,
        "ja4_o": fp.ja4_o,
        "ja4_ro": fp.ja4_ro,
        "supported_versions": offered,
        "ciphers": ciphers,
        "extensions": exts,
        "sig_algs": sigs,
        "client_version": version_name(client_version),
        # Shaped like Suricata's optional tls.client_handshake (GREASE removed, wire
        # order; empty lists left out, as the schema wants at least one item).
        "client_handshake": _without_empty(
            {
                "version": version_name(handshake_version),
                "ciphers": ciphers,
                "exts": exts,
                "sig_algs": sigs,
            }
        ),
    }
    return AppEvent(proto="tls", record=record, direction=TO_SERVER, extra=extra)


def _first_valid(offered: tuple[int, ...]) -> int:
    """First supported_versions entry Suricata recognizes (GREASE, unknown skipped), or 0."""
    for v in offered:
        if v in _VERSION_NAMES and v not in (0x0000, 0x0200):
            return v
    return 0


def _suricata_client_version(version: int, offered: tuple[int, ...]) -> int:
    # Suricata's client-side version: the hello's field (drafts folded), replaced
    # by the first supported_versions entry it recognizes.
    return _first_valid(offered) or _suricata_hello_version(version)


def server_version(hello: ServerHello) -> int:
    """The version Suricata records for a ServerHello (supported_versions wins)."""
    if hello.selected_version:
        return hello.selected_version
    return _suricata_hello_version(hello.version)


def server_hello_record(hello: ServerHello, index: int) -> AppEvent:
    """The EVE ``tls`` record (and extras) for one ServerHello; ``index`` is 1-based."""
    version = server_version(hello)
    record: dict[str, Any] = {"version": version_name(version), "ja3s": ja3s(hello)}
    if hello.alpns:
        record["server_alpns"] = _text_list(hello.alpns)
    exts = [e for e in hello.extensions if not is_grease(e)]
    extra: dict[str, Any] = {
        "hello_index": index,
        "hello_retry_request": hello.hello_retry_request,
        "cipher": hello.cipher,
        "extensions": exts,
        "selected_version": hello.selected_version,
        # Shaped like Suricata's optional tls.server_handshake.
        "server_handshake": _without_empty(
            {"version": version_name(hello.version), "cipher": hello.cipher, "exts": exts}
        ),
    }
    return AppEvent(proto="tls", record=record, direction=TO_CLIENT, extra=extra)


class _Side:
    """Decoding state of one direction."""

    __slots__ = ("buf", "ccs", "done", "hs", "skip", "started")

    def __init__(self) -> None:
        self.buf = bytearray()  # bytes of an incomplete record
        self.hs = bytearray()  # handshake bytes not yet forming a whole message
        self.skip = 0  # handshake bytes still to drop (a message over the limit)
        self.done = False  # encrypted, failed, or nothing more of interest
        self.ccs = False  # ChangeCipherSpec seen
        self.started = False  # first bytes looked at (SSLv2 detection)


class TlsParser(StreamParser):
    """Decoder for one TLS-over-TCP flow (see the module docstring for what it emits).

    Public state: ``client_hellos``, ``server_hellos`` and ``certificates`` decoded
    so far; ``tls13`` once the server chose TLS 1.3 (or a draft), ``hrr`` once it
    sent a HelloRetryRequest.
    """

    name: ClassVar[str] = "tls"

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self._sides = (_Side(), _Side())
        self.client_hellos = 0
        self.server_hellos = 0
        self.certificates = 0
        self.tls13 = False  # the server picked TLS 1.3 (or a draft)
        self.hrr = False  # a HelloRetryRequest was seen: expect a second ClientHello

    # -- StreamParser API ---------------------------------------------------------

    def wants(self, direction: int) -> bool:
        """False once the direction is encrypted (or failed): nothing more to decode."""
        return not self._sides[direction].done

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        """Consume in-order bytes of one direction; return the hellos/certificates completed."""
        side = self._sides[direction]
        if side.done or not data:
            return []
        events: list[AppEvent] = []
        if side.buf:
            side.buf += data
            view: bytes | bytearray = side.buf
        else:
            view = data
        if not side.started:
            if view[0] & 0x80:
                self._sslv2(side, direction, view, events)
                return events
            side.started = True
        pos = 0
        end = len(view)
        while end - pos >= _HEADER:
            ctype = view[pos]
            if ctype not in _CONTENT_TYPES or view[pos + 1] != 3 or view[pos + 2] > 4:
                anomaly(self.anomalies, "tls", "invalid record header")
                self._stop(side)
                return events
            if ctype == CT_APPLICATION_DATA:
                # Encrypted from here on: nothing more to learn in this direction.
                self._stop(side)
                return events
            length = (view[pos + 3] << 8) | view[pos + 4]
            if length > MAX_RECORD:
                anomaly(self.anomalies, "tls", "record too long")
                self._stop(side)
                return events
            if end - pos - _HEADER < length:
                break  # wait for the rest of the record
            body_start = pos + _HEADER
            pos = body_start + length
            if ctype == CT_HANDSHAKE:
                self._handshake(side, direction, bytes(view[body_start:pos]), events)
                if side.done:
                    return events
            elif ctype == CT_CHANGE_CIPHER_SPEC:
                side.ccs = True
                if direction == TO_CLIENT and not self.tls13 and not self.hrr:
                    # TLS <= 1.2: the server's next handshake record is its encrypted
                    # Finished. (The client side is decided at its next record, see
                    # _handshake: with TLS 1.3 a second ClientHello may follow.)
                    self._stop(side)
                    return events
            # Alerts and heartbeats carry nothing we log.
        rest = end - pos
        if rest == 0:
            side.buf = bytearray()
        elif rest > self.limits.max_pending:
            anomaly(self.anomalies, "tls", "pending data over limit")
            self._stop(side)
        elif view is side.buf:
            del side.buf[:pos]
        else:
            side.buf = bytearray(view[pos:])
        return events

    def gap(self, direction: int, size: int) -> None:
        """Bytes were lost: a handshake cannot be resynchronized, so stop that direction."""
        side = self._sides[direction]
        if not side.done:  # a gap in encrypted data is no TLS anomaly
            anomaly(self.anomalies, "tls", "stream gap")
            self._stop(side)

    def close(self) -> list[AppEvent]:
        """Flow ended: a half-received record or message is counted, never reported."""
        for side in self._sides:
            if not side.done and (side.buf or side.hs):
                anomaly(self.anomalies, "tls", "truncated handshake")
            self._stop(side)
        return []

    # -- internals ----------------------------------------------------------------

    @staticmethod
    def _stop(side: _Side) -> None:
        side.done = True
        side.buf = bytearray()
        side.hs = bytearray()
        side.skip = 0

    def _handshake(self, side: _Side, direction: int, body: bytes, events: list[AppEvent]) -> None:
        """Add one handshake record's bytes and process every message it completes."""
        if side.ccs and not self.tls13 and not self.hrr:
            # After ChangeCipherSpec, with no TLS 1.3 server seen: normally the
            # encrypted Finished. Accept only a record that is exactly a plaintext
            # ClientHello (a TLS 1.3 client's second hello when the server's HRR
            # has not been fed to us yet); anything else means encryption began.
            ok = (
                direction == TO_SERVER
                and len(body) >= 4
                and body[0] == HS_CLIENT_HELLO
                and 4 + int.from_bytes(body[1:4], "big") == len(body)
            )
            if not ok:
                self._stop(side)
                return
        if side.skip:
            dropped = min(side.skip, len(body))
            side.skip -= dropped
            body = body[dropped:]
        hs = side.hs
        hs += body
        pos = 0
        while len(hs) - pos >= 4 and not side.done:
            msg_type = hs[pos]
            length = int.from_bytes(hs[pos + 1 : pos + 4], "big")
            if msg_type not in _KNOWN_HS_TYPES:
                anomaly(self.anomalies, "tls", "unknown handshake type")
                self._stop(side)
                return
            if length > self.limits.max_pending:
                # Bounded memory: drop this message (e.g. a huge certificate chain).
                anomaly(self.anomalies, "tls", "handshake message over limit")
                available = len(hs) - pos - 4
                if available >= length:
                    pos += 4 + length
                    continue
                side.skip = length - available
                pos = len(hs)
                break
            if len(hs) - pos - 4 < length:
                break
            msg = bytes(hs[pos + 4 : pos + 4 + length])
            pos += 4 + length
            self._message(side, direction, msg_type, msg, events)
        if side.done:
            return
        del hs[:pos]

    def _message(
        self, side: _Side, direction: int, msg_type: int, msg: bytes, events: list[AppEvent]
    ) -> None:
        """Act on one complete handshake message."""
        if direction == TO_SERVER:
            if msg_type == HS_CLIENT_HELLO:
                try:
                    hello = parse_client_hello(msg, self.anomalies)
                except Malformed:
                    anomaly(self.anomalies, "tls", "malformed client hello")
                    self._stop(side)
                    return
                self.client_hellos += 1
                events.append(client_hello_record(hello, self.client_hellos))
            return
        if msg_type == HS_SERVER_HELLO:
            try:
                server = parse_server_hello(msg, self.anomalies)
            except Malformed:
                anomaly(self.anomalies, "tls", "malformed server hello")
                self._stop(side)
                return
            self.server_hellos += 1
            events.append(server_hello_record(server, self.server_hellos))
            if server.hello_retry_request:
                self.hrr = True
                self.tls13 = True
            elif _is_tls13(server_version(server)) or _is_tls13(server.version):
                # Everything after a TLS 1.3 ServerHello is encrypted.
                self.tls13 = True
                self._stop(side)
        elif msg_type == HS_HELLO_RETRY_REQUEST:
            self.hrr = True
            self.tls13 = True
        elif msg_type == HS_CERTIFICATE and not self.tls13:
            self._certificate(msg, events)

    def _certificate(self, msg: bytes, events: list[AppEvent]) -> None:
        """Report the first certificate of the server's chain (RFC 5246 §7.4.2)."""
        r = _Reader(msg)
        ders: list[bytes] = []
        try:
            chain = r.sub(int.from_bytes(r.take(3), "big"))
            while chain.left():
                ders.append(chain.take(int.from_bytes(chain.take(3), "big")))
        except Malformed:
            anomaly(self.anomalies, "tls", "malformed certificate message")
            if not ders:
                return
        if not ders:
            return
        try:
            cert = parse_certificate(ders[0])
        except X509Error:
            anomaly(self.anomalies, "tls", "undecodable certificate")
            return
        self.certificates += 1
        record: dict[str, Any] = {
            "subject": cert.subject,
            "issuerdn": cert.issuerdn,
            "serial": cert.serial,
            "fingerprint": cert.fingerprint,
            "notbefore": cert.notbefore,
            "notafter": cert.notafter,
        }
        extra: dict[str, Any] = {
            "cert_sha1": cert.sha1,  # for intel lookups (Zeek's Intel::CERT_HASH is SHA-1)
            "chain_sha1": [hashlib.sha1(der, usedforsecurity=False).hexdigest() for der in ders],
            "chain_der": ders,  # the raw chain, server certificate first
        }
        events.append(AppEvent(proto="tls", record=record, direction=TO_CLIENT, extra=extra))

    def _sslv2(
        self, side: _Side, direction: int, view: bytes | bytearray, events: list[AppEvent]
    ) -> None:
        """Handle a direction that starts with an SSLv2 record (2-byte header form).

        A client's SSLv2-compatible ClientHello is reported with its cipher specs
        (3-byte SSLv2 codes) in extra; JA3/JA4 are not defined over it and are left
        out. A server's SSLv2 ServerHello is reported as version ``SSLv2``. The
        direction then stops: what follows (keys, encrypted data) is not logged.
        """
        wanted = HS_CLIENT_HELLO if direction == TO_SERVER else 4  # SSLv2 SERVER-HELLO is 4
        if len(view) >= 3 and view[2] != wanted:
            # Not SSLv2 either: binary garbage. Say so now rather than wait for
            # the 32 KiB a bogus length may announce.
            anomaly(self.anomalies, "tls", "invalid record header")
            self._stop(side)
            return
        need = 2 + (((view[0] & 0x7F) << 8) | view[1]) if len(view) >= 2 else 3
        if len(view) < max(need, 3):
            # Wait for the whole record (at most 32 KiB + 2, within the limit or not at all).
            if need > self.limits.max_pending:
                anomaly(self.anomalies, "tls", "pending data over limit")
                self._stop(side)
            elif view is not side.buf:
                side.buf = bytearray(view)
            return
        side.started = True
        if direction == TO_SERVER:
            r = _Reader(bytes(view[:need]), 3)
            try:
                version = r.u16()
                spec_len = r.u16()
                r.u16()  # session id length
                r.u16()  # challenge length
                raw = r.take(spec_len - spec_len % 3)
            except Malformed:
                anomaly(self.anomalies, "tls", "malformed sslv2 client hello")
                self._stop(side)
                return
            specs = [int.from_bytes(raw[i : i + 3], "big") for i in range(0, len(raw), 3)]
            if version == 0x0002:  # SSL 2.0 writes its version as 0x0002; Suricata as 0x0200
                version = 0x0200
            self.client_hellos += 1
            extra: dict[str, Any] = {
                "hello_index": self.client_hellos,
                "sslv2": True,
                "client_version": version_name(version),
                "ciphers": specs,
            }
            events.append(
                AppEvent(
                    proto="tls",
                    record={"version": version_name(_suricata_hello_version(version))},
                    direction=TO_SERVER,
                    extra=extra,
                )
            )
        else:  # SSLv2 SERVER-HELLO
            self.server_hellos += 1
            events.append(
                AppEvent(
                    proto="tls",
                    record={"version": "SSLv2"},
                    direction=TO_CLIENT,
                    extra={"hello_index": self.server_hellos, "sslv2": True},
                )
            )
        self._stop(side)


def probe(direction: int, data: bytes) -> bool:
    """Does this look like the first bytes of a TLS stream, whatever the port?

    True for a handshake record header (0x16 0x03 0x00-0x04, length 1..18432)
    whose first message, when visible, is a ClientHello (client side) or a
    ServerHello (server side); or for an SSLv2-format ClientHello (client side:
    2-byte header with the high bit set, message type 1, version 0x0002 or 0x03xx).
    Needs at least 3 bytes for TLS, 5 for SSLv2; judges only the bytes it is given.
    """
    if len(data) < 3:
        return False
    if data[0] == CT_HANDSHAKE:
        if data[1] != 3 or data[2] > 4:
            return False
        if len(data) >= 5:
            length = (data[3] << 8) | data[4]
            if not 4 <= length <= MAX_RECORD:
                return False
        if len(data) >= 6:
            wanted = HS_CLIENT_HELLO if direction == TO_SERVER else HS_SERVER_HELLO
            return data[5] == wanted
        return True
    if data[0] & 0x80 and direction == TO_SERVER and len(data) >= 5:
        # SSLv2 has no magic byte: demand the message type and a sane version.
        length = ((data[0] & 0x7F) << 8) | data[1]
        if data[2] != 1 or length < 9:
            return False
        return (data[3], data[4]) == (0, 2) or (data[3] == 3 and data[4] <= 4)
    return False
