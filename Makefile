# Praktika developer commands. See README.md.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
ROLE ?= admin
SUB ?=

.PHONY: run stop demo test test-fast test-chaos token lint sync asyncapi schemas gateway nginx chromium docs

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

sync: | $(UV)
	$(UV) sync --all-packages --frozen

run: sync nginx
	$(UV) run --frozen praktika-stack up

stop:
	$(UV) run --frozen praktika-stack down

# A new client's journey on the running local stack (start it with `make run` first), printed as
# a timeline: what she did, what each service did (events: type, producer, consumers), which
# messages arrived where, the sandbox pages to open. Its own people; under a minute.
demo: sync
	$(UV) run --frozen praktika-stack demo

# Every test, with coverage (the floor is [tool.coverage.report] fail_under; the figure is the
# last line; the per-file report is written to .local/coverage/index.html).
test: sync nginx chromium
	$(UV) run --frozen pytest -m "not chaos" --cov --cov-report=html:.local/coverage --cov-report=term:skip-covered

# The fast lane: domain rules, contracts and pure tests; no database, broker or service (seconds).
test-fast: sync
	$(UV) run --frozen pytest -q -m "not integration" -p no:cacheprovider

# Chaos (tests/chaos, docs/operations.md): faults under a steady booking load against a private
# PostgreSQL cluster and RabbitMQ node the test starts itself (never the shared ones); prints
# its figures (bench/RESULTS.md, "Chaos"). Three to five minutes.
test-chaos: sync nginx
	$(UV) run --frozen pytest -m chaos tests/chaos -s -p no:cacheprovider

# The gateway of the local run and of the end-to-end tests: Debian's nginx (not started as a
# system service; the stack runs its own).
nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { \
	  echo "installing nginx (Debian package nginx-light)"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) \
	    apt-get install -y -qq --no-install-recommends nginx-light >/dev/null; }

# Headless Chromium opens the sandbox's HTML pages in sandbox/tests/test_pages.py: Debian's package
# (Playwright cannot download its browsers here).
chromium:
	@command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || { \
	  echo "installing chromium (Debian package)"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) \
	    apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

token:
	@ENVIRONMENT=development JWT_SIGNING_KEYS_FILE=$(CURDIR)/.local/cabinet-signing-keys.json \
	  $(UV) run --frozen cabinet-admin issue-token --role $(ROLE) $(if $(SUB),--sub $(SUB),)

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy contracts/src libs/servicekit/src tools/devstack/src sandbox/src services/*/src
	$(UV) run --frozen lint-imports

# Regenerate what CI checks is current.
asyncapi: sync
	for s in booking content cabinet notify; do $(UV) run --frozen $$s-admin asyncapi; done

schemas: sync
	$(UV) run --frozen python -m contracts.snapshots write

# The event table of docs/architecture.md, from contracts/ and the services (CI checks it).
docs: sync
	$(UV) run --frozen praktika-stack catalogue

# docker-compose's nginx.conf from the one gateway template (CI checks it is current).
gateway: sync
	$(UV) run --frozen praktika-stack gateway
