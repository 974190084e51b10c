"""Rule kinds as frozen dataclasses: their fields are the YAML keys (declare once).

Each dataclass field's ``metadata["doc"]`` documents the key; ``netsentry rules
explain`` prints those docs and the loader (:mod:`netsentry.ruleload`) derives
its "unknown key ... did you mean" vocabulary and type checks from the same
fields. ``RULE_KINDS`` maps the ``kind:`` value to its class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from netsentry.yamlfile import Position

SEVERITIES: dict[str, int] = {"critical": 1, "high": 2, "medium": 3, "low": 4, "info": 5}
"""Rule severity name -> EVE ``alert.severity`` (1 is the highest, as in Suricata)."""

CATEGORIES: dict[str, str] = {
    "threat-intel": "Known Bad Indicator",
    "malware-delivery": "Malware Delivery",
    "c2": "Command and Control",
    "phishing": "Phishing",
    "dga": "Algorithmically Generated Domain",
    "dns-tunneling": "DNS Tunneling",
    "sql-injection": "SQL Injection",
    "xss": "Cross-Site Scripting",
    "directory-traversal": "Directory Traversal",
    "command-injection": "Command Injection",
    "email-harvesting": "Email Address Harvesting",
    "brute-force": "Brute Force",
    "dos": "Denial of Service",
    "port-scan": "Port Scan",
    "exploit": "Exploit Attempt",
    # Suricata classtypes that fit none of the above (see netsentry.sig.translate.CLASSTYPES)
    "reconnaissance": "Reconnaissance",
    "policy-violation": "Policy Violation",
    "suspicious": "Suspicious Activity",
}
"""Category machine name -> human label (EVE ``alert.category``)."""

TRACKS: dict[str, str] = {
    "by_src": "source address of the counted packet or event",
    "by_dst": "destination address",
    "by_pair": "source and destination addresses together",
    "by_flow": "the flow",
    "by_client": "the flow's client (initiator), whichever direction the event went",
    "by_server": "the flow's server (responder)",
}

TRANSFORMS: dict[str, str] = {
    "url_decode": "percent-decode (and '+' to space) before matching",
    "to_lowercase": "lowercase ASCII before matching",
    "compress_whitespace": "collapse runs of whitespace to one space",
    "strip_whitespace": "remove all whitespace",
    "dotprefix": "prefix a '.' (so 'example.com' matches '.example.com' suffix patterns)",
}

OPERATORS: dict[str, str] = {
    "eq": "equal to the value (the default when a plain value is given)",
    "ne": "not equal",
    "in": "one of a list of values",
    "not_in": "none of a list of values",
    "regex": "matches a regular expression (linear-time engine)",
    "not_regex": "does not match a regular expression",
    "gt": "greater than",
    "ge": "greater than or equal",
    "lt": "less than",
    "le": "less than or equal",
    "cidr": "an address inside one of the listed CIDR blocks",
    "not_cidr": "an address outside every listed CIDR block",
    "contains": "contains the given text",
    "exists": "true: the field is present; false: it is absent",
}


def doc(text: str, **kw: Any) -> Any:
    """A dataclass field with its documentation attached (shown by ``rules explain``)."""
    return field(metadata={"doc": text}, **kw)


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``where:`` test on a field."""

    field: str
    op: str
    value: Any
    pos: Position | None = None


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Addresses and domains whose findings are suppressed."""

    cidrs: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Examples:
    """Values that must match the rule and values that must not."""

    match: tuple[Any, ...] = ()
    no_match: tuple[Any, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Keys every rule kind has."""

    kind_name: ClassVar[str] = ""
    id: str = doc("stable kebab-case identifier, e.g. 'sqli-union-select'")
    sid: int = doc("numeric id, written as EVE alert.signature_id")
    title: str = doc("one-line description, written as EVE alert.signature")
    category: str = doc("one of: " + ", ".join(CATEGORIES))
    severity: str = doc("one of: " + ", ".join(SEVERITIES))
    kind: str = doc("match, threshold, intel or dga", default="match")
    rev: int = doc("revision, written as EVE alert.rev", default=1)
    description: str = doc("what the rule detects and why, for analysts", default="")
    references: tuple[str, ...] = doc("URLs or CVE ids", default=())
    mitre: tuple[str, ...] = doc("MITRE ATT&CK technique ids, e.g. T1190", default=())
    tags: tuple[str, ...] = doc("free-form labels", default=())
    enabled: bool = doc("false keeps the rule loaded but never run", default=True)
    allowlist: Allowlist = doc(
        "findings whose addresses (cidrs) or domain (domains, matched on label boundaries) "
        "are listed are suppressed",
        default=Allowlist(),
    )
    examples: Examples = doc(
        "match: values that must match; no_match: values that must not (strings for the "
        "rule's field, or mappings of field -> value)",
        default=Examples(),
    )
    origin: Position | None = field(default=None, metadata={"yaml": False})

    def __post_init__(self) -> None:
        # The kind follows the class: ThresholdRule(...) built in code (not from YAML,
        # where 'kind:' picks the class) kept the default "match", and `rules explain`,
        # RULE_KINDS[rule.kind] and reports then took it for a match rule.
        if self.kind_name and self.kind != self.kind_name:
            object.__setattr__(self, "kind", self.kind_name)

    def keys(self) -> dict[str, Any]:
        """The YAML-visible fields and their values."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata.get("yaml", True)
        }


@dataclass(frozen=True, kw_only=True)
class MatchRule(Rule):
    """Fires when a field matches a regex or contains a literal."""

    kind_name: ClassVar[str] = "match"
    field: str = doc(
        "the field to match (see `netsentry rules fields`); may be omitted when 'where' "
        "alone says what fires",
        default="",
    )
    regex: str = doc("regular expression (RE2/Hyperscan syntax; no backreferences)", default="")
    content: str = doc("literal text to find (alternative to regex)", default="")
    nocase: bool = doc("match case-insensitively", default=False)
    transforms: tuple[str, ...] = doc(
        "applied to the value first: " + ", ".join(TRANSFORMS), default=()
    )
    where: tuple[Condition, ...] = doc(
        "further tests on other fields of the same record: field: value, or field: {op: value} "
        "with op in " + ", ".join(OPERATORS),
        default=(),
    )
    once_per_flow: bool = doc("report at most one finding per flow", default=False)


@dataclass(frozen=True, kw_only=True)
class ThresholdRule(Rule):
    """Fires when matching events reach a count (or a count of distinct values) in a window."""

    kind_name: ClassVar[str] = "threshold"
    record: str = doc(
        "record type counted (packet, flow, http, dns, auth, ...); inferred from fields", default=""
    )
    field: str = doc(
        "optional field that must match regex/content for an event to count", default=""
    )
    regex: str = doc("regular expression the field must match", default="")
    content: str = doc("literal the field must contain", default="")
    nocase: bool = doc("match case-insensitively", default=False)
    transforms: tuple[str, ...] = doc("applied to the field first", default=())
    where: tuple[Condition, ...] = doc("tests an event must pass to count", default=())
    track: str = doc("what is counted per: " + ", ".join(TRACKS))
    count: int = doc("events (or distinct values) needed to fire")
    seconds: float = doc("length of the sliding window")
    distinct: str = doc("count distinct values of this field instead of events", default="")


@dataclass(frozen=True, kw_only=True)
class IntelRule(Rule):
    """Fires when a field's value is an indicator in the loaded threat-intel sets."""

    kind_name: ClassVar[str] = "intel"
    fields: tuple[str, ...] = doc("fields looked up (addresses, domains, URLs, hashes)")
    feeds: tuple[str, ...] = doc("only indicators from these feeds (default: all)", default=())
    where: tuple[Condition, ...] = doc("further tests on the record", default=())


