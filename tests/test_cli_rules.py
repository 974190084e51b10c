"""``netsentry rules list|validate|explain|test|fields`` through Typer's CliRunner."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from netsentry.cli import app
from netsentry.fields import FIELDS
from netsentry.ruleload import load_rules

CLEAN_ENV: dict[str, str | None] = {
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "TTY_INTERACTIVE": None,
    "COLUMNS": "200",
}

GOOD = """\
rules:
  - id: traversal
    sid: 1
    title: Directory traversal [bold]in[/bold] the URI
    category: directory-traversal
    severity: high
    field: http.uri
    content: '../'
    references: ["https://example.com/a/very/long/reference/that/must/not/be/cut/short"]
    examples:
      match: ["/a/../../etc/passwd"]
      no_match: ["/a/b"]
  - id: ftp-brute
    sid: 2
    title: FTP brute force
    category: brute-force
    severity: medium
    kind: threshold
    record: auth
    where: {auth.service: ftp, auth.result: failure}
    track: by_src
    count: 5
    seconds: 60
    enabled: false
    examples:
      match: [{auth.service: ftp, auth.result: failure}]
"""

BAD = """\
rules:
  - id: port-scan
    sid: 1
    title: t
    category: port-scan
    sevrity: high
  - id: x
    sid: 2
    title: t
    category: xss
    severity: high
    field: http.uri
    regex: 'a(b'
"""

FAILING = """\
rules:
  - id: traversal
    sid: 1
    title: t
    category: directory-traversal
    severity: high
    field: http.uri
    content: '../'
    examples:
      match: ["/a/../b", "/a/..%2fb"]
      no_match: ["/a/../c"]
  - id: undocumented
    sid: 2
    title: t
    category: exploit
    severity: low
    field: http.uri
    content: x
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    for name, text in (("good.yaml", GOOD), ("bad.yaml", BAD), ("failing.yaml", FAILING)):
        Path(name).write_text(textwrap.dedent(text), encoding="utf-8")
    yield


def invoke(*args: str) -> Result:
    return CliRunner(env=CLEAN_ENV).invoke(app, list(args))


# -- validate ---------------------------------------------------------------------------------


def test_validate_ok() -> None:
    result = invoke("rules", "validate", "good.yaml")
    assert result.exit_code == 0
    assert result.stdout == "ok: 2 rules in 1 file(s)\n"
    assert result.stderr == ""


def test_validate_several_files() -> None:
    Path("more.yaml").write_text(
        GOOD.replace("id: traversal", "id: other")
        .replace("sid: 1\n", "sid: 11\n")
        .replace("id: ftp-brute", "id: ftp-2")
        .replace("sid: 2\n", "sid: 12\n"),
        encoding="utf-8",
    )
    result = invoke("rules", "validate", "good.yaml", "more.yaml")
    assert result.exit_code == 0
    assert result.stdout == "ok: 4 rules in 2 file(s)\n"


def test_validate_invalid_prints_every_error_on_stderr_and_exits_2() -> None:
    result = invoke("rules", "validate", "bad.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "bad.yaml:6:5: rule 'port-scan': unknown key 'sevrity' (did you mean 'severity'?)",
        "bad.yaml:2:5: rule 'port-scan': missing required key 'severity'",
        "bad.yaml:13:12: rule 'x': invalid regex: missing ): a(b (netsentry uses RE2/Hyperscan "
        "syntax: no backreferences or lookaround)",
        "error: 3 problem(s) in rule files",
    ]


def test_validate_missing_file_and_duplicates_across_files() -> None:
    result = invoke("rules", "validate", "good.yaml", "good.yaml", "nope.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "good.yaml:2:9: rule 'traversal': duplicate id (first defined at good.yaml:2:5)",
        "good.yaml:3:10: rule 'traversal': duplicate sid 1 (also rule 'traversal' at "
        "good.yaml:2:5)",
        "good.yaml:13:9: rule 'ftp-brute': duplicate id (first defined at good.yaml:13:5)",
        "good.yaml:14:10: rule 'ftp-brute': duplicate sid 2 (also rule 'ftp-brute' at "
        "good.yaml:13:5)",
        "nope.yaml: no such file",
        "error: 5 problem(s) in rule files",
    ]


def test_validate_needs_a_file() -> None:
    result = invoke("rules", "validate")
    assert result.exit_code == 2
    assert "Missing argument 'FILE...'" in result.stderr


def test_rule_text_is_never_read_as_markup() -> None:
    Path("markup.yaml").write_text(BAD.replace("sevrity", "'[red]sevrity[/red]'"), encoding="utf-8")
    result = invoke("rules", "validate", "markup.yaml")
    assert result.exit_code == 2
    assert "unknown key '[red]sevrity[/red]'" in result.stderr


# -- list ------------------------------------------------------------------------------------------


def test_list_shows_every_rule() -> None:
    result = invoke("rules", "list", "--rules", "good.yaml")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].rstrip() == "2 rules from good.yaml"
    rows = [line for line in lines if line.startswith("│")]
    assert [r.split("│")[1].strip() for r in rows] == ["traversal", "ftp-brute (disabled)"]
    assert [r.split("│")[6].strip() for r in rows] == ["http.uri", "auth.service"]
    assert "threshold" in rows[1] and "brute-force" in rows[1]


