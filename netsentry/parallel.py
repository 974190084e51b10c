"""``analyze --per-file``: every capture analyzed on its own, in parallel worker processes.

Each capture gets its own flows, threshold windows and summary, and its own part of
the report (EVE lines and CSV rows labelled with the capture, one table section or
one JSON document per capture). Captures are independent, so they can run at the
same time: ``--jobs N`` keeps up to N forked worker processes busy.

How results come back (and why they are exact): a worker writes its capture's part
of the report as text to a temporary file, and a small JSON status (warnings,
partial, worst severity) next to it. Nothing capture-derived is pickled: workers are
forked (they inherit the loaded rules and intel) and only text crosses back. The
parent copies each part to the real output strictly in input order, as soon as all
earlier ones are written, so the output with any ``--jobs`` is byte-identical to
``--jobs 1`` (which runs the same function in-process, writing straight through).
Standard input (``-``) is always analyzed in the parent process, when its turn comes.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import BinaryIO, TextIO

from netsentry.detectors import Detection
from netsentry.engine import analyze as run_analysis
from netsentry.errors import ExitCode, NetsentryError
from netsentry.intel import IntelSet
from netsentry.outputs import OutputFormat, OutputPlan, Outputs
from netsentry.rules import RuleSet
from netsentry.sinks import csv_header

# Text crosses between processes through files: lossless for any str the report holds.
_ENCODING = {"encoding": "utf-8", "errors": "surrogatepass", "newline": ""}


@dataclass
class PerFileSettings:
    """What every capture's analysis shares (inherited by forked workers, never pickled)."""

    plan: OutputPlan
    protocols: list[str] | None
    rules: RuleSet | None
    intel: IntelSet | None
    to_terminal: bool = False
    width: int = 120  # table width: fixed, so workers render what the terminal would


@dataclass
class FileOutcome:
    """How one capture's analysis went: what the exit code and stderr need (JSON-able)."""

    capture: str
    partial: bool = False
    severity_rank: int = 9  # rank of the most severe finding (9: none)
    packets: int = 0
    findings: int = 0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FileOutcome:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("worker status is not a JSON object")
        return cls(
            capture=str(data["capture"]),
            partial=bool(data["partial"]),
            severity_rank=int(data["severity_rank"]),
            packets=int(data["packets"]),
            findings=int(data["findings"]),
            warnings=[str(w) for w in data["warnings"]],
            error=None if data["error"] is None else str(data["error"]),
            exit_code=int(data["exit_code"]),
        )


def capture_label(path: str) -> str:
    """The name a capture's results carry (as given; ``<stdin>`` for ``-``)."""
    return "<stdin>" if path == "-" else path


def analyze_one(
    path: str, settings: PerFileSettings, handle: TextIO, stdin: BinaryIO | None = None
) -> FileOutcome:
    """Analyze one capture and write its part of the report to ``handle``."""
    label = capture_label(path)
    plan = settings.plan
    # A JSON document is buffered (it is bounded) so it is written whole, without its
    # trailing newline: the caller joins the documents into one list.
    target: TextIO = io.StringIO() if plan.format is OutputFormat.json else handle
    outputs = Outputs(plan, target, settings.to_terminal, capture=label, width=settings.width)
    try:
        result = run_analysis(
            [path],
            stdin=stdin,
            protocols=settings.protocols,
            rules=settings.rules,
            intel=settings.intel,
            app_report=plan.app_events,
            **outputs.hooks(),
        )
        outputs.write_report(result)
    except NetsentryError as exc:
        return FileOutcome(label, error=str(exc), exit_code=int(exc.exit_code))
    if isinstance(target, io.StringIO):
        handle.write(target.getvalue().rstrip("\n"))
    warnings = list(result.summary.warnings())
    warnings.extend(
        f"{label}: detector failed {count} time(s): {problem}"
        for problem, count in result.detector_errors.items()
    )
    return FileOutcome(
        label,
        partial=result.partial,
        severity_rank=outputs.aggregate.max_severity_rank() if plan.rules_loaded else 9,
        packets=result.summary.packets,
        findings=result.finding_count,
        warnings=warnings,
    )


class _Writer:
    """Writes the parts of the report in input order, with what goes around them."""

    def __init__(self, handle: TextIO, fmt: OutputFormat) -> None:
        self.handle = handle
        self.fmt = fmt
        self.parts = 0

    def start(self) -> None:
        if self.fmt is OutputFormat.json:
            self.handle.write("[\n")
        elif self.fmt is OutputFormat.csv:
            self.handle.write(",".join(csv_header(per_file=True)) + "\n")

    def part(self, write: Callable[[TextIO], FileOutcome]) -> FileOutcome:
        """Write one capture's part (``write`` puts it on the handle it is given)."""
        if self.fmt is not OutputFormat.json:
            return write(self.handle)
        buffer = io.StringIO()
        outcome = write(buffer)
        text = buffer.getvalue()
        if text:  # a capture that failed has no document
            if self.parts:
                self.handle.write(",\n")
            self.handle.write(text)
            self.parts += 1
        return outcome

    def finish(self) -> None:
        if self.fmt is OutputFormat.json:
            self.handle.write("\n]\n" if self.parts else "]\n")


