"""The DGA model's files: what they hold, how they are read and validated.

``netsentry/data/dga_model.json`` and ``dga_allowlist.json`` are written by ``make
train-dga`` (:mod:`netsentry.dgatrain`) and read by the scorer (:mod:`netsentry.dga`).
Both are plain JSON (never pickle): a model file is checked entry by entry, and a
file that does not fit is one :class:`ModelError` naming what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from netsentry.errors import NetsentryError

MODEL_FILE = "dga_model.json"
ALLOWLIST_FILE = "dga_allowlist.json"
MODEL_VERSION = 1


DIGIT_RUN_CAP = 6  # short digit runs are common in benign names (4399, 17173); longer
# ones are not, and an uncapped linear weight made a 23-digit label look very benign

FEATURES: dict[str, str] = {
    "ngram_mean": "mean log-probability per character under the benign trigram model",
    "ngram_sum": "total log-probability of the label under the benign trigram model",
    "rare_ratio": "share of characters the benign model finds rare (p < 0.005)",
    "length": "characters in the registrable label",
    "entropy": "Shannon entropy of the label's characters (bits)",
    "unique_ratio": "distinct characters / length",
    "digit_ratio": "digits / length",
    "vowel_ratio": "vowels / letters",
    "consonant_run": "longest run of consonants",
    "digit_run": f"longest run of digits (at most {DIGIT_RUN_CAP})",
    "switches": "letter-digit alternations / length",
    "hyphens": "hyphens in the label",
    "tld_rarity": "how rare the top-level domain is among benign domains (-log frequency)",
    "dga_ratio": "mean log-likelihood ratio per character, DGA trigram model vs benign",
    "tld_dga": "log-ratio of the TLD's frequency among DGA names vs benign names",
}
"""Feature name -> meaning, in the order the model's weights use (shown by ``dga score``)."""


class ModelError(NetsentryError):
    """A model or allowlist file is missing, malformed or of another version."""


def _data_path(name: str) -> Path:
    return Path(str(resources.files("netsentry") / "data" / name))


# -- the model -------------------------------------------------------------------------


