"""Training and evaluating the DGA model (``make train-dga``, ``make eval-dga``).

Inputs (``../shared/dga-samples/`` and ``../shared/intel-samples/``; see their READMEs):

- ``benign_train_domains.txt``: 103k benign domains. Their registrable labels are split
  deterministically (by a hash of the label): 80% fit the benign trigram model and the
  TLD frequencies, 20% are benign examples for the logistic regression -- examples the
  trigram model has not seen, or their likelihood would look better than any new
  benign name's.
- ``dga_dev_set.csv``: 5,000 DGA names of 20 families and 5,000 benign names. Half of
  every family and of the benign names (by a hash of the name) trains the regression
  and the DGA-side trigram and TLD tables (cross-fitted, see :func:`design`); the other
  half is held back for :func:`evaluate` and for choosing the thresholds written into
  the model (scores at 1% and 0.1% false-positive rate).
- MISP warning lists: ``tranco10k`` and ``google`` (plus the CDN/cloud suffixes below)
  become the shipped allowlist; ``dynamic-dns`` its list of dynamic-DNS parents.

Everything is deterministic: no random numbers, sorted inputs, Newton's method to
convergence, and float sums by ``math.fsum`` (exactly rounded, so the same on every
Python version); the same inputs (and publicsuffixlist release) write byte-identical
files. Pure standard library, no NumPy: the regression has 15 features, so Newton's
method in plain Python takes seconds (the leave-family-out evaluation, 21 fits, a few
minutes).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from netsentry.dga import feature_list, feature_values, normalize_name, sigmoid, target_of
from netsentry.dgamodel import (
    ALLOWLIST_FILE,
    FEATURES,
    MODEL_FILE,
    Allowlist,
    DgaModel,
    model_from_json,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLES = ROOT.parent / "shared" / "dga-samples"
DEFAULT_INTEL = ROOT.parent / "shared" / "intel-samples"
DEFAULT_OUT = ROOT / "netsentry" / "data"

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-"
SMOOTHING = 0.1  # add-k smoothing of the trigram model
L2 = 1.0  # ridge penalty of the regression (on standardized features)
NEWTON_STEPS = 12
BENIGN_REGRESSION_SHARE = 5  # 1 in 5 benign training labels trains the regression

# Suffixes of content-delivery and cloud platforms whose host names are machine-made
# (object ids, hashes, region codes) but are not DGA: names under them are never scored.
CDN_CLOUD_SUFFIXES = (
    "1e100.net", "akadns.net", "akamai.net", "akamaiedge.net", "akamaihd.net",
    "akamaized.net", "akamaitechnologies.com", "amazonaws.com", "amazonaws.com.cn",
    "aws.dev", "awsdns-cn-00.net", "awsglobalaccelerator.com", "azure.com", "azure.net",
    "azureedge.net", "azurefd.net", "azurewebsites.net", "b-cdn.net", "bunnycdn.com",
    "cdn77.org", "cdn77.net", "cdngc.net", "cloudapp.net", "cloudflare.com",
    "cloudflare.net", "cloudflare-dns.com", "cloudfront.net", "digitaloceanspaces.com",
    "doubleclick.net", "edgecastcdn.net", "edgekey.net", "edgesuite.net", "fastly.net",
    "fastlylb.net", "fbcdn.net", "firebaseapp.com", "footprint.net", "ggpht.com",
    "googleapis.com", "googleusercontent.com", "googlevideo.com", "gstatic.com",
    "gvt1.com", "gvt2.com", "herokuapp.com", "hwcdn.net", "impervadns.net",
    "incapdns.net", "kxcdn.com", "llnwd.net", "llnwi.net", "msecnd.net", "msedge.net",
    "netlify.app", "nflxso.net", "nflxvideo.net", "office.net", "r53-2.com",
    "s-msft.com", "sfx.ms", "stackpathdns.com", "trafficmanager.net", "twimg.com",
    "vercel.app", "windows.net", "windowsupdate.com", "x.incapdns.net", "ytimg.com",
    "zscaler.net", "zscloud.net",
)  # fmt: skip


# -- reading the inputs ----------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One labelled name of the development set."""

    name: str
    dga: bool
    family: str
    held_back: bool


