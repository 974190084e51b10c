"""The flow table (netsentry.flows): directions, TCP state, timeouts, eviction, ids.

Packets are frames built with tests.factories and decoded by the real Decoder,
except for the million-flow memory test, which builds Packet values directly.
"""

from __future__ import annotations

import ipaddress
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from netsentry.capture import open_capture
from netsentry.communityid import community_id
from netsentry.decode import Decoder
from netsentry.flows import SEC, Flow, FlowConfig, FlowTable
from netsentry.model import TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, Packet
from tests.factories import ether, icmp_echo, ip4, ipv4, tcp, udp, write_pcap

A, B, C = "10.0.0.1", "10.0.0.2", "10.0.0.3"
T0 = 1_700_000_000.0  # capture time of the first packet, in seconds
SYN, SYNACK, ACK, PSHACK = TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK, TCP_PSH | TCP_ACK
FINACK, RST = TCP_FIN | TCP_ACK, TCP_RST

REPO_ROOT = Path(__file__).resolve().parents[1]
SV_TESTS = (
    Path(__file__).resolve().parents[2] / "shared" / "conformance" / "suricata-verify" / "tests"
)


class Feed:
    """Builds frames with the factories and decodes them into numbered Packets."""

    def __init__(self) -> None:
        self.decoder = Decoder()
        self.num = 0

    def frame(self, ts: float, frame: bytes) -> Packet:
        self.num += 1
        pkt = self.decoder.decode(self.num, round(ts * SEC), 1, frame, len(frame))
        assert pkt.family == 4, pkt
        return pkt

    def tcp(
        self,
        ts: float,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        flags: int,
        payload: bytes = b"",
    ) -> Packet:
        return self.frame(ts, ether(ipv4(tcp(sport, dport, payload, flags), src, dst)))

    def udp(
        self, ts: float, src: str, sport: int, dst: str, dport: int, payload: bytes = b""
    ) -> Packet:
        return self.frame(ts, ether(ipv4(udp(sport, dport, payload), src, dst)))

    def icmp(self, ts: float, src: str, dst: str, icmp_type: int = 8) -> Packet:
        msg = icmp_echo()
        msg.type = icmp_type
        return self.frame(ts, ether(ipv4(msg, src, dst)))


def handshake(table: FlowTable, feed: Feed, ts: float = T0, cport: int = 40000) -> Flow:
    """SYN, SYN-ACK, ACK between A:cport (client) and B:80; returns the flow."""
    flow, d0 = table.lookup(feed.tcp(ts, A, cport, B, 80, SYN))
    flow2, d1 = table.lookup(feed.tcp(ts + 0.01, B, 80, A, cport, SYNACK))
    flow3, d2 = table.lookup(feed.tcp(ts + 0.02, A, cport, B, 80, ACK))
    assert flow is flow2 is flow3
    assert (d0, d1, d2) == (0, 1, 0)
    return flow


# -- directions and the client ----------------------------------------------------------


def test_both_directions_map_to_one_flow() -> None:
    table, feed = FlowTable(), Feed()
    flow = handshake(table, feed)
    assert len(table) == 1
    assert table.flows() == [flow]
    assert (flow.cli, flow.cport, flow.srv, flow.spt) == (ip4(A), 40000, ip4(B), 80)
    assert flow.proto == 6 and flow.family == 4
    assert flow.first_num == 1
    assert flow.first_ts == round(T0 * SEC)
    assert flow.last_ts == round((T0 + 0.02) * SEC)
    _, d = table.lookup(feed.tcp(T0 + 1, B, 80, A, 40000, PSHACK, b"data"))
    assert d == 1


def test_flows_differ_by_port() -> None:
    table, feed = FlowTable(), Feed()
    f1, _ = table.lookup(feed.tcp(T0, A, 40000, B, 80, SYN))
    f2, _ = table.lookup(feed.tcp(T0, A, 40001, B, 80, SYN))
    f3, _ = table.lookup(feed.udp(T0, A, 40000, B, 80))
    assert len({id(f1), id(f2), id(f3)}) == 3
    assert len(table) == 3


