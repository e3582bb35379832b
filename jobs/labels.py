"""Human labels as `affective validate` and `affective train` read them (the human-labels format of
README "Validation"), checked row by row: a bad row is an error that names it, never dropped or guessed."""
from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession

from udfs.heads import CATEGORIES, PUSHBACK_REASONS, USES

LABELS_SCHEMA = (
    "conversation_id string, use string, categories array<string>, pushback boolean, "
    "pushback_reason string, referral boolean, message_sentiment array<struct<index:int,score:int>>"
)


def read_labels(spark: SparkSession, path: str) -> DataFrame:
    """Human labels, one row per conversation.

    A row that is not a labels object, lacks a field or holds a value outside the labels' vocabulary is an
    error naming how many rows are bad and the first one (its conversation id, file and reasons): labels
    train and correct the figures, so none is dropped or guessed.
    """
    raw = (spark.read.schema(f"{LABELS_SCHEMA}, _corrupt_record string")
           .option("columnNameOfCorruptRecord", "_corrupt_record").json(path)
           .withColumn("_problems", label_problems()).withColumn("_file", F.input_file_name()))
    bad = raw.where(F.size("_problems") > 0).cache()
    count = bad.count()
    if count:
        first = bad.select("conversation_id", "_file", "_problems").first()
        bad.unpersist()
        raise ValueError(f"{path}: {count} label rows are invalid; the first, conversation_id "
                         f"{first['conversation_id']!r} in {first['_file']}: {'; '.join(first['_problems'])}")
    bad.unpersist()
    return raw.drop("_corrupt_record", "_problems", "_file")


def label_problems() -> Column:
    """Per label row, what is wrong with it (an empty array when nothing is)."""
    score = lambda m: m["score"].isNull() | m["index"].isNull() | (m["score"] < -2) | (m["score"] > 2)  # noqa: E731
    checks = [
        (F.col("_corrupt_record").isNotNull(), "not a JSON object with the labels' field types"),
        (F.col("conversation_id").isNull(), "no conversation_id"),
        (F.col("use").isNull() | ~F.col("use").isin(*USES), f"use missing or not one of {', '.join(USES)}"),
        (F.col("categories").isNull(), "categories missing (an empty list when not affective)"),
        (F.exists(F.coalesce("categories", F.array()), lambda c: ~c.isin(*CATEGORIES)),
         f"a category not among {', '.join(CATEGORIES)}"),
        (F.col("pushback").isNull(), "pushback missing"),
        (F.col("referral").isNull(), "referral missing"),
        (F.col("pushback_reason").isNotNull() & ~F.col("pushback_reason").isin(*PUSHBACK_REASONS),
         f"pushback_reason not one of {', '.join(PUSHBACK_REASONS)}"),
        (F.col("pushback_reason").isNotNull() & ~F.coalesce(F.col("pushback"), F.lit(False)),
         "pushback_reason given without pushback"),
        (F.exists(F.coalesce("message_sentiment", F.array()), score), "a message_sentiment without index or "
                                                                       "with a score outside -2..2"),
    ]
    return F.array_compact(F.array(*[F.when(bad, F.lit(reason)) for bad, reason in checks]))


def check_labels(labels: DataFrame, known: DataFrame, *, source: str,
                 known_as: str = "conversation classified by the model version in use") -> None:
    """Raise ValueError naming how many and one example if labels name unknown or repeated conversations."""
    for problem, rows in (
        (f"match no {known_as}", labels.join(known, "conversation_id", "left_anti")),
        ("are given more than once", labels.groupBy("conversation_id").count().where(F.col("count") > 1)),
    ):
        count = rows.count()
        if count:
            example = rows.select("conversation_id").first()[0]
            raise ValueError(f"{source}: {count} labelled conversation ids {problem}, e.g. {example!r}")