def _bucket(text: str, buckets: int) -> int:
    """A stable pseudo-random bucket of a string (the same on every machine and run)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest()[0] % buckets


def read_dev_set(path: Path) -> list[Sample]:
    """The labelled development set, each row marked training or held back."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        Sample(
            normalize_name(row["domain"]),
            row["label"] == "dga",
            row["family"],
            _bucket(row["domain"], 2) == 1,
        )
        for row in rows
    ]


def _warninglist(path: Path) -> list[str]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [str(x) for x in doc.get("list", [])]


def build_allowlist(intel: Path) -> Allowlist:
    """Popular domains, Google's domains and CDN/cloud suffixes; dynamic-DNS parents."""
    domains = set(CDN_CLOUD_SUFFIXES)
    for name in ("tranco10k", "google"):
        domains.update(
            normalize_name(x.lstrip("*."))
            for x in _warninglist(intel / f"misp_warninglist_{name}.json")
        )
    dynamic = {
        normalize_name(x.lstrip("*."))
        for x in _warninglist(intel / "misp_warninglist_dynamic-dns.json")
    }
    # A parent listed both ways is a dynamic-DNS provider: its children are scored.
    domains -= dynamic
    return Allowlist(
        frozenset(d for d in domains if "." in d),
        frozenset(d for d in dynamic if "." in d),
        {
            "sources": [
                "MISP warninglists tranco10k, google, dynamic-dns (CC0 1.0)",
                "netsentry.dgatrain.CDN_CLOUD_SUFFIXES",
            ]
        },
    )


def scoring_allowlist(allowlist: Allowlist) -> Allowlist:
    """The allowlist without popular domains: dynamic-DNS parents only.

    Training and evaluation see names this way: the popular-domain list is the very
    Tranco list the benign samples come from, so keeping it would hide the model's
    false positives rather than measure them.
    """
    return Allowlist(frozenset(), allowlist.dynamic_dns, {})


# -- the benign character model ----------------------------------------------------------


def benign_labels(path: Path, allowlist: Allowlist) -> list[tuple[str, str]]:
    """Distinct (registrable label, TLD) pairs of the benign training list, sorted."""
    pairs: set[tuple[str, str]] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        target = target_of(normalize_name(line), allowlist)
        if target.label:
            pairs.add((target.label, target.tld))
    return sorted(pairs)


def fit_trigrams(labels: Sequence[str]) -> tuple[dict[str, float], dict[str, float], float]:
    """Add-k trigram model: log P(c | two previous characters), with boundary marks."""
    tri: Counter[str] = Counter()
    ctx: Counter[str] = Counter()
    for label in labels:
        padded = "^^" + label + "$"
        for i in range(len(label) + 1):
            tri[padded[i : i + 3]] += 1
            ctx[padded[i : i + 2]] += 1
    vocab = len(ALPHABET) + 1  # every character, plus the end of the label
    trigrams = {
        gram: math.log((count + SMOOTHING) / (ctx[gram[:2]] + SMOOTHING * vocab))
        for gram, count in tri.items()
    }
    contexts = {c: math.log(SMOOTHING / (n + SMOOTHING * vocab)) for c, n in ctx.items()}
    return trigrams, contexts, min(contexts.values())


def fit_tlds(counts: Counter[str]) -> tuple[dict[str, float], float]:
    """-log frequency of each TLD among benign registrable domains (add-one)."""
    total = sum(counts.values()) + len(counts) + 1
    return {t: -math.log((n + 1) / total) for t, n in counts.items()}, -math.log(1 / total)


# -- logistic regression (Newton's method, pure Python) -----------------------------------


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve a small symmetric positive-definite system by Gaussian elimination."""
    n = len(vector)
    a = [[*row, vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        for row in range(col + 1, n):
            factor = a[row][col] / a[col][col]
            if factor:
                for k in range(col, n + 1):
                    a[row][k] -= factor * a[col][k]
    x = [0.0] * n
    for row in range(n - 1, -1, -1):
        x[row] = (a[row][n] - math.fsum(a[row][k] * x[k] for k in range(row + 1, n))) / a[row][row]
    return x


@dataclass(frozen=True)
class Regression:
    """Standardization and weights of a fitted logistic regression."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def log_odds(self, x: Sequence[float]) -> float:
        return self.bias + math.fsum(
            w * (v - m) / s
            for v, m, s, w in zip(x, self.mean, self.scale, self.weights, strict=True)
        )


