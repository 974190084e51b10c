"""DNS decoder: EVE dns v3 records, hostile names, TCP framing, and Suricata's own expectations.

Messages are built with dpkt's DNS writer (which compresses names) or, for hostile
input, byte by byte. The conformance tests read suricata-verify's ``test.yaml`` files
and check every ``dns.*`` value they list against our record for the same packet.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.capture import open_capture
from netsentry.decode import Decoder
from netsentry.model import Packet
from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits
from netsentry.protocols.dns import PORTS, DnsTcpParser, parse_message, probe

SHARED = Path(__file__).resolve().parents[2] / "shared"
SV_TESTS = SHARED / "conformance" / "suricata-verify" / "tests"
CORPUS = SHARED / "corpus"
SCHEMA = SHARED / "conformance" / "eve" / "suricata-8.0.6" / "etc" / "schema.json"
needs_shared = pytest.mark.skipif(
    not (SHARED / "corpus" / "MANIFEST.tsv").is_file(),
    reason=f"shared corpus not found at {SHARED} (a user's clone has no ../shared)",
)

LIMITS = Limits()


# -- builders ---------------------------------------------------------------------------


def query(name: str = "www.example.com", qtype: int = dpkt.dns.DNS_A, **kw: Any) -> bytes:
    """A recursive query for ``name`` (dpkt sets RD by default: flags 0x0100)."""
    msg = dpkt.dns.DNS(id=kw.pop("id", 0x1234), qd=[dpkt.dns.DNS.Q(name=name, type=qtype)], **kw)
    return bytes(msg)


def response(
    name: str,
    answers: list[dpkt.dns.DNS.RR],
    qtype: int = dpkt.dns.DNS_A,
    rcode: int = 0,
    ns: list[dpkt.dns.DNS.RR] | None = None,
    ar: list[dpkt.dns.DNS.RR] | None = None,
) -> bytes:
    """A response (QR, RD, RA) to a query for ``name`` with the given sections."""
    msg = dpkt.dns.DNS(
        id=0x1234,
        op=0x8180 | rcode,
        qd=[dpkt.dns.DNS.Q(name=name, type=qtype)],
        an=answers,
        ns=ns or [],
        ar=ar or [],
    )
    return bytes(msg)


def rr(name: str, rtype: int, ttl: int = 300, **fields: Any) -> dpkt.dns.DNS.RR:
    """One resource record; ``fields`` are dpkt's per-type attributes (ip, cname, ...)."""
    return dpkt.dns.DNS.RR(name=name, type=rtype, ttl=ttl, **fields)


def header(
    flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0, tid: int = 7
) -> bytes:
    """A raw 12-byte DNS header."""
    return struct.pack("!HHHHHH", tid, flags, qd, an, ns, ar)


def one(payload: bytes, direction: int = TO_SERVER, **limits: int) -> tuple[AppEvent, Counter[str]]:
    """Parse a message that must give exactly one event; return it and the anomalies."""
    anomalies: Counter[str] = Counter()
    events = parse_message(payload, direction, anomalies, Limits(**limits))
    assert len(events) == 1, anomalies
    return events[0], anomalies


def none(payload: bytes, direction: int = TO_SERVER) -> Counter[str]:
    """Parse a message that must give no event; return the anomalies."""
    anomalies: Counter[str] = Counter()
    assert parse_message(payload, direction, anomalies, LIMITS) == []
    return anomalies


# -- the record -----------------------------------------------------------------------


def test_request_record_is_eve_dns_v3() -> None:
    event, anomalies = one(query("www.Example.COM"))
    assert event.proto == "dns"
    assert event.direction == TO_SERVER
    assert event.record == {
        "version": 3,
        "type": "request",
        "id": 0x1234,
        "flags": "100",  # Suricata writes {:x}: no padding, no 0x
        "rd": True,
        "opcode": 0,
        "rcode": "NOERROR",
        "queries": [{"rrname": "www.Example.COM", "rrtype": "A"}],  # case as on the wire
    }
    assert event.extra == {
        "rcode_num": 0,
        "qtype_num": 1,
        "names_malformed": 0,
        "txt_bytes": 0,
        "label_max": 7,
    }
    assert not anomalies


