"""The native build (setup.py, ``make native``): really compiled, and the same results.

``make unit-native`` runs the whole suite against the installed native build with
NETSENTRY_EXPECT_NATIVE=1, so every behavioural test also checks the compiled code;
this file checks that what was tested there was in fact compiled, module by module
(a build that silently fell back to plain Python would otherwise pass unnoticed).
"""

from __future__ import annotations

import ast
import importlib
import os
from pathlib import Path

import pytest

from tests.conftest import NATIVE, REPO_ROOT

EXPECT_NATIVE = os.environ.get("NETSENTRY_EXPECT_NATIVE") == "1"


def _native_modules() -> list[str]:
    """The module names setup.py compiles (read from its NATIVE_MODULES list)."""
    tree = ast.parse((REPO_ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "NATIVE_MODULES"
        ):
            assert isinstance(node.value, ast.List)
            paths: list[str] = []
            for item in node.value.elts:
                if isinstance(item, ast.Constant):
                    paths.append(str(item.value))
                else:  # *sorted(... glob("*.py")): every module of that package
                    paths += sorted(
                        str(p.relative_to(REPO_ROOT))
                        for p in (REPO_ROOT / "netsentry/protocols").glob("*.py")
                    )
            return [p.removesuffix(".py").replace("/", ".") for p in paths]
    raise AssertionError("setup.py has no NATIVE_MODULES list")


def test_native_module_list_names_real_modules() -> None:
    names = _native_modules()
    assert "netsentry.engine" in names and "netsentry.protocols.http" in names
    for name in names:
        assert (REPO_ROOT / (name.replace(".", "/") + ".py")).is_file(), name


@pytest.mark.skipif(
    not EXPECT_NATIVE, reason="plain-Python run; `make unit-native` checks the native build"
)
def test_every_listed_module_is_compiled() -> None:
    assert NATIVE
    plain = [
        name
        for name in _native_modules()
        if Path(str(importlib.import_module(name).__file__)).suffix == ".py"
    ]
    assert plain == []


@pytest.mark.skipif(
    not EXPECT_NATIVE, reason="plain-Python run; `make unit-native` checks the native build"
)
def test_native_build_is_not_these_sources() -> None:
    module = importlib.import_module("netsentry.engine")
    assert not Path(str(module.__file__)).is_relative_to(REPO_ROOT / "netsentry")
