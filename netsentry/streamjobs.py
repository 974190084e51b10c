"""``analyze --jobs N`` on one stream: N processes, output identical to one process.

How the work is split (see :mod:`netsentry.flowsplit` for ownership and the spool):

* Every process reads and decodes every packet and runs the complete flow table, so
  all of them have the same flows, ends and counters. Each flow has one owner process.
* Process 0 is the parent. It alone keeps the traffic summary and runs the packet rules
  for every packet (packet thresholds see nearly every packet, across flows).
* Each process runs, for the flows it owns only, the application decoders, stream
  reassembly, stream/event/flow-record rules. Cross-flow state outside packet rules
  (threshold windows on events and flows, the DGA once-per-client memory) is not kept
  there: the record's contribution is shipped and the step runs in the merger.
* Everything a process produces goes to its spool with an order key
  ``(packet, phase, index, seq)``: phase 0 = flows ended inside the flow lookup of that
  packet (index = position in that lookup's end order; the final flush is packet
  ``FLUSH``), phase 1 = packet rules (parent), phase 2 = the packet's application layer
  (owner). One process makes each (packet, phase, index) slot and each spool is in key
  order, so merging the spools by key gives exactly the order of ``--jobs 1``.
* When all are done the parent merges the spools and replays them into the same hooks,
  aggregate and result that ``--jobs 1`` feeds while it runs (so output comes at the end).

``--jobs 1`` (and every case listed by :func:`fallback_reason`) is
:func:`netsentry.engine.analyze` itself, unchanged.
"""

from __future__ import annotations

import heapq
import json
import multiprocessing
import os
import signal
import stat
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from netsentry.applayer import AppLayer
from netsentry.appsummary import AppSummary
from netsentry.capture import CaptureReader
from netsentry.decode import Decoder
from netsentry.detectors import Detection, _ThresholdState, rule_record
from netsentry.engine import (
    AnalysisResult,
    ProgressCallback,
    _direction_of,
    decoders_needed,
    open_all,
    packets,
)
from netsentry.engine import analyze as analyze_one_process
from netsentry.fields import Ctx, resolve
from netsentry.findings import Finding
from netsentry.flows import Flow, FlowConfig, FlowTable
from netsentry.flowsplit import (
    FLUSH,
    FirstSeen,
    Ownership,
    Replay,
    Spool,
    deferred,
    loads,
    merge_counters,
)
from netsentry.intel import IntelSet
from netsentry.model import Packet
from netsentry.protocols.base import AppEvent
from netsentry.rules import Rule, RuleSet
from netsentry.sig.model import SignatureRule
from netsentry.summary import CaptureInfo, Summary

AUTO_MIN_BYTES = 32 * 1024 * 1024
"""``--jobs auto``: inputs smaller than this run in one process (forking does not pay)."""

PARENT_SHARE = 0.4
"""Flows owned by the parent relative to another process (it also does the per-packet work).

Measured on bench/data/mixed_1m.pcap with 2 processes; NETSENTRY_PARENT_SHARE overrides
it (for measuring only)."""

_ENCODING = {"encoding": "utf-8", "errors": "surrogatepass", "newline": "\n"}


def auto_jobs(paths: Sequence[str]) -> int:
    """The default for one stream: every core when the input is big enough to pay, else 1."""
    if "-" in paths:
        return 1
    size = 0
    for path in paths:
        try:
            size += os.path.getsize(path)
        except OSError:
            return 1  # let the one-process path report it
    return (os.cpu_count() or 1) if size >= AUTO_MIN_BYTES else 1


def _mentions_app_proto(rule: Rule) -> bool:
    names = [getattr(rule, "field", ""), getattr(rule, "distinct", "")]
    names += [c.field for c in getattr(rule, "where", ())]
    names += list(getattr(rule, "fields", ()))
    return any((spec := resolve(n)) is not None and spec.name == "app_proto" for n in names if n)


def fallback_reason(
    paths: Sequence[str], rules: RuleSet | None, protocols: Iterable[str] | None = None
) -> str | None:
    """Why this run cannot be split exactly or usefully (then it runs in one process), or None.

    ``protocols`` is the caller's explicit decoder list (None: decided from the rules).
    """
    if protocols is not None and not list(protocols):
        # Only the application layer is split by flow; without it every process would
        # decode everything and the parent would still do all the rest (measured on
        # mixed_1m: summary + flows 150k pkt/s in one process, 127k with two).
        return "no application decoders run, so there is nothing to split by flow"
    if "-" in paths:
        return "standard input is read once"
    for path in paths:
        try:
            regular = stat.S_ISREG(os.stat(path).st_mode)
        except OSError:
            return None  # the pass reports it, as with one process
        if not regular:  # a pipe or device: every process would take part of its data
            return f"{path} is not a regular file and can be read only once"
    if rules is None:
        return None
    active = [r for r in rules.rules if r.enabled]
    if any(isinstance(r, SignatureRule) for r in active):
        return "Suricata signature rules keep flowbits and thresholds across record types"
    for rule in active:
        # app_proto is known to a flow's owner only; packet rules run in the parent
        if rule_record(rule) == "packet" and _mentions_app_proto(rule):
            return f"packet rule {rule.id} reads app_proto"
    return None