def test_response_with_every_common_rrtype() -> None:
    answers = [
        rr("example.com", dpkt.dns.DNS_CNAME, cname="alias.example.com"),
        rr("alias.example.com", dpkt.dns.DNS_A, ip=bytes([192, 0, 2, 1])),
        rr(
            "alias.example.com", dpkt.dns.DNS_AAAA, ip6=bytes.fromhex("20010db8" + "00" * 11 + "01")
        ),
        rr("example.com", dpkt.dns.DNS_MX, preference=10, mxname="mail.example.com"),
        rr("example.com", dpkt.dns.DNS_TXT, text=[b"v=spf1 -all", b"second"]),
        rr("example.com", dpkt.dns.DNS_NS, nsname="ns1.example.com"),
        rr("1.2.0.192.in-addr.arpa", dpkt.dns.DNS_PTR, ptrname="host.example.com"),
        rr(
            "_sip._udp.example.com",
            dpkt.dns.DNS_SRV,
            priority=1,
            weight=2,
            port=5060,
            srvname="sip.example.com",
        ),
        rr("example.com", dpkt.dns.DNS_NULL, rdata=b"tun\x00nel"),
        rr("example.com", 65, rdata=b"\x00\x01\x00"),  # HTTPS: named, rdata not decoded
        rr("example.com", 65280, rdata=b"x"),  # unassigned: decimal
    ]
    payload = response("example.com", answers, qtype=dpkt.dns.DNS_ANY)
    assert b"\xc0\x0c" in payload  # dpkt compressed the owner names
    event, anomalies = one(payload, TO_CLIENT)
    record = event.record
    assert record["type"] == "response"
    assert record["flags"] == "8180"
    assert (record["qr"], record["rd"], record["ra"]) == (True, True, True)
    assert "aa" not in record and "tc" not in record and "z" not in record
    assert record["queries"] == [{"rrname": "example.com", "rrtype": "ANY"}]
    assert record["answers"] == [
        {"rrname": "example.com", "rrtype": "CNAME", "ttl": 300, "rdata": "alias.example.com"},
        {"rrname": "alias.example.com", "rrtype": "A", "ttl": 300, "rdata": "192.0.2.1"},
        {
            "rrname": "alias.example.com",
            "rrtype": "AAAA",
            "ttl": 300,
            "rdata": "2001:0db8:0000:0000:0000:0000:0000:0001",
        },
        {"rrname": "example.com", "rrtype": "MX", "ttl": 300, "rdata": "mail.example.com"},
        {"rrname": "example.com", "rrtype": "TXT", "ttl": 300, "rdata": "v=spf1 -all"},
        {"rrname": "example.com", "rrtype": "TXT", "ttl": 300, "rdata": "second"},
        {"rrname": "example.com", "rrtype": "NS", "ttl": 300, "rdata": "ns1.example.com"},
        {
            "rrname": "1.2.0.192.in-addr.arpa",
            "rrtype": "PTR",
            "ttl": 300,
            "rdata": "host.example.com",
        },
        {
            "rrname": "_sip._udp.example.com",
            "rrtype": "SRV",
            "ttl": 300,
            "srv": {"priority": 1, "weight": 2, "port": 5060, "name": "sip.example.com"},
        },
        {"rrname": "example.com", "rrtype": "NULL", "ttl": 300, "rdata": "tun\x00nel"},
        {"rrname": "example.com", "rrtype": "HTTPS", "ttl": 300},
        {"rrname": "example.com", "rrtype": "65280", "ttl": 300},
    ]
    assert record["grouped"] == {
        "CNAME": ["alias.example.com"],
        "A": ["192.0.2.1"],
        "AAAA": ["2001:0db8:0000:0000:0000:0000:0000:0001"],
        "MX": ["mail.example.com"],
        "TXT": ["v=spf1 -all", "second"],
        "NS": ["ns1.example.com"],
        "PTR": ["host.example.com"],
        "SRV": [{"priority": 1, "weight": 2, "port": 5060, "name": "sip.example.com"}],
        "NULL": ["tun\x00nel"],
    }
    assert event.extra["txt_bytes"] == len(b"v=spf1 -all") + len(b"second")
    assert event.extra["qtype_num"] == 255
    assert not anomalies
    json.dumps(record)  # JSON-safe


