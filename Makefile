# netsentry: the two set-up commands are `make demo` and `make test`.
# Both create (or update) the virtual environment in .venv first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := netsentry/data/demo.pcap

.PHONY: venv demo test lint typecheck unit rules-test bench screenshots clean

# Re-install when the project metadata changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/netsentry analyze -f table $(DEMO)

lint: $(STAMP)
	$(BIN)/ruff check netsentry tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

rules-test: $(STAMP)
	$(BIN)/netsentry rules test

test: lint typecheck rules-test unit

bench: $(STAMP)
	$(BIN)/python bench/run_bench.py $(BENCH_ARGS)

# The README's PNGs of the terminal and HTML reports (needs Debian's chromium).
screenshots: $(STAMP)
	$(BIN)/python docs/make_screenshots.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
