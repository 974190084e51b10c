"""update-intel's orchestration and the cache ``analyze`` reads: statuses and the index.

The cache directory (:func:`netsentry.config.cache_dir`) holds:

- ``http-cache.sqlite``: requests-cache's SQLite store of every feed response, with
  the JSON serializer (no pickle anywhere). A copy stays fresh for the feed's
  ``refresh`` interval; after that ``update-intel`` revalidates it with a conditional
  request (ETag / Last-Modified, so an unchanged feed costs a 304), and
  ``stale_if_error`` keeps the last good copy when the server fails or times out.
- ``intel.idx``: every enabled feed compiled into one index
  (:mod:`netsentry.intelindex`), rebuilt by each ``update-intel``.
- ``rules/NAME.rules.body``: the last good body of each rule feed (``format:
  suricata-rules``, e.g. ET Open's tar.gz), as downloaded; ``analyze`` imports it
  with :func:`netsentry.sig.importer.load_rules_bytes`.
- ``feeds/NAME.body``: the last good body of each indicator feed, as downloaded.
  requests-cache stores any 200 answer, so a broken archive or an HTML error page
  served with 200 replaces its cached response; this copy is what ``update-intel``
  compiles instead (see :func:`_suspicious_empty` for when an empty copy is refused).
- ``feeds.json``: per-feed status of the last run (state, reason, counts, when the
  kept copy was last confirmed), for ``update-intel --status`` and ``analyze``.

:func:`update_intel` is the only code here that touches the network (through
:mod:`netsentry.feedhttp`, which also keeps secrets out of the cache and messages);
``analyze`` calls :func:`load_cached_intel`, which reads ``intel.idx`` and
``feeds.json`` only.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from netsentry.atomicfile import atomic_binary, atomic_text
from netsentry.config import cache_dir
from netsentry.feedformats import (
    MALFORMED,
    RULE_FORMATS,
    UNSUPPORTED,
    FeedFormatError,
    parse_feed,
    unpack,
)
from netsentry.feeds import Feed, FeedConfig
from netsentry.intelindex import CompiledIntel, FeedInfo, IndexBuilder, IntelIndexError

INDEX_NAME = "intel.idx"
STATUS_NAME = "feeds.json"

Progress = Callable[[str, str, int, "int | None"], None]
"""progress(feed name, stage, done, total): stage is 'download' (bytes) or 'parse'."""


@dataclass
class FeedStatus:
    """What happened to one feed, kept in ``feeds.json`` between runs."""

    name: str
    state: str = "never"  # updated, not-modified, fresh, failed, skipped, never
    reason: str = ""
    checked: float = 0.0  # when update-intel last tried this feed (Unix time)
    confirmed: float = 0.0  # when the kept copy was last downloaded or revalidated (0: none)
    indicators: int = 0
    malformed: int = 0
    unsupported: int = 0
    dropped: int = 0  # allowlisted or bogons
    size: int = 0  # bytes of the kept copy
    cache_key: str = ""

    @property
    def has_copy(self) -> bool:
        """True when a downloaded copy is in the cache (``confirmed`` is 0 without one)."""
        return self.confirmed > 0

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the kept copy was last confirmed (None: no copy)."""
        if not self.has_copy:
            return None
        return max(0.0, (now if now is not None else time.time()) - self.confirmed)


@dataclass
class UpdateResult:
    """The statuses of one run, in feeds.yaml order."""

    statuses: list[FeedStatus]
    index_count: int = 0
    compiled: bool = False

    @property
    def failed(self) -> list[FeedStatus]:
        """Feeds whose download failed this run (a stale copy may be kept)."""
        return [s for s in self.statuses if s.state == "failed"]


# -- status file ----------------------------------------------------------------------------


def status_path(directory: Path | None = None) -> Path:
    """``feeds.json`` in the cache directory."""
    return (directory or cache_dir()) / STATUS_NAME


def index_path(directory: Path | None = None) -> Path:
    """``intel.idx`` in the cache directory."""
    return (directory or cache_dir()) / INDEX_NAME


