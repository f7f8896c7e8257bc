# The two commands of the README's quick start: `make demo` and `make test`.
# Each creates the virtual environment itself on a fresh machine (nothing to install by hand).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= data/demo

.PHONY: setup redis demo demo-quick demo-closed-loop test test-fast lint typecheck bench-data clean

# Re-install only when the dependency list changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# Debian's redis-server, for the Redis online store and its tests (tests/test_redis_backend.py).
# Installed when missing and apt-get can run (as root, or through password-less sudo); if it
# cannot be, the Redis tests are skipped with the reason, and the rest still runs.
SUDO := $(shell [ "$$(id -u)" = 0 ] || (command -v sudo >/dev/null && echo sudo -n))
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server

redis:
	@command -v redis-server >/dev/null \
		|| $(APT_INSTALL) >/dev/null \
		|| ($(SUDO) apt-get update -q >/dev/null && $(APT_INSTALL) >/dev/null) \
		|| echo "warning: could not install redis-server: the Redis tests will be skipped"

## The main job end to end on the embedded default: simulate a casino world, run the daily
## pipeline, serve it, and let simulated players use the running service for three days
## (A/B test, new games, a daily run per day, the readout against the truth); 4-6 minutes.
demo: setup
	$(BIN)/slotrec demo --closed-loop --data-dir $(DEMO_DIR)-closed-loop

## The short demo: simulate, backfill, one daily run, the run report (about a minute).
demo-quick: setup
	$(BIN)/slotrec demo --data-dir $(DEMO_DIR)

demo-closed-loop: demo

## Every test, slow end-to-end ones included (what CI runs).
test: setup redis
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
