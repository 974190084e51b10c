"""Make the README's screenshots: ``make screenshots`` (needs Debian's ``chromium``).

Both come from the bundled demo capture (``netsentry/data/demo.pcap``) and the
packaged rules:

- ``docs/terminal-report.png``: the terminal report, recorded by rich and exported
  as SVG, then rasterized by headless Chromium;
- ``docs/html-report.png``: the top of the ``--html`` report, as Chromium shows it.

Chromium runs with no network features and a throw-away profile. The PNGs are
kept small (a fixed viewport, 1x scale).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from netsentry.engine import analyze  # noqa: E402
from netsentry.outputs import OutputFormat, OutputPlan, Outputs  # noqa: E402
from netsentry.report import render_aggregate, render_summary  # noqa: E402
from netsentry.ruleload import load_rules  # noqa: E402

DEMO = REPO / "netsentry" / "data" / "demo.pcap"
DOCS = REPO / "docs"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


def screenshot(chromium: str, page: Path, png: Path, size: str, profile: Path) -> None:
    subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
         f"--screenshot={png}", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"{png.relative_to(REPO)}: {png.stat().st_size:,} bytes")


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found (apt-get install chromium)")
    outputs = Outputs(OutputPlan(OutputFormat.table), io.StringIO())
    result = analyze([DEMO], rules=load_rules(None), **outputs.hooks())
    # the name as a user would type it, not this machine's absolute path
    for cap in result.summary.captures:
        cap.name = "demo.pcap"
    console = Console(record=True, file=io.StringIO(), width=118, force_terminal=True,
                      color_system="truecolor")
    console.print(render_summary(result.summary, None, outputs.aggregate))
    for part in render_aggregate(outputs.aggregate, top=6, window=outputs.plan.window):
        console.print(part)
    with tempfile.TemporaryDirectory(prefix="netsentry-docs-") as tmp:
        work = Path(tmp)
        svg = work / "terminal.svg"
        svg.write_text(console.export_svg(title="netsentry analyze demo.pcap"), encoding="utf-8")
        screenshot(chromium, svg, DOCS / "terminal-report.png", "1000,1300", work / "p1")
        html = work / "report.html"
        plan = OutputPlan(OutputFormat.table, html=html)
        report = Outputs(plan, io.StringIO())
        result = analyze([DEMO], rules=load_rules(None), **report.hooks())
        for cap in result.summary.captures:
            cap.name = "demo.pcap"
        report.write_files(result, [str(DEMO)])
        screenshot(chromium, html, DOCS / "html-report.png", "1100,1400", work / "p2")


if __name__ == "__main__":
    main()
