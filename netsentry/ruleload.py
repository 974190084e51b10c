"""Loading and validating rule files, collecting every problem like a compiler.

Nothing is analyzed when a rule file is invalid: :func:`load_rules` gathers all
errors of all files, each as ``path:line:col: rule 'id': message``, and raises
one :class:`RuleFileError` carrying them. Keys, their types and documentation
come from the rule dataclasses in :mod:`netsentry.rules` (declare once).
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
import types
import typing
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from netsentry.errors import UsageError
from netsentry.fields import resolve
from netsentry.intel import normalize_domain
from netsentry.matchers import hyperscan_errors, pattern_error
from netsentry.rules import (
    CATEGORIES,
    DGA_FIELDS,
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
from netsentry.yamlfile import (
    MarkedDict,
    MarkedList,
    Position,
    ProblemList,
    YamlError,
    load_yaml,
    load_yaml_text,
    position_of,
    suggest,
)

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TOP_KEYS = ("version", "allowlist", "rules")
MAX_SID = 2**32 - 1


class RuleFileError(UsageError):
    """One or more rule files are invalid; ``errors`` holds every message."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


def default_rules_path() -> Path:
    """The rules.yaml shipped inside the package."""
    return Path(str(resources.files("netsentry") / "data" / "rules.yaml"))



def _yaml_keys(cls: type[Rule]) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("yaml", True)}


