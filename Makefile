# The two commands of the README: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VAR ?= var
KEYFILE := $(VAR)/encryption.key
DEVENV := $(VAR)/dev.env
PYTEST_ARGS ?=

.PHONY: run test bench install screenshots loadtest scaletest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

$(KEYFILE): | $(BIN)/python
	mkdir -p $(VAR)
	$(BIN)/python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" > $(KEYFILE)
	chmod 600 $(KEYFILE)

# The development settings, for `manage.py` typed in another terminal (manage.py reads it).
$(DEVENV): $(KEYFILE)
	printf 'DEBUG=1\nRAPPORT_OPEN_SIGNUP=1\nRAPPORT_ENCRYPTION_KEYS=%s\n' "$$(cat $(KEYFILE))" > $(DEVENV)
	chmod 600 $(DEVENV)

# Development mode: SQLite and the filesystem broker under var/, demo data, open sign-up.
run: install $(DEVENV)
	export DEBUG=1 RAPPORT_OPEN_SIGNUP=$${RAPPORT_OPEN_SIGNUP:-1} \
	  RAPPORT_ENCRYPTION_KEYS=$${RAPPORT_ENCRYPTION_KEYS:-$$(cat $(KEYFILE))} && \
	$(BIN)/python manage.py migrate --no-input && \
	{ [ -f var/.demo-seeded ] || { $(BIN)/python manage.py seed_demo && touch var/.demo-seeded; }; } && \
	$(BIN)/python scripts/run.py

# The real local Bluesky network of tests/bluesky_network (Node, pinned by its lockfile).
BSKY_STAMP := tests/bluesky_network/node_modules/.installed
$(BSKY_STAMP): tests/bluesky_network/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  (cd tests/bluesky_network && npm ci --no-audit --no-fund) && touch $(BSKY_STAMP); \
	else echo "npm not found: the real-Bluesky-network tests will skip (or fail with RAPPORT_REQUIRE_SERVICES=1)"; fi

test: install $(BSKY_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench $(if $(ONLY),--only $(ONLY),)

# 20 logged-in users for 2 minutes against gunicorn + PostgreSQL + Redis while
# an import and a sync run (needs redis-server and a local PostgreSQL; ~8 min).
loadtest: install
	$(BIN)/python -m bench.loadtest $(LOADTEST_ARGS)

# Scheduling and pacing across 3 worker "machines" (network namespaces), 2,000 accounts on
# fake platform hosts with their real limits, then faults. Needs root; not in CI (~25 min).
scaletest: install
	$(BIN)/python -m bench.scaletest $(SCALETEST_ARGS)

# The browser tests save screenshots of the main pages into tests/screenshots/.
screenshots:
	mkdir -p docs/screenshots && cp tests/screenshots/fold-*.png docs/screenshots/

clean:
	rm -rf var/broker var/cache
