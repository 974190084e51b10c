"""``netsentry rules import`` and the ``analyze --suricata-rules`` helpers.

Thin: parsing, translation and reporting live in :mod:`netsentry.sig`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from netsentry.errors import ExitCode, UsageError
from netsentry.intel import IntelSet
from netsentry.report import safe_text
from netsentry.rules import RuleSet
from netsentry.sig.importer import ImportResult, load_rules_bytes, load_rules_paths
from netsentry.sig.parse import RuleSyntaxError
from netsentry.sig.reputation import load_reputation
from netsentry.sig.yamlform import to_yaml

YAML_HEADER = (
    "# Imported by `netsentry rules import` from Suricata/Snort rules (kind: signature).\n"
    "# Keep the source's licence (ET Open: BSD, see its headers) with derived rules.\n"
)

VarOption = Annotated[
    list[str] | None,
    typer.Option(
        "--var",
        metavar="NAME=VALUE",
        help="Set a Suricata rule variable, e.g. HOME_NET=[10.0.0.0/8] (repeatable; "
        "defaults are Suricata's).",
    ),
]


IprepOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--iprep",
        metavar="FILE",
        help="Suricata IP reputation list (ip-or-cidr,category,score lines) for 'iprep' "
        "rules (repeatable; needs --iprep-categories).",
    ),
]
IprepCategoriesOption = Annotated[
    Path | None,
    typer.Option(
        "--iprep-categories",
        metavar="FILE",
        help="Suricata reputation categories file (id,short-name,description lines).",
    ),
]


def with_reputation(
    intel: IntelSet | None, categories: Path | None, lists: list[Path] | None
) -> IntelSet | None:
    """The indicator sets plus Suricata reputation lists (for iprep rules), if given."""
    if not lists and categories is None:
        return intel
    if categories is None or not lists:
        raise UsageError("--iprep and --iprep-categories go together")
    try:
        return load_reputation(categories, list(lists), into=intel)
    except OSError as exc:
        raise UsageError(f"cannot read reputation files: {exc.strerror or exc}") from None


def parse_vars(items: list[str] | None) -> dict[str, str]:
    """``NAME=VALUE`` options (a leading ``$`` on the name is allowed)."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        name = name.strip().lstrip("$")
        if not sep or not name or not value.strip():
            raise UsageError(f"--var {item!r}: expected NAME=VALUE")
        out[name] = value.strip()
    return out


def import_paths(paths: list[Path], variables: dict[str, str]) -> ImportResult:
    """Import Suricata rule files/folders; usage errors for missing paths or bad archives."""
    try:
        return load_rules_paths(paths, variables)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot read rules: {exc.strerror or exc}") from None
    except RuleSyntaxError as exc:
        raise UsageError(str(exc)) from None


def summary_line(result: ImportResult) -> str:
    """``6274 of 6489 active Suricata rules imported (96.7%), 215 skipped ...``."""
    top = ", ".join(f"{k} {v}" for k, v in result.reasons().most_common(5))
    text = (
        f"{len(result.rules)} of {result.active} active Suricata rules imported "
        f"({result.ratio * 100:.1f}%), {len(result.skipped)} skipped"
    )
    if result.disabled:
        text += f", {result.disabled} commented out"
    if top:
        text += f"; top skip reasons: {top}"
    return text


def with_suricata_rules(
    ruleset: RuleSet | None,
    paths: list[Path],
    variables: dict[str, str],
    quiet: bool,
    feed_bodies: Sequence[tuple[str, bytes]] = (),
) -> RuleSet | None:
    """The rule set plus the imported Suricata rules (sids already present are skipped).

    ``feed_bodies`` are (feed name, body) of rule feeds kept by ``update-intel``.
    """
    if not paths and not feed_bodies:
        return ruleset
    result = import_paths(paths, variables) if paths else ImportResult()
    for name, body in feed_bodies:
        try:
            result.merge(load_rules_bytes(body, f"feed:{name}", variables))
        except RuleSyntaxError as exc:  # update-intel checked it; the cache file was damaged
            raise UsageError(f"rule feed '{name}': {exc}; run `netsentry update-intel`") from None
    base = ruleset if ruleset is not None else RuleSet([])
    taken = {r.sid for r in base.rules}
    ids = {r.id for r in base.rules}
    extra = [r for r in result.rules if r.sid not in taken and r.id not in ids]
    if not quiet:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(safe_text("suricata rules: " + summary_line(result)), style="yellow")
        clashes = len(result.rules) - len(extra)
        if clashes:
            err.print(
                safe_text(f"suricata rules: {clashes} not run: their sid is a netsentry rule's"),
                style="yellow",
            )
    return RuleSet(base.rules + list(extra), base.allowlist, base.files + result.files)


def import_command(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="PATH...", help="Suricata .rules files or folders of them."),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the YAML rules to FILE."),
    ] = None,
    report: Annotated[
        bool,
        typer.Option(
            "--report", help="List every skipped rule (file:line, sid, reason) instead of YAML."
        ),
    ] = False,
    variables: VarOption = None,
) -> None:
    """Translate Suricata/Snort rules into netsentry YAML (kind: signature) for editing."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        result = import_paths(paths, parse_vars(variables))
    except UsageError as exc:
        err.print(safe_text(f"error: {exc}"), style="bold red")
        raise typer.Exit(int(ExitCode.USAGE)) from None
    if report:
        out = Console(highlight=False, soft_wrap=True)
        for skip in result.skipped:
            out.print(safe_text(str(skip)))
        out.print(safe_text(summary_line(result)))
        reasons = result.reasons().most_common()
        if reasons:
            out.print("skip reasons (keyword: rules):")
            for reason, count in reasons:
                out.print(safe_text(f"  {reason}: {count}"))
        return
    text = to_yaml(result.rules, YAML_HEADER)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            err.print(safe_text(f"error: {output}: cannot write ({exc.strerror or exc})"))
            raise typer.Exit(int(ExitCode.USAGE)) from None
    err.print(safe_text(summary_line(result)))


def register(app: typer.Typer) -> None:
    """Add ``import`` to the ``netsentry rules`` command group."""
    app.command("import")(import_command)
