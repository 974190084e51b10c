"""IP reputation (Suricata ``iprep``) and string datasets (``dataset:isset``) for signatures.

Reputation files are Suricata's: a categories file of ``id,short-name,description``
lines and list files of ``ip-or-cidr,category-id,score`` lines. The table rides
on the :class:`~netsentry.intel.IntelSet` given to the analysis (attribute
``reputation``), so every indicator source reaches the detectors the same way.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netsentry.intel import IntelSet
from netsentry.sig.parse import RuleSyntaxError

MAX_MEMO = 65536


class Reputation:
    """Scores per category for addresses and CIDR blocks (the most specific block wins)."""

    def __init__(self) -> None:
        self.names: dict[str, int] = {}  # short name -> category id
        self.blocks: dict[int, list[tuple[Any, int]]] = {}  # category -> (network, score)
        self._memo: dict[tuple[bytes, int], int | None] = {}

    def load_categories(self, text: str) -> None:
        """Lines ``id,short-name,description``."""
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(",")
            if len(parts) >= 2 and parts[0].strip().isdigit():
                self.names[parts[1].strip()] = int(parts[0])

    def load_list(self, text: str) -> int:
        """Lines ``ip-or-cidr,category-id,score``; returns entries loaded."""
        loaded = 0
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split(",")]
            if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
                continue
            try:
                net = ipaddress.ip_network(parts[0], strict=False)
            except ValueError:
                continue
            self.blocks.setdefault(int(parts[1]), []).append((net, int(parts[2])))
            loaded += 1
        for entries in self.blocks.values():
            entries.sort(key=lambda e: -e[0].prefixlen)
        self._memo.clear()
        return loaded

    def category(self, name: str) -> int | None:
        """The id of a category given by short name or number."""
        if name in self.names:
            return self.names[name]
        return int(name) if name.isdigit() else None

    def score(self, packed: bytes, category: int) -> int | None:
        """The address's score in the category, or None when it is not listed."""
        key = (packed, category)
        if key in self._memo:
            return self._memo[key]
        found: int | None = None
        if len(packed) in (4, 16):
            addr = ipaddress.ip_address(packed)
            for net, value in self.blocks.get(category, ()):
                if addr.version == net.version and addr in net:
                    found = value
                    break
        if len(self._memo) >= MAX_MEMO:
            self._memo.clear()
        self._memo[key] = found
        return found


def load_reputation(
    categories: str | Path, lists: list[str | Path], into: IntelSet | None = None
) -> IntelSet:
    """Load Suricata reputation files into an IntelSet's ``reputation`` table."""
    intel = into if into is not None else IntelSet()
    table = reputation_of(intel) or Reputation()
    table.load_categories(Path(categories).read_text(encoding="utf-8", errors="replace"))
    for path in lists:
        table.load_list(Path(path).read_text(encoding="utf-8", errors="replace"))
    intel.reputation = table  # type: ignore[attr-defined]
    return intel


def reputation_of(intel: IntelSet | None) -> Reputation | None:
    """The reputation table carried by an IntelSet, if any."""
    table = getattr(intel, "reputation", None) if intel is not None else None
    return table if isinstance(table, Reputation) else None


def iprep_test(spec: str, table: Reputation | None) -> Callable[[bytes, bytes], bool]:
    """A predicate over (src, dst) packed addresses for an ``iprep`` value."""
    parts = spec.split(",")
    side, name = parts[0], parts[1]
    if table is None:
        return lambda src, dst: parts[2] == "isnotset"
    category = table.category(name)
    if category is None:  # not in the loaded categories: nothing is listed under it
        return lambda src, dst: parts[2] == "isnotset"
    if parts[2] in ("isset", "isnotset"):
        want = parts[2] == "isset"

        def one(addr: bytes) -> bool:
            return (table.score(addr, category) is not None) == want

    else:
        op, limit = parts[2], int(parts[3])

        def one(addr: bytes) -> bool:
            value = table.score(addr, category)
            if value is None:
                return False
            if op == ">":
                return value > limit
            if op == "<":
                return value < limit
            return value != limit if op == "!=" else value == limit

    if side == "src":
        return lambda src, dst: one(src)
    if side == "dst":
        return lambda src, dst: one(dst)
    if side == "both":
        return lambda src, dst: one(src) and one(dst)
    return lambda src, dst: one(src) or one(dst)


def load_dataset(spec: str) -> frozenset[bytes]:
    """The values of a ``type string`` dataset file.

    ``spec`` is ``name,path[,mode[,format]]``. CSV files hold one base64 value per line,
    as Suricata writes them (lines that are not base64 are taken as they are); ndjson
    files hold one JSON object per line, the value under the format's key
    (``ndjson:domain``). The file is read as a whole: datasets are lists, not captures.
    """
    parts = spec.split(",")
    path = parts[1] if len(parts) > 1 else ""
    fmt = parts[3] if len(parts) > 3 else "csv"
    values: set[bytes] = set()
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise RuleSyntaxError(f"dataset file {path}: {exc.strerror or exc}") from None
    key = fmt.partition(":")[2] if fmt.startswith("ndjson") else ""
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if key:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            value = item.get(key) if isinstance(item, dict) else None
            if isinstance(value, str):
                values.add(value.encode("utf-8", "surrogateescape"))
            continue
        try:
            values.add(base64.b64decode(line, validate=True))
        except (binascii.Error, ValueError):
            values.add(line)
    return frozenset(values)


def dataset_mode(spec: str) -> str:
    """``exact`` or ``subdomain`` (a value matches when it or a parent domain is listed)."""
    parts = spec.split(",")
    return parts[2] if len(parts) > 2 else "exact"


def in_dataset(data: bytes, values: frozenset[bytes], mode: str) -> bool:
    """Membership of a buffer in a dataset; ``subdomain`` also tries every parent domain
    (with dotprefix, '.a.evil.com' is in a set holding '.evil.com')."""
    if data in values:
        return True
    if mode != "subdomain":
        return False
    pos = data.find(b".", 1)
    while pos >= 0:
        if data[pos:] in values or data[pos + 1 :] in values:
            return True
        pos = data.find(b".", pos + 1)
    return False
