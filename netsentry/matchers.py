"""Compiled pattern sets: every pattern on one field matched in one linear-time pass.

User regexes are untrusted, so netsentry never runs them on a backtracking
engine. Two engines with linear-time guarantees are supported:

- **Hyperscan** (Intel's multi-pattern engine) when the ``hyperscan`` package is
  installed (x86-64): one scan of a buffer reports every pattern that matches,
  at well under a microsecond for typical HTTP fields.
- **RE2** (``google-re2``) everywhere else: an ``re2.Set`` does the same job.

Both see patterns the same way — bytes, Latin-1 (``.`` matches any byte, ``\\xNN``
is a byte), case sensitivity per pattern — and a test asserts they report the
same matches. The exact span of a match, needed only for the evidence snippet of
a finding, comes from the single RE2 pattern afterwards.

Compiled Hyperscan databases are kept in memory per process and on disk between runs
(:mod:`netsentry.hscache`), so a start-up loads them instead of compiling them.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import re2

from netsentry import hscache

try:  # optional: x86-64 only
    import hyperscan

    HAVE_HYPERSCAN = True
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None  # type: ignore[assignment]
    HAVE_HYPERSCAN = False

_META = set(b"\\.^$|?*+()[]{}-/#&~ \t\n\r\f\v")


def literal_pattern(text: str | bytes) -> str:
    """A regex matching ``text`` literally (bytes outside printable ASCII as \\xNN)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    out = []
    for byte in data:
        if byte in _META or not 0x20 < byte < 0x7F:
            out.append(f"\\x{byte:02x}")
        else:
            out.append(chr(byte))
    return "".join(out)


def _re2_options(nocase: bool = False) -> Any:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.case_sensitive = not nocase
    options.log_errors = False
    return options


def _to_bytes(pattern: str) -> bytes:
    return pattern.encode("utf-8")


@lru_cache(maxsize=4096)
def compile_single(pattern: str, nocase: bool = False) -> Any:
    """One RE2 pattern (Latin-1, bytes); raises re2.error when invalid."""
    return re2.compile(_to_bytes(pattern), _re2_options(nocase))


_EMPTY_PROBES = (b"a", b"0", b"_", b" ", b"-", b"\n", b"a b", b"\xe9")


def pattern_error(pattern: str, nocase: bool = False, hyperscan_check: bool = True) -> str | None:
    """Why a regex cannot be used, or None. Checks every available engine.

    ``hyperscan_check=False`` skips the Hyperscan compile, for callers that check many
    patterns at once with :func:`hyperscan_errors` (one compile instead of one each).
    """
    if not pattern:
        return "empty pattern"
    try:
        compiled = compile_single(pattern, nocase)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return f"{reason} (netsentry uses RE2/Hyperscan syntax: no backreferences or lookaround)"
    except Exception as exc:  # the binding raises others for some inputs
        return str(exc)
    if compiled.search(b"") is not None:
        return "the pattern matches the empty string, so it would match everything"
    # Checking b"" alone let '\\bx?' or 'a?\\b' through: they match nothing at a word
    # boundary, i.e. almost every value. A zero-length first match on a probe gives it away.
    for probe in _EMPTY_PROBES:
        found = compiled.search(probe)
        if found is not None and found.start() == found.end():
            return (
                "the pattern can match an empty string (e.g. at a word boundary), "
                "so it would match almost everything"
            )
    if hyperscan_check:
        return hyperscan_errors([(0, pattern, nocase)]).get(0)
    return None


def hyperscan_errors(patterns: Sequence[tuple[int, str, bool]]) -> dict[int, str]:
    """Patterns Hyperscan cannot compile, by id: one compile for all, then per pattern
    only when that fails (compiling each rule alone cost about a second per start-up)."""
    if not HAVE_HYPERSCAN or not patterns:
        return {}
    try:
        _hs_database(patterns)
        return {}
    except hyperscan.error:
        pass
    problems: dict[int, str] = {}
    for pattern_id, pattern, nocase in patterns:
        try:  # not _hs_database: no cache file per single pattern of a failed set
            _compile([(0, pattern, nocase)])
        except hyperscan.error as exc:
            problems[pattern_id] = f"Hyperscan cannot compile it: {exc}"
    return problems


