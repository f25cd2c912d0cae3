# The two commands of the README: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KEYFILE := var/encryption.key
PYTEST_ARGS ?=

.PHONY: run test bench install screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

$(KEYFILE): | $(BIN)/python
	mkdir -p var
	$(BIN)/python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" > $(KEYFILE)
	chmod 600 $(KEYFILE)

# Development mode: SQLite and the filesystem broker under var/, demo data, open sign-up.
run: install $(KEYFILE)
	export DEBUG=1 RAPPORT_OPEN_SIGNUP=$${RAPPORT_OPEN_SIGNUP:-1} \
	  RAPPORT_ENCRYPTION_KEYS=$${RAPPORT_ENCRYPTION_KEYS:-$$(cat $(KEYFILE))} && \
	$(BIN)/python manage.py migrate --no-input && \
	{ [ -f var/.demo-seeded ] || { $(BIN)/python manage.py seed_demo && touch var/.demo-seeded; }; } && \
	$(BIN)/python scripts/run.py

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench $(if $(ONLY),--only $(ONLY),)

# The browser tests save screenshots of the main pages into tests/screenshots/.
screenshots:
	mkdir -p docs/screenshots && cp tests/screenshots/fold-*.png docs/screenshots/

clean:
	rm -rf var/broker var/cache