def test_soa_authority_nxdomain() -> None:
    soa = rr(
        "example.com",
        dpkt.dns.DNS_SOA,
        ttl=899,
        mname="ns.example.com",
        rname="hostmaster.example.com",
        serial=1,
        refresh=7200,
        retry=900,
        expire=1209600,
        minimum=86400,
    )
    event, _ = one(response("nope.example.com", [], rcode=3, ns=[soa]), TO_CLIENT)
    assert event.record["rcode"] == "NXDOMAIN"
    assert event.extra["rcode_num"] == 3
    assert "answers" not in event.record and "grouped" not in event.record
    assert event.record["authorities"] == [
        {
            "rrname": "example.com",
            "rrtype": "SOA",
            "ttl": 899,
            "soa": {
                "mname": "ns.example.com",
                "rname": "hostmaster.example.com",
                "serial": 1,
                "refresh": 7200,
                "retry": 900,
                "expire": 1209600,
                "minimum": 86400,
            },
        }
    ]


@pytest.mark.parametrize(
    ("rcode", "name"),
    [
        (0, "NOERROR"),
        (1, "FORMERR"),
        (2, "SERVFAIL"),
        (3, "NXDOMAIN"),
        (4, "NOTIMP"),
        (5, "REFUSED"),
        (9, "NOTAUTH"),
        (11, "11"),
        (15, "15"),
    ],
)
def test_rcode_names(rcode: int, name: str) -> None:
    event, _ = one(response("example.com", [], rcode=rcode), TO_CLIENT)
    assert event.record["rcode"] == name


@pytest.mark.parametrize(
    ("qtype", "name"),
    [
        (1, "A"),
        (28, "AAAA"),
        (5, "CNAME"),
        (15, "MX"),
        (16, "TXT"),
        (2, "NS"),
        (12, "PTR"),
        (6, "SOA"),
        (33, "SRV"),
        (10, "NULL"),
        (255, "ANY"),
        (65, "HTTPS"),
        (99, "SPF"),
        (252, "252"),
        (251, "251"),
        (64, "64"),
        (0, "0"),
    ],
)
def test_rrtype_names_follow_suricata(qtype: int, name: str) -> None:
    """Suricata names these types; AXFR/IXFR and SVCB it writes as numbers."""
    event, _ = one(query("example.com", qtype=qtype))
    assert event.record["queries"][0]["rrtype"] == name
    assert event.extra["qtype_num"] == qtype


def test_header_bits_and_opcode() -> None:
    # NOTIFY (opcode 4), AA, TC and the reserved Z bit set; a request.
    flags = (4 << 11) | 0x0400 | 0x0200 | 0x0040
    payload = header(flags=flags, qd=1) + b"\x07example\x03com\x00\x00\x06\x00\x01"
    event, anomalies = one(payload)
    record = event.record
    assert record["flags"] == f"{flags:x}" == "2640"
    assert (record["aa"], record["tc"], record["z"]) == (True, True, True)
    assert "qr" not in record and "rd" not in record and "ra" not in record
    assert record["opcode"] == 4
    assert anomalies == Counter({"dns: z flag set": 1})


def test_direction_mismatch_is_counted_not_dropped() -> None:
    event, anomalies = one(query(), TO_CLIENT)
    assert event.record["type"] == "request"
    assert anomalies == Counter({"dns: not a response": 1})
    event, anomalies = one(response("example.com", []), TO_SERVER)
    assert event.record["type"] == "response"
    assert anomalies == Counter({"dns: not a request": 1})


def test_non_utf8_names_escaped_like_suricata() -> None:
    payload = header() + b"\x04\xffab\xfe\x03com\x00\x00\x01\x00\x01"
    event, _ = one(payload)
    assert event.record["queries"][0]["rrname"] == "\\xffab\\xfe.com"
    utf8 = "bücher.example".encode()
    payload = header() + bytes([7]) + utf8[:7] + b"\x07example\x00\x00\x01\x00\x01"
    event, _ = one(payload)
    assert event.record["queries"][0]["rrname"] == "bücher.example"


def test_root_name_is_empty() -> None:
    event, _ = one(header() + b"\x00\x00\x02\x00\x01")
    assert event.record["queries"] == [{"rrname": "", "rrtype": "NS"}]


