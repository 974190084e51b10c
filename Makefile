# netsentry: the two set-up commands are `make demo` and `make test`.
# Both create (or update) the virtual environment in .venv first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := netsentry/data/demo.pcap

.PHONY: venv native demo test lint typecheck unit unit-native rules-test bench screenshots bench-dga train-dga eval-dga clean

# Re-install when the project metadata changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The native build (setup.py): the per-packet modules compiled with mypyc, installed
# (not editable) into its own environment, so the sources here stay plain Python.
NATIVE_VENV := .venv-native
NATIVE_STAMP := $(NATIVE_VENV)/.installed
NATIVE_SRC := $(shell find netsentry -name '*.py') setup.py pyproject.toml

$(NATIVE_STAMP): $(NATIVE_SRC)
	rm -rf build $(NATIVE_VENV)
	$(PYTHON) -m venv $(NATIVE_VENV)
	$(NATIVE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NATIVE_VENV)/bin/python -m pip install --quiet setuptools wheel
	$(NATIVE_VENV)/bin/python -m pip install --quiet '.[dev]'
	# mypyc type-checks what it compiles, so it runs with the dependencies (and their
	# stubs) installed: a second install, compiled, over the plain one.
	NETSENTRY_COMPILE=1 $(NATIVE_VENV)/bin/python -m pip install --quiet --no-build-isolation \
		--no-deps --force-reinstall .
	rm -rf build
	touch $(NATIVE_STAMP)

native: $(NATIVE_STAMP)

demo: $(STAMP)
	$(BIN)/netsentry analyze -f table $(DEMO)

lint: $(STAMP)
	$(BIN)/ruff check netsentry tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# The same tests against the native build (run from tests/, so that `import netsentry`
# finds the installed, compiled package rather than these sources).
unit-native: $(NATIVE_STAMP)
	cd tests && NETSENTRY_EXPECT_NATIVE=1 ../$(NATIVE_VENV)/bin/pytest -q -p no:cacheprovider --rootdir=.. -c ../pyproject.toml .

rules-test: $(STAMP)
	$(BIN)/netsentry rules test

test: lint typecheck rules-test unit unit-native

bench: $(STAMP) $(NATIVE_STAMP)
	$(BIN)/python bench/run_bench.py $(BENCH_ARGS)

# The README's PNGs of the terminal and HTML reports (needs Debian's chromium).
screenshots: $(STAMP)
	$(BIN)/python docs/make_screenshots.py

# DGA model: trained from ../shared/dga-samples (+ MISP lists in ../shared/intel-samples),
# written to netsentry/data/ (deterministic: the same inputs give the same bytes).
train-dga: $(STAMP)
	$(BIN)/python -m netsentry.dgatrain train

# Held-back and leave-family-out detection table (a few minutes).
eval-dga: $(STAMP)
	$(BIN)/python -m netsentry.dgatrain eval

bench-dga: $(STAMP)
	$(BIN)/python bench/dga_bench.py

clean:
	rm -rf $(VENV) $(NATIVE_VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
