"""The on-disk cache of compiled Hyperscan databases: hits, misses, damage, limits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from netsentry import hscache, matchers
from netsentry.matchers import HAVE_HYPERSCAN, PatternSet

needs_hyperscan = pytest.mark.skipif(not HAVE_HYPERSCAN, reason="hyperscan is not installed")

PATTERNS = [(0, r"evil\.example", True), (1, r"^GET /admin", False), (7, r"x[0-9]{3}z$", False)]
SAMPLES = {
    b"WWW.EVIL.EXAMPLE.com": [0],
    b"GET /admin/login": [1],
    b"get /admin": [],
    b"ax123z": [7],
    b"ax123z\n": [],  # '$' is end of input on both engines
    b"GET /admin evil.example x999z": [0, 1, 7],
}


@pytest.fixture(autouse=True)
def _empty_memory_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with nothing compiled in memory, so the disk cache is what is tested."""
    monkeypatch.setattr(matchers, "_HS_CACHE", {})


def _entries() -> list[Path]:
    where = hscache.directory()
    return sorted(where.glob(f"*{hscache.SUFFIX}")) if where.is_dir() else []


def _forbid_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_patterns: Any) -> Any:
        raise AssertionError("compiled although the database was cached on disk")

    monkeypatch.setattr(matchers, "_compile", refuse)
    monkeypatch.setattr(os, "fork", lambda: (_ for _ in ()).throw(AssertionError("forked")))


def _assert_scans(patterns: PatternSet) -> None:
    for data, expected in SAMPLES.items():
        assert sorted(patterns.scan(data)) == expected, data


def _fresh_set() -> PatternSet:
    matchers._HS_CACHE.clear()
    return PatternSet(PATTERNS, engine="hyperscan")


@needs_hyperscan
def test_cold_compile_writes_one_file_and_warm_start_loads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _entries() == []
    _assert_scans(PatternSet(PATTERNS, engine="hyperscan"))
    files = _entries()
    assert len(files) == 1
    assert files[0].parent == Path(os.environ["NETSENTRY_CACHE_DIR"]) / "hyperscan"
    _forbid_compile(monkeypatch)
    _assert_scans(_fresh_set())  # loaded from disk: compiling would raise
    assert _entries() == files


@needs_hyperscan
def test_cached_database_matches_re2(monkeypatch: pytest.MonkeyPatch) -> None:
    PatternSet(PATTERNS, engine="hyperscan")
    _forbid_compile(monkeypatch)
    warm = _fresh_set()
    re2_set = PatternSet(PATTERNS, engine="re2")
    for data in SAMPLES:
        assert sorted(warm.scan(data)) == sorted(re2_set.scan(data))


@needs_hyperscan
def test_precompile_loads_from_disk_without_forking(monkeypatch: pytest.MonkeyPatch) -> None:
    other = [(3, r"beacon[0-9]+", False)]
    matchers.precompile([PATTERNS, other])
    assert len(_entries()) == 2  # the child's databases were written by the parent
    monkeypatch.setattr(matchers, "_HS_CACHE", {})
    _forbid_compile(monkeypatch)
    matchers.precompile([PATTERNS, other])
    assert set(matchers._HS_CACHE) == {tuple(PATTERNS), tuple(other)}
    _assert_scans(PatternSet(PATTERNS, engine="hyperscan"))
    assert PatternSet(other, engine="hyperscan").scan(b"GET /beacon42") == [3]


