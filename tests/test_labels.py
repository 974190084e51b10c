"""The shared corpus's detection labels, scored against the packaged default rules.

``../shared/corpus/labels.yaml`` says, per capture, which detection categories a
tool must report (``expect``) and which it must not (``forbid``); LABELS.md gives
the vocabulary and a suggested scoring, which this module implements exactly:

- **Recall.** An ``expect`` entry is met when at least ``min`` *distinct alerts*
  have the entry's ``category`` or one of its ``also_accept`` categories, counting
  only alerts whose address pair contains the entry's ``src_ip``/``dest_ip`` (in
  either order, since an alert's direction depends on the packet that fired it).
- **Precision.** Any alert in a ``forbid`` category of a file is a false positive.

*Distinct alerts* ("count distinct flows or requests, not repeats of one alert"):
an alert is identified by ``(category, flow_id, request)``, where *request* is
the application transaction the finding was raised on -- the HTTP ``tx_id`` (a
request and its response are one transaction), the DNS message id, otherwise
the event's packet number -- and is absent for findings without an application
event (packet, stream and flow rules, thresholds on packets), which count once
per flow. So two rules flagging the same request count once, seven SQL-injection
requests in seven flows count seven times, and a flood counts per flow it fired
on.

Threat-intel labels depend on the feed: where the blocklist ships in
``expected/`` (suricata-verify's ``domains.lst``, base64 of ``.evil.com`` per
line, and ``scirius-iprep.list``, ``ip,category,score`` CSV), the test loads it
into an :class:`~netsentry.intel.IntelSet` and passes it as ``intel=``.

One parametrized case per (file, ``expect`` entry) and one per (file,
``forbid`` category): the latter asserts the category is absent, so every
forbidden category that *is* reported shows up as its own failing case.
Labels the default rules cannot meet honestly are listed in ``KNOWN_MISSES``
with the reason, and exactly those cases are ``xfail(strict=True)``: when a rule
starts to meet one, the xfail turns into a failure and the entry must go.
``test_label_scoreboard`` prints the per-category table (``pytest -s`` or
``-rA`` shows it).

The analyses run on the RE2 engine: it and Hyperscan (the default where
installed) see patterns identically, and on this corpus they produce the same
findings, but Hyperscan compiles the rule set anew in every ``analyze()`` call
(about 0.5 s), which would make this module take minutes instead of seconds.
Set ``NETSENTRY_LABELS_ENGINE=auto`` to score with the default engine.

The corpus lives beside the repository (``../shared/corpus``, or wherever
``NETSENTRY_CORPUS`` points); without it every case is skipped with a reason.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from netsentry.engine import analyze
from netsentry.findings import Finding
from netsentry.intel import Indicator, IntelSet, load_indicator_file, normalize_domain
from netsentry.ruleload import load_rules
from netsentry.rules import CATEGORIES, RuleSet

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CORPUS = Path(os.environ.get("NETSENTRY_CORPUS") or DEFAULT_CORPUS)
LABELS = CORPUS / "labels.yaml"
HAVE_CORPUS = LABELS.is_file()
SKIP_REASON = f"shared corpus not found at {CORPUS}"
ENGINE = os.environ.get("NETSENTRY_LABELS_ENGINE", "re2")

KNOWN_MISSES: dict[tuple[str, str], str] = {
    # (file as in labels.yaml, category) -> why the default rules cannot meet the label
    # (an expect entry) or avoid it (a forbidden category). Empty: every label is met.
}
"""Labels the packaged rules knowingly miss; each is an xfail(strict=True) case."""


@dataclass(frozen=True)
class Case:
    """One scored label: an expect entry, or one forbidden category of a file."""

    file: str
    kind: str  # "expect" or "forbid"
    category: str
    index: int = 0  # position among the file's expect entries
    entry: Any = None  # the expect mapping

    @property
    def id(self) -> str:
        where = f"expect{self.index}" if self.kind == "expect" else "forbid"
        return f"{self.file}::{where}::{self.category}"


def _labels() -> dict[str, Any]:
    data = yaml.safe_load(LABELS.read_text(encoding="utf-8"))
    files: dict[str, Any] = data["files"]
    return files


def _cases() -> list[Case]:
    cases: list[Case] = []
    for file, label in _labels().items():
        for index, entry in enumerate(label.get("expect") or []):
            cases.append(Case(file, "expect", entry["category"], index, entry))
        for category in label.get("forbid") or []:
            cases.append(Case(file, "forbid", category))
    return cases


CASES: list[Case] = _cases() if HAVE_CORPUS else []


def _params() -> list[Any]:
    if not HAVE_CORPUS:
        return [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=SKIP_REASON))]
    params = []
    for case in CASES:
        reason = KNOWN_MISSES.get((case.file, case.category))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


# -- analysis (once per file) ------------------------------------------------------------


@cache
def _rules() -> RuleSet:
    return load_rules()


def _expected_dir(file: str) -> Path:
    theme, name = file.split("/", 1)
    stem = name
    for suffix in (".gz", ".pcapng", ".pcap"):
        stem = stem.removesuffix(suffix)
    return CORPUS / "expected" / theme / stem


def intel_for(file: str) -> IntelSet | None:
    """The blocklist shipped for ``file`` in expected/, as an IntelSet (None: there is none).

    ``domains.lst``: suricata-verify dataset, one base64-encoded domain per line
    (``.evil.com``: the domain and its subdomains). ``*iprep*.list``: Suricata IP
    reputation CSV ``address,category,score`` with '#' comments.
    """
    folder = _expected_dir(file)
    if not folder.is_dir():
        return None
    intel = IntelSet()
    domains = folder / "domains.lst"
    if domains.is_file():
        for line in domains.read_text(encoding="ascii").split():
            name = normalize_domain(base64.b64decode(line).decode("utf-8"))
            intel.add(Indicator(name, "domain", "expected/domains.lst"))
    for listing in sorted(folder.glob("*iprep*.list")):
        load_indicator_file(listing, feed=f"expected/{listing.name}", into=intel)
    return intel if intel.count else None


@cache
def findings_of(file: str) -> tuple[Finding, ...]:
    """The default rules' findings on one labelled capture (analyzed once)."""
    result = analyze([CORPUS / file], rules=_rules(), intel=intel_for(file), engine=ENGINE)
    assert not result.detector_errors, result.detector_errors
    return tuple(result.findings)


