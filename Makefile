# Praktika developer commands. See README.md.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
ROLE ?= admin
SUB ?=

.PHONY: run stop test token lint sync asyncapi schemas

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

sync: | $(UV)
	$(UV) sync --all-packages --frozen

run: sync
	$(UV) run --frozen python scripts/stack.py up

stop:
	$(UV) run --frozen python scripts/stack.py down

test: sync
	$(UV) run --frozen pytest

token:
	@JWT_SIGNING_KEYS_FILE=$(CURDIR)/.local/cabinet-signing-keys.json \
	  $(UV) run --frozen cabinet-admin issue-token --role $(ROLE) $(if $(SUB),--sub $(SUB),)

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy contracts/src libs/servicekit/src

# Regenerate what CI checks is current.
asyncapi: sync
	for s in booking content cabinet notify; do $(UV) run --frozen $$s-admin asyncapi; done

schemas: sync
	$(UV) run --frozen python -m contracts.snapshots write
