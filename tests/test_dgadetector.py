"""DGA detection in the rule engine: the ``dga`` rule kind and per-host evidence.

- ``kind: dga`` rules load with their defaults, and their mistakes are reported
  with ``path:line:col`` like every rule error; their examples run in ``rules test``.
- A dga rule fires on a high-scoring queried name (requests only), once per client
  and registrable domain, with the score and top features as evidence; allowlisted
  names never fire; HTTP Host and TLS SNI can be scored instead.
- The packaged per-host rules: one client querying many high-scoring names
  (``dga-host-names``) or getting NXDOMAIN for several (``dga-nxdomain-names``)
  raises a high-severity finding, while a few such names, or many allowlisted ones,
  raise nothing; the per-name rule ships disabled (a single random name is not a DGA
  pattern) and, enabled, reports at a lower severity than the per-host rules.
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import dpkt
import pytest

from netsentry.engine import AnalysisResult, analyze
from netsentry.findings import Finding
from netsentry.ruleload import RuleFileError, load_rules
from netsentry.rules import SEVERITIES, DgaRule, RuleSet
from netsentry.ruletest import example_matches
from tests.factories import Record, ether, ipv4, tcp, udp, write_pcap

CLIENT = "10.1.1.5"
RESOLVER = "10.1.1.53"
T0 = 1_700_000_000.0


def dga_names(count: int, seed: int = 11) -> list[str]:
    """Distinct random-letter names (12-16 letters), as arithmetic DGAs make them."""
    rng = random.Random(seed)
    names: list[str] = []
    while len(names) < count:
        label = "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(rng.randint(12, 16)))
        name = f"{label}.{rng.choice(('com', 'net', 'info'))}"
        if name not in names:
            names.append(name)
    return names


def dns_frames(
    names: list[str], *, rcode: int | None = None, client: str = CLIENT, start: float = T0
) -> list[Record]:
    """A query per name (one UDP flow each) and, when ``rcode`` is given, its answer."""
    records: list[Record] = []
    for i, name in enumerate(names):
        sport = 40000 + i
        qid = 0x100 + i
        query = dpkt.dns.DNS(id=qid, qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)])
        ts = start + i * 0.5
        records.append((ts, ether(ipv4(udp(sport, 53, bytes(query)), client, RESOLVER))))
        if rcode is not None:
            answer = dpkt.dns.DNS(
                id=qid, op=0x8180 | rcode, qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)]
            )
            frame = ether(ipv4(udp(53, sport, bytes(answer)), RESOLVER, client))
            records.append((ts + 0.01, frame))
    return records


def run(tmp_path: Path, records: list[Record], rules: RuleSet) -> AnalysisResult:
    path = write_pcap(tmp_path / "dga.pcap", records)
    result = analyze([path], rules=rules, app_report=False, engine="re2")
    assert result.detector_errors == {}
    return result


def rules_from(tmp_path: Path, text: str) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_rules([path])


DGA_RULE = """\
    rules:
      - id: dga-test
        sid: 1
        title: DGA name
        category: dga
        severity: low
        kind: dga
        examples: {match: [xkqjzvbwpltm.com]}
    """


def by_rule(findings: list[Finding]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.rule.id] = counts.get(finding.rule.id, 0) + 1
    return counts


# -- loading -------------------------------------------------------------------------------


def test_dga_rule_defaults(tmp_path: Path) -> None:
    rule = rules_from(tmp_path, DGA_RULE).rules[0]
    assert isinstance(rule, DgaRule)
    assert (rule.kind, rule.field, rule.score, rule.where) == ("dga", "dns.rrname", 0.9, ())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "field: dns.rcode",
            "8:12: rule 'dga-test': a dga rule scores a name field: dns.rrname,"
            " http.hostname, tls.sni (not 'dns.rcode')",
        ),
        (
            "field: dns.rrnam",
            "8:12: rule 'dga-test': unknown field 'dns.rrnam' (did you mean 'dns.rrname'?)",
        ),
        (
            "score: 1.5",
            "8:12: rule 'dga-test': score must be a number above 0 and at most 1",
        ),
        ("score: high", "8:12: rule 'dga-test': 'score' must be a number"),
        (
            "count: 3",
            "8:5: rule 'dga-test': unknown key 'count'"
            " (a key of kind 'threshold'; this rule is kind 'dga')",
        ),
        (
            "field: tls.sni\n        where: {dns.type: request}",
            "2:5: rule 'dga-test': fields come from different record types:"
            " tls.sni (tls), dns.type (dns)",
        ),
    ],
)
def test_dga_rule_errors_name_their_place(tmp_path: Path, extra: str, message: str) -> None:
    text = DGA_RULE.replace("        kind: dga\n", f"        kind: dga\n        {extra}\n")
    with pytest.raises(RuleFileError) as info:
        rules_from(tmp_path, text)
    assert info.value.errors == [f"{tmp_path / 'rules.yaml'}:{message}"]


def test_dga_rule_examples_are_scored(tmp_path: Path) -> None:
    rule = rules_from(tmp_path, DGA_RULE).rules[0]
    assert example_matches(rule, "xkqjzvbwpltm.com") == (True, "")
    assert example_matches(rule, "bluewidget.com") == (False, "")
    assert example_matches(rule, "googleapis.com") == (False, "")  # allowlisted
    assert example_matches(rule, {"dns.rrname": "xkqjzvbwpltm.com"}) == (True, "")
    assert example_matches(rule, {"dns.rcode": "NXDOMAIN"}) == (
        False,
        "example lacks the rule's field 'dns.rrname'",
    )


# -- the dga rule kind in the engine ------------------------------------------------------------


def test_dga_rule_fires_once_per_client_and_domain(tmp_path: Path) -> None:
    names = dga_names(3)
    # each name asked twice (A retry) and a subdomain of the first: still one finding per domain
    queried = [*names, *names, "www." + names[0], "gardenshop.net", "googleapis.com"]
    result = run(tmp_path, dns_frames(queried, rcode=3), rules_from(tmp_path, DGA_RULE))
    assert sorted(f.evidence["registrable"] for f in result.findings) == sorted(names)
    for finding in result.findings:
        assert finding.src_ip == CLIENT and finding.dest_ip == RESOLVER  # the query fired
        assert finding.evidence["field"] == "dns.rrname"
        assert finding.evidence["score"] >= 0.9
        assert finding.evidence["threshold"] == 0.9
        top = finding.evidence["top_features"]
        assert len(top) == 3 and top[0]["contribution"] >= top[1]["contribution"] > 0


def test_dga_rule_scores_tls_sni(tmp_path: Path) -> None:
    """field: tls.sni scores the name a client connects to (here over a handshake)."""
    from tests.test_tls import client_hello, record  # the TLS tests' builders

    rules = rules_from(
        tmp_path, DGA_RULE.replace("kind: dga\n", "kind: dga\n        field: tls.sni\n")
    )
    name = dga_names(1, seed=3)[0]
    hello = record(22, client_hello(sni=name.encode()))
    server = "203.0.113.9"

    def segment(src: str, dst: str, sport: int, dport: int, flags: int, data: bytes = b"") -> bytes:
        seq, ack = (1, 0) if flags == dpkt.tcp.TH_SYN else (2, 2)
        return ether(ipv4(tcp(sport, dport, data, flags, seq, ack), src, dst))

    frames: list[Record] = [
        (T0, segment(CLIENT, server, 50000, 443, dpkt.tcp.TH_SYN)),
        (T0 + 0.01, segment(server, CLIENT, 443, 50000, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)),
        (T0 + 0.02, segment(CLIENT, server, 50000, 443, dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, hello)),
    ]
    result = run(tmp_path, frames, rules)
    assert [(f.rule.id, f.evidence["name"], f.evidence["field"]) for f in result.findings] == [
        ("dga-test", name, "tls.sni")
    ]


# -- the packaged rules: per-host evidence --------------------------------------------------------


@pytest.fixture(scope="module")
def packaged() -> RuleSet:
    return load_rules()


def test_many_dga_names_from_one_client_raise_one_high_finding(
    tmp_path: Path, packaged: RuleSet
) -> None:
    result = run(tmp_path, dns_frames(dga_names(25)), packaged)
    assert by_rule(result.findings) == {"dga-host-names": 1}
    finding = result.findings[0]
    assert finding.rule.severity == "high"
    assert (finding.src_ip, finding.dest_ip) == (CLIENT, RESOLVER)
    assert finding.evidence["count"] == 10
    assert finding.evidence["distinct"] == "dns.rrname"
    assert len(finding.evidence["sample"]) == 5


def test_nxdomain_answers_for_dga_names_raise_a_high_finding(
    tmp_path: Path, packaged: RuleSet
) -> None:
    result = run(tmp_path, dns_frames(dga_names(6), rcode=3), packaged)
    assert by_rule(result.findings) == {"dga-nxdomain-names": 1}
    assert result.findings[0].rule.severity == "high"
    assert (result.findings[0].src_ip, result.findings[0].dest_ip) == (CLIENT, RESOLVER)


def test_a_few_dga_names_or_many_allowlisted_names_raise_nothing(
    tmp_path: Path, packaged: RuleSet
) -> None:
    few = dga_names(4)
    cdn = [f"d{i}x7kq2zvb{i}.cloudfront.net" for i in range(20)]
    cdn += [f"r{i}---sn-4g5e6nzz.googlevideo.com" for i in range(20)]
    records = dns_frames(few, rcode=3) + dns_frames(cdn, rcode=0, start=T0 + 30)
    assert run(tmp_path, records, packaged).findings == []


def test_a_single_random_name_is_not_reported_by_default(tmp_path: Path, packaged: RuleSet) -> None:
    """The corpus forbids dga for one random lookup: the per-name rule ships disabled."""
    rule = packaged.by_id("dga-name")
    assert isinstance(rule, DgaRule) and not rule.enabled
    assert run(tmp_path, dns_frames(dga_names(1), rcode=3), packaged).findings == []


def test_per_host_evidence_outranks_a_single_name(tmp_path: Path) -> None:
    rules = load_rules(overrides=["dga-name.enabled=true"])
    single = run(tmp_path, dns_frames(dga_names(1), rcode=3), rules).findings
    assert by_rule(single) == {"dga-name": 1}
    many = run(tmp_path, dns_frames(dga_names(12), rcode=3), rules).findings
    counts = by_rule(many)
    assert counts["dga-name"] == 12
    assert counts["dga-host-names"] == 1 and counts["dga-nxdomain-names"] == 1
    severity = {f.rule.id: SEVERITIES[f.rule.severity] for f in many}
    assert severity["dga-host-names"] < severity["dga-name"]  # 1 is the highest
    assert severity["dga-nxdomain-names"] < severity["dga-name"]


def test_each_client_is_counted_on_its_own(tmp_path: Path, packaged: RuleSet) -> None:
    """Ten names spread over two clients (5 each) stay under dga-host-names' count."""
    names = dga_names(10)
    records = dns_frames(names[:5], client="10.1.1.6") + dns_frames(
        names[5:], client="10.1.1.7", start=T0 + 10
    )
    assert "dga-host-names" not in by_rule(run(tmp_path, records, packaged).findings)
