"""Indicator sets: longest-prefix addresses, parent domains, normalized URLs, local lists."""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.intel import (
    Indicator,
    IntelSet,
    guess_kind,
    load_indicator_file,
    normalize_domain,
    normalize_url,
    parse_network,
)


def feeds(hits: list[Indicator]) -> list[tuple[str, str]]:
    return [(h.value, h.feed) for h in hits]


@pytest.fixture
def nets() -> IntelSet:
    intel = IntelSet()
    for value, feed in [
        ("10.0.0.0/8", "wide"),
        ("10.1.0.0/16", "mid"),
        ("10.1.2.3", "exact"),
        ("10.1.2.3/32", "exact-2"),
        ("2001:db8::/32", "v6-wide"),
        ("2001:db8:bad::/48", "v6-narrow"),
        ("192.0.2.77/24", "host-bits"),  # means 192.0.2.0/24
    ]:
        assert intel.add(Indicator(value, "ip", feed))
    return intel


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.1.2.3", [("10.1.2.3", "exact"), ("10.1.2.3/32", "exact-2")]),
        ("10.1.2.4", [("10.1.0.0/16", "mid")]),
        ("10.1.255.255", [("10.1.0.0/16", "mid")]),
        ("10.2.0.0", [("10.0.0.0/8", "wide")]),
        ("10.255.255.255", [("10.0.0.0/8", "wide")]),
        ("11.0.0.0", []),
        ("9.255.255.255", []),
        ("192.0.2.1", [("192.0.2.77/24", "host-bits")]),
        ("2001:db8:bad::1", [("2001:db8:bad::/48", "v6-narrow")]),
        ("2001:0db8:0bad:0000:0000:0000:0000:0001", [("2001:db8:bad::/48", "v6-narrow")]),
        ("2001:db8:bae::", [("2001:db8::/32", "v6-wide")]),
        ("2001:db9::", []),
        ("::ffff:10.1.2.3", []),  # IPv4-mapped IPv6 is another address
        ("not an address", []),
        ("", []),
    ],
)
def test_longest_prefix_lookup(
    nets: IntelSet, address: str, expected: list[tuple[str, str]]
) -> None:
    assert feeds(nets.lookup("ip", address)) == expected


def test_counts_and_feeds(nets: IntelSet) -> None:
    assert nets.count == len(nets) == 7
    assert nets.feeds == {"wide", "mid", "exact", "exact-2", "v6-wide", "v6-narrow", "host-bits"}


def test_default_route_matches_everything() -> None:
    intel = IntelSet()
    intel.add(Indicator("0.0.0.0/0", "ip", "all"))
    assert feeds(intel.lookup("ip", "203.0.113.9")) == [("0.0.0.0/0", "all")]
    assert intel.lookup("ip", "::1") == []


def test_invalid_indicators_are_refused() -> None:
    intel = IntelSet()
    assert not intel.add(Indicator("300.1.1.1", "ip", "f"))
    assert not intel.add(Indicator("10.0.0.0/33", "ip", "f"))
    assert not intel.add(Indicator("evil.example", "ip", "f"))
    assert not intel.add(Indicator("x", "asn", "f"))
    assert intel.count == 0 and intel.feeds == set()
    assert intel.update([Indicator("1.2.3.4", "ip", "f"), Indicator("nope", "ip", "f")]) == 1
    assert intel.count == 1


def test_lookups_see_indicators_added_later() -> None:
    intel = IntelSet()
    assert intel.lookup("ip", "198.51.100.1") == []  # remembered as a miss...
    assert intel.lookup("domain", "a.evil.example") == []
    intel.add(Indicator("198.51.100.0/24", "ip", "late"))
    intel.add(Indicator("evil.example", "domain", "late"))
    assert feeds(intel.lookup("ip", "198.51.100.1")) == [("198.51.100.0/24", "late")]  # ...not
    assert feeds(intel.lookup("domain", "a.evil.example")) == [("evil.example", "late")]


def test_memo_is_bounded() -> None:
    intel = IntelSet()
    intel.add(Indicator("10.0.0.0/8", "ip", "f"))
    for i in range(IntelSet.MEMO + 10):
        intel.lookup("ip", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    assert len(intel._memo["ip"]) <= IntelSet.MEMO
    assert feeds(intel.lookup("ip", "10.0.0.1")) == [("10.0.0.0/8", "f")]


# -- domains, URLs, hashes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("Evil.Example.", "evil.example"),
        ("*.evil.example", "evil.example"),
        (".evil.example", "evil.example"),
        ("  evil.example \n", "evil.example"),
    ],
)
def test_normalize_domain(name: str, normal: str) -> None:
    assert normalize_domain(name) == normal


