# Vicino: the two commands for a fresh machine are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# A CPU build of torch 2.13.0 lies on disk here; pip would otherwise fetch a multi-GB CUDA build.
WHEELS := $(wildcard /opt/wheels)
PIP_FLAGS := $(if $(WHEELS),--find-links $(WHEELS),)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test setup services lint format worker beat web compose-config clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Vicino needs $(PYTHON)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_FLAGS) -e '.[dev]'
	@touch $@

static/vendor/.installed: package.json package-lock.json scripts/vendor_static.sh
	bash scripts/vendor_static.sh
	@touch $@

setup: $(VENV)/.installed static/vendor/.installed

## demo: set up, migrate, seed the demo city, train and activate a small RALM, the DIN+ETA ranker and
## the two-tower recall, and serve it all on the embedded default (SQLite, in-process tasks, no services)
demo: setup
	@env -u DATABASE_URL -u REDIS_URL $(PY) manage.py migrate --no-input -v 0
	@env -u DATABASE_URL -u REDIS_URL $(PY) manage.py collectstatic --no-input -v 0
	@env -u DATABASE_URL -u REDIS_URL $(PY) manage.py seed_demo
	@env -u DATABASE_URL -u REDIS_URL $(PY) manage.py compute_features
	@env -u DATABASE_URL -u REDIS_URL $(PY) manage.py train_ralm --activate --encode --if-none-active
	@env -u DATABASE_URL -u REDIS_URL $(PY) manage.py train_ranker --activate --if-none-active
	@env -u DATABASE_URL -u REDIS_URL $(PY) manage.py train_recall --activate --if-none-active
	@echo ""
	@echo "  Vicino is running at http://$(HOST):$(PORT)/   (API docs: http://$(HOST):$(PORT)/api/docs/)"
	@echo "  Press Ctrl-C to stop."
	@env -u DATABASE_URL -u REDIS_URL $(PY) manage.py runserver --noreload $(HOST):$(PORT)

## test: set up, make sure PostgreSQL and Redis run, lint, and run the whole suite against them
test: setup services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest

services:
	@bash scripts/services.sh

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The production-like processes (they read DATABASE_URL, REDIS_URL, SECRET_KEY from the environment).
# Same command lines as docker-compose.yml: both come from config/processes.py.
web: setup
	$(PY) -m config.processes web
worker: setup
	$(PY) -m config.processes worker
beat: setup
	$(PY) -m config.processes beat

compose-config:
	docker-compose config --quiet

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
