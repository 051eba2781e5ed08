# One-command build, run, test and benchmark on a fresh Debian/Ubuntu machine.
# `make deps` installs what is missing (apt-get); every other target depends on it.

SHELL        := /bin/bash
SWIFT        ?= swift
CONFIG       ?= config.json
# Empty HOST/PORT keep config.json's server.host / server.port (default 127.0.0.1:8080).
HOST         ?=
PORT         ?=
VENV         := .venv
# docker-compose (v1, the one on PyPI) checks deploy/compose.yaml offline; its pins clash with
# the SDKs', so it has a virtualenv of its own.
COMPOSE_VENV := .venv-compose
REPLICAS     ?= 3
MOCK         ?=
DEBUG_BIN    := .build/debug
RELEASE_BIN  := .build/release
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the build, the tests and the benchmarks need.
APT_PACKAGES := libhiredis-dev pkg-config redis-server redis-tools python3 python3-venv python3-pip nginx-light wrk openssl

.PHONY: all deps build build-release run cluster test test-swift test-python bench profile demo venv compose-venv clean

all: build

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "make deps: Swift 6 toolchain not found (swift.org/install)"; exit 1; }

build: deps
	$(SWIFT) build

build-release: deps
	$(SWIFT) build -c release

# Builds and starts the gateway on config.json (in-memory store unless the config or
# REDIS_URL names a Redis).
run: build
	$(DEBUG_BIN)/gateway --config $(CONFIG) $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

# REPLICAS gateway processes on one Redis behind nginx, all on loopback, without Docker; Ctrl-C
# stops them all. MOCK=1 uses demo/config.json against a local mock-provider (no keys needed).
cluster: build
	python3 deploy/local/cluster.py --replicas $(REPLICAS) --bin $(DEBUG_BIN) \
	  $(if $(MOCK),--mock --config demo/config.json,--config $(CONFIG))

# The test virtualenv holds the official SDKs the integration tests use as real clients.
$(VENV)/.installed: tests/python/requirements.txt | deps
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt
	touch $@

venv: $(VENV)/.installed

# docker-compose 1.29.2 pins PyYAML < 6, and PyYAML 5.4's source only builds with Cython < 3
# (there is no wheel for this Python): build it without isolation against an older Cython.
$(COMPOSE_VENV)/.installed: | deps
	python3 -m venv $(COMPOSE_VENV)
	$(COMPOSE_VENV)/bin/pip install -q --disable-pip-version-check "cython<3" wheel setuptools
	$(COMPOSE_VENV)/bin/pip install -q --disable-pip-version-check --no-build-isolation "pyyaml==5.4.1"
	$(COMPOSE_VENV)/bin/pip install -q --disable-pip-version-check docker-compose==1.29.2
	touch $@

compose-venv: $(COMPOSE_VENV)/.installed

# Unit tests, then integration tests against throwaway redis-server processes that the test
# harness starts on free loopback ports and stops afterwards (never skipped), then the Python
# tests with the official SDKs against real gateway and mock-provider processes (nginx and the
# local cluster launcher among them), and the offline checks of the deploy/ recipes.
test: deps venv compose-venv
	$(SWIFT) build --build-tests
	REDIS_SERVER_BIN=$$(command -v redis-server) $(SWIFT) test --skip-build
	MOCK_PROVIDER_BIN=$(DEBUG_BIN)/mock-provider GATEWAY_BIN=$(DEBUG_BIN)/gateway \
	  REDIS_SERVER_BIN=$$(command -v redis-server) NGINX_BIN=$$(command -v nginx || echo /usr/sbin/nginx) \
	  DOCKER_COMPOSE_BIN=$(CURDIR)/$(COMPOSE_VENV)/bin/docker-compose \
	  $(VENV)/bin/python -m pytest tests/python -q

# Starts mock-provider and the gateway (in-memory store) with demo/config.json, sends a few
# requests and prints the answers and /v1/usage. Needs no provider keys and no network.
demo: build
	python3 demo/run_demo.py

# Release build, then every benchmark; raw results in bench/results/, tables in docs/benchmarks.md.
bench: build-release
	python3 bench/run_bench.py --bin $(RELEASE_BIN)

# Where the gateway's CPU goes at concurrency 1 (perf and wrk; see docs/benchmarks.md).
profile: build-release
	python3 bench/profile.py --bin $(RELEASE_BIN)

clean:
	rm -rf .build $(VENV) $(COMPOSE_VENV)
