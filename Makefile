# SIS Integration: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
FLASK := $(BIN)/flask --app wsgi

.PHONY: run test fuzz serve worker load bench chaos lint browser translations install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# The catalogs, compiled from the .po files in the repo (the .mo files are never committed).
CATALOGS := $(wildcard lti_app/translations/*/LC_MESSAGES/messages.po)
$(VENV)/.catalogs: $(CATALOGS) $(VENV)/.runtime
	$(BIN)/pybabel compile --statistics -d lti_app/translations
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime $(VENV)/.catalogs
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime $(VENV)/.catalogs
install-dev: $(VENV)/.dev

MAILBOX_PORT ?= 8025

## run: install, migrate, load demo data and serve on http://$(HOST):$(PORT) (development), with
## the worker and a development mailbox that receives every alert email (/dev/mail)
run: export MAIL_SERVER = 127.0.0.1
run: export MAIL_PORT = $(MAILBOX_PORT)
run: export PUBLIC_URL = http://$(HOST):$(PORT)
run: install
	$(FLASK) db upgrade
	$(FLASK) demo load --port $(PORT)
	@echo
	@echo "  SIS Integration is starting, with a worker (Canvas mirror, alerts) and a mailbox."
	@echo "  Try a launch without Canvas:  http://$(HOST):$(PORT)/dev/"
	@echo "  Alert emails arrive at:       http://$(HOST):$(PORT)/dev/mail/"
	@echo "  Canvas developer key JSON:    http://$(HOST):$(PORT)/lti/config.json"
	@echo
	$(FLASK) dev-mailbox serve --port $(MAILBOX_PORT) & mailbox=$$!; \
	  (sleep 2; exec $(FLASK) worker) & worker=$$!; \
	  trap 'kill $$worker $$mailbox 2>/dev/null' EXIT INT TERM; \
	  $(FLASK) run --host $(HOST) --port $(PORT)

## worker: all background work (Canvas mirror, alert delivery, held syncs' expiry), forever
## (production: one or more)
worker: install
	$(FLASK) worker

## browser: Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium)
browser:
	@test -x /usr/bin/chromium || { \
	  echo "Installing Chromium for the browser tests (apt-get)..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

## axe: axe-core for the browser suite's accessibility checks, from the npm registry (pinned)
AXE := tests/browser/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/axe/package.json tests/browser/axe/package-lock.json
	npm ci --prefix tests/browser/axe --no-audit --no-fund --silent
	touch $@

## test: install everything the suite needs and run it (SQLite; TEST_DATABASE_URL for another)
test: install-dev browser $(AXE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## fuzz: the API fuzzer and the launch property tests with a larger budget (FUZZ_EXAMPLES,
## FUZZ_SEED; TEST_DATABASE_URL for PostgreSQL)
fuzz: install-dev
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} $(BIN)/python -m pytest tests/api/test_fuzz.py \
	  tests/lti/test_launch_properties.py $(PYTEST_ARGS)

## serve: production server (gunicorn.conf.py: 4 workers); set APP_ENV, SECRET_KEY, DATABASE_URL
serve: install
	$(FLASK) db upgrade
	BIND=$(HOST):$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

## bench: the scale benchmark (a million jobs; SQLite and PostgreSQL); BENCH_ARGS for more
bench: install-dev
	@command -v sqlite3 >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q sqlite3; }
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

## chaos: a few minutes of agents failing and finishing jobs while the worker's database is cut
## at random and the mail server stopped now and then (PostgreSQL); prints alerts owed,
## delivered, late and doubled; CHAOS_ARGS="--seconds 600 --seed 7" for more
chaos: install-dev
	$(BIN)/python scripts/chaos.py $(CHAOS_ARGS)

## load: gunicorn (4 workers) on PostgreSQL under 60 s of admins and agents; LOAD_ARGS for more
load: install-dev
	$(BIN)/python scripts/load_test.py $(LOAD_ARGS)

## translations: extract the marked strings into messages.pot and merge them into each catalog
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --omit-header \
	  -o lti_app/translations/messages.pot .
	$(BIN)/pybabel update --width 100 -i lti_app/translations/messages.pot \
	  -d lti_app/translations

## lint: ruff, import-linter's layers (each room imports only the rooms below it) and mypy
lint: install-dev
	$(BIN)/ruff check lti_app config tests examples scripts wsgi.py gunicorn.conf.py
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
