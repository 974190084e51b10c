"""Rule files: every problem reported verbatim as path:line:col, all in one RuleFileError."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from netsentry.errors import ExitCode, UsageError
from netsentry.ruleload import RuleFileError, default_rules_path, load_rules, parse_overrides
from netsentry.rules import (
    Allowlist,
    Condition,
    Examples,
    IntelRule,
    MatchRule,
    ThresholdRule,
)
from netsentry.yamlfile import Position

# A valid match rule (7 lines) to build files from; keys are indented for a list item.
MATCH = """\
  - id: {id}
    sid: {sid}
    title: t
    category: sql-injection
    severity: high
    field: http.uri
    content: x
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rule files are written in, and named relative to, a temporary directory."""
    monkeypatch.chdir(tmp_path)
    yield


def write(name: str, text: str) -> str:
    Path(name).write_text(textwrap.dedent(text), encoding="utf-8")
    return name


def errors(*texts: str, overrides: tuple[str, ...] = ()) -> list[str]:
    """Load rules.yaml (and more.yaml, ...) made of ``texts``; return the error lines."""
    names = ["rules.yaml", "more.yaml", "third.yaml"][: len(texts)]
    for name, text in zip(names, texts, strict=False):
        write(name, text)
    with pytest.raises(RuleFileError) as info:
        load_rules(names, overrides)
    return info.value.errors


# -- valid files ---------------------------------------------------------------------------


def test_valid_file_builds_frozen_rule_dataclasses() -> None:
    write(
        "rules.yaml",
        """\
        version: 1
        allowlist:
          cidrs: [192.0.2.0/24, 2001:db8::1]
          domains: [Example.COM., "*.corp.local"]
        rules:
          - id: sqli-x
            sid: 1000001
            title: SQL injection
            category: sql-injection
            severity: high
            field: http.uri
            regex: 'union\\s+select'
            nocase: true
            transforms: [url_decode, to_lowercase]
            mitre: T1190
            references: [CVE-2021-44228, 42]
            where:
              http.method: GET
              dest_port: [80, 8080]
              src_ip: {not_cidr: 10.0.0.0/8}
            examples:
              match: ["/a?x=1 union select"]
              no_match: [{http.uri: "/a", http.method: GET}]
          - id: ftp-brute
            sid: 1000002
            title: FTP brute force
            category: brute-force
            severity: medium
            kind: threshold
            record: auth
            where: {auth.result: failure}
            track: by_src
            count: 5
            seconds: 60
          - id: bad-ip
            sid: 1000003
            title: listed address
            category: threat-intel
            severity: critical
            kind: intel
            fields: [src_ip, dest_ip]
            enabled: false
        """,
    )
    ruleset = load_rules(["rules.yaml"])
    assert ruleset.files == ["rules.yaml"]
    assert ruleset.allowlist == Allowlist(
        ("192.0.2.0/24", "2001:db8::1/128"), ("example.com", "corp.local")
    )
    match, threshold, intel = ruleset.rules
    assert isinstance(match, MatchRule)
    assert match.id == "sqli-x" and match.sid == 1000001 and match.kind == "match"
    assert match.regex == "union\\s+select" and match.nocase is True
    assert match.transforms == ("url_decode", "to_lowercase")
    assert match.mitre == ("T1190",)  # a single string is a one-item list
    assert match.references == ("CVE-2021-44228", "42")
    assert match.where == (
        Condition("http.method", "eq", "GET", Position("rules.yaml", 18, 7)),
        Condition("dest_port", "in", (80, 8080), Position("rules.yaml", 19, 7)),
        Condition("src_ip", "not_cidr", ("10.0.0.0/8",), Position("rules.yaml", 20, 16)),
    )
    assert match.examples == Examples(
        ("/a?x=1 union select",), ({"http.uri": "/a", "http.method": "GET"},)
    )
    assert match.origin == Position("rules.yaml", 6, 5)
    assert isinstance(threshold, ThresholdRule)
    assert (threshold.track, threshold.count, threshold.seconds) == ("by_src", 5, 60.0)
    assert isinstance(threshold.seconds, float)
    assert isinstance(intel, IntelRule)
    assert intel.fields == ("src_ip", "dest_ip") and intel.enabled is False
    assert ruleset.by_id("ftp-brute") is threshold
    assert ruleset.by_id("nope") is None


def test_top_level_list_of_rules_is_accepted() -> None:
    write("rules.yaml", MATCH.format(id="a", sid=1))
    assert [r.id for r in load_rules(["rules.yaml"]).rules] == ["a"]


def test_empty_file_loads_no_rules() -> None:
    write("empty.yaml", "")
    write("comments.yaml", "# only a comment\n")
    ruleset = load_rules(["empty.yaml", "comments.yaml"])
    assert ruleset.rules == []
    assert ruleset.files == ["empty.yaml", "comments.yaml"]


def test_file_without_rules_key_loads_no_rules() -> None:
    write("rules.yaml", "version: 1\nallowlist: {domains: [a.example]}\n")
    ruleset = load_rules(["rules.yaml"])
    assert ruleset.rules == []
    assert ruleset.allowlist.domains == ("a.example",)


def test_default_rules_load_with_unique_ids_and_sids() -> None:
    ruleset = load_rules()
    assert ruleset.files == [str(default_rules_path())]
    assert len(ruleset.rules) >= 50
    assert len({r.id for r in ruleset.rules}) == len(ruleset.rules)
    assert len({r.sid for r in ruleset.rules}) == len(ruleset.rules)
    assert all(r.origin is not None and r.origin.path == ruleset.files[0] for r in ruleset.rules)


def test_several_files_are_merged_in_order() -> None:
    write("a.yaml", "rules:\n" + MATCH.format(id="one", sid=1))
    write("b.yaml", "allowlist: {cidrs: [10.0.0.0/8]}\nrules:\n" + MATCH.format(id="two", sid=2))
    ruleset = load_rules(["a.yaml", Path("b.yaml")])
    assert [r.id for r in ruleset.rules] == ["one", "two"]
    assert ruleset.files == ["a.yaml", "b.yaml"]
    assert ruleset.allowlist.cidrs == ("10.0.0.0/8",)


# -- errors: exact messages ----------------------------------------------------------------


def test_unknown_key_with_did_you_mean() -> None:
    text = "\n" * 10 + "version: 1\nrules:\n  - id: port-scan\n    sevrity: high\n"
    assert errors(text)[0] == (
        "rules.yaml:14:5: rule 'port-scan': unknown key 'sevrity' (did you mean 'severity'?)"
    )


def test_unknown_key_without_a_close_match_has_no_suggestion() -> None:
    assert errors(_rule(zzzzzz="1")) == ["rules.yaml:9:5: rule 'r1': unknown key 'zzzzzz'"]


def test_unknown_keys_are_checked_against_the_rule_kind() -> None:
    # 'count' is a threshold key: on a match rule it is unknown
    assert errors(_rule(count="3")) == [
        "rules.yaml:9:5: rule 'r1': unknown key 'count' (a key of kind 'threshold'; "
        "this rule is kind 'match')"
    ]


def _rule(**changes: str | None) -> str:
    """A rules.yaml with one match rule; ``key=None`` drops a key, others replace/add it."""
    keys: dict[str, str | None] = {
        "id": "r1",
        "sid": "1",
        "title": "t",
        "category": "sql-injection",
        "severity": "high",
        "field": "http.uri",
        "content": "x",
    }
    keys.update(changes)
    lines = [f"    {k}: {v}" for k, v in keys.items() if v is not None]
    lines[0] = "  - " + lines[0].lstrip()
    return "rules:\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"content": None, "regex": "'a(b'"},
            "rules.yaml:8:12: rule 'r1': invalid regex: missing ): a(b "
            "(netsentry uses RE2/Hyperscan syntax: no backreferences or lookaround)",
        ),
        (
            {"content": None, "regex": "'(?<=a)b'"},
            "rules.yaml:8:12: rule 'r1': invalid regex: invalid perl operator: (?<= "
            "(netsentry uses RE2/Hyperscan syntax: no backreferences or lookaround)",
        ),
        (
            {"content": None, "regex": "'(a)\\1'"},
            "rules.yaml:8:12: rule 'r1': invalid regex: invalid escape sequence: \\1 "
            "(netsentry uses RE2/Hyperscan syntax: no backreferences or lookaround)",
        ),
        (
            {"content": None, "regex": "'a*'"},
            "rules.yaml:8:12: rule 'r1': invalid regex: the pattern matches the empty string, "
            "so it would match everything",
        ),
        (
            {"content": None, "regex": "'x?\\b'"},
            "rules.yaml:8:12: rule 'r1': invalid regex: the pattern can match an empty string "
            "(e.g. at a word boundary), so it would match almost everything",
        ),
        (
            {"field": "http.ur"},
            "rules.yaml:7:12: rule 'r1': unknown field 'http.ur' (did you mean 'http.url'?)",
        ),
        (
            {"category": "sql-injecton"},
            "rules.yaml:5:15: rule 'r1': unknown category 'sql-injecton' "
            "(did you mean 'sql-injection'?)",
        ),
        (
            {"severity": "hihg"},
            "rules.yaml:6:15: rule 'r1': unknown severity 'hihg' (did you mean 'high'?)",
        ),
        (
            {"kind": "mach"},
            "rules.yaml:9:11: rule 'r1': unknown kind 'mach' (did you mean 'match'?)",
        ),
        (
            {"kind": "[match]"},
            "rules.yaml:9:11: rule 'r1': unknown kind ['match'] (did you mean 'match'?)",
        ),
        ({"title": "' '"}, "rules.yaml:4:12: rule 'r1': 'title' must not be empty"),
        (
            {"id": "Port_Scan"},
            "rules.yaml:2:9: rule 'Port_Scan': id must be kebab-case (a-z, 0-9 and single dashes)",
        ),
        ({"sid": "0"}, "rules.yaml:3:10: rule 'r1': sid must be between 1 and 4294967295"),
        ({"sid": "4294967296"}, "rules.yaml:3:10: rule 'r1': sid must be between 1 and 4294967295"),
        ({"sid": '"14"'}, "rules.yaml:3:10: rule 'r1': 'sid' must be an integer"),
        ({"sid": "1.5"}, "rules.yaml:3:10: rule 'r1': 'sid' must be an integer"),
        ({"sid": "true"}, "rules.yaml:3:10: rule 'r1': 'sid' must be an integer"),
        ({"rev": "x"}, "rules.yaml:9:10: rule 'r1': 'rev' must be an integer"),
        ({"nocase": '"yes"'}, "rules.yaml:9:13: rule 'r1': 'nocase' must be true or false"),
        ({"nocase": "1"}, "rules.yaml:9:13: rule 'r1': 'nocase' must be true or false"),
        ({"title": "12"}, "rules.yaml:4:12: rule 'r1': 'title' must be a string"),
        ({"content": "[a, b]"}, "rules.yaml:8:14: rule 'r1': 'content' must be a string"),
        ({"tags": "{a: 1}"}, "rules.yaml:9:11: rule 'r1': 'tags' must be a list of strings"),
        (
            {"mitre": "[T1190, [x]]"},
            "rules.yaml:9:12: rule 'r1': 'mitre' must be a list of strings",
        ),
        (
            {"references": "[true]"},
            "rules.yaml:9:17: rule 'r1': 'references' must be a list of strings",
        ),
        (
            {"transforms": "[url_decod]"},
            "rules.yaml:9:17: rule 'r1': unknown transform 'url_decod' "
            "(did you mean 'url_decode'?)",
        ),
        (
            {"regex": "'x'"},
            "rules.yaml:8:5: rule 'r1': give either 'regex' or 'content', not both",
        ),
        (
            {"content": None},
            "rules.yaml:7:5: rule 'r1': 'field' needs 'regex' or 'content'",
        ),
        (
            {"field": None},
            "rules.yaml:2:5: rule 'r1': 'regex'/'content' need a 'field' to match",
        ),
        (
            {"where": "[http.method]"},
            "rules.yaml:9:12: rule 'r1': 'where' must be a mapping of field: value or "
            "field: {op: value}",
        ),
        (
            {"allowlist": "[10.0.0.0/8]"},
            "rules.yaml:9:16: rule 'r1': 'allowlist' must be a mapping with 'cidrs' and/or "
            "'domains'",
        ),
        (
            {"allowlist": "{cidrs: [10.0.0.0/33]}"},
            "rules.yaml:9:17: rule 'r1': allowlist: invalid CIDR '10.0.0.0/33'",
        ),
        (
            {"allowlist": "{domain: [a.example]}"},
            "rules.yaml:9:17: rule 'r1': allowlist: unknown key 'domain' (did you mean 'domains'?)",
        ),
        (
            {"examples": "[x]"},
            "rules.yaml:9:15: rule 'r1': 'examples' must be a mapping with 'match' and/or "
            "'no_match' lists",
        ),
        (
            {"examples": "{match: x}"},
            "rules.yaml:9:23: rule 'r1': examples: 'match' must be a list",
        ),
        (
            {"examples": "{matches: [x]}"},
            "rules.yaml:9:16: rule 'r1': examples: unknown key 'matches' (did you mean 'match'?)",
        ),
    ],
)
def test_rule_errors(changes: dict[str, str | None], message: str) -> None:
    assert errors(_rule(**changes)) == [message]


def test_match_rule_without_field_or_where() -> None:
    assert errors(_rule(field=None, content=None)) == [
        "rules.yaml:2:5: rule 'r1': a match rule needs 'field' with 'regex' or 'content', "
        "or 'where' conditions"
    ]


def test_missing_required_keys_are_each_reported_at_the_rule() -> None:
    assert errors(_rule(sid=None, severity=None)) == [
        "rules.yaml:2:5: rule 'r1': missing required key 'sid'",
        "rules.yaml:2:5: rule 'r1': missing required key 'severity'",
    ]


def test_rule_without_id_is_reported_without_a_name() -> None:
    assert errors(_rule(id=None)) == ["rules.yaml:2:5: missing required key 'id'"]


def test_id_of_the_wrong_type_is_not_used_as_the_name() -> None:
    assert errors(_rule(id="[a]")) == ["rules.yaml:2:9: 'id' must be a string"]


# -- threshold and intel rules ------------------------------------------------------------------


def _threshold(**changes: str | None) -> str:
    keys: dict[str, str | None] = {
        "id": "port-scan",
        "sid": "1",
        "title": "t",
        "category": "port-scan",
        "severity": "low",
        "kind": "threshold",
        "where": "{tcp.flags: S}",
        "track": "by_src",
        "count": "20",
        "seconds": "60",
        "distinct": "dest_port",
    }
    keys.update(changes)
    lines = [f"    {k}: {v}" for k, v in keys.items() if v is not None]
    lines[0] = "  - " + lines[0].lstrip()
    return "rules:\n" + "\n".join(lines) + "\n"


def test_valid_threshold_rule() -> None:
    write("rules.yaml", _threshold())
    (rule,) = load_rules(["rules.yaml"]).rules
    assert isinstance(rule, ThresholdRule)
    assert (rule.track, rule.count, rule.seconds, rule.distinct) == (
        "by_src",
        20,
        60.0,
        "dest_port",
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"track": "by_srcc"},
            "rules.yaml:9:12: rule 'port-scan': unknown track 'by_srcc' (did you mean 'by_src'?)",
        ),
        ({"track": "per_host"}, "rules.yaml:9:12: rule 'port-scan': unknown track 'per_host'"),
        ({"count": "0"}, "rules.yaml:10:12: rule 'port-scan': count must be at least 1"),
        ({"count": "-3"}, "rules.yaml:10:12: rule 'port-scan': count must be at least 1"),
        ({"count": "2.5"}, "rules.yaml:10:12: rule 'port-scan': 'count' must be an integer"),
        (
            {"seconds": "0"},
            "rules.yaml:11:14: rule 'port-scan': seconds must be a window between 0 and 30 days",
        ),
        (
            {"seconds": "-1"},
            "rules.yaml:11:14: rule 'port-scan': seconds must be a window between 0 and 30 days",
        ),
        (
            {"seconds": "2592001"},
            "rules.yaml:11:14: rule 'port-scan': seconds must be a window between 0 and 30 days",
        ),
        (
            {"seconds": ".nan"},
            "rules.yaml:11:14: rule 'port-scan': seconds must be a window between 0 and 30 days",
        ),
        ({"seconds": "1m"}, "rules.yaml:11:14: rule 'port-scan': 'seconds' must be a number"),
        (
            {"distinct": "dest_prot"},
            "rules.yaml:12:15: rule 'port-scan': unknown field 'dest_prot' "
            "(did you mean 'dest_port'?)",
        ),
        (
            {"record": "htp"},
            "rules.yaml:13:13: rule 'port-scan': unknown record type 'htp' (did you mean 'http'?)",
        ),
        (
            {"field": "http.uri", "where": None, "distinct": None},
            "rules.yaml:11:5: rule 'port-scan': 'field' needs 'regex' or 'content' to say "
            "what counts",
        ),
        ({"track": None}, "rules.yaml:2:5: rule 'port-scan': missing required key 'track'"),
        (
            {"where": "{http.method: POST, tcp.flags: S}"},
            "rules.yaml:2:5: rule 'port-scan': fields come from different record types: "
            "http.method (http), tcp.flags (packet)",
        ),
    ],
)
def test_threshold_errors(changes: dict[str, str | None], message: str) -> None:
    assert errors(_threshold(**changes)) == [message]


def test_threshold_record_that_disagrees_with_its_fields() -> None:
    text = _threshold(record="dns", where="{http.method: POST}", distinct=None)
    assert errors(text) == [
        "rules.yaml:2:5: rule 'port-scan': fields come from different record types: "
        "record (dns), http.method (http)"
    ]


def test_match_rule_with_fields_from_different_record_types() -> None:
    text = _rule(where="{dns.rrname: evil.example, src_ip: 10.0.0.1}")
    assert errors(text) == [
        "rules.yaml:2:5: rule 'r1': fields come from different record types: "
        "http.uri (http), dns.rrname (dns)"
    ]


def test_intel_rule_errors() -> None:
    base = (
        "rules:\n  - id: bad-ip\n    sid: 1\n    title: t\n    category: threat-intel\n"
        "    severity: high\n    kind: intel\n"
    )
    assert errors(base + "    fields: []\n") == [
        "rules.yaml:8:5: rule 'bad-ip': an intel rule needs at least one field"
    ]
    assert errors(base + "    fields: [src_ip, dns.rrnam]\n") == [
        "rules.yaml:8:13: rule 'bad-ip': unknown field 'dns.rrnam' (did you mean 'dns.rrname'?)"
    ]
    assert errors(base + "    fields: [http.hostname, tls.sni]\n") == [
        "rules.yaml:2:5: rule 'bad-ip': fields come from different record types: "
        "http.hostname (http), tls.sni (tls)"
    ]
    assert errors(base + "    fields: [src_ip]\n    feeds: x\n    field: src_ip\n") == [
        "rules.yaml:10:5: rule 'bad-ip': unknown key 'field' (did you mean 'fields'?)"
    ]


# -- where: ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            "{dest_port: {gtt: 5}}",
            "rules.yaml:9:25: rule 'r1': unknown operator 'gtt' for 'dest_port' "
            "(did you mean 'gt'?)",
        ),
        (
            "{dest_port: {between: [1, 5]}}",
            "rules.yaml:9:25: rule 'r1': unknown operator 'between' for 'dest_port'",
        ),
        (
            "{src_ip: {cidr: [10.0.0.0/8, 300.1.1.1/8]}}",
            "rules.yaml:9:22: rule 'r1': 'src_ip': invalid CIDR '300.1.1.1/8'",
        ),
        (
            "{src_ip: {not_cidr: 2001:db8::/129}}",
            "rules.yaml:9:22: rule 'r1': 'src_ip': invalid CIDR '2001:db8::/129'",
        ),
        (
            "{http.method: {regex: '(?=P)'}}",
            "rules.yaml:9:27: rule 'r1': 'http.method': invalid regex: invalid perl operator: (?= "
            "(netsentry uses RE2/Hyperscan syntax: no backreferences or lookaround)",
        ),
        ("{dest_port: {gt: '80'}}", "rules.yaml:9:25: rule 'r1': 'dest_port': 'gt' needs a number"),
        ("{dest_port: {le: true}}", "rules.yaml:9:25: rule 'r1': 'dest_port': 'le' needs a number"),
        (
            "{http.cookie: {exists: yes please}}",
            "rules.yaml:9:27: rule 'r1': 'http.cookie': 'exists' needs true or false",
        ),
        (
            "{http.metod: GET}",
            "rules.yaml:9:13: rule 'r1': unknown field 'http.metod' (did you mean 'http.method'?)",
        ),
    ],
)
def test_where_errors(where: str, message: str) -> None:
    assert errors(_rule(where=where)) == [message]


def test_where_shorthands_and_aliases() -> None:
    write("rules.yaml", _rule(where="{http.http_method: GET, dest_port: [80, 443]}"))
    (rule,) = load_rules(["rules.yaml"]).rules
    assert isinstance(rule, MatchRule)
    assert [(c.field, c.op, c.value) for c in rule.where] == [
        ("http.http_method", "eq", "GET"),
        ("dest_port", "in", (80, 443)),
    ]


# -- several problems, several files ----------------------------------------------------------


def test_all_problems_of_all_files_in_one_error() -> None:
    first = _rule(category="nope", severity="bad") + MATCH.format(id="r2", sid=2).replace(
        "field: http.uri", "field: http.url2"
    )
    second = "rules: [\n"
    third = "rulez: []\n"
    names = ["a.yaml", "b.yaml", "c.yaml"]
    for name, text in zip(names, (first, second, third), strict=True):
        write(name, text)
    with pytest.raises(RuleFileError) as info:
        load_rules(names)
    assert info.value.errors == [
        "a.yaml:5:15: rule 'r1': unknown category 'nope'",
        "a.yaml:6:15: rule 'r1': unknown severity 'bad'",
        "a.yaml:14:12: rule 'r2': unknown field 'http.url2' (did you mean 'http.url'?)",
        "b.yaml:2:1: invalid YAML: expected the node content, but found '<stream end>'",
        "c.yaml:1:1: unknown top-level key 'rulez' (did you mean 'rules'?)",
    ]
    assert str(info.value) == "\n".join(info.value.errors)
    assert isinstance(info.value, UsageError)
    assert info.value.exit_code is ExitCode.USAGE


def test_duplicate_id_and_sid_across_files_name_the_first_definition() -> None:
    first = "rules:\n" + MATCH.format(id="one", sid=100) + MATCH.format(id="two", sid=101)
    second = "rules:\n" + MATCH.format(id="two", sid=100)
    assert errors(first, second) == [
        "more.yaml:2:9: rule 'two': duplicate id (first defined at rules.yaml:9:5)",
        "more.yaml:3:10: rule 'two': duplicate sid 100 (also rule 'one' at rules.yaml:2:5)",
    ]


def test_duplicate_id_in_one_file() -> None:
    text = "rules:\n" + MATCH.format(id="one", sid=1) + MATCH.format(id="one", sid=2)
    assert errors(text) == [
        "rules.yaml:9:9: rule 'one': duplicate id (first defined at rules.yaml:2:5)"
    ]


def test_top_level_problems() -> None:
    text = "verison: 1\nrules: []\n"
    assert errors(text) == [
        "rules.yaml:1:1: unknown top-level key 'verison' (did you mean 'version'?)"
    ]
    assert errors("version: 2\nrules: []\n") == [
        "rules.yaml:1:10: unsupported version 2 (expected 1)"
    ]
    assert errors("just a string\n") == ["rules.yaml:1:1: expected a mapping with a 'rules' list"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: {id: a}\n", "rules.yaml:1:8: 'rules' must be a list"),
        ("rules: some-rule\n", "rules.yaml:1:8: 'rules' must be a list"),
        ("rules:\n", "rules.yaml:1:7: 'rules' must be a list"),
    ],
)
def test_rules_that_is_not_a_list(text: str, message: str) -> None:
    assert errors(text) == [message]


def test_rule_items_that_are_not_mappings() -> None:
    assert errors("rules:\n  - just-an-id\n  - [a, b]\n") == [
        "rules.yaml:2:5: each rule must be a mapping",
        "rules.yaml:3:5: each rule must be a mapping",
    ]


def test_yaml_syntax_and_file_errors_are_collected_with_rule_errors() -> None:
    write("rules.yaml", _rule(severity="hgh"))
    write("broken.yaml", "rules:\n  - id: a\n   sid: 1\n")
    Path("latin1.yaml").write_bytes(b"rules: [\xff]\n")
    with pytest.raises(RuleFileError) as info:
        load_rules(["rules.yaml", "missing.yaml", "broken.yaml", "latin1.yaml"])
    assert info.value.errors == [
        "rules.yaml:6:15: rule 'r1': unknown severity 'hgh' (did you mean 'high'?)",
        "missing.yaml: no such file",
        "broken.yaml:3:4: invalid YAML: expected <block end>, but found '<block mapping start>'",
        "latin1.yaml:1:9: not UTF-8 text (byte 0xff at offset 8)",
    ]


# -- the YAML 1.1 boolean trap -----------------------------------------------------------------


def test_on_as_a_key_is_reported_as_written_not_as_true() -> None:
    text = _rule() + "    on: http.uri\n"
    assert errors(text) == ["rules.yaml:9:5: rule 'r1': unknown key 'on'"]
    assert errors("on: 1\nrules: []\n") == ["rules.yaml:1:1: unknown top-level key 'on'"]


def test_yes_as_a_where_field_is_an_unknown_field_named_yes() -> None:
    assert errors(_rule(where="{yes: 1}")) == ["rules.yaml:9:13: rule 'r1': unknown field 'yes'"]


def test_boolean_words_as_values_are_booleans() -> None:
    write("rules.yaml", _rule(nocase="yes", once_per_flow="on"))
    (rule,) = load_rules(["rules.yaml"]).rules
    assert isinstance(rule, MatchRule)
    assert rule.nocase is True and rule.once_per_flow is True
    # where a string is expected, the unquoted word is a boolean and says so
    assert errors(_rule(content="yes")) == [
        "rules.yaml:8:14: rule 'r1': 'content' must be a string"
    ]


# -- --set overrides --------------------------------------------------------------------------

FTP = """\
rules:
  - id: brute-force-ftp
    sid: 1004001
    title: t
    category: brute-force
    severity: high
    kind: threshold
    record: auth
    where: {auth.service: ftp, auth.result: failure}
    track: by_src
    count: 10
    seconds: 60
