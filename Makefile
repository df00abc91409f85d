# The two commands a fresh machine needs (see README):
#   make run    set up, generate the suite for the installed Transformers, run it, write reports
#   make test   set up and run hftestgen's own tests
VENV ?= .venv
BIN := $(VENV)/bin
JOBS ?= auto

.PHONY: setup run test check lint bench clean

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

check: setup
	$(BIN)/hftestgen check
	$(BIN)/ruff check src tests benchmarks generated
	$(BIN)/ruff format --check generated

bench: setup
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf reports .pytest_cache
