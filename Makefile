# madoguchi: the two commands. `make demo` runs the whole system on embedded defaults; `make test` runs every test.
# Both install what they need: system packages with apt-get when run as root, Python packages from uv.lock.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
UV_VERSION := 0.13.8
# What WeasyPrint and MJ+ rendering need (domain.md §3), gettext to compile the UI's translations, and what
# pyscard (the agent's PC/SC card drivers) is built with from source on Linux.
DEMO_PACKAGES := fonts-ipamj-mincho libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0 gettext \
	libpcsclite-dev swig
# Tests also read PDFs back (poppler), drive Debian's Chromium, and talk to virtual cards through pcscd + vpcd.
TEST_PACKAGES := $(DEMO_PACKAGES) poppler-utils zbar-tools chromium pcscd vsmartcard-vpcd libccid
# pg_dump / pg_restore: the backup tests against PostgreSQL (.ci/run's second pass).
TEST_PACKAGES += postgresql-client
# axe-core (npm) is injected into the end-to-end tests' pages; Debian's Node and npm when npm is missing.
TEST_PACKAGES += $(if $(shell command -v npm),,nodejs npm)
TEST_VAR := $(CURDIR)/var/test

.PHONY: demo test lint typecheck system-demo system-test venv messages repertoire clean

demo: system-demo venv messages repertoire
	$(VENV)/bin/python -m madoguchi.demo

test: system-test venv messages repertoire node_modules/.installed
	rm -rf "$(TEST_VAR)" && mkdir -p "$(TEST_VAR)"
	$(MAKE) --no-print-directory lint typecheck
	MADOGUCHI_VAR_DIR="$(TEST_VAR)" $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy .

venv: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "madoguchi needs Python 3.11, found " + sys.version)'
	@# Debian's own Python needs python3-venv for `-m venv` (ensurepip).
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || .ci/system-packages python3-venv
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"
	# --inexact keeps uv itself, which is not in the lock file.
	UV_PROJECT_ENVIRONMENT=$(VENV) $(VENV)/bin/uv sync --quiet --locked --inexact --python $(VENV)/bin/python
	touch $@

messages: venv
	$(VENV)/bin/python manage.py compilemessages -v 0 --ignore '.venv/*' --ignore 'var/*'

# The MJ repertoire (madoguchi/moji) is generated from the cmap of Debian's IPAmj明朝, never committed.
repertoire: venv
	$(VENV)/bin/python -m madoguchi.moji.repertoire build

node_modules/.installed: package.json package-lock.json | system-test
	npm ci --no-audit --no-fund
	touch $@

system-demo:
	@.ci/system-packages $(DEMO_PACKAGES)

system-test:
	@.ci/system-packages $(TEST_PACKAGES)

clean:
	rm -rf var/ $(VENV)
