# updraft — the README's commands.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# No debug info in test builds: a third faster to build on two cores.
export CARGO_PROFILE_DEV_DEBUG ?= 0
# A one-shot CI build gains nothing from incremental state but gigabytes of disk.
ifdef CI
export CARGO_INCREMENTAL ?= 0
endif

.PHONY: test test-build check lint infra-lint cdk-test cdk-template fmt bench fuzz demo lambdas deploy upload-specs screenshots

# The AWS adapters are tested against a moto server (pinned; 5.2.1 sends
# numbers the Rust SDK rejects) installed in a virtualenv of the clone.
MOTO_VERSION := 5.2.5
# The deploy rehearsal translates the SAM template offline, as `sam deploy`
# has CloudFormation do, with the SAM translator in the same virtualenv.
SAM_TRANSLATOR_VERSION := 1.115.0
MOTO_VENV := .venv-moto
MOTO_STAMP := $(MOTO_VENV)/.moto-$(MOTO_VERSION)-sam-$(SAM_TRANSLATOR_VERSION)

# The template's linters, pinned, in a virtualenv of the clone.
CFN_LINT_VERSION := 1.58.0
CHECKOV_VERSION := 3.3.30
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.infra-$(CFN_LINT_VERSION)-$(CHECKOV_VERSION)

# cargo-lambda (with zig, to cross-compile for arm64) and the SAM CLI.
CARGO_LAMBDA_VERSION := 1.9.2
SAM_VERSION := 1.170.0
LAMBDA_VENV := .venv-lambda
LAMBDA_STAMP := $(LAMBDA_VENV)/.cargo-lambda-$(CARGO_LAMBDA_VERSION)
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.sam-$(SAM_VERSION)
FUNCTIONS := -p updraft-planner -p updraft-dispatcher -p updraft-recorder -p updraft-dashboard
STACK ?= updraft

# The dashboard's browser tests drive Debian's headless Chromium through
# chromedriver (system packages; sudo when not root).
CHROMEDRIVER := /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_INSTALL := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium chromium-driver

TIMED := scripts/timed
SUBMAKE := $(MAKE) --no-print-directory

## test: formatting, lints (code and template) and every test of the
## workspace (the end-to-end tests run the real binaries, built first);
## prints how long each step took
test:
	@rm -f target/timings.txt
	$(TIMED) setup $(SUBMAKE) $(MOTO_STAMP) $(CHROMEDRIVER)
	$(TIMED) lint $(SUBMAKE) lint
	$(TIMED) infra-lint $(SUBMAKE) infra-lint
	$(TIMED) cdk-test $(SUBMAKE) cdk-test
	$(TIMED) build $(SUBMAKE) test-build
	$(TIMED) cargo-test env UPDRAFT_MOTO_PYTHON=$(CURDIR)/$(MOTO_VENV)/bin/python $(CARGO) test --workspace --locked
	@$(TIMED) --report

# The binaries the end-to-end tests run, built with the features `cargo test
# --workspace` resolves (its tests' dev-dependencies included), so the test
# step reuses every dependency instead of building the AWS SDK a second time.
test-build:
	$(CARGO) build --locked --workspace --bins --tests

## check: the inner loop (formatting, clippy, and the core, engine and local
## tests; under two minutes once built)
check:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test --locked -p updraft-core -p updraft-engine -p updraft-local

$(CHROMEDRIVER):
	$(APT_INSTALL) || ($(SUDO) apt-get update -q && $(APT_INSTALL))

## screenshots: the browser tests, keeping their screenshots in docs/images/
screenshots: $(CHROMEDRIVER)
	$(CARGO) build --locked -p updraft-cli
	UPDRAFT_UPDATE_SCREENSHOTS=1 $(CARGO) test --locked -p updraft-e2e --test browser

$(MOTO_STAMP):
	python3 -m venv $(MOTO_VENV)
	$(MOTO_VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)' 'aws-sam-translator==$(SAM_TRANSLATOR_VERSION)'
	touch $@

## infra-lint: cfn-lint and checkov on infra/template.yaml (no network:
## checkov's --skip-download)
infra-lint: $(INFRA_STAMP)
	$(INFRA_VENV)/bin/cfn-lint infra/template.yaml
	$(INFRA_VENV)/bin/checkov --file infra/template.yaml --framework cloudformation --skip-download --quiet --compact

$(INFRA_STAMP):
	python3 -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/pip install --quiet --disable-pip-version-check 'cfn-lint==$(CFN_LINT_VERSION)' 'checkov==$(CHECKOV_VERSION)'
	touch $@

## cdk-test: build the CDK construct (infra/cdk, pinned in its
## package-lock.json) and run its assertion tests, offline once installed;
## the deploy rehearsal then creates the stack it synthesizes
CDK_DIR := infra/cdk
CDK_STAMP := $(CDK_DIR)/node_modules/.installed
cdk-test: $(CDK_STAMP)
	cd $(CDK_DIR) && npm test

