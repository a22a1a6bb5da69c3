# Chargeline: two commands do all the set-up on a fresh machine.
#   make demo   the demo estate, a first collection pass and the dashboard (SQLite)
#   make test   the whole test suite, on SQLite and PostgreSQL, browser tests included
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= ./data/demo
DEMO_PORT ?= 8501
SIM_PORT ?= 8700
PYTEST_ARGS ?=

.PHONY: demo test lint bench setup-system clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests need (Chromium for the browser tests) and a running PostgreSQL.
setup-system:
	@bash scripts/setup-system.sh

demo: $(STAMP)
	$(VENV)/bin/chargeline demo --out $(DEMO_DIR) --port $(DEMO_PORT) --sim-port $(SIM_PORT)

test: $(STAMP) setup-system
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Every benchmark in turn (each prints its figures and ratios); `python -m bench` lists them.
BENCHES ?= simulator ingest fuzz rules metrics retention pages
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	for name in $(BENCHES); do $(PY) -m bench $$name || exit 1; done

clean:
	rm -rf $(VENV) data .pytest_cache
