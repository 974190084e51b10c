"""SSH connections: the two identification banners, and a login-attempt guess from sizes.

:class:`SshParser` reads each side's identification line
(``SSH-2.0-OpenSSH_8.9p1 Ubuntu-3``; a server may print other lines first) and
emits one ``AppEvent(proto="ssh")`` when both are known (or at close with the
one it has), shaped as Suricata's EVE ``ssh`` object: ``{"client":
{"proto_version": "2.0", "software_version": "OpenSSH_8.9p1"}, "server":
{...}}`` (the comment after the first space is dropped, as Suricata does; no
``hassh``).

Nothing is decrypted. The cleartext binary packets that follow the banners are
walked by their length fields only, up to the end of the key exchange: SSH 2
(RFC 4253) ends it with ``SSH_MSG_NEWKEYS`` (21) from each side; SSH 1 (client
version ``1.x``, server ``1.5`` or ``1.99``) encrypts everything after the
first packet of each side (PUBLIC_KEY, SESSION_KEY). Every byte after that
point is counted as encrypted, per direction.

Login attempts: the password exchange is encrypted, so at :meth:`SshParser.close`,
if the client finished its key exchange (so it could have tried to log in),
the decoder emits ``AppEvent(proto="auth", record={"service": "ssh", "user":
None, "result": "attempt"}, extra={"client_bytes", "server_bytes",
"short_session"})``, ``TO_SERVER``. ``short_session`` is True when both sides
sent fewer than :data:`SHORT_SESSION_BYTES` encrypted bytes before the flow
ended. Heuristic: a failed password guess (service request, one to a few
``USERAUTH_REQUEST`` packets, ``USERAUTH_FAILURE`` answers, disconnect) costs a
few hundred bytes to about 2 KB each way, while a session that logged in and
did something usually moves more; the server-side bound keeps a short command
that downloaded a lot (``git clone``, ``scp`` from the server) out. It is a
hint for counting guesses per source over a time window, not a verdict: a
short successful command (``ssh host true``) is also short, and a client that
tries several passwords in one connection still counts as one attempt.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Any

from netsentry.protocols.base import TO_SERVER, AppEvent, Limits, StreamParser, anomaly
from netsentry.protocols.lines import LineSplitter, auth_event, text

PORTS: frozenset[int] = frozenset({22, 2222})

SHORT_SESSION_BYTES = 5 * 1024
"""Encrypted bytes per direction below which a closed session counts as short."""
MAX_PACKET = 256 * 1024
"""Largest cleartext packet length accepted before the stream counts as not SSH."""
MAX_PRE_BANNER_LINES = 32
"""Lines a server may print before its identification line."""
MSG_NEWKEYS = 21

_U32 = struct.Struct(">I").unpack_from

# side modes
_LINES, _HOLD, _PACKETS, _ENCRYPTED, _LOST = range(5)


def probe(direction: int, data: bytes) -> bool:
    """True when a direction starts with an SSH identification line (``SSH-``)."""
    return data.startswith(b"SSH-")


def parse_banner(line: bytes) -> dict[str, str]:
    """``SSH-<proto>-<software> <comment>`` as EVE's ``proto_version``/``software_version``."""
    proto, _, rest = line[4:].partition(b"-")
    return {
        "proto_version": text(proto, 32),
        "software_version": text(rest.split(b" ", 1)[0], 255),
    }


class _Side:
    """What is known about one direction."""

    __slots__ = (
        "banner",
        "encrypted",
        "final",
        "header",
        "held",
        "lines",
        "mode",
        "packets",
        "pre_lines",
        "skip",
    )

    def __init__(self, lines: LineSplitter) -> None:
        self.lines: LineSplitter | None = lines  # until the banner
        self.banner: dict[str, str] | None = None
        self.mode = _LINES
        self.pre_lines = 0
        self.held = bytearray()  # packets waiting until the protocol version is known
        self.header = bytearray()  # start of the packet being read
        self.skip = 0  # bytes of the current packet still to pass over
        self.final = False  # the current packet ends the key exchange
        self.packets = 0
        self.encrypted = 0  # bytes after the key exchange

    @property
    def kex_done(self) -> bool:
        """True once this side's traffic is encrypted."""
        return self.mode == _ENCRYPTED


