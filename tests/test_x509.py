"""The minimal X.509 walker: hand-built certificates with known fields, and real chains.

The hand-built DER (:func:`build_certificate`) makes every expected value visible
in the test. The real certificates come from the suricata-verify capture
``tls/tls-certs-alert``: its test.yaml asserts no certificate fields, but its
test.rules pin the common name encoding of each of the three chain members
(``|30 16 06 03 55 04 03 13 0f|`` etc.), which we check against what we decode.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsentry.protocols.x509 import Certificate, X509Error, parse_certificate

# -- a tiny DER writer for test certificates -----------------------------------------------


def der(tag: int, body: bytes) -> bytes:
    """One DER TLV (short or long length form)."""
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER TLV."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return der(0x06, bytes(out))


def rdn(*attrs: tuple[str, int, bytes]) -> bytes:
    """A RelativeDistinguishedName: SET of (type OID, value tag, value bytes)."""
    return der(0x31, b"".join(der(0x30, oid(o) + der(t, v)) for o, t, v in attrs))


PRINTABLE, UTF8, IA5, BMP, OCTETS = 0x13, 0x0C, 0x16, 0x1E, 0x04
OID_CN, OID_C, OID_ST, OID_L = "2.5.4.3", "2.5.4.6", "2.5.4.8", "2.5.4.7"
OID_O, OID_OU, OID_EMAIL = "2.5.4.10", "2.5.4.11", "1.2.840.113549.1.9.1"


def build_certificate(
    *,
    serial: bytes = b"\x01\x02\x03",
    issuer: bytes | None = None,
    subject: bytes | None = None,
    not_before: tuple[int, bytes] = (0x17, b"190101000000Z"),
    not_after: tuple[int, bytes] = (0x18, b"20491231235959Z"),
    version: bool = True,
) -> bytes:
    """A structurally valid certificate (the signature is junk, nobody checks it)."""
    if issuer is None:
        issuer = der(0x30, rdn((OID_C, PRINTABLE, b"US")) + rdn((OID_O, PRINTABLE, b"Test CA")))
    if subject is None:
        subject = der(0x30, rdn((OID_CN, PRINTABLE, b"www.example.test")))
    sig_alg = der(0x30, oid("1.2.840.113549.1.1.11") + der(0x05, b""))
    tbs = b"".join(
        (
            der(0xA0, der(0x02, b"\x02")) if version else b"",
            der(0x02, serial),
            sig_alg,
            issuer,
            der(0x30, der(not_before[0], not_before[1]) + der(not_after[0], not_after[1])),
            subject,
            der(0x30, sig_alg + der(0x03, b"\x00" + b"\x04" * 65)),  # SubjectPublicKeyInfo
        )
    )
    return der(0x30, der(0x30, tbs) + sig_alg + der(0x03, b"\x00" + b"\xaa" * 64))


# -- hand-built certificates ---------------------------------------------------------------


def test_fields_of_a_hand_built_certificate() -> None:
    subject = der(
        0x30,
        rdn((OID_C, PRINTABLE, b"US"))
        + rdn((OID_ST, UTF8, b"California"))
        + rdn((OID_L, PRINTABLE, b"Mountain View"))
        + rdn((OID_O, PRINTABLE, b"Google Inc"))
        + rdn((OID_CN, PRINTABLE, b"www.google.com")),
    )
    data = build_certificate(serial=b"\x00\x8f\x01", subject=subject)
    cert = parse_certificate(data)
    assert cert == Certificate(
        subject="C=US, ST=California, L=Mountain View, O=Google Inc, CN=www.google.com",
        issuerdn="C=US, O=Test CA",
        serial="00:8F:01",  # the INTEGER's bytes as Suricata prints them, leading 00 kept
        notbefore="2019-01-01T00:00:00",
        notafter="2049-12-31T23:59:59",
        sha1=hashlib.sha1(data).hexdigest(),
    )
    assert cert.fingerprint == ":".join(f"{b:02x}" for b in hashlib.sha1(data).digest())


def test_multi_valued_rdn_unknown_oid_and_non_string_values() -> None:
    subject = der(
        0x30,
        rdn((OID_OU, PRINTABLE, b"Ops"), (OID_CN, PRINTABLE, b"host"))
        + rdn(("2.5.4.5", PRINTABLE, b"42"))
        + rdn(("1.3.6.1.4.1.99999.1", OCTETS, b"\x01\xab"))
        + rdn((OID_EMAIL, IA5, b"a@b.c"))
        + rdn(("0.9.2342.19200300.100.1.25", IA5, b"example")),
    )
    cert = parse_certificate(build_certificate(subject=subject))
    assert cert.subject == (
        "OU=Ops + CN=host, serialNumber=42, OID(1.3.6.1.4.1.99999.1)=01AB, Email=a@b.c, DC=example"
    )


def test_bmp_and_utf8_strings_are_decoded() -> None:
    subject = der(
        0x30, rdn((OID_CN, BMP, "Zürich".encode("utf-16-be"))) + rdn((OID_O, UTF8, "Ünï".encode()))
    )
    assert parse_certificate(build_certificate(subject=subject)).subject == "CN=Zürich, O=Ünï"


@pytest.mark.parametrize(
    ("tag", "text", "expected"),
    [
        (0x17, b"500101000000Z", "1950-01-01T00:00:00"),  # RFC 5280: YY >= 50 is 19YY
        (0x17, b"491231235959Z", "2049-12-31T23:59:59"),
        (0x17, b"2001021230Z", "2020-01-02T12:30:00"),  # seconds omitted
        (0x18, b"20240131120000.123Z", "2024-01-31T12:00:00"),  # fraction dropped
        (0x17, b"240131120000+0130", "2024-01-31T10:30:00"),  # offset applied to UTC
    ],
)
def test_validity_times(tag: int, text: bytes, expected: str) -> None:
    cert = parse_certificate(build_certificate(not_before=(tag, text)))
    assert cert.notbefore == expected


def test_version_1_certificate_without_explicit_version() -> None:
    assert parse_certificate(build_certificate(version=False)).serial == "01:02:03"


def test_long_length_form() -> None:
    long_cn = b"x" * 300
    subject = der(0x30, rdn((OID_CN, UTF8, long_cn)))
    assert parse_certificate(build_certificate(subject=subject)).subject == "CN=" + "x" * 300


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30",
        b"\x30\x80\x00\x00",  # indefinite length is not DER
        b"\x30\x05\x30\x03\x02\x01",  # truncated
        b"\x04\x03abc",  # not a SEQUENCE
        b"\x30\x84\xff\xff\xff\xff",  # length far beyond the data
    ],
)
def test_malformed_input_raises_x509error_only(data: bytes) -> None:
    with pytest.raises(X509Error):
        parse_certificate(data)


def test_every_truncation_of_a_certificate_is_rejected_cleanly() -> None:
    data = build_certificate()
    for cut in range(len(data)):
        with contextlib.suppress(X509Error):  # the only exception allowed
            parse_certificate(data[:cut])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=400))
def test_fuzz_never_raises_anything_but_x509error(noise: bytes, where: int) -> None:
    base = build_certificate()
    where = min(where, len(base))
    for data in (noise, base[:where] + noise + base[where + len(noise) :]):
        with contextlib.suppress(X509Error):
            parse_certificate(data)


# -- real certificates from the conformance captures ----------------------------------------

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"
CERTS_ALERT = "suricata-verify/tests/tls/tls-certs-alert"
HAVE_CERTS_ALERT = (CONFORMANCE / CERTS_ALERT / "input.pcap").is_file()


def _chain_from_capture(pcap: str) -> list[bytes]:
    """DER certificates of the first Certificate message the server sent."""
    from tests.test_fingerprints import tls_flows

    for flow in tls_flows(pcap):
        for event in flow.events:
            if "chain_der" in event.extra:
                chain: list[bytes] = event.extra["chain_der"]
                return chain
    raise AssertionError("no Certificate message decoded")


@pytest.mark.skipif(not HAVE_CERTS_ALERT, reason=f"{CONFORMANCE} not found")
def test_tls_certs_alert_chain_matches_the_test_rules() -> None:
    rules = (CONFORMANCE / CERTS_ALERT / "test.rules").read_text()
    # The three rules match, one per certificate, the common-name attribute
    # SEQUENCE { OID 2.5.4.3, PrintableString of length N }.
    pins = [bytes.fromhex(part.split("|")[0]) for part in rules.split('content:"|')[1:]]
    assert len(pins) == 3
    chain = _chain_from_capture(f"{CERTS_ALERT}/input.pcap")
    assert len(chain) == 3
    for pin, data in zip(pins, chain, strict=True):
        assert pin in data
        cn_len = pin[-1]
        cert = parse_certificate(data)
        cn = cert.subject.rsplit("CN=", 1)[1]
        assert len(cn) == cn_len
        assert cert.sha1 == hashlib.sha1(data).hexdigest()
        assert cert.notbefore < cert.notafter
    # Each certificate is issued by the next one in the chain.
    parsed = [parse_certificate(d) for d in chain]
    assert parsed[0].issuerdn == parsed[1].subject
    assert parsed[1].issuerdn == parsed[2].subject
