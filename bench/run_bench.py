#!/usr/bin/env python3
"""Throughput benchmark: netsentry versus plain dpkt loops, on one synthetic capture.

`make bench` runs this script.  It makes sure the benchmark capture exists (generating it with
the shared `make_mixed_pcap.py` if needed), then measures every approach in its own child
process so that each gets a clean interpreter and its own peak RSS:

  a  dpkt full parse          dpkt.pcap.Reader + dpkt.ethernet.Ethernet + IP/L4 attribute reads
  b  dpkt framing only        dpkt.pcap.Reader loop that does nothing with the frames
  c  netsentry capture layer  netsentry.capture.open_capture + netsentry.decode.Decoder
  d  analyze: summary+flows   netsentry analyze --no-rules --decoders none -f json
  e  analyze: all decoders    netsentry analyze --no-rules --decoders all -f json
  f  analyze: packet rules    netsentry analyze --rules PACKET_RULES --decoders none -f eve
                              (PACKET_RULES: the default rules whose record type is "packet")
  g  analyze: default rules   netsentry analyze -f eve (every default rule, decoders as needed)
  h  analyze: + ET Open       g plus --suricata-rules SHARED/intel-samples/et-open (the six ET
                              Open sample files, about 6,300 imported signatures)

Every approach gets two figures.  "Whole process" is the wall time of the child process as
measured by the parent (interpreter start-up, imports, rule compilation and report writing
included).  "Excl. start-up" is, for a-c, the packet loop timed inside the child, and for d-g
the whole-process time minus the wall time of the same command on the tiny packaged demo
capture (netsentry/data/demo.pcap, 105 packets), which is almost pure start-up.  With
`--repeat K` each approach is run K times (round-robin) and the fastest runs are kept.

For g the script also counts the findings per netsentry.category in the EVE output and, when
the capture has a `.truth.json`, compares them with the injected HTTP attacks.  Unless
`--no-flood` is given it also times g on the largest capture in ../shared/corpus/flood/.

The script also serves as the child: `run_bench.py --mode dpkt-full PATH` runs one loop and
prints `{"packets": n, "seconds": t}` as JSON on stdout, and `run_bench.py
--write-packet-rules OUT` writes the packet-rules file used by f.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_SHARED = REPO_ROOT.parent / "shared"
GENERATOR_REL = Path("bench") / "make_mixed_pcap.py"
FLOOD_REL = Path("corpus") / "flood"
DEMO_PCAP = REPO_ROOT / "netsentry" / "data" / "demo.pcap"
DEFAULT_PACKETS = 1_000_000

# In an approach's analyze options, replaced by the path of the generated packet-rules file.
PACKET_RULES = "{packet-rules}"
# In an approach's analyze options, replaced by the ET Open sample folder under --shared.
ET_OPEN = "{et-open}"
ET_OPEN_REL = Path("intel-samples") / "et-open"
_et_open_dir: list[Path] = [DEFAULT_SHARED / ET_OPEN_REL]  # set from --shared by main()

# truth.json "injected" counter -> the netsentry.category whose alerts should find it.
TRUTH_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("http_sqli", "sql-injection"),
    ("http_xss", "xss"),
    ("http_traversal", "directory-traversal"),
    ("http_malware_sig", "malware-delivery"),
    ("dns_blocklist_queries", "threat-intel"),  # found by h only: g runs without feeds
)


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


def without_positions(value: Any) -> Any:
    """VALUE with every netsentry.yamlfile.Position (where a key was written) left out.

    Used to check that rules loaded from two files are the same rules: they differ only in
    the file positions their conditions remember.
    """
    if type(value).__name__ == "Position":
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            {f.name: without_positions(getattr(value, f.name)) for f in dataclasses.fields(value)
             if type(getattr(value, f.name)).__name__ != "Position"},
        )  # fmt: skip
    if isinstance(value, dict):
        return {k: without_positions(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_positions(v) for v in value]
    return value


def write_packet_rules(out: Path) -> int:
    """Child entry point: write the default rules whose record type is "packet" to OUT.

    The ids are chosen with netsentry's own loader (`rule_record(rule) == "packet"`); the
    entries written are the raw YAML mappings of those ids from the default rules file, under
    the file's `version` (and its global `allowlist`, which packet rules honour too).  The
    written file is loaded back and must give the same rules.  Prints
    `{"source": path, "ids": [...], "total": number of default rules}` as JSON on stdout.
    """
    import yaml

    ruleload: Any = importlib.import_module("netsentry.ruleload")
    detectors: Any = importlib.import_module("netsentry.detectors")
    source = Path(ruleload.default_rules_path())
    all_rules = ruleload.load_rules().rules
    chosen = [r for r in all_rules if detectors.rule_record(r) == "packet"]
    ids = [str(r.id) for r in chosen]
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        print(f"error: {source} has no top-level 'rules' list", file=sys.stderr)
        return 1
    entries = [e for e in doc["rules"] if isinstance(e, dict) and e.get("id") in set(ids)]
    if sorted(str(e["id"]) for e in entries) != sorted(ids):
        print(f"error: packet rules {ids} not all found once in {source}", file=sys.stderr)
        return 1
    new_doc: dict[str, Any] = {"version": doc.get("version", 1)}
    if "allowlist" in doc:
        new_doc["allowlist"] = doc["allowlist"]
    new_doc["rules"] = entries
    header = f"# generated by bench/run_bench.py: the packet-level rules of {source}\n"
    out.write_text(header + yaml.safe_dump(new_doc, sort_keys=False, allow_unicode=True))
    reloaded = ruleload.load_rules([out]).rules
    if [without_positions(r.keys()) for r in reloaded] != [
        without_positions(r.keys()) for r in chosen
    ]:
        print(f"error: {out} does not load back to the same rules", file=sys.stderr)
        return 1
    print(json.dumps({"source": str(source), "ids": ids, "total": len(all_rules)}))
    return 0


# --------------------------------------------------------------------------- parent side


@dataclass(frozen=True)
class Approach:
    """One benchmarked approach: its letter for --only, display label and how to run it.

    `mode` is a MODES key (the script runs itself as the child) or "analyze", in which case
    the child is `python -m netsentry analyze FILE *options -o OUTPUT --no-progress`.
    """

    key: str
    label: str
    mode: str
    options: tuple[str, ...] = ()
    count_findings: bool = False  # write the EVE output to a file and count its findings
    intel: bool = False  # analyze with the 1M-indicator feed cache made by intel_bench.py
    native: bool = False  # run the native build (`make native`: .venv-native) instead

    @property
    def is_analyze(self) -> bool:
        """True for the netsentry analyze variants (d-g), timed as whole CLI processes."""
        return self.mode == "analyze"


APPROACHES: tuple[Approach, ...] = (
    Approach("a", "dpkt full parse", "dpkt-full"),
    Approach("b", "dpkt framing only", "dpkt-framing"),
    Approach("c", "netsentry capture layer", "netsentry-capture"),
    Approach(
        "d", "analyze: summary + flows", "analyze",
        ("--no-rules", "--decoders", "none", "-f", "json", "--jobs", "1"),
    ),
    Approach(
        "e", "analyze: all decoders", "analyze",
        ("--no-rules", "--decoders", "all", "-f", "json", "--jobs", "1"),
    ),
    Approach(
        "f", "analyze: packet rules", "analyze",
        ("--rules", PACKET_RULES, "--decoders", "none", "-f", "eve", "--jobs", "1"),
    ),
    Approach(
        "g", "analyze: default rules, --jobs 1", "analyze", ("-f", "eve", "--jobs", "1"),
        count_findings=True,
    ),
    Approach(
        "h", "analyze: default rules + 1M intel", "analyze", ("-f", "eve", "--jobs", "1"),
        count_findings=True, intel=True,
    ),
    Approach(
        "i", "analyze: default + ET Open", "analyze",
        ("-f", "eve", "--suricata-rules", ET_OPEN, "-q", "--jobs", "1"), count_findings=True,
    ),
    Approach(
        "j", "g, native build (mypyc)", "analyze", ("-f", "eve", "--jobs", "1"),
        count_findings=True, native=True,
    ),
    Approach(
        "k", "g with --jobs 2", "analyze", ("-f", "eve", "--jobs", "2"), count_findings=True,
    ),
    Approach(
        "l", "j with --jobs 2 (native)", "analyze", ("-f", "eve", "--jobs", "2"),
        count_findings=True, native=True,
    ),
)  # fmt: skip
NATIVE_SCRIPT = REPO_ROOT / ".venv-native" / "bin" / "netsentry"  # made by `make native`
INTEL_DIR = BENCH_DIR / "data" / "intel-1m"  # bench/intel_bench.py writes the feed cache here
FLOOD_KEY = "flood"


@dataclass
class Sample:
    """One child run: packets, wall seconds of the process, loop seconds (a-c), peak RSS kB."""

    packets: int | None
    wall: float
    loop: float | None
    maxrss_kb: int


@dataclass
class Job:
    """An approach applied to one capture, with its samples and start-up samples."""

    approach: Approach
    label: str
    capture: Path
    frames: int | None
    short: bool = False  # a short capture: run `--short-runs` times per round
    samples: list[Sample] = field(default_factory=list)
    startups: list[float] = field(default_factory=list)  # analyze on demo.pcap, wall seconds
    command: list[str] = field(default_factory=list)
    startup_command: list[str] = field(default_factory=list)


@dataclass
class Result:
    """Best-of-K outcome for one approach, as printed and written to last_run.json.

    wall_seconds = startup_seconds + seconds_excl_startup.  For a-c the excl. start-up time
    is the child's own loop timer; for d-g it is wall time minus the demo.pcap wall time.
    """

    key: str
    approach: str
    capture: str
    packets: int | None
    wall_seconds: float
    startup_seconds: float | None
    seconds_excl_startup: float | None
    packets_per_s_whole: float | None
    x_dpkt_full_whole: float | None
    packets_per_s_excl_startup: float | None
    x_dpkt_full_excl_startup: float | None
    mb_per_s_excl_startup: float | None
    peak_rss_mb: float
    command: list[str] = field(default_factory=list)
    startup_command: list[str] = field(default_factory=list)
    runs_wall: list[float] = field(default_factory=list)
    runs_loop: list[float] = field(default_factory=list)
    runs_startup: list[float] = field(default_factory=list)


@dataclass
class Findings:
    """What an EVE file holds: lines per netsentry.category and distinct pcap_cnt per category."""

    lines: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    packets_by_category: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)  # netsentry.rule_id, JSON only


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


def read_truth(path: Path) -> dict[str, Any] | None:
    """The capture's FILE.truth.json as a dict, or None when missing or unreadable."""
    try:
        data = json.loads(Path(str(path) + ".truth.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def count_frames(path: Path, scan: bool) -> int | None:
    """Number of frames in the capture: from FILE.truth.json, else (if scan) by a dpkt pass.

    The dpkt pass runs in a child (`--mode dpkt-framing`) to keep dpkt out of the parent.
    """
    value = (read_truth(path) or {}).get("packets")
    if isinstance(value, int):
        return value
    if not scan:
        return None
    cmd = [sys.executable, str(Path(__file__).resolve()), "--mode", "dpkt-framing", str(path)]
    try:
        stdout, _wall, _rss = run_child("frame count", cmd)
        return int(json.loads(stdout.strip().splitlines()[-1])["packets"])
    except (ChildFailed, IndexError, ValueError, KeyError, TypeError):
        return None


def find_flood_capture(shared: Path) -> Path | None:
    """The largest capture (by file size) in SHARED/corpus/flood, or None if there is none."""
    folder = shared / FLOOD_REL
    try:
        files = [p for p in folder.iterdir() if p.is_file() and ".pcap" in p.name]
    except OSError:
        return None
    return max(files, key=lambda p: (p.stat().st_size, p.name)) if files else None


def source_state() -> dict[str, Any]:
    """The netsentry code being measured: git commit, uncommitted changes, newest file time.

    Several people edit this tree; the newest modification time under netsentry/ is taken
    before and after the run so that a change in the middle of a run is reported.
    """

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                                  check=False)  # fmt: skip
        except OSError:
            return None
        return proc.stdout if proc.returncode == 0 else None

    status = git("status", "--porcelain", "--", "netsentry")
    commit = git("rev-parse", "--short", "HEAD")
    newest = max(
        (
            p.stat().st_mtime
            for p in (REPO_ROOT / "netsentry").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ),
        default=0.0,
    )
    return {
        "commit": commit.strip() if commit else None,
        "uncommitted": None if status is None else [line[3:] for line in status.splitlines()],
        "newest_mtime": newest,
    }


def warm_page_cache(path: Path) -> None:
    """Read the file once so every approach starts from the same (hot) page cache.

    Through one small reused buffer: see parent_peak_rss_mb for why the parent stays small.
    """
    buf = bytearray(1 << 20)
    with path.open("rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def parent_peak_rss_mb() -> float:
    """This (parent) process's peak RSS in MB: a floor under every child's peak RSS.

    Linux copies the parent's RSS high-water mark into a forked child and keeps it across
    exec, so os.wait4 reports max(parent peak, child peak).  The parent therefore never
    imports netsentry, scans captures in children and reads files in small chunks.
    """
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak / 1024 if sys.platform == "darwin" else peak) / 1024


def run_child(
    label: str, cmd: Sequence[str], env: dict[str, str] | None = None
) -> tuple[str, float, int]:
    """Run one child to completion; return its stdout, wall seconds and peak RSS (kB).

    Output goes to temporary files (not pipes) so the child can be reaped with os.wait4,
    which returns the resource usage of exactly that child.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, cwd=REPO_ROOT, env={**child_env(), **(env or {})}
        )
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


def make_packet_rules(out: Path) -> tuple[list[str], int]:
    """Write the packet-rules file for f in a child; return its rule ids and the default total.

    A child keeps netsentry (and its regex engines) out of the parent, whose memory would
    otherwise show up in the peak RSS of the children it forks.
    """
    label = "f. packet-rules file"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--write-packet-rules", str(out)]
    stdout, _wall, _rss = run_child(label, cmd)
    try:
        data = json.loads(stdout.strip().splitlines()[-1])
        return [str(i) for i in data["ids"]], int(data["total"])
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        raise ChildFailed(label, cmd, 0, f"unparsable output {stdout!r}: {exc}") from exc


def analyze_cmd(
    approach: Approach, capture: Path, output: str, packet_rules: Path | None
) -> list[str]:
    """The `python -m netsentry analyze` command line of an analyze approach."""
    options: list[str] = []
    for opt in approach.options:
        if opt == PACKET_RULES:
            if packet_rules is None:
                raise ValueError("the packet-rules file was not written")
            opt = str(packet_rules)
        elif opt == ET_OPEN:
            opt = str(_et_open_dir[0])
        options.append(opt)
    # The native build's own entry script: `python -m` from the repository root would
    # import these plain sources (the working directory comes first on sys.path).
    program = [str(NATIVE_SCRIPT)] if approach.native else [sys.executable, "-m", "netsentry"]
    return [
        *program, "analyze", str(capture), *options, "-o", output, "--no-progress",
    ]  # fmt: skip


def count_eve(path: Path) -> Findings:
    """Count an EVE file's lines per netsentry.category, and distinct pcap_cnt per category."""
    by_category: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    packets: dict[str, set[int]] = {}
    lines = 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            lines += 1
            try:
                event = json.loads(line)
            except ValueError:
                by_category["(unparsable line)"] += 1
                continue
            ns = event.get("netsentry") if isinstance(event, dict) else None
            category = ns.get("category") if isinstance(ns, dict) else None
            name = str(category) if category else "(no category)"
            by_category[name] += 1
            rule_id = ns.get("rule_id") if isinstance(ns, dict) else None
            by_rule[str(rule_id) if rule_id else "(no rule_id)"] += 1
            pcap_cnt = event.get("pcap_cnt")
            if isinstance(pcap_cnt, int):
                packets.setdefault(name, set()).add(pcap_cnt)
    return Findings(
        lines=lines,
        by_category=dict(by_category.most_common()),
        packets_by_category={k: len(v) for k, v in sorted(packets.items())},
        by_rule=dict(by_rule.most_common()),
    )


def measure(job: Job, work: Path, packet_rules: Path | None, short_runs: int) -> Findings | None:
    """Run one round of a job, each run in a fresh child process, and append its Samples.

    A job runs once per round, or `short_runs` times if it is a short job (the flood capture).
    Analyze approaches then run the same command `short_runs` times on demo.pcap (the
    start-up samples).  Returns the findings of the EVE output when the approach counts them.
    """
    approach = job.approach
    if not approach.is_analyze:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--mode", approach.mode,
               str(job.capture)]  # fmt: skip
        job.command = cmd
        stdout, wall, rss = run_child(job.label, cmd)
        try:
            data = json.loads(stdout.strip().splitlines()[-1])
            sample = Sample(int(data["packets"]), wall, float(data["seconds"]), rss)
        except (IndexError, ValueError, KeyError, TypeError) as exc:
            raise ChildFailed(job.label, cmd, 0, f"unparsable output {stdout!r}: {exc}") from exc
        job.samples.append(sample)
        return None
    env = intel_env(approach, work)
    eve_out = work / f"{approach.key}-{job.capture.stem}.eve.json"
    output = str(eve_out) if approach.count_findings else os.devnull
    cmd = analyze_cmd(approach, job.capture, output, packet_rules)
    job.command = cmd
    for _ in range(short_runs if job.short else 1):
        _stdout, wall, rss = run_child(job.label, cmd, env)
        job.samples.append(Sample(job.frames, wall, None, rss))
    findings = count_eve(eve_out) if approach.count_findings else None
    startup_cmd = analyze_cmd(approach, DEMO_PCAP, os.devnull, packet_rules)
    job.startup_command = startup_cmd
    for _ in range(short_runs):
        _stdout, startup_wall, _rss = run_child(
            f"{job.label} (start-up run on {DEMO_PCAP.name})", startup_cmd, env
        )
        job.startups.append(startup_wall)
    return findings


