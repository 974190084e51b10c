"""Offline DGA scorer: how likely a domain name was made by a domain-generation algorithm.

Malware that generates its rendezvous domains (DGA) queries many names nobody would
register by hand. This module scores one name in [0, 1] with no network and no ML
runtime, from two files shipped in ``netsentry/data/`` (read by
:mod:`netsentry.dgamodel`, written by ``make train-dga``, :mod:`netsentry.dgatrain`):

- ``dga_model.json``: character trigram models of benign registrable labels and of
  DGA names, TLD frequencies, and a logistic regression over 15 lexical features
  (FEATURES: the n-gram likelihoods among them);
- ``dga_allowlist.json``: popular registrable domains, CDN and cloud suffixes and the
  MISP warning lists' Google domains (never scored: known infrastructure), plus the
  MISP list of dynamic-DNS parent domains (the label *under* such a parent is what an
  attacker picks, so that label is scored instead of the provider's name).

What is scored is the registrable label: ``sas-ue1-pcms.apple.com`` is scored as
``apple`` (ICANN section of the public suffix list, via ``publicsuffixlist``, which
ships its list), since subdomains of legitimate services are where CDN and cloud
names look random. Names with no registrable part (single labels, ``.local``,
``.arpa``, unknown TLDs, IP literals) and internationalized labels score 0.

Scoring a new name costs about 10 µs (``make bench-dga`` measures it);
:class:`DgaScorer` caches recent names, since traffic repeats them endlessly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from publicsuffixlist import PSLFILE, PublicSuffixList

from netsentry.dgamodel import (
    DIGIT_RUN_CAP,
    FEATURES,
    Allowlist,
    DgaModel,
    load_allowlist,
    load_model,
)

BOS, EOS = "^", "$"  # label boundaries for the n-gram model
LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")  # 63 characters at most
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]+")
_NOT_SCORED_TLDS = frozenset(("arpa", "local", "localhost", "internal", "lan", "home", "corp"))
RARE_LOGP = math.log(0.005)  # a trigram step this unlikely in benign names counts as rare

# -- features --------------------------------------------------------------------------


_CLASSES = str.maketrans(
    "abcdefghijklmnopqrstuvwxyz0123456789-", "vcccvcccvcccccvcccccvccccc0000000000-"
)
_DIGIT_CLASS = str.maketrans("abcdefghijklmnopqrstuvwxyz-123456789", "a" * 27 + "0" * 9)
_XLOGX = [0.0] + [c * math.log2(c) for c in range(1, 64)]  # c*log2(c) for entropy
# The trigram windows of a label of each length (a host-name label has 63 characters
# at most), so cutting a label into trigrams is one C-level map.
_SLICES = [tuple(slice(i, i + 3) for i in range(n + 1)) for n in range(64)]


def _logp(
    gram: str, trigrams: dict[str, float], contexts: dict[str, float], unseen: float
) -> float:
    """log P(last character | first two) of a trigram model, with its fallbacks."""
    lp = trigrams.get(gram)
    return lp if lp is not None else contexts.get(gram[:2], unseen)


def feature_values(label: str, tld: str, model: DgaModel) -> dict[str, float]:
    """Every feature of FEATURES for one registrable label (lowercase a-z, 0-9, '-')."""
    return dict(zip(FEATURES, feature_list(label, tld, model), strict=True))


def feature_list(label: str, tld: str, model: DgaModel) -> list[float]:
    """The features of one registrable label, in FEATURES order.

    The reference computation, for explanations and training; DgaScorer folds the
    same arithmetic into precomputed tables for its hot path.
    """
    n = len(label)
    padded = BOS + BOS + label + EOS
    steps = n + 1
    logps: list[float] = []
    ratios: list[float] = []
    rare = 0
    for gram in map(padded.__getitem__, _SLICES[n]):
        lp = _logp(gram, model.trigrams, model.contexts, model.unseen_context)
        logps.append(lp)
        ratios.append(
            _logp(gram, model.dga_trigrams, model.dga_contexts, model.dga_unseen_context) - lp
        )
        rare += lp < RARE_LOGP
    # fsum: exactly rounded, so training gives the same bytes on every Python version
    total = math.fsum(logps)
    ratio = math.fsum(ratios)
    distinct = set(label)
    entropy = math.log2(n) - math.fsum(map(_XLOGX.__getitem__, map(label.count, distinct))) / n
    classes = label.translate(_CLASSES)
    digits = classes.count("0")
    hyphens = classes.count("-")
    vowels = classes.count("v")
    letters = n - digits - hyphens
    switches = 0
    digit_run = 0
    if digits:
        marks = label.translate(_DIGIT_CLASS)  # digits stay, everything else is 'a'
        switches = marks.count("0a") + marks.count("a0") if letters or hyphens else 0
        digit_run = min(DIGIT_RUN_CAP, max(map(len, marks.split("a"))))
    return [
        total / steps,  # ngram_mean
        total,  # ngram_sum
        rare / steps,  # rare_ratio
        float(n),  # length
        entropy,
        len(distinct) / n,  # unique_ratio
        digits / n,  # digit_ratio
        vowels / letters if letters else 0.0,  # vowel_ratio
        float(max(map(len, _CONSONANT_RUN.findall(label)), default=0)),  # consonant_run
        float(digit_run),
        switches / n,
        float(hyphens),
        model.tld_rarity.get(tld, model.unseen_tld),
        ratio / steps,  # dga_ratio
        model.tld_dga.get(tld, model.unseen_tld_dga),
    ]


def sigmoid(z: float) -> float:
    """Log-odds -> probability, without overflow."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


