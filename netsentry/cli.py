"""Command-line interface: parses options, calls the library, picks an exit code.

Kept thin on purpose (see DESIGN.md): everything it does is callable from Python
through :mod:`netsentry.engine`.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from netsentry import __version__
from netsentry.capture import CaptureReader
from netsentry.engine import analyze as run_analysis
from netsentry.errors import ExitCode, NetsentryError
from netsentry.report import render_summary, safe_text

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 findings at or above --fail-on; 2 usage error or invalid "
    "rule file; 3 unreadable input; 4 partial (a capture was damaged or a component failed)."
)

app = typer.Typer(
    name="netsentry",
    help="Fast, honest network-traffic analyzer for the terminal. " + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


class OutputFormat(enum.StrEnum):
    """What ``analyze`` writes."""

    table = "table"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"netsentry {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Fast, honest network-traffic analyzer for the terminal."""


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(exc: NetsentryError) -> typer.Exit:
    err = _stderr()
    err.print(safe_text(f"error: {exc}"), style="bold red")
    return typer.Exit(int(exc.exit_code))


@contextlib.contextmanager
def _atomic_output(path: Path | None) -> Iterator[TextIO]:
    """Stdout, or a file that appears whole or not at all (written beside, then renamed)."""
    if path is None or str(path) == "-":
        yield sys.stdout
        return
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _ProgressBar:
    """A byte-based progress bar on stderr, shown only on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def start(self, readers: list[CaptureReader]) -> None:
        if not self.enabled:
            return
        sizes = [r.size for r in readers]
        total = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
        self._progress = Progress(
            TextColumn("reading"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=_stderr(),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("read", total=total)

    def update(self, done: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@app.command(epilog=EXIT_CODES_HELP)
def analyze(
    pcaps: Annotated[
        list[str],
        typer.Argument(
            metavar="PCAP...",
            help="Capture files (pcap, pcapng, optionally gzip-compressed); '-' reads standard "
            "input. Several files are analyzed in timestamp order as one stream.",
            show_default=False,
        ),
    ],
    output_format: Annotated[
        OutputFormat,
        typer.Option("--format", "-f", help="Report format.", case_sensitive=False),
    ] = OutputFormat.table,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to FILE instead of stdout."),
    ] = None,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Never show the progress bar.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Do not print warnings to stderr.")
    ] = False,
) -> None:
    """Analyze captures and report what is in them."""
    bar = _ProgressBar(enabled=not no_progress and sys.stderr.isatty())
    try:
        try:
            result = run_analysis(pcaps, progress=bar.update, on_open=bar.start)
        finally:
            bar.stop()
    except NetsentryError as exc:
        raise _fail(exc) from None
    summary = result.summary
    if not quiet:
        err = _stderr()
        for warning in summary.warnings():
            err.print(safe_text(f"warning: {warning}"), style="yellow")
    try:
        with _atomic_output(output) as handle:
            if output_format is OutputFormat.json:
                json.dump(summary.to_dict(), handle, indent=2)
                handle.write("\n")
            else:
                to_terminal = handle is sys.stdout and sys.stdout.isatty()
                console = Console(
                    file=handle,
                    highlight=False,
                    width=None if to_terminal else 120,
                    no_color=not to_terminal,
                )
                console.print(render_summary(summary))
    except OSError as exc:
        raise _fail(NetsentryError(f"{output}: cannot write ({exc.strerror or exc})")) from None
    if result.damaged:
        raise typer.Exit(int(ExitCode.PARTIAL))


def main() -> None:
    """Console-script entry point."""
    app()
