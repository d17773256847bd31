# dockovn: `make demo` (all-in-one on this machine) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DOCKOVN := $(VENV)/bin/dockovn
PYTEST_ARGS ?=

.PHONY: deps system-deps venv demo demo-clean test test-unit test-integration test-e2e lint clean

# Debian packages first (checked every time, installed only when missing), then the venv.
deps: system-deps $(VENV)/.installed

system-deps:
	@bash scripts/install-deps.sh

# The venv is rebuilt when the pinned dependencies change.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

venv: $(VENV)/.installed

demo: deps
	DOCKOVN=$(DOCKOVN) bash scripts/demo.sh

demo-clean: deps
	DOCKOVN=$(DOCKOVN) bash scripts/demo.sh --clean

# Unit tests, then integration (real ovsdb-server + OVS), then e2e (real dockerd + OVN).
# The fixtures start what is not running and stop what they started.
test: deps
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests

test-unit: deps
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests/unit

test-integration: deps
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests/integration

test-e2e: deps
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests/e2e

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