def test_edns_opt_without_options_is_left_out() -> None:
    opt = b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00"  # root, OPT, 4096, no rdata
    payload = header(ar=1) + b"\x07example\x03com\x00\x00\x01\x00\x01" + opt
    event, anomalies = one(payload)
    assert "additionals" not in event.record
    assert not anomalies
    cookie = b"\x00\x0a\x00\x08" + bytes(range(8))
    opt = b"\x00\x00\x29\x10\x00\x00\x00\x00\x00" + struct.pack("!H", len(cookie)) + cookie
    payload = header(ar=1) + b"\x07example\x03com\x00\x00\x01\x00\x01" + opt
    event, _ = one(payload)
    assert event.record["additionals"] == [
        {"rrname": "", "rrtype": "OPT", "ttl": 0, "opt": [{"code": 10, "data": "0001020304050607"}]}
    ]


def test_tunnel_statistics_in_extra() -> None:
    label = "a" * 63
    answers = [rr(f"{label}.t.example", dpkt.dns.DNS_TXT, text=[b"x" * 200, b"y" * 55])]
    event, _ = one(response(f"{label}.t.example", answers, qtype=dpkt.dns.DNS_TXT), TO_CLIENT)
    assert event.extra["label_max"] == 63
    assert event.extra["txt_bytes"] == 255
    assert event.extra["qtype_num"] == 16


# -- hostile names and messages -------------------------------------------------------

QUESTION = b"\x07example\x03com\x00\x00\x01\x00\x01"  # at offset 12; "com" label at 20


def answer_with_name(name: bytes) -> bytes:
    """A response whose single answer has the owner ``name`` (raw wire bytes), type A."""
    return (
        header(flags=0x8180, an=1)
        + QUESTION
        + name
        + b"\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01"
    )


def test_pointer_to_itself() -> None:
    offset = 12 + len(QUESTION)
    event, anomalies = one(answer_with_name(struct.pack("!H", 0xC000 | offset)), TO_CLIENT)
    assert anomalies == Counter({"dns: compression loop": 1})
    assert event.extra["names_malformed"] == 1
    # The name's end is known (after the pointer): the rest of the record still decodes.
    assert event.record["answers"] == [
        {"rrname": "", "rrtype": "A", "ttl": 60, "rdata": "10.0.0.1"}
    ]


def test_compression_loop_between_two_names() -> None:
    # Answer 1 owner at offset 29 = label "x" + pointer to 31 (its own pointer... via 2 hops):
    # 29: 01 'x' c0 1f  -> 31: c0 1d -> back to 29: a loop through two pointers.
    start = 12 + len(QUESTION)
    name = b"\x01x" + struct.pack("!H", 0xC000 | (start + 4)) + struct.pack("!H", 0xC000 | start)
    payload = answer_with_name(name)
    anomalies: Counter[str] = Counter()
    events = parse_message(payload, TO_CLIENT, anomalies, LIMITS)
    assert anomalies["dns: forward pointer"] + anomalies["dns: compression loop"] >= 1
    assert all(isinstance(e.record, dict) for e in events)


def test_backward_loop_is_caught() -> None:
    # 29: 01 'y' c0 1d : the pointer goes back to the start of its own name.
    start = 12 + len(QUESTION)
    event, anomalies = one(
        answer_with_name(b"\x01y" + struct.pack("!H", 0xC000 | start)), TO_CLIENT
    )
    assert anomalies == Counter({"dns: compression loop": 1})
    assert event.record["answers"][0]["rrname"] == "y"


def test_forward_pointer() -> None:
    start = 12 + len(QUESTION)
    event, anomalies = one(answer_with_name(struct.pack("!H", 0xC000 | (start + 6))), TO_CLIENT)
    assert anomalies == Counter({"dns: forward pointer": 1})
    assert event.extra["names_malformed"] == 1


def test_pointer_out_of_range() -> None:
    event, anomalies = one(answer_with_name(b"\xff\xff"), TO_CLIENT)
    assert anomalies == Counter({"dns: bad pointer": 1})
    assert event.record["answers"][0]["rdata"] == "10.0.0.1"


