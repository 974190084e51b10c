"""Command-line interface: parses options, calls the library, picks an exit code.

Kept thin on purpose (see DESIGN.md): everything it does is callable from Python
through :mod:`netsentry.engine`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
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
from netsentry.aggregate import DEFAULT_WINDOW
from netsentry.applayer import PROTOCOLS
from netsentry.atomicfile import atomic_text
from netsentry.capture import CaptureReader, open_capture
from netsentry.cli_dga import dga_app
from netsentry.cli_intel import (
    UPDATE_EXIT_HELP,
    FeedsOption,
    load_feed_config,
    update_intel_command,
)
from netsentry.cli_rules import FilesOption, print_rule_errors, rules_app
from netsentry.cli_sig import (
    IprepCategoriesOption,
    IprepOption,
    VarOption,
    parse_vars,
    register,
    with_reputation,
    with_suricata_rules,
)
from netsentry.engine import AnalysisResult
from netsentry.errors import CaptureError, ExitCode, NetsentryError, UsageError
from netsentry.feedcache import load_cached_intel, load_cached_rules
from netsentry.inputs import expand_inputs
from netsentry.intel import IntelSet, load_indicator_file
from netsentry.outputs import OutputFormat, OutputPlan, Outputs, default_format
from netsentry.parallel import PerFileSettings, analyze_per_file, worst_exit
from netsentry.report import safe_text
from netsentry.ruleload import RuleFileError, load_rules
from netsentry.rules import SEVERITIES, IntelRule, RuleSet
from netsentry.sinks import EVE_TYPES
from netsentry.streamjobs import analyze_split, auto_jobs

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
    """Stdout, or a file that appears whole or not at all (see :mod:`netsentry.atomicfile`)."""
    if path is None or str(path) == "-":
        yield sys.stdout
        return
    with atomic_text(path) as handle:
        yield handle


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


def _eve_types(text: str) -> set[str]:
    """Parse --eve-types: a comma-separated list of EVE_TYPES names, or 'all'."""
    value = text.strip().lower()
    if value == "all":
        return set(EVE_TYPES)
    names = {n.strip() for n in value.split(",") if n.strip()}
    unknown = sorted(names - set(EVE_TYPES))
    if unknown or not names:
        raise UsageError(
            f"--eve-types: unknown type {', '.join(unknown) or repr(text)} "
            f"(known: {', '.join(EVE_TYPES)}, or all)"
        )
    return names


def _verbose_report(err: Console, result: AnalysisResult, outputs: Outputs, seconds: float) -> None:
    """What --verbose adds on stderr after the run: how the work went, in numbers."""
    summary = result.summary
    lines = [
        f"analyzed {summary.packets:,} packets ({summary.bytes:,} bytes) in {seconds:.2f} s",
        f"decoders: {', '.join(result.decoders) or 'none'}",
        "flows: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result.flow_counters.items())),
        f"findings: {result.finding_count:,} in {outputs.aggregate.groups:,} groups; "
        f"{result.suppressed:,} suppressed by allowlists",
    ]
    if outputs.eve is not None:
        dedup = outputs.eve.dedup
        lines.append(
            f"eve: {outputs.eve.lines:,} lines ({outputs.eve.alerts:,} alerts"
            + (f", {dedup.suppressed:,} duplicates left out" if dedup is not None else "")
            + ")"
        )
    if outputs.pcap_packets is not None:
        lines.append(
            f"pcap-out: {outputs.pcap_packets:,} packets of {outputs.alerted.flows:,} flows"
        )
    for line in lines:
        err.print(safe_text(f"info: {line}"), style="dim")


@app.command(epilog=EXIT_CODES_HELP)
def analyze(
    pcaps: Annotated[
        list[str],
        typer.Argument(
            metavar="PCAP...",
            help="Capture files (pcap, pcapng, optionally gzip-compressed) or folders of them "
            "(searched recursively; files recognised by content); '-' reads standard input. "
            "Several captures are analyzed in timestamp order as one stream, or each on its "
            "own with --per-file.",
            show_default=False,
        ),
    ],
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Report format: table, json (summary document), eve (Suricata EVE JSON "
            "lines) or csv (findings). Default: table on a terminal, eve otherwise (a pipe "
            "or -o FILE).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the report to FILE instead of stdout (atomically: whole or not at all).",
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
    eve_types: Annotated[
        str,
        typer.Option(
            "--eve-types",
            metavar="LIST",
            help="EVE event types to write with -f eve: a comma-separated list of "
            f"{', '.join(EVE_TYPES)}, or all.",
        ),
    ] = "alert",
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Also write a self-contained HTML report with charts to FILE.",
        ),
    ] = None,
    pcap_out: Annotated[
        Path | None,
        typer.Option(
            "--pcap-out",
            metavar="FILE",
            help="Also write every packet of every flow that raised a finding to FILE "
            "(pcap; pcapng when the input mixes link types), in original order and timestamps.",
        ),
    ] = None,
    dedup: Annotated[
        bool,
        typer.Option(
            "--dedup",
            help="EVE and CSV: write only the first of identical findings (same rule, source "
            "and destination) within the --dedup-window.",
        ),
    ] = False,
    dedup_window: Annotated[
        float,
        typer.Option(
            "--dedup-window",
            metavar="SECONDS",
            min=0,
            help="Identical findings closer than this are aggregated (terminal and HTML "
            "views) or, with --dedup, left out of EVE/CSV.",
        ),
    ] = DEFAULT_WINDOW,
    suricata_rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--suricata-rules",
            metavar="PATH",
            help="Suricata/Snort .rules file or folder to run as well (repeatable).",
        ),
    ] = None,
    variables: VarOption = None,
    iprep_lists: IprepOption = None,
    iprep_categories: IprepCategoriesOption = None,
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
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Also print run statistics (timing, flows, findings) to stderr."
        ),
    ] = False,
    per_file: Annotated[
        bool,
        typer.Option(
            "--per-file",
            help="Analyze each capture on its own (own flows, thresholds and summary) and "
            "report per capture: alerts and CSV rows name their capture, one table section or "
            "JSON document per capture. Exit code: the worst over the captures.",
        ),
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            metavar="N",
            help="Processes to use; the output is identical for any N. With --per-file: "
            "captures analyzed at the same time (default: the number of cores). Without: the "
            "one stream is split by flow over N processes that all decode every packet "
            "(default: the number of cores for inputs of 32 MB or more, else 1); the report "
            "then appears at the end instead of streaming. Standard input, pipes and Suricata "
            "signature rules run in one process (a notice says so).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Analyze captures and report what is in them."""
    started = time.monotonic()
    if fail_on is not None and fail_on not in SEVERITIES:
        raise _fail(
            UsageError(f"--fail-on: unknown severity '{fail_on}' (use {', '.join(SEVERITIES)})")
        )
    if quiet and verbose:
        raise _fail(UsageError("--quiet and --verbose cannot be combined"))
    to_stdout = output is None or str(output) == "-"
    to_terminal = to_stdout and sys.stdout.isatty()
    fmt = output_format if output_format is not None else default_format(to_terminal)
    bar = _ProgressBar(enabled=not no_progress and sys.stderr.isatty())
    try:
        types = _eve_types(eve_types)
        if (types - {"alert"}) and fmt is not OutputFormat.eve:
            raise UsageError("--eve-types needs --format eve")
        protocols = _decoder_list(decoders)
        ruleset = _load_ruleset(no_rules, rule_files, sets)  # None with --no-rules
        rule_feeds = [] if no_feeds else load_cached_rules(load_feed_config(feeds_files))
        ruleset = with_suricata_rules(
            ruleset, suricata_rules or [], parse_vars(variables), quiet, rule_feeds
        )
        intel, intel_warnings = _load_intel(intel_files, ruleset, feeds_files, no_feeds)
        intel = with_reputation(intel, iprep_categories, iprep_lists)
        inputs = expand_inputs(pcaps)
        if not quiet:
            for warning in inputs.warnings:
                _stderr().print(safe_text(f"warning: {warning}"), style="yellow")
        pcaps = inputs.paths
        plan = OutputPlan(
            fmt,
            eve_types=types,
            html=html,
            pcap_out=pcap_out,
            dedup=dedup,
            window=dedup_window,
            rules_loaded=ruleset is not None,
        )
        if per_file:
            _analyze_per_file(
                pcaps,
                PerFileSettings(plan, protocols, ruleset, intel, to_terminal, _table_width()),
                output,
                jobs or os.cpu_count() or 1,
                quiet=quiet,
                verbose=verbose,
                fail_on=fail_on,
                started=started,
                intel_warnings=intel_warnings,
            )
            return
        with contextlib.ExitStack() as stack:
            handle = stack.enter_context(_atomic_output(output))
            outputs = Outputs(plan, handle, to_terminal)
            stack.callback(outputs.close)
            stdin = outputs.stdin_for(pcaps, sys.stdin.buffer)
            try:
                result = analyze_split(
                    pcaps,
                    jobs or auto_jobs(pcaps),
                    full_events=outputs.eve.types if outputs.eve is not None else (),
                    app_summary=plan.format in (OutputFormat.table, OutputFormat.json)
                    or plan.html is not None,
                    notice=None if quiet or not jobs else _notice,
                    stdin=stdin,
                    progress=bar.update,
                    on_open=bar.start,
                    protocols=protocols,
                    rules=ruleset,
                    intel=intel,
                    app_report=plan.app_events,
                    **outputs.hooks(),
                )
            finally:
                bar.stop()
            outputs.write_report(result)
            outputs.write_files(result, pcaps)
    except RuleFileError as exc:
        raise _report_rule_errors(exc) from None
    except NetsentryError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        name = exc.filename if exc.filename is not None else output
        raise _fail(NetsentryError(f"{name}: cannot write ({exc.strerror or exc})")) from None
    summary = result.summary
    err = _stderr()
    if not quiet:
        for warning in intel_warnings:
            err.print(safe_text(f"warning: {warning}"), style="yellow")
        for warning in summary.warnings():
            err.print(safe_text(f"warning: {warning}"), style="yellow")
        for problem, count in result.detector_errors.items():
            err.print(
                safe_text(f"warning: detector failed {count} time(s): {problem}"), style="yellow"
            )
    if verbose:
        _verbose_report(err, result, outputs, time.monotonic() - started)
    if result.partial:
        raise typer.Exit(int(ExitCode.PARTIAL))
    if fail_on is not None and outputs.aggregate.max_severity_rank() <= SEVERITIES[fail_on]:
        raise typer.Exit(int(ExitCode.FINDINGS))


