"""IPv4 and IPv6 fragment reassembly with bounded memory and capture-time timeouts.

Fragments are keyed by (source, destination, protocol, identification) as the
RFCs say. A datagram is complete when its pieces cover every byte from 0 to the
end the last fragment (the one without "more fragments") announces. Overlapping
pieces are resolved "first data wins" and counted, since overlaps are the
classic IDS-evasion trick. Memory is bounded three ways: a timeout in capture
time, a maximum number of datagrams in flight, and a maximum number of buffered
bytes; whatever is dropped is counted, never silently lost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

MAX_DATAGRAM = 65535  # an IP datagram cannot be larger; fragments beyond it are hostile


@dataclass(slots=True)
class _Pending:
    """Pieces of one datagram waiting for the rest."""

    first_ts: int
    pieces: dict[int, bytes] = field(default_factory=dict)  # offset -> data
    size: int = 0  # bytes buffered
    end: int = -1  # total payload length once the last fragment was seen
    proto: int = -1  # upper protocol, known from the fragment at offset 0


class Defragmenter:
    """Collects IP fragments and hands back whole datagram payloads.

    ``add()`` returns ``(proto, payload)`` when a fragment completes its datagram,
    else None. ``counters`` says what happened: reassembled, overlaps, timeouts,
    evictions, oversize.
    """

    def __init__(
        self,
        *,
        timeout_ns: int = 60 * 1_000_000_000,
        max_datagrams: int = 4096,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.timeout_ns = timeout_ns
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.counters: Counter[str] = Counter()
        self._pending: dict[tuple[bytes, bytes, int, int], _Pending] = {}  # oldest first
        self._bytes = 0
        # The datagram of the last fragment added: --pcap-out's second pass (pcapout.py)
        # ties each fragment frame to the datagram it helped reassemble through it.
        self.last_key: tuple[bytes, bytes, int, int] | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def holds(self, key: tuple[bytes, bytes, int, int]) -> bool:
        """True while the datagram ``key`` is incomplete and still buffered."""
        return key in self._pending

    @property
    def buffered_bytes(self) -> int:
        """Bytes currently held in incomplete datagrams."""
        return self._bytes

    def add(
        self,
        ts: int,
        key: tuple[bytes, bytes, int, int],
        offset: int,
        more: bool,
        proto: int,
        data: bytes,
    ) -> tuple[int, bytes] | None:
        """Add one fragment (payload ``data`` at byte ``offset``); return a completed datagram."""
        self.last_key = key
        self._expire(ts)
        if offset + len(data) > MAX_DATAGRAM:
            self.counters["oversize"] += 1
            self._drop(key)
            return None
        entry = self._pending.get(key)
        if entry is None:
            if len(self._pending) >= self.max_datagrams:
                self._evict_oldest()
            entry = _Pending(ts)
            self._pending[key] = entry
        if offset == 0:
            entry.proto = proto
        if not more:
            if entry.end >= 0 and entry.end != offset + len(data):
                self.counters["conflicting_end"] += 1
            if entry.end < 0:
                entry.end = offset + len(data)
        added = self._insert(entry, offset, data)
        entry.size += added
        self._bytes += added
        while self._bytes > self.max_bytes and self._pending:
            self._evict_oldest()
        if key not in self._pending:
            return None
        return self._complete(key, entry)

    def _insert(self, entry: _Pending, offset: int, data: bytes) -> int:
        """Store the bytes of ``data`` no earlier fragment covered; return how many.

        Pieces are kept disjoint so that "first data wins" holds by arrival order
        whatever the offsets. (Trimming only against a piece at the same offset let
        a longer retransmission overwrite a later piece and double-count its bytes,
        and let a later fragment at a lower offset win over earlier data.)
        """
        stop = offset + len(data)
        hits = sorted((o, p) for o, p in entry.pieces.items() if o < stop and o + len(p) > offset)
        if not hits:
            if data:
                entry.pieces[offset] = data
            return len(data)
        differs = False
        added = 0
        pos = offset  # first byte of data not yet stored or compared
        for o, p in hits:
            lo, hi = max(o, offset), min(o + len(p), stop)
            if p[lo - o : hi - o] != data[lo - offset : hi - offset]:
                differs = True
            if lo > pos:
                entry.pieces[pos] = data[pos - offset : lo - offset]
                added += lo - pos
            pos = max(pos, hi)
        if pos < stop:
            entry.pieces[pos] = data[pos - offset :]
            added += stop - pos
        if differs:
            self.counters["overlap_differs"] += 1
        if added == 0 and not differs:
            self.counters["duplicate"] += 1  # a plain retransmission of data we hold
        else:
            self.counters["overlap"] += 1
        return added

    def _complete(
        self, key: tuple[bytes, bytes, int, int], entry: _Pending
    ) -> tuple[int, bytes] | None:
        if entry.end < 0 or entry.proto < 0:
            return None
        parts: list[bytes] = []
        pos = 0
        for off in sorted(entry.pieces):  # disjoint, see _insert
            if off > pos:
                return None  # a hole: wait for more
            piece = entry.pieces[off]
            parts.append(piece)
            pos += len(piece)
            if pos >= entry.end:
                break
        if pos < entry.end:
            return None
        self._drop(key)
        self.counters["reassembled"] += 1
        return entry.proto, b"".join(parts)[: entry.end]

    def _drop(self, key: tuple[bytes, bytes, int, int]) -> None:
        entry = self._pending.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size

    def _evict_oldest(self) -> None:
        key = next(iter(self._pending))
        self._drop(key)
        self.counters["evicted"] += 1

    def _expire(self, ts: int) -> None:
        pending = self._pending
        while pending:
            key = next(iter(pending))
            if ts - pending[key].first_ts <= self.timeout_ns:
                return
            self._drop(key)
            self.counters["timed_out"] += 1

    def flush(self) -> None:
        """Give up on every incomplete datagram (end of input), counting them."""
        n = len(self._pending)
        if n:
            self.counters["incomplete_at_end"] += n
        self._pending.clear()
        self._bytes = 0
