"""FTP control connections: one EVE ``ftp`` record per command, and login outcomes.

:class:`FtpParser` queues client commands in order and matches each final server
reply (code 200 and up) to the oldest command still waiting, so pipelined
commands work; preliminary ``1xx`` replies are kept with the command they
precede. Multi-line replies (``230-Welcome`` ... ``230 Done``) are read whole.
When a command's final reply arrives it emits, ``TO_CLIENT``:

* ``AppEvent(proto="ftp")`` whose record is Suricata's EVE ``ftp`` object:
  ``command``, ``command_data`` (when the command has an argument), ``reply``
  (reply text per line, code removed), ``completion_code`` (the code of each
  line that has one), ``reply_received`` (``"yes"``), ``dynamic_port`` and
  ``mode`` (``"passive"``/``"active"``) for PASV/EPSV/PORT/EPRT, and
  ``command_truncated``/``reply_truncated`` when a bound cut them;
* ``AppEvent(proto="auth")`` (:func:`~netsentry.protocols.lines.auth_event`,
  ``service="ftp"``) for a login verdict: ``230``/``232`` to USER, PASS or ACCT is
  a success; ``530`` or ``430`` to USER, and ``430`` or any ``5xx`` to PASS or
  ACCT, is a failure. ``user`` is the last USER argument sent before the
  command. A ``530`` to any other command ("please login first") is no verdict.

At :meth:`FtpParser.close` every command still waiting is reported with
``reply_received: "no"``, and a PASS that never got its verdict becomes an
``"attempt"``. A reply that matches no command (the capture began mid-session)
is counted as ``"ftp: reply without command"`` and otherwise ignored. ``AUTH
TLS``/``AUTH SSL`` answered ``234`` ends parsing: what follows is encrypted.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from typing import Any

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits, StreamParser, anomaly
from netsentry.protocols.lines import TEXT_MAX, LineSplitter, auth_event, text

PORTS: frozenset[int] = frozenset({21})

MAX_REPLY_LINES = 64
"""Reply lines kept per command (a long ``211-``/``214-`` listing is cut there)."""

_BANNER_CODES = frozenset({120, 220, 421})
_PASV = re.compile(rb"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
_EPSV = re.compile(rb"\(([!-~])\1\1(\d{1,5})\1\)")


def probe(direction: int, data: bytes) -> bool:
    """True when the first bytes of a direction look like FTP.

    Server: a ``220``/``120`` banner whose first line names FTP and not SMTP.
    Client: a ``USER`` or ``AUTH TLS``/``AUTH SSL`` command. ``USER`` is also
    POP3's and many banners name neither protocol: then the port decides.
    """
    if direction == TO_CLIENT:
        if data[:3] not in (b"220", b"120") or data[3:4] not in (b" ", b"-"):
            return False
        first = data.split(b"\n", 1)[0].upper()
        return b"FTP" in first and b"SMTP" not in first
    head = data[:9].upper()
    return head.startswith(b"USER ") or head in (b"AUTH TLS\r", b"AUTH SSL\r")


class _Command:
    """One client command waiting for (or holding) its reply lines."""

    __slots__ = ("arg", "codes", "lines", "reply_truncated", "truncated", "user", "verb")

    def __init__(self, verb: str, arg: bytes, user: str | None) -> None:
        self.verb = verb
        self.arg = arg
        self.truncated = len(arg) > TEXT_MAX
        self.user = user  # the USER in force when the command was sent
        self.lines: list[bytes] = []
        self.codes: list[int] = []  # every reply code seen, preliminary ones included
        self.reply_truncated = False

    def add(self, lines: list[bytes], code: int, truncated: bool) -> None:
        """Attach one complete (possibly multi-line) reply."""
        room = MAX_REPLY_LINES - len(self.lines)
        if len(lines) > room:
            truncated = True
        self.lines.extend(lines[: max(0, room)])
        self.codes.append(code)
        self.reply_truncated = self.reply_truncated or truncated

    def record(self) -> dict[str, Any]:
        """The EVE ``ftp`` object for this command (``reply_received`` as of now)."""
        rec: dict[str, Any] = {"command": self.verb}
        if self.arg:
            rec["command_data"] = text(self.arg)
        if self.truncated:
            rec["command_truncated"] = True
        replies: list[str] = []
        codes: list[str] = []
        for line in self.lines:
            if len(line) >= 3 and line[:3].isdigit() and line[3:4] in (b"", b" ", b"-"):
                codes.append(line[:3].decode("ascii"))
                replies.append(text(line[4:]))
            else:
                replies.append(text(line))
        if replies:
            rec["reply"] = replies
        if codes:
            rec["completion_code"] = codes
        rec["reply_received"] = "yes" if any(c >= 200 for c in self.codes) else "no"
        if self.reply_truncated:
            rec["reply_truncated"] = True
        self._data_channel(rec)
        return rec

    def _data_channel(self, rec: dict[str, Any]) -> None:
        """Add ``dynamic_port``/``mode`` for a data-channel command that was accepted."""
        if not self.codes or not 200 <= self.codes[-1] < 300:
            return
        port, mode = -1, ""
        if self.verb in ("PASV", "EPSV"):
            reply = b"\n".join(self.lines)
            if self.verb == "PASV" and (m := _PASV.search(reply)):
                port = int(m.group(5)) * 256 + int(m.group(6))
            elif self.verb == "EPSV" and (m := _EPSV.search(reply)):
                port = int(m.group(2))
            mode = "passive"
        elif self.verb == "PORT" and (m := _PASV.search(self.arg)):
            port, mode = int(m.group(5)) * 256 + int(m.group(6)), "active"
        elif self.verb == "EPRT":
            arg = self.arg.strip()  # |1|132.235.1.2|6275|
            parts = arg.split(arg[:1]) if arg else []
            if len(parts) == 5 and parts[3].isdigit() and len(parts[3]) <= 5:
                port, mode = int(parts[3]), "active"
        if 0 <= port <= 65535:
            rec["dynamic_port"] = port
            rec["mode"] = mode


class FtpParser(StreamParser):
    """Decoder of one FTP control connection (see the module docstring for what it emits)."""

    name = "ftp"

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self._lines = (
            LineSplitter(self.limits.max_line, anomalies, self.name),
            LineSplitter(self.limits.max_line, anomalies, self.name),
        )
        self._pending: deque[_Command] = deque()
        self._reply: list[bytes] = []  # lines of the reply being read
        self._reply_truncated = False
        self._multi: bytes | None = None  # code of an unfinished multi-line reply
        self._greeted = False
        self._user: str | None = None
        self._stopped = False  # encrypted (AUTH TLS) from here on

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        """Consume stream bytes; return the commands whose final reply arrived."""
        events: list[AppEvent] = []
        if self._stopped or not data:
            return events
        lines = self._lines[direction]
        lines.push(data)
        while not self._stopped and (line := lines.next_line()) is not None:
            if direction == TO_SERVER:
                self._command(line)
            else:
                self._reply_line(line, events)
        return events

    def gap(self, direction: int, size: int) -> None:
        """Lost bytes: resynchronize at the next line; replies can no longer be matched."""
        super().gap(direction, size)
        self._lines[direction].resync()
        if direction == TO_CLIENT:
            self._multi = None
            self._reply = []
        self._pending.clear()

    def close(self) -> list[AppEvent]:
        """Report commands that never got a final reply; a PASS without verdict is an attempt."""
        events: list[AppEvent] = []
        if self._stopped:
            return events
        while self._pending:
            cmd = self._pending.popleft()
            events.append(AppEvent("ftp", cmd.record(), TO_SERVER))
            if cmd.verb == "PASS":
                events.append(auth_event("ftp", cmd.user, "attempt", direction=TO_SERVER))
        return events

    # -- client side ------------------------------------------------------------

    def _command(self, line: bytes) -> None:
        """Queue one client command line."""
        line = line.lstrip(b"\xff\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe")
        if not line.strip():
            return
        verb_b, _, arg = line.partition(b" ")
        verb = text(verb_b, 16).upper()
        if not verb_b.isalpha() or len(verb_b) > 8:
            anomaly(self.anomalies, self.name, "malformed command")
        if verb == "USER":
            self._user = text(arg.strip())
        elif verb == "REIN":
            self._user = None
        if len(self._pending) >= self.limits.max_records:
            anomaly(self.anomalies, self.name, "too many commands waiting for a reply")
            self._pending.popleft()
        self._pending.append(_Command(verb, arg, self._user))

    # -- server side ------------------------------------------------------------

    def _reply_line(self, line: bytes, events: list[AppEvent]) -> None:
        """Add one server line to the reply being read; act on a complete reply."""
        if self._multi is not None:
            self._keep(line)
            if line[:3] == self._multi and line[3:4] in (b"", b" "):
                code = int(self._multi)
                self._multi = None
                self._finish(code, events)
            return
        code_b = line[:3]
        if len(code_b) < 3 or not code_b.isdigit() or line[3:4] not in (b"", b" ", b"-"):
            anomaly(self.anomalies, self.name, "malformed reply")
            return
        self._keep(line)
        if line[3:4] == b"-":
            self._multi = code_b
            return
        self._finish(int(code_b), events)

    def _keep(self, line: bytes) -> None:
        """Store one line of the current reply, up to :data:`MAX_REPLY_LINES`."""
        if len(self._reply) < MAX_REPLY_LINES:
            self._reply.append(line)
        else:
            self._reply_truncated = True

    def _finish(self, code: int, events: list[AppEvent]) -> None:
        """A whole reply arrived: attach it to its command and emit what it completes."""
        lines, truncated = self._reply, self._reply_truncated
        self._reply, self._reply_truncated = [], False
        if not self._greeted and (code in _BANNER_CODES or not self._pending):
            self._greeted = code >= 200
            if code not in _BANNER_CODES:
                anomaly(self.anomalies, self.name, "reply without command")
            return
        self._greeted = True
        if not self._pending:
            anomaly(self.anomalies, self.name, "reply without command")
            return
        cmd = self._pending[0]
        cmd.add(lines, code, truncated)
        if code < 200:
            return  # preliminary: the command waits for its final reply
        self._pending.popleft()
        events.append(AppEvent("ftp", cmd.record(), TO_CLIENT))
        result = _login_result(cmd.verb, code)
        if result:
            events.append(auth_event("ftp", cmd.user, result, text(lines[-1]) if lines else ""))
        if cmd.verb == "AUTH" and code == 234:
            self._stop()

    def _stop(self) -> None:
        """The connection turned to TLS: stop parsing and forget what is buffered."""
        self._stopped = True
        self._pending.clear()
        for lines in self._lines:
            lines.clear()


def _login_result(verb: str, code: int) -> str:
    """``"success"``/``"failure"`` when ``code`` decides a login command, else ``""``."""
    if verb not in ("USER", "PASS", "ACCT"):
        return ""
    if code in (230, 232):
        return "success"
    if code in (530, 430) or (verb != "USER" and 500 <= code < 600):
        return "failure"
    return ""
