"""Traffic summary: counts, time span, protocol names, bounded talker tables, timestamps."""

from __future__ import annotations

import datetime as dt

import pytest

from netsentry.decode import Decoder
from netsentry.model import Packet
from netsentry.summary import DEFAULT_MAX_KEYS, CaptureInfo, Summary, TopTable, format_ts
from tests.factories import MAC_A, ether, icmp_echo, ip4, ip6, ipv4, ipv6, tcp, udp

NS = 1_000_000_000
T0 = 1706702400 * NS  # 2024-01-31T12:00:00Z


def _arp_frame() -> bytes:
    body = bytes.fromhex("0001080006040001") + MAC_A + ip4("10.0.0.1") + b"\x00" * 6
    return ether(body + ip4("10.0.0.2"), ethertype=0x0806)


def _ip_packet(src: str, dst: str, size: int, ts: int = T0, proto: int = 6) -> Packet:
    """A decoded-looking IPv4 packet with only what Summary reads filled in."""
    pkt = Packet(0, ts, size, size)
    pkt.family = 4
    pkt.src = ip4(src)
    pkt.dst = ip4(dst)
    pkt.proto = proto
    return pkt


# -- counts ----------------------------------------------------------------------------------


def test_counts_wire_and_captured_bytes_separately() -> None:
    decoder = Decoder()
    summary = Summary()
    frame = ether(ipv4(tcp(payload=b"x" * 946)))  # 14+20+20+946 = 1000 bytes on the wire
    assert len(frame) == 1000
    summary.add(decoder.decode(1, T0, 1, frame[:96], 1000))  # captured with snaplen 96
    summary.add(decoder.decode(2, T0 + NS, 1, frame, 1000))
    assert summary.packets == 2
    assert summary.bytes == 2000
    assert summary.captured_bytes == 1096
    assert summary.protocols == {"TCP": [2, 2000]}  # protocol bytes are wire bytes
    assert summary.talkers.counts == {ip4("10.0.0.1"): [2, 2000], ip4("10.0.0.2"): [2, 2000]}


def test_first_and_last_timestamps_with_out_of_order_packets() -> None:
    decoder = Decoder()
    summary = Summary()
    frame = ether(ipv4(udp(payload=b"q")))
    for num, offset in enumerate([5, 2, 9, 1, 7], start=1):
        summary.add(decoder.decode(num, T0 + offset * NS + 250_000, 1, frame, len(frame)))
    assert summary.first_ts == T0 + 1 * NS + 250_000
    assert summary.last_ts == T0 + 9 * NS + 250_000
    assert summary.duration == 8.0
    data = summary.to_dict()
    assert data["first_timestamp"] == "2024-01-31T12:00:01.000250+0000"
    assert data["last_timestamp"] == "2024-01-31T12:00:09.000250+0000"
    assert data["duration_seconds"] == 8.0


def test_empty_summary() -> None:
    summary = Summary()
    assert (summary.packets, summary.bytes, summary.first_ts, summary.last_ts) == (0, 0, None, None)
    assert summary.duration == 0.0
    data = summary.to_dict()
    assert (data["first_timestamp"], data["last_timestamp"]) == (None, None)
    assert data["protocols"] == []
    assert data["approximate"] is False


def test_protocols_include_non_ip_labels() -> None:
    decoder = Decoder()
    summary = Summary()
    frames = [
        (1, ether(ipv4(tcp()))),  # 54 bytes
        (1, ether(ipv4(udp(payload=b"abcd")))),  # 46
        (1, ether(ipv4(icmp_echo(b"ping")))),  # 46
        (1, ether(ipv6(udp(payload=b"ab")), ethertype=0x86DD)),  # 14+40+8+2 = 64
        (1, _arp_frame()),  # 42
        (1, _arp_frame()),  # 42
        (1, ether(b"\x42\x42\x03" + b"\x00" * 40, ethertype=43)),  # 802.3 length: LLC, 57
        (231, b"\x00" * 20),  # D-Bus: unsupported link type, 20
        (1, ether(b"\x45" + b"\x00" * 5)),  # IPv4 header cut short: malformed, 20
    ]
    for num, (linktype, frame) in enumerate(frames, start=1):
        summary.add(decoder.decode(num, T0 + num, linktype, frame, len(frame)))
    assert summary.protocols == {
        "TCP": [1, 54],
        "UDP": [2, 110],
        "ICMP": [1, 46],
        "ARP": [2, 84],
        "LLC": [1, 57],
        "unsupported link type": [1, 20],
        "malformed": [1, 20],
    }
    assert summary.packets == 9
    assert summary.bytes == sum(len(f) for _l, f in frames) == 391
    # only IP packets have talkers: 10.0.0.1/2 (3 packets) and 2001:db8::1/2 (1 packet)
    assert {k: v[0] for k, v in summary.talkers.counts.items()} == {
        ip4("10.0.0.1"): 3,
        ip4("10.0.0.2"): 3,
        ip6("2001:db8::1"): 1,
        ip6("2001:db8::2"): 1,
    }
    assert dict(decoder.skipped) == {
        "unsupported link type 231 (DBUS)": 1,
        "ipv4: truncated header": 1,
    }
    names = [row["protocol"] for row in summary.to_dict()["protocols"]]
    assert names == ["UDP", "ARP", "TCP", "ICMP", "LLC", "unsupported link type", "malformed"]


