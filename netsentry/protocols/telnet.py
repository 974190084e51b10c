"""Telnet sessions: login outcomes, guessed conservatively from the dialogue text.

Telnet has no login protocol: a server prints prompts and messages, the client
types. :class:`TelnetParser` first removes option negotiation from both
directions (``IAC`` commands, ``IAC SB ... IAC SE`` subnegotiation; ``IAC IAC``
is a data byte 255) and turns ``CR LF``/``CR NUL``/lone ``CR`` into line ends,
then follows one login dialogue:

1. a server prompt ending the output with ``login:``, ``username:``,
   ``user name:`` or ``user:`` asks for a user name;
2. the next line the client types (echoing is ignored; clients often send one
   character per segment; backspaces are applied) is the user;
3. a ``password:`` prompt (or ``passcode:``) asks for the password, and the
   next client line is taken as the password, never stored;
4. the server's verdict, after the user name or the password:

   * **failure**: a server line containing ``login incorrect``, ``authentication
     failed``, ``access denied``, ``login failed``, ``login invalid``, ``invalid
     login``, ``bad password``, ``invalid password`` or ``incorrect password``
     (any case); or, once the password was typed, a new login or password prompt
     without any message (some devices just ask again);
   * **success**: once the password was typed, a line containing ``last login``,
     or output that stops at what looks like a shell prompt: at most 80
     characters ending in ``$``, ``#``, ``>`` or ``%`` (plus spaces), such as
     ``user@host:~$ `` or ``Router>``.

A failure returns to step 1; a success ends the analysis of the connection.
Prompts are recognized at the end of output (an unfinished line; "Last login:"
is not one), or ending a whole line, and each prompt is acted on once. Anything else, including
unusual prompts and messages in other languages, gives no event: the heuristic
prefers a missed outcome to a wrong one. Events are ``proto="auth"``,
``service="telnet"``, ``TO_CLIENT``, with the deciding server text as
``extra["reply"]``.
"""

from __future__ import annotations

import re
from collections import Counter

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits, StreamParser, anomaly
from netsentry.protocols.lines import LineSplitter, auth_event, text

PORTS: frozenset[int] = frozenset({23, 2323})

IAC, SB, SE = 0xFF, 0xFA, 0xF0
_OPTION_VERBS = range(0xFB, 0xFF)  # WILL, WONT, DO, DONT: followed by one option byte
MAX_SUBNEGOTIATION = 4096
"""Bytes of one ``IAC SB`` subnegotiation skipped before it counts as runaway and data resumes."""
MAX_PROMPT = 80
"""Longest unfinished output line taken as a shell prompt."""

# NVT decoder states
_DATA, _IAC, _OPTION, _SUB, _SUB_IAC = range(5)
# login dialogue states
_IDLE, _USER, _USER_SENT, _PASSWORD, _VERDICT, _DONE = range(6)

_USER_PROMPT = re.compile(rb"(?:(?<!last )login|username|user name|user)\s*:\s*$")
_PASSWORD_PROMPT = re.compile(rb"pass(?:word|code)\s*:\s*$")
_FAILURE = re.compile(
    rb"login incorrect|authentication failed|access denied|login failed|login invalid"
    rb"|invalid login|bad password|invalid password|incorrect password"
)
_SHELL_PROMPT = re.compile(rb"[$#>%] *$")


def probe(direction: int, data: bytes) -> bool:
    """True when a direction starts with option negotiation: ``IAC`` + WILL/WONT/DO/DONT/SB."""
    return len(data) >= 2 and data[0] == IAC and (data[1] in _OPTION_VERBS or data[1] == SB)


class NvtDecoder:
    """One direction of a telnet connection as plain text: negotiation removed, line ends as LF."""

    __slots__ = ("_cr", "_state", "_sub_len")

    def __init__(self) -> None:
        self._state = _DATA
        self._sub_len = 0
        self._cr = False  # the previous chunk ended with CR

    def reset(self) -> None:
        """Forget any sequence in progress (after a gap)."""
        self._state, self._sub_len, self._cr = _DATA, 0, False

    def decode(self, data: bytes, anomalies: Counter[str]) -> bytes:
        """The data bytes of the next chunk, IAC sequences removed, CR LF / CR NUL / CR → LF."""
        out = bytearray()
        i, n, state = 0, len(data), self._state
        while i < n:
            if state == _DATA:
                j = data.find(b"\xff", i)
                if j < 0:
                    out += data[i:]
                    break
                out += data[i:j]
                i, state = j + 1, _IAC
            elif state == _SUB:
                j = data.find(b"\xff", i)
                stop = n if j < 0 else j
                self._sub_len += stop - i
                i, state = (n, _SUB) if j < 0 else (j + 1, _SUB_IAC)
                if self._sub_len > MAX_SUBNEGOTIATION:
                    anomaly(anomalies, "telnet", "runaway subnegotiation")
                    state = _DATA
            else:
                byte = data[i]
                i += 1
                if state == _IAC:
                    if byte == IAC:
                        out.append(IAC)
                        state = _DATA
                    elif byte in _OPTION_VERBS:
                        state = _OPTION
                    elif byte == SB:
                        state, self._sub_len = _SUB, 0
                    else:
                        state = _DATA  # a two-byte command (NOP, GA, AYT, ...)
                elif state == _OPTION:
                    state = _DATA
                else:  # _SUB_IAC: IAC SE ends it, IAC IAC is a 255 inside it
                    state = _DATA if byte == SE else _SUB
        self._state = state
        return self._line_ends(bytes(out))

    def _line_ends(self, chunk: bytes) -> bytes:
        """Make every NVT line end a single LF, also when CR and its partner are split."""
        if not chunk:
            return chunk
        if self._cr and chunk[:1] in (b"\n", b"\x00"):
            chunk = chunk[1:]
        self._cr = chunk.endswith(b"\r")
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r\x00", b"\n").replace(b"\r", b"\n")
        return chunk.replace(b"\x00", b"")


