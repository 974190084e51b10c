"""SignatureDetector: runs ``kind: signature`` rules with a multi-pattern prefilter.

Per record type (packets, HTTP/DNS/TLS events) and per buffer, the *fast
pattern* of every rule — its ``fast_pattern`` content, else its longest
positive content — goes into one :class:`~netsentry.matchers.PatternSet`
(Hyperscan or RE2.Set). A buffer is scanned once for all rules; only rules
whose fast pattern occurs (plus the few without any positive content) get the
exact check: header, flow, packet tests, then every buffer's inspections with
their positional semantics (:mod:`netsentry.sig.content`). Thousands of rules
therefore cost one scan per buffer, not one search per rule.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from netsentry.fields import Ctx
from netsentry.findings import Finding
from netsentry.matchers import PatternSet, literal_pattern, precompile
from netsentry.model import TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG, Packet
from netsentry.sig.buffers import BUFFERS, Buffer, read_buffer
from netsentry.sig.content import Compiled, compile_items, match_buffer, numeric_test
from netsentry.sig.model import SigItem, SignatureRule
from netsentry.sig.netspec import address_spec, port_spec
from netsentry.sig.reputation import Reputation, iprep_test, load_dataset
from netsentry.sig.translate import parse_kv

_EMPTY: list[Finding] = []
MAX_KEYS = 10_000  # tracked keys per thresholded rule (oldest dropped beyond)
_IP_PROTOS: dict[str, frozenset[int] | None] = {
    "ip": None,
    "tcp": frozenset((6,)),
    "tcp-pkt": frozenset((6,)),
    "tcp-stream": frozenset((6,)),
    "udp": frozenset((17,)),
    "icmp": frozenset((1, 58)),
    "icmpv4": frozenset((1,)),
    "icmpv6": frozenset((58,)),
    "http": frozenset((6,)),
    "tls": frozenset((6,)),
    "ftp": frozenset((6,)),
    "smtp": frozenset((6,)),
    "dns": frozenset((6, 17)),
}
_FLAG_BITS = {
    "F": TCP_FIN,
    "S": TCP_SYN,
    "R": TCP_RST,
    "P": TCP_PSH,
    "A": TCP_ACK,
    "U": TCP_URG,
    "C": 0x80,
    "E": 0x40,
    "1": 0x80,
    "2": 0x40,
}
_FLOWBIT = "\x00fb:"  # flowbits live in Flow.fired next to rule ids, under this prefix


def flags_test(spec: str) -> Callable[[int], bool]:
    """A predicate over a TCP flags byte for Suricata's ``flags`` syntax."""
    main, _, ignore = spec.partition(",")
    main = main.strip()
    modifier = main[0] if main and main[0] in "!+*" else ""
    letters = main[1:] if modifier else main
    want = 0
    for letter in letters:
        want |= _FLAG_BITS.get(letter, 0)
    mask = 0xFF
    for letter in ignore.strip():
        mask &= ~_FLAG_BITS.get(letter, 0)
    if modifier == "+":
        return lambda f: f & want == want
    if modifier == "*":
        return lambda f: bool(f & want)
    if modifier == "!":
        return lambda f: f & want == 0
    return lambda f: f & mask == want


