"""``netsentry update-intel`` and ``analyze`` with cached feeds, end to end over 127.0.0.1."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest
from typer.testing import CliRunner, Result

from netsentry.cli import app
from tests.factories import ether, ipv4, udp, write_pcap
from tests.feedserver import FeedServer, Route, serve

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = Path(os.environ.get("NETSENTRY_CORPUS") or SHARED / "corpus")
EXPECTED = CORPUS / "expected"
needs_corpus = pytest.mark.skipif(
    not (CORPUS / "labels.yaml").is_file(), reason=f"shared corpus not found at {CORPUS}"
)
ENV: dict[str, str | None] = {"FORCE_COLOR": None, "COLUMNS": None, "TTY_COMPATIBLE": None}
T0 = 1706702400.0
SECRET = "K3Y-never-printed-42"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    yield from serve()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def invoke(args: list[str], **env: str) -> Result:
    return CliRunner(env={**ENV, **env}).invoke(app, args)


def feeds_file(server: FeedServer, *entries: str) -> Path:
    """A feeds.yaml without the packaged (network) feeds; ``{url}`` is the server."""
    body = "include_defaults: false\nfeeds:\n" + "".join(
        "  - " + e.replace("{url}", server.url("")) + "\n" for e in entries
    )
    path = Path("feeds.yaml")
    path.write_text(body, encoding="utf-8")
    return path


def table_rows(out: str) -> dict[str, list[str]]:
    """Rows of the result table: feed name -> its cells."""
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 5 and cells[0] and cells[0] != "feed":
            rows[cells[0]] = cells[1:]
    return rows


def dns_query(name: str, qid: int) -> bytes:
    msg = dpkt.dns.DNS(id=qid, qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A, cls=1)])
    return bytes(msg)


def dns_capture(path: Path, *names: str) -> Path:
    frames = [
        (T0 + i, ether(ipv4(udp(sport=40000 + i, dport=53, payload=dns_query(name, qid=i + 1)),
                            src="10.0.0.5", dst="10.0.0.53")))
        for i, name in enumerate(names)
    ]
    return write_pcap(path, frames)


def eve(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


# -- update-intel ---------------------------------------------------------------------------


def test_update_table_status_and_exit_codes(server: FeedServer) -> None:
    server.routes["/good.txt"] = Route(b"45.9.148.3\nbad line here\n", etag='"1"')
    server.routes["/dead.txt"] = Route(status=503)
    path = feeds_file(
        server,
        "{name: good, url: '{url}/good.txt', format: list}",
        "{name: dead, url: '{url}/dead.txt', format: list}",
    )
    result = invoke(["update-intel", "--feeds", str(path)])
    assert result.exit_code == 4, result.output
    rows = table_rows(result.stdout)
    assert rows["good"] == ["updated", "1", "1", "0 s"]
    assert rows["dead"] == ["failed: HTTP 503 Service Unavailable (no copy)", "-", "-", "-"]
    assert "1 indicators compiled into" in result.stdout

    # Only the good feed: exit 0; the dead one is not shown.
    result = invoke(["update-intel", "--feeds", str(path), "--feed", "good", "--force"])
    assert result.exit_code == 0, result.output
    assert list(table_rows(result.stdout)) == ["good"]
    assert table_rows(result.stdout)["good"][0] == "not modified"

    # The server dies: the copy is kept and the table says how old it is.
    server.routes["/good.txt"] = Route(status=500)
    result = invoke(["update-intel", "--feeds", str(path), "--feed", "good", "--force"])
    assert result.exit_code == 4
    assert table_rows(result.stdout)["good"] == [
        "failed: HTTP 500 Internal Server Error (kept copy from 0 s ago)", "1", "1", "0 s"
    ]

    # --status: no network at all.
    before = len(server.seen)
    result = invoke(["update-intel", "--feeds", str(path), "--status"])
    assert result.exit_code == 4
    assert len(server.seen) == before
    assert table_rows(result.stdout)["dead"][0] == "failed: HTTP 503 Service Unavailable (no copy)"


def test_unknown_feed_and_invalid_file() -> None:
    Path("feeds.yaml").write_text(
        "include_defaults: false\nfeeds:\n  - name: x\n    url: ftp://example.org/x\n"
        "    format: lst\n    refreh: 1h\n",
        encoding="utf-8",
    )
    result = invoke(["update-intel", "--feeds", "feeds.yaml"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "feeds.yaml:6:5: feed 'x': unknown key 'refreh' (did you mean 'refresh'?)",
        "error: 1 problem(s) in feed files",
    ]
    Path("feeds.yaml").write_text(
        "include_defaults: false\nfeeds:\n  - name: x\n    url: ftp://example.org/x\n"
        "    format: lst\n",
        encoding="utf-8",
    )
    result = invoke(["update-intel", "--feeds", "feeds.yaml"])
    assert result.stderr.splitlines() == [
        "feeds.yaml:4:10: feed 'x': url must be an http:// or https:// URL",
        "feeds.yaml:5:13: feed 'x': unknown format 'lst' (did you mean 'list'?) (known: list, "
        "spamhaus, hosts, csv, json, jsonl, zeek, tor-exits, misp-warninglist, dataset, "
        "suricata-rules)",
        "error: 2 problem(s) in feed files",
    ]
    Path("feeds.yaml").write_text("include_defaults: false\n", encoding="utf-8")
    result = invoke(["update-intel", "--feeds", "feeds.yaml", "--feed", "nope"])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --feed nope: the feed is not in feeds.yaml; enabled feeds: none\n"
    )


def test_secret_never_printed(server: FeedServer) -> None:
    server.routes["/k.txt"] = Route(status=500)
    path = feeds_file(
        server,
        "{name: keyed, url: '{url}/k.txt', format: list, auth: {env: MY_KEY, param: key}}",
        "{name: refused, url: 'http://127.0.0.1:9/x', format: list, "
        "auth: {env: MY_KEY, param: key}}",
    )
    result = invoke(["update-intel", "--feeds", str(path)], MY_KEY=SECRET)
    assert result.exit_code == 4
    assert server.seen[0].path == f"/k.txt?key={SECRET}"
    assert SECRET not in result.stdout + result.stderr
    assert table_rows(result.stdout)["refused"][0] == "failed: connection refused (no copy)"


def test_hostile_feed_text_is_not_markup(server: FeedServer) -> None:
    server.routes["/x.txt"] = Route(status=404)
    path = feeds_file(server, "{name: x, url: '{url}/x.txt', format: list}")
    result = invoke(["update-intel", "--feeds", str(path)])
    assert "failed: HTTP 404 Not Found (no copy)" in result.stdout
    assert "\x1b[" not in result.stdout


# -- analyze reads the cache ----------------------------------------------------------------


def test_analyze_warns_until_downloaded_then_matches(server: FeedServer) -> None:
    server.routes["/doms.txt"] = Route(b"evil.example.com\n")
    path = feeds_file(
        server, "{name: doms, url: '{url}/doms.txt', format: list, severity: critical}"
    )
    dns_capture(Path("q.pcap"), "www.evil.example.com", "notevil.example.com")
    result = invoke(["analyze", "q.pcap", "-f", "eve", "--feeds", str(path)])
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: threat-intel feed(s) never downloaded: doms; run `netsentry update-intel` "
        "(until then they match nothing)\n"
    )
    assert eve(result) == []
    assert server.seen == []  # analyze never downloads

    assert invoke(["update-intel", "--feeds", str(path)]).exit_code == 0
    server.routes.clear()  # analyze must not need the server
    result = invoke(["analyze", "q.pcap", "-f", "eve", "--feeds", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    alerts = eve(result)
    assert [(a["dns"]["queries"][0]["rrname"], a["alert"]["severity"],
             a["netsentry"]["evidence"]["feeds"]) for a in alerts] == [
        ("www.evil.example.com", 1, ["doms"])
    ]
    # --no-feeds: the cached feeds are not used
    assert eve(invoke(["analyze", "q.pcap", "-f", "eve", "--no-feeds"])) == []


def test_broken_download_keeps_matching_the_last_good_copy(server: FeedServer) -> None:
    server.routes["/doms.txt"] = Route(b"evil.example.com\n", etag='"1"')
    path = feeds_file(server, "{name: doms, url: '{url}/doms.txt', format: list}")
    dns_capture(Path("q.pcap"), "www.evil.example.com")
    assert invoke(["update-intel", "--feeds", str(path)]).exit_code == 0

    # 200 with a broken zip: requests-cache stores it, netsentry keeps the good copy.
    server.routes["/doms.txt"] = Route(b"PK\x03\x04" + b"\x00" * 40, etag='"2"')
    result = invoke(["update-intel", "--feeds", str(path), "--force"])
    assert result.exit_code == 4, result.output
    assert table_rows(result.stdout)["doms"] == [
        "failed: broken zip body (File is not a zip file) (kept copy from 0 s ago)",
        "1", "0", "0 s",
    ]
    result = invoke(["analyze", "q.pcap", "-f", "eve", "--feeds", str(path)])
    assert result.exit_code == 0, result.output
    assert [a["netsentry"]["evidence"]["feeds"] for a in eve(result)] == [["doms"]]


# -- the corpus: what the Suricata tests expect ------------------------------------------------


@needs_corpus
def test_iprep_capture_with_its_reputation_list(server: FeedServer) -> None:
    listing = EXPECTED / "iprep" / "sv__issue-4280-iprep" / "scirius-iprep.list"
    server.routes["/iprep.list"] = Route(listing.read_bytes())
    path = feeds_file(
        server,
        "{name: scirius-iprep, url: '{url}/iprep.list', format: csv, column: 1, "
        "indicators: [ip]}",
    )
    result = invoke(["update-intel", "--feeds", str(path)])
    assert result.exit_code == 0, result.output
    cells = table_rows(result.stdout)["scirius-iprep"]
    assert cells[:3] == ["updated", "27,529", "0"]  # line 1 is the commented-out 8.8.8.8
    result = invoke(
        ["analyze", str(CORPUS / "iprep" / "sv__issue-4280-iprep.pcap"), "-f", "eve",
         "--feeds", str(path)]
    )
    assert result.exit_code == 0, result.output
    alerts = eve(result)
    # One alert per flow (Suricata: one per direction for the IP-only rule, 3 in all).
    assert sorted(
        (a["src_ip"], a["dest_ip"], a["alert"]["category"], a["netsentry"]["evidence"]["feeds"][0])
        for a in alerts
    ) == [
        ("192.168.0.13", "4.4.4.4", "Known Bad Indicator", "scirius-iprep"),
        ("192.168.0.13", "8.8.8.8", "Known Bad Indicator", "scirius-iprep"),
    ]


@needs_corpus
@pytest.mark.parametrize(
    ("list_name", "entry"),
    [
        ("domains.lst", "{name: blocked, url: '{url}/list', format: dataset}"),
        ("domains.json", "{name: blocked, url: '{url}/list', format: jsonl, value_key: domain}"),
    ],
)
def test_dataset_subdomain_capture_with_its_domain_list(
    server: FeedServer, list_name: str, entry: str
) -> None:
    folder = EXPECTED / "dns" / "sv__datasets-match-subdomain"
    server.routes["/list"] = Route((folder / list_name).read_bytes())
    path = feeds_file(server, entry)
    result = invoke(["update-intel", "--feeds", str(path)])
    assert table_rows(result.stdout)["blocked"][:3] == ["updated", "1", "0"]
    result = invoke(
        ["analyze", str(CORPUS / "dns" / "sv__datasets-match-subdomain.pcap"), "-f", "eve",
         "--feeds", str(path)]
    )
    assert result.exit_code == 0, result.output
    alerts = eve(result)
    # sid 1 / sid 2 in the Suricata test: mail.evil.com and sub.mail.evil.com, not example.com
    assert sorted(
        (a["src_ip"], a["dest_ip"], a["dns"]["queries"][0]["rrname"],
         a["netsentry"]["evidence"]["indicator"], a["alert"]["category"])
        for a in alerts
    ) == [
        ("5.6.7.8", "1.2.3.4", "mail.evil.com", "evil.com", "Known Bad Indicator"),
        ("5.6.7.8", "1.2.3.4", "sub.mail.evil.com", "evil.com", "Known Bad Indicator"),
    ]


def test_dns_answer_with_a_listed_address(server: FeedServer) -> None:
    server.routes["/ips.txt"] = Route(b"45.9.148.3\n")
    path = feeds_file(server, "{name: c2-ips, url: '{url}/ips.txt', format: list}")
    answer = dpkt.dns.DNS(
        id=7, qr=dpkt.dns.DNS_R, rd=1, ra=1,
        qd=[dpkt.dns.DNS.Q(name="fresh.example", type=dpkt.dns.DNS_A, cls=1)],
        an=[dpkt.dns.DNS.RR(name="fresh.example", type=dpkt.dns.DNS_A, cls=1, ttl=60,
                            rlen=4, rdata=bytes([45, 9, 148, 3]))],
    )
    write_pcap(Path("a.pcap"), [
        (T0, ether(ipv4(udp(sport=40000, dport=53, payload=dns_query("fresh.example", 7)),
                        src="10.0.0.5", dst="10.0.0.53"))),
        (T0 + 0.01, ether(ipv4(udp(sport=53, dport=40000, payload=bytes(answer)),
                               src="10.0.0.53", dst="10.0.0.5"))),
    ])
    assert invoke(["update-intel", "--feeds", str(path)]).exit_code == 0
    result = invoke(["analyze", "a.pcap", "-f", "eve", "--feeds", str(path)])
    assert result.exit_code == 0, result.output
    assert [(a["alert"]["signature_id"], a["netsentry"]["evidence"]["value"],
             a["netsentry"]["evidence"]["feeds"]) for a in eve(result)] == [
        (1009008, "45.9.148.3", ["c2-ips"])
    ]


def test_progress_lines_per_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from netsentry import cli_intel

    buffer = io.StringIO()
    monkeypatch.setattr(
        cli_intel, "_err", lambda: Console(file=buffer, force_terminal=True, width=100)
    )
    progress = cli_intel._FeedProgress(True, ["alpha", "beta"])
    progress("alpha", "download", 512, 2048)
    progress("alpha", "parse", 50_000, None)
    progress("unknown", "download", 1, None)  # ignored, not an error
    progress.stop()
    shown = buffer.getvalue()
    assert "alpha" in shown and "beta" in shown
    assert "parsed 50,000 entries" in shown
    quiet = cli_intel._FeedProgress(False, ["alpha"])
    quiet("alpha", "download", 1, 2)
    quiet.stop()


# -- rule feeds (format: suricata-rules) ------------------------------------------------------


def _rules_tar_gz(text: str) -> bytes:
    """An ET Open-like download: a gzipped tar with a rules/ folder."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:
        data = text.encode()
        info = tarfile.TarInfo("rules/local.rules")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()


