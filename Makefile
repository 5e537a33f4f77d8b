# updraft — the README's commands.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# No debug info in test builds: a third faster to build on two cores.
export CARGO_PROFILE_DEV_DEBUG ?= 0

.PHONY: test lint fmt bench demo

# The AWS adapters are tested against a moto server (pinned; 5.2.1 sends
# numbers the Rust SDK rejects) installed in a virtualenv of the clone.
MOTO_VERSION := 5.2.5
MOTO_VENV := .venv-moto
MOTO_STAMP := $(MOTO_VENV)/.moto-$(MOTO_VERSION)

## test: formatting, lints and every test of the workspace (the end-to-end
## tests run the real binaries, so they are built first)
test: lint $(MOTO_STAMP)
	$(CARGO) build --locked -p updraft-cli -p updraft-planner -p updraft-dispatcher -p updraft-recorder
	UPDRAFT_MOTO_PYTHON=$(CURDIR)/$(MOTO_VENV)/bin/python $(CARGO) test --workspace --locked

$(MOTO_STAMP):
	python3 -m venv $(MOTO_VENV)
	$(MOTO_VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'
	touch $@

## lint: rustfmt check and clippy with warnings as errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## fmt: format the code
fmt:
	$(CARGO) fmt --all

## bench: the speed targets (criterion for the core; the release binary for
## local-mode throughput; AWS API calls per attempt against moto); figures
## are printed
bench: $(MOTO_STAMP)
	$(CARGO) bench --locked -p updraft-core
	UPDRAFT_MOTO_PYTHON=$(CURDIR)/$(MOTO_VENV)/bin/python $(CARGO) bench --locked -p updraft-aws --bench api_calls
	$(CARGO) build --locked --release -p updraft-cli
	UPDRAFT_BIN=$(CURDIR)/target/release/updraft $(CARGO) bench --locked -p updraft-e2e --bench throughput

## demo: build, run the ML example in the foreground, show the finished run
demo:
	$(CARGO) build --locked -p updraft-cli
	./target/debug/updraft validate
	./target/debug/updraft run ml_pipeline
	./target/debug/updraft runs ml_pipeline --limit 3
