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
