"""Positional content semantics (Suricata's) and the prefiltered SignatureDetector."""

from __future__ import annotations

from pathlib import Path

import dpkt
import pytest

from netsentry.engine import analyze
from netsentry.sig.content import compile_items, match_buffer, numeric_test
from netsentry.sig.detect import SignatureDetector, flags_test
from netsentry.sig.importer import load_rules_text
from netsentry.sig.model import SigItem, SignatureRule
from netsentry.sig.parse import parse_rule
from netsentry.sig.translate import translate
from tests.factories import ether, icmp_echo, ipv4, tcp, write_pcap


def matches(options: str, data: bytes) -> bool:
    rule = translate(parse_rule(f"alert tcp any any -> any any ({options} sid:1;)"))
    assert isinstance(rule, SignatureRule), rule
    items = list(rule.detect)
    return match_buffer(compile_items(items), data)


@pytest.mark.parametrize(
    ("options", "data", "expected"),
    [
        ('content:"abc"; offset:2; depth:3;', b"xxabc", True),
        ('content:"abc"; offset:3;', b"xxabcx", False),
        ('content:"abc"; depth:4;', b"xxabc", False),
        ('content:"a"; content:"b"; distance:1;', b"ab", False),
        ('content:"a"; content:"b"; distance:1;', b"axb", True),
        ('content:"a"; content:"b"; distance:0; within:1;', b"axb", False),
        # within counts from where distance put the start
        ('content:"a"; content:"bc"; distance:2; within:2;', b"axxbc", True),
        ('content:"a"; content:"bc"; distance:2; within:2;', b"axxxbc", False),
        # the first content is retried at its next occurrence when a relative one fails
        ('content:"a"; content:"b"; distance:0; within:1;', b"axab", True),
        ('content:"GET"; startswith;', b"GET /", True),
        ('content:"GET"; startswith;', b" GET /", False),
        ('content:".exe"; endswith;', b"/a.exe", True),
        ('content:".exe"; endswith;', b"/a.exe?x", False),
        ('content:".exe"; endswith;', b"/a.exe.exe", True),
        ('content:"abc"; nocase;', b"xABCx", True),
        ('content:"abc";', b"xABCx", False),
        ('content:"a"; content:!"b"; distance:0; within:2;', b"axxb", True),
        ('content:"a"; content:!"b"; distance:0; within:2;', b"axb", False),
        # a negative distance looks back before the end of the previous match
        ('content:"|00 01|"; content:"z"; distance:-3; within:3;', b"z\x00\x01", True),
        ('content:"|00 01|"; content:"z"; distance:-1; within:3;', b"z\x00\x01", False),
        ('content:"a"; isdataat:2,relative;', b"abc", True),
        ('content:"a"; isdataat:!1,relative;', b"xa", True),
        ('content:"a"; pcre:"/^b+c/R";', b"abbbc", True),
        ('content:"a"; pcre:"/^c/R";', b"abbbc", False),
        (
            'content:"yYYYYYYYYYYYYYYYY"; distance:9; within:29; endswith;',
            b"0123456789" + b"yYYYYYYYYYYYYYYYY",
            True,
        ),
        (
            'content:"yYYYYYYYYYYYYYYYY"; distance:9; within:29; endswith;',
            b"01234567yYYYYYYYYYYYYYYYY",
            False,
        ),
    ],
)
def test_positional_semantics(options: str, data: bytes, expected: bool) -> None:
    assert matches(options, data) is expected


def test_bsize_and_numeric_tests() -> None:
    item = SigItem(kind="bsize", value="3<>6")
    assert match_buffer(compile_items([item]), b"abcd")
    assert not match_buffer(compile_items([item]), b"abcdef")
    assert [numeric_test(">=10")(v) for v in (9, 10)] == [False, True]
    assert numeric_test("!9")(8) and not numeric_test("!9")(9)


def test_tcp_flags_modifiers() -> None:
    syn, synack = 0x02, 0x12
    assert flags_test("S")(syn) and not flags_test("S")(synack)
    assert flags_test("+S")(synack) and flags_test("*SR")(syn)
    assert flags_test("!R")(syn) and not flags_test("!A")(synack)
    assert flags_test("S,12")(syn | 0xC0)


def test_hostile_backtracking_is_bounded() -> None:
    data = b"a" * 20000
    assert matches('content:"a"; content:"a"; distance:0; content:"b"; distance:0;', data) is False


def _ping_capture(path: Path, count: int) -> Path:
    frames = []
    for i in range(count):
        echo = icmp_echo(b"ping")
        frames.append((1000.0 + i, ether(ipv4(echo, "10.0.0.1", "10.0.0.2"))))
    return write_pcap(path, frames)


@pytest.mark.parametrize(("count", "alerts"), [(1, 7), (2, 6), (4, 4), (7, 1), (8, 0)])
def test_detection_filter_suppresses_the_first_matches(
    tmp_path: Path, count: int, alerts: int
) -> None:
    rules = load_rules_text(
        f"alert icmp any any -> any any (itype:8; detection_filter:track by_src, "
        f"count {count}, seconds 60; sid:1;)"
    )
    result = analyze([_ping_capture(tmp_path / "p.pcap", 8)], rules=rules.ruleset())
    assert len(result.findings) == alerts


def test_threshold_limit_alerts_once_per_window(tmp_path: Path) -> None:
    rules = load_rules_text(
        "alert icmp any any -> any any (itype:8; threshold:type limit, track by_src, "
        "count 2, seconds 60; sid:1;)"
    )
    result = analyze([_ping_capture(tmp_path / "p.pcap", 8)], rules=rules.ruleset())
    assert len(result.findings) == 2


