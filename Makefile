# The two commands of the README's quick start: `make demo` and `make test`.
# Each creates the virtual environment itself on a fresh machine (nothing to install by hand).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= data/demo

.PHONY: setup system-deps redis demo demo-quick demo-closed-loop test test-fast lint typecheck bench-data clean

# Re-install only when the dependency list changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# The Debian packages the tests need: redis-server (the Redis online store and its tests),
# wrk (the HTTP load tests, tests/test_wrk_load.py) and Java 17 (dbt on Spark,
# tests/test_dbt_spark.py). Installed when missing and apt-get can run (as root, or through
# password-less sudo); a package that cannot be installed is named, and its tests skip saying so.
SUDO := $(shell [ "$$(id -u)" = 0 ] || (command -v sudo >/dev/null && echo sudo -n))
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
SYSTEM_PACKAGES := redis-server:redis-server wrk:wrk java:openjdk-17-jre-headless

system-deps:
	@for pair in $(SYSTEM_PACKAGES); do \
		command=$${pair%%:*}; package=$${pair#*:}; \
		command -v $$command >/dev/null \
			|| $(APT_INSTALL) $$package >/dev/null 2>&1 \
			|| ($(SUDO) apt-get update -q >/dev/null 2>&1 && $(APT_INSTALL) $$package >/dev/null 2>&1) \
			|| echo "warning: could not install $$package: the tests that need $$command will be skipped"; \
	done

# kept for scripts that call it: the Redis server alone
redis:
	@command -v redis-server >/dev/null || $(APT_INSTALL) redis-server >/dev/null \
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
test: setup system-deps
	$(BIN)/python -m pytest -q --timeout=900

## Unit tests only.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

bench-data: setup
	$(BIN)/slotrec bench data

clean:
	rm -rf $(VENV) data dbt_project/target dbt_project/logs
