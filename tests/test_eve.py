"""EVE alerts: Suricata's field names, formats and key order, checked against its schema."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from functools import cache
from pathlib import Path
from typing import Any

import dpkt
import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest
from typer.testing import CliRunner

from netsentry.cli import app
from netsentry.engine import analyze
from netsentry.eve import alert_event, alert_line
from netsentry.findings import Finding
from netsentry.ruleload import load_rules
from netsentry.rules import RuleSet
from tests.factories import Record, ether, icmp_echo, ipv4, ipv6, tcp, udp, write_pcap

SHARED = Path(__file__).resolve().parents[2] / "shared"  # ../shared beside the repository
SCHEMA_PATH = SHARED / "conformance" / "eve" / "suricata-8.0.6" / "etc" / "schema.json"
CORPUS = SHARED / "corpus"
T0 = 1706702400.0
SYN, ACK, PSH, FIN = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_FIN
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+0000$")

RULES = """\
rules:
  - id: web-evil
    sid: 2000001
    rev: 3
    title: Evil path in an HTTP request
    category: exploit
    severity: critical
    field: http.uri
    content: /evil
  - id: dns-evil
    sid: 2000002
    title: Evil name in a DNS query
    category: c2
    severity: medium
    field: dns.rrname
    content: evil
  - id: tls-evil
    sid: 2000003
    title: Evil TLS server name
    category: c2
    severity: high
    field: tls.sni
    content: evil
  - id: ssh-libssh
    sid: 2000004
    title: libssh client
    category: brute-force
    severity: low
    field: ssh.client.software_version
    content: libssh
  - id: ftp-user
    sid: 2000005
    title: FTP login attempt
    category: brute-force
    severity: info
    field: ftp.command
    content: USER
  - id: auth-failed
    sid: 2000006
    title: Failed login
    category: brute-force
    severity: low
    where: {auth.result: failure}
  - id: ping-reply
    sid: 2000007
    title: ICMP echo reply
    category: dos
    severity: low
    where: {icmp.type: [0, 129]}
  - id: stream-sig
    sid: 2000008
    title: Signature in a TCP stream
    category: exploit
    severity: high
    field: stream
    content: STREAMSIG
  - id: udp-flow
    sid: 2000009
    title: UDP flow ended
    category: dos
    severity: info
    where: {flow.pkts_toserver: {ge: 1}, proto: UDP}
  - id: irc-join
    sid: 2000010
    title: IRC join
    category: c2
    severity: low
    field: irc.command
    content: JOIN
