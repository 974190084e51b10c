"""Value types shared by every layer: packets and the names of their protocols.

Standard library only; nothing here imports from netsentry.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

# IP protocol numbers netsentry names itself (EVE's ``proto`` spelling).
PROTO_NAMES: dict[int, str] = {
    1: "ICMP",
    2: "IGMP",
    4: "IPIP",
    6: "TCP",
    17: "UDP",
    41: "IPv6",
    47: "GRE",
    50: "ESP",
    51: "AH",
    58: "IPv6-ICMP",
    89: "OSPF",
    103: "PIM",
    112: "VRRP",
    132: "SCTP",
    46: "RSVP",
}

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10
TCP_URG = 0x20


class Packet:
    """One captured frame after link, network and transport decoding.

    Every frame read from a capture becomes exactly one Packet, so packet counts
    stay equal to what tcpdump reads. A frame that is not IP (ARP, LLC, an
    unsupported link type, a malformed header) has ``family == 0`` and a
    ``label`` saying what it is. Addresses are kept packed (4 or 16 bytes);
    format them with :func:`ip_text` only when a human or a report needs them.
    """

    __slots__ = (
        "ack",
        "caplen",
        "dport",
        "dst",
        "error",
        "family",
        "fragment",
        "icmp_code",
        "icmp_type",
        "label",
        "num",
        "payload",
        "proto",
        "seq",
        "sport",
        "src",
        "tcp_flags",
        "ts",
        "tunnels",
        "vlans",
        "wirelen",
    )

    def __init__(self, num: int, ts: int, wirelen: int, caplen: int) -> None:
        self.num = num  # 1-based position in the analyzed stream (EVE pcap_cnt)
        self.ts = ts  # capture time, integer nanoseconds since the Unix epoch
        self.wirelen = wirelen  # original length on the wire
        self.caplen = caplen  # bytes actually captured
        self.family = 0  # 4, 6, or 0 when the frame carries no decodable IP
        self.label = ""  # for non-IP frames: "ARP", "LLC", "malformed", ...
        self.src = b""
        self.dst = b""
        self.proto = -1  # IP protocol number of the innermost header
        self.sport = 0
        self.dport = 0
        self.tcp_flags = 0
        self.seq = 0
        self.ack = 0
        self.icmp_type = -1
        self.icmp_code = -1
        self.payload = b""  # transport payload (or IP payload for other protocols)
        self.vlans: tuple[int, ...] = ()
        self.tunnels: tuple[str, ...] = ()  # outer encapsulations, outermost first
        self.fragment = False  # an IP fragment not (yet) completing a datagram
        # Why decoding stopped early ("tcp: truncated header"); "" when it did not.
        # With family == 0 nothing past the link layer was usable; otherwise the IP
        # fields are good and only an upper layer was damaged.
        self.error = ""

    @property
    def proto_name(self) -> str:
        """The protocol as EVE names it (``TCP``, ``UDP``, ``IPv6-ICMP``, ``47``), or the label."""
        if self.family == 0:
            return self.label or "unknown"
        return PROTO_NAMES.get(self.proto, str(self.proto))

    def __repr__(self) -> str:
        if self.family == 0:
            return f"<Packet #{self.num} {self.label}>"
        return (
            f"<Packet #{self.num} {self.proto_name} {ip_text(self.src)}:{self.sport} -> "
            f"{ip_text(self.dst)}:{self.dport} len={len(self.payload)}>"
        )


@lru_cache(maxsize=8192)
def ip_text(packed: bytes) -> str:
    """Format a packed IPv4/IPv6 address as text; IPv6 fully expanded, as EVE writes it."""
    if len(packed) == 4:
        return f"{packed[0]}.{packed[1]}.{packed[2]}.{packed[3]}"
    if len(packed) == 16:
        return ipaddress.IPv6Address(packed).exploded
    return ""


@lru_cache(maxsize=8192)
def ip_short(packed: bytes) -> str:
    """Format a packed address compactly for people (``::1`` rather than the EVE form)."""
    if len(packed) == 4:
        return ip_text(packed)
    if len(packed) == 16:
        return str(ipaddress.IPv6Address(packed))
    return ""
