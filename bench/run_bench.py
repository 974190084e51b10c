#!/usr/bin/env python3
"""Throughput benchmark: netsentry versus plain dpkt loops, on one synthetic capture.

`make bench` runs this script.  It makes sure the benchmark capture exists (generating it with
the shared `make_mixed_pcap.py` if needed), then measures every approach in its own child
process so that each gets a clean interpreter and its own peak RSS:

  a  dpkt full parse          dpkt.pcap.Reader + dpkt.ethernet.Ethernet + IP/L4 attribute reads
  b  dpkt framing only        dpkt.pcap.Reader loop that does nothing with the frames
  c  netsentry capture layer  netsentry.capture.open_capture + netsentry.decode.Decoder
  d  netsentry analyze        the whole `python -m netsentry analyze` CLI process

For a, b and c the child times only the packet loop (interpreter start-up and imports are
excluded); d is timed as the wall time of the whole process.  With `--repeat K` each approach is
run K times (round-robin) and the fastest run is kept.

The script also serves as the child: `run_bench.py --mode dpkt-full PATH` runs one loop and
prints `{"packets": n, "seconds": t}` as JSON on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_SHARED = REPO_ROOT.parent / "shared"
GENERATOR_REL = Path("bench") / "make_mixed_pcap.py"
DEFAULT_PACKETS = 1_000_000


# --------------------------------------------------------------------------- child modes


def mode_dpkt_full(path: Path) -> int:
    """Parse every frame with dpkt like a naive analyzer would; return the frame count."""
    import dpkt

    ip_types = (dpkt.ip.IP, dpkt.ip6.IP6)
    l4_types = (dpkt.tcp.TCP, dpkt.udp.UDP)
    n = 0
    sink = 0  # accumulates the fields read, so the attribute accesses are real work
    with path.open("rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            n += 1
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if isinstance(ip, ip_types):
                src, dst = ip.src, ip.dst
                sink += len(src) + len(dst)
                l4 = ip.data
                if isinstance(l4, l4_types):
                    sink += l4.sport + l4.dport + len(l4.data)
    return n if sink >= 0 else -1


def mode_dpkt_framing(path: Path) -> int:
    """Only iterate dpkt.pcap.Reader over the file (record framing); return the frame count."""
    import dpkt

    n = 0
    with path.open("rb") as f:
        for _ts, _buf in dpkt.pcap.Reader(f):
            n += 1
    return n


def mode_netsentry_capture(path: Path) -> int:
    """Frame and decode every packet with netsentry's capture and decode layers."""
    # Imported dynamically so this script type-checks whatever state the package is in.
    capture: Any = importlib.import_module("netsentry.capture")
    decode: Any = importlib.import_module("netsentry.decode")
    dec = decode.Decoder()
    num = 0
    with capture.open_capture(path) as reader:
        for num, (ts, linktype, data, wirelen) in enumerate(reader.frames(), 1):
            dec.decode(num, ts, linktype, data, wirelen)
    return num


MODES: dict[str, Callable[[Path], int]] = {
    "dpkt-full": mode_dpkt_full,
    "dpkt-framing": mode_dpkt_framing,
    "netsentry-capture": mode_netsentry_capture,
}


def run_mode(mode: str, path: Path) -> int:
    """Child entry point: import what the mode needs, time its loop, print JSON to stdout."""
    func = MODES[mode]
    if mode.startswith("dpkt"):
        import dpkt  # noqa: F401  (import cost stays outside the timed region)
    else:
        importlib.import_module("netsentry.capture")
        importlib.import_module("netsentry.decode")
    t0 = time.perf_counter()
    packets = func(path)
    seconds = time.perf_counter() - t0
    print(json.dumps({"packets": packets, "seconds": seconds}))
    return 0


# --------------------------------------------------------------------------- parent side


@dataclass(frozen=True)
class Approach:
    """One benchmarked approach: its letter for --only, display label and child mode."""

    key: str
    label: str
    mode: str  # a MODES key, or "analyze" for the whole CLI process


