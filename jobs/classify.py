"""Classify (silver): label every new conversation and score its user messages' sentiment.

    affective classify --profile local --output out/

Reads bronze `conversations`, labels only conversations not yet labelled by the model version in use
(all of them with `--reprocess`, replacing their rows), and MERGEs into `conversation_labels` (one row
per conversation and model version) and `message_sentiment` (one row per scored user message and model
version). Every row names its model. A new model version is rolled out over old data by running
classify with it: it labels every conversation that version has not labelled.
A conversation that a configured model fails on, even alone in a batch, goes to `classify_quarantine`
with the reasons instead of failing the job.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Iterator

import mlflow
import pandas as pd
import pyspark.sql.functions as F
from pyspark import Accumulator
from pyspark.sql import DataFrame, SparkSession

from jobs.context import Context

import udfs

logger = logging.getLogger(__name__)

CLASSIFIER_INPUT = ["conversation_id", "user_id", "created_at", "n_user_messages", "is_long", "messages"]


def unlabelled(conversations: DataFrame, labels: DataFrame | None, model_version: str) -> DataFrame:
    """Conversations that this model version has not labelled yet."""
    if labels is None:
        return conversations
    done = labels.where(F.col("model_version") == model_version).select("conversation_id")
    return conversations.join(done, "conversation_id", "left_anti")


def spread(conversations: DataFrame, n_conversations: int, conversations_per_task: int) -> DataFrame:
    """Hash-partition by conversation so every core gets model work: a few small bronze files would
    otherwise be read as one partition, and one Python worker would run the encoder for all of them."""
    parallelism = conversations.sparkSession.sparkContext.defaultParallelism
    tasks = max(parallelism, math.ceil(n_conversations / conversations_per_task))
    return conversations.repartition(tasks, "conversation_id")


def apply_classifier(conversations: DataFrame, heads: udfs.Heads, settings: udfs.ClassifierSettings,
                     scorers: dict | None = None, meters: tuple[Accumulator, Accumulator] | None = None) -> DataFrame:
    """Conversations -> one row of labels each (the model runs once per selected message).

    meters, when given, are (done, model_seconds): the executors add the conversations they labelled, for
    the driver's progress log, and the seconds spent in the model, input waits excluded, for the stage's
    metrics (bench/scaling.py reads them to tell the model's time from Spark's).
    """
    selected = conversations.select(*CLASSIFIER_INPUT)
    fn, schema = udfs.conversation_classifier(heads, settings, selected.schema, scorers)
    return selected.mapInPandas(fn if meters is None else _metered(fn, *meters), schema)


def _metered(fn: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]], done: Accumulator,
             model_seconds: Accumulator):
    def metered(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        waited = 0.0  # in fn's own pulls of input batches: the JVM's work, not the model's

        def timed_input() -> Iterator[pd.DataFrame]:
            nonlocal waited
            for batch, seconds in _timed(batches):
                waited += seconds
                yield batch

        for labels, seconds in _timed(fn(timed_input())):
            model_seconds.add(seconds - waited)
            waited = 0.0
            done.add(len(labels))
            yield labels

    return metered


def _timed(items: Iterator[Any]) -> Iterator[tuple[Any, float]]:
    """Each item with the seconds its producer took to make it."""
    iterator = iter(items)
    while True:
        started = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            return
        yield item, time.perf_counter() - started


def stamp(df: DataFrame, *, model_name: str, model_version: str, run_id: str) -> DataFrame:
    return df.select(
        "*",
        F.lit(model_name).alias("model_name"),
        F.lit(model_version).alias("model_version"),
        F.lit(run_id).alias("run_id"),
        F.current_timestamp().alias("classified_at"),
    )


def classify_failures(classified: DataFrame) -> DataFrame:
    """Conversations a model failed on (even alone in a batch), with the reasons, for `classify_quarantine`."""
    return classified.where(F.size("errors") > 0).select(
        "conversation_id", "user_id", F.col("errors").alias("_errors"), "model_name", "model_version", "run_id",
        "classified_at")


def conversation_labels(classified: DataFrame) -> DataFrame:
    """Silver `conversation_labels`: one row per conversation and model version (failed ones left out)."""
    return classified.where(F.size("errors") == 0).select(
        "conversation_id", "user_id", "created_at", "n_user_messages", "is_long",
        "use", "use_score", "categories", "category_scores",
        "pushback", "pushback_score", "pushback_reason", "referral", "referral_score",
        "embedding", "windows", "model_name", "model_version", "run_id", "classified_at",
    )


def message_sentiment(classified: DataFrame) -> DataFrame:
    """Silver `message_sentiment`: one row per scored user message, score on the 5-point scale in [-1, 1]."""
    return (
        classified.where(F.size("errors") == 0).select("conversation_id", "user_id", "n_user_messages",
                          F.explode("user_sentiment").alias("s"),
                          "model_name", "model_version", "run_id", "classified_at")
        .select(
            "conversation_id", "user_id",
            F.col("s.message_index").alias("message_index"),
            F.col("s.user_turn").alias("user_turn"),
            "n_user_messages",
            F.col("s.sentiment_class").alias("sentiment_class"),
            F.col("s.sentiment").alias("sentiment"),
            "model_name", "model_version", "run_id", "classified_at",
        )
    )


def run_classify(spark: SparkSession, *, tables: dict[str, str], cfg: dict[str, Any], heads: udfs.Heads,
                 run_id: str, scorers: dict | None = None) -> dict[str, int]:
    """Label new bronze conversations into the silver tables; return rows in and out."""
    from jobs.session import materialize, merge_new_rows, progress, read_table, read_table_if_any, remove_path, step

    conversations = read_table(spark, tables["conversations"])
    labels_path = tables["conversation_labels"]
    existing = read_table_if_any(spark, labels_path)
    reprocess = cfg["classify"]["reprocess"]  # label every conversation again and replace its rows
    todo = conversations if reprocess else unlabelled(conversations, existing, heads.version)
    with step(spark, "select conversations to label"):
        n_todo = todo.count()
    staging = f"{tables['classify_staging']}/{run_id}"
    model_seconds = spark.sparkContext.accumulator(0.0)
    with progress(spark, "classify: conversations labelled", n_todo, operator="MapInPandas") as done:
        classified = materialize(
            spread(todo, n_todo, cfg["classify"]["conversations_per_task"])
            .transform(lambda df: apply_classifier(df, heads, udfs.settings_from_config(cfg), scorers,
                                                   (done, model_seconds)))
            .transform(lambda df: stamp(df, model_name=cfg["model"]["name"], model_version=heads.version,
                                        run_id=run_id)), staging, what=f"label {n_todo:,} conversations")
    try:
        n_classified = classified.count()
        failures = classify_failures(classified)
        n_failed = failures.count()
        if n_failed:
            merge_new_rows(spark, failures, tables["classify_quarantine"], ["conversation_id", "model_version"])
        sentiment = message_sentiment(classified)
        n_messages = sentiment.count()
        merge_new_rows(spark, sentiment, tables["message_sentiment"],
                       ["conversation_id", "message_index", "model_version"], update=reprocess)
        # Labels last: a run that dies before this write finds these conversations unlabelled and redoes them.
        merge_new_rows(spark, conversation_labels(classified), labels_path, ["conversation_id", "model_version"],
                       update=reprocess)
    finally:
        remove_path(spark, staging)
    stats = {"conversations_classified": n_classified - n_failed, "conversations_quarantined": n_failed,
             "messages_scored": n_messages, "model_seconds": model_seconds.value}
    logger.info("classify: %s", stats)
    return stats


def run(ctx: Context) -> dict[str, float]:
    """Label the new bronze conversations with the model in use (logged with the run); returns counts and model time."""
    heads = ctx.heads()
    mlflow.log_params({"model_name": ctx.cfg["model"]["name"], "model_version": heads.version,
                       "encoder": ctx.cfg["model"]["encoder"]})
    mlflow.log_metrics({f"heads.{k}": v for k, v in heads.metrics.items()})
    heads.save(ctx.models_dir / heads.version)  # a copy of the model in use, logged with the run
    mlflow.log_artifacts(str(ctx.models_dir / heads.version), "heads")
    return run_classify(ctx.spark, tables=ctx.tables, cfg=ctx.cfg, heads=heads, run_id=ctx.run_id,
                        scorers=udfs.scorers_from_config(ctx.cfg["model"]))