# -- scoring -------------------------------------------------------------------------------


def alert_identity(finding: Finding) -> tuple[Any, ...]:
    """What makes an alert distinct: (category, flow, request) -- see the module docstring."""
    flow = finding.flow.flow_id if finding.flow is not None else (finding.src, finding.dst)
    event = finding.event
    if event is None:
        return (finding.rule.category, flow)
    if event.proto == "http" and event.extra.get("tx_id") is not None:
        request: Any = event.extra["tx_id"]
    elif event.proto == "dns" and event.record.get("id") is not None:
        request = event.record["id"]
    else:
        request = event.pkt_num
    return (finding.rule.category, flow, event.proto, request)


def _address(text: str) -> Any:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return text


def pair_matches(finding: Finding, entry: dict[str, Any]) -> bool:
    """True when the entry's src_ip/dest_ip (those given) are the finding's addresses."""
    wanted = {_address(str(entry[k])) for k in ("src_ip", "dest_ip") if entry.get(k)}
    return wanted <= {_address(finding.src_ip), _address(finding.dest_ip)}


def matching_alerts(findings: tuple[Finding, ...], entry: dict[str, Any]) -> set[tuple[Any, ...]]:
    """Distinct alerts that count towards an expect entry."""
    accept = {entry["category"], *(entry.get("also_accept") or [])}
    return {
        alert_identity(f) for f in findings if f.rule.category in accept and pair_matches(f, entry)
    }


def expect_met(case: Case) -> tuple[bool, str]:
    """Whether an expect entry is met, and a message saying what was found."""
    findings = findings_of(case.file)
    found = matching_alerts(findings, case.entry)
    need = int(case.entry.get("min", 1))
    rules = Counter(f.rule.id for f in findings)
    return len(found) >= need, (
        f"{case.file}: expected {need} distinct '{case.category}' alert(s)"
        f" (also accepted: {case.entry.get('also_accept') or []},"
        f" pair {case.entry.get('src_ip')} / {case.entry.get('dest_ip')}),"
        f" found {len(found)}; all findings by rule: {dict(rules)}"
    )


def forbidden_found(case: Case) -> list[Finding]:
    """Findings in the case's forbidden category."""
    return [f for f in findings_of(case.file) if f.rule.category == case.category]


# -- tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params())
def test_label(case: Case) -> None:
    if case.kind == "expect":
        ok, message = expect_met(case)
        assert ok, message
    else:
        found = forbidden_found(case)
        assert not found, (
            f"{case.file}: forbidden category '{case.category}' reported by "
            + ", ".join(
                f"{f.rule.id} ({f.src_ip} -> {f.dest_ip}, packet {f.pkt_num}, {f.evidence})"
                for f in found[:5]
            )
        )


@pytest.mark.skipif(not HAVE_CORPUS, reason=SKIP_REASON)
def test_known_misses_name_real_labels() -> None:
    labelled = {(c.file, c.category) for c in CASES}
    stale = [key for key in KNOWN_MISSES if key not in labelled]
    assert not stale, f"KNOWN_MISSES entries that match no label: {stale}"


@pytest.mark.skipif(not HAVE_CORPUS, reason=SKIP_REASON)
def test_label_scoreboard() -> None:
    """Print category | expected labels | met | false positives (shown by -s or -rA).

    "forbidden in" is the number of files that forbid the category, out of which
    "false positives" reported it.
    """
    expected: Counter[str] = Counter()
    forbidden: Counter[str] = Counter()
    met: Counter[str] = Counter()
    false_pos: Counter[str] = Counter()
    missed: dict[str, list[str]] = defaultdict(list)
    for case in CASES:
        if case.kind == "expect":
            expected[case.category] += 1
            ok, _ = expect_met(case)
            if ok:
                met[case.category] += 1
            else:
                missed[case.category].append(case.file)
            continue
        forbidden[case.category] += 1
        if forbidden_found(case):
            false_pos[case.category] += 1
            missed[case.category].append(f"{case.file} (false positive)")
    width = max(len(c) for c in CATEGORIES)
    lines = [
        f"{'category':<{width}} | expected labels | met | false positives | forbidden in",
        f"{'-' * width}-+-----------------+-----+-----------------+-------------",
    ]
    rows = [(c, expected[c], met[c], false_pos[c], forbidden[c]) for c in CATEGORIES]
    rows.append(
        (
            "total",
            sum(expected.values()),
            sum(met.values()),
            sum(false_pos.values()),
            sum(forbidden.values()),
        )
    )
    for category, n_expected, n_met, n_false, n_forbidden in rows:
        lines.append(
            f"{category:<{width}} | {n_expected:>15} | {n_met:>3} | {n_false:>15} |"
            f" {n_forbidden:>12}"
        )
    for category, files in sorted(missed.items()):
        for file in files:
            known = KNOWN_MISSES.get((file.removesuffix(" (false positive)"), category))
            lines.append(f"  {category}: {file}" + (f"  [known: {known}]" if known else ""))
    print("\n" + "\n".join(lines))
    assert sum(expected.values()) == sum(1 for c in CASES if c.kind == "expect")
