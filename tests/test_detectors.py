"""Detectors through the engine: synthetic captures in, exact findings out."""

from __future__ import annotations

import dataclasses
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import dpkt
import pytest

from netsentry import fields
from netsentry.detectors import rule_record, snippet
from netsentry.engine import AnalysisResult, analyze
from netsentry.fields import Ctx
from netsentry.findings import Finding
from netsentry.intel import Indicator, IntelSet
from netsentry.model import ip_text
from netsentry.ruleload import load_rules
from netsentry.rules import RuleSet
from tests.factories import Record, ether, icmp_echo, ipv4, ipv6, tcp, udp, write_pcap

T0 = 1706702400.0
SYN, ACK, PSH, FIN = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_FIN
CLIENT, SERVER = "10.0.0.1", "10.0.0.2"


class Conv:
    """A TCP conversation with correct sequence numbers, as (timestamp, frame) records."""

    def __init__(
        self,
        cli: str = CLIENT,
        srv: str = SERVER,
        cport: int = 40000,
        sport: int = 80,
        t: float = T0,
        records: list[Record] | None = None,
    ) -> None:
        self.cli, self.srv, self.cport, self.sport, self.t = cli, srv, cport, sport, t
        self.v6 = ":" in cli
        self.cseq, self.sseq = 1000, 5000
        self.records: list[Record] = [] if records is None else records

    def _segment(self, to_server: bool, flags: int, payload: bytes = b"", seq: int = -1) -> None:
        if to_server:
            s = tcp(
                self.cport, self.sport, payload, flags, self.cseq if seq < 0 else seq, self.sseq
            )
            src, dst = self.cli, self.srv
        else:
            s = tcp(
                self.sport, self.cport, payload, flags, self.sseq if seq < 0 else seq, self.cseq
            )
            src, dst = self.srv, self.cli
        packet = ipv6(s, src, dst) if self.v6 else ipv4(s, src, dst)
        self.records.append((self.t, ether(packet, 0x86DD if self.v6 else 0x0800)))
        self.t += 0.001
        if seq < 0:
            used = len(payload) + (1 if flags & (SYN | FIN) else 0)
            if to_server:
                self.cseq += used
            else:
                self.sseq += used

    def handshake(self) -> Conv:
        self._segment(True, SYN)
        self._segment(False, SYN | ACK)
        self._segment(True, ACK)
        return self

    def send(self, data: bytes) -> Conv:
        self._segment(True, PSH | ACK, data)
        return self

    def reply(self, data: bytes) -> Conv:
        self._segment(False, PSH | ACK, data)
        return self

    def send_out_of_order(self, first: bytes, second: bytes) -> Conv:
        """Two client segments, the second (in stream order) sent first."""
        self._segment(True, PSH | ACK, second, seq=self.cseq + len(first))
        self._segment(True, PSH | ACK, first, seq=self.cseq)
        self.cseq += len(first) + len(second)
        return self

    def close(self) -> Conv:
        self._segment(True, FIN | ACK)
        self._segment(False, FIN | ACK)
        self._segment(True, ACK)
        return self


def request(
    target: str, method: str = "GET", host: str = "www.example.com", **headers: str
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    body = b"x=1" if method == "POST" else b""
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def dns_query(name: str, qid: int = 1) -> bytes:
    msg = dpkt.dns.DNS(id=qid, qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A, cls=1)])
    return bytes(msg)


def udp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes = b"x") -> bytes:
    return ether(ipv4(udp(sport, dport, payload), src, dst))


def syn_frame(src: str, dst: str, sport: int, dport: int) -> bytes:
    return ether(ipv4(tcp(sport, dport, b"", SYN, 1, 0), src, dst))


def rules_from(tmp_path: Path, text: str, name: str = "rules.yaml") -> RuleSet:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_rules([path])


def run(
    tmp_path: Path,
    records: list[Record],
    rules: RuleSet,
    intel: IntelSet | None = None,
    name: str = "t.pcap",
) -> AnalysisResult:
    path = write_pcap(tmp_path / name, records)
    result = analyze([path], rules=rules, intel=intel, app_report=False)
    assert result.detector_errors == {}
    return result


def ids(result: AnalysisResult) -> list[str]:
    return [f.rule.id for f in result.findings]


