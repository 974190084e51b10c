"""HTTP response heads read the lenient way libhtp (Suricata's parser) reads them.

Evasions hide ``Transfer-Encoding`` or ``Content-Encoding`` from strict parsers;
libhtp, like browsers, accepts them, so :func:`parse_response_head` does too:

* the status line is the first line that starts (after blanks and NULs) with
  ``http`` in any case; lines before it are skipped, and a line may end in CR
  alone;
* header lines end in CRLF, LF CR, LF or CR alone (and libhtp's deformed
  ``CRLF CR...`` ends); an end of line followed by a space, tab or NUL folds the
  next line into the value, unless that line reads ``token:`` (a new header);
* a name may run over an end of line followed by spaces up to its colon, and
  names and values are trimmed of all whitespace (``\\v``, ``\\f`` included);
* a line without a colon is no header; an empty line ends the head.

Returns None while the head is incomplete; never raises on content.
"""

from __future__ import annotations

import re

_SPACE = b" \t\r\n\x0b\x0c"
_STATUS_START = re.compile(rb"[ \t\r\n\x0b\x0c\x00]*http", re.IGNORECASE)
_TOKEN_COLON = re.compile(rb"[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]*:")
_EOL_CHARS = re.compile(rb"[\r\n]")
_NAME_STOP = re.compile(rb"[:\r\n]")
# a head nothing unusual happens in, read in one go (the general parser agrees)
_PLAIN_HEAD = re.compile(rb"HTTP/[^\r\n]*\r\n(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n]*\r\n)*\r\n")
_PLAIN_FIELD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([^\r\n]*)\r\n")


def _eol_regular(buf: bytes, i: int) -> int:
    """Length of a plain end of line at ``i`` (CRLF, LF CR, LF, CR), 0 if none."""
    pair = buf[i : i + 2]
    if pair in (b"\r\n", b"\n\r"):
        return 2
    return 1 if pair[:1] in (b"\r", b"\n") else 0


def _eol(buf: bytes, i: int) -> int | None:
    """Length of an end of line at ``i``, libhtp's deformed ones included (0 if none);
    None when the bytes seen cannot tell yet."""
    end = len(buf)
    if buf.startswith(b"\n\r\r\n", i):  # deformed when another line end follows
        after = buf[i + 4 : i + 6]
        if not after or after == b"\r":
            return None
        if after[:1] == b"\n" or after == b"\r\n":
            return 4
    elif i + 4 > end and b"\n\r\r\n".startswith(buf[i:]):
        return None
    if buf.startswith(b"\r\n\r", i):  # CR LF CR, blanks or CRs: deformed unless a line end follows
        j = i + 3
        while j < end and buf[j] in b"\r \t":
            j += 1
        if j >= end:
            return None
        if j > i + 3:
            if buf[j] == 0x0A:
                j += 1
            after = buf[j : j + 2]
            if not after or after == b"\r":
                return None
            if not (after[:1] == b"\n" or after == b"\r\n"):
                return j - i
    elif i + 3 > end and b"\r\n\r".startswith(buf[i:]):
        return None
    return _eol_regular(buf, i)


class HeadProgress:
    """How far an incomplete response head was read, so the next try resumes there.

    ``at`` is relative to where the head starts; headers before it are final
    (where each ends was decided by bytes already seen).
    """

    __slots__ = ("at", "headers", "status")

    def __init__(self) -> None:
        self.at = 0
        self.status: bytes | None = None
        self.headers: list[tuple[bytes, bytes]] = []


