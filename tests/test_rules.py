"""Rule kinds as dataclasses: their fields are the YAML keys, their docs and their checks."""

from __future__ import annotations

import dataclasses
import re

import pytest

from netsentry.conditions import value_test
from netsentry.matchers import TRANSFORM_FUNCS
from netsentry.rules import (
    CATEGORIES,
    OPERATORS,
    RULE_KINDS,
    SEVERITIES,
    TRACKS,
    TRANSFORMS,
    Allowlist,
    Condition,
    DgaRule,
    Examples,
    IntelRule,
    MatchRule,
    Rule,
    RuleSet,
    ThresholdRule,
)
from netsentry.sig.model import SignatureRule
from netsentry.yamlfile import Position

COMMON = {"id": "x", "sid": 1, "title": "t", "category": "dos", "severity": "low"}


def test_rule_kinds_registry() -> None:
    assert {
        "match": MatchRule,
        "threshold": ThresholdRule,
        "intel": IntelRule,
        "dga": DgaRule,
        "signature": SignatureRule,
    } == RULE_KINDS
    for name, cls in RULE_KINDS.items():
        assert cls.kind_name == name
        assert issubclass(cls, Rule)


@pytest.mark.parametrize("cls", list(RULE_KINDS.values()))
def test_every_yaml_key_is_documented(cls: type[Rule]) -> None:
    keys = [f for f in dataclasses.fields(cls) if f.metadata.get("yaml", True)]
    assert keys
    for spec in keys:
        assert spec.metadata.get("doc", "").strip(), f"{cls.__name__}.{spec.name} has no doc"
    assert "origin" not in {f.name for f in keys}


def test_severities_rank_like_suricata() -> None:
    assert SEVERITIES == {"critical": 1, "high": 2, "medium": 3, "low": 4, "info": 5}


def test_vocabularies_are_kebab_or_snake_case_and_documented() -> None:
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", c) for c in CATEGORIES)
    for table in (CATEGORIES, TRACKS, TRANSFORMS, OPERATORS):
        assert all(isinstance(v, str) and v.strip() for v in table.values())
    assert set(TRACKS) == {"by_src", "by_dst", "by_pair", "by_flow", "by_client", "by_server"}


def test_every_transform_has_an_implementation() -> None:
    assert set(TRANSFORMS) == set(TRANSFORM_FUNCS)


@pytest.mark.parametrize("op", list(OPERATORS))
def test_every_operator_compiles(op: str) -> None:
    value: object = {
        "cidr": ("10.0.0.0/8",),
        "not_cidr": ("10.0.0.0/8",),
        "in": ("a",),
        "not_in": ("a",),
        "exists": True,
    }.get(op, 1 if op in ("gt", "ge", "lt", "le") else "a")
    test = value_test(Condition("src_ip", op, value))
    assert isinstance(test("10.0.0.1"), bool)


def test_defaults_and_keys() -> None:
    rule = MatchRule(**COMMON, field="http.uri", content="x")  # type: ignore[arg-type]
    assert rule.kind == "match" and rule.rev == 1 and rule.enabled is True
    assert rule.allowlist == Allowlist() and rule.examples == Examples()
    assert rule.where == () and rule.transforms == () and rule.once_per_flow is False
    keys = rule.keys()
    assert "origin" not in keys
    assert list(keys)[:5] == ["id", "sid", "title", "category", "severity"]
    assert keys["field"] == "http.uri" and keys["content"] == "x"


def test_rules_are_frozen() -> None:
    rule = MatchRule(**COMMON, field="http.uri", content="x")  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.sid = 2  # type: ignore[misc]


def test_kind_follows_the_class_when_built_in_code() -> None:
    threshold = ThresholdRule(**COMMON, track="by_src", count=3, seconds=1.0)  # type: ignore[arg-type]
    intel = IntelRule(**COMMON, fields=("src_ip",))  # type: ignore[arg-type]
    assert (threshold.kind, intel.kind) == ("threshold", "intel")
    assert RULE_KINDS[threshold.kind] is ThresholdRule
    assert dataclasses.replace(threshold, count=5).kind == "threshold"


def test_required_keys_per_kind() -> None:
    def required(cls: type[Rule]) -> set[str]:
        return {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }

    base = {"id", "sid", "title", "category", "severity"}
    assert required(MatchRule) == base
    assert required(ThresholdRule) == base | {"track", "count", "seconds"}
    assert required(IntelRule) == base | {"fields"}


def test_ruleset_by_id() -> None:
    one = MatchRule(**COMMON, field="http.uri", content="x", origin=Position("r", 1, 1))  # type: ignore[arg-type]
    two = IntelRule(**{**COMMON, "id": "y", "sid": 2}, fields=("src_ip",))  # type: ignore[arg-type]
    ruleset = RuleSet([one, two])
    assert ruleset.by_id("y") is two
    assert ruleset.by_id("x") is one
    assert ruleset.by_id("z") is None
    assert ruleset.allowlist == Allowlist() and ruleset.files == []