def erase(line: bytes) -> bytes:
    """``line`` with backspace (BS, DEL) editing applied, as the server would read it."""
    if b"\x08" not in line and b"\x7f" not in line:
        return line
    out = bytearray()
    for byte in line:
        if byte in (0x08, 0x7F):
            if out:
                out.pop()
        else:
            out.append(byte)
    return bytes(out)


class TelnetParser(StreamParser):
    """Decoder of one telnet connection (see the module docstring for the login heuristic)."""

    name = "telnet"

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self._nvt = (NvtDecoder(), NvtDecoder())
        self._lines = (
            LineSplitter(self.limits.max_line, anomalies, self.name),
            LineSplitter(self.limits.max_line, anomalies, self.name),
        )
        self._state = _IDLE
        self._user: str | None = None
        self._mark = 0  # bytes of the unfinished server line already read for prompts

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        """Consume stream bytes; return the login outcome they reveal, if any."""
        events: list[AppEvent] = []
        if self._state == _DONE or not data:
            return events
        chunk = self._nvt[direction].decode(data, self.anomalies)
        if not chunk:
            return events
        lines = self._lines[direction]
        lines.push(chunk)
        if direction == TO_SERVER:
            while (line := lines.next_line()) is not None:
                self._typed(erase(line).strip())
            return events
        while self._state != _DONE and (line := lines.next_line()) is not None:
            fresh, self._mark = line[self._mark :], 0
            self._output(line, fresh, events)
        if self._state != _DONE:
            tail = lines.partial()
            if self._prompt(tail[self._mark :], events, tail=True):
                self._mark = len(tail)
        return events

    def gap(self, direction: int, size: int) -> None:
        """Lost bytes: resynchronize that direction at its next line."""
        super().gap(direction, size)
        self._nvt[direction].reset()
        self._lines[direction].resync()
        if direction == TO_CLIENT:
            self._mark = 0

    def close(self) -> list[AppEvent]:
        """A verdict message left without a line end still counts."""
        events: list[AppEvent] = []
        if self._state not in (_DONE, _IDLE, _USER):
            tail = self._lines[TO_CLIENT].partial()
            if tail:
                self._output(tail, b"", events)
        return events

    def _typed(self, line: bytes) -> None:
        """One line typed by the client: the user name or the password, by dialogue state."""
        if self._state == _USER:
            self._user = text(line) if line else None
            self._state = _USER_SENT
        elif self._state == _PASSWORD:
            self._state = _VERDICT

    def _output(self, line: bytes, fresh: bytes, events: list[AppEvent]) -> None:
        """One complete server line: a verdict message, or a prompt printed with a line end.

        ``fresh`` is the part of the line not yet read for prompts.
        """
        low = line.lower()
        if self._state in (_USER_SENT, _PASSWORD, _VERDICT) and _FAILURE.search(low):
            self._verdict("failure", line, events)
        elif self._state == _VERDICT and b"last login" in low:
            self._verdict("success", line, events)
        elif fresh:
            self._prompt(fresh, events, tail=False)

    def _prompt(self, out: bytes, events: list[AppEvent], *, tail: bool) -> bool:
        """Act on ``out`` if it ends in a prompt; True when it did."""
        low = out.lower()
        if _USER_PROMPT.search(low):
            if self._state == _VERDICT:
                self._verdict("failure", out, events)
            self._state = _USER
            return True
        if _PASSWORD_PROMPT.search(low):
            if self._state == _VERDICT:
                self._verdict("failure", out, events)
            self._state = _PASSWORD
            return True
        if (
            tail
            and self._state == _VERDICT
            and len(out) <= MAX_PROMPT
            and _SHELL_PROMPT.search(out)
        ):
            self._verdict("success", out, events)
            return True
        return False

    def _verdict(self, result: str, line: bytes, events: list[AppEvent]) -> None:
        """Emit one login outcome and move the dialogue on."""
        events.append(auth_event("telnet", self._user, result, text(line.strip())))
        self._state = _DONE if result == "success" else _IDLE
        if result == "failure":
            self._user = None
