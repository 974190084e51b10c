"""IRC decoder: one event per protocol line (RFC 1459 / RFC 2812 message syntax).

IRC matters to netsentry as botnet command and control: bots join a channel and read
their orders from its topic (numeric reply ``332 RPL_TOPIC``) or from PRIVMSGs, and
report back with PRIVMSGs. Suricata has no IRC logger, so the record shape is ours:

``{"command": "PRIVMSG", "params": [...], "prefix": "nick!user@host" | None,
"nick": str | None, "target": str | None, "text": str | None}``

- ``command`` is upper-cased (IRC commands are case-insensitive) or the 3-digit numeric.
- ``params`` are the middle parameters followed by the trailing one (after ``" :"``).
- ``nick`` is the argument of a NICK command (the name being taken), otherwise the nick
  part of the prefix; None when the prefix is a server name (it has a dot and no ``!``/``@``).
- ``target`` is where the message goes: the first parameter of PRIVMSG, NOTICE, JOIN,
  PART, TOPIC, MODE, KICK, INVITE, ...; for a numeric reply the first channel among its
  middle parameters (``332 me #chan :topic`` -> ``#chan``), else the recipient nick.
- ``text`` is the trailing parameter (None for JOIN and NICK, whose trailing parameter
  is a channel list or a nick); for messages sent without the colon (``PRIVMSG
  #c hello``) the last parameter of commands whose last parameter is text (PRIVMSG,
  NOTICE, TOPIC, 332, PART, KICK, QUIT, ...). For ``332`` it is the channel topic.

Lines end with LF (CR before it is dropped). Leading blanks and runs of blanks between
parameters are tolerated (as ircds do). IRCv3 message tags (``@k=v ...``) are skipped.
Bytes that are not UTF-8 are decoded with U+FFFD; text is otherwise kept as sent (CTCP
``\\x01`` and colour codes included). A line longer than ``Limits.max_line`` counts
``irc: line too long`` and is skipped up to the next newline; a line that is not an IRC
message counts ``irc: malformed line``. Nothing raises.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits, StreamParser

PROTO = "irc"

PORTS: frozenset[int] = frozenset({6665, 6666, 6667, 6668, 6669, 6697, 7000})
"""Well-known IRC ports; :func:`probe` finds IRC on any other port."""

CHANNEL_PREFIXES = "#&+!"

# Commands whose first parameter names the channel or nick the message is for.
TARGET_COMMANDS = frozenset(
    {
        "PRIVMSG",
        "NOTICE",
        "JOIN",
        "PART",
        "TOPIC",
        "MODE",
        "KICK",
        "INVITE",
        "NAMES",
        "WHO",
        "WHOIS",
        "WHOWAS",
        "LIST",
        "KILL",
        "SQUERY",
        "CPRIVMSG",
        "CNOTICE",
        "KNOCK",
    }
)

# Commands whose last parameter is free text even when sent without the ':' marker,
# with the least number of parameters for that last one to be text.
TEXT_COMMANDS: dict[str, int] = {
    "PRIVMSG": 2,
    "NOTICE": 2,
    "SQUERY": 2,
    "TOPIC": 2,
    "PART": 2,
    "KICK": 3,
    "QUIT": 1,
    "AWAY": 1,
    "ERROR": 1,
    "WALLOPS": 1,
    "332": 3,
}


def is_channel(name: str) -> bool:
    """Whether an IRC parameter names a channel (``#chan``, ``&local``, ``+modeless``, ``!id``)."""
    return bool(name) and name[0] in CHANNEL_PREFIXES


def _nick_of(prefix: str) -> str | None:
    """The nick in a ``nick!user@host`` prefix; None for a server name."""
    bang = prefix.find("!")
    if bang >= 0:
        return prefix[:bang] or None
    at = prefix.find("@")
    if at >= 0:
        return prefix[:at] or None
    if "." in prefix:
        return None  # a server: nicks cannot contain dots
    return prefix or None


def _is_command(word: str) -> bool:
    """A command is a word of ASCII letters or a 3-digit numeric."""
    if len(word) == 3 and word.isdigit() and word.isascii():
        return True
    return word.isascii() and word.isalpha()


def parse_line(line: bytes) -> dict[str, Any] | None:
    """Parse one IRC line (without its LF) into the record; None if it is not a message."""
    if line.endswith(b"\r"):
        line = line[:-1]
    s = line.decode("utf-8", "replace").lstrip(" ")
    if s.startswith("@"):  # IRCv3 tags
        space = s.find(" ")
        if space < 0:
            return None
        s = s[space + 1 :].lstrip(" ")
    prefix: str | None = None
    if s.startswith(":"):
        space = s.find(" ")
        if space < 0:
            return None
        prefix = s[1:space]
        s = s[space + 1 :].lstrip(" ")
    if not s:
        return None
    trailing: str | None = None
    if s.startswith(":"):
        return None  # a trailing parameter with no command before it
    mark = s.find(" :")
    if mark >= 0:
        trailing = s[mark + 2 :]
        s = s[:mark]
    words = [w for w in s.split(" ") if w]
    if not words or not _is_command(words[0]):
        return None
    command = words[0].upper()
    params = words[1:]
    if trailing is not None:
        params.append(trailing)

    nick = _nick_of(prefix) if prefix else None
    if command == "NICK" and params:
        nick = params[0]  # the nick being taken

    target: str | None = None
    if command.isdigit():
        # The first parameter is the recipient; the reply is about the first channel
        # among the middle parameters (332/333/366: #chan second; 353: third).
        for param in words[2:]:
            if is_channel(param):
                target = param
                break
        else:
            target = params[0] if params else None
    elif command in TARGET_COMMANDS and params:
        target = params[0]

    text = trailing
    if command in ("JOIN", "NICK"):
        text = None  # their trailing parameter is a channel list or a nick, not text
    elif text is None:
        least = TEXT_COMMANDS.get(command)
        if least is not None and len(params) >= least:
            text = params[-1]

    return {
        "command": command,
        "params": params,
        "prefix": prefix,
        "nick": nick,
        "target": target,
        "text": text,
    }


class IrcParser(StreamParser):
    """Line splitter and message parser for both directions of an IRC connection."""

    name: ClassVar[str] = PROTO

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self._buf = (bytearray(), bytearray())  # the unfinished line of each direction
        self._skip = [False, False]  # discarding up to the next LF

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        """Return one event per complete line in ``data`` (plus the line it completes)."""
        events: list[AppEvent] = []
        buf = self._buf[direction]
        max_line = self.limits.max_line
        pos = 0
        if self._skip[direction]:
            newline = data.find(b"\n")
            if newline < 0:
                return events
            pos = newline + 1
            self._skip[direction] = False
        while True:
            newline = data.find(b"\n", pos)
            if newline < 0:
                break
            if buf:
                buf += data[pos:newline]
                line = bytes(buf)
                buf.clear()
            else:
                line = data[pos:newline]
            pos = newline + 1
            self._line(line, direction, events, max_line)
        if pos < len(data):
            if len(buf) + len(data) - pos > max_line:
                self.anomalies["irc: line too long"] += 1
                buf.clear()
                self._skip[direction] = True
            else:
                buf += memoryview(data)[pos:]
        return events

    def _line(self, line: bytes, direction: int, events: list[AppEvent], max_line: int) -> None:
        """Parse one complete line and append its event, counting what is wrong with it."""
        if len(line) > max_line:
            self.anomalies["irc: line too long"] += 1
            return
        if not line.strip():
            return
        record = parse_line(line)
        if record is None:
            self.anomalies["irc: malformed line"] += 1
            return
        events.append(AppEvent(PROTO, record, direction))

    def gap(self, direction: int, size: int) -> None:
        """Bytes were lost: drop the unfinished line and resume after the next LF."""
        super().gap(direction, size)
        self._buf[direction].clear()
        self._skip[direction] = True

    def close(self) -> list[AppEvent]:
        """A last line without LF at the end of the flow still counts as a message."""
        events: list[AppEvent] = []
        for direction in (TO_SERVER, TO_CLIENT):
            buf = self._buf[direction]
            if buf and not self._skip[direction]:
                self._line(bytes(buf), direction, events, self.limits.max_line)
            buf.clear()
        return events


_CLIENT_FIRST = frozenset({b"NICK", b"PASS", b"CAP", b"JOIN", b"USER"})
_SERVER_COMMANDS = frozenset(
    {b"NOTICE", b"PRIVMSG", b"PING", b"PONG", b"MODE", b"JOIN", b"ERROR", b"CAP", b"NICK"}
)


def probe(direction: int, data: bytes) -> bool:
    """Whether the first bytes of a TCP direction look like IRC (either side, any port).

    Client: a first line ``NICK x``, ``PASS x``, ``CAP LS``, ``JOIN #c`` or ``USER u m * :r``
    (USER needs its four parameters, which tells IRC from FTP/POP3 ``USER name``).
    Server: ``:server NOTICE ...``, ``:server 001 ...`` (any numeric), ``PING :x``,
    ``NOTICE AUTH :...``, ``ERROR :...``.
    """
    end = data.find(b"\n", 0, 512)
    line = data[: end if end >= 0 else 512].rstrip(b"\r")
    if not line or any(b < 0x20 and b != 0x09 for b in line) or b"\x7f" in line:
        return False
    line = line.lstrip(b" ")
    if line.startswith(b":"):
        parts = line.split(b" ", 2)
        if len(parts) < 3 or len(parts[0]) < 2:
            return False
        command = parts[1]
        return (len(command) == 3 and command.isdigit()) or command.upper() in _SERVER_COMMANDS
    word, _, rest = line.partition(b" ")
    word = word.upper()
    rest = rest.strip(b" ")
    if not rest:
        return False
    if word in _CLIENT_FIRST:
        if word == b"USER":
            head, _, trailing = rest.partition(b" :")
            count = len(head.split())
            return count >= 4 or (count >= 3 and bool(trailing))
        if word == b"JOIN":
            return rest[:1] in (b"#", b"&", b"+", b"!", b"0", b":")
        return True
    if word == b"PING":
        return rest.startswith(b":")
    if word in (b"NOTICE", b"ERROR"):
        return rest.startswith((b"AUTH ", b"* :", b":"))
    return False
