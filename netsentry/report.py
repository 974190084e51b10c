"""Rich renderables for the terminal report.

Captured and user-supplied text (file names, labels, reasons that quote data)
only ever enters rich as :class:`rich.text.Text`, never as markup, so a payload
holding ``[bold]`` or an escape sequence is shown, not obeyed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from netsentry.aggregate import FindingAggregate, severity_rank
from netsentry.appsummary import AppSummary
from netsentry.findings import Finding
from netsentry.model import ip_short
from netsentry.rules import SEVERITIES
from netsentry.summary import Summary, format_ts

TOP = 10


def safe_text(value: object, style: str = "") -> Text:
    """Text for untrusted content: no markup, control characters made visible."""
    return Text(visible(str(value)), style=style)


def visible(raw: str) -> str:
    """``raw`` with every non-printable character spelled out (``\\x1b``, ``\\u202e``)."""
    if raw.isprintable():
        return raw
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in raw)


def _escape_char(ch: str) -> str:
    """A visible, unambiguous spelling of a non-printable character."""
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; values round into the next unit (1048575 -> '1.0 MiB')."""
    if abs(n) < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if abs(round(n, 1)) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    return f"{n:.1f} TiB"  # pragma: no cover - loop always returns


def _table(title: str, columns: Iterable[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    return table


def overview(summary: Summary, findings: FindingAggregate | None = None) -> Panel:
    """The headline numbers: inputs, packets, bytes, time span, findings by severity."""
    data = summary.to_dict(top=0)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for cap in summary.captures:
        kind = cap.format + (" (gzip)" if cap.compressed else "")
        line = safe_text(cap.name)
        line.append(f"  {kind}, {cap.packets:,} packets", style="dim")
        if cap.truncated:
            line.append("  damaged", style="bold red")
        grid.add_row("capture", line)
    grid.add_row("packets", f"{summary.packets:,}")
    grid.add_row(
        "bytes",
        f"{summary.bytes:,} ({human_bytes(summary.bytes)}) on the wire, "
        f"{summary.captured_bytes:,} captured",
    )
    if summary.first_ts is not None:
        grid.add_row("first", str(data["first_timestamp"]))
        grid.add_row("last", str(data["last_timestamp"]))
        grid.add_row("span", f"{summary.duration:,.3f} s")
    if findings is not None:
        grid.add_row("alerts", severity_line(findings))
    return Panel(grid, title="netsentry summary", title_align="left", expand=False)


def protocol_table(summary: Summary) -> Table:
    table = _table(
        "Protocols",
        [("protocol", "left"), ("packets", "right"), ("%", "right"), ("bytes", "right")],
    )
    total = summary.packets or 1
    for row in summary.to_dict(top=0)["protocols"]:
        table.add_row(
            safe_text(row["protocol"]),
            f"{row['packets']:,}",
            f"{100 * row['packets'] / total:.1f}",
            human_bytes(row["bytes"]),
        )
    return table


def talkers_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = _table(title, [("address", "left"), ("packets", "right"), ("bytes", "right")])
    for row in rows:
        table.add_row(safe_text(row["ip"]), f"{row['packets']:,}", human_bytes(row["bytes"]))
    return table


def conversations_table(rows: list[dict[str, Any]]) -> Table:
    table = _table(
        "Top conversations",
        [("a", "left"), ("b", "left"), ("packets", "right"), ("bytes", "right")],
    )
    for row in rows:
        table.add_row(
            safe_text(row["a"]),
            safe_text(row["b"]),
            f"{row['packets']:,}",
            human_bytes(row["bytes"]),
        )
    return table


def skipped_table(summary: Summary) -> Table | None:
    """Malformed or undecodable frames by reason; None when there were none."""
    if not summary.skipped:
        return None
    table = _table("Skipped or malformed packets", [("reason", "left"), ("packets", "right")])
    for reason, n in summary.skipped.most_common():
        table.add_row(safe_text(reason), f"{n:,}")
    return table


def render_summary(
    summary: Summary,
    apps: AppSummary | None = None,
    findings: FindingAggregate | None = None,
) -> RenderableType:
    """The whole terminal report for a summary (and the application-layer tables).

    ``findings``, when given, adds the findings by severity to the summary panel (the
    findings themselves are :func:`render_aggregate`'s).
    """
    data = summary.to_dict(top=TOP)
    parts: list[RenderableType] = [overview(summary, findings)]
    if summary.packets:
        parts.append(protocol_table(summary))
        parts.append(talkers_table("Top talkers by bytes", data["top_talkers_by_bytes"]))
        parts.append(talkers_table("Top talkers by packets", data["top_talkers_by_packets"]))
        parts.append(conversations_table(data["top_conversations"]))
    if apps is not None:
        parts.extend(render_app(apps))
    skipped = skipped_table(summary)
    if skipped is not None:
        parts.append(skipped)
    if summary.fragments:
        frag = Text("IP fragments: ", style="bold")
        frag.append(
            ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in sorted(summary.fragments.items()))
        )
        parts.append(frag)
    if summary.approximate:
        dropped = []
        if summary.talkers.pruned:
            dropped.append(f"{summary.talkers.pruned:,} rarely-seen addresses")
        if summary.conversations.pruned:
            dropped.append(f"{summary.conversations.pruned:,} rarely-seen conversations")
        parts.append(
            Text(
                "Note: talker and conversation tables are approximate; "
                f"{' and '.join(dropped)} were dropped to keep memory bounded.",
                style="yellow",
            )
        )
    return Group(*parts)


def _count_table(title: str, header: str, rows: list[tuple[str, int]]) -> Table:
    table = _table(title, [(header, "left"), ("count", "right")])
    for key, n in rows:
        table.add_row(safe_text(key), f"{n:,}")
    return table


def render_app(apps: AppSummary, top: int = TOP) -> list[RenderableType]:
    """Tables of what the application decoders saw (only the non-empty ones)."""
    data = apps.to_dict(top)
    parts: list[RenderableType] = []
    specs: list[tuple[str, str, list[tuple[str, int]]]] = [
        ("Flows by protocol", "protocol", list(data["flows_by_protocol"].items())),
        ("HTTP top hosts", "host", [(r["host"], r["count"]) for r in data["http_top_hosts"]]),
        ("HTTP top URLs", "url", [(r["url"], r["count"]) for r in data["http_top_urls"]]),
        ("DNS top names", "rrname", [(r["rrname"], r["count"]) for r in data["dns_top_names"]]),
        ("DNS response codes", "rcode", list(data["dns_rcodes"].items())),
        ("TLS top SNIs", "sni", [(r["sni"], r["count"]) for r in data["tls_top_snis"]]),
        ("TLS top JA4", "ja4", [(r["ja4"], r["count"]) for r in data["tls_top_ja4"]]),
        ("Decoder anomalies", "anomaly", list(data["decoder_anomalies"].items())),
    ]
    for title, header, rows in specs:
        if rows:
            parts.append(_count_table(title, header, rows[: max(top, 20)]))
    return parts


_SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def render_findings(findings: list[Finding], top: int = TOP) -> list[RenderableType]:
    """Findings grouped by category and severity, then per rule (from a list of findings)."""
    aggregate = FindingAggregate()
    for finding in findings:
        aggregate.add(finding)
    return render_aggregate(aggregate, top)


def severity_line(aggregate: FindingAggregate) -> Text:
    """``3 findings: 1 critical, 2 high`` (or ``no findings``), styled by severity."""
    if not aggregate.total:
        return Text("no findings", style="green")
    line = Text(f"{aggregate.total:,} findings: ")
    first = True
    for severity in SEVERITIES:
        n = aggregate.by_severity.get(severity, 0)
        if not n:
            continue
        if not first:
            line.append(", ")
        line.append(f"{n:,} {severity}", style=_SEVERITY_STYLE.get(severity, ""))
        first = False
    return line


def short_ts(ts: int | None) -> str:
    """A capture time for people: ``2024-01-31 12:00:00.123`` (UTC, milliseconds)."""
    text = format_ts(ts) or ""
    return text[:23].replace("T", " ") if len(text) >= 23 else text


def _where(src: bytes, dst: bytes) -> str:
    return f"{ip_short(src) or '-'} -> {ip_short(dst) or '-'}"


def _top_list(table: Any, n: int = 3) -> str:
    rows = table.top(n, by="packets")
    return ", ".join(f"{ip_short(addr) or '-'} ({count:,})" for addr, count, _b in rows)


def render_aggregate(
    aggregate: FindingAggregate, top: int = TOP, window: float | None = None
) -> list[RenderableType]:
    """The findings part of the terminal report, from a bounded aggregate.

    By category and severity; per rule with count, first/last seen, top sources and
    targets and an evidence snippet; then the largest groups of identical findings
    (same rule, source and destination within the window) with their counts.
    """
    if not aggregate.total:
        return [Text("No findings.", style="green")]
    order = {name: i for i, name in enumerate(SEVERITIES)}
    cats = _table(
        f"Findings: {aggregate.total:,}",
        [("severity", "left"), ("category", "left"), ("count", "right")],
    )
    for (category, severity), n in sorted(
        aggregate.by_category.items(), key=lambda kv: (order.get(kv[0][1], 9), -kv[1])
    ):
        cats.add_row(
            Text(severity, style=_SEVERITY_STYLE.get(severity, "")), safe_text(category), f"{n:,}"
        )
    rules = _table(
        "Findings by rule",
        [
            ("sev", "left"),
            ("rule", "left"),
            ("count", "right"),
            ("first / last seen", "left"),
            ("top sources / targets", "left"),
            ("evidence (first)", "left"),
        ],
    )
    rules.columns[3].no_wrap = True  # timestamps stay whole; the evidence wraps instead
    rules.columns[4].no_wrap = True
    rules.columns[1].overflow = "fold"  # rule ids are never cut short
    rules.columns[5].overflow = "fold"
    for stats in aggregate.ranked_rules():
        rule = stats.rule
        first = min(stats.groups, key=lambda g: g.first_ts) if stats.groups else None
        evidence = evidence_text(first.sample.evidence) if first is not None else ""
        rules.add_row(
            Text(rule.severity, style=_SEVERITY_STYLE.get(rule.severity, "")),
            Text.assemble(safe_text(rule.id, "bold"), "\n", safe_text(rule.title)),
            f"{stats.count:,}",
            Text.assemble(
                safe_text(short_ts(stats.first_ts)), "\n", safe_text(short_ts(stats.last_ts))
            ),
            Text.assemble(
                safe_text(_top_list(stats.sources)), "\n-> ", safe_text(_top_list(stats.targets))
            ),
            safe_text(evidence[:120]),
        )
    parts: list[RenderableType] = [cats, rules]
    groups = sorted(
        (g for s in aggregate.rules.values() for g in s.groups),
        key=lambda g: (-g.count, severity_rank(g.rule.severity), g.first_ts),
    )
    repeated = [g for g in groups if g.count > 1][:top]
    if repeated:
        title = "Repeated findings"
        if window is not None:
            title += f" (same rule, source and target, less than {window:g} s apart)"
        table = _table(
            title,
            [("rule", "left"), ("source -> target", "left"), ("count", "right"),
             ("first seen", "left"), ("last seen", "left")],
        )
        for g in repeated:
            table.add_row(
                safe_text(g.rule.id),
                safe_text(_where(g.src, g.dst)),
                f"{g.count:,}",
                safe_text(short_ts(g.first_ts)),
                safe_text(short_ts(g.last_ts)),
            )
        parts.append(table)
    talkers = _table(
        "Top finding sources and targets",
        [("source", "left"), ("findings", "right"), ("target", "left"), ("findings", "right")],
    )
    sources = aggregate.sources.top(top, by="packets")
    targets = aggregate.targets.top(top, by="packets")
    for i in range(max(len(sources), len(targets))):
        s = sources[i] if i < len(sources) else None
        t = targets[i] if i < len(targets) else None
        talkers.add_row(
            safe_text(ip_short(s[0]) or "-") if s else "",
            f"{s[1]:,}" if s else "",
            safe_text(ip_short(t[0]) or "-") if t else "",
            f"{t[1]:,}" if t else "",
        )
    parts.append(talkers)
    return parts


def evidence_text(evidence: dict[str, Any]) -> str:
    """A one-line reading of a finding's evidence (not yet escaped for display)."""
    if "match" in evidence:
        return f"{evidence.get('field', '')}: {evidence['match']}"
    if "count" in evidence and "seconds" in evidence:
        what = f"distinct {evidence['distinct']}" if "distinct" in evidence else "events"
        track = evidence.get("track", "")
        return f"{evidence['count']} {what} in {evidence['seconds']:g}s ({track})"
    if "indicator" in evidence:
        feeds = ", ".join(evidence.get("feeds", []))
        return f"{evidence.get('field', '')}: {evidence.get('value', '')} listed by {feeds}"
    return ", ".join(f"{k}={v}" for k, v in evidence.items())
