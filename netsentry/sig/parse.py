"""Suricata/Snort rule text -> header and option list, with file:line on every problem.

This is only the *syntax* layer: it splits a rule into its header (action,
protocol, addresses, ports, direction) and its ``keyword[:value];`` options, the
way Suricata does — an option ends at the first ``;`` not preceded by a
backslash, quotes are not tracked (ET Open has a pcre with a bare ``"`` in it).
What the keywords mean is :mod:`netsentry.sig.translate`'s business.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

DEFAULT_VARS: dict[str, str] = {
    "HOME_NET": "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]",
    "EXTERNAL_NET": "!$HOME_NET",
    "HTTP_SERVERS": "$HOME_NET",
    "SMTP_SERVERS": "$HOME_NET",
    "SQL_SERVERS": "$HOME_NET",
    "DNS_SERVERS": "$HOME_NET",
    "TELNET_SERVERS": "$HOME_NET",
    "AIM_SERVERS": "$EXTERNAL_NET",
    "DC_SERVERS": "$HOME_NET",
    "DNP3_SERVER": "$HOME_NET",
    "DNP3_CLIENT": "$HOME_NET",
    "MODBUS_CLIENT": "$HOME_NET",
    "MODBUS_SERVER": "$HOME_NET",
    "ENIP_CLIENT": "$HOME_NET",
    "ENIP_SERVER": "$HOME_NET",
    "HTTP_PORTS": "80",
    "SHELLCODE_PORTS": "!80",
    "ORACLE_PORTS": "1521",
    "SSH_PORTS": "22",
    "DNP3_PORTS": "20000",
    "MODBUS_PORTS": "502",
    "FILE_DATA_PORTS": "[$HTTP_PORTS,110,143]",
    "FTP_PORTS": "21",
    "GENEVE_PORTS": "6081",
    "VXLAN_PORTS": "4789",
    "TEREDO_PORTS": "3544",
}
"""Suricata's default ``vars`` (suricata.yaml): address groups and port groups."""


class RuleSyntaxError(ValueError):
    """A rule that cannot be split into header and options."""


@dataclass(frozen=True, slots=True)
class Option:
    """One ``keyword[:value]`` option; ``value`` is None for a bare keyword."""

    keyword: str
    value: str | None


@dataclass(slots=True)
class RawRule:
    """A rule split into its parts, with where it came from (``path:line``)."""

    action: str
    proto: str
    src: str
    src_ports: str
    direction: str
    dst: str
    dst_ports: str
    options: list[Option]
    where: str
    text: str
    disabled: bool = False
    meta: dict[str, str] = field(default_factory=dict)


_HEADER = re.compile(
    r"^\s*(?P<action>\S+)\s+(?P<proto>\S+)\s+(?P<src>\S+)\s+(?P<sport>\S+)\s+"
    r"(?P<dir>->|<>|<-)\s+(?P<dst>\S+)\s+(?P<dport>\S+)\s*\("
)
_KEYWORD = re.compile(r"^[A-Za-z0-9_.\-]+$")


def logical_lines(text: str, path: str) -> Iterator[tuple[str, str, bool]]:
    """(location, rule text, disabled) for every rule in a .rules text.

    Lines ending in a backslash continue on the next line. ``#`` lines are comments;
    a commented-out rule (``#alert ...``) is reported as disabled so the import can
    count it, never run it.
    """
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.rstrip("\r\n")
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        whole = "".join(pending).strip()
        pending = []
        if not whole:
            continue
        if whole.startswith("#"):
            body = whole.lstrip("#").strip()
            if _HEADER.match(body) and body.endswith(")"):
                yield f"{path}:{start}", body, True
            continue
        yield f"{path}:{start}", whole, False
    if pending and "".join(pending).strip():
        yield f"{path}:{start}", "".join(pending).strip(), False


_OPTION_END = re.compile(r"(?<!\\);")