"""


class Conv:
    """A TCP conversation with correct sequence numbers."""

    def __init__(
        self, records: list[Record], cli: str, srv: str, cport: int, sport: int, t: float
    ) -> None:
        self.records, self.cli, self.srv, self.cport, self.sport, self.t = (
            records,
            cli,
            srv,
            cport,
            sport,
            t,
        )
        self.seq = [1000, 5000]

    def segment(self, to_server: bool, flags: int, payload: bytes = b"") -> Conv:
        me, peer = (0, 1) if to_server else (1, 0)
        ports = (self.cport, self.sport) if to_server else (self.sport, self.cport)
        seg = tcp(ports[0], ports[1], payload, flags, self.seq[me], self.seq[peer])
        src, dst = (self.cli, self.srv) if to_server else (self.srv, self.cli)
        six = ":" in src
        packet = ipv6(seg, src, dst) if six else ipv4(seg, src, dst)
        self.records.append((self.t, ether(packet, 0x86DD if six else 0x0800)))
        self.t += 0.001
        self.seq[me] += len(payload) + (1 if flags & (SYN | FIN) else 0)
        return self

    def open(self) -> Conv:
        return self.segment(True, SYN).segment(False, SYN | ACK).segment(True, ACK)

    def send(self, data: bytes) -> Conv:
        return self.segment(True, PSH | ACK, data)

    def reply(self, data: bytes) -> Conv:
        return self.segment(False, PSH | ACK, data)

    def close(self) -> Conv:
        return self.segment(True, FIN | ACK).segment(False, FIN | ACK).segment(True, ACK)


def client_hello(sni: str) -> bytes:
    """A minimal TLS 1.2 ClientHello record with one cipher and a server_name extension."""
    name = sni.encode()
    entry = b"\x00" + struct.pack(">H", len(name)) + name
    ext = struct.pack(">HHH", 0, len(entry) + 2, len(entry)) + entry
    body = (
        b"\x03\x03"
        + b"\x11" * 32
        + b"\x00"
        + struct.pack(">HH", 2, 0x1301)
        + b"\x01\x00"
        + struct.pack(">H", len(ext))
        + ext
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(handshake)) + handshake


def dns_query(name: str) -> bytes:
    q = dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A, cls=1)
    return bytes(dpkt.dns.DNS(id=0x1234, qd=[q]))


HTTP_REQUEST = b"GET /evil?a=1 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def capture(tmp_path: Path) -> Path:
    """One capture with one finding per protocol family the EVE writer handles."""
    records: list[Record] = []
    c, s = "10.0.0.1", "10.0.0.2"
    Conv(records, c, s, 40000, 80, T0).open().send(HTTP_REQUEST).reply(OK).close()  # 1-8
    records.append((T0 + 1, ether(ipv4(udp(33333, 53, dns_query("evil.example")), c, "10.0.0.53"))))
    Conv(records, c, s, 40010, 443, T0 + 2).open().send(client_hello("evil.example")).close()
    ssh = Conv(records, c, s, 40011, 22, T0 + 3).open()
    ssh.reply(b"SSH-2.0-OpenSSH_8.9\r\n").send(b"SSH-2.0-libssh_0.9\r\n").close()
    ftp = Conv(records, c, s, 40012, 21, T0 + 4).open().reply(b"220 ready\r\n")
    ftp.send(b"USER bob\r\n").reply(b"331 password\r\n").send(b"PASS x\r\n")
    ftp.reply(b"530 denied\r\n").close()
    reply = icmp_echo()
    reply.type = 0
    records.append((T0 + 5, ether(ipv4(icmp_echo(), c, "10.0.0.9"))))
    records.append((T0 + 5.1, ether(ipv4(reply, "10.0.0.9", c))))
    echo6 = dpkt.icmp6.ICMP6(type=128, code=0, data=b"\x00\x01\x00\x01ping")
    reply6 = dpkt.icmp6.ICMP6(type=129, code=0, data=b"\x00\x01\x00\x01ping")
    records.append((T0 + 6, ether(ipv6(echo6, "2001:db8::1", "2001:db8::9"), 0x86DD)))
    records.append((T0 + 6.1, ether(ipv6(reply6, "2001:db8::9", "2001:db8::1"), 0x86DD)))
    Conv(records, c, s, 40014, 4444, T0 + 7).open().send(b"xx STREAMSIG xx").close()
    six = Conv(records, "2001:db8::1", "2001:db8::2", 40015, 80, T0 + 8).open()
    six.send(HTTP_REQUEST).reply(OK).close()
    irc = Conv(records, c, s, 40016, 6667, T0 + 9).open()
    irc.send(b"NICK bot\r\nUSER bot 0 * :bot\r\n").reply(b":srv 001 bot :hi\r\n")
    irc.send(b"JOIN #c2\r\n").close()
    return write_pcap(tmp_path / "all.pcap", sorted(records, key=lambda r: r[0]))


def ruleset(tmp_path: Path) -> RuleSet:
    path = tmp_path / "eve-rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return load_rules([path])


@pytest.fixture
def findings(tmp_path: Path) -> dict[str, list[Finding]]:
    result = analyze([capture(tmp_path)], rules=ruleset(tmp_path), app_report=False)
    assert result.detector_errors == {}
    by_rule: dict[str, list[Finding]] = {}
    for finding in result.findings:
        by_rule.setdefault(finding.rule.id, []).append(finding)
    return by_rule


def community_id(proto: int, src: bytes, dst: bytes, sport: int, dport: int) -> str:
    """Community ID v1 (seed 0), computed here independently of netsentry."""
    if (src, sport) > (dst, dport):
        src, dst, sport, dport = dst, src, dport, sport
    data = struct.pack(">H", 0) + src + dst + bytes([proto, 0]) + struct.pack(">HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


# -- exact events --------------------------------------------------------------------------------


def test_http_alert_exactly(findings: dict[str, list[Finding]]) -> None:
    v4, _v6 = findings["web-evil"]
    event = alert_event(v4)
    flow_id = event.pop("flow_id")
    assert isinstance(flow_id, int) and 0 < flow_id < 2**51
    assert flow_id == v4.flow.flow_id
    assert event == {
        "timestamp": "2024-01-31T12:00:00.003000+0000",
        "pcap_cnt": 4,
        "event_type": "alert",
        "src_ip": "10.0.0.1",
        "src_port": 40000,
        "dest_ip": "10.0.0.2",
        "dest_port": 80,
        "proto": "TCP",
        "ip_v": 4,
        "community_id": community_id(6, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), 40000, 80),
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": 2000001,
            "rev": 3,
            "signature": "Evil path in an HTTP request",
            "category": "Exploit Attempt",
            "severity": 1,
        },
        "http": {
            "hostname": "www.example.com",
            "url": "/evil?a=1",
            "http_user_agent": "curl/8.5",
            "http_method": "GET",
            "protocol": "HTTP/1.1",
            # no request_headers: findings keep a light record (Suricata's alerts omit them)
        },
        "app_proto": "http",
        "direction": "to_server",
        "netsentry": {
            "rule_id": "web-evil",
            "category": "exploit",
            "severity": "critical",
            "evidence": {"field": "http.uri", "match": "/evil?a=1"},
            "rule_file": v4.rule.origin.path if v4.rule.origin else "",
            "rule_line": 2,
        },
    }


def test_key_order_follows_suricata(findings: dict[str, list[Finding]]) -> None:
    assert list(alert_event(findings["web-evil"][0])) == [
        "timestamp",
        "flow_id",
        "pcap_cnt",
        "event_type",
        "src_ip",
        "src_port",
        "dest_ip",
        "dest_port",
        "proto",
        "ip_v",
        "community_id",
        "alert",
        "http",
        "app_proto",
        "direction",
        "netsentry",
    ]
    assert list(alert_event(findings["web-evil"][0])["alert"]) == [
        "action",
        "gid",
        "signature_id",
        "rev",
        "signature",
        "category",
        "severity",
    ]
    icmp = alert_event(findings["ping-reply"][0])
    assert list(icmp)[: list(icmp).index("alert")] == [
        "timestamp",
        "flow_id",
        "pcap_cnt",
        "event_type",
        "src_ip",
        "dest_ip",
        "proto",
        "ip_v",
        "icmp_type",
        "icmp_code",
        "community_id",
    ]


def test_dns_alert_carries_the_v3_dns_object(findings: dict[str, list[Finding]]) -> None:
    (finding,) = findings["dns-evil"]
    event = alert_event(finding)
    assert (event["proto"], event["src_port"], event["dest_port"]) == ("UDP", 33333, 53)
    assert event["dns"] == {
        "version": 3,
        "type": "request",
        "id": 0x1234,
        "flags": "100",
        "rd": True,
        "opcode": 0,
        "rcode": "NOERROR",
        "queries": [{"rrname": "evil.example", "rrtype": "A"}],
    }
    assert event["app_proto"] == "dns"
    assert event["alert"]["category"] == "Command and Control"
    assert event["alert"]["severity"] == 3


def test_icmp_alerts_have_type_and_code_of_their_packet_and_no_ports(
    findings: dict[str, list[Finding]],
) -> None:
    v4, v6 = (alert_event(f) for f in findings["ping-reply"])
    for event in (v4, v6):
        assert "src_port" not in event and "dest_port" not in event
        assert "app_proto" not in event
    # the echo replies (the flows began with echo requests, types 8 and 128)
    assert (v4["proto"], v4["icmp_type"], v4["icmp_code"], v4["ip_v"]) == ("ICMP", 0, 0, 4)
    assert (v6["proto"], v6["icmp_type"], v6["icmp_code"], v6["ip_v"]) == ("IPv6-ICMP", 129, 0, 6)
    assert (v4["src_ip"], v4["dest_ip"], v4["direction"]) == ("10.0.0.9", "10.0.0.1", "to_client")


def test_ipv6_addresses_are_fully_expanded(findings: dict[str, list[Finding]]) -> None:
    _v4, v6 = findings["web-evil"]
    event = alert_event(v6)
    assert event["src_ip"] == "2001:0db8:0000:0000:0000:0000:0000:0001"
    assert event["dest_ip"] == "2001:0db8:0000:0000:0000:0000:0000:0002"
    assert event["ip_v"] == 6
    six = alert_event(findings["ping-reply"][1])
    assert six["src_ip"] == "2001:0db8:0000:0000:0000:0000:0000:0009"


def test_timestamps_have_microseconds_and_a_colonless_offset(
    findings: dict[str, list[Finding]],
) -> None:
    for items in findings.values():
        for finding in items:
            assert TIMESTAMP.match(alert_event(finding)["timestamp"])
    assert alert_event(findings["dns-evil"][0])["timestamp"] == "2024-01-31T12:00:01.000000+0000"


def test_other_app_objects(findings: dict[str, list[Finding]]) -> None:
    tls = alert_event(findings["tls-evil"][0])
    assert tls["tls"]["sni"] == "evil.example" and tls["tls"]["version"] == "TLS 1.2"
    assert set(tls["tls"]["ja3"]) == {"hash", "string"}
    ssh = alert_event(findings["ssh-libssh"][0])
    assert ssh["ssh"] == {
        "client": {"proto_version": "2.0", "software_version": "libssh_0.9"},
        "server": {"proto_version": "2.0", "software_version": "OpenSSH_8.9"},
    }
    ftp = alert_event(findings["ftp-user"][0])
    assert ftp["ftp"]["command"] == "USER" and ftp["ftp"]["command_data"] == "bob"
    # records Suricata has no object for live under the netsentry key
    auth = alert_event(findings["auth-failed"][0])
    assert "auth" not in auth
    assert auth["netsentry"]["auth"] == {"service": "ftp", "user": "bob", "result": "failure"}
    irc = alert_event(findings["irc-join"][0])
    assert "irc" not in irc and irc["netsentry"]["irc"]["command"] == "JOIN"


def test_flow_and_stream_findings(findings: dict[str, list[Finding]]) -> None:
    (flow,) = findings["udp-flow"]
    event = alert_event(flow)
    assert "pcap_cnt" not in event  # found when the flow ended, not on a packet
    assert event["netsentry"]["evidence"] == {"flow.pkts_toserver": 1, "proto": "UDP"}
    (stream,) = findings["stream-sig"]
    event = alert_event(stream)
    assert event["netsentry"]["evidence"] == {"field": "stream", "match": "xx STREAMSIG xx"}
    assert event["dest_port"] == 4444 and "app_proto" not in event


def test_community_id_can_be_left_out(findings: dict[str, list[Finding]]) -> None:
    assert "community_id" not in alert_event(findings["web-evil"][0], community_id=False)


def test_evidence_bytes_and_tuples_are_json_safe(findings: dict[str, list[Finding]]) -> None:
    finding = findings["web-evil"][0]
    finding.evidence = {"raw": b"a\x00\xffb", "items": ("x", b"y"), "n": 3, "nested": {1: b"\n"}}
    assert alert_event(finding)["netsentry"]["evidence"] == {
        "raw": "a\\x00\\xffb",
        "items": ["x", "y"],
        "n": 3,
        "nested": {"1": "\\x0a"},
    }


def test_alert_line_is_compact_json(findings: dict[str, list[Finding]]) -> None:
    finding = findings["web-evil"][0]
    line = alert_line(finding)
    assert "\n" not in line and ", " not in line[:200] and line.startswith('{"timestamp":')
    assert json.loads(line) == json.loads(json.dumps(alert_event(finding)))


# -- Suricata's schema --------------------------------------------------------------------------


@cache
def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(event: dict[str, Any]) -> list[str]:
    event = {k: v for k, v in event.items() if k != "netsentry"}  # ours, by design
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}"
        for e in _validator().iter_errors(event)
    ]


needs_schema = pytest.mark.skipif(
    not SCHEMA_PATH.is_file(), reason=f"Suricata's EVE schema not found at {SCHEMA_PATH}"
)


@needs_schema
def test_schema_rejects_our_key_so_it_is_removed_first(
    findings: dict[str, list[Finding]],
) -> None:
    event = alert_event(findings["web-evil"][0])
    assert list(_validator().iter_errors(event))  # additionalProperties: false
    assert schema_errors(event) == []


@needs_schema
def test_every_synthetic_alert_validates(findings: dict[str, list[Finding]]) -> None:
    assert set(findings) == {
        "web-evil",
        "dns-evil",
        "tls-evil",
        "ssh-libssh",
        "ftp-user",
        "auth-failed",
        "ping-reply",
        "stream-sig",
        "udp-flow",
        "irc-join",
    }
    for items in findings.values():
        for finding in items:
            event = json.loads(alert_line(finding))
            assert schema_errors(event) == [], event


CORPUS_GROUPS = {
    # several captures in one run (analyzed as one time-ordered stream): every rule and
    # decoder start-up is paid once, and every alert line of every capture is checked
    "http-attacks": ["http-attacks/*.pcap*"],
    "dns-mail-irc-logins": ["dns/*.pcap*", "email/*.pcap*", "irc/*.pcap*", "bruteforce/*.pcap*"],
}


def _corpus_groups() -> list[Any]:
    params = []
    for name, patterns in CORPUS_GROUPS.items():
        paths = sorted(p for pattern in patterns for p in CORPUS.glob(pattern))
        skip = pytest.mark.skip(reason=f"no captures for {name} under {CORPUS}")
        params.append(pytest.param(paths, id=name, marks=[] if paths else [skip]))
    return params


@needs_schema
@pytest.mark.parametrize("paths", _corpus_groups())
def test_corpus_eve_output_validates(paths: list[Path]) -> None:
    args = ["analyze", "--format", "eve", "--no-progress", *map(str, paths)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 4), result.output  # 4: a damaged capture in the group
    lines = result.stdout.splitlines()
    assert lines, "no alerts at all: the corpus should trigger the default rules"
    for line in lines:
        event = json.loads(line)
        assert event["event_type"] == "alert"
        assert TIMESTAMP.match(event["timestamp"])
        assert set(event["netsentry"]) >= {"rule_id", "category", "severity", "evidence"}
        assert schema_errors(event) == [], line