# RE2's \s is [\t\n\f\r ]; PCRE's (Hyperscan's) also holds \v. Spelled as byte ranges.
_RE2_SPACE = r"\t\n\f\r\x20"
_RE2_NONSPACE = r"\x00-\x08\x0b\x0e-\x1f\x21-\xff"
_MULTILINE = re.compile(r"\(\?[a-zA-Z]*m")


def _hs_expression(pattern: str) -> str:
    """``pattern`` rewritten so that Hyperscan matches exactly what RE2 matches.

    Hyperscan follows PCRE, which differs from RE2 on three constructs that both
    accept: ``$`` (PCRE also matches before a final newline: ``a$`` found "a\\n"),
    ``\\s``/``\\S`` (PCRE counts \\v as space) and ``\\v`` (PCRE: any vertical space;
    RE2: the VT byte). Without this a rule fired on one engine and not on the other.
    With ``(?m)`` anywhere ``$`` is left alone (both then mean end of line).
    """
    keep_dollar = _MULTILINE.search(pattern) is not None
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = first_in_class = False
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            esc = pattern[i + 1]
            if esc == "Q":  # \Q...\E: a quoted literal, copied as is
                end = pattern.find("\\E", i + 2)
                stop = n if end < 0 else end + 2
                out.append(pattern[i:stop])
                i = stop
            else:
                if esc == "s":
                    out.append(_RE2_SPACE if in_class else f"[{_RE2_SPACE}]")
                elif esc == "S":
                    out.append(_RE2_NONSPACE if in_class else f"[{_RE2_NONSPACE}]")
                elif esc == "v":
                    out.append(r"\x0b")
                else:
                    out.append(pattern[i : i + 2])
                i += 2
            first_in_class = False
            continue
        if in_class:
            if pattern.startswith("[:", i) and (end := pattern.find(":]", i + 2)) >= 0:
                out.append(pattern[i : end + 2])  # [:alpha:]
                i = end + 2
            else:
                if char == "]" and not first_in_class:
                    in_class = False
                out.append(char)
                i += 1
            first_in_class = False
            continue
        if char == "[":
            in_class = first_in_class = True
            out.append(char)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            continue
        out.append(r"\z" if char == "$" and not keep_dollar else char)
        i += 1
    return "".join(out)


_HS_CACHE: dict[tuple[tuple[int, str, bool], ...], Any] = {}
_HS_CACHE_MAX = 512


def _compile_inputs(
    patterns: Sequence[tuple[int, str, bool]],
) -> tuple[list[bytes], list[int], list[int]]:
    """The expressions, ids and flags handed to Hyperscan's compiler for ``patterns``."""
    expressions = [_to_bytes(_hs_expression(p)) for _id, p, _n in patterns]
    ids = [i for i, _p, _n in patterns]
    flags = [
        hyperscan.HS_FLAG_SINGLEMATCH | (hyperscan.HS_FLAG_CASELESS if nocase else 0)
        for _id, _p, nocase in patterns
    ]
    return expressions, ids, flags


def _compile(patterns: Sequence[tuple[int, str, bool]]) -> Any:
    expressions, ids, flags = _compile_inputs(patterns)
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=expressions, ids=ids, elements=len(patterns), flags=flags)
    return db


@lru_cache(maxsize=1)
def _hs_fingerprint() -> str:
    """The Hyperscan version and CPU platform a database compiled here is built for.

    A probe database's info names the library version and the CPU features it was
    tuned for; the CPU's flags and the machine type are added so that a cache shared
    between machines (a network home directory) never hands one a foreign database
    (Hyperscan's loader would refuse most, but not a slower one for a lesser CPU).
    """
    probe: Any = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    probe.compile(expressions=[b"netsentry"], ids=[0], elements=1, flags=[0])
    info = probe.info()  # bytes, though the stubs say str (probe is Any for that)
    cpu_flags = ""
    with (
        contextlib.suppress(OSError),
        open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo,
    ):
        cpu_flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    return "\n".join(
        (
            getattr(hyperscan, "__version__", "?"),
            info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info),
            platform.machine(),
            platform.processor(),
            " ".join(sorted(cpu_flags.partition(":")[2].split())),
        )
    )


