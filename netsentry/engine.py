"""The analysis pass: captures -> packets -> flows/streams -> app events -> detectors -> findings.

``analyze()`` is the library entry point behind ``netsentry analyze``: it takes
paths (or ``-`` for stdin), streams every frame once, and returns the result.
Several captures are merged by timestamp into one stream, so a conversation
split across files is seen in order.

Only the application decoders something needs are run: those whose records a
loaded rule looks at, plus all of them when the report shows application
tables (DESIGN: pay only for what the rules and reports ask).
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import BinaryIO

from netsentry.applayer import PROTOCOLS, AppLayer
from netsentry.appsummary import AppSummary
from netsentry.capture import CaptureReader, Frame, open_capture
from netsentry.decode import Decoder
from netsentry.detectors import Detection
from netsentry.errors import UsageError
from netsentry.fields import Ctx
from netsentry.findings import Finding
from netsentry.flows import Flow, FlowConfig, FlowTable
from netsentry.intel import IntelSet
from netsentry.model import Packet
from netsentry.protocols.base import AppEvent
from netsentry.rules import RuleSet
from netsentry.summary import CaptureInfo, Summary

ProgressCallback = Callable[[int], None]
"""Called now and then with the number of input bytes consumed so far."""

PROGRESS_EVERY = 8192  # packets between progress callbacks: cheap, still smooth

# Which decoders produce each app-layer record type rules can name.
RECORD_DECODERS: dict[str, tuple[str, ...]] = {
    "http": ("http",),
    "dns": ("dns",),
    "tls": ("tls",),
    "irc": ("irc",),
    "smtp": ("smtp",),
    "ftp": ("ftp",),
    "ssh": ("ssh",),
    "auth": ("ftp", "smtp", "pop3", "imap", "telnet", "http", "ssh"),
}


@dataclass
class AnalysisResult:
    """Everything one run produced."""

    summary: Summary
    app: AppSummary
    flow_counters: dict[str, int]
    findings: list[Finding] = field(default_factory=list)
    suppressed: int = 0
    finding_count: int = 0  # every finding, also when they were streamed, not kept
    detector_errors: dict[str, int] = field(default_factory=dict)
    decoders: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        """True when some input was cut short or corrupt (the run is partial)."""
        return any(c.truncated for c in self.summary.captures)

    @property
    def partial(self) -> bool:
        """True when input was damaged or a detector failed."""
        return self.damaged or bool(self.detector_errors)


def _direction_of(flow: Flow, pkt: Packet) -> int:
    """0 when ``pkt`` belongs to ``flow`` going client -> server, 1 server -> client, -1 not."""
    if (
        pkt.src == flow.cli
        and pkt.dst == flow.srv
        and pkt.sport == flow.cport
        and pkt.dport == flow.spt
    ):
        return 0
    if (
        pkt.src == flow.srv
        and pkt.dst == flow.cli
        and pkt.sport == flow.spt
        and pkt.dport == flow.cport
    ):
        return 1
    return -1


def _ignore_event(event: AppEvent) -> None:
    """Where application events go when nothing reads them."""


def _frame_key(frame: Frame) -> int:
    return frame[0]


def merged_frames(readers: Sequence[CaptureReader]) -> Iterator[tuple[CaptureReader, Frame]]:
    """Frames of all readers in timestamp order (stable: file order breaks ties)."""
    if len(readers) == 1:
        reader = readers[0]
        for frame in reader.frames():
            yield reader, frame
        return

    def tagged(index: int, reader: CaptureReader) -> Iterator[tuple[int, int, Frame]]:
        for frame in reader.frames():
            yield frame[0], index, frame

    for _ts, index, frame in heapq.merge(*(tagged(i, r) for i, r in enumerate(readers))):
        yield readers[index], frame


def packets(
    readers: Sequence[CaptureReader],
    decoder: Decoder,
    infos: Sequence[CaptureInfo] | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[Packet]:
    """Decode the merged frames of ``readers`` into numbered Packets (pcap_cnt from 1)."""
    decode = decoder.decode
    by_reader = {id(r): infos[i] for i, r in enumerate(readers)} if infos else {}
    num = 0
    for num, (reader, (ts, linktype, data, wirelen)) in enumerate(merged_frames(readers), 1):
        if by_reader:
            by_reader[id(reader)].packets += 1
        if progress is not None and num % PROGRESS_EVERY == 0:
            progress(sum(r.bytes_read for r in readers))
        yield decode(num, ts, linktype, data, wirelen)
    if progress is not None and num:
        progress(sum(r.bytes_read for r in readers))


def open_all(
    paths: Sequence[str | os.PathLike[str]], stack: ExitStack, stdin: BinaryIO | None = None
) -> list[CaptureReader]:
    """Open every input (all or nothing: an unreadable one raises before analysis starts)."""
    if not paths:
        raise UsageError("no capture given")
    if sum(1 for p in paths if os.fspath(p) == "-") > 1:
        raise UsageError("standard input ('-') can be given only once")
    return [stack.enter_context(open_capture(p, stdin=stdin)) for p in paths]


def decoders_needed(detection: Detection | None, app_report: bool) -> list[str]:
    """Application decoders to run: what the rules read, and all of them for the report."""
    if app_report:
        return list(PROTOCOLS)
    names: set[str] = set()
    if detection is not None:
        for record in detection.records:
            names.update(RECORD_DECODERS.get(record, ()))
    return [n for n in PROTOCOLS if n in names]


def analyze(
    paths: Sequence[str | os.PathLike[str]],
    *,
    stdin: BinaryIO | None = None,
    progress: ProgressCallback | None = None,
    on_open: Callable[[list[CaptureReader]], None] | None = None,
    protocols: Iterable[str] | None = None,
    rules: RuleSet | None = None,
    intel: IntelSet | None = None,
    flow_config: FlowConfig | None = None,
    app_report: bool = True,
    engine: str = "auto",
    on_event: Callable[[AppEvent], None] | None = None,
    on_finding: Callable[[Finding], None] | None = None,
    on_flow_end: Callable[[Flow], None] | None = None,
    keep_findings: bool = True,
    app_summary: bool = True,
) -> AnalysisResult:
    """Analyze the captures at ``paths`` as one timestamp-ordered stream.

    ``rules``: detections to run (None: none). ``protocols`` names the application
    decoders to run; None decides from the rules and ``app_report``. ``on_event`` sees
    every application event (HTTP transaction, DNS message, TLS hello, ...) as decoded.
    ``on_finding`` sees every finding as it is made (detection order), ``on_flow_end``
    every flow once it ended (after its last events and findings). With
    ``keep_findings=False`` the result's ``findings`` stay empty (only
    ``finding_count`` is set): reports that stream or aggregate keep memory flat.
    With ``app_summary=False`` the result's application tables (``result.app`` but its
    flow and anomaly counters) stay empty: a report that does not show them (EVE, CSV)
    saves their time and their memory (bounded tables that fill up on big captures).
    """
    summary = Summary()
    decoder = Decoder()
    detection = Detection(rules, intel, engine) if rules is not None else None
    wanted = list(protocols) if protocols is not None else decoders_needed(detection, app_report)
    app = AppLayer(wanted)
    apps = AppSummary()
    add_event: Callable[[AppEvent], None] = apps.add
    if not app_summary:
        add_event = _ignore_event if on_event is None else on_event
    elif on_event is not None:
        hook = on_event

        def add_and_report(event: AppEvent) -> None:
            apps.add(event)
            hook(event)

        add_event = add_and_report
    findings: list[Finding] = []
    count = [0]

    def emit(found: list[Finding]) -> None:
        count[0] += len(found)
        if keep_findings:
            findings.extend(found)
        if on_finding is not None:
            for finding in found:
                on_finding(finding)

    last: list[int] = [0, 0]  # ts and number of the latest packet, for end-of-flow events
    wants = detection.wants if detection is not None else (lambda record: False)
    evaluate = detection.evaluate if detection is not None else None

    def flow_ended(flow: Flow) -> None:
        for event in app.on_flow_end(flow, last[0], last[1]):
            add_event(event)
            if evaluate is not None and wants(event.proto):
                found = evaluate(event.proto, Ctx(None, flow, event.direction, event))
                if found:
                    emit(found)
        if evaluate is not None and wants("flow"):
            found = evaluate("flow", Ctx(None, flow, 0))
            if found:
                emit(found)
        if on_flow_end is not None:
            on_flow_end(flow)

    current: list[Packet | None] = [None]  # the packet being processed, for stream findings
    if detection is not None and wants("stream"):
        on_stream = detection.on_stream

        def stream_chunk(flow: Flow, direction: int, data: bytes) -> None:
            # The packet being processed is the chunk's context only when it is this
            # flow's packet in this direction; data released by a flush (a timeout inside
            # another packet's lookup) or by the peer's ACK gets the flow's context.
            pkt = current[0]
            if pkt is not None and (
                pkt.ts < flow.first_ts or _direction_of(flow, pkt) != direction
            ):
                pkt = None
            found = on_stream(pkt, flow, direction, data)
            if found:
                emit(found)

        app.stream_sink = stream_chunk

    flows = FlowTable(flow_config, on_end=flow_ended)
    on_packet_rules = detection.on_packet if detection is not None and wants("packet") else None
    with ExitStack() as stack:
        readers = open_all(paths, stack, stdin)
        if on_open is not None:
            on_open(readers)
        infos = [CaptureInfo(r.name, r.format, r.compressed, []) for r in readers]
        add = summary.add
        lookup = flows.lookup
        on_packet = app.on_packet if app.active else None
        for pkt in packets(readers, decoder, infos, progress):
            add(pkt)
            if not pkt.family or pkt.fragment:
                continue
            last[0] = pkt.ts
            last[1] = pkt.num
            flow, direction = lookup(pkt)
            if on_packet_rules is not None:
                found = on_packet_rules(pkt, flow, direction)
                if found:
                    emit(found)
            if on_packet is not None:
                current[0] = pkt
                for event in on_packet(flow, direction, pkt):
                    add_event(event)
                    if evaluate is not None and wants(event.proto):
                        found = evaluate(event.proto, Ctx(pkt, flow, event.direction, event))
                        if found:
                            emit(found)
        current[0] = None
        flows.flush()
        decoder.defrag.flush()
        for info, reader in zip(infos, readers, strict=True):
            info.linktypes = sorted(reader.linktypes)
            info.truncated = reader.truncated
            info.warnings = list(reader.warnings)
        summary.captures = infos
    summary.skipped = decoder.skipped
    summary.fragments = decoder.defrag.counters
    apps.flows = app.flows_by_proto
    apps.anomalies = app.anomalies
    findings.sort(key=Finding.sort_key)
    result = AnalysisResult(summary, apps, dict(flows.counters), findings, decoders=wanted)
    result.finding_count = count[0]
    if detection is not None:
        result.suppressed = sum(detection.suppression.suppressed.values())
        result.detector_errors = dict(detection.errors)
    return result