def _worker(path: str, settings: PerFileSettings, out_path: str, status_path: str) -> None:
    """Body of a forked worker: the part to ``out_path``, then the status (written last)."""
    # Ctrl-C goes to the whole process group: the parent alone reacts (it stops workers),
    # so the terminal gets no traceback per worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with open(out_path, "w", **_ENCODING) as out:  # type: ignore[call-overload]
        outcome = analyze_one(path, settings, out)
    with open(status_path + ".tmp", "w", encoding="utf-8") as status:
        status.write(outcome.to_json())
    os.replace(status_path + ".tmp", status_path)  # present only when complete


def _read_outcome(path: str, status_path: str, process: BaseProcess) -> FileOutcome:
    try:
        with open(status_path, encoding="utf-8") as status:
            return FileOutcome.from_json(status.read())
    except (OSError, ValueError, KeyError, TypeError):
        return FileOutcome(
            capture_label(path),
            error=f"{capture_label(path)}: analysis worker ended without a result "
            f"(exit code {process.exitcode})",
            exit_code=int(ExitCode.PARTIAL),
        )


def _copy(out_path: str, handle: TextIO) -> None:
    with open(out_path, **_ENCODING) as part:  # type: ignore[call-overload]
        shutil.copyfileobj(part, handle, 1 << 20)


def analyze_per_file(
    paths: Sequence[str],
    settings: PerFileSettings,
    handle: TextIO,
    *,
    jobs: int = 1,
    stdin: BinaryIO | None = None,
) -> list[FileOutcome]:
    """Analyze each capture on its own; the report parts go to ``handle`` in input order."""
    writer = _Writer(handle, settings.plan.format)
    writer.start()
    if jobs <= 1 or len(paths) <= 1:
        outcomes = [
            writer.part(lambda h, p=p: analyze_one(p, settings, h, stdin))  # type: ignore[misc]
            for p in paths
        ]
    else:
        if settings.rules is not None:
            # Compile the rules' matchers once here (they are cached per pattern set), so
            # every forked worker inherits them instead of compiling its own (~1 s each).
            Detection(settings.rules, settings.intel)
        outcomes = _run_workers(paths, settings, writer, jobs, stdin)
    writer.finish()
    return outcomes


def _run_workers(
    paths: Sequence[str],
    settings: PerFileSettings,
    writer: _Writer,
    jobs: int,
    stdin: BinaryIO | None,
) -> list[FileOutcome]:
    """Up to ``jobs`` forked workers; parts are copied in order as they complete."""
    context = multiprocessing.get_context("fork")  # workers inherit rules, nothing pickled
    outcomes: list[FileOutcome | None] = [None] * len(paths)
    running: dict[int, BaseProcess] = {}
    with tempfile.TemporaryDirectory(prefix="netsentry-per-file-") as tmp:

        def files(index: int) -> tuple[str, str]:
            return os.path.join(tmp, f"{index}.out"), os.path.join(tmp, f"{index}.json")

        def write_ready(upto: int) -> int:
            while upto < len(paths) and outcomes[upto] is not None:
                out_path, _ = files(upto)
                outcome = outcomes[upto]
                assert outcome is not None
                writer.part(lambda h, o=outcome, f=out_path: _copied(f, h, o))  # type: ignore[misc]
                os.unlink(out_path)
                upto += 1
            return upto

        written = 0
        started = 0
        try:
            while written < len(paths):
                while started < len(paths) and len(running) < jobs:
                    out_path, status_path = files(started)
                    if paths[started] == "-":
                        # stdin stays with the parent (a worker's stdin is /dev/null)
                        with open(out_path, "w", **_ENCODING) as out:  # type: ignore[call-overload]
                            outcomes[started] = analyze_one("-", settings, out, stdin)
                    else:
                        process = context.Process(
                            target=_worker,
                            args=(paths[started], settings, out_path, status_path),
                            daemon=True,
                        )
                        process.start()
                        running[started] = process
                    started += 1
                written = write_ready(written)
                if written >= len(paths) or not running:
                    continue
                wait([p.sentinel for p in running.values()])
                for index, child in list(running.items()):
                    if child.is_alive():
                        continue
                    child.join()
                    del running[index]
                    outcomes[index] = _read_outcome(paths[index], files(index)[1], child)
                written = write_ready(written)
        finally:
            for child in running.values():  # interrupted: stop what is still running
                child.kill()
                child.join()
    return [o for o in outcomes if o is not None]


def _copied(out_path: str, handle: TextIO, outcome: FileOutcome) -> FileOutcome:
    _copy(out_path, handle)
    return outcome


def worst_exit(outcomes: Sequence[FileOutcome], fail_rank: int | None) -> int:
    """The exit code over all captures: an error first, then partial, then --fail-on."""
    for outcome in outcomes:
        if outcome.error is not None:
            return outcome.exit_code
    if any(o.partial for o in outcomes):
        return int(ExitCode.PARTIAL)
    if fail_rank is not None and any(o.severity_rank <= fail_rank for o in outcomes):
        return int(ExitCode.FINDINGS)
    return int(ExitCode.OK)

