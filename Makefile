# The two commands: `make run` and `make test`. Both set up .venv first when it is missing or
# older than the requirements files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= sqlite:///$(AIRFLOW_HOME)/airflow.db
export PERF_ARTIFACTS_URL ?= file://$(CURDIR)/artifacts
PROFILE ?= smoke

.PHONY: setup run run-load run-cli test test-fast coverage airflow airflow-celery ui-screenshots clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt
	@touch $@

$(AIRFLOW_HOME)/airflow.db: $(STAMP)
	@mkdir -p $(AIRFLOW_HOME)
	$(VENV)/bin/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/db-migrate.log; exit 1)

# The daily pipeline once, through Airflow (dags test: in-process, no scheduler needed).
run: $(STAMP) $(AIRFLOW_HOME)/airflow.db
	@echo "Running DAG perf_daily (profile $(PROFILE)) through Airflow; task log: $(AIRFLOW_HOME)/make-run.log"
	@$(VENV)/bin/airflow dags test perf_daily -c '{"profile": "$(PROFILE)"}' > $(AIRFLOW_HOME)/make-run.log 2>&1; \
	  rc=$$?; if [ $$rc -ne 0 ]; then grep -E "ERROR|error|Error" $(AIRFLOW_HOME)/make-run.log | tail -20; \
	  echo "perf_daily FAILED (exit $$rc); full log: $(AIRFLOW_HOME)/make-run.log"; fi; \
	  $(PY) -m perf_tasks show perf_daily; rc2=$$?; [ $$rc -eq 0 ] && [ $$rc2 -eq 0 ]

# The weekly load DAG once (all four scenarios; PROFILE=smoke: about a minute), through Airflow.
run-load: $(STAMP) $(AIRFLOW_HOME)/airflow.db
	@echo "Running DAG perf_load_weekly (profile $(PROFILE)) through Airflow; task log: $(AIRFLOW_HOME)/make-run-load.log"
	@$(VENV)/bin/airflow dags test perf_load_weekly -c '{"profile": "$(PROFILE)"}' > $(AIRFLOW_HOME)/make-run-load.log 2>&1; \
	  rc=$$?; if [ $$rc -ne 0 ]; then grep -E "ERROR|error|Error" $(AIRFLOW_HOME)/make-run-load.log | tail -20; \
	  echo "perf_load_weekly FAILED (exit $$rc); full log: $(AIRFLOW_HOME)/make-run-load.log"; fi; \
	  $(PY) -m perf_tasks show perf_load_weekly; rc2=$$?; [ $$rc -eq 0 ] && [ $$rc2 -eq 0 ]

# The same chain without Airflow.
run-cli: $(STAMP)
	$(PY) -m perf_tasks run daily --profile $(PROFILE)

# The whole suite, with line coverage of perf_tasks, trading_agent, plugins and dags, subprocesses
# included (.coveragerc); fails when a test fails or when coverage is below COVERAGE_FLOOR.
# Per-file report: coverage-report.txt and htmlcov/index.html.
# `combine --append`: pytest-cov has already combined into .coverage; processes that exit after it
# (services stopped at session end save on SIGTERM) leave .coverage.* files, and a plain combine
# would replace .coverage with just those (the all-0 % report seen once while the Airflow stack
# tests ran).
COVERAGE_FLOOR ?= 95
test: $(STAMP)
	@rm -f .coverage .coverage.*
	$(PY) -m pytest -q tests --cov --cov-config=.coveragerc --cov-report= ; rc=$$?; \
	  $(PY) -m coverage combine -q --append; \
	  $(PY) -m coverage report --fail-under=$(COVERAGE_FLOOR) > coverage-report.txt; cov=$$?; \
	  $(PY) -m coverage html -q; tail -n 1 coverage-report.txt; \
	  if [ $$cov -ne 0 ]; then echo "line coverage is below the floor of $(COVERAGE_FLOOR) % (per file: coverage-report.txt)"; fi; \
	  [ $$rc -eq 0 ] && [ $$cov -eq 0 ]

coverage: test

# Airflow with this repo's DAGs and plugins: api-server, scheduler, dag-processor, triggerer on
# LocalExecutor and SQLite in $(AIRFLOW_HOME) (scripts/airflow_stack.py; foreground, Ctrl-C stops
# every process). http://127.0.0.1:$(AIRFLOW_PORT), user admin; the password is printed and kept in
# $(AIRFLOW_HOME)/stack.json (mode 0600). The API server binds $(AIRFLOW_BIND_HOST): this machine
# only by default; AIRFLOW_BIND_HOST=0.0.0.0 for every interface (then sign-in is all that guards
# it). No log servers are started (Airflow 3.3's bind every interface; on one machine the API
# server reads the log files). AIRFLOW_BASE_URL sets [api] base_url (absolute links, e.g. in Slack);
# unset, the Report links are root-relative: they open on whatever host name the browser used.
# The airflow_api connection (run notes) is set for every process.
AIRFLOW_BIND_HOST ?= 127.0.0.1
AIRFLOW_BASE_URL ?=
AIRFLOW_PORT ?= 8080
airflow: $(STAMP)
	$(PY) -m scripts.airflow_stack local --home $(AIRFLOW_HOME) --host $(AIRFLOW_BIND_HOST) \
	  --base-url "$(AIRFLOW_BASE_URL)" --port $(AIRFLOW_PORT)

# The production topology natively (no Docker): api-server, scheduler, dag-processor, triggerer and
# two Celery workers on CeleryExecutor, PostgreSQL database $(AIRFLOW_CELERY_DB) (created if missing)
# and the Redis broker $(CELERY_BROKER). Foreground: Ctrl-C stops every process. Same bind host,
# base URL and connection as `make airflow`; user admin, password printed (kept in
# .airflow/celery/stack.json, mode 0600).
AIRFLOW_CELERY_DB ?= perf_airflow
AIRFLOW_PG ?= postgres@127.0.0.1:5432
CELERY_BROKER ?= redis://127.0.0.1:6379/0
CELERY_WORKERS ?= 2
airflow-celery: $(STAMP)
	$(PY) -m scripts.airflow_stack celery --home $(CURDIR)/.airflow/celery --db $(AIRFLOW_CELERY_DB) \
	  --pg $(AIRFLOW_PG) --broker $(CELERY_BROKER) --port $(AIRFLOW_PORT) --workers $(CELERY_WORKERS) \
	  --host $(AIRFLOW_BIND_HOST) --base-url "$(AIRFLOW_BASE_URL)"

# The suite without the tests that start Airflow's processes (Celery stack, UI in Chromium).
test-fast: $(STAMP)
	$(PY) -m pytest -q tests -m "not stack"

# The UI test, saving its screenshots into docs/screenshots/ (the README shows them).
ui-screenshots: $(STAMP)
	PERF_UI_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PY) -m pytest -q tests/ui

clean:
	rm -rf $(VENV) $(AIRFLOW_HOME) .perf-work .pytest_cache
