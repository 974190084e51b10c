"""Regenerate the EVE golden files: ``python tests/data/make_eve_goldens.py``.

Each golden is the complete EVE output (``--eve-types all``, the rules in
``eve-golden/rules.yaml``, fixed so that edits to the packaged rules never change
them) of one small capture of ``../shared/corpus``, with the two run-dependent values
normalized (see :func:`normalize`). They are derived outputs, not copies of the
captures. Review the diff before committing a regenerated file:
``tests/test_eve_corpus.py`` compares every line of the current output with them.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GOLDEN_DIR = REPO / "tests" / "data" / "eve-golden"
GOLDEN_RULES = GOLDEN_DIR / "rules.yaml"
CORPUS = Path(os.environ.get("NETSENTRY_CORPUS") or REPO.parent / "shared" / "corpus")

# Small captures that together cover http, dns (v3), tls events, IPv6 and stream alerts.
GOLDEN_CAPTURES: dict[str, str] = {
    "dvwa-sqli-passwords": "http-attacks/chrissanders__http_dvwa_sqlinjection_passwords.pcapng",
    "dns-exfiltration": "dns/ndpi__dns-exf.pcap",
    "tls-heartbleed": "malware/zeek__tls-heartbleed-success.pcap",
    "http-ipv6": "decoder-edge/sv__compress_ipv6-01.pcap",
}


def normalize(event: dict[str, Any]) -> dict[str, Any]:
    """Remove what differs between runs and machines: wall-clock uptime, the rules path.

    Everything else, key order included, is compared as written.
    """
    if event.get("event_type") == "stats":
        event["stats"]["uptime"] = 0
    ours = event.get("netsentry")
    if isinstance(ours, dict) and "rule_file" in ours:
        ours["rule_file"] = Path(ours["rule_file"]).name
    return event


def eve_lines(capture: Path) -> list[str]:
    """The normalized EVE lines of ``capture`` (in-process, like ``netsentry analyze``)."""
    sys.path.insert(0, str(REPO))
    from netsentry.engine import analyze
    from netsentry.outputs import OutputFormat, OutputPlan, Outputs
    from netsentry.ruleload import load_rules
    from netsentry.sinks import EVE_TYPES

    handle = io.StringIO()
    outputs = Outputs(OutputPlan(OutputFormat.eve, eve_types=set(EVE_TYPES)), handle)
    result = analyze([capture], rules=load_rules([GOLDEN_RULES]), **outputs.hooks())
    outputs.write_report(result)
    return [
        json.dumps(normalize(json.loads(line)), separators=(",", ":"), ensure_ascii=False)
        for line in handle.getvalue().splitlines()
    ]


def main() -> None:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    if not (CORPUS / "MANIFEST.tsv").is_file():
        raise SystemExit(f"corpus not found at {CORPUS}")
    for name, relpath in GOLDEN_CAPTURES.items():
        lines = eve_lines(CORPUS / relpath)
        target = GOLDEN_DIR / f"{name}.jsonl"
        target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"{target.relative_to(REPO)}: {len(lines)} lines from {relpath}")


if __name__ == "__main__":
    main()