RULE_FEED_TEXT = (
    'alert dns any any -> any any (msg:"rule feed: evil name"; dns.query; '
    'content:"evil-rule"; nocase; classtype:trojan-activity; sid:9000001; rev:1;)\n'
    'alert tcp any any -> any any (msg:"unsupported"; content:"a"; byte_test:1,>,2,0; '
    "sid:9000002;)\n"
    "#alert tcp any any -> any any (msg:\"commented out\"; sid:9000003;)\n"
)


def test_rule_feed_downloaded_kept_and_run_by_analyze(server: FeedServer) -> None:
    server.routes["/rules.tar.gz"] = Route(_rules_tar_gz(RULE_FEED_TEXT))
    path = feeds_file(server, "{name: my-rules, url: '{url}/rules.tar.gz', format: suricata-rules}")
    dns_capture(Path("q.pcap"), "www.evil-rule.example", "www.fine.example")

    before = invoke(["analyze", "q.pcap", "-f", "eve", "--feeds", str(path)])
    assert before.exit_code == 0, before.output
    assert "never downloaded: my-rules" in before.stderr
    assert eve(before) == []

    result = invoke(["update-intel", "--feeds", str(path)])
    assert result.exit_code == 0, result.output
    # the "indicators" column of a rule feed counts imported rules; 1 unsupported is left out
    assert table_rows(result.stdout)["my-rules"][:3] == ["updated", "1", "0"]

    server.routes.clear()  # analyze reads the kept copy only
    result = invoke(["analyze", "q.pcap", "-f", "eve", "--feeds", str(path)])
    assert result.exit_code == 0, result.output
    alerts = eve(result)
    assert [(a["alert"]["signature_id"], a["dns"]["queries"][0]["rrname"]) for a in alerts] == [
        (9000001, "www.evil-rule.example")
    ]
    assert eve(invoke(["analyze", "q.pcap", "-f", "eve", "--no-feeds"])) == []

    # A broken download fails the feed but keeps the last rules that worked.
    server.routes["/rules.tar.gz"] = Route(b"\x1f\x8b\x08\x00broken")
    result = invoke(["update-intel", "--feeds", str(path), "--force"])
    assert result.exit_code == 4, result.output
    assert table_rows(result.stdout)["my-rules"][0].startswith("failed")
    alerts = eve(invoke(["analyze", "q.pcap", "-f", "eve", "--feeds", str(path)]))
    assert [a["alert"]["signature_id"] for a in alerts] == [9000001]
