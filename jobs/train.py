"""Train: fit the heads on human-labelled conversations, log them to MLflow and register them.

    affective train --profile local --input data/synth/conversations --labels data/synth/labels --output out/

Ingests the input first (so training sees the same scrubbed text as classification), embeds the
labelled conversations on the executors, fits the heads on the driver from vectors and labels only,
logs data size, class balance and cross-validated metrics, and registers the model under
`model.name` with the alias `model.alias`. Classify with it by
`--set model.heads_uri=models:/affective-embedded@champion`.
"""
from __future__ import annotations

from typing import Any

import mlflow
from pyspark.sql import DataFrame, SparkSession

import udfs
from jobs.context import Context, existing_path
from jobs.labels import check_labels, read_labels
from udfs.training import EMBEDDED_TYPE, training_embedder


def embedded_labelled(conversations: DataFrame, labels: DataFrame, settings: udfs.ClassifierSettings,
                      base: udfs.Heads) -> DataFrame:
    """Labelled conversations as embeddings joined with their labels (no text leaves the executors)."""
    labelled = conversations.join(labels.select("conversation_id"), "conversation_id", "left_semi")
    embedded = labelled.select("conversation_id", "messages").mapInPandas(
        training_embedder(settings, base), EMBEDDED_TYPE)
    return embedded.join(labels, "conversation_id")


def run_train(spark: SparkSession, *, labels_path: str, tables: dict[str, str], cfg: dict[str, Any],
              base: udfs.Heads) -> tuple[udfs.Heads, dict[str, float]]:
    """Fit heads on the bronze conversations that have labels; return them and the training stats."""
    from jobs.session import read_table

    labels = read_labels(spark, labels_path)
    conversations = read_table(spark, tables["conversations"])
    check_labels(labels, conversations.select("conversation_id"), source=labels_path,
                 known_as="ingested conversation (see conversations_quarantine for rejected records)")
    rows = embedded_labelled(conversations, labels, udfs.settings_from_config(cfg), base).collect()
    heads = udfs.train_on_labels([r.asDict(recursive=True) for r in rows], cfg["model"], base=base,
                                 include_seed=cfg["train"]["include_seed"])
    return heads, {"labelled_conversations": len(rows), **heads.metrics}


def run(ctx: Context) -> dict[str, float]:
    """Fit heads on --labels, register them in MLflow under the config's alias; returns the training counts."""
    from udfs.registry import log_heads_model

    heads, stats = run_train(ctx.spark, labels_path=existing_path(ctx.labels_path, "--labels"), tables=ctx.tables,
                             cfg=ctx.cfg, base=ctx.heads())
    mlflow.log_params({"labels_path": ctx.labels_path, "trained_version": heads.version,
                       "base_version": ctx.heads().version, "include_seed": ctx.cfg["train"]["include_seed"]})
    model = ctx.cfg["model"]
    ctx.results["registered"] = log_heads_model(heads, ctx.models_dir / heads.version, registered_name=model["name"],
                                                alias=model["alias"])
    ctx.results["trained_version"] = heads.version
    return stats