def head(rule_id: str, sid: int, kind: str = "match", category: str = "exploit") -> str:
    return (
        f"  - id: {rule_id}\n    sid: {sid}\n    title: {rule_id}\n    category: {category}\n"
        f"    severity: high\n    kind: {kind}\n"
    )


# -- match rules on HTTP -----------------------------------------------------------------------

TRAVERSAL = "rules:\n" + head("traversal", 1) + "    field: http.uri\n    content: '../'\n"


def test_match_rule_fires_once_per_matching_request_not_on_the_response(tmp_path: Path) -> None:
    conv = Conv().handshake()
    conv.send(request("/a/../../etc/passwd")).reply(OK)  # packets 4, 5
    conv.send(request("/fine")).reply(OK)  # 6, 7
    conv.send(request("/b/../x")).reply(OK)  # 8, 9
    conv.close()
    result = run(tmp_path, conv.records, rules_from(tmp_path, TRAVERSAL))
    assert [(f.rule.id, f.pkt_num, f.direction) for f in result.findings] == [
        ("traversal", 4, 0),
        ("traversal", 8, 0),
    ]
    first = result.findings[0]
    assert (first.src_ip, first.sport, first.dest_ip, first.dport) == (CLIENT, 40000, SERVER, 80)
    assert first.proto_name == "TCP"
    assert first.evidence == {"field": "http.uri", "match": "/a/../../etc/passwd"}
    assert first.event is not None and first.event.proto == "http"
    assert first.event.record["url"] == "/a/../../etc/passwd"
    assert first.ts == 1706702400_003_000_000
    assert result.suppressed == 0


def test_response_side_field_fires_on_the_response(tmp_path: Path) -> None:
    text = "rules:\n" + head("server-error", 2) + "    field: http.status\n    regex: '^5'\n"
    conv = Conv().handshake().send(request("/x")).reply(b"HTTP/1.1 500 Oops\r\n\r\n").close()
    result = run(tmp_path, conv.records, rules_from(tmp_path, text))
    assert [(f.rule.id, f.direction, f.src_ip) for f in result.findings] == [
        ("server-error", 1, SERVER)
    ]


def test_once_per_flow(tmp_path: Path) -> None:
    text = (
        "rules:\n"
        + head("scanner-ua", 3)
        + "    field: http.user_agent\n    regex: 'sqlmap/'\n    once_per_flow: true\n"
        + head("scanner-ua-every", 4)
        + "    field: http.user_agent\n    regex: 'sqlmap/'\n"
    )
    records: list[Record] = []
    first = Conv(records=records).handshake()
    for i in range(3):
        first.send(request(f"/{i}", User_Agent="sqlmap/1.7")).reply(OK)
    first.close()
    second = Conv(cport=40001, t=T0 + 5, records=records).handshake()
    second.send(request("/x", User_Agent="sqlmap/1.7")).reply(OK).close()
    result = run(tmp_path, records, rules_from(tmp_path, text))
    assert Counter(ids(result)) == {"scanner-ua": 2, "scanner-ua-every": 4}
    assert [f.sport for f in result.findings if f.rule.id == "scanner-ua"] == [40000, 40001]


def test_where_filters(tmp_path: Path) -> None:
    text = (
        "rules:\n"
        + head("login-post", 5)
        + "    field: http.uri\n    content: /login\n"
        + "    where: {http.method: POST, dest_port: {in: [80, 8080]}, "
        + "src_ip: {not_cidr: 10.9.0.0/16}}\n"
    )
    records: list[Record] = []
    conv = Conv(records=records).handshake()
    conv.send(request("/login")).reply(OK)  # GET: filtered out
    conv.send(request("/login", "POST")).reply(OK)  # fires
    conv.send(request("/login?next=/", "POST")).reply(OK)  # fires
    conv.close()
    excluded = Conv(cli="10.9.0.5", t=T0 + 1, records=records).handshake()
    excluded.send(request("/login", "POST")).reply(OK).close()
    other_port = Conv(cport=40001, sport=8000, t=T0 + 2, records=records).handshake()
    other_port.send(request("/login", "POST")).reply(OK).close()
    result = run(tmp_path, records, rules_from(tmp_path, text))
    assert [(f.rule.id, f.src_ip, f.pkt_num) for f in result.findings] == [
        ("login-post", CLIENT, 6),
        ("login-post", CLIENT, 8),
    ]


DELETE_ONLY = "rules:\n" + head("delete-anything", 6) + "    where: {http.method: DELETE}\n"


