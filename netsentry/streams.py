"""TCP stream reassembly for one direction of a flow.

Delivers the byte stream in order, whatever order segments arrived in:
out-of-order segments wait in a bounded buffer, retransmissions are dropped,
overlaps are resolved "first data wins" (as Suricata's default policy on most
targets) and counted when the bytes differ — the signature of an evasion
attempt. A hole that cannot be filled (the buffer is full, the peer
acknowledged past it, or the flow ended) is skipped and reported as a gap so the
application parser can resynchronize. Delivery stops at a depth limit, like
Suricata's ``stream.reassembly.depth``.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import Counter

MASK = 0xFFFFFFFF
HALF = 0x80000000
TAIL = 2048  # delivered bytes kept to compare retransmissions against


class Stream:
    """Reassembles one direction; ``add`` returns in-order chunks and gaps to deliver.

    Output items are ``bytes`` (data) or ``int`` (a gap of that many bytes).
    """

    __slots__ = (
        "anomalies",
        "base",
        "depth",
        "done",
        "max_ooo",
        "next",
        "ooo",
        "ooo_bytes",
        "starts",
        "tail",
    )

    def __init__(self, anomalies: Counter[str], depth: int, max_ooo: int) -> None:
        self.anomalies = anomalies
        self.depth = depth  # bytes delivered at most; 0 = unlimited
        self.max_ooo = max_ooo  # bytes buffered out of order at most
        self.base: int | None = None  # sequence number of stream offset 0
        self.next = 0  # stream offset of the next byte to deliver
        self.ooo: dict[int, bytes] = {}  # offset -> data, waiting for the hole before it
        self.ooo_bytes = 0
        # The keys of ``ooo`` in order: finding the first buffered segment or the ones a
        # new segment overlaps used to scan the whole dict (min()), quadratic in the
        # number of buffered segments (seconds for 20,000 one-byte segments).
        self.starts: list[int] = []
        self.tail = b""  # the last delivered bytes (for overlap comparison)
        self.done = False  # depth reached: nothing more is delivered

    def syn(self, seq: int) -> None:
        """A SYN fixes the initial sequence number (data starts at seq + 1)."""
        if self.base is None:
            self.base = (seq + 1) & MASK

    def add(self, seq: int, data: bytes) -> list[bytes | int]:
        """Add a segment's payload; return what became deliverable, in order."""
        if self.done or not data:
            return []
        if self.base is None:
            self.base = seq  # picked up mid-stream: this segment starts the stream
        nxt = self.next
        # Offset relative to the next expected byte, not to the ISN: measured from the
        # ISN, a stream longer than 2 GiB (depth 0 = unlimited) wrapped and its new data
        # was taken for old retransmissions.
        rel = (seq - self.base - nxt) & MASK
        if rel >= HALF:
            rel -= 1 << 32  # before the next expected byte: (partly) old data
        rel += nxt
        end = rel + len(data)
        if end <= nxt:
            self._compare_delivered(rel, data)
            self.anomalies["tcp: retransmission"] += 1
            return []
        if rel < nxt:
            self._compare_delivered(rel, data[: nxt - rel])
            data = data[nxt - rel :]
            rel = nxt
        if rel > nxt:
            self._buffer(rel, data)
            # Skip holes until the buffer is back under its limit: skipping only the
            # first one let small runs behind several holes grow the buffer unbounded.
            skipped: list[bytes | int] = []
            while self.ooo_bytes > self.max_ooo and self.ooo:
                skipped.extend(self._skip_to_buffered())
            return skipped
        out: list[bytes | int] = []
        if self.ooo:
            # In order, but its end may overlap buffered data that came first: buffer
            # it too so first data wins there as well (it used to overwrite it).
            self._buffer(rel, data)
            self._drain(out)
        else:
            out.append(data)
            self.next = end
        return self._deliver(out)

    def acked(self, ack: int) -> list[bytes | int]:
        """The peer acknowledged up to ``ack``: a hole below it will never be filled."""
        if self.base is None or not self.ooo or self.done:
            return []
        dist = (ack - self.base - self.next) & MASK  # relative to next, as in add()
        if dist >= HALF or dist == 0:
            return []
        rel = self.next + dist
        if self.starts[0] <= rel:
            return self._skip_to_buffered()
        return []

    def flush(self) -> list[bytes | int]:
        """End of flow: deliver whatever is buffered, with gaps for the holes."""
        out: list[bytes | int] = []
        while self.ooo and not self.done:
            out.extend(self._skip_to_buffered())
        return out

    # -- internals ------------------------------------------------------------------

    def _buffer(self, rel: int, data: bytes) -> None:
        """Buffer the parts of a segment not buffered yet: first data wins.

        Compared against every buffered segment it overlaps, not only one at the same
        offset: before, a segment starting earlier than buffered data replaced it when
        drained (last data wins, uncounted), and a longer same-offset duplicate could
        overwrite the buffered segment after it. Buffered segments never overlap.
        """
        ooo, starts = self.ooo, self.starts
        end = rel + len(data)
        i = bisect_right(starts, rel)
        if i and starts[i - 1] + len(ooo[starts[i - 1]]) > rel:
            i -= 1  # the segment before rel reaches into the new data
        pos = rel  # stream offset from which the new data is still uncovered
        pieces: list[tuple[int, bytes]] = []
        differs = False
        while i < len(starts) and starts[i] < end:
            start = starts[i]
            old = ooo[start]
            lo, hi = max(start, rel), min(start + len(old), end)
            if data[lo - rel : hi - rel] != old[lo - start : hi - start]:
                differs = True
            if start > pos:
                pieces.append((pos, data[pos - rel : start - rel]))
            pos = max(pos, start + len(old))
            i += 1
        if pos < end:
            pieces.append((pos, data[pos - rel :]))
        for start, piece in pieces:
            ooo[start] = piece
            insort(starts, start)
            self.ooo_bytes += len(piece)
        if differs:
            self.anomalies["tcp: overlap with different data"] += 1

    def _drain(self, out: list[bytes | int]) -> None:
        """Append buffered segments that now continue the stream.

        Buffered segments never overlap each other and all start after ``next``, so
        each one drained starts exactly at ``next`` (_buffer guarantees it).
        """
        ooo, starts = self.ooo, self.starts
        i = 0
        while i < len(starts) and starts[i] == self.next:
            data = ooo.pop(starts[i])
            self.ooo_bytes -= len(data)
            out.append(data)
            self.next += len(data)
            i += 1
        del starts[:i]

    def _skip_to_buffered(self) -> list[bytes | int]:
        """Give up on the hole before the first buffered segment and continue after it."""
        start = self.starts[0]
        out: list[bytes | int] = []
        if start > self.next:
            out.append(start - self.next)
            self.anomalies["tcp: gap"] += 1
            self.next = start
            self.tail = b""
        self._drain(out)
        return self._deliver(out)

    def _deliver(self, out: list[bytes | int]) -> list[bytes | int]:
        """Apply the depth limit and remember the tail for overlap checks."""
        if self.depth and self.next >= self.depth:
            # trim what crosses the limit; stream offsets past depth are never delivered
            excess = self.next - self.depth
            while excess > 0 and out:
                last = out[-1]
                size = last if isinstance(last, int) else len(last)
                if size <= excess:
                    out.pop()
                    excess -= size
                else:
                    out[-1] = last - excess if isinstance(last, int) else last[: size - excess]
                    excess = 0
            self.done = True
            self.ooo.clear()
            self.starts.clear()
            self.ooo_bytes = 0
            self.anomalies["tcp: reassembly depth reached"] += 1
        # Every delivered chunk goes into the tail (only the last two did, which
        # misaligned it after a drained run and flagged identical retransmissions).
        tail = self.tail
        chunks: list[bytes] = []
        for item in out:
            if isinstance(item, int):
                tail, chunks = b"", []  # a gap: nothing before it is contiguous
            else:
                chunks.append(item)
        if chunks:
            tail = (tail + b"".join(chunks)[-TAIL:])[-TAIL:]
        self.tail = tail
        return out

    def _compare_delivered(self, rel: int, data: bytes) -> None:
        """Count a retransmission whose bytes differ from what was delivered (evasion)."""
        tail_start = self.next - len(self.tail)
        lo = max(rel, tail_start)
        hi = min(rel + len(data), self.next)
        if lo >= hi:
            return
        if data[lo - rel : hi - rel] != self.tail[lo - tail_start : hi - tail_start]:
            self.anomalies["tcp: overlap with different data"] += 1
