"""The HTML report (``--html FILE``): one self-contained file for people who would rather look.

No network access when opened, and nothing that runs: styles are inline, the
charts are inline SVG (see :mod:`netsentry.svgchart` for why), and a strict
Content-Security-Policy (``default-src 'none'``) makes the browser refuse any
resource a future edit might add by mistake. Every piece of captured or
user-supplied text is escaped (HTML-escaped, control characters made visible).

Key numbers carry ``data-*`` attributes (``data-value``, ``data-count``,
``data-sid``) so tests, and scripts, can read them without scraping text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from html import escape
from typing import Any

from netsentry import __version__
from netsentry.aggregate import FindingAggregate, Group, RuleStats
from netsentry.appsummary import AppSummary
from netsentry.model import PROTO_NAMES, ip_short
from netsentry.report import evidence_text, human_bytes, visible
from netsentry.rules import CATEGORIES, SEVERITIES
from netsentry.summary import Summary, format_ts
from netsentry.svgchart import DEFAULT_COLOR, SEVERITY_COLORS, bar_chart, timeline_chart

TOP = 10
GROUP_ROWS = 50  # aggregated rows shown per rule

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#0f172a;
background:#f8fafc}
header{background:#0f172a;color:#f8fafc;padding:16px 28px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#cbd5e1;font-size:13px}
main{padding:12px 28px 40px;max-width:1200px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #cbd5e1;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 16px;min-width:120px}
.card .label{font-size:12px;color:#64748b}.card .value{font-size:22px;font-weight:600}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0}
th,td{border:1px solid #e2e8f0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev{display:inline-block;padding:1px 6px;border-radius:4px;color:#fff;font-size:12px}
.evidence{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all;max-width:520px}
.grid{display:flex;flex-wrap:wrap;gap:24px}
.note{color:#92400e;font-size:13px}
.chart text{fill:#0f172a;font-family:system-ui,sans-serif}
"""


def _t(value: object) -> str:
    """Escaped, visible text for any value (captured bytes included)."""
    return escape(visible(str(value)))


def _sev(severity: str) -> str:
    color = SEVERITY_COLORS.get(severity, DEFAULT_COLOR)
    return f'<span class="sev" style="background:{color}">{_t(severity)}</span>'


