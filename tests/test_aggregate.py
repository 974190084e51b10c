"""Bounded finding aggregates (terminal/HTML views) and EVE deduplication."""

from __future__ import annotations

from netsentry.aggregate import SEC, Deduper, FindingAggregate, Timeline
from netsentry.findings import Finding
from netsentry.rules import MatchRule, Rule
from tests.factories import ip4

T0 = 1_706_702_400 * SEC
A, B, C = ip4("10.0.0.1"), ip4("10.0.0.2"), ip4("10.0.0.3")


def rule(sid: int = 1, severity: str = "high", category: str = "sql-injection") -> Rule:
    return MatchRule(
        id=f"r{sid}", sid=sid, title=f"rule {sid}", category=category, severity=severity,
        field="http.uri", content="x",
    )


def finding(r: Rule, seconds: float, src: bytes = A, dst: bytes = B) -> Finding:
    return Finding(r, T0 + int(seconds * SEC), 1, src, dst, 40000, 80, 6, 0, evidence={"n": 1})


def test_identical_findings_within_the_window_become_one_group() -> None:
    agg = FindingAggregate(window=60)
    r1 = rule()
    for t in (0, 30, 80, 200):  # 80 is within 60 s of 30: the chain continues; 200 is not
        agg.add(finding(r1, t))
    agg.add(finding(r1, 10, dst=C))  # another target: its own group
    stats = agg.rules["r1"]
    assert [(g.dst, g.count) for g in stats.groups] == [(B, 3), (B, 1), (C, 1)]
    first = stats.groups[0]
    assert (first.first_ts, first.last_ts) == (T0, T0 + 80 * SEC)
    assert (stats.count, stats.first_ts, stats.last_ts) == (5, T0, T0 + 200 * SEC)
    assert agg.total == 5 and agg.groups == 3


def test_counts_by_severity_category_and_talkers() -> None:
    agg = FindingAggregate()
    high, low = rule(1, "high", "sql-injection"), rule(2, "low", "port-scan")
    agg.add(finding(high, 0))
    agg.add(finding(high, 1, src=C))
    agg.add(finding(low, 2, src=C, dst=A))
    assert dict(agg.by_severity) == {"high": 2, "low": 1}
    assert dict(agg.by_category) == {("sql-injection", "high"): 2, ("port-scan", "low"): 1}
    assert [(a, n) for a, n, _ in agg.sources.top(5, by="packets")] == [(C, 2), (A, 1)]
    assert [s.rule.id for s in agg.ranked_rules()] == ["r1", "r2"]
    assert agg.max_severity_rank() == 2
    assert FindingAggregate().max_severity_rank() == 9
    assert agg.to_dict()["by_severity"] == {"high": 2, "low": 1}


def test_groups_per_rule_are_bounded_but_every_finding_is_counted() -> None:
    agg = FindingAggregate(max_groups=3)
    r1 = rule()
    for i in range(10):
        agg.add(finding(r1, i, src=ip4(f"10.1.0.{i}")))
    stats = agg.rules["r1"]
    assert len(stats.groups) == 3
    assert stats.unlisted == 7
    assert stats.count == 10 and agg.total == 10


def test_open_identities_are_bounded() -> None:
    agg = FindingAggregate(max_open=4, max_groups=100)
    r1 = rule()
    for i in range(9):
        agg.add(finding(r1, i, dst=ip4(f"10.2.0.{i}")))
    assert len(agg._open) <= 4
    # a forgotten identity starts a new group; counts stay right
    agg.add(finding(r1, 9, dst=ip4("10.2.0.0")))
    assert agg.rules["r1"].count == 10
    assert sum(g.count for g in agg.rules["r1"].groups) == 10


def test_timeline_widens_to_stay_bounded_and_keeps_every_count() -> None:
    line = Timeline(max_buckets=10, width=SEC)
    for i in range(100):
        line.add(T0 + i * SEC, "high" if i % 2 else "low")
    assert line.width == 16 * SEC  # 1 -> 2 -> 4 -> 8 -> 16 s: 100 s fits in 7 buckets
    rows = line.rows()
    assert len(rows) <= 10
    assert sum(sum(c.values()) for _, c in rows) == 100
    assert sum(c["high"] for _, c in rows) == 50
    assert rows[0][0] == T0


def test_timeline_moves_its_origin_back_for_earlier_findings() -> None:
    line = Timeline(max_buckets=10, width=SEC)
    line.add(T0 + 5 * SEC, "high")
    line.add(T0 + 2 * SEC, "low")
    rows = line.rows()
    assert rows[0][0] == T0 + 2 * SEC
    assert [dict(c) for _, c in rows] == [{"low": 1}, {}, {}, {"high": 1}]


def test_deduper_lets_the_first_of_a_run_through_per_window() -> None:
    dedup = Deduper(window=60)
    r1 = rule()
    admitted = [dedup.admit(finding(r1, t)) for t in (0, 10, 59, 61, 130)]
    # 61 s after the first admitted one: a new line; 130 is 69 s after 61
    assert admitted == [True, False, False, True, True]
    assert dedup.admit(finding(r1, 131, dst=C)) is True  # another target
    assert dedup.admit(finding(rule(2), 131)) is True  # another rule
    assert dedup.suppressed == 2


def test_deduper_memory_is_bounded() -> None:
    dedup = Deduper(window=1, max_keys=10)
    r1 = rule()
    for i in range(100):
        assert dedup.admit(finding(r1, i * 10, dst=ip4(f"10.3.0.{i}")))
    assert len(dedup._last) <= 10
