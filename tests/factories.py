"""Test factories: frames and capture files built with dpkt's writers.

Every fixture of the test suite is made here, by code, so that what a test
feeds the reader is visible next to what it asserts.
"""

from __future__ import annotations

import gzip
import io
import socket
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import dpkt

MAC_A = b"\x00\x11\x22\x33\x44\x55"
MAC_B = b"\x66\x77\x88\x99\xaa\xbb"


def ip4(text: str) -> bytes:
    """Packed IPv4 address."""
    return socket.inet_pton(socket.AF_INET, text)


def ip6(text: str) -> bytes:
    """Packed IPv6 address."""
    return socket.inet_pton(socket.AF_INET6, text)


def tcp(
    sport: int = 1234,
    dport: int = 80,
    payload: bytes = b"",
    flags: int = dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH,
    seq: int = 1000,
    ack: int = 2000,
) -> dpkt.tcp.TCP:
    """A TCP segment."""
    return dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, data=payload)


def udp(sport: int = 5353, dport: int = 53, payload: bytes = b"") -> dpkt.udp.UDP:
    """A UDP datagram with a correct length field."""
    seg = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    seg.ulen = 8 + len(payload)
    return seg


def icmp_echo(payload: bytes = b"ping") -> dpkt.icmp.ICMP:
    """An ICMP echo request."""
    return dpkt.icmp.ICMP(type=8, code=0, data=dpkt.icmp.ICMP.Echo(id=1, seq=1, data=payload))


_PROTO = {dpkt.tcp.TCP: 6, dpkt.udp.UDP: 17, dpkt.icmp.ICMP: 1, dpkt.icmp6.ICMP6: 58}


def ipv4(
    l4: dpkt.Packet | bytes,
    src: str = "10.0.0.1",
    dst: str = "10.0.0.2",
    proto: int | None = None,
    **fields: int,
) -> bytes:
    """Serialized IPv4 packet around ``l4`` (lengths and checksum filled by dpkt)."""
    if proto is None:
        proto = _PROTO.get(type(l4), 0)
    pkt = dpkt.ip.IP(src=ip4(src), dst=ip4(dst), p=proto, ttl=64, data=l4, **fields)
    pkt.len = 20 + len(pkt.opts) + len(bytes(l4))
    return bytes(pkt)


def ipv6(
    l4: dpkt.Packet | bytes,
    src: str = "2001:db8::1",
    dst: str = "2001:db8::2",
    nxt: int | None = None,
) -> bytes:
    """Serialized IPv6 packet around ``l4``."""
    if nxt is None:
        nxt = _PROTO.get(type(l4), 59)
    payload = bytes(l4)
    header = struct.pack(">IHBB", 0x60000000, len(payload), nxt, 64) + ip6(src) + ip6(dst)
    return header + payload


def ether(payload: bytes, ethertype: int = 0x0800, vlans: Sequence[int] = ()) -> bytes:
    """Ethernet frame; ``vlans`` adds 802.1Q tags (outermost first)."""
    tags = b"".join(struct.pack(">HH", 0x8100, vid) for vid in vlans)
    # each tag is followed by the next EtherType, so build the chain back to front
    if vlans:
        chain = b""
        types = [0x8100] * len(vlans) + [ethertype]
        for i, vid in enumerate(vlans):
            chain += struct.pack(">H", vid) + struct.pack(">H", types[i + 1])
        return MAC_B + MAC_A + struct.pack(">H", 0x8100) + chain + payload
    del tags
    return MAC_B + MAC_A + struct.pack(">H", ethertype) + payload


Record = tuple[float, bytes]  # (timestamp in seconds, frame)