class _Threshold:
    """Suricata's threshold (limit/threshold/both) and detection_filter, per tracked key."""

    def __init__(self, spec: str, keyword: str) -> None:
        kv = parse_kv(spec, keyword)
        self.type = kv.get("type", "detection_filter") if keyword == "threshold" else keyword
        self.track = kv["track"]
        self.count = int(kv["count"])
        self.window = int(kv["seconds"]) * 1_000_000_000
        self.keys: OrderedDict[Any, list[int]] = OrderedDict()

    def key(self, ctx: Ctx) -> Any:
        if self.track == "by_src":
            return ctx.src
        if self.track == "by_dst":
            return ctx.dst
        if self.track == "by_both":  # an address pair, whichever way the packet went
            return (ctx.src, ctx.dst) if ctx.src <= ctx.dst else (ctx.dst, ctx.src)
        if self.track == "by_flow":
            flow = ctx.flow
            return (flow.key, flow.first_ts) if flow is not None else (ctx.src, ctx.dst)
        return None

    def allows(self, ctx: Ctx) -> bool:
        """Record one match; True when it is to be reported.

        Follows Suricata's detect-engine-threshold: a window opens at the first match and
        holds while less than ``seconds`` have passed since; a match after it opens a new
        window with a count of one.
        """
        key = self.key(ctx)
        ts = ctx.ts
        state = self.keys.get(key)
        if state is None or ts - state[0] >= self.window:
            if state is None and len(self.keys) >= MAX_KEYS:
                self.keys.popitem(last=False)
            self.keys[key] = [ts, 1]  # window start, matches in it
            self.keys.move_to_end(key)
            if self.type == "detection_filter":
                return self.count == 0
            return self.count == 1 or self.type == "limit"
        self.keys.move_to_end(key)
        state[1] += 1
        matches = state[1]
        if self.type == "detection_filter":
            return matches > self.count
        if self.type == "limit":
            return matches <= self.count
        if self.type == "threshold":
            if matches >= self.count:
                state[1] = 0  # every count-th match alerts; the window start stays
                return True
            return False
        return matches == self.count  # both: once per window


