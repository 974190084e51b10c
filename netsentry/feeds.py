"""feeds.yaml: which threat-intel feeds to download, how to read them, validated like rules.

The packaged ``netsentry/data/feeds.yaml`` lists real public feeds; the user's
``feeds.yaml`` (see :mod:`netsentry.config`) or ``--feeds FILE`` is layered on top:
an entry with a packaged feed's name and no ``url`` changes only the keys it gives
(``{name: openphish, enabled: false}``), an entry with a ``url`` replaces or adds a
feed, and ``include_defaults: false`` drops the packaged list altogether. Every
problem of every file is collected and reported as ``path:line:col: feed 'x': ...``.

The dataclass fields of :class:`Feed` are the YAML keys, their types and their
documentation (declare once, as for rules).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from netsentry.config import user_feeds_path
from netsentry.errors import UsageError
from netsentry.feedformats import FEED_FORMATS, FormatOptions
from netsentry.intel import KINDS
from netsentry.ruleload import parse_allowlist
from netsentry.rules import CATEGORIES, SEVERITIES, doc
from netsentry.yamlfile import (
    MarkedDict,
    MarkedList,
    Position,
    ProblemList,
    YamlError,
    load_yaml,
    position_of,
    suggest,
)

NAME_RE = re.compile(r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TOP_KEYS = ("version", "include_defaults", "drop_bogons", "allowlist", "feeds")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class FeedFileError(UsageError):
    """One or more feed files are invalid; ``errors`` holds every message."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass(frozen=True, slots=True)
class Auth:
    """A secret sent with a feed request, read from an environment variable at run time."""

    env: str
    header: str = ""  # e.g. Auth-Key (abuse.ch)
    param: str = ""  # or a query parameter, e.g. auth-key

    def secret(self) -> str | None:
        """The secret, or None when the variable is unset or empty."""
        return os.environ.get(self.env) or None


@dataclass(frozen=True, kw_only=True)
class Feed:
    """One feed of feeds.yaml."""

    name: str = doc("stable id, shown in findings (lowercase letters, digits, '-', '_', '.')")
    url: str = doc("http(s) URL of the feed; a secret never goes here (see auth)")
    format: str = doc("one of: " + ", ".join(FEED_FORMATS))
    indicators: tuple[str, ...] = doc(
        "indicator kinds the feed holds (" + ", ".join(KINDS) + "); empty: guessed per value",
        default=(),
    )
    category: str = doc("category of findings: " + ", ".join(CATEGORIES), default="threat-intel")
    severity: str = doc(
        "severity of findings (" + ", ".join(SEVERITIES) + "); empty: the rule's", default=""
    )
    tags: tuple[str, ...] = doc("free-form labels", default=())
    enabled: bool = doc("false: never downloaded nor matched", default=True)
    refresh: float = doc(
        "how long a download stays fresh before it is revalidated: seconds, or 30m, 12h, 1d",
        default=43200.0,
    )
    timeout: float = doc("seconds to wait for the server (connect and each read)", default=60.0)
    auth: Auth | None = doc(
        "{env: VAR, header: NAME} or {env: VAR, param: NAME}: the value of the environment "
        "variable VAR is sent as that header or query parameter",
        default=None,
    )
    allowlist: bool = doc(
        "true: the feed's entries are never reported (MISP warning lists), and win over "
        "every other feed",
        default=False,
    )
    column: str | int | None = doc("csv: header name or 1-based number of the column", default=None)
    type_column: str | int | None = doc(
        "csv: column naming each row's indicator type (ThreatFox ioc_type)", default=None
    )
    comment: tuple[str, ...] = doc("prefixes of comment lines", default=("#",))
    delimiter: str = doc("csv: field separator", default=",")
    value_key: str | None = doc("json/jsonl: key holding the indicator", default=None)
    type_key: str | None = doc("json/jsonl: key holding the indicator type", default=None)
    description: str = doc("what the feed is, for people", default="")
    origin: Position | None = dataclasses.field(default=None, metadata={"yaml": False})

    def options(self) -> FormatOptions:
        """The parsing options of this feed."""
        return FormatOptions(
            kinds=self.indicators,
            column=self.column,
            type_column=self.type_column,
            comment=self.comment,
            delimiter=self.delimiter,
            value_key=self.value_key,
            type_key=self.type_key,
        )

    def missing_secret(self) -> str | None:
        """The environment variable to set when this feed's auth secret is missing."""
        if self.auth is not None and self.auth.secret() is None:
            return self.auth.env
        return None


