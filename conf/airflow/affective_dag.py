"""Airflow: the affective stages in order for one logical date, each a spark-submit to the cluster.

Put this file in Airflow's DAG folder and set, once:
- the connection `affective_spark` to the Spark master (`AIRFLOW_CONN_AFFECTIVE_SPARK='spark://HOST:7077'`);
- on the hosts that run the tasks (the Spark driver runs there, client mode): this repository's
  `jobs/cli.py`, `dist/affective.zip` from `make dist`, a Python with requirements.txt installed, and the
  pseudonym key as a file readable by that user only.
The params below default to those paths; a run can override them. Each day reads `input_root/<ds>/`,
and every stage stamps its rows with the same run id, `affective-<ds_nodash>`, so a retried or re-run
day adds nothing twice (ingest and classify insert only new keys).
"""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Param

# The stages of `affective run`, in order (tests/test_scheduling.py checks them against jobs/cli.py).
STAGES = ("ingest", "classify", "aggregate", "topics", "report")
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"


def stage_args(stage: str) -> list[str]:
    """The `affective <stage>` arguments, templated per run."""
    args = [stage, "--profile", "{{ params.profile }}", "--output", "{{ params.output }}",
            "--run-id", "affective-{{ ds_nodash }}", "--set", "privacy.key_file={{ params.key_file }}"]
    if stage == "ingest":
        args += ["--input", "{{ params.input_root }}/{{ ds }}"]
    return args


with DAG(
    dag_id="affective",
    description="ingest -> classify -> aggregate -> topics -> report for one day of conversations",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # the stages of two days would write the same tables at once
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10), "execution_timeout": timedelta(hours=6)},
    params={
        "input_root": Param("/data/affective/incoming", type="string", description="one folder per day below it"),
        "output": Param("/data/affective/out", type="string", description="tables, report, models"),
        "profile": Param("cluster", enum=["cluster", "local"]),
        "key_file": Param("/run/secrets/affective-pseudonym.key", type="string"),
        "launcher": Param("/opt/affective/jobs/cli.py", type="string"),
        "package": Param("/opt/affective/dist/affective.zip", type="string"),
        "python": Param("/opt/affective/.venv/bin/python", type="string"),
    },
    tags=["affective"],
) as dag:
    previous = None
    for stage in STAGES:
        task = SparkSubmitOperator(
            task_id=stage,
            conn_id="affective_spark",
            application="{{ params.launcher }}",
            application_args=stage_args(stage),
            py_files="{{ params.package }}",
            packages=DELTA_PACKAGE,
            name=f"affective-{stage}-{{{{ ds_nodash }}}}",
            deploy_mode="client",
            conf={"spark.pyspark.python": "{{ params.python }}", "spark.pyspark.driver.python": "{{ params.python }}"},
        )
        if previous is not None:
            previous >> task
        previous = task
