# The two commands of the README's quick start: `make demo` and `make test`.
# Each creates the virtual environment itself on a fresh machine (nothing to install by hand).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= data/demo

.PHONY: setup demo test test-fast lint typecheck bench-data clean

# Re-install only when the dependency list changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

## Simulate a small casino world and run the daily pipeline on the embedded default.
demo: setup
	$(BIN)/slotrec demo --data-dir $(DEMO_DIR)

## Every test, slow end-to-end ones included (what CI runs).
test: setup
	$(BIN)/python -m pytest -q --timeout=900

## Unit tests only.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

bench-data: setup
	$(BIN)/slotrec bench data

clean:
	rm -rf $(VENV) data dbt_project/target dbt_project/logs
