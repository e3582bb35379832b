"""Validate: compare the predictions of a run with human labels, per task.

    affective validate --profile local --labels data/synth/labels --output out/

Joins the human labels (JSONL, the human-labels format of README "Validation") with the silver tables
that `affective run --output DIR` left for the model version in use, and writes precision, recall, F1,
support and the false-positive rate per task (use-affective, use-content-creation, each category,
pushback, each pushback reason, referral) plus the 3-way message-sentiment macro-F1, to the Delta table
`validation_metrics`, to MLflow and to DIR/validation/metrics.json, with confusion-matrix plots.
It also keeps the human labels that correct the published figures (jobs/ppi.py) as the silver table
`human_labels`: one row per labelled conversation and model version with the user pseudonym, the human
use, categories, pushback, referral and sentiment shift, and no text. A label naming no conversation
classified by the model version in use, or naming one twice, is an error.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession

from jobs.context import Context, existing_path
from jobs.labels import check_labels, read_labels
from jobs.session import stamp
from jobs.stats import conversation_shift
from udfs.heads import CATEGORIES, PUSHBACK_REASONS

THREE_WAY = ("negative", "neutral", "positive")


def binary_tasks(truth: str, pred: str) -> dict[str, tuple[Column, Column]]:
    """(true, predicted) boolean columns per task, from prefixed label and prediction structs."""
    t, p = F.col(truth), F.col(pred)
    tasks = {
        "use_affective": (t["use"] == "affective", p["use"] == "affective"),
        "use_content_creation": (t["use"] == "content_creation", p["use"] == "content_creation"),
        "pushback": (t["pushback"], p["pushback"]),
        "referral": (t["referral"], p["referral"]),
    }
    for category in CATEGORIES:
        tasks[f"category_{category}"] = (F.array_contains(t["categories"], category),
                                         F.array_contains(p["categories"], category))
    for reason in PUSHBACK_REASONS:
        tasks[f"pushback_reason_{reason}"] = (
            F.coalesce(t["pushback"] & (t["pushback_reason"] == reason), F.lit(False)),
            F.coalesce(p["pushback"] & (p["pushback_reason"] == reason), F.lit(False)))
    return tasks


def confusion_counts(joined: DataFrame) -> dict[str, dict[str, int]]:
    """tp, fp, fn, tn per binary task, computed in one distributed aggregation."""
    tasks = binary_tasks("truth", "pred")
    sums = []
    for name, (actual, predicted) in tasks.items():
        actual, predicted = F.coalesce(actual, F.lit(False)), F.coalesce(predicted, F.lit(False))
        for cell, cond in (("tp", actual & predicted), ("fp", ~actual & predicted),
                           ("fn", actual & ~predicted), ("tn", ~actual & ~predicted)):
            sums.append(F.sum(cond.cast("long")).alias(f"{name}|{cell}"))
    row = joined.agg(*sums).first().asDict()
    counts: dict[str, dict[str, int]] = {name: {} for name in tasks}
    for key, value in row.items():
        name, cell = key.split("|")
        counts[name][cell] = int(value or 0)
    return counts


def binary_metrics(c: dict[str, int]) -> dict[str, float]:
    """Precision, recall, F1, support and false-positive rate from confusion counts."""
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = c["fp"] / (c["fp"] + c["tn"]) if c["fp"] + c["tn"] else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": c["tp"] + c["fn"], "fpr": fpr}


def three_way(score: Column) -> Column:
    return F.when(score < 0, "negative").when(score > 0, "positive").otherwise("neutral")


def sentiment_confusion(labels: DataFrame, sentiment: DataFrame) -> dict[tuple[str, str], int]:
    """Counts of (true, predicted) 3-way sentiment over the user messages both sides scored."""
    truth = labels.select("conversation_id", F.explode("message_sentiment").alias("m")).select(
        "conversation_id", F.col("m.index").alias("message_index"), three_way(F.col("m.score")).alias("actual"))
    predicted = sentiment.select("conversation_id", "message_index",
                                 three_way(F.col("sentiment_class")).alias("predicted"))
    rows = truth.join(predicted, ["conversation_id", "message_index"]).groupBy("actual", "predicted").count()
    return {(r["actual"], r["predicted"]): r["count"] for r in rows.collect()}


def macro_f1(confusion: dict[tuple[str, str], int]) -> dict[str, float]:
    f1s = []
    for cls in THREE_WAY:
        tp = confusion.get((cls, cls), 0)
        fp = sum(v for (a, p), v in confusion.items() if p == cls and a != cls)
        fn = sum(v for (a, p), v in confusion.items() if a == cls and p != cls)
        f1s.append(binary_metrics({"tp": tp, "fp": fp, "fn": fn, "tn": 0})["f1"])
    return {"macro_f1": sum(f1s) / len(f1s), "support": sum(confusion.values())}


def use_confusion(joined: DataFrame) -> dict[tuple[str, str], int]:
    rows = joined.groupBy(F.col("truth.use").alias("actual"), F.col("pred.use").alias("predicted")).count()
    return {(r["actual"], r["predicted"]): r["count"] for r in rows.collect()}


def plot_confusion(confusion: dict[tuple[str, str], int], classes: tuple[str, ...], title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = [[confusion.get((a, p), 0) for p in classes] for a in classes]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(grid, cmap="Blues")
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center")
    ax.set_xticks(range(len(classes)), classes, rotation=30)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("human label")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def validate(spark: SparkSession, labels: DataFrame, predictions: DataFrame, sentiment: DataFrame,
             out_dir: Path) -> dict[str, dict[str, float]]:
    """Metrics per task (and the plots in out_dir) for predictions joined to labels on conversation_id."""
    joined = labels.alias("truth").join(predictions.alias("pred"), "conversation_id").select(
        F.struct("truth.*").alias("truth"), F.struct("pred.*").alias("pred")).persist()
    try:
        metrics = {name: binary_metrics(c) for name, c in confusion_counts(joined).items()}
        uses = use_confusion(joined)
    finally:
        joined.unpersist()
    sentiment_cells = sentiment_confusion(labels, sentiment)
    metrics["sentiment_3way"] = macro_f1(sentiment_cells)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_confusion(uses, ("task", "content_creation", "affective"), "use", out_dir / "confusion_use.png")
    plot_confusion(sentiment_cells, THREE_WAY, "message sentiment", out_dir / "confusion_sentiment.png")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return metrics


def human_shift(labels: DataFrame, sentiment: DataFrame, *, min_user_messages: int, edge: int) -> DataFrame:
    """The human sentiment shift (label score / 2, on [-1, 1]) of labelled conversations, as aggregate defines it.

    Only conversations whose labels score each of the first and last `edge` user turns get one; the others
    are left out of the shift's labelled sample. A message's user turn comes from `message_sentiment`.

    Args:
        labels: human labels (LABELS_SCHEMA).
        sentiment: silver `message_sentiment` of the model version: the user turn of each scored message.
        min_user_messages: fewest user messages of a conversation with a shift.
        edge: user messages at each end.

    Returns:
        conversation_id, shift.
    """
    scores = labels.select("conversation_id", F.explode("message_sentiment").alias("m")).select(
        "conversation_id", F.col("m.index").alias("message_index"), (F.col("m.score") / 2).alias("sentiment"))
    edge_turn = (F.col("user_turn") < edge) | (F.col("user_turn") >= F.col("n_user_messages") - edge)
    scored = scores.join(sentiment.where(edge_turn).select("conversation_id", "message_index", "user_turn",
                                                           "n_user_messages"), ["conversation_id", "message_index"])
    covered = scored.groupBy("conversation_id").agg(
        (F.countDistinct("user_turn") == F.least(F.max("n_user_messages"), F.lit(2 * edge))).alias("covered"))
    return conversation_shift(scored.join(covered.where("covered"), "conversation_id"),
                              min_user_messages=min_user_messages, edge=edge).select("conversation_id", "shift")


def human_labels(labels: DataFrame, classified: DataFrame, shifts: DataFrame) -> DataFrame:
    """Silver `human_labels`: per labelled conversation its user pseudonym, human labels and shift; no text."""
    return (
        labels.join(classified.select("conversation_id", "user_id"), "conversation_id")
        .join(shifts, "conversation_id", "left")
        .select("conversation_id", "user_id", "use", "categories", "pushback", "referral", "shift")
    )


def metrics_table(spark: SparkSession, metrics: dict[str, dict[str, float]], *, model_version: str,
                  run_id: str) -> DataFrame:
    rows = [(task, m.get("precision"), m.get("recall"), m.get("f1", m.get("macro_f1")), m.get("fpr"),
             int(m["support"])) for task, m in metrics.items()]
    df = spark.createDataFrame(rows, "task string, precision double, recall double, f1 double, fpr double, support long")
    return df.select("*", F.lit(model_version).alias("model_version"), F.lit(run_id).alias("run_id"),
                     F.current_timestamp().alias("computed_at"))


def run_validate(spark: SparkSession, *, labels_path: str, tables: dict[str, str], cfg: dict[str, Any],
                 out_dir: Path, model_version: str, run_id: str) -> dict[str, dict[str, float]]:
    """Validate the model version in use against the labels; write the tables and metrics.json.

    Args:
        spark: the session.
        labels_path: human labels, JSONL file or folder.
        tables: config name -> table path.
        cfg: the config (the aggregate section defines the sentiment shift).
        out_dir: folder for metrics.json and the plots.
        model_version: the model version in use.
        run_id: stamped on every row written.

    Returns:
        The metrics per task.
    """
    from jobs.session import merge_new_rows, read_table

    current = F.col("model_version") == model_version
    classified = read_table(spark, tables["conversation_labels"]).where(current)
    predictions = classified.select("conversation_id", "use", "categories", "pushback", "pushback_reason", "referral")
    sentiment = read_table(spark, tables["message_sentiment"]).where(current)
    labels = read_labels(spark, labels_path)
    check_labels(labels, predictions, source=labels_path)
    metrics = validate(spark, labels, predictions, sentiment, out_dir)
    merge_new_rows(spark, metrics_table(spark, metrics, model_version=model_version, run_id=run_id),
                   tables["validation_metrics"], ["task", "model_version", "run_id"])
    agg = cfg["aggregate"]
    shifts = human_shift(labels, sentiment, min_user_messages=agg["shift_min_user_messages"],
                         edge=agg["shift_edge_messages"])
    truth = stamp(human_labels(labels, classified, shifts), model_version=model_version, run_id=run_id)
    # update: labels given again (corrected) replace the conversation's earlier ones.
    merge_new_rows(spark, truth, tables["human_labels"], ["conversation_id", "model_version"], update=True)
    return metrics


def run(ctx: Context) -> dict[str, float]:
    """Score the model in use against --labels and keep them for the corrections; returns the scores."""
    metrics = run_validate(ctx.spark, labels_path=existing_path(ctx.labels_path, "--labels"), tables=ctx.tables,
                           cfg=ctx.cfg, out_dir=ctx.validation_dir, model_version=ctx.heads().version,
                           run_id=ctx.run_id)
    mlflow.log_artifacts(str(ctx.validation_dir), "validation")
    return {f"{task}.{name}": float(value) for task, m in metrics.items() for name, value in m.items()}
