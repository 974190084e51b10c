"""netsentry.decode: every link type, network and transport layer, tunnels, damage, fuzz."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netsentry.decode import LINKTYPE_NAMES, MAX_DEPTH, Decoder
from netsentry.model import TCP_ACK, TCP_SYN, Packet
from tests.factories import (
    MAC_A,
    MAC_B,
    arp_request,
    brcm_tagged,
    chdlc,
    ether,
    ether_tagged,
    gre,
    icmp_echo,
    ip4,
    ip6,
    ipnet_header,
    ipoib_header,
    ipv4,
    ipv4_fragment,
    ipv4_raw,
    ipv6,
    ipv6_ext,
    ipv6_frag_header,
    llc_frame,
    mpls,
    nflog,
    null_header,
    pktap_header,
    pppoe_session,
    radiotap_wlan_data,
    sctp_raw,
    sll2_header,
    sll_header,
    tcp,
    tcp_raw,
    udp,
    udp_raw,
    vxlan,
    wlan_data,
)

IN4 = ipv4(tcp(sport=1234, dport=80, payload=b"hello"))
IN6 = ipv6(tcp(sport=1234, dport=80, payload=b"hello"))
V4 = (4, ip4("10.0.0.1"), ip4("10.0.0.2"), 6, 1234, 80, b"hello")
V6 = (6, ip6("2001:db8::1"), ip6("2001:db8::2"), 6, 1234, 80, b"hello")

INNER = ipv4(udp(sport=1111, dport=2222, payload=b"inner"), src="192.168.1.1", dst="192.168.1.2")
INNER_V = (4, ip4("192.168.1.1"), ip4("192.168.1.2"), 17, 1111, 2222, b"inner")


def decode(linktype: int, frame: bytes, num: int = 1) -> tuple[Packet, Decoder]:
    decoder = Decoder()
    return decoder.decode(num, 123, linktype, frame, len(frame) + 4), decoder


def fields(pkt: Packet) -> tuple[int, bytes, bytes, int, int, int, bytes]:
    return (pkt.family, pkt.src, pkt.dst, pkt.proto, pkt.sport, pkt.dport, pkt.payload)


# -- link layers -------------------------------------------------------------------

LINK_CASES: list[tuple[str, int, bytes, tuple[int, bytes, bytes, int, int, int, bytes]]] = [
    ("ethernet", 1, ether(IN4), V4),
    ("ethernet ipv6", 1, ether(IN6, 0x86DD), V6),
    ("mpls one label", 1, ether(mpls(IN4, [100]), 0x8847), V4),
    ("mpls two labels", 1, ether(mpls(IN6, [100, 200]), 0x8847), V6),
    ("mpls multicast", 1, ether(mpls(IN4, [7]), 0x8848), V4),
    ("pppoe session ipv4", 1, ether(pppoe_session(IN4), 0x8864), V4),
    ("pppoe session ipv6", 1, ether(pppoe_session(IN6, 0x0057), 0x8864), V6),
    ("null little-endian ipv4", 0, null_header(2) + IN4, V4),
    ("null big-endian ipv4", 0, null_header(2, big_endian=True) + IN4, V4),
    ("null little-endian ipv6 (macOS 30)", 0, null_header(30) + IN6, V6),
    ("null big-endian ipv6 (FreeBSD 28)", 0, null_header(28, big_endian=True) + IN6, V6),
    ("null ipv6 (OpenBSD 24)", 0, null_header(24) + IN6, V6),
    ("null ipv6 (Linux 10)", 0, null_header(10) + IN6, V6),
    ("null unknown family: by version", 0, null_header(99) + IN6, V6),
    ("loop ipv4", 108, null_header(2, big_endian=True) + IN4, V4),
    ("loop ipv6", 108, null_header(24, big_endian=True) + IN6, V6),
    ("linux sll", 113, sll_header(0x0800) + IN4, V4),
    ("linux sll with vlan", 113, sll_header(0x8100) + b"\x00\x05\x86\xdd" + IN6, V6),
    ("linux sll2", 276, sll2_header(0x86DD) + IN6, V6),
    ("raw 101 ipv4", 101, IN4, V4),
    ("raw 101 ipv6", 101, IN6, V6),
    ("raw 12", 12, IN4, V4),
    ("raw 14", 14, IN6, V6),
    ("ipv4 228", 228, IN4, V4),
    ("ipv6 229", 229, IN6, V6),
    ("ppp with ff03", 9, b"\xff\x03\x00\x21" + IN4, V4),
    ("ppp without ff03", 9, b"\x00\x21" + IN4, V4),
    ("ppp protocol field compression", 9, b"\x21" + IN4, V4),
    ("ppp ff03 and compressed ipv6", 9, b"\xff\x03\x57" + IN6, V6),
    ("ppp_hdlc 50", 50, b"\xff\x03\x00\x57" + IN6, V6),
    ("ppp mpls", 9, b"\x02\x81" + mpls(IN4, [16]), V4),
    ("c_hdlc ipv4", 104, chdlc(IN4), V4),
    ("c_hdlc ipv6", 104, chdlc(IN6, 0x86DD), V6),
    ("radiotap 802.11 data snap", 127, radiotap_wlan_data(IN4), V4),
    ("radiotap 802.11 qos data", 127, radiotap_wlan_data(IN6, 0x86DD, qos=True), V6),
    ("802.11 without radiotap", 105, wlan_data(IN4), V4),
    ("nflog ipv4", 239, nflog(IN4), V4),
    ("nflog ipv6", 239, nflog(IN6, family=10), V6),
    ("nflog unspecified family", 239, nflog(IN6, family=0), V6),
    ("ipnet ipv4", 226, ipnet_header(2) + IN4, V4),
    ("ipnet ipv6", 226, ipnet_header(26) + IN6, V6),
    ("ipoib", 242, ipoib_header() + IN4, V4),
    ("ipoib ipv6", 242, ipoib_header(0x86DD) + IN6, V6),
    ("pktap wrapping ethernet", 258, pktap_header(1) + ether(IN4), V4),
    ("pktap wrapping raw", 258, pktap_header(12, 60) + IN6, V6),
    ("dsa brcm tag", 281, brcm_tagged(IN4), V4),
    ("dsa brcm prepend", 282, b"\x20\x00\x00\x01" + ether(IN6, 0x86DD), V6),
]


@pytest.mark.parametrize(
    ("linktype", "frame", "expected"),
    [case[1:] for case in LINK_CASES],
    ids=[case[0] for case in LINK_CASES],
)
def test_link_types(
    linktype: int, frame: bytes, expected: tuple[int, bytes, bytes, int, int, int, bytes]
) -> None:
    pkt, decoder = decode(linktype, frame, num=7)
    assert fields(pkt) == expected
    assert (pkt.num, pkt.ts, pkt.caplen, pkt.wirelen) == (7, 123, len(frame), len(frame) + 4)
    assert pkt.error == ""
    assert pkt.label == ""
    assert pkt.tunnels == ()
    assert decoder.skipped == {}


@pytest.mark.parametrize(
    ("frame", "vlans"),
    [
        (ether(IN4, vlans=[100]), (100,)),
        (ether_tagged(IN4, [(0x8100, 0xE000 | 100)]), (100,)),  # priority bits dropped
        (ether_tagged(IN4, [(0x88A8, 10), (0x8100, 20)]), (10, 20)),  # 802.1ad QinQ
        (ether_tagged(IN4, [(0x88A8, 10), (0x8100, 20), (0x8100, 30)]), (10, 20, 30)),
        (ether_tagged(IN4, [(0x9100, 4094), (0x9200, 1)]), (4094, 1)),
    ],
    ids=["802.1q", "802.1q priority", "qinq", "triple", "9100/9200"],
)
def test_vlan_tags(frame: bytes, vlans: tuple[int, ...]) -> None:
    pkt, decoder = decode(1, frame)
    assert pkt.vlans == vlans
    assert fields(pkt) == V4
    assert decoder.skipped == {}


def test_vlan_inside_pppoe_free_ethernet_with_ipv6() -> None:
    pkt, _ = decode(1, ether_tagged(pppoe_session(IN6, 0x0057), [(0x8100, 7)], 0x8864))
    assert pkt.vlans == (7,)
    assert fields(pkt) == V6


@pytest.mark.parametrize(
    ("linktype", "frame", "label"),
    [
        (1, ether(arp_request(), 0x0806), "ARP"),
        (1, ether(arp_request(), 0x8035), "RARP"),
        (1, llc_frame(), "LLC"),
        (1, ether(b"\x00" * 30, 0x88CC), "LLDP"),
        (1, ether(b"\x00" * 30, 0x88B5), "ethertype 0x88b5"),
        (1, ether_tagged(arp_request(), [(0x8100, 3)], 0x0806), "ARP"),
        (1, ether(mpls(b"\x10" * 20, [5]), 0x8847), "MPLS"),
        (113, sll_header(0x0004) + b"\x42\x42\x03" + b"\x00" * 20, "LLC"),
        (276, sll2_header(0x0806) + arp_request(), "ARP"),
        (9, b"\xff\x03\xc0\x21" + b"\x01\x01\x00\x04", "PPP control"),
        (104, chdlc(b"\x00" * 20, 0x8035), "SLARP"),
        (
            127,
            b"\x00\x00\x08\x00\x00\x00\x00\x00" + b"\x80\x00" + b"\x00" * 30,
            "802.11 management/control",
        ),
        (105, bytes([0x48, 0x01]) + b"\x00" * 30, "802.11 null data"),
        (105, bytes([0x08, 0x41]) + b"\x00" * 40, "802.11 encrypted"),
        (
            105,
            bytes([0x08, 0x01]) + b"\x00" * 22 + b"\xe0\xe0\x03" + b"\x00" * 10,
            "802.11 non-SNAP",
        ),
        (
            239,
            b"\x02\x00\x00\x00" + struct.pack("<HH", 8, 1) + b"\x08\x00\x03\x00",
            "NFLOG without payload",
        ),
    ],
    ids=[
        "arp",
        "rarp",
        "llc",
        "lldp",
        "unknown ethertype",
        "arp in vlan",
        "mpls non-ip",
        "sll llc",
        "sll2 arp",
        "ppp lcp",
        "c_hdlc slarp",
        "802.11 beacon",
        "802.11 null",
        "802.11 protected",
        "802.11 non-snap",
        "nflog no payload",
    ],
)
def test_non_ip_frames_are_labelled_not_skipped(linktype: int, frame: bytes, label: str) -> None:
    pkt, decoder = decode(linktype, frame)
    assert (pkt.family, pkt.label, pkt.error) == (0, label, "")
    assert pkt.proto_name == label
    assert decoder.skipped == {}


@pytest.mark.parametrize(
    ("linktype", "reason"),
    [(231, "unsupported link type 231 (DBUS)"), (147, "unsupported link type 147 (unknown)")],
)
def test_unsupported_link_type_is_counted(linktype: int, reason: str) -> None:
    decoder = Decoder()
    for num in (1, 2):
        pkt = decoder.decode(num, 0, linktype, b"\x00" * 40, 40)
        assert (pkt.num, pkt.family, pkt.label) == (num, 0, "unsupported link type")
    assert decoder.skipped == {reason: 2}


# -- network layer -----------------------------------------------------------------


def test_ipv4_with_options() -> None:
    options = b"\x94\x04\x00\x00" + b"\x01\x01\x01\x00"  # router alert, NOPs, end
    frame = ether(ipv4_raw(tcp_raw(22, 2222, b"ssh"), proto=6, options=options))
    pkt, decoder = decode(1, frame)
    assert fields(pkt) == (4, ip4("10.0.0.1"), ip4("10.0.0.2"), 6, 22, 2222, b"ssh")
    assert decoder.skipped == {}


def test_ipv6_extension_header_chain() -> None:
    chain = (
        ipv6_ext(43, b"\x05\x02\x00\x00")  # hop-by-hop: router alert
        + ipv6_ext(60, b"\x00\x00" + b"\x00" * 20)  # routing (type 0, 0 segments left)
        + ipv6_ext(6)  # destination options
        + tcp_raw(5000, 443, b"tls")
    )
    pkt, decoder = decode(1, ether(ipv6(chain, nxt=0), 0x86DD))
    assert fields(pkt) == (6, ip6("2001:db8::1"), ip6("2001:db8::2"), 6, 5000, 443, b"tls")
    assert decoder.skipped == {}


def test_ipv6_atomic_fragment_is_not_reassembled() -> None:
    body = ipv6_frag_header(17, 0, more=False) + udp_raw(53, 53, b"q")
    pkt, decoder = decode(229, ipv6(body, nxt=44))
    assert fields(pkt) == (6, ip6("2001:db8::1"), ip6("2001:db8::2"), 17, 53, 53, b"q")
    assert pkt.fragment is False
    assert decoder.defrag.counters == {}


def test_ipv4_total_length_zero_trusts_the_capture() -> None:
    # TCP segmentation offload writes 0 in the total length field
    pkt, _ = decode(101, ipv4_raw(tcp_raw(1, 2, b"tso payload"), proto=6, total=0))
    assert (pkt.sport, pkt.dport, pkt.payload) == (1, 2, b"tso payload")


def test_ipv4_cut_by_snaplen_decodes_what_is_there() -> None:
    full = ipv4_raw(tcp_raw(1, 2, b"0123456789"), proto=6)
    pkt, decoder = decode(101, full[:-4])
    assert pkt.payload == b"012345"
    assert decoder.skipped == {}


def test_ethernet_padding_is_not_ipv4_payload() -> None:
    pkt, _ = decode(1, ether(ipv4_raw(b"abc", proto=253)) + b"\x00" * 20)
    assert (pkt.proto, pkt.proto_name, pkt.payload) == (253, "253", b"abc")


# -- transport layer ---------------------------------------------------------------


def test_tcp_fields() -> None:
    seg = tcp_raw(
        443,
        51000,
        b"data",
        seq=0xDEADBEEF,
        ack=0x01020304,
        flags=0x100 | TCP_SYN | TCP_ACK,  # NS bit too
        doff=8,
        options=b"\x01" * 12,
    )
    pkt, _ = decode(1, ether(ipv4_raw(seg, proto=6)))
    assert (pkt.sport, pkt.dport, pkt.seq, pkt.ack) == (443, 51000, 0xDEADBEEF, 0x01020304)
    assert pkt.tcp_flags == 0x112
    assert pkt.payload == b"data"
    assert pkt.proto_name == "TCP"


def test_udp_payload_trimmed_to_udp_length_and_padding_dropped() -> None:
    pkt, _ = decode(1, ether(ipv4(udp(5353, 53, b"abc"))) + b"\x00" * 17)
    assert (pkt.proto, pkt.sport, pkt.dport, pkt.payload) == (17, 5353, 53, b"abc")
    # the UDP length field is shorter than the IP payload: trust the UDP length
    pkt, _ = decode(101, ipv4_raw(udp_raw(53, 5353, b"abcdef", ulen=11)))
    assert pkt.payload == b"abc"
    # a UDP length beyond the packet (snaplen cut) keeps what was captured
    pkt, _ = decode(101, ipv4_raw(udp_raw(53, 5353, b"abcdef", ulen=500)))
    assert pkt.payload == b"abcdef"


def test_icmp_and_icmpv6_type_and_code() -> None:
    pkt, _ = decode(1, ether(ipv4(icmp_echo(b"ping"))))
    assert (pkt.proto_name, pkt.icmp_type, pkt.icmp_code, pkt.payload) == ("ICMP", 8, 0, b"ping")
    echo6 = bytes([128, 0, 0, 0, 0, 1, 0, 1]) + b"pong"
    pkt, _ = decode(229, ipv6(echo6, nxt=58))
    assert (pkt.proto_name, pkt.icmp_type, pkt.icmp_code, pkt.payload) == (
        "IPv6-ICMP",
        128,
        0,
        b"pong",
    )
    unreach = bytes([3, 13, 0, 0, 0, 0, 0, 0]) + IN4[:28]
    pkt, _ = decode(101, ipv4_raw(unreach, proto=1))
    assert (pkt.icmp_type, pkt.icmp_code, pkt.sport, pkt.dport) == (3, 13, 0, 0)


def test_sctp_ports() -> None:
    pkt, _ = decode(101, ipv4_raw(sctp_raw(3868, 2905, b"chunk"), proto=132))
    assert (pkt.proto_name, pkt.sport, pkt.dport, pkt.payload) == ("SCTP", 3868, 2905, b"chunk")


def test_other_ip_protocols_keep_their_payload() -> None:
    pkt, decoder = decode(101, ipv4_raw(b"ospf hello", proto=89))
    assert (pkt.proto_name, pkt.sport, pkt.payload) == ("OSPF", 0, b"ospf hello")
    assert decoder.skipped == {}


def test_bad_checksums_do_not_drop_or_flag_the_packet() -> None:
    frame = ether(ipv4_raw(tcp_raw(1234, 80, b"hello"), proto=6, checksum=0xBAD))
    pkt, decoder = decode(1, frame)  # TCP checksum is 0 as well: also wrong
    assert fields(pkt) == V4
    assert (pkt.error, pkt.label) == ("", "")
    assert decoder.skipped == {}


# -- tunnels -----------------------------------------------------------------------

TUNNEL_CASES: list[tuple[str, int, bytes, tuple[str, ...]]] = [
    ("gre", 1, ether(ipv4_raw(gre(INNER), proto=47)), ("GRE",)),
    ("gre key+seq", 1, ether(ipv4_raw(gre(INNER, key=7, seq=9), proto=47)), ("GRE",)),
    (
        "gre checksum+key+seq",
        1,
        ether(ipv4_raw(gre(INNER, key=7, seq=9, checksum=True), proto=47)),
        ("GRE",),
    ),
    ("gre transparent ethernet", 1, ether(ipv4_raw(gre(ether(INNER), 0x6558), proto=47)), ("GRE",)),
    (
        "gre in gre",
        1,
        ether(
            ipv4_raw(
                gre(ipv4_raw(gre(INNER), "172.16.0.1", "172.16.0.2", proto=47)),
                proto=47,
            )
        ),
        ("GRE", "GRE"),
    ),
    ("gre over ipv6", 229, ipv6(gre(INNER), nxt=47), ("GRE",)),
    ("gre mpls", 101, ipv4_raw(gre(mpls(INNER, [30]), 0x8847), proto=47), ("GRE",)),
    (
        "vxlan",
        1,
        ether(ipv4_raw(udp_raw(54321, 4789, vxlan(ether(INNER))), proto=17)),
        ("VXLAN",),
    ),
    ("ip in ip", 1, ether(ipv4_raw(INNER, proto=4)), ("IPIP",)),
    (
        "vxlan in gre",
        101,
        ipv4_raw(gre(ipv4_raw(udp_raw(1, 4789, vxlan(ether(INNER))))), proto=47),
        ("GRE", "VXLAN"),
    ),
    ("mpls pseudowire", 1, ether(mpls(b"\x00\x00\x00\x00" + ether(INNER), [99]), 0x8847), ()),
]


@pytest.mark.parametrize(
    ("linktype", "frame", "tunnels"),
    [case[1:] for case in TUNNEL_CASES],
    ids=[case[0] for case in TUNNEL_CASES],
)
def test_tunnels_decode_the_inner_packet(
    linktype: int, frame: bytes, tunnels: tuple[str, ...]
) -> None:
    pkt, decoder = decode(linktype, frame)
    assert fields(pkt) == INNER_V
    assert pkt.tunnels == tunnels
    assert decoder.skipped == {}


def test_6in4_and_ipv6_in_ipv6() -> None:
    pkt, _ = decode(1, ether(ipv4_raw(IN6, proto=41)))
    assert fields(pkt) == V6
    assert pkt.tunnels == ("6in4",)
    pkt, _ = decode(229, ipv6(IN6, src="2001:db8:ffff::1", nxt=41))
    assert fields(pkt) == V6
    assert pkt.tunnels == ("IPv6-in-IPv6",)


def test_gre_with_unknown_payload_type_keeps_the_outer_packet() -> None:
    pkt, decoder = decode(101, ipv4_raw(gre(b"keepalive", 0x0000), proto=47))
    assert (pkt.family, pkt.proto_name, pkt.tunnels) == (4, "GRE", ())
    assert pkt.payload == b"keepalive"
    assert decoder.skipped == {}


def test_gre_unknown_version_is_counted() -> None:
    pkt, decoder = decode(101, ipv4_raw(b"\x00\x03\x08\x00" + INNER, proto=47))
    assert (pkt.family, pkt.src, pkt.error) == (4, ip4("10.0.0.1"), "gre: unknown version 3")
    assert decoder.skipped == {"gre: unknown version 3": 1}


def test_tunnel_nesting_is_bounded() -> None:
    levels = [INNER]
    for _ in range(20):
        levels.append(ipv4_raw(levels[-1], proto=4))
    pkt, decoder = decode(101, levels[-1])
    assert pkt.tunnels == ("IPIP",) * MAX_DEPTH
    # the decoder stops peeling at MAX_DEPTH and keeps the rest as the payload
    assert (pkt.family, pkt.proto) == (4, 4)
    assert pkt.payload == levels[-2 - MAX_DEPTH]
    assert decoder.skipped == {}


def test_deep_mixed_nesting_never_recurses_without_bound() -> None:
    inner = INNER
    for i in range(300):
        kind = i % 3
        if kind == 0:
            inner = ipv4_raw(gre(ether(inner), 0x6558), proto=47)
        elif kind == 1:
            inner = ipv4_raw(udp_raw(1, 4789, vxlan(ether(inner))))
        else:
            inner = ipv4_raw(gre(mpls(b"\x00\x00\x00\x00" + ether(inner), [1]), 0x8847), proto=47)
    pkt, _ = decode(101, inner)  # would raise RecursionError without the depth bound
    assert 0 < len(pkt.tunnels) <= MAX_DEPTH


def test_stacked_vlan_and_mpls_limits() -> None:
    tags = [(0x8100, i) for i in range(100)]
    pkt, decoder = decode(1, ether_tagged(IN4, tags))
    assert (pkt.label, pkt.error) == ("malformed", "vlan: too many stacked tags")
    assert len(pkt.vlans) == MAX_DEPTH
    labels = b"\x00\x01\x00\x40" * 40  # never the bottom of the stack
    pkt, decoder = decode(1, ether(labels + IN4, 0x8847))
    assert decoder.skipped == {"mpls: label stack too deep": 1}


# -- damage ------------------------------------------------------------------------

MALFORMED: list[tuple[str, int, bytes, str, int]] = [
    # (id, linktype, frame, reason, family of the resulting packet)
    ("short ethernet", 1, b"\x00" * 10, "ethernet: frame shorter than its 14-byte header", 0),
    ("truncated ipv4", 1, ether(b"\x45" + b"\x00" * 10), "ipv4: truncated header", 0),
    ("ipv4 options cut", 101, ipv4_raw(b"x" * 10, ihl=15), "ipv4: truncated header", 0),
    (
        "ihl below 5",
        1,
        ether(ipv4_raw(b"\x00" * 20, ihl=4)),
        "ipv4: header length below 20 bytes",
        0,
    ),
    ("ipv4 wrong version", 1, ether(IN6), "ipv4: version field is not 4", 0),
    ("ipv4 total < ihl", 101, ipv4_raw(b"", total=12), "ipv4: total length shorter than header", 4),
    ("truncated ipv6", 229, IN6[:30], "ipv6: truncated header", 0),
    ("ipv6 wrong version", 1, ether(IN4, 0x86DD) + b"\x00" * 20, "ipv6: version field is not 6", 0),
    ("raw empty", 101, b"", "raw ip: empty frame", 0),
    ("raw version 5", 101, b"\x50" + b"\x00" * 30, "raw ip: unknown IP version 5", 0),
    ("truncated tcp", 1, ether(ipv4_raw(b"\x00" * 10, proto=6)), "tcp: truncated header", 4),
    (
        "tcp doff below 5",
        1,
        ether(ipv4_raw(tcp_raw(doff=4), proto=6)),
        "tcp: header length below 20 bytes",
        4,
    ),
    (
        "tcp doff beyond",
        101,
        ipv4_raw(tcp_raw(doff=15), proto=6),
        "tcp: header length beyond the packet",
        4,
    ),
    ("truncated udp", 101, ipv4_raw(b"\x00" * 5, proto=17), "udp: truncated header", 4),
    ("truncated icmp", 101, ipv4_raw(b"\x08", proto=1), "icmp: truncated header", 4),
    ("truncated sctp", 101, ipv4_raw(b"\x00" * 11, proto=132), "sctp: truncated header", 4),
    (
        "truncated ipv6 ext",
        229,
        ipv6(b"\x06\x00\x00\x00", nxt=0),
        "ipv6: truncated extension header",
        6,
    ),
    (
        "ipv6 ext past end",
        229,
        ipv6(bytes([6, 5]) + b"\x00" * 6, nxt=60),
        "ipv6: extension header runs past the packet",
        6,
    ),
    (
        "truncated ipv6 ah",
        229,
        ipv6(b"\x06\x04", nxt=51),
        "ipv6: truncated authentication header",
        6,
    ),
    (
        "truncated ipv6 frag",
        229,
        ipv6(b"\x11\x00\x00\x08", nxt=44),
        "ipv6: truncated fragment header",
        6,
    ),
    ("truncated vlan", 1, ether(b"\x00\x64", 0x8100), "vlan: truncated tag", 0),
    ("truncated gre", 101, ipv4_raw(b"\x00\x00", proto=47), "gre: truncated header", 4),
    (
        "gre key missing",
        101,
        ipv4_raw(b"\x20\x00\x08\x00\x00", proto=47),
        "gre: truncated header",
        4,
    ),
    (
        "gre routing",
        101,
        ipv4_raw(b"\x40\x00\x08\x00" + b"\x00" * 8, proto=47),
        "gre: source routing not decoded",
        4,
    ),
    ("mpls truncated", 1, ether(b"\x00\x01", 0x8847), "mpls: truncated label stack", 0),
    ("mpls no payload", 1, ether(b"\x00\x01\x01\x40", 0x8847), "mpls: no payload", 0),
    ("pppoe short", 1, ether(b"\x11\x00", 0x8864), "pppoe: truncated header", 0),
    ("loopback short", 0, b"\x02\x00", "loopback: frame shorter than its 4-byte header", 0),
    ("sll short", 113, b"\x00" * 15, "linux sll: frame shorter than its 16-byte header", 0),
    ("sll2 short", 276, b"\x00" * 19, "linux sll2: frame shorter than its 20-byte header", 0),
    ("ppp empty", 9, b"\xff\x03", "ppp: truncated header", 0),
    ("ppp one byte", 9, b"\x00", "ppp: truncated header", 0),
    ("c_hdlc short", 104, b"\x0f\x00", "c-hdlc: frame shorter than its 4-byte header", 0),
    ("radiotap short", 127, b"\x00" * 7, "radiotap: truncated header", 0),
    (
        "radiotap bad length",
        127,
        b"\x00\x00\x40\x00" + b"\x00" * 10,
        "radiotap: bad header length",
        0,
    ),
    ("802.11 short", 105, b"\x08\x01" + b"\x00" * 10, "802.11: truncated header", 0),
    ("nflog short", 239, b"\x02\x00", "nflog: truncated header", 0),
    ("ipnet short", 226, b"\x02" * 23, "ipnet: frame shorter than its 24-byte header", 0),
    ("ipoib short", 242, b"\x00" * 43, "ipoib: frame shorter than its 44-byte header", 0),
    ("pktap short", 258, b"\x00" * 7, "pktap: truncated header", 0),
    ("pktap nested", 258, pktap_header(258) + ether(IN4), "pktap: unusable inner link type 258", 0),
    ("pktap unknown dlt", 258, pktap_header(231) + b"x", "pktap: unusable inner link type 231", 0),
    (
        "brcm short",
        281,
        MAC_B + MAC_A + b"\x00" * 5,
        "brcm tag: frame shorter than its 18-byte header",
        0,
    ),
    ("brcm prepend short", 282, b"\x00" * 12, "ethernet: frame shorter than its 14-byte header", 0),
    (
        "vxlan inner short",
        101,
        ipv4_raw(udp_raw(1, 4789, vxlan(b"\x00" * 8))),
        "ethernet: frame shorter than its 14-byte header",
        0,
    ),
    ("ipip inner short", 101, ipv4_raw(b"\x45\x00", proto=4), "ipv4: truncated header", 0),
]


@pytest.mark.parametrize(
    ("linktype", "frame", "reason", "family"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_frames_are_counted_by_reason(
    linktype: int, frame: bytes, reason: str, family: int
) -> None:
    decoder = Decoder()
    pkt = decoder.decode(5, 0, linktype, frame, len(frame))
    assert pkt.num == 5
    assert decoder.skipped == {reason: 1}
    assert pkt.error == reason
    assert pkt.family == family
    if family == 0:
        assert pkt.label == "malformed"


def test_upper_layer_damage_keeps_the_ip_fields() -> None:
    pkt, _ = decode(1, ether(ipv4_raw(b"\x00" * 10, proto=6, src="1.2.3.4", dst="5.6.7.8")))
    assert (pkt.family, pkt.src, pkt.dst, pkt.proto, pkt.label) == (
        4,
        ip4("1.2.3.4"),
        ip4("5.6.7.8"),
        6,
        "",
    )
    assert pkt.proto_name == "TCP"


def test_skipped_counts_accumulate_per_decoder() -> None:
    decoder = Decoder()
    for num in range(1, 4):
        decoder.decode(num, 0, 1, b"\x00" * 5, 5)
    decoder.decode(4, 0, 231, b"", 0)
    decoder.decode(5, 0, 1, ether(IN4), 0)
    assert decoder.skipped == {
        "ethernet: frame shorter than its 14-byte header": 3,
        "unsupported link type 231 (DBUS)": 1,
    }


# -- fuzz --------------------------------------------------------------------------

FUZZ_LINKTYPES = sorted({*LINKTYPE_NAMES, 2, 147, 65535})

VALID_FRAMES = [
    ether(IN4),
    ether(ipv4(udp(payload=b"x" * 30)), vlans=[5, 6]),
    ether(IN6, 0x86DD),
    ether(ipv6(ipv6_ext(43) + ipv6_ext(6, b"\x00" * 6) + tcp_raw(payload=b"y"), nxt=0), 0x86DD),
    ether(ipv4_raw(gre(ether(INNER), 0x6558, key=1), proto=47)),
    ether(ipv4_raw(udp_raw(1, 4789, vxlan(ether(INNER))))),
    ether(ipv4_fragment(b"\x00\x35\x00\x35\x00\x10\x00\x00", 0, more=True)),
    ether(ipv6(ipv6_frag_header(17, 8, more=False) + b"z" * 8, nxt=44), 0x86DD),
    ether(mpls(IN4, [1, 2]), 0x8847),
    ether(pppoe_session(IN4), 0x8864),
]


def check_invariants(pkt: Packet, num: int, data: bytes) -> None:
    assert isinstance(pkt, Packet)
    assert pkt.num == num
    assert pkt.caplen == len(data)
    assert pkt.family in (0, 4, 6)
    assert len(pkt.tunnels) <= MAX_DEPTH
    if pkt.family == 0:
        assert pkt.label != ""
    else:
        assert len(pkt.src) == len(pkt.dst) == (4 if pkt.family == 4 else 16)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    linktype=st.sampled_from(FUZZ_LINKTYPES),
    data=st.binary(max_size=300),
    num=st.integers(min_value=1, max_value=2**40),
)
def test_fuzz_random_bytes_never_raise(linktype: int, data: bytes, num: int) -> None:
    pkt = Decoder().decode(num, 0, linktype, data, len(data))
    check_invariants(pkt, num, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(VALID_FRAMES),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 10_000),
    num=st.integers(min_value=1, max_value=10**6),
)
def test_fuzz_mutated_frames_never_raise(
    base: bytes, edits: list[tuple[int, int]], cut: int, num: int
) -> None:
    frame = bytearray(base)
    for index, value in edits:
        frame[index % len(frame)] = value
    data = bytes(frame[: len(frame) - cut % 8 * (cut % 3)])
    decoder = Decoder()
    for n in (num, num + 1):  # twice: a fragment meets its own copy in the defragmenter
        check_invariants(decoder.decode(n, n, 1, data, len(data)), n, data)
