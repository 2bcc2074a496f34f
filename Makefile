# fieldwork: `make run` serves the demo, `make test` runs the whole suite.
# Each target bootstraps .venv on a fresh machine (only Python 3.11 and make needed).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000
STAMP := $(VENV)/.installed
PO := $(wildcard fieldwork/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)
NODE_STAMP := tests/js/node_modules/.installed

.PHONY: run test test-js test-pg test-browser lint translations extract-messages serve-prod bench clean

run: $(STAMP) $(MO)
	$(FLASK) bootstrap
	$(FLASK) run --host $(HOST) --port $(PORT)

# The client's unit tests (node --test, tests/js) first, then pytest; either failing fails.
test: $(STAMP) $(MO) test-js
	$(PY) -m pytest $(PYTEST_ARGS)

test-js: $(NODE_STAMP)
	cd tests/js && node --test *.test.mjs

# Node.js and npm from Debian if missing (as `bench` does); the packages tests/js pins.
$(NODE_STAMP): tests/js/package.json tests/js/package-lock.json
	@command -v npm >/dev/null 2>&1 || { apt-get update -q && \
	  apt-get install -y -q --no-install-recommends nodejs npm; }
	npm ci --prefix tests/js --no-audit --no-fund
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

translations: $(MO)

%.mo: %.po $(STAMP)
	$(VENV)/bin/pybabel compile -f -i $< -o $@

extract-messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --project fieldwork -o fieldwork/translations/messages.pot .
	$(VENV)/bin/pybabel update -i fieldwork/translations/messages.pot -d fieldwork/translations --no-fuzzy-matching --ignore-obsolete

# Production: migrate, then gunicorn (gunicorn.conf.py; docs/operations.md). Needs DATABASE_URL,
# FIELDWORK_SECRET_KEY, FIELDWORK_FIELD_KEY and FIELDWORK_INDEX_KEY in the environment.
serve-prod: $(STAMP) $(MO)
	FIELDWORK_ENV=production $(FLASK) db upgrade
	FIELDWORK_ENV=production HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py app:app

# Every benchmark in bench/ → docs/benchmarks.md + docs/benchmarks.json (not part of `make test`).
# Installs what the benchmarks need: Chromium and Node.js from Debian if missing; Lighthouse
# into bench/node_modules (done by bench/lighthouse.py). BENCH_ARGS="--only weight,load" etc.
bench: $(STAMP) $(MO)
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && \
	  apt-get install -y -q --no-install-recommends chromium; }
	@command -v npm >/dev/null 2>&1 || { apt-get update -q && \
	  apt-get install -y -q --no-install-recommends nodejs npm; }
	$(PY) bench/run_all.py $(BENCH_ARGS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/js/node_modules