def test_syn_ack_seen_first_makes_its_destination_the_client() -> None:
    table, feed = FlowTable(), Feed()
    flow, d = table.lookup(feed.tcp(T0, B, 80, A, 40000, SYNACK))
    assert d == 1
    assert (flow.cli, flow.cport, flow.srv, flow.spt) == (ip4(A), 40000, ip4(B), 80)
    _, d = table.lookup(feed.tcp(T0 + 0.01, A, 40000, B, 80, ACK))
    assert d == 0
    assert flow.state == "established"


def test_syn_sender_is_the_client_even_from_a_low_port() -> None:
    table, feed = FlowTable(), Feed()
    flow, d = table.lookup(feed.tcp(T0, A, 80, B, 40000, SYN))
    assert d == 0
    assert (flow.cli, flow.cport) == (ip4(A), 80)


@pytest.mark.parametrize(
    ("sport", "dport", "client_is_src"),
    [
        (80, 40000, False),
        (40000, 80, True),
        (1023, 1024, False),
        (1024, 1023, True),
        (5000, 6000, True),
    ],
)
def test_mid_stream_tcp_client_from_ports(sport: int, dport: int, client_is_src: bool) -> None:
    table, feed = FlowTable(), Feed()
    flow, d = table.lookup(feed.tcp(T0, A, sport, B, dport, PSHACK, b"x"))
    assert d == (0 if client_is_src else 1)
    assert flow.cli == (ip4(A) if client_is_src else ip4(B))
    assert flow.state == "new"


def test_udp_reply_seen_first_makes_its_destination_the_client() -> None:
    table, feed = FlowTable(), Feed()
    flow, d = table.lookup(feed.udp(T0, B, 53, A, 5353))
    assert d == 1
    assert (flow.cli, flow.cport, flow.srv, flow.spt) == (ip4(A), 5353, ip4(B), 53)
    assert flow.state == ""


def test_icmp_echo_and_reply_are_one_flow() -> None:
    table, feed = FlowTable(), Feed()
    flow, d0 = table.lookup(feed.icmp(T0, A, B, 8))
    again, d1 = table.lookup(feed.icmp(T0 + 0.001, B, A, 0))
    assert flow is again and (d0, d1) == (0, 1)
    assert flow.cli == ip4(A)
    assert flow.pkts == (1, 1)
    assert flow.community_id == community_id(1, ip4(A), ip4(B), 8, 0)


def test_icmp_reply_seen_first_makes_its_destination_the_client() -> None:
    table, feed = FlowTable(), Feed()
    flow, d = table.lookup(feed.icmp(T0, B, A, 0))
    assert d == 1
    assert flow.cli == ip4(A)


def test_same_address_flow_is_told_apart_by_ports() -> None:
    table, feed = FlowTable(), Feed()
    flow, d0 = table.lookup(feed.tcp(T0, C, 56162, C, 3306, SYN))
    again, d1 = table.lookup(feed.tcp(T0 + 0.001, C, 3306, C, 56162, SYNACK))
    assert flow is again and (d0, d1) == (0, 1)
    assert (flow.cport, flow.spt) == (56162, 3306)


# -- counters ---------------------------------------------------------------------------


def test_per_direction_packets_bytes_and_flags() -> None:
    table, feed = FlowTable(), Feed()
    sent = [
        feed.tcp(T0, A, 40000, B, 80, SYN),
        feed.tcp(T0 + 0.01, B, 80, A, 40000, SYNACK),
        feed.tcp(T0 + 0.02, A, 40000, B, 80, ACK),
        feed.tcp(T0 + 0.03, A, 40000, B, 80, PSHACK, b"GET / HTTP/1.0\r\n\r\n"),
        feed.tcp(T0 + 0.04, B, 80, A, 40000, PSHACK, b"HTTP/1.0 200 OK\r\n\r\nhello"),
        feed.tcp(T0 + 0.05, B, 80, A, 40000, FINACK),
    ]
    for pkt in sent:
        flow, _ = table.lookup(pkt)
    to_server = [p for p in sent if p.src == ip4(A)]
    to_client = [p for p in sent if p.src == ip4(B)]
    assert flow.pkts == (3, 3)
    assert flow.bytes == (sum(p.wirelen for p in to_server), sum(p.wirelen for p in to_client))
    # Ethernet 14 + IPv4 20 + TCP 20 = 54 bytes of headers per frame
    assert flow.bytes == (3 * 54 + 18, 3 * 54 + 24)
    assert flow.flags == (SYN | ACK | TCP_PSH, SYN | ACK | TCP_PSH | TCP_FIN)


