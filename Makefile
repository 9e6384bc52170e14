# Meridian's one command runner: the same checks locally and in CI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)

.PHONY: run serve test lint fix check-tests install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## Start Meridian on SQLite with the IDC CRM demo loaded.
run: install
	$(BIN)/meridian demo --if-empty
	$(BIN)/meridian serve --host 127.0.0.1 --port 8000

serve: install
	$(BIN)/meridian serve --reload

lint: install
	$(BIN)/ruff format --check meridian tests bench
	$(BIN)/ruff check meridian tests bench
	$(BIN)/mypy meridian
	$(BIN)/lint-imports

fix: install
	$(BIN)/ruff format meridian tests bench
	$(BIN)/ruff check --fix meridian tests bench

check-tests: install
	$(BIN)/pytest -n auto -q

test: lint check-tests

clean:
	rm -rf $(VENV) meridian-data .pytest_cache .mypy_cache .ruff_cache