@dataclass
class FeedConfig:
    """All feeds after layering, plus the global allowlist and bogon setting."""

    feeds: list[Feed]
    drop_bogons: bool = True
    allow_cidrs: tuple[str, ...] = ()
    allow_domains: tuple[str, ...] = ()
    files: list[str] = dataclasses.field(default_factory=list)

    def enabled(self) -> list[Feed]:
        """The feeds that are downloaded and matched."""
        return [f for f in self.feeds if f.enabled]

    def by_name(self, name: str) -> Feed | None:
        """The feed with this name, or None."""
        return next((f for f in self.feeds if f.name == name), None)


def default_feeds_path() -> Path:
    """The feeds.yaml shipped inside the package."""
    return Path(str(resources.files("netsentry") / "data" / "feeds.yaml"))



def _keys() -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(Feed) if f.metadata.get("yaml", True)}


def load_feeds(paths: Sequence[str | Path] | None = None) -> FeedConfig:
    """The packaged feeds layered with ``paths`` (default: the user's feeds.yaml if present)."""
    if paths is None:
        user = user_feeds_path()
        paths = [user] if user.is_file() else []
    errors = ProblemList("feed")
    feeds: dict[str, Feed] = {}
    config = FeedConfig([])
    layers = [(default_feeds_path(), True)] + [(Path(p), False) for p in paths]
    docs: list[tuple[Path, MarkedDict | None]] = []
    include_defaults = True
    for path, packaged in layers:
        try:
            data = load_yaml(path)
        except YamlError as exc:
            errors.add(None, None, str(exc))
            continue
        if data is None:
            docs.append((path, None))
            continue
        if not isinstance(data, MarkedDict):
            errors.add(Position(str(path), 1, 1), None, "expected a mapping with a 'feeds' list")
            continue
        if not packaged and data.get("include_defaults") is False:
            include_defaults = False
        docs.append((path, data))
        config.files.append(str(path))
    for index, (path, data) in enumerate(docs):
        if data is None or (index == 0 and not include_defaults and path == default_feeds_path()):
            continue
        _top(data, config, errors)
        items = data.get("feeds", MarkedList())
        if not isinstance(items, list):
            errors.add(position_of(data, "feeds", value=True), None, "'feeds' must be a list")
            continue
        for i, item in enumerate(items):
            pos = position_of(items, i)
            if not isinstance(item, MarkedDict):
                errors.add(pos, None, "each feed must be a mapping")
                continue
            name = item.get("name") if isinstance(item.get("name"), str) else None
            base = feeds.get(name) if name else None
            if base is not None and "url" not in item:
                feed = _build(item, errors, base)  # an override of some keys
            else:
                feed = _build(item, errors, None)
                if feed is not None and name in feeds and base is not None:
                    origin = feeds[feed.name].origin
                    if origin is not None and origin.path == str(path):
                        errors.add(
                            position_of(item, "name", value=True),
                            feed.name,
                            f"duplicate name (first defined at {origin})",
                        )
            if feed is not None:
                feeds[feed.name] = feed
    if errors.items:
        raise FeedFileError(errors.items)
    config.feeds = list(feeds.values())
    return config


def _top(data: MarkedDict, config: FeedConfig, errors: ProblemList) -> None:
    for key in data:
        if key not in TOP_KEYS:
            errors.add(
                data.key_pos[key], None, f"unknown top-level key '{key}'{suggest(key, TOP_KEYS)}"
            )
    if data.get("version", 1) != 1:
        errors.add(
            position_of(data, "version", value=True),
            None,
            f"unsupported version {data.get('version')!r} (expected 1)",
        )
    for key in ("include_defaults", "drop_bogons"):
        if key in data and not isinstance(data[key], bool):
            errors.add(position_of(data, key, value=True), None, f"'{key}' must be true or false")
    if isinstance(data.get("drop_bogons"), bool):
        config.drop_bogons = data["drop_bogons"]
    if "allowlist" in data:
        raw = data["allowlist"]
        pos = position_of(data, "allowlist", value=True)
        allow = parse_allowlist(raw, pos, None, errors)
        if allow is not None:
            config.allow_cidrs += allow.cidrs
            config.allow_domains += allow.domains


_INVALID = object()


def _build(item: MarkedDict, errors: ProblemList, base: Feed | None) -> Feed | None:
    name = item.get("name") if isinstance(item.get("name"), str) else None
    before = len(errors.items)
    keys = _keys()
    values: dict[str, Any] = {}
    for key, raw in item.items():
        pos = position_of(item, key, value=True)
        if key not in keys:
            errors.add(item.key_pos[key], name, f"unknown key '{key}'{suggest(key, list(keys))}")
            continue
        value = _convert(key, raw, pos, name, errors)
        if value is not _INVALID:
            values[key] = value
    if base is None:
        for key in ("name", "url", "format"):
            if key not in item:
                errors.add(item.pos, name, f"missing required key '{key}'")
    if len(errors.items) > before:
        return None
    try:
        if base is not None:
            feed = dataclasses.replace(base, **values)
        else:
            feed = Feed(origin=item.pos, **values)
    except TypeError as exc:  # pragma: no cover - the checks above prevent this
        errors.add(item.pos, name, f"invalid feed: {exc}")
        return None
    _check(feed, item, errors)
    return None if len(errors.items) > before else feed


