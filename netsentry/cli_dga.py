"""``netsentry dga score``: a name's DGA score and what made it, for analysts.

Thin like :mod:`netsentry.cli`: scoring and explanations live in :mod:`netsentry.dga`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from netsentry.dga import DgaScorer, Explanation, default_scorer
from netsentry.dgamodel import FEATURES, ModelError, load_allowlist, load_model
from netsentry.errors import ExitCode
from netsentry.report import safe_text
from netsentry.rules import DgaRule, Rule

dga_app = typer.Typer(
    help="Score domain names with the offline DGA model.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

MAX_NAMES_FROM_STDIN = 1_000_000  # lines read from '-' (each line one name)
MAX_NAME_LENGTH = 1024  # characters of a name shown or scored; longer input is cut


def _out() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _names(arguments: list[str]) -> list[str]:
    names: list[str] = []
    for argument in arguments:
        if argument != "-":
            names.append(argument[:MAX_NAME_LENGTH])
            continue
        for count, line in enumerate(sys.stdin):
            if count >= MAX_NAMES_FROM_STDIN:
                break
            line = line.strip()
            if line and not line.startswith("#"):
                names.append(line[:MAX_NAME_LENGTH])
    return names


def _verdict(score: float, thresholds: dict[str, float]) -> str:
    strict = thresholds.get("fpr_0.1pct")
    loose = thresholds.get("fpr_1pct")
    if strict is not None and score >= strict:
        return f"above the 0.1% false-positive point ({strict:.3f})"
    if loose is not None and score >= loose:
        return f"above the 1% false-positive point ({loose:.3f})"
    return "below the 1% false-positive point" + (f" ({loose:.3f})" if loose is not None else "")


def as_json(explanation: Explanation) -> dict[str, Any]:
    """One explanation as a JSON-ready mapping (``--json``)."""
    target = explanation.target
    return {
        "name": target.name,
        "registrable": target.registrable or None,
        "label": target.label or None,
        "score": round(explanation.score, 6),
        "skipped": target.skipped or None,
        "allowlisted": target.allowlisted or None,
        "log_odds": round(explanation.log_odds, 6) if target.label else None,
        "bias": round(explanation.bias, 6),
        "features": {
            feature: {"value": round(value, 6), "contribution": round(part, 6)}
            for feature, value, part in explanation.contributions
        },
    }


def _print(console: Console, explanation: Explanation, thresholds: dict[str, float]) -> None:
    target = explanation.target
    head = safe_text(target.name, style="bold")
    if not target.label:
        why = target.skipped + (f" ({target.allowlisted})" if target.allowlisted else "")
        head.append_text(safe_text(f"  score 0 (not scored: {why})"))
        console.print(head)
        return
    head.append(f"  score {explanation.score:.3f}, {_verdict(explanation.score, thresholds)}")
    console.print(head)
    console.print(
        safe_text(
            f"scored: label '{target.label}' of {target.registrable};"
            f" log-odds {explanation.log_odds:+.2f} = bias {explanation.bias:+.2f}"
            " + the contributions below (each feature against the training average)"
        )
    )
    table = Table(show_edge=False)
    for column, justify in (
        ("feature", "left"),
        ("value", "right"),
        ("contribution", "right"),
        ("meaning", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    ordered = sorted(explanation.contributions, key=lambda p: abs(p[2]), reverse=True)
    for feature, value, part in ordered:
        style = "red" if part > 0.05 else "green" if part < -0.05 else ""
        table.add_row(feature, f"{value:.3f}", Text(f"{part:+.2f}", style=style), FEATURES[feature])
    console.print(table)


@dga_app.command("score")
def score(
    names: Annotated[
        list[str],
        typer.Argument(metavar="NAME...", help="Domain names; '-' reads one per line from stdin."),
    ],
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object per name instead of tables.")
    ] = False,
    brief: Annotated[
        bool, typer.Option("--brief", help="One line per name: score and name.")
    ] = False,
    no_allowlist: Annotated[
        bool,
        typer.Option("--no-allowlist", help="Score allowlisted names too (the model's view)."),
    ] = False,
    model_file: Annotated[
        Path | None,
        typer.Option("--model", metavar="FILE", help="Model file (default: the packaged one)."),
    ] = None,
) -> None:
    """Show each name's DGA score (0..1) and every feature's share of it."""
    try:
        model = load_model(model_file)
        scorer = DgaScorer(model, None if no_allowlist else load_allowlist())
    except ModelError as exc:
        Console(stderr=True, highlight=False).print(safe_text(f"error: {exc}"), style="red")
        raise typer.Exit(int(ExitCode.USAGE)) from None
    console = _out()
    for name in _names(names):
        explanation = scorer.explain(name)
        if json_lines:
            sys.stdout.write(json.dumps(as_json(explanation)) + "\n")
        elif brief:
            console.print(safe_text(f"{explanation.score:.3f}  {explanation.target.name}"))
        else:
            _print(console, explanation, model.thresholds)


def dga_note(rule: Rule, example: Any) -> str:
    """For ``rules explain``: a dga rule example's score (empty for other rules)."""
    if not isinstance(rule, DgaRule):
        return ""
    name = example.get(rule.field) if isinstance(example, dict) else example
    if not isinstance(name, str):
        return ""
    explanation = default_scorer().explain(name)
    if not explanation.target.label:
        return f" (not scored: {explanation.target.skipped})"
    top = sorted(explanation.contributions, key=lambda p: p[2], reverse=True)[:2]
    reasons = ", ".join(f"{feature} {part:+.2f}" for feature, _, part in top)
    return f" (score {explanation.score:.3f}; most: {reasons})"