@dataclass
class Settings:
    """What every process of one run shares (inherited by forked workers, never pickled)."""

    paths: list[str]
    rules: RuleSet | None
    intel: IntelSet | None
    protocols: list[str]
    flow_config: FlowConfig | None
    engine: str
    full_events: frozenset[str] | None  # event protocols on_event needs whole (None: all)
    summary_events: bool  # the report reads the application summary: ship its fields
    flow_ends: bool  # an on_flow_end hook reads ended flows' state
    ownership: Ownership


@dataclass
class Share:
    """What one process's pass leaves behind (the parent keeps it; a worker sends JSON)."""

    detection: Detection | None
    app: AppLayer
    first_seen: FirstSeen
    flows: FlowTable
    summary: Summary | None = None
    decoder: Decoder | None = None
    infos: list[CaptureInfo] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        suppressed = self.detection.suppression.suppressed if self.detection else Counter()
        return {"counters": self.first_seen.to_json(), "suppressed": sum(suppressed.values())}


def _install_deferral(detection: Detection) -> None:
    """Cross-flow steps of event/flow rules become Deferred findings (run by the merger)."""

    def threshold(record: str, index: int, state: _ThresholdState, ctx: Ctx) -> Finding:
        key, values = state.contribution(ctx)
        return deferred(state.build(ctx, {}), ["T", record, index, key, values, ctx.ts])

    def dga(record: str, index: int, client: Any, registrable: str, finding: Finding) -> Finding:
        return deferred(finding, ["D", record, index, client, registrable])

    detection.threshold.defer = threshold
    detection.dga.defer = dga


def run_share(
    me: int,
    settings: Settings,
    readers: Sequence[CaptureReader],
    handle: TextIO,
    detection: Detection | None,
    progress: ProgressCallback | None = None,
) -> Share:
    """One process's pass over the whole stream; its records go to ``handle``."""
    parent = me == 0
    spool = Spool(handle)
    decoder = Decoder()
    app = AppLayer(settings.protocols)
    if detection is not None:
        _install_deferral(detection)
    counters = [app.anomalies, app.flows_by_proto]
    if detection is not None:
        counters.append(detection.errors)
    first_seen = FirstSeen(counters)
    check = first_seen.check
    full = settings.full_events
    summary_events = settings.summary_events
    flow_ends = settings.flow_ends
    wants = detection.wants if detection is not None else (lambda record: False)
    evaluate = detection.evaluate if detection is not None else None
    write_finding = spool.finding
    last = [0, 0]  # ts and number of the latest packet, for end-of-flow events
    ends = [0]  # flows ended so far inside the current lookup (their order index)

    def events_of(flow: Flow, events: list[AppEvent], pkt: Packet | None) -> None:
        for event in events:
            if full is None or event.proto in full:
                spool.event(event, True)
            elif summary_events:
                spool.event(event, False)
            if evaluate is not None and wants(event.proto):
                for finding in evaluate(event.proto, Ctx(pkt, flow, event.direction, event)):
                    write_finding(finding)

    def flow_ended(flow: Flow) -> None:
        index = ends[0]
        ends[0] += 1
        if flow.owner != me:
            return
        spool.index = index
        spool.phase = 0
        events = app.on_flow_end(flow, last[0], last[1])
        spool.sync(flow)
        events_of(flow, events, None)
        if evaluate is not None and wants("flow"):
            for finding in evaluate("flow", Ctx(None, flow, 0)):
                write_finding(finding)
        spool.flow_end(flow, flow_ends)
        check(spool)

    current: list[Packet | None] = [None]
    if detection is not None and wants("stream"):
        on_stream = detection.on_stream

        def stream_chunk(flow: Flow, direction: int, data: bytes) -> None:
            pkt = current[0]  # as engine.analyze: the packet only when it is this flow's
            if pkt is not None and (
                pkt.ts < flow.first_ts or _direction_of(flow, pkt) != direction
            ):
                pkt = None
            found = on_stream(pkt, flow, direction, data)
            if found:
                spool.sync(flow)
                for finding in found:
                    write_finding(finding)

        app.stream_sink = stream_chunk

    flows = FlowTable(settings.flow_config, on_end=flow_ended)
    on_packet_rules = (
        detection.on_packet if parent and detection is not None and wants("packet") else None
    )
    summary = Summary() if parent else None
    infos = [CaptureInfo(r.name, r.format, r.compressed, []) for r in readers] if parent else []
    owner_of = settings.ownership.owner
    lookup = flows.lookup
    on_packet = app.on_packet if app.active else None
    for pkt in packets(readers, decoder, infos or None, progress if parent else None):
        if summary is not None:
            summary.add(pkt)
        if not pkt.family or pkt.fragment:
            continue
        num = pkt.num
        last[0] = pkt.ts
        last[1] = num
        ends[0] = 0
        spool.packet = num
        flow, direction = lookup(pkt)
        owner = flow.owner
        if owner < 0:
            owner = flow.owner = owner_of(flow)
        if on_packet_rules is not None:
            spool.phase = 1
            spool.index = 0
            for finding in on_packet_rules(pkt, flow, direction):
                write_finding(finding)
            check(spool)
        if on_packet is not None:
            current[0] = pkt
            if owner == me:
                spool.phase = 2
                spool.index = 0
                events = on_packet(flow, direction, pkt)
                if flow.app_proto != flow.shipped:
                    spool.sync(flow)
                if events:
                    events_of(flow, events, pkt)
                check(spool)
    current[0] = None
    spool.packet = FLUSH
    ends[0] = 0
    flows.flush()
    decoder.defrag.flush()
    if summary is not None:
        for info, reader in zip(infos, readers, strict=True):
            info.linktypes = sorted(reader.linktypes)
            info.truncated = reader.truncated
            info.warnings = list(reader.warnings)
        summary.captures = infos
    return Share(detection, app, first_seen, flows, summary, decoder, infos)


