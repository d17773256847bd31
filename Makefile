# dockovn: `make demo` (all-in-one on this machine) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DOCKOVN := $(VENV)/bin/dockovn
PYTEST_ARGS ?=

.PHONY: deps system-deps venv demo demo-clean test test-debian13 test-unit test-integration test-e2e test-multihost bench-hotpaths clean \
        bench bench-deps bench-names-load bench-scale bench-faults underlay-deps test-underlay plugin plugin-deps \
        observability-deps bench-observability

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

# The benchmark's extras: the upstream driver (Debian's ovn-docker, plus the python3-flask
# its package forgets) and the `bench` Python extra (matplotlib for the plot, py-spy).
BENCH_PKGS := ovn-docker python3-flask
BENCH_ARGS ?=
BENCH_NAMES_ARGS ?=
BENCH_FAILOVER_ARGS ?=

$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,bench]'
	@touch $@

bench-deps: deps $(VENV)/.bench-installed
	@EXTRA_PKGS="$(BENCH_PKGS)" bash scripts/install-deps.sh

# dockovn vs the upstream driver vs Docker's bridge (bench/request_path/run.py); starts what `dockovn up`
# would if it is not running; writes bench/results/. `make bench BENCH_ARGS=--help` for options.
BENCH_OUT ?= bench/results
bench: bench-deps
	$(PY) -m bench.request_path.run --out $(BENCH_OUT) $(BENCH_ARGS)
	$(PY) -m bench.names.run --out $(BENCH_OUT) $(BENCH_NAMES_ARGS)
	$(PY) -m bench.failover.run --out $(BENCH_OUT) $(BENCH_FAILOVER_ARGS)
	$(PY) -m bench.policy.run --out $(BENCH_OUT) $(BENCH_POLICY_ARGS)

# Names under load (bench/names/load.py, not part of `bench`): a floor (a trivial responder), then 1,000 queries/s for 30 s to
# both hosts' name servers on the two-host harness, h1's dockerd restarted halfway; writes
# bench/results/names-load.*. `make bench-names-load BENCH_NAMES_LOAD_ARGS=--help` for options.
BENCH_NAMES_LOAD_ARGS ?=
bench-names-load: bench-deps
	$(PY) -m bench.names.load $(BENCH_NAMES_LOAD_ARGS)

# Scale (bench/scale/run.py, not part of `bench`): 2, 5 and 10 hosts in namespaces without
# dockerd (its plugin calls replayed), 1,000 container ports; writes bench/results/scale.*.
# About 11 minutes here; `make bench-scale BENCH_SCALE_ARGS=--help` for options.
BENCH_SCALE_ARGS ?=
bench-scale: bench-deps
	$(PY) -m bench.scale.run $(BENCH_SCALE_ARGS)

# What watching costs the request path (bench/observability/run.py, not part of `bench`):
# containers' driver calls with the metrics scraped and `dockovn ui` live, against
# neither, in one run; writes bench/results/observability.*. About 2 minutes.
BENCH_OBSERVABILITY_ARGS ?=
bench-observability: bench-deps
	$(PY) -m bench.observability.run $(BENCH_OBSERVABILITY_ARGS)

# Faults under churn (bench/faults/run.py, not part of `bench`): the fault suite
# (tests/multihost/test_faults.py) run --rounds N times (default 2, ~8 minutes each); writes bench/results/faults.*.
BENCH_FAULTS_ARGS ?=
bench-faults: bench-deps
	$(PY) -m bench.faults.run $(BENCH_FAULTS_ARGS)

# The request path's hot spots next to what they replaced (bench/request_path/hotpaths.py, ~1 minute).
bench-hotpaths: bench-deps
	$(PY) -m bench.request_path.hotpaths $(BENCH_HOTPATHS_ARGS)

# Underlay mode's tests run a real Neutron (Debian's neutron-server, ML2/OVN) on a private
# MariaDB; the driver itself needs neither (it talks to the user's OpenStack).
UNDERLAY_PKGS := neutron-server python3-neutron mariadb-server iptables

underlay-deps: deps
	@EXTRA_PKGS="$(UNDERLAY_PKGS)" bash scripts/install-deps.sh

# The observability tests: a real Prometheus scraping the harness' hosts, and `dockovn ui`
# in a real headless Chromium (Selenium drives Debian's chromedriver).
OBSERVABILITY_PKGS := prometheus chromium chromium-driver
observability-deps: deps
	@EXTRA_PKGS="$(OBSERVABILITY_PKGS)" bash scripts/install-deps.sh

