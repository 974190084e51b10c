"""Suricata rule parsing and translation: syntax, escapes, addresses, ports, skips."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from netsentry.ruleload import RuleFileError, load_rules
from netsentry.sig.importer import load_rules_bytes, load_rules_text
from netsentry.sig.model import SignatureRule
from netsentry.sig.netspec import AddressSpec, PortSpec
from netsentry.sig.parse import (
    RuleSyntaxError,
    content_bytes,
    content_text,
    logical_lines,
    parse_rule,
    split_options,
)
from netsentry.sig.translate import Skip, translate
from netsentry.sig.yamlform import to_yaml
from tests.factories import ip4


def one(text: str, **variables: str) -> SignatureRule:
    result = translate(parse_rule(text, "t.rules:1"), variables or None)
    assert isinstance(result, SignatureRule), result
    return result


def test_content_hex_bytes_escapes_and_negation() -> None:
    assert content_bytes('"GET |0d 0A|x"') == (b"GET \r\nx", False)
    assert content_bytes('!"a\\"b\\;c\\\\"') == (b'a"b;c\\', True)
    assert content_bytes('"|41 42|C|44|"') == (b"ABCD", False)
    with pytest.raises(RuleSyntaxError, match="hex"):
        content_bytes('"|4G|"')
    with pytest.raises(RuleSyntaxError, match="unterminated"):
        content_bytes('"|41"')
    with pytest.raises(RuleSyntaxError, match="quoted"):
        content_bytes("abc")
    assert content_text(b'a|b"\x00') == "a|7C|b|22 00|"


def test_options_split_at_unescaped_semicolon_only() -> None:
    opts = split_options('msg:"a\\;b"; content:"x"; nocase; pcre:"/^["\']?post/Ri"; sid:1;')
    assert [o.keyword for o in opts] == ["msg", "content", "nocase", "pcre", "sid"]
    assert opts[0].value == '"a\\;b"'
    assert opts[3].value == '"/^["\']?post/Ri"'
    with pytest.raises(RuleSyntaxError, match="not ended"):
        split_options('msg:"x"; sid:1')


def test_continuation_lines_comments_and_disabled_rules() -> None:
    text = (
        "# a comment\n"
        'alert tcp any any -> any any (msg:"a"; \\\n'
        "  sid:1;)\n"
        '#alert tcp any any -> any any (msg:"off"; sid:2;)\n'
        "\n"
    )
    lines = list(logical_lines(text, "f.rules"))
    assert lines[0][0] == "f.rules:2" and lines[0][2] is False
    assert "sid:1;" in lines[0][1]
    assert lines[1] == ("f.rules:4", 'alert tcp any any -> any any (msg:"off"; sid:2;)', True)


def test_addresses_cidrs_lists_negations_and_variables() -> None:
    home = AddressSpec("[192.168.0.0/16,10.0.0.0/8]")
    assert home.matches(ip4("10.1.2.3")) and not home.matches(ip4("8.8.8.8"))
    external = AddressSpec("![192.168.0.0/16,10.0.0.0/8]")
    assert external.matches(ip4("8.8.8.8")) and not external.matches(ip4("10.1.2.3"))
    mixed = AddressSpec("[10.0.0.0/8,!10.1.0.0/16]")
    assert mixed.matches(ip4("10.2.0.1")) and not mixed.matches(ip4("10.1.0.1"))
    rule = one(
        "alert tcp $EXTERNAL_NET any -> $HOME_NET $HTTP_PORTS (sid:5;)", HOME_NET="[10.0.0.0/8]"
    )
    assert rule.source == "![10.0.0.0/8]"
    assert rule.destination == "[10.0.0.0/8]" and rule.destination_port == "80"
    with pytest.raises(RuleSyntaxError, match="bad address"):
        AddressSpec("[10.0.0.0/8,nonsense]")


def test_port_lists_ranges_and_negation() -> None:
    ports = PortSpec("[80,443,8000:8080,!8005]")
    assert [ports.matches(p) for p in (80, 443, 8000, 8005, 8080, 8081)] == [
        True,
        True,
        True,
        False,
        True,
        False,
    ]
    assert PortSpec(":1024").matches(22) and not PortSpec(":1024").matches(1025)
    assert PortSpec("1024:").matches(65535) and not PortSpec("1024:").matches(80)
    assert PortSpec("!80").matches(81) and not PortSpec("!80").matches(80)
    with pytest.raises(RuleSyntaxError):
        PortSpec("90:80")


def test_sticky_buffers_modifiers_and_classtype() -> None:
    rule = one(
        'alert http $HOME_NET any -> any any (msg:"T"; flow:established,to_server; '
        'http.uri; content:"/a"; startswith; content:"b"; distance:0; within:5; nocase; '
        'http.host; dotprefix; content:".evil.com"; endswith; '
        "classtype:trojan-activity; reference:url,x.org; sid:7; rev:3;)"
    )
    assert rule.title == "T" and rule.sid == 7 and rule.rev == 3
    assert (rule.category, rule.severity) == ("c2", "critical")
    assert rule.eve_category == "A Network Trojan was detected"
    assert rule.flow == ("established", "to_server")
    uri1, uri2, host = rule.detect
    assert (uri1.buffer, uri1.content, uri1.startswith) == ("http.uri", b"/a", True)
    assert (uri2.distance, uri2.within, uri2.nocase) == (0, 5, True)
    assert (host.buffer, host.transforms, host.endswith) == ("http.host", ("dotprefix",), True)


def test_legacy_modifiers_uricontent_and_pcre_buffer_flags() -> None:
    rule = one(
        'alert tcp any any -> any any (content:"GET"; http_method; uricontent:"/x"; '
        'pcre:"/id=\\d+/Ui"; sid:8;)'
    )
    method, uri, pcre = rule.detect
    assert method.buffer == "http.method" and uri.buffer == "http.uri"
    assert (pcre.kind, pcre.buffer, pcre.regex) == ("pcre", "http.uri", "(?i)id=\\d+")


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ('alert tcp any any -> any any (content:"a"; byte_test:1,>,2,0; sid:1;)', "byte_test"),
        ("drop tcp any any -> any any (sid:1;)", "action:drop"),
        ("alert smb any any -> any any (sid:1;)", "proto:smb"),
        ('alert tcp any any -> any any (pcre:"/(a)\\1/"; sid:1;)', "pcre-not-linear"),
        ('alert tcp any any -> any any (pcre:"/a(?=b)/"; sid:1;)', "pcre-not-linear"),
        ('alert tcp any any -> any any (msg:"no sid";)', "syntax"),
        ("alert tcp any any -> any any (nocase; sid:1;)", "syntax"),
        ("alert tcp $NOPE any -> any any (sid:1;)", "syntax"),
    ],
)
def test_unsupported_or_bad_rules_are_skipped_with_reason(text: str, keyword: str) -> None:
    result = translate(parse_rule(text, "t.rules:9"))
    assert isinstance(result, Skip)
    assert result.keyword == keyword and result.where == "t.rules:9"


def test_malformed_rules_never_stop_the_import() -> None:
    text = (
        'alert tcp any any -> any any (msg:"ok"; content:"a"; sid:1;)\n'
        'alert tcp any any -> any any (msg:"unbalanced; sid:2;\n'
        'alert tcp any any -> any any (msg:"bad pcre"; pcre:"/(/"; sid:3;)\n'
        'alert tcp any any -> any any (msg:"unknown"; frobnicate:1; sid:4;)\n'
        'alert tcp any any -> any any (msg:"dup"; content:"b"; sid:1;)\n'
        'alert tcp any any -> any any (msg:"ok2"; content:"c"; sid:5;)\n'
    )
    result = load_rules_text(text, "x.rules")
    assert [r.sid for r in result.rules] == [1, 5]
    where = {s.where: s.keyword for s in result.skipped}
    assert where == {
        "x.rules:2": "syntax",
        "x.rules:3": "pcre-not-linear",
        "x.rules:4": "frobnicate",
        "x.rules:5": "duplicate-sid",
    }


def test_threshold_and_detection_filter_and_iprep_are_validated() -> None:
    rule = one(
        "alert icmp any any -> any any (itype:8; "
        "threshold: type limit, count 1, track by_src, seconds 30; sid:9;)"
    )
    assert rule.threshold == "type limit, count 1, track by_src, seconds 30"
    bad = translate(
        parse_rule(
            "alert icmp any any -> any any "
            "(detection_filter:track by_x, count 1, seconds 2; sid:1;)"
        )
    )
    assert isinstance(bad, Skip) and "track" in bad.reason


def test_rules_from_tar_gz_and_gzip_bytes() -> None:
    rules = b'alert udp any any -> any any (content:"x"; sid:11;)\n'
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("rules/a.rules", rules), ("rules/readme.txt", b"alert")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    result = load_rules_bytes(buffer.getvalue(), "et.tar.gz")
    assert [r.sid for r in result.rules] == [11]
    assert result.rules[0].source_rule == "et.tar.gz:rules/a.rules:1"
    assert [r.sid for r in load_rules_bytes(gzip.compress(rules)).rules] == [11]


def test_hostile_rule_sizes_are_refused_not_run() -> None:
    many = " ".join(f'content:"a{i}"; distance:0;' for i in range(400))
    result = translate(parse_rule(f"alert tcp any any -> any any ({many} sid:1;)"))
    assert isinstance(result, Skip) and result.keyword == "limits"


def test_yaml_round_trip_keeps_every_inspection(tmp_path: Path) -> None:
    text = (
        'alert http $HOME_NET any -> any any (msg:"rt"; flow:established,to_server; '
        'http.uri; content:"/a|3b 00|b"; nocase; fast_pattern; content:!"x"; distance:0; '
        'within:4; pcre:"/^\\/a/R"; http.host; to_lowercase; dotprefix; content:".e.com"; '
        "endswith; bsize:<40; flowbits:set,seen; threshold:type both, track by_src, count 2, "
        "seconds 10; classtype:web-application-attack; reference:cve,2020-1; sid:42; rev:3;)"
    )
    imported = load_rules_text(text, "t.rules").rules
    out = tmp_path / "x.yaml"
    out.write_text(to_yaml(imported))
    loaded = load_rules([out]).rules
    assert len(loaded) == 1
    original, again = imported[0], loaded[0]
    assert isinstance(again, SignatureRule)
    for name in ("detect", "flow", "flowbits", "threshold", "source", "classtype", "references"):
        assert getattr(again, name) == getattr(original, name), name


def test_yaml_signature_errors_have_positions(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n"
        "  - id: sig-1\n    kind: signature\n    sid: 1\n    title: t\n"
        "    category: exploit\n    severity: high\n    protocol: tcp\n"
        "    source: '[10.0.0.0/8,zzz]'\n"
        "    detect:\n      - {kind: content, buffer: nowhere, content: a}\n"
    )
    with pytest.raises(RuleFileError) as caught:
        load_rules([bad])
    text = "\n".join(caught.value.errors)
    assert "unknown buffer 'nowhere'" in text and f"{bad}:" in text