def test_unnamed_ip_protocol_is_its_number() -> None:
    summary = Summary()
    summary.add(_ip_packet("10.0.0.1", "10.0.0.2", 100, proto=253))
    assert summary.protocols == {"253": [1, 100]}


def test_conversations_are_keyed_by_the_unordered_pair() -> None:
    summary = Summary()
    summary.add(_ip_packet("10.0.0.9", "10.0.0.1", 100))
    summary.add(_ip_packet("10.0.0.1", "10.0.0.9", 50))
    summary.add(_ip_packet("10.0.0.1", "10.0.0.2", 10))
    assert summary.conversations.counts == {
        (ip4("10.0.0.1"), ip4("10.0.0.9")): [2, 150],
        (ip4("10.0.0.1"), ip4("10.0.0.2")): [1, 10],
    }
    assert summary.to_dict()["top_conversations"] == [
        {"a": "10.0.0.1", "b": "10.0.0.9", "packets": 2, "bytes": 150},
        {"a": "10.0.0.1", "b": "10.0.0.2", "packets": 1, "bytes": 10},
    ]


def test_fragments_are_counted() -> None:
    summary = Summary()
    pkt = _ip_packet("10.0.0.1", "10.0.0.2", 100, proto=17)
    pkt.fragment = True
    summary.add(pkt)
    summary.add(_ip_packet("10.0.0.1", "10.0.0.2", 100, proto=17))
    assert summary.fragment_packets == 1
    assert summary.protocols == {"UDP": [2, 200]}


# -- TopTable --------------------------------------------------------------------------------


def test_top_orders_by_bytes_or_packets() -> None:
    table = TopTable()
    for key, packets, size in [("a", 1, 900), ("b", 5, 10), ("c", 3, 100), ("d", 3, 90)]:
        for _ in range(packets):
            table.add(key, size)
    assert table.top(2) == [("a", 1, 900), ("c", 3, 300)]
    assert table.top(3, by="packets") == [("b", 5, 50), ("c", 3, 300), ("d", 3, 270)]
    assert table.top(0) == []
    assert table.pruned == 0
    assert table.max_keys == DEFAULT_MAX_KEYS == 20_000


def test_top_table_stays_bounded_and_keeps_heavy_hitters() -> None:
    table = TopTable(max_keys=100)
    heavy = {"heavy-1": 1500, "heavy-2": 1200, "heavy-3": 900}
    for key, size in heavy.items():
        table.add(key, size)
    for i in range(10_000):
        table.add(f"light-{i}", 60)
        if i % 20 == 0:
            for key, size in heavy.items():
                table.add(key, size)
        assert len(table.counts) <= 100
    # each heavy key: 1 + 500 packets, all counted exactly
    assert table.top(3) == [("heavy-1", 501, 501 * 1500), ("heavy-2", 501, 501 * 1200),
                            ("heavy-3", 501, 501 * 900)]
    assert table.top(3, by="packets") == table.top(3)
    assert table.pruned > 0
    # every distinct key that is not in the table any more was counted as pruned
    assert table.pruned == 10_003 - len(table.counts)


def test_top_table_never_exceeds_max_keys_even_when_bytes_and_packets_disagree() -> None:
    table = TopTable(max_keys=4)
    table.add("big-1", 1000)
    table.add("big-2", 900)
    for _ in range(50):
        table.add("chatty-1", 1)
    for _ in range(40):
        table.add("chatty-2", 1)
    table.add("new-1", 5)
    table.add("new-2", 5)
    assert len(table.counts) <= 4


