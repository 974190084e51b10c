"""Shared pytest setup.

The test modules import their builders as ``tests.factories`` (the spelling mypy
resolves from the repository root). ``tests/`` has no ``__init__.py``, so pytest
would only put ``tests/`` itself on ``sys.path``; put the repository root there
too so the same import works under a plain ``pytest`` run.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_intel_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads the user's feed cache or feeds.yaml: each gets an empty cache and a
    user feeds.yaml without the packaged (network) feeds (see netsentry/config.py)."""
    base = tmp_path_factory.mktemp("netsentry-dirs")
    (base / "config").mkdir()
    (base / "config" / "feeds.yaml").write_text("include_defaults: false\n", encoding="utf-8")
    monkeypatch.setenv("NETSENTRY_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("NETSENTRY_CONFIG_DIR", str(base / "config"))
