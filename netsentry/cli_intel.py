"""``netsentry update-intel``: download the threat-intel feeds and show how each one fared.

Thin like :mod:`netsentry.cli`: configuration lives in :mod:`netsentry.feeds`,
downloads, the cache and the compiled index in :mod:`netsentry.feedcache`.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from netsentry.config import cache_dir
from netsentry.errors import ExitCode, UsageError
from netsentry.feedcache import FeedStatus, read_statuses, update_intel
from netsentry.feeds import FeedConfig, FeedFileError, load_feeds
from netsentry.report import safe_text

UPDATE_EXIT_HELP = (
    "Exit codes: 0 every feed updated, not modified or fresh (feeds skipped for a missing "
    "key do not count); 2 invalid feeds file or unknown --feed; 4 partial: some feed failed "
    "(its last good copy, if any, is kept and still used)."
)

FeedsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--feeds",
        metavar="FILE",
        help="feeds.yaml layered on the packaged feeds (repeatable; default: "
        "~/.config/netsentry/feeds.yaml when it exists).",
    ),
]


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_feed_errors(exc: FeedFileError, suffix: str = "") -> None:
    """Every problem of invalid feed files on stderr, then a one-line total."""
    err = _err()
    for line in exc.errors:
        err.print(safe_text(line), style="red")
    err.print(safe_text(f"error: {len(exc.errors)} problem(s) in feed files{suffix}"))


def load_feed_config(files: list[Path] | None) -> FeedConfig:
    """feeds.yaml as the commands need it; invalid files exit with code 2."""
    try:
        return load_feeds(files or None)
    except FeedFileError as exc:
        print_feed_errors(exc)
        raise typer.Exit(int(ExitCode.USAGE)) from None


def format_age(seconds: float | None) -> str:
    """'42 s', '5 min', '3 h', '2 d' (or '-' for no copy)."""
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


_STATE_STYLE = {
    "updated": "green",
    "not-modified": "green",
    "fresh": "green",
    "failed": "bold red",
    "skipped": "yellow",
    "never": "yellow",
}


def status_text(status: FeedStatus, now: float) -> Text:
    """The status cell: the state, and for a failure its reason and the copy kept."""
    state = status.state.replace("-", " ")
    if status.state == "failed":
        kept = f"kept copy from {format_age(status.age(now))} ago" if status.has_copy else "no copy"
        state = f"failed: {status.reason} ({kept})"
    elif status.state == "skipped":
        state = f"skipped: {status.reason}"
    elif status.state == "never":
        state = "never downloaded"
    return safe_text(state, _STATE_STYLE.get(status.state, ""))


def result_table(statuses: list[FeedStatus], config: FeedConfig, now: float) -> Table:
    """One row per feed: status, indicators, malformed lines, age of the copy."""
    table = Table(title="Threat-intel feeds", title_justify="left")
    for name, justify in (
        ("feed", "left"),
        ("status", "left"),
        ("indicators", "right"),
        ("malformed", "right"),
        ("age", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for status in statuses:
        feed = config.by_name(status.name)
        label = safe_text(status.name + (" (allowlist)" if feed and feed.allowlist else ""))
        table.add_row(
            label,
            status_text(status, now),
            f"{status.indicators:,}" if status.has_copy else "-",
            f"{status.malformed:,}" if status.has_copy else "-",
            format_age(status.age(now)),
        )
    return table


class _FeedProgress:
    """One progress line per feed on stderr (downloaded bytes, then parsed entries)."""

    def __init__(self, enabled: bool, names: list[str]) -> None:
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        if not enabled:
            return
        self._progress = Progress(
            TextColumn("{task.fields[feed]:<20}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[stage]}"),
            console=_err(),
            transient=True,
        )
        for name in names:
            self._tasks[name] = self._progress.add_task(
                name, total=None, feed=safe_text(name).plain, stage="waiting"
            )
        self._progress.start()

    def __call__(self, feed: str, stage: str, done: int, total: int | None) -> None:
        if self._progress is None or feed not in self._tasks:
            return
        task = self._tasks[feed]
        if stage == "download":
            self._progress.update(task, completed=done, total=total, stage="downloading")
        else:
            self._progress.update(task, stage=f"parsed {done:,} entries")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def update_intel_command(
    feed_names: Annotated[
        list[str] | None,
        typer.Option("--feed", metavar="NAME", help="Only this feed (repeatable)."),
    ] = None,
    status_only: Annotated[
        bool,
        typer.Option("--status", help="Show the table of the last run only; no network."),
    ] = False,
    feeds_files: FeedsOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Revalidate every feed now, even copies younger than their refresh interval.",
        ),
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Never show the progress bars.")
    ] = False,
) -> None:
    """Download the threat-intel feeds of feeds.yaml into the cache, for analyze."""
    config = load_feed_config(feeds_files)
    out = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 120)
    enabled = config.enabled()
    names = list(dict.fromkeys(feed_names or ()))
    for name in names:
        feed = config.by_name(name)
        if feed is None or not feed.enabled:
            known = ", ".join(f.name for f in enabled) or "none"
            why = "is disabled (enable it in feeds.yaml)" if feed else "is not in feeds.yaml"
            _err().print(
                safe_text(f"error: --feed {name}: the feed {why}; enabled feeds: {known}"),
                style="bold red",
            )
            raise typer.Exit(int(UsageError.exit_code))
    now = time.time()
    if status_only:
        saved = read_statuses()
        statuses = [saved.get(f.name, FeedStatus(f.name)) for f in enabled]
        out.print(result_table(statuses, config, now))
        out.print(safe_text(f"cache: {cache_dir()}"))
        bad = [s for s in statuses if s.state == "failed" or (s.state == "never")]
        raise typer.Exit(int(ExitCode.PARTIAL) if bad else int(ExitCode.OK))
    chosen = [f.name for f in enabled if not names or f.name in names]
    progress = _FeedProgress(not no_progress and sys.stderr.isatty(), chosen)
    try:
        result = update_intel(config, names, force=force, progress=progress)
    except (OSError, sqlite3.Error) as exc:
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        _err().print(safe_text(f"error: cache {cache_dir()}: {problem}"), style="bold red")
        raise typer.Exit(int(ExitCode.INPUT)) from None
    finally:
        progress.stop()
    shown = [s for s in result.statuses if not names or s.name in names]
    out.print(result_table(shown, config, time.time()))
    out.print(
        safe_text(f"{result.index_count:,} indicators compiled into {cache_dir()}"),
    )
    if any(s.state == "failed" for s in shown):
        raise typer.Exit(int(ExitCode.PARTIAL))