def intel_env(approach: Approach, work: Path) -> dict[str, str]:
    """Where an analyze child finds feeds: h the 1M-indicator cache, the others an empty one
    (never the user's own ~/.cache/netsentry, which would make runs incomparable)."""
    if approach.intel:
        base = INTEL_DIR
    else:
        base = work / "no-intel"
        (base / "config").mkdir(parents=True, exist_ok=True)
        (base / "config" / "feeds.yaml").write_text("include_defaults: false\n", encoding="utf-8")
    env = {
        "NETSENTRY_CACHE_DIR": str(base / "cache"),
        "NETSENTRY_CONFIG_DIR": str(base / "config"),
    }
    if approach.native:  # not the sources' directory, which would shadow the native build
        env["PYTHONPATH"] = ""
    return env


def ensure_intel(capture: Path) -> None:
    """Make the 1M-indicator feed cache for h (bench/intel_bench.py) unless it exists; the
    capture's own blocklist (written by the generator) is part of the feed, so h has hits."""
    if (INTEL_DIR / "cache" / "intel.idx").is_file():
        return
    print(f"building the 1M-indicator feed cache in {INTEL_DIR} (bench/intel_bench.py) ...")
    cmd = [sys.executable, str(BENCH_DIR / "intel_bench.py"), "--dir", str(INTEL_DIR)]
    blocklist = capture.with_name(capture.name + ".blocklist.txt")
    if blocklist.is_file():
        cmd += ["--extra", str(blocklist)]
    subprocess.run(cmd, env=child_env(), check=True, stdout=subprocess.DEVNULL)


