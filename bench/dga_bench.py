"""How much scoring a domain name with the shipped DGA model costs (``make bench-dga``).

Measures, on 20,000 distinct generated names (half random-letter DGA-like labels,
half names built from common English syllables, all under common TLDs and a few
under subdomains):

- *new name*: the first ``DgaScorer.score`` of each name (public-suffix split,
  allowlist, features, regression) by a scorer that has scored 5,000 other names
  before (so its per-trigram tables are filled, as in a running analysis) -- the cost
  the issue bounds at well under 20 µs;
- *cached*: the same names scored again (a dict lookup);
- *load*: reading the model and allowlist files.

Names are timed in chunks of 200: the fastest chunk is the cost of scoring itself,
the median chunk what a machine busy with other work sees.
"""

from __future__ import annotations

import random
import time

from netsentry.dga import DgaScorer
from netsentry.dgamodel import load_allowlist, load_model

SYLLABLES = (
    "an", "ar", "be", "co", "de", "el", "en", "fi", "go", "in", "la", "li", "ma", "me",
    "mo", "na", "ne", "on", "or", "pa", "ra", "re", "ro", "sa", "se", "ta", "te", "to",
    "ver", "web", "shop", "news", "cloud", "net", "data", "soft", "home", "city",
)  # fmt: skip
TLDS = ("com", "net", "org", "ru", "info", "de", "co.uk", "io", "biz")
COUNT = 20_000


def names(seed: int = 7) -> list[str]:
    """Distinct names, deterministic for a seed."""
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < COUNT:
        if len(out) % 2:
            label = "".join(
                rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                for _ in range(rng.randint(6, 22))
            )
        else:
            label = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        prefix = rng.choice(("", "", "www.", "api.", "cdn1."))
        out.add(f"{prefix}{label}.{rng.choice(TLDS)}")
    return sorted(out)


CHUNK = 200  # names per timed chunk


def per_name(scorer: DgaScorer, items: list[str]) -> tuple[float, float]:
    """(fastest, median) seconds per name over chunks of CHUNK names.

    On a shared machine most chunks are slowed by other processes taking the CPU; the
    fastest chunk is the cost of scoring itself, the median what a busy machine sees.
    """
    times: list[float] = []
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        began = time.perf_counter()
        for name in chunk:
            scorer.score(name)
        times.append((time.perf_counter() - began) / len(chunk))
    times.sort()
    return times[0], times[len(times) // 2]


def main() -> None:
    started = time.perf_counter()
    model = load_model()
    allowlist = load_allowlist()
    DgaScorer(model, allowlist)
    load = time.perf_counter() - started
    items = names()

    measured = set(items)
    warmup = [name for name in names(seed=8) if name not in measured][:5000]

    # A scorer that has met other names: its per-trigram tables are filled as in a
    # running analysis (the measured names themselves are all new to it).
    scorer = DgaScorer(model, allowlist)
    for name in warmup:
        scorer.score(name)
    new = per_name(scorer, items)
    cached = per_name(scorer, items)
    print(f"names: {len(items)} distinct")
    print(f"load model + allowlist: {load * 1000:.0f} ms")
    print(f"score a new name:    {new[0] * 1e6:.2f} µs (median chunk {new[1] * 1e6:.2f} µs)")
    print(f"score a cached name: {cached[0] * 1e6:.2f} µs (median chunk {cached[1] * 1e6:.2f} µs)")


if __name__ == "__main__":
    main()
