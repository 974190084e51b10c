"""How much scoring a domain name with the shipped DGA model costs (``make bench-dga``).

Measures, on 20,000 distinct generated names (half random-letter DGA-like labels,
half names built from common English syllables, all under common TLDs and a few
under subdomains):

- *new name*: the first ``DgaScorer.score`` of each name (public-suffix split,
  allowlist, features, regression) -- the cost the issue bounds at well under 20 µs;
- *cached*: the same names scored again (a dict lookup);
- *load*: reading the model and allowlist files and building the trigram tables.

Each figure is the best of 5 runs, per name, in CPU time of this process
(``time.process_time``): on a shared machine wall-clock time also counts the
time other processes held the CPU. Wall-clock figures are printed beside it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from netsentry.dga import DgaScorer, load_allowlist, load_model

SYLLABLES = (
    "an", "ar", "be", "co", "de", "el", "en", "fi", "go", "in", "la", "li", "ma", "me",
    "mo", "na", "ne", "on", "or", "pa", "ra", "re", "ro", "sa", "se", "ta", "te", "to",
    "ver", "web", "shop", "news", "cloud", "net", "data", "soft", "home", "city",
)  # fmt: skip
TLDS = ("com", "net", "org", "ru", "info", "de", "co.uk", "io", "biz")
COUNT = 20_000
RUNS = 5


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


def best_per_name(
    scorer_factory: Callable[[], DgaScorer], items: list[str], warm: bool
) -> tuple[float, float]:
    """Best-of-RUNS (CPU, wall-clock) seconds per name for a fresh (or warmed) scorer."""
    best_cpu = best_wall = float("inf")
    for _ in range(RUNS):
        scorer = scorer_factory()
        if warm:
            for name in items:
                scorer.score(name)
        cpu, wall = time.process_time(), time.perf_counter()
        for name in items:
            scorer.score(name)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_cpu / len(items), best_wall / len(items)


def main() -> None:
    started = time.perf_counter()
    model = load_model()
    allowlist = load_allowlist()
    _ = model.tables
    load = time.perf_counter() - started
    items = names()

    def factory() -> DgaScorer:
        return DgaScorer(model, allowlist)

    new = best_per_name(factory, items, warm=False)
    cached = best_per_name(factory, items, warm=True)
    print(f"names: {len(items)} distinct")
    print(f"load model + allowlist + tables: {load * 1000:.0f} ms")
    print(f"score a new name:    {new[0] * 1e6:.2f} µs CPU ({new[1] * 1e6:.2f} µs wall)")
    print(f"score a cached name: {cached[0] * 1e6:.2f} µs CPU ({cached[1] * 1e6:.2f} µs wall)")


if __name__ == "__main__":
    main()
