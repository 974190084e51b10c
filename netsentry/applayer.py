"""Application-layer dispatch: which decoder a flow gets, and feeding it.

A TCP flow's protocol is chosen by content as well as by port: the decoders
whose port list contains the server port are asked first, then every other
enabled decoder, each looking at the first bytes of a direction (``probe``). So
HTTP on 8080 and IRC on 31337 are found, and a TLS session on port 80 is not
mistaken for HTTP. Only enabled decoders run (DESIGN: pay only for what the
rules and reports ask); a flow no enabled decoder wants is not reassembled.

``PROTOCOLS`` is the registry, a plain dict to read top to bottom.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from netsentry.flows import Flow
from netsentry.model import TCP_ACK, TCP_SYN, Packet
from netsentry.protocols import dns, ftp, http, irc, pop3imap, smtp, ssh, telnet, tls
from netsentry.protocols.base import AppEvent, Limits, StreamParser
from netsentry.streams import Stream

DatagramParser = Callable[[bytes, int, Counter[str], Limits], list[AppEvent]]


@dataclass(frozen=True)
class ProtocolSpec:
    """How to recognize and decode one application protocol."""

    name: str
    ports: frozenset[int]
    probe: Callable[[int, bytes], bool] | None = None
    parser: type[StreamParser] | None = None  # for TCP
    datagram: DatagramParser | None = None  # for UDP


PROTOCOLS: dict[str, ProtocolSpec] = {
    # Probe order matters where banners look alike: TLS and HTTP first (most traffic),
    # the "220 " banner protocols last so their port lists break ties.
    "tls": ProtocolSpec("tls", tls.PORTS, tls.probe, tls.TlsParser),
    "http": ProtocolSpec("http", http.PORTS, http.probe, http.HttpParser),
    "ssh": ProtocolSpec("ssh", ssh.PORTS, ssh.probe, ssh.SshParser),
    "irc": ProtocolSpec("irc", irc.PORTS, irc.probe, irc.IrcParser),
    "dns": ProtocolSpec("dns", dns.PORTS, dns.probe, dns.DnsTcpParser, dns.parse_message),
    "ftp": ProtocolSpec("ftp", ftp.PORTS, ftp.probe, ftp.FtpParser),
    "smtp": ProtocolSpec("smtp", smtp.PORTS, smtp.probe, smtp.SmtpParser),
    "pop3": ProtocolSpec("pop3", pop3imap.POP3_PORTS, pop3imap.pop3_probe, pop3imap.Pop3Parser),
    "imap": ProtocolSpec("imap", pop3imap.IMAP_PORTS, pop3imap.imap_probe, pop3imap.ImapParser),
    "telnet": ProtocolSpec("telnet", telnet.PORTS, telnet.probe, telnet.TelnetParser),
}

ENCRYPTED = frozenset(("tls",))  # protocols whose parser going quiet means ciphertext
DEFAULT_DEPTH = 1024 * 1024  # like Suricata's stream.reassembly.depth
MAX_OOO = 256 * 1024  # out-of-order bytes buffered per direction before skipping a hole
PROBE_LIMIT = 6  # data chunks per flow looked at before giving up on recognizing it
PROBE_BYTES = 4096  # bytes kept while a flow is not yet recognized


class AppLayer:
    """Feeds flows' payloads to the right decoders and collects their events."""

    def __init__(
        self,
        enabled: Iterable[str] | None = None,
        *,
        depth: int = DEFAULT_DEPTH,
        limits: Limits | None = None,
    ) -> None:
        names = list(PROTOCOLS) if enabled is None else list(enabled)
        unknown = [n for n in names if n not in PROTOCOLS]
        if unknown:
            raise ValueError(f"unknown application protocol(s): {', '.join(unknown)}")
        self.enabled = [PROTOCOLS[n] for n in PROTOCOLS if n in names]
        self.tcp_specs = [s for s in self.enabled if s.parser is not None]
        self.udp_ports: dict[int, ProtocolSpec] = {
            port: s for s in self.enabled if s.datagram is not None for port in s.ports
        }
        self.depth = depth
        self.limits = limits or Limits()
        self.anomalies: Counter[str] = Counter()
        self.flows_by_proto: Counter[str] = Counter()
        # Set by the engine when stream rules are loaded: every reassembled chunk of
        # every TCP flow (decoded or not) is handed to it as (flow, direction, data).
        self.stream_sink: Callable[[Flow, int, bytes], None] | None = None

    @property
    def active(self) -> bool:
        """False when there is nothing to do per packet (no decoder, no stream sink)."""
        return bool(self.enabled) or self.stream_sink is not None

    def on_packet(self, flow: Flow, direction: int, pkt: Packet) -> list[AppEvent]:
        """Process one packet of ``flow``; return the events it completed."""
        proto = pkt.proto
        if proto == 6:
            if flow.app_done:
                return []
            if self.stream_sink is None and (not self.tcp_specs or flow.app_proto == "failed"):
                return []
            events = self._tcp(flow, direction, pkt)
        elif proto == 17:
            if not pkt.payload or flow.app_proto == "failed":
                return []
            spec = self.udp_ports.get(flow.spt) or self.udp_ports.get(flow.cport)
            if spec is None or spec.datagram is None:
                return []
            if not flow.app_proto:
                flow.app_proto = spec.name
            # Contained like the TCP decoders (_contain): a datagram decoder bug used to
            # escape here and end the whole run.
            try:
                events = spec.datagram(pkt.payload, direction, self.anomalies, self.limits)
            except Exception as exc:
                self.anomalies[f"{spec.name}: decoder error {type(exc).__name__}"] += 1
                flow.app_proto = "failed"
                return []
        else:
            return []
        for event in events:
            event.ts = pkt.ts
            event.pkt_num = pkt.num
            event.flow = flow
        return events

    def on_flow_end(self, flow: Flow, last_ts: int = 0, last_num: int = 0) -> list[AppEvent]:
        """The flow ended: flush reassembly buffers and close its decoder."""
        events = self._finish(flow)
        for event in events:
            event.ts = last_ts or flow.last_ts
            event.pkt_num = last_num
            event.flow = flow
        # Counted after the flush, which may still recognize the protocol (data that only
        # left the out-of-order buffer now); counted before it, such a flow was "tcp".
        self.flows_by_proto[flow.app_proto or _l4_name(flow.proto)] += 1
        return events

    def _finish(self, flow: Flow) -> list[AppEvent]:
        """Flush what is buffered, close the decoder and drop the flow's app state."""
        events: list[AppEvent] = []
        streams = flow.streams
        if streams is not None:
            for direction in (0, 1):
                events.extend(self._deliver(flow, direction, streams[direction].flush()))
        parser = flow.app
        if isinstance(parser, StreamParser):
            try:
                events.extend(parser.close())
            except Exception as exc:  # a decoder bug must not end the run
                self.anomalies[f"{parser.name}: decoder error {type(exc).__name__}"] += 1
        flow.app = None
        flow.streams = None
        flow.tails = None
        flow.app_done = True
        return events

    # -- TCP ------------------------------------------------------------------------

    def _tcp(self, flow: Flow, direction: int, pkt: Packet) -> list[AppEvent]:
        flags = pkt.tcp_flags
        streams = flow.streams
        if streams is None:
            if not pkt.payload:
                # No data yet: remember a SYN's sequence number instead of building stream
                # state, so a SYN flood (one flow per spoofed SYN) costs no Stream objects.
                if flags & TCP_SYN:
                    flow.isn = flow.isn or (-1, -1)
                    isn = list(flow.isn)
                    isn[direction] = pkt.seq
                    flow.isn = (isn[0], isn[1])
                return []
            streams = flow.streams = [
                Stream(self.anomalies, self.depth, MAX_OOO),
                Stream(self.anomalies, self.depth, MAX_OOO),
            ]
            if flow.isn is not None:
                for side, seq in enumerate(flow.isn):
                    if seq >= 0:
                        streams[side].syn(seq)
        events: list[AppEvent] = []
        if flags & TCP_SYN:
            streams[direction].syn(pkt.seq)
        if flags & TCP_ACK:
            other = streams[1 - direction]
            if other.ooo:
                events.extend(self._deliver(flow, 1 - direction, other.acked(pkt.ack)))
        if pkt.payload:
            # data carried by a SYN (TCP Fast Open) starts after the SYN's sequence number
            seq = (pkt.seq + 1) & 0xFFFFFFFF if flags & TCP_SYN else pkt.seq
            events.extend(self._deliver(flow, direction, streams[direction].add(seq, pkt.payload)))
            parser = flow.app
            if (
                flow.app_proto in ENCRYPTED
                and isinstance(parser, StreamParser)
                and not parser.wants(0)
                and not parser.wants(1)
            ):
                # Both directions are ciphertext now: nothing to decode, and no payload
                # rule can match encrypted bytes. Stop reassembling this flow.
                flow.app_done = True
                flow.streams = None
        if flow.state == "closed" and not flow.app_done:
            # FIN both ways or RST: the conversation is over, so finish its decoding now
            # instead of holding buffers and parsers until the closed flow times out.
            events.extend(self._finish(flow))
        return events

    def _deliver(self, flow: Flow, direction: int, items: list[bytes | int]) -> list[AppEvent]:
        events: list[AppEvent] = []
        sink = self.stream_sink
        for item in items:
            if sink is not None and isinstance(item, bytes):
                sink(flow, direction, item)
            if flow.app_proto == "failed" or not self.tcp_specs:
                continue  # reassembled for stream rules only
            parser = flow.app
            if parser is None or isinstance(parser, list):
                if isinstance(item, int):
                    flow.app = None  # a gap before recognition: start probing afresh
                    continue
                events.extend(self._detect(flow, direction, item))
                continue
            try:
                if isinstance(item, int):
                    parser.gap(direction, item)
                else:
                    events.extend(parser.feed(direction, item))
            except Exception as exc:  # contain decoder bugs: count, stop decoding this flow
                self._contain(flow, parser, exc)
                return events
        return events

    def _contain(self, flow: Flow, parser: StreamParser, exc: Exception) -> None:
        self.anomalies[f"{parser.name}: decoder error {type(exc).__name__}"] += 1
        flow.app = None
        flow.app_proto = "failed"

    def _probe(self, spec: ProtocolSpec, direction: int, data: bytes) -> bool:
        """Ask one decoder whether it recognizes ``data``; a probe bug counts as a no."""
        assert spec.probe is not None
        try:
            return spec.probe(direction, data)
        except Exception as exc:  # contain decoder bugs: hostile bytes must not end the run
            self.anomalies[f"{spec.name}: probe error {type(exc).__name__}"] += 1
            return False

    def _detect(self, flow: Flow, direction: int, data: bytes) -> list[AppEvent]:
        """Recognize the flow's protocol from its first bytes; then replay them to the parser.

        Data seen before recognition is kept (bounded) so that a banner or header split
        over several segments is still recognized, and so the chosen parser sees the
        stream from its start.
        """
        pending: list[tuple[int, bytes]] = flow.app if isinstance(flow.app, list) else []
        pending.append((direction, data))
        first = b"".join(d for k, d in pending if k == direction)[:PROBE_BYTES]
        candidates = [s for s in self.tcp_specs if flow.spt in s.ports]
        candidates += [s for s in self.tcp_specs if s not in candidates]
        for spec in candidates:
            if spec.probe is not None and self._probe(spec, direction, first):
                assert spec.parser is not None
                parser = spec.parser(self.anomalies, self.limits)
                flow.app = parser
                flow.app_proto = spec.name
                events: list[AppEvent] = []
                for k, chunk in pending:
                    try:
                        events.extend(parser.feed(k, chunk))
                    except Exception as exc:  # contain decoder bugs
                        self._contain(flow, parser, exc)
                        break
                return events
        flow.probes += 1
        if flow.probes >= PROBE_LIMIT or sum(len(d) for _k, d in pending) > PROBE_BYTES:
            flow.app = None
            flow.app_proto = "failed"  # nothing enabled recognizes it
            if self.stream_sink is None:
                flow.streams = None  # and nothing else needs the stream: stop reassembling
        else:
            flow.app = pending
        return []


def _l4_name(proto: int) -> str:
    return {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}.get(proto, str(proto))