def split_options(body: str) -> list[Option]:
    """``msg:"x"; content:"a\\;b"; nocase;`` -> options, split as Suricata does."""
    options: list[Option] = []
    parts = _OPTION_END.split(body)
    if parts[-1].strip():
        raise RuleSyntaxError(f"option '{parts[-1].strip()[:40]}' is not ended by ';'")
    for raw in parts[:-1]:
        part = raw.strip()
        if not part:
            continue
        keyword, sep, value = part.partition(":")
        keyword = keyword.strip()
        if not _KEYWORD.match(keyword):
            raise RuleSyntaxError(f"bad option keyword {keyword[:40]!r}")
        options.append(Option(keyword.lower(), value.strip() if sep else None))
    return options


def parse_rule(text: str, where: str = "<rule>", disabled: bool = False) -> RawRule:
    """Split one rule; raises RuleSyntaxError with the reason."""
    found = _HEADER.match(text)
    if found is None:
        raise RuleSyntaxError("not a rule: expected 'action proto src sport -> dst dport (...)'")
    body = text[found.end() :].rstrip()
    if not body.endswith(")"):
        raise RuleSyntaxError("the option list is not closed by ')'")
    options = split_options(body[:-1])
    return RawRule(
        action=found["action"].lower(),
        proto=found["proto"].lower(),
        src=found["src"],
        src_ports=found["sport"],
        direction=found["dir"],
        dst=found["dst"],
        dst_ports=found["dport"],
        options=options,
        where=where,
        text=text,
        disabled=disabled,
    )


def unquote(value: str) -> str:
    """A quoted option value without its quotes and with ``\\x`` escapes resolved."""
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1]
    elif value.startswith('"') or value.endswith('"'):
        raise RuleSyntaxError(f"unbalanced quotes in {value[:40]!r}")
    out: list[str] = []
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def content_bytes(value: str) -> tuple[bytes, bool]:
    """(bytes, negated) of a ``content`` value: quotes, ``|hex|`` runs, escapes, ``!``."""
    value = value.strip()
    negated = value.startswith("!")
    if negated:
        value = value[1:].strip()
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        raise RuleSyntaxError(f"content must be quoted: {value[:40]!r}")
    inner = value[1:-1]
    out = bytearray()
    i, n = 0, len(inner)
    while i < n:
        char = inner[i]
        if char == "|":
            end = inner.find("|", i + 1)
            if end < 0:
                raise RuleSyntaxError("unterminated |hex| run in content")
            digits = inner[i + 1 : end].replace(" ", "").replace("\t", "")
            if len(digits) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", digits):
                raise RuleSyntaxError(f"bad hex bytes |{inner[i + 1 : end][:40]}| in content")
            out += bytes.fromhex(digits)
            i = end + 1
            continue
        if char == "\\":
            if i + 1 >= n:
                raise RuleSyntaxError("content ends with a lone backslash")
            nxt = inner[i + 1]
            if nxt not in '\\";:|':
                raise RuleSyntaxError(f"invalid escape '\\{nxt}' in content")
            out += nxt.encode()
            i += 2
            continue
        if char == '"':
            raise RuleSyntaxError("unescaped '\"' inside content")
        if char == ";":
            raise RuleSyntaxError("unescaped ';' inside content")
        out += char.encode("utf-8")
        i += 1
    if not out:
        raise RuleSyntaxError("empty content")
    return bytes(out), negated


def content_text(data: bytes) -> str:
    """Bytes written back in content notation (printable text, other bytes as |hex|)."""
    out: list[str] = []
    hexrun: list[str] = []
    for byte in data:
        if 0x20 <= byte < 0x7F and chr(byte) not in '|";\\:':
            if hexrun:
                out.append("|" + " ".join(hexrun) + "|")
                hexrun = []
            out.append(chr(byte))
        else:
            hexrun.append(f"{byte:02X}")
    if hexrun:
        out.append("|" + " ".join(hexrun) + "|")
    return "".join(out)


def expand_vars(text: str, variables: dict[str, str], depth: int = 0) -> str:
    """``$NAME`` references replaced by their values (recursively); unknown ones raise."""
    if "$" not in text:
        return text
    if depth > 10:
        raise RuleSyntaxError("variables nested too deeply (a loop?)")

    def sub(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in variables:
            raise RuleSyntaxError(f"undefined variable ${name}")
        return expand_vars(variables[name], variables, depth + 1)

    return re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", sub, text)
