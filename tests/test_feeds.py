"""feeds.yaml: the packaged feeds, layering, and errors with path:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from netsentry.config import cache_dir, config_dir, user_feeds_path
from netsentry.feedformats import FEED_FORMATS
from netsentry.feeds import Auth, FeedFileError, default_feeds_path, load_feeds


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors(path: Path) -> list[str]:
    with pytest.raises(FeedFileError) as info:
        load_feeds([path])
    return [e.replace(str(path.parent) + "/", "") for e in info.value.errors]


def test_packaged_feeds_are_valid_and_real() -> None:
    config = load_feeds([])
    names = [f.name for f in config.feeds]
    assert names == [
        "spamhaus-drop", "spamhaus-dropv6", "feodo-c2", "et-compromised", "firehol-level1",
        "tor-exits", "sslbl-ja3", "sslbl-certs", "urlhaus", "threatfox", "openphish",
        "misp-rfc1918", "misp-tranco10k", "et-open",
    ]
    assert not config.by_name("et-open").enabled  # type: ignore[union-attr]
    assert all(f.url.startswith("https://") for f in config.feeds)
    abuse = [f for f in config.feeds if "abuse.ch" in f.url]
    assert abuse and all(f.auth == Auth(env="ABUSE_CH_AUTH_KEY", header="Auth-Key") for f in abuse)
    assert [f.name for f in config.feeds if f.allowlist] == ["misp-rfc1918", "misp-tranco10k"]
    assert not config.by_name("tor-exits").enabled  # type: ignore[union-attr]
    assert config.drop_bogons
    assert {f.format for f in config.feeds} <= set(FEED_FORMATS)


def test_user_file_overrides_adds_and_drops_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds:\n"
        "  - {name: tor-exits, enabled: true, severity: medium}\n"
        "  - {name: openphish, enabled: false}\n"
        "  - name: mine\n    url: https://intel.example/list.txt\n    format: list\n"
        "    refresh: 30m\n    comment: ';'\n",
    )
    config = load_feeds([path])
    tor = config.by_name("tor-exits")
    assert tor is not None and tor.enabled and tor.severity == "medium"
    assert tor.url == "https://check.torproject.org/torbulkexitlist"  # kept from the default
    mine = config.by_name("mine")
    assert mine is not None and (mine.refresh, mine.comment) == (1800.0, (";",))
    assert "openphish" not in [f.name for f in config.enabled()]
    only = load_feeds([write(tmp_path, "include_defaults: false\nfeeds: []\n", "only.yaml")])
    assert only.feeds == []


def test_default_user_file_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETSENTRY_CONFIG_DIR")
    monkeypatch.delenv("NETSENTRY_CACHE_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_dir() == tmp_path / "cfg" / "netsentry"
    assert cache_dir() == tmp_path / "home" / ".cache" / "netsentry"
    (tmp_path / "cfg" / "netsentry").mkdir(parents=True)
    user_feeds_path().write_text("include_defaults: false\n", encoding="utf-8")
    assert load_feeds().feeds == []
    monkeypatch.setenv("NETSENTRY_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_top_level_problems(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "include_defaults: false\n"
        "verison: 1\n"
        "drop_bogons: maybe\n"
        "allowlist: {cidrs: [300.1.2.3/8], domain: [x]}\n"
        "feeds: {}\n",
    )
    assert errors(path) == [
        "feeds.yaml:2:1: unknown top-level key 'verison' (did you mean 'version'?)",
        "feeds.yaml:3:14: 'drop_bogons' must be true or false",
        "feeds.yaml:4:13: allowlist: invalid CIDR '300.1.2.3/8'",
        "feeds.yaml:4:35: allowlist: unknown key 'domain' (did you mean 'domains'?)",
        "feeds.yaml:5:8: 'feeds' must be a list",
    ]


def test_exact_messages(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "include_defaults: false\n"
        "feeds:\n"
        "  - name: Bad Name\n"
        "    url: https://user:pw@example.org/x\n"
        "    format: csv\n"
        "    indicators: [ipv4]\n"
        "    category: threatintel\n"
        "    severity: hgh\n"
        "  - name: a\n"
        "    url: https://example.org/y\n"
        "    format: json\n"
        "    refresh: soon\n"
        "    enabled: yes please\n"
        "    auth: {env: 'NOT A VAR', header: Auth-Key}\n"
        "  - name: b\n"
        "    url: https://example.org/y\n"
        "    format: list\n"
        "    auth: {env: KEY, header: A, param: b}\n"
        "  - {url: https://example.org/w}\n"
        "  - just a string\n",
    )
    assert errors(path) == [
        "feeds.yaml:3:11: feed 'Bad Name': name must be lowercase letters, digits, '-', '_' or '.'",
        "feeds.yaml:4:10: feed 'Bad Name': url must not hold credentials: use 'auth' with an env "
        "variable",
        "feeds.yaml:3:5: feed 'Bad Name': format 'csv' needs 'column'",
        "feeds.yaml:6:17: feed 'Bad Name': unknown indicator kind 'ipv4' (did you mean 'ip'?) "
        "(known: ip, domain, url, ja3, sha1)",
        "feeds.yaml:7:15: feed 'Bad Name': unknown category 'threatintel' "
        "(did you mean 'threat-intel'?)",
        "feeds.yaml:8:15: feed 'Bad Name': unknown severity 'hgh' (did you mean 'high'?)",
        "feeds.yaml:12:14: feed 'a': 'refresh' must be a positive duration "
        "(seconds, or 30m, 12h, 1d)",
        "feeds.yaml:13:14: feed 'a': 'enabled' must be true or false",
        "feeds.yaml:14:17: feed 'a': auth: 'NOT A VAR' is not an environment variable name",
        "feeds.yaml:18:11: feed 'b': auth: give either 'header' or 'param'",
        "feeds.yaml:19:5: missing required key 'name'",
        "feeds.yaml:19:5: missing required key 'format'",
        "feeds.yaml:20:5: each feed must be a mapping",
    ]


def test_duplicate_name_in_one_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "include_defaults: false\nfeeds:\n"
        "  - {name: a, url: 'https://e.org/1', format: list}\n"
        "  - {name: a, url: 'https://e.org/2', format: list}\n",
    )
    assert errors(path) == [
        "feeds.yaml:4:12: feed 'a': duplicate name (first defined at feeds.yaml:3:5)"
    ]


def test_yaml_errors_name_the_place(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds: [\n")
    assert errors(path)[0].startswith("feeds.yaml:2:1: invalid YAML")
    assert errors(tmp_path / "missing.yaml") == ["missing.yaml: no such file"]


def test_packaged_path() -> None:
    assert default_feeds_path().name == "feeds.yaml" and default_feeds_path().is_file()


def test_readme_feeds_yaml_examples_are_valid(tmp_path: Path) -> None:
    """The README's feeds.yaml examples load without an error; one shows every format."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### feeds.yaml", 1)[1].split("\n## ", 1)[0]
    blocks = [part.split("```", 1)[0] for part in section.split("```yaml\n")[1:]]
    blocks = [b for b in blocks if "\nfeeds:\n" in "\n" + b]  # not the intel rule example
    assert len(blocks) == 2
    configs = []
    for n, block in enumerate(blocks):
        path = tmp_path / f"feeds{n}.yaml"
        path.write_text(block, encoding="utf-8")
        configs.append(load_feeds([path]))
    per_format = {f.name: f for f in configs[1].feeds}
    assert {f.format for f in configs[1].feeds} == set(FEED_FORMATS)
    assert per_format["et-open"].enabled and per_format["et-open"].format == "suricata-rules"