@pytest.mark.parametrize(
    ("name", "hit"),
    [
        ("evil.com", True),
        ("a.evil.com", True),
        ("a.b.c.EVIL.COM.", True),
        ("notevil.com", False),
        ("evil.com.example", False),
        ("com", False),
        ("", False),
    ],
)
def test_domain_matches_itself_and_subdomains_on_label_boundaries(name: str, hit: bool) -> None:
    intel = IntelSet()
    intel.add(Indicator("evil.com", "domain", "doms"))
    assert feeds(intel.lookup("domain", name)) == ([("evil.com", "doms")] if hit else [])


def test_most_specific_domain_wins() -> None:
    intel = IntelSet()
    intel.add(Indicator("example.com", "domain", "broad"))
    intel.add(Indicator("bad.example.com", "domain", "narrow"))
    assert feeds(intel.lookup("domain", "x.bad.example.com")) == [("bad.example.com", "narrow")]
    assert feeds(intel.lookup("domain", "good.example.com")) == [("example.com", "broad")]


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("http://Evil.Example/Path?Q=1", "evil.example/Path?Q=1"),
        ("HTTPS://evil.example:443/a", "evil.example/a"),
        ("http://evil.example:80/a#frag", "evil.example/a"),
        ("http://evil.example:8080/a", "evil.example:8080/a"),
        ("evil.example", "evil.example/"),
        ("http://evil.example", "evil.example/"),
        ("/relative/path", "/relative/path"),
    ],
)
def test_normalize_url(url: str, normal: str) -> None:
    assert normalize_url(url) == normal


def test_url_lookup_normalizes_both_sides() -> None:
    intel = IntelSet()
    intel.add(Indicator(normalize_url("http://evil.example/payload.exe"), "url", "urls"))
    for url in (
        "http://EVIL.example/payload.exe",
        "https://evil.example:443/payload.exe",
        "evil.example/payload.exe#x",
    ):
        assert feeds(intel.lookup("url", url)) == [("evil.example/payload.exe", "urls")], url
    assert intel.lookup("url", "http://evil.example/PAYLOAD.exe") == []  # paths are exact
    assert intel.lookup("url", "http://evil.example/payload.exe?x") == []


def test_hash_lookups_are_case_insensitive() -> None:
    intel = IntelSet()
    intel.add(Indicator("e7d705a3286e19ea42f587b344ee6865", "ja3", "sslbl"))
    intel.add(Indicator("2f5a0f3b0f2b4e1f6c3e4b8d9a1c2e3f4a5b6c7d", "sha1", "certs"))
    assert feeds(intel.lookup("ja3", "E7D705A3286E19EA42F587B344EE6865")) == [
        ("e7d705a3286e19ea42f587b344ee6865", "sslbl")
    ]
    assert intel.lookup("sha1", "2F5A0F3B0F2B4E1F6C3E4B8D9A1C2E3F4A5B6C7D")
    assert intel.lookup("ja3", "2f5a0f3b0f2b4e1f6c3e4b8d9a1c2e3f4a5b6c7d") == []  # kinds apart


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("198.51.100.23", "ip"),
        ("198.51.100.0/24", "ip"),
        ("2001:db8::/32", "ip"),
        ("10.0.0.0/255.0.0.0", "ip"),
        ("http://evil.example/x", "url"),
        ("evil.example/x.exe", "url"),
        ("e7d705a3286e19ea42f587b344ee6865", "ja3"),
        ("2F5A0F3B0F2B4E1F6C3E4B8D9A1C2E3F4A5B6C7D", "sha1"),
        ("evil.example", "domain"),
        ("*.evil.example", "domain"),
        ("xn--d1acufc.xn--p1ai", "domain"),
        ("a_b.evil-example.com.", "domain"),
        ("1.2.3.999", None),  # not an address, and a TLD is not a number
        ("1.2.3.4:8080", None),
        ("!!!.!!!", None),
        ("localhost", None),
        ("hello world.example", None),
        ("", None),
        ("   ", None),
    ],
)
def test_guess_kind(value: str, kind: str | None) -> None:
    assert guess_kind(value) == kind


@settings(max_examples=300, deadline=None)
@given(
    version=st.sampled_from([4, 6]),
    value=st.integers(min_value=0, max_value=2**128 - 1),
    prefix=st.integers(min_value=0, max_value=128),
    with_prefix=st.booleans(),
)
def test_parse_network_agrees_with_ipaddress(
    version: int, value: int, prefix: int, with_prefix: bool
) -> None:
    bits = 32 if version == 4 else 128
    address: ipaddress.IPv4Address | ipaddress.IPv6Address = (
        ipaddress.IPv4Address(value % 2**32) if version == 4 else ipaddress.IPv6Address(value)
    )
    text = f"{address}/{prefix % (bits + 1)}" if with_prefix else str(address)
    net = ipaddress.ip_network(text, strict=False)
    assert parse_network(text) == (net.version, net.prefixlen, int(net.network_address))
    assert parse_network(address.exploded) == (version, bits, int(address))


