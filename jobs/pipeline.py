"""The stages wired together: context, MLflow tracking and the order ingest -> classify -> aggregate -> topics -> report.

One MLflow run per invocation, a nested run per stage. Params: the resolved config, model version,
input path and the Delta version of every table written; metrics: rows in, out and quarantined per
stage, seconds and throughput, and the headline figures; artifacts: report, plots, config and heads.
No conversation text or raw user id is ever logged.
"""
from __future__ import annotations

import json
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import mlflow
import yaml
from pyspark.sql import SparkSession

from jobs import session
from jobs.config import ConfigError, flatten, masked
from jobs.privacy.pseudonym import key_for_run
from jobs.tables import table_paths

logger = logging.getLogger(__name__)



@dataclass
class Context:
    """What every stage needs: config, session, where things go, and the run id stamped on every row."""

    cfg: dict[str, Any]
    spark: SparkSession
    output_dir: Path
    run_id: str
    input_path: str | None = None
    labels_path: str | None = None
    pseudonym_key: bytes | None = field(default=None, repr=False)  # resolved when the stages include ingest
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def tables(self) -> dict[str, str]:
        return table_paths(self._path(self.cfg["paths"]["tables"]), self.cfg["tables"])

    def _path(self, configured: str) -> Path:
        return _configured_path(self.output_dir, configured)

    @property
    def report_dir(self) -> Path:
        return self._path(self.cfg["paths"]["report"])

    @property
    def models_dir(self) -> Path:
        return self._path(self.cfg["paths"]["models"])

    @property
    def validation_dir(self) -> Path:
        return self._path(self.cfg["paths"]["validation"])

    @property
    def state_dir(self) -> Path:
        return self._path(self.cfg["paths"]["state"])


def new_context(cfg: dict[str, Any], output_dir: str, *, stages: tuple[str, ...] = (), input_path: str | None = None,
                labels_path: str | None = None, run_id: str | None = None) -> Context:
    """The context for `stages`. What can be checked without Spark is checked before its JVM starts (a
    minute on a small machine): the --input and --labels paths and the pseudonym key ingest needs."""
    out = Path(output_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    if "ingest" in stages:
        _existing(input_path, "--input")
    if {"validate", "train"} & set(stages):
        _existing(labels_path, "--labels")
    state_dir = _configured_path(out, cfg["paths"]["state"])
    master = session.configured_master(cfg["spark"])  # None: spark-submit's or a running session's, known later
    key = key_for_run(cfg["privacy"], state_dir, master) if "ingest" in stages and master is not None else None
    spark = session.get_spark(cfg["spark"])
    if "ingest" in stages and key is None:
        key = key_for_run(cfg["privacy"], state_dir, spark.sparkContext.master)
    return Context(cfg=cfg, spark=spark, output_dir=out, run_id=run_id or uuid.uuid4().hex[:12],
                   input_path=input_path, labels_path=labels_path, pseudonym_key=key)


def _configured_path(output_dir: Path, configured: str) -> Path:
    path = Path(configured).expanduser()
    return path if path.is_absolute() else output_dir / path


def _existing(path: str | None, flag: str) -> str:
    """The path, if it exists (remote URIs are left to Spark to check)."""
    if not path or ("://" not in path and not Path(path).exists()):
        raise ConfigError(f"{flag} {path}: no such file or folder")
    return path


def _ingest(ctx: Context) -> dict[str, float]:
    from jobs.ingest import run_ingest

    input_path = _existing(ctx.input_path, "--input")
    key = ctx.pseudonym_key or key_for_run(ctx.cfg["privacy"], ctx.state_dir, ctx.spark.sparkContext.master)
    mlflow.log_param("input_path", input_path)
    return run_ingest(ctx.spark, input_path=input_path, tables=ctx.tables, cfg=ctx.cfg, key=key,
                      run_id=ctx.run_id)


def _heads(ctx: Context):
    import udfs

    if "heads" not in ctx.results:
        ctx.results["heads"] = udfs.load_heads(ctx.cfg["model"])
    return ctx.results["heads"]


def _classify(ctx: Context) -> dict[str, float]:
    import udfs
    from jobs.classify import run_classify

    heads = _heads(ctx)
    mlflow.log_params({"model_name": ctx.cfg["model"]["name"], "model_version": heads.version,
                       "encoder": ctx.cfg["model"]["encoder"]})
    mlflow.log_metrics({f"heads.{k}": v for k, v in heads.metrics.items()})
    heads.save(ctx.models_dir / heads.version)  # a copy of the model in use, logged with the run
    mlflow.log_artifacts(str(ctx.models_dir / heads.version), "heads")
    return run_classify(ctx.spark, tables=ctx.tables, cfg=ctx.cfg, heads=heads, run_id=ctx.run_id,
                        scorers=udfs.scorers_from_config(ctx.cfg["model"]))


def _aggregate(ctx: Context) -> dict[str, float]:
    from jobs.aggregate import run_aggregate

    return run_aggregate(ctx.spark, tables=ctx.tables, cfg=ctx.cfg, model_version=_heads(ctx).version,
                         run_id=ctx.run_id)


def _topics(ctx: Context) -> dict[str, float]:
    from jobs.topics import run_topics

    return run_topics(ctx.spark, tables=ctx.tables, cfg=ctx.cfg, model_version=_heads(ctx).version,
                      run_id=ctx.run_id)


def _report(ctx: Context) -> dict[str, float]:
    from jobs.report import read_gold, write_report

    gold = read_gold(ctx.spark, ctx.tables)
    meta = {"run id": ctx.run_id, "model version": _heads(ctx).version, "encoder": ctx.cfg["model"]["encoder"],
            "release thresholds": f"{ctx.cfg['privacy']['min_users']} users, "
                                  f"{ctx.cfg['privacy']['min_conversations']} conversations"}
    paths = write_report(gold, ctx.report_dir, meta, _heads(ctx).metrics, _heads(ctx).version)
    ctx.results["report"] = paths["index"]
    figures = headline_metrics(gold)
    # The same figures as the MLflow metrics, for dashboards that read a file.
    summary = {"run_id": ctx.run_id, "model_version": _heads(ctx).version, "figures": figures,
               "release_thresholds": {"min_users": ctx.cfg["privacy"]["min_users"],
                                      "min_conversations": ctx.cfg["privacy"]["min_conversations"]}}
    (ctx.report_dir / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True), encoding="utf-8")
    return figures