class _Sig:
    """One signature compiled for evaluation."""

    def __init__(
        self,
        rule: SignatureRule,
        index: int,
        reputation: Reputation | None,
        datasets: Callable[[str], frozenset[bytes]],
    ) -> None:
        self.rule = rule
        self.index = index
        self.protos = _IP_PROTOS[rule.protocol]
        self.src = address_spec(rule.source)
        self.dst = address_spec(rule.destination)
        self.sport = port_spec(rule.source_port)
        self.dport = port_spec(rule.destination_port)
        self.header_trivial = all(s.trivial for s in (self.src, self.dst, self.sport, self.dport))
        flow = set(rule.flow)
        self.direction = (
            0
            if flow & {"to_server", "from_client"}
            else 1
            if flow & {"to_client", "from_server"}
            else None
        )
        self.established = (
            True if "established" in flow else False if "not_established" in flow else None
        )
        self.dsize = numeric_test(rule.dsize) if rule.dsize else None
        # Suricata's 'dsize:!N' only inspects packets that carry payload (its
        # test-dsize-values case: !9 fires on the 10-byte segment, not on empty ACKs).
        if rule.dsize.strip().startswith("!") and self.dsize is not None:
            negative = self.dsize
            self.dsize = lambda size: size > 0 and negative(size)
        self.itype = numeric_test(rule.itype) if rule.itype else None
        self.icode = numeric_test(rule.icode) if rule.icode else None
        self.flags = flags_test(rule.tcp_flags) if rule.tcp_flags else None
        self.iprep = [iprep_test(s, reputation) for s in rule.iprep]
        self.bits_test: list[tuple[bool, list[str]]] = []
        self.bits_act: list[tuple[str, str]] = []
        for entry in rule.flowbits:
            action, _, name = entry.partition(",")
            if action in ("isset", "isnotset"):
                self.bits_test.append((action == "isset", name.split("|")))
            else:
                self.bits_act.append((action, name))
        groups: dict[tuple[str, tuple[str, ...]], list[SigItem]] = {}
        for item in rule.detect:
            groups.setdefault((item.buffer, item.transforms), []).append(item)
        self.buffers: list[tuple[Buffer, tuple[str, ...], list[Compiled]]] = [
            (BUFFERS[name], transforms, compile_items(items, datasets))
            for (name, transforms), items in groups.items()
        ]
        # Where the rule is evaluated: a rule with application buffers on that protocol's
        # events (its payload contents, if any, on the packet that completed the event);
        # payload rules of an application protocol (alert dns ... content) on its events
        # too; header-only DNS rules per DNS message (UDP datagrams are decoded as they
        # come, like Suricata's per-packet match); the rest on packets or the TCP stream.
        records = {BUFFERS[i.buffer].record for i in rule.detect} - {"packet"}
        app = rule.protocol if rule.protocol in ("http", "dns", "tls", "ftp", "smtp") else None
        self.record = next(iter(records), None) or (
            app if (app in ("http", "dns", "tls") and rule.detect) or app == "dns" else "packet"
        )
        self.app_proto = app if self.record == "packet" else None
        if self.record == "packet" and stream_eligible(rule):
            # Suricata inspects TCP payload rules on the reassembled stream too, so a
            # content split across segments matches: run them on stream chunks.
            self.record = "stream"
        sides = {BUFFERS[i.buffer].side for i in rule.detect} - {None}
        self.side = 1 if 1 in sides else 0 if 0 in sides else self.direction
        self.threshold = (
            _Threshold(rule.threshold, "threshold")
            if rule.threshold
            else _Threshold(rule.detection_filter, "detection_filter")
            if rule.detection_filter
            else None
        )
        self.prefilter = fast_pattern(rule.detect)
        self.has_packet_tests = any(
            t is not None for t in (self.dsize, self.itype, self.icode, self.flags)
        )
        # Suricata's IP-only rules (header, iprep: nothing about the packet or the flow)
        # are decided once per flow and direction, on its first packet that way.
        self.ip_only = (
            self.record == "packet"
            and rule.protocol in ("ip", "tcp", "udp", "icmp", "icmpv4", "icmpv6")
            and not (rule.detect or rule.flow or rule.flowbits)
            and not (rule.dsize or rule.itype or rule.icode or rule.tcp_flags)
        )
        # Rules that set flowbits run before rules that test them on the same record.
        self.order = (0 if self.bits_act and not self.bits_test else 1, index)

    def header(self, ctx: Ctx) -> bool:
        if self.header_trivial:
            return True
        if (
            self.dport.matches(ctx.dport)
            and self.sport.matches(ctx.sport)
            and self.dst.matches(ctx.dst)
            and self.src.matches(ctx.src)
        ):
            return True
        return self.rule.bidirectional and (
            self.dport.matches(ctx.sport)
            and self.sport.matches(ctx.dport)
            and self.dst.matches(ctx.src)
            and self.src.matches(ctx.dst)
        )

    def packet_tests(self, pkt: Packet) -> bool:
        """The tests that depend only on a packet's protocol, flags, ICMP type/code and size."""
        if self.protos is not None and pkt.proto not in self.protos:
            return False
        if self.flags is not None and (pkt.proto != 6 or not self.flags(pkt.tcp_flags)):
            return False
        if self.dsize is not None and not self.dsize(len(pkt.payload)):
            return False
        if self.itype is not None and (pkt.icmp_type < 0 or not self.itype(pkt.icmp_type)):
            return False
        return not (self.icode is not None and (pkt.icmp_code < 0 or not self.icode(pkt.icmp_code)))

    def check(self, ctx: Ctx, established: bool | None = None) -> bool:
        """Everything but the threshold: header, flow, packet tests, flowbits, buffers.

        ``established``: the packet-time flow state (packet records only). Cheap integer
        tests come first: most packets fail a rule on its protocol, flags or size."""
        flow = ctx.flow
        if self.direction is not None and ctx.direction != self.direction:
            return False
        pkt = ctx.pkt
        if self.record == "packet":
            assert pkt is not None
            if not self.packet_tests(pkt):
                return False
            if self.app_proto is not None and (
                flow is None or flow.app_proto != self.app_proto or not app_known(flow, ctx)
            ):
                return False
        elif self.has_packet_tests and (pkt is None or not self.packet_tests(pkt)):
            return False  # dsize/flags on an application rule: the packet completing the event
        if not self.header(ctx):
            return False
        if self.established is not None and flow is not None:
            state = established if established is not None else _established(flow)
            if state != self.established:
                return False
        if (
            self.ip_only
            and pkt is not None
            and flow is not None
            and not _first_of_direction(flow, pkt, ctx)
        ):
            return False
        for test in self.iprep:
            if not test(ctx.src, ctx.dst):
                return False
        if self.bits_test:
            fired = flow.fired if flow is not None else None
            for want, names in self.bits_test:
                present = fired is not None and any(_FLOWBIT + n in fired for n in names)
                if present != want:
                    return False
        event = ctx.event
        for buf, transforms, items in self.buffers:
            side = buf.side if buf.side is not None else (event.direction if event else 0)
            values = read_buffer(buf, transforms, ctx, side)
            if not any(match_buffer(items, value) for value in values):
                return False
        return True

    def act(self, ctx: Ctx) -> None:
        """Flowbits actions of a matching rule."""
        flow = ctx.flow
        if flow is None:
            return
        if flow.fired is None:
            flow.fired = set()
        fired = flow.fired
        for action, name in self.bits_act:
            key = _FLOWBIT + name
            if action == "set":
                fired.add(key)
            elif action == "unset" or key in fired:
                fired.discard(key)
            else:
                fired.add(key)


