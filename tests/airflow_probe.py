"""Run with Airflow's interpreter (.venv-airflow): load a DAG folder with Airflow's own DagBag and print,
as JSON, the import errors and, per task, its upstream tasks, retries and templated fields rendered for
one logical date. tests/test_scheduling.py checks the result.

    .venv-airflow/bin/python tests/airflow_probe.py conf/airflow 2026-01-05
"""
import json
import sys
from datetime import date

from airflow.dag_processing.dagbag import DagBag  # airflow.models.dagbag before 3.2


def rendered(task, context: dict) -> dict:
    # Older providers keep the fields as `_application_args` etc.
    return {field.lstrip("_"): task.render_template(getattr(task, field), context) for field in task.template_fields}


def describe(dag, logical_date: date) -> dict:
    context = {"ds": logical_date.isoformat(), "ds_nodash": logical_date.strftime("%Y%m%d"),
               "params": dag.params.dump()}
    return {task_id: {"upstream": sorted(task.upstream_task_ids), "retries": task.retries,
                      "operator": type(task).__name__, "conn_id": getattr(task, "_conn_id", None),
                      "fields": rendered(task, context)}
            for task_id, task in dag.task_dict.items()}


def main(folder: str, day: str) -> None:
    bag = DagBag(dag_folder=folder)  # examples stay out: AIRFLOW__CORE__LOAD_EXAMPLES=False
    print(json.dumps({"import_errors": {path: str(err) for path, err in bag.import_errors.items()},
                      "dags": {dag_id: describe(dag, date.fromisoformat(day)) for dag_id, dag in bag.dags.items()}},
                     default=str))


if __name__ == "__main__":
    main(*sys.argv[1:])
