"""Runs suricata-verify style cases (rules + capture + expected alert counts) on netsentry.

Shared by tests/test_suricata_verify.py; see ../shared/suricata-verify/README.md for
the layout and what each column of MANIFEST.tsv means.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netsentry.engine import analyze
from netsentry.intel import IntelSet
from netsentry.sig.importer import load_rules_paths
from netsentry.sig.reputation import load_reputation


@dataclass
class Case:
    """One suricata-verify case."""

    name: str
    folder: Path
    pcap: Path
    rules: Path
    family: str
    expected: dict[str, int]
    total: int | None
    minimum: dict[str, int]
    args: str
    checks: list[dict[str, Any]] = field(default_factory=list)


def read_manifest(root: Path) -> list[Case]:
    """Every case of a suricata-verify folder's MANIFEST.tsv."""
    cases = []
    with (root / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            folder = root / row["test"]
            cases.append(
                Case(
                    name=row["test"],
                    folder=folder,
                    pcap=folder / row["pcaps"].split(",")[0],
                    rules=folder / row["rules_files"].split(",")[0],
                    family=row.get("family") or "other",
                    expected={
                        k: int(v) for k, v in json.loads(row["expected_per_sid"] or "{}").items()
                    },
                    total=int(row["expected_total_alerts"])
                    if row["expected_total_alerts"]
                    else None,
                    minimum={
                        k: int(v)
                        for k, v in json.loads(row["expected_min_per_sid"] or "{}").items()
                    },
                    args=row.get("suricata_args") or "",
                    checks=json.loads(row.get("conditional_checks") or "[]"),
                )
            )
    return cases


def _intel(case: Case) -> IntelSet | None:
    cats = re.search(r"reputation-categories-file=(\S+)", case.args)
    lists = re.search(r"reputation-files=(\S+)", case.args)
    if not cats or not lists:
        return None
    return load_reputation(
        case.folder / cats.group(1), [case.folder / n for n in lists.group(1).split(",")]
    )


def run_case(case: Case) -> tuple[Counter[str], list[str]]:
    """(alert counts per sid, problems); no problems means the case passes."""
    imported = load_rules_paths([case.rules])
    problems = [f"rule skipped: {s}" for s in imported.skipped]
    result = analyze([case.pcap], rules=imported.ruleset(), intel=_intel(case), app_report=False)
    counts: Counter[str] = Counter(str(f.rule.sid) for f in result.findings)
    for sid, want in case.expected.items():
        if counts[sid] != want:
            problems.append(f"sid {sid}: {counts[sid]} alerts, expected {want}")
    if case.total is not None and sum(counts.values()) != case.total:
        problems.append(f"{sum(counts.values())} alerts in all, expected {case.total}")
    for sid, low in case.minimum.items():
        if sid not in case.expected and counts[sid] < low:
            problems.append(f"sid {sid}: {counts[sid]} alerts, expected at least {low}")
    if result.detector_errors:
        problems.append(f"detector errors: {result.detector_errors}")
    return counts, problems
