"""The TLS stream decoder: record framing, chunking, handshake reassembly, hostile input.

Every TLS byte here is built by the helpers below, so each test shows what the
parser is given. Fingerprint values against the reference implementations are
checked in ``test_fingerprints.py``; here JA3/JA4 come from the pure functions
applied to the same fields, which proves the decoder extracts them faithfully.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits
from netsentry.protocols.fingerprints import ClientHello, ja3, ja4
from netsentry.protocols.tls import (
    HRR_RANDOM,
    PORTS,
    TlsParser,
    parse_client_hello,
    probe,
    version_name,
)
from tests.test_x509 import OID_C, OID_CN, PRINTABLE, build_certificate, der, rdn

# -- builders -----------------------------------------------------------------------------


def u16(n: int) -> bytes:
    return struct.pack("!H", n)


def u24(n: int) -> bytes:
    return n.to_bytes(3, "big")


def record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    """One TLS record."""
    return bytes([ctype]) + u16(version) + u16(len(body)) + body


def handshake(msg_type: int, body: bytes) -> bytes:
    """One handshake message (type, 24-bit length, body)."""
    return bytes([msg_type]) + u24(len(body)) + body


def ext(ext_type: int, data: bytes) -> bytes:
    return u16(ext_type) + u16(len(data)) + data


def ext_sni(name: bytes) -> bytes:
    entry = b"\x00" + u16(len(name)) + name
    return ext(0x0000, u16(len(entry)) + entry)


def ext_alpn(*protos: bytes) -> bytes:
    names = b"".join(bytes([len(p)]) + p for p in protos)
    return ext(0x0010, u16(len(names)) + names)


def ext_u16_list(ext_type: int, values: list[int], len_bytes: int = 2) -> bytes:
    body = b"".join(u16(v) for v in values)
    prefix = u16(len(body)) if len_bytes == 2 else bytes([len(body)])
    return ext(ext_type, prefix + body)


CIPHERS = [0x0A0A, 0x1301, 0xC02B, 0xC02F, 0x00FF]
GROUPS = [0x2A2A, 0x001D, 0x0017]
SIGALGS = [0x0403, 0x0804, 0x0401]


def client_hello(
    sni: bytes | None = b"example.com",
    version: int = 0x0303,
    ciphers: list[int] | None = None,
    versions: list[int] | None = None,
    alpn: tuple[bytes, ...] = (b"h2", b"http/1.1"),
    extra_exts: bytes = b"",
) -> bytes:
    """A ClientHello message (with handshake header)."""
    cs = CIPHERS if ciphers is None else ciphers
    exts = b"".join(
        (
            ext(0x3A3A, b""),  # GREASE extension
            ext_sni(sni) if sni is not None else b"",
            ext_u16_list(0x000A, GROUPS),
            ext(0x000B, b"\x01\x00"),
            ext_u16_list(0x000D, SIGALGS),
            ext_alpn(*alpn) if alpn else b"",
            ext_u16_list(0x002B, versions, 1) if versions is not None else b"",
            extra_exts,
        )
    )
    body = (
        u16(version)
        + b"\x11" * 32
        + b"\x00"
        + u16(2 * len(cs))
        + b"".join(u16(c) for c in cs)
        + b"\x01\x00"
        + u16(len(exts))
        + exts
    )
    return handshake(1, body)


def server_hello(
    version: int = 0x0303,
    cipher: int = 0xC02F,
    selected: int | None = None,
    alpn: bytes | None = None,
    random: bytes = b"\x22" * 32,
) -> bytes:
    """A ServerHello message (with handshake header)."""
    exts = ext(0xFF01, b"\x00") + ext(0x000B, b"\x01\x00")
    if selected is not None:
        exts += ext(0x002B, u16(selected))
    if alpn is not None:
        exts += ext_alpn(alpn)
    body = u16(version) + random + b"\x00" + u16(cipher) + b"\x00" + u16(len(exts)) + exts
    return handshake(2, body)


def certificate(*ders: bytes) -> bytes:
    """A Certificate message carrying the given DER certificates."""
    chain = b"".join(u24(len(d)) + d for d in ders)
    return handshake(11, u24(len(chain)) + chain)


SERVER_CERT = build_certificate(
    serial=b"\x0a\x0b",
    subject=der(0x30, rdn((OID_C, PRINTABLE, b"US")) + rdn((OID_CN, PRINTABLE, b"example.com"))),
)
CCS = record(20, b"\x01")
ENCRYPTED_FINISHED = record(22, bytes(range(40)))  # after CCS: ciphertext in a handshake record
APP_DATA = record(23, b"\x17" * 100)


def tls12_client() -> bytes:
    return (
        record(22, client_hello(), 0x0301)
        + record(22, handshake(16, b"\x00" * 66))
        + CCS
        + (ENCRYPTED_FINISHED + APP_DATA)
    )


def tls12_server() -> bytes:
    flight = server_hello(alpn=b"h2") + certificate(SERVER_CERT) + handshake(14, b"")
    return record(22, flight) + CCS + ENCRYPTED_FINISHED + APP_DATA


def run(
    parts: list[tuple[int, bytes]], limits: Limits | None = None
) -> tuple[list[AppEvent], Counter[str], TlsParser]:
    """Feed (direction, bytes) pieces in order, then close; return events and anomalies."""
    anomalies: Counter[str] = Counter()
    parser = TlsParser(anomalies, limits)
    events: list[AppEvent] = []
    for direction, data in parts:
        events.extend(parser.feed(direction, data))
    events.extend(parser.close())
    return events, anomalies, parser


def records_of(events: list[AppEvent]) -> list[tuple[int, dict[str, object]]]:
    return [(e.direction, e.record) for e in events]


# -- a whole TLS 1.2 handshake ------------------------------------------------------------


def test_tls12_handshake_gives_client_server_and_certificate_records() -> None:
    events, anomalies, parser = run([(TO_SERVER, tls12_client()), (TO_CLIENT, tls12_server())])
    assert not anomalies
    assert [e.direction for e in events] == [TO_SERVER, TO_CLIENT, TO_CLIENT]
    hello, server, cert = events

    expected = parse_client_hello(client_hello()[4:])
    assert hello.record == {
        "sni": "example.com",
        "version": "TLS 1.2",
        "ja3": ja3(expected),
        "ja4": ja4(expected).ja4,
        "client_alpns": ["h2", "http/1.1"],
    }
    assert hello.record["ja3"]["string"] == "771,4865-49195-49199-255,0-10-11-13-16,29-23,0"
    assert hello.record["ja4"].startswith("t12d0405h2_")
    assert hello.extra["hello_index"] == 1
    assert hello.extra["ciphers"] == [0x1301, 0xC02B, 0xC02F, 0x00FF]  # GREASE removed
    assert hello.extra["extensions"] == [0x0000, 0x000A, 0x000B, 0x000D, 0x0010]
    assert hello.extra["sig_algs"] == SIGALGS
    assert hello.extra["supported_versions"] == []

    assert server.record == {
        "version": "TLS 1.2",
        "ja3s": {
            "hash": hashlib.md5(b"771,49199,65281-11-16").hexdigest(),
            "string": "771,49199,65281-11-16",
        },
        "server_alpns": ["h2"],
    }
    assert server.extra["hello_retry_request"] is False

    assert cert.record == {
        "subject": "C=US, CN=example.com",
        "issuerdn": "C=US, O=Test CA",
        "serial": "0A:0B",
        "fingerprint": cert.record["fingerprint"],
        "notbefore": "2019-01-01T00:00:00",
        "notafter": "2049-12-31T23:59:59",
    }
    assert cert.extra["cert_sha1"] == str(cert.record["fingerprint"]).replace(":", "")
    assert cert.extra["chain_der"] == [SERVER_CERT]
    assert (parser.client_hellos, parser.server_hellos, parser.certificates) == (1, 1, 1)


def test_byte_by_byte_feeding_gives_the_same_records() -> None:
    whole, _, _ = run([(TO_SERVER, tls12_client()), (TO_CLIENT, tls12_server())])
    parts = [(TO_SERVER, bytes([b])) for b in tls12_client()]
    parts += [(TO_CLIENT, bytes([b])) for b in tls12_server()]
    split, anomalies, _ = run(parts)
    assert not anomalies
    assert records_of(split) == records_of(whole)


def test_interleaved_arbitrary_chunks_give_the_same_records() -> None:
    whole, _, _ = run([(TO_SERVER, tls12_client()), (TO_CLIENT, tls12_server())])
    client, server = tls12_client(), tls12_server()
    parts: list[tuple[int, bytes]] = []
    for size in (7, 13):
        parts = [(TO_SERVER, client[i : i + size]) for i in range(0, len(client), size)]
        parts += [(TO_CLIENT, server[i : i + size]) for i in range(0, len(server), size)]
        split, anomalies, _ = run(parts)
        assert not anomalies
        assert records_of(split) == records_of(whole)


def test_several_records_in_one_feed_and_one_message_per_record() -> None:
    flight = (
        record(22, server_hello())
        + record(22, certificate(SERVER_CERT))
        + record(22, handshake(14, b""))
    )
    events, anomalies, _ = run([(TO_SERVER, record(22, client_hello())), (TO_CLIENT, flight)])
    assert not anomalies
    assert len(events) == 3


def test_handshake_message_spanning_records() -> None:
    hello = client_hello()
    cut = len(hello) // 3
    data = record(22, hello[:cut]) + record(22, hello[cut : 2 * cut]) + record(22, hello[2 * cut :])
    events, anomalies, _ = run([(TO_SERVER, data)])
    assert not anomalies
    assert events[0].record["sni"] == "example.com"

    # A certificate chain split over records, the header itself cut after 2 bytes.
    msg = certificate(SERVER_CERT, SERVER_CERT)
    flight = record(22, server_hello() + msg[:2]) + record(22, msg[2:200]) + record(22, msg[200:])
    events, anomalies, _ = run([(TO_CLIENT, flight)])
    assert not anomalies
    assert [("subject" in e.record) for e in events] == [False, True]
    assert len(events[1].extra["chain_der"]) == 2


SCHEMA = (
    Path(__file__).resolve().parents[2] / "shared/conformance/eve/suricata-8.0.6/etc/schema.json"
)


def _check(value: object, schema: dict[str, Any], defs: dict[str, Any], where: str) -> None:
    """The subset of JSON Schema the EVE ``tls`` object uses (no jsonschema dependency)."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    kind = schema.get("type")
    python = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}
    if kind is not None:
        assert isinstance(value, python[kind]), f"{where}: not {kind}"
    if "pattern" in schema:
        assert re.search(schema["pattern"], str(value)), f"{where}: pattern"
    if isinstance(value, list):
        assert len(value) >= schema.get("minItems", 0), f"{where}: too few items"
        for i, item in enumerate(value):
            _check(item, schema.get("items", {}), defs, f"{where}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(props), f"{where}: unknown {set(value) - set(props)}"
        for key, item in value.items():
            _check(item, props.get(key, {}), defs, f"{where}.{key}")


@pytest.mark.skipif(not SCHEMA.is_file(), reason=f"Suricata's EVE schema not found at {SCHEMA}")
def test_records_and_handshake_extras_fit_suricatas_eve_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    tls_schema = schema["properties"]["tls"]
    events, _, _ = run([(TO_SERVER, tls12_client()), (TO_CLIENT, tls12_server())])
    # A hello with an empty cipher list: the handshake extra must drop the empty list.
    bare, _, _ = run([(TO_SERVER, record(22, client_hello(ciphers=[], alpn=(), sni=None)))])
    assert "ciphers" not in bare[0].extra["client_handshake"]
    events += bare
    assert len(events) == 4
    for event in events:
        _check(event.record, tls_schema, schema["$defs"], "tls")
        for key in ("client_handshake", "server_handshake"):
            if key in event.extra:
                _check({key: event.extra[key]}, tls_schema, schema["$defs"], "tls")


# -- versions -----------------------------------------------------------------------------


def test_tls13_with_hello_retry_request_and_compat_ccs() -> None:
    ch1 = record(22, client_hello(versions=[0x7A7A, 0x0304, 0x0303]), 0x0301)
    ch2 = CCS + record(22, client_hello(versions=[0x7A7A, 0x0304, 0x0303], sni=b"retry.test"))
    hrr = record(22, server_hello(selected=0x0304, random=HRR_RANDOM, cipher=0x1301)) + CCS
    sh = record(22, server_hello(selected=0x0304, cipher=0x1301)) + record(23, b"\x00" * 50)
    cert_in_clear_would_be_a_bug = record(22, certificate(SERVER_CERT))
    in_order = [(TO_SERVER, ch1), (TO_CLIENT, hrr), (TO_SERVER, ch2), (TO_CLIENT, sh)]
    # The flow layer may also hand one direction over before the other.
    out_of_order = [(TO_SERVER, ch1 + ch2), (TO_CLIENT, hrr + sh + cert_in_clear_would_be_a_bug)]
    for parts in (in_order, out_of_order):
        events, anomalies, parser = run(parts)
        assert not anomalies
        clients = [e for e in events if e.direction == TO_SERVER]
        servers = [e for e in events if e.direction == TO_CLIENT]
        assert [e.extra["hello_index"] for e in clients] == [1, 2]
        assert [e.record.get("sni") for e in clients] == ["example.com", "retry.test"]
        assert clients[0].record["version"] == "TLS 1.3"
        assert clients[0].extra["supported_versions"] == [0x0304, 0x0303]
        assert [e.extra["hello_retry_request"] for e in servers] == [True, False]
        assert [e.record["version"] for e in servers] == ["TLS 1.3", "TLS 1.3"]
        assert parser.tls13 and parser.certificates == 0


def test_tls12_finished_after_ccs_is_not_mistaken_for_a_hello() -> None:
    # The encrypted Finished could start with byte 0x01; only a whole plaintext
    # ClientHello is accepted after ChangeCipherSpec without a TLS 1.3 server.
    fake = record(22, b"\x01" + b"\x9c" * 39)
    events, anomalies, _ = run([(TO_SERVER, record(22, client_hello()) + CCS + fake)])
    assert len(events) == 1 and not anomalies


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (0x0300, "SSLv3"),
        (0x0301, "TLSv1"),
        (0x0302, "TLS 1.1"),
        (0x0303, "TLS 1.2"),
        (0x0304, "TLS 1.3"),
        (0x7F12, "TLS 1.3 draft-18"),
        (0x7F1C, "TLS 1.3 draft-28"),
        (0x7F01, "TLS 1.3 draft-<16"),
        (0xFB1A, "TLS 1.3 draft-26-fb"),
        (0x0000, "UNDETERMINED"),
        (0x1234, "0x1234"),
    ],
)
def test_version_names_follow_suricata(code: int, name: str) -> None:
    assert version_name(code) == name