def test_long_pointer_chain_is_bounded() -> None:
    # Answer 1 (NULL) carries 200 pointers in its rdata, each to the one before it (all
    # backwards, the first to the root question name at 12). Answer 2's owner points at
    # the last one: following the chain stops at the 129th hop.
    question = b"\x00\x00\x01\x00\x01"  # root name at offset 12
    rdata_at = 12 + len(question) + 1 + 10  # after answer 1's root owner and fixed fields
    chain = b"".join(
        struct.pack("!H", 0xC000 | (rdata_at + 2 * (i - 1) if i else 12)) for i in range(200)
    )
    answer1 = b"\x00\x00\x0a\x00\x01\x00\x00\x00\x01" + struct.pack("!H", len(chain)) + chain
    last = rdata_at + 2 * 199
    answer2 = struct.pack("!H", 0xC000 | last) + b"\x00\x01\x00\x01\x00\x00\x00\x01\x00\x04"
    payload = header(flags=0x8180, an=2) + question + answer1 + answer2 + b"\x01\x02\x03\x04"
    event, anomalies = one(payload, TO_CLIENT)
    assert anomalies == Counter({"dns: compression loop": 1})
    assert event.record["answers"][1] == {"rrname": "", "rrtype": "A", "ttl": 1, "rdata": "1.2.3.4"}


@pytest.mark.parametrize("label_type", [0x40, 0x80])
def test_bad_label_types_break_the_question(label_type: int) -> None:
    # A "64-byte label" has length byte 0x40: it is label type 01, not a length.
    payload = header() + bytes([label_type]) + b"a" * 64 + b"\x00\x00\x01\x00\x01"
    anomalies = none(payload)
    assert anomalies == Counter({"dns: bad label": 1, "dns: malformed message": 1})


def test_name_longer_than_255_bytes() -> None:
    name = b"".join(b"\x3f" + b"n" * 63 for _ in range(5)) + b"\x00"  # 321 bytes
    event, anomalies = one(header() + name + b"\x00\x01\x00\x01")
    assert anomalies == Counter({"dns: name too long": 1})
    assert event.record["queries"][0]["rrname"] == ".".join(["n" * 63] * 5)
    assert event.extra["names_malformed"] == 1
    assert event.extra["label_max"] == 63


def test_truncated_answers_keep_what_was_read() -> None:
    answers = [rr("example.com", dpkt.dns.DNS_A, ip=bytes([10, 0, 0, n])) for n in range(3)]
    payload = response("example.com", answers)
    for cut in range(len(payload) - 1, len(payload) - 40, -1):
        anomalies: Counter[str] = Counter()
        events = parse_message(payload[:cut], TO_CLIENT, anomalies, LIMITS)
        assert len(events) == 1
        assert anomalies["dns: truncated record"] == 1
        assert len(events[0].record.get("answers", [])) < 3


def test_broken_header_or_question_gives_no_event() -> None:
    assert none(b"\x00" * 11) == Counter({"dns: malformed message": 1})
    assert none(header(qd=2) + QUESTION)["dns: malformed message"] == 1  # 2nd question missing
    assert none(header() + QUESTION[:-1])["dns: malformed message"] == 1  # qclass cut


def test_records_per_section_are_bounded() -> None:
    answers = [
        rr("example.com", dpkt.dns.DNS_A, ip=bytes([10, 0, n // 256, n % 256])) for n in range(2000)
    ]
    event, anomalies = one(response("example.com", answers), TO_CLIENT, max_records=10)
    assert len(event.record["answers"]) == 10
    assert len(event.record["grouped"]["A"]) == 10
    assert anomalies == Counter({"dns: too many records": 1})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    for direction in (TO_SERVER, TO_CLIENT):
        events = parse_message(data, direction, Counter(), LIMITS)
        assert len(events) <= 1
        for event in events:
            json.dumps(event.record)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_messages_never_raise(data: st.DataObject) -> None:
    soa = rr(
        "example.com",
        dpkt.dns.DNS_SOA,
        mname="ns.example.com",
        rname="h.example.com",
        serial=1,
        refresh=2,
        retry=3,
        expire=4,
        minimum=5,
    )
    base = bytearray(
        response(
            "www.example.com",
            [
                rr("www.example.com", dpkt.dns.DNS_CNAME, cname="web.example.com"),
                rr("web.example.com", dpkt.dns.DNS_MX, preference=5, mxname="mx.example.com"),
                rr("web.example.com", dpkt.dns.DNS_TXT, text=[b"hello", b"world"]),
            ],
            ns=[soa],
        )
    )
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(base) - 1))
        base[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(base)))
    events = parse_message(bytes(base[:cut]), TO_CLIENT, Counter(), LIMITS)
    for event in events:
        json.dumps(event.record)


