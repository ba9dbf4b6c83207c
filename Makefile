# USHK: `make run` starts the whole local stack, `make test` runs every test.
# Both install what is missing first (tools/install.sh: pinned Python and npm packages).

SHELL := /bin/bash
VENV := $(CURDIR)/.venv
export PATH := $(CURDIR)/.tools/bin:$(VENV)/bin:$(PATH)
export SOLCX_BINARY_PATH := $(CURDIR)/.tools/solcx
PYTEST_ARGS ?=

.PHONY: help install compile abi storage-layout run demo fund lint test test-blocktime test-fast coverage bench mutants clean

help:
	@echo "make run     install, start anvil, deploy USHK, start the reserve service (Ctrl-C stops)"
	@echo "make test    install, make lint, every test (contracts, scripts, service; anvil, SQLite, PostgreSQL) under branch"
	@echo "             coverage (floor 90%), beside it the chain tests on an anvil mining a block a second and forge's invariants"
	@echo "make demo    signed deposits as the demo bank, against a running 'make run'"
	@echo "make fund TO=0x... AMOUNT=1250.00  fund an address through the deposit flow as the demo bank (local chain only)"
	@echo "make bench   gas, throughput, transparency-log, public-read and monitor-replay benchmarks (bench/*.json)"
	@echo "make lint    the static checks: import layers of service/, ruff, mypy over service/, Slither"
	@echo "make test-fast  the service tests that need no chain; make test-blocktime  only the block-time pass"
	@echo "make coverage   only the automine pass under branch coverage of service/ and scripts/ (floor 90%)"
	@echo "make mutants    mutmut over money, deposit ids, signing and quota (bench/mutants.json; floor 85% killed)"
	@echo "make compile; make abi; make storage-layout  record USHKStorage's layout after appending to it; make clean"
	@echo "make lint-contracts  Slither over the token and its proxy (slither.config.json); any finding fails"
	@echo "make test-invariants  forge's invariant campaign (tests/invariant; also a step of make test); make bench-invariants  the deep one"

install:
	@tools/install.sh

# ape-solidity copies the OpenZeppelin packages into contracts/.cache, with their compiled JSON
# under build/ (about 360 files). ape lists at most 500 files under contracts/, so those would
# crowd out our own; the sources are all that the compiler needs.
compile: install
	@ape compile
	@rm -rf contracts/.cache/*/*/build

# The ABI the service uses, after an interface change (the tests check it is current).
abi: compile
	@python tools/export_abi.py

# The recorded storage layout of the token's ERC-7201 namespace (contracts/storage-layout/USHK.json),
# after appending members to USHKStorage: the tests check it is current, and the tool refuses a
# layout that moves or changes a recorded member.
storage-layout: install
	@python tools/storage_layout.py --write

run: compile
	@python tools/run_stack.py

demo: install
	@python tools/demo.py

# Fund TO with AMOUNT US dollars of USHK on `make run`'s chain: a deposit confirmed by the demo bank
# (var/demo-bank.json), accepted and minted by the service, so its reconciler stays green.
fund: install
	@if [ -z "$(TO)" ] || [ -z "$(AMOUNT)" ]; then echo "usage: make fund TO=0xADDRESS AMOUNT=1250.00"; exit 2; fi
	@python -m service dev fund "$(TO)" "$(AMOUNT)"

# The static checks, each run even when one fails: the layering of service/ (pyproject.toml
# [tool.importlinter], docs/architecture.md), ruff's lint and format check over the repository's
# Python, mypy over service/ (pyproject.toml [tool.mypy]), and Slither over the contracts.
LINT_CHECKS := "lint-imports" "ruff check ." "ruff format --check ." "mypy service"
lint: install
	@status=0; \
	for check in $(LINT_CHECKS); do echo "$$check"; $$check || status=1; done; \
	$(MAKE) --no-print-directory lint-contracts || status=1; \
	exit $$status

# The static checks (`make lint`), then every test on anvil's automine under branch coverage of
# service/ and scripts/ (pyproject.toml [tool.coverage]: subprocesses included, the report printed,
# failing under its floor), and beside it three more processes: the tests marked blocktime again
# on an anvil that mines a block a second (tests/conftest.py; var/blocktime.log, printed after),
# the tests marked `beside` (pytest.ini: the token's own tests and CPU-heavy ones that need no
# coverage; USHK_TEST_BESIDE=1 skips them in the coverage pass, USHK_TEST_BESIDE=only runs them
# alone, on automine: var/beside.log) and forge's invariant campaign (test-invariants,
# var/invariants.log). The block-time pass mostly waits for blocks, so the four share the
# machine's cores. All run even when one fails; a pass selecting none of PYTEST_ARGS's tests
# (pytest's exit status 5) is no failure, and with PYTEST_ARGS (a part of the suite) the
# coverage floor does not apply.
COV_FLOOR = $(if $(strip $(PYTEST_ARGS)),--cov-fail-under=0,)

