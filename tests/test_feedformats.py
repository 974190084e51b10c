"""One parser per native feed format: real samples (../shared/intel-samples) and edge cases."""

from __future__ import annotations

import base64
import gzip
import io
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from netsentry.feedformats import (
    FEED_FORMATS,
    MALFORMED,
    UNSUPPORTED,
    FeedFormatError,
    FormatOptions,
    kind_of_type,
    parse_feed,
    unpack,
)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "intel-samples"
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"intel samples not found at {SAMPLES}"
)
Opt = FormatOptions


def items(body: bytes | str, fmt: str, opts: FormatOptions | None = None) -> list[tuple[str, str]]:
    data = body.encode() if isinstance(body, str) else body
    return list(parse_feed(data, fmt, opts or Opt()))


def counts(path: str, fmt: str, opts: FormatOptions) -> dict[str, int]:
    return dict(Counter(kind for kind, _ in parse_feed((SAMPLES / path).read_bytes(), fmt, opts)))


# Every sample of the README, with the counts its lines give (checked against grep).
SAMPLE_CASES = [
    ("et_compromised-ips.txt", "list", Opt(kinds=("ip",)), {"ip": 539}),
    ("et_emerging-Block-IPs.txt", "list", Opt(kinds=("ip",)), {"ip": 2116}),
    ("feodotracker_ipblocklist.csv", "csv", Opt(column="dst_ip", kinds=("ip",)), {"ip": 28}),
    ("feodotracker_ipblocklist_RECONSTRUCTED.json", "json", Opt(value_key="ip_address"),
     {"ip": 28}),
    ("feodotracker_ipblocklist_RECONSTRUCTED.txt", "list", Opt(), {"ip": 28}),
    ("firehol_level1.netset", "list", Opt(kinds=("ip",)), {"ip": 2892}),
    ("misp_warninglist_google.json", "misp-warninglist", Opt(), {"suffix": 194, "domain": 475}),
    ("misp_warninglist_rfc1918.json", "misp-warninglist", Opt(), {"ip": 3}),
    ("misp_warninglist_amazon-aws.json", "misp-warninglist", Opt(), {"ip": 3847}),
    ("misp_warninglist_tranco10k.json", "misp-warninglist", Opt(), {"domain": 10000}),
    ("openphish_feed.txt", "list", Opt(kinds=("url",)), {"url": 300}),
    ("phishtank_verified_online_4col.csv", "csv", Opt(column="url", kinds=("url",)), {"url": 499}),
    ("spamhaus_drop.txt", "spamhaus", Opt(), {"ip": 1385}),
    ("spamhaus_dropv6.txt", "spamhaus", Opt(), {"ip": 78}),
    ("spamhaus_drop_v4.json", "spamhaus", Opt(), {"ip": 1406}),  # metadata line skipped
    ("spamhaus_drop_v4.json", "jsonl", Opt(value_key="cidr", kinds=("ip",)), {"ip": 1406}),
    ("spamhaus_edrop_2023.txt", "spamhaus", Opt(), {"ip": 289}),
    ("spamhaus_edrop_2024_merged_stub.txt", "spamhaus", Opt(), {}),  # empty is not an error
    ("sslbl_ja3_fingerprints.csv", "csv", Opt(column="ja3_md5", kinds=("ja3",)), {"ja3": 98}),
    ("sslbl_sslblacklist.csv", "csv", Opt(column="SHA1", kinds=("sha1",)), {"sha1": 491}),
    ("threatfox_recent_RECONSTRUCTED.csv", "csv", Opt(column="ioc_value", type_column="ioc_type"),
     {"domain": 25, "ip": 7, "url": 5}),
    ("threatfox_recent_RECONSTRUCTED.json", "json", Opt(value_key="ioc_value", type_key="ioc_type"),
     {"domain": 25, "ip": 7, "url": 5}),
    ("tor_exit-addresses.txt", "tor-exits", Opt(), {"ip": 500}),
    ("tor_torbulkexitlist.txt", "list", Opt(kinds=("ip",)), {"ip": 1174}),
    ("urlhaus_api_v1_urls_recent_sample.json", "json", Opt(value_key="url"), {"url": 5}),
    ("urlhaus_csv_recent_RECONSTRUCTED.csv", "csv", Opt(column="url"), {"url": 5}),
    ("urlhaus_hostfile_RECONSTRUCTED.txt", "hosts", Opt(), {"domain": 1888}),
    ("urlhaus_text_RECONSTRUCTED.txt", "list", Opt(kinds=("url",)), {"url": 600}),
]


