# The Data Engineering Sandbox. `make lab` to learn, `make test` to check everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
BIN    := $(VENV)/bin
# uv from PATH, else the project's own copy (tools/bootstrap-uv.sh installs it, no system pip)
UV_BOOTSTRAP := tools/bootstrap-uv.sh
PORT   ?= 8888

.PHONY: help env lab pipeline notebooks test test-all lint setup reset doctor bench bench-ingest bench-airflow-memory

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' \
		'{ name[NR] = $$1; text[NR] = $$2; if (length($$1) > w) w = length($$1) } \
		 END { for (i = 1; i <= NR; i++) printf "  make %-" w "s  %s\n", name[i], text[i] }'

env: $(VENV)/.synced ## create the Python environment from uv.lock

# --quiet: uv still prints its errors; the package list and the bytecode step stay silent
$(VENV)/.synced: pyproject.toml uv.lock
	@uv="$$($(UV_BOOTSTRAP))" && \
		echo "Creating the Python environment in $(VENV) (the first time takes a minute or two) ..." && \
		"$$uv" sync --frozen --compile-bytecode --quiet
	@touch $@

lab: env ## prepare the sandbox and start JupyterLab on 127.0.0.1:8888 (PORT=8890 for another port)
	@$(BIN)/lab jupyter --port $(PORT) $(JUPYTER_ARGS)

pipeline: env ## run lessons 01-04 as production steps (ARGS="--date 2026-11-05 --dirty 0.2")
	$(BIN)/lab pipeline $(ARGS)

notebooks: env ## re-execute the lessons on a fresh sandbox and save their outputs
	$(BIN)/lab notebooks

.PHONY: airflow airflow-cli
airflow: env ## Airflow on this machine: http://127.0.0.1:8080 (AIRFLOW_PORT=... to change), admin / admin
	$(BIN)/lab setup
	$(BIN)/lab airflow start $(if $(AIRFLOW_PORT),--port $(AIRFLOW_PORT))

airflow-cli: env ## the airflow command with make airflow's settings (ARGS="dags test notebook_pipeline 2026-11-05")
	$(BIN)/lab airflow cli $(ARGS)

setup: env ## prepare the sandbox state only
	$(BIN)/lab setup

doctor: env ## check every part of the sandbox and say how to fix it
	$(BIN)/lab doctor

reset: env ## delete the local state and saved runs (asks first)
	$(BIN)/lab reset

lint: env ## ruff over the code, sqlfluff over the dbt models (.sqlfluff)
	$(BIN)/ruff check lab tests bench dags
	$(BIN)/sqlfluff lint dbt/models dbt/macros --disable-progress-bar

# WORKERS=N: N pytest-xdist processes, a test file in one of them (prepared states are shared),
# the longest files first (tests/module_order.py; RECORD_SECONDS=1 measures them again).
# `make test` defaults to two: on a 2-core machine with the other core busy (stress-ng --cpu 1),
# its pytest run took 4m39s with two and 5m54s with one. `make test-all` defaults to three:
# on a quiet 2-core machine it took 11m48s with three and 13m06s with two (its slow tests often
# wait on subprocesses and servers; the third worker fills those waits).
# pytest's exit 5 means it selected no test: a failure, said in words (make shows only "Error 5").
test: WORKERS ?= 2
test-all: WORKERS ?= 3
PYTEST = status=0; $(BIN)/pytest \
	$(if $(filter-out 0 1,$(WORKERS)),-n $(WORKERS) --dist loadfile --no-loadscope-reorder) \
	$(if $(RECORD_SECONDS),--record-module-seconds) $(1) $(PYTEST_ARGS) || status=$$?; \
	if [ $$status = 5 ]; then echo "pytest selected no test with $(1) PYTEST_ARGS=\"$(PYTEST_ARGS)\";" \
	"check the filter (slow tests run only in make test-all)."; fi; exit $$status

test: env lint ## what CI runs: lint and every test not marked slow (two pytest workers; PYTEST_ARGS="-k doctor", WORKERS=1)
	@$(call PYTEST,-m "not slow")

