"""Community ID v1 flow hashing (https://github.com/corelight/community-id-spec).

A pure function of the flow tuple and a 16-bit seed, so SIEMs can join netsentry
alerts with Zeek and Suricata logs of the same flow. ICMP and ICMPv6 use the
message type as the "source port" and the matching reply type (or the code,
for one-way types) as the "destination port", exactly as the spec says.
"""

from __future__ import annotations

import base64
import hashlib
import struct

# Request/reply type pairs: each maps to its counterpart, in both directions.
_ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
_ICMP6_PAIRS = {
    128: 129,
    129: 128,
    130: 131,
    131: 130,
    133: 134,
    134: 133,
    135: 136,
    136: 135,
    139: 140,
    140: 139,
    144: 145,
    145: 144,
}
_PORTED = frozenset((6, 17, 132))


def icmp_ports(proto: int, icmp_type: int, icmp_code: int) -> tuple[int, int, bool]:
    """The (sport, dport, one_way) the spec assigns an ICMP/ICMPv6 message."""
    pairs = _ICMP4_PAIRS if proto == 1 else _ICMP6_PAIRS
    counterpart = pairs.get(icmp_type)
    if counterpart is None:
        return icmp_type, icmp_code, True
    return icmp_type, counterpart, False


def community_id(
    proto: int,
    src: bytes,
    dst: bytes,
    sport: int = 0,
    dport: int = 0,
    seed: int = 0,
    *,
    b64: bool = True,
) -> str:
    """Community ID v1 for a flow. Addresses packed; for ICMP pass the raw type and code.

    ``sport``/``dport`` are the transport ports, or the ICMP type and code (they are
    mapped here). Other protocols hash without ports.
    """
    has_ports = proto in _PORTED or proto in (1, 58)
    one_way = False
    if proto in (1, 58):
        sport, dport, one_way = icmp_ports(proto, sport, dport)
    if not one_way and (src > dst or (src == dst and sport > dport)):
        src, dst, sport, dport = dst, src, dport, sport
    data = struct.pack(">H", seed) + src + dst + struct.pack(">BB", proto, 0)
    if has_ports:
        data += struct.pack(">HH", sport, dport)
    digest = hashlib.sha1(data).digest()
    if b64:
        return "1:" + base64.b64encode(digest).decode("ascii")
    return "1:" + digest.hex()