def test_draft_server_hello_layout_and_version() -> None:
    # TLS 1.3 draft 18: no session id or compression, version 0x7f12 in the hello.
    exts = ext(0x0033, b"\x00" * 4)
    body = u16(0x7F12) + b"\x33" * 32 + u16(0x1301) + u16(len(exts)) + exts
    events, anomalies, _ = run([(TO_CLIENT, record(22, handshake(2, body)))])
    assert not anomalies
    assert events[0].record["version"] == "TLS 1.3 draft-18"
    assert events[0].record["ja3s"]["string"] == "32530,4865,51"


def test_sslv2_client_hello() -> None:
    specs = bytes.fromhex("0700c0" + "000035" + "00002f")
    challenge = b"\x44" * 16
    body = b"\x01" + u16(0x0301) + u16(len(specs)) + u16(0) + u16(len(challenge)) + specs
    body += challenge
    data = bytes([0x80 | (len(body) >> 8), len(body) & 0xFF]) + body
    assert probe(TO_SERVER, data)
    events, anomalies, _ = run([(TO_SERVER, data[:1]), (TO_SERVER, data[1:])])
    assert not anomalies
    assert events[0].record == {"version": "TLSv1"}
    assert events[0].extra["sslv2"] is True
    assert events[0].extra["ciphers"] == [0x0700C0, 0x35, 0x2F]


