"""The ``signature`` rule kind: a Suricata-style signature in netsentry's rule model.

Imported Suricata/Snort rules become :class:`SignatureRule` objects (YAML
``kind: signature``), loaded, validated, listed and explained like every other
rule kind, and run by the same :class:`~netsentry.detectors.Detection` through
:class:`netsentry.sig.detect.SignatureDetector`. ``detect`` holds the payload
inspections in rule order; each names its buffer (``payload``, ``http.uri``,
``dns.query``, ...) so contents keep Suricata's positions relative to the
previous inspection on the same buffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from netsentry.rules import RULE_KINDS, Rule, doc

ITEM_KINDS = ("content", "pcre", "isdataat", "bsize", "dataset")

CLASSTYPE_LABELS: dict[str, str] = {
    "not-suspicious": "Not Suspicious Traffic",
    "unknown": "Unknown Traffic",
    "bad-unknown": "Potentially Bad Traffic",
    "attempted-recon": "Attempted Information Leak",
    "successful-recon-limited": "Information Leak",
    "successful-recon-largescale": "Large Scale Information Leak",
    "attempted-dos": "Attempted Denial of Service",
    "successful-dos": "Denial of Service",
    "attempted-user": "Attempted User Privilege Gain",
    "unsuccessful-user": "Unsuccessful User Privilege Gain",
    "successful-user": "Successful User Privilege Gain",
    "attempted-admin": "Attempted Administrator Privilege Gain",
    "successful-admin": "Successful Administrator Privilege Gain",
    "rpc-portmap-decode": "Decode of an RPC Query",
    "shellcode-detect": "Executable code was detected",
    "string-detect": "A suspicious string was detected",
    "suspicious-filename-detect": "A suspicious filename was detected",
    "suspicious-login": "An attempted login using a suspicious username was detected",
    "system-call-detect": "A system call was detected",
    "tcp-connection": "A TCP connection was detected",
    "trojan-activity": "A Network Trojan was detected",
    "unusual-client-port-connection": "A client was using an unusual port",
    "network-scan": "Detection of a Network Scan",
    "denial-of-service": "Detection of a Denial of Service Attack",
    "non-standard-protocol": "Detection of a non-standard protocol or event",
    "protocol-command-decode": "Generic Protocol Command Decode",
    "web-application-activity": "access to a potentially vulnerable web application",
    "web-application-attack": "Web Application Attack",
    "misc-activity": "Misc activity",
    "misc-attack": "Misc Attack",
    "icmp-event": "Generic ICMP event",
    "inappropriate-content": "Inappropriate Content was Detected",
    "policy-violation": "Potential Corporate Privacy Violation",
    "default-login-attempt": "Attempt to login by a default username and password",
    "targeted-activity": "Targeted Malicious Activity was Detected",
    "exploit-kit": "Exploit Kit Activity Detected",
    "external-ip-check": "Device Retrieving External IP Address Detected",
    "domain-c2": "Domain Observed Used for C2 Detected",
    "pup-activity": "Possibly Unwanted Program Detected",
    "credential-theft": "Successful Credential Theft Detected",
    "social-engineering": "Possible Social Engineering Attempted",
    "coin-mining": "Crypto Currency Mining Activity Detected",
    "command-and-control": "Malware Command and Control Activity Detected",
}
"""Suricata classtype -> its description (EVE ``alert.category``), from classification.config."""


@dataclass(frozen=True, slots=True)
class SigItem:
    """One inspection of a buffer: a content, a pcre, an isdataat, a bsize or a dataset test."""

    kind: str
    buffer: str = "payload"
    transforms: tuple[str, ...] = ()
    content: bytes = b""
    regex: str = ""  # RE2 syntax, flags already applied (pcre)
    nocase: bool = False
    negated: bool = False
    offset: int | None = None
    depth: int | None = None
    distance: int | None = None
    within: int | None = None
    startswith: bool = False
    endswith: bool = False
    relative: bool = False  # pcre /R, isdataat ...,relative
    fast_pattern: bool = False
    value: str = ""  # bsize/isdataat numbers, dataset spec

    @property
    def is_relative(self) -> bool:
        """True when the item's position depends on the previous match on its buffer."""
        return self.relative or self.distance is not None or self.within is not None


@dataclass(frozen=True, kw_only=True)
class SignatureRule(Rule):
    """A Suricata-style signature: header, flow state, packet tests and buffer inspections."""

    kind_name: ClassVar[str] = "signature"
    protocol: str = doc("header protocol: ip, tcp, udp, icmp, http, dns, tls, ftp, smtp")
    source: str = doc("source addresses (Suricata notation, variables expanded)", default="any")
    source_port: str = doc("source ports ('any', 80, [80,443], 1024:)", default="any")
    destination: str = doc("destination addresses", default="any")
    destination_port: str = doc("destination ports", default="any")
    bidirectional: bool = doc("true for '<>': the header matches either way", default=False)
    detect: tuple[SigItem, ...] = doc(
        "buffer inspections in order: mappings with kind (content, pcre, isdataat, bsize, "
        "dataset), buffer, content/regex, nocase, negated, offset, depth, distance, within, "
        "startswith, endswith, relative, fast_pattern, transforms, value",
        default=(),
    )
    flow: tuple[str, ...] = doc(
        "flow conditions: established, not_established, to_server, to_client, "
        "from_server, from_client, stateless",
        default=(),
    )
    dsize: str = doc("payload size test: 10, <10, >=10, 8<>20, !9", default="")
    itype: str = doc("ICMP type test (same syntax as dsize)", default="")
    icode: str = doc("ICMP code test (same syntax as dsize)", default="")
    tcp_flags: str = doc("TCP flags test as in Suricata's 'flags' (S, SA, !R, +S, *SA)", default="")
    flowbits: tuple[str, ...] = doc(
        "flowbits actions/tests: 'set,NAME', 'isset,NAME', 'unset,NAME', 'isnotset,NAME', "
        "'toggle,NAME', 'noalert'",
        default=(),
    )
    iprep: tuple[str, ...] = doc(
        "IP reputation tests: 'src|dst|any|both,CATEGORY,<|>|=,SCORE' or '...,isset'",
        default=(),
    )
    threshold: str = doc(
        "Suricata threshold: 'type limit|threshold|both, track by_src|by_dst|by_flow|by_both, "
        "count N, seconds S'",
        default="",
    )
    detection_filter: str = doc(
        "Suricata detection_filter: 'track by_src|by_dst|by_flow|by_both, count N, seconds S'",
        default="",
    )
    noalert: bool = doc("evaluate (for flowbits) but never report", default=False)
    gid: int = doc("generator id (EVE alert.gid)", default=1)
    classtype: str = doc("Suricata classtype (mapped to category and severity)", default="")
    metadata: tuple[str, ...] = doc("Suricata metadata entries", default=())
    source_rule: str = doc("where the rule was imported from (file:line)", default="")

    @property
    def eve_category(self) -> str:
        """EVE ``alert.category`` as Suricata writes it: the classtype's description
        (empty without a classtype)."""
        return CLASSTYPE_LABELS.get(self.classtype, self.classtype)


RULE_KINDS["signature"] = SignatureRule