_ESTABLISHED = "\x00est"  # in Flow.fired: the flow was established before this packet


def established_before(flow: Any) -> bool:
    """``flow:established`` for the TCP packet being inspected; call once per packet.

    Suricata decides it on the flow state as it was when the packet arrived: the
    ACK completing the handshake is not yet established, and packets after the
    session closed no longer are. The flow table has already counted the packet,
    so the state before it is remembered here, in the flow's ``fired`` set.
    """
    if flow.proto != 6:
        return _established(flow)
    fired = flow.fired
    before = fired is not None and _ESTABLISHED in fired
    if flow.state == "established" and not before:
        if fired is None:
            fired = flow.fired = set()
        fired.add(_ESTABLISHED)
    elif flow.state == "closed" and before and fired is not None:
        fired.discard(_ESTABLISHED)
    return before


_APP_KNOWN = "\x00app"  # in Flow.fired: the app protocol counts as known to packet rules
_FIRST_DATA = ("\x00fd0", "\x00fd1")  # in Flow.fired: direction of the flow's first data


def note_first_data(flow: Any, pkt: Packet, direction: int) -> None:
    """Remember which side sent the flow's first payload (see app_known)."""
    if not pkt.payload or direction not in (0, 1):
        return
    fired = flow.fired
    if fired is None:
        fired = flow.fired = set()
    if _FIRST_DATA[0] not in fired and _FIRST_DATA[1] not in fired:
        fired.add(_FIRST_DATA[direction])


def app_known(flow: Any, ctx: Ctx) -> bool:
    """Whether a TCP packet sees the flow's application protocol, as in Suricata's IDS mode.

    There a side's data reaches the protocol detection when the other side acknowledges
    it in an established session: from the first packet of the other direction after
    the handshake (and after the data) on, header-only rules such as
    ``alert http ... (flow:to_server;)`` match.
    """
    fired = flow.fired
    if fired is not None and _APP_KNOWN in fired:
        return True
    if flow.proto != 6:
        return bool(flow.app_proto)
    if fired is None or not flow.app_proto:
        return False
    first = 0 if _FIRST_DATA[0] in fired else 1 if _FIRST_DATA[1] in fired else -1
    if first < 0 or ctx.direction == first or _ESTABLISHED not in fired:
        return False
    fired.add(_APP_KNOWN)
    return True


