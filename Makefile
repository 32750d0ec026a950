# Developer verbs. `make run` and `make test` are the two set-up commands on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install dev system-deps run test lint format typecheck bench image image-test clean

install: $(VENV)/.runtime  ## install the service into .venv

$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

dev: system-deps $(VENV)/.dev  ## install the service, the dev tools and the test servers

system-deps:  ## Debian packages the tests use (Chromium, Redis, Prometheus); instant when present
	bash scripts/install-system-deps.sh

$(VENV)/.dev: pyproject.toml $(VENV)/.runtime
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: install  ## serve the bundled library on $(HOST):$(PORT)
	$(BIN)/chemagent serve --host $(HOST) --port $(PORT)

test: lint  ## lint, type-check and run every test with the coverage floor
	$(BIN)/pytest --cov --cov-report=term

lint: dev  ## ruff (lint + format check) and mypy strict
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/mypy

format: dev
	$(BIN)/ruff format src tests scripts benchmarks
	$(BIN)/ruff check --fix src tests scripts benchmarks

bench: dev  ## benchmarks; results go to docs/BENCHMARKS.md
	$(BIN)/python benchmarks/run.py

image:  ## build Dockerfile.prod with podman (a debootstrap base when python:3.11-slim can't be pulled)
	bash scripts/install-system-deps.sh image
	bash scripts/image/build.sh

image-test: image  ## run the image read-only as uid 10001: health, query, metrics, clean SIGTERM stop
	bash scripts/image/image_test.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
