"""Rule examples: the executable documentation every rule carries."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from netsentry.ruleload import load_rules
from netsentry.rules import RuleSet
from netsentry.ruletest import example_matches, rules_without_examples, run_examples

RULES = """\
rules:
  - id: sqli
    sid: 1
    title: t
    category: sql-injection
    severity: high
    field: http.uri
    regex: 'union\\s+select'
    nocase: true
    transforms: [url_decode]
    examples:
      match: ["/?q=UNION%20SELECT", "/?q=union+select"]
      no_match: ["/reunion"]
  - id: login-post
    sid: 2
    title: t
    category: brute-force
    severity: low
    field: http.uri
    content: /login
    where: {http.method: POST}
    examples:
      match: [{http.uri: /login, http.method: POST}]
      no_match: [{http.uri: /login, http.method: GET}, /login]
  - id: pe-body
    sid: 3
    title: t
    category: malware-delivery
    severity: high
    field: http.response_body
    regex: '^MZ\\x90\\x00'
    examples:
      match: ["MZ\\x90\\x00\\x03"]
      no_match: ["MZ"]
  - id: ftp-fail
    sid: 4
    title: t
    category: brute-force
    severity: high
    kind: threshold
    record: auth
    where: {auth.service: ftp, auth.result: failure}
    track: by_src
    count: 5
    seconds: 60
    examples:
      match: [{auth.service: ftp, auth.result: failure}]
      no_match: [{auth.service: ftp, auth.result: success}, failure]
  - id: long-label
    sid: 5
    title: t
    category: dns-tunneling
    severity: medium
    kind: threshold
    field: dns.rrname
    regex: '[a-z0-9]{40}'
    track: by_src
    count: 3
    seconds: 60
    examples:
      match: ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example"]
      no_match: ["www.example"]
  - id: bad-ip
    sid: 6
    title: t
    category: threat-intel
    severity: high
    kind: intel
    fields: [src_ip, dest_ip]
    examples:
      match: ["198.51.100.23", "2001:db8::1"]
      no_match: ["evil.example", "not-an-address!"]
  - id: bad-answer
    sid: 7
    title: t
    category: threat-intel
    severity: high
    kind: intel
    fields: [dns.answer]
    where: {dns.rcode: NOERROR}
    examples:
      match: ["198.51.100.23", "evil.example", {dns.answer: evil.example, dns.rcode: NOERROR}]
      no_match: [{dns.answer: evil.example, dns.rcode: NXDOMAIN}]
  - id: no-examples
    sid: 8
    title: t
    category: exploit
    severity: low
    field: http.uri
    content: x
"""


@pytest.fixture
def ruleset(tmp_path: Path) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return load_rules([path])


def test_every_example_of_a_valid_file_passes(ruleset: RuleSet) -> None:
    results = run_examples(ruleset)
    assert [(r.rule.id, r.expected) for r in results] == [
        ("sqli", True),
        ("sqli", True),
        ("sqli", False),
        ("login-post", True),
        ("login-post", False),
        ("login-post", False),
        ("pe-body", True),
        ("pe-body", False),
        ("ftp-fail", True),
        ("ftp-fail", False),
        ("ftp-fail", False),
        ("long-label", True),
        ("long-label", False),
        ("bad-ip", True),
        ("bad-ip", True),
        ("bad-ip", False),
        ("bad-ip", False),
        ("bad-answer", True),
        ("bad-answer", True),
        ("bad-answer", True),
        ("bad-answer", False),
    ]
    failed = [(r.rule.id, r.example, r.reason) for r in results if not r.ok]
    assert failed == [
        ("ftp-fail", "failure", "a threshold rule without 'field' needs mapping examples")
    ]


def test_rules_without_examples(ruleset: RuleSet) -> None:
    assert [r.id for r in rules_without_examples(ruleset)] == ["no-examples"]


@pytest.mark.parametrize(
    ("rule_id", "example", "outcome"),
    [
        ("sqli", "/?q=UNION%0aSELECT", (True, "")),  # transform, then \s matches a newline
        ("sqli", "/?q=union%2Bselect", (False, "")),  # %2B is a plus, not a space
        ("login-post", {"http.uri": "/x/login", "http.method": "POST"}, (True, "")),
        (
            "login-post",
            {"http.method": "POST"},
            (False, "example lacks the rule's field 'http.uri'"),
        ),
        ("login-post", "/login", (False, "")),  # a bare value cannot satisfy 'where'
        ("pe-body", "MZ\x90\x00", (True, "")),  # characters up to U+00FF are single bytes
        ("pe-body", "MZ\u0390\x00", (False, "")),  # other text is UTF-8
        ("ftp-fail", {"auth.service": "ftp", "auth.result": "failure", "x": 1}, (True, "")),
        ("ftp-fail", {"auth.result": "failure"}, (False, "")),  # service missing
        ("long-label", {"dns.rrname": "b" * 41}, (True, "")),
        ("bad-ip", "10.0.0.0/8", (True, "")),
        ("bad-ip", "http://x.example/", (False, "")),
        ("bad-answer", "2001:db8::1", (True, "")),
        ("bad-answer", {"dns.answer": "evil.example"}, (False, "")),  # rcode missing
        # the rule's field is judged, whatever the order of the mapping
        ("bad-answer", {"dns.rcode": "NOERROR", "dns.answer": "evil.example"}, (True, "")),
        ("bad-answer", {"dns.rcode": "NOERROR", "dns.answer": "no way"}, (False, "")),
    ],
)
def test_example_matches(
    ruleset: RuleSet, rule_id: str, example: Any, outcome: tuple[bool, str]
) -> None:
    rule = ruleset.by_id(rule_id)
    assert rule is not None
    assert example_matches(rule, example) == outcome
    assert example_matches(rule, example, engine="re2") == outcome


def test_failing_examples_are_reported_not_ok(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            rules:
              - id: traversal
                sid: 1
                title: t
                category: directory-traversal
                severity: high
                field: http.uri
                content: '../'
                examples:
                  match: ["/a/..%2f..%2fetc/passwd", "/../ok"]
                  no_match: ["/a/../b"]
            """
        ),
        encoding="utf-8",
    )
    results = run_examples(load_rules([path]))
    assert [(r.example, r.expected, r.ok, r.reason) for r in results] == [
        ("/a/..%2f..%2fetc/passwd", True, False, ""),
        ("/../ok", True, True, ""),
        ("/a/../b", False, False, ""),
    ]


def test_default_rules_examples_all_pass() -> None:
    ruleset = load_rules()
    failed = [
        (r.rule.id, r.example, r.expected, r.reason) for r in run_examples(ruleset) if not r.ok
    ]
    assert failed == []
    assert [r.id for r in rules_without_examples(ruleset)] == []