def fit_regression(rows: Sequence[Sequence[float]], labels: Sequence[bool]) -> Regression:
    """Class-balanced, ridge-penalized logistic regression by Newton's method."""
    dims = len(rows[0])
    count = len(rows)
    mean = [math.fsum(r[j] for r in rows) / count for j in range(dims)]
    scale = [
        math.sqrt(math.fsum((r[j] - mean[j]) ** 2 for r in rows) / count) or 1.0
        for j in range(dims)
    ]
    xs = [[1.0, *((r[j] - mean[j]) / scale[j] for j in range(dims))] for r in rows]
    positives = sum(labels)
    weight = {True: count / (2 * positives), False: count / (2 * (count - positives))}
    ws = [weight[y] for y in labels]
    ys = [1.0 if y else 0.0 for y in labels]
    size = dims + 1
    beta = [0.0] * size
    for _ in range(NEWTON_STEPS):
        grad = [0.0] * size
        hess = [[0.0] * size for _ in range(size)]
        for x, y, w in zip(xs, ys, ws, strict=True):
            z = math.fsum(b * v for b, v in zip(beta, x, strict=True))
            p = sigmoid(z)
            g = w * (p - y)
            h = w * p * (1.0 - p)
            for i in range(size):
                xi = x[i]
                grad[i] += g * xi
                hx = h * xi
                row = hess[i]
                for k in range(i + 1):
                    row[k] += hx * x[k]
        for i in range(size):
            for k in range(i):
                hess[k][i] = hess[i][k]
            if i:  # no penalty on the intercept
                grad[i] += L2 * beta[i]
                hess[i][i] += L2
        step = _solve(hess, grad)
        beta = [b - s for b, s in zip(beta, step, strict=True)]
        if max(map(abs, step)) < 1e-9:
            break  # converged (Newton's method gets here in a handful of steps)
    return Regression(tuple(mean), tuple(scale), tuple(beta[1:]), beta[0])


