# Meridian's one command runner: the same checks locally and in CI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml tests/plugin_example/pyproject.toml | md5sum | cut -c1-12)

.PHONY: run serve test lint fix check-tests install system browser clean

# Front-end packages pinned in package.json, served from meridian/web/static/vendor. Alpine is
# its CSP build, which evaluates expressions without eval, so pages need no 'unsafe-eval'.
VENDOR := meridian/web/static/vendor
VENDOR_STAMP := $(VENDOR)/.installed-$(shell cat package.json package-lock.json | md5sum | cut -c1-12)

## The example plugin in tests/ is installed as a real distribution with a `meridian` entry
## point, so its test goes through the same discovery as a company's own plugin.
$(STAMP): pyproject.toml tests/plugin_example/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e tests/plugin_example
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

$(VENDOR_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/@alpinejs/csp/dist/cdn.min.js \
	   node_modules/sortablejs/Sortable.min.js node_modules/echarts/dist/echarts.min.js \
	   node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
	   $(VENDOR)/
	mv $(VENDOR)/cdn.min.js $(VENDOR)/alpine.min.js
	touch $(VENDOR_STAMP)

install: system $(STAMP) $(VENDOR_STAMP)

## Documents: WeasyPrint's text libraries (Pango, HarfBuzz), CJK fonts so Chinese never prints
## as boxes, and poppler's pdftotext/pdftoppm that the document tests read PDFs with; Debian's
## headless LibreOffice Writer (no GUI libraries) turns filled Word templates into PDF.
system:
	@command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null && \
	  fc-list | grep -qi "Noto Sans CJK SC" && \
	  ldconfig -p | grep -q libpangoft2-1.0 && ldconfig -p | grep -q libharfbuzz-subset || \
	  { apt-get update -qq && apt-get install -y -qq poppler-utils fonts-noto-cjk \
	      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0; }
	@command -v soffice >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	      libreoffice-writer-nogui; }

## Debian's Chromium drives the browser tests (Playwright cannot download browsers here);
## a CJK font makes the screenshots readable.
browser:
	command -v chromium >/dev/null && fc-list | grep -qi wqy || \
	  { apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei; }

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

## Work stealing: a test process that runs out of tests takes half of another's queue, so the
## long tests (marked `long`, scheduled first by tests/conftest.py) never finish the run alone.
## Bytecode is written even where the environment turns it off: every process the tests start
## (servers, workers, imports killed and run again) would compile Meridian afresh, ~1.2 s each.
check-tests: install browser
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n auto --dist worksteal -q

test: lint check-tests

clean:
	rm -rf $(VENV) meridian-data node_modules $(VENDOR) .pytest_cache .mypy_cache .ruff_cache
