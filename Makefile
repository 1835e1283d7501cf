# The two commands of README.md: `make run` and `make test`. Both set up everything on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.segspark-installed

.PHONY: run test lint format dist venv java browser jars clean

run: java $(STAMP)
	./spark-submit.sh jobs/segment_customers.py $(ARGS)

test: java browser jars lint
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
# package data; console scripts segspark-segment, -score, -generate, -publish) and each job's spark-submit entry file.
dist: $(STAMP)
	rm -rf dist build/lib build/bdist.*
	$(VENV)/bin/python -m pip wheel --quiet --no-deps -w dist .
	cp jobs/segment_customers.py jobs/score_customers.py jobs/generate_orders.py jobs/publish_run.py dist/
	@ls dist

java:
	@scripts/ensure-java.sh

# The JVM dependencies of the test cluster (Hadoop's minicluster) and of s3a:// (hadoop-aws and the
# AWS SDK it names), exact versions in jvm/*/pom.xml, fetched from Maven Central into build/jars/
# (git-ignored; ~800 MB, most of it the AWS SDK's bundle). `make run` needs none of them.
JARS := build/jars
jars: $(JARS)/test-cluster/.fetched $(JARS)/s3a/.fetched

$(JARS)/%/.fetched: jvm/%/pom.xml
	@scripts/ensure-maven.sh
	rm -rf $(JARS)/$*
	mvn -q -B -f jvm/$*/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$(CURDIR)/$(JARS)/$*"
	touch $@

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
