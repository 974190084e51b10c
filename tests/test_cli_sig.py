"""``netsentry rules import`` and ``analyze --suricata-rules``/``--var`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netsentry.cli import app
from netsentry.ruleload import load_rules
from netsentry.sig.model import SignatureRule
from tests.factories import ether, icmp_echo, ipv4, write_pcap

RULES = (
    "# test rules\n"
    'alert icmp $EXTERNAL_NET any -> $HOME_NET any (msg:"ping in"; itype:8; '
    "classtype:icmp-event; sid:100; rev:2;)\n"
    'alert tcp any any -> any any (msg:"needs byte_test"; content:"a"; '
    "byte_test:1,>,2,0; sid:101;)\n"
    'alert tcp any any -> any any (msg:"broken; sid:102;\n'
)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rules = tmp_path / "local.rules"
    rules.write_text(RULES)
    frames = [(1.0 + i, ether(ipv4(icmp_echo(), "8.8.8.8", "10.0.0.2"))) for i in range(3)]
    return rules, write_pcap(tmp_path / "p.pcap", frames)


def test_import_report_lists_skips_with_location(files: tuple[Path, Path]) -> None:
    rules, _ = files
    result = CliRunner().invoke(app, ["rules", "import", str(rules), "--report"])
    assert result.exit_code == 0, result.output
    assert f"{rules}:3: sid 101 unsupported keyword 'byte_test'" in result.output
    assert f"{rules}:4:" in result.output and "invalid rule" in result.output
    assert "1 of 3 active Suricata rules imported (33.3%), 2 skipped" in result.output


def test_import_writes_yaml_that_loads_back(files: tuple[Path, Path], tmp_path: Path) -> None:
    rules, _ = files
    out = tmp_path / "sig.yaml"
    result = CliRunner().invoke(app, ["rules", "import", str(rules), "-o", str(out)])
    assert result.exit_code == 0, result.output
    loaded = load_rules([out]).rules
    assert len(loaded) == 1
    rule = loaded[0]
    assert isinstance(rule, SignatureRule)
    assert (rule.id, rule.sid, rule.rev, rule.itype) == ("sig-100", 100, 2, "8")
    assert rule.destination == "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"


def test_rules_test_reports_imported_signatures_as_untested(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    rules, _ = files
    out = tmp_path / "sig.yaml"
    assert CliRunner().invoke(app, ["rules", "import", str(rules), "-o", str(out)]).exit_code == 0
    result = CliRunner().invoke(app, ["rules", "test", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 imported signature(s) carry no examples: not tested" in result.output
    assert "0 passed, 0 failed" in result.output


def test_rules_list_shows_the_buffers_a_signature_inspects(tmp_path: Path) -> None:
    rules = tmp_path / "web.rules"
    rules.write_text(
        'alert http any any -> any any (msg:"x"; http.uri; content:"/a"; '
        'http.host; content:"b"; http.uri; content:"c"; sid:7;)\n'
    )
    out = tmp_path / "sig.yaml"
    assert CliRunner().invoke(app, ["rules", "import", str(rules), "-o", str(out)]).exit_code == 0
    result = CliRunner().invoke(app, ["rules", "list", "-r", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "sig-7" in line)
    assert row.rstrip(" │").endswith("http.uri, http.host")


def test_analyze_with_suricata_rules_and_var_override(files: tuple[Path, Path]) -> None:
    rules, pcap = files
    runner = CliRunner()
    args = ["analyze", str(pcap), "--no-rules", "--suricata-rules", str(rules), "-f", "eve", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    alerts = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [a["alert"]["signature_id"] for a in alerts] == [100, 100, 100]
    assert alerts[0]["alert"]["category"] == "Generic ICMP event"
    assert alerts[0]["alert"]["severity"] == 3
    # HOME_NET no longer holds the destination: nothing fires
    result = runner.invoke(app, [*args, "--var", "HOME_NET=[192.168.0.0/16]"])
    assert result.exit_code == 0, result.output
    assert not [line for line in result.output.splitlines() if line.startswith("{")]


def test_bad_var_and_missing_path_are_usage_errors(files: tuple[Path, Path]) -> None:
    _, pcap = files
    runner = CliRunner()
    result = runner.invoke(
        app, ["analyze", str(pcap), "--suricata-rules", "/nonexistent.rules", "-q"]
    )
    assert result.exit_code == 2
    result = runner.invoke(app, ["rules", "import", "/nonexistent", "--var", "HOME_NET"])
    assert result.exit_code == 2


def test_analyze_iprep_lists(tmp_path: Path) -> None:
    (tmp_path / "cats.txt").write_text("1,BadHosts,known bad\n")
    (tmp_path / "rep.list").write_text("8.8.8.0/24,1,90\n")
    rules = tmp_path / "iprep.rules"
    rules.write_text(
        "alert ip any any -> any any (iprep:src,BadHosts,>,50; sid:7;)\n"
        "alert ip any any -> any any (iprep:src,BadHosts,>,95; sid:8;)\n"
    )
    frames = [(1.0 + i, ether(ipv4(icmp_echo(), "8.8.8.8", "10.0.0.2"))) for i in range(3)]
    pcap = write_pcap(tmp_path / "p.pcap", frames)
    args = ["analyze", str(pcap), "--no-rules", "--suricata-rules", str(rules), "-f", "eve"]
    args += ["-q", "--iprep", str(tmp_path / "rep.list")]
    result = CliRunner().invoke(app, [*args, "--iprep-categories", str(tmp_path / "cats.txt")])
    assert result.exit_code == 0, result.output
    alerts = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    # an IP-only rule: once per flow and direction (one flow, one direction here)
    assert [a["alert"]["signature_id"] for a in alerts] == [7]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
