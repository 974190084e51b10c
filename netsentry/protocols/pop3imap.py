"""POP3 and IMAP sessions: login outcomes.

Both decoders emit only ``AppEvent(proto="auth")`` records
(:func:`~netsentry.protocols.lines.auth_event`), ``TO_CLIENT`` at the server's
verdict, with the verdict line in ``extra["reply"]``.

:class:`Pop3Parser` (RFC 1939, 2449, 5034): commands are queued and matched to
replies in order (pipelining). ``PASS``, ``APOP`` and ``AUTH`` answered ``+OK``
are successes, ``-ERR`` failures; ``-ERR`` to ``USER`` (user refused) is a
failure too. Multi-line answers (CAPA, RETR, TOP, LIST and UIDL without an
argument) are skipped up to their ``.`` line. ``+OK`` to ``STLS`` ends parsing.

:class:`ImapParser` (RFC 9051): tagged commands are matched to tagged responses
by tag. ``LOGIN`` and ``AUTHENTICATE`` answered ``OK`` are successes, ``NO`` or
``BAD`` failures. LOGIN arguments may be atoms, quoted strings or literals
(``{5}``/``{5+}`` followed by the bytes); literals from either side are read by
length, so message data is never mistaken for responses. ``OK`` to
``STARTTLS`` ends parsing.

SASL (POP3 ``AUTH``, IMAP ``AUTHENTICATE``): while an exchange is open, a
client line is taken as a base64 response (IMAP: a line without a space; a
line with one is a new command). The user comes from
:func:`~netsentry.protocols.mail.sasl_user`. Credentials sent without a
verdict by the end of the flow give an ``"attempt"``.
"""

from __future__ import annotations

import re
from collections import Counter, deque

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits, StreamParser, anomaly
from netsentry.protocols.lines import LineSplitter, auth_event, text
from netsentry.protocols.mail import SaslExchange

POP3_PORTS: frozenset[int] = frozenset({110})
IMAP_PORTS: frozenset[int] = frozenset({143})

LITERAL_KEEP = 1024
"""Bytes of an IMAP client literal kept (LOGIN/AUTHENTICATE arguments); the rest is skipped."""
MAX_TOKENS = 8
"""IMAP command words kept per command: tag, command and the arguments a login needs."""