def stream_eligible(rule: SignatureRule) -> bool:
    """True for a TCP payload rule whose matches do not depend on where a packet starts.

    Contents anchored to the start of the buffer (offset, depth, startswith, a first
    content with distance/within, absolute isdataat, bsize) and packet tests (dsize,
    flags) keep per-packet semantics; the rest are matched on the reassembled stream.
    """
    if rule.protocol == "tcp-stream":  # stream only, whatever its contents
        return bool(rule.detect) and all(i.buffer == "payload" for i in rule.detect)
    if rule.protocol != "tcp" or not rule.detect:  # tcp-pkt: packets only
        return False
    if rule.dsize or rule.tcp_flags:
        return False
    if not any(i.kind == "content" and not i.negated for i in rule.detect):
        return False
    for index, item in enumerate(rule.detect):
        if item.buffer != "payload" or item.transforms:
            return False
        if item.kind not in ("content", "pcre", "isdataat"):
            return False
        if item.offset is not None or item.depth is not None or item.startswith:
            return False
        if index == 0 and item.is_relative:
            return False
        if item.kind == "isdataat" and not item.relative:
            return False
        if item.kind == "pcre" and not item.relative and "^" in item.regex:
            return False
    return True


def _first_of_direction(flow: Any, pkt: Packet, ctx: Ctx) -> bool:
    if ctx.direction == 0:
        return bool(pkt.num == flow.first_num)
    return bool(flow.pkts1 == 1)


def _established(flow: Any) -> bool:
    if flow.proto == 6:
        return bool(flow.established)
    return bool(flow.pkts0 and flow.pkts1)  # UDP/ICMP: both directions seen


def fast_pattern(items: Sequence[SigItem]) -> SigItem | None:
    """The content a rule is prefiltered on: its fast_pattern, else its longest positive one."""
    positive = [i for i in items if i.kind == "content" and not i.negated]
    for item in positive:
        if item.fast_pattern:
            return item
    return max(positive, key=lambda i: len(i.content), default=None)


class _Group:
    """Fast patterns of every rule on one buffer (with its transforms)."""

    def __init__(self, buf: Buffer, transforms: tuple[str, ...]) -> None:
        self.buf = buf
        self.transforms = transforms
        self.sigs: list[_Sig] = []
        self.patterns: PatternSet | None = None

    def spec(self) -> list[tuple[int, str, bool]]:
        out = []
        for i, sig in enumerate(self.sigs):
            item = sig.prefilter
            assert item is not None
            out.append((i, literal_pattern(item.content), item.nocase))
        return out