def _disk_key(patterns: Sequence[tuple[int, str, bool]]) -> str:
    expressions, ids, flags = _compile_inputs(patterns)
    return hscache.database_key(
        _hs_fingerprint(), hyperscan.HS_MODE_BLOCK, expressions, ids, flags
    )


def _load_blob(blob: bytes) -> Any:
    """A usable database (with scratch space) from Hyperscan's serialization."""
    db = hyperscan.loadb(blob, mode=hyperscan.HS_MODE_BLOCK)
    db.scratch = hyperscan.Scratch(db)
    return db


def _from_disk(key: str) -> Any | None:
    """The database cached on disk under ``key``, or None. Anything Hyperscan refuses
    (another version or CPU, a damaged file that passed the digest) is a miss."""
    blob = hscache.load_blob(key)
    if blob is None:
        return None
    try:
        return _load_blob(blob)
    except Exception:  # hyperscan.error and its subclasses, or the binding's others
        hscache.discard(key)
        return None


def _to_disk(key: str, db: Any) -> None:
    try:
        blob = hyperscan.dumpb(db)
    except Exception:  # the database works; only the cache is skipped
        return
    hscache.store_blob(key, blob)


def _remember(patterns: tuple[tuple[int, str, bool], ...], db: Any) -> None:
    if len(_HS_CACHE) >= _HS_CACHE_MAX:
        _HS_CACHE.clear()
    _HS_CACHE[patterns] = db


def _hs_database(patterns: Sequence[tuple[int, str, bool]]) -> Any:
    """A compiled Hyperscan block-mode database (with its scratch space), cached per pattern
    tuple in memory and on disk (:mod:`netsentry.hscache`): compiling costs tens of
    milliseconds per pattern, and the same rule set is compiled again for every capture a
    process analyzes and for every run."""
    key = tuple(patterns)
    cached = _HS_CACHE.get(key)
    if cached is not None:
        return cached
    disk_key = _disk_key(patterns)
    db = _from_disk(disk_key)
    if db is None:
        db = _compile(patterns)
        _to_disk(disk_key, db)
        db.scratch = hyperscan.Scratch(db)
    _remember(key, db)
    return db


def is_compile_error(exc: BaseException) -> bool:
    """True when ``exc`` is Hyperscan refusing a pattern."""
    return HAVE_HYPERSCAN and isinstance(exc, hyperscan.error)


def precompile(pattern_sets: Sequence[Sequence[tuple[int, str, bool]]]) -> None:
    """Load Hyperscan databases into the in-memory cache: from the disk cache when there,
    else compiled in a forked child (and then written to the disk cache).

    Hyperscan's compiler needs tens of MB of scratch memory for the default rules; the
    process's peak RSS would keep that forever. The child pays it and hands back the
    serialized databases (``hyperscan.dumpb``, never pickle); the disk cache holds the
    same serialization behind a digest, and Hyperscan's loader checks version and CPU.
    On any trouble the databases are simply compiled here as before (when a PatternSet
    is built), which also surfaces compile errors with their real message.
    """
    if not HAVE_HYPERSCAN:
        return
    todo: list[tuple[tuple[int, str, bool], ...]] = []
    disk_keys: dict[tuple[tuple[int, str, bool], ...], str] = {}
    for patterns in dict.fromkeys(tuple(p) for p in pattern_sets if p):
        if patterns in _HS_CACHE:
            continue
        disk_keys[patterns] = disk_key = _disk_key(patterns)
        db = _from_disk(disk_key)
        if db is None:
            todo.append(patterns)
        else:
            _remember(patterns, db)
    if not todo or not hasattr(os, "fork"):
        return
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return
    if pid == 0:  # the child: compile, serialize, exit without running any cleanup
        code = 0
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as out:
                for patterns in todo:
                    blob = hyperscan.dumpb(_compile(patterns))
                    out.write(len(blob).to_bytes(8, "big") + blob)
        except BaseException:
            code = 3
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return
    pos = 0
    for patterns in todo:
        size = int.from_bytes(data[pos : pos + 8], "big")
        blob = data[pos + 8 : pos + 8 + size]
        pos += 8 + size
        if len(blob) != size:
            return
        _remember(patterns, _load_blob(blob))
        hscache.store_blob(disk_keys[patterns], blob)


