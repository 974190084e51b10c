"""``netsentry rules``: list, validate, explain and test detection rules, and list fields.

Thin like :mod:`netsentry.cli`: loading, validation and example runs live in
:mod:`netsentry.ruleload` and :mod:`netsentry.ruletest`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from netsentry.cli_dga import dga_note
from netsentry.detectors import Detection
from netsentry.errors import ExitCode
from netsentry.fields import FIELDS
from netsentry.report import safe_text
from netsentry.ruleload import RuleFileError, load_rules
from netsentry.rules import (
    CATEGORIES,
    RULE_KINDS,
    Condition,
    DgaRule,
    IntelRule,
    MatchRule,
    Rule,
    RuleSet,
    ThresholdRule,
)
from netsentry.ruletest import rules_without_examples, run_examples, untested_rules
from netsentry.sig.model import SignatureRule

rules_app = typer.Typer(
    help="List, validate, explain and test detection rules.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

FilesOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules",
        "-r",
        metavar="FILE",
        help="Rule file (repeatable; default: the packaged rules.yaml).",
    ),
]


def _out() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_rule_errors(exc: RuleFileError, suffix: str = "") -> None:
    """Every problem of invalid rule files on stderr, then a one-line total."""
    err = _err()
    for line in exc.errors:
        err.print(safe_text(line), style="red")
    err.print(safe_text(f"error: {len(exc.errors)} problem(s) in rule files{suffix}"))


def _load(files: list[Path] | None) -> RuleSet:
    try:
        return load_rules(files or None)
    except RuleFileError as exc:
        print_rule_errors(exc)
        raise typer.Exit(int(ExitCode.USAGE)) from None


def _main_field(rule: Rule) -> str:
    if isinstance(rule, ThresholdRule):
        return rule.field or rule.distinct or (rule.where[0].field if rule.where else rule.record)
    if isinstance(rule, MatchRule):
        return rule.field or (rule.where[0].field if rule.where else "")
    if isinstance(rule, IntelRule):
        return ", ".join(rule.fields)
    if isinstance(rule, DgaRule):
        return rule.field
    if isinstance(rule, SignatureRule):
        # The buffers a signature inspects, in rule order without repeats.
        return ", ".join(dict.fromkeys(item.buffer for item in rule.detect))
    return ""


@rules_app.command("list")
def list_rules(files: FilesOption = None) -> None:
    """Show every rule: id, sid, kind, category, severity, field."""
    ruleset = _load(files)
    table = Table(
        title=f"{len(ruleset.rules)} rules from {', '.join(ruleset.files)}", title_justify="left"
    )
    for column in ("id", "sid", "kind", "category", "severity", "field"):
        table.add_column(column, justify="right" if column == "sid" else "left")
    for rule in ruleset.rules:
        table.add_row(
            safe_text(rule.id + ("" if rule.enabled else " (disabled)")),
            str(rule.sid),
            rule.kind,
            safe_text(rule.category),
            safe_text(rule.severity),
            safe_text(_main_field(rule)),
        )
    _out().print(table)


@rules_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Rule files to check.")],
) -> None:
    """Check rule files; print every problem as path:line:col and exit 2 if any."""
    ruleset = _load(files)
    try:
        Detection(ruleset)  # compiles every pattern set as analyze will (Hyperscan)
    except RuleFileError as exc:
        print_rule_errors(exc)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    _out().print(f"ok: {len(ruleset.rules)} rules in {len(files)} file(s)")


@rules_app.command("explain")
def explain(
    rule_id: Annotated[str, typer.Argument(metavar="ID", help="Rule id.")],
    files: FilesOption = None,
) -> None:
    """Show a rule, what its keys and fields mean, and its examples."""
    ruleset = _load(files)
    rule = ruleset.by_id(rule_id)
    if rule is None:
        _err().print(safe_text(f"error: no rule with id '{rule_id}'"), style="red")
        raise typer.Exit(int(ExitCode.USAGE))
    out = _out()
    head = Text(f"{rule.id}", style="bold")
    label = CATEGORIES[rule.category]
    head.append(f"  sid {rule.sid}  {rule.kind}  {rule.category} ({label})  {rule.severity}")
    out.print(head)
    out.print(safe_text(rule.title))
    if rule.description:
        out.print(safe_text(rule.description))
    if rule.origin is not None:
        out.print(safe_text(f"defined at {rule.origin}"), style="dim")
    table = Table(title="keys", title_justify="left")
    table.add_column("key")
    # fold, not the default ellipsis: a regex or URL cut to "union(\s|/\*.{0,40}?\*/|\+|…"
    # hides exactly what the reader came to see
    table.add_column("value", overflow="fold")
    table.add_column("meaning")
    cls = RULE_KINDS[rule.kind]
    docs = {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}
    for key, value in rule.keys().items():
        shown = _show(value)
        if key == "examples" or not shown:  # also an empty allowlist: Allowlist() shows ""
            continue
        table.add_row(key, safe_text(shown), safe_text(docs.get(key, "")))
    out.print(table)
    fields = (
        [_main_field(rule)]
        if isinstance(rule, (MatchRule, ThresholdRule, DgaRule))
        else list(getattr(rule, "fields", ()))
    )
    fields += [c.field for c in getattr(rule, "where", ())]
    for name in dict.fromkeys(f for f in fields if f in FIELDS):
        spec = FIELDS[name]
        out.print(safe_text(f"field {name} ({spec.record}, {spec.type}): {spec.doc}"))
    for title, items in (
        ("must match", rule.examples.match),
        ("must not match", rule.examples.no_match),
    ):
        for item in items:
            out.print(safe_text(f"example ({title}): {item}{dga_note(rule, item)}"))


def _show(value: object) -> str:
    # 'where' read "field=auth.service, op=eq, value=ftp, field=auth.result, ..." and an
    # allowlist "cidrs=('10.0.0.0/8',)": conditions are shown as written in a rule instead.
    if isinstance(value, Condition):
        shown = value.value
        text = f"[{', '.join(map(str, shown))}]" if isinstance(shown, tuple) else str(shown)
        return f"{value.field} {value.op} {text}"
    if isinstance(value, tuple):
        sep = "; " if any(isinstance(v, Condition) for v in value) else ", "
        return sep.join(_show(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = {
            f.name: getattr(value, f.name)
            for f in dataclasses.fields(value)
            if getattr(value, f.name) not in ((), "", None) and f.name != "pos"
        }
        return "; ".join(f"{k}: {_show(v)}" for k, v in parts.items())
    return str(value)


@rules_app.command("test")
def test_rules(
    files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[FILE...]", help="Rule files (default: the packaged rules.yaml)."),
    ] = None,
) -> None:
    """Run every rule's examples; exit 1 if one fails or a rule has no example."""
    ruleset = _load(files)
    results = run_examples(ruleset)
    out = _out()
    failures = [r for r in results if not r.ok]
    for result in failures:
        want = "match" if result.expected else "not match"
        why = f" ({result.reason})" if result.reason else ""
        out.print(
            safe_text(f"FAIL {result.rule.id}: {result.example!r} should {want}{why}"), style="red"
        )
    missing = rules_without_examples(ruleset)
    for rule in missing:
        out.print(safe_text(f"FAIL {rule.id}: no 'examples: match:' given"), style="red")
    untested = untested_rules(ruleset)
    if untested:
        out.print(
            f"{len(untested)} imported signature(s) carry no examples: not tested here "
            "(Suricata rules are checked against pcaps)",
            style="yellow",
        )
    passed = len(results) - len(failures)
    out.print(f"{passed} passed, {len(failures) + len(missing)} failed")
    if failures or missing:
        raise typer.Exit(int(ExitCode.FINDINGS))


@rules_app.command("fields")
def list_fields() -> None:
    """Every field a rule can name, its record type and meaning."""
    table = Table(title=f"{len(FIELDS)} fields", title_justify="left")
    for column in ("field", "record", "type", "meaning"):
        table.add_column(column)
    for spec in FIELDS.values():
        table.add_row(spec.name, spec.record, spec.type, spec.doc)
    _out().print(table)
