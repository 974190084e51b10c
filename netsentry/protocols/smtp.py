"""SMTP sessions: one EVE ``smtp`` record per mail transaction, and AUTH outcomes.

:class:`SmtpParser` queues client commands and matches each server reply to the
oldest command waiting (RFC 2920 pipelining); multi-line replies (``250-...``)
are read whole. It emits:

* ``AppEvent(proto="smtp")`` per mail transaction, shaped as Suricata's EVE
  ``smtp`` object: ``helo`` (last EHLO/HELO argument), ``mail_from`` and
  ``rcpt_to`` (addresses without ``<>``; at most ``limits.max_records`` kept),
  with ``extra = {"rcpt_count": RCPT commands, "rcpt_refused": RCPTs answered
  4xx/5xx, "body_bytes": message bytes}``. It goes out ``TO_SERVER`` when the
  client ends the message (the lone ``.`` line, or ``BDAT ... LAST``); a
  transaction without a message goes out ``TO_CLIENT`` at the reply to RSET,
  QUIT, EHLO/HELO, ``TO_SERVER`` when a new MAIL starts before it was closed,
  or at :meth:`SmtpParser.close`.
* ``AppEvent(proto="auth", service="smtp")`` at the server's verdict on ``AUTH``:
  ``235`` (any 2xx) is a success, ``535`` a failure. The user name comes from
  the SASL exchange where visible (PLAIN, LOGIN, CRAM-MD5, ...; see
  :func:`~netsentry.protocols.mail.sasl_user`). Credentials with no verdict by
  the end of the flow give an ``"attempt"``.

Message bodies are skipped with ``bytes.find`` up to the terminating ``.`` line,
never split into lines; ``body_bytes`` counts the bytes between the DATA line
and that terminator as sent (dot-stuffing not undone).

The client waits for some verdicts, and so does this decoder: after DATA
(until ``354``), during AUTH (until a ``334`` challenge or the verdict) and
after STARTTLS, client bytes are held, not read, so a verdict that arrives
after them cannot be misread. If more than ``limits.max_pending`` bytes pile up
the decoder assumes the common outcome (``354``; TLS) and counts an anomaly.
``220`` to STARTTLS ends parsing: the rest is encrypted.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits, StreamParser, anomaly
from netsentry.protocols.lines import LineSplitter, auth_event, text
from netsentry.protocols.mail import SaslExchange

PORTS: frozenset[int] = frozenset({25, 587, 2525})

_BANNER_WORDS = (b"SMTP", b"POSTFIX", b"SENDMAIL", b"EXIM", b"QMAIL")


def probe(direction: int, data: bytes) -> bool:
    """True when the first bytes of a direction look like SMTP.

    Server: a ``220`` greeting whose first line names (E)SMTP or a common mail
    server and not FTP (both greet with ``220``; with neither word the port
    decides). Client: ``EHLO``/``HELO``.
    """
    if direction == TO_CLIENT:
        if data[:3] != b"220" or data[3:4] not in (b" ", b"-"):
            return False
        first = data.split(b"\n", 1)[0].upper()
        return b"FTP" not in first and any(w in first for w in _BANNER_WORDS)
    return data[:5].upper() in (b"EHLO ", b"HELO ")


def address(arg: bytes) -> str:
    """The address of a ``MAIL FROM:``/``RCPT TO:`` argument, without ``<>`` or parameters."""
    rest = arg.partition(b":")[2].strip()
    if rest.startswith(b"<"):
        end = rest.find(b">")
        rest = rest[1:end] if end >= 0 else rest[1:]
    return text(rest.split(b" ", 1)[0] if rest else b"")


class _Transaction:
    """One mail transaction being collected (MAIL FROM through end of message)."""

    __slots__ = ("body_bytes", "mail_from", "rcpt_count", "rcpt_refused", "rcpt_to")

    def __init__(self) -> None:
        self.mail_from: str | None = None
        self.rcpt_to: list[str] = []
        self.rcpt_count = 0
        self.rcpt_refused = 0
        self.body_bytes = 0


class _Command:
    """A command waiting for its reply.

    ``txn`` is a transaction its reply will report, ``rcpt`` the transaction a
    RCPT belongs to (its refusal is counted there), ``auth`` an AUTH exchange.
    """

    __slots__ = ("auth", "rcpt", "txn", "verb")

    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.txn: _Transaction | None = None
        self.rcpt: _Transaction | None = None
        self.auth: SaslExchange | None = None


class SmtpParser(StreamParser):
    """Decoder of one SMTP connection (see the module docstring for what it emits)."""

    name = "smtp"

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self._client = LineSplitter(self.limits.max_line, anomalies, self.name)
        self._server = LineSplitter(self.limits.max_line, anomalies, self.name)
        self._pending: deque[_Command] = deque()
        self._reply_open = False  # inside a multi-line reply
        self._greeted = False
        self._helo: str | None = None
        self._txn: _Transaction | None = None
        self._body = False  # client is sending a DATA body
        self._bdat_left = 0  # bytes of a BDAT chunk still to skip
        self._bdat_last = False
        self._wait_data = False  # DATA sent, verdict not seen
        self._wait_tls = False  # STARTTLS sent, verdict not seen
        self._auth: SaslExchange | None = None
        self._stopped = False

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        """Consume stream bytes; return transactions and login outcomes completed by them."""
        events: list[AppEvent] = []
        if self._stopped or not data:
            return events
        if direction == TO_SERVER:
            self._client.push(data)
        else:
            self._server.push(data)
            while not self._stopped and (line := self._server.next_line()) is not None:
                self._reply_line(line, events)
                if self._client.pending:  # a verdict may release held client bytes
                    self._pump(events)
        self._pump(events)
        return events

    def gap(self, direction: int, size: int) -> None:
        """Lost bytes: a gap inside a message body only adds to ``body_bytes``."""
        super().gap(direction, size)
        if direction == TO_SERVER:
            if self._body or self._bdat_left:
                if self._txn is not None:
                    self._txn.body_bytes += size
                self._bdat_left = max(0, self._bdat_left - size)
                if not self._body:
                    self._client.resync()
                return
            self._client.resync()
        else:
            self._server.resync()
            self._reply_open = False
        self._pending.clear()  # replies can no longer be matched to commands
        self._wait_data = self._wait_tls = False
        self._auth = None

    def close(self) -> list[AppEvent]:
        """Report transactions and credentials still open when the flow ended."""
        events: list[AppEvent] = []
        if self._stopped:
            return events
        if self._wait_data and self._client.pending:
            self._wait_data, self._body = False, True  # the body went out unanswered
            self._pump(events)
        if self._body or self._bdat_left:
            anomaly(self.anomalies, self.name, "message not terminated")
        while self._pending:
            cmd = self._pending.popleft()
            if cmd.txn is not None:
                events.append(self._txn_event(cmd.txn, TO_SERVER))
            if cmd.auth is not None and cmd.auth.sent:
                events.append(auth_event("smtp", cmd.auth.user, "attempt", direction=TO_SERVER))
        if self._txn is not None:
            events.append(self._txn_event(self._txn, TO_SERVER))
            self._txn = None
        return events

    # -- client side ------------------------------------------------------------

    def _pump(self, events: list[AppEvent]) -> None:
        """Read client bytes as far as the protocol state allows."""
        client = self._client
        while not self._stopped:
            if self._body:
                found, n = client.skip_to_line(b".")
                self._transaction().body_bytes += n
                if not found:
                    return
                self._body = False
                self._end_message(events, reply=True)
            elif self._bdat_left:
                n = client.skip(self._bdat_left)
                self._transaction().body_bytes += n
                self._bdat_left -= n
                if self._bdat_left:
                    return
                if self._bdat_last:
                    self._bdat_last = False
                    self._end_message(events, reply=False)
            elif self._waiting():
                if client.pending <= self.limits.max_pending:
                    return
                self._give_up_waiting()
            else:
                line = client.next_line()
                if line is None:
                    return
                self._command(line, events)

    def _waiting(self) -> bool:
        """True while the client's next bytes depend on a verdict not seen yet."""
        if self._wait_data or self._wait_tls:
            return True
        return self._auth is not None and self._auth.challenges == 0

    def _give_up_waiting(self) -> None:
        """Too much held client data: assume the usual verdict and read on."""
        if self._wait_tls:
            anomaly(self.anomalies, self.name, "no reply to STARTTLS")
            self._stop()
        elif self._wait_data:
            anomaly(self.anomalies, self.name, "no reply to DATA")
            self._wait_data, self._body = False, True
        else:
            anomaly(self.anomalies, self.name, "no reply to AUTH")
            self._auth = None

    def _transaction(self) -> _Transaction:
        """The open transaction, started if there is none (RCPT or DATA without MAIL)."""
        if self._txn is None:
            self._txn = _Transaction()
        return self._txn

    def _command(self, line: bytes, events: list[AppEvent]) -> None:
        """Act on one client line: an AUTH response or a command."""
        if self._auth is not None and self._auth.challenges:
            self._auth.challenges -= 1
            self._auth.respond(line)
            return
        verb_b, _, arg = line.partition(b" ")
        verb = text(verb_b, 16).upper()
        if not verb_b.isalpha():
            anomaly(self.anomalies, self.name, "malformed command")
        cmd = _Command(verb)
        if verb in ("EHLO", "HELO"):
            self._helo = text(arg.strip())
            cmd.txn, self._txn = self._txn, None
        elif verb in ("RSET", "QUIT"):
            cmd.txn, self._txn = self._txn, None
        elif verb == "MAIL":
            if self._txn is not None:
                events.append(self._txn_event(self._txn, TO_SERVER))
            self._txn = _Transaction()
            self._txn.mail_from = address(arg)
        elif verb == "RCPT":
            txn = cmd.rcpt = self._transaction()
            txn.rcpt_count += 1
            if len(txn.rcpt_to) < self.limits.max_records:
                txn.rcpt_to.append(address(arg))
            elif txn.rcpt_count == self.limits.max_records + 1:
                anomaly(self.anomalies, self.name, "too many recipients")
        elif verb == "DATA":
            self._transaction()
            self._wait_data = True
        elif verb == "BDAT":
            self._bdat(arg)
        elif verb == "STARTTLS":
            self._wait_tls = True
        elif verb == "AUTH":
            mech, _, initial = arg.strip().partition(b" ")
            self._auth = cmd.auth = SaslExchange(text(mech, 32).upper())
            if initial.strip():
                self._auth.respond(initial)
        self._queue(cmd)

    def _bdat(self, arg: bytes) -> None:
        """``BDAT <size> [LAST]`` (RFC 3030): the next ``size`` bytes are message data."""
        words = arg.split()
        if not words or not words[0].isdigit():
            anomaly(self.anomalies, self.name, "malformed BDAT")
            return
        self._transaction()
        self._bdat_left = int(words[0])
        self._bdat_last = len(words) > 1 and words[1].upper() == b"LAST"

    def _queue(self, cmd: _Command) -> None:
        """Append a command to the reply queue, bounded by ``limits.max_records``."""
        if len(self._pending) >= self.limits.max_records:
            anomaly(self.anomalies, self.name, "too many commands waiting for a reply")
            self._pending.popleft()
        self._pending.append(cmd)

    def _end_message(self, events: list[AppEvent], *, reply: bool) -> None:
        """The client finished a message: report the transaction.

        After DATA the server answers the message itself (``reply``); after
        ``BDAT ... LAST`` the answer to that BDAT command is the one.
        """
        if self._txn is not None:
            events.append(self._txn_event(self._txn, TO_SERVER))
            self._txn = None
        if reply:
            self._queue(_Command("<message>"))

    def _txn_event(self, txn: _Transaction, direction: int) -> AppEvent:
        """The EVE ``smtp`` record of one transaction."""
        rec: dict[str, Any] = {}
        if self._helo is not None:
            rec["helo"] = self._helo
        if txn.mail_from is not None:
            rec["mail_from"] = txn.mail_from
        if txn.rcpt_to:
            rec["rcpt_to"] = txn.rcpt_to
        extra = {
            "rcpt_count": txn.rcpt_count,
            "rcpt_refused": txn.rcpt_refused,
            "body_bytes": txn.body_bytes,
        }
        return AppEvent("smtp", rec, direction, extra)

    # -- server side ------------------------------------------------------------

    def _reply_line(self, line: bytes, events: list[AppEvent]) -> None:
        """Read one server line; act when it ends a reply."""
        code_b = line[:3]
        if len(code_b) < 3 or not code_b.isdigit() or line[3:4] not in (b"", b" ", b"-"):
            if not self._reply_open:
                anomaly(self.anomalies, self.name, "malformed reply")
            return
        self._reply_open = line[3:4] == b"-"
        if not self._reply_open:
            self._reply(int(code_b), line, events)

    def _reply(self, code: int, line: bytes, events: list[AppEvent]) -> None:
        """A whole reply: settle the command it answers."""
        if not self._greeted:
            self._greeted = True
            starttls = bool(self._pending) and self._pending[0].verb == "STARTTLS"
            if code in (220, 421, 554) and not starttls:
                return
        if not self._pending:
            anomaly(self.anomalies, self.name, "reply without command")
            return
        cmd = self._pending[0]
        if cmd.auth is not None and code == 334:
            cmd.auth.challenges += 1
            return
        self._pending.popleft()
        verb = cmd.verb
        if cmd.rcpt is not None and code >= 400:
            cmd.rcpt.rcpt_refused += 1
        elif verb == "DATA":
            self._wait_data = False
            self._body = code == 354
        elif verb == "STARTTLS":
            self._wait_tls = False
            if code == 220:
                self._stop()
                return
        elif cmd.auth is not None:
            if cmd.auth is self._auth:
                self._auth = None
            result = "success" if 200 <= code < 300 else "failure" if code == 535 else ""
            if result:
                events.append(auth_event("smtp", cmd.auth.user, result, text(line)))
        if cmd.txn is not None:
            events.append(self._txn_event(cmd.txn, TO_CLIENT))

    def _stop(self) -> None:
        """The session turned to TLS: stop parsing and forget what is buffered."""
        self._stopped = True
        self._pending.clear()
        self._txn = None
        self._client.clear()
        self._server.clear()