def test_list_default_rules() -> None:
    result = invoke("rules", "list")
    assert result.exit_code == 0
    count = len(load_rules().rules)
    assert result.stdout.splitlines()[0].startswith(f"{count} rules from ")
    assert "sqli-union-select" in result.stdout


def test_list_invalid_file_exits_2() -> None:
    result = invoke("rules", "list", "-r", "bad.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "error: 3 problem(s) in rule files"


# -- explain ---------------------------------------------------------------------------------------


def test_explain_a_rule() -> None:
    result = invoke("rules", "explain", "traversal", "--rules", "good.yaml")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "traversal  sid 1  match  directory-traversal (Directory Traversal)  high",
        "Directory traversal [bold]in[/bold] the URI",  # rule text is not markup
        "defined at good.yaml:2:5",
    ]
    assert "field http.uri (http, str): request target percent-decoded once" in result.stdout
    assert "example (must match): /a/../../etc/passwd" in lines
    assert "example (must not match): /a/b" in lines
    assert "https://example.com/a/very/long/reference/that/must/not/be/cut/short" in (
        result.stdout.replace("│", "").replace(" ", "").replace("\n", "")
    )
    keys = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    assert [k for k in keys if k] == [
        "id",
        "sid",
        "title",
        "category",
        "severity",
        "kind",
        "rev",
        "references",
        "enabled",
        "field",
        "content",
        "nocase",
        "once_per_flow",
    ]


def test_explain_threshold_rule_shows_where_and_window() -> None:
    result = invoke("rules", "explain", "ftp-brute", "-r", "good.yaml")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == (
        "ftp-brute  sid 2  threshold  brute-force (Brute Force)  medium"
    )
    rows = {
        cells[1].strip(): cells[2].strip()
        for line in result.stdout.splitlines()
        if line.startswith("│") and (cells := line.split("│"))[1].strip()
    }
    assert rows["where"] == "auth.service eq ftp; auth.result eq failure"
    assert (rows["record"], rows["track"], rows["count"], rows["seconds"]) == (
        "auth",
        "by_src",
        "5",
        "60.0",
    )
    assert rows["enabled"] == "False"
    assert "allowlist" not in rows  # empty: not shown
    assert "field auth.service (auth, str): ftp, smtp, pop3, imap, telnet, http, ssh" in (
        result.stdout.splitlines()
    )
    assert "example (must match): {'auth.service': 'ftp', 'auth.result': 'failure'}" in (
        result.stdout.splitlines()
    )


def test_explain_shows_conditions_and_allowlists_as_written() -> None:
    Path("where.yaml").write_text(
        "rules:\n  - id: a\n    sid: 1\n    title: t\n    category: xss\n    severity: low\n"
        "    where: {dest_port: [80, 443], src_ip: {not_cidr: [10.0.0.0/8]}}\n"
        "    allowlist: {cidrs: [10.0.0.0/8, 192.0.2.1], domains: [A.example.]}\n",
        encoding="utf-8",
    )
    result = invoke("rules", "explain", "a", "-r", "where.yaml")
    assert result.exit_code == 0
    rows = {
        cells[1].strip(): cells[2].strip()
        for line in result.stdout.splitlines()
        if line.startswith("│") and (cells := line.split("│"))[1].strip()
    }
    assert rows["where"] == "dest_port in [80, 443]; src_ip not_cidr [10.0.0.0/8]"
    assert rows["allowlist"] == "cidrs: 10.0.0.0/8, 192.0.2.1/32; domains: a.example"


def test_explain_unknown_id_exits_2() -> None:
    result = invoke("rules", "explain", "nope", "--rules", "good.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "error: no rule with id 'nope'\n"


def test_explain_default_rule() -> None:
    result = invoke("rules", "explain", "sqli-union-select")
    assert result.exit_code == 0
    assert result.stdout.startswith("sqli-union-select  sid ")


# -- test ------------------------------------------------------------------------------------------


def test_test_passing_examples() -> None:
    result = invoke("rules", "test", "good.yaml")
    assert result.exit_code == 0
    assert result.stdout == "3 passed, 0 failed\n"


def test_test_failing_example_and_missing_examples_exit_1() -> None:
    result = invoke("rules", "test", "failing.yaml")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "FAIL traversal: '/a/..%2fb' should match",
        "FAIL traversal: '/a/../c' should not match",
        "FAIL undocumented: no 'examples: match:' given",
        "1 passed, 3 failed",
    ]


def test_test_default_rules_pass() -> None:
    result = invoke("rules", "test")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.endswith(" passed, 0 failed\n")


def test_test_invalid_rules_exit_2() -> None:
    result = invoke("rules", "test", "bad.yaml")
    assert result.exit_code == 2
    assert "error: 3 problem(s) in rule files" in result.stderr


# -- fields ----------------------------------------------------------------------------------------


def test_fields_lists_every_field() -> None:
    result = invoke("rules", "fields")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].rstrip() == f"{len(FIELDS)} fields"
    names = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    assert [n for n in names if n] == list(FIELDS)


def test_rules_without_a_command_shows_help() -> None:
    result = invoke("rules")
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: netsentry rules [OPTIONS] COMMAND [ARGS]...")
    for command in ("list", "validate", "explain", "test", "fields"):
        assert f"\n  {command} " in result.stderr
