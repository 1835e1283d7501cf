# The two commands of README.md: `make run` and `make test`. Both set up everything on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.segspark-installed

.PHONY: run test lint format dist venv java browser clean

run: java $(STAMP)
	./spark-submit.sh jobs/segment_customers.py $(ARGS)

test: java browser lint
	SPARK_LOCAL_IP=127.0.0.1 $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Style and layering, in seconds: ruff's linter and formatter (check only) and the import contract
# of pyproject.toml (each stage imports only the stages before it). `make format` applies ruff's fixes.
lint: $(STAMP)
	$(VENV)/bin/ruff check segspark jobs tests benchmarks
	$(VENV)/bin/ruff format --check segspark jobs tests benchmarks
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff check --fix segspark jobs tests benchmarks
	$(VENV)/bin/ruff format segspark jobs tests benchmarks

venv: $(STAMP)

# What a cluster is handed: the wheel (code, default settings, source formats and Spark defaults as
# package data; console scripts segspark-segment, -score, -generate) and each job's spark-submit entry file.
dist: $(STAMP)
	rm -rf dist build/lib build/bdist.*
	$(VENV)/bin/python -m pip wheel --quiet --no-deps -w dist .
	cp jobs/segment_customers.py jobs/score_customers.py jobs/generate_orders.py dist/
	@ls dist

java:
	@scripts/ensure-java.sh

browser:
	@scripts/ensure-chromium.sh

# Exact versions from constraints.txt, so every machine runs what was tested.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
