"""Bounded aggregates of findings, for the views people read (terminal and HTML).

A noisy rule can fire a million times; nobody reads a million rows, and the
report must not hold a million findings. :class:`FindingAggregate` keeps, per
rule, counts, first/last seen and top sources and targets, and folds identical
findings (same rule, same source and destination) that follow each other within
a window into one :class:`Group` with a count. Everything is bounded: at most
``max_groups`` listed groups per rule (the rest are still counted), bounded
talker tables, and a timeline whose bucket width doubles when it would grow past
``max_buckets``.

:class:`Deduper` applies the same identity to EVE output when ``--dedup`` is given:
the first finding of a run of identical ones is written, the rest are counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from netsentry.findings import Finding
from netsentry.rules import SEVERITIES, Rule
from netsentry.summary import TopTable

SEC = 1_000_000_000
DEFAULT_WINDOW = 60.0  # seconds: identical findings closer than this are one group
MAX_GROUPS = 200  # listed groups per rule
MAX_BUCKETS = 120  # timeline buckets
MAX_OPEN_KEYS = 50_000  # (rule, src, dst) identities tracked at once


def severity_rank(severity: str) -> int:
    """1 for critical ... 5 for info; 9 for anything unknown (sorts last)."""
    return SEVERITIES.get(severity, 9)


@dataclass(slots=True)
class Group:
    """Identical findings (same rule, source, destination) close together in time."""

    rule: Rule
    src: bytes
    dst: bytes
    first_ts: int
    last_ts: int
    count: int
    sample: Finding  # the first one: its evidence, ports and app record are shown

    def add(self, finding: Finding) -> None:
        self.count += 1
        self.first_ts = min(self.first_ts, finding.ts)
        self.last_ts = max(self.last_ts, finding.ts)


@dataclass
class RuleStats:
    """Everything the report shows about one rule."""

    rule: Rule
    count: int = 0
    first_ts: int = 0
    last_ts: int = 0
    groups: list[Group] = field(default_factory=list)
    unlisted: int = 0  # findings in groups beyond max_groups (counted, not listed)
    sources: TopTable = field(default_factory=lambda: TopTable(2_000))
    targets: TopTable = field(default_factory=lambda: TopTable(2_000))


class Timeline:
    """Findings per time bucket and severity; the bucket width doubles to stay bounded."""

    def __init__(self, max_buckets: int = MAX_BUCKETS, width: int = SEC // 100) -> None:
        # Starts at 10 ms so a capture of a few seconds still gets a readable chart;
        # doubling reaches an hour per bucket after 19 steps.
        self.max_buckets = max_buckets
        self.width = width
        self.origin: int | None = None
        self.buckets: dict[int, Counter[str]] = {}

    def add(self, ts: int, severity: str) -> None:
        if self.origin is None:
            self.origin = ts - ts % self.width
        if ts < self.origin:
            # a finding earlier than the first one (flow-end findings carry older times):
            # move the origin back by whole buckets, re-keying what is there
            shift = -(-(self.origin - ts) // self.width)
            self.origin -= shift * self.width
            self.buckets = {k + shift: v for k, v in self.buckets.items()}
        index = (ts - self.origin) // self.width
        while index >= self.max_buckets:
            self._widen()
            index = (ts - self.origin) // self.width
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self.buckets[index] = Counter()
        bucket[severity] += 1

    def _widen(self) -> None:
        self.width *= 2
        merged: dict[int, Counter[str]] = {}
        for index, counts in self.buckets.items():
            target = merged.setdefault(index // 2, Counter())
            target.update(counts)
        self.buckets = merged

    def rows(self) -> list[tuple[int, Counter[str]]]:
        """(bucket start time in ns, counts by severity), every bucket from first to last."""
        if self.origin is None or not self.buckets:
            return []
        last = max(self.buckets)
        return [
            (self.origin + i * self.width, self.buckets.get(i, Counter())) for i in range(last + 1)
        ]


class FindingAggregate:
    """Streaming, bounded summary of findings (``add`` one at a time)."""

    def __init__(
        self,
        window: float = DEFAULT_WINDOW,
        max_groups: int = MAX_GROUPS,
        max_open: int = MAX_OPEN_KEYS,
    ) -> None:
        self.window = int(window * SEC)
        self.max_groups = max_groups
        self.max_open = max_open
        self.total = 0
        self.by_severity: Counter[str] = Counter()
        self.by_category: Counter[tuple[str, str]] = Counter()  # (category, severity)
        self.rules: dict[str, RuleStats] = {}
        self.sources = TopTable(20_000)
        self.targets = TopTable(20_000)
        self.timeline = Timeline()
        self._open: dict[tuple[str, bytes, bytes], Group] = {}

    def add(self, finding: Finding) -> None:
        rule = finding.rule
        ts = finding.ts
        self.total += 1
        self.by_severity[rule.severity] += 1
        self.by_category[(rule.category, rule.severity)] += 1
        self.sources.add(finding.src, 1)
        self.targets.add(finding.dst, 1)
        self.timeline.add(ts, rule.severity)
        stats = self.rules.get(rule.id)
        if stats is None:
            stats = self.rules[rule.id] = RuleStats(rule, first_ts=ts, last_ts=ts)
        stats.count += 1
        stats.first_ts = min(stats.first_ts, ts)
        stats.last_ts = max(stats.last_ts, ts)
        stats.sources.add(finding.src, 1)
        stats.targets.add(finding.dst, 1)
        key = (rule.id, finding.src, finding.dst)
        group = self._open.get(key)
        if group is not None and abs(ts - group.last_ts) <= self.window:
            group.add(finding)
            return
        if len(stats.groups) >= self.max_groups:
            stats.unlisted += 1
            return
        if len(self._open) >= self.max_open:
            self._close_oldest()
        group = Group(rule, finding.src, finding.dst, ts, ts, 1, finding)
        stats.groups.append(group)
        self._open[key] = group

    def _close_oldest(self) -> None:
        """Forget the least recently extended half of the open identities (memory bound).

        A forgotten identity that fires again starts a new group: the view shows two
        rows instead of one, never a wrong count.
        """
        ranked = sorted(self._open.items(), key=lambda kv: kv[1].last_ts)
        for key, _group in ranked[: len(ranked) // 2]:
            del self._open[key]

    @property
    def groups(self) -> int:
        """Listed groups over all rules."""
        return sum(len(s.groups) for s in self.rules.values())

    def ranked_rules(self) -> list[RuleStats]:
        """Rules by severity (highest first), then by count."""
        return sorted(
            self.rules.values(),
            key=lambda s: (severity_rank(s.rule.severity), -s.count, s.rule.id),
        )

    def max_severity_rank(self) -> int:
        """The rank of the most severe finding (9 when there is none)."""
        return min((severity_rank(s) for s in self.by_severity), default=9)

    def to_dict(self) -> dict[str, Any]:
        """Counts for JSON output (no per-finding data)."""
        return {
            "total": self.total,
            "by_severity": {k: self.by_severity[k] for k in SEVERITIES if self.by_severity[k]},
            "rules": [
                {
                    "rule_id": s.rule.id,
                    "signature_id": s.rule.sid,
                    "severity": s.rule.severity,
                    "category": s.rule.category,
                    "count": s.count,
                    "groups": len(s.groups),
                }
                for s in self.ranked_rules()
            ],
        }


class Deduper:
    """Lets the first of identical findings (rule, source, destination) through per window.

    A finding passes when no identical one passed within ``window`` seconds before it;
    the others are counted in ``suppressed``. Identities older than the window are
    dropped now and then, so memory follows the number of active identities.
    """

    def __init__(self, window: float = DEFAULT_WINDOW, max_keys: int = MAX_OPEN_KEYS) -> None:
        self.window = int(window * SEC)
        self.max_keys = max_keys
        self.suppressed = 0
        self._last: dict[tuple[str, bytes, bytes], int] = {}

    def admit(self, finding: Finding) -> bool:
        key = (finding.rule.id, finding.src, finding.dst)
        ts = finding.ts
        seen = self._last.get(key)
        if seen is not None and abs(ts - seen) <= self.window:
            self.suppressed += 1
            return False
        if len(self._last) >= self.max_keys:
            self._prune(ts)
        self._last[key] = ts
        return True

    def _prune(self, now: int) -> None:
        fresh = {k: t for k, t in self._last.items() if abs(now - t) <= self.window}
        if len(fresh) >= self.max_keys:  # all active: keep the most recent half
            ranked = sorted(fresh.items(), key=lambda kv: kv[1])
            fresh = dict(ranked[len(ranked) // 2 :])
        self._last = fresh
