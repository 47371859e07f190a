# Bookwell: `make run` serves the demo clinic; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
# Test processes (pytest-xdist); a test module stays on one process, so its live servers are shared.
TEST_WORKERS ?= 2

.PHONY: run test stop seed bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# The local demo: embedded SQLite + embedded Redis, web + worker + cron.
run: export FLASK_APP := wsgi
run: export SHOW_DEMO_LOGINS ?= true
run: export SESSION_COOKIE_SECURE ?= false
run: export BOOKWELL_PORT := $(PORT)
run: export PROMETHEUS_MULTIPROC_DIR := $(CURDIR)/instance/metrics
run: export MAIL_BACKEND ?= file
run: export PUBLIC_URL ?= http://127.0.0.1:$(PORT)
run: $(VENV)/.runtime
	rm -rf instance/metrics && mkdir -p instance/metrics
	$(BIN)/flask db upgrade
	$(BIN)/flask demo seed
	@echo
	@echo "  Bookwell is starting at http://127.0.0.1:$(PORT)  (Ctrl-C stops it; 'make stop' stops Redis)"
	@echo
	$(BIN)/honcho start -f Procfile

# The whole suite: unit, integration (SQLite and PostgreSQL), workers, browser.
test: $(VENV)/.dev
	./scripts/install-system-deps.sh
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

stop: $(VENV)/.runtime
	$(BIN)/python -m app.embedded_redis stop

bench: $(VENV)/.dev
	@for script in bench/*.py; do [ -e "$$script" ] && $(BIN)/python "$$script"; done; true

clean:
	rm -rf $(VENV) .pytest_cache
