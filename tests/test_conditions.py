"""``where:`` operators on scalars and lists, and CIDR sets."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from netsentry.conditions import CidrSet, compile_condition, holds, value_test
from netsentry.fields import Ctx
from netsentry.model import Packet
from netsentry.protocols.base import AppEvent
from netsentry.rules import Condition
from tests.factories import ip4, ip6


def check(op: str, expected: Any, value: Any) -> bool:
    cond = Condition("f", op, expected)
    return holds(cond, value_test(cond), value)


# -- scalars ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "expected", "value", "result"),
    [
        ("eq", "GET", "GET", True),
        ("eq", "GET", "get", False),
        ("eq", 80, 80, True),
        ("eq", 80, 80.0, True),
        ("eq", "80", 80, True),  # a quoted number in YAML still equals the port
        ("eq", 80, "80", True),
        ("eq", 80, 81, False),
        ("eq", True, True, True),
        ("eq", True, 1, False),  # booleans are not numbers
        ("eq", True, "true", False),
        ("eq", "x", b"x", True),  # bytes fields compare with the UTF-8 of the value
        ("eq", "x", None, False),
        ("ne", "GET", "POST", True),
        ("ne", "GET", "GET", False),
        ("ne", "GET", None, True),  # an absent value is not equal to anything
        ("in", ("GET", "POST"), "POST", True),
        ("in", ("GET", "POST"), "PUT", False),
        ("in", (53, "5353"), 5353, True),
        ("in", ("GET",), None, False),
        ("not_in", ("GET", "POST"), "PUT", True),
        ("not_in", ("GET", "POST"), "GET", False),
        ("not_in", ("GET",), None, True),
        ("regex", "^/admin", "/admin/x", True),
        ("regex", "^/admin", "/x/admin", False),
        ("regex", "^/admin", None, False),
        ("regex", "^8", 8080, True),  # numbers are matched as decimal text
        ("regex", "ADMIN", "admin", False),  # case-sensitive unless (?i)
        ("regex", "(?i)ADMIN", "admin", True),
        ("not_regex", "^/admin", "/x", True),
        ("not_regex", "^/admin", "/admin", False),
        ("not_regex", "^/admin", None, True),
        ("contains", "evil", "very-evil-host", True),
        ("contains", "evil", "good", False),
        ("contains", "evil", None, False),
        ("contains", "\xe9", b"caf\xc3\xa9", True),
        ("gt", 100, 101, True),
        ("gt", 100, 100, False),
        ("ge", 100, 100, True),
        ("ge", 100, 99.5, False),
        ("lt", 100, 99, True),
        ("lt", 100, 100, False),
        ("le", 100, 100, True),
        ("le", 100, 100.5, False),
        ("gt", 0, True, False),  # booleans are not numbers
        ("gt", 0, "5", False),  # nor is text
        ("lt", 10, None, False),
        ("exists", True, "x", True),
        ("exists", True, 0, True),
        ("exists", True, None, False),
        ("exists", False, None, True),
        ("exists", False, "x", False),
        ("cidr", ("10.0.0.0/8",), "10.1.2.3", True),
        ("cidr", ("10.0.0.0/8",), "11.0.0.1", False),
        ("cidr", ("10.0.0.0/8",), "not an address", False),
        ("cidr", ("10.0.0.0/8",), None, False),
        ("cidr", ("2001:db8::/32",), "2001:0db8:0000:0000:0000:0000:0000:0001", True),
        ("not_cidr", ("10.0.0.0/8",), "11.0.0.1", True),
        ("not_cidr", ("10.0.0.0/8",), "10.0.0.1", False),
        ("not_cidr", ("10.0.0.0/8",), None, True),
    ],
)
def test_scalar_operators(op: str, expected: Any, value: Any, result: bool) -> None:
    assert check(op, expected, value) is result


# -- lists: any element for positive operators, every element for negative ones -----------------

NAMES = ["www.example.com", "evil.example", "cdn.example.net"]


@pytest.mark.parametrize(
    ("op", "expected", "result"),
    [
        ("eq", "evil.example", True),  # one element equals
        ("eq", "other", False),
        ("ne", "evil.example", False),  # one element equals, so not "not equal"
        ("ne", "other", True),
        ("in", ("a", "evil.example"), True),
        ("in", ("a", "b"), False),
        ("not_in", ("a", "evil.example"), False),
        ("not_in", ("a", "b"), True),
        ("regex", "^evil\\.", True),
        ("regex", "^bad\\.", False),
        ("not_regex", "\\.example$", False),  # two elements match
        ("not_regex", "\\.org$", True),
        ("contains", "cdn", True),
        ("contains", "zzz", False),
        ("exists", True, True),
        ("exists", False, False),
    ],
)
def test_list_operators(op: str, expected: Any, result: bool) -> None:
    assert check(op, expected, NAMES) is result


@pytest.mark.parametrize(
    ("op", "expected", "values", "result"),
    [
        ("gt", 60, [10, 70], True),
        ("gt", 60, [10, 20], False),
        ("le", 15, [10, 70], True),
        ("cidr", ("10.0.0.0/8",), ["192.0.2.1", "10.0.0.5"], True),
        ("cidr", ("10.0.0.0/8",), ["192.0.2.1", "198.51.100.1"], False),
        ("not_cidr", ("10.0.0.0/8",), ["192.0.2.1", "10.0.0.5"], False),
        ("not_cidr", ("10.0.0.0/8",), ["192.0.2.1", "198.51.100.1"], True),
    ],
)
def test_list_operators_on_numbers_and_addresses(
    op: str, expected: Any, values: list[Any], result: bool
) -> None:
    assert check(op, expected, values) is result


@pytest.mark.parametrize(
    ("op", "expected", "result"),
    [
        ("eq", "x", False),
        ("in", ("x",), False),
        ("regex", "x", False),
        ("contains", "x", False),
        ("cidr", ("0.0.0.0/0",), False),
        ("ne", "x", True),
        ("not_in", ("x",), True),
        ("not_regex", "x", True),
        ("not_cidr", ("0.0.0.0/0",), True),
        ("exists", True, False),  # an empty list is an absent value
        ("exists", False, True),
    ],
)
def test_empty_list(op: str, expected: Any, result: bool) -> None:
    assert check(op, expected, []) is result


# -- compiled over a record -------------------------------------------------------------------


def _packet(src: bytes, dst: bytes, dport: int, flags: int = 0x02) -> Packet:
    pkt = Packet(1, 1_000_000_000, 60, 60)
    pkt.family = 4 if len(src) == 4 else 6
    pkt.src, pkt.dst, pkt.sport, pkt.dport, pkt.proto = src, dst, 40000, dport, 6
    pkt.tcp_flags = flags
    return pkt


def test_compiled_conditions_read_fields_of_the_record() -> None:
    ctx = Ctx(_packet(ip4("10.0.0.1"), ip4("192.0.2.9"), 445), None, 0)
    assert compile_condition(Condition("dest_port", "in", (139, 445)))(ctx)
    assert compile_condition(Condition("src_ip", "cidr", ("10.0.0.0/8",)))(ctx)
    assert not compile_condition(Condition("dest_ip", "cidr", ("10.0.0.0/8",)))(ctx)
    assert compile_condition(Condition("tcp.flags", "eq", "S"))(ctx)
    assert compile_condition(Condition("proto", "eq", "TCP"))(ctx)
    assert not compile_condition(Condition("http.method", "exists", True))(ctx)
    v6 = Ctx(_packet(ip6("2001:db8::1"), ip6("2001:db8::2"), 80), None, 0)
    assert compile_condition(Condition("src_ip", "cidr", ("2001:db8::/64",)))(v6)
    assert not compile_condition(Condition("src_ip", "cidr", ("10.0.0.0/8",)))(v6)


def test_compiled_conditions_on_list_fields_and_aliases() -> None:
    event = AppEvent("dns", {"queries": [{"rrname": n, "rrtype": "A"} for n in NAMES]})
    ctx = Ctx(None, None, 0, event)
    assert compile_condition(Condition("dns.rrname", "eq", "evil.example"))(ctx)
    assert compile_condition(Condition("dns.query", "eq", "evil.example"))(ctx)  # alias
    assert not compile_condition(Condition("dns.rrname", "not_regex", "\\.example"))(ctx)
    assert compile_condition(Condition("dns.rrtype", "not_in", ("TXT", "NULL")))(ctx)


def test_compiled_condition_gives_the_same_answer_for_repeated_values() -> None:
    pred = compile_condition(Condition("dest_port", "eq", 80))
    answers = [
        pred(Ctx(_packet(ip4("10.0.0.1"), ip4("10.0.0.2"), port), None, 0))
        for port in [80, 81, 80, 81, 80]
    ]
    assert answers == [True, False, True, False, True]


# -- CIDR sets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("192.0.2.0", True),  # network address
        ("192.0.2.255", True),  # broadcast address
        ("192.0.1.255", False),  # one below
        ("192.0.3.0", False),  # one above
        ("10.200.0.1", True),  # inside the /8 that also holds a nested /16
        ("10.1.2.3", True),
        ("11.0.0.0", False),
        ("172.16.0.0", True),
        ("172.16.1.255", True),  # two adjacent /24 merged
        ("172.16.2.0", False),
        ("198.51.100.7", True),  # a bare address is a /32
        ("198.51.100.8", False),
        ("2001:db8::", True),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", True),
        ("2001:db9::", False),
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", False),
        ("::ffff:192.0.2.1", False),  # IPv4-mapped IPv6 is not the IPv4 address
        ("::1", True),
        ("junk", False),
        ("", False),
    ],
)
def test_cidr_set_membership(address: str, inside: bool) -> None:
    blocks = [
        "10.1.0.0/16",
        "192.0.2.0/24",
        "10.0.0.0/8",
        "172.16.1.0/24",
        "172.16.0.0/24",
        "198.51.100.7",
        "2001:db8::/32",
        "::1/128",
        "192.0.2.128/25",  # overlaps a block above
    ]
    cidrs = CidrSet(blocks)
    assert cidrs.contains_text(address) is inside
    if address and address != "junk":
        assert cidrs.contains_packed(ipaddress.ip_address(address).packed) is inside


def test_cidr_set_packed_lengths_and_emptiness() -> None:
    cidrs = CidrSet(("0.0.0.0/0",))
    assert cidrs
    assert cidrs.contains_packed(ip4("203.0.113.9"))
    assert not cidrs.contains_packed(ip6("::1"))  # an IPv4 block never holds IPv6
    assert not cidrs.contains_packed(b"\x01\x02\x03")
    assert not cidrs.contains_packed(b"")
    empty = CidrSet([])
    assert not empty
    assert not empty.contains_text("10.0.0.1")
    assert CidrSet(["::/0"]).contains_packed(ip6("2001:db8::1"))


def test_cidr_set_host_bits_are_ignored() -> None:
    # strict=False: 10.1.2.3/8 means 10.0.0.0/8, as users write it
    assert CidrSet(["10.1.2.3/8"]).contains_text("10.255.255.255")


def test_cidr_set_many_blocks_agree_with_ipaddress() -> None:
    blocks = [f"10.{i}.{i * 7 % 256}.0/{16 + i % 17}" for i in range(0, 256, 3)]
    nets = [ipaddress.ip_network(b, strict=False) for b in blocks]
    cidrs = CidrSet(blocks)
    for i in range(0, 65536, 97):
        address = ipaddress.IPv4Address((10 << 24) | (i << 8) | (i % 251))
        assert cidrs.contains_text(str(address)) is any(address in n for n in nets), address


def test_set_based_equality_agrees_with_eq_for_every_value_type() -> None:
    """The int/str fast path of eq/in gives exactly the generic _eq answers."""
    from netsentry.conditions import _eq, _equals_any

    expected_lists: list[tuple[object, ...]] = [
        (53,),
        ("53",),
        (53.0,),
        (True,),
        ("TXT", "NULL", "10"),
        (17, 19, "dns", 1.5, False),
        (b"abc",),
    ]
    values: list[object] = [
        53,
        10,
        1,
        0,
        "53",
        "10",
        "TXT",
        "true",
        "True",
        53.0,
        1.5,
        True,
        False,
        None,
        b"abc",
        b"53",
        "abc",
        -1,
        2**70,
    ]
    for expected in expected_lists:
        test = _equals_any(expected)
        for value in values:
            want = any(_eq(value, e) for e in expected)
            assert test(value) is want, (expected, value)
    # Spot checks with real answers, not only agreement.
    assert _equals_any(("10",))(10) is True  # an int equals a text by its digits
    assert _equals_any((True,))(1) is False  # but never a bool
    assert _equals_any((53,))("53") is True
