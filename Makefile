VENV ?= .venv
PY := $(VENV)/bin/python
# one stamp per set of dependencies and pyproject.toml version: `make run` installs only what running the
# shop needs; `make test` (and bench, soak) add the dev tools (pytest, playwright, schemathesis, ...)
DEPS := $(shell cat pyproject.toml examples/reviews/pyproject.toml | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-$(DEPS)
DEV_STAMP := $(VENV)/.installed-dev-$(DEPS)

# pytest sessions side by side (pytest-xdist, one test file per session at a time: a module's shop stays in one)
TEST_WORKERS ?= 2
CHROMIUM := /usr/bin/chromium
WRK := /usr/bin/wrk

.PHONY: run test install install-dev clean bench soak test-cluster cluster-packages

$(PY):
	python3 -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	rm -f $(VENV)/.installed-run-* && touch $@

# the dev extras include everything running needs: the run stamp is made too
$(DEV_STAMP): pyproject.toml examples/reviews/pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q -e examples/reviews   # a third-party plugin (entry point only): its tests run in make test
	rm -f $(VENV)/.installed-dev-* $(VENV)/.installed-run-* && touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)

install-dev: $(DEV_STAMP)

run: install
	$(PY) run.py

# the browser tests drive Debian's chromium; as root we install it, otherwise we say how
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "The browser tests need Debian's chromium: sudo apt-get install -y chromium" >&2; exit 1; fi

test: install-dev $(CHROMIUM)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# the multi-host test (tests/cluster, docs/operations.md "Several machines") runs Debian's PostgreSQL 15,
# Mosquitto 2 and `ip netns`; as root we install what is missing, otherwise we say how
cluster-packages:
	@if [ -x /usr/lib/postgresql/15/bin/initdb ] && [ -x /usr/sbin/mosquitto ] && command -v ip >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 mosquitto iproute2 >/dev/null; \
	else echo "make test-cluster needs root and Debian's postgresql-15, mosquitto, iproute2" >&2; exit 1; fi

# not part of `make test` (root only, about a minute): .ci/run runs it after `make test`
test-cluster: install-dev cluster-packages
	ECOM_CLUSTER_TEST=1 $(PY) -m pytest -q tests/cluster $(PYTEST_ARGS)

# `make bench` drives Debian's wrk (a C load generator); as root we install it, otherwise we say how
$(WRK):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	else echo "make bench needs Debian's wrk: sudo apt-get install -y wrk" >&2; exit 1; fi

# ecom against bare aiohttp/asyncpg baselines, same nginx, one table of ratios (docs/performance.md);
# BENCH_ARGS="--quick" for 3 s runs
bench: install-dev $(WRK)
	$(PY) bench/run.py $(BENCH_ARGS)

# worker memory under 10 minutes of mixed load: RSS per worker, slope over the last 5 min, verdict, chart
# (docs/performance.md, "Memory"); SOAK_ARGS="--minutes 2" for a short look
soak: install-dev $(WRK)
	$(PY) bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var test-artifacts
