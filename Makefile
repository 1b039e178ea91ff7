# The two commands: `make run` and `make test`. Everything else is what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test bench lint screenshots clean

run: $(VENV)/.run-deps
	$(PY) -m rapidresponse.localrun

test: $(VENV)/.test-deps
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.test-deps
	$(PY) -m bench.alert_fanout

# The README's screenshots, retaken by the browser tests into docs/screenshots.
screenshots: $(VENV)/.test-deps
	SCREENSHOTS_DIR=docs/screenshots $(PY) -m pytest -q tests/browser

lint: $(VENV)/.test-deps
	$(VENV)/bin/pip install -q ruff mypy
	$(VENV)/bin/ruff check rapidresponse workers bench tests
	$(VENV)/bin/mypy rapidresponse

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ echo "rapidresponse needs Python 3.11 or newer as $(PYTHON) (make PYTHON=python3.12 ...)"; exit 1; }
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || \
		{ echo "$(PYTHON) cannot create virtualenvs; on Debian: apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e '.[postgres,local]'
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) instance/*.sqlite3* .pytest_cache
