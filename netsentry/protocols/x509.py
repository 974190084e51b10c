"""A minimal DER walker for the X.509 certificate fields EVE's ``tls`` object carries.

Only what Suricata logs for the server's first certificate is extracted:
subject and issuer DNs, serial number, validity dates, and the SHA-1 of the
DER encoding. No signature check, no extension parsing, no new dependency.

Formats follow Suricata 8 (which formats with the Rust ``x509-parser`` crate):

- DN: RDNs in certificate order joined by ``", "``, attributes of a multi-valued
  RDN joined by ``" + "``, each ``ABBREV=value`` (``C``, ``ST``, ``L``, ``O``,
  ``OU``, ``CN``, ``DC``, ``Email``; other known types by their short name such
  as ``serialNumber``; unknown types as ``OID(1.2.3)``). String values are
  decoded (BMPString as UTF-16); non-string values are shown as uppercase hex.
- serial: the INTEGER's content bytes, uppercase hex joined by ``:`` (a leading
  ``00`` byte stays, as Suricata keeps it).
- fingerprint: SHA-1 of the whole DER, lowercase hex joined by ``:``.
- notbefore/notafter: UTC, ``YYYY-MM-DDTHH:MM:SS``.

:func:`parse_certificate` raises :class:`X509Error` (and nothing else) on any
malformed input; the TLS decoder turns that into an anomaly count.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

# Universal tags we look at.
_INTEGER = 0x02
_OID = 0x06
_SEQUENCE = 0x30
_SET = 0x31
_UTCTIME = 0x17
_GENTIME = 0x18
_VERSION_TAG = 0xA0  # [0] EXPLICIT version in TBSCertificate

# x509-parser's abbreviations first, then the short names of its OID registry.
_ATTR_NAMES: dict[str, str] = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "Email",
    "2.5.4.4": "surname",
    "2.5.4.5": "serialNumber",
    "2.5.4.9": "streetAddress",
    "2.5.4.12": "title",
    "2.5.4.13": "description",
    "2.5.4.15": "businessCategory",
    "2.5.4.17": "postalCode",
    "2.5.4.41": "name",
    "2.5.4.42": "givenName",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.45": "uniqueIdentifier",
    "2.5.4.46": "dnQualifier",
    "1.2.840.113549.1.9.2": "unstructuredName",
}

# String types x509-parser decodes as UTF-8 (everything else but BMPString is hex).
_UTF8_STRING_TAGS = frozenset(
    (
        0x0C,  # UTF8String
        0x12,  # NumericString
        0x13,  # PrintableString
        0x14,  # T61String
        0x15,  # VideotexString
        0x16,  # IA5String
        0x19,  # GraphicString
        0x1A,  # VisibleString
        0x1B,  # GeneralString
        0x07,  # ObjectDescriptor
    )
)
_BMP_STRING = 0x1E

_MAX_RDNS = 256  # a DN with more parts than this is not a certificate we want to print


class X509Error(ValueError):
    """The bytes are not a DER certificate this walker can read."""


@dataclass(frozen=True, slots=True)
class Certificate:
    """The EVE-relevant fields of one X.509 certificate, already formatted like Suricata."""

    subject: str
    issuerdn: str
    serial: str
    notbefore: str
    notafter: str
    sha1: str  # 40 lowercase hex digits, no separators (for intel lookups)

    @property
    def fingerprint(self) -> str:
        """The SHA-1 as Suricata writes ``tls.fingerprint``: ``aa:bb:...``."""
        return ":".join(self.sha1[i : i + 2] for i in range(0, len(self.sha1), 2))


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read one DER TLV at ``pos``; return (tag, content start, content end)."""
    if pos + 2 > end:
        raise X509Error("truncated element header")
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        # High tag numbers never occur in the fields we read; skip over them
        # correctly anyway so the walker stays in step.
        while True:
            if pos >= end:
                raise X509Error("truncated tag")
            more = data[pos] & 0x80
            pos += 1
            if not more:
                break
    if pos >= end:
        raise X509Error("truncated length")
    first = data[pos]
    pos += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise X509Error("indefinite length is not DER")
    else:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise X509Error("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise X509Error("element longer than its container")
    return tag, pos, pos + length


def _expect(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    got, start, stop = _tlv(data, pos, end)
    if got != tag:
        raise X509Error(f"expected {what}")
    return start, stop


def _oid_text(body: bytes) -> str:
    if not body:
        raise X509Error("empty OID")
    arcs: list[int] = []
    value = 0
    for b in body:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    if body[-1] & 0x80:
        raise X509Error("truncated OID")
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


def _attr_value(tag: int, body: bytes) -> str:
    if tag in _UTF8_STRING_TAGS:
        return body.decode("utf-8", "replace")
    if tag == _BMP_STRING:
        return body.decode("utf-16-be", "replace")
    return body.hex().upper()


def _name(data: bytes, start: int, end: int) -> str:
    """Format a Name (SEQUENCE OF RDN) the way x509-parser displays it."""
    rdns: list[str] = []
    pos = start
    while pos < end:
        if len(rdns) >= _MAX_RDNS:
            raise X509Error("too many RDNs")
        set_start, set_end = _expect(data, pos, end, _SET, "RDN set")
        pos = set_end
        attrs: list[str] = []
        apos = set_start
        while apos < set_end:
            seq_start, seq_end = _expect(data, apos, set_end, _SEQUENCE, "attribute")
            apos = seq_end
            oid_start, oid_end = _expect(data, seq_start, seq_end, _OID, "attribute type")
            oid = _oid_text(data[oid_start:oid_end])
            vtag, vstart, vend = _tlv(data, oid_end, seq_end)
            label = _ATTR_NAMES.get(oid, f"OID({oid})")
            attrs.append(f"{label}={_attr_value(vtag, data[vstart:vend])}")
        rdns.append(" + ".join(attrs))
    return ", ".join(rdns)


def _time(tag: int, body: bytes) -> str:
    """Convert UTCTime/GeneralizedTime to ``YYYY-MM-DDTHH:MM:SS`` in UTC."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise X509Error("time is not ASCII") from exc
    if tag == _UTCTIME:
        if len(text) < 10 or not text[:2].isdigit():
            raise X509Error("bad UTCTime")
        yy = int(text[:2])
        # RFC 5280 §4.1.2.5.1: YY >= 50 means 19YY.
        text = ("19" if yy >= 50 else "20") + text
    elif tag != _GENTIME:
        raise X509Error("expected a time")
    n = 0
    while n < len(text) and n < 14 and text[n].isdigit():
        n += 1
    digits, rest = text[:n], text[n:]
    if n == 12:  # seconds omitted (allowed in BER UTCTime)
        digits += "00"
    elif n != 14:
        raise X509Error("bad time")
    if rest.startswith("."):  # fractional seconds: dropped, Suricata logs whole seconds
        i = 1
        while i < len(rest) and rest[i].isdigit():
            i += 1
        rest = rest[i:]
    try:
        when = datetime(
            int(digits[0:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12]),
            min(int(digits[12:14]), 59),  # a leap second becomes :59
        )
    except ValueError as exc:
        raise X509Error("time out of range") from exc
    if rest and rest[0] in "+-" and len(rest) >= 5 and rest[1:5].isdigit():
        offset = timedelta(hours=int(rest[1:3]), minutes=int(rest[3:5]))
        when = when - offset if rest[0] == "+" else when + offset
    elif rest not in ("Z", ""):
        raise X509Error("bad time zone")
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def parse_certificate(der: bytes) -> Certificate:
    """Read subject, issuer, serial, validity and SHA-1 from a DER certificate.

    Raises :class:`X509Error` when the structure up to the subject is malformed;
    bytes after the subject (key, extensions, signature) are not inspected.
    """
    data = bytes(der)
    end = len(data)
    cert_start, cert_end = _expect(data, 0, end, _SEQUENCE, "Certificate")
    tbs_start, tbs_end = _expect(data, cert_start, cert_end, _SEQUENCE, "TBSCertificate")
    pos = tbs_start
    tag, start, stop = _tlv(data, pos, tbs_end)
    if tag == _VERSION_TAG:
        pos = stop
        tag, start, stop = _tlv(data, pos, tbs_end)
    if tag != _INTEGER or start == stop:
        raise X509Error("expected serial number")
    serial = ":".join(f"{b:02X}" for b in data[start:stop])
    pos = stop
    _, pos = _expect(data, pos, tbs_end, _SEQUENCE, "signature algorithm")
    issuer_start, issuer_end = _expect(data, pos, tbs_end, _SEQUENCE, "issuer")
    validity_start, validity_end = _expect(data, issuer_end, tbs_end, _SEQUENCE, "validity")
    subject_start, subject_end = _expect(data, validity_end, tbs_end, _SEQUENCE, "subject")
    t1, s1, e1 = _tlv(data, validity_start, validity_end)
    t2, s2, e2 = _tlv(data, e1, validity_end)
    return Certificate(
        subject=_name(data, subject_start, subject_end),
        issuerdn=_name(data, issuer_start, issuer_end),
        serial=serial,
        notbefore=_time(t1, data[s1:e1]),
        notafter=_time(t2, data[s2:e2]),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
    )