def _worker(me: int, settings: Settings, spool_path: str, status_path: str) -> None:
    """Body of a forked worker: its spool, then its status (written last, so present = done)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent alone handles Ctrl-C
    detection = (
        Detection(settings.rules, settings.intel, settings.engine)
        if settings.rules is not None
        else None
    )
    with ExitStack() as stack:
        readers = open_all(settings.paths, stack)
        with open(spool_path, "w", buffering=1 << 20, **_ENCODING) as handle:  # type: ignore[call-overload]
            share = run_share(me, settings, readers, handle, detection)
    with open(status_path + ".tmp", "w", encoding="utf-8") as status:
        json.dump(share.status(), status)
    os.replace(status_path + ".tmp", status_path)


class WorkerFailed(Exception):
    """A worker process ended without its result."""


def _records(path: str) -> Iterator[list[Any]]:
    with open(path, **_ENCODING) as handle:  # type: ignore[call-overload]
        for line in handle:
            yield loads(line)


def analyze_split(
    paths: Sequence[str],
    jobs: int,
    *,
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
    full_events: Iterable[str] | None = None,
    app_summary: bool = True,
    notice: Callable[[str], None] | None = None,
    stdin: BinaryIO | None = None,
) -> AnalysisResult:
    """:func:`netsentry.engine.analyze` with ``jobs`` processes; the same result and hooks.

    The hooks are called after the pass (in the order one process calls them while it
    runs). ``full_events``: protocols whose events ``on_event`` needs whole (default:
    all); others carry only what the application summary reads (no flow, time or
    packet number). ``app_summary=False``: the caller does not read the result's
    application tables (``result.app`` other than its flow and anomaly counters), so
    other events are not shipped at all (a third of the merge on an EVE run).
    ``notice`` hears why a
    run went back to one process (see :func:`fallback_reason`, or a worker that failed).
    """
    kwargs: dict[str, Any] = {
        "progress": progress,
        "on_open": on_open,
        "protocols": protocols,
        "rules": rules,
        "intel": intel,
        "flow_config": flow_config,
        "app_report": app_report,
        "engine": engine,
        "on_event": on_event,
        "on_finding": on_finding,
        "on_flow_end": on_flow_end,
        "keep_findings": keep_findings,
    }
    one_process = {**kwargs, "app_summary": app_summary}
    names = [os.fspath(p) for p in paths]
    reason = fallback_reason(names, rules, protocols) if jobs > 1 else None
    if jobs <= 1 or reason is not None:
        if reason is not None and notice is not None:
            notice(f"--jobs {jobs}: analyzing in one process ({reason})")
        return analyze_one_process(names, stdin=stdin, **one_process)
    try:
        return _split(names, jobs, kwargs, full_events, app_summary)
    except WorkerFailed as exc:
        if notice is not None:
            notice(f"--jobs {jobs}: {exc}; analyzing again in one process")
        return analyze_one_process(names, stdin=stdin, **one_process)


def _split(
    paths: list[str],
    jobs: int,
    kw: dict[str, Any],
    full_events: Iterable[str] | None,
    app_summary: bool = True,
) -> AnalysisResult:
    rules: RuleSet | None = kw["rules"]
    detection = Detection(rules, kw["intel"], kw["engine"]) if rules is not None else None
    protocols = kw["protocols"]
    wanted = (
        list(protocols) if protocols is not None else decoders_needed(detection, kw["app_report"])
    )
    on_event = kw["on_event"]
    on_flow_end = kw["on_flow_end"]
    share_env = os.environ.get("NETSENTRY_PARENT_SHARE")
    settings = Settings(
        paths,
        rules,
        kw["intel"],
        wanted,
        kw["flow_config"],
        kw["engine"],
        None if on_event is not None and full_events is None else frozenset(full_events or ()),
        app_summary,
        on_flow_end is not None,
        Ownership(jobs, float(share_env) if share_env else PARENT_SHARE),
    )
    context = multiprocessing.get_context("fork")  # workers inherit rules, nothing pickled
    with ExitStack() as stack:
        readers = open_all(paths, stack)  # all or nothing, before any worker starts
        if kw["on_open"] is not None:
            kw["on_open"](readers)
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="netsentry-jobs-"))
        spools = [os.path.join(tmp, f"{i}.jsonl") for i in range(jobs)]
        statuses = [os.path.join(tmp, f"{i}.json") for i in range(jobs)]
        workers = []
        try:
            for me in range(1, jobs):
                process = context.Process(
                    target=_worker, args=(me, settings, spools[me], statuses[me]), daemon=True
                )
                process.start()
                workers.append(process)
            with open(spools[0], "w", buffering=1 << 20, **_ENCODING) as handle:  # type: ignore[call-overload]
                share = run_share(0, settings, readers, handle, detection, kw["progress"])
            parts = [share.status()]
            for me, process in enumerate(workers, 1):
                process.join()
                try:
                    with open(statuses[me], encoding="utf-8") as status:
                        parts.append(json.load(status))
                except (OSError, ValueError) as exc:
                    raise WorkerFailed(
                        f"worker {me} ended without a result (exit code {process.exitcode})"
                    ) from exc
        finally:
            for process in workers:
                if process.is_alive():
                    process.kill()
                    process.join()
        return _merge(share, parts, settings, spools, kw)


def _merge(
    share: Share,
    parts: list[dict[str, Any]],
    settings: Settings,
    spools: list[str],
    kw: dict[str, Any],
) -> AnalysisResult:
    """Replay the merged spools into the hooks; assemble the result as engine.analyze does."""
    apps = AppSummary()
    on_event = kw["on_event"]
    on_finding = kw["on_finding"]
    keep = kw["keep_findings"]
    findings: list[Finding] = []
    count = [0]
    add_event: Callable[[AppEvent], None] = apps.add
    if on_event is not None:
        hook = on_event

        def add_and_report(event: AppEvent) -> None:
            apps.add(event)
            hook(event)

        add_event = add_and_report

    def emit(finding: Finding) -> None:
        count[0] += 1
        if keep:
            findings.append(finding)
        if on_finding is not None:
            on_finding(finding)

    detection = share.detection

    def steps(step: list[Any], finding: Finding) -> bool:
        assert detection is not None
        kind, record, index = step[0], step[1], step[2]
        if kind == "T":
            evidence = detection.threshold.by_record[record][index].step(step[3], step[4], step[5])
            if evidence is None:
                return False
            finding.evidence = evidence
        elif not detection.dga.by_record[record][index].first_report(step[3], step[4]):
            return False
        return not detection.suppression.allows(finding.rule, finding)

    seed = (settings.flow_config or FlowConfig()).community_id_seed
    replay = Replay(
        settings.rules.rules if settings.rules is not None else [],
        seed,
        steps,
        emit,
        add_event,
        kw["on_flow_end"],
    )
    for rec in heapq.merge(*(_records(p) for p in spools)):
        replay.record(rec)
    assert share.summary is not None and share.decoder is not None
    summary = share.summary
    summary.skipped = share.decoder.skipped
    summary.fragments = share.decoder.defrag.counters
    counters = [part["counters"] for part in parts]
    apps.anomalies = merge_counters(c[0] for c in counters)
    apps.flows = merge_counters(c[1] for c in counters)
    findings.sort(key=Finding.sort_key)
    result = AnalysisResult(
        summary, apps, dict(share.flows.counters), findings, decoders=settings.protocols
    )
    result.finding_count = count[0]
    if detection is not None:
        # the workers' counts, and the parent's own (which the replay added to)
        workers = sum(p["suppressed"] for p in parts[1:])
        result.suppressed = workers + sum(detection.suppression.suppressed.values())
        result.detector_errors = dict(merge_counters(c[2] for c in counters))
    return result