def pcap_bytes(
    records: Iterable[Record],
    linktype: int = 1,
    *,
    nano: bool = False,
    big_endian: bool = False,
    snaplen: int = 65535,
) -> bytes:
    """A classic pcap file as bytes; byte order and resolution selectable."""
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = io.BytesIO()
    out.write(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    scale = 1_000_000_000 if nano else 1_000_000
    for ts, frame in records:
        sec = int(ts)
        frac = round((ts - sec) * scale)
        out.write(struct.pack(order + "IIII", sec, frac, len(frame), len(frame)))
        out.write(frame)
    return out.getvalue()


def write_pcap(path: Path, records: Iterable[Record], linktype: int = 1, **kw: bool) -> Path:
    """Write a classic pcap with dpkt's writer (little-endian) or :func:`pcap_bytes`."""
    if not kw:
        with path.open("wb") as f:
            writer = dpkt.pcap.Writer(f, snaplen=65535, linktype=linktype)
            for ts, frame in records:
                writer.writepkt(frame, ts=ts)
        return path
    path.write_bytes(pcap_bytes(records, linktype, **kw))
    return path


def write_pcapng(path: Path, records: Iterable[Record], linktype: int = 1) -> Path:
    """Write a single-interface pcapng with dpkt's writer."""
    with path.open("wb") as f:
        writer = dpkt.pcapng.Writer(f, snaplen=65535, linktype=linktype)
        for ts, frame in records:
            writer.writepkt(frame, ts=ts)
    return path


def pcapng_block(btype: int, body: bytes, order: str = "<") -> bytes:
    """One raw pcapng block with padding and both length fields."""
    body += b"\x00" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total)


def pcapng_shb(order: str = "<") -> bytes:
    """A section header block (starts a new section)."""
    return pcapng_block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def pcapng_idb(linktype: int, tsresol: int | None = None, order: str = "<") -> bytes:
    """An interface description block, optionally with an if_tsresol option."""
    body = struct.pack(order + "HHI", linktype, 0, 65535)
    if tsresol is not None:
        body += struct.pack(order + "HH", 9, 1) + bytes([tsresol]) + b"\x00" * 3
        body += struct.pack(order + "HH", 0, 0)
    return pcapng_block(1, body, order)


def pcapng_epb(iface: int, ticks: int, frame: bytes, order: str = "<") -> bytes:
    """An enhanced packet block with a raw 64-bit timestamp in interface ticks."""
    head = struct.pack(
        order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)
    )
    return pcapng_block(6, head + frame, order)


def gzipped(data: bytes) -> bytes:
    """Gzip-compress capture bytes (deterministic: no timestamp in the header)."""
    return gzip.compress(data, mtime=0)


# -- builders added for test_capture / test_decode / test_fragments -------------------
# Everything below builds exact bytes with struct, so tests can assert exact values.


