"""YAML loading with positions: every key, value and list item knows its path:line:col."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netsentry import yamlfile
from netsentry.feeds import default_feeds_path
from netsentry.ruleload import default_rules_path
from netsentry.yamlfile import (
    MarkedDict,
    MarkedList,
    Position,
    YamlError,
    load_yaml,
    load_yaml_text,
    position_of,
)

DOC = """\
version: 1
rules:
  - id: port-scan
    sid: 10
    tags: [a, "b"]
  - id: other
    where:
      src_ip: {cidr: 10.0.0.0/8}
"""


def _error(text: str, path: str = "r.yaml") -> str:
    with pytest.raises(YamlError) as info:
        load_yaml_text(text, path)
    return str(info.value)


def test_position_prints_as_path_line_col() -> None:
    assert str(Position("rules.yaml", 14, 5)) == "rules.yaml:14:5"


def test_containers_are_marked_and_equal_plain_values() -> None:
    doc = load_yaml_text(DOC, "r.yaml")
    assert isinstance(doc, MarkedDict)
    assert isinstance(doc["rules"], MarkedList)
    assert isinstance(doc["rules"][0], MarkedDict)
    assert doc == {
        "version": 1,
        "rules": [
            {"id": "port-scan", "sid": 10, "tags": ["a", "b"]},
            {"id": "other", "where": {"src_ip": {"cidr": "10.0.0.0/8"}}},
        ],
    }


def test_positions_of_keys_and_values() -> None:
    doc = load_yaml_text(DOC, "r.yaml")
    assert doc.pos == Position("r.yaml", 1, 1)
    assert doc.key_pos == {"version": Position("r.yaml", 1, 1), "rules": Position("r.yaml", 2, 1)}
    assert doc.value_pos["version"] == Position("r.yaml", 1, 10)
    # a block sequence starts at its first dash
    assert doc.value_pos["rules"] == Position("r.yaml", 3, 3)
    rule = doc["rules"][0]
    assert rule.pos == Position("r.yaml", 3, 5)
    assert rule.key_pos["sid"] == Position("r.yaml", 4, 5)
    assert rule.value_pos["sid"] == Position("r.yaml", 4, 10)
    assert rule.value_pos["tags"] == Position("r.yaml", 5, 11)
    where = doc["rules"][1]["where"]
    assert where.key_pos["src_ip"] == Position("r.yaml", 8, 7)
    assert where["src_ip"].key_pos["cidr"] == Position("r.yaml", 8, 16)
    assert where["src_ip"].value_pos["cidr"] == Position("r.yaml", 8, 22)


def test_positions_of_list_items_block_and_flow() -> None:
    doc = load_yaml_text(DOC, "r.yaml")
    assert doc["rules"].item_pos == [Position("r.yaml", 3, 5), Position("r.yaml", 6, 5)]
    assert doc["rules"][0]["tags"].item_pos == [
        Position("r.yaml", 5, 12),
        Position("r.yaml", 5, 15),
    ]


def test_position_of_helper() -> None:
    doc = load_yaml_text(DOC, "r.yaml")
    rule = doc["rules"][0]
    assert position_of(rule) == Position("r.yaml", 3, 5)
    assert position_of(rule, "sid") == Position("r.yaml", 4, 5)
    assert position_of(rule, "sid", value=True) == Position("r.yaml", 4, 10)
    # a key that is not there: the container itself
    assert position_of(rule, "nope") == Position("r.yaml", 3, 5)
    assert position_of(doc["rules"], 1) == Position("r.yaml", 6, 5)
    assert position_of(doc["rules"], 7) == Position("r.yaml", 3, 3)
    assert position_of(doc["rules"], "x") == Position("r.yaml", 3, 3)
    assert position_of("a scalar", "k") is None
    assert position_of({"plain": "dict"}, "plain") is None


def test_crlf_line_ends_and_bom_keep_positions() -> None:
    doc = load_yaml_text("\ufeffa: 1\r\nb: [x,\r\n  y]\r\n", "w.yaml")
    assert doc.key_pos == {"a": Position("w.yaml", 1, 1), "b": Position("w.yaml", 2, 1)}
    assert doc["b"].item_pos == [Position("w.yaml", 2, 5), Position("w.yaml", 3, 3)]


def test_merge_keys_are_resolved() -> None:
    doc = load_yaml_text("base: &b {severity: high}\nr:\n  <<: *b\n  id: x\n", "m.yaml")
    assert doc["r"] == {"severity": "high", "id": "x"}


def test_duplicate_key_names_the_second_occurrence() -> None:
    text = "rules:\n  - id: a\n    sid: 1\n    sid: 2\n"
    assert _error(text) == "r.yaml:4:5: duplicate key 'sid'"
    assert _error("a: 1\na: 2\n") == "r.yaml:2:1: duplicate key 'a'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1, 2\n", "r.yaml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>'"),
        ("a: b: c\n", "r.yaml:1:5: invalid YAML: mapping values are not allowed here"),
        (
            "a:\n\tb: 1\n",
            "r.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "r.yaml:2:1: invalid YAML: expected a single document in the stream, "
            "but found another document",
        ),
        (
            "a: !!python/object:os.system x\n",
            "r.yaml:1:4: invalid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("a: *nope\n", "r.yaml:1:4: invalid YAML: found undefined alias 'nope'"),
    ],
)
def test_invalid_yaml_message_with_position(text: str, message: str) -> None:
    assert _error(text) == message


def test_yaml_11_boolean_words_as_keys_stay_as_written() -> None:
    # Resolved, `on:` would be the boolean True (YAML 1.1) and a rule would report
    # "unknown key 'True'"; keys keep their source text instead.
    doc = load_yaml_text('on: 1\nyes: 2\n"off": 3\n1: 4\n~: 5\nnull: 6\n', "b.yaml")
    assert list(doc) == ["on", "yes", "off", "1", "~", "null"]
    assert all(isinstance(k, str) for k in doc)
    # distinct spellings of the same boolean are distinct keys, not duplicates
    assert load_yaml_text("on: 1\ntrue: 2\n", "b.yaml") == {"on": 1, "true": 2}


def test_yaml_11_boolean_words_as_values_are_still_booleans() -> None:
    doc = load_yaml_text("a: yes\nb: off\nc: 'on'\n", "b.yaml")
    assert doc == {"a": True, "b": False, "c": "on"}


def test_empty_and_comment_only_documents_are_none() -> None:
    assert load_yaml_text("", "e.yaml") is None
    assert load_yaml_text("# nothing\n\n", "e.yaml") is None


def test_load_yaml_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("a:\n  - 1\n", encoding="utf-8")
    doc = load_yaml(path)
    assert doc == {"a": [1]}
    assert doc["a"].item_pos == [Position(str(path), 2, 5)]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(YamlError) as info:
        load_yaml(path)
    assert str(info.value) == f"{path}: no such file"


def test_directory_is_not_readable(tmp_path: Path) -> None:
    with pytest.raises(YamlError) as info:
        load_yaml(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read (Is a directory)"


def test_non_utf8_file_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"rules:\n  - id: caf\xe9\n")
    with pytest.raises(YamlError) as info:
        load_yaml(path)
    assert str(info.value) == f"{path}:2:12: not UTF-8 text (byte 0xe9 at offset 18)"


def test_yaml_error_inside_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - id: x\n   sid: 1\n", encoding="utf-8")
    with pytest.raises(YamlError) as info:
        load_yaml(path)
    assert str(info.value) == (
        f"{path}:3:4: invalid YAML: expected <block end>, but found '<block mapping start>'"
    )


def test_fast_and_pure_parsers_agree_on_the_packaged_files() -> None:
    """libyaml (used when present, for start-up time) gives the same data and places."""
    if yamlfile._FAST_LOADER is None:
        pytest.skip("PyYAML was built without libyaml: only the pure-Python parser exists")

    def places(node: Any) -> Any:
        if isinstance(node, MarkedDict):
            children = {k: places(v) for k, v in node.items()}
            return (node.pos, node.key_pos, node.value_pos, children)
        if isinstance(node, MarkedList):
            return (node.pos, node.item_pos, [places(v) for v in node])
        return node

    for path in (default_rules_path(), default_feeds_path()):
        text = path.read_text(encoding="utf-8")
        fast = yamlfile.load_yaml_text(text, str(path))
        pure = yamlfile._load_pure(text, str(path))
        assert fast == pure
        assert places(fast) == places(pure)