$(CDK_STAMP): $(CDK_DIR)/package-lock.json
	cd $(CDK_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## cdk-template: the SAM template translated, as the CDK construct includes
## it (make test fails when it is not up to date)
CDK_TEMPLATE_REQUEST := {"template": "infra/template.yaml", "parameters": {}, "code": {"PlannerFunction": {"bucket": "updraft-code", "key": "PlannerFunction.zip"}, "DispatcherFunction": {"bucket": "updraft-code", "key": "DispatcherFunction.zip"}, "RecorderFunction": {"bucket": "updraft-code", "key": "RecorderFunction.zip"}, "DashboardFunction": {"bucket": "updraft-code", "key": "DashboardFunction.zip"}}}
cdk-template: $(MOTO_STAMP)
	echo '$(CDK_TEMPLATE_REQUEST)' | $(MOTO_VENV)/bin/python tests/moto/translate.py > $(CDK_DIR)/template.json

# The functions are built for size: optimized for size, one link-time
# optimization over every crate, no symbols, and linked at a fixed address
# (a position-independent binary carries 1.9 MB of relocations). Panics
# still unwind: the YAML parser's are caught and made syntax errors.
LAMBDA_BUILD_ENV := CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_LTO=fat \
	CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_STRIP=symbols \
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS=-Clink-arg=-no-pie

## lambdas: the four functions as arm64 bootstrap zips in target/lambda/,
## and each binary's size
lambdas: $(LAMBDA_STAMP)
	rustup target add aarch64-unknown-linux-gnu
	PATH=$(CURDIR)/$(LAMBDA_VENV)/bin:$$PATH $(LAMBDA_BUILD_ENV) cargo lambda build --locked --release --arm64 --output-format zip $(FUNCTIONS)
	python3 scripts/function-sizes $${CARGO_TARGET_DIR:-target}/lambda

$(LAMBDA_STAMP):
	python3 -m venv $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/pip install --quiet --disable-pip-version-check 'cargo-lambda==$(CARGO_LAMBDA_VERSION)'
	touch $@

## deploy: sam build and deploy the stack (guided the first time, when
## infra/samconfig.toml does not exist yet)
deploy: $(LAMBDA_STAMP) $(SAM_STAMP)
	rustup target add aarch64-unknown-linux-gnu
	cd infra && PATH=$(CURDIR)/$(LAMBDA_VENV)/bin:$(CURDIR)/$(SAM_VENV)/bin:$$PATH SAM_CLI_TELEMETRY=0 $(LAMBDA_BUILD_ENV) sam build
	cd infra && if [ -f samconfig.toml ]; then \
		PATH=$(CURDIR)/$(SAM_VENV)/bin:$$PATH SAM_CLI_TELEMETRY=0 sam deploy; \
	else \
		PATH=$(CURDIR)/$(SAM_VENV)/bin:$$PATH SAM_CLI_TELEMETRY=0 sam deploy --guided --stack-name $(STACK) --capabilities CAPABILITY_IAM; \
	fi

$(SAM_STAMP):
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check 'aws-sam-cli==$(SAM_VERSION)'
	touch $@

## upload-specs: validate dag-specs/ and upload it to the stack's bucket
upload-specs:
	$(CARGO) build --locked -p updraft-cli
	./target/debug/updraft deploy dag-specs/ --backend aws --stack $(STACK)

## lint: rustfmt check and clippy with warnings as errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## fmt: format the code
fmt:
	$(CARGO) fmt --all

## bench: the speed targets (criterion for the core and the dashboard's
## pages; the release binary for
## local-mode throughput; AWS API calls per attempt against moto; the
## functions' arm64 binaries, built as `make lambdas` does); figures are
## printed
bench: $(MOTO_STAMP)
	$(SUBMAKE) lambdas
	$(CARGO) bench --locked -p updraft-core
	$(CARGO) bench --locked -p updraft-ui --bench render
	UPDRAFT_MOTO_PYTHON=$(CURDIR)/$(MOTO_VENV)/bin/python $(CARGO) bench --locked -p updraft-aws --bench api_calls
	UPDRAFT_MOTO_PYTHON=$(CURDIR)/$(MOTO_VENV)/bin/python $(CARGO) bench --locked -p updraft-aws --bench kinds
	$(CARGO) build --locked --release -p updraft-cli -p updraft-dashboard
	UPDRAFT_BIN=$(CURDIR)/target/release/updraft $(CARGO) bench --locked -p updraft-e2e --bench throughput
	UPDRAFT_MOTO_PYTHON=$(CURDIR)/$(MOTO_VENV)/bin/python UPDRAFT_BIN=$(CURDIR)/target/release/updraft $(CARGO) bench --locked -p updraft-e2e --bench dashboard

## fuzz: each fuzz target under fuzz/ for FUZZ_SECONDS (default 60) with
## cargo-fuzz on the nightly toolchain (an input taking over 1 s, or one
## allocation over 256 MB, fails it, as a crash does; the process as a whole
## may take libFuzzer's default 2 GB: under the address sanitizer the
## template target's grew past 700 MB in four minutes with under 30 MB of
## live heap), from the seeds in fuzz/corpus/ (which
## make test runs as regression tests); a crash stops it, its input saved in
## fuzz/artifacts/ (add it to fuzz/corpus/<target>/ as crash-<what> once fixed)
FUZZ_SECONDS ?= 60
# The event targets build the AWS crate (feature `aws`); the others only core.
FUZZ_CORE_TARGETS := spec template
FUZZ_AWS_TARGETS := state_change s3_event sqs_body
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for target in $(FUZZ_CORE_TARGETS) $(FUZZ_AWS_TARGETS); do \
		features=$$(case " $(FUZZ_AWS_TARGETS) " in *" $$target "*) echo "--features aws";; esac); \
		mkdir -p target/corpus/$$target; \
		$(CARGO) +nightly fuzz run $$features $$target target/corpus/$$target corpus/$$target -- -max_total_time=$(FUZZ_SECONDS) -timeout=1 -malloc_limit_mb=256 -rss_limit_mb=2048 || exit 1; \
	done

## demo: build, run the ML example in the foreground, show the finished run
demo:
	$(CARGO) build --locked -p updraft-cli
	./target/debug/updraft validate
	./target/debug/updraft run ml_pipeline
	./target/debug/updraft runs ml_pipeline --limit 3
