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


def _eol_regular(buf: bytes, i: int) -> int:
    """Length of a plain end of line at ``i`` (CRLF, LF CR, LF, CR), 0 if none."""
    pair = buf[i : i + 2]
    if pair in (b"\r\n", b"\n\r"):
        return 2
    return 1 if pair[:1] in (b"\r", b"\n") else 0


def _eol(buf: bytes, i: int) -> int:
    """Length of an end of line at ``i``, deformed ones included, 0 if none."""
    if buf.startswith(b"\n\r\r\n", i) and (
        buf[i + 4 : i + 5] == b"\n" or buf.startswith(b"\r\n", i + 4)
    ):
        return 4
    if buf.startswith(b"\r\n\r", i):
        j = i + 3
        while j < len(buf) and buf[j] in b"\r \t":
            j += 1
        if j > i + 3:
            if buf[j : j + 1] == b"\n":
                j += 1
            if not (buf[j : j + 1] == b"\n" or buf.startswith(b"\r\n", j)):
                return j - i
    return _eol_regular(buf, i)


def parse_response_head(
    buf: bytes, pos: int
) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
    """(end of the head, status line, [(name, value)]) of the head at ``pos``; None if
    incomplete. Lines before the status line that do not start with ``http`` are
    skipped, as libhtp hands them to the body of a response it never sees."""
    end = len(buf)
    i = pos
    while True:  # the status line
        found = _EOL_CHARS.search(buf, i)
        if found is None:
            return None
        j = found.start()
        line = buf[i:j]
        if buf[j] == 0x0D and j + 1 >= end:
            return None
        i = j + _eol_regular(buf, j)
        if _STATUS_START.match(line):
            status = line.lstrip(b" \t\r\n\x0b\x0c\x00")
            break
    headers: list[tuple[bytes, bytes]] = []
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


def _header(buf: bytes, i: int) -> tuple[int, tuple[bytes, bytes] | None] | None:
    """(where the next line starts, (name, value) or None for a line without colon)."""
    end = len(buf)
    terminated = 0
    colon = -1
    k = i
    while k < end:
        c = buf[k]
        if not terminated:
            if c == 0x3A:
                colon = k
                break
            if c in (0x0A, 0x0D):
                terminated = c
        elif c == 0x20:
            terminated = 0
        elif c == 0x0A and terminated == 0x0D:
            terminated = c
        else:
            break
        k += 1
    if k >= end:
        return None
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
            eol = _eol(buf, j)
            if buf[j + eol : j + eol + 1] in (b" ", b"\t", b"\x00"):
                folded = False  # a deformed end followed by blanks: not a fold either
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
        if fold == b"\x00" or not _TOKEN_COLON.match(buf, i):
            if not fold:
                return None
            rest = i
            continue
        return i, bytes(value)  # " Name:" after the line end is a new header


def has_status_line(buf: bytes) -> bool:
    """Whether any line of ``buf`` could be a status line (starts with ``http``)."""
    return any(_STATUS_START.match(line) for line in _EOL_CHARS.split(buf))
