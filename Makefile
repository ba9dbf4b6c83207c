# USHK: `make run` starts the whole local stack, `make test` runs every test.
# Both install what is missing first (tools/install.sh: pinned Python and npm packages).

SHELL := /bin/bash
VENV := $(CURDIR)/.venv
export PATH := $(CURDIR)/.tools/bin:$(VENV)/bin:$(PATH)
export SOLCX_BINARY_PATH := $(CURDIR)/.tools/solcx
PYTEST_ARGS ?=

.PHONY: help install compile run test test-contracts test-service bench demo clean

help:
	@echo "make run     install, start anvil, deploy USHK, start the reserve service (Ctrl-C stops)"
	@echo "make test    install and run every test (contracts and service, on anvil and databases)"
	@echo "make bench   gas and throughput benchmarks (bench/results)"
	@echo "make demo    signed deposits as the demo bank, against a running 'make run'"
	@echo "make compile, make install, make clean"

install:
	@tools/install.sh

compile: install
	@ape compile

run: compile
	@python -m scripts_run

test: compile
	python -m pytest $(PYTEST_ARGS)

bench: compile
	python bench/gas.py

clean:
	rm -rf .build contracts/.cache var .pytest_cache .hypothesis
