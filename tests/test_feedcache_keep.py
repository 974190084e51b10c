"""The last good copy of an indicator feed survives a broken or suspiciously empty download.

requests-cache stores whatever a server answers with 200, so a broken archive (or an
HTML error page) served with 200 replaces the cached response; netsentry keeps the last
body that parsed itself and compiles that one instead.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netsentry.feedcache import FeedStatus, good_path, read_statuses, update_intel
from netsentry.feedformats import MAX_BODY
from netsentry.feeds import Feed, FeedConfig
from tests.feedserver import FeedServer, Route, serve
from tests.test_feedcache import IPS, intel, listed

NEW = b"45.9.148.99\n"
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n"
    b"<body><h1>Service Unavailable</h1>\n<p>Try again later.</p></body></html>\n"
)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    yield from serve()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def run(config: FeedConfig, cache: Path, **kw: Any) -> dict[str, FeedStatus]:
    return {s.name: s for s in update_intel(config, directory=cache, **kw).statuses}


def zipped(body: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ips.txt", body)
    return buf.getvalue()


def zip_over_the_cap() -> bytes:
    """A small zip whose central directory says its member unpacks to 4 GB."""
    data = bytearray(zipped(IPS))
    at = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, at + 24, 0xFFFF0000)  # uncompressed size
    assert MAX_BODY < 0xFFFF0000
    return bytes(data)


BROKEN = {
    "broken-zip": (b"PK\x03\x04" + b"\x00" * 40, "broken zip body ("),
    "broken-gzip": (b"\x1f\x8b\x08\x00" + b"\xff" * 60, "broken gzip body ("),
    "truncated-gzip": (gzip.compress(IPS * 20)[:-30], "truncated gzip body"),
    "zip-over-cap": (zip_over_the_cap(), f"zip member unpacks to more than {MAX_BODY} bytes"),
}


@pytest.mark.parametrize("etag", ['"v1"', ""], ids=["etag", "no-validators"])
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_archive_keeps_the_last_good_copy(
    server: FeedServer, cache: Path, case: str, etag: str
) -> None:
    body, reason = BROKEN[case]
    server.routes["/ips.txt"] = Route(IPS, etag=etag)
    config = FeedConfig([Feed(name="ips", url=server.url("/ips.txt"), format="list")])
    good = run(config, cache)["ips"]
    assert (good.state, good.indicators) == ("updated", 2)

    server.routes["/ips.txt"] = Route(body, etag='"broken"' if etag else "")
    bad = run(config, cache, force=True)["ips"]
    assert bad.state == "failed"
    assert bad.reason.startswith(reason) and "\n" not in bad.reason
    assert bad.has_copy and bad.confirmed == good.confirmed  # the age of the copy kept
    assert (bad.indicators, bad.size) == (2, len(IPS))
    assert listed(intel(config, cache), "ip", "45.9.148.3") == [("45.9.148.3", "ips")]
    assert read_statuses(cache)["ips"].state == "failed"

    # requests-cache now holds the broken body as a fresh copy: the next run, which
    # sends no request, still compiles the good one and still says why.
    again = run(config, cache)["ips"]
    assert (again.state, again.indicators, again.confirmed) == ("failed", 2, good.confirmed)
    assert again.reason.startswith(reason)
    assert listed(intel(config, cache), "ip", "45.9.148.4") == [("45.9.148.4", "ips")]

    # The server is fixed: the new copy replaces the old one.
    server.routes["/ips.txt"] = Route(NEW, etag='"v3"' if etag else "")
    fixed = run(config, cache, force=True)["ips"]
    assert (fixed.state, fixed.indicators) == ("updated", 1)
    assert fixed.confirmed > good.confirmed
    found = intel(config, cache)
    assert listed(found, "ip", "45.9.148.99") == [("45.9.148.99", "ips")]
    assert listed(found, "ip", "45.9.148.3") == []
    assert good_path("ips", cache).read_bytes() == NEW


def test_first_download_broken_has_no_copy(server: FeedServer, cache: Path) -> None:
    server.routes["/ips.txt"] = Route(BROKEN["broken-gzip"][0])
    config = FeedConfig([Feed(name="ips", url=server.url("/ips.txt"), format="list")])
    status = run(config, cache)["ips"]
    assert (status.state, status.has_copy, status.indicators) == ("failed", False, 0)
    assert not good_path("ips", cache).exists()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (HTML, "suspicious empty feed: no indicators in the new copy (4 malformed lines), "
               "the last good copy had 2"),
        (b"", "suspicious empty feed: the new copy is empty, the last good copy had 2"),
        (b"\n  \n", "suspicious empty feed: the new copy is empty, the last good copy had 2"),
    ],
    ids=["html-error-page", "zero-bytes", "blank"],
)
def test_suspicious_empty_copy_keeps_the_last_good_one(
    server: FeedServer, cache: Path, body: bytes, reason: str
) -> None:
    server.routes["/ips.txt"] = Route(IPS, etag='"v1"')
    config = FeedConfig([Feed(name="ips", url=server.url("/ips.txt"), format="list")])
    good = run(config, cache)["ips"]
    server.routes["/ips.txt"] = Route(body, content_type="text/html", etag='"v2"')
    bad = run(config, cache, force=True)["ips"]
    assert (bad.state, bad.reason) == ("failed", reason)
    assert (bad.indicators, bad.malformed, bad.confirmed) == (2, 0, good.confirmed)
    assert listed(intel(config, cache), "ip", "45.9.148.3") == [("45.9.148.3", "ips")]


@pytest.mark.parametrize(
    "body",
    [b"# Feodo Tracker: no active C2 servers right now\n", gzip.compress(b"# none\n")],
    ids=["comments-only", "gzip-comments-only"],
)
def test_a_feed_that_really_became_empty_is_accepted(
    server: FeedServer, cache: Path, body: bytes
) -> None:
    server.routes["/ips.txt"] = Route(IPS)
    config = FeedConfig([Feed(name="ips", url=server.url("/ips.txt"), format="list")])
    run(config, cache)
    server.routes["/ips.txt"] = Route(body)
    now = run(config, cache, force=True)["ips"]
    assert (now.state, now.reason, now.indicators) == ("updated", "", 0)
    assert listed(intel(config, cache), "ip", "45.9.148.3") == []


def test_all_dropped_is_not_suspicious(server: FeedServer, cache: Path) -> None:
    server.routes["/ips.txt"] = Route(IPS)
    config = FeedConfig([Feed(name="ips", url=server.url("/ips.txt"), format="list")])
    run(config, cache)
    server.routes["/ips.txt"] = Route(b"10.0.0.0/8\n192.168.1.1\n")  # only bogons: data
    now = run(config, cache, force=True)["ips"]
    assert (now.state, now.indicators, now.dropped) == ("updated", 0, 2)


def test_first_copy_empty_is_accepted(server: FeedServer, cache: Path) -> None:
    server.routes["/ips.txt"] = Route(HTML)
    config = FeedConfig([Feed(name="ips", url=server.url("/ips.txt"), format="list")])
    status = run(config, cache)["ips"]
    assert (status.state, status.indicators, status.malformed) == ("updated", 0, 4)


def test_unselected_feed_keeps_its_good_copy_without_the_http_cache(
    server: FeedServer, cache: Path
) -> None:
    server.routes["/a.txt"] = Route(IPS)
    server.routes["/b.txt"] = Route(b"45.9.148.2\n")
    config = FeedConfig(
        [
            Feed(name="a", url=server.url("/a.txt"), format="list"),
            Feed(name="b", url=server.url("/b.txt"), format="list"),
        ]
    )
    first = run(config, cache)
    server.routes["/a.txt"] = Route(BROKEN["broken-zip"][0])
    assert run(config, cache, names=["a"], force=True)["a"].state == "failed"
    (cache / "http-cache.sqlite").unlink()  # requests-cache lost everything
    statuses = run(config, cache, names=["b"], force=True)
    assert (statuses["a"].state, statuses["a"].indicators) == ("failed", 2)
    assert statuses["a"].confirmed == first["a"].confirmed
    found = intel(config, cache)
    assert listed(found, "ip", "45.9.148.3") == [("45.9.148.3", "a")]
    assert listed(found, "ip", "45.9.148.2") == [("45.9.148.2", "b")]


def test_server_down_after_a_broken_copy_keeps_the_good_one(
    server: FeedServer, cache: Path
) -> None:
    server.routes["/ips.txt"] = Route(IPS)
    config = FeedConfig([Feed(name="ips", url=server.url("/ips.txt"), format="list")])
    good = run(config, cache)["ips"]
    server.routes["/ips.txt"] = Route(BROKEN["broken-zip"][0])
    run(config, cache, force=True)
    server.routes["/ips.txt"] = Route(status=500)
    down = run(config, cache, force=True)["ips"]
    assert (down.state, down.reason) == ("failed", "HTTP 500 Internal Server Error")
    assert (down.indicators, down.confirmed) == (2, good.confirmed)
    assert listed(intel(config, cache), "ip", "45.9.148.3") == [("45.9.148.3", "ips")]
