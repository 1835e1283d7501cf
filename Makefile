# The two commands of README.md: `make run` and `make test`. Both set up everything on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.segspark-installed

.PHONY: run test test-spark-lines lint format dist venv java browser jars clean

run: java $(STAMP)
	./spark-submit.sh jobs/segment_customers.py $(ARGS)

test: java browser jars lint
	SPARK_LOCAL_IP=127.0.0.1 $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The other Spark lines segspark supports (segspark.compat; the default is constraints.txt's), each in an
# environment of its own under build/spark-<line>/: constraints.txt with constraints-spark-<line>.txt's
# pyspark in its place. There the tests marked spark_lines run: a segment run, a refresh, a score and
# tables end to end, and the features, typing and py4j calls. CI runs this after `make test`.
SPARK_LINES := 3.5 4.3
test-spark-lines: java $(foreach line,$(SPARK_LINES),build/spark-$(line)/.installed)
	set -e; for line in $(SPARK_LINES); do \
	  echo "== Spark $$line: $$(build/spark-$$line/venv/bin/python -c 'import pyspark; print(pyspark.__version__)')"; \
	  SEGSPARK_VENV=$(CURDIR)/build/spark-$$line/venv SPARK_LOCAL_IP=127.0.0.1 \
	    build/spark-$$line/venv/bin/python -m pytest -m spark_lines -p no:cacheprovider $(PYTEST_ARGS); \
	done

build/spark-%/.installed: setup.cfg pyproject.toml constraints.txt constraints-spark-%.txt
	rm -rf build/spark-$*
	$(PYTHON) -m venv build/spark-$*/venv
	grep -v '^pyspark==' constraints.txt >build/spark-$*/constraints.txt
	grep '^pyspark==' constraints-spark-$*.txt >>build/spark-$*/constraints.txt
	build/spark-$*/venv/bin/python -m pip install --quiet --upgrade "pip>=24"
	build/spark-$*/venv/bin/python -m pip install --quiet -c build/spark-$*/constraints.txt -e '.[test]'
	touch $@

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

# The JVM dependencies of the test cluster (Hadoop's minicluster), of s3a:// (hadoop-aws and the
# AWS SDK it names) and of the table formats (Delta Lake, Apache Iceberg: jvm/lakehouse/), exact
# versions in jvm/*/pom.xml, fetched from Maven Central into build/jars/ (git-ignored; ~860 MB, most
# of it the AWS SDK's bundle). `make run` needs none of them.
JARS := build/jars
jars: $(JARS)/test-cluster/.fetched $(JARS)/s3a/.fetched $(JARS)/lakehouse/.fetched

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
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[test,mlflow,connect]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