def parse_overrides(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set rule-id.key=value`` options -> {rule id: {key: value}} (values parsed as YAML)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        rule_id, dot, key = target.partition(".")
        if not sep or not dot or not rule_id or not key:
            raise UsageError(f"--set {item}: expected RULE-ID.KEY=VALUE")
        # Parsed like a rule file (not yaml.safe_load): a mapping value (``x.where={...}``)
        # must be a MarkedDict for the loader to accept it, and its errors then name the
        # option, as in "--set x.where:1:2: ...".
        try:
            value = load_yaml_text(raw, _option_place(rule_id, key).path) if raw.strip() else ""
        except YamlError:
            value = raw
        out.setdefault(rule_id, {})[key] = value
    return out


def _option_place(rule_id: str, key: str) -> Position:
    """Where a ``--set`` value came from: the option, not the rule in the file."""
    return Position(f"--set {rule_id}.{key}", 1, 1)


def load_rules(paths: Sequence[str | Path] | None = None, overrides: Sequence[str] = ()) -> RuleSet:
    """Load and validate rule files (default: the packaged rules.yaml); raise RuleFileError."""
    files = [Path(p) for p in paths] if paths else [default_rules_path()]
    errors = ProblemList("rule")
    rules: list[Rule] = []
    allow_cidrs: list[str] = []
    allow_domains: list[str] = []
    pending = parse_overrides(overrides)
    seen_ids: dict[str, Position | None] = {}
    seen_sids: dict[int, tuple[str, Position | None]] = {}
    for path in files:
        try:
            doc_ = load_yaml(path)
        except YamlError as exc:
            errors.add(None, None, str(exc))
            continue
        if isinstance(doc_, MarkedList):
            rule_items: Any = doc_
        elif isinstance(doc_, MarkedDict):
            for key in doc_:
                if key not in TOP_KEYS:
                    errors.add(
                        doc_.key_pos[key],
                        None,
                        f"unknown top-level key '{key}'{suggest(key, TOP_KEYS)}",
                    )
            version = doc_.get("version", 1)
            if version != 1:
                errors.add(
                    position_of(doc_, "version", value=True),
                    None,
                    f"unsupported version {version!r} (expected 1)",
                )
            if "allowlist" in doc_:
                allow = _allowlist(
                    doc_["allowlist"], position_of(doc_, "allowlist", value=True), None, errors
                )
                allow_cidrs.extend(allow.cidrs)
                allow_domains.extend(allow.domains)
            rule_items = doc_.get("rules", MarkedList())
        elif doc_ is None:
            rule_items = MarkedList()
        else:
            errors.add(Position(str(path), 1, 1), None, "expected a mapping with a 'rules' list")
            continue
        if not isinstance(rule_items, list):
            errors.add(position_of(doc_, "rules", value=True), None, "'rules' must be a list")
            continue
        for index, item in enumerate(rule_items):
            pos = position_of(rule_items, index)
            if not isinstance(item, MarkedDict):
                errors.add(pos, None, "each rule must be a mapping")
                continue
            rule_id = item.get("id") if isinstance(item.get("id"), str) else None
            if rule_id in pending:
                for key, value in pending.pop(rule_id).items():
                    # An invalid override is reported at the option, not at the rule's first
                    # line in the file (which would point at text that is not wrong).
                    place = _option_place(rule_id, key)
                    item[key] = value
                    item.key_pos.setdefault(key, place)
                    item.value_pos[key] = place
            rule = _build_rule(item, errors)
            if rule is None:
                continue
            if rule.id in seen_ids:
                errors.add(
                    position_of(item, "id", value=True),
                    rule.id,
                    f"duplicate id (first defined at {seen_ids[rule.id]})",
                )
            else:
                seen_ids[rule.id] = rule.origin
            if rule.sid in seen_sids:
                other, where = seen_sids[rule.sid]
                errors.add(
                    position_of(item, "sid", value=True),
                    rule.id,
                    f"duplicate sid {rule.sid} (also rule '{other}' at {where})",
                )
            else:
                seen_sids[rule.sid] = (rule.id, rule.origin)
            rules.append(rule)
    for rule_id in pending:
        errors.add(None, None, f"--set {rule_id}: no rule with this id")
    if errors.items:
        raise RuleFileError(errors.items)
    return RuleSet(
        rules, Allowlist(tuple(allow_cidrs), tuple(allow_domains)), [str(p) for p in files]
    )


def check_hyperscan(rules: Sequence[Rule]) -> None:
    """Raise RuleFileError naming every rule whose regex Hyperscan cannot compile.

    Load-time validation uses RE2 only; Hyperscan is checked when the detectors are
    built (one compile per field group, cached), which is where a failure would show.
    """
    patterns = [
        (i, r.regex, r.nocase)
        for i, r in enumerate(rules)
        if isinstance(r, (MatchRule, ThresholdRule)) and r.regex
    ]
    errors = ProblemList("rule")
    for index, problem in sorted(hyperscan_errors(patterns).items()):
        rule = rules[index]
        errors.add(rule.origin, rule.id, f"invalid regex: {problem}")
    if errors.items:
        raise RuleFileError(errors.items)


# -- one rule -----------------------------------------------------------------------


def _build_rule(item: MarkedDict, errors: ProblemList) -> Rule | None:
    rule_id = item.get("id") if isinstance(item.get("id"), str) else None
    before = len(errors.items)
    kind = item.get("kind", "match")
    cls = RULE_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        errors.add(
            position_of(item, "kind", value=True),
            rule_id,
            f"unknown kind {kind!r}{suggest(str(kind), RULE_KINDS)}",
        )
        return None
    keys = _yaml_keys(cls)
    values: dict[str, Any] = {}
    for key, raw in item.items():
        key_pos = position_of(item, key)
        value_pos = position_of(item, key, value=True)
        spec = keys.get(key)
        if spec is None:
            # A key of another kind ('count' on a match rule) is a missing 'kind:', and
            # "did you mean 'content'?" would send the user the wrong way.
            # A near-miss spelling ('field' for 'fields') still gets its suggestion.
            owners = [k for k, c in RULE_KINDS.items() if key in _yaml_keys(c)]
            close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.8)
            hint = (
                f" (a key of kind '{owners[0]}'; this rule is kind '{kind}')"
                if owners and not close
                else suggest(key, keys)
            )
            errors.add(key_pos, rule_id, f"unknown key '{key}'{hint}")
            continue
        value = _convert_value(key, raw, spec.type, value_pos, rule_id, errors)
        if value is not _INVALID:
            values[key] = value
    for name, spec in keys.items():
        required = (
            spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        )
        if required and name not in item:
            errors.add(item.pos, rule_id, f"missing required key '{name}'")
    if len(errors.items) > before:
        return None
    _check_common(item, values, errors)
    try:
        rule = cls(origin=item.pos, **values)
    except TypeError as exc:  # pragma: no cover - the checks above should prevent this
        errors.add(item.pos, rule_id, f"invalid rule: {exc}")
        return None
    _check_kind(rule, item, errors)
    if len(errors.items) > before:
        return None
    return rule