APPROACHES: tuple[Approach, ...] = (
    Approach("a", "dpkt full parse", "dpkt-full"),
    Approach("b", "dpkt framing only", "dpkt-framing"),
    Approach("c", "netsentry capture layer", "netsentry-capture"),
    Approach("d", "netsentry analyze (whole process)", "analyze"),
)


@dataclass
class Sample:
    """One child run: packets seen, seconds timed, peak RSS of the child in kB."""

    packets: int | None
    seconds: float
    maxrss_kb: int


@dataclass
class Result:
    """Best-of-K outcome for one approach, as printed and written to last_run.json."""

    key: str
    approach: str
    packets: int | None
    seconds: float
    packets_per_s: float | None
    mb_per_s: float
    x_dpkt_full: float | None
    peak_rss_mb: float
    runs: list[float] = field(default_factory=list)


class ChildFailed(Exception):
    """A measurement child exited non-zero or printed something unparsable."""

    def __init__(self, label: str, cmd: Sequence[str], returncode: int, stderr: str) -> None:
        """Keep what is needed to report the failure."""
        super().__init__(f"{label}: exit status {returncode}")
        self.label = label
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stderr = stderr


def short_count(n: int) -> str:
    """Compact packet count for file names: 1000000 -> '1m', 100000 -> '100k', 1234 -> '1234'."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def child_env() -> dict[str, str]:
    """Environment for children: the repo root first on PYTHONPATH so `netsentry` imports."""
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + old if old else "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def ensure_capture(path: Path, packets: int, shared: Path) -> None:
    """Generate the benchmark capture with the shared generator unless it already exists."""
    if path.exists():
        return
    generator = shared / GENERATOR_REL
    if not generator.is_file():
        sys.exit(
            f"error: {path} does not exist and the generator {generator} was not found.\n"
            "Point --shared at the folder holding bench/make_mixed_pcap.py, or pass --pcap FILE."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} ({packets} packets) with {generator} ...", file=sys.stderr)
    # Generate into a scratch folder and move into place, so an interrupted run never leaves
    # a truncated capture that a later run would take as complete.
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".gen-") as tmp:
        tmp_out = Path(tmp) / path.name
        cmd = [sys.executable, str(generator), "--packets", str(packets), "--out", str(tmp_out)]
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
        if proc.returncode != 0 or not tmp_out.exists():
            sys.exit(f"error: generator failed (exit status {proc.returncode}): {' '.join(cmd)}")
        for suffix in (".truth.json", ".blocklist.txt"):
            extra = Path(str(tmp_out) + suffix)
            if extra.exists():
                extra.replace(Path(str(path) + suffix))
        tmp_out.replace(path)


def count_frames(path: Path, scan: bool) -> int | None:
    """Number of frames in the capture: from FILE.truth.json, else (if scan) by a dpkt pass."""
    truth = Path(str(path) + ".truth.json")
    try:
        value = json.loads(truth.read_text())["packets"]
        if isinstance(value, int):
            return value
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if not scan:
        return None
    try:
        return mode_dpkt_framing(path)
    except Exception:
        return None


def warm_page_cache(path: Path) -> None:
    """Read the file once so every approach starts from the same (hot) page cache."""
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def run_child(label: str, cmd: Sequence[str]) -> tuple[str, float, int]:
    """Run one child to completion; return its stdout, wall seconds and peak RSS (kB).

    Output goes to temporary files (not pipes) so the child can be reaped with os.wait4,
    which returns the resource usage of exactly that child.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO_ROOT, env=child_env())
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise ChildFailed(label, cmd, proc.returncode, stderr)
    # ru_maxrss is in kB on Linux but in bytes on macOS.
    maxrss_kb = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return stdout, wall, maxrss_kb