@needs_samples
@pytest.mark.parametrize(("path", "fmt", "opts", "expected"), SAMPLE_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in SAMPLE_CASES])
def test_real_samples(path: str, fmt: str, opts: FormatOptions, expected: dict[str, int]) -> None:
    assert counts(path, fmt, opts) == expected


@needs_samples
def test_sample_values() -> None:
    feodo_csv = (SAMPLES / "feodotracker_ipblocklist.csv").read_bytes()
    feodo = items(feodo_csv, "csv", Opt(column="dst_ip"))
    assert feodo[0] == ("ip", "192.9.135.73")
    tf = items((SAMPLES / "threatfox_recent_RECONSTRUCTED.csv").read_bytes(), "csv",
               Opt(column="ioc_value", type_column="ioc_type"))
    assert ("ip", "41.234.45.136") in tf  # 'ip:port' without the port
    google = items((SAMPLES / "misp_warninglist_google.json").read_bytes(), "misp-warninglist")
    assert ("suffix", "google.ad") in google
    tor = items((SAMPLES / "tor_exit-addresses.txt").read_bytes(), "tor-exits")
    assert tor[0] == ("ip", "185.241.208.232")


def test_list_comments_and_guessing() -> None:
    body = (
        "# header\n; semicolon comment\n\n"
        "1.2.3.4 # trailing\n"
        "2001:db8:1::/48\n"
        "Evil.Example.COM.\n"
        "https://Evil.example.com:443/x?y=1#frag\n"
        "e7d705a3286e19ea42f587b344ee6865\n"
        "2f5a0f3b0f2b4e1f6c3e4b8d9a1c2e3f4a5b6c7d\n"
        "not a thing\n"
    )
    assert items(body, "list", Opt(comment=("#", ";"))) == [
        ("ip", "1.2.3.4"),
        ("ip", "2001:db8:1::/48"),
        ("domain", "evil.example.com"),
        ("url", "evil.example.com/x?y=1"),
        ("ja3", "e7d705a3286e19ea42f587b344ee6865"),
        ("sha1", "2f5a0f3b0f2b4e1f6c3e4b8d9a1c2e3f4a5b6c7d"),
        (MALFORMED, "not"),
    ]


def test_declared_kind_rejects_other_values() -> None:
    assert items("1.2.3.4\nevil.example.com\n", "list", Opt(kinds=("ip",))) == [
        ("ip", "1.2.3.4"),
        (MALFORMED, "evil.example.com"),
    ]


def test_hosts_file() -> None:
    body = (
        "# Title: StevenBlack/hosts\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
        "0.0.0.0 0.0.0.0\n0.0.0.0 ads.example.net tracker.example.org # two names\n"
        "127.0.0.1\tmal.example.com\nbroken-line\n"
    )
    assert items(body, "hosts") == [
        ("domain", "ads.example.net"),
        ("domain", "tracker.example.org"),
        ("domain", "mal.example.com"),
        (MALFORMED, "broken-line"),
    ]


def test_csv_headers_quoted_commented_and_numbered() -> None:
    abuse = '# id,dateadded,url,url_status\n"1","2024","http://a.example/x","online"\n# END\n'
    assert items(abuse, "csv", Opt(column="url")) == [("url", "a.example/x")]
    feodo = '"first_seen_utc","dst_ip"\n"2024","45.9.148.3"\n'
    assert items(feodo, "csv", Opt(column="dst_ip")) == [("ip", "45.9.148.3")]
    numbered = "#8.8.8.8,10,100\n4.4.4.4,10,100\nshort\n"
    assert items(numbered, "csv", Opt(column=1, kinds=("ip",))) == [
        ("ip", "4.4.4.4"),
        (MALFORMED, "short"),
    ]
    # data before any header naming the column cannot be read
    assert items('"2024","45.9.148.3"\n', "csv", Opt(column="dst_ip")) == [
        (MALFORMED, '"2024","45.9.148.3"')
    ]
    semicolons = "ip;score\n45.9.148.3;10\n"
    assert items(semicolons, "csv", Opt(column="ip", delimiter=";")) == [("ip", "45.9.148.3")]