_INVALID = object()


def _convert_value(
    key: str,
    raw: Any,
    annotation: Any,
    pos: Position | None,
    rule_id: str | None,
    errors: ProblemList,
) -> Any:
    """Check and convert one YAML value to the dataclass field's type."""
    hint = _HINTS.get(annotation, annotation)
    if key == "where":
        return _conditions(raw, pos, rule_id, errors)
    if key == "allowlist":
        return _allowlist(raw, pos, rule_id, errors)
    if key == "examples":
        return _examples(raw, pos, rule_id, errors)
    if key == "detect":  # kind: signature (imported Suricata rules)
        from netsentry.sig.yamlform import detect_from_yaml

        return detect_from_yaml(raw, pos, rule_id, errors.add)
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        errors.add(pos, rule_id, f"'{key}' must be true or false")
        return _INVALID
    if hint is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        errors.add(pos, rule_id, f"'{key}' must be an integer")
        return _INVALID
    if hint is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        errors.add(pos, rule_id, f"'{key}' must be a number")
        return _INVALID
    if hint is str:
        if isinstance(raw, str):
            return raw
        errors.add(pos, rule_id, f"'{key}' must be a string")
        return _INVALID
    if hint == "strs":
        items = [raw] if isinstance(raw, str) else raw
        if isinstance(items, list) and all(
            isinstance(x, (str, int)) and not isinstance(x, bool) for x in items
        ):
            return tuple(str(x) for x in items)
        errors.add(pos, rule_id, f"'{key}' must be a list of strings")
        return _INVALID
    return raw  # pragma: no cover - every field type is handled above


_HINTS: dict[Any, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "tuple[str, ...]": "strs",
}


def _check_common(item: MarkedDict, values: dict[str, Any], errors: ProblemList) -> None:
    rule_id = values.get("id")
    if isinstance(rule_id, str) and not ID_RE.match(rule_id):
        errors.add(
            position_of(item, "id", value=True),
            rule_id,
            "id must be kebab-case (a-z, 0-9 and single dashes)",
        )
    sid = values.get("sid")
    if isinstance(sid, int) and not 1 <= sid <= MAX_SID:
        errors.add(
            position_of(item, "sid", value=True), rule_id, f"sid must be between 1 and {MAX_SID}"
        )
    category = values.get("category")
    if isinstance(category, str) and category not in CATEGORIES:
        errors.add(
            position_of(item, "category", value=True),
            rule_id,
            f"unknown category '{category}'{suggest(category, CATEGORIES)}",
        )
    severity = values.get("severity")
    if isinstance(severity, str) and severity not in SEVERITIES:
        errors.add(
            position_of(item, "severity", value=True),
            rule_id,
            f"unknown severity '{severity}'{suggest(severity, SEVERITIES)}",
        )
    for key in ("title",):
        if isinstance(values.get(key), str) and not values[key].strip():
            errors.add(position_of(item, key, value=True), rule_id, f"'{key}' must not be empty")


def _field_record(
    name: str, pos: Position | None, rule_id: str, errors: ProblemList, what: str = "field"
) -> str | None:
    spec = resolve(name)
    if spec is None:
        from netsentry.fields import FIELDS

        errors.add(pos, rule_id, f"unknown {what} '{name}'{suggest(name, FIELDS)}")
        return None
    return spec.record