def test_sslv2_server_hello_and_high_bit_garbage() -> None:
    body = b"\x04" + b"\x00" * 30  # SERVER-HELLO; the rest does not matter to us
    data = bytes([0x80, len(body)]) + body
    events, anomalies, _ = run([(TO_CLIENT, data)])
    assert not anomalies
    assert [e.record for e in events] == [{"version": "SSLv2"}]

    # High bit set but not an SSLv2 hello: rejected at once, not after 32 KiB.
    events, anomalies, _ = run([(TO_SERVER, b"\xff\xfe\x99")])
    assert events == [] and anomalies == Counter({"tls: invalid record header": 1})


# -- hostile input ------------------------------------------------------------------------------


def test_lying_inner_length_is_an_anomaly_not_an_exception() -> None:
    hello = bytearray(client_hello())
    # Cipher suite length (after header 4, version 2, random 32, session id 1).
    hello[39:41] = u16(0xFFF0)
    events, anomalies, _ = run([(TO_SERVER, record(22, bytes(hello)))])
    assert events == []
    assert anomalies == Counter({"tls: malformed client hello": 1})


def test_lying_record_length_and_truncation() -> None:
    data = record(22, client_hello())
    events, anomalies, _ = run([(TO_SERVER, data[:-10])])
    assert events == []
    assert anomalies == Counter({"tls: truncated handshake": 1})

    too_long = b"\x16\x03\x03" + u16(0x4801) + b"\x00" * 100
    events, anomalies, _ = run([(TO_SERVER, too_long)])
    assert events == [] and anomalies == Counter({"tls: record too long": 1})


