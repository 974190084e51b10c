"""Running rules' ``examples:`` — the executable documentation of every rule.

A match example is a value for the rule's field (a string) or a mapping of field
-> value that also feeds the rule's ``where:`` conditions. For a threshold rule
the examples say which single events count towards the threshold. For an intel
rule they must be values of the kind its fields hold (an address, a domain, ...),
since what is listed depends on the feeds loaded. A dga rule's examples are names
(or mappings with its field), scored by the packaged model against its ``score``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from netsentry.conditions import holds, value_test
from netsentry.detectors import intel_kind
from netsentry.dga import default_scorer
from netsentry.fields import resolve
from netsentry.intel import guess_kind
from netsentry.matchers import PatternSet, apply_transforms, literal_pattern, to_bytes
from netsentry.rules import DgaRule, IntelRule, MatchRule, Rule, RuleSet, ThresholdRule


@dataclass(frozen=True)
class ExampleResult:
    """The outcome of one example."""

    rule: Rule
    example: Any
    expected: bool  # True: must match
    ok: bool
    reason: str = ""


def _example_bytes(field: str, value: Any) -> bytes | None:
    """An example value as the bytes the field would hold.

    YAML has no bytes type: for binary fields (bodies, payloads, streams) a string's
    characters U+0000..U+00FF stand for single bytes, so "\xca\xfe" means two bytes.
    """
    spec = resolve(field)
    if isinstance(value, str) and spec is not None and spec.type == "bytes":
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            pass
    return to_bytes(value)


def _pattern_matches(rule: MatchRule | ThresholdRule, value: Any, engine: str) -> bool:
    pattern = rule.regex or literal_pattern(rule.content)
    data = _example_bytes(rule.field, value)
    if data is None:
        return False
    if rule.transforms:
        data = apply_transforms(data, rule.transforms)
    return bool(_pattern_set(pattern, rule.nocase, engine).scan(data))


@lru_cache(maxsize=1024)
def _pattern_set(pattern: str, nocase: bool, engine: str) -> PatternSet:
    # A rule's examples share its pattern: compiling it once per example made
    # `netsentry rules test` spend seconds in Hyperscan's compiler.
    return PatternSet([(0, pattern, nocase)], engine=engine)


def _conditions_hold(
    rule: MatchRule | ThresholdRule | IntelRule | DgaRule, values: dict[str, Any]
) -> bool:
    return all(holds(c, value_test(c), values.get(c.field)) for c in rule.where)


def example_matches(rule: Rule, example: Any, engine: str = "auto") -> tuple[bool, str]:
    """Whether ``example`` matches ``rule``, and a reason when it cannot be judged."""
    values = dict(example) if isinstance(example, dict) else None
    if isinstance(rule, (MatchRule, ThresholdRule)):
        main = rule.field
        if values is None:
            if not main:
                return False, "a threshold rule without 'field' needs mapping examples"
            values = {main: example}
        if main:
            if main not in values:
                return False, f"example lacks the rule's field '{main}'"
            if not _pattern_matches(rule, values[main], engine):
                return False, ""
        return _conditions_hold(rule, values), ""
    if isinstance(rule, IntelRule):
        # The value of one of the rule's fields, not the mapping's first value: with
        # {dns.rcode: NOERROR, dns.answer: evil.example} "NOERROR" was judged.
        value = (
            example
            if values is None
            else next((values[f] for f in rule.fields if f in values), None)
        )
        kinds = {intel_kind(f) for f in rule.fields}
        kind = guess_kind(str(value))
        ok = kind is not None and (
            kind in kinds or ("ip_or_domain" in kinds and kind in ("ip", "domain"))
        )
        if values is not None and not _conditions_hold(rule, values):
            ok = False
        return ok, ""
    if isinstance(rule, DgaRule):
        name = example if values is None else values.get(rule.field)
        if not isinstance(name, str):
            return False, f"example lacks the rule's field '{rule.field}'"
        ok = default_scorer().score(name) >= rule.score
        return ok and (values is None or _conditions_hold(rule, values)), ""
    return False, f"kind '{rule.kind}' has no example runner"


def run_examples(ruleset: RuleSet, engine: str = "auto") -> list[ExampleResult]:
    """Every example of every rule, in rule order."""
    results: list[ExampleResult] = []
    for rule in ruleset.rules:
        for expected, items in ((True, rule.examples.match), (False, rule.examples.no_match)):
            for example in items:
                matched, reason = example_matches(rule, example, engine)
                results.append(
                    ExampleResult(
                        rule, example, expected, matched == expected and not reason, reason
                    )
                )
    return results


# Kinds whose rules may come without examples: imported Suricata signatures are proved
# by pcap regression tests (tests/test_suricata_verify.py), not by field values.
EXAMPLES_OPTIONAL = frozenset({"signature"})


def rules_without_examples(ruleset: RuleSet) -> list[Rule]:
    """Rules that must carry a match example but do not (every default rule has one)."""
    return [
        r for r in ruleset.rules if not r.examples.match and r.kind not in EXAMPLES_OPTIONAL
    ]


def untested_rules(ruleset: RuleSet) -> list[Rule]:
    """Rules of a kind that may go without examples and do (reported, not failed)."""
    return [r for r in ruleset.rules if not r.examples.match and r.kind in EXAMPLES_OPTIONAL]