def _http_capture(path: Path, request: bytes, *more: bytes) -> Path:
    syn = dpkt.tcp.TH_SYN
    ack = dpkt.tcp.TH_ACK
    frames = [
        (1.0, ether(ipv4(tcp(40000, 80, b"", syn, seq=100, ack=0), "10.0.0.1", "8.8.8.8"))),
        (1.1, ether(ipv4(tcp(80, 40000, b"", syn | ack, seq=500, ack=101), "8.8.8.8", "10.0.0.1"))),
        (1.2, ether(ipv4(tcp(40000, 80, b"", ack, seq=101, ack=501), "10.0.0.1", "8.8.8.8"))),
        (
            1.3,
            ether(
                ipv4(
                    tcp(40000, 80, request, ack | dpkt.tcp.TH_PUSH, seq=101, ack=501),
                    "10.0.0.1",
                    "8.8.8.8",
                )
            ),
        ),
    ]
    seq = 101 + len(request)
    for i, data in enumerate(more):
        segment = tcp(40000, 80, data, ack | dpkt.tcp.TH_PUSH, seq=seq, ack=501)
        frames.append((1.4 + i / 10, ether(ipv4(segment, "10.0.0.1", "8.8.8.8"))))
        seq += len(data)
    return write_pcap(path, frames)


@pytest.mark.parametrize("engine", ["auto", "re2"])
def test_http_rule_runs_on_the_request_once(tmp_path: Path, engine: str) -> None:
    text = (
        'alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"exe"; flow:established,to_server; '
        'http.method; content:"GET"; http.uri; content:".exe"; endswith; '
        'http.host; content:!".example.org"; endswith; sid:10;)\n'
        'alert http any any -> any any (msg:"ua"; http.user_agent; content:"EvilBot"; sid:11;)\n'
        'alert tcp any any -> any any (msg:"est"; flow:established,to_server; sid:12;)\n'
    )
    pcap = _http_capture(
        tmp_path / "h.pcap",
        b"GET /dl/a.exe HTTP/1.1\r\nHost: files.example.com\r\nUser-Agent: EvilBot/1\r\n\r\n",
    )
    result = analyze([pcap], rules=load_rules_text(text).ruleset(), engine=engine)
    sids = sorted(f.rule.sid for f in result.findings)
    # 12: only the request segment; the ACK completing the handshake is not established yet
    assert sids == [10, 11, 12]


def test_prefilter_only_checks_candidates(tmp_path: Path) -> None:
    text = "\n".join(
        f'alert tcp any any -> any any (content:"needle{i:04d}"; sid:{i + 1};)' for i in range(2000)
    )
    rules = load_rules_text(text).rules
    detector = SignatureDetector(rules)
    table = detector.records["stream"]  # TCP payload rules run on reassembled data
    assert not table.always and sum(len(g.sigs) for g in table.groups.values()) == 2000


@pytest.mark.parametrize(
    ("kind", "count", "alerts"),
    [("limit", 3, 3), ("threshold", 3, 2), ("threshold", 1, 8), ("both", 3, 1), ("both", 9, 0)],
)
def test_threshold_types(tmp_path: Path, kind: str, count: int, alerts: int) -> None:
    rules = load_rules_text(
        f"alert icmp any any -> any any (itype:8; threshold:type {kind}, track by_dst, "
        f"count {count}, seconds 60; sid:1;)"
    )
    result = analyze([_ping_capture(tmp_path / "p.pcap", 8)], rules=rules.ruleset())
    assert len(result.findings) == alerts


def test_threshold_window_reopens_after_seconds(tmp_path: Path) -> None:
    # pings one second apart; a 3-second limit window lets 1 through per window: t=0,3,6
    rules = load_rules_text(
        "alert icmp any any -> any any (itype:8; threshold:type limit, track by_src, "
        "count 1, seconds 3; sid:1;)"
    )
    result = analyze([_ping_capture(tmp_path / "p.pcap", 8)], rules=rules.ruleset())
    assert [f.ts // 1_000_000_000 - 1000 for f in result.findings] == [0, 3, 6]


def test_tcp_content_split_across_segments_matches_once(tmp_path: Path) -> None:
    text = (
        'alert tcp any any -> any any (msg:"split"; flow:to_server; content:"SECRETWORD"; '
        'content:"end"; distance:0; sid:20;)\n'
        'alert tcp any any -> any any (msg:"anchored"; content:"XSECRET"; depth:7; sid:21;)\n'
        'alert tcp-pkt any any -> any any (msg:"packets only"; content:"SECRETWORD"; sid:22;)\n'
        'alert tcp-stream any any -> any any (msg:"stream only"; content:"TWORD"; sid:23;)\n'
    )
    pcap = _http_capture(tmp_path / "s.pcap", b"XSECRET", b"WORD and the end", b" more end")
    result = analyze([pcap], rules=load_rules_text(text).ruleset())
    assert sorted((f.rule.sid, f.pkt_num) for f in result.findings) == [(20, 5), (21, 4), (23, 5)]


@pytest.mark.parametrize(
    ("pcre", "data", "expected"),
    [
        ('"/foo$/"', b"x foo\n", True),  # PCRE's $ also before a final newline
        ('"/foo$/"', b"foo\nbar", False),
        ('"/foo$/m"', b"foo\nbar", True),
        ('"/foo$/E"', b"foo\n", False),
        ('"/a\\h+b\\Z/"', b"a \tb\n", True),
        ('"/^ab/"', b"xab", False),
        ('"/AB/i"', b"xab", True),
        ('!"/ab/"', b"xyz", True),
    ],
)
def test_pcre_semantics_on_re2(pcre: str, data: bytes, expected: bool) -> None:
    assert matches(f"pcre:{pcre};", data) is expected