def _check_kind(rule: Rule, item: MarkedDict, errors: ProblemList) -> None:
    records: dict[str, str] = {}  # record type -> a field that needs it

    def need(name: str, key: str, where: Position | None = None) -> None:
        record = _field_record(name, where or position_of(item, key, value=True), rule.id, errors)
        if record is not None and record != "any":
            records.setdefault(record, name)

    if isinstance(rule, (MatchRule, ThresholdRule)):
        if rule.field:
            need(rule.field, "field")
        has_pattern = bool(rule.regex) + bool(rule.content)
        if has_pattern > 1:
            errors.add(
                position_of(item, "content"), rule.id, "give either 'regex' or 'content', not both"
            )
        # Only when neither half is there: a field without a pattern (or the reverse) has
        # its own message below, and one mistake used to be reported twice.
        if isinstance(rule, MatchRule) and not rule.field and not has_pattern and not rule.where:
            errors.add(
                item.pos,
                rule.id,
                "a match rule needs 'field' with 'regex' or 'content', or 'where' conditions",
            )
        if isinstance(rule, MatchRule) and rule.field and not has_pattern:
            errors.add(position_of(item, "field"), rule.id, "'field' needs 'regex' or 'content'")
        if isinstance(rule, MatchRule) and has_pattern and not rule.field:
            errors.add(item.pos, rule.id, "'regex'/'content' need a 'field' to match")
        if rule.field and isinstance(rule, ThresholdRule) and not has_pattern:
            errors.add(
                position_of(item, "field"),
                rule.id,
                "'field' needs 'regex' or 'content' to say what counts",
            )
        if rule.regex:
            problem = pattern_error(rule.regex, rule.nocase, hyperscan_check=False)
            if problem:
                errors.add(
                    position_of(item, "regex", value=True), rule.id, f"invalid regex: {problem}"
                )
        for name in rule.transforms:
            if name not in TRANSFORMS:
                errors.add(
                    position_of(item, "transforms", value=True),
                    rule.id,
                    f"unknown transform '{name}'{suggest(name, TRANSFORMS)}",
                )
    if isinstance(rule, ThresholdRule):
        if rule.track not in TRACKS:
            errors.add(
                position_of(item, "track", value=True),
                rule.id,
                f"unknown track '{rule.track}'{suggest(rule.track, TRACKS)}",
            )
        if rule.count < 1:
            errors.add(position_of(item, "count", value=True), rule.id, "count must be at least 1")
        if not rule.seconds > 0 or rule.seconds > 30 * 86400:
            errors.add(
                position_of(item, "seconds", value=True),
                rule.id,
                "seconds must be a window between 0 and 30 days",
            )
        if rule.distinct:
            need(rule.distinct, "distinct")
        if rule.record:
            from netsentry.fields import RECORD_TYPES

            if rule.record not in RECORD_TYPES:
                errors.add(
                    position_of(item, "record", value=True),
                    rule.id,
                    f"unknown record type '{rule.record}'{suggest(rule.record, RECORD_TYPES)}",
                )
            else:
                records.setdefault(rule.record, "record")
    if isinstance(rule, IntelRule):
        if not rule.fields:
            errors.add(
                position_of(item, "fields"), rule.id, "an intel rule needs at least one field"
            )
        for name in rule.fields:
            need(name, "fields")
    if isinstance(rule, DgaRule):
        _check_dga(rule, item, errors, need)
    if rule.kind == "signature":
        from netsentry.sig.model import SignatureRule
        from netsentry.sig.yamlform import signature_problems

        assert isinstance(rule, SignatureRule)
        for problem in signature_problems(rule):
            errors.add(item.pos, rule.id, problem)
    for cond in getattr(rule, "where", ()):
        need(cond.field, "where", cond.pos)
    if len(records) > 1:
        listed = ", ".join(f"{field} ({record})" for record, field in records.items())
        errors.add(item.pos, rule.id, f"fields come from different record types: {listed}")


def _check_dga(rule: DgaRule, item: MarkedDict, errors: ProblemList, need: Any) -> None:
    """A dga rule scores one name field, at a threshold between 0 and 1."""
    spec = resolve(rule.field)
    if spec is None:
        need(rule.field, "field")  # reports the unknown field with a suggestion
    elif spec.name not in DGA_FIELDS:
        errors.add(
            position_of(item, "field", value=True),
            rule.id,
            f"a dga rule scores a name field: {', '.join(DGA_FIELDS)} (not '{rule.field}')",
        )
    else:
        need(rule.field, "field")
    if not 0.0 < rule.score <= 1.0:
        errors.add(
            position_of(item, "score", value=True),
            rule.id,
            "score must be a number above 0 and at most 1",
        )


def _conditions(raw: Any, pos: Position | None, rule_id: str | None, errors: ProblemList) -> Any:
    if not isinstance(raw, MarkedDict):
        errors.add(pos, rule_id, "'where' must be a mapping of field: value or field: {op: value}")
        return _INVALID
    out: list[Condition] = []
    for name, spec in raw.items():
        cpos = raw.key_pos[name]
        if isinstance(spec, MarkedDict):
            for op, value in spec.items():
                cond = _condition(name, op, value, spec.key_pos[op], rule_id, errors)
                if cond is not None:
                    out.append(cond)
        else:
            op = "in" if isinstance(spec, list) else "eq"
            cond = _condition(name, op, spec, cpos, rule_id, errors)
            if cond is not None:
                out.append(cond)
    return tuple(out)