# -- TCP state --------------------------------------------------------------------------


def test_tcp_state_new_established_closed_by_fins() -> None:
    table, feed = FlowTable(), Feed()
    flow, _ = table.lookup(feed.tcp(T0, A, 40000, B, 80, SYN))
    assert flow.state == "new" and not flow.established
    table.lookup(feed.tcp(T0 + 0.01, B, 80, A, 40000, SYNACK))
    assert flow.state == "new"
    table.lookup(feed.tcp(T0 + 0.02, A, 40000, B, 80, ACK))
    assert flow.state == "established" and flow.established
    table.lookup(feed.tcp(T0 + 1, A, 40000, B, 80, FINACK))
    assert flow.state == "established"  # one FIN: half closed
    table.lookup(feed.tcp(T0 + 1.01, B, 80, A, 40000, FINACK))
    assert flow.state == "closed" and flow.established
    table.lookup(feed.tcp(T0 + 1.02, A, 40000, B, 80, ACK))  # the last ACK stays in it
    assert flow.state == "closed"
    assert flow.pkts == (4, 2)
    assert len(table) == 1


def test_tcp_state_closed_by_rst() -> None:
    table, feed = FlowTable(), Feed()
    flow = handshake(table, feed)
    table.lookup(feed.tcp(T0 + 1, B, 80, A, 40000, RST))
    assert flow.state == "closed"


def test_rejected_connection_never_established() -> None:
    table, feed = FlowTable(), Feed()
    flow, _ = table.lookup(feed.tcp(T0, A, 40000, B, 80, SYN))
    table.lookup(feed.tcp(T0 + 0.01, B, 80, A, 40000, RST | ACK))
    assert flow.state == "closed"
    assert not flow.established


def test_client_ack_without_syn_ack_does_not_establish() -> None:
    table, feed = FlowTable(), Feed()
    flow, _ = table.lookup(feed.tcp(T0, A, 40000, B, 80, SYN))
    table.lookup(feed.tcp(T0 + 0.01, A, 40000, B, 80, ACK))
    assert flow.state == "new"


def test_syn_reusing_the_ports_of_a_closed_flow_starts_a_new_flow() -> None:
    ended: list[Flow] = []
    table, feed = FlowTable(on_end=ended.append), Feed()
    old = handshake(table, feed)
    table.lookup(feed.tcp(T0 + 1, A, 40000, B, 80, RST))
    assert ended == []
    new, d = table.lookup(feed.tcp(T0 + 2, A, 40000, B, 80, SYN))
    assert ended == [old]
    assert old.end_reason == "closed"
    assert new is not old
    assert d == 0 and new.state == "new" and new.pkts == (1, 0)
    assert new.first_ts == round((T0 + 2) * SEC)
    assert len(table) == 1
    assert table.counters["flows"] == 2
    assert table.counters["ended: closed"] == 1


def test_syn_on_an_open_flow_stays_in_it() -> None:
    ended: list[Flow] = []
    table, feed = FlowTable(on_end=ended.append), Feed()
    flow = handshake(table, feed)
    again, _ = table.lookup(feed.tcp(T0 + 1, A, 40000, B, 80, SYN))  # a retransmitted SYN
    assert again is flow and ended == []


# -- timeouts ---------------------------------------------------------------------------

SMALL = FlowConfig(tcp_timeout=10, tcp_closed_timeout=2, udp_timeout=5, other_timeout=3)