def _convert(
    key: str, raw: Any, pos: Position | None, name: str | None, errors: ProblemList
) -> Any:
    if key in ("enabled", "allowlist"):
        if isinstance(raw, bool):
            return raw
        errors.add(pos, name, f"'{key}' must be true or false")
        return _INVALID
    if key in ("refresh", "timeout"):
        seconds = _seconds(raw)
        if seconds is None or seconds <= 0:
            errors.add(pos, name, f"'{key}' must be a positive duration (seconds, or 30m, 12h, 1d)")
            return _INVALID
        return seconds
    if key in ("indicators", "tags", "comment"):
        items = [raw] if isinstance(raw, str) else raw
        if isinstance(items, list) and all(isinstance(x, str) for x in items):
            return tuple(items)
        errors.add(pos, name, f"'{key}' must be a list of strings")
        return _INVALID
    if key in ("column", "type_column"):
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
            return raw
        if isinstance(raw, str) and raw.strip():
            return raw
        errors.add(pos, name, f"'{key}' must be a column name or a number from 1")
        return _INVALID
    if key == "auth":
        return _auth(raw, pos, name, errors)
    if isinstance(raw, str):
        return raw
    errors.add(pos, name, f"'{key}' must be a string")
    return _INVALID


def _seconds(raw: Any) -> float | None:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        match = _DURATION.match(raw)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    return None


def _auth(raw: Any, pos: Position | None, name: str | None, errors: ProblemList) -> Any:
    if not isinstance(raw, MarkedDict):
        errors.add(pos, name, "'auth' must be a mapping: {env: VAR, header: NAME} or {env, param}")
        return _INVALID
    allowed = ("env", "header", "param")
    ok = True
    for key in raw:
        if key not in allowed:
            errors.add(raw.key_pos[key], name, f"auth: unknown key '{key}'{suggest(key, allowed)}")
            ok = False
        elif not isinstance(raw[key], str) or not raw[key].strip():
            errors.add(raw.value_pos[key], name, f"auth: '{key}' must be a non-empty string")
            ok = False
    if not ok:
        return _INVALID
    env = raw.get("env")
    if env is None:
        errors.add(raw.pos, name, "auth: missing 'env' (the variable holding the secret)")
        return _INVALID
    if not ENV_RE.match(env):
        errors.add(raw.value_pos["env"], name, f"auth: '{env}' is not an environment variable name")
        return _INVALID
    if ("header" in raw) == ("param" in raw):
        errors.add(raw.pos, name, "auth: give either 'header' or 'param'")
        return _INVALID
    return Auth(env=env, header=raw.get("header", ""), param=raw.get("param", ""))


def _check(feed: Feed, item: MarkedDict, errors: ProblemList) -> None:
    def where(key: str) -> Position | None:
        return position_of(item, key, value=True) if key in item else item.pos

    if not NAME_RE.match(feed.name):
        errors.add(
            where("name"), feed.name, "name must be lowercase letters, digits, '-', '_' or '.'"
        )
    parts = urlsplit(feed.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors.add(where("url"), feed.name, "url must be an http:// or https:// URL")
    elif parts.username or parts.password:
        errors.add(
            where("url"),
            feed.name,
            "url must not hold credentials: use 'auth' with an env variable",
        )
    fmt = FEED_FORMATS.get(feed.format)
    if fmt is None:
        errors.add(
            where("format"),
            feed.name,
            f"unknown format '{feed.format}'{suggest(feed.format, list(FEED_FORMATS))} "
            f"(known: {', '.join(FEED_FORMATS)})",
        )
    else:
        for key in fmt.needs:
            if getattr(feed, key) is None:
                errors.add(item.pos, feed.name, f"format '{feed.format}' needs '{key}'")
    for kind in feed.indicators:
        if kind not in KINDS:
            errors.add(
                where("indicators"),
                feed.name,
                f"unknown indicator kind '{kind}'{suggest(kind, KINDS)} "
                f"(known: {', '.join(KINDS)})",
            )
    if feed.category not in CATEGORIES:
        errors.add(
            where("category"),
            feed.name,
            f"unknown category '{feed.category}'{suggest(feed.category, list(CATEGORIES))}",
        )
    if feed.severity and feed.severity not in SEVERITIES:
        errors.add(
            where("severity"),
            feed.name,
            f"unknown severity '{feed.severity}'{suggest(feed.severity, list(SEVERITIES))}",
        )
    if len(feed.delimiter) != 1:
        errors.add(where("delimiter"), feed.name, "delimiter must be one character")
