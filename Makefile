# ModelFleet: `make demo` runs the operator on a local cluster; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test unit integration testbed cluster crds install-manifests lock lint typecheck bench soak check-engine-flags clean help

help:
	@echo "make demo     - build what is missing, start the local cluster with simulated GPUs, run the operator on examples"
	@echo "make test     - every test (unit, then integration on the local control plane)"
	@echo "make unit     - the pure-core tests only (no cluster)"
	@echo "make testbed  - build the control-plane binaries into the cache (done automatically by test/demo)"
	@echo "make cluster  - start the local cluster and keep it running"
	@echo "make crds     - regenerate crds/ from the API models (and the chart's CRD, install.yaml)"
	@echo "make lint     - ruff (lint and format), mypy and import-linter"
	@echo "make bench    - fleet-scale benchmarks that print tables and write docs/BENCHMARKS.md (BENCH_ARGS=--smoke for a quick run)"
	@echo "make soak     - fault injection at soak strength (operator kills mid-rollout, API server/etcd faults, 400 generated specs): ~12 min"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

testbed:
	testbed/build.sh

demo: $(STAMP) testbed
	$(PY) -m testbed.demo $(DEMO_ARGS)

test: $(STAMP) testbed lint
	$(PY) -m pytest tests -q -p no:cacheprovider

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

integration: $(STAMP) testbed
	$(PY) -m pytest tests/integration tests/e2e -q

cluster: $(STAMP) testbed
	$(PY) -m testbed.cluster up --keep

crds: $(STAMP) testbed
	$(VENV)/bin/modelfleet crd -o crds
	$(PY) hack/gen_install_manifest.py

install-manifests: $(STAMP) testbed
	$(PY) hack/gen_install_manifest.py

lock: $(STAMP)
	$(VENV)/bin/pip-compile --generate-hashes --allow-unsafe --strip-extras --build-deps-for wheel \
	  --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

lint: $(STAMP)
	$(VENV)/bin/ruff check operator tests testbed bench hack
	$(VENV)/bin/ruff format --check operator tests testbed bench hack
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

check-engine-flags: $(STAMP)
	$(PY) hack/check_engine_flags.py $(if $(TGI_DOC),--tgi-doc $(TGI_DOC))

soak: $(STAMP) testbed
	MODELFLEET_SOAK=1 $(PY) -m pytest tests/reliability -q -s -p no:cacheprovider

bench: $(STAMP) testbed
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
