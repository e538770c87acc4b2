# The Data Engineering Sandbox. `make lab` to learn, `make test` to check everything.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PORT   ?= 8888
# JupyterLab refuses to run as root unless told; a container or CI machine often is root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help env lab pipeline notebooks test lint setup reset doctor bench

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

env: $(VENV)/.synced ## create the Python environment from uv.lock

$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || { echo "Installing uv with pip ..."; python3 -m pip install --quiet uv; }
	$(UV) sync --frozen --compile-bytecode
	@touch $@

lab: env ## prepare the sandbox and open JupyterLab on 127.0.0.1:$(PORT)
	$(BIN)/lab setup
	@echo "Starting JupyterLab: open the URL with the token printed below."
	$(BIN)/jupyter lab --ip=127.0.0.1 --port=$(PORT) $(ROOT_FLAG) $(JUPYTER_ARGS) \
		--ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks/00_welcome.ipynb

pipeline: env ## run lessons 01-04 as production steps (ARGS="--date 2026-11-05 --dirty 0.2")
	$(BIN)/lab pipeline $(ARGS)

notebooks: env ## re-execute the lessons on a fresh sandbox and save their outputs
	$(BIN)/lab notebooks

setup: env ## prepare the sandbox state only
	$(BIN)/lab setup

doctor: env ## check every part of the sandbox and say how to fix it
	$(BIN)/lab doctor

reset: env ## delete the local state and saved runs (asks first)
	$(BIN)/lab reset

lint: env ## ruff over the code
	$(BIN)/ruff check lab tests bench

test: env lint ## run the whole test suite
	$(BIN)/pytest

bench: env ## benchmarks (never part of `make test`)
	$(BIN)/python bench/pipeline.py
