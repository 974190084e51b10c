"""Community ID v1: the pure function and the flow property, against reference output.

Every expected value comes from the conformance files in ``../shared/conformance``
(pycommunityid's vectors and pcap output, the upstream baseline, and Suricata's
suricata-verify tests); see that folder's README §1. The tests skip with a reason
when the shared folder is absent.
"""

from __future__ import annotations

import ipaddress
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from netsentry.capture import open_capture
from netsentry.communityid import community_id, icmp_ports
from netsentry.decode import Decoder
from netsentry.flows import Flow, FlowConfig, FlowTable
from netsentry.model import Packet

SHARED = Path(__file__).resolve().parents[2] / "shared"
CONFORMANCE = SHARED / "conformance"
CID = CONFORMANCE / "community-id"
SPEC = CID / "community-id-spec"
SV_TESTS = CONFORMANCE / "suricata-verify" / "tests"

needs_shared = pytest.mark.skipif(
    not CID.is_dir(), reason=f"conformance data not found at {CONFORMANCE}"
)


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _vectors() -> list[dict[str, Any]]:
    path = CID / "derived" / "tuple_vectors.json"
    if not path.is_file():
        return []
    vectors: list[dict[str, Any]] = _load_json(path)["vectors"]
    return vectors


def _per_packet() -> dict[str, list[dict[str, Any]]]:
    path = CID / "derived" / "per_packet_expected.json"
    if not path.is_file():
        return {}
    pcaps: dict[str, list[dict[str, Any]]] = _load_json(path)["pcaps"]
    return pcaps


def _read_packets(path: Path) -> list[Packet]:
    """Every frame of a capture decoded, numbered from 1 (pcap_cnt)."""
    decoder = Decoder()
    with open_capture(path) as reader:
        return [
            decoder.decode(num, ts, linktype, data, wirelen)
            for num, (ts, linktype, data, wirelen) in enumerate(reader.frames(), 1)
        ]


def _ports(pkt: Packet) -> tuple[int, int]:
    """What community_id takes as ports: ICMP type/code, transport ports, or nothing."""
    if pkt.proto in (1, 58):
        return pkt.icmp_type, pkt.icmp_code
    if pkt.proto in (6, 17, 132):
        return pkt.sport, pkt.dport
    return 0, 0


def _packet_cid(pkt: Packet, seed: int, *, b64: bool = True) -> str | None:
    """The Community ID of one packet's directional tuple; None for non-IP frames."""
    if pkt.family == 0:
        return None
    sport, dport = _ports(pkt)
    return community_id(pkt.proto, pkt.src, pkt.dst, sport, dport, seed, b64=b64)


