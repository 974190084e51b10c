"""Shared pytest setup.

The test modules import their builders as ``tests.factories`` (the spelling mypy
resolves from the repository root). ``tests/`` has no ``__init__.py``, so pytest
would only put ``tests/`` itself on ``sys.path``; put the repository root there
too so the same import works under a plain ``pytest`` run. It is appended, not
prepended: ``make unit-native`` runs these tests against the installed, compiled
package, which must win over the sources here (the dev venv's editable install
points at these sources anyway).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

if str(REPO_ROOT) not in sys.path:
    sys.path.append(str(REPO_ROOT))


import pytest  # noqa: E402

import netsentry.flows  # noqa: E402

NATIVE = not netsentry.flows.__file__.endswith(".py")
"""True when the package under test is the native (mypyc-compiled) build."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "interpreted_only(why): replaces a module's internals (monkeypatch), which "
        "compiled modules do not look up; runs in the plain-Python run of make test",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not NATIVE:
        return
    for item in items:
        marker = item.get_closest_marker("interpreted_only")
        if marker is not None:
            why = marker.args[0] if marker.args else "patches module internals"
            item.add_marker(
                pytest.mark.skip(reason=f"native build: {why} (covered by the plain run)")
            )


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