def ratio(value: float | None, ref: float | None) -> float | None:
    """value / ref, or None when either is unknown (or ref is zero)."""
    return value / ref if value is not None and ref else None


def summarize(job: Job, size: int, ref: Result | None) -> Result:
    """Reduce K samples to the best runs and derive rates and the ratios to dpkt full parse."""
    samples = job.samples
    packets = samples[0].packets
    wall = min(s.wall for s in samples)
    startup: float | None
    excl: float | None
    if job.approach.is_analyze:
        startup = min(job.startups) if job.startups else None
        excl = wall - startup if startup is not None else None
    else:
        loops = [s.loop for s in samples if s.loop is not None]
        excl = min(loops) if loops else None
        startup = wall - excl if excl is not None else None
    if excl is not None and excl <= 0:
        excl = None  # the capture is too small to tell analysis from start-up
    pps_whole = packets / wall if packets is not None and wall > 0 else None
    pps_excl = packets / excl if packets is not None and excl else None
    return Result(
        key=job.approach.key,
        approach=job.label,
        capture=str(job.capture),
        packets=packets,
        wall_seconds=wall,
        startup_seconds=startup,
        seconds_excl_startup=excl,
        packets_per_s_whole=pps_whole,
        x_dpkt_full_whole=ratio(pps_whole, ref.packets_per_s_whole if ref else None),
        packets_per_s_excl_startup=pps_excl,
        x_dpkt_full_excl_startup=ratio(pps_excl, ref.packets_per_s_excl_startup if ref else None),
        mb_per_s_excl_startup=size / 1e6 / excl if excl else None,
        peak_rss_mb=max(s.maxrss_kb for s in samples) / 1024,
        command=job.command,
        startup_command=job.startup_command,
        runs_wall=[s.wall for s in samples],
        runs_loop=[s.loop for s in samples if s.loop is not None],
        runs_startup=list(job.startups),
    )


