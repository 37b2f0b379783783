# Two commands on a fresh machine with only Python: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: start the hub on embedded PostgreSQL with a dev PKI, registry and tokens under var/
## (logs readable in a terminal; GATEWAY_LOG_FORMAT=json for the production format); Ctrl-C stops all it started
run: install
	GATEWAY_LOG_FORMAT=$${GATEWAY_LOG_FORMAT:-console} exec $(BIN)/appeals-gateway serve --dev

## test: the whole suite (embedded PostgreSQL unless DATABASE_URL is set)
test: install
	$(BIN)/pytest -q --durations=15

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/pull.py
	$(BIN)/python bench/attachment.py
	$(BIN)/python bench/roundtrip.py
	$(BIN)/python bench/scrape.py
	$(BIN)/python bench/soak.py
	$(BIN)/python bench/mail.py
	$(BIN)/python bench/signature.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/analytics.py
	$(BIN)/python bench/logs.py

clean:
	rm -rf $(VENV) var .pytest_cache
