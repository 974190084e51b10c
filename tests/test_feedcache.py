"""Feed downloads through requests-cache, against a feed server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import gzip
import io
import ipaddress
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netsentry.feedcache import (
    FeedStatus,
    index_path,
    load_cached_intel,
    read_statuses,
    status_path,
    update_intel,
)
from netsentry.feedhttp import redact
from netsentry.feeds import Auth, Feed, FeedConfig
from netsentry.intel import IntelSet
from tests.feedserver import FeedServer, Route, serve

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "intel-samples"
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"intel samples not found at {SAMPLES}"
)

TRUNCATED = "truncated body (connection closed after 1825 of 3650 bytes)"
IPS = b"# a list\n198.18.0.1\n203.0.113.9\n45.9.148.3\n45.9.148.4 # trailing comment\n"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    yield from serve()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def feed(server: FeedServer, path: str, fmt: str = "list", **kw: Any) -> Feed:
    name = kw.pop("name", path.strip("/").replace("/", "-"))
    return Feed(name=name, url=server.url(path), format=fmt, **kw)


def run(config: FeedConfig, cache: Path, **kw: object) -> dict[str, FeedStatus]:
    result = update_intel(config, directory=cache, **kw)  # type: ignore[arg-type]
    return {s.name: s for s in result.statuses}


def intel(config: FeedConfig, cache: Path) -> IntelSet:
    compiled, warnings = load_cached_intel(config, cache)
    assert compiled is not None, warnings
    out = IntelSet()
    out.attach(compiled)
    return out


def listed(intel_set: IntelSet, kind: str, value: str) -> list[tuple[str, str]]:
    return [(h.value, h.feed) for h in intel_set.lookup(kind, value)]


# -- first download, revalidation, failures --------------------------------------------------


def test_first_download_then_fresh_then_304(server: FeedServer, cache: Path) -> None:
    server.routes["/ips.txt"] = Route(IPS, etag='"v1"')
    config = FeedConfig([feed(server, "/ips.txt", name="ips")])
    first = run(config, cache)["ips"]
    assert (first.state, first.reason, first.indicators, first.malformed) == ("updated", "", 2, 0)
    assert first.dropped == 2  # 198.18.0.1 (benchmarking) and 203.0.113.9 (documentation)
    assert listed(intel(config, cache), "ip", "45.9.148.4") == [("45.9.148.4", "ips")]

    # Younger than its refresh interval: served from the cache, no request at all.
    assert run(config, cache)["ips"].state == "fresh"
    assert len(server.hits("/ips.txt")) == 1

    # --force revalidates: a conditional request, answered 304, the copy kept.
    again = run(config, cache, force=True)["ips"]
    assert (again.state, again.indicators) == ("not-modified", 2)
    assert server.hits("/ips.txt")[-1].headers.get("if-none-match") == '"v1"'
    assert again.confirmed >= first.confirmed


def test_last_modified_revalidation(server: FeedServer, cache: Path) -> None:
    stamp = "Wed, 01 Jan 2025 00:00:00 GMT"
    server.routes["/lm.txt"] = Route(IPS, last_modified=stamp)
    config = FeedConfig([feed(server, "/lm.txt", name="lm", refresh=1.0)])
    assert run(config, cache)["lm"].state == "updated"
    assert run(config, cache, force=True)["lm"].state == "not-modified"
    assert server.hits("/lm.txt")[-1].headers.get("if-modified-since") == stamp


def test_changed_feed_is_updated(server: FeedServer, cache: Path) -> None:
    server.routes["/ips.txt"] = Route(IPS, etag='"v1"')
    config = FeedConfig([feed(server, "/ips.txt", name="ips")])
    run(config, cache)
    server.routes["/ips.txt"] = Route(b"45.9.148.99\n", etag='"v2"')
    status = run(config, cache, force=True)["ips"]
    assert (status.state, status.indicators) == ("updated", 1)
    found = intel(config, cache)
    assert listed(found, "ip", "45.9.148.99") == [("45.9.148.99", "ips")]
    assert listed(found, "ip", "45.9.148.3") == []


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(status=500), "HTTP 500 Internal Server Error"),
        (Route(IPS, delay=1.5), "timeout"),
        (Route(IPS * 50, truncate=True), TRUNCATED),
    ],
    ids=["http-500", "timeout", "truncated"],
)
@pytest.mark.parametrize("etag", ['"v1"', ""], ids=["etag", "no-validators"])
def test_failure_keeps_the_stale_copy(
    server: FeedServer, cache: Path, route: Route, reason: str, etag: str
) -> None:
    server.routes["/ips.txt"] = Route(IPS, etag=etag)
    config = FeedConfig([feed(server, "/ips.txt", name="ips", timeout=0.5)])
    good = run(config, cache)["ips"]
    server.routes["/ips.txt"] = route
    bad = run(config, cache, force=True)["ips"]
    assert (bad.state, bad.reason) == ("failed", reason)
    assert bad.has_copy and bad.confirmed == good.confirmed  # the age of the kept copy
    assert bad.indicators == 2
    assert listed(intel(config, cache), "ip", "45.9.148.3") == [("45.9.148.3", "ips")]
    assert read_statuses(cache)["ips"].state == "failed"


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(status=500), "HTTP 500 Internal Server Error"),
        (Route(IPS, delay=1.5), "timeout"),
        (Route(IPS * 50, truncate=True), TRUNCATED),
        (Route(status=404), "HTTP 404 Not Found"),
    ],
    ids=["http-500", "timeout", "truncated", "404"],
)
def test_failure_without_a_copy(server: FeedServer, cache: Path, route: Route, reason: str) -> None:
    server.routes["/ips.txt"] = route
    config = FeedConfig([feed(server, "/ips.txt", name="ips", timeout=0.5)])
    status = run(config, cache)["ips"]
    assert (status.state, status.reason, status.has_copy) == ("failed", reason, False)
    compiled, warnings = load_cached_intel(config, cache)
    assert compiled is not None and compiled.count == 0
    assert warnings == [
        "threat-intel feed(s) never downloaded: ips; run `netsentry update-intel` "
        "(until then they match nothing)"
    ]


def test_connection_refused(cache: Path) -> None:
    config = FeedConfig([Feed(name="gone", url="http://127.0.0.1:9/x.txt", format="list")])
    status = run(config, cache)["gone"]
    assert (status.state, status.reason) == ("failed", "connection refused")


# -- bodies ---------------------------------------------------------------------------------


def test_gzip_file_body(server: FeedServer, cache: Path) -> None:
    server.routes["/ips.txt.gz"] = Route(gzip.compress(IPS), content_type="application/gzip")
    config = FeedConfig([feed(server, "/ips.txt.gz", name="gz")])
    assert run(config, cache)["gz"].indicators == 2


def test_gzip_content_encoding(server: FeedServer, cache: Path) -> None:
    server.routes["/ips.txt"] = Route(gzip.compress(IPS), content_encoding="gzip")
    config = FeedConfig([feed(server, "/ips.txt", name="enc")])
    assert run(config, cache)["enc"].indicators == 2
    assert server.hits("/ips.txt")[0].headers["accept-encoding"] == "gzip, deflate"


def test_zip_body(server: FeedServer, cache: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("csv.txt", b'# "id","url"\n"1","http://evil.example.net/a.exe"\n')
    server.routes["/dump.zip"] = Route(buf.getvalue(), content_type="application/zip")
    config = FeedConfig(
        [feed(server, "/dump.zip", "csv", name="zipped", column="url", indicators=("url",))]
    )
    assert run(config, cache)["zipped"].indicators == 1
    assert listed(intel(config, cache), "url", "http://EVIL.example.net/a.exe") == [
        ("evil.example.net/a.exe", "zipped")
    ]


def test_broken_zip_is_a_failure_with_reason(server: FeedServer, cache: Path) -> None:
    server.routes["/dump.zip"] = Route(b"PK\x03\x04" + b"\x00" * 40)
    config = FeedConfig([feed(server, "/dump.zip", name="zipped")])
    status = run(config, cache)["zipped"]
    assert status.state == "failed"
    assert status.reason.startswith("broken zip body")
    assert not status.has_copy and status.indicators == 0  # nothing of it is matched


def test_garbage_lines_are_counted_not_fatal(server: FeedServer, cache: Path) -> None:
    body = (
        b"45.9.148.3\n"
        b"1.2.3.999\n"  # not an address
        b"\x1b[31mred\n"  # a terminal escape
        b"!!!.!!!\n"
        b"\xff\xfe\xfd\n"  # not UTF-8
        b"evil.example.org\n"
        b"45.9.148.0/33\n"  # impossible prefix
        b"45.9.148.0/24\n"
    )
    server.routes["/mixed.txt"] = Route(body)
    config = FeedConfig([feed(server, "/mixed.txt", name="mixed")])
    status = run(config, cache)["mixed"]
    assert (status.indicators, status.malformed) == (3, 5)
    found = intel(config, cache)
    assert listed(found, "domain", "a.evil.example.org") == [("evil.example.org", "mixed")]
    assert listed(found, "ip", "45.9.148.3") == [("45.9.148.3", "mixed")]
    assert listed(found, "ip", "45.9.148.200") == [("45.9.148.0/24", "mixed")]


def test_a_million_line_feed(server: FeedServer, cache: Path) -> None:
    base = int(ipaddress.IPv4Address("11.0.0.0"))
    body = "".join(f"{ipaddress.IPv4Address(base + i * 3)}\n" for i in range(1_000_000))
    server.routes["/big.txt"] = Route(body.encode())
    config = FeedConfig([feed(server, "/big.txt", name="big", indicators=("ip",))])
    status = run(config, cache)["big"]
    assert (status.state, status.indicators, status.malformed) == ("updated", 1_000_000, 0)
    found = intel(config, cache)
    assert found.count == 1_000_000
    last = str(ipaddress.IPv4Address(base + 999_999 * 3))
    assert listed(found, "ip", last) == [(last, "big")]
    assert listed(found, "ip", str(ipaddress.IPv4Address(base + 1))) == []


# -- configuration effects -------------------------------------------------------------------


def test_allowlists_win_and_bogons_are_dropped(server: FeedServer, cache: Path) -> None:
    server.routes["/wide.txt"] = Route(b"0.0.0.0/1\n10.0.0.0/8\n45.9.148.0/24\nallowed.example\n")
    server.routes["/allow.json"] = Route(
        json.dumps({"type": "string", "list": ["45.9.148.7", ".allowed.example", "x.y.example"]})
        .encode()
    )
    config = FeedConfig(
        [
            feed(server, "/wide.txt", name="wide"),
            feed(server, "/allow.json", "misp-warninglist", name="allow", allowlist=True),
        ],
        allow_cidrs=("45.9.148.128/25",),
    )
    statuses = run(config, cache)
    assert (statuses["wide"].indicators, statuses["wide"].dropped) == (2, 2)
    assert statuses["allow"].indicators == 3
    found = intel(config, cache)
    assert listed(found, "ip", "1.1.1.1") == [("0.0.0.0/1", "wide")]
    assert listed(found, "ip", "10.1.2.3") == []  # a bogon inside a listed /1
    assert listed(found, "ip", "45.9.148.6") == [("45.9.148.0/24", "wide")]
    assert listed(found, "ip", "45.9.148.7") == []  # MISP allowlist
    assert listed(found, "ip", "45.9.148.200") == []  # user allowlist
    assert listed(found, "domain", "www.allowed.example") == []


def test_disabled_feed_leaves_the_answers(server: FeedServer, cache: Path) -> None:
    server.routes["/ips.txt"] = Route(IPS)
    one = feed(server, "/ips.txt", name="one", severity="critical", category="c2")
    run(FeedConfig([one]), cache)
    off = FeedConfig([dataclasses.replace(one, enabled=False)])
    compiled, warnings = load_cached_intel(off, cache)
    assert compiled is not None and warnings == []
    found = IntelSet()
    found.attach(compiled)
    assert found.lookup("ip", "45.9.148.3") == []
    compiled, _ = load_cached_intel(FeedConfig([one]), cache)
    assert compiled is not None
    hit = compiled.lookup_ip(bytes([45, 9, 148, 3]))[1][0]
    assert (hit.feed, hit.category, hit.severity) == ("one", "c2", "critical")


def test_selected_feeds_only_others_come_from_the_cache(server: FeedServer, cache: Path) -> None:
    server.routes["/a.txt"] = Route(b"45.9.148.1\n")
    server.routes["/b.txt"] = Route(b"45.9.148.2\n")
    config = FeedConfig([feed(server, "/a.txt", name="a"), feed(server, "/b.txt", name="b")])
    run(config, cache)
    statuses = run(config, cache, names=["a"], force=True)
    assert len(server.hits("/b.txt")) == 1
    assert statuses["a"].state == "not-modified" or statuses["a"].state == "updated"
    found = intel(config, cache)
    assert listed(found, "ip", "45.9.148.2") == [("45.9.148.2", "b")]


# -- secrets --------------------------------------------------------------------------------

SECRET = "TOPSECRET-0123456789"


def _everything_in(cache: Path) -> bytes:
    return b"".join(p.read_bytes() for p in cache.rglob("*") if p.is_file())


def test_header_key_is_sent_but_never_stored(
    server: FeedServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_FEED_KEY", SECRET)
    server.routes["/keyed.csv"] = Route(b'"first_seen_utc","dst_ip"\n"2024","45.9.148.3"\n')
    keyed = feed(server, "/keyed.csv", "csv", name="keyed", column="dst_ip",
                 auth=Auth(env="TEST_FEED_KEY", header="Auth-Key"))
    status = run(FeedConfig([keyed]), cache)["keyed"]
    assert (status.state, status.indicators) == ("updated", 1)
    assert server.hits("/keyed.csv")[0].headers["auth-key"] == SECRET
    assert SECRET.encode() not in _everything_in(cache)
    rows = sqlite3.connect(cache / "http-cache.sqlite").execute("select value from responses")
    assert all(SECRET not in str(row[0]) for row in rows)


def test_query_key_is_redacted_from_cache_and_reasons(
    server: FeedServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_FEED_KEY", SECRET)
    server.routes["/q.txt"] = Route(IPS)
    keyed = feed(server, "/q.txt", name="q", auth=Auth(env="TEST_FEED_KEY", param="auth-key"))
    assert run(FeedConfig([keyed]), cache)["q"].state == "updated"
    assert server.hits("/q.txt")[0].path == f"/q.txt?auth-key={SECRET}"
    gone = Feed(name="gone", url="http://127.0.0.1:9/q.txt", format="list",
                auth=Auth(env="TEST_FEED_KEY", param="auth-key"))
    failed = run(FeedConfig([keyed, gone]), cache)["gone"]
    assert failed.state == "failed" and SECRET not in failed.reason
    assert SECRET.encode() not in _everything_in(cache)


def test_key_is_not_sent_to_another_host_on_redirect(
    server: FeedServer, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_FEED_KEY", SECRET)
    server.routes["/moved.txt"] = Route(status=302, location=server.url("/real.txt", "localhost"))
    server.routes["/real.txt"] = Route(IPS)
    keyed = feed(server, "/moved.txt", name="moved",
                 auth=Auth(env="TEST_FEED_KEY", header="Auth-Key"))
    assert run(FeedConfig([keyed]), cache)["moved"].state == "updated"
    assert server.hits("/moved.txt")[0].headers["auth-key"] == SECRET
    assert "auth-key" not in server.hits("/real.txt")[0].headers


def test_missing_key_skips_the_feed(server: FeedServer, cache: Path) -> None:
    server.routes["/keyed.txt"] = Route(IPS)
    keyed = feed(server, "/keyed.txt", name="keyed",
                 auth=Auth(env="NETSENTRY_TEST_UNSET_KEY", header="Auth-Key"))
    status = run(FeedConfig([keyed]), cache)["keyed"]
    assert (status.state, status.reason) == (
        "skipped",
        "set NETSENTRY_TEST_UNSET_KEY to download it",
    )
    assert server.hits("/keyed.txt") == []
    _, warnings = load_cached_intel(FeedConfig([keyed]), cache)
    assert warnings == []  # analyze does not nag about a feed that cannot be downloaded


def test_redact() -> None:
    assert redact("GET /x?auth-key=abc&x=abc", ["abc", ""]) == "GET /x?auth-key=***&x=***"


# -- analyze's side: cache only ---------------------------------------------------------------


def test_analyze_side_never_downloads(server: FeedServer, cache: Path) -> None:
    server.routes["/ips.txt"] = Route(IPS)
    config = FeedConfig([feed(server, "/ips.txt", name="ips")])
    compiled, warnings = load_cached_intel(config, cache)
    assert compiled is None
    assert warnings == [
        "threat-intel feed(s) never downloaded: ips; run `netsentry update-intel` "
        "(until then they match nothing)"
    ]
    assert server.seen == []
    assert not status_path(cache).exists() and not index_path(cache).exists()


def test_damaged_index_is_a_warning(server: FeedServer, cache: Path) -> None:
    server.routes["/ips.txt"] = Route(IPS)
    config = FeedConfig([feed(server, "/ips.txt", name="ips")])
    run(config, cache)
    index_path(cache).write_bytes(b"NSINTEL\x01\xff\xff\x00\x00{")
    compiled, warnings = load_cached_intel(config, cache)
    assert compiled is None
    assert len(warnings) == 1 and "damaged or from another netsentry version" in warnings[0]


@needs_samples
def test_sample_feeds_served_and_matched(server: FeedServer, cache: Path) -> None:
    for name in ("feodotracker_ipblocklist.csv", "spamhaus_drop_v4.json",
                 "threatfox_recent_RECONSTRUCTED.json", "misp_warninglist_rfc1918.json"):
        server.routes["/" + name] = Route((SAMPLES / name).read_bytes())
    config = FeedConfig(
        [
            feed(server, "/feodotracker_ipblocklist.csv", "csv", name="feodo", column="dst_ip"),
            feed(server, "/spamhaus_drop_v4.json", "spamhaus", name="drop"),
            feed(server, "/threatfox_recent_RECONSTRUCTED.json", "json", name="threatfox",
                 value_key="ioc_value", type_key="ioc_type"),
            feed(server, "/misp_warninglist_rfc1918.json", "misp-warninglist", name="rfc1918",
                 allowlist=True),
        ]
    )
    statuses = run(config, cache)
    assert {n: (s.indicators, s.malformed, s.unsupported) for n, s in statuses.items()} == {
        "feodo": (28, 0, 0),
        "drop": (1406, 0, 0),
        "threatfox": (37, 0, 0),
        "rfc1918": (3, 0, 0),
    }
    found = intel(config, cache)
    assert listed(found, "ip", "192.9.135.73") == [("192.9.135.73", "feodo")]
    assert listed(found, "ip", "1.10.16.77") == [("1.10.16.0/20", "drop")]
    assert listed(found, "domain", "cdn.biqeketo.workers.dev") == [
        ("biqeketo.workers.dev", "threatfox")
    ]
    assert listed(found, "ip", "41.234.45.136") == [("41.234.45.136", "threatfox")]