def test_garbage_on_port_443_stops_the_direction() -> None:
    anomalies: Counter[str] = Counter()
    parser = TlsParser(anomalies)
    assert parser.feed(TO_SERVER, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == []
    assert anomalies == Counter({"tls: invalid record header": 1})
    # Once stopped, later data is ignored without counting again.
    assert parser.feed(TO_SERVER, record(22, client_hello())) == []
    assert anomalies == Counter({"tls: invalid record header": 1})
    # The other direction is independent.
    assert len(parser.feed(TO_CLIENT, record(22, server_hello()))) == 1


def test_unknown_handshake_type_and_bad_extension() -> None:
    events, anomalies, _ = run([(TO_SERVER, record(22, handshake(99, b"abc")))])
    assert events == [] and anomalies == Counter({"tls: unknown handshake type": 1})

    # An extension whose inside lies keeps its type but loses its contents.
    bad_alpn = ext(0x0010, u16(50) + b"\x02h2")
    events, anomalies, _ = run(
        [(TO_SERVER, record(22, client_hello(alpn=(), extra_exts=bad_alpn)))]
    )
    assert anomalies == Counter({"tls: malformed extension": 1})
    assert "client_alpns" not in events[0].record
    assert events[0].record["ja4"][8:10] == "00"  # "a" part ALPN: present but unusable


def test_undecodable_certificate_is_counted() -> None:
    flight = record(22, server_hello() + certificate(b"\x30\x03\x02\x01\x01"))
    events, anomalies, _ = run([(TO_CLIENT, flight)])
    assert len(events) == 1
    assert anomalies == Counter({"tls: undecodable certificate": 1})


def test_gap_stops_only_an_unencrypted_direction() -> None:
    anomalies: Counter[str] = Counter()
    parser = TlsParser(anomalies)
    parser.feed(TO_SERVER, tls12_client())
    parser.gap(TO_SERVER, 100)  # in encrypted data: not a TLS problem
    assert not anomalies
    parser.gap(TO_CLIENT, 100)
    assert anomalies == Counter({"tls: stream gap": 1})
    assert parser.feed(TO_CLIENT, record(22, server_hello())) == []


def test_oversized_handshake_message_is_skipped_with_bounded_memory() -> None:
    limits = Limits(max_pending=4096)
    big = certificate(b"\x00" * 10_000)  # a 10 kB message over a 4 kB limit
    flight = server_hello() + big + handshake(14, b"")
    data = b"".join(record(22, flight[i : i + 1000]) for i in range(0, len(flight), 1000))
    events, anomalies, parser = run([(TO_CLIENT, data)], limits)
    assert len(events) == 1  # the ServerHello; the certificate was dropped
    assert anomalies == Counter({"tls: handshake message over limit": 1})
    assert parser.certificates == 0


def test_ten_megabytes_of_application_data_are_skipped_fast_in_flat_memory() -> None:
    chunk = record(23, b"\xee" * 16384) * 4  # 64 kB of encrypted records
    total = 10 * 1024 * 1024
    anomalies: Counter[str] = Counter()
    parser = TlsParser(anomalies)
    parser.feed(TO_SERVER, tls12_client()[: -len(APP_DATA)])
    parser.feed(TO_CLIENT, tls12_server()[: -len(APP_DATA)])
    tracemalloc.start()
    start = time.perf_counter()
    for _ in range(total // len(chunk)):
        assert parser.feed(TO_SERVER, chunk) == []
        assert parser.feed(TO_CLIENT, chunk) == []
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert not anomalies
    assert elapsed < 1.0, f"{elapsed:.2f}s for 2 x 10 MB"
    assert peak < 64 * 1024, f"peak {peak} bytes"


def test_pending_partial_record_is_bounded() -> None:
    limits = Limits(max_pending=1000)
    # A plausible 16 kB handshake record arriving slowly: more than the limit buffered.
    head = b"\x16\x03\x03" + u16(16000)
    events, anomalies, _ = run(
        [(TO_SERVER, head + b"\x01" * 999), (TO_SERVER, b"\x00" * 10)], limits
    )
    assert events == [] and anomalies == Counter({"tls: pending data over limit": 1})


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([TO_SERVER, TO_CLIENT]), st.binary(max_size=300)), max_size=8
    )
)
def test_fuzz_random_bytes_never_raise(parts: list[tuple[int, bytes]]) -> None:
    anomalies: Counter[str] = Counter()
    parser = TlsParser(anomalies, Limits(max_pending=2048))
    for direction, data in parts:
        parser.feed(direction, data)
    parser.gap(TO_SERVER, 5)
    parser.close()
    assert all(k.startswith("tls: ") for k in anomalies)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.binary(min_size=1, max_size=8),
    st.integers(min_value=1, max_value=64),
    st.booleans(),
)
def test_fuzz_mutated_handshakes_never_raise(
    where: int, noise: bytes, step: int, server: bool
) -> None:
    base = tls12_server() if server else tls12_client()
    where %= len(base)
    data = base[:where] + noise + base[where + len(noise) :]
    direction = TO_CLIENT if server else TO_SERVER
    anomalies: Counter[str] = Counter()
    parser = TlsParser(anomalies)
    for i in range(0, len(data), step):
        for event in parser.feed(direction, data[i : i + step]):
            assert event.proto == "tls"
    parser.close()


