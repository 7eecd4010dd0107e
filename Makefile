# The verbs a newcomer needs. `make demo` and `make test` work on a fresh machine with Rust and
# Python 3: everything else (moto in a project virtualenv) is installed here.

SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
export MOTO_SERVER_BIN := $(abspath $(VENV)/bin/moto_server)

.PHONY: help venv build-debug lint test demo emulator fmt clippy clean

help:
	@echo "make demo      run one call's life through the real function binaries against local Salesforce and AWS emulators"
	@echo "make test      install what the tests need, then run every test (unit, end-to-end, the demo)"
	@echo "make emulator  run the Salesforce emulator on :8787 for trying flows by hand"
	@echo "make venv      create .venv with the local AWS emulator (moto server)"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# One feature set, one build of the whole workspace: tests and the demo run the real binaries.
build-debug:
	$(CARGO) build --workspace --bins --quiet

# The SAM template, checked offline.
lint: venv
	$(VENV)/bin/cfn-lint template.yaml

# Ends with one summary line (`Tests: N passed, N failed`) over every test binary.
test: venv lint build-debug
	@mkdir -p target
	@set -o pipefail; $(CARGO) test --workspace 2>&1 | tee target/test-output.log
	@awk '/^test result:/ { passed += $$4; failed += $$6 } END { printf "Tests: %d passed, %d failed\n", passed, failed }' target/test-output.log

demo: venv build-debug
	$(CARGO) run --quiet -p local-stack --bin scv-demo

emulator: build-debug
	$(CARGO) run --quiet -p sf-emulator --bin sf-emulator -- --port 8787

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets --quiet

clean:
	$(CARGO) clean
	rm -rf $(VENV)
