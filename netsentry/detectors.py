"""Detectors: one per rule kind, each turning records into findings.

The engine hands every record — a packet, an application event, a stream chunk,
a flow that ended — to :class:`Detection`, which routes it by record type to the
detectors that have rules for that type. Match rules on the same field (and
transforms) share one :class:`~netsentry.matchers.PatternSet`, so a field is
scanned once however many rules look at it. ``DETECTORS`` maps a rule kind to
its detector class.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from netsentry.conditions import CidrSet, compile_condition, required_protocols
from netsentry.dgadetector import DgaDetector
from netsentry.fields import Ctx, FieldSpec, resolve
from netsentry.findings import Deferred, Finding
from netsentry.intel import IntelSet, normalize_domain
from netsentry.matchers import (
    PatternSet,
    apply_transforms,
    is_compile_error,
    literal_pattern,
    match_span,
    precompile,
    to_bytes,
)
from netsentry.model import Packet, ip_short
from netsentry.ruleload import check_hyperscan
from netsentry.rules import (
    CATEGORIES,
    SEVERITIES,
    Allowlist,
    DgaRule,
    IntelRule,
    MatchRule,
    Rule,
    RuleSet,
    ThresholdRule,
)
from netsentry.sig.detect import SignatureDetector
from netsentry.sig.model import SignatureRule
from netsentry.sig.reputation import reputation_of

_EMPTY: list[Finding] = []
STREAM_OVERLAP = 512  # bytes of the previous chunk kept so stream matches can span chunks
SNIPPET = 48  # bytes of context either side of a match in the evidence


def rule_record(rule: Rule) -> str:
    """The record type a rule is evaluated on (validated to be unique at load)."""
    names: list[str] = []
    if isinstance(rule, ThresholdRule) and rule.record:
        return rule.record
    if isinstance(rule, (MatchRule, ThresholdRule)):
        names = [rule.field, *(c.field for c in rule.where)]
        if isinstance(rule, ThresholdRule) and rule.distinct:
            names.append(rule.distinct)
    elif isinstance(rule, IntelRule):
        names = [*rule.fields, *(c.field for c in rule.where)]
    elif isinstance(rule, DgaRule):
        names = [rule.field, *(c.field for c in rule.where)]
    for name in names:
        spec = resolve(name) if name else None
        if spec is not None and spec.record != "any":
            return spec.record
    return "packet"


def rule_side(rule: Rule) -> int | None:
    """The transaction side (0 request, 1 response) a rule's fields belong to, if any.

    An HTTP response event repeats its request's fields for context; a rule about
    request fields must only see the request, or each transaction would count twice.
    """
    # 'distinct' does not decide the side: an NXDOMAIN storm counts response records
    # (where: dns.rcode) by their query names (distinct: dns.rrname, a request field
    # that responses repeat).
    names: list[str] = [c.field for c in getattr(rule, "where", ())]
    main = getattr(rule, "field", "")
    if main:
        names.insert(0, main)
    for name in names:
        spec = resolve(name)
        if spec is not None and spec.side is not None:
            return spec.side
    return None


def snippet(data: bytes, span: tuple[int, int] | None) -> str:
    """Printable text around a match: bytes outside printable ASCII as \\xNN."""
    lo, hi = (0, 2 * SNIPPET) if span is None else (max(0, span[0] - SNIPPET), span[1] + SNIPPET)
    part = data[lo:hi]
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in part)


class Suppression:
    """Global and per-rule allowlists: addresses (CIDR) and domains (suffix on labels)."""

    def __init__(self, global_list: Allowlist) -> None:
        self.global_cidrs = CidrSet(global_list.cidrs)
        self.global_domains = tuple(normalize_domain(d) for d in global_list.domains)
        self._rule_cidrs: dict[str, CidrSet] = {}
        self.suppressed: Counter[str] = Counter()

    def allows(self, rule: Rule, finding: Finding) -> bool:
        """True when the finding must be dropped."""
        cidrs = self._rule_cidrs.get(rule.id)
        if cidrs is None:
            cidrs = self._rule_cidrs[rule.id] = CidrSet(rule.allowlist.cidrs)
        for table in (self.global_cidrs, cidrs):
            if table and (table.contains_packed(finding.src) or table.contains_packed(finding.dst)):
                self.suppressed[rule.id] += 1
                return True
        domains = self.global_domains + tuple(rule.allowlist.domains)
        if domains:
            for name in _domains_of(finding):
                if any(name == d or name.endswith("." + d) for d in domains):
                    self.suppressed[rule.id] += 1
                    return True
        return False


def _domains_of(finding: Finding) -> list[str]:
    event = finding.event
    if event is None:
        return []
    record = event.record
    names: list[str] = []
    if event.proto == "http" and record.get("hostname"):
        names.append(str(record["hostname"]))
    elif event.proto == "tls" and record.get("sni"):
        names.append(str(record["sni"]))
    elif event.proto == "dns":
        names.extend(str(q.get("rrname", "")) for q in record.get("queries") or ())
    return [normalize_domain(n) for n in names if n]


# -- match rules ---------------------------------------------------------------------


@dataclass
class _Compiled:
    rule: Rule
    predicates: list[Callable[[Ctx], bool]]
    pattern: str
    nocase: bool
    side: int | None = None


def _pattern_of(rule: MatchRule | ThresholdRule) -> tuple[str, bool]:
    if rule.regex:
        return rule.regex, rule.nocase
    return literal_pattern(rule.content), rule.nocase


class _FieldGroup:
    """All match rules on one field with the same transforms: one scan per value."""

    def __init__(self, spec: FieldSpec, transforms: tuple[str, ...], engine: str) -> None:
        self.spec = spec
        self.transforms = transforms
        self.rules: list[_Compiled] = []
        self.engine = engine
        self.patterns: PatternSet | None = None

    def build(self) -> None:
        self.patterns = PatternSet(
            [(i, c.pattern, c.nocase) for i, c in enumerate(self.rules)], engine=self.engine
        )

    def values(self, ctx: Ctx) -> list[bytes]:
        if (
            self.spec.side is not None
            and ctx.event is not None
            and ctx.event.direction != self.spec.side
        ):
            return []
        value = self.spec.get(ctx)
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            data = to_bytes(item)
            if data:
                out.append(apply_transforms(data, self.transforms) if self.transforms else data)
        return out


class MatchDetector:
    """Regex/content rules, grouped per record type and field."""

    def __init__(self, rules: Sequence[MatchRule], engine: str = "auto") -> None:
        self.groups: dict[str, list[_FieldGroup]] = defaultdict(list)
        # rules with only 'where' conditions, per record type
        self.plain: dict[str, list[_Compiled]] = defaultdict(list)
        index: dict[tuple[str, str, tuple[str, ...]], _FieldGroup] = {}
        for rule in rules:
            if not rule.field:
                preds = [compile_condition(c) for c in rule.where]
                compiled = _Compiled(rule, preds, "", False, rule_side(rule))
                self.plain[rule_record(rule)].append(compiled)
                continue
            spec = resolve(rule.field)
            assert spec is not None
            record = rule_record(rule)
            key = (record, spec.name, rule.transforms)
            group = index.get(key)
            if group is None:
                group = index[key] = _FieldGroup(spec, rule.transforms, engine)
                self.groups[record].append(group)
            pattern, nocase = _pattern_of(rule)
            group.rules.append(
                _Compiled(rule, [compile_condition(c) for c in rule.where], pattern, nocase)
            )
        all_groups = [g for groups in self.groups.values() for g in groups]
        if engine != "re2":
            precompile(
                [[(i, c.pattern, c.nocase) for i, c in enumerate(g.rules)] for g in all_groups]
            )
        for group in all_groups:
            group.build()

    def evaluate(self, record: str, ctx: Ctx) -> list[Finding]:
        """Findings of every match rule on ``record`` for this record."""
        findings: list[Finding] = []
        event = ctx.event
        for compiled in self.plain.get(record, ()):
            side = compiled.side
            if side is not None and event is not None and event.direction != side:
                continue
            if all(p(ctx) for p in compiled.predicates):
                rule = compiled.rule
                assert isinstance(rule, MatchRule)
                if rule.once_per_flow and not _first_in_flow(ctx, rule):
                    continue
                evidence = {c.field: _show_value(c, ctx) for c in rule.where}
                findings.append(Finding.from_ctx(rule, ctx, evidence))
        for group in self.groups.get(record, ()):
            assert group.patterns is not None
            for data in group.values(ctx):
                for index in group.patterns.scan(data):
                    compiled = group.rules[index]
                    if compiled.predicates and not all(p(ctx) for p in compiled.predicates):
                        continue
                    rule = compiled.rule
                    assert isinstance(rule, MatchRule)
                    if rule.once_per_flow and not _first_in_flow(ctx, rule):
                        continue
                    span = match_span(compiled.pattern, compiled.nocase, data)
                    evidence = {"field": group.spec.name, "match": snippet(data, span)}
                    findings.append(Finding.from_ctx(rule, ctx, evidence))
        return findings


def _show_value(cond: Any, ctx: Ctx) -> Any:
    spec = resolve(cond.field)
    value = spec.get(ctx) if spec is not None else None
    if isinstance(value, bytes):
        return snippet(value, None)
    if isinstance(value, list) and len(value) > 5:
        return [*value[:5], f"... {len(value)} in all"]
    return value


def _first_in_flow(ctx: Ctx, rule: Rule) -> bool:
    flow = ctx.flow
    if flow is None:
        return True
    fired = flow.fired
    if fired is None:
        fired = flow.fired = set()
    if rule.id in fired:
        return False
    fired.add(rule.id)
    return True


class StreamMatcher:
    """Match rules on reassembled streams: chunks overlap so matches can span segments.

    A stream rule fires at most once per flow and direction.
    """

    def __init__(self, groups: list[_FieldGroup]) -> None:
        self.groups = groups
        wanted = ({"stream", "stream.toserver"}, {"stream", "stream.toclient"})
        self.by_direction = tuple([g for g in groups if g.spec.name in names] for names in wanted)

    def scan(self, pkt: Packet | None, flow: Any, direction: int, chunk: bytes) -> list[Finding]:
        """Scan one reassembled chunk (plus the tail of the previous one)."""
        groups = self.by_direction[direction]
        if not groups:
            return _EMPTY
        tails = flow.tails
        if tails is None:
            tails = flow.tails = [b"", b""]
        window = tails[direction] + chunk if tails[direction] else chunk
        tails[direction] = window[-STREAM_OVERLAP:]
        findings: list[Finding] = []
        ctx: Ctx | None = None
        for group in groups:
            assert group.patterns is not None
            data = apply_transforms(window, group.transforms) if group.transforms else window
            hits = group.patterns.scan(data)
            if not hits:
                continue
            if ctx is None:
                ctx = Ctx(pkt, flow, direction, None, window)
            for index in hits:
                compiled = group.rules[index]
                rule = compiled.rule
                key = f"{rule.id}/{direction}"
                fired = flow.fired
                if fired is None:
                    fired = flow.fired = set()
                if key in fired:
                    continue
                if compiled.predicates and not all(p(ctx) for p in compiled.predicates):
                    continue
                fired.add(key)
                span = match_span(compiled.pattern, compiled.nocase, data)
                evidence = {"field": group.spec.name, "match": snippet(data, span)}
                findings.append(Finding.from_ctx(rule, ctx, evidence))
        return findings

    def evaluate(self, ctx: Ctx) -> list[Finding]:
        """Scan the chunk held by a stream context."""
        return self.scan(ctx.pkt, ctx.flow, ctx.direction, ctx.data)


# -- threshold rules -------------------------------------------------------------------

# Tracked keys per threshold rule before the least recently active is dropped. Idle keys
# (nothing inside the window) go first anyway; this caps what a flood of spoofed
# sources can hold (each would otherwise be a key of its own) at a few MB per rule.
MAX_KEYS = 10_000
SIGNATURE_FIELDS = frozenset(
    ("proto", "tcp.flags", "icmp.type", "icmp.code", "ip.version", "direction")
)
EXACT_MAX = 256  # counts up to this keep exact event times; larger ones use buckets
BUCKETS = 20  # buckets per window for large counts


class _ThresholdState:
    def __init__(self, rule: ThresholdRule, engine: str) -> None:
        self.rule = rule
        self.window = int(rule.seconds * 1_000_000_000)
        self.predicates = [compile_condition(c) for c in rule.where]
        self.spec = resolve(rule.field) if rule.field else None
        self.patterns: PatternSet | None = None
        if rule.field:
            pattern, nocase = _pattern_of(rule)
            self.patterns = PatternSet([(0, pattern, nocase)], engine=engine)
        self.distinct = resolve(rule.distinct) if rule.distinct else None
        self.keys: OrderedDict[Any, Any] = OrderedDict()
        self.fired_until: dict[Any, int] = {}
        self.evicted = 0
        self.protocols = required_protocols(rule.where)
        self.side = rule_side(rule)
        # observe() runs for most packets: the track and distinct field decided once here.
        self.track = {"by_dst": 2, "by_pair": 3}.get(rule.track, 0)
        distinct_name = self.distinct.name if self.distinct is not None else ""
        self.distinct_addr = {"src_ip": 1, "dest_ip": 2}.get(distinct_name, 0)
        # Large counts are kept as per-bucket totals (BUCKETS buckets per window) rather
        # than one timestamp per event, so a 20,000-packet rate rule costs a few list
        # entries per key, not 20,000. The window then slides in steps of window/BUCKETS.
        self.bucketed = self.distinct is None and rule.count > EXACT_MAX
        self.bucket = max(1, self.window // BUCKETS)
        # True when whether a packet counts depends only on a few small-domain packet
        # fields: the verdict can then be cached per packet signature (see packet_states).
        self.small = not rule.field and all(
            (spec := resolve(c.field)) is not None and spec.name in SIGNATURE_FIELDS
            for c in rule.where
        )

    def key_of(self, ctx: Ctx) -> Any:
        """The key ``ctx`` is counted under (the rule's ``track``)."""
        track = self.rule.track
        if track == "by_src":
            return ctx.src
        if track == "by_dst":
            return ctx.dst
        if track == "by_pair":
            return (ctx.src, ctx.dst)
        if track == "by_flow":
            flow = ctx.flow
            return (flow.key, flow.first_ts) if flow is not None else (ctx.src, ctx.dst)
        flow = ctx.flow
        if flow is None:
            return ctx.src if track == "by_client" else ctx.dst
        return flow.cli if track == "by_client" else flow.srv

    def counts(self, ctx: Ctx) -> bool:
        if self.side is not None and ctx.event is not None and ctx.event.direction != self.side:
            return False  # a response repeats its request's fields: count each once
        for predicate in self.predicates:  # a loop, not all(genexpr): the hot path
            if not predicate(ctx):
                return False
        if self.patterns is not None and self.spec is not None:
            value = self.spec.get(ctx)
            items = value if isinstance(value, list) else [value]
            datas = [apply_transforms(d, self.rule.transforms) for d in map(to_bytes, items) if d]
            if not any(self.patterns.scan(d) for d in datas):
                return False
        return True

    def _last_seen(self, entry: Any) -> int:
        """Capture time of the newest event held for a key."""
        if self.bucketed:
            return int(entry[-1][0]) + self.bucket if len(entry) > 1 else 0
        if self.distinct is not None:
            return int(next(reversed(entry.values()))) if entry else 0
        return int(entry[-1]) if entry else 0

    def _drop_idle(self, now: int) -> None:
        """Forget keys with no event inside the window (they cannot fire any more).

        Keys are kept in least-recently-active order, so only the front is looked at:
        amortized O(1) per event, and a flood of spoofed sources leaves no residue.
        """
        keys = self.keys
        limit = now - self.window
        while keys:
            key, entry = next(iter(keys.items()))
            if self._last_seen(entry) >= limit:
                return
            del keys[key]
            if self.fired_until.get(key, 0) <= now:
                self.fired_until.pop(key, None)

    def observe(self, ctx: Ctx) -> Finding | None:
        """Count one record; the finding when the rule fires.

        Three pieces, so that ``--jobs N`` can run the middle one centrally, in merged
        order (netsentry.flowsplit): what the record contributes (needs the record),
        the window step (cross-flow state: key, values, time only), the finding.
        """
        key, values = self.contribution(ctx)
        evidence = self.step(key, values, ctx.ts)
        return None if evidence is None else self.build(ctx, evidence)

    def contribution(self, ctx: Ctx) -> tuple[Any, Any]:
        """(key, distinct values) a record adds: values is a list, or None without any."""
        track = self.track
        key: Any
        if track == 2:
            key = ctx.dst
        elif track == 3:
            key = (ctx.src, ctx.dst)
        else:
            key = self.key_of(ctx)
        if self.distinct is None:
            return key, None
        addr = self.distinct_addr
        value: Any  # declared: the native build checks a variable's type at run time
        if addr == 1:  # packed addresses: no text string per distinct source
            value = ctx.src or None
        elif addr == 2:
            value = ctx.dst or None
        else:
            value = self.distinct.get(ctx)
        if value is None:
            return key, None
        return key, value if isinstance(value, list) else [value]

    def step(self, key: Any, values: list[Any] | None, ts: int) -> dict[str, Any] | None:
        """Advance the window of ``key`` by one record at ``ts``; the evidence if it fires."""
        keys = self.keys
        entry = keys.get(key)
        if entry is None:
            self._drop_idle(ts)
            if len(keys) >= MAX_KEYS:
                old, _ = keys.popitem(last=False)
                self.fired_until.pop(old, None)
                self.evicted += 1
            # Plain lists and dicts: a deque or OrderedDict costs several hundred bytes
            # even when empty, and a flood of spoofed sources makes one key per packet.
            entry = {} if self.distinct is not None else []
            keys[key] = entry
        else:
            keys.move_to_end(key)
        if self.bucketed:
            state = cast("list[Any]", entry)  # [total, [bucket start, count], ...]
            if not state:
                state.append(0)
            start = ts - ts % self.bucket
            if len(state) > 1 and state[-1][0] == start:
                state[-1][1] += 1
            else:
                state.append([start, 1])
            state[0] += 1
            limit = ts - self.window
            while len(state) > 1 and state[1][0] + self.bucket <= limit:
                state[0] -= state.pop(1)[1]
            count = state[0]
            reached = count >= self.rule.count
            first = state[1][0]
        elif self.distinct is not None:
            seen = cast("dict[Any, int]", entry)  # distinct value -> last seen, oldest first
            if values is None:
                return None
            for item in values:
                seen.pop(item, None)
                seen[item] = ts
            limit = ts - self.window
            while seen:
                oldest = next(iter(seen))
                if seen[oldest] >= limit:
                    break
                del seen[oldest]
            reached = len(seen) >= self.rule.count
            count = len(seen)
            first = next(iter(seen.values())) if seen else ts
            if len(seen) > self.rule.count:
                del seen[next(iter(seen))]  # keep the set bounded by count
        else:
            times = cast("list[int]", entry)  # timestamps of the last `count` events
            times.append(ts)
            if len(times) > self.rule.count:
                del times[0]
            reached = len(times) >= self.rule.count and ts - times[0] <= self.window
            count = len(times)
            first = times[0]
        if not reached or ts < self.fired_until.get(key, -1):
            return None
        self.fired_until[key] = ts + self.window
        evidence: dict[str, Any] = {
            "count": count,
            "seconds": self.rule.seconds,
            "track": self.rule.track,
            "first_seen_ns": first,
        }
        if self.distinct is not None:
            evidence["distinct"] = self.rule.distinct
            evidence["sample"] = [
                ip_short(v) if isinstance(v, bytes) and len(v) in (4, 16) else str(v)
                for v in list(entry)[-5:]
            ]
        return evidence

    def build(self, ctx: Ctx, evidence: dict[str, Any]) -> Finding:
        """The finding of a record that made the rule fire."""
        finding = Finding.from_ctx(self.rule, ctx, evidence)
        flow = ctx.flow
        if self.rule.track in ("by_client", "by_server") and flow is not None:
            # Counted per client (say, failed logins answered by the server): report the
            # flow as client -> server, attacker first, whichever packet completed it.
            finding.src, finding.dst = flow.cli, flow.srv
            finding.sport, finding.dport = flow.cport, flow.spt
            finding.direction = 0
        return finding


class ThresholdDetector:
    """Counting rules: events (or distinct values) per key in a sliding window."""

    def __init__(self, rules: Sequence[ThresholdRule], engine: str = "auto") -> None:
        self.by_record: dict[str, list[_ThresholdState]] = defaultdict(list)
        for rule in rules:
            self.by_record[rule_record(rule)].append(_ThresholdState(rule, engine))
        self._by_proto: dict[int, list[_ThresholdState]] = {}
        self._signatures: dict[
            tuple[int, ...], tuple[list[_ThresholdState], list[_ThresholdState]]
        ] = {}
        # --jobs N (netsentry.flowsplit): records other than packets are not counted
        # here but handed to this hook (record, rule index, state, ctx), which returns a
        # Deferred finding; the window step then runs centrally, in merged order.
        self.defer: Callable[[str, int, _ThresholdState, Ctx], Finding] | None = None

    def for_packet(self, proto: int) -> list[_ThresholdState]:
        """The packet rules a packet of this IP protocol can count towards."""
        states = self._by_proto.get(proto)
        if states is None:
            states = [
                s
                for s in self.by_record.get("packet", ())
                if s.protocols is None or proto in s.protocols
            ]
            self._by_proto[proto] = states
        return states

    def packet_states(
        self, pkt: Packet, direction: int
    ) -> tuple[list[_ThresholdState], list[_ThresholdState]]:
        """(rules this packet certainly counts for, rules that need a full check).

        The first list is cached per packet signature (protocol, TCP flags, ICMP type
        and code, IP version, direction): a handful of distinct signatures cover
        millions of packets, so most packets cost one dict lookup here.
        """
        sig = (pkt.proto, pkt.tcp_flags & 0xFF, pkt.icmp_type, pkt.icmp_code, pkt.family, direction)
        found = self._signatures.get(sig)
        if found is None:
            ctx = Ctx(pkt, None, direction)
            states = self.for_packet(pkt.proto)
            found = (
                [s for s in states if s.small and s.counts(ctx)],
                [s for s in states if not s.small],
            )
            if len(self._signatures) >= 4096:
                self._signatures.clear()
            self._signatures[sig] = found
        return found

    def evaluate(self, record: str, ctx: Ctx) -> list[Finding]:
        findings: list[Finding] = []
        if record == "packet":
            states = self.for_packet(ctx.proto)
        else:
            states = self.by_record.get(record, [])
            if self.defer is not None:
                defer = self.defer
                return [defer(record, i, s, ctx) for i, s in enumerate(states) if s.counts(ctx)]
        for state in states:
            if state.counts(ctx):
                finding = state.observe(ctx)
                if finding is not None:
                    findings.append(finding)
        return findings


# -- intel rules -------------------------------------------------------------------------

_INTEL_KIND = {
    "src_ip": "ip",
    "dest_ip": "ip",
    "dns.rrname": "domain",
    "dns.answer": "ip_or_domain",
    "dns.answer_name": "domain",
    "http.hostname": "domain",
    "tls.sni": "domain",
    "http.url": "url",
    "tls.ja3.hash": "ja3",
    "tls.cert_sha1": "sha1",
}


def _absolute_url(record: dict[str, Any], target: str) -> str:
    """An origin-form request target joined with its Host, as URL feeds list URLs."""
    if target.startswith("/") and record.get("hostname"):
        return f"http://{record['hostname']}{target}"
    return target


def intel_kind(field_name: str) -> str | None:
    """What kind of indicator a field holds (None: not usable in intel rules)."""
    spec = resolve(field_name)
    return _INTEL_KIND.get(spec.name) if spec is not None else None


class IntelDetector:
    """Looks field values up in the loaded indicator sets."""

    def __init__(self, rules: Sequence[IntelRule], intel: IntelSet | None) -> None:
        self.intel = intel or IntelSet()
        self.by_record: dict[str, list[IntelRule]] = defaultdict(list)
        self.predicates = {r.id: [compile_condition(c) for c in r.where] for r in rules}
        self._derived: dict[tuple[str, str, str], IntelRule] = {}
        # Fields resolved once, not per event: (spec, indicator kind) per rule.
        self.plans: dict[str, list[tuple[FieldSpec, str]]] = {}
        for rule in rules:
            self.by_record[rule_record(rule)].append(rule)
            specs = [resolve(name) for name in rule.fields]
            self.plans[rule.id] = [
                (s, "address" if s.name in ("src_ip", "dest_ip") else _INTEL_KIND.get(s.name, ""))
                for s in specs
                if s
            ]

    def evaluate(self, record: str, ctx: Ctx) -> list[Finding]:
        rules = self.by_record.get(record)
        if not rules or not self.intel.count:
            return []
        if record == "packet":
            pkt, flow = ctx.pkt, ctx.flow
            if pkt is not None and flow is not None and flow.first_num != pkt.num:
                return []  # address lookups: once per flow, on its first packet
        findings: list[Finding] = []
        event = ctx.event
        lookup = self.intel.lookup
        for rule in rules:
            preds = self.predicates[rule.id]
            if preds and not all(p(ctx) for p in preds):
                continue
            for spec, kind in self.plans[rule.id]:
                if spec.side is not None and event is not None and event.direction != spec.side:
                    continue
                if kind == "address":  # src_ip/dest_ip: looked up packed, text only on a hit
                    packed = ctx.src if spec.name == "src_ip" else ctx.dst
                    if not packed or not self.intel.lookup_packed(packed):
                        continue
                    kind = "ip"
                value = spec.get(ctx)
                if value is None:
                    continue
                if spec.name == "http.url" and event is not None:
                    value = _absolute_url(event.record, str(value))
                for item in value if isinstance(value, list) else (value,):
                    item = str(item)
                    if kind == "ip_or_domain":  # DNS answer data: an address or a name
                        ip = ":" in item or item.replace(".", "").isdigit()
                        hits = lookup("ip" if ip else "domain", item)
                    else:
                        hits = lookup(kind, item) if kind else []
                    if not hits:
                        continue
                    if rule.feeds:
                        hits = [h for h in hits if h.feed in rule.feeds]
                    if hits:
                        evidence = {
                            "field": spec.name,
                            "indicator": hits[0].value,
                            "value": item,
                            "feeds": sorted({h.feed for h in hits}),
                        }
                        listed = self._as_listed(rule, hits)
                        findings.append(Finding.from_ctx(listed, ctx, evidence))
        return findings

    def _as_listed(self, rule: IntelRule, hits: list[Any]) -> IntelRule:
        """The rule with the category and severity of the most severe listing feed that sets
        a severity in feeds.yaml (an OpenPhish hit is phishing, a Feodo hit critical c2)."""
        rated = [h for h in hits if h.severity in SEVERITIES]
        if not rated:
            return rule
        best = min(rated, key=lambda h: SEVERITIES[h.severity])
        if (best.category, best.severity) == (rule.category, rule.severity):
            return rule
        key = (rule.id, best.category, best.severity)
        derived = self._derived.get(key)
        if derived is None:
            category = best.category if best.category in CATEGORIES else rule.category
            derived = dataclasses.replace(rule, category=category, severity=best.severity)
            self._derived[key] = derived
        return derived


DETECTORS: dict[str, type] = {
    "match": MatchDetector,
    "threshold": ThresholdDetector,
    "intel": IntelDetector,
    "dga": DgaDetector,
}
"""Rule kind -> detector class."""


class Detection:
    """Every detector for a rule set, routed by record type; applies suppression."""

    def __init__(
        self, ruleset: RuleSet, intel: IntelSet | None = None, engine: str = "auto"
    ) -> None:
        active = [r for r in ruleset.rules if r.enabled]
        try:
            self._build(ruleset, active, intel, engine)
        except Exception as exc:
            if is_compile_error(exc):
                check_hyperscan(active)  # raises RuleFileError naming the rules
            raise

    def _build(
        self, ruleset: RuleSet, active: list[Rule], intel: IntelSet | None, engine: str
    ) -> None:
        match_rules = [r for r in active if isinstance(r, MatchRule)]
        self.match = MatchDetector([r for r in match_rules if rule_record(r) != "stream"], engine)
        stream_det = MatchDetector([r for r in match_rules if rule_record(r) == "stream"], engine)
        self.stream = StreamMatcher(stream_det.groups.get("stream", []))
        self.threshold = ThresholdDetector(
            [r for r in active if isinstance(r, ThresholdRule)], engine
        )
        self.intel = IntelDetector([r for r in active if isinstance(r, IntelRule)], intel)
        self.dga = DgaDetector([r for r in active if isinstance(r, DgaRule)])
        self.suppression = Suppression(ruleset.allowlist)
        sig_rules = [r for r in active if isinstance(r, SignatureRule)]
        self.signatures = (
            SignatureDetector(sig_rules, reputation_of(intel), engine) if sig_rules else None
        )
        self._sig_records = self.signatures.wants() if self.signatures is not None else set()
        self.records: set[str] = (
            set(self.match.groups)
            | set(self.match.plain)
            | set(self.threshold.by_record)
            | set(self.intel.by_record)
            | set(self.dga.by_record)
            | self._sig_records
        )
        if self.stream.groups:
            self.records.add("stream")
        self.errors: Counter[str] = Counter()
        # No indicators loaded: packet intel rules cannot hit, skip their per-flow context.
        self._intel_packets = bool(self.intel.by_record.get("packet")) and bool(
            self.intel.intel.count
        )
        self._packet_match = bool(self.match.groups.get("packet") or self.match.plain.get("packet"))
        self._sig_packets = "packet" in self._sig_records

    def wants(self, record: str) -> bool:
        """True when some rule looks at records of this type."""
        return record in self.records

    def on_packet(self, pkt: Packet, flow: Any, direction: int) -> list[Finding]:
        """Findings of packet rules for one packet (the per-packet hot path).

        Threshold rules are pre-sorted per packet signature (see
        ThresholdDetector.packet_states) and a context is built only when some rule
        applies, so a packet no rule cares about costs two dict lookups.
        """
        counted, to_check = self.threshold.packet_states(pkt, direction)
        first = self._intel_packets and flow.first_num == pkt.num
        if not (counted or to_check or first or self._packet_match or self._sig_packets):
            return _EMPTY
        ctx = Ctx(pkt, flow, direction)
        try:
            found: list[Finding] = []
            for state in counted:
                finding = state.observe(ctx)
                if finding is not None:
                    found.append(finding)
            for state in to_check:
                if state.counts(ctx):
                    finding = state.observe(ctx)
                    if finding is not None:
                        found.append(finding)
            if self._packet_match:
                found += self.match.evaluate("packet", ctx)
            if first:
                found += self.intel.evaluate("packet", ctx)
            if self._sig_packets:
                assert self.signatures is not None
                found += self.signatures.evaluate("packet", ctx)
        except Exception as exc:  # contain a detector bug: count it, keep analyzing
            self.errors[f"packet: {type(exc).__name__}: {exc}"] += 1
            return _EMPTY
        if not found:
            return found
        return [f for f in found if not self.suppression.allows(f.rule, f)]

    def on_stream(
        self, pkt: Packet | None, flow: Any, direction: int, chunk: bytes
    ) -> list[Finding]:
        """Findings of stream rules for one reassembled chunk, after allowlists."""
        try:
            found: list[Finding] = []
            if "stream" in self._sig_records:
                assert self.signatures is not None
                tails = flow.tails
                tail = tails[direction] if tails is not None else b""
                found = self.signatures.on_stream(pkt, flow, direction, chunk, tail)
                if not self.stream.by_direction[direction]:  # else the scan keeps the tail
                    if tails is None:
                        tails = flow.tails = [b"", b""]
                    tails[direction] = (tail + chunk)[-STREAM_OVERLAP:]
            found += self.stream.scan(pkt, flow, direction, chunk)
        except Exception as exc:  # contain a detector bug
            self.errors[f"stream: {type(exc).__name__}: {exc}"] += 1
            return _EMPTY
        if not found:
            return found
        return [f for f in found if not self.suppression.allows(f.rule, f)]

    def evaluate(self, record: str, ctx: Ctx) -> list[Finding]:
        """All findings for one record, after allowlists."""
        try:
            if record == "stream":
                found = self.stream.evaluate(ctx)
            else:
                found = self.match.evaluate(record, ctx)
                found += self.threshold.evaluate(record, ctx)
                found += self.intel.evaluate(record, ctx)
                found += self.dga.evaluate(record, ctx)
                if record in self._sig_records:
                    assert self.signatures is not None
                    found += self.signatures.evaluate(record, ctx)
        except Exception as exc:  # contain a detector bug: count it, keep analyzing
            self.errors[f"{record}: {type(exc).__name__}: {exc}"] += 1
            return []
        if not found:
            return found
        # A Deferred finding (--jobs N) is checked against allowlists once it fires.
        return [
            f for f in found if type(f) is Deferred or not self.suppression.allows(f.rule, f)
        ]
