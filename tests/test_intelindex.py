"""The compiled indicator index: intervals against a brute-force reference, hashes, files."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.intel import Indicator, IntelSet
from netsentry.intelindex import (
    CompiledIntel,
    FeedInfo,
    IndexBuilder,
    IntelIndexError,
)


def build(tmp_path: Path, feeds: dict[str, list[tuple[str, str]]], allow: tuple[str, ...] = (),
          drop_bogons: bool = False) -> CompiledIntel:
    builder = IndexBuilder(drop_bogons=drop_bogons)
    for block in allow:
        builder.allow_network(block)
    for name, entries in feeds.items():
        index = builder.feed(FeedInfo(name, "c2", "high"))
        for kind, value in entries:
            builder.add(kind, value, index)
    path = tmp_path / "intel.idx"
    builder.write(path)
    return CompiledIntel(path)


def ip_hits(compiled: CompiledIntel, address: str) -> list[tuple[str, str]]:
    _, hits = compiled.lookup_ip(ipaddress.ip_address(address).packed)
    return [(h.value, h.feed) for h in hits]


def test_nested_ranges_innermost_wins(tmp_path: Path) -> None:
    compiled = build(tmp_path, {
        "wide": [("ip", "10.0.0.0/8"), ("ip", "0.0.0.0/0")],
        "mid": [("ip", "10.1.0.0/16")],
        "exact": [("ip", "10.1.2.3"), ("ip", "10.1.2.4")],
        "also": [("ip", "10.1.2.3/32")],
        "v6": [("ip", "2001:db8::/32"), ("ip", "2001:db8:bad::/48"), ("ip", "::/0")],
    }, allow=("10.1.9.0/24",))
    assert ip_hits(compiled, "10.1.2.3") == [("10.1.2.3", "exact"), ("10.1.2.3", "also")]
    assert ip_hits(compiled, "10.1.2.4") == [("10.1.2.4", "exact")]
    assert ip_hits(compiled, "10.1.2.5") == [("10.1.0.0/16", "mid")]
    assert ip_hits(compiled, "10.1.9.9") == []  # allowlisted inside listed ranges
    assert ip_hits(compiled, "10.1.10.0") == [("10.1.0.0/16", "mid")]
    assert ip_hits(compiled, "10.200.0.1") == [("10.0.0.0/8", "wide")]
    assert ip_hits(compiled, "255.255.255.255") == [("0.0.0.0/0", "wide")]
    assert ip_hits(compiled, "0.0.0.0") == [("0.0.0.0/0", "wide")]
    assert ip_hits(compiled, "2001:db8:bad::1") == [("2001:db8:bad::/48", "v6")]
    assert ip_hits(compiled, "2001:db8:bae::1") == [("2001:db8::/32", "v6")]
    assert ip_hits(compiled, "ffff::1") == [("::/0", "v6")]
    hit = compiled.lookup_ip(bytes([10, 1, 2, 4]))[1][0]
    assert hit == Indicator("10.1.2.4", "ip", "exact", "c2", "high")
    assert compiled.count == 8  # 10.1.2.3 and 10.1.2.3/32 are one indicator of two feeds


def test_bogons_dropped_by_default(tmp_path: Path) -> None:
    builder = IndexBuilder()
    index = builder.feed(FeedInfo("f"))
    assert [builder.add("ip", v, index) for v in
            ("10.0.0.0/8", "192.168.1.101", "45.9.148.3", "0.0.0.0/1", "fe80::1")] == [
        "dropped", "dropped", "ok", "ok", "dropped"]
    builder.write(tmp_path / "x.idx")
    compiled = CompiledIntel(tmp_path / "x.idx")
    assert ip_hits(compiled, "45.9.148.3") == [("45.9.148.3", "f")]
    assert ip_hits(compiled, "10.9.9.9") == []  # inside the listed /1, but a bogon
    assert ip_hits(compiled, "11.0.0.1") == [("0.0.0.0/1", "f")]


def test_domains_urls_hashes_and_allowlists(tmp_path: Path) -> None:
    builder = IndexBuilder(drop_bogons=False)
    builder.allow_domain("good.example", suffix=False)
    builder.allow_domain("cdn.example", suffix=True)
    index = builder.feed(FeedInfo("f", "phishing", "medium"))
    results = [builder.add(k, v, index) for k, v in [
        ("domain", "evil.example"), ("domain", "good.example"), ("domain", "x.cdn.example"),
        ("domain", "example"), ("url", "evil.example/a?b=1"), ("url", "x.cdn.example/z"),
        ("ja3", "e7d705a3286e19ea42f587b344ee6865"),
        ("sha1", "2f5a0f3b0f2b4e1f6c3e4b8d9a1c2e3f4a5b6c7d"),
    ]]
    assert results == ["ok", "dropped", "dropped", "ok", "ok", "dropped", "ok", "ok"]
    builder.write(tmp_path / "x.idx")
    compiled = CompiledIntel(tmp_path / "x.idx")
    intel = IntelSet()
    intel.attach(compiled)
    assert [h.value for h in intel.lookup("domain", "a.b.evil.example")] == ["evil.example"]
    assert [h.value for h in intel.lookup("domain", "notevil.example")] == ["example"]
    assert intel.lookup("domain", "good.example") == []  # exact allow wins over 'example'
    assert [h.value for h in intel.lookup("domain", "sub.good.example")] == ["example"]
    assert intel.lookup("domain", "deep.cdn.example") == []  # allowed suffix
    assert [h.value for h in intel.lookup("url", "HTTP://EVIL.example:80/a?b=1")] == [
        "evil.example/a?b=1"]
    assert intel.lookup("url", "http://evil.example/a?b=2") == []
    assert [h.feed for h in intel.lookup("ja3", "E7D705A3286E19EA42F587B344EE6865")] == ["f"]
    assert [h.category for h in intel.lookup("sha1", "2f5a0f3b0f2b4e1f6c3e4b8d9a1c2e3f4a5b6c7d")
            ] == ["phishing"]
    assert intel.count == 5 and intel.feeds == {"f"}


def test_local_and_compiled_answers_merge(tmp_path: Path) -> None:
    compiled = build(tmp_path, {"feed": [("ip", "45.9.148.0/24"), ("domain", "evil.example")]})
    intel = IntelSet()
    intel.add(Indicator("45.9.148.3", "ip", "local"))
    intel.add(Indicator("45.9.0.0/16", "ip", "local"))
    intel.add(Indicator("evil.example", "domain", "local"))
    intel.add(Indicator("x.evil.example", "domain", "local"))
    intel.attach(compiled)
    assert [(h.value, h.feed) for h in intel.lookup("ip", "45.9.148.3")] == [
        ("45.9.148.3", "local")]
    assert [(h.value, h.feed) for h in intel.lookup("ip", "45.9.148.4")] == [
        ("45.9.148.0/24", "feed")]
    assert [(h.value, h.feed) for h in intel.lookup("ip", "45.9.1.1")] == [
        ("45.9.0.0/16", "local")]
    assert [(h.value, h.feed) for h in intel.lookup("domain", "a.evil.example")] == [
        ("evil.example", "local"), ("evil.example", "feed")]
    assert [(h.value, h.feed) for h in intel.lookup("domain", "a.x.evil.example")] == [
        ("x.evil.example", "local")]


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(IntelIndexError, match="no compiled intel"):
        CompiledIntel(tmp_path / "none.idx")
    (tmp_path / "bad.idx").write_bytes(b"not an index at all")
    with pytest.raises(IntelIndexError, match="not a netsentry intel index"):
        CompiledIntel(tmp_path / "bad.idx")
    build(tmp_path, {"f": [("ip", "45.9.148.3")]})
    data = (tmp_path / "intel.idx").read_bytes()
    (tmp_path / "cut.idx").write_bytes(data[:40])
    with pytest.raises(IntelIndexError, match="damaged"):
        CompiledIntel(tmp_path / "cut.idx")


def test_other_byte_order_is_read(tmp_path: Path) -> None:
    import json
    import sys

    build(tmp_path, {"f": [("ip", "45.9.148.3"), ("domain", "evil.example")]})
    data = bytearray((tmp_path / "intel.idx").read_bytes())
    size = int.from_bytes(data[8:12], "little")
    header = json.loads(data[12 : 12 + size])
    other = "big" if sys.byteorder == "little" else "little"
    body = bytearray(data[12 + size :])
    for section in header["sections"]:
        width = {"Q": 8, "I": 4, "B": 1}.get(section["type"], 0)
        for at in range(section["offset"], section["offset"] + section["size"], width or 1):
            if width:
                body[at : at + width] = body[at : at + width][::-1]
    header["byteorder"] = other
    head = json.dumps(header).encode()
    (tmp_path / "swapped.idx").write_bytes(
        bytes(data[:8]) + len(head).to_bytes(4, "little") + head + bytes(body)
    )
    compiled = CompiledIntel(tmp_path / "swapped.idx")
    assert ip_hits(compiled, "45.9.148.3") == [("45.9.148.3", "f")]
    assert [h.value for h in compiled.lookup_domain("a.evil.example")] == ["evil.example"]


# -- the intervals against a brute-force longest-prefix reference ---------------------------

_prefix = st.integers(min_value=0, max_value=32)
_net = st.tuples(st.integers(min_value=0, max_value=2**32 - 1), _prefix)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(_net, st.integers(min_value=0, max_value=2)), max_size=25),
    st.lists(_net, max_size=4),
    st.lists(st.integers(min_value=0, max_value=2**32 - 1), min_size=1, max_size=30),
)
def test_intervals_match_longest_prefix_reference(
    tmp_path_factory: pytest.TempPathFactory,
    listed: list[tuple[tuple[int, int], int]],
    allowed: list[tuple[int, int]],
    probes: list[int],
) -> None:
    def network(value: int, prefix: int) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network((value, prefix), strict=False)

    allow = [network(v, p) for v, p in allowed]
    feeds: dict[str, list[tuple[str, str]]] = {"f0": [], "f1": [], "f2": []}
    kept: list[tuple[ipaddress.IPv4Network, str]] = []
    for (value, prefix), feed in listed:
        net = network(value, prefix)
        feeds[f"f{feed}"].append(("ip", str(net)))
        if not any(net.subnet_of(a) for a in allow):  # dropped at build time
            kept.append((net, f"f{feed}"))
    compiled = build(tmp_path_factory.mktemp("idx"), feeds, allow=tuple(map(str, allow)))
    # probes: random addresses plus every block's edges
    edges = [int(n.network_address) for n, _ in kept] + [int(n.broadcast_address) for n, _ in kept]
    for probe in probes + edges:
        address = ipaddress.IPv4Address(probe)
        if any(address in a for a in allow):
            expected: list[tuple[str, str]] = []
        else:
            covering = [(n, f) for n, f in kept if address in n]
            best = max((n.prefixlen for n, _ in covering), default=-1)
            expected = sorted(
                {(n.with_prefixlen if n.prefixlen < 32 else str(n.network_address), f)
                 for n, f in covering if n.prefixlen == best}
            )
        assert sorted(ip_hits(compiled, str(address))) == expected, str(address)


def test_packed_lookups_answer_like_text_ones(tmp_path: Path) -> None:
    compiled = build(tmp_path, {"feed": [("ip", "45.9.148.0/24"), ("ip", "2001:db8:bad::/48")]})
    intel = IntelSet()
    intel.add(Indicator("45.9.148.3", "ip", "local"))
    intel.attach(compiled)
    for text in ("45.9.148.3", "45.9.148.4", "45.9.149.1", "2001:db8:bad::9", "2001:db8::1"):
        packed = ipaddress.ip_address(text).packed
        assert intel.lookup_packed(packed) == intel.lookup("ip", text), text
    assert [h.feed for h in intel.lookup_packed(bytes([45, 9, 148, 3]))] == ["local"]
    assert intel.lookup_packed(b"\x01\x02") == []  # not an address
    intel.add(Indicator("45.9.149.1", "ip", "late"))  # adding clears the memo
    assert [h.feed for h in intel.lookup_packed(bytes([45, 9, 149, 1]))] == ["late"]