def measure(approach: Approach, path: Path, total_frames: int | None) -> Sample:
    """Run one measurement of an approach in a fresh child process."""
    if approach.mode == "analyze":
        cmd = [
            sys.executable, "-m", "netsentry", "analyze", str(path),
            "--format", "json", "-o", os.devnull, "--no-progress",
        ]  # fmt: skip
        _stdout, wall, rss = run_child(approach.label, cmd)
        return Sample(total_frames, wall, rss)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--mode", approach.mode, str(path)]
    stdout, _wall, rss = run_child(approach.label, cmd)
    try:
        lines = stdout.strip().splitlines()
        data = json.loads(lines[-1])
        return Sample(int(data["packets"]), float(data["seconds"]), rss)
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        raise ChildFailed(approach.label, cmd, 0, f"unparsable output {stdout!r}: {exc}") from exc


def summarize(
    approach: Approach, samples: list[Sample], size: int, ref_pps: float | None
) -> Result:
    """Reduce K samples to the best run and derive rates and the ratio to dpkt full parse."""
    best = min(samples, key=lambda s: s.seconds)
    pps = best.packets / best.seconds if best.packets is not None and best.seconds > 0 else None
    return Result(
        key=approach.key,
        approach=approach.label,
        packets=best.packets,
        seconds=best.seconds,
        packets_per_s=pps,
        mb_per_s=size / 1e6 / best.seconds if best.seconds > 0 else 0.0,
        x_dpkt_full=pps / ref_pps if pps is not None and ref_pps else None,
        peak_rss_mb=max(s.maxrss_kb for s in samples) / 1024,
        runs=[s.seconds for s in samples],
    )


def fmt_int(value: int | float | None) -> str:
    """Thousands-separated integer, or '-' when unknown."""
    return "-" if value is None else f"{value:,.0f}"


def fmt_ratio(value: float | None) -> str:
    """Ratio such as '5.12' followed by a multiplication sign, or '-' when unknown."""
    return "-" if value is None else f"{value:.2f}{TIMES}"


def table_rows(results: list[Result]) -> list[list[str]]:
    """Render results as rows of strings, in table column order."""
    return [
        [
            f"{r.key}. {r.approach}",
            fmt_int(r.packets),
            f"{r.seconds:.3f}",
            fmt_int(r.packets_per_s),
            f"{r.mb_per_s:.1f}",
            fmt_ratio(r.x_dpkt_full),
            f"{r.peak_rss_mb:.1f}",
        ]
        for r in results
    ]


TIMES = "\u00d7"  # multiplication sign, spelled out to keep ruff's RUF001 quiet
HEADERS = [
    "approach",
    "packets",
    "seconds",
    "packets/s",
    "MB/s",
    f"{TIMES} dpkt full parse",
    "peak RSS MB",
]


def print_table(results: list[Result], title: str) -> None:
    """Print the results as a rich table, or as aligned plain text without rich."""
    rows = table_rows(results)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(HEADERS)]
        print(title)
        line = [HEADERS[0].ljust(widths[0])]
        line += [h.rjust(w) for h, w in zip(HEADERS[1:], widths[1:], strict=True)]
        print("  ".join(line))
        for row in rows:
            cells = [row[0].ljust(widths[0])]
            cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            print("  ".join(cells))
        return
    table = Table(title=title)
    table.add_column(HEADERS[0], no_wrap=True)
    for header in HEADERS[1:]:
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        # Piped or captured output (e.g. CI logs): don't squeeze the table into 80 columns.
        console = Console(width=max(console.width, 132))
    console.print(table)