# -- measuring ---------------------------------------------------------------------------


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Area under the ROC curve (ties count half), by ranking."""
    scored = sorted([(s, 1) for s in positive] + [(s, 0) for s in negative])
    rank_sum = 0.0
    i = 0
    while i < len(scored):
        j = i
        while j < len(scored) and scored[j][0] == scored[i][0]:
            j += 1
        average_rank = (i + j + 1) / 2  # ranks i+1 .. j
        rank_sum += average_rank * sum(label for _, label in scored[i:j])
        i = j
    n_pos, n_neg = len(positive), len(negative)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def threshold_at(negative: Sequence[float], fpr: float) -> float:
    """The lowest score above which at most ``fpr`` of the negatives fall."""
    ordered = sorted(negative, reverse=True)
    allowed = math.floor(fpr * len(ordered))
    return ordered[allowed] if allowed < len(ordered) else ordered[-1]


def detection(positive: Sequence[float], threshold: float) -> float:
    """Share of positives scoring strictly above the threshold."""
    return sum(1 for s in positive if s > threshold) / len(positive) if positive else 0.0


# -- the pipeline ------------------------------------------------------------------------

CROSS_FIT = 5  # folds for the DGA-side features of the regression's own DGA examples


@dataclass(frozen=True)
class Example:
    """One name the regression trains on or is measured with: what of it is scored."""

    label: str
    tld: str
    dga: bool
    family: str
    held_back: bool
    fold: int  # cross-fitting fold of a training DGA name


@dataclass
class Prepared:
    """Everything training and evaluation share: the benign tables and the examples."""

    model_base: DgaModel  # benign n-gram and TLD tables; no DGA tables, no regression
    allowlist: Allowlist
    benign_tlds: Counter[str]  # TLDs of the benign labels the trigram model was fitted on
    examples: list[Example]  # regression benign labels, then the dev set's scored names
    unscored: dict[str, list[bool]]  # family -> held_back flags of dev names never scored


def prepare(samples: Path, intel: Path, log: Callable[[str], None]) -> Prepared:
    """Read the inputs and fit the benign tables."""
    started = time.perf_counter()
    allowlist = build_allowlist(intel)
    scoring = scoring_allowlist(allowlist)
    pairs = benign_labels(samples / "benign_train_domains.txt", scoring)
    fit = [p for p in pairs if _bucket(p[0], BENIGN_REGRESSION_SHARE) != 0]
    held = [p for p in pairs if _bucket(p[0], BENIGN_REGRESSION_SHARE) == 0]
    trigrams, contexts, unseen = fit_trigrams([label for label, _ in fit])
    benign_tlds = Counter(tld for _, tld in fit)
    tld_rarity, unseen_tld = fit_tlds(benign_tlds)
    features = tuple(FEATURES)
    base = DgaModel(
        trigrams=trigrams,
        contexts=contexts,
        unseen_context=unseen,
        tld_rarity=tld_rarity,
        unseen_tld=unseen_tld,
        dga_trigrams={},
        dga_contexts={},
        dga_unseen_context=0.0,
        tld_dga={},
        unseen_tld_dga=0.0,
        features=features,
        mean=(0.0,) * len(features),
        scale=(1.0,) * len(features),
        weights=(0.0,) * len(features),
        bias=0.0,
        thresholds={},
        meta={},
    )
    examples = [Example(label, tld, False, "benign_train", False, 0) for label, tld in held]
    unscored: dict[str, list[bool]] = defaultdict(list)
    dev = read_dev_set(samples / "dga_dev_set.csv")
    for sample in dev:
        target = target_of(sample.name, scoring)
        if not target.label:
            unscored[sample.family].append(sample.held_back)
            continue
        examples.append(
            Example(
                target.label,
                target.tld,
                sample.dga,
                sample.family,
                sample.held_back,
                _bucket(sample.name + "/fold", CROSS_FIT),
            )
        )
    log(
        f"benign labels: {len(fit)} fit the trigram model, {len(held)} train the regression;"
        f" dev set: {len(dev)} names ({sum(s.held_back for s in dev)} held back,"
        f" {sum(map(len, unscored.values()))} with nothing to score)"
        f" [{time.perf_counter() - started:.1f} s]"
    )
    return Prepared(base, allowlist, benign_tlds, examples, dict(unscored))


def with_dga_tables(prep: Prepared, dga: Sequence[Example]) -> DgaModel:
    """The base model plus DGA-side trigram and TLD tables fitted on ``dga``."""
    trigrams, contexts, unseen = fit_trigrams([e.label for e in dga])
    dga_tlds = Counter(e.tld for e in dga)
    tlds = sorted(set(dga_tlds) | set(prep.benign_tlds))
    n_dga = sum(dga_tlds.values()) + len(tlds) + 1
    n_benign = sum(prep.benign_tlds.values()) + len(tlds) + 1
    tld_dga = {
        t: math.log((dga_tlds[t] + 1) / n_dga) - math.log((prep.benign_tlds[t] + 1) / n_benign)
        for t in tlds
    }
    model = replace(
        prep.model_base,
        dga_trigrams=trigrams,
        dga_contexts=contexts,
        dga_unseen_context=unseen,
        tld_dga=tld_dga,
        unseen_tld_dga=math.log(1 / n_dga) - math.log(1 / n_benign),
    )
    # The model file stores rounded numbers: compute features with the same rounding,
    # so thresholds chosen here hold for the shipped model exactly.
    return model_from_json(json.loads(json.dumps(model.to_json())))


def _row(example: Example, model: DgaModel) -> list[float]:
    return feature_list(example.label, example.tld, model)


def design(
    prep: Prepared, exclude_family: str = ""
) -> tuple[list[list[float]], list[bool], DgaModel]:
    """Regression examples and the model whose DGA tables they were computed with.

    Benign regression labels and the dev set's training half train the regression
    (leaving out ``exclude_family`` entirely). The DGA tables are fitted on the
    training DGA names; each of those names gets its DGA-side features from tables
    fitted without its own fold (cross-fitting), or the regression would learn how
    well the tables know their own training names rather than new ones.
    """
    train = [e for e in prep.examples if not e.held_back and e.family != exclude_family]
    dga = [e for e in train if e.dga]
    full = with_dga_tables(prep, dga)
    rows: list[list[float]] = []
    labels: list[bool] = []
    for example in train:
        if not example.dga:
            rows.append(_row(example, full))
            labels.append(False)
    for fold in range(CROSS_FIT):
        partial = with_dga_tables(prep, [e for e in dga if e.fold != fold])
        for example in dga:
            if example.fold == fold:
                rows.append(_row(example, partial))
                labels.append(True)
    return rows, labels, full


def held_back_scores(
    prep: Prepared, model: DgaModel, regression: Regression
) -> tuple[list[float], dict[str, list[float]]]:
    """Scores of the held-back benign names and of each family's held-back names."""
    benign: list[float] = []
    families: dict[str, list[float]] = defaultdict(list)
    for example in prep.examples:
        if example.held_back:
            score = sigmoid(regression.log_odds(_row(example, model)))
            (families[example.family] if example.dga else benign).append(score)
    for family, flags in prep.unscored.items():
        zeros = [0.0] * sum(flags)  # nothing of the name is scored: score 0
        if family in families or family not in ("tranco_top10k", "umbrella_fqdn"):
            families[family] = families.get(family, []) + zeros
        else:
            benign += zeros
    return benign, dict(families)


