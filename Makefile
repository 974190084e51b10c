# netsentry: the two set-up commands are `make demo` and `make test`.
# Both create (or update) the virtual environment in .venv first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := netsentry/data/demo.pcap

.PHONY: venv demo test lint typecheck unit rules-test bench screenshots bench-dga train-dga eval-dga clean

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
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