class _Record:
    """Signatures evaluated on one record type."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, tuple[str, ...]], _Group] = {}
        self.always: list[_Sig] = []

        self.by_signature: dict[tuple[int, ...], list[_Sig]] = {}

    def always_for(self, pkt: Packet, direction: int) -> list[_Sig]:
        """The rules without a fast pattern that pass a packet's cheap tests, cached per
        packet signature (protocol, flags, ICMP type/code, size, direction, destination
        port): a few thousand signatures cover millions of packets, and the many scan rules
        for one port each cost nothing on the others."""
        key = (
            pkt.proto,
            pkt.tcp_flags & 0xFF,
            pkt.icmp_type,
            pkt.icmp_code,
            len(pkt.payload),
            direction,
            pkt.dport,
        )
        found = self.by_signature.get(key)
        if found is None:
            found = [
                s
                for s in self.always
                if (s.direction is None or s.direction == direction)
                and s.packet_tests(pkt)
                and (s.rule.bidirectional or s.dport.matches(pkt.dport))
            ]
            if len(self.by_signature) >= 8192:
                self.by_signature.clear()
            self.by_signature[key] = found
        return found


class SignatureDetector:
    """Every signature rule, prefiltered per record type and buffer."""

    def __init__(
        self,
        rules: Sequence[SignatureRule],
        reputation: Reputation | None = None,
        engine: str = "auto",
    ) -> None:
        cache: dict[str, frozenset[bytes]] = {}

        def datasets(spec: str) -> frozenset[bytes]:
            if spec not in cache:
                cache[spec] = load_dataset(spec)
            return cache[spec]

        self.records: dict[str, _Record] = defaultdict(_Record)
        self.sigs = [_Sig(rule, i, reputation, datasets) for i, rule in enumerate(rules)]
        for sig in self.sigs:
            record = self.records[sig.record]
            item = sig.prefilter
            if item is None:
                record.always.append(sig)
                continue
            key = (item.buffer, item.transforms)
            group = record.groups.get(key)
            if group is None:
                group = record.groups[key] = _Group(BUFFERS[item.buffer], item.transforms)
            group.sigs.append(sig)
        groups = [g for r in self.records.values() for g in r.groups.values()]
        if engine != "re2":
            precompile([g.spec() for g in groups])
        for group in groups:
            group.patterns = PatternSet(group.spec(), engine=engine)
        self.errors = 0
        self.app_rules = any(s.app_proto for s in self.sigs)
        self.track_state = self.app_rules or any(
            s.established is not None for s in self.sigs if s.record == "packet"
        )

    def wants(self) -> set[str]:
        """Record types some signature is evaluated on, plus the application protocols
        packet rules name in their header (their decoder must run to know the flow's
        protocol)."""
        return set(self.records) | {s.app_proto for s in self.sigs if s.app_proto}

    def on_stream(
        self, pkt: Packet | None, flow: Any, direction: int, chunk: bytes, tail: bytes
    ) -> list[Finding]:
        """Findings of stream signatures for one reassembled chunk.

        The chunk is inspected with ``tail`` (the end of the previous data) in front, so a
        content split across segments matches; a rule that already matches the tail alone
        matched on an earlier chunk and is not reported again.
        """
        if "stream" not in self.records:
            return _EMPTY
        window = tail + chunk if tail else chunk
        previous = Ctx(pkt, flow, direction, None, tail) if tail else None
        return self.evaluate("stream", Ctx(pkt, flow, direction, None, window), previous)

    def evaluate(self, record: str, ctx: Ctx, previous: Ctx | None = None) -> list[Finding]:
        """Findings of the signatures on ``record`` for one record (``previous``: a stream
        context whose matches were reported already)."""
        flow = ctx.flow
        pkt = ctx.pkt
        established: bool | None = None
        if record == "packet" and flow is not None and pkt is not None and self.track_state:
            # Packet-time flow state, kept current on every packet (rules or not).
            established = established_before(flow)
            if self.app_rules:
                note_first_data(flow, pkt, ctx.direction)
                app_known(flow, ctx)  # the state moves on packets no rule looks at, too
        table = self.records.get(record)
        if table is None:
            return _EMPTY
        event = ctx.event
        candidates: dict[int, _Sig] = {}
        for group in table.groups.values():
            side = group.buf.side
            if side is None:
                side = event.direction if event is not None else 0
            values = read_buffer(group.buf, group.transforms, ctx, side)
            if not values:
                continue
            assert group.patterns is not None
            for value in values:
                for hit in group.patterns.scan(value):
                    sig = group.sigs[hit]
                    candidates[sig.index] = sig
        if record == "packet" and pkt is not None:
            always = table.always_for(pkt, ctx.direction)
        else:
            always = table.always
        if not candidates and not always:
            return _EMPTY
        chosen = list(candidates.values()) + always if candidates else always
        if candidates:
            chosen.sort(key=_order)
        found: list[Finding] = []
        direction = event.direction if event is not None else None
        for sig in chosen:
            if direction is not None and sig.side is not None and direction != sig.side:
                continue
            if not sig.check(ctx, established):
                continue
            if previous is not None and sig.check(previous, established):
                continue
            if sig.bits_act:
                sig.act(ctx)
            if sig.threshold is not None and not sig.threshold.allows(ctx):
                continue
            if sig.rule.noalert:
                continue
            evidence: dict[str, Any] = {"sid": sig.rule.sid}
            if sig.rule.source_rule:
                evidence["source"] = sig.rule.source_rule
            found.append(Finding.from_ctx(sig.rule, ctx, evidence))
        return found

    def on_packet(self, pkt: Packet, flow: Any, direction: int) -> list[Finding]:
        """Findings of packet-level signatures for one packet."""
        return self.evaluate("packet", Ctx(pkt, flow, direction))


def _order(sig: _Sig) -> tuple[int, int]:
    return sig.order