def pcap_header(
    linktype: int = 1,
    *,
    order: str = "<",
    nano: bool = False,
    version: tuple[int, int] = (2, 4),
    snaplen: int = 65535,
) -> bytes:
    """A classic pcap file header; ``linktype`` is written as given (FCS bits and all)."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    return struct.pack(order + "IHHiIII", magic, version[0], version[1], 0, 0, snaplen, linktype)


def pcap_record(
    sec: int,
    frac: int,
    frame: bytes,
    *,
    order: str = "<",
    caplen: int | None = None,
    origlen: int | None = None,
) -> bytes:
    """One classic pcap record with integer timestamp parts and optional forged lengths."""
    incl = len(frame) if caplen is None else caplen
    orig = len(frame) if origlen is None else origlen
    return struct.pack(order + "IIII", sec, frac, incl, orig) + frame


def pcapng_idb_options(
    linktype: int, options: Sequence[tuple[int, bytes]], order: str = "<"
) -> bytes:
    """An interface description block with arbitrary options (end-of-options added)."""
    body = struct.pack(order + "HHI", linktype, 0, 65535)
    for code, value in options:
        body += struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)
    body += struct.pack(order + "HH", 0, 0)
    return pcapng_block(1, body, order)


def pcapng_pb(iface: int, ticks: int, frame: bytes, order: str = "<") -> bytes:
    """An obsolete Packet Block (type 2): 16-bit interface id and drops count."""
    head = struct.pack(
        order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)
    )
    return pcapng_block(2, head + frame, order)


def pcapng_spb(frame: bytes, order: str = "<") -> bytes:
    """A Simple Packet Block (type 3): original length and data, no timestamp."""
    return pcapng_block(3, struct.pack(order + "I", len(frame)) + frame, order)


def inet_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_raw(
    payload: bytes,
    src: str = "10.0.0.1",
    dst: str = "10.0.0.2",
    proto: int = 17,
    *,
    options: bytes = b"",
    ihl: int | None = None,
    total: int | None = None,
    ident: int = 1,
    frag: int = 0,
    checksum: int | None = None,
) -> bytes:
    """An IPv4 packet with every header field under control (``frag`` = flags|offset/8)."""
    if ihl is None:
        ihl = 5 + len(options) // 4
    if total is None:
        total = 20 + len(options) + len(payload)
    header = struct.pack(
        ">BBHHHBBH4s4s", 0x40 | ihl, 0, total, ident, frag, 64, proto, 0, ip4(src), ip4(dst)
    )
    header += options
    if checksum is None:
        checksum = inet_checksum(header)
    header = header[:10] + struct.pack(">H", checksum) + header[12:]
    return header + payload


def ipv4_fragment(
    piece: bytes,
    offset: int,
    more: bool,
    *,
    src: str = "10.0.0.1",
    dst: str = "10.0.0.2",
    proto: int = 17,
    ident: int = 0x1234,
) -> bytes:
    """One IPv4 fragment carrying ``piece`` at byte ``offset`` (a multiple of 8)."""
    frag = (0x2000 if more else 0) | (offset >> 3)
    return ipv4_raw(piece, src, dst, proto, ident=ident, frag=frag)


def tcp_raw(
    sport: int = 1234,
    dport: int = 80,
    payload: bytes = b"",
    *,
    seq: int = 1000,
    ack: int = 2000,
    flags: int = 0x18,
    doff: int = 5,
    options: bytes = b"",
) -> bytes:
    """A TCP header with a chosen data offset (in 32-bit words) and no checksum."""
    flags_word = (doff << 12) | (flags & 0x1FF)
    header = struct.pack(">HHIIHHHH", sport, dport, seq, ack, flags_word, 8192, 0, 0)
    return header + options + payload


def udp_raw(sport: int, dport: int, payload: bytes, *, ulen: int | None = None) -> bytes:
    """A UDP header with a chosen length field and no checksum."""
    length = 8 + len(payload) if ulen is None else ulen
    return struct.pack(">HHHH", sport, dport, length, 0) + payload


def sctp_raw(sport: int, dport: int, payload: bytes = b"") -> bytes:
    """An SCTP common header (ports, verification tag, checksum) and its chunks."""
    return struct.pack(">HHII", sport, dport, 0xDEADBEEF, 0) + payload


def ipv6_ext(nxt: int, data: bytes = b"") -> bytes:
    """An options-like IPv6 extension header (hop-by-hop, routing, dest. options)."""
    body = data + b"\x00" * (-(2 + len(data)) % 8)
    return bytes([nxt, (2 + len(body)) // 8 - 1]) + body


def ipv6_frag_header(nxt: int, offset: int, more: bool, ident: int = 0xCAFE) -> bytes:
    """An IPv6 fragment extension header (``offset`` in bytes, a multiple of 8)."""
    return struct.pack(">BBHI", nxt, 0, offset | int(more), ident)


def gre(
    payload: bytes,
    ptype: int = 0x0800,
    *,
    key: int | None = None,
    seq: int | None = None,
    checksum: bool = False,
) -> bytes:
    """A GRE (version 0) header with optional checksum, key and sequence fields."""
    flags = 0
    extra = b""
    if checksum:
        flags |= 0x8000
        extra += b"\x00\x00\x00\x00"
    if key is not None:
        flags |= 0x2000
        extra += struct.pack(">I", key)
    if seq is not None:
        flags |= 0x1000
        extra += struct.pack(">I", seq)
    return struct.pack(">HH", flags, ptype) + extra + payload


def vxlan(inner_frame: bytes, vni: int = 42) -> bytes:
    """A VXLAN header (I flag set) followed by the inner Ethernet frame."""
    return struct.pack(">II", 0x08000000, vni << 8) + inner_frame


def ether_tagged(payload: bytes, tags: Sequence[tuple[int, int]], ethertype: int = 0x0800) -> bytes:
    """Ethernet with explicit (TPID, VID) tags, outermost first (802.1ad QinQ etc.)."""
    out = MAC_B + MAC_A
    for tpid, vid in tags:
        out += struct.pack(">HH", tpid, vid)
    return out + struct.pack(">H", ethertype) + payload


def mpls(payload: bytes, labels: Sequence[int]) -> bytes:
    """An MPLS label stack (outermost first; bottom-of-stack set on the last)."""
    out = b""
    for i, label in enumerate(labels):
        bottom = 1 if i == len(labels) - 1 else 0
        out += struct.pack(">I", (label << 12) | (bottom << 8) | 64)
    return out + payload


def pppoe_session(payload: bytes, ppp_proto: int = 0x0021, session: int = 0x1234) -> bytes:
    """A PPPoE session header and the PPP protocol field."""
    return struct.pack(">BBHHH", 0x11, 0, session, len(payload) + 2, ppp_proto) + payload


def arp_request() -> bytes:
    """An ARP who-has, serialized by dpkt."""
    return bytes(dpkt.arp.ARP(sha=MAC_A, spa=ip4("10.0.0.1"), tha=b"\x00" * 6, tpa=ip4("10.0.0.2")))


def llc_frame() -> bytes:
    """An 802.3 frame: a length field in place of the EtherType, then an STP LLC header."""
    body = b"\x42\x42\x03" + b"\x00" * 35
    return b"\x01\x80\xc2\x00\x00\x00" + MAC_A + struct.pack(">H", len(body)) + body


def null_header(family: int, big_endian: bool = False) -> bytes:
    """BSD loopback (NULL/LOOP) header: a 4-byte address family."""
    return struct.pack(">I" if big_endian else "<I", family)


def sll_header(proto: int) -> bytes:
    """Linux cooked capture v1 (16 bytes)."""
    return struct.pack(">HHH8sH", 0, 1, 6, MAC_A + b"\x00\x00", proto)


def sll2_header(proto: int) -> bytes:
    """Linux cooked capture v2 (20 bytes)."""
    return struct.pack(">HHIHBB8s", proto, 0, 3, 1, 0, 6, MAC_A + b"\x00\x00")


def radiotap_wlan_data(payload: bytes, ethertype: int = 0x0800, *, qos: bool = False) -> bytes:
    """Radiotap (8 bytes, no fields) + 802.11 data frame to the AP + LLC/SNAP header."""
    radiotap = struct.pack("<BBHI", 0, 0, 8, 0)
    return radiotap + wlan_data(payload, ethertype, qos=qos)


def wlan_data(payload: bytes, ethertype: int = 0x0800, *, qos: bool = False) -> bytes:
    """An unprotected 802.11 data frame (ToDS) with an LLC/SNAP header."""
    fc = 0x88 if qos else 0x08
    header = bytes([fc, 0x01]) + b"\x00\x00" + MAC_B + MAC_A + MAC_B + b"\x10\x00"
    if qos:
        header += b"\x00\x00"
    snap = b"\xaa\xaa\x03\x00\x00\x00" + struct.pack(">H", ethertype)
    return header + snap + payload


def nflog(payload: bytes, family: int = 2) -> bytes:
    """NFLOG: header, a packet-header TLV, a prefix TLV, then the payload TLV (type 9)."""
    out = struct.pack(">BBH", family, 0, 0)
    out += struct.pack("<HH", 8, 1) + struct.pack(">HBB", 0x0800, 3, 0)  # NFULA_PACKET_HDR
    prefix = b"drop\x00"
    out += struct.pack("<HH", 4 + len(prefix), 10) + prefix + b"\x00" * (-len(prefix) % 4)
    out += struct.pack("<HH", 4 + len(payload), 9) + payload + b"\x00" * (-len(payload) % 4)
    return out


def ipnet_header(family: int) -> bytes:
    """Solaris IPNET header (24 bytes): version, family, htype, length, ifindexes, zones."""
    return struct.pack(">BBHIIIII", 2, family, 0, 0, 1, 0, 0, 0)


def ipoib_header(ethertype: int = 0x0800) -> bytes:
    """IP over InfiniBand (LINKTYPE_IPOIB): 20+20 address bytes, EtherType, reserved."""
    return b"\x01" * 20 + b"\x02" * 20 + struct.pack(">HH", ethertype, 0)


def pktap_header(dlt: int, length: int = 108) -> bytes:
    """Apple PKTAP header: little-endian length and inner DLT, zero-padded to ``length``."""
    return struct.pack("<II", length, dlt) + b"\x00" * (length - 8)


def brcm_tagged(payload: bytes, ethertype: int = 0x0800) -> bytes:
    """Broadcom DSA tag (LINKTYPE 281): MACs, 4-byte tag, EtherType."""
    return MAC_B + MAC_A + b"\x20\x00\x00\x01" + struct.pack(">H", ethertype) + payload


def chdlc(payload: bytes, proto: int = 0x0800) -> bytes:
    """Cisco HDLC: address, control, protocol."""
    return struct.pack(">BBH", 0x0F, 0x00, proto) + payload