def _addr(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


# -- the pure function ---------------------------------------------------------------


def _vector_id(v: dict[str, Any]) -> str:
    return f"{v['proto_name']}-{v['saddr']}:{v['sport']}-{v['daddr']}:{v['dport']}"


VECTORS = _vectors()


@needs_shared
def test_vector_file_has_the_documented_39_vectors() -> None:
    assert len(VECTORS) == 39


@needs_shared
@pytest.mark.parametrize("vector", VECTORS, ids=[_vector_id(v) for v in VECTORS])
def test_tuple_vector(vector: dict[str, Any]) -> None:
    src, dst = _addr(vector["saddr"]), _addr(vector["daddr"])
    sport = vector["sport"] if vector["sport"] is not None else 0
    dport = vector["dport"] if vector["dport"] is not None else 0
    checked = 0
    for key, expected in vector.items():
        match = re.fullmatch(r"cid_seed(\d+)", key)
        if match is None:
            continue
        seed = int(match.group(1))
        assert community_id(vector["proto"], src, dst, sport, dport, seed) == expected, key
        checked += 1
    if "cid_seed0_nob64" in vector:
        got = community_id(vector["proto"], src, dst, sport, dport, 0, b64=False)
        assert got == vector["cid_seed0_nob64"]
        checked += 1
    assert checked, "vector without an expected value"


def test_icmp_ports_pairs_and_one_way_types() -> None:
    # spec README §2: echo request maps to (8, 0) bidirectional; an unpaired type keeps
    # its code as the second port and is one-way
    assert icmp_ports(1, 8, 0) == (8, 0, False)
    assert icmp_ports(1, 0, 0) == (0, 8, False)
    assert icmp_ports(1, 11, 1) == (11, 1, True)
    assert icmp_ports(58, 135, 0) == (135, 136, False)
    assert icmp_ports(58, 3, 0) == (3, 0, True)


def test_one_way_icmp_is_not_reordered() -> None:
    a, b = _addr("10.0.0.2"), _addr("10.0.0.1")
    assert community_id(1, a, b, 3, 1) != community_id(1, b, a, 3, 1)
    assert community_id(1, a, b, 8, 0) == community_id(1, b, a, 0, 0)


# -- per packet over the spec's pcaps --------------------------------------------------

PER_PACKET = _per_packet()


@needs_shared
def test_per_packet_file_covers_the_nine_pcaps() -> None:
    assert len(PER_PACKET) == 9
    assert sum(len(frames) for frames in PER_PACKET.values()) == 136


@needs_shared
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("rel", sorted(PER_PACKET), ids=lambda r: Path(r).name)
def test_per_packet(rel: str, seed: int) -> None:
    expected = PER_PACKET[rel]
    packets = _read_packets(CONFORMANCE / rel)
    assert len(packets) == len(expected)
    for pkt, frame in zip(packets, expected, strict=True):
        where = f"{Path(rel).name} frame {frame['frame']}"
        assert pkt.num == frame["frame"], where
        assert pkt.ts == int(Decimal(frame["ts"]) * 1_000_000_000), where
        want = frame[f"community_id_seed{seed}"]
        if want is None:
            assert pkt.family == 0, where  # ARP: no id
        else:
            # the decoded tuple is the one the reference hashed
            assert pkt.proto == frame["proto"], where
            assert pkt.src == _addr(frame["saddr"]), where
            assert pkt.dst == _addr(frame["daddr"]), where
            if "sport_or_type" in frame:
                assert _ports(pkt) == (frame["sport_or_type"], frame["dport_or_code"]), where
        assert _packet_cid(pkt, seed) == want, where


# -- the upstream baseline (distinct directional tuples of combined.pcap.gz) ------------


def _baseline_tuple(pkt: Packet) -> tuple[int, str, str, int | None, int | None]:
    """(proto, saddr, daddr, sport, dport) as the baseline lists it: ICMP ports mapped."""
    sport: int | None
    dport: int | None
    if pkt.proto in (1, 58):
        sport, dport, _ = icmp_ports(pkt.proto, pkt.icmp_type, pkt.icmp_code)
    elif pkt.proto in (6, 17, 132):
        sport, dport = pkt.sport, pkt.dport
    else:
        sport = dport = None
    src = str(ipaddress.ip_address(pkt.src))
    dst = str(ipaddress.ip_address(pkt.dst))
    return pkt.proto, src, dst, sport, dport


@needs_shared
@pytest.mark.parametrize(
    ("name", "seed", "b64"), [("deflt", 0, True), ("seed1", 1, True), ("nob64", 0, False)]
)
def test_upstream_baseline(name: str, seed: int, b64: bool) -> None:
    baseline = _load_json(SPEC / "baseline" / f"baseline_{name}.json")
    assert len(baseline) == 23
    seen: dict[tuple[int, str, str, int | None, int | None], str] = {}
    for pkt in _read_packets(SPEC / "pcaps" / "combined.pcap.gz"):
        cid = _packet_cid(pkt, seed, b64=b64)
        if cid is not None:
            seen.setdefault(_baseline_tuple(pkt), cid)
    got = [
        {"proto": p, "saddr": s, "daddr": d, "sport": sp, "dport": dp, "communityid": cid}
        for (p, s, d, sp, dp), cid in seen.items()
    ]
    assert got == baseline  # same entries, same first-seen order


@needs_shared
@pytest.mark.parametrize(("name", "seed"), [("deflt", 0), ("seed1", 1)])
def test_flow_table_over_baseline_capture(name: str, seed: int) -> None:
    """Each flow's id is the baseline id of the directional tuple of its first packet."""
    baseline = _load_json(SPEC / "baseline" / f"baseline_{name}.json")
    by_tuple = {
        (e["proto"], e["saddr"], e["daddr"], e["sport"], e["dport"]): e["communityid"]
        for e in baseline
    }
    ended: list[Flow] = []
    table = FlowTable(FlowConfig(community_id_seed=seed), on_end=ended.append)
    first_tuple: dict[int, tuple[int, str, str, int | None, int | None]] = {}
    for pkt in _read_packets(SPEC / "pcaps" / "combined.pcap.gz"):
        if pkt.family == 0:
            continue
        flow, _ = table.lookup(pkt)
        first_tuple.setdefault(id(flow), _baseline_tuple(pkt))
    table.flush()
    # icmp6 (6 address pairs), icmp (2), tcp over ipv6, sctp, tcp, udp, rsvp
    assert len(ended) == 13
    for flow in ended:
        assert flow.community_id == by_tuple[first_tuple[id(flow)]]
    assert {f.community_id for f in ended} <= set(by_tuple.values())


# -- Suricata's view: suricata-verify community-id tests --------------------------------


def _seed_of(test_dir: Path) -> int:
    text = (test_dir / "suricata.yaml").read_text(encoding="utf-8")
    seeds = set(re.findall(r"community-id-seed:\s*(\d+)", text))
    assert len(seeds) == 1, seeds
    return int(seeds.pop())


@needs_shared
@pytest.mark.parametrize(
    ("test", "seed", "nflows"),
    [("community-id-ipv4", 7, 1), ("community-id-ipv6", 7, 2), ("community-id-sameip", 1, 1)],
)
def test_suricata_verify(test: str, seed: int, nflows: int) -> None:
    test_dir = SV_TESTS / test
    if not test_dir.is_dir():
        pytest.skip(f"suricata-verify test not found at {test_dir}")
    assert _seed_of(test_dir) == seed
    expected: dict[tuple[str, str, int, str, int], str] = {}
    for check in yaml.safe_load((test_dir / "test.yaml").read_text(encoding="utf-8"))["checks"]:
        match = check["filter"]["match"]
        if "community_id" in match:
            key = (
                match["proto"],
                str(ipaddress.ip_address(match["src_ip"])),
                match["src_port"],
                str(ipaddress.ip_address(match["dest_ip"])),
                match["dest_port"],
            )
            assert expected.setdefault(key, match["community_id"]) == match["community_id"]
    assert len(expected) == nflows

    table = FlowTable(FlowConfig(community_id_seed=seed))
    for pkt in _read_packets(test_dir / "input.pcap"):
        if pkt.family:
            table.lookup(pkt)
    flows = {
        (
            "TCP" if f.proto == 6 else str(f.proto),
            str(ipaddress.ip_address(f.cli)),
            f.cport,
            str(ipaddress.ip_address(f.srv)),
            f.spt,
        ): f
        for f in table.flows()
    }
    for key, cid in expected.items():
        assert key in flows, f"no flow {key}; have {sorted(flows)}"
        assert flows[key].community_id == cid