@pytest.mark.parametrize("text", ["1.2.3.4/33", "::/129", "1.2.3.4/", "1.2.3.4/-1", "x.y", ""])
def test_parse_network_rejects(text: str) -> None:
    assert parse_network(text) is None


# -- local lists ----------------------------------------------------------------------------------


def test_load_indicator_file_with_comments_csv_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / "blocklist.txt"
    path.write_text(
        "# a comment line\n"
        "\n"
        "198.51.100.23\n"
        "203.0.113.0/24   # inline comment\n"
        "Evil.Example.\n"
        "*.wild.example\n"
        "http://EVIL.example:80/payload.exe\n"
        "E7D705A3286E19EA42F587B344EE6865,2017-07-14,Dridex\n"
        '"192.0.2.9","2024-01-01","Pikabot"\n'
        "2001:db8::1 extra columns here\n"
        "garbage!\n"
        "1.2.3.999\n"
        "; a comment in another syntax\n"
        "   \n",
        encoding="utf-8",
    )
    intel, bad = load_indicator_file(path)
    assert bad == 3
    assert intel.count == 8
    assert intel.feeds == {"blocklist.txt"}
    assert feeds(intel.lookup("ip", "198.51.100.23")) == [("198.51.100.23", "blocklist.txt")]
    assert intel.lookup("ip", "203.0.113.200")
    assert intel.lookup("ip", "192.0.2.9")  # quoted CSV field
    assert intel.lookup("ip", "2001:db8::1")
    assert feeds(intel.lookup("domain", "www.evil.example")) == [("evil.example", "blocklist.txt")]
    assert intel.lookup("domain", "a.wild.example")
    assert feeds(intel.lookup("url", "evil.example/payload.exe")) == [
        ("evil.example/payload.exe", "blocklist.txt")
    ]
    assert intel.lookup("ja3", "e7d705a3286e19ea42f587b344ee6865")


def test_load_indicator_file_into_an_existing_set_with_a_feed_name(tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    second = tmp_path / "b.txt"
    first.write_text("198.51.100.1\n", encoding="utf-8")
    second.write_text("198.51.100.1\nevil.example\n", encoding="utf-8")
    merged, bad_a = load_indicator_file(first)
    same, bad_b = load_indicator_file(second, feed="my-feed", into=merged)
    assert same is merged and (bad_a, bad_b) == (0, 0)
    assert feeds(merged.lookup("ip", "198.51.100.1")) == [
        ("198.51.100.1", "a.txt"),
        ("198.51.100.1", "my-feed"),
    ]
    assert merged.feeds == {"a.txt", "my-feed"}


def test_load_indicator_file_tolerates_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"198.51.100.1\ncaf\xe9.example\n")
    intel, bad = load_indicator_file(path)
    assert intel.count == 1 and bad == 1  # the undecodable name is garbage, not a domain


def test_load_indicator_file_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_indicator_file(tmp_path / "missing.txt")


# -- scale -----------------------------------------------------------------------------------------


def test_a_million_indicators_load_and_lookups_stay_fast(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    lines = []
    for i in range(1_000_000):
        if i % 4 == 0:
            lines.append(f"d{i}.bad.example")
        elif i % 4 == 1:
            lines.append(f"10.{i >> 16 & 255}.{i >> 8 & 255}.0/24")
        else:
            lines.append(f"{i >> 16 & 255 | 64}.{i >> 8 & 255}.{i & 255}.{i % 200 + 1}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    start = time.perf_counter()
    intel, bad = load_indicator_file(path)
    loaded = time.perf_counter() - start
    assert bad == 0
    assert loaded < 20.0, f"1,000,000 indicators took {loaded:.1f} s to load"
    start = time.perf_counter()
    hits = 0
    for i in range(50_000):  # distinct values: the memo does not help
        hits += bool(intel.lookup("ip", f"10.{i >> 8 & 255}.{i & 255}.{i % 250}"))
        hits += bool(intel.lookup("domain", f"www.d{i * 4}.bad.example"))
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"100,000 lookups took {elapsed:.2f} s"
    assert hits >= 50_000
    assert intel.lookup("domain", "www.d5.bad.example") == []  # not listed (5 % 4 != 0)
