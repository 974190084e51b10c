"""The shipped demo capture is exactly what its generator writes, and analyzes cleanly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from netsentry.engine import analyze
from netsentry.ruleload import load_rules

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "netsentry" / "data" / "demo.pcap"


def _generator() -> object:
    spec = importlib.util.spec_from_file_location(
        "make_demo_pcap", ROOT / "tests/data/make_demo_pcap.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_demo_matches_its_generator(tmp_path: Path) -> None:
    module = _generator()
    out = module.write(tmp_path / "demo.pcap")  # type: ignore[attr-defined]
    assert out.read_bytes() == DEMO.read_bytes()


def test_demo_summary() -> None:
    summary = analyze([DEMO]).summary
    assert summary.packets == 273
    assert {name: p for name, (p, _b) in summary.protocols.items()} == {
        "TCP": 256,
        "UDP": 13,
        "ARP": 2,
        "ICMP": 2,
    }
    assert summary.fragments["reassembled"] == 1
    assert not summary.skipped
    assert summary.warnings() == []


def test_demo_findings_with_default_rules() -> None:
    """The demo shows one of each thing it stages, attacker first."""
    result = analyze([DEMO], rules=load_rules())
    by_rule: dict[str, tuple[str, str]] = {}
    for finding in result.findings:
        by_rule.setdefault(finding.rule.id, (finding.src_ip, finding.dest_ip))
    assert by_rule == {
        "sqli-union-select": ("192.168.1.66", "192.168.1.20"),
        "sqli-functions": ("192.168.1.66", "192.168.1.20"),
        "sqli-user-agent-sqlmap": ("192.168.1.66", "192.168.1.20"),
        "scan-tcp-ports": ("192.168.1.66", "192.168.1.20"),
        "brute-force-ftp": ("192.168.1.66", "192.168.1.20"),
        "malware-eicar": ("203.0.113.66", "192.168.1.10"),
        "irc-bot-command": ("198.51.100.99", "192.168.1.10"),
    }
    assert len(result.findings) == 7