def test_json_and_jsonl() -> None:
    doc = '{"1": [{"ioc_value": "evil.example.com", "ioc_type": "domain"}, ' \
          '{"ioc_value": "abc", "ioc_type": "md5_hash"}, {"ioc_value": 5, "ioc_type": "url"}]}'
    assert items(doc, "json", Opt(value_key="ioc_value", type_key="ioc_type")) == [
        ("domain", "evil.example.com"),
        (UNSUPPORTED, "md5_hash"),
        (MALFORMED, "5"),
    ]
    assert items('["1.2.3.4", "evil.example.com", 7]', "json") == [
        ("ip", "1.2.3.4"),
        ("domain", "evil.example.com"),
        (MALFORMED, "7"),
    ]
    assert items("{not json", "json", Opt(value_key="x"))[0][0] == MALFORMED
    deep = "[" * 5000 + "]" * 5000  # hostile nesting: no crash
    assert items(deep, "json", Opt(value_key="x"))[0][0] == MALFORMED
    lines = '{"domain": ".evil.com"}\n{"type": "metadata"}\n{"other": 1}\nnot json\n[1]\n'
    assert items(lines, "jsonl", Opt(value_key="domain")) == [
        ("domain", "evil.com"),
        (MALFORMED, '{"other": 1}'),
        (MALFORMED, "not json"),
        (MALFORMED, "[1]"),
    ]


def test_zeek_intel() -> None:
    body = (
        "#fields\tindicator\tindicator_type\tmeta.source\n"
        "45.9.148.3\tIntel::ADDR\tx\n"
        "45.9.148.0/24\tIntel::SUBNET\tx\n"
        "evil.example.com\tIntel::DOMAIN\tx\n"
        "evil.example.com/a\tIntel::URL\tx\n"
        "2f5a0f3b0f2b4e1f6c3e4b8d9a1c2e3f4a5b6c7d\tIntel::CERT_HASH\tx\n"
        "e7d705a3286e19ea42f587b344ee6865\tIntel::JA3\tx\n"
        "bad@example.com\tIntel::EMAIL\tx\n"
        "d41d8cd98f00b204e9800998ecf8427e\tIntel::FILE_HASH\tx\n"
        "lonely\n"
    )
    assert items(body, "zeek") == [
        ("ip", "45.9.148.3"),
        ("ip", "45.9.148.0/24"),
        ("domain", "evil.example.com"),
        ("url", "evil.example.com/a"),
        ("sha1", "2f5a0f3b0f2b4e1f6c3e4b8d9a1c2e3f4a5b6c7d"),
        ("ja3", "e7d705a3286e19ea42f587b344ee6865"),
        (UNSUPPORTED, "Intel::EMAIL"),
        (UNSUPPORTED, "Intel::FILE_HASH"),
        (MALFORMED, "lonely"),
    ]


def test_dataset_base64() -> None:
    body = base64.b64encode(b".evil.com") + b"\n" + base64.b64encode(b"bad.example") + b",77\n"
    assert items(body, "dataset") == [("domain", "evil.com"), ("domain", "bad.example")]


def test_type_names() -> None:
    assert [kind_of_type(t) for t in ("ip:port", "Intel::SUBNET", "sha256_hash", "x509 cert sha1",
                                     "hostname", "weird")] == ["ip", "ip", None, "sha1",
                                                               "domain", None]


def test_unpack_gzip_zip_and_limits() -> None:
    assert unpack(gzip.compress(b"1.2.3.4\n")) == b"1.2.3.4\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("dir/", b"")
        archive.writestr("list.txt", b"1.2.3.4\n")
    assert unpack(buf.getvalue()) == b"1.2.3.4\n"
    bomb = gzip.compress(b"\0" * 2_000_000)
    with pytest.raises(FeedFormatError, match="gzip body unpacks to more than 1000000 bytes"):
        unpack(bomb, limit=1_000_000)
    with pytest.raises(FeedFormatError, match="truncated gzip body"):
        unpack(gzip.compress(b"1.2.3.4\n" * 1000)[:30])
    with pytest.raises(FeedFormatError, match="broken zip body"):
        unpack(b"PK\x03\x04garbage")
    assert unpack(b"plain") == b"plain"


def test_every_format_survives_garbage() -> None:
    garbage = bytes(range(256)) * 4 + b"\n\x1b[2J\n{\"a\":\n" + b"\xff" * 100
    for name in FEED_FORMATS:
        opts = Opt(column="x", value_key="x")
        for kind, _ in parse_feed(garbage, name, opts):
            assert kind in (MALFORMED, UNSUPPORTED, "domain", "ip", "url", "ja3", "sha1",
                            "suffix")