class PatternSet:
    """Several patterns matched together; ``scan`` returns the ids of those that match."""

    def __init__(self, patterns: Sequence[tuple[int, str, bool]], engine: str = "auto") -> None:
        """``patterns``: (id, regex, nocase). ``engine``: auto, hyperscan or re2."""
        if engine == "auto":
            engine = "hyperscan" if HAVE_HYPERSCAN else "re2"
        if engine == "hyperscan" and not HAVE_HYPERSCAN:
            raise ValueError("hyperscan is not installed")
        self.engine = engine
        self.patterns = list(patterns)
        self._ids = [i for i, _p, _n in self.patterns]
        self._scan: Callable[[bytes], list[int]]
        if not self.patterns:
            self._scan = lambda data: []
        elif engine == "hyperscan":
            self._db = _hs_database(self.patterns)  # cached, with its scratch space
            self._scan = self._scan_hs
        else:
            self._set = re2.Set.SearchSet(_re2_options())
            for _id, pattern, nocase in self.patterns:
                self._set.Add(_to_bytes(f"(?i:{pattern})" if nocase else pattern))
            self._set.Compile()
            self._scan = self._scan_re2

    def scan(self, data: bytes) -> list[int]:
        """Ids of the patterns that match anywhere in ``data`` (no duplicates)."""
        return self._scan(data)

    def _scan_hs(self, data: bytes) -> list[int]:
        hits: list[int] = []

        def on_match(pattern_id: int, _start: int, _end: int, _flags: int, _ctx: Any) -> None:
            hits.append(pattern_id)

        self._db.scan(data, match_event_handler=on_match)
        return hits

    def _scan_re2(self, data: bytes) -> list[int]:
        matched = self._set.Match(data)
        if not matched:
            return []
        ids = self._ids
        return [ids[i] for i in matched]


def match_span(pattern: str, nocase: bool, data: bytes) -> tuple[int, int] | None:
    """Where ``pattern`` first matches in ``data`` (for evidence), or None."""
    found = compile_single(pattern, nocase).search(data)
    if found is None:
        return None
    return found.start(), found.end()


# -- transforms (Suricata's names) ---------------------------------------------------

_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")
_WS = re.compile(rb"\s+")


def url_decode(data: bytes) -> bytes:
    """Percent-decode once; '+' becomes a space (form encoding)."""
    if b"%" not in data and b"+" not in data:
        return data
    return _PCT.sub(lambda m: bytes((int(m.group(1), 16),)), data.replace(b"+", b" "))


TRANSFORM_FUNCS: dict[str, Callable[[bytes], bytes]] = {
    "url_decode": url_decode,
    "to_lowercase": bytes.lower,
    "compress_whitespace": lambda data: _WS.sub(b" ", data),
    "strip_whitespace": lambda data: _WS.sub(b"", data),
    "dotprefix": lambda data: b"." + data,
}


def apply_transforms(data: bytes, names: Sequence[str]) -> bytes:
    """Apply transforms in order."""
    for name in names:
        data = TRANSFORM_FUNCS[name](data)
    return data


def to_bytes(value: Any) -> bytes | None:
    """A field value as bytes for matching (str as UTF-8; numbers as decimal text)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(value).encode()
