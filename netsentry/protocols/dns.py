"""DNS decoder: one UDP payload (or one TCP-framed message) into a Suricata 8 EVE ``dns`` v3 object.

Hand-written with :mod:`struct` rather than dpkt: dpkt raises on hostile names and
builds an object per record, and this runs for every DNS packet of a capture.

The record is the object Suricata 8.0 writes under ``dns`` (``version: 3``), built the
way ``rust/src/dns/log.rs`` builds it:

- ``type`` is ``request`` or ``response`` from the QR bit; ``id`` the wire id;
  ``flags`` the header flags in lowercase hex *without padding* (``"100"`` for a plain
  recursive query, ``"8180"`` for its answer); ``qr``/``aa``/``tc``/``rd``/``ra``/``z``
  present only when set; ``opcode`` always (an integer); ``rcode`` always, as a name
  (``NOERROR``, ``NXDOMAIN``, ...) or the number as a string when unnamed.
- ``queries[] {rrname, rrtype}``; ``answers[] {rrname, rrtype, ttl, rdata|soa|srv|sshfp}``;
  ``grouped {A: [...], CNAME: [...], ...}`` whenever there are answers;
  ``authorities[]``; ``additionals[]`` (an EDNS OPT record without options is left out,
  one with options is written with ``opt [{code, data}]``).
- A TXT record with several strings becomes one answer per string, as Suricata logs it.
- Names keep the case they have on the wire. Bytes that are not valid UTF-8 are written
  as ``\\xNN`` for each byte >= 0x80, as Suricata's ``set_string_from_bytes`` does.
- ``rrtype`` is the mnemonic for the types Suricata names, otherwise the decimal number
  (Suricata has no name for AXFR/IXFR, so those are ``"252"``/``"251"``).

Not in the record: ``tx_id`` (Suricata's per-flow transaction counter, written between
``type`` and ``id``) belongs to whoever numbers the flow's messages, the flow layer.

``AppEvent.extra`` carries numbers for detection rules (DNS tunnelling, DGA):
``rcode_num``, ``qtype_num`` (-1 without a question), ``names_malformed`` (names in this
message that were damaged), ``txt_bytes`` (bytes in all TXT strings) and ``label_max``
(longest label in any name of the message).

Damage never raises. A message too short for its header, or whose question section
cannot be read to its end, yields no event and counts ``dns: malformed message``. A
damaged name (compression loop, pointer forward or out of range, label type 0x40/0x80,
longer than 255 bytes) is counted under its own reason, kept as far as it could be read,
and the message goes on being decoded when the name's end is known. A record section
that runs off the end of the message keeps the records read before it
(``dns: truncated record``). Work is bounded: ``Limits.max_records`` records kept per
section, at most 128 compression pointers and 255 labels per name.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Any, ClassVar

from netsentry.protocols.base import TO_CLIENT, TO_SERVER, AppEvent, Limits, StreamParser

PROTO = "dns"

PORTS: frozenset[int] = frozenset({53, 5353, 5355})
"""Ports on which the flow layer hands UDP payloads and TCP streams to this decoder."""

MAX_POINTERS = 128  # compression pointers followed per name
MAX_LABELS = 255  # labels + pointers per name (Suricata's segment bound)
MAX_NAME_TEXT = 1025  # characters of a name kept in the record (Suricata's MAX_NAME_LEN)
MAX_WIRE_NAME = 255  # RFC 1035: a name is at most 255 octets on the wire

_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")  # type, class, ttl, rdlength (after the owner name)
_OPTION = struct.Struct("!HH")  # EDNS option code, length
_SOA = struct.Struct("!IIIII")
_SRV = struct.Struct("!HHH")

# rrtype names Suricata 8 writes (rust/src/dns: DNSRecordType); others as decimal text.
RRTYPE_NAMES: dict[int, str] = {
    1: "A",
    2: "NS",
    3: "MD",
    4: "MF",
    5: "CNAME",
    6: "SOA",
    7: "MB",
    8: "MG",
    9: "MR",
    10: "NULL",
    11: "WKS",
    12: "PTR",
    13: "HINFO",
    14: "MINFO",
    15: "MX",
    16: "TXT",
    17: "RP",
    18: "AFSDB",
    19: "X25",
    20: "ISDN",
    21: "RT",
    22: "NSAP",
    23: "NSAPPTR",
    24: "SIG",
    25: "KEY",
    26: "PX",
    27: "GPOS",
    28: "AAAA",
    29: "LOC",
    30: "NXT",
    33: "SRV",
    34: "ATMA",
    35: "NAPTR",
    36: "KX",
    37: "CERT",
    38: "A6",
    39: "DNAME",
    41: "OPT",
    42: "APL",
    43: "DS",
    44: "SSHFP",
    45: "IPSECKEY",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    49: "DHCID",
    50: "NSEC3",
    51: "NSEC3PARAM",
    52: "TLSA",
    55: "HIP",
    59: "CDS",
    60: "CDNSKEY",
    65: "HTTPS",
    99: "SPF",
    249: "TKEY",
    250: "TSIG",
    254: "MAILA",
    255: "ANY",
    256: "URI",
}

RCODE_NAMES: dict[int, str] = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}

_T_A, _T_NS, _T_CNAME, _T_SOA, _T_NULL, _T_PTR, _T_MX, _T_TXT = 1, 2, 5, 6, 10, 12, 15, 16
_T_AAAA, _T_SRV, _T_OPT, _T_SSHFP = 28, 33, 41, 44
_NAME_TYPES = frozenset({_T_NS, _T_CNAME, _T_PTR})


def rrtype_name(rrtype: int) -> str:
    """The rrtype as Suricata writes it: its mnemonic, or the number in decimal."""
    name = RRTYPE_NAMES.get(rrtype)
    return name if name is not None else str(rrtype)


def rcode_name(rcode: int) -> str:
    """The 4-bit header rcode as Suricata writes it: its name, or the number in decimal."""
    name = RCODE_NAMES.get(rcode)
    return name if name is not None else str(rcode)


def text(raw: bytes) -> str:
    """Bytes as Suricata's ``set_string_from_bytes`` writes them.

    Valid UTF-8 is kept as it is (the JSON writer escapes control characters);
    otherwise every byte >= 0x80 becomes the four characters ``\\xNN``.
    """
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return "".join(chr(b) if b < 0x80 else f"\\x{b:02x}" for b in raw)


def format_addr(raw: bytes) -> str:
    """rdata of A/AAAA as Suricata prints it: by length, IPv6 fully expanded, else ``""``."""
    if len(raw) == 4:
        return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"
    if len(raw) == 16:
        return ":".join(raw[i : i + 2].hex() for i in range(0, 16, 2))
    return ""


class _Msg:
    """Per-message decoding state: the payload, the counters and the statistics for extra."""

    __slots__ = (
        "anomalies",
        "data",
        "label_max",
        "malformed",
        "memo",
        "remember",
        "size",
        "truncated_names",
    )

    def __init__(self, data: bytes, anomalies: Counter[str]) -> None:
        self.data = data
        self.size = len(data)
        self.anomalies = anomalies
        self.malformed = 0  # names damaged in this message
        self.label_max = 0
        self.truncated_names = 0
        # Offset of a label -> (labels, index, wire length) of the sound name read from
        # there, so a pointer to it (the common case: every owner name of an answer)
        # costs one lookup instead of walking the labels again.
        self.memo: dict[int, tuple[list[bytes], int, int]] = {}
        self.remember = False  # set when records follow, which may point back at names

    def bad(self, what: str) -> None:
        """Count one anomaly for this message."""
        self.anomalies[f"dns: {what}"] += 1

    def name(self, off: int, limit: int) -> tuple[str, int]:
        """Read the name at ``off``; return its text and the offset after it.

        Labels read in place must end by ``limit`` (the end of the rdata or of the
        message); a compression pointer may go anywhere before itself. The offset is
        -1 when the name's end cannot be known (cut short or a bad label before any
        pointer): the caller then stops reading that section. A damaged name whose end
        is known returns what could be read and the offset after its first pointer.
        """
        data = self.data
        size = self.size
        memo = self.memo
        labels: list[bytes] = []
        starts: list[int] = []  # offset of each label read in place (parallel to labels)
        after = -1  # offset after the first pointer, where the caller continues
        pos = off
        run_start = off  # where the current run of in-place labels began
        jumps = 0
        wire = 1
        label_max = self.label_max
        why = ""
        while True:
            if pos >= limit:
                why = "truncated name"
                break
            length = data[pos]
            if length == 0:
                pos += 1
                break
            if length < 0x40:
                end = pos + 1 + length
                if end > limit:
                    why = "truncated name"
                    break
                starts.append(pos)
                labels.append(data[pos + 1 : end])
                if length > label_max:
                    label_max = length
                wire += length + 1
                pos = end
                if len(labels) > MAX_LABELS:
                    why = "too many labels"
                    break
            elif length >= 0xC0:
                if pos + 1 >= limit:
                    why = "truncated name"
                    break
                target = ((length & 0x3F) << 8) | data[pos + 1]
                if after < 0:
                    after = pos + 2
                # A sound pointer goes strictly before the run of labels it ends, so
                # every hop lands lower than the last one and no name can loop.
                if target >= size:
                    why = "bad pointer"
                    break
                if target > pos:
                    why = "forward pointer"
                    break
                if target >= run_start:
                    why = "compression loop"  # at itself or back into this same name
                    break
                known = memo.get(target)
                if known is not None:
                    known_labels, index, known_wire = known
                    labels.extend(known_labels[index:])
                    wire += known_wire - 1
                    break
                jumps += 1
                if jumps > MAX_POINTERS:
                    why = "compression loop"
                    break
                run_start = pos = target
                limit = size
            else:
                why = "bad label"  # label types 0x40 and 0x80 (a "label" of 64..191)
                break
        self.label_max = label_max
        name = text(b".".join(labels)) if labels else ""
        if len(name) > MAX_NAME_TEXT:
            name = name[:MAX_NAME_TEXT]
            self.truncated_names += 1
        if why:
            self.malformed += 1
            self.bad(why)
            return name, after  # -1 when the end of the name is unknown
        if wire > MAX_WIRE_NAME:
            self.malformed += 1
            self.bad("name too long")
        elif starts and self.remember:
            suffix_wire = wire
            for index, start in enumerate(starts):
                if start not in memo:
                    memo[start] = (labels, index, suffix_wire)
                suffix_wire -= len(labels[index]) + 1
        return name, (after if after >= 0 else pos)


def parse_message(
    payload: bytes, direction: int, anomalies: Counter[str], limits: Limits
) -> list[AppEvent]:
    """Decode one DNS message into at most one ``dns`` AppEvent (see the module docstring).

    ``direction`` is the flow direction it travelled (TO_SERVER or TO_CLIENT); a query
    travelling to the client or an answer to the server is still decoded, and counted
    as ``dns: not a response`` / ``dns: not a request`` (Suricata's events).
    """
    if len(payload) < 12:
        anomalies["dns: malformed message"] += 1
        return []
    tid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(payload, 0)
    msg = _Msg(payload, anomalies)
    msg.remember = (ancount | nscount | arcount) != 0
    size = msg.size
    max_records = limits.max_records
    is_response = flags & 0x8000 != 0

    queries: list[dict[str, Any]] = []
    qtype_num = -1
    off = 12
    for i in range(qdcount):
        name, off = msg.name(off, size)
        if off < 0 or off + 4 > size:
            anomalies["dns: malformed message"] += 1
            return []
        qtype = (payload[off] << 8) | payload[off + 1]
        off += 4
        if i == 0:
            qtype_num = qtype
        if i < max_records:
            entry: dict[str, Any] = {"rrname": name, "rrtype": rrtype_name(qtype)}
            if msg.truncated_names:
                entry["rrname_truncated"] = True
            queries.append(entry)
        elif i == max_records:
            msg.bad("too many records")
        msg.truncated_names = 0

    if is_response and direction == TO_SERVER:
        msg.bad("not a request")
    elif not is_response and direction == TO_CLIENT:
        msg.bad("not a response")
    if flags & 0x0040:
        msg.bad("z flag set")

    record: dict[str, Any] = {
        "version": 3,
        "type": "response" if is_response else "request",
        "id": tid,
        "flags": f"{flags:x}",
    }
    if is_response:
        record["qr"] = True
    if flags & 0x0400:
        record["aa"] = True
    if flags & 0x0200:
        record["tc"] = True
    if flags & 0x0100:
        record["rd"] = True
    if flags & 0x0080:
        record["ra"] = True
    if flags & 0x0040:
        record["z"] = True
    record["opcode"] = (flags >> 11) & 0xF
    record["rcode"] = rcode_name(flags & 0xF)
    if queries:
        record["queries"] = queries

    txt_bytes = [0]
    if ancount or nscount or arcount:
        answers: list[dict[str, Any]] = []
        grouped: dict[str, list[Any]] = {}
        off = _section(msg, off, ancount, max_records, answers, grouped, 0, txt_bytes)
        if answers:
            record["answers"] = answers
            if grouped:
                record["grouped"] = grouped
        authorities: list[dict[str, Any]] = []
        off = _section(msg, off, nscount, max_records, authorities, None, 1, txt_bytes)
        if authorities:
            record["authorities"] = authorities
        additionals: list[dict[str, Any]] = []
        _section(msg, off, arcount, max_records, additionals, None, 2, txt_bytes)
        if additionals:
            record["additionals"] = additionals

    extra = {
        "rcode_num": flags & 0xF,
        "qtype_num": qtype_num,
        "names_malformed": msg.malformed,
        "txt_bytes": txt_bytes[0],
        "label_max": msg.label_max,
    }
    return [AppEvent(PROTO, record, direction, extra)]


def _section(
    msg: _Msg,
    off: int,
    count: int,
    max_records: int,
    out: list[dict[str, Any]],
    grouped: dict[str, list[Any]] | None,
    which: int,
    txt_bytes: list[int],
) -> int:
    """Read ``count`` resource records from ``off`` into ``out``; return the offset after.

    ``which`` is 0 for answers, 1 for authorities, 2 for additionals: the schema lets
    each section carry different keys. Returns -1 once the section cannot be followed
    (every later section is then skipped).
    """
    if off < 0 or count == 0:
        return off
    data = msg.data
    size = msg.size
    kept = 0
    for _ in range(count):
        name, off = msg.name(off, size)
        if off < 0:
            msg.bad("truncated record")
            return -1
        if off + 10 > size:
            msg.bad("truncated record")
            return -1
        rrtype, _rrclass, ttl, rdlen = _RR.unpack_from(data, off)
        start = off + 10
        end = start + rdlen
        if end > size:
            msg.bad("truncated record")
            return -1
        off = end
        if kept >= max_records:
            if kept == max_records:
                msg.bad("too many records")
                kept += 1
            if rrtype == _T_TXT:
                txt_bytes[0] += _txt_total(data, start, end)
            continue
        name_truncated = msg.truncated_names
        msg.truncated_names = 0
        type_name = rrtype_name(rrtype)

        if rrtype == _T_TXT:
            strings = _txt_strings(msg, start, end)
            for raw in strings:
                txt_bytes[0] += len(raw)
                value = text(raw)
                out.append({"rrname": name, "rrtype": type_name, "ttl": ttl, "rdata": value})
                if grouped is not None:
                    grouped.setdefault(type_name, []).append(value)
            kept += 1
            continue
        if rrtype == _T_OPT and rdlen == 0 and which == 2:
            continue  # Suricata leaves out an OPT record without options

        entry: dict[str, Any] = {"rrname": name}
        if name_truncated and which == 1:
            entry["rrname_truncated"] = True
        entry["rrtype"] = type_name
        entry["ttl"] = ttl
        group_value: Any = None
        if rrtype in (_T_A, _T_AAAA):
            group_value = entry["rdata"] = format_addr(data[start:end])
        elif rrtype in _NAME_TYPES or rrtype == _T_MX:
            at = start + 2 if rrtype == _T_MX else start
            if at < end:
                target, _after = msg.name(at, end)
                group_value = entry["rdata"] = target
                if msg.truncated_names and which == 1:
                    entry["rdata_truncated"] = True
                msg.truncated_names = 0
            else:
                msg.malformed += 1
                msg.bad("bad rdata")
        elif rrtype == _T_SOA:
            soa = _soa(msg, start, end)
            if soa is not None:
                group_value = soa
                if which != 2:  # the schema has no soa in additionals
                    entry["soa"] = soa
        elif rrtype == _T_SRV:
            srv = _srv(msg, start, end)
            if srv is not None:
                group_value = srv
                if which == 0:  # the schema has srv in answers only
                    entry["srv"] = srv
        elif rrtype == _T_NULL:
            group_value = entry["rdata"] = text(data[start:end])
        elif rrtype == _T_SSHFP:
            if rdlen >= 2 and which == 0:
                group_value = entry["sshfp"] = {
                    "fingerprint": data[start + 2 : end].hex(":"),
                    "algo": data[start],
                    "type": data[start + 1],
                }
        elif rrtype == _T_OPT and which == 2:
            opts = _opt(msg, start, end)
            if opts:
                entry["opt"] = opts
        out.append(entry)
        kept += 1
        if grouped is not None and group_value is not None:
            grouped.setdefault(type_name, []).append(group_value)
    return off


def _txt_strings(msg: _Msg, start: int, end: int) -> list[bytes]:
    """The character-strings of a TXT rdata; a string running past the end is cut there."""
    data = msg.data
    out: list[bytes] = []
    pos = start
    while pos < end:
        length = data[pos]
        stop = pos + 1 + length
        if stop > end:
            msg.bad("bad rdata")
            out.append(data[pos + 1 : end])
            break
        out.append(data[pos + 1 : stop])
        pos = stop
    return out


def _txt_total(data: bytes, start: int, end: int) -> int:
    """Bytes of TXT strings in a record that is not kept (for ``txt_bytes``)."""
    total = 0
    pos = start
    while pos < end:
        length = data[pos]
        total += min(length, end - pos - 1)
        pos += 1 + length
    return total


def _soa(msg: _Msg, start: int, end: int) -> dict[str, Any] | None:
    """The ``soa`` object of an SOA rdata, or None when it is damaged."""
    mname, pos = msg.name(start, end)
    if pos < 0 or pos > end:
        return None
    rname, pos = msg.name(pos, end)
    if pos < 0 or pos + 20 > end:
        msg.bad("bad rdata")
        return None
    serial, refresh, retry, expire, minimum = _SOA.unpack_from(msg.data, pos)
    return {
        "mname": mname,
        "rname": rname,
        "serial": serial,
        "refresh": refresh,
        "retry": retry,
        "expire": expire,
        "minimum": minimum,
    }


def _srv(msg: _Msg, start: int, end: int) -> dict[str, Any] | None:
    """The ``srv`` object of an SRV rdata, or None when it is damaged."""
    if start + 7 > end:
        msg.bad("bad rdata")
        return None
    priority, weight, port = _SRV.unpack_from(msg.data, start)
    target, _after = msg.name(start + 6, end)
    return {"priority": priority, "weight": weight, "port": port, "name": target}


def _opt(msg: _Msg, start: int, end: int) -> list[dict[str, Any]]:
    """EDNS options of an OPT rdata as ``[{code, data (hex)}]``."""
    data = msg.data
    out: list[dict[str, Any]] = []
    pos = start
    while pos + 4 <= end:
        code, length = _OPTION.unpack_from(data, pos)
        stop = pos + 4 + length
        if stop > end:
            msg.bad("bad rdata")
            break
        out.append({"code": code, "data": data[pos + 4 : stop].hex()})
        pos = stop
    return out


# -- DNS over TCP ---------------------------------------------------------------------

MAX_BAD_IN_A_ROW = 8  # malformed TCP messages in a row before giving up on a direction


class DnsTcpParser(StreamParser):
    """DNS over TCP: 2-byte length prefix, any number of messages per segment.

    Messages may be split anywhere across ``feed`` calls; at most one incomplete
    message (< 64 KiB + 2) is buffered per direction. After a gap the direction resumes
    only if the next bytes look like the start of a message (a plausible length and
    header); a direction that keeps producing malformed messages is abandoned.
    """

    name: ClassVar[str] = PROTO

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        super().__init__(anomalies, limits)
        self._buf = (bytearray(), bytearray())
        self._need = [2, 2]  # bytes the buffer must hold before anything can be parsed
        self._gap = [False, False]
        self._dead = [False, False]
        self._bad = [0, 0]

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        """Parse every complete message now available in ``direction``."""
        if self._dead[direction] or not data:
            return []
        buf = self._buf[direction]
        if self._gap[direction]:
            self._gap[direction] = False
            if not _plausible_start(direction, data):
                self._dead[direction] = True
                self.anomalies["dns: stream lost after gap"] += 1
                return []
        if buf:
            buf += data
            if len(buf) < self._need[direction]:
                return []
            data = bytes(buf)
            buf.clear()
        events: list[AppEvent] = []
        total = len(data)
        pos = 0
        need = 2
        while total - pos >= 2:
            length = (data[pos] << 8) | data[pos + 1]
            end = pos + 2 + length
            if end > total:
                need = 2 + length
                break
            if length == 0:
                self.anomalies["dns: empty message"] += 1
            else:
                got = parse_message(data[pos + 2 : end], direction, self.anomalies, self.limits)
                if got:
                    events.extend(got)
                    self._bad[direction] = 0
                else:
                    self._bad[direction] += 1
                    if self._bad[direction] >= MAX_BAD_IN_A_ROW:
                        self._dead[direction] = True
                        self.anomalies["dns: not dns over tcp"] += 1
                        return events
            pos = end
        if pos < total:
            buf += memoryview(data)[pos:]
        self._need[direction] = need
        return events

    def gap(self, direction: int, size: int) -> None:
        """Bytes were lost: drop the partial message and resynchronize on the next feed."""
        super().gap(direction, size)
        self._buf[direction].clear()
        self._need[direction] = 2
        self._gap[direction] = True

    def close(self) -> list[AppEvent]:
        """An unfinished message at the end of the flow is counted, not reported."""
        for direction in (TO_SERVER, TO_CLIENT):
            if self._buf[direction]:
                self.anomalies["dns: truncated message"] += 1
                self._buf[direction].clear()
        return []


def _plausible_start(direction: int, data: bytes) -> bool:
    """Whether ``data`` may start a length-prefixed message (after a gap).

    With a whole header at hand this is :func:`probe`; with less, only the length
    prefix can be judged.
    """
    if len(data) >= 14:
        return probe(direction, data)
    return len(data) < 2 or ((data[0] << 8) | data[1]) >= 12


_QCLASSES = frozenset({1, 3, 4, 254, 255})


def probe(direction: int, data: bytes) -> bool:
    """Whether the first bytes of a TCP direction look like DNS over TCP.

    Checks a plausible length prefix and header (QR bit matching the direction, a
    known opcode, one question in a request, record counts that fit the length) and,
    as far as the data goes, the question name and class.
    """
    if len(data) < 14:
        return False
    length, _tid, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHHH", data, 0)
    if length < 12:
        return False
    response = flags & 0x8000 != 0
    if response != (direction == TO_CLIENT):
        return False
    opcode = (flags >> 11) & 0xF
    if opcode not in (0, 1, 2, 4, 5, 6):
        return False
    if response:
        if qd > 1 or (flags & 0xF) > 10:
            return False
    elif qd != 1 or flags & 0x004F or (opcode == 0 and an):
        return False
    if 12 + qd * 5 + (an + ns + ar) * 11 > length:
        return False
    if qd == 0:
        return True
    # The first question name: in-place labels only (nothing precedes it to point at).
    end = min(len(data), 2 + length)
    pos = 14
    wire = 0
    while pos < end:
        label = data[pos]
        if label == 0:
            pos += 1
            if pos + 4 <= end:
                qclass = ((data[pos + 2] << 8) | data[pos + 3]) & 0x7FFF  # mDNS unicast bit
                return qclass in _QCLASSES
            return True
        if label > 63:
            return False
        wire += label + 1
        if wire > MAX_WIRE_NAME:
            return False
        pos += label + 1
    return True
