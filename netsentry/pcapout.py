"""Alert pcap extraction (``--pcap-out``): every packet of every flow that raised a finding.

Which flows alerted is known only once the analysis has seen them, and holding
every packet of every flow until then would make memory grow with the capture.
So the extraction is a second, cheap pass over the same input: frames are decoded
again and put through a fresh flow table with the same configuration, which
assigns them to exactly the same flows (decoding and flow tracking are
deterministic), and the frames of the flows the first pass marked are copied
out with their original bytes, link type and nanosecond timestamps. No
application decoding, no detection: the second pass costs a fraction of the first.

Standard input cannot be read twice: :class:`Spool` copies it to a temporary
file while the first pass reads it (disk, not memory), and the second pass reads
that file.

Output format: classic pcap with nanosecond timestamps when every frame has the
same link type (what most tools read), pcapng otherwise (one interface per link
type).

An IP datagram reassembled from fragments belongs to its flow with every fragment:
all of them are written, in capture order, although the flow table counted the
datagram once (as the frame that completed it). Which flow a fragment belongs to is
known only when its datagram completes, so :class:`_InOrder` holds fragment frames,
and the flow's frames captured after them, until then; a datagram that can no longer
complete (timed out, evicted, input ended) releases its fragments unwritten. What is
held is bounded by the reassembly limits (60 s of capture time, 4096 datagrams).
"""

from __future__ import annotations

import io
import os
import struct
from collections import deque
from collections.abc import Collection, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import BinaryIO

from netsentry.capture import Frame
from netsentry.decode import Decoder
from netsentry.engine import merged_frames, open_all
from netsentry.flows import FlowConfig, FlowKey, FlowTable
from netsentry.fragments import Defragmenter

FragmentKey = tuple[bytes, bytes, int, int]

PCAP_NS_MAGIC = 0xA1B23C4D
SNAPLEN = 262_144


