# `make run` and `make test` work on a fresh machine: they create .venv, install the pinned
# dependencies, fetch the Delta Lake jars, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
N      ?= 3000
SEED   ?= 42
DATA   ?= data/synth
OUT    ?= out
DELTA_JAR := io.delta:delta-spark_4.2_2.13:4.4.0

export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

AIRFLOW_VENV := .venv-airflow

.PHONY: venv jars dist airflow browser run test test-cluster model bench bench-scaling gpu-bundle clean

$(VENV)/.installed: requirements.txt setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

venv: $(VENV)/.installed

# Spark's resolver fetches the Delta jars from Maven Central on first use; where it cannot, Maven puts
# them into ~/.m2, which the resolver also reads.
$(VENV)/.jars: $(VENV)/.installed
	$(BIN)/python -m jobs.session --check || \
	  (mvn -q dependency:get -Dartifact=$(DELTA_JAR) && $(BIN)/python -m jobs.session --check)
	touch $@

jars: $(VENV)/.jars

# One wheel with jobs, udfs and the default config (Databricks, pip). spark-submit's --py-files puts
# only .zip, .egg and .jar names on the executors' Python path, so the same file is also affective.zip.
DIST ?= dist
dist: venv
	rm -rf $(DIST) build
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w $(DIST) .
	cp $(DIST)/affective-*-py3-none-any.whl $(DIST)/affective.zip

# Airflow has a virtualenv of its own, so its many dependencies never move the pipeline's pinned set
# (which `make venv` checks with pip check). The test that loads the DAG runs Airflow from here.
$(AIRFLOW_VENV)/.installed: conf/airflow/requirements.txt
	test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install -q --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install -q -r conf/airflow/requirements.txt
	touch $@

airflow: $(AIRFLOW_VENV)/.installed

run: jars
	$(BIN)/affective synth --n $(N) --out $(DATA) --seed $(SEED)
	$(BIN)/affective run --profile local --input $(DATA)/conversations --output $(OUT)

test: jars airflow browser
	$(BIN)/python -m pytest

# Headless Chromium, which opens the report in tests/test_report.py and tests/test_pipeline.py: Debian's
# package, installed as root where it is missing.
INSTALL_CHROMIUM = DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
browser:
	command -v chromium >/dev/null || $(INSTALL_CHROMIUM) || (apt-get update -q >/dev/null && $(INSTALL_CHROMIUM))

# The standalone Spark cluster test alone (tests/test_cluster.py; `make test` runs it too).
test-cluster: jars
	$(BIN)/python -m pytest -m cluster tests/test_cluster.py

# The default model that ships in udfs/model (udfs/MODEL_CARD.md): the seed set plus the public training
# sets of ../shared/datasets (udfs/sources.py), fixed splits, choices on validation, scores on test.
# Embeddings are cached in ~/.cache/affective, so a rebuild embeds only new texts. Not run by `make run`
# or `make test`: the model travels with the code.
model: venv
	OMP_NUM_THREADS=2 $(BIN)/python -m udfs.build --out udfs/model

# Benchmarks (see BENCHMARKS.md); not part of the tests: they measure, not assert. Run on an idle machine.
# bench: the model path (a, b, c, f), minutes. bench-scaling: `affective run` at growing sizes with the
# model and with the stand-in encoder (d, e), about an hour on 2 cores.
bench: jars
	OMP_NUM_THREADS=1 $(BIN)/python -m bench.model_throughput --out bench/results.json

bench-scaling: jars
	$(BIN)/python -m bench.scaling --sizes 1000 5000 20000 --out bench/scaling-model.json
	$(BIN)/python -m bench.scaling --encoder stand-in --sizes 1000 10000 100000 --out bench/scaling-stand-in.json

# What bench/accelerator.py needs on a GPU machine that has torch and transformers but no Java, Spark or
# this project's pins (see BENCHMARKS.md): the encoder in fp16, the seed-set heads, pyspark's Python files.
GPU_BUNDLE ?= .gpu
gpu-bundle: venv
	rm -rf $(GPU_BUNDLE)
	$(BIN)/python -m bench.accelerator --bundle $(GPU_BUNDLE)

clean:
	rm -rf $(OUT) $(DATA) .pytest_cache