# -- which part of a name is scored ----------------------------------------------------


@cache
def _psl() -> PublicSuffixList:
    # ICANN section only: private suffixes (cloudfront.net, s3.amazonaws.com, ...) would
    # make every CDN object name a "registrable domain" of its own, scored as random.
    return PublicSuffixList(only_icann=True)


@cache
def _flat_tlds() -> frozenset[str]:
    """ICANN TLDs with no deeper rule (com, net, ru, ...: not uk, jp or ck).

    Under these the registrable domain is the last two labels; the full public-suffix
    lookup, a third of a new name's cost, is only needed for the others. Read from the
    list file that publicsuffixlist ships (the same list _psl() parses).
    """
    tlds: set[str] = set()
    deeper: set[str] = set()
    icann = False
    with open(PSLFILE, encoding="utf-8") as handle:
        for line in handle:
            rule = line.strip()
            if rule == "// ===BEGIN ICANN DOMAINS===":
                icann = True
            elif rule == "// ===END ICANN DOMAINS===":
                break
            elif icann and rule and not rule.startswith("//"):
                rule = rule.split()[0].lower().lstrip("!")
                if "." in rule:
                    deeper.add(rule.rsplit(".", 1)[1])
                else:
                    tlds.add(rule)
    return frozenset(t for t in tlds - deeper if t.isascii())


class Target(NamedTuple):
    """What of a name is scored: its registrable domain and label, or why nothing is.

    A named tuple, not a dataclass: one is made per new name on the hot path.
    """

    name: str
    registrable: str = ""
    label: str = ""
    tld: str = ""
    skipped: str = ""  # reason nothing is scored ("" when label is set)
    allowlisted: str = ""  # the allowlist entry that matched


def normalize_name(name: str) -> str:
    """Lowercase, no trailing dot: how names are compared and cached."""
    return name.strip().lower().rstrip(".")


def target_of(name: str, allowlist: Allowlist | None) -> Target:
    """Split a (normalized) name into what is scored, applying the allowlist."""
    if not name or len(name) > 253:
        return Target(name, skipped="not a host name")
    labels = name.split(".")
    if len(labels) < 2:
        return Target(name, skipped="single label (no registrable domain)")
    if labels[-1] in _NOT_SCORED_TLDS:
        return Target(name, skipped=f"local or reverse-lookup name (.{labels[-1]})")
    if labels[-1].isdigit():
        return Target(name, skipped="an IP address")
    if allowlist is not None:
        # Suffixes from the longest: the first listed one decides. A dynamic-DNS child is
        # chosen by whoever registered it: its label is scored, even when the provider
        # itself is a popular domain.
        dynamic, domains = allowlist.dynamic_dns, allowlist.domains
        if name in domains:
            return Target(name, skipped="allowlisted", allowlisted=name)
        if name in dynamic:
            return Target(name, skipped="a dynamic-DNS provider's own domain")
        start = 0
        while True:
            dot = name.find(".", start)
            suffix = name[dot + 1 :]
            if "." not in suffix:
                break
            if suffix in dynamic:
                label = name[start:dot]
                return _checked(Target(name, name[start:], label, labels[-1]), label)
            if suffix in domains:
                return Target(name, skipped="allowlisted", allowlisted=suffix)
            start = dot + 1
    if labels[-1] in _flat_tlds():
        registrable: str | None = labels[-2] + "." + labels[-1]
    else:
        registrable = _psl().privatesuffix(name, accept_unknown=False)
    if registrable is None:
        return Target(name, skipped="no registrable domain under a known public suffix")
    label, _, suffix = registrable.partition(".")
    return _checked(Target(name, registrable, label, suffix.rsplit(".", 1)[-1]), label)


def _checked(target: Target, label: str) -> Target:
    if label.startswith("xn--"):
        return Target(target.name, target.registrable, skipped="internationalized label")
    if not LABEL_RE.match(label):
        return Target(target.name, target.registrable, skipped="not a host-name label")
    return target


# -- the scorer ------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """A name's score and why: each feature's value and its share of the log-odds."""

    target: Target
    score: float
    log_odds: float
    bias: float
    contributions: tuple[tuple[str, float, float], ...]  # (feature, value, contribution)


CACHE_SIZE = 65_536


class _LazyTable(dict[str, float]):
    """A per-trigram table computed on first lookup (plain dict speed afterwards)."""

    def __init__(self, compute: Callable[[str], float]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, gram: str) -> float:
        value = self[gram] = self._compute(gram)
        return value


