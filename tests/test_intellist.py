"""Local lists loaded in bulk answer exactly as when every line went through IntelSet.add."""

from __future__ import annotations

import random
from pathlib import Path

from netsentry.intel import IntelSet, load_indicator_file
from netsentry.intellist import LocalList, _add_line

# Lines the bulk path takes, lines it must leave to the general path, and traps.
EDGES = [
    "198.51.100.7",
    "198.51.100.7",  # listed twice: answers twice
    "198.51.100.0/24",
    "198.51.100.0/25",
    "198.51.100.5/24",  # host bits set: the text as written
    "198.51.100.7/32",  # a /32 is written differently from the address
    "45.9.0.0/16",
    "45.9.0.0/016",  # a leading zero in the length
    "0.0.0.0/0",
    "01.2.3.4",  # leading zero: not an address
    "999.1.1.1",
    "1.2.3.999",
    "  45.9.148.3  ",  # spaces around
    "45.9.148.4 # comment",
    "45.9.148.5,2024-01-01,c2",
    '"45.9.148.6","x"',
    "45.9.148.7\t",
    "Evil.Example",
    "evil.example",
    "www.evil.example",
    "Evil.Example.",  # trailing dot
    "*.wild.example",
    ".dot.example",
    "under_score.example",
    "-dash.example",
    "123.example",
    "example.123",  # last label digits: garbage
    "a..b.example",
    "xn--bcher-kva.example",
    "http://EVIL.example:80/payload.exe",
    "E7D705A3286E19EA42F587B344EE6865",
    "2001:db8::1",
    "2001:DB8::/32",
    "café.example",
    "garbage!",
    "",
    "# a comment",
    "1.2.3.4\x0cfoo",  # a form feed: one line for the file, whitespace for split()
]

QUERIES = [
    ("ip", "198.51.100.7"),
    ("ip", "198.51.100.8"),
    ("ip", "198.51.100.200"),
    ("ip", "45.9.1.2"),
    ("ip", "45.9.148.3"),
    ("ip", "45.9.148.4"),
    ("ip", "45.9.148.5"),
    ("ip", "45.9.148.6"),
    ("ip", "45.9.148.7"),
    ("ip", "8.8.8.8"),
    ("ip", "1.2.3.4"),
    ("ip", "2001:db8::5"),
    ("domain", "evil.example"),
    ("domain", "a.www.evil.example"),
    ("domain", "x.wild.example"),
    ("domain", "dot.example"),
    ("domain", "under_score.example"),
    ("domain", "-dash.example"),
    ("domain", "123.example"),
    ("domain", "xn--bcher-kva.example"),
    ("domain", "notevil.example"),
    ("domain", "example"),
    ("url", "evil.example/payload.exe"),
    ("ja3", "e7d705a3286e19ea42f587b344ee6865"),
]


def reference(path: Path, name: str) -> tuple[IntelSet, int]:
    """The loader as it was: every line through IntelSet.add."""
    intel, bad = IntelSet(), 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            bad += _add_line(line, name, intel)
    return intel, bad


def answers(intel: IntelSet, queries: list[tuple[str, str]]) -> list[list[tuple[str, str, str]]]:
    return [sorted((h.value, h.kind, h.feed) for h in intel.lookup(k, v)) for k, v in queries]


def test_edge_lines_answer_as_before(tmp_path: Path) -> None:
    path = tmp_path / "edges.txt"
    path.write_text("\n".join(EDGES) + "\n", encoding="utf-8")
    fast, bad = load_indicator_file(path)
    slow, slow_bad = reference(path, "edges.txt")
    assert (fast.count, bad, fast.feeds) == (slow.count, slow_bad, slow.feeds)
    assert answers(fast, QUERIES) == answers(slow, QUERIES)
    # and the answers are the expected ones, not merely equal
    hits = dict(zip(QUERIES, answers(fast, QUERIES), strict=True))
    assert hits[("ip", "198.51.100.7")] == [
        ("198.51.100.7", "ip", "edges.txt"),
        ("198.51.100.7", "ip", "edges.txt"),
        ("198.51.100.7/32", "ip", "edges.txt"),
    ]
    assert hits[("ip", "198.51.100.8")] == [("198.51.100.0/25", "ip", "edges.txt")]
    assert hits[("ip", "198.51.100.200")] == [
        ("198.51.100.0/24", "ip", "edges.txt"),
        ("198.51.100.5/24", "ip", "edges.txt"),
    ]
    assert hits[("ip", "8.8.8.8")] == [("0.0.0.0/0", "ip", "edges.txt")]
    assert hits[("domain", "a.www.evil.example")] == [("www.evil.example", "domain", "edges.txt")]
    assert hits[("domain", "evil.example")] == [("evil.example", "domain", "edges.txt")] * 3
    assert bad == 5  # 01.2.3.4, 999.1.1.1, 1.2.3.999, example.123, garbage!


def test_random_lists_answer_as_before(tmp_path: Path) -> None:
    rng = random.Random(7)
    lines = []
    for _ in range(20_000):
        r = rng.random()
        a, b, c, d = (rng.randrange(256) for _ in range(4))
        if r < 0.5:
            lines.append(f"{a}.{b}.{c}.{d}")
        elif r < 0.7:
            prefix = rng.choice([8, 16, 20, 24, 28, 32])
            lines.append(f"{a}.{b}.{c}.{d}/{prefix}")  # host bits set or not
        elif r < 0.9:
            lines.append(f"h{rng.randrange(500)}.d{rng.randrange(50)}.Example")
        else:
            lines.append(rng.choice(EDGES))
    path = tmp_path / "random.txt"
    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline
    fast, bad = load_indicator_file(path, feed="r")
    slow, slow_bad = reference(path, "r")
    assert (fast.count, bad) == (slow.count, slow_bad)
    queries = [("ip", f"{rng.randrange(256)}.{rng.randrange(256)}.0.1") for _ in range(3000)]
    queries += [("ip", line.split("/")[0]) for line in lines[:3000] if line[:1].isdigit()]
    queries += [("domain", f"x.h{rng.randrange(500)}.d{rng.randrange(50)}.example")
                for _ in range(3000)]
    assert answers(fast, queries) == answers(slow, queries)
    assert sum(1 for hit in answers(fast, queries) if hit) > 3000  # the queries do hit


def test_a_list_of_plain_lines_is_held_compactly(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text("45.9.148.3\n45.9.0.0/16\nevil.example\n", encoding="utf-8")
    intel, bad = load_indicator_file(path)
    assert bad == 0 and intel.count == 3
    assert intel._nets == {4: {}, 6: {}} and not any(intel._exact.values())
    assert [type(s) for s in intel._compiled] == [LocalList]