def _one_of_each(table: FlowTable, feed: Feed) -> dict[str, Flow]:
    """An open TCP flow, a closed one, a UDP and an ICMP flow, all last active at T0."""
    flows = {"tcp": handshake(table, feed, T0 - 0.02)}
    closed, _ = table.lookup(feed.tcp(T0, A, 40001, B, 80, SYN))
    table.lookup(feed.tcp(T0, B, 80, A, 40001, RST | ACK))
    flows["closed"] = closed
    flows["udp"], _ = table.lookup(feed.udp(T0, A, 5353, B, 53))
    flows["other"], _ = table.lookup(feed.icmp(T0, A, B))
    return flows


@pytest.mark.parametrize(
    ("config", "timeouts"),
    [
        (SMALL, {"closed": 2, "other": 3, "udp": 5, "tcp": 10}),
        (FlowConfig(), {"closed": 10, "other": 60, "udp": 120, "tcp": 600}),
    ],
    ids=["small", "default"],
)
def test_idle_timeout_per_class(config: FlowConfig, timeouts: dict[str, int]) -> None:
    ended: list[Flow] = []
    table, feed = FlowTable(config, on_end=ended.append), Feed()
    flows = _one_of_each(table, feed)
    for cls in ("closed", "other", "udp", "tcp"):
        before = len(ended)
        last = flows[cls].last_ts
        table.expire(last + timeouts[cls] * SEC)  # idle exactly the timeout: kept
        assert len(ended) == before
        table.expire(last + timeouts[cls] * SEC + 1)  # idle longer: ended
        assert ended[before:] == [flows[cls]]
        assert flows[cls].end_reason == "timeout"
    assert len(table) == 0
    assert table.counters["ended: timeout"] == 4


def test_timeout_runs_on_capture_time_during_lookup() -> None:
    ended: list[Flow] = []
    table, feed = FlowTable(SMALL, on_end=ended.append), Feed()
    first, _ = table.lookup(feed.udp(T0, A, 5353, B, 53))
    table.lookup(feed.udp(T0 + 4, B, 53, A, 5353))  # within 5 s: same flow
    assert ended == [] and first.pkts == (1, 1)
    second, d = table.lookup(feed.udp(T0 + 10, B, 53, A, 5353))  # 6 s idle
    assert ended == [first] and first.end_reason == "timeout"
    assert second is not first
    assert d == 1  # a reply from port 53 still makes A the client
    assert second.pkts == (0, 1)


def test_activity_keeps_a_flow_alive() -> None:
    ended: list[Flow] = []
    table, feed = FlowTable(SMALL, on_end=ended.append), Feed()
    flow, _ = table.lookup(feed.udp(T0, A, 5353, B, 53))
    for i in range(1, 10):
        assert table.lookup(feed.udp(T0 + 4 * i, A, 5353, B, 53))[0] is flow
    assert ended == []
    assert flow.pkts == (10, 0)


def test_closed_flow_times_out_sooner_than_an_open_one() -> None:
    ended: list[Flow] = []
    table, feed = FlowTable(SMALL, on_end=ended.append), Feed()
    flow = handshake(table, feed)
    table.lookup(feed.tcp(T0 + 1, A, 40000, B, 80, FINACK))
    table.lookup(feed.tcp(T0 + 1, B, 80, A, 40000, FINACK))
    still_open = handshake(table, feed, T0 + 1, 40001)
    table.expire(round((T0 + 3.5) * SEC))
    assert ended == [flow] and flow.end_reason == "timeout"
    assert table.flows() == [still_open]


# -- bounded table ----------------------------------------------------------------------


def test_max_flows_evicts_the_least_recently_active_flow() -> None:
    ended: list[Flow] = []
    table, feed = FlowTable(FlowConfig(max_flows=3), on_end=ended.append), Feed()
    f1, _ = table.lookup(feed.tcp(T0 + 1, A, 40000, B, 80, SYN))
    f2, _ = table.lookup(feed.udp(T0 + 2, A, 5353, B, 53))
    f3, _ = table.lookup(feed.icmp(T0 + 3, A, B))
    table.lookup(feed.tcp(T0 + 4, B, 80, A, 40000, SYNACK))  # f1 active again
    f4, _ = table.lookup(feed.udp(T0 + 5, A, 5354, B, 53))
    assert ended == [f2] and f2.end_reason == "evicted"
    assert len(table) == 3
    f5, _ = table.lookup(feed.udp(T0 + 6, A, 5355, B, 53))
    assert ended == [f2, f3] and f3.end_reason == "evicted"
    assert set(map(id, table.flows())) == {id(f1), id(f4), id(f5)}
    assert table.counters["evicted"] == 2
    assert table.counters["ended: evicted"] == 2


