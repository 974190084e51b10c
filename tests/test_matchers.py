"""Pattern sets: linear-time engines, identical answers from Hyperscan and RE2, transforms."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netsentry import matchers
from netsentry.matchers import (
    HAVE_HYPERSCAN,
    PatternSet,
    apply_transforms,
    compile_single,
    literal_pattern,
    match_span,
    pattern_error,
    to_bytes,
    url_decode,
)

ENGINES = [
    "re2",
    pytest.param(
        "hyperscan",
        marks=pytest.mark.skipif(not HAVE_HYPERSCAN, reason="hyperscan is not installed"),
    ),
]
SYNTAX = "(netsentry uses RE2/Hyperscan syntax: no backreferences or lookaround)"


# -- untrusted patterns cannot hang a run ---------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("tail", [b"", b"!"])
def test_catastrophic_backtracking_pattern_is_linear(engine: str, tail: bytes) -> None:
    hostile = "(a+)+$"
    assert pattern_error(hostile) is None  # accepted: the engines do not backtrack
    patterns = PatternSet([(7, hostile, False), (8, "(x+x+)+y", False)], engine=engine)
    data = b"a" * 100_000 + tail
    start = time.perf_counter()
    hits = patterns.scan(data)
    span = match_span(hostile, False, data)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    if tail:
        assert hits == [] and span is None
    else:
        assert hits == [7] and span == (0, 100_000)


def test_nested_quantifiers_on_near_misses_are_linear() -> None:
    data = b"x" * 50_000  # "(x+x+)+y" is the textbook exponential case for backtrackers
    start = time.perf_counter()
    for engine in ("re2", "hyperscan") if HAVE_HYPERSCAN else ("re2",):
        assert PatternSet([(0, "(x+x+)+y", False)], engine=engine).scan(data) == []
    assert compile_single("(x+x+)+y").search(data) is None
    assert time.perf_counter() - start < 1.0


# -- pattern_error ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(?=a)b", f"invalid perl operator: (?= {SYNTAX}"),
        ("(?!a)b", f"invalid perl operator: (?! {SYNTAX}"),
        ("(?<=a)b", f"invalid perl operator: (?<= {SYNTAX}"),
        ("(?<!a)b", f"invalid perl operator: (?<! {SYNTAX}"),
        ("(a)\\1", f"invalid escape sequence: \\1 {SYNTAX}"),
        ("(?P<x>a)(?P=x)", f"invalid perl operator: (?P {SYNTAX}"),
        ("a++", f"bad repetition operator: ++ {SYNTAX}"),
        ("a(b", f"missing ): a(b {SYNTAX}"),
        ("[z-a]", f"invalid character class range: z-a {SYNTAX}"),
        ("x{1001}", f"invalid repetition size: {{1001}} {SYNTAX}"),
        ("", "empty pattern"),
        ("a*", "the pattern matches the empty string, so it would match everything"),
        ("a|", "the pattern matches the empty string, so it would match everything"),
        ("^", "the pattern matches the empty string, so it would match everything"),
        (
            "x?\\b",
            "the pattern can match an empty string (e.g. at a word boundary), "
            "so it would match almost everything",
        ),
        (
            "foo|\\b",
            "the pattern can match an empty string (e.g. at a word boundary), "
            "so it would match almost everything",
        ),
    ],
)
def test_pattern_error_messages(pattern: str, message: str) -> None:
    assert pattern_error(pattern) == message


@pytest.mark.skipif(not HAVE_HYPERSCAN, reason="hyperscan is not installed")
def test_pattern_error_checks_hyperscan_too() -> None:
    # RE2 accepts the ungreedy flag; Hyperscan does not: a rule must run on both
    assert pattern_error("(?U)ab+") == (
        "Hyperscan cannot compile it: Unrecognised character after (? at index 0."
    )


@pytest.mark.parametrize(
    "pattern", ["\\bunion\\b", "a$", "^GET ", "(?i)select", "\\x00\\xff", "[\\s\\S]x", "\\d{3}"]
)
def test_pattern_error_accepts_ordinary_patterns(pattern: str) -> None:
    assert pattern_error(pattern) is None
    assert pattern_error(pattern, nocase=True) is None


# -- both engines answer the same ----------------------------------------------------------------


def _reference(patterns: list[tuple[int, str, bool]], data: bytes) -> list[int]:
    return sorted(i for i, p, nocase in patterns if compile_single(p, nocase).search(data))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("pattern", "nocase", "data", "hit"),
    [
        ("a$", False, b"xa", True),
        ("a$", False, b"a\n", False),  # PCRE's '$' also matches before a final newline
        ("(?m)a$", False, b"a\nb", True),
        ("a\\sb", False, b"a\x0bb", False),  # PCRE counts \v as space; RE2 does not
        ("a\\Sb", False, b"a\x0bb", True),
        ("a[\\s]b", False, b"a\x0bb", False),
        ("a[^\\S]b", False, b"a\x0bb", False),
        ("a[^\\S]b", False, b"a\tb", True),
        ("a\\vb", False, b"a\nb", False),  # PCRE: any vertical space; RE2: the VT byte
        ("a\\vb", False, b"a\x0bb", True),
        ("\\Q$\\s\\E", False, b"$\\s", True),
        ("[[:space:]]", False, b"\x0b", True),
        ("a.b", False, b"a\nb", False),
        ("(?s)a.b", False, b"a\nb", True),
        ("UNION", True, b"union", True),
        ("(?i)union", False, b"UnIoN", True),
        ("\\xe9", True, b"\xc9", False),  # case folding is ASCII only, on both engines
        ("caf\u00e9", False, "café".encode(), True),  # text in a pattern is UTF-8
        ("\\bfoo", False, b"\xe9foo", True),
    ],
)
def test_engines_agree_on_edge_cases(
    engine: str, pattern: str, nocase: bool, data: bytes, hit: bool
) -> None:
    assert pattern_error(pattern, nocase) is None
    patterns = [(3, pattern, nocase)]
    assert PatternSet(patterns, engine=engine).scan(data) == ([3] if hit else [])
    assert _reference(patterns, data) == ([3] if hit else [])


_CHARS = "abAB0 -\n\x0b\xe9"
_ALPHABET = b"abAB0 -_.\n\t\x0b\x0c\r\xe9\xc9$"


def _literal(char: str) -> str:
    return literal_pattern(char.encode("latin-1"))


_ATOMS = st.one_of(
    st.sampled_from(_CHARS).map(_literal),
    st.sampled_from(
        [
            ".",
            "\\d",
            "\\D",
            "\\w",
            "\\W",
            "\\s",
            "\\S",
            "\\v",
            "[ab]",
            "[^a]",
            "[a-c0]",
            "[\\s.]",
            "[^\\S]",
            "[^\\sa]",
            "[[:upper:]]",
            "\\xe9",
            "\\$",
        ]
    ),
)
_ANCHORS = st.sampled_from(["^", "$", "\\b", "\\B", "\\A", "\\z"])


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map("".join),
        st.tuples(children, children).map(lambda t: f"(?:{t[0]}|{t[1]})"),
        st.tuples(children, st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "+?"])).map(
            lambda t: f"(?:{t[0]}){t[1]}"
        ),
        children.map(lambda c: f"({c})"),
        st.tuples(_ANCHORS, children).map("".join),
        st.tuples(children, _ANCHORS).map("".join),
    )


_PATTERNS = st.tuples(
    st.booleans(),  # (?i) prefix
    st.recursive(_ATOMS, _combine, max_leaves=6),
).map(lambda t: ("(?i)" if t[0] else "") + t[1])


@pytest.mark.skipif(not HAVE_HYPERSCAN, reason="hyperscan is not installed")
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    items=st.lists(st.tuples(_PATTERNS, st.booleans()), min_size=1, max_size=4),
    inputs=st.lists(st.binary(max_size=16).map(lambda b: bytes(_ALPHABET[x % 17] for x in b))),
)
def test_hyperscan_and_re2_sets_report_identical_matches(
    items: list[tuple[str, bool]], inputs: list[bytes]
) -> None:
    patterns = [
        (i * 10, p, nocase)
        for i, (p, nocase) in enumerate(items)
        if pattern_error(p, nocase) is None
    ]
    hs = PatternSet(patterns, engine="hyperscan")
    re2 = PatternSet(patterns, engine="re2")
    for data in [b"", b"\n", *inputs]:
        expected = _reference(patterns, data)
        assert sorted(hs.scan(data)) == expected, (patterns, data)
        assert sorted(re2.scan(data)) == expected, (patterns, data)


@pytest.mark.parametrize("engine", ENGINES)
def test_set_reports_each_matching_id_once(engine: str) -> None:
    patterns = [(5, "a", False), (9, "b+", False), (2, "zz", False), (4, "(?i)A", False)]
    patterns_set = PatternSet(patterns, engine=engine)
    assert sorted(patterns_set.scan(b"aaa bbb aaa")) == [4, 5, 9]
    assert patterns_set.scan(b"nothing here") == []
    assert patterns_set.engine == engine


def test_empty_set_matches_nothing() -> None:
    assert PatternSet([], engine="re2").scan(b"anything") == []
    assert PatternSet([]).scan(b"anything") == []


def test_auto_engine_and_missing_hyperscan(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PatternSet([(0, "a", False)]).engine == ("hyperscan" if HAVE_HYPERSCAN else "re2")
    monkeypatch.setattr(matchers, "HAVE_HYPERSCAN", False)
    assert PatternSet([(0, "a", False)]).engine == "re2"
    with pytest.raises(ValueError, match="hyperscan is not installed"):
        PatternSet([(0, "a", False)], engine="hyperscan")


def test_match_span_and_nocase() -> None:
    assert match_span("b+", False, b"abbbc") == (1, 4)
    assert match_span("B+", True, b"abbbc") == (1, 4)
    assert match_span("B+", False, b"abbbc") is None


# -- literal patterns -------------------------------------------------------------------------


def test_literal_pattern_escapes_metacharacters_and_bytes() -> None:
    assert literal_pattern("a.b") == "a\\x2eb"
    assert literal_pattern("(x)|[y]{2}^$*+?\\/#&~-") == (
        "\\x28x\\x29\\x7c\\x5by\\x5d\\x7b2\\x7d\\x5e\\x24\\x2a\\x2b\\x3f\\x5c\\x2f\\x23\\x26"
        "\\x7e\\x2d"
    )
    assert literal_pattern("a b\t") == "a\\x20b\\x09"
    assert literal_pattern("é") == "\\xc3\\xa9"  # text is matched as UTF-8
    assert literal_pattern(b"\x00\xff") == "\\x00\\xff"
    assert literal_pattern("<script>") == "<script>"


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=150, deadline=None)
@given(needle=st.binary(min_size=1, max_size=24), hay=st.binary(max_size=40))
def test_literal_pattern_round_trip(engine: str, needle: bytes, hay: bytes) -> None:
    pattern = literal_pattern(needle)
    assert pattern_error(pattern) is None
    assert compile_single(pattern).fullmatch(needle) is not None
    patterns = PatternSet([(1, pattern, False)], engine=engine)
    assert patterns.scan(needle) == [1]
    assert patterns.scan(hay + needle + hay) == [1]
    assert patterns.scan(hay) == ([1] if needle in hay else [])


# -- transforms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        (b"a%20b", b"a b"),
        (b"a+b", b"a b"),
        (b"%2B", b"+"),  # an encoded plus stays a plus
        (b"%2527", b"%27"),  # decoded once only
        (b"%zz%2", b"%zz%2"),  # invalid escapes are kept
        (b"%4a%4A", b"JJ"),
        (b"%00%ff", b"\x00\xff"),
        (b"plain", b"plain"),
        (b"", b""),
    ],
)
def test_url_decode(data: bytes, decoded: bytes) -> None:
    assert url_decode(data) == decoded
    assert apply_transforms(data, ["url_decode"]) == decoded


@pytest.mark.parametrize(
    ("names", "data", "out"),
    [
        (["to_lowercase"], b"SeLeCT \xc9", b"select \xc9"),  # ASCII only
        (["compress_whitespace"], b"a \t\r\n  b\x0bc", b"a b c"),
        (["strip_whitespace"], b" a \t b\n", b"ab"),
        (["dotprefix"], b"example.com", b".example.com"),
        (["url_decode", "to_lowercase"], b"UNION%20SELECT", b"union select"),
        (["url_decode", "compress_whitespace"], b"a++%20b", b"a b"),
        ([], b"As Is", b"As Is"),
    ],
)
def test_transforms(names: list[str], data: bytes, out: bytes) -> None:
    assert apply_transforms(data, names) == out


def test_transforms_apply_in_order() -> None:
    assert apply_transforms(b"A%20B", ["strip_whitespace", "url_decode"]) == b"A B"
    assert apply_transforms(b"A%20B", ["url_decode", "strip_whitespace"]) == b"AB"


def test_to_bytes() -> None:
    assert to_bytes(None) is None
    assert to_bytes(b"x") == b"x"
    assert to_bytes("é") == b"\xc3\xa9"
    assert to_bytes(True) == b"true" and to_bytes(False) == b"false"
    assert to_bytes(8080) == b"8080"
    assert to_bytes(1.5) == b"1.5"