# -- DNS over TCP ---------------------------------------------------------------------


def framed(*messages: bytes) -> bytes:
    """Messages with their 2-byte TCP length prefixes."""
    return b"".join(struct.pack("!H", len(m)) + m for m in messages)


def feed_all(
    chunks: list[bytes], direction: int = TO_SERVER
) -> tuple[list[AppEvent], Counter[str]]:
    """Feed ``chunks`` in order to a fresh parser; return its events and anomalies."""
    anomalies: Counter[str] = Counter()
    parser = DnsTcpParser(anomalies)
    events: list[AppEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(direction, chunk))
    events.extend(parser.close())
    return events, anomalies


def test_tcp_split_at_every_byte() -> None:
    stream = framed(query("a.example"), query("b.example", qtype=28), query("c.example"))
    whole, _ = feed_all([stream])
    assert [e.record["queries"][0]["rrname"] for e in whole] == [
        "a.example",
        "b.example",
        "c.example",
    ]
    for cut in range(1, len(stream)):
        events, anomalies = feed_all([stream[:cut], stream[cut:]])
        assert [e.record for e in events] == [e.record for e in whole], cut
        assert not anomalies
    events, _ = feed_all([stream[i : i + 1] for i in range(len(stream))])
    assert [e.record for e in events] == [e.record for e in whole]


def test_tcp_both_directions_are_independent() -> None:
    anomalies: Counter[str] = Counter()
    parser = DnsTcpParser(anomalies)
    request = framed(query("example.com"))
    reply = framed(response("example.com", [rr("example.com", 1, ip=b"\x01\x02\x03\x04")]))
    assert parser.feed(TO_SERVER, request[:5]) == []
    assert parser.feed(TO_CLIENT, reply[:9]) == []
    assert [e.record["type"] for e in parser.feed(TO_SERVER, request[5:])] == ["request"]
    got = parser.feed(TO_CLIENT, reply[9:])
    assert got[0].record["answers"][0]["rdata"] == "1.2.3.4"
    assert got[0].direction == TO_CLIENT
    assert not anomalies