def train(samples: Path, intel: Path, out: Path, log: Callable[[str], None]) -> DgaModel:
    """Fit the model, choose its thresholds on held-back data, write model and allowlist."""
    prep = prepare(samples, intel, log)
    started = time.perf_counter()
    rows, labels, tables = design(prep)
    regression = fit_regression(rows, labels)
    log(
        f"regression: {len(rows)} examples, {sum(labels)} DGA"
        f" [{time.perf_counter() - started:.1f} s]"
    )
    benign, _ = held_back_scores(prep, tables, regression)
    model = replace(
        tables,
        mean=regression.mean,
        scale=regression.scale,
        weights=regression.weights,
        bias=regression.bias,
        thresholds={
            "fpr_1pct": threshold_at(benign, 0.01),
            "fpr_0.1pct": threshold_at(benign, 0.001),
        },
        meta={
            "trained_on": "shared/dga-samples benign_train_domains.txt + dga_dev_set.csv"
            " (training half)",
            "thresholds": "scores at 1% and 0.1% false-positive rate on the held-back"
            " benign half of the development set",
            "trigram_smoothing": SMOOTHING,
            "l2": L2,
            "publicsuffixlist": psl_version(),
        },
    )
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / MODEL_FILE, model.to_json())
    _write_json(out / ALLOWLIST_FILE, prep.allowlist.to_json())
    sizes = {p: (out / p).stat().st_size for p in (MODEL_FILE, ALLOWLIST_FILE)}
    log(
        "wrote "
        + ", ".join(f"{out / p} ({n / 1024:.0f} KiB)" for p, n in sizes.items())
        + f"; thresholds {model.thresholds}"
    )
    return model


def psl_version() -> str:
    """The installed publicsuffixlist release: registrable domains (and so the model's
    tables) follow its list, so a retrained model matches the shipped one only with it."""
    from importlib.metadata import version

    return version("publicsuffixlist")


def _write_json(path: Path, doc: object) -> None:
    text = json.dumps(doc, separators=(",", ":"), sort_keys=False, ensure_ascii=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)


# -- evaluation --------------------------------------------------------------------------