def fmt_int(value: int | float | None) -> str:
    """Thousands-separated integer, or '-' when unknown."""
    return "-" if value is None else f"{value:,.0f}"


def fmt_secs(value: float | None) -> str:
    """Seconds with millisecond resolution, or '-' when unknown."""
    return "-" if value is None else f"{value:.3f}"


def fmt_ratio(value: float | None) -> str:
    """Ratio such as '5.12' followed by a multiplication sign, or '-' when unknown."""
    return "-" if value is None else f"{value:.2f}{TIMES}"


def table_rows(results: list[Result]) -> list[list[str]]:
    """Render results as rows of strings, in table column order."""
    return [
        [
            f"{r.key}. {r.approach}" if r.key != FLOOD_KEY else r.approach,
            fmt_int(r.packets),
            fmt_secs(r.wall_seconds),
            fmt_int(r.packets_per_s_whole),
            fmt_ratio(r.x_dpkt_full_whole),
            fmt_secs(r.startup_seconds),
            fmt_int(r.packets_per_s_excl_startup),
            fmt_ratio(r.x_dpkt_full_excl_startup),
            "-" if r.mb_per_s_excl_startup is None else f"{r.mb_per_s_excl_startup:.1f}",
            f"{r.peak_rss_mb:.1f}",
        ]
        for r in results
    ]


