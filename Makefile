# Everything a fresh machine needs: `make run` and `make test` create .venv and install first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= examples/quickstart

.PHONY: run test lint bench clean install screenshots bytecode

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Bytecode for src/ (an editable install gets none from pip): where PYTHONDONTWRITEBYTECODE is
# set, every `ductile` process would otherwise compile ~155 modules from source at start
# (~0.2 s per gateway start or CLI call on a 2-core box). Stale files are only ever ignored.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q src

run: bytecode
	$(BIN)/python scripts/quickstart.py --config $(CONFIG)

test: bytecode
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q -rs  # -rs: every skip with its reason (e.g. PostgreSQL not reachable)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/list_jobs.py

screenshots: $(STAMP)  # PNGs of every dashboard page into docs/ui/ (real gateway, Debian chromium)
	$(BIN)/python scripts/ui_screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
