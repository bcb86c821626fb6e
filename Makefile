# Two commands: `make run` starts the app on the demo database, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB := data/onemap.sqlite

.PHONY: run test lint bench demo clean

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

$(DB): $(VENV)/.app layers/*.geojson data/matters.csv data/bodies.csv data/empowerment.csv data/demo_alerts.csv
	$(BIN)/python -m geo init
	$(BIN)/python -m geo ingest data/demo_alerts.csv
	touch $@

run: $(VENV)/.app $(DB)
	$(BIN)/python -m streamlit run streamlit_app.py

test: $(VENV)/.test
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest

bench: $(VENV)/.test
	$(BIN)/python bench/route_bench.py

demo: $(VENV)/.app
	$(BIN)/python -m geo demo build

clean:
	rm -rf $(VENV) $(DB) $(DB)-wal $(DB)-shm
