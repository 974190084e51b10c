"""JA3, JA3S and JA4 against the reference values of ``../shared/conformance``.

Every TCP entry of ``ja4/ja4_expected.json`` and ``ja3/ja3_expected.json`` is
checked: the hellos are pulled out of the named capture with the netsentry
reader and decoder, a naive per-direction TCP reassembly (in sequence order,
duplicates dropped, bytes fed in capture order as they become contiguous), and
:class:`netsentry.protocols.tls.TlsParser`. Entries are matched by
(pcap, src_ip, src_port, dest_ip, dest_port, hello index in the flow).

The suricata-verify TLS cases of the conformance README §2/§3 are checked too,
on a per-flow record built the way Suricata logs one ``tls`` event per flow
(first ClientHello, then the ServerHellos and certificate, later keys win).

The shared folder is absent from a user's clone: then these tests are skipped.
Pure-function tests at the end need no capture.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from netsentry.capture import open_capture
from netsentry.decode import Decoder
from netsentry.model import TCP_ACK, TCP_SYN, ip_text
from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent
from netsentry.protocols.fingerprints import (
    ClientHello,
    ServerHello,
    is_grease,
    ja3,
    ja3_string,
    ja3s,
    ja4,
    ja4_alpn,
)
from netsentry.protocols.tls import TlsParser, probe

SHARED = Path(__file__).resolve().parents[2] / "shared"
CONFORMANCE = SHARED / "conformance"
HAVE_CONFORMANCE = (CONFORMANCE / "ja4" / "ja4_expected.json").is_file()
needs_conformance = pytest.mark.skipif(
    not HAVE_CONFORMANCE,
    reason=f"conformance data not found at {CONFORMANCE} (a user's clone has no ../shared)",
)
SV = "suricata-verify/tests"

# Captures where TLS does not start at the first byte of the TCP stream. The
# FoxIO tools find the hellos anyway; netsentry's flow layer would need a SOCKS
# decoder to hand the stream over, so this harness starts the TLS parser at the
# first byte probe() accepts in each direction instead.
TLS_AFTER_PREFIX: dict[str, str] = {
    "ja4/foxio-ja4/pcap/socks-https-example.pcap": "TLS inside a SOCKS tunnel on port 1080",
}

# The one known difference between Suricata and FoxIO (conformance README §2):
# netsentry follows FoxIO, so where a suricata-verify filter asserts Suricata's
# value, netsentry's value (same flow, same other fields) is expected instead.
# (test, key, Suricata's value) -> (netsentry's value, reason)
EXPECTED_DIFFERENCES: dict[tuple[str, str, str], tuple[str, str]] = {
    ("bug-5713-02-ja4", "tls.ja4", "t10i070600_c50f5591e341_ce66f3b797c1"): (
        "t10i070600_c50f5591e341_c39ab67fec8e",
        "Suricata hashes '<exts>_' when the hello has no signature algorithms "
        "(its bug 5713); FoxIO's spec and reference code hash '<exts>' alone, "
        "as netsentry does",
    ),
}


# -- a naive TCP reassembly, enough for handshakes ----------------------------------


Endpoint = tuple[str, int]


@dataclass
class _Direction:
    """One direction of a TCP connection during the naive reassembly."""

    next_seq: int | None = None
    pending: dict[int, bytes] = field(default_factory=dict)  # out-of-order segments by seq
    skipping: bool = False  # still looking for the first TLS byte (TLS_AFTER_PREFIX)
    prefix: bytes = b""


@dataclass
class TlsFlow:
    """A TCP connection of a capture with the TLS events netsentry decoded from it."""

    client: Endpoint
    server: Endpoint
    parser: TlsParser
    anomalies: Counter[str]
    events: list[AppEvent] = field(default_factory=list)
    dirs: tuple[_Direction, _Direction] = field(
        default_factory=lambda: (_Direction(), _Direction())
    )

    def hellos(self, direction: int) -> list[AppEvent]:
        """ClientHello (TO_SERVER) or ServerHello (TO_CLIENT) events, in stream order."""
        return [e for e in self.events if e.direction == direction and "hello_index" in e.extra]

    def suricata_record(self) -> dict[str, Any]:
        """The flow's ``tls`` object as Suricata would log it once per flow.

        Suricata keeps the first ClientHello's fields (SNI, JA3, JA4) and the
        server's latest view (version, JA3S of the first ServerHello, certificate).
        """
        record: dict[str, Any] = {}
        clients = self.hellos(TO_SERVER)
        if clients:
            record.update(clients[0].record)
        for event in self.events:
            if event.direction == TO_CLIENT:
                update = dict(event.record)
                if "ja3s" in record:
                    update.pop("ja3s", None)
                record.update(update)
        return record


def _feed_tcp(flow: TlsFlow, direction: int, seq: int, payload: bytes, skip_prefix: bool) -> None:
    """Add one segment to a direction and feed every byte that became contiguous."""
    d = flow.dirs[direction]
    if d.next_seq is None:
        d.next_seq = seq
        d.skipping = skip_prefix
    d.pending.setdefault(seq, payload)
    while True:
        # Find a stored segment covering next_seq (retransmissions may overlap).
        chunk = b""
        for start in list(d.pending):
            off = (d.next_seq - start) & 0xFFFFFFFF
            data = d.pending[start]
            if off < len(data):
                chunk = data[off:]
                del d.pending[start]
                break
            if off < 0x80000000:  # entirely old: a duplicate
                del d.pending[start]
        if not chunk:
            return
        d.next_seq = (d.next_seq + len(chunk)) & 0xFFFFFFFF
        if d.skipping:
            d.prefix += chunk
            for i in range(len(d.prefix)):
                if probe(direction, d.prefix[i:]):
                    chunk = d.prefix[i:]
                    d.skipping = False
                    break
            else:
                continue
        flow.events.extend(flow.parser.feed(direction, chunk))


@cache
def tls_flows(pcap: str) -> tuple[TlsFlow, ...]:
    """Decode every TCP connection of a conformance capture with TlsParser.

    The client is the SYN sender; without a SYN, the sender of the first payload
    that probe() accepts as a ClientHello (else the first payload's receiver).
    Each direction's bytes start after its SYN when one was captured, else at the
    first data segment seen.
    """
    path = CONFORMANCE / pcap
    flows: dict[frozenset[Endpoint], TlsFlow] = {}
    not_tls: set[frozenset[Endpoint]] = set()
    syn_from: dict[frozenset[Endpoint], Endpoint] = {}
    first_seq: dict[Endpoint, int] = {}  # sender -> sequence number of its first data byte
    decoder = Decoder()
    reader = open_capture(path)
    skip_prefix = pcap in TLS_AFTER_PREFIX
    for num, (ts, linktype, data, wirelen) in enumerate(reader.frames(), 1):
        pkt = decoder.decode(num, ts, linktype, data, wirelen)
        if pkt.family == 0 or pkt.proto != 6:
            continue
        src = (ip_text(pkt.src), pkt.sport)
        dst = (ip_text(pkt.dst), pkt.dport)
        key = frozenset((src, dst))
        if key in not_tls:
            continue
        if pkt.tcp_flags & TCP_SYN:
            first_seq[src] = (pkt.seq + 1) & 0xFFFFFFFF  # a SYN consumes one number
            if not pkt.tcp_flags & TCP_ACK:
                syn_from[key] = src
        flow = flows.get(key)
        if flow is None:
            if not pkt.payload:
                continue
            # Only connections that start like TLS are handed to the parser (the
            # flow layer's job in netsentry), except in the listed SOCKS capture.
            if not skip_prefix and not (
                probe(TO_SERVER, pkt.payload) or probe(TO_CLIENT, pkt.payload)
            ):
                not_tls.add(key)
                continue
            client = syn_from.get(key)
            if client is None:
                client = src if skip_prefix or probe(TO_SERVER, pkt.payload) else dst
            server = dst if client == src else src
            counter: Counter[str] = Counter()
            flow = flows[key] = TlsFlow(client, server, TlsParser(counter), counter)
            for direction, sender in ((TO_SERVER, client), (TO_CLIENT, server)):
                if sender in first_seq:  # else: the first data segment seen sets it
                    flow.dirs[direction].next_seq = first_seq[sender]
                    flow.dirs[direction].skipping = skip_prefix
        direction = TO_SERVER if src == flow.client else TO_CLIENT
        if pkt.payload:
            _feed_tcp(flow, direction, pkt.seq, pkt.payload, skip_prefix)
    for flow in flows.values():
        flow.events.extend(flow.parser.close())
    return tuple(flows.values())


def _ep(ip: str, port: int) -> Endpoint:
    """An endpoint with its address spelled as netsentry spells it (IPv6 expanded)."""
    return (ipaddress.ip_address(ip).exploded, port)


def find_flow(pcap: str, src: Endpoint, dst: Endpoint) -> TlsFlow | None:
    """The connection of ``pcap`` with these endpoints (either order), if any."""
    src, dst = _ep(*src), _ep(*dst)
    for flow in tls_flows(pcap):
        if {flow.client, flow.server} == {src, dst}:
            return flow
    return None


def _load(name: str) -> dict[str, Any]:
    with open(CONFORMANCE / name, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _entries(name: str, key: str) -> list[dict[str, Any]]:
    if not HAVE_CONFORMANCE:
        return []
    return [e for e in _load(name)[key] if e.get("transport", "tcp") == "tcp"]


def _entry_id(e: dict[str, Any]) -> str:
    short = e["pcap"].split("/")[-1] if "suricata-verify" not in e["pcap"] else e["pcap"]
    return f"{short}:{e['src_port']}->{e['dest_port']}#{e.get('hello_index_in_flow', '')}"


JA4_TCP = _entries("ja4/ja4_expected.json", "entries")
JA3_CLIENTS = _entries("ja3/ja3_expected.json", "clients")
JA3_SERVERS = _entries("ja3/ja3_expected.json", "servers")


def _client_hello_event(e: dict[str, Any]) -> AppEvent:
    src = (e["src_ip"], e["src_port"])
    dst = (e["dest_ip"], e["dest_port"])
    flow = find_flow(e["pcap"], src, dst)
    assert flow is not None, "flow not found in the capture"
    assert flow.client == _ep(*src), "the ClientHello sender is not the flow's client"
    hellos = flow.hellos(TO_SERVER)
    index = int(e["hello_index_in_flow"])
    assert len(hellos) >= index, f"only {len(hellos)} ClientHello(s); anomalies {flow.anomalies}"
    event = hellos[index - 1]
    assert event.extra["hello_index"] == index
    return event


# -- JA4 --------------------------------------------------------------------------------


@needs_conformance
@pytest.mark.parametrize("entry", JA4_TCP, ids=_entry_id)
def test_ja4_matches_reference(entry: dict[str, Any]) -> None:
    event = _client_hello_event(entry)
    assert event.record["ja4"] == entry["ja4"]
    assert event.record.get("sni") == entry["sni"]
    for form in ("ja4_r", "ja4_o", "ja4_ro"):
        if entry.get(form) is not None:
            assert event.extra[form] == entry[form], form


@needs_conformance
def test_ja4_entries_are_all_there() -> None:
    # Guards against a silently shrinking parametrization: 94 first hellos and
    # 7 second hellos over TCP in the consolidated file.
    assert Counter(e["hello_index_in_flow"] for e in JA4_TCP) == {1: 94, 2: 7}


# -- JA3 / JA3S ---------------------------------------------------------------------------


@needs_conformance
@pytest.mark.parametrize("entry", JA3_CLIENTS, ids=_entry_id)
def test_ja3_matches_reference(entry: dict[str, Any]) -> None:
    event = _client_hello_event(entry)
    assert event.record["ja3"] == {"hash": entry["ja3_hash"], "string": entry["ja3_string"]}


def _server_index(entry: dict[str, Any]) -> int:
    # The servers list has no hello index: number the ServerHellos of a flow by frame.
    same = [
        e
        for e in JA3_SERVERS
        if e["pcap"] == entry["pcap"]
        and (e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"])
        == (entry["src_ip"], entry["src_port"], entry["dest_ip"], entry["dest_port"])
    ]
    return sorted(e["frame"] for e in same).index(entry["frame"]) + 1


@needs_conformance
@pytest.mark.parametrize("entry", JA3_SERVERS, ids=_entry_id)
def test_ja3s_matches_reference(entry: dict[str, Any]) -> None:
    server = (entry["src_ip"], entry["src_port"])
    client = (entry["dest_ip"], entry["dest_port"])
    flow = find_flow(entry["pcap"], client, server)
    assert flow is not None and flow.server == _ep(*server)
    hellos = flow.hellos(TO_CLIENT)
    index = _server_index(entry)
    assert len(hellos) >= index, f"only {len(hellos)} ServerHello(s); anomalies {flow.anomalies}"
    assert hellos[index - 1].record["ja3s"] == {
        "hash": entry["ja3s_hash"],
        "string": entry["ja3s_string"],
    }


@needs_conformance
def test_ja3_entries_are_all_there() -> None:
    # 96 TCP ClientHellos seen by both references + 5 tshark-only second hellos.
    assert len(JA3_CLIENTS) == 101
    assert len(JA3_SERVERS) == 26


@needs_conformance
def test_no_anomalies_on_reference_captures() -> None:
    pcaps = sorted({e["pcap"] for e in JA4_TCP + JA3_CLIENTS + JA3_SERVERS})
    for pcap in pcaps:
        for flow in tls_flows(pcap):
            # Retransmitted or truncated trailing data would be fine; these
            # captures are clean, so nothing may be counted.
            assert not flow.anomalies, (pcap, flow.client, dict(flow.anomalies))


# -- suricata-verify cases (conformance README §2/§3) ------------------------------------------


def _sv_pcap(test: str) -> str:
    """The capture a suricata-verify test runs on (its ``pcap:`` key or its own pcap)."""
    base = CONFORMANCE / SV / test
    with open(base / "test.yaml", encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)
    if "pcap" in spec:
        # normpath, not resolve(): ../shared may itself be a symbolic link
        target = Path(os.path.normpath(base / spec["pcap"]))
    else:
        found = sorted(p for p in base.iterdir() if p.suffix in (".pcap", ".pcapng"))
        target = found[0]
    return str(target.relative_to(CONFORMANCE))


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else k))
    elif isinstance(obj, list):
        out[prefix] = obj
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = obj
    return out


def _sv_tls_checks(test: str) -> Iterator[tuple[dict[str, Any], int]]:
    """(match, count) of every filter of the test on ``event_type: tls`` and tls.* keys."""
    with open(CONFORMANCE / SV / test / "test.yaml", encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)
    for check in spec.get("checks", []):
        flt = check.get("filter")
        if not flt or flt.get("match", {}).get("event_type") != "tls":
            continue
        match = {k: v for k, v in flt["match"].items() if k != "event_type"}
        yield match, int(flt["count"])


SV_TLS_TESTS = [
    "tls/tls13-draft14",
    "tls/tls13-draft18",
    "tls/tls13-draft19",
    "tls/tls13-draft22",
    "tls/tls13-draft23",
    "tls/tls13-draft28",
    "tls-duplicate-hello",
    "tls/tls-ja3s",
    "ja4-tls",
    "ja4-tls-quic",
    "tls-alpn-client-log-01",
    "bug-5713-02-ja4",
    "ja4-cl-handshake",
    "ja4-sv-handshake",
]


def _suricata_view(flow: TlsFlow) -> dict[str, Any]:
    """The per-flow record plus the handshake objects Suricata logs when configured to."""
    record = flow.suricata_record()
    clients = flow.hellos(TO_SERVER)
    servers = flow.hellos(TO_CLIENT)
    if clients and "client_handshake" in clients[0].extra:
        record["client_handshake"] = clients[0].extra["client_handshake"]
    if servers and "server_handshake" in servers[-1].extra:
        record["server_handshake"] = servers[-1].extra["server_handshake"]
    return record


@needs_conformance
@pytest.mark.parametrize("test", SV_TLS_TESTS)
def test_suricata_verify_tls_events(test: str) -> None:
    pcap = _sv_pcap(test)
    records = [_flatten({"tls": _suricata_view(f)}) for f in tls_flows(pcap) if f.events]
    checked = 0
    for match, count in _sv_tls_checks(test):
        wanted = dict(match)
        # quic.* filters need a QUIC decoder, which netsentry does not have.
        if any(not k.startswith("tls.") for k in wanted):
            continue
        for key, value in list(wanted.items()):
            expected = EXPECTED_DIFFERENCES.get((test, key, str(value)))
            if expected is not None:
                wanted[key] = expected[0]  # the FoxIO value, see EXPECTED_DIFFERENCES
        got = sum(all(r.get(k) == v for k, v in wanted.items()) for r in records)
        assert got == count, (wanted, records)
        checked += 1
    assert checked, "no tls filter checked"


# -- pure functions ---------------------------------------------------------------------


def test_grease_values() -> None:
    grease = [v for v in range(0x10000) if is_grease(v)]
    assert grease == [0x0A0A + 0x1010 * i for i in range(16)]


def test_ja3_removes_grease_and_keeps_empty_fields() -> None:
    hello = ClientHello(
        version=0x0303,
        ciphers=(0x1A1A, 0x1301, 0x00FF),
        extensions=(0x2A2A, 0x0000, 0x0010),
        supported_groups=(0x3A3A, 0x001D),
    )
    assert ja3_string(hello) == "771,4865-255,0-16,29,"
    assert ja3(hello) == {
        "hash": hashlib.md5(b"771,4865-255,0-16,29,").hexdigest(),
        "string": "771,4865-255,0-16,29,",
    }


def test_ja3s_string() -> None:
    hello = ServerHello(version=0x0303, cipher=0xC02F, extensions=(0xFF01, 0x0000, 0x000B))
    assert ja3s(hello)["string"] == "771,49199,65281-0-11"


def test_ja4_alpn_rules() -> None:
    assert ja4_alpn((b"h2", b"http/1.1")) == "h2"
    assert ja4_alpn((b"http/1.1",)) == "h1"
    assert ja4_alpn((b"h",)) == "hh"
    assert ja4_alpn(()) == "00"
    assert ja4_alpn((b"",)) == "00"
    assert ja4_alpn((b"\x99\x99",)) == "99"
    assert ja4_alpn((b"\xab\x32",)) == "92"


def test_ja4_without_lists() -> None:
    hello = ClientHello(version=0x0301)
    fp = ja4(hello)
    assert fp.ja4 == "t10i000000_000000000000_000000000000"
    assert fp.ja4_r == "t10i000000__"