# dockovn as a managed (v2) plugin of this checkout (README, "Managed plugin"): the rootfs
# from Debian's python3.X (the venv's X: 11 on Debian 12, 13 on Debian 13) and this checkout (build/plugin-py3.X, rebuilt only when the sources
# change), then `docker plugin create $(PLUGIN)` in the local dockerd.
PLUGIN ?= dockovn:latest
plugin-deps: deps
	@EXTRA_PKGS="python$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
	  bash scripts/install-deps.sh

plugin: plugin-deps
	$(PY) packaging/managed-plugin/build.py --create $(PLUGIN)

# Unit tests, then integration (real ovsdb-server + OVS), then e2e (real dockerd + OVN).
# The fixtures start what is not running and stop what they started.
test: deps bench-deps underlay-deps plugin-deps observability-deps
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests

test-unit: deps
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests/unit

test-integration: deps
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests/integration

test-e2e: deps
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests/e2e

test-multihost: deps
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests/multihost

test-underlay: underlay-deps
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests/underlay

# The suite on Debian 13 (Docker 26, OVN 25.03, OVS 3.5, Python 3.13), on this machine: a
# Debian 13 root (scripts/debian13/build-root.sh: made once, ~8 minutes, kept in
# /var/cache/dockovn/debian13 and remade when scripts/debian13/packages* change), entered
# afresh for each run with namespaces of its own (scripts/debian13/run.sh). Packages and
# the venv (.venv-debian13) are installed with this machine's network, the tests run
# without it. DEBIAN13_TESTS and DEBIAN13_SELECT pick what runs there: by default all but
# the benchmarks' smoke tests (they pass there: docs/releases.md; `make bench-releases` runs
# the benchmarks themselves on both) and 8 of the fault suite's 10 faults (the NB leader kill
# and freeze run: the Raft behaviour that changed with OVS 3.5; all ten pass there too); the
# soak runs 100 create/delete cycles there instead of 150 (the driver kills it survives are
# the same code on both; Debian 12 runs the longer one). That keeps CI (both releases) under
# an hour.
DEBIAN13_VENV := .venv-debian13
DEBIAN13_TESTS ?= tests/unit tests/integration tests/e2e tests/multihost tests/underlay
DEBIAN13_SOAK_CYCLES ?= 100
DEBIAN13_SELECT ?= not fault_under_churn or nb-leader-kill or nb-leader-freeze
test-debian13:
	@bash scripts/debian13/build-root.sh
	bash scripts/debian13/run.sh --host-net 'make deps plugin-deps VENV=$(DEBIAN13_VENV) && \
	  $(DEBIAN13_VENV)/bin/python packaging/managed-plugin/build.py'  # its pip needs the network
	bash scripts/debian13/run.sh 'DOCKOVN_TEST_LOGS=$(CURDIR)/build/debian13-test-logs \
	  DOCKOVN_SOAK_CYCLES=$(DEBIAN13_SOAK_CYCLES) $(DEBIAN13_VENV)/bin/python -m pytest -ra $(PYTEST_ARGS) \
	  -k "$(DEBIAN13_SELECT)" $(DEBIAN13_TESTS)'

# `make bench` on both releases, side by side (docs/releases.md): here (Debian 12) into
# bench/results/releases/debian12/, then in the Debian 13 root (as test-debian13 runs the
# suite) into bench/results/releases/debian13/, with the same BENCH_*ARGS; then
# bench/releases/compare.py writes bench/results/releases/releases.md.
RELEASES_OUT := bench/results/releases
bench-releases: bench-deps
	$(MAKE) bench BENCH_OUT=$(RELEASES_OUT)/debian12
	@bash scripts/debian13/build-root.sh
	bash scripts/debian13/run.sh --host-net 'make bench-deps VENV=$(DEBIAN13_VENV)'
	bash scripts/debian13/run.sh 'make bench VENV=$(DEBIAN13_VENV) BENCH_OUT=$(RELEASES_OUT)/debian13 \
	  BENCH_ARGS="$(BENCH_ARGS)" BENCH_NAMES_ARGS="$(BENCH_NAMES_ARGS)" \
	  BENCH_FAILOVER_ARGS="$(BENCH_FAILOVER_ARGS)" BENCH_POLICY_ARGS="$(BENCH_POLICY_ARGS)"'
	$(PY) -m bench.releases.compare --out $(RELEASES_OUT)

clean:
	rm -rf $(VENV) $(DEBIAN13_VENV) build *.egg-info src/*.egg-info