_POP3_MULTILINE = frozenset({"CAPA", "RETR", "TOP"})
_POP3_MULTILINE_NOARG = frozenset({"LIST", "UIDL", "AUTH"})
_LITERAL = re.compile(rb"\{(\d{1,10})\+?\}$")
_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|([^\s"]+)')
_UNQUOTE = re.compile(rb"\\(.)")
_IMAP_CLIENT = re.compile(
    rb"^[!#-'*-Z^-z|~]{1,32} (?:CAPABILITY|LOGIN|STARTTLS|AUTHENTICATE|NOOP|ID)\b", re.I
)


def pop3_probe(direction: int, data: bytes) -> bool:
    """True when the first bytes of a direction look like POP3 (``+OK``; CAPA/APOP/STLS)."""
    if direction == TO_CLIENT:
        return data.startswith(b"+OK")
    return data[:5].upper() in (b"CAPA\r", b"CAPA\n", b"STLS\r", b"STLS\n") or (
        data[:5].upper() == b"APOP "
    )


def imap_probe(direction: int, data: bytes) -> bool:
    """True when the first bytes of a direction look like IMAP (``* OK``; a tagged command)."""
    if direction == TO_CLIENT:
        return data.startswith((b"* OK", b"* PREAUTH"))
    return _IMAP_CLIENT.match(data) is not None


class _Pop3Command:
    """A POP3 command waiting for its reply."""

    __slots__ = ("auth", "multiline", "user", "verb")

    def __init__(self, verb: str, user: str | None, multiline: bool) -> None:
        self.verb = verb
        self.user = user
        self.multiline = multiline  # +OK to it starts a dot-terminated answer
        self.auth: SaslExchange | None = None


class Pop3Parser(StreamParser):
    """Decoder of one POP3 connection (see the module docstring for what it emits)."""

    name = "pop3"

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self._client = LineSplitter(self.limits.max_line, anomalies, self.name)
        self._server = LineSplitter(self.limits.max_line, anomalies, self.name)
        self._pending: deque[_Pop3Command] = deque()
        self._greeted = False
        self._user: str | None = None
        self._auth: SaslExchange | None = None
        self._listing = False  # the server is sending a dot-terminated answer
        self._stopped = False

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        """Consume stream bytes; return the login outcomes they complete."""
        events: list[AppEvent] = []
        if self._stopped or not data:
            return events
        if direction == TO_SERVER:
            self._client.push(data)
            while not self._stopped and (line := self._client.next_line()) is not None:
                self._command(line)
            return events
        server = self._server
        server.push(data)
        while not self._stopped:
            if self._listing:
                found, _ = server.skip_to_line(b".")
                if not found:
                    break
                self._listing = False
            elif (line := server.next_line()) is not None:
                self._reply(line, events)
            else:
                break
        return events

    def gap(self, direction: int, size: int) -> None:
        """Lost bytes: resynchronize at the next line; pending commands are dropped."""
        super().gap(direction, size)
        (self._client if direction == TO_SERVER else self._server).resync()
        self._pending.clear()
        self._auth = None
        self._listing = False

    def close(self) -> list[AppEvent]:
        """Credentials that never got a verdict become ``"attempt"`` events."""
        events: list[AppEvent] = []
        if self._stopped:
            return events
        for cmd in self._pending:
            if cmd.verb in ("PASS", "APOP") or (cmd.auth is not None and cmd.auth.sent):
                user = cmd.auth.user if cmd.auth is not None else cmd.user
                events.append(auth_event("pop3", user, "attempt", direction=TO_SERVER))
        self._pending.clear()
        return events

    def _command(self, line: bytes) -> None:
        """Act on one client line: a SASL response or a command."""
        if self._auth is not None:
            self._auth.respond(line)
            return
        verb_b, _, arg = line.partition(b" ")
        verb = text(verb_b, 16).upper()
        arg = arg.strip()
        if verb == "USER":
            self._user = text(arg)
        elif verb == "APOP":
            self._user = text(arg.rsplit(b" ", 1)[0])
        multiline = verb in _POP3_MULTILINE or (verb in _POP3_MULTILINE_NOARG and not arg)
        cmd = _Pop3Command(verb, self._user, multiline)
        if verb == "AUTH" and arg:
            mech, _, initial = arg.partition(b" ")
            self._auth = cmd.auth = SaslExchange(text(mech, 32))
            if initial.strip():
                self._auth.respond(initial)
        if len(self._pending) >= self.limits.max_records:
            anomaly(self.anomalies, self.name, "too many commands waiting for a reply")
            self._pending.popleft()
        self._pending.append(cmd)

    def _reply(self, line: bytes, events: list[AppEvent]) -> None:
        """Settle the oldest command with one server status line."""
        ok = line.startswith(b"+OK")
        if not ok and not line.startswith((b"-ERR", b"+")):
            anomaly(self.anomalies, self.name, "malformed reply")
            return
        if not self._greeted and not self._pending:
            self._greeted = True  # the greeting
            return
        self._greeted = True
        if not self._pending:
            anomaly(self.anomalies, self.name, "reply without command")
            return
        cmd = self._pending[0]
        if not ok and line.startswith(b"+"):  # "+ challenge": the exchange goes on
            if cmd.auth is None:
                anomaly(self.anomalies, self.name, "unexpected continuation")
            return
        self._pending.popleft()
        if cmd.auth is not None and cmd.auth is self._auth:
            self._auth = None
        if ok and cmd.multiline:
            self._listing = True
        if cmd.verb == "STLS" and ok:
            self._stop()
            return
        user = cmd.auth.user if cmd.auth is not None else cmd.user
        if cmd.verb in ("PASS", "APOP") or cmd.auth is not None:
            events.append(auth_event("pop3", user, "success" if ok else "failure", text(line)))
        elif cmd.verb == "USER" and not ok:
            events.append(auth_event("pop3", user, "failure", text(line)))

    def _stop(self) -> None:
        """The session turned to TLS: stop parsing."""
        self._stopped = True
        self._pending.clear()
        self._client.clear()
        self._server.clear()


class _ImapCommand:
    """A tagged IMAP command whose tagged response decides something."""

    __slots__ = ("auth", "user", "verb")

    def __init__(self, verb: str, user: str | None, auth: SaslExchange | None) -> None:
        self.verb = verb
        self.user = user
        self.auth = auth


class ImapParser(StreamParser):
    """Decoder of one IMAP connection (see the module docstring for what it emits)."""

    name = "imap"

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self._client = LineSplitter(self.limits.max_line, anomalies, self.name)
        self._server = LineSplitter(self.limits.max_line, anomalies, self.name)
        self._tags: dict[bytes, _ImapCommand] = {}
        self._words: list[bytes] = []  # words of the client command being assembled
        self._more = False  # the command continues after a literal
        self._literal_left = 0  # client literal bytes still to read
        self._literal: bytearray | None = None  # kept literal bytes, None when skipped
        self._server_literal_left = 0
        self._auth_tag: bytes | None = None
        self._auth: SaslExchange | None = None
        self._stopped = False

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        """Consume stream bytes; return the login outcomes they complete."""
        events: list[AppEvent] = []
        if self._stopped or not data:
            return events
        if direction == TO_SERVER:
            self._client.push(data)
            self._read_client()
        else:
            self._server.push(data)
            self._read_server(events)
        return events

    def gap(self, direction: int, size: int) -> None:
        """Lost bytes: skip them inside a literal, else resynchronize at the next line."""
        super().gap(direction, size)
        if direction == TO_SERVER:
            if self._literal_left:
                self._literal_left = max(0, self._literal_left - size)
                self._literal = None
                return
            self._client.resync()
            self._words, self._more = [], False
        else:
            if self._server_literal_left:
                self._server_literal_left = max(0, self._server_literal_left - size)
                return
            self._server.resync()

    def close(self) -> list[AppEvent]:
        """Credentials that never got a verdict become ``"attempt"`` events."""
        events: list[AppEvent] = []
        if self._stopped:
            return events
        for cmd in self._tags.values():
            if cmd.verb == "LOGIN" or (cmd.auth is not None and cmd.auth.sent):
                user = cmd.auth.user if cmd.auth is not None else cmd.user
                events.append(auth_event("imap", user, "attempt", direction=TO_SERVER))
        self._tags.clear()
        return events

    # -- client side ------------------------------------------------------------

    def _read_client(self) -> None:
        """Assemble client commands from lines and literals."""
        client = self._client
        while not self._stopped:
            if self._literal_left:
                if not client.pending:
                    return
                kept = self._literal
                if kept is not None and len(kept) < LITERAL_KEEP:
                    chunk = client.take(min(LITERAL_KEEP - len(kept), self._literal_left))
                    kept += chunk
                    self._literal_left -= len(chunk)
                else:
                    self._literal_left -= client.skip(self._literal_left)
                if not self._literal_left and kept is not None:
                    self._words.append(bytes(kept))
                    self._literal = None
                continue
            line = client.next_line()
            if line is None:
                return
            if self._auth is not None and not self._more and b" " not in line.strip():
                self._auth.respond(line)
                continue
            self._segment(line)

    def _segment(self, line: bytes) -> None:
        """One client line: words of the current command, maybe followed by a literal."""
        m = _LITERAL.search(line)
        body = line[: m.start()] if m else line
        for quoted, atom in _TOKEN.findall(body):
            if len(self._words) < MAX_TOKENS:
                self._words.append(_UNQUOTE.sub(rb"\1", quoted) if quoted else atom)
        if m:
            self._more = True
            self._literal_left = int(m.group(1))
            keep = len(self._words) in (2, 3) and self._words[1].upper() in (
                b"LOGIN",
                b"AUTHENTICATE",
            )
            self._literal = bytearray() if keep else None
            if not self._literal_left and keep:
                self._words.append(b"")  # {0}: an empty argument, nothing to read
                self._literal = None
            return
        words, self._words, self._more = self._words, [], False
        if len(words) >= 2:
            self._tagged(words)

    def _tagged(self, words: list[bytes]) -> None:
        """A complete client command: remember the tags whose response matters."""
        tag, verb = words[0], text(words[1], 16).upper()
        if verb == "LOGIN":
            cmd = _ImapCommand(verb, text(words[2]) if len(words) > 2 else None, None)
        elif verb == "AUTHENTICATE" and len(words) > 2:
            self._auth = SaslExchange(text(words[2], 32))
            if len(words) > 3:
                self._auth.respond(words[3])
            self._auth_tag = tag
            cmd = _ImapCommand(verb, None, self._auth)
        elif verb == "STARTTLS":
            cmd = _ImapCommand(verb, None, None)
        else:
            return
        if len(self._tags) >= self.limits.max_records:
            anomaly(self.anomalies, self.name, "too many commands waiting for a reply")
            del self._tags[next(iter(self._tags))]
        self._tags[tag] = cmd

    # -- server side ------------------------------------------------------------

    def _read_server(self, events: list[AppEvent]) -> None:
        """Read server lines, skipping literals; act on tagged responses."""
        server = self._server
        while not self._stopped:
            if self._server_literal_left:
                self._server_literal_left -= server.skip(self._server_literal_left)
                if self._server_literal_left:
                    return
                continue
            line = server.next_line()
            if line is None:
                return
            if m := _LITERAL.search(line):
                self._server_literal_left = int(m.group(1))
            if line[:1] not in (b"*", b"+"):
                self._response(line, events)

    def _response(self, line: bytes, events: list[AppEvent]) -> None:
        """A tagged response: settle the command with that tag."""
        tag, _, rest = line.partition(b" ")
        cmd = self._tags.pop(tag, None)
        if cmd is None:
            return
        status = rest.split(b" ", 1)[0].upper()
        if tag == self._auth_tag:
            self._auth_tag, self._auth = None, None
        if status not in (b"OK", b"NO", b"BAD"):
            anomaly(self.anomalies, self.name, "malformed tagged response")
            return
        if cmd.verb == "STARTTLS":
            if status == b"OK":
                self._stop()
            return
        user = cmd.auth.user if cmd.auth is not None else cmd.user
        result = "success" if status == b"OK" else "failure"
        events.append(auth_event("imap", user, result, text(line)))

    def _stop(self) -> None:
        """The session turned to TLS: stop parsing."""
        self._stopped = True
        self._tags.clear()
        self._client.clear()
        self._server.clear()