def test_where_only_rule_fires_on_the_request(tmp_path: Path) -> None:
    conv = Conv().handshake().send(request("/items/1", "DELETE")).reply(OK).close()
    result = run(tmp_path, conv.records, rules_from(tmp_path, DELETE_ONLY))
    first = result.findings[0]
    assert (first.rule.id, first.pkt_num, first.direction) == ("delete-anything", 4, 0)
    assert first.evidence == {"http.method": "DELETE"}


def test_where_only_rule_fires_once_per_transaction(tmp_path: Path) -> None:
    """The response record repeats the request's method: it must not fire again."""
    conv = Conv().handshake().send(request("/items/1", "DELETE")).reply(OK).close()
    result = run(tmp_path, conv.records, rules_from(tmp_path, DELETE_ONLY))
    assert [(f.rule.id, f.pkt_num) for f in result.findings] == [("delete-anything", 4)]


def test_transforms_and_nocase(tmp_path: Path) -> None:
    text = (
        "rules:\n"
        + head("union", 7)
        + "    field: http.url\n    content: 'union select'\n    nocase: true\n"
        + "    transforms: [url_decode, compress_whitespace]\n"
    )
    conv = Conv().handshake()
    conv.send(request("/?q=UNION%20%20%09SELECT")).reply(OK)
    conv.send(request("/?q=union+select")).reply(OK)
    conv.send(request("/?q=unionselect")).reply(OK)
    result = run(tmp_path, conv.close().records, rules_from(tmp_path, text))
    assert [f.evidence["match"] for f in result.findings] == [
        "/?q=UNION SELECT",
        "/?q=union select",
    ]


# -- stream rules --------------------------------------------------------------------------------

STREAM = (
    "rules:\n"
    + head("shellcode", 10)
    + "    field: stream.toserver\n    content: EVIL-SIGNATURE\n"
    + head("banner", 11)
    + "    field: stream\n    content: MAGIC-BANNER\n"
)


def test_stream_rule_matches_a_signature_split_across_segments(tmp_path: Path) -> None:
    conv = Conv(sport=4444).handshake()
    conv.send(b"hello EVIL-SIG").send(b"NATURE world")  # split: packets 4 and 5
    conv.send(b"again EVIL-SIGNATURE")  # same direction again: no second finding
    conv.close()
    result = run(tmp_path, conv.records, rules_from(tmp_path, STREAM))
    assert [(f.rule.id, f.pkt_num, f.direction) for f in result.findings] == [("shellcode", 5, 0)]
    assert result.findings[0].evidence["field"] == "stream.toserver"
    assert "EVIL-SIGNATURE" in result.findings[0].evidence["match"]


def test_stream_rule_reassembles_out_of_order_segments(tmp_path: Path) -> None:
    conv = Conv(sport=4444).handshake().send_out_of_order(b"xx EVIL-SI", b"GNATURE xx").close()
    result = run(tmp_path, conv.records, rules_from(tmp_path, STREAM))
    assert ids(result) == ["shellcode"]
    # nothing matched before the hole was filled, so no finding on the early segment
    assert result.findings[0].pkt_num == 5


def test_stream_rule_fires_once_per_direction(tmp_path: Path) -> None:
    conv = Conv(sport=4444).handshake()
    conv.send(b"MAGIC-").send(b"BANNER").reply(b"MAGIC-BANNER").reply(b"MAGIC-BANNER again")
    conv.send(b"MAGIC-BANNER")
    result = run(tmp_path, conv.close().records, rules_from(tmp_path, STREAM))
    assert [(f.rule.id, f.direction, f.src_ip) for f in result.findings] == [
        ("banner", 0, CLIENT),
        ("banner", 1, SERVER),
    ]


def test_stream_rule_without_match_or_on_the_other_direction(tmp_path: Path) -> None:
    conv = Conv(sport=4444).handshake().reply(b"EVIL-SIGNATURE from the server").close()
    assert run(tmp_path, conv.records, rules_from(tmp_path, STREAM)).findings == []


# -- threshold rules -----------------------------------------------------------------------------


def syn_rule(count: int, track: str = "by_dst", seconds: int = 10) -> str:
    return (
        "rules:\n"
        + head("syn-flood", 20, "threshold", "dos")
        + f"    where: {{tcp.flags: S}}\n    track: {track}\n    count: {count}\n"
        + f"    seconds: {seconds}\n"
    )