"""


def test_parse_overrides() -> None:
    assert parse_overrides(
        ["brute-force-ftp.count=3", "brute-force-ftp.enabled=false", "x.title=a=b", "y.tags=[a, b]"]
    ) == {
        "brute-force-ftp": {"count": 3, "enabled": False},
        "x": {"title": "a=b"},
        "y": {"tags": ["a", "b"]},
    }
    assert parse_overrides(["x.title="]) == {"x": {"title": ""}}
    assert parse_overrides(["x.title=[unclosed"]) == {"x": {"title": "[unclosed"}}
    assert parse_overrides([]) == {}


@pytest.mark.parametrize("item", ["count=3", "brute-force-ftp.count", ".count=3", "x.=1", "=1"])
def test_parse_overrides_bad_syntax(item: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_overrides([item])
    assert str(info.value) == f"--set {item}: expected RULE-ID.KEY=VALUE"
    assert not isinstance(info.value, RuleFileError)


def test_override_changes_a_key() -> None:
    write("rules.yaml", FTP)
    (rule,) = load_rules(["rules.yaml"], overrides=["brute-force-ftp.count=3"]).rules
    assert isinstance(rule, ThresholdRule)
    assert rule.count == 3
    (rule,) = load_rules(["rules.yaml"], overrides=["brute-force-ftp.seconds=5"]).rules
    assert isinstance(rule, ThresholdRule)
    assert (rule.count, rule.seconds) == (10, 5.0)


def test_override_adds_a_key_and_disables() -> None:
    write("rules.yaml", FTP)
    overrides = ["brute-force-ftp.enabled=false", "brute-force-ftp.allowlist={cidrs: [10.0.0.0/8]}"]
    (rule,) = load_rules(["rules.yaml"], overrides=overrides).rules
    assert rule.enabled is False
    assert rule.allowlist == Allowlist(("10.0.0.0/8",), ())


def test_override_of_an_unknown_rule() -> None:
    write("rules.yaml", FTP)
    with pytest.raises(RuleFileError) as info:
        load_rules(["rules.yaml"], overrides=["nope.count=1"])
    assert info.value.errors == ["--set nope: no rule with this id"]


def test_invalid_override_values_are_reported_at_the_option() -> None:
    write("rules.yaml", FTP)
    cases = {
        "brute-force-ftp.count=abc": "--set brute-force-ftp.count:1:1: rule 'brute-force-ftp': "
        "'count' must be an integer",
        "brute-force-ftp.count=0": "--set brute-force-ftp.count:1:1: rule 'brute-force-ftp': "
        "count must be at least 1",
        "brute-force-ftp.sevrity=low": "--set brute-force-ftp.sevrity:1:1: rule "
        "'brute-force-ftp': unknown key 'sevrity' (did you mean 'severity'?)",
        "brute-force-ftp.where={auth.result: {eqq: failure}}": "--set brute-force-ftp.where:1:16: "
        "rule 'brute-force-ftp': unknown operator 'eqq' for 'auth.result' (did you mean 'eq'?)",
    }
    for item, message in cases.items():
        with pytest.raises(RuleFileError) as info:
            load_rules(["rules.yaml"], overrides=[item])
        assert info.value.errors == [message], item


def test_overrides_apply_to_the_default_rules() -> None:
    ruleset = load_rules(overrides=["brute-force-ftp.count=3"])
    rule = ruleset.by_id("brute-force-ftp")
    assert isinstance(rule, ThresholdRule)
    assert rule.count == 3
