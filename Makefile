# govbus: `make demo` and `make test` work on a fresh machine (Python 3.11, Java 17, Maven).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
GOVBUS := $(VENV)/bin/govbus
PYTEST_ARGS ?=

.PHONY: install broker-jars demo test test-unit test-integration test-cluster check lint typecheck contracts clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[faust,test,bench]'
	# quix-streams (a benchmark peer) caps confluent-kafka below our pin; it runs on 2.16.1.
	$(PY) -m pip install -q --no-deps quixstreams==3.28.1
	touch $@

install: $(VENV)/.installed

## Resolve Apache Kafka's jars from Maven Central into the cache (once).
broker-jars: install
	$(GOVBUS) broker provision

## The bus and its demo on embedded defaults (local broker + SQLite).
demo: broker-jars
	$(GOVBUS) demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

contracts: install
	$(VENV)/bin/lint-imports

check: lint typecheck contracts

## The whole suite: static checks, then every test on the real broker and databases.
## The cluster fault test needs the session's cluster: `make test-cluster` runs it.
## Two pytest-xdist workers, each with a session broker of its own (tests/conftest.py); a
## file's tests stay on one worker (its module fixtures are made once). PYTEST_XDIST= runs
## it in one process. --durations: every log names its slowest tests.
PYTEST_XDIST ?= -n 2 --dist loadfile
test: broker-jars check
	$(VENV)/bin/pytest $(PYTEST_XDIST) --durations=25 --ignore=$(CLUSTER_ONLY_TESTS) \
		$(PYTEST_ARGS)

## tests/unit/: no broker, no database server (under 60 s). On the two pytest-xdist workers
## of `make test` too; PYTEST_XDIST= runs it in one process (about 55 s on 2 cores).
test-unit: install
	$(VENV)/bin/pytest $(PYTEST_XDIST) tests/unit $(PYTEST_ARGS)

## tests/integration/: the real broker, PostgreSQL (when configured), tools.
test-integration: broker-jars
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

## The exactly-once and end-to-end tests again on a local cluster of three KRaft nodes
## (every topic on three replicas, two in sync; docs/reliability.md), and the broker fault test.
## tests/integration/bench/test_faults_cluster.py kills and pauses the session cluster's
## leader of ingest partition 0 (bench.faults, docs/reliability.md); only this run has one.
CLUSTER_ONLY_TESTS := tests/integration/bench/test_faults_cluster.py
CLUSTER_TESTS ?= tests/integration/topology/test_exactly_once.py \
	tests/integration/topology/test_processor.py \
	tests/integration/topology/test_bus_end_to_end.py \
	$(CLUSTER_ONLY_TESTS)
test-cluster: broker-jars
	GOVBUS_TEST_CLUSTER=3 $(VENV)/bin/pytest --durations=25 $(CLUSTER_TESTS) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
