"""The bounded line layer every text protocol decoder reads through (FTP, SMTP, POP3, IMAP...).

:class:`LineSplitter` holds the unread bytes of one direction and hands them out
as lines (``LF`` ends a line; one ``CR`` before it is dropped), or as raw runs
for the parts of a protocol that are not lines: an SMTP message body up to its
lone ``.`` line, an IMAP literal of ``n`` bytes, the binary SSH packets after the
banner. All searching is done with ``bytes.find``, never byte by byte.

Bounds: a line longer than ``max_line`` is cut to its first ``max_line`` bytes
(counted once as ``"<proto>: line too long"``) and the rest of it is dropped as it
arrives, so an unfinished line never holds more than ``max_line`` bytes between
two :meth:`LineSplitter.push` calls. A decoder that stops reading lines for a
while (SMTP holding client commands until the server's verdict) checks
:attr:`LineSplitter.pending` against ``limits.max_pending`` itself.

Also here: :func:`text`, the one way these decoders turn protocol bytes into the
``str`` values of records, and :func:`auth_event`, the login-outcome record they
all emit.
"""

from __future__ import annotations

from collections import Counter

from netsentry.protocols.base import TO_CLIENT, AppEvent, anomaly

TEXT_MAX = 512
"""Characters kept of a server reply or other free text copied into a record."""


def text(raw: bytes | bytearray, limit: int = TEXT_MAX) -> str:
    """Protocol bytes as a record string: UTF-8 (bad bytes replaced), at most ``limit`` chars."""
    return bytes(raw[: limit * 4]).decode("utf-8", "replace")[:limit]


def auth_event(
    service: str,
    user: str | None,
    result: str,
    reply: str | None = None,
    direction: int = TO_CLIENT,
) -> AppEvent:
    """One login outcome: ``proto="auth"``, ``record={"service", "user", "result"}``.

    ``result`` is ``"success"``, ``"failure"`` or ``"attempt"`` (credentials went
    out but no verdict was seen). Server-decided outcomes travel ``TO_CLIENT`` and
    carry the server's reply line in ``extra["reply"]``.
    """
    extra: dict[str, object] = {} if reply is None else {"reply": reply}
    return AppEvent(
        "auth",
        {"service": service, "user": user, "result": result},
        direction=direction,
        extra=extra,
    )


class LineSplitter:
    """Cuts one direction of a text protocol into lines, with bounded memory.

    Feed bytes with :meth:`push`, then pull lines with :meth:`next_line` until it
    returns ``None``. Between lines the owner may switch to raw reading with
    :meth:`take`, :meth:`skip`, :meth:`skip_to_line` or :meth:`take_all`.
    """

    __slots__ = ("_anomalies", "_buf", "_drop", "_head", "_max", "_pos", "_proto", "bol")

    def __init__(self, max_line: int, anomalies: Counter[str], proto: str) -> None:
        self._buf = bytearray()
        self._pos = 0  # first unread byte of _buf
        self._max = max(1, max_line)
        self._head: bytes | None = None  # kept start of an overlong line being dropped
        self._drop = False  # dropping up to the next LF (after a gap)
        self._anomalies = anomalies
        self._proto = proto
        self.bol = True  # the next unread byte starts a line

    @property
    def pending(self) -> int:
        """Bytes received and not yet handed out (or dropped)."""
        return len(self._buf) - self._pos

    def push(self, data: bytes) -> None:
        """Append the next in-order bytes of this direction."""
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_line(self) -> bytes | None:
        """The next complete line without its ``LF``/``CRLF``, or ``None`` if none is complete.

        A line longer than ``max_line`` comes back cut to ``max_line`` bytes.
        """
        buf = self._buf
        pos = self._pos
        end = buf.find(b"\n", pos)
        if self._drop:  # the rest of a line cut by a gap: drop it, unreported
            if end < 0:
                self._pos = len(buf)
                return None
            self._drop = False
            pos = self._pos = end + 1
            end = buf.find(b"\n", pos)
        if self._head is not None:
            if end < 0:
                self._pos = len(buf)  # still inside the overlong line: drop it
                return None
            line = self._head
            self._head = None
        elif end < 0:
            if len(buf) - pos > self._max:
                self._head = bytes(buf[pos : pos + self._max])
                self._pos = len(buf)
                anomaly(self._anomalies, self._proto, "line too long")
            return None
        else:
            stop = end - 1 if end > pos and buf[end - 1] == 0x0D else end
            if stop - pos > self._max:
                anomaly(self._anomalies, self._proto, "line too long")
                stop = pos + self._max
            line = bytes(buf[pos:stop])
        self._pos = end + 1
        self.bol = True
        return line

    def partial(self) -> bytes:
        """The unfinished line received so far (at most ``max_line`` bytes), not consumed."""
        if self._head is not None:
            return self._head
        if self._drop:
            return b""
        return bytes(self._buf[self._pos : self._pos + self._max])

    def take(self, n: int) -> bytes:
        """Consume and return up to ``n`` raw bytes (fewer when fewer are buffered)."""
        self._drop = False
        start = self._pos
        stop = min(len(self._buf), start + max(0, n))
        self._pos = stop
        if stop > start:
            self.bol = self._buf[stop - 1] == 0x0A
        return bytes(self._buf[start:stop])

    def skip(self, n: int) -> int:
        """Consume up to ``n`` raw bytes without copying them; return how many were consumed."""
        self._drop = False
        start = self._pos
        stop = min(len(self._buf), start + max(0, n))
        self._pos = stop
        if stop > start:
            self.bol = self._buf[stop - 1] == 0x0A
        return stop - start

    def take_all(self) -> bytes:
        """Consume and return every buffered byte (a partial line included)."""
        rest = bytes(self._buf[self._pos :])
        self._head = None
        self._drop = False
        self._buf.clear()
        self._pos = 0
        return rest

    def skip_to_line(self, line: bytes) -> tuple[bool, int]:
        """Consume raw bytes through the next line that is exactly ``line`` (e.g. ``b"."``).

        Returns ``(found, skipped)``: ``skipped`` counts the bytes consumed before
        that line starts (so its own bytes and line end are not included). When the
        line is not complete yet, everything that cannot be part of it is consumed
        and counted, and ``found`` is False; call again after the next :meth:`push`.
        """
        self._drop = False
        buf = self._buf
        pos = self._pos
        crlf = line + b"\r\n"
        lf = line + b"\n"
        if self.bol and (buf.startswith(crlf, pos) or buf.startswith(lf, pos)):
            self._pos = pos + (len(crlf) if buf.startswith(crlf, pos) else len(lf))
            self.bol = True
            return True, 0
        hit = -1
        term = 0
        for marker in (b"\n" + crlf, b"\n" + lf):
            at = buf.find(marker, pos)
            if at >= 0 and (hit < 0 or at < hit):
                hit, term = at, len(marker)
        if hit >= 0:
            self._pos = hit + term
            self.bol = True
            return True, hit + 1 - pos
        # Keep a tail that could still begin the terminator once more bytes arrive.
        keep = len(crlf)
        stop = max(pos, len(buf) - keep)
        if stop > pos:
            self._pos = stop
            self.bol = buf[stop - 1] == 0x0A
        return False, stop - pos

    def resync(self) -> None:
        """After a gap: forget buffered bytes and drop whatever precedes the next ``LF``."""
        self._buf.clear()
        self._pos = 0
        self._head = None
        self._drop = True
        self.bol = False

    def clear(self) -> None:
        """Forget every buffered byte (the direction is no longer parsed)."""
        self._buf.clear()
        self._pos = 0
        self._head = None
        self._drop = False