@st.composite
def handshake_records(draw: st.DrawFn) -> bytes:
    """Well-framed records whose handshake messages have random (often lying) insides."""
    out = b""
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        ctype = draw(st.sampled_from([20, 21, 22, 22, 22, 24]))
        if ctype == 22:
            msg_type = draw(st.sampled_from([1, 2, 11, 14, 16]))
            body = draw(st.binary(max_size=120))
            claimed = draw(st.one_of(st.just(len(body)), st.integers(0, (1 << 24) - 1)))
            out += record(22, bytes([msg_type]) + u24(claimed) + body)
        else:
            out += record(ctype, draw(st.binary(max_size=20)))
    return out


@settings(max_examples=200, deadline=None)
@given(handshake_records(), handshake_records(), st.integers(min_value=1, max_value=50))
def test_fuzz_framed_records_with_random_messages(client: bytes, server: bytes, step: int) -> None:
    anomalies: Counter[str] = Counter()
    parser = TlsParser(anomalies, Limits(max_pending=4096))
    for i in range(0, max(len(client), len(server)), step):
        parser.feed(TO_SERVER, client[i : i + step])
        parser.feed(TO_CLIENT, server[i : i + step])
    parser.close()
    assert all(k.startswith("tls: ") for k in anomalies)


# -- probe and ports ----------------------------------------------------------------------------


