"""What one ``analyze`` run writes, wired from the options: the report, ``--html``, ``--pcap-out``.

:class:`Outputs` builds the sinks the chosen format needs, hands their hooks to
:func:`netsentry.engine.analyze` and, after the pass, writes what can only be
written at the end (the terminal/JSON report, the HTML file, the alert pcap).
Streaming formats (EVE, CSV) are written while the capture is read. Every file
is written atomically.
"""

from __future__ import annotations

import enum
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from rich.console import Console

from netsentry.aggregate import DEFAULT_WINDOW, Deduper, FindingAggregate
from netsentry.atomicfile import atomic_binary, atomic_text
from netsentry.engine import AnalysisResult
from netsentry.eve import alert_event
from netsentry.htmlreport import render_html
from netsentry.pcapout import Spool, extract_flows
from netsentry.report import render_aggregate, render_summary, safe_text
from netsentry.sinks import AggregateSink, AlertedFlows, CsvSink, EveSink, Fanout
from netsentry.summary import format_ts


class OutputFormat(enum.StrEnum):
    """What ``analyze`` writes to stdout or ``-o``."""

    table = "table"
    json = "json"
    eve = "eve"
    csv = "csv"


def default_format(to_terminal: bool) -> OutputFormat:
    """Tables for a person at a terminal, EVE lines for a pipe or a file (like httpie)."""
    return OutputFormat.table if to_terminal else OutputFormat.eve


@dataclass
class OutputPlan:
    """The output options of one run."""

    format: OutputFormat
    eve_types: set[str] = field(default_factory=lambda: {"alert"})
    html: Path | None = None
    pcap_out: Path | None = None
    dedup: bool = False
    window: float = DEFAULT_WINDOW
    rules_loaded: bool = True

    @property
    def app_events(self) -> bool:
        """Whether application decoders must run for the output's sake (tables, app events)."""
        return (
            self.format in (OutputFormat.table, OutputFormat.json)
            or self.html is not None
            or bool(self.eve_types & {"dns", "http", "tls"})
        )


class Outputs:
    """The sinks of one run and the writing that follows it."""

    def __init__(
        self,
        plan: OutputPlan,
        handle: TextIO,
        to_terminal: bool = False,
        *,
        capture: str | None = None,
        width: int | None = None,
    ) -> None:
        self.plan = plan
        self.handle = handle
        self.to_terminal = to_terminal
        # --per-file: the capture this report is about (labels alerts, CSV rows, sections),
        # and a fixed table width so a worker writing to a file renders what the terminal would.
        self.capture = capture
        self.width = width
        self.aggregate = FindingAggregate(plan.window)
        self.alerted = AlertedFlows(keep=plan.pcap_out is not None)
        self.eve: EveSink | None = None
        self.csv: CsvSink | None = None
        sinks: list[Any] = [self.alerted, AggregateSink(self.aggregate)]
        if plan.format is OutputFormat.eve:
            dedup = Deduper(plan.window) if plan.dedup else None
            self.eve = EveSink(
                handle, plan.eve_types, dedup=dedup, alerted=self.alerted, capture=capture
            )
            sinks.append(self.eve)
        elif plan.format is OutputFormat.csv:
            self.csv = CsvSink(
                handle,
                dedup=Deduper(plan.window) if plan.dedup else None,
                capture=capture,
                header=capture is None,  # per file: the header is written once, by the caller
            )
            sinks.append(self.csv)
        self.fanout = Fanout(sinks)
        self._flow_end = self.fanout.flow_end
        self._spool: Any = None  # tempfile.NamedTemporaryFile holding standard input
        self.pcap_packets: int | None = None

    def hooks(self) -> dict[str, Any]:
        """Keyword arguments for :func:`netsentry.engine.analyze`."""
        return {
            "on_finding": self.fanout.finding,
            "on_event": self.fanout.event,
            "on_flow_end": self._flow_ended,
            "keep_findings": False,
        }

    def _flow_ended(self, flow: Any) -> None:
        self._flow_end(flow)
        self.alerted.forget(flow)

    def stdin_for(self, paths: Sequence[str], stdin: BinaryIO) -> BinaryIO | None:
        """Standard input, spooled to a temporary file when ``--pcap-out`` must re-read it."""
        if self.plan.pcap_out is None or "-" not in paths:
            return None
        # on disk, not in memory: a live capture can be large (removed by close())
        self._spool = tempfile.NamedTemporaryFile(prefix="netsentry-stdin-")  # noqa: SIM115
        return cast(BinaryIO, Spool(stdin, cast(BinaryIO, self._spool)))

    def close(self) -> None:
        """Remove the stdin spool (if any)."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def write_report(self, result: AnalysisResult) -> None:
        """The end-of-run part of the main report (tables, JSON document, EVE stats)."""
        fmt = self.plan.format
        if fmt is OutputFormat.eve and self.eve is not None:
            self.eve.close(result)
        elif fmt is OutputFormat.json:
            self._write_json(result)
        elif fmt is OutputFormat.table:
            width = self.width if self.width is not None else None if self.to_terminal else 120
            console = Console(
                file=self.handle,
                highlight=False,
                width=width,
                no_color=not self.to_terminal,
                force_terminal=self.to_terminal if self.width is not None else None,
            )
            if self.capture is not None:
                console.rule(safe_text(f"capture: {self.capture}"), style="bold")
            rules = self.plan.rules_loaded
            findings = self.aggregate if rules else None
            console.print(render_summary(result.summary, result.app, findings))
            if rules:
                for part in render_aggregate(self.aggregate, window=self.plan.window):
                    console.print(part)

    def _write_json(self, result: AnalysisResult) -> None:
        data = result.summary.to_dict()
        if self.capture is not None:
            data = {"capture": self.capture, **data}
        data["flows"] = result.flow_counters
        data["app"] = result.app.to_dict()
        # One alert per group of identical findings (bounded), with its count and span;
        # every single finding is what --format eve is for.
        alerts = []
        for stats in self.aggregate.ranked_rules():
            for group in stats.groups:
                event = alert_event(group.sample)
                event["netsentry"]["count"] = group.count
                event["netsentry"]["first_seen"] = format_ts(group.first_ts)
                event["netsentry"]["last_seen"] = format_ts(group.last_ts)
                alerts.append(event)
        data["findings"] = alerts
        data["finding_counts"] = self.aggregate.to_dict()
        json.dump(data, self.handle, indent=2)
        self.handle.write("\n")

    def write_files(
        self,
        result: AnalysisResult,
        paths: Sequence[str],
        decoders: list[str] | None = None,
    ) -> None:
        """``--html`` and ``--pcap-out``, each written atomically."""
        plan = self.plan
        if plan.html is not None:
            html = render_html(
                result.summary,
                self.aggregate,
                apps=result.app,
                flow_counters=result.flow_counters,
                decoders=decoders if decoders is not None else result.decoders,
                rules_loaded=plan.rules_loaded,
                window=plan.window,
            )
            with atomic_text(plan.html) as handle:
                handle.write(html)
        if plan.pcap_out is not None:
            self._write_pcap(result, paths, plan.pcap_out)

    def _write_pcap(self, result: AnalysisResult, paths: Sequence[str], target: Path) -> None:
        linktypes = {lt for cap in result.summary.captures for lt in cap.linktypes} or {1}
        inputs = list(paths)
        if self._spool is not None:
            self._spool.flush()
            inputs = [self._spool.name if p == "-" else p for p in paths]
        with atomic_binary(target) as out:
            self.pcap_packets = extract_flows(inputs, self.alerted.ids, out, linktypes)
