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

from netsentry.summary import Summary

TOP = 10


def safe_text(value: object, style: str = "") -> Text:
    """Text for untrusted content: no markup, control characters made visible."""
    raw = str(value)
    cleaned = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in raw)
    return Text(cleaned, style=style)


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
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


def render_summary(summary: Summary) -> RenderableType:
    """The whole terminal report for a summary."""
    data = summary.to_dict(top=TOP)
    parts: list[RenderableType] = [overview(summary)]
    if summary.packets:
        parts.append(protocol_table(summary))
        parts.append(talkers_table("Top talkers by bytes", data["top_talkers_by_bytes"]))
        parts.append(talkers_table("Top talkers by packets", data["top_talkers_by_packets"]))
        parts.append(conversations_table(data["top_conversations"]))
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
        parts.append(
            Text(
                f"Note: talker tables are approximate; {summary.talkers.pruned:,} rarely-seen "
                "addresses were dropped to keep memory bounded.",
                style="yellow",
            )
        )
    return Group(*parts)
