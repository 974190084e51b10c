"""Downloading feeds through requests-cache, and the compiled intel ``analyze`` reads.

The cache directory (:func:`netsentry.config.cache_dir`) holds:

- ``http-cache.sqlite``: requests-cache's SQLite store of every feed response, with
  the JSON serializer (no pickle anywhere). A copy stays fresh for the feed's
  ``refresh`` interval; after that ``update-intel`` revalidates it with a conditional
  request (ETag / Last-Modified, so an unchanged feed costs a 304), and
  ``stale_if_error`` keeps the last good copy when the server fails or times out.
- ``intel.idx``: every enabled feed compiled into one index
  (:mod:`netsentry.intelindex`), rebuilt by each ``update-intel``.
- ``feeds.json``: per-feed status of the last run (state, reason, counts, when the
  kept copy was last confirmed), for ``update-intel --status`` and ``analyze``.

:func:`update_intel` is the only code here that touches the network; ``analyze``
calls :func:`load_cached_intel`, which reads ``intel.idx`` and ``feeds.json`` only.
Secrets (``auth``) are sent as a header or query parameter read from the
environment, are redacted from the cache (requests-cache ``ignored_parameters``),
are stripped from requests redirected to another host, and are replaced by ``***``
in every message.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests_cache import CachedSession
from requests_cache.policy.settings import DEFAULT_IGNORED_PARAMS

from netsentry import __version__
from netsentry.config import cache_dir
from netsentry.feedformats import MALFORMED, MAX_BODY, UNSUPPORTED, FeedFormatError, parse_feed
from netsentry.feeds import Feed, FeedConfig
from netsentry.intelindex import CompiledIntel, FeedInfo, IndexBuilder, IntelIndexError

INDEX_NAME = "intel.idx"
STATUS_NAME = "feeds.json"
HTTP_CACHE_NAME = "http-cache.sqlite"
DEADLINE_FACTOR = 10  # a download may take this many times the feed timeout in total

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
        """True when a downloaded copy is in the cache."""
        return bool(self.cache_key) and self.confirmed > 0

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# -- HTTP -----------------------------------------------------------------------------------


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class _FeedAdapter(HTTPAdapter):
    """Reads bodies itself: bounded in size and total time, with download progress, and
    with the outcome of the last request remembered (requests-cache's stale_if_error
    answers with the stale copy and drops the error; the status needs the reason)."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.outcome = ""
        self.on_bytes: Callable[[int, int | None], None] | None = None
        self.deadline = 0.0
        self.secret_header = ""
        self.secret_host = ""

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        if self.secret_header and urlsplit(request.url or "").hostname != self.secret_host:
            request.headers.pop(self.secret_header, None)  # never follow a redirect with a key
        kwargs["stream"] = True
        try:
            response = super().send(request, **kwargs)
        except Exception as exc:
            self.outcome = _describe(exc)
            raise
        if response.status_code not in (200, 304):
            self.outcome = f"HTTP {response.status_code} {response.reason or ''}".strip()
            response.close()
            response._content = b""
            return response
        try:
            response._content = self._read(response)
        except Exception as exc:
            self.outcome = _describe(exc)
            response.close()
            raise
        response._content_consumed = True
        self.outcome = ""
        return response

    def _read(self, response: requests.Response) -> bytes:
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.isdigit() else None
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.raw.stream(65536, decode_content=True):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_BODY:
                    raise requests.RequestException(f"body larger than {MAX_BODY} bytes")
                if time.monotonic() > self.deadline:
                    raise requests.Timeout("download too slow (deadline exceeded)")
                if self.on_bytes is not None:
                    self.on_bytes(size, total)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.ReadTimeout(f"read timed out after {size} bytes") from exc
        except urllib3.exceptions.ProtocolError as exc:
            # urllib3 drops the partial chunk it read; its message counts it ("IncompleteRead(
            # 1825 bytes read, 1825 more expected)").
            partial = re.search(r"(\d+) bytes read", str(exc))
            size += int(partial.group(1)) if partial else 0
            got = f"{size} of {total}" if total is not None else f"{size}"
            raise requests.ConnectionError(
                f"truncated body (connection closed after {got} bytes)"
            ) from exc
        except urllib3.exceptions.DecodeError as exc:
            problem = f"broken compressed body ({exc})"
            raise requests.exceptions.ContentDecodingError(problem) from exc
        return b"".join(chunks)


def _describe(exc: BaseException) -> str:
    """A short reason for a failed request (secrets are redacted by the caller)."""
    text = str(exc)
    lower = text.lower()
    if isinstance(exc, requests.Timeout) or "timed out" in lower:
        return f"timeout ({_first_line(exc)})" if "deadline" in text else "timeout"
    if "truncated body" in text:
        return _first_line(exc)
    if isinstance(exc, requests.exceptions.SSLError) or "certificate" in lower:
        return "TLS error (certificate or handshake)"
    if isinstance(exc, requests.ConnectionError):
        if "refused" in lower:
            return "connection refused"
        if "resolve" in lower or "name or service" in lower or "getaddrinfo" in lower:
            return "cannot resolve host"
        if "unreachable" in lower:
            return "network unreachable"
        return f"connection failed ({_first_line(exc)})"
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _session(directory: Path, feeds: Sequence[Feed]) -> tuple[CachedSession, _FeedAdapter]:
    secret_names = {f.auth.header or f.auth.param for f in feeds if f.auth is not None}
    session = CachedSession(
        str(directory / HTTP_CACHE_NAME),
        backend="sqlite",
        serializer="json",  # never pickle: the cache is data, not code
        allowable_codes=(200,),
        allowable_methods=("GET",),
        stale_if_error=True,
        cache_control=False,  # the feed's refresh interval decides, not the server
        ignored_parameters=sorted(set(DEFAULT_IGNORED_PARAMS) | secret_names),
    )
    session.headers["User-Agent"] = f"netsentry/{__version__} (+update-intel)"
    session.headers["Accept-Encoding"] = "gzip, deflate"
    adapter = _FeedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session, adapter


