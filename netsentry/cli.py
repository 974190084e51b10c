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
from netsentry.applayer import PROTOCOLS
from netsentry.capture import CaptureReader
from netsentry.cli_intel import (
    UPDATE_EXIT_HELP,
    FeedsOption,
    load_feed_config,
    update_intel_command,
)
from netsentry.cli_rules import FilesOption, print_rule_errors, rules_app
from netsentry.engine import analyze as run_analysis
from netsentry.errors import CaptureError, ExitCode, NetsentryError, UsageError
from netsentry.eve import alert_event, alert_line
from netsentry.feedcache import load_cached_intel
from netsentry.intel import IntelSet, load_indicator_file
from netsentry.report import render_findings, render_summary, safe_text
from netsentry.ruleload import RuleFileError, load_rules
from netsentry.rules import SEVERITIES, IntelRule, RuleSet

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
    eve = "eve"


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


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _atomic_output(path: Path | None) -> Iterator[TextIO]:
    """Stdout, or a file that appears whole or not at all (written beside, then renamed).

    Special files (a FIFO, /dev/stdout, a device) are written in place: renaming over
    them would replace the device node instead of writing to it.
    """
    if path is None or str(path) == "-":
        yield sys.stdout
        return
    if path.exists() and not path.is_file():
        with path.open("w", encoding="utf-8") as handle:
            yield handle
        return
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())  # mkstemp makes 0600; honour the umask
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


def _decoder_list(text: str) -> list[str] | None:
    """Parse --decoders: None means decide from the rules and the report."""
    value = text.strip().lower()
    if value == "auto":
        return None
    if value == "all":
        return list(PROTOCOLS)
    if value == "none":
        return []
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown:
        raise UsageError(
            f"--decoders: unknown decoder {', '.join(unknown)} (known: {', '.join(PROTOCOLS)})"
        )
    return names


def _load_ruleset(
    no_rules: bool, rule_files: list[Path] | None, sets: list[str] | None
) -> RuleSet | None:
    if no_rules:
        if sets:
            raise UsageError("--set needs rules; it cannot be combined with --no-rules")
        return None
    return load_rules(rule_files or None, sets or ())


def _load_intel(
    files: list[Path] | None,
    ruleset: RuleSet | None,
    feed_files: list[Path] | None,
    no_feeds: bool,
) -> tuple[IntelSet | None, list[str]]:
    """Local indicator files plus the cached feeds (never the network), and warnings."""
    merged = IntelSet()
    for path in files or ():
        try:
            load_indicator_file(path, into=merged)
        except OSError as exc:
            raise CaptureError(f"{path}: cannot read ({exc.strerror or exc})") from None
    warnings: list[str] = []
    wants_feeds = ruleset is not None and any(
        isinstance(r, IntelRule) and r.enabled for r in ruleset.rules
    )
    if wants_feeds and not no_feeds:
        compiled, warnings = load_cached_intel(load_feed_config(feed_files))
        if compiled is not None:
            merged.attach(compiled)
    return (merged if merged.count else None), warnings


def _report_rule_errors(exc: RuleFileError) -> typer.Exit:
    print_rule_errors(exc, "; nothing analyzed")
    return typer.Exit(int(ExitCode.USAGE))


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
        typer.Option(
            "--format",
            "-f",
            help="Report format: table, json (summary) or eve.",
            case_sensitive=False,
        ),
    ] = OutputFormat.table,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write the report to FILE instead of stdout."
        ),
    ] = None,
    rule_files: FilesOption = None,
    no_rules: Annotated[
        bool, typer.Option("--no-rules", help="Run no detections: traffic summary only.")
    ] = False,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="RULE.KEY=VALUE",
            help="Override a rule key, e.g. brute-force-ftp.count=10 (repeatable).",
        ),
    ] = None,
    intel_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--intel",
            metavar="FILE",
            help="Local indicator list (IPs, CIDRs, domains, URLs, hashes; repeatable).",
        ),
    ] = None,
    feeds_files: FeedsOption = None,
    no_feeds: Annotated[
        bool,
        typer.Option(
            "--no-feeds", help="Do not use the feeds downloaded by `netsentry update-intel`."
        ),
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Never show the progress bar.")
    ] = False,
    decoders: Annotated[
        str,
        typer.Option(
            "--decoders",
            help="Application decoders to run: 'auto' (what the rules and report need), 'all', "
            f"'none', or a comma-separated list of {', '.join(PROTOCOLS)}.",
        ),
    ] = "auto",
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            metavar="SEVERITY",
            help="Exit with code 1 when a finding has this severity or a higher one "
            f"({', '.join(SEVERITIES)}); for CI pipelines.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Do not print warnings to stderr.")
    ] = False,
) -> None:
    """Analyze captures and report what is in them."""
    if fail_on is not None and fail_on not in SEVERITIES:
        raise _fail(
            UsageError(f"--fail-on: unknown severity '{fail_on}' (use {', '.join(SEVERITIES)})")
        )
    bar = _ProgressBar(enabled=not no_progress and sys.stderr.isatty())
    try:
        protocols = _decoder_list(decoders)
        ruleset = _load_ruleset(no_rules, rule_files, sets)
        intel, intel_warnings = _load_intel(intel_files, ruleset, feeds_files, no_feeds)
        try:
            result = run_analysis(
                pcaps,
                progress=bar.update,
                on_open=bar.start,
                protocols=protocols,
                rules=ruleset,
                intel=intel,
                app_report=output_format is not OutputFormat.eve,
            )
        finally:
            bar.stop()
    except RuleFileError as exc:
        raise _report_rule_errors(exc) from None
    except NetsentryError as exc:
        raise _fail(exc) from None
    summary = result.summary
    if not quiet:
        err = _stderr()
        for warning in intel_warnings:
            err.print(safe_text(f"warning: {warning}"), style="yellow")
        for warning in summary.warnings():
            err.print(safe_text(f"warning: {warning}"), style="yellow")
        for problem, count in result.detector_errors.items():
            err.print(
                safe_text(f"warning: detector failed {count} time(s): {problem}"), style="yellow"
            )
    try:
        with _atomic_output(output) as handle:
            if output_format is OutputFormat.eve:
                for finding in result.findings:
                    handle.write(alert_line(finding))
                    handle.write("\n")
            elif output_format is OutputFormat.json:
                data = summary.to_dict()
                data["flows"] = result.flow_counters
                data["app"] = result.app.to_dict()
                data["findings"] = [alert_event(f) for f in result.findings]
                json.dump(data, handle, indent=2)
                handle.write("\n")
            else:
                to_terminal = handle is sys.stdout and sys.stdout.isatty()
                console = Console(
                    file=handle,
                    highlight=False,
                    width=None if to_terminal else 120,
                    no_color=not to_terminal,
                )
                console.print(render_summary(summary, result.app))
                if ruleset is not None:
                    for part in render_findings(result.findings):
                        console.print(part)
    except OSError as exc:
        raise _fail(NetsentryError(f"{output}: cannot write ({exc.strerror or exc})")) from None
    if result.partial:
        raise typer.Exit(int(ExitCode.PARTIAL))
    if fail_on is not None:
        limit = SEVERITIES[fail_on]
        if any(SEVERITIES.get(f.rule.severity, 9) <= limit for f in result.findings):
            raise typer.Exit(int(ExitCode.FINDINGS))


app.add_typer(rules_app, name="rules")
app.command(name="update-intel", epilog=UPDATE_EXIT_HELP)(update_intel_command)


def main() -> None:
    """Console-script entry point."""
    app()
