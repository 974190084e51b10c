"""Suricata rule options -> a :class:`~netsentry.sig.model.SignatureRule`, or a skip reason.

Every keyword netsentry honours exactly is translated; anything else makes the
rule a :class:`Skip` naming the keyword and the rule's ``file:line``, so the
import report can say what was left out and why. Nothing is silently dropped:
keywords that only label an alert (``metadata``, ``reference``, ``target``) are
kept or ignored on purpose and listed in ``LABEL_ONLY``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import re2

from netsentry.matchers import compile_single
from netsentry.sig.buffers import BUFFERS, LEGACY_MODIFIERS, STICKY_ALIASES, TRANSFORMS
from netsentry.sig.content import numeric_test
from netsentry.sig.model import SigItem, SignatureRule
from netsentry.sig.netspec import address_spec, port_spec
from netsentry.sig.parse import (
    DEFAULT_VARS,
    RawRule,
    RuleSyntaxError,
    content_bytes,
    expand_vars,
    unquote,
)

PROTOCOLS = (
    "ip",
    "tcp",
    "tcp-pkt",  # TCP, packet payloads only
    "tcp-stream",  # TCP, reassembled stream only
    "udp",
    "icmp",
    "icmpv4",
    "icmpv6",
    "http",
    "dns",
    "tls",
    "ftp",
    "smtp",
)
APP_PROTOCOLS = ("http", "dns", "tls", "ftp", "smtp")

MAX_ITEMS = 256  # inspections per rule: matching recurses once per inspection

LABEL_ONLY = frozenset({"target", "tag", "rawbytes"})
"""Keywords that do not change what matches (``target`` only labels src/dst in EVE)."""

CLASSTYPES: dict[str, tuple[str, int]] = {
    "trojan-activity": ("c2", 1),
    "command-and-control": ("c2", 1),
    "domain-c2": ("c2", 1),
    "exploit-kit": ("exploit", 1),
    "shellcode-detect": ("exploit", 1),
    "attempted-admin": ("exploit", 1),
    "attempted-user": ("exploit", 1),
    "successful-admin": ("exploit", 1),
    "successful-user": ("exploit", 1),
    "unsuccessful-user": ("exploit", 1),
    "web-application-attack": ("exploit", 1),
    "targeted-activity": ("exploit", 1),
    "misc-attack": ("exploit", 2),
    "system-call-detect": ("exploit", 2),
    "rpc-portmap-decode": ("exploit", 2),
    "credential-theft": ("phishing", 1),
    "social-engineering": ("phishing", 2),
    "attempted-dos": ("dos", 2),
    "denial-of-service": ("dos", 2),
    "successful-dos": ("dos", 2),
    "default-login-attempt": ("brute-force", 2),
    "suspicious-login": ("brute-force", 2),
    "network-scan": ("reconnaissance", 3),
    "attempted-recon": ("reconnaissance", 2),
    "successful-recon-limited": ("reconnaissance", 2),
    "successful-recon-largescale": ("reconnaissance", 2),
    "policy-violation": ("policy-violation", 1),
    "inappropriate-content": ("policy-violation", 1),
    "coin-mining": ("policy-violation", 2),
    "pup-activity": ("policy-violation", 2),
    "external-ip-check": ("policy-violation", 2),
    "bad-unknown": ("suspicious", 2),
    "non-standard-protocol": ("suspicious", 2),
    "suspicious-filename-detect": ("suspicious", 2),
    "unusual-client-port-connection": ("suspicious", 2),
    "web-application-activity": ("suspicious", 2),
    "misc-activity": ("suspicious", 3),
    "not-suspicious": ("suspicious", 3),
    "protocol-command-decode": ("suspicious", 3),
    "string-detect": ("suspicious", 3),
    "unknown": ("suspicious", 3),
    "icmp-event": ("suspicious", 3),
    "tcp-connection": ("suspicious", 4),
}
"""Suricata classtype -> (netsentry category, Suricata priority) from classification.config."""

PRIORITY_SEVERITY = {1: "critical", 2: "high", 3: "medium", 4: "low"}
"""Suricata priority (1 highest) -> netsentry severity, so that EVE ``alert.severity``
(netsentry's 1..5) equals the priority Suricata writes there."""

FLOW_WORDS = frozenset(
    {
        "established",
        "not_established",
        "stateless",
        "to_server",
        "to_client",
        "from_server",
        "from_client",
        "only_stream",
        "no_stream",
        "only_frag",
        "no_frag",
    }
)
_FLAG_CHARS = frozenset("FSRPAUCE0 12")
_TRACKS = ("by_src", "by_dst", "by_flow", "by_both", "by_rule")


@dataclass(frozen=True, slots=True)
class Skip:
    """A rule not imported: why (keyword or problem) and where."""

    where: str
    sid: int | None
    keyword: str
    reason: str

    def __str__(self) -> str:
        sid = f" sid {self.sid}" if self.sid is not None else ""
        return f"{self.where}:{sid} {self.reason}"


class _Unsupported(Exception):
    def __init__(self, keyword: str, reason: str = "") -> None:
        super().__init__(reason or f"unsupported keyword '{keyword}'")
        self.keyword = keyword
        self.reason = reason or f"unsupported keyword '{keyword}'"


def pcre_to_re2(value: str) -> tuple[str, str, bool]:
    """(RE2 pattern, buffer flags, negated) of a ``pcre`` value; raises _Unsupported."""
    text = value.strip()
    negated = text.startswith("!")
    if negated:
        text = text[1:].strip()
    # Quotes off, escapes kept: '\s' and friends belong to the pattern. Suricata only
    # unescapes '\;' and '\"' here, which mean the same inside a regex anyway.
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    else:
        raise RuleSyntaxError("pcre must be quoted")
    if not text.startswith("/"):
        raise RuleSyntaxError('pcre must look like "/pattern/flags"')
    end = text.rfind("/")
    if end <= 0:
        raise RuleSyntaxError("pcre has no closing '/'")
    pattern, flags = text[1:end], text[end + 1 :]
    inline = ""
    buffers = ""
    anchored = False
    for flag in flags:
        if flag in "ism":
            inline += flag
        elif flag == "x":
            pattern = _strip_extended(pattern)
        elif flag in "UIPQHDMCSYVWZ":
            buffers += flag
        elif flag == "R":
            buffers += "R"
        elif flag == "A":
            anchored = True
        elif flag in "BOE":
            continue  # rawbytes, match-limit override, dollar-endonly: no effect here
        else:
            raise _Unsupported("pcre", f"pcre flag '{flag}' not supported")
    pattern = pcre_compat(pattern, multiline="m" in inline, dollar_end_only="E" in flags)
    regex = ("\\A(?:" + pattern + ")") if anchored else pattern
    if inline:
        regex = f"(?{inline}){regex}"
    try:
        compile_single(regex)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise _Unsupported(
            "pcre-not-linear", f"pcre not runnable on a linear-time engine (RE2: {reason})"
        ) from None
    except Exception as exc:
        raise _Unsupported("pcre", f"pcre rejected: {exc}") from None
    return regex, buffers, negated


_PCRE_ESCAPES = {"h": "\\t\\x20", "e": "\\x1b"}


def pcre_compat(pattern: str, multiline: bool = False, dollar_end_only: bool = False) -> str:
    """A PCRE pattern rewritten where RE2 reads the same text differently.

    PCRE's ``$`` (without /m) also matches before a final newline, RE2's only at the very
    end: it becomes ``(?:\\n?\\z)`` (``\\z`` with the E flag). ``\\Z`` likewise;
    ``\\h``/``\\H`` (horizontal space) and ``\\e`` (ESC), unknown to RE2, are spelled out.
    """
    dollar = "\\z" if dollar_end_only else "(?:\\n?\\z)"
    out: list[str] = []
    in_class = False
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            esc = pattern[i + 1]
            if esc == "Z" and not in_class:
                out.append("(?:\\n?\\z)")
            elif esc in ("h", "e"):
                body = _PCRE_ESCAPES[esc]
                out.append(body if in_class else f"[{body}]")
            elif esc == "H" and not in_class:
                out.append("[^\\t\\x20]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            out.append(char)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":  # a literal ']' first in a class
                out.append("\\]")
                i += 1
            continue
        elif char == "$" and not multiline:
            out.append(dollar)
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _strip_extended(pattern: str) -> str:
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif not in_class and char in " \t\r\n":
            i += 1
            continue
        elif not in_class and char == "#":
            while i < len(pattern) and pattern[i] != "\n":
                i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


_PCRE_BUFFERS = {
    "U": "http.uri",
    "I": "http.uri.raw",
    "P": "http.request_body",
    "Q": "http.response_body",
    "H": "http.header",
    "D": "http.header",
    "M": "http.method",
    "C": "http.cookie",
    "S": "http.stat_code",
    "Y": "http.stat_msg",
    "V": "http.user_agent",
    "W": "http.host",
    "Z": "http.host.raw",
}


def parse_kv(value: str, keyword: str) -> dict[str, str]:
    """``type limit, track by_src, count 1, seconds 60`` -> {'type': 'limit', ...}."""
    out: dict[str, str] = {}
    for part in value.split(","):
        words = part.split()
        if len(words) != 2:
            raise RuleSyntaxError(f"{keyword}: bad item {part.strip()!r}")
        out[words[0].lower()] = words[1]
    return out


def check_threshold(value: str, keyword: str) -> dict[str, Any]:
    """A validated threshold/detection_filter spec."""
    kv = parse_kv(value, keyword)
    kind = kv.get("type", "detection_filter" if keyword == "detection_filter" else "")
    if keyword == "threshold" and kind not in ("limit", "threshold", "both"):
        raise RuleSyntaxError(f"threshold: type must be limit, threshold or both, not {kind!r}")
    track = kv.get("track", "")
    if track not in _TRACKS:
        raise RuleSyntaxError(f"{keyword}: track must be one of {', '.join(_TRACKS)}")
    try:
        count, seconds = int(kv["count"]), int(kv["seconds"])
    except (KeyError, ValueError):
        raise RuleSyntaxError(f"{keyword}: needs integer count and seconds") from None
    if (count < 1 and keyword == "threshold") or count < 0 or seconds < 1:
        raise RuleSyntaxError(f"{keyword}: count and seconds out of range")
    return {"type": kind, "track": track, "count": count, "seconds": seconds}


def check_flags(value: str) -> None:
    """Validate a ``flags`` value (raises RuleSyntaxError)."""
    main = value.split(",")[0].strip()
    body = main.lstrip("!+*")
    if not body or len(main) - len(body) > 1 or not set(body) <= _FLAG_CHARS:
        raise RuleSyntaxError(f"bad flags {value!r}")


def check_iprep(value: str) -> None:
    """Validate an ``iprep`` value."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) == 3 and parts[2] in ("isset", "isnotset"):
        pass
    elif len(parts) != 4 or parts[2] not in ("<", ">", "=", "!=") or not parts[3].isdigit():
        raise RuleSyntaxError(f"bad iprep {value!r}")
    if parts[0] not in ("src", "dst", "any", "both"):
        raise RuleSyntaxError(f"iprep side must be src, dst, any or both, not {parts[0]!r}")


def _severity(priority: int) -> str:
    return PRIORITY_SEVERITY.get(max(1, min(priority, 4)), "medium")


class _Builder:
    """Walks a rule's options in order, keeping Suricata's sticky-buffer state."""

    def __init__(self, raw: RawRule, base_dir: str) -> None:
        self.raw = raw
        self.base_dir = base_dir
        self.items: list[dict[str, Any]] = []
        self.sticky = "payload"
        self.transforms: list[str] = []
        self.values: dict[str, Any] = {}
        self.flow: list[str] = []
        self.flowbits: list[str] = []
        self.iprep: list[str] = []
        self.references: list[str] = []
        self.metadata: list[str] = []

    def last_content(self, keyword: str) -> dict[str, Any]:
        # Modifiers apply to the latest content even after a bsize or an isdataat.
        for item in reversed(self.items):
            if item["kind"] == "content":
                found: dict[str, Any] = item
                return found
            if item["kind"] == "pcre":
                break
        raise RuleSyntaxError(f"'{keyword}' needs a preceding content")

    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        item = {
            "kind": kind,
            "buffer": self.sticky,
            "transforms": tuple(self.transforms),
        }
        item.update(fields)
        self.items.append(item)
        return item

    def option(self, keyword: str, value: str | None) -> None:
        text = value or ""
        if keyword == "msg":
            self.values["title"] = unquote(text)
        elif keyword == "sid":
            self.values["sid"] = int(text)
        elif keyword == "rev":
            self.values["rev"] = int(text)
        elif keyword == "gid":
            self.values["gid"] = int(text)
        elif keyword == "priority":
            self.values["priority"] = int(text)
        elif keyword == "classtype":
            self.values["classtype"] = text.strip()
        elif keyword == "reference":
            self.references.append(text.strip())
        elif keyword == "metadata":
            self.metadata.extend(p.strip() for p in text.split(",") if p.strip())
        elif keyword in LABEL_ONLY:
            return
        elif keyword in ("content", "uricontent"):
            data, negated = content_bytes(text)
            if keyword == "uricontent":
                self.add("content", content=data, negated=negated, buffer="http.uri", transforms=())
            else:
                self.add("content", content=data, negated=negated)
        elif keyword == "nocase":
            self.last_content(keyword)["nocase"] = True
        elif keyword in ("depth", "offset", "distance", "within"):
            item = self.last_content(keyword)
            if not re.fullmatch(r"-?\d+", text.strip()):
                raise _Unsupported(keyword, f"{keyword} with a variable (byte_extract)")
            number = int(text)
            if keyword in ("depth", "offset", "within") and number < 0:
                raise RuleSyntaxError(f"{keyword} must not be negative")
            if keyword in ("depth", "offset") and (
                item.get("distance") is not None or item.get("within") is not None
            ):
                raise RuleSyntaxError(f"{keyword} cannot be combined with distance/within")
            item[keyword] = number
        elif keyword in ("startswith", "endswith"):
            self.last_content(keyword)[keyword] = True
        elif keyword == "fast_pattern":
            self.last_content(keyword)["fast_pattern"] = True
        elif keyword == "pcre":
            regex, flags, negated = pcre_to_re2(text)
            buffer = self.sticky
            transforms = tuple(self.transforms)
            relative = "R" in flags
            for flag in flags.replace("R", ""):
                buffer = _PCRE_BUFFERS[flag]
                transforms = ()
            self.add(
                "pcre",
                regex=regex,
                negated=negated,
                relative=relative,
                buffer=buffer,
                transforms=transforms,
            )
        elif keyword in LEGACY_MODIFIERS:
            item = self.last_content(keyword)
            item["buffer"] = STICKY_ALIASES[keyword]
            item["transforms"] = ()
        elif keyword in BUFFERS or keyword in STICKY_ALIASES:
            self.sticky = STICKY_ALIASES.get(keyword, keyword)
            self.transforms = []
        elif keyword in TRANSFORMS:
            if self.sticky == "payload":
                raise RuleSyntaxError(f"transform '{keyword}' needs a sticky buffer before it")
            self.transforms.append(keyword)
        elif keyword == "isdataat":
            parts = [p.strip() for p in text.split(",")]
            first = parts[0]
            negated = first.startswith("!")
            digits = first.lstrip("!")
            if not digits.isdigit():
                raise _Unsupported(keyword, "isdataat with a variable")
            extra = set(parts[1:])
            if not extra <= {"relative", "rawbytes"}:
                raise RuleSyntaxError(f"bad isdataat {text!r}")
            self.add("isdataat", value=digits, negated=negated, relative="relative" in extra)
        elif keyword == "bsize":
            numeric_test(text)
            self.add("bsize", value=text.strip())
        elif keyword == "urilen":
            spec, _, mode = text.partition(",")
            numeric_test(spec)
            buffer = "http.uri.raw" if mode.strip() == "raw" else "http.uri"
            self.add("bsize", value=spec.strip(), buffer=buffer, transforms=())
        elif keyword == "dataset":
            self.dataset(text)
        elif keyword == "flow":
            words = [w.strip() for w in text.split(",") if w.strip()]
            bad = [w for w in words if w not in FLOW_WORDS]
            if bad:
                raise RuleSyntaxError(f"unknown flow option {bad[0]!r}")
            self.flow.extend(words)
        elif keyword == "flowbits":
            parts = [p.strip() for p in text.split(",")]
            if parts[0] == "noalert" and len(parts) == 1:
                self.values["noalert"] = True
                return
            if parts[0] not in ("set", "isset", "unset", "isnotset", "toggle") or len(parts) != 2:
                raise RuleSyntaxError(f"bad flowbits {text!r}")
            if "&" in parts[1] or ("|" in parts[1] and parts[0] not in ("isset", "isnotset")):
                raise _Unsupported(keyword, "flowbits with '&' groups")
            self.flowbits.append(f"{parts[0]},{parts[1]}")
        elif keyword == "noalert":
            self.values["noalert"] = True
        elif keyword in ("dsize", "itype", "icode"):
            numeric_test(text)
            self.values[keyword] = text.strip()
        elif keyword in ("flags", "tcp.flags"):
            check_flags(text)
            self.values["tcp_flags"] = text.strip()
        elif keyword in ("threshold", "detection_filter"):
            check_threshold(text, keyword)
            self.values[keyword] = text.strip()
        elif keyword == "iprep":
            check_iprep(text)
            self.iprep.append(",".join(p.strip() for p in text.split(",")))
        else:
            raise _Unsupported(keyword)

    def dataset(self, text: str) -> None:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) < 2 or parts[0] not in ("isset", "isnotset"):
            raise _Unsupported("dataset", f"dataset command '{parts[0]}' (only isset/isnotset)")
        options: dict[str, str] = {}
        for part in parts[2:]:
            key, _, val = part.partition(" ")
            if key not in ("type", "load", "memcap", "hashsize", "match", "format") and key not in (
                "value_key",
                "context_key",
            ):
                raise _Unsupported("dataset", f"dataset option '{key}'")
            options[key] = val.strip()
        if options.get("match", "subdomain") != "subdomain":
            raise _Unsupported("dataset", f"dataset match '{options['match']}'")
        if options.get("format", "csv") not in ("csv", "ndjson"):
            raise _Unsupported("dataset", f"dataset format '{options['format']}'")
        if options.get("type", "string") != "string":
            raise _Unsupported("dataset", f"dataset type '{options.get('type')}'")
        if "load" not in options:
            raise _Unsupported("dataset", "dataset without a 'load' file")
        path = options["load"]
        if not os.path.isabs(path):
            path = os.path.join(self.base_dir, path)
        # value: name, file, how entries match (exact/subdomain), file format[:value key]
        mode = "subdomain" if options.get("match") == "subdomain" else "exact"
        fmt = options.get("format", "csv")
        if fmt == "ndjson":
            if "value_key" not in options:
                raise RuleSyntaxError("dataset format ndjson needs value_key")
            fmt = f"ndjson:{options['value_key']}"
        self.add(
            "dataset",
            value=f"{parts[1]},{path},{mode},{fmt}",
            negated=parts[0] == "isnotset",
        )


def translate(
    raw: RawRule, variables: dict[str, str] | None = None, base_dir: str = "."
) -> SignatureRule | Skip:
    """The netsentry rule for a parsed Suricata rule, or why it was skipped."""
    sid_match = re.search(r"\bsid\s*:\s*(\d+)", raw.text)
    sid = int(sid_match.group(1)) if sid_match else None
    table = dict(DEFAULT_VARS)
    table.update(variables or {})
    try:
        return _translate(raw, table, base_dir)
    except _Unsupported as exc:
        return Skip(raw.where, sid, exc.keyword, exc.reason)
    except (RuleSyntaxError, ValueError, re2.error) as exc:
        return Skip(raw.where, sid, "syntax", f"invalid rule: {exc}")


def _translate(raw: RawRule, table: dict[str, str], base_dir: str) -> SignatureRule:
    if raw.action != "alert":
        raise _Unsupported(f"action:{raw.action}", f"action '{raw.action}' (only alert)")
    if raw.proto not in PROTOCOLS:
        raise _Unsupported(f"proto:{raw.proto}", f"header protocol '{raw.proto}'")
    if raw.direction == "<-":
        raise RuleSyntaxError("'<-' is not a valid direction")
    source = expand_vars(raw.src, table)
    source_port = expand_vars(raw.src_ports, table)
    destination = expand_vars(raw.dst, table)
    destination_port = expand_vars(raw.dst_ports, table)
    address_spec(source)
    address_spec(destination)
    port_spec(source_port)
    port_spec(destination_port)
    builder = _Builder(raw, base_dir)
    for opt in raw.options:
        builder.option(opt.keyword, opt.value)
    values = builder.values
    if "sid" not in values:
        raise RuleSyntaxError("no sid")
    sid = values["sid"]
    if not 1 <= sid <= 2**32 - 1:
        raise RuleSyntaxError("sid out of range")
    items = tuple(_freeze(item) for item in builder.items)
    _check_items(items, raw.proto)
    classtype = values.get("classtype", "")
    category, priority = CLASSTYPES.get(classtype, ("suspicious", 3))
    if classtype and classtype not in CLASSTYPES:
        raise _Unsupported("classtype", f"unknown classtype '{classtype}'")
    priority = values.get("priority", priority)
    return SignatureRule(
        id=f"sig-{values.get('gid', 1)}-{sid}" if values.get("gid", 1) != 1 else f"sig-{sid}",
        sid=sid,
        rev=values.get("rev", 1),
        title=values.get("title") or f"Suricata rule {sid}",
        category=category,
        severity=_severity(priority),
        references=tuple(builder.references),
        protocol=raw.proto,
        bidirectional=raw.direction == "<>",
        detect=items,
        flow=tuple(builder.flow),
        dsize=values.get("dsize", ""),
        itype=values.get("itype", ""),
        icode=values.get("icode", ""),
        tcp_flags=values.get("tcp_flags", ""),
        flowbits=tuple(builder.flowbits),
        iprep=tuple(builder.iprep),
        threshold=values.get("threshold", ""),
        detection_filter=values.get("detection_filter", ""),
        noalert=values.get("noalert", False),
        gid=values.get("gid", 1),
        classtype=classtype,
        metadata=tuple(builder.metadata),
        source_rule=raw.where,
        source=source,
        source_port=source_port,
        destination=destination,
        destination_port=destination_port,
    )


def _freeze(item: dict[str, Any]) -> SigItem:
    return SigItem(**item)


def _check_items(items: tuple[SigItem, ...], proto: str) -> None:
    """Reject combinations Suricata rejects or netsentry cannot evaluate exactly."""
    if len(items) > MAX_ITEMS:
        raise _Unsupported("limits", f"more than {MAX_ITEMS} buffer inspections in one rule")
    records = {BUFFERS[i.buffer].record for i in items}
    apps = records - {"packet"}
    if len(apps) > 1:
        raise _Unsupported("buffers", f"buffers of several protocols ({', '.join(sorted(apps))})")
    app = next(iter(apps), None)
    if app is not None and proto in ("smtp", "ftp"):
        raise _Unsupported(f"{proto}-buffers", f"{app} buffers on a '{proto}' rule (file.data)")
    if app is not None and proto in APP_PROTOCOLS and proto != app:
        raise RuleSyntaxError(f"'{proto}' rule inspects {app} buffers")
    if app is not None and proto in ("tcp-pkt", "tcp-stream"):
        raise RuleSyntaxError(f"'{proto}' rule inspects {app} buffers")
    if app is not None and proto in ("udp", "icmp") and app != "dns":
        raise RuleSyntaxError(f"'{proto}' rule inspects {app} buffers")
    for item in items:
        if (
            item.kind == "content"
            and item.startswith
            and (item.offset or item.distance is not None or item.within is not None)
        ):
            raise RuleSyntaxError("startswith cannot be combined with offset/distance/within")
