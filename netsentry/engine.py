"""The analysis pass: captures -> frames -> packets -> summary (and, later, detectors).

``analyze()`` is the library entry point behind ``netsentry analyze``; it takes
paths (or ``-`` for stdin), streams every frame once, and returns the result.
Several captures are merged by timestamp into one stream, so a conversation
split across files is seen in order.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import BinaryIO

from netsentry.capture import CaptureReader, Frame, open_capture
from netsentry.decode import Decoder
from netsentry.errors import UsageError
from netsentry.model import Packet
from netsentry.summary import CaptureInfo, Summary

ProgressCallback = Callable[[int], None]
"""Called now and then with the number of input bytes consumed so far."""

PROGRESS_EVERY = 8192  # packets between progress callbacks: cheap, still smooth


@dataclass
class AnalysisResult:
    """Everything one run produced."""

    summary: Summary

    @property
    def damaged(self) -> bool:
        """True when some input was cut short or corrupt (the run is partial)."""
        return any(c.truncated for c in self.summary.captures)


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


def analyze(
    paths: Sequence[str | os.PathLike[str]],
    *,
    stdin: BinaryIO | None = None,
    progress: ProgressCallback | None = None,
    on_open: Callable[[list[CaptureReader]], None] | None = None,
) -> AnalysisResult:
    """Analyze the captures at ``paths`` as one timestamp-ordered stream."""
    summary = Summary()
    decoder = Decoder()
    with ExitStack() as stack:
        readers = open_all(paths, stack, stdin)
        if on_open is not None:
            on_open(readers)
        infos = [CaptureInfo(r.name, r.format, r.compressed, []) for r in readers]
        add = summary.add
        for pkt in packets(readers, decoder, infos, progress):
            add(pkt)
        decoder.defrag.flush()
        for info, reader in zip(infos, readers, strict=True):
            info.linktypes = sorted(reader.linktypes)
            info.truncated = reader.truncated
            info.warnings = list(reader.warnings)
        summary.captures = infos
    summary.skipped = decoder.skipped
    summary.fragments = decoder.defrag.counters
    return AnalysisResult(summary)
