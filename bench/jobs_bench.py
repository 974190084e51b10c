#!/usr/bin/env python3
"""``analyze --jobs N`` on one stream: wall, CPU and peak RSS for each N, back to back.

    .venv/bin/python bench/jobs_bench.py [--pcap bench/data/mixed_1m.pcap] [--jobs 1,2]
                                         [--repeat 1] [--json]

Each run is ``python -m netsentry analyze PCAP -f eve -o TMP --no-progress -q --jobs N``
(every default rule) in its own child, reaped with os.wait4: CPU is user+sys of the child
and the worker processes it forked and waited for; peak RSS is that of the largest of those
processes (Linux folds reaped children's peaks into the parent's). The EVE outputs of all
runs must be byte-identical (the script fails otherwise). Packets come from the capture's
``.truth.json`` when present. The machine may be shared: quote CPU next to wall time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def run(pcap: Path, jobs: int, out: Path) -> dict[str, Any]:
    """One analysis with ``--jobs jobs``; its measurements and the output's digest."""
    cmd = [sys.executable, "-m", "netsentry", "analyze", str(pcap), "-f", "eve", "-o", str(out),
           "--no-progress", "-q", "--jobs", str(jobs)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"--jobs {jobs}: exit code {code}")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    rss_kb = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return {
        "jobs": jobs,
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(rss_kb / 1024, 1),
        "sha256": digest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pcap", type=Path, default=REPO_ROOT / "bench/data/mixed_1m.pcap")
    parser.add_argument("--jobs", default="1,2", help="comma-separated N values (default 1,2)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all N (default 1)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    truth = Path(str(args.pcap) + ".truth.json")
    packets = json.loads(truth.read_text())["packets"] if truth.is_file() else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="netsentry-jobs-bench-") as tmp:
        for _ in range(args.repeat):
            for jobs in (int(n) for n in args.jobs.split(",")):
                row = run(args.pcap, jobs, Path(tmp) / f"out-{jobs}.json")
                if packets:
                    row["packets_per_s"] = round(packets / row["wall_s"])
                rows.append(row)
    if len({r["sha256"] for r in rows}) != 1:
        raise SystemExit("outputs differ between --jobs values: " + json.dumps(rows))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{args.pcap.name}: {packets or '?'} packets; outputs identical")
    print(f"{'jobs':>4} {'wall s':>8} {'packets/s':>10} {'CPU s':>7} {'peak RSS MB':>12}")
    for r in rows:
        rate = r.get("packets_per_s", "")
        print(f"{r['jobs']:>4} {r['wall_s']:>8} {rate:>10} {r['cpu_s']:>7} {r['peak_rss_mb']:>12}")


if __name__ == "__main__":
    main()
