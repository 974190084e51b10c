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

from netsentry.appsummary import AppSummary
from netsentry.findings import Finding
from netsentry.model import ip_short
from netsentry.rules import SEVERITIES
from netsentry.summary import Summary, format_ts

TOP = 10


def safe_text(value: object, style: str = "") -> Text:
    """Text for untrusted content: no markup, control characters made visible."""
    raw = str(value)
    cleaned = "".join(ch if ch.isprintable() else _escape_char(ch) for ch in raw)
    return Text(cleaned, style=style)


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


def overview(summary: Summary) -> Panel:
    """The headline numbers: inputs, packets, bytes, time span."""
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


def render_summary(summary: Summary, apps: AppSummary | None = None) -> RenderableType:
    """The whole terminal report for a summary (and the application-layer tables)."""
    data = summary.to_dict(top=TOP)
    parts: list[RenderableType] = [overview(summary)]
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
    """Findings grouped by category and severity, then per rule with evidence."""
    if not findings:
        return [Text("No findings.", style="green")]
    by_cat: dict[tuple[str, str], int] = {}
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        key = (f.rule.category, f.rule.severity)
        by_cat[key] = by_cat.get(key, 0) + 1
        by_rule.setdefault(f.rule.id, []).append(f)
    order = {name: i for i, name in enumerate(SEVERITIES)}
    cats = _table(
        f"Findings: {len(findings):,}",
        [("severity", "left"), ("category", "left"), ("count", "right")],
    )
    for (category, severity), n in sorted(
        by_cat.items(), key=lambda kv: (order.get(kv[0][1], 9), -kv[1])
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
            ("first seen", "left"),
            ("top source -> target", "left"),
            ("evidence", "left"),
        ],
    )
    ranked = sorted(
        by_rule.values(),
        key=lambda fs: (order.get(fs[0].rule.severity, 9), -len(fs), fs[0].rule.id),
    )
    for group in ranked:
        rule = group[0].rule
        pairs: dict[tuple[str, str], int] = {}
        for f in group:
            pair = (ip_short(f.src), ip_short(f.dst))
            pairs[pair] = pairs.get(pair, 0) + 1
        (src, dst), _n = max(pairs.items(), key=lambda kv: kv[1])
        first = min(group, key=lambda f: f.ts)
        rules.add_row(
            Text(rule.severity, style=_SEVERITY_STYLE.get(rule.severity, "")),
            Text.assemble(safe_text(rule.id, "bold"), "\n", safe_text(rule.title)),
            f"{len(group):,}",
            safe_text(format_ts(first.ts) or ""),
            safe_text(f"{src} -> {dst}" + (f" (+{len(pairs) - 1} more)" if len(pairs) > 1 else "")),
            safe_text(_evidence_text(first.evidence)[:120]),
        )
    return [cats, rules]


def _evidence_text(evidence: dict[str, Any]) -> str:
    if "match" in evidence:
        return f"{evidence.get('field', '')}: {evidence['match']}"
    if "count" in evidence:
        what = f"distinct {evidence['distinct']}" if "distinct" in evidence else "events"
        return f"{evidence['count']} {what} in {evidence['seconds']:g}s ({evidence['track']})"
    if "indicator" in evidence:
        feeds = ", ".join(evidence.get("feeds", []))
        return f"{evidence.get('field', '')}: {evidence.get('value', '')} listed by {feeds}"
    return ", ".join(f"{k}={v}" for k, v in evidence.items())
