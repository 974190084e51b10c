"""EVE output over real captures: every line of every corpus capture validates against
Suricata 8's schema, and a few small captures match their reviewed golden files.

One in-process analysis per capture (``--eve-types all``: alerts, flow, dns, http, tls
and the stats event), so the whole corpus takes seconds, not minutes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest

from netsentry.engine import analyze
from netsentry.outputs import OutputFormat, OutputPlan, Outputs
from netsentry.ruleload import load_rules
from netsentry.rules import RuleSet
from netsentry.sinks import EVE_TYPES
from tests.data.make_eve_goldens import GOLDEN_CAPTURES, GOLDEN_DIR, eve_lines

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = Path(os.environ.get("NETSENTRY_CORPUS") or SHARED / "corpus")
SCHEMA_PATH = SHARED / "conformance" / "eve" / "suricata-8.0.6" / "etc" / "schema.json"
HAVE_CORPUS = (CORPUS / "MANIFEST.tsv").is_file()
CORPUS_SKIP = f"shared corpus not found at {CORPUS} (a user's clone has no ../shared)"
SCHEMA_SKIP = f"Suricata's EVE schema not found at {SCHEMA_PATH}"


@cache
def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def schema_errors(event: dict[str, Any]) -> list[str]:
    event = {k: v for k, v in event.items() if k != "netsentry"}  # ours, by design
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}"
        for e in _validator().iter_errors(event)
    ]


TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+0000$")


def shape(value: Any) -> Any:
    """Keys and value types, recursively: all that decides validity for our events.

    The schema's only value constraints are the top-level ``timestamp`` pattern (checked
    on every line separately) and enums/minimums on objects netsentry never writes
    (mdns, verdict, exception policy, dns.soa); so two events of one shape are both
    valid or both not, and a capture with 30,000 flow lines validates a few shapes.
    """
    if isinstance(value, dict):
        return tuple((k, shape(v)) for k, v in value.items())
    if isinstance(value, list):
        return ("list", frozenset(shape(v) for v in value))
    return type(value).__name__


@cache
def _default_rules() -> RuleSet:
    return load_rules(None)


def _captures() -> list[Any]:
    if not HAVE_CORPUS:
        return [pytest.param(None, id="corpus-missing", marks=pytest.mark.skip(reason=CORPUS_SKIP))]
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        files = [row["file"] for row in csv.DictReader(f, delimiter="\t")]
    return [pytest.param(name, id=name) for name in files]


def _eve(path: Path) -> list[dict[str, Any]]:
    handle = io.StringIO()
    outputs = Outputs(OutputPlan(OutputFormat.eve, eve_types=set(EVE_TYPES)), handle)
    result = analyze([path], rules=_default_rules(), **outputs.hooks())
    outputs.write_report(result)
    assert result.detector_errors == {}
    return [json.loads(line) for line in handle.getvalue().splitlines()]


@pytest.mark.skipif(not SCHEMA_PATH.is_file(), reason=SCHEMA_SKIP)
@pytest.mark.parametrize("relpath", _captures())
def test_every_eve_line_of_every_corpus_capture_validates(relpath: str) -> None:
    events = _eve(CORPUS / relpath)
    assert events, "at least the stats event"
    validated: set[Any] = set()
    for event in events:
        assert TIMESTAMP.match(event["timestamp"]), event
        key = shape({k: v for k, v in event.items() if k != "netsentry"})
        if key not in validated:
            assert schema_errors(event) == [], event
            validated.add(key)
    stats = events[-1]
    assert stats["event_type"] == "stats"
    kinds = [e["event_type"] for e in events]
    # the stats event counts what the other lines are
    assert kinds.count("alert") == stats["stats"]["detect"]["alert"]
    assert kinds.count("flow") == stats["stats"]["flow"]["total"]
    assert kinds.count("stats") == 1
    flow_ids = {e["flow_id"] for e in events if e["event_type"] == "flow"}
    for event in events:
        if event["event_type"] in ("alert", "http", "dns", "tls") and "flow_id" in event:
            assert event["flow_id"] in flow_ids, "every flow's events precede its flow line"


def test_corpus_has_alerts_of_each_app_kind() -> None:
    """The alerts embed the app-layer object that matched (checked on known captures)."""
    if not HAVE_CORPUS:
        pytest.skip(CORPUS_SKIP)
    sqli = _eve(CORPUS / "http-attacks/ndpi__sql_injection.pcap")
    (alert,) = [e for e in sqli if e["event_type"] == "alert"]
    assert alert["http"]["http_method"] == "GET" and "union" in alert["http"]["url"].lower()
    dns = _eve(CORPUS / "dns/ndpi__dns-exf.pcap")
    (alert,) = [e for e in dns if e["event_type"] == "alert"]
    assert alert["dns"]["version"] == 3 and alert["dns"]["type"] == "request"


@pytest.mark.skipif(not HAVE_CORPUS, reason=CORPUS_SKIP)
@pytest.mark.parametrize("name", sorted(GOLDEN_CAPTURES))
def test_eve_output_matches_the_golden_file(name: str) -> None:
    golden = (GOLDEN_DIR / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    current = eve_lines(CORPUS / GOLDEN_CAPTURES[name])
    # line by line, so a failure names the first line that changed
    for i, (want, got) in enumerate(zip(golden, current, strict=False), 1):
        assert got == want, f"{name}.jsonl line {i} differs (regenerate and review the diff)"
    assert len(current) == len(golden)


@pytest.mark.skipif(not HAVE_CORPUS, reason=CORPUS_SKIP)
@pytest.mark.skipif(not SCHEMA_PATH.is_file(), reason=SCHEMA_SKIP)
def test_golden_files_validate_and_cover_http_dns_tls() -> None:
    seen: set[str] = set()
    for name in GOLDEN_CAPTURES:
        for line in (GOLDEN_DIR / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            assert schema_errors(event) == [], line
            if event["event_type"] == "alert":
                seen.update(k for k in ("http", "dns", "tls") if k in event)
    assert seen == {"http", "dns", "tls"}
