"""The packaged default rule set: valid, self-tested, covering the vocabulary, and effective.

- ``netsentry/data/rules.yaml`` loads without a single validation error, every
  rule carries a match example and every example passes (what ``netsentry rules
  test`` runs), ids and sids are unique, and the repository's ``rules.yaml`` is
  that very file (a symlink), so editing either edits the rules that ship.
- Every category of the detection vocabulary (``netsentry.rules.CATEGORIES``,
  the corpus's LABELS.md) has at least one rule, except those listed in
  ``UNCOVERED`` with the reason.
- On the shared benchmark generator's capture (``../shared/bench``; skipped when
  absent) the rules flag at least as many requests as were injected with SQL
  injection, XSS, traversal and malware strings, and raise no alert in a
  category the generator never stages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from netsentry.detectors import Detection
from netsentry.engine import analyze
from netsentry.fields import Ctx
from netsentry.findings import Finding
from netsentry.protocols.base import AppEvent
from netsentry.ruleload import default_rules_path, load_rules
from netsentry.rules import CATEGORIES, MatchRule, RuleSet, ThresholdRule
from netsentry.ruletest import rules_without_examples, run_examples

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"
BENCH = Path(os.environ.get("NETSENTRY_BENCH") or DEFAULT_BENCH)
GENERATOR = BENCH / "make_mixed_pcap.py"
BENCH_PACKETS = 20_000

UNCOVERED: dict[str, str] = {
    "phishing": (
        "no phishing rule yet: phishing domains/URLs come from feeds (reported as "
        "threat-intel by the intel rules) and a lure/credential-form heuristic is not built"
    ),
    "reconnaissance": "for imported Suricata rules (classtypes attempted-recon, network-scan)",
    "policy-violation": "for imported Suricata rules (classtypes policy-violation, ...)",
    "suspicious": "for imported Suricata rules (classtypes bad-unknown, misc-activity, ...)",
}
"""Vocabulary categories no default rule reports yet, and why."""

# truth.json "injected" key -> the category whose findings must cover those requests
INJECTED: dict[str, str] = {
    "http_sqli": "sql-injection",
    "http_xss": "xss",
    "http_traversal": "directory-traversal",
    "http_malware_sig": "malware-delivery",
}

# Categories the generator never stages: any alert in them on its capture is a false positive.
NOT_STAGED = (
    "brute-force",
    "command-injection",
    "dns-tunneling",
    "email-harvesting",
    "exploit",
    "phishing",
)


@cache
def default_rules() -> RuleSet:
    """The packaged rules, loaded once (validation compiles every pattern)."""
    return load_rules()


def test_packaged_rules_load_and_validate() -> None:
    ruleset = load_rules()
    assert ruleset.files == [str(default_rules_path())]
    assert len(ruleset.rules) >= 50
    assert all(rule.description.strip() for rule in ruleset.rules), [
        r.id for r in ruleset.rules if not r.description.strip()
    ]


def test_every_example_passes_and_every_rule_has_a_match_example() -> None:
    ruleset = default_rules()
    assert [r.id for r in rules_without_examples(ruleset)] == []
    failed = [
        f"{r.rule.id}: {'match' if r.expected else 'no_match'} {r.example!r} {r.reason}"
        for r in run_examples(ruleset)
        if not r.ok
    ]
    assert failed == []


def test_repo_root_rules_yaml_is_the_packaged_file() -> None:
    root = REPO_ROOT / "rules.yaml"
    assert root.is_symlink()
    assert root.resolve() == (REPO_ROOT / "netsentry" / "data" / "rules.yaml").resolve()
    # The package in use (these sources, or an installed native build) ships that file.
    assert default_rules_path().read_bytes() == root.read_bytes()


def test_ids_and_sids_are_unique() -> None:
    rules = default_rules().rules
    ids = Counter(rule.id for rule in rules)
    sids = Counter(rule.sid for rule in rules)
    assert [i for i, n in ids.items() if n > 1] == []
    assert [s for s, n in sids.items() if n > 1] == []


def test_every_category_has_a_rule() -> None:
    used = {rule.category for rule in default_rules().rules if rule.enabled}
    missing = set(CATEGORIES) - used
    assert missing == set(UNCOVERED), (
        f"categories without a rule: {sorted(missing)}; documented as uncovered: "
        f"{sorted(UNCOVERED)} (add a rule, or update UNCOVERED)"
    )


def test_threshold_and_match_rules_explain_themselves() -> None:
    """Thresholds are numbers someone chose: the description must say why (it names them)."""
    for rule in default_rules().rules:
        if isinstance(rule, ThresholdRule):
            assert any(ch.isdigit() for ch in rule.description), rule.id
        if isinstance(rule, MatchRule):
            assert rule.title and rule.description, rule.id


def test_dga_rule_counts_nxdomain_responses() -> None:
    """dns-nxdomain-storm counts NXDOMAIN *responses* by their distinct query names.

    The rule's condition (dns.rcode) lives on responses while its distinct field
    (dns.rrname, the query name) is marked request-side; the detector must still count
    the responses, or the only DGA rule can never fire.
    """
    rule = default_rules().by_id("dns-nxdomain-storm")
    assert isinstance(rule, ThresholdRule)
    detection = Detection(default_rules())
    fired = []
    for i in range(rule.count):
        record = {
            "type": "response",
            "rcode": "NXDOMAIN",
            "queries": [{"rrname": f"q{i}xkcvbn{i * 7}.example", "rrtype": "A"}],
        }
        event = AppEvent("dns", record, direction=1)
        event.ts = 1_700_000_000_000_000_000 + i * 1_000_000
        fired += [f.rule.id for f in detection.evaluate("dns", Ctx(None, None, 1, event))]
    assert fired == ["dns-nxdomain-storm"]


# -- the benchmark capture ---------------------------------------------------------------


def request_identity(finding: Finding) -> tuple[Any, ...]:
    """The request (flow and HTTP transaction) a finding was raised on; the flow otherwise."""
    flow = finding.flow.flow_id if finding.flow is not None else (finding.src, finding.dst)
    event = finding.event
    if event is not None and event.proto == "http":
        return (flow, event.extra.get("tx_id"))
    return (flow, None)


@pytest.fixture(scope="module")
def bench_capture(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[Finding], dict[str, Any]]:
    """Generate a 20k-packet benchmark capture and analyze it once with the default rules."""
    if not GENERATOR.is_file():
        pytest.skip(f"shared benchmark generator not found at {GENERATOR}")
    out = tmp_path_factory.mktemp("bench") / "mixed_20k.pcap"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--packets", str(BENCH_PACKETS), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    truth: dict[str, Any] = json.loads(Path(f"{out}.truth.json").read_text(encoding="utf-8"))
    result = analyze([out], rules=default_rules())
    assert not result.detector_errors, result.detector_errors
    return result.findings, truth


def test_bench_injected_attacks_are_found(
    bench_capture: tuple[list[Finding], dict[str, Any]],
) -> None:
    findings, truth = bench_capture
    requests: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    by_content: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for finding in findings:
        key = request_identity(finding)
        requests[finding.rule.category].add(key)
        rule = finding.rule
        if not (isinstance(rule, MatchRule) and rule.field == "http.user_agent"):
            by_content[rule.category].add(key)
    injected = truth["injected"]
    measured = {
        name: (injected.get(name, 0), len(requests[cat]), len(by_content[cat]))
        for name, cat in INJECTED.items()
    }
    print(f"\ninjected, flagged requests, flagged by content (not user agent): {measured}")
    for name, category in INJECTED.items():
        assert injected.get(name, 0) > 0, f"the generator injected no {name}"
        assert len(requests[category]) >= injected[name], (name, measured[name])
        assert len(by_content[category]) >= injected[name], (name, measured[name])


def test_bench_has_no_absurd_false_positives(
    bench_capture: tuple[list[Finding], dict[str, Any]],
) -> None:
    findings, truth = bench_capture
    staged_not = [
        f"{f.rule.id} {f.src_ip}->{f.dest_ip}" for f in findings if f.category in NOT_STAGED
    ]
    assert staged_not == []
    # floods are aimed at one target and the RST bursts answer one scanner: a DoS alert on
    # ordinary traffic, or a scan alert between ordinary hosts, would be absurd
    for finding in findings:
        if finding.category == "dos":
            assert truth["flood_target"] in (finding.src_ip, finding.dest_ip), finding.evidence
        if finding.category == "port-scan":
            assert truth["rst_server"] in (finding.src_ip, finding.dest_ip), finding.evidence
