"""``netsentry dga score`` (and the dga notes of ``rules explain``) through CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from netsentry.cli import app
from netsentry.dga import default_scorer
from netsentry.dgamodel import FEATURES

CLEAN_ENV: dict[str, str | None] = {
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "TTY_INTERACTIVE": None,
    "COLUMNS": "200",
}
DGA_NAME = "xkqjzvbwpltm.com"


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner(env=CLEAN_ENV).invoke(app, list(args), input=stdin)


def test_score_shows_the_score_and_every_feature() -> None:
    result = invoke("dga", "score", DGA_NAME)
    assert result.exit_code == 0, result.output
    score = default_scorer().score(DGA_NAME)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{DGA_NAME}  score {score:.3f}, above the 0.1% false-positive")
    assert lines[1].startswith(f"scored: label 'xkqjzvbwpltm' of {DGA_NAME}; log-odds +")
    for feature, meaning in FEATURES.items():
        assert any(feature in line and meaning[:30] in line for line in lines), feature


def test_score_says_why_a_name_is_not_scored() -> None:
    result = invoke("dga", "score", "googleapis.com", "printer.local")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "googleapis.com  score 0 (not scored: allowlisted (googleapis.com))",
        "printer.local  score 0 (not scored: local or reverse-lookup name (.local))",
    ]


def test_no_allowlist_shows_the_models_own_view() -> None:
    result = invoke("dga", "score", "--brief", "--no-allowlist", "hzmklvdieo.com")
    assert result.exit_code == 0
    assert float(result.stdout.split()[0]) > 0.5  # a real top-10k domain the model dislikes


def test_json_lines_and_stdin() -> None:
    result = invoke("dga", "score", "--json", "-", stdin=f"# comment\n{DGA_NAME}\n\nbro.org\n")
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["name"] for d in docs] == [DGA_NAME, "bro.org"]
    first = docs[0]
    assert first["registrable"] == DGA_NAME and first["label"] == "xkqjzvbwpltm"
    assert first["score"] == round(default_scorer().score(DGA_NAME), 6)
    assert list(first["features"]) == list(FEATURES)
    total = first["bias"] + sum(f["contribution"] for f in first["features"].values())
    assert abs(total - first["log_odds"]) < 1e-4


def test_brief_output_escapes_hostile_names() -> None:
    result = invoke("dga", "score", "--brief", "evil\x1b[31m.com", "[bold]x[/bold].com")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    assert "evil\\x1b[31m.com" in result.stdout
    assert "[bold]x[/bold].com" in result.stdout


def test_bad_model_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.json"
    bad.write_text("{}", encoding="utf-8")
    result = invoke("dga", "score", "--model", str(bad), DGA_NAME)
    assert result.exit_code == 2
    assert "error: model: expected a version 1 DGA model document" in result.stderr


def test_rules_explain_shows_example_scores() -> None:
    result = invoke("rules", "explain", "dga-name")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("example (")]
    first = "example (must match): 3439ur09dhiolh32ljha.net (score 1.000; most: "
    assert lines[0].startswith(first)
    assert "example (must not match): googleapis.com (not scored: allowlisted)" in lines
