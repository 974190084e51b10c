"""A finding: one rule firing on one packet, event, stream or flow, with its evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netsentry.fields import Ctx
from netsentry.model import PROTO_NAMES, ip_text
from netsentry.protocols.base import AppEvent
from netsentry.rules import CATEGORIES, SEVERITIES, Rule

_HEAVY_KEYS = ("request_headers", "response_headers")


def _light(event: AppEvent | None) -> AppEvent | None:
    """What a finding keeps of its event: the EVE record without full header lists, and no
    ``extra`` (bodies can be 256 KiB). Findings live for the whole run, so a noisy rule
    must not pin every request it fired on. (Suricata's alerts leave headers out too.)"""
    if event is None:
        return None
    record = event.record
    if any(key in record for key in _HEAVY_KEYS):
        record = {k: v for k, v in record.items() if k not in _HEAVY_KEYS}
    elif not event.extra:
        return event
    return AppEvent(event.proto, record, event.direction, {}, event.ts, event.pkt_num, event.flow)


@dataclass(slots=True)
class Finding:
    """What fired, where, and why (``evidence`` holds JSON-ready details)."""

    rule: Rule
    ts: int
    pkt_num: int
    src: bytes
    dst: bytes
    sport: int
    dport: int
    proto: int
    direction: int
    flow: Any = None  # netsentry.flows.Flow
    event: Any = None  # netsentry.protocols.base.AppEvent
    evidence: dict[str, Any] = field(default_factory=dict)
    # ICMP type/code of the packet that fired (-1: none). EVE writes the packet's, and a
    # flow's first packet (the echo request) is not the packet of an echo-reply finding.
    icmp_type: int = -1
    icmp_code: int = -1

    @classmethod
    def from_ctx(cls, rule: Rule, ctx: Ctx, evidence: dict[str, Any]) -> Finding:
        """A finding located at a record context."""
        pkt = ctx.pkt
        pkt_num = pkt.num if pkt is not None else 0
        if ctx.event is not None and ctx.event.pkt_num:
            pkt_num = ctx.event.pkt_num
        return cls(
            rule=rule,
            ts=ctx.ts,
            pkt_num=pkt_num,
            src=ctx.src,
            dst=ctx.dst,
            sport=ctx.sport,
            dport=ctx.dport,
            proto=ctx.proto,
            direction=ctx.direction,
            flow=ctx.flow,
            event=_light(ctx.event),
            evidence=evidence,
            icmp_type=pkt.icmp_type if pkt is not None else -1,
            icmp_code=pkt.icmp_code if pkt is not None else -1,
        )

    @property
    def src_ip(self) -> str:
        return ip_text(self.src)

    @property
    def dest_ip(self) -> str:
        return ip_text(self.dst)

    @property
    def proto_name(self) -> str:
        return PROTO_NAMES.get(self.proto, str(self.proto))

    @property
    def category(self) -> str:
        return self.rule.category

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.rule.category, self.rule.category)

    @property
    def eve_severity(self) -> int:
        return SEVERITIES.get(self.rule.severity, 3)

    def sort_key(self) -> tuple[int, int, int]:
        """Deterministic order: packet number, then time, then sid."""
        return (self.pkt_num, self.ts, self.rule.sid)


@dataclass(slots=True)
class Deferred(Finding):
    """A finding whose firing a cross-flow step decides later, in merged order (``--jobs N``).

    ``step`` says which step (see :mod:`netsentry.flowsplit`); until it runs, the
    finding is neither counted nor checked against allowlists.
    """

    step: Any = None