DGA_FIELDS: dict[str, str] = {
    "dns.rrname": "queried names (the default)",
    "http.hostname": "HTTP Host header",
    "tls.sni": "TLS server name",
}
"""Name fields a ``dga`` rule can score."""


@dataclass(frozen=True, kw_only=True)
class DgaRule(Rule):
    """Fires when a name scores as algorithmically generated (see netsentry.dga)."""

    kind_name: ClassVar[str] = "dga"
    field: str = doc(
        "the name scored: " + ", ".join(f"{k} ({v})" for k, v in DGA_FIELDS.items()),
        default="dns.rrname",
    )
    score: float = doc(
        "fire at or above this DGA score, 0..1 (`netsentry dga score` shows a name's; the "
        "shipped model scores 1% of held-back benign names above 0.71, 0.1% above 0.93)",
        default=0.9,
    )
    where: tuple[Condition, ...] = doc("further tests on the record", default=())


RULE_KINDS: dict[str, type[Rule]] = {
    "match": MatchRule,
    "threshold": ThresholdRule,
    "intel": IntelRule,
    "dga": DgaRule,
}
"""The ``kind:`` value of a rule -> its dataclass."""

# Imported Suricata signatures (kind: signature) live in their own module, which adds
# itself to RULE_KINDS; it needs the Rule base class above, hence the late import.
import netsentry.sig.model  # noqa: E402, F401


@dataclass
class RuleSet:
    """Rules loaded from one or more files, plus the global allowlist."""

    rules: list[Rule]
    allowlist: Allowlist = Allowlist()
    files: list[str] = dataclasses.field(default_factory=list)

    def by_id(self, rule_id: str) -> Rule | None:
        """The rule with this id, or None."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None