@dataclass
class _Fetched:
    state: str
    reason: str = ""
    body: bytes | None = None
    cache_key: str = ""
    confirmed: bool = False  # downloaded or revalidated now


def _fetch(
    session: CachedSession,
    adapter: _FeedAdapter,
    feed: Feed,
    force: bool,
    on_bytes: Callable[[int, int | None], None] | None,
) -> _Fetched:
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    secrets: list[str] = []
    adapter.secret_header = adapter.secret_host = ""
    if feed.auth is not None:
        secret = feed.auth.secret() or ""
        secrets.append(secret)
        if feed.auth.header:
            headers[feed.auth.header] = secret
            adapter.secret_header = feed.auth.header
            adapter.secret_host = urlsplit(feed.url).hostname or ""
        else:
            params[feed.auth.param] = secret
    adapter.outcome = ""
    adapter.on_bytes = on_bytes
    adapter.deadline = time.monotonic() + feed.timeout * DEADLINE_FACTOR
    try:
        response = session.get(
            feed.url,
            headers=headers,
            params=params,
            timeout=feed.timeout,
            expire_after=feed.refresh,
            refresh=force,
        )
        if force and _unvalidated(response):
            # Nothing to revalidate with (no ETag or Last-Modified): download it again.
            adapter.deadline = time.monotonic() + feed.timeout * DEADLINE_FACTOR
            response = session.get(
                feed.url,
                headers=headers,
                params=params,
                timeout=feed.timeout,
                expire_after=feed.refresh,
                force_refresh=True,
            )
    except Exception as exc:  # no usable copy came back (the caller looks in the cache)
        reason = adapter.outcome or _describe(exc)
        return _Fetched("failed", redact(reason, secrets))
    finally:
        adapter.on_bytes = None
    key = getattr(response, "cache_key", "") or ""
    from_cache = bool(getattr(response, "from_cache", False))
    if not from_cache:
        if response.status_code != 200:
            reason = adapter.outcome or f"HTTP {response.status_code}"
            return _Fetched("failed", redact(reason, secrets))
        return _Fetched("updated", body=response.content, cache_key=key, confirmed=True)
    if getattr(response, "revalidated", False):
        return _Fetched("not-modified", body=response.content, cache_key=key, confirmed=True)
    if adapter.outcome:  # stale_if_error answered with the last good copy
        return _Fetched(
            "failed", redact(adapter.outcome, secrets), body=response.content, cache_key=key
        )
    return _Fetched("fresh", body=response.content, cache_key=key)


def _unvalidated(response: requests.Response) -> bool:
    """A copy served from the cache without asking the server (it had no validators)."""
    return (
        bool(getattr(response, "from_cache", False))
        and not getattr(response, "revalidated", False)
        and not ("ETag" in response.headers or "Last-Modified" in response.headers)
    )


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
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    enabled = config.enabled()
    chosen = [f for f in enabled if not names or f.name in names]
    old = read_statuses(directory)
    statuses: dict[str, FeedStatus] = {f.name: old.get(f.name, FeedStatus(f.name)) for f in enabled}
    bodies: dict[str, bytes] = {}
    session, adapter = _session(directory, enabled)
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
            got = _fetch(session, adapter, feed, force, on_bytes)
            status.state, status.reason = got.state, got.reason
            if got.body is None and status.has_copy:
                kept = session.cache.get_response(status.cache_key)  # a forced refresh failed
                if kept is not None:
                    bodies[feed.name] = kept.content
                    continue
            if got.body is not None:
                bodies[feed.name] = got.body
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
    count = _compile(config, enabled, bodies, statuses, directory, progress)
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
) -> int:
    """Parse every available copy into one index; allowlists first so they can drop entries."""
    builder = IndexBuilder(drop_bogons=config.drop_bogons)
    for block in config.allow_cidrs:
        builder.allow_network(block)
    for name in config.allow_domains:
        builder.allow_domain(name, suffix=True)
    ordered = sorted(feeds, key=lambda f: not f.allowlist)
    for feed in ordered:
        status = statuses[feed.name]
        body = bodies.get(feed.name)
        if body is None:
            continue
        counts: Counter[str] = Counter()
        index = (
            -1
            if feed.allowlist
            else builder.feed(FeedInfo(feed.name, feed.category, feed.severity))
        )
        try:
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
        except FeedFormatError as exc:
            # The cached body itself is unusable (a broken archive): nothing of it is matched.
            status.state, status.reason = "failed", str(exc)
            status.cache_key, status.confirmed = "", 0.0
            counts.clear()
        status.indicators = counts["indicators"]
        status.malformed = counts["malformed"]
        status.unsupported = counts["unsupported"]
        status.dropped = counts["dropped"]
    builder.write(index_path(directory), {"feeds": [f.name for f in feeds]})
    return builder.count


# -- analyze --------------------------------------------------------------------------------


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