def _damage_cases() -> list[tuple[str, Any]]:
    def flip(data: bytes) -> bytes:
        middle = len(data) // 2
        return data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1 :]

    return [
        ("truncated", lambda data: data[: len(data) // 2]),
        ("header only", lambda data: data[: len(hscache._MAGIC) + hscache._DIGEST_SIZE]),
        ("empty", lambda data: b""),
        ("one byte flipped", flip),
        ("foreign magic", lambda data: b"X" + data[1:]),
    ]


@needs_hyperscan
@pytest.mark.parametrize(("name", "damage"), _damage_cases())
def test_damaged_file_is_a_miss_and_is_rewritten(name: str, damage: Any) -> None:
    PatternSet(PATTERNS, engine="hyperscan")
    (path,) = _entries()
    good = path.read_bytes()
    path.write_bytes(damage(good))
    _assert_scans(_fresh_set())  # recompiled, same answers
    assert path.read_bytes() == good, name  # and the cache entry is whole again


@needs_hyperscan
@pytest.mark.interpreted_only("counts calls of matchers._compile")
def test_database_hyperscan_refuses_is_a_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose digest is right but whose content Hyperscan refuses (another version,
    another CPU) is dropped and recompiled."""
    key = matchers._disk_key(PATTERNS)
    assert hscache.store_blob(key, b"not a hyperscan database at all")
    compiled: list[int] = []
    real = matchers._compile

    def counting(patterns: Any) -> Any:
        compiled.append(len(patterns))
        return real(patterns)

    monkeypatch.setattr(matchers, "_compile", counting)
    _assert_scans(PatternSet(PATTERNS, engine="hyperscan"))
    assert compiled == [3]
    blob = hscache.load_blob(key)
    assert blob is not None and blob != b"not a hyperscan database at all"


@needs_hyperscan
@pytest.mark.parametrize("kind", ["a file", "read-only"])
def test_unwritable_cache_dir_does_not_fail(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "a file":
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("x", encoding="utf-8")
        monkeypatch.setenv("NETSENTRY_CACHE_DIR", str(blocker / "cache"))
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only directories; the 'a file' case covers it")
        target = tmp_path / "ro"
        (target / "hyperscan").mkdir(parents=True)
        (target / "hyperscan").chmod(0o500)
        monkeypatch.setenv("NETSENTRY_CACHE_DIR", str(target))
    _assert_scans(PatternSet(PATTERNS, engine="hyperscan"))
    matchers.precompile([[(4, r"abc", False)]])
    assert PatternSet([(4, r"abc", False)], engine="hyperscan").scan(b"xabcx") == [4]
    assert _entries() == []


@needs_hyperscan
def test_key_covers_every_compile_input() -> None:
    base = matchers._disk_key(PATTERNS)
    assert base == matchers._disk_key(list(PATTERNS))  # stable
    variants = [
        [(0, r"evil\.example", False), *PATTERNS[1:]],  # flags
        [(9, r"evil\.example", True), *PATTERNS[1:]],  # ids
        [(0, r"evil\.exampl", True), *PATTERNS[1:]],  # patterns
        PATTERNS[:2],
        list(reversed(PATTERNS)),
    ]
    keys = {matchers._disk_key(v) for v in variants}
    assert base not in keys and len(keys) == len(variants)


def test_key_covers_fingerprint_and_mode() -> None:
    args: tuple[list[bytes], list[int], list[int]] = ([b"ab", b"cd"], [1, 2], [0, 4])
    base = hscache.database_key("hs 5.4 AVX2", 1, *args)
    assert len(base) == 64 and int(base, 16) >= 0
    assert hscache.database_key("hs 5.4 AVX2", 1, *args) == base
    assert hscache.database_key("hs 5.4 AVX512", 1, *args) != base
    assert hscache.database_key("hs 5.4 AVX2", 2, *args) != base
    # length-prefixed: moving a byte between expressions is another key
    assert hscache.database_key("hs 5.4 AVX2", 1, [b"abc", b"d"], [1, 2], [0, 4]) != base


def test_prune_removes_least_recently_used_beyond_limit(tmp_path: Path) -> None:
    now = 1_700_000_000
    for age, name in enumerate(["newest", "middle", "oldest"]):
        path = tmp_path / f"{name}{hscache.SUFFIX}"
        path.write_bytes(b"x" * 100)
        os.utime(path, (now - age * 60, now - age * 60))
    stale_tmp = tmp_path / f".oldest{hscache.SUFFIX}.abc123"
    stale_tmp.write_bytes(b"partial")
    os.utime(stale_tmp, (now - 7200, now - 7200))
    unrelated = tmp_path / "notes.txt"
    unrelated.write_bytes(b"y" * 1000)
    hscache.prune(tmp_path, 250)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "middle.hsdb",
        "newest.hsdb",
        "notes.txt",
    ]
    hscache.prune(tmp_path, 50, keep=tmp_path / "middle.hsdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["middle.hsdb", "notes.txt"]


def test_store_keeps_cache_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hscache, "MAX_BYTES", 3000)
    for number in range(5):
        assert hscache.store_blob(f"{number:064x}", bytes([number]) * 1000)
        path = hscache.directory() / f"{number:064x}{hscache.SUFFIX}"
        os.utime(path, (1_700_000_000 + number, 1_700_000_000 + number))
    names = [p.name[:64] for p in _entries()]
    assert names == [f"{n:064x}" for n in (3, 4)]  # two 1049-byte files fit in 3000
    assert hscache.load_blob(f"{4:064x}") == bytes([4]) * 1000
    assert hscache.load_blob(f"{0:064x}") is None
    assert not hscache.store_blob("f" * 64, b"z" * 3001)  # larger than the whole cache


def test_load_of_missing_entry_is_none() -> None:
    assert hscache.load_blob("0" * 64) is None


def test_no_home_directory_is_a_miss_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    for name in ("NETSENTRY_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert hscache.load_blob("0" * 64) is None
    assert not hscache.store_blob("0" * 64, b"blob")
    hscache.discard("0" * 64)
    if HAVE_HYPERSCAN:
        _assert_scans(PatternSet(PATTERNS, engine="hyperscan"))