def syns(times: list[float], dst: str = SERVER) -> list[Record]:
    return [
        (T0 + t, syn_frame(f"192.0.2.{i % 200 + 1}", dst, 1024 + i, 80))
        for i, t in enumerate(times)
    ]


@pytest.mark.parametrize("count", [3, 300])  # 300: above the exact-timestamps limit
def test_threshold_fires_once_per_key_per_window(tmp_path: Path, count: int) -> None:
    rules = rules_from(tmp_path, syn_rule(count))
    spread = [i * 5.0 / (2 * count) for i in range(2 * count)]  # 2N events within 5 s

    def findings(times: list[float]) -> list[Finding]:
        return run(tmp_path, syns(times), rules).findings

    assert findings(spread[: count - 1]) == []
    (one,) = findings(spread[:count])
    assert one.pkt_num == count
    assert one.evidence["count"] == count
    assert one.evidence["track"] == "by_dst" and one.evidence["seconds"] == 10.0
    assert len(findings(spread)) == 1  # 2N in the window: still one
    later = [t + 30 for t in spread[:count]]  # N more, well after the window
    again = findings(spread + later)
    assert [f.pkt_num for f in again] == [count, 3 * count]


def test_threshold_counts_per_key(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, syn_rule(3))
    records = syns([0, 0.1, 0.2], dst="10.0.0.7") + syns([0.3, 0.4], dst="10.0.0.8")
    records += syns([0.5, 0.6, 0.7], dst="10.0.0.9")
    result = run(tmp_path, sorted(records), rules)
    assert [f.dest_ip for f in result.findings] == ["10.0.0.7", "10.0.0.9"]


def test_threshold_window_slides(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, syn_rule(3, seconds=10))
    # three SYNs, but never three within 10 seconds
    assert run(tmp_path, syns([0, 8, 16, 24, 32]), rules).findings == []
    # the 4th SYN brings the last three within 10 s: fires on it
    assert [f.pkt_num for f in run(tmp_path, syns([0, 8, 16, 17]), rules).findings] == [4]


def test_threshold_distinct_counting(tmp_path: Path) -> None:
    text = (
        "rules:\n"
        + head("port-scan", 21, "threshold", "port-scan")
        + "    where: {tcp.flags: S}\n    track: by_src\n    count: 4\n    seconds: 60\n"
        + "    distinct: dest_port\n"
    )
    rules = rules_from(tmp_path, text)

    def scan(ports: list[int]) -> list[Finding]:
        records = [
            (T0 + i * 0.1, syn_frame("198.51.100.9", SERVER, 50000 + i, port))
            for i, port in enumerate(ports)
        ]
        return run(tmp_path, records, rules).findings

    assert scan([22, 22, 80, 80, 443, 443, 22]) == []  # 7 SYNs, 3 distinct ports
    (found,) = scan([22, 22, 80, 443, 443, 8080, 8443, 3389])
    assert found.pkt_num == 6  # the 4th distinct port
    assert found.evidence["count"] == 4 and found.evidence["distinct"] == "dest_port"
    assert sorted(found.evidence["sample"]) == ["22", "443", "80", "8080"]
    assert found.src_ip == "198.51.100.9"


def track_rule(track: str, count: int) -> str:
    return (
        "rules:\n"
        + head("udp-volume", 22, "threshold", "dos")
        + f"    where: {{proto: UDP}}\n    track: {track}\n    count: {count}\n    seconds: 60\n"
    )


A, B, X, Y = "192.0.2.1", "192.0.2.2", "198.51.100.1", "198.51.100.2"
# A->X x3, B->X x3, A->Y x3, X->A x2 (answers on A's flow to X)
TRACK_TRAFFIC = [
    *[(A, X, 5000, 53)] * 3,
    *[(B, X, 5001, 53)] * 3,
    *[(A, Y, 5002, 53)] * 3,
    *[(X, A, 53, 5000)] * 2,
]