@dataclass(frozen=True)
class DgaModel:
    """The trained parameters: benign trigram model, TLD frequencies, logistic regression."""

    trigrams: dict[str, float]  # "abc" -> log P(c | ab) for trigrams seen in benign labels
    contexts: dict[str, float]  # "ab" -> log P of a continuation never seen after "ab"
    unseen_context: float  # log P of a step whose two-character context was never seen
    tld_rarity: dict[str, float]  # TLD -> -log(benign frequency)
    unseen_tld: float
    dga_trigrams: dict[str, float]  # the same, fitted on DGA names of the training set
    dga_contexts: dict[str, float]
    dga_unseen_context: float
    tld_dga: dict[str, float]  # TLD -> log(P(tld | DGA) / P(tld | benign))
    unseen_tld_dga: float
    features: tuple[str, ...]
    mean: tuple[float, ...]  # standardization of each feature before the weights
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    thresholds: dict[str, float]  # operating points, e.g. "fpr_1pct" -> score
    meta: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The JSON document :func:`load_model` reads (floats rounded to keep it small)."""
        return {
            "version": MODEL_VERSION,
            "meta": self.meta,
            "ngram": {
                "trigrams": {k: round(v, 3) for k, v in sorted(self.trigrams.items())},
                "contexts": {k: round(v, 3) for k, v in sorted(self.contexts.items())},
                "unseen_context": round(self.unseen_context, 3),
            },
            "dga_ngram": {
                "trigrams": {k: round(v, 3) for k, v in sorted(self.dga_trigrams.items())},
                "contexts": {k: round(v, 3) for k, v in sorted(self.dga_contexts.items())},
                "unseen_context": round(self.dga_unseen_context, 3),
            },
            "tld_rarity": {k: round(v, 3) for k, v in sorted(self.tld_rarity.items())},
            "unseen_tld": round(self.unseen_tld, 3),
            "tld_dga": {k: round(v, 3) for k, v in sorted(self.tld_dga.items())},
            "unseen_tld_dga": round(self.unseen_tld_dga, 3),
            "features": list(self.features),
            "mean": [round(x, 6) for x in self.mean],
            "scale": [round(x, 6) for x in self.scale],
            "weights": [round(x, 6) for x in self.weights],
            "bias": round(self.bias, 6),
            "thresholds": {k: round(v, 6) for k, v in self.thresholds.items()},
        }


def _floats(value: Any, what: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value
    ):
        raise ModelError(f"model: '{what}' must be a list of numbers")
    return tuple(float(x) for x in value)


def _table(value: Any, what: str) -> dict[str, float]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        raise ModelError(f"model: '{what}' must map strings to numbers")
    return {k: float(v) for k, v in value.items()}


def model_from_json(doc: Any) -> DgaModel:
    """Validate a parsed model document and build the model (raises ModelError)."""
    if not isinstance(doc, dict) or doc.get("version") != MODEL_VERSION:
        raise ModelError(f"model: expected a version {MODEL_VERSION} DGA model document")
    try:
        ngram = doc["ngram"]
        dga_ngram = doc["dga_ngram"]
        features = doc["features"]
        if not isinstance(ngram, dict) or not isinstance(dga_ngram, dict):
            raise ModelError("model: 'ngram' and 'dga_ngram' must be mappings")
        if not isinstance(features, list):
            raise ModelError("model: 'features' must be a list")
        if features != list(FEATURES):
            raise ModelError(f"model: features must be, in order: {', '.join(FEATURES)}")
        mean = _floats(doc["mean"], "mean")
        scale = _floats(doc["scale"], "scale")
        weights = _floats(doc["weights"], "weights")
        if not len(features) == len(mean) == len(scale) == len(weights):
            raise ModelError("model: features, mean, scale and weights differ in length")
        if any(s <= 0 for s in scale):
            raise ModelError("model: every scale must be positive")
        return DgaModel(
            trigrams=_table(ngram["trigrams"], "ngram.trigrams"),
            contexts=_table(ngram["contexts"], "ngram.contexts"),
            unseen_context=float(ngram["unseen_context"]),
            tld_rarity=_table(doc["tld_rarity"], "tld_rarity"),
            unseen_tld=float(doc["unseen_tld"]),
            dga_trigrams=_table(dga_ngram["trigrams"], "dga_ngram.trigrams"),
            dga_contexts=_table(dga_ngram["contexts"], "dga_ngram.contexts"),
            dga_unseen_context=float(dga_ngram["unseen_context"]),
            tld_dga=_table(doc["tld_dga"], "tld_dga"),
            unseen_tld_dga=float(doc["unseen_tld_dga"]),
            features=tuple(features),
            mean=mean,
            scale=scale,
            weights=weights,
            bias=float(doc["bias"]),
            thresholds=_table(doc.get("thresholds", {}), "thresholds"),
            meta=dict(doc.get("meta") or {}),
        )
    except (KeyError, TypeError) as exc:
        raise ModelError(f"model: missing or malformed entry {exc}") from None


def load_model(path: Path | None = None) -> DgaModel:
    """Read a model file (default: the one shipped in the package)."""
    path = path or _data_path(MODEL_FILE)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read DGA model: {exc}") from None
    return model_from_json(doc)


# -- the allowlist ---------------------------------------------------------------------


@dataclass(frozen=True)
class Allowlist:
    """Known infrastructure (never scored) and dynamic-DNS parents (their child label is)."""

    domains: frozenset[str]  # a name equal to or under one of these is allowlisted
    dynamic_dns: frozenset[str]  # parents such as duckdns.org: the label below is scored
    meta: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The JSON document :func:`load_allowlist` reads."""
        return {
            "version": MODEL_VERSION,
            "meta": self.meta,
            "domains": sorted(self.domains),
            "dynamic_dns": sorted(self.dynamic_dns),
        }


def _names(value: Any, what: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ModelError(f"allowlist: '{what}' must be a list of domain names")
    return frozenset(x.strip().lower().strip(".") for x in value if x.strip(". "))


def load_allowlist(path: Path | None = None) -> Allowlist:
    """Read an allowlist file (default: the one shipped in the package)."""
    path = path or _data_path(ALLOWLIST_FILE)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read DGA allowlist: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != MODEL_VERSION:
        raise ModelError(f"{path}: expected a version {MODEL_VERSION} DGA allowlist document")
    return Allowlist(
        _names(doc.get("domains", []), "domains"),
        _names(doc.get("dynamic_dns", []), "dynamic_dns"),
        dict(doc.get("meta") or {}),
    )
