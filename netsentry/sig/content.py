"""Exact evaluation of a buffer's inspections with Suricata's positional semantics.

Only rules the multi-pattern prefilter selected get here. Contents are searched in
their window — ``offset``/``depth`` from the start of the buffer, ``distance``/
``within`` from the end of the previous match on the same buffer (``within``
counted from where ``distance`` puts the start) — and when a later relative
inspection fails, the previous content is retried at its next occurrence, as
Suricata's content inspection does. The retries are bounded (``MAX_STEPS``), so
hostile payloads cannot make a rule cost more than a fixed number of searches.
pcre runs on RE2 (linear time): a relative pcre (``/R``) searches the rest of the
buffer after the previous match, with ``^`` anchored there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from netsentry.matchers import compile_single
from netsentry.sig.model import SigItem
from netsentry.sig.parse import RuleSyntaxError
from netsentry.sig.reputation import dataset_mode, in_dataset

MAX_STEPS = 3000  # content searches per buffer and rule (Suricata's inspection recursion limit)

_NUMERIC = re.compile(r"^\s*(!|<=|>=|<|>|=)?\s*(-?\d+)\s*(?:<>\s*(\d+))?\s*$")
_RANGE = re.compile(r"^\s*(\d+)\s*(<>|-)\s*(\d+)\s*$")


def numeric_test(spec: str) -> Callable[[int], bool]:
    """A predicate for Suricata's numeric syntax: ``N``, ``<N``, ``<=N``, ``>N``, ``>=N``,
    ``!N``, ``A<>B`` (exclusive) and ``A-B`` (exclusive, the old itype form)."""
    found = _RANGE.match(spec)
    if found:
        low, high = int(found[1]), int(found[3])
        if low >= high:
            raise RuleSyntaxError(f"empty range {spec!r}")
        return lambda v: low < v < high
    found = _NUMERIC.match(spec)
    if found is None or found[3] is not None:
        raise RuleSyntaxError(f"bad number test {spec!r}")
    op, number = found[1] or "=", int(found[2])
    return {
        "=": lambda v: v == number,
        "!": lambda v: v != number,
        "<": lambda v: v < number,
        "<=": lambda v: v <= number,
        ">": lambda v: v > number,
        ">=": lambda v: v >= number,
    }[op]


class Compiled:
    """One SigItem prepared for matching."""

    __slots__ = (
        "end_only",
        "item",
        "mode",
        "pattern",
        "regex",
        "relative",
        "size_test",
        "values",
    )

    def __init__(self, item: SigItem, datasets: Any = None) -> None:
        self.item = item
        self.pattern = item.content.lower() if item.nocase else item.content
        self.regex: Any = None
        self.size_test: Callable[[int], bool] | None = None
        self.values: frozenset[bytes] | None = None
        self.mode = "exact"
        self.relative = item.is_relative
        self.end_only = item.endswith
        if item.kind == "pcre":
            self.regex = compile_single(item.regex)
        elif item.kind == "bsize":
            self.size_test = numeric_test(item.value)
        elif item.kind == "isdataat":
            self.size_test = None
            int(item.value)  # validated
        elif item.kind == "dataset":
            self.values = datasets(item.value) if datasets is not None else frozenset()
            self.mode = dataset_mode(item.value)


def compile_items(items: Sequence[SigItem], datasets: Any = None) -> list[Compiled]:
    """Items of one buffer, compiled (raises re2.error or RuleSyntaxError)."""
    return [Compiled(item, datasets) for item in items]


def _window(c: Compiled, size: int, prev_end: int) -> tuple[int, int]:
    item = c.item
    if item.distance is not None or item.within is not None:
        start = prev_end + (item.distance or 0)
        end = start + item.within if item.within is not None else size
        start = max(start, 0)
    else:
        start = item.offset or 0
        end = start + item.depth if item.depth is not None else size
    if item.startswith:
        end = min(end, start + len(c.pattern)) if not c.relative else end
    return start, min(end, size)


def _find(c: Compiled, hay: bytes, start: int, end: int, size: int) -> int:
    pattern = c.pattern
    if c.end_only:
        pos = size - len(pattern)
        if pos >= start and size <= end and hay.startswith(pattern, pos):
            return pos
        return -1
    if c.item.startswith and not c.relative:
        return start if hay.startswith(pattern, start) and start + len(pattern) <= end else -1
    return hay.find(pattern, start, end)


def match_buffer(items: Sequence[Compiled], data: bytes) -> bool:
    """True when every inspection of a buffer holds on ``data``."""
    lower: list[bytes | None] = [None]
    steps = [0]

    def hay(c: Compiled) -> bytes:
        if not c.item.nocase:
            return data
        folded = lower[0]
        if folded is None:
            folded = lower[0] = data.lower()
        return folded

    size = len(data)

    def walk(i: int, prev_end: int) -> bool:
        if i == len(items):
            return True
        c = items[i]
        item = c.item
        kind = item.kind
        if kind == "content":
            start, end = _window(c, size, prev_end)
            text = hay(c)
            steps[0] += 1
            pos = _find(c, text, start, end, size) if start <= end else -1
            if item.negated:
                return pos < 0 and walk(i + 1, prev_end)
            retry = i + 1 < len(items) and items[i + 1].relative
            while pos >= 0:
                if walk(i + 1, pos + len(c.pattern)):
                    return True
                if not retry or c.end_only or steps[0] >= MAX_STEPS:
                    return False
                steps[0] += 1
                pos = text.find(c.pattern, pos + 1, end)
                if item.startswith and not c.relative:
                    pos = -1
            return False
        if kind == "pcre":
            base = prev_end if item.relative else 0
            # A slice, not search(data, pos): with pos RE2 would not anchor '^' there.
            found = c.regex.search(data[base:] if base else data) if base <= size else None
            if item.negated:
                return found is None and walk(i + 1, prev_end)
            if found is None:
                return False
            return walk(i + 1, base + found.end())
        if kind == "isdataat":
            number = int(item.value)
            present = prev_end + number <= size if item.relative else number < size
            if present == item.negated:
                return False
            return walk(i + 1, prev_end)
        if kind == "bsize":
            assert c.size_test is not None
            return c.size_test(size) and walk(i + 1, prev_end)
        if kind == "dataset":
            inside = c.values is not None and in_dataset(data, c.values, c.mode)
            if inside == item.negated:
                return False
            return walk(i + 1, prev_end)
        return False

    return walk(0, 0)