def select_approaches(only: str | None) -> list[Approach]:
    """Approaches chosen by --only (letters or mode names, comma-separated); all by default."""
    if not only:
        return list(APPROACHES)
    wanted = {w.strip().lower() for w in only.split(",") if w.strip()}
    known = {a.key for a in APPROACHES} | {a.mode for a in APPROACHES}
    unknown = wanted - known
    if unknown:
        sys.exit(f"error: unknown approach(es) {sorted(unknown)}; choose from a, b, c, d")
    return [a for a in APPROACHES if a.key in wanted or a.mode in wanted]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options of the benchmark (and of its child modes)."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--packets",
        type=int,
        default=DEFAULT_PACKETS,
        help="packets in the generated capture (default 1000000 -> mixed_1m.pcap)",
    )
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=BENCH_DIR / "data",
        help="where captures and last_run.json live (default bench/data)",
    )
    ap.add_argument(
        "--shared",
        type=Path,
        default=DEFAULT_SHARED,
        help="shared folder holding bench/make_mixed_pcap.py (default ../shared)",
    )
    ap.add_argument(
        "--pcap",
        type=Path,
        default=None,
        help="benchmark this existing capture instead of mixed_<N>.pcap",
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per approach; best is kept")
    ap.add_argument("--only", default=None, help="comma-separated approaches, e.g. a,b,c")
    ap.add_argument("--mode", choices=sorted(MODES), default=None, help=argparse.SUPPRESS)
    ap.add_argument("mode_path", nargs="?", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mode and args.mode_path is None:
        ap.error("--mode needs a capture path")
    if not args.mode and args.mode_path is not None:
        ap.error(f"unexpected argument {args.mode_path}")
    if args.packets <= 0 or args.repeat <= 0:
        ap.error("--packets and --repeat must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the whole benchmark (or one child mode) and return the process exit status."""
    args = parse_args(argv)
    if args.mode:
        return run_mode(args.mode, args.mode_path)

    approaches = select_approaches(args.only)
    data_dir: Path = args.data_dir.resolve()
    if args.pcap is not None:
        path = args.pcap.resolve()
        if not path.is_file():
            sys.exit(f"error: {path} not found")
    else:
        path = data_dir / f"mixed_{short_count(args.packets)}.pcap"
        ensure_capture(path, args.packets, args.shared.resolve())
    size = path.stat().st_size
    # The analyze process reports no count we can read, so its packets/s uses the file's count.
    total_frames = count_frames(path, scan=any(a.mode == "analyze" for a in approaches))
    warm_page_cache(path)

    py = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"file:   {path} ({size / 1e6:.1f} MB, {fmt_int(total_frames)} frames)")
    print(f"python: {py} ({sys.executable})")
    print(f"runs:   best of {args.repeat} per approach, each run in a fresh child process")

    samples: dict[str, list[Sample]] = {a.key: [] for a in approaches}
    failures: dict[str, ChildFailed] = {}
    for _ in range(args.repeat):
        for approach in approaches:
            if approach.key in failures:
                continue
            try:
                samples[approach.key].append(measure(approach, path, total_frames))
            except ChildFailed as exc:
                failures[approach.key] = exc

    ref = APPROACHES[0]
    ref_pps: float | None = None
    if samples.get(ref.key) and ref.key not in failures:
        ref_pps = summarize(ref, samples[ref.key], size, None).packets_per_s
    results = [
        summarize(a, samples[a.key], size, ref_pps)
        for a in approaches
        if samples[a.key] and a.key not in failures
    ]
    if results:
        print_table(results, f"{path.name}: {size / 1e6:.1f} MB, {py}")

    report: dict[str, Any] = {
        "file": str(path),
        "file_bytes": size,
        "frames": total_frames,
        "python": py,
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "repeat": args.repeat,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": [asdict(r) for r in results],
        "failures": {k: {"approach": f.label, "cmd": f.cmd, "returncode": f.returncode,
                         "stderr": f.stderr} for k, f in failures.items()},
    }  # fmt: skip
    data_dir.mkdir(parents=True, exist_ok=True)
    out_json = data_dir / "last_run.json"
    out_json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results written to {out_json}")

    for failure in failures.values():
        print(f"\nFAILED: {failure.label} (exit status {failure.returncode})", file=sys.stderr)
        print(f"command: {' '.join(failure.cmd)}", file=sys.stderr)
        print(failure.stderr.rstrip() or "(no stderr)", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
