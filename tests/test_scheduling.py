"""The scheduling definitions under conf/: the Airflow DAG, loaded by Airflow's own DagBag, and the
Databricks job, read through the Jobs API's typed settings. Every task's arguments must parse with the
`affective` command's own parser and config loader, so a renamed flag or config key breaks this test."""
from __future__ import annotations

import json
import re
import subprocess
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from databricks.sdk.service.jobs import JobSettings

from jobs.cli import STAGE_COMMANDS, _parser
from jobs.config import load_config

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_PYTHON = ROOT / ".venv-airflow" / "bin" / "python"
DATABRICKS_JOB = ROOT / "conf" / "databricks" / "affective_job.json"
STAGES = list(STAGE_COMMANDS["run"])


def _parse_stage_args(args: list[str], stage: str):
    """The arguments as `affective` reads them, with the config they resolve to."""
    parsed = _parser().parse_args(args)
    assert parsed.command == stage
    return parsed, load_config(parsed.profile, parsed.config, parsed.set)


def _chain(upstream: dict[str, list[str]]) -> list[str]:
    """Task ids in order, for a DAG that must be a single chain."""
    order = [t for t, ups in upstream.items() if not ups]
    while len(order) < len(upstream):
        (following,) = [t for t, ups in upstream.items() if ups == [order[-1]]]
        order.append(following)
    return order


@pytest.fixture(scope="module")
def airflow_dag(tmp_path_factory):
    if not AIRFLOW_PYTHON.exists():
        pytest.fail(f"{AIRFLOW_PYTHON} is missing: `make airflow` creates it (`make test` does so first)")
    home = tmp_path_factory.mktemp("airflow-home")
    env = {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PATH": "/usr/bin:/bin"}
    probe = subprocess.run([str(AIRFLOW_PYTHON), str(ROOT / "tests" / "airflow_probe.py"), str(ROOT / "conf" / "airflow"),
                            "2026-01-05"], capture_output=True, text=True, env=env, cwd=home)
    assert probe.returncode == 0, probe.stderr[-4000:]
    return json.loads(probe.stdout.strip().splitlines()[-1])


def test_airflow_loads_the_dag_without_import_errors(airflow_dag):
    assert airflow_dag["import_errors"] == {}
    assert list(airflow_dag["dags"]) == ["affective"]


def test_the_dag_runs_the_stages_in_order_with_retries(airflow_dag):
    tasks = airflow_dag["dags"]["affective"]
    assert _chain({t: spec["upstream"] for t, spec in tasks.items()}) == STAGES
    assert all(spec["operator"] == "SparkSubmitOperator" and spec["retries"] == 2 for spec in tasks.values())


def test_the_dag_renders_valid_stage_arguments_for_the_logical_date(airflow_dag):
    tasks = airflow_dag["dags"]["affective"]
    for stage in STAGES:
        fields = tasks[stage]["fields"]
        parsed, cfg = _parse_stage_args(fields["application_args"], stage)
        assert parsed.run_id == "affective-20260105"
        assert cfg["profile"] == "cluster" and cfg["privacy"]["key_file"] == "/run/secrets/affective-pseudonym.key"
        assert fields["application"].endswith("jobs/cli.py") and fields["py_files"].endswith("affective.zip")
    assert _parse_stage_args(tasks["ingest"]["fields"]["application_args"], "ingest")[0].input == \
        "/data/affective/incoming/2026-01-05"


@pytest.fixture(scope="module")
def databricks_job() -> tuple[dict, JobSettings]:
    raw = json.loads(DATABRICKS_JOB.read_text())
    return raw, JobSettings.from_dict(raw)


def test_the_databricks_job_has_only_fields_of_the_jobs_api(databricks_job):
    raw, settings = databricks_job
    # from_dict drops what the API does not define (a misspelt field, an unknown enum value): the
    # round trip then differs from the file.
    assert settings.as_dict() == raw


def test_the_databricks_job_runs_one_wheel_task_per_stage_in_order(databricks_job):
    _, settings = databricks_job
    assert [t.task_key for t in settings.tasks] == STAGES
    assert [[d.task_key for d in t.depends_on or []] for t in settings.tasks] == [[], *[[s] for s in STAGES[:-1]]]
    (script,) = entry_points(group="console_scripts", name="affective")
    for task in settings.tasks:
        wheel_task = task.python_wheel_task
        assert (wheel_task.package_name, wheel_task.entry_point, script.value) == ("affective", "affective",
                                                                                   "jobs.cli:main")
        assert task.max_retries == 2 and [lib.whl.rsplit("/", 1)[-1] for lib in task.libraries] == \
            ["affective-0.1.0-py3-none-any.whl"]


def test_the_databricks_job_parameters_feed_valid_stage_arguments(databricks_job):
    _, settings = databricks_job
    defaults = {p.name: p.default for p in settings.parameters}
    assert {"input", "output", "profile"} <= set(defaults)
    for task in settings.tasks:
        args = [re.sub(r"\{\{job\.parameters\.(\w+)\}\}", lambda m: defaults[m.group(1)], a)
                for a in task.python_wheel_task.parameters]
        parsed, cfg = _parse_stage_args(args, task.task_key)
        assert parsed.output == defaults["output"] and cfg["profile"] == "cluster"
        assert cfg["paths"]["mlflow_tracking_uri"] == "databricks"
    assert "AFFECTIVE_PSEUDONYM_KEY" in settings.job_clusters[0].new_cluster.spark_env_vars
