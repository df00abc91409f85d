# The two commands a fresh machine needs (see README):
#   make run    set up, generate the suite for the installed Transformers, run it, write reports
#   make test   set up and run hftestgen's own tests
VENV ?= .venv
BIN := $(VENV)/bin
JOBS ?= auto

.PHONY: setup run test test-oldest check lint bench clean

setup:
	@./scripts/setup.sh

run: setup
	$(BIN)/hftestgen generate --all
	$(BIN)/hftestgen run --all -n $(JOBS) --report reports

test: setup
	$(BIN)/hftestgen check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests
	$(BIN)/python -m pytest tests -n 2 -q

# The oldest supported Transformers release (pyproject's models extra) with hftestgen's own
# dependencies at their declared floors (typer, rich, jinja2, pytest, ...): its environment (made
# once, needs the package index; reused after), the CLI's usage-error tests, the whole registry
# derived, generated and checked there, and a sample of the suite run there. CI runs it after
# `make test`.
OLDEST ?= 4.50.3
OLDEST_SAMPLE ?= bert gpt2 llama mistral qwen2 clip convnext vit whisper
OLDEST_VENV = $$($(BIN)/hftestgen env list --format json | $(BIN)/python -c \
	"import json,sys; print([e['venv'] for e in json.load(sys.stdin) if e['transformers']=='$(OLDEST)'][0])")

test-oldest: setup
	$(BIN)/hftestgen env create --transformers $(OLDEST) --reuse --lowest-deps
	PYTHONPATH=$(CURDIR)/src $(OLDEST_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_cli_usage.py
	PYTHONPATH=$(CURDIR)/src $(OLDEST_VENV)/bin/python -m hftestgen generate --all --out build/oldest-suite
	PYTHONPATH=$(CURDIR)/src $(OLDEST_VENV)/bin/python -m hftestgen check --out build/oldest-suite
	$(BIN)/hftestgen run --transformers $(OLDEST) $(OLDEST_SAMPLE) -n 2 \
		--report build/oldest-report --history build/oldest-report/history.sqlite

check: setup
	$(BIN)/hftestgen check
	$(BIN)/ruff check src tests benchmarks generated
	$(BIN)/ruff format --check generated

bench: setup
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf reports .pytest_cache
