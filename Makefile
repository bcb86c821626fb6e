# Two commands: `make run` starts the app on the demo database, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB := data/onemap.sqlite
# The demo data (layers, alerts, history, the users with public passwords) go into the
# bundled SQLite database only, whatever GEO_DATABASE_URL says.
DEMO_URL := sqlite:///$(CURDIR)/$(DB)
# make run DEMO_FEED=0: no simulated live alerts
DEMO_FEED ?= 1
# make run PORT=8502: the port the app listens on
PORT ?= 8501
STREAMLIT := $(BIN)/python -m streamlit run streamlit_app.py --server.port $(PORT)

.PHONY: run test lint bench demo vendor browser-deps clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.app: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(DB): $(VENV)/.app layers/*.geojson data/*.csv
	GEO_DATABASE_URL='$(DEMO_URL)' $(BIN)/python -m geo init
	GEO_DATABASE_URL='$(DEMO_URL)' $(BIN)/python -m geo ingest data/demo_alerts.csv
	GEO_DATABASE_URL='$(DEMO_URL)' $(BIN)/python -m geo demo history
	GEO_DATABASE_URL='$(DEMO_URL)' $(BIN)/python -m geo demo users
	touch $@

# The app, with the demo feed adding a few realistic alerts per minute (log: data/simulate.log).
# With GEO_DATABASE_URL set to another database the app runs on it, without demo data or feed.
run: $(VENV)/.app $(DB)
	@if [ -n "$$GEO_DATABASE_URL" ] && [ "$$GEO_DATABASE_URL" != '$(DEMO_URL)' ]; then \
	  echo "GEO_DATABASE_URL is not the demo database: no demo data, users or feed loaded there"; \
	  $(STREAMLIT); \
	elif [ "$(DEMO_FEED)" = 1 ]; then \
	  $(BIN)/python -m geo simulate --rate 3 > data/simulate.log 2>&1 & feed=$$!; \
	  trap 'kill $$feed 2>/dev/null' EXIT INT TERM; \
	  $(STREAMLIT); \
	else \
	  $(STREAMLIT); \
	fi

# Debian's Chromium (and CJK fonts for readable screenshots) for the browser tests, where
# this machine lets us install them; elsewhere those tests skip and say why (not in CI).
browser-deps:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian packages chromium fonts-noto-cjk for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else echo "note: chromium not found and cannot be installed here; browser tests will be skipped"; fi

# The store tests run on SQLite and on PostGIS: GEO_TEST_POSTGIS_URL, else a local database
# made ready by scripts/postgis_test_db.sh (required under CI=true).
test: $(VENV)/.test browser-deps
	$(BIN)/python -m ruff check .
	url="$${GEO_TEST_POSTGIS_URL:-$$(scripts/postgis_test_db.sh)}" && \
	  GEO_TEST_POSTGIS_URL="$$url" $(BIN)/python -m pytest

bench: $(VENV)/.test browser-deps
	$(BIN)/python bench/route_bench.py
	$(BIN)/python bench/map_bench.py
	$(BIN)/python bench/dispatch_bench.py
	$(BIN)/python bench/coverage_bench.py

demo: $(VENV)/.app
	$(BIN)/python -m geo demo build

vendor:
	scripts/vendor_assets.sh

clean:
	rm -rf $(VENV) $(DB) $(DB)-wal $(DB)-shm
