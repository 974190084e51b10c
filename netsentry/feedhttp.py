"""Feed downloads over HTTP through requests-cache: bounded, timed, secret-safe.

:func:`fetch` asks the cached session for one feed and says what happened: a new copy
(``updated``), a 304 to a conditional request (``not-modified``), a copy younger than
the feed's refresh interval (``fresh``, no request), or a failure with its reason, with
the stale copy that ``stale_if_error`` kept, if any. requests-cache answers a failed
revalidation with the stale copy and drops the error, so :class:`FeedAdapter` records
the outcome of every request; it also reads bodies itself (size cap, overall deadline,
download progress, truncation detected) and never sends a feed's secret header to
another host on a redirect. Secrets are redacted from the cache (requests-cache
``ignored_parameters``) and replaced by ``***`` in every reason.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests_cache import CachedSession
from requests_cache.policy.settings import DEFAULT_IGNORED_PARAMS

from netsentry import __version__
from netsentry.feedformats import MAX_BODY
from netsentry.feeds import Feed

HTTP_CACHE_NAME = "http-cache.sqlite"
DEADLINE_FACTOR = 10  # a download may take this many times the feed timeout in total


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class FeedAdapter(HTTPAdapter):
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


def session_for(directory: Path, feeds: Sequence[Feed]) -> tuple[CachedSession, FeedAdapter]:
    """The cached session (SQLite in ``directory``, JSON serializer) and its adapter."""
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
    adapter = FeedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session, adapter


@dataclass
class Fetched:
    """The outcome of one feed request (``body``: the copy to use, new or kept)."""

    state: str
    reason: str = ""
    body: bytes | None = None
    cache_key: str = ""
    confirmed: bool = False  # downloaded or revalidated now


def fetch(
    session: CachedSession,
    adapter: FeedAdapter,
    feed: Feed,
    force: bool,
    on_bytes: Callable[[int, int | None], None] | None,
) -> Fetched:
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
        return Fetched("failed", redact(reason, secrets))
    finally:
        adapter.on_bytes = None
    key = getattr(response, "cache_key", "") or ""
    from_cache = bool(getattr(response, "from_cache", False))
    if not from_cache:
        if response.status_code != 200:
            reason = adapter.outcome or f"HTTP {response.status_code}"
            return Fetched("failed", redact(reason, secrets))
        return Fetched("updated", body=response.content, cache_key=key, confirmed=True)
    if getattr(response, "revalidated", False):
        return Fetched("not-modified", body=response.content, cache_key=key, confirmed=True)
    if adapter.outcome:  # stale_if_error answered with the last good copy
        return Fetched(
            "failed", redact(adapter.outcome, secrets), body=response.content, cache_key=key
        )
    return Fetched("fresh", body=response.content, cache_key=key)


def _unvalidated(response: requests.Response) -> bool:
    """A copy served from the cache without asking the server (it had no validators)."""
    return (
        bool(getattr(response, "from_cache", False))
        and not getattr(response, "revalidated", False)
        and not ("ETag" in response.headers or "Last-Modified" in response.headers)
    )
