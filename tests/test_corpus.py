"""Every capture of the shared public corpus reads cleanly, as tcpdump reads it.

The corpus lives beside the repository (``../shared/corpus``, or wherever
``NETSENTRY_CORPUS`` points). A user's clone has no such folder: then every test
here is skipped with a reason rather than failing.

One test per capture file checks, with a time bound, that the library reads it
without raising and yields exactly the packets ``tcpdump -r`` yields
(``MANIFEST.tsv`` column ``packets``; ``labels.yaml`` ``packets:`` where given).
For the three deliberately damaged files the count is the one before the damage,
and the capture must be flagged truncated with a warning naming the byte offset.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from netsentry.decode import Decoder
from netsentry.engine import AnalysisResult, analyze, open_all, packets
from netsentry.model import Packet, ip_text

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CORPUS = Path(os.environ.get("NETSENTRY_CORPUS") or DEFAULT_CORPUS)
SKIP_REASON = f"shared corpus not found at {CORPUS} (a user's clone has no ../shared)"
HAVE_CORPUS = (CORPUS / "MANIFEST.tsv").is_file()

MAX_SECONDS_PER_FILE = 20.0

# Files whose packet count is known not to match tcpdump, with the reason.
# Currently every one of the 123 captures matches.
EXCEPTIONS: dict[str, str] = {}

# The damaged files: where the damage starts, as found by walking the record
# headers with struct (24-byte file header, then 16-byte record header + caplen
# per record) and as tcpdump/capinfos report it in MANIFEST's verify_notes.
DAMAGE_OFFSETS: dict[str, int] = {
    # record 1 is 188 bytes; the header at 24+16+188 = 228 claims 1,409,179,648 bytes
    "decoder-edge/sv__bug-6875-01__fuzz.pcap": 228,
    # 6 whole records end at 5035, where a header claims 4,325,376 bytes
    "decoder-edge/sv__bug-1450-04__tls_DER-incomplete-header.pcap": 5035,
    # pre-2.3 header: caplen/len swapped, record 1 is 197 bytes; 24+16+197 = 237,
    # then 2 stray bytes of a record header in a 239-byte file
    "decoder-edge/ndpi__fuzz-2021-10-13.pcap": 237,
}

_WHOLE = re.compile(r"(\d+)")
_DAMAGED = re.compile(r"(\d+) readable \(file damaged/truncated\)")


@dataclass(frozen=True)
class Entry:
    """One MANIFEST.tsv row, reduced to what these tests check."""

    file: str
    packets: int
    damaged: bool
    size: int
    sha256: str


def _parse_packets(text: str) -> tuple[int, bool]:
    whole = _WHOLE.fullmatch(text)
    if whole:
        return int(whole.group(1)), False
    damaged = _DAMAGED.fullmatch(text)
    if damaged:
        return int(damaged.group(1)), True
    raise ValueError(f"unexpected MANIFEST packets value {text!r}")


def _manifest() -> list[Entry]:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    entries = []
    for row in rows:
        count, damaged = _parse_packets(row["packets"])
        entries.append(
            Entry(row["file"], count, damaged, int(row["size_bytes"]), row["sha256"])
        )
    return entries


def _labels() -> dict[str, Any]:
    with (CORPUS / "labels.yaml").open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    files: dict[str, Any] = data["files"]
    return files


MANIFEST: list[Entry] = _manifest() if HAVE_CORPUS else []
LABELS: dict[str, Any] = _labels() if HAVE_CORPUS else {}


def _params() -> list[Any]:
    if not HAVE_CORPUS:
        return [pytest.param(None, id="corpus-missing", marks=pytest.mark.skip(reason=SKIP_REASON))]
    params = []
    for entry in MANIFEST:
        marks = []
        if entry.file in EXCEPTIONS:
            marks.append(pytest.mark.xfail(strict=True, reason=EXCEPTIONS[entry.file]))
        params.append(pytest.param(entry, id=entry.file, marks=marks))
    return params


needs_corpus = pytest.mark.skipif(not HAVE_CORPUS, reason=SKIP_REASON)


def _analyze_timed(path: Path) -> AnalysisResult:
    start = time.perf_counter()
    result = analyze([path])
    elapsed = time.perf_counter() - start
    assert elapsed < MAX_SECONDS_PER_FILE, f"{path} took {elapsed:.1f} s"
    return result


def _decoded(relpath: str) -> list[Packet]:
    """Every Packet of one corpus file, in order."""
    with ExitStack() as stack:
        readers = open_all([CORPUS / relpath], stack)
        return list(packets(readers, Decoder()))


def _protocol_counts(result: AnalysisResult) -> dict[str, int]:
    return {name: p for name, (p, _b) in result.summary.protocols.items()}


# -- the manifest itself ---------------------------------------------------------------


@needs_corpus
def test_manifest_and_labels_list_the_same_123_captures() -> None:
    assert len(MANIFEST) == 123
    assert len({e.file for e in MANIFEST}) == 123
    assert set(LABELS) == {e.file for e in MANIFEST}
    assert {e.file for e in MANIFEST if e.damaged} == set(DAMAGE_OFFSETS)
    assert set(EXCEPTIONS) <= {e.file for e in MANIFEST}


@needs_corpus
def test_labels_packets_agree_with_manifest() -> None:
    by_file = {e.file: e.packets for e in MANIFEST}
    with_packets = {f: v["packets"] for f, v in LABELS.items() if "packets" in v}
    assert len(with_packets) == 50
    assert {f: by_file[f] for f in with_packets} == with_packets


# -- one test per capture -----------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("entry", _params())
def test_capture_reads_like_tcpdump(entry: Entry) -> None:
    path = CORPUS / entry.file
    data = path.read_bytes()
    assert len(data) == entry.size
    assert hashlib.sha256(data).hexdigest() == entry.sha256

    result = _analyze_timed(path)
    summary = result.summary

    assert summary.packets == entry.packets
    label_packets = LABELS.get(entry.file, {}).get("packets")
    if label_packets is not None:
        assert summary.packets == label_packets
    assert len(summary.captures) == 1
    info = summary.captures[0]
    assert info.name == str(path)
    assert info.packets == entry.packets
    # every frame is counted under exactly one protocol name
    assert sum(p for p, _b in summary.protocols.values()) == entry.packets
    assert sum(b for _p, b in summary.protocols.values()) == summary.bytes

    if entry.damaged:
        assert info.truncated
        assert result.damaged
        assert len(info.warnings) == 1
        warning = info.warnings[0]
        assert warning.startswith(f"{path}: ")
        assert f"byte offset {DAMAGE_OFFSETS[entry.file]}" in warning
        assert "\n" not in warning
    else:
        assert not info.truncated
        assert not result.damaged
        assert info.warnings == []
    assert summary.warnings() == info.warnings


@needs_corpus
@pytest.mark.timeout(120)
def test_whole_corpus_in_one_run_counts_every_packet() -> None:
    """All 123 files merged into one stream: the counts add up, only the damaged warn."""
    paths = [CORPUS / e.file for e in MANIFEST]
    start = time.perf_counter()
    result = analyze(paths)
    assert time.perf_counter() - start < 60
    summary = result.summary
    assert summary.packets == sum(e.packets for e in MANIFEST)
    assert [c.packets for c in summary.captures] == [e.packets for e in MANIFEST]
    assert result.damaged
    assert [c.name for c in summary.captures if c.truncated] == [
        str(CORPUS / e.file) for e in MANIFEST if e.damaged
    ]
    assert len(summary.warnings()) == 3


# -- decoded facts for decoder-edge files -------------------------------------------------
# Each number below was checked against the file independently of netsentry, by
# walking it with dpkt and struct (see the comments).


@needs_corpus
def test_dbus_link_type_is_skipped_by_name() -> None:
    # pcap header link type 231 (LINKTYPE_DBUS), 2 records; netsentry has no D-Bus decoder
    result = analyze([CORPUS / "decoder-edge/tcpdump__unsupported-link-type-dbus.pcap"])
    summary = result.summary
    assert summary.packets == 2
    assert dict(summary.skipped) == {"unsupported link type 231 (DBUS)": 2}
    assert _protocol_counts(result) == {"unsupported link type": 2}
    assert summary.captures[0].linktypes == [231]
    assert summary.talkers.counts == {}


@needs_corpus
def test_gre_within_gre_decodes_the_innermost_packet() -> None:
    # Ethernet / IPv4 proto 47 / GRE / IPv4 proto 47 / GRE / IPv4: 624 ICMP echo
    # (312 each way between 10.10.25.1 and 192.168.1.2) and 4 UDP (RIP to 224.0.0.9)
    pkts = _decoded("decoder-edge/zeek__tunnels-gre-within-gre.pcap")
    assert len(pkts) == 628
    assert Counter(p.proto_name for p in pkts) == {"ICMP": 624, "UDP": 4}
    assert {p.tunnels for p in pkts} == {("GRE", "GRE")}
    icmp_pairs = Counter((ip_text(p.src), ip_text(p.dst)) for p in pkts if p.proto == 1)
    assert icmp_pairs == {("10.10.25.1", "192.168.1.2"): 312, ("192.168.1.2", "10.10.25.1"): 312}
    assert Counter(ip_text(p.dst) for p in pkts if p.proto == 17) == {"224.0.0.9": 4}


@needs_corpus
def test_triple_vlan_tags_are_peeled() -> None:
    # three 802.1Q tags, VLAN 30, 20, 10 (outermost first), around IPv4/TCP
    pkts = _decoded("decoder-edge/zeek__vlan-qinqinq.pcap")
    assert len(pkts) == 14
    assert Counter(p.proto_name for p in pkts) == {"TCP": 14}
    assert {p.vlans for p in pkts} == {(30, 20, 10)}
    assert Counter(ip_text(p.src) for p in pkts) == {"141.142.228.5": 7, "192.150.187.43": 7}


@needs_corpus
def test_vxlan_inner_frames_are_decoded() -> None:
    # outer UDP to 4789 with VXLAN flag 0x08; inner Ethernet: 8 ICMP (4 echo request
    # 192.168.203.3 -> .5, 4 replies) and 2 ARP
    pkts = _decoded("decoder-edge/sv__vxlan-decoder-02__vxlan.pcap")
    assert len(pkts) == 10
    assert Counter(p.proto_name for p in pkts) == {"ICMP": 8, "ARP": 2}
    assert {p.tunnels for p in pkts} == {("VXLAN",)}
    icmp = [p for p in pkts if p.proto == 1]
    assert Counter((ip_text(p.src), ip_text(p.dst), p.icmp_type) for p in icmp) == {
        ("192.168.203.3", "192.168.203.5", 8): 4,
        ("192.168.203.5", "192.168.203.3", 0): 4,
    }


@needs_corpus
def test_6in4_tunnel_yields_the_inner_ipv6_udp() -> None:
    pkts = _decoded("decoder-edge/zeek__tunnels-6in4.pcap")
    assert len(pkts) == 1
    (pkt,) = pkts
    assert (pkt.family, pkt.proto_name, pkt.tunnels) == (6, "UDP", ("6in4",))
    assert ip_text(pkt.src) == "dead:0000:0000:0000:0000:0000:0000:beef"
    assert ip_text(pkt.dst) == "cafe:0000:0000:0000:0000:0000:0000:babe"


@needs_corpus
def test_timestamps_of_odd_files() -> None:
    # nanosecond pcap (magic a1b23c4d): the ns digits survive
    nano = analyze([CORPUS / "decoder-edge/tcpdump__tcp-handshake-nano.pcap"]).summary
    assert nano.first_ts == 1418145369924505488
    assert nano.last_ts == 1418145370052115157
    # pcapng EPB timestamp 1,000,000 << 32 microseconds = exactly 2**32 s (past 2106)
    late = analyze([CORPUS / "decoder-edge/tcpdump__time_2106_overflow.pcapng"]).summary
    assert late.first_ts == 2**32 * 1_000_000_000
    assert late.to_dict()["first_timestamp"] == "2106-02-07T06:28:16.000000+0000"


@needs_corpus
@pytest.mark.parametrize(
    "relpath", ["decoder-edge/tcpdump__empty.pcap", "decoder-edge/tcpdump__empty.pcapng"]
)
def test_empty_captures(relpath: str) -> None:
    result = analyze([CORPUS / relpath])
    summary = result.summary
    assert (summary.packets, summary.bytes, summary.first_ts, summary.last_ts) == (0, 0, None, None)
    assert summary.captures[0].linktypes == [1]
    assert not result.damaged
