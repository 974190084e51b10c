"""Importing Suricata rule sources: .rules text, files, folders and tar.gz bundles.

:func:`load_rules_bytes` is the entry point for rule feeds (ET Open's
``emerging.rules.tar.gz`` or a plain ``.rules`` download): it takes the bytes
and returns the translated rules plus everything that was skipped, each with
its reason and ``file:line``. A malformed rule never stops an import.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from netsentry.rules import RuleSet
from netsentry.sig.model import SignatureRule
from netsentry.sig.parse import RuleSyntaxError, logical_lines, parse_rule
from netsentry.sig.translate import Skip, translate

MAX_MEMBER = 64 * 1024 * 1024  # bytes of one .rules file read from an archive
MAX_ARCHIVE_MEMBERS = 10_000


@dataclass
class ImportResult:
    """Rules translated from Suricata sources, and what was left out."""

    rules: list[SignatureRule] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    disabled: int = 0  # commented-out rules (#alert ...), never imported
    files: list[str] = field(default_factory=list)

    @property
    def active(self) -> int:
        """Uncommented rules seen (imported + skipped)."""
        return len(self.rules) + len(self.skipped)

    @property
    def ratio(self) -> float:
        """Share of the active rules imported."""
        return len(self.rules) / self.active if self.active else 0.0

    def reasons(self) -> Counter[str]:
        """Skip reasons by keyword (``pcre``, ``byte_test``, ``syntax`` ...)."""
        return Counter(s.keyword for s in self.skipped)

    def ruleset(self) -> RuleSet:
        """The imported rules as a rule set."""
        return RuleSet(list(self.rules), files=list(self.files))

    def merge(self, other: ImportResult) -> None:
        """Add another source's result, skipping sids already imported."""
        seen = {r.sid for r in self.rules}
        for rule in other.rules:
            if rule.sid in seen:
                self.skipped.append(
                    Skip(rule.source_rule, rule.sid, "duplicate-sid", f"duplicate sid {rule.sid}")
                )
                continue
            seen.add(rule.sid)
            self.rules.append(rule)
        self.skipped.extend(other.skipped)
        self.disabled += other.disabled
        self.files.extend(other.files)


def load_rules_text(
    text: str,
    name: str = "<rules>",
    variables: dict[str, str] | None = None,
    base_dir: str = ".",
) -> ImportResult:
    """Translate every rule of a .rules text (``name`` is used in locations)."""
    result = ImportResult(files=[name])
    seen: dict[int, str] = {}
    for where, line, disabled in logical_lines(text, name):
        if disabled:
            result.disabled += 1
            continue
        try:
            raw = parse_rule(line, where)
        except RuleSyntaxError as exc:
            result.skipped.append(Skip(where, None, "syntax", f"invalid rule: {exc}"))
            continue
        translated = translate(raw, variables, base_dir)
        if isinstance(translated, Skip):
            result.skipped.append(translated)
            continue
        if translated.sid in seen:
            result.skipped.append(
                Skip(
                    where,
                    translated.sid,
                    "duplicate-sid",
                    f"duplicate sid {translated.sid} (first at {seen[translated.sid]})",
                )
            )
            continue
        seen[translated.sid] = where
        result.rules.append(translated)
    return result


def rule_files(path: Path) -> list[Path]:
    """A .rules file itself, or the .rules files of a folder (sorted, not recursive)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == ".rules" and p.is_file())
    return [path]


def load_rules_paths(
    paths: Iterable[str | Path], variables: dict[str, str] | None = None
) -> ImportResult:
    """Import .rules files and folders (tar.gz bundles too, recognized by magic bytes)."""
    total = ImportResult()
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        for file in rule_files(path):
            data = file.read_bytes()
            total.merge(load_rules_bytes(data, str(file), variables, str(file.parent)))
    return total


def load_rules_bytes(
    data: bytes,
    name: str = "<rules>",
    variables: dict[str, str] | None = None,
    base_dir: str = ".",
) -> ImportResult:
    """Import a plain .rules text, a gzip of one, or a (gzipped) tar of .rules files.

    For the feed system: hand it the downloaded bytes. Archive members other than
    ``*.rules`` are ignored; member sizes are bounded.
    """
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
                inner = handle.read(MAX_MEMBER * 4 + 1)
        except (OSError, EOFError) as exc:
            raise RuleSyntaxError(f"{name}: bad gzip data ({exc})") from None
        if len(inner) > MAX_MEMBER * 4:
            raise RuleSyntaxError(f"{name}: archive too large")
        data = inner
    if len(data) > 262 and data[257:262] == b"ustar":
        return _load_tar(data, name, variables, base_dir)
    return load_rules_text(data.decode("utf-8", "replace"), name, variables, base_dir)


def _load_tar(
    data: bytes, name: str, variables: dict[str, str] | None, base_dir: str
) -> ImportResult:
    total = ImportResult()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            members = [m for m in archive.getmembers()[:MAX_ARCHIVE_MEMBERS] if m.isfile()]
            for member in sorted(members, key=lambda m: m.name):
                if not member.name.endswith(".rules") or member.size > MAX_MEMBER:
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                text = handle.read().decode("utf-8", "replace")
                total.merge(load_rules_text(text, f"{name}:{member.name}", variables, base_dir))
    except tarfile.TarError as exc:
        raise RuleSyntaxError(f"{name}: bad tar archive ({exc})") from None
    return total