test: compile
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	mkdir -p var; rm -f .coverage .coverage.*; \
	echo "python -m pytest --cov $(PYTEST_ARGS), and beside it python -m pytest --block-time 1 $(PYTEST_ARGS) (var/blocktime.log), python -m pytest -m beside $(PYTEST_ARGS) (var/beside.log) and forge test (tests/invariant, var/invariants.log)"; \
	{ python -m pytest -p no:cacheprovider --block-time 1 $(PYTEST_ARGS) > var/blocktime.log 2>&1 || [ $$? -eq 5 ]; } & blocktime=$$!; \
	{ USHK_TEST_BESIDE=only python -m pytest -p no:cacheprovider $(PYTEST_ARGS) > var/beside.log 2>&1 || [ $$? -eq 5 ]; } & beside=$$!; \
	$(MAKE) --no-print-directory test-invariants > var/invariants.log 2>&1 & invariants=$$!; \
	USHK_TEST_BESIDE=1 python -m pytest --cov --cov-report=term $(COV_FLOOR) $(PYTEST_ARGS) || status=1; \
	wait $$blocktime || status=1; \
	echo "python -m pytest --block-time 1 $(PYTEST_ARGS)"; cat var/blocktime.log; \
	wait $$beside || status=1; \
	echo "python -m pytest -m beside $(PYTEST_ARGS) (automine, no coverage)"; cat var/beside.log; \
	wait $$invariants || status=1; \
	echo "forge test (tests/invariant)"; cat var/invariants.log; \
	exit $$status

# The automine pass under branch coverage alone (the first part of `make test`).
coverage: compile
	python -m pytest --cov --cov-report=term $(COV_FLOOR) $(PYTEST_ARGS)

# Only the block-time pass of `make test`.
test-blocktime: compile
	python -m pytest --block-time 1 $(PYTEST_ARGS)

test-fast: install
	python -m pytest -p no:ape_test tests/service --ignore=tests/service/chain $(PYTEST_ARGS)

# All run even when one misses a target; the exit status reports any miss.
bench: compile
	@status=0; python bench/gas.py || status=1; python bench/throughput.py || status=1; \
	python bench/transparency.py || status=1; python bench/public_reads.py || status=1; \
	python bench/monitor_replay.py || status=1; python bench/monitor_latency.py || status=1; \
	$(MAKE) --no-print-directory bench-invariants || status=1; exit $$status

# The invariant suite (tests/invariant, foundry.toml, docs/testing.md): the default profile's
# 3,000 runs of depth 30, and the deep profile's 10,000 runs of depth 100.
.PHONY: test-invariants bench-invariants
test-invariants: install
	forge test

bench-invariants: install
	FOUNDRY_PROFILE=deep forge test

# Mutation testing (pyproject.toml [tool.mutmut], docs/testing.md): mutmut, from a venv of its own
# (tools/install.sh --mutmut), mutates the modules where a wrong operator costs money and runs
# their fast unit tests against each mutant, from a fresh copy in mutants/ (its output in
# var/mutants.log); then tools/mutation_score.py prints killed / total with every mutant left
# alive and writes bench/mutants.json, failing under 85% killed. Not a step of `make test`.
MUTMUT_VENV := $(CURDIR)/.tools/mutmut-venv
mutants: install
	@tools/install.sh --mutmut
	@rm -rf mutants; mkdir -p var; start=$$(date +%s); \
	echo "mutmut run (output in var/mutants.log)"; \
	$(MUTMUT_VENV)/bin/mutmut run --max-children 2 > var/mutants.log 2>&1 || \
	  { tail -n 40 var/mutants.log; echo "mutmut run failed (var/mutants.log)"; exit 1; }; \
	$(MUTMUT_VENV)/bin/python tools/mutation_score.py --seconds $$(( $$(date +%s) - start ))

clean:
	rm -rf .build contracts/.cache var .pytest_cache .hypothesis mutants

# Slither over the token and its proxy, compiled by tools/solc with the settings of
# slither.config.json; the detectors it excludes and the findings disabled inline are explained in
# docs/token-design.md. Slither has a venv of its own (tools/install.sh --slither). Any finding fails.
.PHONY: lint-contracts
lint-contracts:
	@tools/install.sh --slither
	@status=0; for contract in contracts/USHK.sol contracts/USHKProxy.sol; do \
	  echo "slither $$contract"; .tools/slither-venv/bin/slither $$contract || status=1; \
	done; exit $$status