def _condition(
    name: str, op: str, value: Any, pos: Position | None, rule_id: str | None, errors: ProblemList
) -> Condition | None:
    if op not in OPERATORS:
        errors.add(pos, rule_id, f"unknown operator '{op}' for '{name}'{suggest(op, OPERATORS)}")
        return None
    if op in ("in", "not_in", "cidr", "not_cidr"):
        value = [value] if not isinstance(value, list) else list(value)
    if op in ("cidr", "not_cidr"):
        for block in value:
            try:
                ipaddress.ip_network(str(block), strict=False)
            except ValueError:
                errors.add(pos, rule_id, f"'{name}': invalid CIDR {block!r}")
                return None
    if op in ("regex", "not_regex"):
        problem = pattern_error(str(value), hyperscan_check=False)  # where: runs on RE2
        if problem:
            errors.add(pos, rule_id, f"'{name}': invalid regex: {problem}")
            return None
    if op in ("gt", "ge", "lt", "le") and (
        not isinstance(value, (int, float)) or isinstance(value, bool)
    ):
        errors.add(pos, rule_id, f"'{name}': '{op}' needs a number")
        return None
    if op == "exists" and not isinstance(value, bool):
        errors.add(pos, rule_id, f"'{name}': 'exists' needs true or false")
        return None
    if isinstance(value, list):
        value = tuple(value)
    return Condition(name, op, value, pos)


def _allowlist(raw: Any, pos: Position | None, rule_id: str | None, errors: ProblemList) -> Any:
    allow = parse_allowlist(raw, pos, rule_id, errors)
    return _INVALID if allow is None else allow


def parse_allowlist(
    raw: Any, pos: Position | None, name: str | None, errors: ProblemList
) -> Allowlist | None:
    """An ``allowlist: {cidrs: [...], domains: [...]}`` mapping (rules and feeds.yaml).

    Problems go to ``errors`` (under ``name``); None when ``raw`` is not a mapping.
    """
    rule_id = name
    if not isinstance(raw, MarkedDict):
        errors.add(pos, rule_id, "'allowlist' must be a mapping with 'cidrs' and/or 'domains'")
        return None
    cidrs: list[str] = []
    domains: list[str] = []
    for key, value in raw.items():
        kpos = raw.key_pos[key]
        items = value if isinstance(value, list) else [value]
        if key == "cidrs":
            for block in items:
                try:
                    cidrs.append(str(ipaddress.ip_network(str(block), strict=False)))
                except ValueError:
                    errors.add(kpos, rule_id, f"allowlist: invalid CIDR {block!r}")
        elif key == "domains":
            # normalize_domain as indicators are: a per-rule '*.scanner.example' was kept
            # as written and never matched (the global list was normalized later).
            domains.extend(normalize_domain(str(d)) for d in items)
        else:
            errors.add(
                kpos,
                rule_id,
                f"allowlist: unknown key '{key}'{suggest(key, ('cidrs', 'domains'))}",
            )
    return Allowlist(tuple(cidrs), tuple(domains))


def _examples(raw: Any, pos: Position | None, rule_id: str | None, errors: ProblemList) -> Any:
    if not isinstance(raw, MarkedDict):
        errors.add(
            pos, rule_id, "'examples' must be a mapping with 'match' and/or 'no_match' lists"
        )
        return _INVALID
    found: dict[str, tuple[Any, ...]] = {}
    for key, value in raw.items():
        if key not in ("match", "no_match"):
            errors.add(
                raw.key_pos[key],
                rule_id,
                f"examples: unknown key '{key}'{suggest(key, ('match', 'no_match'))}",
            )
            continue
        if not isinstance(value, list):
            errors.add(raw.value_pos[key], rule_id, f"examples: '{key}' must be a list")
            continue
        found[key] = tuple(value)
    return Examples(found.get("match", ()), found.get("no_match", ()))


# Keep typing's names referenced for readers of the type-dispatch table above.
_ = (typing, types)