class Spool(io.RawIOBase):
    """A readable stream that copies everything read from ``raw`` into ``copy``."""

    def __init__(self, raw: BinaryIO, copy: BinaryIO) -> None:
        self._raw = raw
        self._copy = copy

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if data:
            self._copy.write(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        n = len(data)
        memoryview(buffer)[:n] = data
        return n


class PcapWriter:
    """Classic pcap, nanosecond timestamps, one link type."""

    def __init__(self, out: BinaryIO, linktype: int) -> None:
        self.out = out
        out.write(struct.pack("<IHHiIII", PCAP_NS_MAGIC, 2, 4, 0, 0, SNAPLEN, linktype))

    def write(self, ts: int, linktype: int, data: bytes, wirelen: int) -> None:
        seconds, ns = divmod(ts, 1_000_000_000)
        self.out.write(struct.pack("<IIII", seconds & 0xFFFFFFFF, ns, len(data), wirelen))
        self.out.write(data)


def _pad(n: int) -> int:
    return (4 - n % 4) % 4


class PcapngWriter:
    """pcapng: a section header, then an interface (ns resolution) per link type as met."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.interfaces: dict[int, int] = {}
        shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        self._block(0x0A0D0D0A, shb)

    def _block(self, kind: int, body: bytes) -> None:
        total = 12 + len(body)
        self.out.write(struct.pack("<II", kind, total) + body + struct.pack("<I", total))

    def _interface(self, linktype: int) -> int:
        index = self.interfaces.get(linktype)
        if index is None:
            # option if_tsresol (9) = 9: nanoseconds; then opt_endofopt
            options = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
            self._block(1, struct.pack("<HHI", linktype, 0, SNAPLEN) + options)
            index = self.interfaces[linktype] = len(self.interfaces)
        return index

    def write(self, ts: int, linktype: int, data: bytes, wirelen: int) -> None:
        index = self._interface(linktype)
        body = struct.pack(
            "<IIIII", index, (ts >> 32) & 0xFFFFFFFF, ts & 0xFFFFFFFF, len(data), wirelen
        )
        self._block(6, body + data + b"\x00" * _pad(len(data)))


@dataclass(slots=True)
class _Held:
    """A frame waiting to be written (or dropped) in capture order."""

    frame: Frame
    key: FragmentKey | None  # the datagram of a fragment; None for a whole packet
    keep: bool | None  # None: the fragment's datagram is not complete yet


class _InOrder:
    """Writes the kept frames in capture order while fragments wait for their datagram.

    A whole packet of a wanted flow is written at once unless a fragment captured
    before it is still undecided; then it queues behind it. A fragment is decided
    when its datagram completes (kept if the datagram's flow is wanted) or can no
    longer complete: the reassembler no longer holds it, or it is older than the
    reassembly timeout.
    """

    def __init__(self, writer: PcapWriter | PcapngWriter, defrag: Defragmenter) -> None:
        self.writer = writer
        self.defrag = defrag
        self.queue: deque[_Held] = deque()
        self.by_key: dict[FragmentKey, list[_Held]] = {}
        self.written = 0

    def fragment(self, frame: Frame, key: FragmentKey) -> None:
        """A fragment its datagram still waits for: held until the datagram is decided."""
        held = _Held(frame, key, None)
        self.queue.append(held)
        self.by_key.setdefault(key, []).append(held)

    def packet(self, frame: Frame, keep: bool, completed: FragmentKey | None) -> None:
        """A whole packet (or the fragment that ``completed`` a datagram) of a flow."""
        if completed is not None:
            self._decide(completed, keep)
        if keep:
            if self.queue:
                self.queue.append(_Held(frame, None, True))
            else:
                self._write(frame)
        self._drain(frame[0])

    def finish(self) -> None:
        """End of input: datagrams still incomplete never will be."""
        for key in list(self.by_key):
            self._decide(key, False)
        self._drain(None)

    def _decide(self, key: FragmentKey, keep: bool) -> None:
        for held in self.by_key.pop(key, ()):
            held.keep = keep

    def _drain(self, now: int | None) -> None:
        queue = self.queue
        while queue:
            head = queue[0]
            if head.keep is None:
                assert head.key is not None
                first = self.by_key[head.key][0].frame[0]
                if now is not None and self.defrag.holds(head.key) and (
                    now - first <= self.defrag.timeout_ns
                ):
                    return  # its datagram may still complete
                self._decide(head.key, False)
            queue.popleft()
            if head.keep:
                self._write(head.frame)

    def _write(self, frame: Frame) -> None:
        self.writer.write(*frame)
        self.written += 1


def extract_flows(
    paths: Sequence[str | os.PathLike[str]],
    wanted: Collection[tuple[FlowKey, int]],
    out: BinaryIO,
    linktypes: Collection[int],
    flow_config: FlowConfig | None = None,
) -> int:
    """Copy every frame of the ``wanted`` flows (``(key, first_ts)``) to ``out``; return count.

    ``linktypes`` are those of the input (the first pass knows them): one means a
    classic pcap, several a pcapng.
    """
    kinds = sorted(set(linktypes))
    writer: PcapWriter | PcapngWriter
    writer = PcapWriter(out, kinds[0]) if len(kinds) == 1 else PcapngWriter(out)
    if not wanted:
        return 0
    decoder = Decoder()
    defrag = decoder.defrag
    flows = FlowTable(flow_config)
    order = _InOrder(writer, defrag)
    with ExitStack() as stack:
        readers = open_all(paths, stack)
        for num, (_reader, frame) in enumerate(merged_frames(readers), 1):
            ts, linktype, data, wirelen = frame
            defrag.last_key = None
            pkt = decoder.decode(num, ts, linktype, data, wirelen)
            fragment_of = defrag.last_key  # set when this frame was an IP fragment
            if pkt.fragment:
                if fragment_of is not None:
                    order.fragment(frame, fragment_of)
                continue
            if not pkt.family:
                continue
            flow, _direction = flows.lookup(pkt)
            keep = (flow.key, flow.first_ts) in wanted
            if keep or fragment_of is not None or order.queue:
                order.packet(frame, keep, fragment_of)
        order.finish()
    return order.written
