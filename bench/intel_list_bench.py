#!/usr/bin/env python3
"""Loading a local indicator list (``analyze --intel FILE``): seconds and peak memory.

`python bench/intel_list_bench.py [--lines N] [--dir DIR]` writes lists of N lines of
four shapes (mixed: 90% IPv4 addresses, 5% /24 ranges, 5% names; and all addresses,
all ranges, all names), then loads each in a fresh child process (best of 3) with
``load_indicator_file`` ("fast") and with every line through ``IntelSet.add`` as the
loader did before ("general"), and prints seconds and the child's peak RSS as JSON.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import subprocess
import sys
from pathlib import Path

SNIPPET = """
import json, resource, sys, time
from netsentry.intel import IntelSet, load_indicator_file
from netsentry.intellist import _add_line
t0 = time.perf_counter()
if sys.argv[2] == "general":  # every line through IntelSet.add, as before intellist.py
    intel, bad = IntelSet(), 0
    with open(sys.argv[1], encoding="utf-8", errors="replace") as handle:
        for line in handle:
            bad += _add_line(line, "list", intel)
else:
    intel, bad = load_indicator_file(sys.argv[1])
took = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": took, "rss_mb": rss, "count": intel.count, "bad": bad}))
"""


def _lines(shape: str, n: int, rng: random.Random) -> list[str]:
    out: list[str] = []
    for i in range(n):
        fixed = {"ips": 0.0, "ranges": 0.92, "names": 1.0}
        pick = rng.random() if shape == "mixed" else fixed[shape]
        addr = rng.randrange(1 << 24, 223 << 24)
        if pick < 0.9:
            out.append(str(ipaddress.IPv4Address(addr)))
        elif pick < 0.95:
            out.append(f"{ipaddress.IPv4Address(addr & ~0xFF)}/24")
        else:
            out.append(f"host{i}.evil{i % 997}.example")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/netsentry-intel-list-bench"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for shape in ("mixed", "ips", "ranges", "names"):
        path = args.dir / f"{shape}.txt"
        if not path.exists():
            lines = _lines(shape, args.lines, random.Random(1))
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for how in ("fast", "general"):
            runs = [
                json.loads(
                    subprocess.run(
                        [sys.executable, "-c", SNIPPET, str(path), how],
                        capture_output=True, check=True, text=True,
                    ).stdout
                )
                for _ in range(3)
            ]
            results[f"{shape}/{how}"] = best = min(runs, key=lambda r: r["seconds"])
            print(shape, how, json.dumps(best), flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