class DgaScorer:
    """Scores names with a model and an allowlist; remembers recent names.

    The cache is a dict cleared when full: captures repeat a working set of names, and
    a flood of unique names (itself a DGA or tunnel symptom) must not grow memory.
    """

    def __init__(
        self,
        model: DgaModel,
        allowlist: Allowlist | None = None,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.model = model
        self.allowlist = allowlist
        self.cache_size = cache_size
        self._cache: dict[str, float] = {}
        # The standardized linear model folded into one coefficient per raw feature.
        self._coef = [w / sd for sd, w in zip(model.scale, model.weights, strict=True)]
        self._offset = model.bias - sum(
            c * mu for c, mu in zip(self._coef, model.mean, strict=True)
        )
        # The trigram features folded into two per-trigram tables, so the hot path sums
        # two C-level maps instead of computing four features (the same numbers as
        # feature_list; tests compare the two): per_step is divided by the number of
        # steps, per_label is not. Filled as trigrams are met (at most 39^3 entries).
        coef = dict(zip(FEATURES, self._coef, strict=True))
        self._per_step = _LazyTable(
            lambda g: (
                coef["ngram_mean"] * self._benign(g)
                + coef["dga_ratio"] * (self._dga(g) - self._benign(g))
                + (coef["rare_ratio"] if self._benign(g) < RARE_LOGP else 0.0)
            )
        )
        self._per_label = _LazyTable(lambda g: coef["ngram_sum"] * self._benign(g))
        self._linear = tuple(
            coef[f]
            for f in (
                "length", "entropy", "unique_ratio", "digit_ratio", "vowel_ratio",
                "consonant_run", "digit_run", "switches", "hyphens", "tld_rarity", "tld_dga",
            )
        )  # fmt: skip

    def _benign(self, gram: str) -> float:
        m = self.model
        return _logp(gram, m.trigrams, m.contexts, m.unseen_context)

    def _dga(self, gram: str) -> float:
        m = self.model
        return _logp(gram, m.dga_trigrams, m.dga_contexts, m.dga_unseen_context)

    def _log_odds(self, label: str, tld: str) -> float:
        """feature_list + the regression in one pass (the per-new-name hot path)."""
        (c_length, c_entropy, c_unique, c_digits, c_vowels, c_consonants, c_run, c_switch,
         c_hyphens, c_tld_rarity, c_tld_dga) = self._linear  # fmt: skip
        model = self.model
        n = len(label)
        grams = list(map((BOS + BOS + label + EOS).__getitem__, _SLICES[n]))
        distinct = set(label)
        classes = label.translate(_CLASSES)
        digits = classes.count("0")
        hyphens = classes.count("-")
        letters = n - digits - hyphens
        z = (
            self._offset
            + sum(map(self._per_step.__getitem__, grams)) / (n + 1)
            + sum(map(self._per_label.__getitem__, grams))
            + c_length * n
            + c_tld_rarity * model.tld_rarity.get(tld, model.unseen_tld)
            + c_tld_dga * model.tld_dga.get(tld, model.unseen_tld_dga)
            + c_entropy
            * (math.log2(n) - sum(map(_XLOGX.__getitem__, map(label.count, distinct))) / n)
            + c_unique * len(distinct) / n
            + c_hyphens * hyphens
            + c_consonants * max(map(len, _CONSONANT_RUN.findall(label)), default=0)
        )
        if letters:
            z += c_vowels * classes.count("v") / letters
        if digits:
            marks = label.translate(_DIGIT_CLASS)
            run = min(DIGIT_RUN_CAP, max(map(len, marks.split("a"))))
            z += c_digits * digits / n + c_run * run
            if letters or hyphens:
                z += c_switch * (marks.count("0a") + marks.count("a0")) / n
        return z

    def score(self, name: str) -> float:
        """DGA probability of a name in [0, 1]; 0 when nothing of it is scored."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        norm = normalize_name(name)
        target = target_of(norm, self.allowlist)
        value = 0.0
        if target.label:
            value = sigmoid(self._log_odds(target.label, target.tld))
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[name] = value
        return value

    def max_score(self, names: Iterable[Any]) -> float | None:
        """The highest score among names (None when there are none)."""
        best: float | None = None
        for name in names:
            if isinstance(name, str) and name:
                value = self.score(name)
                if best is None or value > best:
                    best = value
        return best

    def explain(self, name: str) -> Explanation:
        """The score with each feature's contribution to the log-odds (not cached)."""
        target = target_of(normalize_name(name), self.allowlist)
        if not target.label:
            return Explanation(target, 0.0, float("-inf"), self.model.bias, ())
        values = feature_list(target.label, target.tld, self.model)
        model = self.model
        # Each feature's share of the log-odds relative to the training average, so
        # the shares and the bias add up to the log-odds.
        parts = tuple(
            (feature, value, coef * (value - mu))
            for feature, value, coef, mu in zip(
                FEATURES, values, self._coef, model.mean, strict=True
            )
        )
        z = model.bias + sum(p[2] for p in parts)
        return Explanation(target, sigmoid(z), z, self.model.bias, parts)


@cache
def default_scorer() -> DgaScorer:
    """The packaged model and allowlist (loaded once per process, on first use)."""
    return DgaScorer(load_model(), load_allowlist())