class SshParser(StreamParser):
    """Decoder of one SSH connection (see the module docstring for what it emits)."""

    name = "ssh"

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self._sides = (
            _Side(LineSplitter(self.limits.max_line, anomalies, self.name)),
            _Side(LineSplitter(self.limits.max_line, anomalies, self.name)),
        )
        self._reported = False

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        """Consume stream bytes; return the banner record once both banners are known."""
        events: list[AppEvent] = []
        side = self._sides[direction]
        if side.lines is None:
            self._binary(side, data)
            return events
        side.lines.push(data)
        while (line := side.lines.next_line()) is not None:
            if line.startswith(b"SSH-"):
                side.banner = parse_banner(line)
                rest = side.lines.take_all()
                side.lines, side.mode = None, _HOLD
                if not self._reported and all(s.banner for s in self._sides):
                    events.append(self._banners(direction))
                for other in self._sides:  # a version now known may release held packets
                    if other is not side and other.mode == _HOLD and other.held:
                        held, other.held = bytes(other.held), bytearray()
                        self._binary(other, held)
                self._binary(side, rest)
                return events
            side.pre_lines += 1
            if direction == TO_SERVER or side.pre_lines > MAX_PRE_BANNER_LINES:
                anomaly(self.anomalies, self.name, "no identification line")
                side.lines, side.mode = None, _LOST
                return events
        return events

    def gap(self, direction: int, size: int) -> None:
        """Lost bytes: counted as encrypted after the key exchange, else the walk stops."""
        super().gap(direction, size)
        side = self._sides[direction]
        if side.mode == _ENCRYPTED:
            side.encrypted += size
        elif side.mode == _PACKETS and size <= side.skip:
            side.skip -= size
            if not side.skip and side.final:
                side.mode = _ENCRYPTED
        else:
            side.lines, side.mode = None, _LOST

    def close(self) -> list[AppEvent]:
        """Report banners not reported yet, and the login attempt if one was possible."""
        events: list[AppEvent] = []
        client, server = self._sides
        if not self._reported and (client.banner or server.banner):
            events.append(self._banners(TO_SERVER))
        if client.kex_done:
            event = auth_event("ssh", None, "attempt", direction=TO_SERVER)
            event.extra.update(
                client_bytes=client.encrypted,
                server_bytes=server.encrypted,
                short_session=max(client.encrypted, server.encrypted) < SHORT_SESSION_BYTES,
            )
            events.append(event)
        return events

    def _banners(self, direction: int) -> AppEvent:
        """The EVE ``ssh`` record from the banners known so far."""
        self._reported = True
        rec: dict[str, Any] = {}
        for key, side in zip(("client", "server"), self._sides, strict=True):
            if side.banner is not None:
                rec[key] = side.banner
        return AppEvent("ssh", rec, direction)

    def _version(self) -> int:
        """Protocol major version in use (1 or 2), or 0 while it cannot be told yet."""
        client, server = self._sides
        if client.banner is not None:
            return 1 if client.banner["proto_version"] in ("1.5", "1.3") else 2
        if server.banner is not None and server.banner["proto_version"] != "1.99":
            return 1 if server.banner["proto_version"].startswith("1.") else 2
        return 0

    def _binary(self, side: _Side, data: bytes) -> None:
        """Bytes after the banner: walk cleartext packets, then count encrypted bytes."""
        if side.mode == _HOLD:
            version = self._version()
            if version == 0 and len(side.held) + len(data) <= self.limits.max_pending:
                side.held += data
                return
            side.mode = _PACKETS
            data = bytes(side.held) + data
            side.held = bytearray()
        if side.mode == _PACKETS:
            data = self._packets(side, data, self._version() or 2)
        if side.mode == _ENCRYPTED:
            side.encrypted += len(data)

    def _packets(self, side: _Side, data: bytes, version: int) -> bytes:
        """Pass over whole cleartext packets; return what follows the key exchange."""
        pos, end = 0, len(data)
        while pos < end:
            if side.skip:
                n = min(side.skip, end - pos)
                side.skip -= n
                pos += n
                if not side.skip and side.final:
                    side.mode = _ENCRYPTED
                    return data[pos:]
                continue
            if version == 2:
                need = 6  # length, padding length, message code
            elif len(side.header) < 4:
                need = 4  # the length first: it sets the padding before the type byte
            else:
                need = 5 + (8 - _U32(side.header)[0] % 8)
            take = min(need - len(side.header), end - pos)
            side.header += data[pos : pos + take]
            pos += take
            if len(side.header) < need:
                return b""
            if need == 4:
                continue
            if not self._packet(side, version):
                return b""
        return b""

    def _packet(self, side: _Side, version: int) -> bool:
        """A packet header is complete: set up the skip; False when it is not SSH."""
        header = side.header
        length = _U32(header)[0]
        if length < 5 or length > MAX_PACKET:
            anomaly(self.anomalies, self.name, "bad packet length")
            side.mode = _LOST
            return False
        if version == 2:
            total, msg = 4 + length, header[5]
            side.final = msg == MSG_NEWKEYS
        else:
            total = 4 + (8 - length % 8) + length
            side.final = True  # PUBLIC_KEY / SESSION_KEY: encryption follows
        side.packets += 1
        side.skip = total - len(header)  # >= 4: a length is at least 5
        side.header = bytearray()
        return True