def test_tcp_axfr_with_many_records_is_bounded() -> None:
    records = [
        rr(f"h{n}.example.com", dpkt.dns.DNS_A, ip=bytes([10, 1, n // 256, n % 256]))
        for n in range(3000)
    ]
    message = response("example.com", records, qtype=252)
    assert len(message) < 65536
    anomalies: Counter[str] = Counter()
    parser = DnsTcpParser(anomalies, Limits(max_records=100))
    stream = framed(message)
    events = [
        e for i in range(0, len(stream), 1460) for e in parser.feed(TO_CLIENT, stream[i : i + 1460])
    ]
    assert len(events) == 1
    assert events[0].record["queries"] == [{"rrname": "example.com", "rrtype": "252"}]
    assert len(events[0].record["answers"]) == 100
    assert anomalies == Counter({"dns: too many records": 1})


def test_tcp_empty_message_gap_and_garbage() -> None:
    events, anomalies = feed_all([b"\x00\x00" + framed(query())])
    assert len(events) == 1 and anomalies == Counter({"dns: empty message": 1})

    anomalies = Counter()
    parser = DnsTcpParser(anomalies)
    stream = framed(query("one.example"), query("two.example"))
    parser.feed(TO_SERVER, stream[:10])
    parser.gap(TO_SERVER, 100)
    # Resynchronizes when the data after the gap starts a message...
    assert [e.record["queries"][0]["rrname"] for e in parser.feed(TO_SERVER, stream)] == [
        "one.example",
        "two.example",
    ]
    parser.gap(TO_SERVER, 5)
    # ...and gives the direction up when it does not.
    assert parser.feed(TO_SERVER, b"\x05\x00" + b"garbage" * 4) == []
    assert parser.feed(TO_SERVER, stream) == []
    assert anomalies == Counter({"dns: stream gap": 2, "dns: stream lost after gap": 1})

    events, anomalies = feed_all([framed(*[b"\xff" * 11] * 20)])
    assert events == []
    assert anomalies == Counter({"dns: malformed message": 8, "dns: not dns over tcp": 1})

    events, anomalies = feed_all([framed(query())[:-3]])
    assert events == [] and anomalies == Counter({"dns: truncated message": 1})


def test_probe() -> None:
    request = framed(query("example.com"))
    reply = framed(response("example.com", [rr("example.com", 1, ip=b"\x01\x02\x03\x04")]))
    assert probe(TO_SERVER, request)
    assert probe(TO_SERVER, request[:20])  # a question cut short is still plausible
    assert probe(TO_CLIENT, reply)
    assert not probe(TO_CLIENT, request)  # a query does not travel to the client
    assert not probe(TO_SERVER, reply)
    assert not probe(TO_SERVER, request[:13])
    assert not probe(TO_SERVER, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert not probe(TO_CLIENT, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert not probe(TO_SERVER, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40)
    assert not probe(TO_SERVER, b"SSH-2.0-OpenSSH_9.6\r\n")
    assert not probe(TO_SERVER, framed(header(qd=1) + b"\x7f" + b"a" * 20))  # bad label
    assert 53 in PORTS and 5353 in PORTS and 5355 in PORTS


# -- real captures and Suricata's expectations ----------------------------------------


def read_packets(path: Path) -> Iterator[Packet]:
    """Every decoded packet of a capture, in file order."""
    decoder = Decoder()
    with open_capture(path) as reader:
        for num, (ts, linktype, data, wirelen) in enumerate(reader.frames(), 1):
            yield decoder.decode(num, ts, linktype, data, wirelen)


def dns_records(path: Path) -> list[tuple[int, AppEvent]]:
    """(pcap_cnt, event) for every DNS message of a capture, strictly (anomalies allowed).

    UDP payloads to or from a DNS port are parsed one by one. TCP streams to or from
    a DNS port are reassembled naively: per direction, segments ordered by sequence
    number, duplicates dropped, fed in that order to one DnsTcpParser per flow.
    """
    out: list[tuple[int, AppEvent]] = []
    anomalies: Counter[str] = Counter()
    tcp: dict[tuple[bytes, int, bytes, int], dict[int, tuple[int, bytes]]] = {}
    for pkt in read_packets(path):
        if pkt.proto == 17 and pkt.payload and (pkt.sport in PORTS or pkt.dport in PORTS):
            direction = TO_SERVER if pkt.dport in PORTS else TO_CLIENT
            out.extend(
                (pkt.num, e) for e in parse_message(pkt.payload, direction, anomalies, LIMITS)
            )
        elif pkt.proto == 6 and pkt.payload and (pkt.sport in PORTS or pkt.dport in PORTS):
            segments = tcp.setdefault((pkt.src, pkt.sport, pkt.dst, pkt.dport), {})
            segments.setdefault(pkt.seq, (pkt.num, pkt.payload))
    parsers: dict[frozenset[tuple[bytes, int]], DnsTcpParser] = {}
    for (src, sport, dst, dport), segments in tcp.items():
        parser = parsers.setdefault(
            frozenset({(src, sport), (dst, dport)}), DnsTcpParser(anomalies)
        )
        direction = TO_SERVER if dport in PORTS else TO_CLIENT
        for seq in sorted(segments):
            num, data = segments[seq]
            out.extend((num, e) for e in parser.feed(direction, data))
    out.sort(key=lambda item: item[0])
    return out


def flatten(value: Any, path: str = "dns") -> dict[str, Any]:
    """Dotted/indexed keys the way suricata-verify's test.yaml writes them."""
    flat: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            flat.update(flatten(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{path}[{index}]"))
    else:
        flat[path] = value
    return flat


# Keys a parser cannot know: Suricata's per-flow transaction counter (set by the flow layer).
FLOW_LEVEL = {"dns.tx_id"}


def check_test_yaml(test_yaml: Path, records: list[tuple[int, AppEvent]]) -> int:
    """Assert every dns.* value of every filter of a suricata-verify test; return checks made.

    A ``dns`` event filter must match exactly ``count`` of our records; an ``alert``
    filter (whether it fires depends on the rule) must match at least one record. A
    filter with no dns.* key and ``event_type: dns`` gives the number of dns events.
    """
    checks = yaml.safe_load(test_yaml.read_text())["checks"]
    flat = [flatten(event.record) for _num, event in records]
    done = 0
    for check in checks:
        match = check["filter"]["match"]
        wanted = {k: v for k, v in match.items() if k.startswith("dns.") and k not in FLOW_LEVEL}
        kind = match.get("event_type")
        if kind == "dns" and not wanted and set(match) == {"event_type"}:
            assert len(records) == check["filter"]["count"]
            done += 1
            continue
        if not wanted:
            continue
        hits = [f for f in flat if all(f.get(k) == v for k, v in wanted.items())]
        if kind == "dns":
            assert len(hits) == check["filter"]["count"], (wanted, flat)
        else:
            assert hits, (wanted, flat)
        done += len(wanted)
    return done


@needs_shared
def test_suricata_dns_udp_eve_dig() -> None:
    """suricata-verify dns/dns-udp-eve-dig: request and CNAME + 2 x A response."""
    records = dns_records(SV_TESTS / "cond-log-dns-dig" / "input.pcap")
    assert [num for num, _ in records] == [1, 2]
    assert check_test_yaml(SV_TESTS / "dns" / "dns-udp-eve-dig" / "test.yaml", records) == 30
    assert records[0][1].direction == TO_SERVER and records[1][1].direction == TO_CLIENT


@needs_shared
def test_suricata_dns_over_tcp_keywords() -> None:
    """suricata-verify dns/task-7018-ids-dns-keywords: three queries and answers over TCP."""
    test_dir = SV_TESTS / "dns" / "task-7018-ids-dns-keywords"
    records = dns_records(test_dir / "input.pcap")
    assert [e.record["type"] for _, e in records] == ["request", "response"] * 3
    assert check_test_yaml(test_dir / "test.yaml", records) == 105


@needs_shared
def test_suricata_nxdomain_soa_authority() -> None:
    """suricata-verify dns-eve-v2-udp-nxdomain-soa (authority SOA object, same in v3)."""
    name = "sv__dns-eve-v2-udp-nxdomain-soa__dns-udp-nxdomain-soa"
    records = dns_records(CORPUS / "dns" / f"{name}.pcap")
    assert check_test_yaml(CORPUS / "expected" / "dns" / name / "test.yaml", records) == 11


@needs_shared
def test_datasets_match_subdomain_query_names() -> None:
    records = dns_records(CORPUS / "dns" / "sv__datasets-match-subdomain.pcap")
    names = {q["rrname"] for _, e in records for q in e.record.get("queries", [])}
    assert names == {"mail.evil.com", "sub.mail.evil.com", "example.com"}


def corpus_dns_files() -> list[Path]:
    """The DNS captures of the corpus plus the two damaged-DNS decoder-edge files."""
    if not (CORPUS / "dns").is_dir():
        return []
    files = sorted((CORPUS / "dns").glob("*.pcap*"))
    edge = CORPUS / "decoder-edge"
    return [*files, edge / "tcpdump__dns-badlabel.pcap", edge / "ndpi__malformed_dns.pcap"]


@needs_shared
@pytest.mark.parametrize("path", corpus_dns_files(), ids=lambda p: p.name)
def test_corpus_dns_parses_and_fits_the_schema(path: Path) -> None:
    """Every DNS message of the corpus decodes without raising, into schema-valid records."""
    schema = json.loads(SCHEMA.read_text())
    records = dns_records(path)
    for num, event in records:
        errors = schema_errors(event.record, schema["properties"]["dns"], schema)
        assert not errors, (num, errors)
    if path.name != "tcpdump__dns-badlabel.pcap":  # its only message is beyond repair
        assert records


def schema_errors(
    value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "dns"
) -> list[str]:
    """The subset of JSON-Schema validation Suricata's dns schema needs (no jsonschema here).

    Follows ``$ref``, checks ``type``, ``required``, ``additionalProperties: false``,
    ``properties``, ``items`` and ``minItems``.
    """
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        schema = root["$defs"][ref]
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool}
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{where}: not an integer"]
    elif kind in types and not isinstance(value, types[kind]):
        return [f"{where}: not {kind}"]
    errors: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [f"{where}: missing {k}" for k in schema.get("required", []) if k not in value]
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], root, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unknown key {key}")
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for index, item in enumerate(value):
                errors += schema_errors(item, schema["items"], root, f"{where}[{index}]")
    return errors
