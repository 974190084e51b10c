"""Rule-header address and port expressions (``[10.0.0.0/8,!10.1.2.3]``, ``[80,8000:8080]``).

An expression compiles to "inside one of the included blocks (or any) and inside
none of the excluded ones", which is how Suricata reads negations inside lists:
``![a,b]`` excludes both, ``[a,!b]`` is a without b.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from netsentry.conditions import CidrSet
from netsentry.sig.parse import RuleSyntaxError

MEMO_MAX = 65536  # remembered verdicts per expression (a flood of spoofed sources is cut)


def _split_list(text: str) -> list[str]:
    """Top-level comma-separated items of ``[...]`` contents (nested lists kept whole)."""
    items: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise RuleSyntaxError("unbalanced ']' in list")
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth:
        raise RuleSyntaxError("unbalanced '[' in list")
    items.append("".join(current).strip())
    if any(not item for item in items):
        raise RuleSyntaxError("empty item in list")
    return items


def _walk(text: str, negated: bool, pos: list[str], neg: list[str]) -> bool:
    """Collect terms into pos/neg; True when an un-negated ``any`` was seen."""
    text = text.strip()
    if not text:
        raise RuleSyntaxError("empty address or port")
    if text.startswith("!"):
        return _walk(text[1:], not negated, pos, neg)
    if text.startswith("["):
        if not text.endswith("]"):
            raise RuleSyntaxError(f"unbalanced list {text[:40]!r}")
        seen_any = False
        for item in _split_list(text[1:-1]):
            seen_any |= _walk(item, negated, pos, neg)
        return seen_any
    if text.lower() == "any":
        if negated:
            raise RuleSyntaxError("'!any' matches nothing")
        return True
    (neg if negated else pos).append(text)
    return False


class AddressSpec:
    """A compiled address expression; ``matches`` takes a packed 4/16-byte address."""

    def __init__(self, text: str) -> None:
        self.text = text
        pos: list[str] = []
        neg: list[str] = []
        seen_any = _walk(text, False, pos, neg)
        for term in pos + neg:
            try:
                ipaddress.ip_network(term, strict=False)
            except ValueError:
                raise RuleSyntaxError(f"bad address {term[:60]!r}") from None
        self.any = seen_any or not pos
        self.include = CidrSet(pos)
        self.exclude = CidrSet(neg)
        self.trivial = self.any and not neg
        self._memo: dict[bytes, bool] = {}

    def matches(self, packed: bytes) -> bool:
        """True when the address satisfies the expression (memoized: addresses repeat)."""
        if self.trivial:
            return True
        known = self._memo.get(packed)
        if known is None:
            known = (self.any or self.include.contains_packed(packed)) and not (
                self.exclude and self.exclude.contains_packed(packed)
            )
            if len(self._memo) >= MEMO_MAX:
                self._memo.clear()
            self._memo[packed] = known
        return known


def _port_range(term: str) -> tuple[int, int]:
    try:
        if ":" in term:
            low, _, high = term.partition(":")
            start = int(low) if low.strip() else 0
            end = int(high) if high.strip() else 65535
        else:
            start = end = int(term)
    except ValueError:
        raise RuleSyntaxError(f"bad port {term[:40]!r}") from None
    if not (0 <= start <= end <= 65535):
        raise RuleSyntaxError(f"bad port range {term[:40]!r}")
    return start, end


class PortSpec:
    """A compiled port expression (numbers, ``a:b`` ranges, lists, negations)."""

    def __init__(self, text: str) -> None:
        self.text = text
        pos: list[str] = []
        neg: list[str] = []
        seen_any = _walk(text, False, pos, neg)
        self.include = [_port_range(t) for t in pos]
        self.exclude = [_port_range(t) for t in neg]
        self.any = seen_any or not pos
        self.trivial = self.any and not neg
        self._memo: dict[int, bool] = {}

    def matches(self, port: int) -> bool:
        """True when the port satisfies the expression."""
        if self.trivial:
            return True
        known = self._memo.get(port)
        if known is None:
            inside = self.any or any(a <= port <= b for a, b in self.include)
            known = inside and not any(a <= port <= b for a, b in self.exclude)
            if len(self._memo) < 65536:
                self._memo[port] = known
        return known


@lru_cache(maxsize=4096)
def address_spec(text: str) -> AddressSpec:
    """A compiled address expression, shared by every rule that spells it the same way
    (thousands of imported rules say $HOME_NET / $EXTERNAL_NET)."""
    return AddressSpec(text)


@lru_cache(maxsize=4096)
def port_spec(text: str) -> PortSpec:
    """A compiled port expression, shared like :func:`address_spec`."""
    return PortSpec(text)
