"""``kind: signature`` rules to and from netsentry YAML.

``netsentry rules import`` writes imported rules with :func:`to_yaml` so they
can be edited and loaded with ``-r`` like any rule file; the loader
(:mod:`netsentry.ruleload`) reads the ``detect`` list back with
:func:`detect_from_yaml` and checks the whole rule with :func:`signature_problems`.
Contents are written in Suricata's notation (text with ``|hex|`` runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import re2
import yaml

from netsentry.sig.buffers import BUFFERS, TRANSFORMS
from netsentry.sig.model import ITEM_KINDS, SigItem, SignatureRule
from netsentry.sig.parse import RuleSyntaxError, content_text
from netsentry.yamlfile import Position

_ITEM_FIELDS = {f.name: f for f in dataclasses.fields(SigItem)}
_INT_KEYS = ("offset", "depth", "distance", "within")
_BOOL_KEYS = ("nocase", "negated", "startswith", "endswith", "relative", "fast_pattern")


def item_to_dict(item: SigItem) -> dict[str, Any]:
    """One inspection as a YAML mapping (defaults left out)."""
    out: dict[str, Any] = {"kind": item.kind, "buffer": item.buffer}
    if item.transforms:
        out["transforms"] = list(item.transforms)
    if item.kind == "content":
        out["content"] = content_text(item.content)
    if item.regex:
        out["regex"] = item.regex
    if item.value:
        out["value"] = item.value
    for key in _BOOL_KEYS:
        if getattr(item, key):
            out[key] = True
    for key in _INT_KEYS:
        if getattr(item, key) is not None:
            out[key] = getattr(item, key)
    return out


def rule_to_dict(rule: SignatureRule) -> dict[str, Any]:
    """A signature rule as a YAML mapping, keys in a readable order, defaults left out."""
    out: dict[str, Any] = {}
    defaults = {f.name: f.default for f in dataclasses.fields(rule)}
    for name, value in rule.keys().items():
        if name == "detect":
            if value:
                out["detect"] = [item_to_dict(i) for i in value]
            continue
        if name in ("id", "sid", "title", "category", "severity", "kind", "protocol"):
            out[name] = value
            continue
        if value == defaults.get(name) or name in ("allowlist", "examples"):
            continue
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def to_yaml(rules: Sequence[SignatureRule], header: str = "") -> str:
    """A netsentry rule file holding these rules."""
    body = yaml.safe_dump(
        {"version": 1, "rules": [rule_to_dict(r) for r in rules]},
        sort_keys=False,
        allow_unicode=False,
        width=100,
    )
    return header + body


def _content(text: str) -> bytes:
    from netsentry.sig.parse import content_bytes

    data, negated = content_bytes('"' + text.replace('"', '\\"') + '"')
    if negated:
        raise RuleSyntaxError("write negation as 'negated: true'")
    return data


def detect_from_yaml(
    raw: Any, pos: Position | None, rule_id: str | None, add: Callable[..., None]
) -> Any:
    """The ``detect`` list of a YAML rule as SigItems; problems go to ``add(pos, id, msg)``."""
    from netsentry.ruleload import _INVALID

    if not isinstance(raw, list):
        add(pos, rule_id, "'detect' must be a list of mappings")
        return _INVALID
    items: list[SigItem] = []
    ok = True
    for index, entry in enumerate(raw):
        where = f"detect[{index}]"
        if not isinstance(entry, dict):
            add(pos, rule_id, f"{where} must be a mapping")
            ok = False
            continue
        values: dict[str, Any] = {}
        for key, value in entry.items():
            if key not in _ITEM_FIELDS:
                add(pos, rule_id, f"{where}: unknown key '{key}'")
                ok = False
            elif key in _BOOL_KEYS and not isinstance(value, bool):
                add(pos, rule_id, f"{where}: '{key}' must be true or false")
                ok = False
            elif key in _INT_KEYS and (not isinstance(value, int) or isinstance(value, bool)):
                add(pos, rule_id, f"{where}: '{key}' must be an integer")
                ok = False
            elif key == "transforms":
                names = [value] if isinstance(value, str) else value
                if not isinstance(names, list) or any(n not in TRANSFORMS for n in names):
                    add(pos, rule_id, f"{where}: transforms must be among {', '.join(TRANSFORMS)}")
                    ok = False
                else:
                    values[key] = tuple(names)
            elif key == "content":
                try:
                    values[key] = _content(str(value))
                except RuleSyntaxError as exc:
                    add(pos, rule_id, f"{where}: {exc}")
                    ok = False
            else:
                values[key] = value if key in _INT_KEYS + _BOOL_KEYS else str(value)
        if values.get("kind") not in ITEM_KINDS:
            add(pos, rule_id, f"{where}: kind must be one of {', '.join(ITEM_KINDS)}")
            ok = False
            continue
        if values.get("buffer", "payload") not in BUFFERS:
            add(pos, rule_id, f"{where}: unknown buffer '{values.get('buffer')}'")
            ok = False
            continue
        items.append(SigItem(**values))
    return tuple(items) if ok else _INVALID


def signature_problems(rule: SignatureRule) -> list[str]:
    """Why a signature rule cannot run (bad address, port, regex, number, threshold), if so."""
    from netsentry.sig.detect import _Sig
    from netsentry.sig.translate import MAX_ITEMS

    if len(rule.detect) > MAX_ITEMS:
        return [f"invalid signature: more than {MAX_ITEMS} inspections"]
    try:
        _Sig(rule, 0, None, lambda spec: frozenset())
    except (RuleSyntaxError, ValueError, KeyError, re2.error) as exc:
        return [f"invalid signature: {exc}"]
    for item in rule.detect:
        if item.kind == "content" and not item.content:
            return ["invalid signature: a content inspection needs 'content'"]
        if item.kind == "pcre" and not item.regex:
            return ["invalid signature: a pcre inspection needs 'regex'"]
    return []