def headline_metrics(gold: dict[str, Any]) -> dict[str, float]:
    """The study's headline figures, where their rows were released, and their PPI++ corrections where made."""
    figures: dict[str, float] = {}
    prev = gold["prevalence"]
    for row in prev[prev["population"] == "all conversations"].itertuples():
        figures[f"share.{row.measure}"] = float(row.share)
        figures.update(_corrected(row, f"share.{row.measure}"))
    for name, column in (("pushback", "rate"), ("referral", "rate"), ("sentiment_shift", "mean_shift")):
        for row in gold[name].itertuples():
            figures[f"{name}.{row.segment}"] = float(getattr(row, column))
            figures.update(_corrected(row, f"{name}.{row.segment}"))
    return figures


def _corrected(row: Any, name: str) -> dict[str, float]:
    value = getattr(row, "corrected", None)  # None or NaN in pandas where the row has no correction
    return {} if value is None or math.isnan(value) else {f"corrected.{name}": float(value)}


def _validate(ctx: Context) -> dict[str, float]:
    from jobs.validate import run_validate

    metrics = run_validate(ctx.spark, labels_path=_existing(ctx.labels_path, "--labels"), tables=ctx.tables,
                           cfg=ctx.cfg, out_dir=ctx.validation_dir, model_version=_heads(ctx).version,
                           run_id=ctx.run_id)
    mlflow.log_artifacts(str(ctx.validation_dir), "validation")
    return {f"{task}.{name}": float(value) for task, m in metrics.items() for name, value in m.items()}


def _train(ctx: Context) -> dict[str, float]:
    from jobs.train import run_train
    from udfs.registry import log_heads_model

    heads, stats = run_train(ctx.spark, labels_path=_existing(ctx.labels_path, "--labels"), tables=ctx.tables, cfg=ctx.cfg,
                             base=_heads(ctx))
    mlflow.log_params({"labels_path": ctx.labels_path, "trained_version": heads.version,
                       "base_version": _heads(ctx).version, "include_seed": ctx.cfg["train"]["include_seed"]})
    ctx.results["registered"] = log_heads_model(heads, ctx.models_dir / heads.version,
                                                registered_name=ctx.cfg["model"]["name"], alias=ctx.cfg["model"]["alias"])
    ctx.results["trained_version"] = heads.version
    return stats


STAGE_FUNCTIONS: dict[str, Callable[[Context], dict[str, float]]] = {
    "ingest": _ingest, "classify": _classify, "aggregate": _aggregate, "topics": _topics, "report": _report, "validate": _validate,
    "train": _train}


def run_stages(ctx: Context, stages: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Run stages in order inside one MLflow run (nested run per stage); return each stage's metrics."""
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
                metrics = STAGE_FUNCTIONS[stage](ctx)
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