def _notice(text: str) -> None:
    _stderr().print(safe_text(f"notice: {text}"), style="yellow")


def _table_width() -> int:
    """The table width of this terminal (120 when not one), fixed for --per-file workers."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return 120


def _analyze_per_file(
    paths: list[str],
    settings: PerFileSettings,
    output: Path | None,
    jobs: int,
    *,
    quiet: bool,
    verbose: bool,
    fail_on: str | None,
    started: float,
    intel_warnings: list[str],
) -> None:
    """The --per-file run: each capture on its own, up to ``jobs`` at a time."""
    plan = settings.plan
    if plan.html is not None or plan.pcap_out is not None:
        raise UsageError("--per-file cannot be combined with --html or --pcap-out yet")
    if sum(1 for p in paths if p == "-") > 1:
        raise UsageError("standard input ('-') can be given only once")
    for path in paths:  # all or nothing, like one stream: every file opens before any runs
        if path != "-":
            open_capture(path).close()
    with _atomic_output(output) as handle:
        outcomes = analyze_per_file(
            paths, settings, handle, jobs=jobs, stdin=sys.stdin.buffer
        )
    err = _stderr()
    if not quiet:
        for warning in intel_warnings:
            err.print(safe_text(f"warning: {warning}"), style="yellow")
        for outcome in outcomes:
            for warning in outcome.warnings:
                err.print(safe_text(f"warning: {warning}"), style="yellow")
    for outcome in outcomes:
        if outcome.error is not None:
            err.print(safe_text(f"error: {outcome.error}"), style="bold red")
    if verbose:
        packets = sum(o.packets for o in outcomes)
        findings = sum(o.findings for o in outcomes)
        err.print(
            safe_text(
                f"info: analyzed {len(outcomes)} captures ({packets:,} packets, {findings:,} "
                f"findings) with {min(jobs, len(outcomes))} job(s) in "
                f"{time.monotonic() - started:.2f} s"
            ),
            style="dim",
        )
    code = worst_exit(outcomes, SEVERITIES[fail_on] if fail_on is not None else None)
    if code:
        raise typer.Exit(code)


register(rules_app)
app.add_typer(rules_app, name="rules")
app.add_typer(dga_app, name="dga")
app.command(name="update-intel", epilog=UPDATE_EXIT_HELP)(update_intel_command)


def main() -> None:
    """Console-script entry point."""
    app()