def _table(headers: Iterable[str], rows: Iterable[str], cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _card(label: str, value: str, key: str, raw: int | float | str) -> str:
    return (
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div class="value" id="{key}" data-value="{escape(str(raw))}">{value}</div></div>'
    )


def _metadata(summary: Summary, flows: dict[str, int], decoders: list[str]) -> str:
    rows = []
    for cap in summary.captures:
        kind = cap.format + (" (gzip)" if cap.compressed else "")
        state = "damaged (analyzed up to the damage)" if cap.truncated else "ok"
        rows.append(
            f"<tr><td>{_t(cap.name)}</td><td>{_t(kind)}</td>"
            f"<td>{_t(', '.join(map(str, cap.linktypes)))}</td>"
            f'<td class="num">{cap.packets:,}</td><td>{escape(state)}</td></tr>'
        )
    table = _table(["capture", "format", "link types", "packets", "state"], rows)
    facts = [
        ("first packet", format_ts(summary.first_ts) or "-"),
        ("last packet", format_ts(summary.last_ts) or "-"),
        ("span", f"{summary.duration:,.3f} s"),
        ("bytes on the wire", f"{summary.bytes:,} ({human_bytes(summary.bytes)})"),
        ("bytes captured", f"{summary.captured_bytes:,}"),
        ("flows", f"{flows.get('flows', 0):,}"),
        ("decoders run", ", ".join(decoders) or "none"),
    ]
    fact_rows = [f"<tr><th>{escape(k)}</th><td>{_t(v)}</td></tr>" for k, v in facts]
    warnings = "".join(f'<p class="note">{_t(w)}</p>' for w in summary.warnings())
    return table + f"<table><tbody>{''.join(fact_rows)}</tbody></table>" + warnings


def _summary_cards(summary: Summary, agg: FindingAggregate, flows: dict[str, int]) -> str:
    cards = [
        _card("packets", f"{summary.packets:,}", "packets", summary.packets),
        _card("bytes", escape(human_bytes(summary.bytes)), "bytes", summary.bytes),
        _card("span", f"{summary.duration:,.1f} s", "span", round(summary.duration, 6)),
        _card("flows", f"{flows.get('flows', 0):,}", "flows", flows.get("flows", 0)),
        _card("findings", f"{agg.total:,}", "findings-total", agg.total),
    ]
    for severity in SEVERITIES:
        n = agg.by_severity.get(severity, 0)
        cards.append(_card(severity, f"{n:,}", f"severity-{severity}", n))
    return f'<div class="cards">{"".join(cards)}</div>'


def _timeline(agg: FindingAggregate) -> str:
    rows = agg.timeline.rows()
    if not rows:
        return "<p>No findings.</p>"
    width_s = agg.timeline.width / 1e9
    buckets = [((format_ts(ts) or "")[:23].replace("T", " "), dict(c)) for ts, c in rows]
    chart = timeline_chart(
        buckets, list(SEVERITIES), title="Findings over time by severity"
    )
    return chart + f"<p>Each column: {width_s:g} s of capture time.</p>"


def _by_category(agg: FindingAggregate) -> str:
    totals: dict[str, int] = {}
    worst: dict[str, str] = {}
    for (category, severity), n in agg.by_category.items():
        totals[category] = totals.get(category, 0) + n
        if category not in worst or SEVERITIES.get(severity, 9) < SEVERITIES.get(
            worst[category], 9
        ):
            worst[category] = severity
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    chart = bar_chart(
        [
            (CATEGORIES.get(c, c), n, SEVERITY_COLORS.get(worst[c], DEFAULT_COLOR))
            for c, n in ranked
        ],
        title="Findings by category",
    )
    rows = [
        f'<tr data-category="{_t(c)}" data-severity="{_t(s)}" data-count="{n}">'
        f"<td>{_sev(s)}</td><td>{_t(CATEGORIES.get(c, c))}</td>"
        f'<td class="num">{n:,}</td></tr>'
        for (c, s), n in sorted(
            agg.by_category.items(), key=lambda kv: (SEVERITIES.get(kv[0][1], 9), -kv[1])
        )
    ]
    sev_chart = bar_chart(
        [(s, agg.by_severity[s], SEVERITY_COLORS[s]) for s in SEVERITIES if agg.by_severity[s]],
        title="Findings by severity",
        label_width=90,
        width=400,
    )
    table = _table(["severity", "category", "findings"], rows, "by-category")
    return f'<div class="grid"><div>{chart}</div><div>{sev_chart}</div></div>{table}'


def _talkers(title: str, rows: list[tuple[bytes, int]], unit: str) -> str:
    """A bar chart and a table of (address, value) rows."""
    if not rows:
        return ""
    chart = bar_chart(
        [(ip_short(addr) or "-", n, DEFAULT_COLOR) for addr, n in rows],
        title=title,
        width=460,
        label_width=180,
    )
    table_rows = [
        f'<tr><td>{_t(ip_short(addr) or "-")}</td><td class="num">{n:,}</td></tr>'
        for addr, n in rows
    ]
    return f"<div><h3>{escape(title)}</h3>{chart}{_table(['address', unit], table_rows)}</div>"


def _group_row(group: Group) -> str:
    sample = group.sample
    proto = PROTO_NAMES.get(sample.proto, str(sample.proto))
    src = ip_short(group.src) or "-"
    dst = ip_short(group.dst) or "-"
    if sample.proto in (6, 17, 132):
        src, dst = f"{src}:{sample.sport}", f"{dst}:{sample.dport}"
    return (
        f'<tr data-count="{group.count}"><td>{_t(src)}</td><td>{_t(dst)}</td>'
        f"<td>{_t(proto)}</td>"
        f'<td class="num">{group.count:,}</td><td>{_t(format_ts(group.first_ts) or "")}</td>'
        f'<td>{_t(format_ts(group.last_ts) or "")}</td>'
        f'<td class="evidence">{_t(evidence_text(sample.evidence)[:400])}</td></tr>'
    )


def _rule_section(stats: RuleStats) -> str:
    rule = stats.rule
    groups = sorted(stats.groups, key=lambda g: (-g.count, g.first_ts))
    rows = [_group_row(g) for g in groups[:GROUP_ROWS]]
    hidden = len(groups) - len(rows)
    more = []
    if hidden > 0:
        more.append(f"{hidden:,} more groups not shown")
    if stats.unlisted:
        more.append(f"{stats.unlisted:,} findings beyond the listed groups (counted above)")
    note = f'<p class="note">{escape("; ".join(more))}.</p>' if more else ""
    mitre = f" · MITRE {_t(', '.join(rule.mitre))}" if rule.mitre else ""
    return (
        f'<section class="rule" data-rule="{_t(rule.id)}" data-sid="{rule.sid}" '
        f'data-count="{stats.count}">'
        f"<h3>{_sev(rule.severity)} {_t(rule.title)}</h3>"
        f"<p><code>{_t(rule.id)}</code> · sid {rule.sid} · "
        f"{_t(CATEGORIES.get(rule.category, rule.category))}{mitre} · "
        f"<b>{stats.count:,}</b> findings in {len(stats.groups):,} groups · first "
        f"{_t(format_ts(stats.first_ts) or '')} · last {_t(format_ts(stats.last_ts) or '')}</p>"
        + _table(
            ["source", "target", "proto", "count", "first seen", "last seen", "evidence"],
            rows,
            "groups",
        )
        + note
        + "</section>"
    )


def _protocols(summary: Summary, apps: AppSummary | None) -> str:
    total = summary.packets or 1
    rows = [
        f'<tr><td>{_t(name)}</td><td class="num">{p:,}</td>'
        f'<td class="num">{100 * p / total:.1f}</td><td class="num">{escape(human_bytes(b))}</td>'
        "</tr>"
        for name, (p, b) in sorted(summary.protocols.items(), key=lambda kv: -kv[1][0])
    ]
    parts = [_table(["protocol", "packets", "%", "bytes"], rows)]
    if apps is not None and apps.flows:
        app_rows = [
            f'<tr><td>{_t(k)}</td><td class="num">{n:,}</td></tr>'
            for k, n in apps.flows.most_common()
        ]
        parts.append(_table(["application protocol", "flows"], app_rows))
    return '<div class="grid">' + "".join(f"<div>{p}</div>" for p in parts) + "</div>"


def render_html(
    summary: Summary,
    aggregate: FindingAggregate,
    *,
    apps: AppSummary | None = None,
    flow_counters: dict[str, int] | None = None,
    decoders: list[str] | None = None,
    rules_loaded: bool = True,
    window: float | None = None,
    generated: dt.datetime | None = None,
) -> str:
    """The whole report as one HTML document (a str)."""
    flows = flow_counters or {}
    when = (generated or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    names = ", ".join(c.name for c in summary.captures) or "-"
    body = [
        f"<header><h1>netsentry report</h1><p>{_t(names)} · generated {escape(when)} by "
        f"netsentry {escape(__version__)}</p></header><main>",
        "<h2>Summary</h2>",
        _summary_cards(summary, aggregate, flows),
    ]
    if not rules_loaded:
        body.append('<p class="note">No detection rules were run (--no-rules).</p>')
    body += ["<h2>Alert timeline</h2>", _timeline(aggregate)]
    if aggregate.total:
        body += ["<h2>Findings by category and severity</h2>", _by_category(aggregate)]
        body += [
            "<h2>Top finding sources and targets</h2><div class=\"grid\">",
            _talkers("Sources", _rows(aggregate.sources.top(TOP, by="packets")), "findings"),
            _talkers("Targets", _rows(aggregate.targets.top(TOP, by="packets")), "findings"),
            "</div>",
        ]
    body += [
        "<h2>Top talkers</h2><div class=\"grid\">",
        _talkers("By bytes", [(a, b) for a, _p, b in summary.talkers.top(TOP)], "bytes"),
        _talkers(
            "By packets",
            [(a, p) for a, p, _b in summary.talkers.top(TOP, by="packets")],
            "packets",
        ),
        "</div>",
    ]
    if aggregate.total:
        grouping = (
            f"Identical findings (same rule, source and destination) less than {window:g} s "
            "apart are shown as one row with a count."
            if window is not None
            else ""
        )
        body += [f"<h2>Findings by rule</h2><p>{escape(grouping)}</p>"]
        body += [_rule_section(s) for s in aggregate.ranked_rules()]
    body += ["<h2>Protocols</h2>", _protocols(summary, apps)]
    body += ["<h2>Capture metadata</h2>", _metadata(summary, flows, decoders or [])]
    if summary.approximate:
        body.append(
            '<p class="note">Talker tables are approximate: rarely-seen entries were dropped '
            "to keep memory bounded.</p>"
        )
    body.append("</main>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>netsentry report: {_t(names)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _rows(top: list[tuple[Any, int, int]]) -> list[tuple[bytes, int]]:
    """(address, findings) from a finding TopTable (which counts findings as packets)."""
    return [(addr, n) for addr, n, _b in top]
