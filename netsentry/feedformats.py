"""Feed formats: one pure parser per native format, turning a feed body into indicators.

A parser reads the decoded text of a feed and yields ``(kind, value)`` items:
``kind`` is an indicator kind (``ip``, ``domain``, ``url``, ``ja3``, ``sha1``) with
a normalized value, ``suffix`` (a domain whose subdomains are meant too, as in MISP
warning lists' ``.google.com``), :data:`MALFORMED` for a line or record that holds no
usable indicator, or :data:`UNSUPPORTED` for a well-formed entry of a kind netsentry
does not match (ThreatFox file hashes, Zeek e-mail indicators). Nothing here raises
on bad input: a feed is hostile text, and one broken line must not lose the others.

``FEED_FORMATS`` maps the ``format:`` of a feed in feeds.yaml to its parser.
:func:`unpack` first undoes gzip and zip bodies (bounded, so a zip bomb cannot fill
memory).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from netsentry.intel import guess_kind, normalize_domain, normalize_url, parse_network

MALFORMED = "!"
UNSUPPORTED = "-"
MAX_BODY = 512 * 1024 * 1024
"""Largest unpacked feed body accepted (bytes); more is reported as a failure."""

Item = tuple[str, str]


class FeedFormatError(Exception):
    """A body that cannot be unpacked at all (a broken zip, a gzip bomb)."""


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """The per-feed parsing options of feeds.yaml (see :mod:`netsentry.feeds`)."""

    kinds: tuple[str, ...] = ()  # accepted indicator kinds; empty: guess each value
    column: str | int | None = None  # csv: header name or 1-based index
    type_column: str | int | None = None  # csv: column naming each row's indicator type
    comment: tuple[str, ...] = ("#",)
    delimiter: str = ","
    value_key: str | None = None  # json/jsonl: key holding the indicator
    type_key: str | None = None  # json/jsonl: key holding its type


# -- values ---------------------------------------------------------------------------------

_DOMAIN = re.compile(r"(?:[\w-]{1,63}\.)+[\w-]{1,63}")
_HEX = frozenset("0123456789abcdef")
_IPV4_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}")
_CIDR_LIKE = re.compile(r"[0-9a-fA-F.:]+/\d+")
_URL = re.compile(r"[^\s\x00-\x1f\x7f]+")


def _domain(raw: str) -> str | None:
    name = normalize_domain(raw)
    if _DOMAIN.fullmatch(name) and not name.rsplit(".", 1)[-1].isdigit():
        return name
    return None


def _hex(raw: str, length: int) -> str | None:
    value = raw.strip().lower()
    return value if len(value) == length and _HEX.issuperset(value) else None


def normalize(kind: str, raw: str) -> str | None:
    """The normalized value of ``raw`` as an indicator of ``kind``, or None if it is not one."""
    raw = raw.strip()
    if not raw:
        return None
    if kind == "ip":
        port = _IPV4_PORT.fullmatch(raw)  # ThreatFox lists 'ip:port'
        if port:
            raw = port.group(1)
        return raw if parse_network(raw) is not None else None
    if kind in ("domain", "suffix"):
        return _domain(raw)
    if kind == "url":
        if not _URL.fullmatch(raw):
            return None
        url = normalize_url(raw)
        host = url.split("/", 1)[0]
        return url if host and ("." in host or ":" in host) else None
    if kind == "ja3":
        return _hex(raw, 32)
    if kind == "sha1":
        return _hex(raw.replace(":", ""), 40)
    return None


def classify(raw: str, kinds: tuple[str, ...]) -> Item:
    """One value of a feed as an item: declared kind(s) first, else guessed."""
    raw = raw.strip().strip("\"'")
    if len(kinds) == 1:
        value = normalize(kinds[0], raw)
        return (kinds[0], value) if value is not None else (MALFORMED, raw)
    port = _IPV4_PORT.fullmatch(raw)
    kind = guess_kind(port.group(1) if port else raw)
    if kind == "url" and _CIDR_LIKE.fullmatch(raw):
        return MALFORMED, raw  # '45.9.148.0/33' is a broken range, not a URL
    if kind is None or (kinds and kind not in kinds):
        return MALFORMED, raw
    value = normalize(kind, raw)
    return (kind, value) if value is not None else (MALFORMED, raw)


_TYPE_WORDS = (
    ("ja3", "ja3"),
    ("cert", "sha1"),
    ("sha1", "sha1"),
    ("url", "url"),
    ("subnet", "ip"),
    ("addr", "ip"),
    ("ip", "ip"),
    ("cidr", "ip"),
    ("domain", "domain"),
    ("hostname", "domain"),
    ("fqdn", "domain"),
)


def kind_of_type(name: str) -> str | None:
    """The indicator kind a feed's type label means ('ip:port' -> ip, 'Intel::DOMAIN' ->
    domain, 'md5_hash' -> None: not matched)."""
    lower = name.strip().lower()
    if "hash" in lower and "cert" not in lower and "ja3" not in lower:
        return None  # file hashes (md5, sha256): netsentry does not see files' hashes
    for word, kind in _TYPE_WORDS:
        if word in lower:
            return kind
    return None


def _typed(raw: str, type_name: str, kinds: tuple[str, ...]) -> Item:
    kind = kind_of_type(type_name)
    if kind is None or (kinds and kind not in kinds):
        return UNSUPPORTED, type_name
    value = normalize(kind, str(raw))
    return (kind, value) if value is not None else (MALFORMED, str(raw))


# -- bodies ---------------------------------------------------------------------------------


def unpack(body: bytes, limit: int = MAX_BODY) -> bytes:
    """The feed body with gzip or zip undone (recognized by magic bytes, not names)."""
    if body[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise FeedFormatError(f"broken gzip body ({exc})") from None
        if len(out) > limit:
            raise FeedFormatError(f"gzip body unpacks to more than {limit} bytes")
        if not inflater.eof:
            raise FeedFormatError("truncated gzip body")
        return out
    if body[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if not members:
                    raise FeedFormatError("empty zip archive")
                member = members[0]  # abuse.ch dumps hold one file
                if member.file_size > limit:
                    raise FeedFormatError(f"zip member unpacks to more than {limit} bytes")
                with archive.open(member) as handle:
                    data = handle.read(limit + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError) as exc:
            raise FeedFormatError(f"broken zip body ({exc})") from None
        if len(data) > limit:
            raise FeedFormatError(f"zip member unpacks to more than {limit} bytes")
        return data
    if body[:3] == b"BZh" or body[:6] == b"\xfd7zXZ\x00":
        raise FeedFormatError("bzip2/xz bodies are not supported")
    return body


def decode(body: bytes) -> str:
    """Feed text: UTF-8 (with a BOM or not), undecodable bytes replaced."""
    return body.decode("utf-8-sig", errors="replace")


def _lines(text: str, comment: tuple[str, ...]) -> Iterator[str]:
    """Non-empty lines with whole-line and trailing comments removed."""
    for line in io.StringIO(text):
        line = line.strip()
        if not line or line.startswith(comment):
            continue
        for mark in comment:
            cut = line.find(mark)
            if cut > 0:
                line = line[:cut].rstrip()
        yield line


# -- parsers --------------------------------------------------------------------------------


def parse_list(text: str, opts: FormatOptions) -> Iterator[Item]:
    """One indicator per line (the first word): IP, CIDR, domain, URL or hash lists,
    FireHOL netsets, the Tor bulk exit list, OpenPhish, ET block lists."""
    for line in _lines(text, opts.comment):
        yield classify(line.split(None, 1)[0], opts.kinds)


def parse_spamhaus(text: str, opts: FormatOptions) -> Iterator[Item]:
    """Spamhaus DROP/DROPv6/EDROP text (``CIDR ; SBLnnn``) or their JSON lines."""
    json_opts = FormatOptions(kinds=("ip",), value_key="cidr")
    for line in _lines(text, (";", "#")):
        if line.startswith("{"):
            yield from _json_line(line, json_opts)
        else:
            yield classify(line.split(None, 1)[0], ("ip",))


_HOSTS_SKIP = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "0.0.0.0",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
    }
)


def parse_hosts(text: str, opts: FormatOptions) -> Iterator[Item]:
    """Hosts files (``0.0.0.0 evil.example`` or ``127.0.0.1<TAB>host``): the names."""
    for line in _lines(text, opts.comment):
        words = line.split()
        if len(words) < 2 or parse_network(words[0]) is None:
            yield MALFORMED, line
            continue
        for name in words[1:]:
            if name.lower() in _HOSTS_SKIP:
                continue
            yield classify(name, ("domain",))


def _column_index(header: list[str], column: str) -> int | None:
    wanted = column.strip().lower()
    names = [h.strip().strip("\"'# ").lower() for h in header]
    return names.index(wanted) if wanted in names else None


def parse_csv(text: str, opts: FormatOptions) -> Iterator[Item]:
    """CSV with a chosen column (a header name or a 1-based number) and comment prefix.

    abuse.ch CSVs quote every field and put their header in a comment
    (``# id,dateadded,url,...``); Feodo's header row is not commented; ThreatFox
    separates fields with ``", "``. A named column is found in the header line
    (commented or not) before the data; with ``type_column`` each row's type decides
    its kind (ThreatFox ``ioc_type``).
    """
    value_at = opts.column - 1 if isinstance(opts.column, int) else None
    type_at = opts.type_column - 1 if isinstance(opts.type_column, int) else None
    named = isinstance(opts.column, str) or isinstance(opts.type_column, str)
    if opts.column is None:
        value_at = 0
    marks = "".join(opts.comment)
    for raw in io.StringIO(text):
        line = raw.strip()
        if not line:
            continue
        comment = bool(opts.comment) and line.startswith(opts.comment)
        body = line.lstrip(marks).strip() if comment else line
        try:
            row = next(csv.reader([body], delimiter=opts.delimiter, skipinitialspace=True))
        except (csv.Error, StopIteration):
            row = []
        if named and (comment or value_at is None) and _is_header(row, opts):
            if isinstance(opts.column, str):
                value_at = _column_index(row, opts.column)
            if isinstance(opts.type_column, str):
                type_at = _column_index(row, opts.type_column)
            continue
        if comment:
            continue
        if (
            value_at is None
            or value_at >= len(row)
            or (type_at is not None and type_at >= len(row))
        ):
            yield MALFORMED, line[:80]  # no header naming the column yet, or a short row
            continue
        if type_at is not None:
            yield _typed(row[value_at], row[type_at], opts.kinds)
        else:
            yield classify(row[value_at], opts.kinds)


def _is_header(row: list[str], opts: FormatOptions) -> bool:
    return all(
        not isinstance(col, str) or _column_index(row, col) is not None
        for col in (opts.column, opts.type_column)
    )


def _json_items(node: Any, opts: FormatOptions, depth: int = 0) -> Iterator[Item]:
    """Objects holding ``value_key`` anywhere in a JSON document (bounded depth)."""
    if depth > 32:
        return
    if isinstance(node, dict):
        if opts.value_key and opts.value_key in node:
            yield _json_value(node, opts)
            return
        for child in node.values():
            if isinstance(child, (dict, list)):
                yield from _json_items(child, opts, depth + 1)
    elif isinstance(node, list):
        for child in node:
            if isinstance(child, str) and not opts.value_key:
                yield classify(child, opts.kinds)
            elif isinstance(child, (dict, list)):
                yield from _json_items(child, opts, depth + 1)
            else:
                yield MALFORMED, str(child)[:80]


def _json_value(obj: dict[str, Any], opts: FormatOptions) -> Item:
    value = obj.get(opts.value_key or "")
    if not isinstance(value, str):
        return MALFORMED, str(value)[:80]
    if opts.type_key:
        kind = obj.get(opts.type_key)
        if not isinstance(kind, str):
            return MALFORMED, value[:80]
        return _typed(value, kind, opts.kinds)
    return classify(value, opts.kinds)


def parse_json(text: str, opts: FormatOptions) -> Iterator[Item]:
    """A JSON document: every object with ``value_key`` (and ``type_key``), at any depth —
    ThreatFox exports (``ioc_value``/``ioc_type``), the URLhaus API (``url``), Feodo JSON
    (``ip_address``) — or a top-level list of strings."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        yield MALFORMED, f"invalid JSON: {exc}"
        return
    yield from _json_items(doc, opts)


def _json_line(line: str, opts: FormatOptions) -> Iterator[Item]:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        yield MALFORMED, line[:80]
        return
    if not isinstance(obj, dict):
        yield MALFORMED, line[:80]
    elif (opts.value_key or "") in obj:
        yield _json_value(obj, opts)
    elif obj.get("type") != "metadata":  # Spamhaus ends its JSON with a metadata record
        yield MALFORMED, line[:80]


def parse_jsonl(text: str, opts: FormatOptions) -> Iterator[Item]:
    """JSON lines (NDJSON): Spamhaus DROP JSON (``cidr``), Suricata ndjson datasets."""
    for line in _lines(text, ()):
        yield from _json_line(line, opts)


def parse_zeek(text: str, opts: FormatOptions) -> Iterator[Item]:
    """Zeek intel framework files: ``#fields indicator indicator_type ...`` (tab-separated),
    types Intel::ADDR, SUBNET, DOMAIN, URL, CERT_HASH (SHA-1), JA3."""
    value_at, type_at = 0, 1
    for raw in io.StringIO(text):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if line.startswith("#"):
            if line.startswith("#fields"):
                names = line.split("\t")[1:]
                if "indicator" in names and "indicator_type" in names:
                    value_at = names.index("indicator")
                    type_at = names.index("indicator_type")
            continue
        cols = line.split("\t")
        if len(cols) <= max(value_at, type_at):
            yield MALFORMED, line[:80]
            continue
        yield _typed(cols[value_at], cols[type_at], opts.kinds)


def parse_tor_exits(text: str, opts: FormatOptions) -> Iterator[Item]:
    """The Tor exit-addresses record format (``ExitAddress <ip> <time>`` lines count)."""
    for line in _lines(text, ("#",)):
        word, _, rest = line.partition(" ")
        if word == "ExitAddress" and rest:
            yield classify(rest.split()[0], ("ip",))
        elif word not in ("ExitNode", "Published", "LastStatus"):
            yield MALFORMED, line[:80]


def parse_misp(text: str, opts: FormatOptions) -> Iterator[Item]:
    """MISP warning lists (``{"type": ..., "list": [...]}``): cidr, hostname (exact) and
    string (a leading '.' means the domain and its subdomains) lists; regex and substring
    lists are not used."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        yield MALFORMED, f"invalid JSON: {exc}"
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("list"), list):
        yield MALFORMED, "not a MISP warning list (no 'list')"
        return
    list_type = str(doc.get("type", "string"))
    for entry in doc["list"]:
        if not isinstance(entry, str):
            yield MALFORMED, str(entry)[:80]
        elif list_type in ("regex", "substring"):
            yield UNSUPPORTED, list_type
        elif list_type == "cidr":
            yield classify(entry, ("ip",))
        elif entry.startswith(".") and list_type == "string":
            yield classify(entry, ("suffix",))
        else:
            yield classify(entry, opts.kinds or ("ip", "domain"))


def parse_dataset(text: str, opts: FormatOptions) -> Iterator[Item]:
    """Suricata dataset files of type string: one base64 value per line (``dotprefix``
    lists hold ``.evil.com``, the domain and its subdomains); hex hashes and addresses
    are read as they are. A ``,reputation`` suffix (datarep) is ignored."""
    for line in _lines(text, ("#",)):
        value = line.split(",", 1)[0].strip()
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            decoded = value
        yield classify(decoded, opts.kinds)


Parser = Callable[[str, FormatOptions], Iterator[Item]]


def parse_no_indicators(text: str, opts: FormatOptions) -> Iterator[Item]:
    """Rule feeds hold no indicators: their bodies are kept whole for ``analyze``."""
    return iter(())


@dataclass(frozen=True, slots=True)
class FeedFormat:
    """A parser and what it is for (shown in errors and the README)."""

    parse: Parser
    doc: str
    needs: tuple[str, ...] = ()  # feeds.yaml keys this format requires
    rules: bool = False  # a detection-rule feed (kept as a file), not indicators


FEED_FORMATS: dict[str, FeedFormat] = {
    "list": FeedFormat(parse_list, "one IP, CIDR, domain, URL or hash per line"),
    "spamhaus": FeedFormat(parse_spamhaus, "Spamhaus DROP/DROPv6 text or JSON lines"),
    "hosts": FeedFormat(parse_hosts, "hosts file: address then names"),
    "csv": FeedFormat(
        parse_csv, "CSV, one column (name or number) holds the indicator", ("column",)
    ),
    "json": FeedFormat(parse_json, "JSON document, objects with value_key", ("value_key",)),
    "jsonl": FeedFormat(parse_jsonl, "JSON lines, objects with value_key", ("value_key",)),
    "zeek": FeedFormat(parse_zeek, "Zeek intel framework file"),
    "tor-exits": FeedFormat(parse_tor_exits, "Tor exit-addresses records"),
    "misp-warninglist": FeedFormat(parse_misp, "MISP warning list JSON (usually allowlist)"),
    "dataset": FeedFormat(parse_dataset, "Suricata dataset (base64 strings)"),
    "suricata-rules": FeedFormat(
        parse_no_indicators,
        "Suricata/Snort rules (.rules text, gzip, or tar.gz like ET Open's download), "
        "run by analyze as signatures",
        rules=True,
    ),
}
"""``format:`` in feeds.yaml -> its parser."""


RULE_FORMATS = frozenset(name for name, fmt in FEED_FORMATS.items() if fmt.rules)
"""Formats whose feeds carry detection rules rather than indicators."""


def parse_feed(body: bytes, fmt: str, opts: FormatOptions) -> Iterator[Item]:
    """Unpack, decode and parse a feed body (raises FeedFormatError for a broken archive)."""
    return FEED_FORMATS[fmt].parse(decode(unpack(body)), opts)