def test_probe_recognizes_tls_starts_only() -> None:
    assert probe(TO_SERVER, record(22, client_hello(), 0x0301))
    assert probe(TO_CLIENT, record(22, server_hello()))
    assert not probe(TO_SERVER, record(22, server_hello()))  # a ServerHello from the client
    assert probe(TO_SERVER, b"\x16\x03\x01")  # too short to judge further
    assert not probe(TO_SERVER, b"\x16\x03")
    assert not probe(TO_SERVER, b"GET / HTTP/1.1\r\n")
    assert not probe(TO_SERVER, b"\x16\x03\x05\x00\x10\x01")  # no such version
    assert not probe(TO_SERVER, b"\x16\x03\x03\x00\x00\x01")  # empty record
    assert not probe(TO_SERVER, b"SSH-2.0-OpenSSH_9.6\r\n")
    assert not probe(TO_SERVER, b"\xd8w\x01\xbb")  # high bit set but too short for SSLv2


def test_ports() -> None:
    expected = frozenset({443, 465, 993, 995, 8443, 636, 989, 990, 992, 994, 5061, 853})
    assert expected == PORTS


def test_client_hello_fields_roundtrip() -> None:
    hello = parse_client_hello(client_hello(versions=[0x0304])[4:])
    assert hello == ClientHello(
        version=0x0303,
        ciphers=tuple(CIPHERS),
        extensions=(0x3A3A, 0x0000, 0x000A, 0x000B, 0x000D, 0x0010, 0x002B),
        supported_groups=tuple(GROUPS),
        ec_point_formats=(0,),
        sig_algs=tuple(SIGALGS),
        supported_versions=(0x0304,),
        alpns=(b"h2", b"http/1.1"),
        sni="example.com",
        session_id=b"",
        has_sni=True,
        has_alpn=True,
    )