@pytest.mark.parametrize(
    ("track", "count", "keys"),
    [
        ("by_src", 6, [A]),  # A sent 6
        ("by_src", 7, []),
        ("by_dst", 6, [X]),  # X received 6
        ("by_pair", 3, [(A, X), (B, X), (A, Y)]),
        ("by_pair", 4, []),  # X->A is another pair than A->X
        ("by_client", 8, [A]),  # A's flows: 3 + 3 + 2 answers
        ("by_client", 9, []),
        ("by_server", 8, [X]),  # X serves 3 + 3 + 2
        ("by_flow", 5, [(A, X)]),  # the A<->X flow has 5 packets
        ("by_flow", 6, []),
    ],
)
def test_threshold_tracks(tmp_path: Path, track: str, count: int, keys: list[Any]) -> None:
    records = [
        (T0 + i * 0.01, udp_frame(src, dst, sport, dport))
        for i, (src, dst, sport, dport) in enumerate(TRACK_TRAFFIC)
    ]
    result = run(tmp_path, records, rules_from(tmp_path, track_rule(track, count)))
    found = [
        {
            "by_src": f.src_ip,
            "by_dst": f.dest_ip,
            "by_pair": (f.src_ip, f.dest_ip),
            "by_client": ip_text(f.flow.cli),
            "by_server": ip_text(f.flow.srv),
            "by_flow": (ip_text(f.flow.cli), ip_text(f.flow.srv)),
        }[track]
        for f in result.findings
    ]
    assert found == keys


def test_threshold_on_app_events(tmp_path: Path) -> None:
    text = (
        "rules:\n"
        + head("nxdomain-storm", 23, "threshold", "dns-tunneling")
        + "    record: dns\n    where: {dns.type: request}\n    track: by_src\n"
        + "    count: 3\n    seconds: 60\n"
    )
    records = [
        (T0 + i, udp_frame(CLIENT, "192.0.2.53", 30000 + i, 53, dns_query(f"q{i}.example.com")))
        for i in range(4)
    ]
    result = run(tmp_path, records, rules_from(tmp_path, text))
    assert [(f.rule.id, f.pkt_num) for f in result.findings] == [("nxdomain-storm", 3)]
    assert result.findings[0].event is not None and result.findings[0].event.proto == "dns"


def test_threshold_on_request_fields_counts_each_transaction_once(tmp_path: Path) -> None:
    """A request and its response (which repeats the method) are one event, not two."""
    text = (
        "rules:\n"
        + head("login-posts", 24, "threshold", "brute-force")
        + "    where: {http.method: POST}\n    track: by_client\n    count: 2\n    seconds: 60\n"
    )
    rules = rules_from(tmp_path, text)
    conv = Conv().handshake().send(request("/login", "POST")).reply(OK).close()
    assert run(tmp_path, conv.records, rules).findings == []
    two = Conv().handshake().send(request("/login", "POST")).reply(OK)
    two.send(request("/login", "POST")).reply(OK).close()  # the second request: packet 6
    assert [(f.rule.id, f.pkt_num) for f in run(tmp_path, two.records, rules).findings] == [
        ("login-posts", 6)
    ]


# -- intel rules ----------------------------------------------------------------------------------

INTEL = (
    "rules:\n"
    + head("intel-ip", 30, "intel", "threat-intel")
    + "    fields: [src_ip, dest_ip]\n"
    + head("intel-dns", 31, "intel", "threat-intel")
    + "    fields: [dns.rrname]\n"
    + head("intel-host", 32, "intel", "threat-intel")
    + "    fields: [http.hostname]\n"
    + head("intel-url", 33, "intel", "threat-intel")
    + "    fields: [http.url]\n"
    + head("intel-url-feed-b", 34, "intel", "threat-intel")
    + "    fields: [http.url]\n    feeds: [feed-b]\n"
)


def intel_set(*items: tuple[str, str, str]) -> IntelSet:
    intel = IntelSet()
    for value, kind, feed in items:
        assert intel.add(Indicator(value, kind, feed))
    return intel


def test_intel_address_fires_once_per_flow_on_its_first_packet(tmp_path: Path) -> None:
    intel = intel_set(("203.0.113.0/24", "ip", "feed-a"), ("203.0.113.66", "ip", "feed-b"))
    records: list[Record] = []
    Conv(srv="203.0.113.66", records=records).handshake().send(b"x" * 10).reply(b"y").close()
    Conv(srv="203.0.113.7", cport=40001, t=T0 + 1, records=records).handshake().close()
    Conv(srv="192.0.2.10", cport=40002, t=T0 + 2, records=records).handshake().close()
    result = run(tmp_path, records, rules_from(tmp_path, INTEL), intel)
    assert [(f.rule.id, f.pkt_num, f.dest_ip) for f in result.findings] == [
        ("intel-ip", 1, "203.0.113.66"),
        ("intel-ip", 9, "203.0.113.7"),
    ]
    first, second = result.findings
    # the longest prefix names the indicator; every listing feed is named
    assert first.evidence == {
        "field": "dest_ip",
        "indicator": "203.0.113.66",
        "value": "203.0.113.66",
        "feeds": ["feed-b"],
    }
    assert second.evidence["indicator"] == "203.0.113.0/24"
    assert second.evidence["feeds"] == ["feed-a"]