def test_flush_ends_every_flow_once() -> None:
    ended: list[Flow] = []
    table, feed = FlowTable(on_end=ended.append), Feed()
    flows = _one_of_each(table, feed)
    table.flush()
    assert sorted(map(id, ended)) == sorted(map(id, flows.values()))
    assert {f.end_reason for f in ended} == {"end of input"}
    assert len(table) == 0 and table.flows() == []
    table.flush()
    assert len(ended) == 4
    assert table.counters["ended: end of input"] == 4


def test_on_end_is_called_exactly_once_per_flow() -> None:
    ended: list[Flow] = []
    table, feed = FlowTable(FlowConfig(max_flows=4, udp_timeout=5), on_end=ended.append), Feed()
    handshake(table, feed)
    table.lookup(feed.tcp(T0 + 1, A, 40000, B, 80, RST))
    handshake(table, feed, T0 + 2)  # reuses the closed flow's ports
    for i in range(6):  # more flows than the table holds
        table.lookup(feed.udp(T0 + 3 + i, A, 6000 + i, B, 53))
    table.lookup(feed.udp(T0 + 30, A, 7000, B, 53))  # the other UDP flows time out
    table.flush()
    assert len(ended) == table.counters["flows"] == 9
    assert len(set(map(id, ended))) == 9
    reasons = [f.end_reason for f in ended]
    assert reasons.count("closed") == 1
    # A full table first expires with emergency timeouts (10% of udp_timeout here), so
    # the idle UDP flows end as timeouts rather than evictions; either way exactly once.
    assert set(reasons) <= {"closed", "evicted", "timeout", "end of input"}
    assert reasons.count("evicted") + reasons.count("timeout") >= 6
    assert reasons.count("end of input") >= 1  # the last UDP flow at least
    assert len(table) == 0


def test_a_million_one_packet_flows_stay_within_max_flows() -> None:
    limit = 10_000
    ended = 0

    def on_end(flow: Flow) -> None:
        nonlocal ended
        ended += 1

    table = FlowTable(FlowConfig(max_flows=limit), on_end=on_end)
    pack = struct.Struct(">I").pack
    dst = ip4(B)
    start = round(T0 * SEC)
    largest = 0
    for i in range(1_000_000):
        pkt = Packet(i + 1, start + i * 1000, 60, 60)  # 1 ms of capture time in all
        pkt.family, pkt.proto = 4, 17
        pkt.src, pkt.dst = pack(0x0B000000 + i), dst
        pkt.sport, pkt.dport = 40000, 53
        table.lookup(pkt)
        if i % 1000 == 0:
            largest = max(largest, len(table))
    assert largest <= limit
    assert len(table) == limit
    assert table.counters["flows"] == 1_000_000
    assert table.counters["evicted"] == ended == 1_000_000 - limit


# -- flow ids ---------------------------------------------------------------------------


def test_flow_id_is_positive_51_bit_and_the_same_for_both_directions() -> None:
    t1, t2 = FlowTable(), FlowTable()
    f1, _ = t1.lookup(Feed().tcp(T0, A, 40000, B, 80, SYN))
    f2, _ = t2.lookup(Feed().tcp(T0, B, 80, A, 40000, SYNACK))  # seen from the other side
    assert 0 < f1.flow_id < 2**51
    assert f1.flow_id == f2.flow_id


def _flow_ids() -> list[int]:
    table, feed = FlowTable(), Feed()
    flows = [handshake(table, feed, T0, port) for port in range(40000, 40010)]
    flows.append(table.lookup(feed.udp(T0, A, 5353, B, 53))[0])
    flows.append(table.lookup(feed.icmp(T0, A, B))[0])
    table.lookup(feed.tcp(T0 + 0.5, A, 40000, B, 80, RST))
    flows.append(handshake(table, feed, T0 + 1, 40000))  # same tuple, later start: new id
    return [f.flow_id for f in flows]