def read_statuses(directory: Path | None = None) -> dict[str, FeedStatus]:
    """The statuses saved by the last update-intel (empty when none or unreadable)."""
    try:
        data = json.loads(status_path(directory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    names = {f.name for f in fields(FeedStatus)}
    out: dict[str, FeedStatus] = {}
    if isinstance(data, dict) and isinstance(data.get("feeds"), list):
        for item in data["feeds"]:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                with contextlib.suppress(TypeError):
                    status = FeedStatus(**{k: v for k, v in item.items() if k in names})
                    out[status.name] = status
    return out


def _write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_text(path) as handle:
        json.dump(data, handle, indent=1)


# -- update ---------------------------------------------------------------------------------


def update_intel(
    config: FeedConfig,
    names: Sequence[str] = (),
    force: bool = False,
    directory: Path | None = None,
    progress: Progress | None = None,
    now: Callable[[], float] = time.time,
) -> UpdateResult:
    """Download (or revalidate) the enabled feeds, or only ``names``, then rebuild the index.

    Feeds not selected this run are compiled from their cached copies. Never raises for
    a feed's failure: each failure is a status with its reason.
    """
    # requests and requests-cache load only here: analyze, which never downloads, skips
    # their import (about 0.1 s of every start-up).
    from netsentry.feedhttp import fetch, session_for

    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    enabled = config.enabled()
    chosen = [f for f in enabled if not names or f.name in names]
    old = read_statuses(directory)
    statuses: dict[str, FeedStatus] = {f.name: old.get(f.name, FeedStatus(f.name)) for f in enabled}
    # When each feed's last good copy was confirmed, before this run: what its age is
    # if this run's copy turns out unusable and the last good one is compiled instead.
    kept_since = {name: s.confirmed for name, s in statuses.items()}
    bodies: dict[str, bytes] = {}
    downloaded: set[str] = set()  # feeds whose body is new this run
    session, adapter = session_for(directory, enabled)
    try:
        for feed in chosen:
            status = statuses[feed.name]
            status.checked = now()
            missing = feed.missing_secret()
            if missing:
                status.state, status.reason = "skipped", f"set {missing} to download it"
                continue

            def on_bytes(done: int, total: int | None, name: str = feed.name) -> None:
                if progress is not None:
                    progress(name, "download", done, total)

            if progress is not None:
                progress(feed.name, "download", 0, None)
            got = fetch(session, adapter, feed, force, on_bytes)
            status.state, status.reason = got.state, got.reason
            if got.body is None and status.has_copy:
                kept = session.cache.get_response(status.cache_key)  # a forced refresh failed
                if kept is not None:
                    bodies[feed.name] = kept.content
                    continue
            if got.body is not None:
                bodies[feed.name] = got.body
                if got.state == "updated":
                    downloaded.add(feed.name)
                status.cache_key = got.cache_key or status.cache_key
                status.size = len(got.body)
                if got.confirmed or not status.confirmed:
                    status.confirmed = now()
            else:
                status.cache_key, status.confirmed = "", 0.0
        for feed in enabled:
            status = statuses[feed.name]
            if feed.name not in bodies and status.has_copy:
                cached = session.cache.get_response(status.cache_key)
                if cached is not None:
                    bodies[feed.name] = cached.content
                else:
                    status.cache_key, status.confirmed = "", 0.0
    finally:
        session.close()  # type: ignore[no-untyped-call]
    count = _compile(config, enabled, bodies, statuses, directory, progress, downloaded, kept_since)
    _write_json(
        status_path(directory),
        {"version": 1, "feeds": [asdict(statuses[f.name]) for f in enabled]},
    )
    return UpdateResult([statuses[f.name] for f in enabled], count, True)


def _compile(
    config: FeedConfig,
    feeds: Sequence[Feed],
    bodies: dict[str, bytes],
    statuses: dict[str, FeedStatus],
    directory: Path,
    progress: Progress | None,
    downloaded: set[str],
    kept_since: dict[str, float],
) -> int:
    """Parse every available copy into one index; allowlists first so they can drop entries.

    A copy that cannot be used (a broken archive, or suspiciously empty) is replaced by
    the feed's last good copy (``feeds/NAME.body``), and the status says why.
    """
    builder = IndexBuilder(drop_bogons=config.drop_bogons)
    for block in config.allow_cidrs:
        builder.allow_network(block)
    for name in config.allow_domains:
        builder.allow_domain(name, suffix=True)
    ordered = sorted(feeds, key=lambda f: not f.allowlist)
    for feed in ordered:
        status = statuses[feed.name]
        body = bodies.get(feed.name)
        if feed.format in RULE_FORMATS:
            if body is not None:
                _store_rules(feed, body, status, directory)
            continue
        good = good_path(feed.name, directory)
        if body is None and not good.is_file():
            continue
        index = (
            -1
            if feed.allowlist
            else builder.feed(FeedInfo(feed.name, feed.category, feed.severity))
        )
        counts: Counter[str] | None = None
        problem = ""
        if body is not None:
            try:
                counts = _add_feed(builder, feed, body, index, progress)
            except FeedFormatError as exc:
                problem = _one_line(str(exc))
            else:
                if good.is_file():
                    problem = _suspicious_empty(counts, body, status.indicators)
                if not problem and (feed.name in downloaded or not good.is_file()):
                    good.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_binary(good) as handle:
                        handle.write(body)
        if counts is None or problem:
            counts = _compile_kept(builder, feed, good, index, progress)
            if problem and status.state != "failed":  # a failed download's reason comes first
                status.state, status.reason = "failed", problem
            if counts is None:  # no good copy either: nothing of this feed is matched
                status.cache_key, status.confirmed = "", 0.0
                counts = Counter()
            else:
                status.size = good.stat().st_size
                since = kept_since.get(feed.name, 0.0)
                status.confirmed = since or good.stat().st_mtime
        status.indicators = counts["indicators"]
        status.malformed = counts["malformed"]
        status.unsupported = counts["unsupported"]
        status.dropped = counts["dropped"]
    builder.write(index_path(directory), {"feeds": [f.name for f in feeds]})
    return builder.count


def _compile_kept(
    builder: IndexBuilder, feed: Feed, good: Path, index: int, progress: Progress | None
) -> Counter[str] | None:
    """Add the feed's last good copy; None when there is none (or it no longer parses)."""
    try:
        body = good.read_bytes()
    except OSError:
        return None
    try:
        return _add_feed(builder, feed, body, index, progress)
    except FeedFormatError:
        return None  # damaged on disk: unpack fails before any indicator is added


def _add_feed(
    builder: IndexBuilder, feed: Feed, body: bytes, index: int, progress: Progress | None
) -> Counter[str]:
    """Parse one body into the builder and count what became of its entries.

    Raises FeedFormatError (a broken archive) before any indicator is added: the body
    is unpacked before the first entry is parsed.
    """
    counts: Counter[str] = Counter()
    for n, (kind, value) in enumerate(parse_feed(body, feed.format, feed.options()), 1):
        if kind == MALFORMED:
            counts["malformed"] += 1
        elif kind == UNSUPPORTED:
            counts["unsupported"] += 1
        elif feed.allowlist:
            ok = (
                builder.allow_network(value)
                if kind == "ip"
                else builder.allow_domain(value, suffix=kind == "suffix")
                if kind in ("domain", "suffix")
                else False
            )
            counts["indicators" if ok else "unsupported"] += 1
        else:
            result = builder.add("domain" if kind == "suffix" else kind, value, index)
            counts[
                "indicators"
                if result == "ok"
                else "dropped"
                if result == "dropped"
                else "malformed"
            ] += 1
        if progress is not None and n % 50000 == 0:
            progress(feed.name, "parse", n, None)
    return counts


def _suspicious_empty(counts: Counter[str], body: bytes, before: int) -> str:
    """Why a new copy with no indicators is refused (empty: it is accepted).

    A copy is suspicious when the last good copy had indicators and the new one has
    none and none dropped, and it is blank or all its entries are unusable (an HTML
    error page, a login page, a JSON error object served with 200). A copy that parses
    cleanly to nothing (only comments or headers, an empty JSON list) or whose every
    entry an allowlist or the bogon list drops is the feed really being empty, and is
    accepted. Such a copy adds nothing to the index, so refusing it after parsing is
    safe.
    """
    if before <= 0 or counts["indicators"] or counts["dropped"]:
        return ""
    malformed, unsupported = counts["malformed"], counts["unsupported"]
    if malformed or unsupported:
        what = ", ".join(
            f"{n:,} {label}"
            for n, label in (
                (malformed, "malformed line" + "s" * (malformed != 1)),
                (unsupported, "unsupported entr" + ("ies" if unsupported != 1 else "y")),
            )
            if n
        )
        return (
            f"suspicious empty feed: no indicators in the new copy ({what}), "
            f"the last good copy had {before:,}"
        )
    if not unpack(body).strip():
        return f"suspicious empty feed: the new copy is empty, the last good copy had {before:,}"
    return ""


def _one_line(text: str) -> str:
    """A reason fit for one table cell: whitespace runs (newlines too) become one space."""
    return " ".join(text.split())[:300]


def good_path(name: str, directory: Path | None = None) -> Path:
    """Where the last good body of the indicator feed ``name`` is kept."""
    return (directory or cache_dir()) / "feeds" / f"{name}.body"


def rules_path(name: str, directory: Path | None = None) -> Path:
    """Where the last good body of the rule feed ``name`` is kept."""
    return (directory or cache_dir()) / "rules" / f"{name}.rules.body"


def _store_rules(feed: Feed, body: bytes, status: FeedStatus, directory: Path) -> None:
    """Check a rule feed's body imports, then keep it whole for ``analyze``.

    A body that does not import (a broken archive) leaves the previous file in place:
    the analyst keeps the last rules that worked, and the status says why.
    """
    from netsentry.sig.importer import load_rules_bytes  # the rule importer: rule feeds only
    from netsentry.sig.parse import RuleSyntaxError

    try:
        result = load_rules_bytes(body, feed.name)
    except RuleSyntaxError as exc:
        status.state, status.reason = "failed", str(exc)
        return
    status.indicators = len(result.rules)  # rules imported: the table's "indicators" column
    status.malformed = sum(1 for s in result.skipped if s.keyword == "syntax")
    status.unsupported = len(result.skipped) - status.malformed
    status.dropped = 0
    path = rules_path(feed.name, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_binary(path) as handle:
        handle.write(body)


# -- analyze --------------------------------------------------------------------------------


def load_cached_rules(
    config: FeedConfig, directory: Path | None = None
) -> list[tuple[str, bytes]]:
    """(feed name, body) of every enabled rule feed with a kept copy; never the network."""
    found: list[tuple[str, bytes]] = []
    for feed in config.enabled():
        if feed.format not in RULE_FORMATS:
            continue
        path = rules_path(feed.name, directory)
        try:
            found.append((feed.name, path.read_bytes()))
        except FileNotFoundError:
            continue  # never downloaded: load_cached_intel's warning names it
    return found


def load_cached_intel(
    config: FeedConfig, directory: Path | None = None
) -> tuple[CompiledIntel | None, list[str]]:
    """The compiled intel of the enabled feeds, and warnings; never touches the network.

    Warns (naming ``netsentry update-intel``) when an enabled feed was never downloaded.
    Feeds disabled since the index was built are left out of lookups.
    """
    directory = directory or cache_dir()
    warnings: list[str] = []
    enabled = config.enabled()
    statuses = read_statuses(directory)
    never = [
        f.name
        for f in enabled
        if not (statuses.get(f.name) and statuses[f.name].has_copy) and not f.missing_secret()
    ]
    if never:
        warnings.append(
            f"threat-intel feed(s) never downloaded: {', '.join(never)}; "
            "run `netsentry update-intel` (until then they match nothing)"
        )
    path = index_path(directory)
    if not path.exists():
        return None, warnings
    try:
        compiled = CompiledIntel(path)
    except IntelIndexError as exc:
        warnings.append(str(exc))
        return None, warnings
    compiled.exclude({f.name for f in compiled.feeds} - {f.name for f in enabled})
    return compiled, warnings
