"""The stages wired together: the context, then each stage module's `run(ctx)` in order, timed, named in
Spark's UI and tracked in MLflow.

One MLflow run per invocation, a nested run per stage. Params: the resolved config, model version,
input path and the Delta version of every table written; metrics: rows in, out and quarantined per
stage, seconds and throughput, and the headline figures; artifacts: report, plots, config and heads.
No conversation text or raw user id is ever logged.
"""
from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import mlflow
import yaml

from jobs import aggregate, classify, ingest, report, session, topics, train, validate
from jobs.config import flatten, masked
from jobs.context import Context, configured_path, existing_path
from jobs.privacy.pseudonym import key_for_run

logger = logging.getLogger(__name__)
STAGES = {stage.__name__.rsplit(".", 1)[1]: stage.run
          for stage in (ingest, classify, aggregate, topics, report, validate, train)}


def new_context(cfg: dict[str, Any], output_dir: str, *, stages: tuple[str, ...] = (), input_path: str | None = None,
                labels_path: str | None = None, run_id: str | None = None) -> Context:
    """The context for `stages`. What can be checked without Spark is checked before its JVM starts (a
    minute on a small machine): the --input and --labels paths and the pseudonym key ingest needs."""
    out = Path(output_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    if "ingest" in stages:
        existing_path(input_path, "--input")
    if {"validate", "train"} & set(stages):
        existing_path(labels_path, "--labels")
    state_dir = configured_path(out, cfg["paths"]["state"])
    master = session.configured_master(cfg["spark"])  # None: spark-submit's or a running session's, known later
    key = key_for_run(cfg["privacy"], state_dir, master) if "ingest" in stages and master is not None else None
    spark = session.get_spark(cfg["spark"])
    if "ingest" in stages and key is None:
        key = key_for_run(cfg["privacy"], state_dir, spark.sparkContext.master)
    return Context(cfg=cfg, spark=spark, output_dir=out, run_id=run_id or uuid.uuid4().hex[:12],
                   input_path=input_path, labels_path=labels_path, pseudonym_key=key)


def run_stages(ctx: Context, stages: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Run stages in order inside one MLflow run (nested run per stage); return each stage's metrics."""
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; the stages are {', '.join(STAGES)}")
    session.start_mlflow(ctx.cfg["paths"]["mlflow_tracking_uri"], str(ctx.output_dir), ctx.cfg["mlflow"]["experiment"])
    results: dict[str, dict[str, float]] = {}
    with mlflow.start_run(run_name=f"{'+'.join(stages)} {ctx.run_id}") as parent, \
            session.commit_metadata(ctx.spark, ctx.run_id):
        mlflow.set_tags({"affective.run_id": ctx.run_id, "affective.stages": ",".join(stages)})
        shown = masked(ctx.cfg)
        logger.info("resolved config (secrets masked):\n%s", yaml.safe_dump(shown, sort_keys=False))
        mlflow.log_params({f"config.{k}": str(v)[:500] for k, v in flatten(shown).items()})
        mlflow.log_text(yaml.safe_dump(shown, sort_keys=False), "config/resolved.yaml")
        for stage in stages:
            # Re-running a run id (same command) rewrites no table that its stage already wrote.
            with mlflow.start_run(run_name=stage, nested=True), \
                    session.idempotent_writes(ctx.spark, f"affective {'+'.join(stages)}/{stage}/{ctx.run_id}"):
                session.describe_stage(ctx.spark, stage, ctx.run_id)
                started = time.perf_counter()
                metrics = STAGES[stage](ctx)
                seconds = time.perf_counter() - started
                metrics = {**metrics, "seconds": seconds}
                rows = metrics.get("rows_in") or metrics.get("conversations_classified")
                if rows:
                    metrics["rows_per_second"] = rows / seconds
                mlflow.log_metrics(metrics)
            mlflow.log_metrics({f"{stage}.{k}": v for k, v in metrics.items()})
            results[stage] = metrics
            logger.info("%s done in %.1fs", stage, seconds)
        mlflow.log_params(table_versions(ctx))
        if "report" in ctx.results:  # on the invocation's own run, where a reader looks first
            mlflow.log_artifacts(str(ctx.report_dir), "report")
        ctx.results["mlflow_run_id"] = parent.info.run_id
    return results


def table_versions(ctx: Context) -> dict[str, int]:
    return {f"delta_version.{name}": session.table_version(ctx.spark, path)
            for name, path in ctx.tables.items() if session.is_table(ctx.spark, path)}
