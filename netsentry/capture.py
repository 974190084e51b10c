"""Streaming capture readers: classic pcap, pcapng, gzip of either, files or stdin.

A reader yields raw frames ``(ts_ns, linktype, data, wirelen)`` and never holds
more than one read chunk of the capture in memory. It reads through a large
buffer with :func:`struct.unpack_from` rather than dpkt's per-record reads:
framing is the one thing done for every packet, and this is the cheapest way
Python has to do it.

Damage inside a capture is not an exception. A file cut short, or a record
header whose length cannot be right, ends the stream cleanly; the reason, with
its byte offset, lands in :attr:`CaptureReader.warnings` so the report can show
it, and everything read before it is still analyzed.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import sys
import zlib
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO

from netsentry.errors import CaptureError, NotACaptureError

Frame = tuple[int, int, bytes, int]
"""One captured frame: (timestamp in ns, link type, captured bytes, original length)."""

CHUNK = 1 << 20  # read size; large reads amortize the per-call cost of the file layer

# libpcap refuses records longer than this unless the snaplen says otherwise
# (MAXIMUM_SNAPLEN); a larger length in a record header means the file is damaged.
MAX_RECORD = 262144
# Upper bound we ever accept, whatever the header's snaplen claims (D-Bus allows 128 MiB).
HARD_MAX_RECORD = 128 * 1024 * 1024

LINKTYPE_MASK = 0x03FFFFFF  # the upper bits carry FCS information, not the link type

PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"

# pcapng block types
_SHB = 0x0A0D0D0A
_IDB = 1
_PB = 2  # obsolete Packet Block
_SPB = 3
_EPB = 6


class _Counting(io.RawIOBase):
    """A raw stream that counts the bytes read through it (progress by bytes)."""

    def __init__(self, raw: BinaryIO, head: bytes = b"") -> None:
        self._raw = raw
        self._head = head  # bytes already read to sniff the format, served first
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            out = self._head if size < 0 else self._head[:size]
            self._head = self._head[len(out) :]
            return out
        data = self._raw.read(size)
        self.count += len(data)
        return data


class CaptureReader:
    """Reads one capture (pcap or pcapng, optionally gzip-compressed) as a frame stream.

    Use :func:`open_capture` to make one. ``frames()`` may be iterated once.
    """

    def __init__(
        self, name: str, raw: BinaryIO, size: int | None, *, close_raw: bool = True
    ) -> None:
        self.name = name
        self.size = size  # bytes on disk (compressed size for gzip); None for stdin
        self.warnings: list[str] = []
        self.format = ""
        self.compressed = False
        self.truncated = False
        self.linktypes: set[int] = set()
        self._buf: _Buffer | None = None
        self._raw = raw
        self._close_raw = close_raw
        head = _read_at_least(raw, 4)
        self._counting = _Counting(raw, head)
        self._counting.count = len(head)
        if head[:2] == GZIP_MAGIC:
            self.compressed = True
            stream: gzip.GzipFile = gzip.GzipFile(fileobj=self._counting, mode="rb")
            try:
                head = _read_at_least(stream, 4)
            except (OSError, EOFError, zlib.error) as exc:
                raise CaptureError(f"{name}: damaged gzip data ({exc})") from exc
            self._inner: BinaryIO = _Prefixed(head, stream)  # type: ignore[assignment]
        else:
            self._inner = self._counting  # type: ignore[assignment]
        magic = head[:4]
        if magic in PCAP_MAGIC:
            self.format = "pcap"
        elif magic == PCAPNG_SHB:
            self.format = "pcapng"
        elif not head:
            raise NotACaptureError(f"{name}: empty file, not a pcap or pcapng file")
        else:
            raise NotACaptureError(f"{name}: not a pcap or pcapng file")

    @property
    def bytes_read(self) -> int:
        """Bytes consumed from the underlying file so far (compressed bytes for gzip)."""
        return self._counting.count

    def frames(self) -> Iterator[Frame]:
        """Yield every whole frame; stop cleanly (with a warning) at the first damage."""
        try:
            if self.format == "pcap":
                yield from self._pcap_frames()
            else:
                yield from self._pcapng_frames()
        except (OSError, EOFError, zlib.error) as exc:
            # gzip raises EOFError on a cut-off member and BadGzipFile on garbage.
            self._read_error(exc)
            return
        # _Buffer keeps a read error to itself so the whole records read before it
        # are still yielded (a truncated .gz used to lose its whole last chunk).
        if self._buf is not None and self._buf.error is not None:
            self._read_error(self._buf.error)

    def _read_error(self, exc: BaseException) -> None:
        self.truncated = True
        self.warnings.append(f"{self.name}: read error after {self.bytes_read} bytes: {exc}")

    # -- classic pcap -------------------------------------------------------------

    def _pcap_frames(self) -> Iterator[Frame]:
        buf = self._buf = _Buffer(self._inner)
        if not buf.ensure(24):
            self._warn_truncated("the pcap file header", 0, 24, buf.available())
            return
        header = buf.take(24)
        endian, ns_per_tick = PCAP_MAGIC[header[:4]]
        major, minor, _zone, _sigfigs, snaplen, linktype_field = struct.unpack(
            endian + "HHiIII", header[4:24]
        )
        linktype = linktype_field & LINKTYPE_MASK
        self.linktypes.add(linktype)
        limit = max(MAX_RECORD, min(snaplen, HARD_MAX_RECORD))
        # Before format 2.3 the caplen and len fields were written the other way round;
        # in 2.3 some writers still did, so swap when caplen > len (as libpcap does).
        swapped = major < 2 or (major == 2 and minor < 3)
        maybe_swapped = major == 2 and minor == 3
        rec = struct.Struct(endian + "IIII")
        unpack_from = rec.unpack_from
        offset = 24  # byte offset in the (decompressed) capture, for messages
        while True:
            data_buf, pos = buf.data, buf.pos
            if len(data_buf) - pos < 16:
                if not buf.ensure(16):
                    if buf.available():
                        self._warn_truncated("a record header", offset, 16, buf.available())
                    return
                data_buf, pos = buf.data, buf.pos
            sec, frac, incl, orig = unpack_from(data_buf, pos)
            if swapped or (maybe_swapped and incl > orig):
                incl, orig = orig, incl
            if incl > limit:
                self.truncated = True
                self.warnings.append(
                    f"{self.name}: corrupt record at byte offset {offset}: captured length "
                    f"{incl} exceeds the limit of {limit} bytes; stopped reading"
                )
                return
            end = pos + 16 + incl
            if end > len(data_buf):
                if not buf.ensure(16 + incl):
                    self._warn_truncated("a record", offset, 16 + incl, buf.available())
                    return
                data_buf, pos = buf.data, buf.pos
                end = pos + 16 + incl
            buf.pos = end
            offset += 16 + incl
            ts = sec * 1_000_000_000 + frac * ns_per_tick
            yield (ts, linktype, data_buf[pos + 16 : end], orig)

    # -- pcapng -------------------------------------------------------------------

    def _pcapng_frames(self) -> Iterator[Frame]:
        buf = self._buf = _Buffer(self._inner)
        offset = 0
        endian = "<"
        # per interface of the current section: (linktype, (multiplier, divisor) to ns, offset ns)
        interfaces: list[tuple[int, int, int, int]] = []
        last_ts = 0  # simple packet blocks carry no timestamp: reuse the previous one
        while True:
            if not buf.ensure(12):
                if buf.available():
                    self._warn_truncated("a block header", offset, 12, buf.available())
                return
            head = bytes(buf.data[buf.pos : buf.pos + 12])
            if head[:4] == PCAPNG_SHB:
                bom = head[8:12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    self._corrupt(offset, "section header with an unknown byte-order magic")
                    return
                interfaces = []  # a new section starts a new interface table
            btype, blen = struct.unpack(endian + "II", head[:8])
            if blen < 12 or blen % 4 or blen > HARD_MAX_RECORD:
                self._corrupt(offset, f"block length {blen} is invalid")
                return
            if not buf.ensure(blen):
                self._warn_truncated(f"block type {btype:#x}", offset, blen, buf.available())
                return
            block = buf.take(blen)
            trailer = struct.unpack(endian + "I", block[-4:])[0]
            if trailer != blen:
                self._corrupt(offset, f"block length {blen} does not match its trailer {trailer}")
                return
            body = block[8:-4]
            if btype == _IDB:
                interfaces.append(_parse_idb(body, endian))
                self.linktypes.add(interfaces[-1][0])
            elif btype in (_EPB, _PB):
                if btype == _EPB:
                    if len(body) < 20:
                        self._corrupt(offset, "enhanced packet block too short")
                        return
                    iface, ts_hi, ts_lo, incl, orig = struct.unpack(endian + "IIIII", body[:20])
                else:
                    if len(body) < 20:
                        self._corrupt(offset, "packet block too short")
                        return
                    iface, _drops, ts_hi, ts_lo, incl, orig = struct.unpack(
                        endian + "HHIIII", body[:20]
                    )
                if iface >= len(interfaces):
                    self._corrupt(offset, f"packet names interface {iface}, which is not defined")
                    return
                if incl > len(body) - 20:
                    self._corrupt(offset, f"captured length {incl} exceeds its block")
                    return
                linktype, mul, div, ts_off = interfaces[iface]
                ticks = (ts_hi << 32) | ts_lo
                ts = last_ts = ticks * mul // div + ts_off
                yield (ts, linktype, body[20 : 20 + incl], orig)
            elif btype == _SPB:
                if not interfaces:
                    self._corrupt(offset, "simple packet block before any interface")
                    return
                if len(body) < 4:  # a 12-byte block has no length field: struct.error
                    self._corrupt(offset, "simple packet block too short")
                    return
                (orig,) = struct.unpack(endian + "I", body[:4])
                linktype = interfaces[0][0]
                yield (last_ts, linktype, body[4 : 4 + min(orig, len(body) - 4)], orig)
            # other blocks (name resolution, statistics, custom, ...) carry no packets
            offset += blen

    # -- shared helpers -------------------------------------------------------------

    def _warn_truncated(self, what: str, offset: int, needed: int, available: int) -> None:
        if self._buf is not None and self._buf.error is not None:
            return  # the data ended because of a read error; frames() reports that instead
        self.truncated = True
        self.warnings.append(
            f"{self.name}: file truncated in {what} at byte offset {offset} "
            f"({available} of {needed} bytes present); analyzed everything before it"
        )

    def _corrupt(self, offset: int, why: str) -> None:
        self.truncated = True
        self.warnings.append(
            f"{self.name}: corrupt block at byte offset {offset}: {why}; stopped reading"
        )

    def close(self) -> None:
        """Release the underlying file (not stdin)."""
        if self._close_raw:
            self._raw.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _parse_idb(body: bytes, endian: str) -> tuple[int, int, int, int]:
    """Interface description: link type and how to turn its timestamp ticks into ns."""
    linktype = struct.unpack(endian + "H", body[:2])[0] if len(body) >= 2 else 0
    tsresol = 6
    tsoffset = 0
    pos = 8
    while pos + 4 <= len(body):
        code, length = struct.unpack(endian + "HH", body[pos : pos + 4])
        value = body[pos + 4 : pos + 4 + length]
        if code == 0 or len(value) < length:
            break  # end of options, or an option cut off by the block end (value[0] would raise)
        if code == 9 and length >= 1:  # if_tsresol
            tsresol = value[0]
        elif code == 14 and length >= 8:  # if_tsoffset, seconds
            tsoffset = struct.unpack(endian + "q", value[:8])[0] * 1_000_000_000
        pos += 4 + ((length + 3) & ~3)
    if tsresol & 0x80:  # a power of two
        mul, div = 1_000_000_000, 1 << (tsresol & 0x7F)
    elif tsresol <= 9:
        mul, div = 10 ** (9 - tsresol), 1
    else:
        mul, div = 1, 10 ** (tsresol - 9)
    return linktype & LINKTYPE_MASK, mul, div, tsoffset


class _Buffer:
    """A growable read buffer over a stream: whole records are sliced out of it."""

    __slots__ = ("data", "eof", "error", "pos", "stream")

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.data = b""
        self.pos = 0
        self.eof = False
        # A read error ends the data like EOF, but what was read before it is kept.
        self.error: BaseException | None = None

    def available(self) -> int:
        return len(self.data) - self.pos

    def ensure(self, n: int) -> bool:
        """Make ``n`` bytes available from ``pos``; False when the stream ends first."""
        if len(self.data) - self.pos >= n:
            return True
        parts = [self.data[self.pos :]]
        have = len(parts[0])
        while have < n and not self.eof:
            try:
                chunk = self.stream.read(max(CHUNK, n - have))
            except (OSError, EOFError, zlib.error) as exc:
                # Raising here would drop the parts already read in this loop.
                self.error = exc
                self.eof = True
                break
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self.data = b"".join(parts)
        self.pos = 0
        return have >= n

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


class _Prefixed(io.RawIOBase):
    """Serve some already-read bytes, then the rest of a stream."""

    def __init__(self, head: bytes, stream: BinaryIO | gzip.GzipFile) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        if isinstance(self._stream, gzip.GzipFile):
            # read1: GzipFile.read(n) loops inside its BufferedReader and discards
            # everything decompressed so far when a cut-off member raises EOFError.
            return self._stream.read1(size)
        return self._stream.read(size)


def _read_at_least(stream: BinaryIO | gzip.GzipFile, n: int) -> bytes:
    """Read up to ``n`` bytes, looping over short reads (pipes give what they have)."""
    parts: list[bytes] = []
    have = 0
    while have < n:
        chunk = stream.read(n - have)
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def open_capture(source: str | os.PathLike[str], *, stdin: BinaryIO | None = None) -> CaptureReader:
    """Open a capture by path, or standard input for ``-``; raise CaptureError if unreadable."""
    name = os.fspath(source)
    if name == "-":
        raw = stdin if stdin is not None else sys.stdin.buffer
        return CaptureReader("<stdin>", raw, None, close_raw=False)
    try:
        if os.path.isdir(name):
            raise CaptureError(f"{name}: is a directory, not a capture file")
        f = open(name, "rb")  # noqa: SIM115 - the reader owns and closes it
    except FileNotFoundError as exc:
        raise CaptureError(f"{name}: no such file") from exc
    except PermissionError as exc:
        raise CaptureError(f"{name}: permission denied") from exc
    except OSError as exc:
        raise CaptureError(f"{name}: cannot open ({exc.strerror or exc})") from exc
    try:
        size = os.fstat(f.fileno()).st_size
        return CaptureReader(name, f, size)
    except BaseException:
        f.close()
        raise
