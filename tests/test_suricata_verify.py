"""Suricata's own regression tests (../shared/suricata-verify): netsentry's alert counts
per sid must equal Suricata's.

Each case loads its rules through the importer (with its iprep files), analyzes its
capture and compares counts with MANIFEST.tsv. Cases known to fail are listed in
KNOWN_FAILURES with the precise reason; they are run too and marked xfail(strict), so a
fix shows up as an unexpected pass. ``test_pass_counts`` prints the per-family figures.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from netsentry.sig.importer import load_rules_paths
from tests.svharness import Case, corpus_cases, read_manifest, run_case

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "suricata-verify"
ROOT = Path(os.environ.get("NETSENTRY_SURICATA_VERIFY") or DEFAULT_ROOT)
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
CORPUS = Path(os.environ.get("NETSENTRY_CORPUS") or DEFAULT_CORPUS)

KNOWN_FAILURES: dict[str, str] = {
    "bug-6207-2": "file.data on SMTP: netsentry does not decode MIME attachments of mails",
    "decode-nsh-type2": "the capture's packets are NSH-encapsulated; netsentry's decoder "
    "does not decode NSH, so the UDP rule never sees them",
}
"""Cases in the 'other' family that fail, and why."""

EVADER_REASON = (
    "http-evader: 0 alerts; netsentry's HTTP response parser does not recover the EICAR "
    "body under this evasion (listed in tests/data/suricata_verify_evader_failures.txt)"
)


def _cases() -> list[Case]:
    if not (ROOT / "MANIFEST.tsv").is_file():
        return []
    return read_manifest(ROOT)


CASES = _cases()
needs_data = pytest.mark.skipif(not CASES, reason=f"suricata-verify data not found at {ROOT}")


def _evader_failures() -> dict[str, str]:
    """http-evader case -> the evasion its capture uses (see the data file's header)."""
    listed = Path(__file__).with_name("data") / "suricata_verify_evader_failures.txt"
    out: dict[str, str] = {}
    for line in listed.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, evasion = line.partition("\t")
            out[name.strip()] = evasion.strip()
    return out


EVADER_FAILURES = _evader_failures()


@needs_data
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case) -> None:
    counts, problems = run_case(case)
    if case.name in KNOWN_FAILURES or case.name in EVADER_FAILURES:
        reason = KNOWN_FAILURES.get(case.name) or (
            f"{EVADER_REASON}; evasion: {EVADER_FAILURES[case.name]}"
        )
        assert problems, f"{case.name} passes now: remove it from the known failures"
        pytest.xfail(reason)
    assert not problems, f"{case.name}: {problems}; counts {dict(counts)}"


@needs_data
def test_pass_counts(capsys: pytest.CaptureFixture[str]) -> None:
    tally: Counter[tuple[str, bool]] = Counter()
    for case in CASES:
        _counts, problems = run_case(case)
        tally[(case.family, not problems)] += 1
    families = sorted({family for family, _ in tally})
    with capsys.disabled():
        for family in families:
            print(
                f"\nsuricata-verify {family}: {tally[(family, True)]} pass, "
                f"{tally[(family, False)]} fail"
            )
    expected_fail_other = len([c for c in CASES if c.name in KNOWN_FAILURES])
    assert tally[("other", False)] == expected_fail_other


def _corpus_cases() -> list[Case]:
    if not (CORPUS / "expected").is_dir():
        return []
    return corpus_cases(CORPUS)


CORPUS_CASES = _corpus_cases()


@pytest.mark.skipif(not CORPUS_CASES, reason=f"no suricata-verify cases under {CORPUS}/expected")
@pytest.mark.parametrize("case", CORPUS_CASES, ids=[c.name for c in CORPUS_CASES])
def test_corpus_case(case: Case) -> None:
    """The suricata-verify cases of ../shared/corpus/expected whose rules all fit the subset."""
    skipped = load_rules_paths([case.rules]).skipped
    if skipped:
        pytest.skip(f"rules outside the supported subset: {'; '.join(map(str, skipped[:3]))}")
    counts, problems = run_case(case)
    assert not problems, f"{case.name}: {problems}; counts {dict(counts)}"
