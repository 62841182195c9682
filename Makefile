# Two commands set up everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
# Debian packages the tests and demo run against (the Distribution registry, skopeo, htpasswd, debootstrap
# for the serving-image test's Python base, chromium to render `report`'s HTML headless and to load
# `modelpack ui`'s pages in its tests, wrk for the serving benchmark, GNU time for the benchmarks' peak RSS).
APT_PACKAGES := docker-registry skopeo apache2-utils debootstrap chromium wrk time

.PHONY: help install deps tools bench-registry lint unit test demo bench bench-serve clean

help:
	@echo "make demo   pack an example model, push it to a throwaway registry, pull it back by digest"
	@echo "            (KEEP=1: keep that registry running to browse it with the modelpack ui it prints)"
	@echo "make test   install everything, lint, run the whole test suite against a real registry"
	@echo "make bench  transfer benchmarks against the oras Go CLI, serving against kserve's ModelServer"
	@echo "make bench-serve  the serving benchmark alone"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Bytecode for our own sources: an editable install has none, and where PYTHONDONTWRITEBYTECODE is set
# (as on these machines) every run would compile them again (~40 ms of start-up).
install: $(VENV)/.installed
	@$(PY) -m compileall -q src

# System packages: installed with apt-get when missing (needs root, as in CI).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Reference OCI clients (oras, cosign, crane, and notation: Notary Project signatures beside ours) from
# Debian's archive, unpacked into .tools/bin.
tools:
	scripts/fetch-oci-tools $(TOOLS) oras cosign crane notation

# Debian stable's Distribution registry, for `make bench` only (tests use the system's): a newer Go
# build than Debian 12's, whose registry spends twice the CPU per GiB (see benchmarks/bench_registry.py).
# Without Debian's archive the bench still runs, against the system's registry (it prints which).
bench-registry:
	@FETCH_OCI_TOOLS_SUITE=stable scripts/fetch-oci-tools $(TOOLS)/stable docker-registry || \
	  echo "bench-registry: Debian stable's docker-registry could not be fetched; make bench measures against the system's"

lint: install
	$(VENV)/bin/ruff check src tests examples scripts $(wildcard benchmarks)
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest -q -m "not interop" tests/unit

# Coverage is measured in the test process and in every CLI child process it starts (coverage's
# `patch = subprocess`, see pyproject.toml); the total is printed at the end.
test: deps tools install lint
	@free=$$(df -P -BG "$${TMPDIR:-/tmp}" | awk 'NR==2 {print $$4+0}'); \
	echo "free disk for the tests' temporary files ($${TMPDIR:-/tmp}): $${free} GiB (a run needs about 6)"; \
	if [ "$$free" -lt 6 ]; then echo "warning: under 6 GiB free; tests will fail for want of disk, not code"; fi
	@rm -rf .coverage-data; mkdir -p .coverage-data; status=0; \
	MODELPACK_TOOLS_DIR=$(CURDIR)/$(TOOLS) $(PY) -m pytest -q --cov --cov-report= || status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest: no tests were collected"; exit 0; fi; \
	echo "coverage of src/modelpack (CLI child processes included): $$($(VENV)/bin/coverage report --format=total)%"; \
	exit $$status

# KEEP=1: keep the demo registry running at the end, for the `modelpack ui` command it prints.
demo: deps install
	MODELPACK_DEMO_KEEP=$(KEEP) $(PY) scripts/demo.py

bench: deps tools bench-registry install
	MODELPACK_TOOLS_DIR=$(CURDIR)/$(TOOLS) $(PY) benchmarks/run.py
	MODELPACK_TOOLS_DIR=$(CURDIR)/$(TOOLS) $(PY) benchmarks/serving.py

bench-serve: deps tools install
	MODELPACK_TOOLS_DIR=$(CURDIR)/$(TOOLS) $(PY) benchmarks/serving.py

clean:
	rm -rf $(VENV) $(TOOLS) .demo .bench .coverage-data build *.egg-info