def test_intel_source_address_and_ipv6(tmp_path: Path) -> None:
    intel = intel_set(("2001:db8:bad::/48", "ip", "v6-feed"))
    conv = Conv(cli="2001:db8:bad::5", srv="2001:db8::2").handshake().close()
    result = run(tmp_path, conv.records, rules_from(tmp_path, INTEL), intel)
    assert [(f.rule.id, f.evidence["field"], f.src_ip) for f in result.findings] == [
        ("intel-ip", "src_ip", "2001:0db8:0bad:0000:0000:0000:0000:0005")
    ]


def test_intel_domain_matches_parents_on_label_boundaries(tmp_path: Path) -> None:
    intel = intel_set(("evil.com", "domain", "doms"))
    names = ["a.evil.com", "notevil.com", "evil.com", "EVIL.COM.", "evil.com.example"]
    records = [
        (T0 + i, udp_frame(CLIENT, "192.0.2.53", 30000 + i, 53, dns_query(name)))
        for i, name in enumerate(names)
    ]
    result = run(tmp_path, records, rules_from(tmp_path, INTEL), intel)
    assert [(f.rule.id, f.evidence["value"]) for f in result.findings] == [
        ("intel-dns", "a.evil.com"),
        ("intel-dns", "evil.com"),
        ("intel-dns", "EVIL.COM"),
    ]
    assert {f.evidence["indicator"] for f in result.findings} == {"evil.com"}
    assert {tuple(f.evidence["feeds"]) for f in result.findings} == {("doms",)}


def test_intel_http_hostname_and_absolute_url(tmp_path: Path) -> None:
    intel = intel_set(
        ("bad.example", "domain", "feed-a"),
        ("evil.example.com/payload.exe", "url", "feed-a"),
        ("evil.example.com/payload.exe", "url", "feed-b"),
    )
    conv = Conv().handshake()
    conv.send(request("/index.html", host="www.bad.example")).reply(OK)
    conv.send(request("HTTP://EVIL.example.com:80/payload.exe#frag", host="x")).reply(OK)
    conv.send(request("http://evil.example.com/other.exe", host="x")).reply(OK)
    result = run(tmp_path, conv.close().records, rules_from(tmp_path, INTEL), intel)
    assert [(f.rule.id, f.evidence["feeds"]) for f in result.findings] == [
        ("intel-host", ["feed-a"]),
        ("intel-url", ["feed-a", "feed-b"]),
        ("intel-url-feed-b", ["feed-b"]),
    ]


def test_intel_url_matches_an_origin_form_request(tmp_path: Path) -> None:
    """URL feeds list absolute URLs; most requests name only the path (Host apart)."""
    intel = intel_set(("evil.example.com/payload.exe", "url", "feed-a"))
    conv = Conv().handshake().send(request("/payload.exe", host="evil.example.com")).reply(OK)
    result = run(tmp_path, conv.close().records, rules_from(tmp_path, INTEL), intel)
    assert ids(result) == ["intel-url"]


def test_intel_rules_without_indicators_do_nothing(tmp_path: Path) -> None:
    conv = Conv().handshake().send(request("/")).reply(OK).close()
    assert run(tmp_path, conv.records, rules_from(tmp_path, INTEL)).findings == []
    assert run(tmp_path, conv.records, rules_from(tmp_path, INTEL), IntelSet()).findings == []


# -- allowlists ------------------------------------------------------------------------------------