TIMES = "\u00d7"  # multiplication sign, spelled out to keep ruff's RUF001 quiet
HEADERS = [
    "approach",
    "packets",
    "wall s",
    "packets/s\n(whole process)",
    f"{TIMES} dpkt\nfull parse",
    "start-up s",
    "packets/s\n(excl. start-up)",
    f"{TIMES} dpkt\nfull parse",
    "MB/s\n(excl. start-up)",
    "peak RSS MB\n(largest process)",
]


def print_plain_table(rows: list[list[str]], title: str) -> None:
    """Print rows under HEADERS as aligned plain text (headers may span several lines)."""
    head = [h.split("\n") for h in HEADERS]
    depth = max(len(h) for h in head)
    head = [[""] * (depth - len(h)) + h for h in head]  # bottom-align header lines
    widths = [max([len(x) for x in h] + [len(row[i]) for row in rows]) for i, h in enumerate(head)]
    print(title)
    for level in range(depth):
        cells = [head[0][level].ljust(widths[0])]
        cells += [h[level].rjust(w) for h, w in zip(head[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells))


def print_table(results: list[Result], title: str) -> None:
    """Print the results as a rich table, or as aligned plain text without rich."""
    rows = table_rows(results)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print_plain_table(rows, title)
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
        console = Console(width=max(console.width, 220))
    console.print(table)


def truth_comparison(findings: Findings, truth: dict[str, Any] | None) -> list[dict[str, Any]]:
    """For each injected HTTP attack kind in the truth file: injected count and packets found."""
    injected = (truth or {}).get("injected")
    if not isinstance(injected, dict):
        return []
    rows: list[dict[str, Any]] = []
    for name, category in TRUTH_CATEGORIES:
        count = injected.get(name)
        if isinstance(count, int):
            found = findings.packets_by_category.get(category, 0)
            rows.append({"injected": name, "category": category, "injected_count": count,
                         "found": found})  # fmt: skip
    return rows


def print_findings(label: str, findings: Findings, truth_rows: list[dict[str, Any]]) -> None:
    """Print the findings per category and, if available, the comparison with the truth file."""
    print(f"\nfindings of {label}: {findings.lines:,} EVE lines, by netsentry.category")
    if not findings.by_category:
        print("  (none)")
    width = max((len(c) for c in findings.by_category), default=0)
    for category, count in findings.by_category.items():
        packets = findings.packets_by_category.get(category, 0)
        print(f"  {category.ljust(width)}  {count:>8,}  ({packets:,} distinct pcap_cnt)")
    if truth_rows:
        print(
            "compared with the capture's .truth.json (a report, not a check: N is the number of "
            "distinct\npackets (pcap_cnt) with an alert of that category, and one request may "
            "raise several categories):"
        )
        for row in truth_rows:
            print(
                f"  {row['injected']:<17} {row['category']:<20} "
                f"found {row['found']:,} of {row['injected_count']:,} injected"
            )


def select_approaches(only: str | None) -> list[Approach]:
    """Approaches chosen by --only (letters or mode names, comma-separated); all by default."""
    if not only:
        return list(APPROACHES)
    wanted = {w.strip().lower() for w in only.split(",") if w.strip()}
    known = {a.key for a in APPROACHES} | {a.mode for a in APPROACHES if not a.is_analyze}
    unknown = wanted - known
    if unknown:
        keys = ", ".join(a.key for a in APPROACHES)
        sys.exit(f"error: unknown approach(es) {sorted(unknown)}; choose from {keys}")
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
        help="shared folder holding bench/make_mixed_pcap.py and corpus/flood (default ../shared)",
    )
    ap.add_argument(
        "--pcap",
        type=Path,
        default=None,
        help="benchmark this existing capture instead of mixed_<N>.pcap",
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per approach; best is kept")
    ap.add_argument(
        "--short-runs",
        type=int,
        default=3,
        help="per repeat, runs of each short measurement (the demo.pcap start-up runs of d-g "
        "and the flood capture); the fastest is kept (default 3)",
    )
    ap.add_argument("--only", default=None, help="comma-separated approaches, e.g. a,b,g")
    flood = ap.add_mutually_exclusive_group()
    flood.add_argument(
        "--also-flood",
        dest="also_flood",
        action="store_true",
        default=True,
        help="also time variant g on the largest capture in SHARED/corpus/flood (the default)",
    )
    flood.add_argument(
        "--no-flood", dest="also_flood", action="store_false", help="skip the flood capture"
    )
    ap.add_argument("--mode", choices=sorted(MODES), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--write-packet-rules", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("mode_path", nargs="?", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mode and args.mode_path is None:
        ap.error("--mode needs a capture path")
    if not args.mode and args.mode_path is not None:
        ap.error(f"unexpected argument {args.mode_path}")
    if args.packets <= 0 or args.repeat <= 0 or args.short_runs <= 0:
        ap.error("--packets, --repeat and --short-runs must be positive")
    return args


def failure_json(failure: ChildFailed) -> dict[str, Any]:
    """A failed child as written to last_run.json."""
    return {"approach": failure.label, "cmd": failure.cmd, "returncode": failure.returncode,
            "stderr": failure.stderr}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the whole benchmark (or one child mode) and return the process exit status."""
    args = parse_args(argv)
    if args.mode:
        return run_mode(args.mode, args.mode_path)
    if args.write_packet_rules is not None:
        return write_packet_rules(args.write_packet_rules)

    approaches = select_approaches(args.only)
    if any(a.native for a in approaches) and not NATIVE_SCRIPT.exists():
        print(f"warning: {NATIVE_SCRIPT} not found (run `make native`); skipping the native rows",
              file=sys.stderr)  # fmt: skip
        approaches = [a for a in approaches if not a.native]
    data_dir: Path = args.data_dir.resolve()
    shared: Path = args.shared.resolve()
    _et_open_dir[0] = shared / ET_OPEN_REL
    if args.pcap is not None:
        path = args.pcap.resolve()
        if not path.is_file():
            sys.exit(f"error: {path} not found")
    else:
        path = data_dir / f"mixed_{short_count(args.packets)}.pcap"
        ensure_capture(path, args.packets, shared)
    size = path.stat().st_size
    truth = read_truth(path)
    # The analyze process reports no count we can read, so its packets/s uses the file's count.
    total_frames = count_frames(path, scan=any(a.is_analyze for a in approaches))
    warm_page_cache(path)

    jobs = [Job(a, a.label, path, total_frames) for a in approaches]
    flood_path = find_flood_capture(shared) if args.also_flood else None
    flood_job: Job | None = None
    if args.also_flood and flood_path is None:
        print(f"warning: no capture found in {shared / FLOOD_REL}; skipping the flood run",
              file=sys.stderr)  # fmt: skip
    elif flood_path is not None:
        g = next(a for a in APPROACHES if a.key == "g")
        flood_approach = Approach(FLOOD_KEY, g.label, g.mode, g.options, count_findings=True)
        flood_label = f"g on {flood_path.name}"
        flood_frames = count_frames(flood_path, scan=True)
        flood_job = Job(flood_approach, flood_label, flood_path, flood_frames, short=True)
        warm_page_cache(flood_path)
        jobs.append(flood_job)
    if any(a.is_analyze for a in approaches) or flood_job is not None:
        warm_page_cache(DEMO_PCAP)

    py = f"{platform.python_implementation()} {platform.python_version()}"
    state = source_state()
    dirty = state["uncommitted"]
    print(f"file:   {path} ({size / 1e6:.1f} MB, {fmt_int(total_frames)} frames)")
    print(f"code:   commit {state['commit']}"
          + (f", uncommitted changes in {', '.join(dirty)}" if dirty else ""))  # fmt: skip
    print(f"python: {py} ({sys.executable})")
    print(f"runs:   best of {args.repeat} per approach, each run in a fresh child process")
    print(
        f"start-up of d-g: best of {args.short_runs * args.repeat} runs of the same command on "
        f"{DEMO_PCAP.relative_to(REPO_ROOT)}"
    )

    failures: dict[str, ChildFailed] = {}
    findings: dict[str, Findings] = {}
    packet_rule_ids: list[str] | None = None
    total_rules: int | None = None
    with tempfile.TemporaryDirectory(prefix="netsentry-bench-") as tmp:
        work = Path(tmp)
        packet_rules: Path | None = None
        if any(a.intel for a in approaches):
            ensure_intel(path)
        if any(PACKET_RULES in a.options for a in approaches):
            try:
                packet_rule_ids, total_rules = make_packet_rules(work / "packet-rules.yaml")
                packet_rules = work / "packet-rules.yaml"
                print(f"f rules: {len(packet_rule_ids)} of the {total_rules} default rules are "
                      f"packet-level: {', '.join(packet_rule_ids)}")  # fmt: skip
            except ChildFailed as exc:
                for a in approaches:
                    if PACKET_RULES in a.options:
                        failures[a.key] = exc
        for _ in range(args.repeat):
            for job in jobs:
                if job.approach.key in failures:
                    continue
                try:
                    found = measure(job, work, packet_rules, args.short_runs)
                except ChildFailed as exc:
                    failures[job.approach.key] = exc
                    continue
                if found is not None:
                    findings[job.approach.key] = found

    def ok(job: Job) -> bool:
        return bool(job.samples) and job.approach.key not in failures

    ref_job = next((j for j in jobs if j.approach.key == "a" and ok(j)), None)
    ref = summarize(ref_job, size, None) if ref_job is not None else None
    results = [summarize(j, size, ref) for j in jobs if j is not flood_job and ok(j)]
    parent_rss = parent_peak_rss_mb()
    changed = source_state()["newest_mtime"] != state["newest_mtime"]
    if changed:
        print("warning: files under netsentry/ changed during this run; approaches may have "
              "measured different code", file=sys.stderr)  # fmt: skip
    if results:
        print_table(results, f"{path.name}: {size / 1e6:.1f} MB, {py}")
        print(f"(peak RSS includes a floor of {parent_rss:.1f} MB, this script's own peak RSS)")

    report_findings: dict[str, Any] = {}
    if "g" in findings:
        truth_rows = truth_comparison(findings["g"], truth)
        print_findings(f"g. analyze: default rules on {path.name}", findings["g"], truth_rows)
        report_findings["g"] = {**asdict(findings["g"]), "truth": truth_rows}
    if "h" in findings:  # the same rules with the 1M-indicator feed: the blocklist queries
        truth_rows = truth_comparison(findings["h"], truth)
        print_findings(f"h. analyze: default rules + 1M intel on {path.name}", findings["h"],
                       truth_rows)  # fmt: skip
        report_findings["h"] = {**asdict(findings["h"]), "truth": truth_rows}

    flood_report: dict[str, Any] | None = None
    if flood_job is not None and ok(flood_job):
        flood_result = summarize(flood_job, flood_job.capture.stat().st_size, None)
        flood_size = flood_job.capture.stat().st_size / 1e6
        print()
        print_table([flood_result], f"{flood_job.capture.name}: {flood_size:.1f} MB")
        flood_report = asdict(flood_result)
        if FLOOD_KEY in findings:
            print_findings(flood_job.label, findings[FLOOD_KEY], [])
            flood_report["findings"] = asdict(findings[FLOOD_KEY])

    report: dict[str, Any] = {
        "file": str(path),
        "file_bytes": size,
        "frames": total_frames,
        "python": py,
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "repeat": args.repeat,
        "short_runs": args.short_runs,
        "code": {"commit": state["commit"], "uncommitted": dirty, "changed_during_run": changed},
        "parent_peak_rss_mb": parent_rss,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "startup_capture": str(DEMO_PCAP),
        "packet_rules": packet_rule_ids,
        "default_rules": total_rules,
        "results": [asdict(r) for r in results],
        "findings": report_findings,
        "flood": flood_report,
        "failures": {k: failure_json(f) for k, f in failures.items()},
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    out_json = data_dir / "last_run.json"
    out_json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {out_json}")

    for key, failure in failures.items():
        print(f"\nFAILED: [{key}] {failure.label} (exit status {failure.returncode})",
              file=sys.stderr)  # fmt: skip
        print(f"command: {' '.join(failure.cmd)}", file=sys.stderr)
        print(failure.stderr.rstrip() or "(no stderr)", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