def test_summary_with_a_flood_of_sources_is_approximate_but_exact_for_heavy_hitters() -> None:
    summary = Summary(max_keys=100)
    victim = "192.0.2.1"
    heavy = {"198.51.100.1": 1000, "198.51.100.2": 900, "198.51.100.3": 800}
    added = 0
    for src, size in heavy.items():
        summary.add(_ip_packet(src, victim, size))
        added += 1
    for i in range(10_000):
        summary.add(_ip_packet(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", victim, 60))
        added += 1
        if i % 20 == 0:
            for src, size in heavy.items():
                summary.add(_ip_packet(src, victim, size))
                added += 1
    assert summary.packets == added == 10_000 + 3 * 501
    assert summary.bytes == 10_000 * 60 + 501 * (1000 + 900 + 800)
    assert len(summary.talkers.counts) <= 100
    assert len(summary.conversations.counts) <= 100
    assert summary.talkers.pruned > 0
    assert summary.conversations.pruned > 0
    assert summary.approximate
    data = summary.to_dict(top=4)
    assert data["approximate"] is True
    assert data["top_talkers_by_bytes"] == [
        {"ip": victim, "packets": 11_503, "bytes": 600_000 + 501 * 2700},
        {"ip": "198.51.100.1", "packets": 501, "bytes": 501_000},
        {"ip": "198.51.100.2", "packets": 501, "bytes": 450_900},
        {"ip": "198.51.100.3", "packets": 501, "bytes": 400_800},
    ]
    assert data["top_conversations"][:3] == [
        {"a": "192.0.2.1", "b": "198.51.100.1", "packets": 501, "bytes": 501_000},
        {"a": "192.0.2.1", "b": "198.51.100.2", "packets": 501, "bytes": 450_900},
        {"a": "192.0.2.1", "b": "198.51.100.3", "packets": 501, "bytes": 400_800},
    ]
    # the protocol table is never pruned
    assert summary.protocols == {"TCP": [added, summary.bytes]}


def test_summary_is_not_approximate_below_the_bound() -> None:
    summary = Summary(max_keys=100)
    for i in range(49):
        summary.add(_ip_packet(f"10.0.0.{i + 1}", "10.0.1.1", 60))
    assert not summary.approximate
    assert len(summary.talkers.counts) == 50


# -- format_ts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (T0 + 123_456_789, "2024-01-31T12:00:00.123456+0000"),  # truncated to microseconds
        (0, "1970-01-01T00:00:00.000000+0000"),
        (-1, "1969-12-31T23:59:59.999999+0000"),
        (2**32 * NS, "2106-02-07T06:28:16.000000+0000"),
        (7_258_118_400 * NS + 1_000, "2200-01-01T00:00:00.000001+0000"),
    ],
)
def test_format_ts(ts: int, text: str) -> None:
    assert format_ts(ts) == text


def test_format_ts_year_2200_agrees_with_datetime() -> None:
    when = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
    assert int(when.timestamp()) == 7_258_118_400


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (253_402_300_800 * NS, "253402300800.000000"),  # year 10000: past datetime.MAXYEAR
        (10**30 + 5_000, "1000000000000000000000.000005"),
        (-(10**30), "-1000000000000000000000.000000"),
    ],
)
def test_format_ts_out_of_range_does_not_raise(ts: int, text: str) -> None:
    assert format_ts(ts) == text


def test_format_ts_none() -> None:
    assert format_ts(None) is None


# -- to_dict and warnings ----------------------------------------------------------------------


def test_to_dict_keys_and_captures() -> None:
    summary = Summary()
    summary.captures = [
        CaptureInfo("a.pcap", "pcap", False, [1], packets=3),
        CaptureInfo("b.pcapng.gz", "pcapng", True, [1, 113], packets=2, truncated=True,
                    warnings=["b.pcapng.gz: first", "b.pcapng.gz: second"]),
    ]
    data = summary.to_dict()
    assert list(data) == [
        "captures",
        "packets",
        "bytes",
        "captured_bytes",
        "first_timestamp",
        "last_timestamp",
        "duration_seconds",
        "protocols",
        "top_talkers_by_bytes",
        "top_talkers_by_packets",
        "top_conversations",
        "skipped",
        "fragments",
        "approximate",
        "warnings",
    ]
    assert data["captures"][1] == {
        "name": "b.pcapng.gz",
        "format": "pcapng",
        "compressed": True,
        "linktypes": [1, 113],
        "packets": 2,
        "truncated": True,
        "warnings": ["b.pcapng.gz: first", "b.pcapng.gz: second"],
    }
    assert data["warnings"] == summary.warnings() == ["b.pcapng.gz: first", "b.pcapng.gz: second"]


def test_to_dict_top_limits_rows_and_lists_skips_and_fragments() -> None:
    summary = Summary()
    for i in range(15):
        summary.add(_ip_packet(f"10.0.0.{i + 1}", "10.0.1.1", 100 + i))
    summary.skipped["tcp: truncated header"] += 2
    summary.skipped["ipv4: truncated header"] += 5
    summary.fragments["reassembled"] = 1
    summary.fragments["expired"] = 2
    data = summary.to_dict(top=3)
    assert [row["ip"] for row in data["top_talkers_by_bytes"]] == [
        "10.0.1.1",
        "10.0.0.15",
        "10.0.0.14",
    ]
    assert len(data["top_talkers_by_packets"]) == 3
    assert len(data["top_conversations"]) == 3
    assert data["skipped"] == [
        {"reason": "ipv4: truncated header", "packets": 5},
        {"reason": "tcp: truncated header", "packets": 2},
    ]
    assert data["fragments"] == {"expired": 2, "reassembled": 1}