def parse_response_head(
    buf: bytes, pos: int, progress: HeadProgress | None = None
) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
    """(end of the head, status line, [(name, value)]) of the head at ``pos``; None if
    incomplete (``progress``, when given, then records how far it got). Lines
    before the status line that do not start with ``http`` are skipped, as libhtp
    hands them to the body of a response it never sees."""
    end = len(buf)
    plain = _PLAIN_HEAD.match(buf, pos)
    if plain is not None:  # the usual head: CRLF lines, "token:" headers, no folding
        fields = buf[buf.index(b"\n", pos) + 1 : plain.end() - 2]
        pairs = [(n, v.strip(_SPACE)) for n, v in _PLAIN_FIELD.findall(fields)]
        return plain.end(), buf[pos : buf.index(b"\r", pos)], pairs
    if progress is not None and progress.status is not None:
        i, status, headers = pos + progress.at, progress.status, progress.headers
    else:
        i = pos
        while True:  # the status line
            found = _EOL_CHARS.search(buf, i)
            if found is None:
                return None
            j = found.start()
            if j + 1 >= end:  # is it CR LF, LF CR or one of them?
                return None
            line = buf[i:j]
            i = j + _eol_regular(buf, j)
            if _STATUS_START.match(line):
                status = line.lstrip(b" \t\r\n\x0b\x0c\x00")
                break
        headers = []
        if progress is not None:
            progress.status, progress.headers, progress.at = status, headers, i - pos
    while True:
        if i >= end:
            return None
        if buf[i] in b"\r\n":  # an empty line: the end of the head
            if buf[i] == 0x0D and i + 1 >= end:
                return None
            return i + _eol_regular(buf, i), status, headers
        parsed = _header(buf, i)
        if parsed is None:
            return None
        i, header = parsed
        if header is not None:
            headers.append(header)
        if progress is not None:
            progress.at = i - pos


def _header(buf: bytes, i: int) -> tuple[int, tuple[bytes, bytes] | None] | None:
    """(where the next line starts, (name, value) or None for a line without colon)."""
    end = len(buf)
    colon = -1
    k = i
    while True:
        found = _NAME_STOP.search(buf, k)
        if found is None:
            return None
        k = found.start()
        if buf[k] == 0x3A:
            colon = k
            break
        # a line end inside a name continues it when spaces follow (libhtp's rule)
        j = k + 2 if buf.startswith(b"\r\n", k) else k + 1
        if j >= end:
            return None
        if buf[j] != 0x20:
            break
        while j < end and buf[j] == 0x20:
            j += 1
        if j >= end:
            return None
        k = j
    if colon < 0:  # no colon: the line is skipped
        parsed = _value(buf, i)
        return None if parsed is None else (parsed[0], None)
    name = buf[i:colon].strip(_SPACE)
    k = colon + 1
    while k < end and buf[k] in b" \t":
        k += 1
    parsed = _value(buf, k)
    if parsed is None:
        return None
    nxt, value = parsed
    return nxt, (name, value.strip(_SPACE))


def _value(buf: bytes, i: int) -> tuple[int, bytes] | None:
    """(where the next line starts, the value with folded lines joined)."""
    end = len(buf)
    value = bytearray()
    fold = b""
    rest = i
    while True:
        found = _EOL_CHARS.search(buf, i)
        if found is None or found.start() + 2 >= end:
            return None
        j = found.start()
        part = buf[i:j]
        eol = _eol_regular(buf, j)
        folded = buf[j + eol : j + eol + 1] in (b" ", b"\t", b"\x00")
        if not folded:
            deformed = _eol(buf, j)
            if deformed is None:
                return None
            eol = deformed
        if fold:
            if value:
                value += fold[:1]
            if part or eol > 1:
                value += part
                rest = j + eol
            elif buf[j + eol : j + eol + 1] == b"\n":
                rest = j + eol
        else:
            value += part
            rest = j + eol
        if not folded:
            return rest, bytes(value)
        fold = buf[j + eol : j + eol + 1]
        i = j + eol + 1
        if _TOKEN_COLON.match(buf, i):
            return i, bytes(value)  # " Name:" after the line end is a new header
        rest = i


def has_status_line(buf: bytes) -> bool:
    """Whether any line of ``buf`` could be a status line (starts with ``http``)."""
    return any(_STATUS_START.match(line) for line in _EOL_CHARS.split(buf))