def evaluate(samples: Path, intel: Path, log: Callable[[str], None]) -> str:
    """Held-back and leave-family-out detection tables (Markdown)."""
    prep = prepare(samples, intel, log)
    rows, labels, tables = design(prep)
    regression = fit_regression(rows, labels)
    benign, families = held_back_scores(prep, tables, regression)
    t1, t01 = threshold_at(benign, 0.01), threshold_at(benign, 0.001)
    lines = [
        f"Held-back half of the development set: {len(benign)} benign names,"
        f" {sum(map(len, families.values()))} DGA names of {len(families)} families"
        f" (score threshold {t1:.3f} at 1% FPR, {t01:.3f} at 0.1% FPR). Leave-family-out:"
        " the family is removed from training (regression and DGA tables) and all its"
        " names are scored, at the 1% FPR threshold of that refit.",
        "",
        "| family | n | AUC | detection @1% FPR | detection @0.1% FPR"
        " | leave-family-out n | leave-family-out @1% FPR |",
        "|---|---|---|---|---|---|---|",
    ]
    everything = [s for scores in families.values() for s in scores]
    started = time.perf_counter()
    lofo: dict[str, tuple[int, int]] = {}
    for family in sorted(families):
        rows_f, labels_f, tables_f = design(prep, exclude_family=family)
        reg_f = fit_regression(rows_f, labels_f)
        benign_f, _ = held_back_scores(prep, tables_f, reg_f)
        threshold = threshold_at(benign_f, 0.01)
        # The left-out family was not trained on at all: all of its names are unseen.
        scores = [
            sigmoid(reg_f.log_odds(_row(e, tables_f))) for e in prep.examples if e.family == family
        ]
        scores += [0.0] * len(prep.unscored.get(family, ()))
        lofo[family] = (sum(1 for s in scores if s > threshold), len(scores))
    log(f"leave-family-out: {len(families)} refits [{time.perf_counter() - started:.1f} s]")
    for family in sorted(families):
        scores = families[family]
        hits, total = lofo[family]
        lines.append(
            f"| {family} | {len(scores)} | {roc_auc(scores, benign):.3f} |"
            f" {detection(scores, t1):.2f} | {detection(scores, t01):.2f} |"
            f" {total} | {hits / total:.2f} |"
        )
    lofo_hits = sum(h for h, _ in lofo.values())
    lofo_total = sum(n for _, n in lofo.values())
    lines.append(
        f"| **all** | {len(everything)} | {roc_auc(everything, benign):.3f} |"
        f" **{detection(everything, t1):.2f}** | {detection(everything, t01):.2f} |"
        f" {lofo_total} | **{lofo_hits / lofo_total:.2f}** |"
    )
    lines += ["", *_baselines(prep, tables, families, benign)]
    return "\n".join(lines)


def _baselines(
    prep: Prepared, tables: DgaModel, families: dict[str, list[float]], benign_model: list[float]
) -> list[str]:
    """Single-feature baselines on the same held-back data, for comparison."""
    out = [
        "| method (held-back half, same names) | AUC | detection @1% FPR |",
        "|---|---|---|",
    ]
    for title, feature, sign in (
        ("entropy of the label only", "entropy", 1.0),
        ("benign trigram log-likelihood only", "ngram_mean", -1.0),
    ):
        benign: list[float] = []
        dga: list[float] = []
        for example in prep.examples:
            if example.held_back:
                value = sign * feature_values(example.label, example.tld, tables)[feature]
                (dga if example.dga else benign).append(value)
        for family, flags in prep.unscored.items():
            target = dga if family not in ("tranco_top10k", "umbrella_fqdn") else benign
            target += [-math.inf] * sum(flags)
        threshold = threshold_at(benign, 0.01)
        out.append(f"| {title} | {roc_auc(dga, benign):.3f} | {detection(dga, threshold):.2f} |")
    everything = [s for scores in families.values() for s in scores]
    out.append(
        f"| netsentry model | {roc_auc(everything, benign_model):.3f} |"
        f" {detection(everything, threshold_at(benign_model, 0.01)):.2f} |"
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m netsentry.dgatrain train|eval [--samples DIR] [--intel DIR] [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m netsentry.dgatrain", description=__doc__)
    parser.add_argument("command", choices=("train", "eval"))
    parser.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    parser.add_argument("--intel", type=Path, default=DEFAULT_INTEL)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    for folder in (args.samples, args.intel):
        if not folder.is_dir():
            print(f"error: {folder}: not found (training needs it)", file=sys.stderr)
            return 2

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if args.command == "train":
        train(args.samples, args.intel, args.out, log)
    else:
        print(evaluate(args.samples, args.intel, log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
