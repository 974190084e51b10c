"""TLS client and server fingerprints (JA3, JA3S, JA4) as pure functions of parsed hellos.

The TLS decoder (:mod:`netsentry.protocols.tls`) turns handshake bytes into the
two value types below; everything here works on those values only, so a QUIC
decoder can reuse it by building a :class:`ClientHello` from CRYPTO frames.

Lists in the value types keep the wire order and *include* GREASE values
(RFC 8701): each fingerprint removes them itself, because the methods disagree
on where GREASE is dropped (JA3 drops it everywhere, JA4 counts without it).

References: JA3/JA3S as published by Salesforce (salesforce/ja3) and as
Wireshark computes them; JA4 (TLS client) as specified by FoxIO (BSD-3-Clause),
see ``../shared/conformance/README.md`` §2/§3 for the rules in our words.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

EXT_SNI = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A  # "elliptic_curves" in JA3's vocabulary
EXT_EC_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B

# JA4 "a" part: TLS version code. Anything not listed (TLS 1.3 drafts, garbage) is "00".
_JA4_VERSIONS: dict[int, str] = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}

_ZERO_HASH = "000000000000"


def is_grease(value: int) -> bool:
    """True for the 16 reserved GREASE code points 0x0a0a, 0x1a1a, ... 0xfafa (RFC 8701).

    Both bytes equal and low nibble 0xa. Single-byte lists (EC point formats)
    are checked with the same rule, which no one-byte value satisfies.
    """
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def _no_grease(values: tuple[int, ...]) -> list[int]:
    return [v for v in values if not is_grease(v)]


@dataclass(frozen=True, slots=True)
class ClientHello:
    """The ClientHello fields fingerprints and EVE records need, in wire order, GREASE kept.

    ``extensions`` lists every extension type as it appeared (duplicates kept);
    the other tuples are the contents of the matching extensions (empty when the
    extension is absent). ``alpns`` are the raw protocol names of the ALPN list.
    ``has_sni``/``has_alpn`` record presence even when the content was unusable.
    """

    version: int
    ciphers: tuple[int, ...] = ()
    extensions: tuple[int, ...] = ()
    supported_groups: tuple[int, ...] = ()
    ec_point_formats: tuple[int, ...] = ()
    sig_algs: tuple[int, ...] = ()
    supported_versions: tuple[int, ...] = ()
    alpns: tuple[bytes, ...] = ()
    sni: str | None = None
    session_id: bytes = b""
    has_sni: bool = False
    has_alpn: bool = False


@dataclass(frozen=True, slots=True)
class ServerHello:
    """The ServerHello fields JA3S and EVE records need.

    ``selected_version`` is the supported_versions extension value (0 when the
    extension is absent); ``hello_retry_request`` marks a TLS 1.3 HRR, which is
    a ServerHello with a fixed random (RFC 8446 §4.1.3).
    """

    version: int
    cipher: int
    extensions: tuple[int, ...] = ()
    selected_version: int = 0
    alpns: tuple[bytes, ...] = ()
    session_id: bytes = b""
    hello_retry_request: bool = False


@dataclass(frozen=True, slots=True)
class Ja4:
    """A JA4 fingerprint with its three companion forms (FoxIO naming)."""

    ja4: str  # a_b_c with sorted, hashed lists
    ja4_r: str  # raw: the sorted lists themselves
    ja4_o: str  # original order, SNI/ALPN kept, hashed
    ja4_ro: str  # original order, raw


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("ascii"), usedforsecurity=False).hexdigest()


def ja3_string(hello: ClientHello) -> str:
    """The JA3 input string ``SSLVersion,Ciphers,Extensions,Curves,PointFormats``.

    Version is the ClientHello's own version field (not supported_versions);
    every list in wire order, decimal, GREASE removed, ``-`` inside a field.
    Absent lists leave their field empty (the commas stay).
    """
    fields = (
        str(hello.version),
        "-".join(map(str, _no_grease(hello.ciphers))),
        "-".join(map(str, _no_grease(hello.extensions))),
        "-".join(map(str, _no_grease(hello.supported_groups))),
        "-".join(map(str, _no_grease(hello.ec_point_formats))),
    )
    return ",".join(fields)


def ja3(hello: ClientHello) -> dict[str, str]:
    """JA3 as EVE writes it: ``{"hash": md5 hex of the string, "string": ...}``."""
    text = ja3_string(hello)
    return {"hash": _md5(text), "string": text}


def ja3s_string(hello: ServerHello) -> str:
    """The JA3S input string ``SSLVersion,Cipher,Extensions`` (decimal, GREASE removed)."""
    exts = "-".join(map(str, _no_grease(hello.extensions)))
    return f"{hello.version},{hello.cipher},{exts}"


def ja3s(hello: ServerHello) -> dict[str, str]:
    """JA3S as EVE writes it: ``{"hash": ..., "string": ...}``."""
    text = ja3s_string(hello)
    return {"hash": _md5(text), "string": text}


def _ja4_version(hello: ClientHello) -> str:
    # supported_versions, when present and not only GREASE, wins over the
    # legacy field; the record-layer version is never used.
    offered = _no_grease(hello.supported_versions)
    version = max(offered) if offered else hello.version
    return _JA4_VERSIONS.get(version, "00")


def ja4_alpn(alpns: tuple[bytes, ...]) -> str:
    """The two ALPN characters of JA4's "a" part from the client's ALPN list.

    First and last character of the first protocol (``h2``, ``http/1.1`` -> ``h1``,
    a one-byte value twice); ``00`` when there is no list or its first entry is
    empty. A non-ASCII byte becomes ``9``, as the FoxIO reference implementations
    do (their expected output for ``tls-non-ascii-alpn.pcapng``, first ALPN
    0xba 0xad, is ``99``; the hex-digit rule quoted in the conformance README
    would give ``bd`` and is not what the references produce).
    """
    if not alpns or not alpns[0]:
        return "00"
    value = alpns[0]
    return _alpn_char(value[0]) + _alpn_char(value[-1])


def _alpn_char(byte: int) -> str:
    return chr(byte) if byte < 0x80 else "9"


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def ja4(hello: ClientHello, transport: str = "t") -> Ja4:
    """JA4 of a ClientHello (FoxIO rules), with its raw and original-order forms.

    ``transport`` is ``t`` (TLS over TCP), ``q`` (QUIC) or ``d`` (DTLS). When the
    hello has no signature_algorithms the "c" input is the extension list alone,
    with no trailing ``_`` (FoxIO spec and reference code; Suricata differs here,
    see its bug 5713, and we follow FoxIO).
    """
    ciphers = _no_grease(hello.ciphers)
    exts = _no_grease(hello.extensions)
    sigs = _no_grease(hello.sig_algs)
    sni = "d" if hello.has_sni or EXT_SNI in exts else "i"
    alpn = ja4_alpn(hello.alpns)
    part_a = (
        f"{transport}{_ja4_version(hello)}{sni}"
        f"{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{alpn}"
    )

    sorted_ciphers = ",".join(f"{c:04x}" for c in sorted(ciphers))
    orig_ciphers = ",".join(f"{c:04x}" for c in ciphers)
    sorted_exts = ",".join(f"{e:04x}" for e in sorted(exts) if e not in (EXT_SNI, EXT_ALPN))
    orig_exts = ",".join(f"{e:04x}" for e in exts)
    sig_text = ",".join(f"{s:04x}" for s in sigs)

    def c_input(ext_text: str) -> str:
        return f"{ext_text}_{sig_text}" if sig_text else ext_text

    b_sorted = _hash12(sorted_ciphers) if ciphers else _ZERO_HASH
    b_orig = _hash12(orig_ciphers) if ciphers else _ZERO_HASH
    c_sorted = _hash12(c_input(sorted_exts)) if sorted_exts else _ZERO_HASH
    # FoxIO's reference code decides "no extensions" on the list without SNI and
    # ALPN for both forms, so a hello with only SNI has an all-zero ja4_o "c" too.
    c_orig = _hash12(c_input(orig_exts)) if sorted_exts else _ZERO_HASH
    return Ja4(
        ja4=f"{part_a}_{b_sorted}_{c_sorted}",
        ja4_r=f"{part_a}_{sorted_ciphers}_{c_input(sorted_exts)}",
        ja4_o=f"{part_a}_{b_orig}_{c_orig}",
        ja4_ro=f"{part_a}_{orig_ciphers}_{c_input(orig_exts)}",
    )
