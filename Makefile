# GridCX - two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SIZE ?= S
DB ?= sqlite
PORT ?= 8501
# The fast lane: tests that open no database, run no app, browser or subprocess (markers set by tests/conftest.py).
FAST_LANE := not (slow or world or db or app or browser or postgres or subprocess)

.PHONY: run test test-fast test-security bench lint install install-dev demo clean screenshots

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Start the app on the embedded SQLite database, with the M demo world loaded if the database is empty.
run: install
	$(PY) -m data init --demo-if-empty M
	$(PY) -m reports demo-reviews >/dev/null
	@echo "GridCX: http://localhost:$(PORT)"
	$(PY) -m streamlit run streamlit_app.py --server.headless true --server.port $(PORT)

## Load (or keep) the demo world of SIZE into the configured database (DATABASE_URL or the SQLite file).
demo: install
	$(PY) -m demo --size $(SIZE)

## Run the whole test suite (SQLite, PostgreSQL, AppTest, Playwright).
test: install-dev
	$(PY) -m pytest

## The fast lane: pure and unit tests, no database, app, browser or subprocess (about 1 minute on 2 cores).
test-fast: install-dev
	$(PY) -m pytest -m "$(FAST_LANE)" --durations=5

## The attack suite by itself (pytest -m security), on both cores: about 7 minutes on this machine class.
test-security: install-dev
	$(PY) -m pytest -m security -n 2

## Benchmark against ../shared/reference/PERFORMANCE.md; writes .bench/results.json.
bench: install-dev
	$(PY) -m tests.bench --size $(SIZE) --db $(DB)

## Refresh the README's screenshots from the browser journeys' artifacts/screens (after `make test`).
screenshots: install-dev
	$(PY) -m tests.e2e.refresh_screenshots

## ruff and mypy (configured in pyproject.toml), both with zero findings.
lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .bench artifacts data/*.db data/*.db-wal data/*.db-shm data/*.groundtruth.json