def test_global_and_per_rule_allowlists_suppress_and_are_counted(tmp_path: Path) -> None:
    text = (
        "allowlist:\n  cidrs: [10.50.0.0/16]\n  domains: [trusted.example]\n"
        + TRAVERSAL
        + head("traversal-2", 2)
        + "    field: http.uri\n    content: '../'\n"
        + "    allowlist: {cidrs: ['2001:db8::/32', 10.60.0.0/16],\n"
        + "                domains: ['*.Scanner.Example.']}\n"
    )
    records: list[Record] = []
    targets = [
        ("10.0.0.1", "www.example.com"),  # both rules fire
        ("10.50.1.1", "www.example.com"),  # global CIDR: both suppressed
        ("10.0.0.1", "api.trusted.example"),  # global domain suffix: both suppressed
        ("10.0.0.1", "nottrusted.example"),  # not on a label boundary: both fire
        ("10.60.0.9", "www.example.com"),  # per-rule CIDR: traversal-2 suppressed
        ("10.0.0.1", "scanner.example"),  # per-rule domain: traversal-2 suppressed
    ]
    for i, (client, host) in enumerate(targets):
        conv = Conv(cli=client, cport=41000 + i, t=T0 + i, records=records).handshake()
        conv.send(request("/../etc/passwd", host=host)).reply(OK).close()
    result = run(tmp_path, records, rules_from(tmp_path, text))
    assert [(f.rule.id, f.src_ip, f.event.record["hostname"]) for f in result.findings] == [
        ("traversal", "10.0.0.1", "www.example.com"),
        ("traversal-2", "10.0.0.1", "www.example.com"),
        ("traversal", "10.0.0.1", "nottrusted.example"),
        ("traversal-2", "10.0.0.1", "nottrusted.example"),
        ("traversal", "10.60.0.9", "www.example.com"),
        ("traversal", "10.0.0.1", "scanner.example"),
    ]
    assert result.suppressed == 6


def test_allowlisted_server_address_suppresses_too(tmp_path: Path) -> None:
    text = "allowlist:\n  cidrs: [10.0.0.2/32]\n" + TRAVERSAL
    conv = Conv().handshake().send(request("/../x")).reply(OK).close()
    result = run(tmp_path, conv.records, rules_from(tmp_path, text))
    assert result.findings == [] and result.suppressed == 1


# -- containment ----------------------------------------------------------------------------------


def test_a_failing_detector_is_contained_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(ctx: Ctx) -> Any:
        raise RuntimeError("boom")

    spec = fields.FIELDS["http.uri"]
    monkeypatch.setitem(fields.FIELDS, "http.uri", dataclasses.replace(spec, get=boom))
    text = TRAVERSAL + head("ua", 2) + "    field: http.user_agent\n    content: curl\n"
    rules = rules_from(tmp_path, text)
    conv = Conv().handshake()
    for i in range(3):
        conv.send(request(f"/{i}/../x", User_Agent="curl/8")).reply(OK)
    path = write_pcap(tmp_path / "t.pcap", conv.close().records)
    result = analyze([path], rules=rules, app_report=False)
    assert result.detector_errors == {"http: RuntimeError: boom": 3}
    assert result.partial and not result.damaged
    assert result.summary.packets == len(conv.records)  # the run finished


# -- helpers --------------------------------------------------------------------------------------


def test_rule_record_types(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, TRAVERSAL + STREAM.removeprefix("rules:\n"))
    assert [rule_record(r) for r in rules.rules] == ["http", "stream", "stream"]
    assert [rule_record(r) for r in rules_from(tmp_path, syn_rule(3)).rules] == ["packet"]
    assert [rule_record(r) for r in rules_from(tmp_path, INTEL).rules] == [
        "packet",
        "dns",
        "http",
        "http",
        "http",
    ]


def test_snippet_escapes_and_bounds() -> None:
    data = b"A" * 100 + b"\x00MATCH\xff" + b"B" * 100
    text = snippet(data, (100, 107))
    assert text == "A" * 48 + "\\x00MATCH\\xff" + "B" * 48
    assert snippet(b"x\ny", None) == "x\\x0ay"


def test_icmp_packet_rule(tmp_path: Path) -> None:
    text = (
        "rules:\n" + head("ping", 40, category="dos") + "    where: {icmp.type: 8, proto: ICMP}\n"
    )
    records = [(T0, ether(ipv4(icmp_echo(), "192.0.2.1", "192.0.2.2")))]
    result = run(tmp_path, records, rules_from(tmp_path, text))
    assert [(f.rule.id, f.proto_name, f.sport, f.dport) for f in result.findings] == [
        ("ping", "ICMP", 0, 0)
    ]
