"""Application-layer dispatch (netsentry/applayer.py) on synthetic flows.

Frames are built with ``tests/factories.py``, decoded by the real ``Decoder``, tracked by
a real ``FlowTable`` and handed to ``AppLayer`` exactly as ``engine.analyze`` does
(``on_packet`` per packet, ``on_flow_end`` from the table's end hook). What is checked:
which decoder a flow gets (by content, whatever the port; server-first banners; a banner
split over segments), what happens to flows nobody recognizes, containment of decoder
exceptions (TCP and UDP), the end-of-flow flush, the stop of reassembly once TLS is
encrypted, TCP Fast Open data, and decoder subsets.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

import pytest

from netsentry.applayer import PROBE_BYTES, PROBE_LIMIT, PROTOCOLS, AppLayer, ProtocolSpec
from netsentry.decode import Decoder
from netsentry.flows import Flow, FlowTable
from netsentry.model import TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN
from netsentry.protocols.base import AppEvent, Limits, StreamParser
from netsentry.protocols.ftp import FtpParser
from netsentry.protocols.http import HttpParser
from netsentry.protocols.irc import IrcParser
from netsentry.protocols.smtp import SmtpParser
from netsentry.protocols.tls import TlsParser
from tests.factories import ether, ipv4, tcp, udp

T0 = 1_706_702_400 * 1_000_000_000  # ns
PA = TCP_PSH | TCP_ACK

# -- the pipeline, as engine.analyze drives it ----------------------------------------------


class Wire:
    """Decodes frames, finds their flows and feeds the application layer."""

    def __init__(self, app: AppLayer | None = None) -> None:
        self.app = app if app is not None else AppLayer()
        self.decoder = Decoder()
        self.table = FlowTable(on_end=self._ended)
        self.events: list[AppEvent] = []
        self.num = 0

    def _ended(self, flow: Flow) -> None:
        self.events.extend(self.app.on_flow_end(flow, T0 + self.num, self.num))

    def frame(self, data: bytes) -> tuple[Flow, list[AppEvent]]:
        """One frame through decode, flow lookup and ``AppLayer.on_packet``."""
        self.num += 1
        pkt = self.decoder.decode(self.num, T0 + self.num * 1_000_000, 1, data, len(data))
        flow, direction = self.table.lookup(pkt)
        got = self.app.on_packet(flow, direction, pkt)
        self.events.extend(got)
        return flow, got

    def end(self) -> None:
        """End of input: every flow ends (and is flushed)."""
        self.table.flush()


class Conn:
    """One TCP connection 10.0.0.1:sport -> 10.0.0.2:dport, sequence numbers tracked."""

    def __init__(self, wire: Wire, dport: int, sport: int = 40000) -> None:
        self.wire = wire
        self.ports = (sport, dport)
        self.next = [1000, 50000]  # next sequence number per direction (0: client)
        self.flow: Flow | None = None

    def segment(
        self, direction: int, payload: bytes = b"", flags: int = PA, seq: int | None = None
    ) -> list[AppEvent]:
        """Send one segment; ``seq`` given: exactly there, without advancing the stream."""
        advance = seq is None
        if seq is None:
            seq = self.next[direction]
        ack = self.next[1 - direction]
        sport, dport = self.ports if direction == 0 else self.ports[::-1]
        src, dst = ("10.0.0.1", "10.0.0.2") if direction == 0 else ("10.0.0.2", "10.0.0.1")
        seg = tcp(sport, dport, payload, flags=flags, seq=seq, ack=ack)
        flow, got = self.wire.frame(ether(ipv4(seg, src, dst)))
        self.flow = flow
        if advance:
            self.next[direction] = seq + len(payload) + (1 if flags & (TCP_SYN | TCP_FIN) else 0)
        return got

    def handshake(self, syn_data: bytes = b"") -> list[AppEvent]:
        """SYN (optionally carrying data, TCP Fast Open), SYN-ACK, ACK."""
        got = self.segment(0, syn_data, TCP_SYN)
        got += self.segment(1, b"", TCP_SYN | TCP_ACK)
        got += self.segment(0, b"", TCP_ACK)
        return got

    def send(self, direction: int, *chunks: bytes) -> list[AppEvent]:
        """Each chunk as one in-order segment."""
        got: list[AppEvent] = []
        for chunk in chunks:
            got += self.segment(direction, chunk)
        return got

    @property
    def the_flow(self) -> Flow:
        assert self.flow is not None
        return self.flow


def urls(events: list[AppEvent]) -> list[str]:
    return [e.record["url"] for e in events if e.proto == "http" and e.direction == 0]


# -- TLS bytes ----------------------------------------------------------------------------


def _u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def _record(ctype: int, body: bytes) -> bytes:
    return bytes([ctype, 3, 3]) + _u16(len(body)) + body


def _handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def client_hello(sni: bytes = b"example.com") -> bytes:
    """A TLS 1.2 ClientHello record: two ciphers, null compression, an SNI extension."""
    entry = b"\x00" + _u16(len(sni)) + sni
    sni_ext = _u16(0) + _u16(len(entry) + 2) + _u16(len(entry)) + entry
    body = b"\x03\x03" + bytes(32) + b"\x00" + _u16(4) + b"\xc0\x2f\x00\xff" + b"\x01\x00"
    body += _u16(len(sni_ext)) + sni_ext
    return _record(0x16, _handshake(1, body))


def server_hello() -> bytes:
    """A TLS 1.2 ServerHello record choosing 0xc02f, with renegotiation_info."""
    exts = _u16(0xFF01) + _u16(1) + b"\x00"
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x2f" + b"\x00" + _u16(len(exts)) + exts
    return _record(0x16, _handshake(2, body))


CHANGE_CIPHER_SPEC = _record(0x14, b"\x01")
ENCRYPTED_FINISHED = _record(0x16, bytes(range(40)))  # not a plaintext handshake message
APPLICATION_DATA = _record(0x17, b"\xaa" * 64)

HTTP_GET = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"

# -- protocol chosen by content -------------------------------------------------------------


@pytest.mark.parametrize("port", [8080, 31337])
def test_http_is_found_by_content_on_any_port(port: int) -> None:
    wire = Wire()
    conn = Conn(wire, port)
    conn.handshake()
    got = conn.send(0, HTTP_GET)
    assert urls(got) == ["/index.html"]
    assert conn.the_flow.app_proto == "http"
    assert isinstance(conn.the_flow.app, HttpParser)


def test_irc_is_found_by_content_on_31337() -> None:
    wire = Wire()
    conn = Conn(wire, 31337)
    conn.handshake()
    got = conn.send(0, b"NICK bob\r\nUSER bob 0 * :Bob\r\n")
    assert conn.the_flow.app_proto == "irc"
    assert isinstance(conn.the_flow.app, IrcParser)
    assert [(e.proto, e.record["command"]) for e in got] == [("irc", "NICK"), ("irc", "USER")]


def test_tls_on_port_80_is_tls_not_http() -> None:
    wire = Wire()
    conn = Conn(wire, 80)
    conn.handshake()
    got = conn.send(0, client_hello(b"www.example.org"))
    assert conn.the_flow.app_proto == "tls"
    assert isinstance(conn.the_flow.app, TlsParser)
    assert [(e.proto, e.record.get("sni")) for e in got] == [("tls", "www.example.org")]
    assert not wire.app.anomalies


def test_http_on_443_is_http_not_tls() -> None:
    wire = Wire()
    conn = Conn(wire, 443)
    conn.handshake()
    assert urls(conn.send(0, HTTP_GET)) == ["/index.html"]
    assert conn.the_flow.app_proto == "http"


@pytest.mark.parametrize(
    ("port", "banner", "proto", "parser"),
    [
        (21, b"220 ProFTPD 1.3.5 Server (FTP) ready.\r\n", "ftp", FtpParser),
        (2121, b"220 ProFTPD 1.3.5 Server (FTP) ready.\r\n", "ftp", FtpParser),
        (25, b"220 mail.example.com ESMTP Postfix\r\n", "smtp", SmtpParser),
        (2626, b"220 mail.example.com ESMTP Postfix\r\n", "smtp", SmtpParser),
    ],
)
def test_server_first_protocols_are_found_from_the_banner(
    port: int, banner: bytes, proto: str, parser: type[StreamParser]
) -> None:
    wire = Wire()
    conn = Conn(wire, port)
    conn.handshake()
    conn.send(1, banner)  # the server speaks first
    assert conn.the_flow.app_proto == proto
    assert isinstance(conn.the_flow.app, parser)


def test_ftp_banner_split_over_two_segments_is_recognized_and_replayed() -> None:
    wire = Wire()
    conn = Conn(wire, 40021)  # no port hint: content alone decides
    conn.handshake()
    conn.send(1, b"220 Pro")  # nothing can be told from this
    assert conn.the_flow.app_proto == ""
    assert conn.the_flow.probes == 1
    conn.send(1, b"FTPD Server (FTP) ready.\r\n")
    assert conn.the_flow.app_proto == "ftp"
    got = conn.send(0, b"USER alice\r\n") + conn.send(1, b"331 Password required\r\n")
    ftp = [e.record for e in got if e.proto == "ftp"]
    assert [(r["command"], r["completion_code"]) for r in ftp] == [("USER", ["331"])]
    assert not wire.app.anomalies  # the banner reached the parser: no stray reply


def test_smtp_banner_split_over_two_segments_is_recognized() -> None:
    wire = Wire()
    conn = Conn(wire, 2626)
    conn.handshake()
    conn.send(1, b"220 mail.exa")
    assert conn.the_flow.app_proto == ""
    conn.send(1, b"mple.com ESMTP Postfix\r\n")
    assert conn.the_flow.app_proto == "smtp"


def test_request_split_before_the_method_ends_is_recognized() -> None:
    wire = Wire()
    conn = Conn(wire, 31337)
    conn.handshake()
    got = conn.send(0, HTTP_GET[:2], HTTP_GET[2:])
    assert urls(got) == ["/index.html"]


# -- flows nothing recognizes ---------------------------------------------------------------

GARBAGE = b"\x00\x01\x02 not any protocol \xfe\xff"


def test_unrecognized_flow_stops_being_reassembled() -> None:
    wire = Wire()
    conn = Conn(wire, 31337)
    conn.handshake()
    for i in range(PROBE_LIMIT - 1):
        conn.send(0, GARBAGE)
        assert conn.the_flow.app_proto == "", i
        assert conn.the_flow.streams is not None
    conn.send(0, GARBAGE)
    flow = conn.the_flow
    assert flow.app_proto == "failed"
    assert flow.streams is None and flow.app is None
    # later data, even valid HTTP, is not looked at any more
    assert conn.send(0, HTTP_GET) == []
    assert flow.streams is None
    wire.end()
    assert wire.events == []
    assert wire.app.flows_by_proto == Counter({"failed": 1})


def test_unrecognized_first_chunk_over_probe_bytes_fails_at_once() -> None:
    wire = Wire()
    conn = Conn(wire, 31337)
    conn.handshake()
    conn.send(0, b"\x00" * (PROBE_BYTES + 1))
    assert conn.the_flow.app_proto == "failed"
    assert conn.the_flow.streams is None


def test_stream_sink_keeps_an_unrecognized_flow_reassembled() -> None:
    wire = Wire()
    seen: list[tuple[int, bytes]] = []
    wire.app.stream_sink = lambda flow, direction, data: seen.append((direction, data))
    conn = Conn(wire, 31337)
    conn.handshake()
    chunks = [GARBAGE + bytes([i]) for i in range(PROBE_LIMIT + 2)]
    conn.send(0, *chunks)
    assert conn.the_flow.app_proto == "failed"
    assert conn.the_flow.streams is not None  # still reassembled, for the sink
    conn.send(1, b"reply")
    assert seen == [(0, c) for c in chunks] + [(1, b"reply")]
    assert wire.events == []


# -- decoder exceptions are contained -------------------------------------------------------


class BoomParser(StreamParser):
    """Raises on the ``fail_on``-th feed (1-based); records the calls."""

    name: ClassVar[str] = "boom"
    fail_on: ClassVar[int] = 1
    fail_close: ClassVar[bool] = False
    instances: ClassVar[list[BoomParser]] = []

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self.fed: list[tuple[int, bytes]] = []
        self.closed = False
        BoomParser.instances.append(self)

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        self.fed.append((direction, data))
        if len(self.fed) == self.fail_on:
            raise ValueError("decoder bug")
        return [AppEvent("boom", {"n": len(self.fed)}, direction)]

    def close(self) -> list[AppEvent]:
        self.closed = True
        if self.fail_close:
            raise KeyError("close bug")
        return [AppEvent("boom", {"closed": True})]


def _boom_layer(monkeypatch: pytest.MonkeyPatch, **parser_attrs: Any) -> AppLayer:
    spec = ProtocolSpec(
        "boom", frozenset({7777}), lambda d, data: data.startswith(b"BOOM"), BoomParser
    )
    monkeypatch.setitem(PROTOCOLS, "boom", spec)
    monkeypatch.setattr(BoomParser, "instances", [])
    for key, value in parser_attrs.items():
        monkeypatch.setattr(BoomParser, key, value)
    return AppLayer(["boom"])


@pytest.mark.parametrize("fail_on", [1, 2])
def test_decoder_exception_is_contained(monkeypatch: pytest.MonkeyPatch, fail_on: int) -> None:
    # fail_on 1: raised while replaying the probed bytes; 2: on a later in-order chunk
    wire = Wire(_boom_layer(monkeypatch, fail_on=fail_on))
    conn = Conn(wire, 7777)
    conn.handshake()
    got = conn.send(0, b"BOOM 1")
    got += conn.send(0, b"BOOM 2")
    got += conn.send(0, b"BOOM 3")  # after the failure: not decoded any more
    flow = conn.the_flow
    assert wire.app.anomalies == Counter({"boom: decoder error ValueError": 1})
    assert flow.app_proto == "failed" and flow.app is None
    assert [e.record for e in got] == [{"n": n} for n in range(1, fail_on)]
    (parser,) = BoomParser.instances
    assert len(parser.fed) == fail_on
    wire.end()
    assert not parser.closed  # a contained parser is dropped, not closed
    assert wire.app.flows_by_proto == Counter({"failed": 1})


def test_decoder_exception_in_close_is_contained(monkeypatch: pytest.MonkeyPatch) -> None:
    wire = Wire(_boom_layer(monkeypatch, fail_on=0, fail_close=True))
    conn = Conn(wire, 7777)
    conn.handshake()
    conn.send(0, b"BOOM")
    wire.end()  # must not raise
    assert BoomParser.instances[0].closed
    assert wire.app.anomalies == Counter({"boom: decoder error KeyError": 1})


def test_datagram_decoder_exception_is_contained(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []

    def datagram(
        payload: bytes, direction: int, anomalies: Counter[str], limits: Limits
    ) -> list[AppEvent]:
        calls.append(payload)
        raise IndexError("decoder bug")

    monkeypatch.setitem(
        PROTOCOLS, "udpboom", ProtocolSpec("udpboom", frozenset({9999}), datagram=datagram)
    )
    wire = Wire(AppLayer(["udpboom"]))
    flow, got = wire.frame(ether(ipv4(udp(40000, 9999, b"first"))))
    assert got == []
    assert wire.app.anomalies == Counter({"udpboom: decoder error IndexError": 1})
    assert flow.app_proto == "failed"
    wire.frame(ether(ipv4(udp(40000, 9999, b"second"))))
    assert calls == [b"first"]  # a flow whose decoder failed is not decoded any more


# -- end of flow ----------------------------------------------------------------------------


class RecordingParser(StreamParser):
    """Records what it is fed and whether it was closed."""

    name: ClassVar[str] = "rec"
    instances: ClassVar[list[RecordingParser]] = []

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self.calls: list[tuple[str, int, bytes | int]] = []
        RecordingParser.instances.append(self)

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        self.calls.append(("feed", direction, data))
        return []

    def gap(self, direction: int, size: int) -> None:
        self.calls.append(("gap", direction, size))

    def close(self) -> list[AppEvent]:
        self.calls.append(("close", -1, b""))
        return [AppEvent("rec", {"closed": True})]


def _recording_layer(monkeypatch: pytest.MonkeyPatch) -> AppLayer:
    spec = ProtocolSpec(
        "rec", frozenset({6666}), lambda d, data: data.startswith(b"REC"), RecordingParser
    )
    monkeypatch.setitem(PROTOCOLS, "rec", spec)
    monkeypatch.setattr(RecordingParser, "instances", [])
    return AppLayer(["rec"])


def test_flow_end_flushes_out_of_order_data_then_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    wire = Wire(_recording_layer(monkeypatch))
    conn = Conn(wire, 6666)
    conn.handshake()
    conn.send(0, b"REC first ")
    start = conn.next[0]
    # "two " never arrives; "three" waits in the out-of-order buffer
    assert conn.segment(0, b"three", seq=start + 4) == []
    (parser,) = RecordingParser.instances
    assert parser.calls == [("feed", 0, b"REC first ")]
    wire.end()
    assert parser.calls == [
        ("feed", 0, b"REC first "),
        ("gap", 0, 4),
        ("feed", 0, b"three"),
        ("close", -1, b""),
    ]
    assert [e.record for e in wire.events] == [{"closed": True}]
    assert wire.events[0].flow is conn.the_flow
    assert conn.the_flow.app is None and conn.the_flow.streams is None


def test_flow_end_flush_can_still_recognize_the_protocol() -> None:
    # The first request is lost; the second only leaves the out-of-order buffer at the
    # end of the flow, where it is recognized, decoded, and the flow counted as http.
    wire = Wire()
    conn = Conn(wire, 80)
    conn.handshake()
    lost = b"GET /lost HTTP/1.1\r\nHost: a\r\n\r\n"
    conn.segment(0, b"GET /late HTTP/1.1\r\nHost: a\r\n\r\n", seq=conn.next[0] + len(lost))
    assert wire.events == []
    wire.end()
    assert urls(wire.events) == ["/late"]
    assert conn.the_flow.app_proto == "http"
    assert wire.app.flows_by_proto == Counter({"http": 1})


# -- TLS: stop once encrypted ---------------------------------------------------------------


def test_tls_flow_stops_being_reassembled_once_both_sides_are_encrypted() -> None:
    wire = Wire()
    conn = Conn(wire, 443)
    conn.handshake()
    conn.send(0, client_hello())
    conn.send(1, server_hello() + CHANGE_CIPHER_SPEC + ENCRYPTED_FINISHED)
    flow = conn.the_flow
    assert not flow.app_done and flow.streams is not None  # the client is not encrypted yet
    conn.send(0, CHANGE_CIPHER_SPEC + ENCRYPTED_FINISHED)
    assert flow.app_done
    assert flow.streams is None
    assert conn.send(0, APPLICATION_DATA) == []
    assert conn.send(1, APPLICATION_DATA) == []
    assert flow.streams is None
    wire.end()
    tls = [e for e in wire.events if e.proto == "tls"]
    assert [(e.direction, e.record.get("sni")) for e in tls] == [(0, "example.com"), (1, None)]
    assert not wire.app.anomalies
    assert wire.app.flows_by_proto == Counter({"tls": 1})


def test_tls_flow_with_one_side_encrypted_is_still_reassembled() -> None:
    wire = Wire()
    conn = Conn(wire, 443)
    conn.handshake()
    conn.send(0, client_hello())
    conn.send(1, server_hello() + CHANGE_CIPHER_SPEC)
    assert not conn.the_flow.app_done
    assert conn.the_flow.streams is not None


# -- TCP Fast Open --------------------------------------------------------------------------


def test_tcp_fast_open_data_in_the_syn_is_delivered_at_stream_offset_zero() -> None:
    wire = Wire()
    conn = Conn(wire, 80)
    first = b"GET /tfo HTTP/1.1\r\nHost: a\r\n\r\n"
    got = conn.handshake(syn_data=first)
    assert urls(got) == ["/tfo"]
    got = conn.send(0, b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
    assert urls(got) == ["/next"]
    # the SYN retransmitted with the same data is a retransmission, not a new request
    assert conn.segment(0, first, TCP_SYN, seq=1000) == []
    assert "tcp: gap" not in wire.app.anomalies
    assert "tcp: overlap with different data" not in wire.app.anomalies
    assert wire.app.anomalies["tcp: retransmission"] == 1


# -- decoder subsets ------------------------------------------------------------------------


def _dns_query() -> bytes:
    return b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"


def test_enabled_subset_ignores_other_protocols() -> None:
    wire = Wire(AppLayer(["dns"]))
    conn = Conn(wire, 80)
    conn.handshake()
    for _ in range(PROBE_LIMIT):
        conn.send(0, HTTP_GET)
    assert conn.the_flow.app_proto == "failed"
    _flow, got = wire.frame(ether(ipv4(udp(40000, 53, _dns_query()))))
    assert [(e.proto, e.record["queries"][0]["rrname"]) for e in got] == [("dns", "example.com")]
    wire.end()
    assert urls(wire.events) == []


def test_enabled_subset_without_dns_skips_udp_dns() -> None:
    wire = Wire(AppLayer(["http"]))
    flow, got = wire.frame(ether(ipv4(udp(40000, 53, _dns_query()))))
    assert got == [] and flow.app_proto == ""


def test_unknown_decoder_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown application protocol"):
        AppLayer(["http", "gopher"])


def test_active_only_with_a_decoder_or_a_stream_sink() -> None:
    app = AppLayer([])
    assert not app.active
    app.stream_sink = lambda flow, direction, data: None
    assert app.active
    assert AppLayer(["dns"]).active


def test_a_probe_that_raises_counts_as_no_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decoder's probe bug on hostile bytes must not end the run."""

    def broken(direction: int, data: bytes) -> bool:
        raise IndexError("boom")

    irc = PROTOCOLS["irc"]
    monkeypatch.setitem(PROTOCOLS, "irc", ProtocolSpec(irc.name, irc.ports, broken, irc.parser))
    layer = AppLayer(["irc", "http"])
    by_name = {spec.name: spec for spec in layer.tcp_specs}
    assert layer._probe(by_name["irc"], 0, b"NICK x\r\n") is False
    assert layer._probe(by_name["http"], 0, b"GET / HTTP/1.1\r\n") is True
    assert layer.anomalies["irc: probe error IndexError"] == 1
