"""Optional native build: the per-packet modules compiled to C with mypyc.

netsentry is pure Python and runs as such. Its hot path (capture framing, decoding,
the flow table, stream reassembly, the application decoders and the detectors) is
type-annotated strictly enough for mypyc to compile it unchanged, which makes
``analyze`` about 1.6x faster (measured in bench/run_bench.py, rows g and j).

Compiling is opt-in: ``NETSENTRY_COMPILE=1 pip install .`` (needs mypy and a C
compiler; ``make native`` does it). It is off for editable installs by default
because a compiled module shadows its .py file: an edit would silently not run.
Everything else about the package lives in pyproject.toml.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup

# The modules a packet passes through, in pipeline order. Each must stay free of
# what mypyc refuses (see README, "Native build"); tests/test_native.py checks that
# an installed native build really has all of them compiled.
NATIVE_MODULES = [
    "netsentry/model.py",
    "netsentry/capture.py",
    "netsentry/decode.py",
    "netsentry/fragments.py",
    "netsentry/summary.py",
    "netsentry/flows.py",
    "netsentry/streams.py",
    "netsentry/applayer.py",
    "netsentry/appsummary.py",
    *sorted(str(p) for p in Path("netsentry/protocols").glob("*.py")),
    "netsentry/fields.py",
    "netsentry/conditions.py",
    "netsentry/matchers.py",
    "netsentry/findings.py",
    "netsentry/detectors.py",
    "netsentry/dga.py",
    "netsentry/dgadetector.py",
    "netsentry/communityid.py",
    "netsentry/intelindex.py",
    "netsentry/sig/netspec.py",
    "netsentry/sig/buffers.py",
    "netsentry/sig/content.py",
    "netsentry/sig/reputation.py",
    "netsentry/sig/detect.py",
    "netsentry/engine.py",
    "netsentry/eve.py",
    "netsentry/aggregate.py",
    "netsentry/sinks.py",
    "netsentry/flowsplit.py",
    "netsentry/streamjobs.py",
]


def _native_extensions() -> list[object]:
    if os.environ.get("NETSENTRY_COMPILE", "") not in ("1", "yes", "true"):
        return []
    from mypyc.build import mypycify  # only needed when compiling

    # multi_file: one C file per module, so build_ext can compile them in parallel.
    return list(mypycify(NATIVE_MODULES, opt_level="3", multi_file=True))


setup(
    ext_modules=_native_extensions(),
    options={"build_ext": {"parallel": os.cpu_count() or 1}},
)