def test_flow_ids_differ_between_flows_and_repeat_across_runs() -> None:
    ids = _flow_ids()
    assert all(0 < i < 2**51 for i in ids)
    assert len(set(ids)) == len(ids)
    assert _flow_ids() == ids


def test_flow_ids_are_the_same_in_another_process() -> None:
    code = "from tests.test_flows import _flow_ids; print(_flow_ids())"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(_flow_ids())


# -- from a capture file ----------------------------------------------------------------


def test_flows_from_a_pcap_file(tmp_path: Path) -> None:
    frames = [
        (T0, ether(ipv4(tcp(40000, 80, b"", SYN, seq=100, ack=0), A, B))),
        (T0 + 0.1, ether(ipv4(tcp(80, 40000, b"", SYNACK, seq=500, ack=101), B, A))),
        (T0 + 0.2, ether(ipv4(tcp(40000, 80, b"", ACK, seq=101, ack=501), A, B))),
        (T0 + 0.3, ether(ipv4(udp(5353, 53, b"q"), A, B))),
        (T0 + 0.4, ether(ipv4(udp(53, 5353, b"answer"), B, A))),
    ]
    path = write_pcap(tmp_path / "flows.pcap", frames)
    ended: list[Flow] = []
    table, decoder = FlowTable(on_end=ended.append), Decoder()
    with open_capture(path) as reader:
        for num, (ts, linktype, data, wirelen) in enumerate(reader.frames(), 1):
            table.lookup(decoder.decode(num, ts, linktype, data, wirelen))
    table.flush()
    tcp_flow, udp_flow = sorted(ended, key=lambda f: f.proto)
    assert tcp_flow.state == "established" and tcp_flow.pkts == (2, 1)
    assert udp_flow.pkts == (1, 1) and udp_flow.bytes == (43, 48)
    assert udp_flow.first_num == 4
    assert udp_flow.last_ts - udp_flow.first_ts == SEC // 10


# -- Suricata's flow records (suricata-verify) ------------------------------------------


def _flow_checks(test: str) -> list[dict[str, Any]]:
    path = SV_TESTS / test / "test.yaml"
    if not path.is_file():
        return []
    checks = yaml.safe_load(path.read_text(encoding="utf-8"))["checks"]
    return [
        c["filter"]["match"]
        for c in checks
        if c["filter"]["match"].get("event_type") == "flow"
        and "flow.pkts_toserver" in c["filter"]["match"]
    ]


@pytest.mark.skipif(not SV_TESTS.is_dir(), reason=f"suricata-verify tests not found at {SV_TESTS}")
def test_suricata_flow_records_ipv6() -> None:
    matches = _flow_checks("community-id-ipv6")
    assert len(matches) == 2
    table, decoder = FlowTable(FlowConfig(community_id_seed=7)), Decoder()
    with open_capture(SV_TESTS / "community-id-ipv6" / "input.pcap") as reader:
        for num, (ts, linktype, data, wirelen) in enumerate(reader.frames(), 1):
            pkt = decoder.decode(num, ts, linktype, data, wirelen)
            if pkt.family:
                table.lookup(pkt)
    flows = {
        (str(ipaddress.ip_address(f.cli)), f.cport, str(ipaddress.ip_address(f.srv)), f.spt): f
        for f in table.flows()
    }
    for m in matches:
        key = (
            str(ipaddress.ip_address(m["src_ip"])),
            m["src_port"],
            str(ipaddress.ip_address(m["dest_ip"])),
            m["dest_port"],
        )
        flow = flows[key]
        assert flow.community_id == m["community_id"]
        assert flow.pkts == (m["flow.pkts_toserver"], m["flow.pkts_toclient"])
        assert flow.bytes == (m["flow.bytes_toserver"], m["flow.bytes_toclient"])
        assert flow.state == m["flow.state"]
        assert f"{flow.flags[0]:x}" == m["tcp.tcp_flags_ts"]
        assert f"{flow.flags[1]:x}" == m["tcp.tcp_flags_tc"]
        assert f"{flow.flags[0] | flow.flags[1]:x}" == m["tcp.tcp_flags"]