test-all: env lint ## everything: lint, the quick tier and the slow end-to-end tests (three pytest workers unless WORKERS=1)
	@$(call PYTEST,)

bench: env ## warm benchmarks, never part of `make test` (COLD=1 adds fresh clone to JupyterLab)
	$(BIN)/python bench/pipeline.py $(if $(COLD),--cold)
	$(BIN)/python bench/airflow_dag_test.py

bench-ingest: env ## ingestion benchmark at 1M and 10M rows, writes bench/results/ingest.json (ARGS="--quick")
	$(BIN)/python bench/ingest.py $(ARGS)

bench-airflow-memory: env ## Airflow services' memory and healthcheck times (~4 min), writes bench/results/airflow_memory.json
	$(BIN)/python bench/airflow_memory.py $(ARGS)

.PHONY: grade progress
grade: env ## check an exercise in this sandbox: make grade N=1 (N=submitted/ grades a class's folder)
	@if [ -z "$(N)" ]; then echo "Which exercise? Fix: make grade N=1 (an exercise number), or N=submitted/ for a folder." >&2; exit 2; fi
	@$(BIN)/lab grade $(N) $(ARGS)

progress: env ## your exercises: lessons x tasks, done or not yet
	@$(BIN)/lab progress

# ---- the `stack` profile: Docker Compose (see docs/stack.md) ----
COMPOSE  ?= docker compose
ENV_FILE ?= .env
.PHONY: up down clean ps logs doctor-stack dotenv smoke

dotenv: env ## write .env from .env.example with fresh secrets (never overwrites an existing .env)
	@$(BIN)/python -m lab.cli.doctor dotenv --env-file $(ENV_FILE)

up: dotenv ## start the Docker Compose stack (checks Docker and .env first)
	@$(BIN)/python -m lab.cli.doctor quick --env-file $(ENV_FILE)
	$(COMPOSE) --env-file $(ENV_FILE) up -d --build --wait
	@$(BIN)/python -m lab.cli.doctor logins --env-file $(ENV_FILE)

down: ## stop the stack; data volumes stay
	$(COMPOSE) --profile celery down --remove-orphans

clean: ## stop the stack and DELETE its volumes (5 s to cancel; YES=1 skips the wait)
	@echo "This deletes every volume of the stack: warehouse, buckets, Airflow metadata, metrics, logs."
	@if [ "$(YES)" != 1 ]; then echo "Your folders (notebooks/, dags/, ...) stay. Ctrl-C within 5 s to cancel."; sleep 5; fi
	$(COMPOSE) --profile celery down --volumes --remove-orphans

smoke: env ## after `make up`: check every service end to end, one line a check
	$(BIN)/python docker/smoke.py --env-file $(ENV_FILE)

ps: ## list the stack's services with state and health
	$(COMPOSE) ps --all

logs: ## follow the stack's logs (SERVICE=airflow-scheduler for one)
	$(COMPOSE) logs --follow --tail=200 $(SERVICE)

doctor-stack: env ## check Docker, Compose, memory, disk, ports, .env and permissions before `make up`
	$(BIN)/lab doctor --stack

# No image registry reachable: stand-in images built from Debian packages (docs/stack.md,
# "Without a registry"). Not part of `make test`. Its own project name keeps its volumes apart.
OFFLINE_COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo docker compose || echo $(VENV)/lib/python3.11/site-packages/compose/docker-compose)
OFFLINE := --project-name data-engineering-sandbox-offline -f docker-compose.yml -f docker/offline/compose.override.yml
.PHONY: stack-offline stack-offline-down
stack-offline: dotenv ## no registry: build stand-ins from Debian packages, start postgres and prometheus on them
	docker/offline/build.sh
	$(OFFLINE_COMPOSE) --env-file $(ENV_FILE) $(OFFLINE) up -d --wait postgres prometheus
	$(OFFLINE_COMPOSE) --env-file $(ENV_FILE) $(OFFLINE) ps

stack-offline-down: ## stop `make stack-offline` and delete its volumes
	$(OFFLINE_COMPOSE) --env-file $(ENV_FILE) $(OFFLINE) down --volumes --remove-orphans
