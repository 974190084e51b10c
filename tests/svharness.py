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
from netsentry.eve import alert_event
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


CHECKABLE = frozenset(
    ("src_ip", "dest_ip", "src_port", "dest_port", "proto", "pcap_cnt", "app_proto")
)
"""EVE fields of a conditional check netsentry's alerts carry (alert.* are checked too)."""


def _flat(event: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


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
    events = [_flat(alert_event(f)) for f in result.findings]
    exact_sids: set[str] = set()
    for check in case.checks:
        where = check.get("where") or {}
        if not all(k in CHECKABLE or k.startswith("alert.") for k in where):
            continue  # a logging field netsentry's alerts do not carry: min bound instead
        got = sum(1 for e in events if all(e.get(k) == v for k, v in where.items()))
        if "alert.signature_id" in where:
            exact_sids.add(str(where["alert.signature_id"]))
        if got != check["count"]:
            problems.append(f"{got} alerts where {where}, expected {check['count']}")
    for sid, low in case.minimum.items():
        if sid not in case.expected and sid not in exact_sids and counts[sid] < low:
            problems.append(f"sid {sid}: {counts[sid]} alerts, expected at least {low}")
    if result.detector_errors:
        problems.append(f"detector errors: {result.detector_errors}")
    return counts, problems


def _expected_from_checks(checks: list[Any]) -> tuple[dict[str, int], int | None]:
    """Exact alert counts per sid (and in total) from a test.yaml's ``checks``.

    Only filters on ``event_type: alert`` and ``alert.signature_id`` are used; the ones
    that also test other EVE fields are logging checks and left out.
    """
    per_sid: dict[str, int] = {}
    total: int | None = None
    for check in checks:
        filt = check.get("filter") if isinstance(check, dict) else None
        if not isinstance(filt, dict) or "count" not in filt:
            continue
        match = filt.get("match") or {}
        keys = set(match)
        if "alert.signature_id" in keys and keys <= {"event_type", "alert.signature_id"}:
            if match.get("event_type", "alert") == "alert":
                per_sid[str(match["alert.signature_id"])] = int(filt["count"])
        elif keys == {"event_type"} and match["event_type"] == "alert":
            total = int(filt["count"])
    return per_sid, total


def corpus_cases(corpus: Path) -> list[Case]:
    """suricata-verify cases kept in the shared corpus (expected/<cat>/sv__*) with rules."""
    import yaml

    cases = []
    for test_yaml in sorted((corpus / "expected").glob("*/sv__*/test.yaml")):
        folder = test_yaml.parent
        rules = sorted(folder.glob("*.rules"))
        pcaps = sorted((corpus / folder.parent.name).glob(folder.name + ".pcap*"))
        if not rules or not pcaps:
            continue
        doc = yaml.safe_load(test_yaml.read_text(encoding="utf-8")) or {}
        per_sid, total = _expected_from_checks(doc.get("checks") or [])
        conditional = _conditional_from_checks(doc.get("checks") or [])
        if not per_sid and total is None and not conditional:
            continue
        args = " ".join(str(a) for a in doc.get("args") or []) + " " + str(doc.get("command", ""))
        if "reputation-categories-file" in args and "reputation-files" not in args:
            lists = ",".join(p.name for p in folder.glob("*.list"))
            args += f" --set reputation-files={lists}"
        args = re.sub(r"\$\{TEST_DIR\}/", "", args)
        cases.append(
            Case(
                name=folder.name,
                folder=folder,
                pcap=pcaps[0],
                rules=rules[0],
                family="corpus",
                expected=per_sid,
                total=total,
                minimum={},
                args=args,
                checks=conditional,
            )
        )
    return cases


def _conditional_from_checks(checks: list[Any]) -> list[dict[str, Any]]:
    """Alert filters of a test.yaml that also test fields netsentry's alerts carry
    (``pcap_cnt``, addresses, ports), as MANIFEST-style conditional checks."""
    out = []
    for check in checks:
        filt = check.get("filter") if isinstance(check, dict) else None
        if not isinstance(filt, dict) or "count" not in filt:
            continue
        match = dict(filt.get("match") or {})
        if match.pop("event_type", "alert") != "alert" or "alert.signature_id" not in match:
            continue
        if set(match) - {"alert.signature_id"} and all(
            k in CHECKABLE or k.startswith("alert.") for k in match
        ):
            out.append({"where": match, "count": int(filt["count"])})
    return out
