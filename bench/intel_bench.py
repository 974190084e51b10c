#!/usr/bin/env python3
"""Threat-intel benchmark: 1,000,000 indicators through update-intel, then load and lookups.

`python bench/intel_bench.py [--indicators N] [--dir DIR]`:

1. writes a feed of N indicators (90% IPv4 addresses, 5% CIDR ranges, 5% domains, all
   outside the bogon ranges) and serves it from 127.0.0.1 (nothing leaves the machine);
2. runs `update_intel` into DIR/cache with DIR/config/feeds.yaml (the packaged feeds
   excluded) and times it;
3. times what `analyze` does before reading a packet: `load_cached_intel` + attaching the
   index to an IntelSet, in fresh child processes (best of 5, imports excluded);
4. times lookups (address hit, address miss, domain hit on a parent, domain miss) per call,
   without the per-value memo `analyze` adds.

DIR then holds a ready cache: `run_bench.py` uses it for approach h (default rules with the
1M-indicator feed). Results are printed as JSON and saved in DIR/intel_bench.json.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
FEED_NAME = "bench-1m"

LOAD_SNIPPET = """
import json, sys, time
from netsentry.feedcache import load_cached_intel
from netsentry.feeds import load_feeds
from netsentry.intel import IntelSet
t0 = time.perf_counter()
config = load_feeds()
t1 = time.perf_counter()
compiled, warnings = load_cached_intel(config)
intel = IntelSet()
intel.attach(compiled)
t2 = time.perf_counter()
print(json.dumps({"config": t1 - t0, "load": t2 - t1, "count": intel.count}))
"""


def _public(rng: random.Random) -> int:
    """A random IPv4 address outside private, reserved and multicast space."""
    while True:
        value = rng.randrange(1 << 24, 224 << 24)
        addr = ipaddress.IPv4Address(value)
        if addr.is_global:
            return value


def write_feed(
    path: Path, count: int, extra: Sequence[str] = (), seed: int = 5
) -> dict[str, list[str]]:
    """The feed file (``extra`` values first, then generated ones up to ``count``), and
    samples of listed values for lookups."""
    rng = random.Random(seed)
    samples: dict[str, list[str]] = {"ip": [], "cidr": [], "domain": []}
    with path.open("w", encoding="ascii") as out:
        out.write("# generated benchmark feed\n")
        for value in extra:
            out.write(value + "\n")
        for i in range(len(extra), count):
            roll = i % 20
            if roll == 0:
                # Real lists' ranges are small (Spamhaus DROP's 1,400 blocks are /24 and larger,
                # but 50,000 random /16s would cover three quarters of the address space).
                net = ipaddress.IPv4Network((_public(rng), rng.choice((24, 26, 28, 29, 30))), False)
                out.write(f"{net}\n")
                if len(samples["cidr"]) < 1000:
                    samples["cidr"].append(str(net.network_address + 1))
            elif roll == 1:
                name = f"d{i:07d}-{rng.randrange(1 << 30):08x}.example-bad.net"
                out.write(name + "\n")
                if len(samples["domain"]) < 1000:
                    samples["domain"].append("cdn.www." + name)
            else:
                addr = str(ipaddress.IPv4Address(_public(rng)))
                out.write(addr + "\n")
                if len(samples["ip"]) < 1000:
                    samples["ip"].append(addr)
    return samples


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def child_env(directory: Path) -> dict[str, str]:
    """Environment pointing netsentry at the benchmark cache and configuration."""
    env = dict(os.environ)
    env["NETSENTRY_CACHE_DIR"] = str(directory / "cache")
    env["NETSENTRY_CONFIG_DIR"] = str(directory / "config")
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + old if old else "")
    return env


def prepare(directory: Path, count: int, extra: list[str]) -> dict[str, Any]:
    """Generate, serve and update-intel the feed into ``directory``; return the timings."""
    sys.path.insert(0, str(REPO_ROOT))
    from netsentry.feedcache import update_intel
    from netsentry.feeds import load_feeds

    directory.mkdir(parents=True, exist_ok=True)
    feed_path = directory / "feed.txt"
    t0 = time.perf_counter()
    samples = write_feed(feed_path, count, extra)
    generated = time.perf_counter() - t0
    handler = partial(_QuietHandler, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        (directory / "config").mkdir(exist_ok=True)
        (directory / "config" / "feeds.yaml").write_text(
            "include_defaults: false\nfeeds:\n"
            f"  - {{name: {FEED_NAME}, url: 'http://127.0.0.1:{httpd.server_address[1]}"
            "/feed.txt', format: list, severity: medium}\n",
            encoding="utf-8",
        )
        os.environ.update({k: v for k, v in child_env(directory).items() if k.startswith("NETS")})
        config = load_feeds()
        t0 = time.perf_counter()
        result = update_intel(config, force=True)
        updated = time.perf_counter() - t0
    finally:
        httpd.shutdown()
        httpd.server_close()
    status = result.statuses[0]
    return {
        "indicators": status.indicators,
        "malformed": status.malformed,
        "state": status.state,
        "feed_bytes": feed_path.stat().st_size,
        "index_bytes": (directory / "cache" / "intel.idx").stat().st_size,
        "generate_s": round(generated, 3),
        "update_intel_s": round(updated, 3),
        "samples": samples,
    }


def time_load(directory: Path, runs: int = 5) -> dict[str, Any]:
    """Best and median of ``runs`` fresh processes loading the index (imports excluded)."""
    loads: list[float] = []
    configs: list[float] = []
    count = 0
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-c", LOAD_SNIPPET], env=child_env(directory), capture_output=True,
            text=True, check=True,
        )
        data = json.loads(proc.stdout)
        loads.append(data["load"])
        configs.append(data["config"])
        count = data["count"]
    loads.sort()
    return {
        "count": count,
        "load_best_s": round(loads[0], 4),
        "load_median_s": round(loads[len(loads) // 2], 4),
        "feeds_yaml_s": round(min(configs), 4),
    }


def time_lookups(directory: Path, samples: dict[str, list[str]]) -> dict[str, float]:
    """Microseconds per lookup, memo disabled (every call does the full search)."""
    os.environ.update({k: v for k, v in child_env(directory).items() if k.startswith("NETS")})
    from netsentry.feedcache import load_cached_intel
    from netsentry.feeds import load_feeds
    from netsentry.intel import IntelSet

    compiled, _ = load_cached_intel(load_feeds())
    intel = IntelSet()
    intel.attach(compiled)  # type: ignore[arg-type]
    rng = random.Random(9)
    misses = [str(ipaddress.IPv4Address(_public(rng))) for _ in range(1000)]
    cases = {
        "ip_hit": ("ip", samples["ip"]),
        "ip_in_cidr": ("ip", samples["cidr"]),
        "ip_miss": ("ip", misses),
        "domain_parent_hit": ("domain", samples["domain"]),
        "domain_miss": ("domain", [f"www.host{i}.example.org" for i in range(1000)]),
    }
    out: dict[str, float] = {}
    for name, (kind, values) in cases.items():
        hits = 0
        t0 = time.perf_counter()
        for _ in range(20):
            for value in values:
                intel._memo[kind].clear()
                hits += bool(intel.lookup(kind, value))
        elapsed = time.perf_counter() - t0
        out[f"{name}_us"] = round(elapsed / (20 * len(values)) * 1e6, 2)
        out[f"{name}_hit_rate"] = round(hits / (20 * len(values)), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=BENCH_DIR / "data" / "intel-1m")
    parser.add_argument(
        "--extra", type=Path, default=None,
        help="a list of values to include (e.g. the capture's .blocklist.txt, so that the "
        "analyze run of run_bench.py approach h has real hits)",
    )
    args = parser.parse_args(argv)
    extra: list[str] = []
    if args.extra is not None:
        extra = [v.strip() for v in args.extra.read_text(encoding="utf-8").splitlines()
                 if v.strip() and not v.startswith("#")]
    prepared = prepare(args.dir, args.indicators, extra)
    samples = prepared.pop("samples")
    report = {"prepare": prepared, "load": time_load(args.dir),
              "lookups": time_lookups(args.dir, samples)}
    (args.dir / "intel_bench.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
