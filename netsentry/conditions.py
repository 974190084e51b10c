"""``where:`` conditions compiled into fast predicates over field values.

A condition on a multi-valued field (a list, such as the names of a DNS query)
holds when *any* element passes; the negative operators (``ne``, ``not_in``,
``not_regex``, ``not_cidr``) hold when *no* element fails them, so "not in the
allowlist" means none of the values is listed.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Callable
from typing import Any

from netsentry.fields import Ctx, resolve
from netsentry.matchers import compile_single, to_bytes
from netsentry.model import PROTO_NAMES
from netsentry.rules import Condition

Test = Callable[[Any], bool]
Predicate = Callable[[Ctx], bool]


class CidrSet:
    """Membership of addresses in a list of CIDR blocks (sorted integer ranges, bisect)."""

    def __init__(self, blocks: tuple[str, ...] | list[str]) -> None:
        ranges: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for block in blocks:
            net = ipaddress.ip_network(str(block), strict=False)
            ranges[net.version].append((int(net.network_address), int(net.broadcast_address)))
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        for version, spans in ranges.items():
            merged: list[tuple[int, int]] = []
            for start, end in sorted(spans):
                if merged and start <= merged[-1][1] + 1:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], end))
                else:
                    merged.append((start, end))
            self._starts[version] = [s for s, _ in merged]
            self._ends[version] = [e for _, e in merged]

    def __bool__(self) -> bool:
        return any(self._starts.values())

    def contains_packed(self, packed: bytes) -> bool:
        """True when a packed 4- or 16-byte address is inside a block."""
        version = 4 if len(packed) == 4 else 6 if len(packed) == 16 else 0
        if not version:
            return False
        return self._contains(version, int.from_bytes(packed, "big"))

    def contains_text(self, text: str) -> bool:
        """True when an address written as text is inside a block."""
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            return False
        return self._contains(addr.version, int(addr))

    def _contains(self, version: int, value: int) -> bool:
        starts = self._starts.get(version)
        if not starts:
            return False
        i = bisect.bisect_right(starts, value) - 1
        return i >= 0 and value <= self._ends[version][i]


def value_test(cond: Condition) -> Test:
    """A predicate over one (scalar) field value for ``cond``."""
    op, expected = cond.op, cond.value
    if op in ("eq", "ne", "in", "not_in"):
        equals = _equals_any((expected,) if op in ("eq", "ne") else tuple(expected))
        if op in ("eq", "in"):
            return equals
        return lambda v: not equals(v)
    if op in ("regex", "not_regex"):
        compiled = compile_single(str(expected))
        if op == "regex":
            return lambda v: v is not None and compiled.search(to_bytes(v) or b"") is not None
        return lambda v: v is None or compiled.search(to_bytes(v) or b"") is None
    if op in ("cidr", "not_cidr"):
        cidrs = CidrSet(expected)
        if op == "cidr":
            return lambda v: isinstance(v, str) and cidrs.contains_text(v)
        return lambda v: not (isinstance(v, str) and cidrs.contains_text(v))
    if op == "contains":
        needle = to_bytes(expected) or b""
        return lambda v: v is not None and needle in (to_bytes(v) or b"")
    if op in ("gt", "ge", "lt", "le"):
        number = float(expected)
        compare: Test = {
            "gt": lambda v: v > number,
            "ge": lambda v: v >= number,
            "lt": lambda v: v < number,
            "le": lambda v: v <= number,
        }[op]
        return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and compare(v)
    if op == "exists":
        return lambda v: (v is not None) == bool(expected)
    raise ValueError(f"unknown operator {op}")  # pragma: no cover - validated at load


_NEGATIVE = frozenset(("ne", "not_in", "not_regex", "not_cidr"))


def _eq(value: Any, expected: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool) or isinstance(expected, bool):
        # Booleans equal booleans only: `value == expected` made port 1 equal `true`.
        return value is expected
    if isinstance(value, (int, float)) and isinstance(expected, (int, float)):
        return value == expected
    if isinstance(value, bytes):
        return value == (to_bytes(expected) or b"")
    return str(value) == str(expected)


def _equals_any(expected: tuple[Any, ...]) -> Test:
    """``any(_eq(v, e) for e in expected)``, with set lookups for int and str values.

    Ports, rcodes and record types are tested millions of times, many against lists of
    twenty values; the sets give the same answer as :func:`_eq` for those two types.
    """
    # An int equals a number by value and anything else (except a bool) by its text.
    numbers = frozenset(
        e for e in expected if isinstance(e, (int, float)) and not isinstance(e, bool)
    )
    other_texts = frozenset(str(e) for e in expected if not isinstance(e, (bool, int, float)))
    # A str equals anything but a bool by text.
    texts = frozenset(str(e) for e in expected if not isinstance(e, bool))

    def test(v: Any) -> bool:
        kind = v.__class__
        if kind is int:
            return v in numbers or (bool(other_texts) and str(v) in other_texts)
        if kind is str:
            return v in texts
        return any(_eq(v, e) for e in expected)

    return test


def holds(cond: Condition, test: Test, value: Any) -> bool:
    """Apply a compiled test to a (possibly multi-valued) value."""
    if isinstance(value, list):
        if cond.op in _NEGATIVE:
            return all(test(v) for v in value)
        if cond.op == "exists":
            return test(value or None)
        return any(test(v) for v in value)
    return test(value)


MEMO_SIZE = 4096  # remembered outcomes per condition (values repeat: flags, ports, rcodes)


def compile_condition(cond: Condition) -> Predicate:
    """A predicate over a record context.

    Outcomes for scalar values are memoized: conditions on packets run millions of
    times on a handful of distinct values (TCP flags, protocols, ports), so a dict
    lookup replaces the comparison chain.
    """
    spec = resolve(cond.field)
    assert spec is not None, cond.field  # validated at load
    getter = spec.get
    test = value_test(cond)
    memo: dict[Any, bool] = {}

    def predicate(ctx: Ctx) -> bool:
        value = getter(ctx)
        kind = value.__class__
        if kind is int or kind is str:
            known = memo.get(value)
            if known is None:
                known = holds(cond, test, value)
                if len(memo) >= MEMO_SIZE:
                    memo.clear()
                memo[value] = known
            return known
        return holds(cond, test, value)

    return predicate


def required_protocols(
    conditions: tuple[Condition, ...] | list[Condition],
) -> frozenset[int] | None:
    """IP protocol numbers a record must have for the conditions to hold; None if any may.

    Lets packet rules be dispatched by protocol, so a UDP packet never evaluates rules
    that test TCP flags.
    """
    allowed: frozenset[int] | None = None
    names = {v: k for k, v in PROTO_NAMES.items()}
    for cond in conditions:
        spec = resolve(cond.field)
        name = spec.name if spec is not None else cond.field
        found: frozenset[int] | None = None
        if name == "proto" and cond.op in ("eq", "in"):
            values = [
                str(v) for v in (cond.value if isinstance(cond.value, tuple) else (cond.value,))
            ]
            found = frozenset(
                names[v] if v in names else int(v) for v in values if v in names or v.isdigit()
            )
        elif name == "tcp.flags":
            found = frozenset((6,))
        elif name in ("icmp.type", "icmp.code"):
            found = frozenset((1, 58))
        if found is not None:
            allowed = found if allowed is None else allowed & found
    return allowed
