"""Aggregate (gold): the study's figures, released only over enough distinct users and conversations.

    python -m jobs.aggregate --profile local --output out/

From the silver labels of the model version in use it writes `prevalence` (share of conversations by
use and category, Wilson interval, denominator stated), `pushback` (rate and reason mix per segment),
`referral` (rate per segment) and `sentiment_shift` (mean of the last 3 minus the first 3 user messages
on conversations with 6+ user messages, Poisson-bootstrap interval). A row is released only when the
conversations it describes come from at least `privacy.min_users` users and number at least
`privacy.min_conversations`; suppressed rows are counted in `suppressed_rows`, never shown.
"""
from __future__ import annotations

import math
import sys
from statistics import NormalDist
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession

from jobs.cli import stage_main

# Poisson(1) cumulative probabilities: a uniform draw above k of them is a weight of k.
POISSON1_CDF = [sum(math.exp(-1) / math.factorial(j) for j in range(k + 1)) for k in range(12)]


def segments(labels: DataFrame) -> DataFrame:
    """One row per conversation and segment it belongs to: 'all', 'affective' and each category."""
    segment_list = F.concat(
        F.array(F.lit("all")),
        F.when(F.col("use") == "affective", F.array(F.lit("affective"))).otherwise(F.array().cast("array<string>")),
        F.col("categories"),
    )
    return labels.withColumn("segment", F.explode(segment_list))


def wilson(successes: Column, n: Column, z: float) -> tuple[Column, Column]:
    """Wilson score interval for a binomial proportion."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * F.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def z_value(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def prevalence(labels: DataFrame, *, z: float, rates: DataFrame | None = None) -> DataFrame:
    """Share of all classified conversations by use, and by category of all and of affective ones.

    With validated rates, shares of all conversations also get an error-corrected `adjusted_share`.
    """
    total = labels.agg(F.count("*").alias("denominator"))
    affective_total = labels.where(F.col("use") == "affective").agg(F.count("*").alias("denominator"))
    by_use = labels.groupBy(F.col("use").alias("measure")).agg(
        F.count("*").alias("conversations"), F.countDistinct("user_id").alias("users"))
    by_category = labels.select(F.explode("categories").alias("measure"), "user_id").groupBy("measure").agg(
        F.count("*").alias("conversations"), F.countDistinct("user_id").alias("users"))
    rows = (
        by_use.crossJoin(total).withColumn("population", F.lit("all conversations"))
        .unionByName(by_category.crossJoin(total).withColumn("population", F.lit("all conversations")))
        .unionByName(by_category.crossJoin(affective_total).withColumn("population", F.lit("affective conversations")))
    )
    low, high = wilson(F.col("conversations"), F.col("denominator"), z)
    return rows.select(
        "measure", "population", "conversations", "denominator",
        (F.col("conversations") / F.col("denominator")).alias("share"),
        low.alias("ci_low"), high.alias("ci_high"), "users",
    ).transform(lambda prev: with_adjusted_share(prev, rates))


def with_adjusted_share(prev: DataFrame, rates: DataFrame | None) -> DataFrame:
    """Add `adjusted_share`: adjusted classify-and-count, (share - FPR) / (TPR - FPR) clipped to [0, 1].

    `rates` holds the validated `measure`, `tpr` and `fpr` of the model version in use; shares of all
    conversations without a validation (or with TPR <= FPR) get null.
    """
    if rates is None:
        return prev.withColumn("adjusted_share", F.lit(None).cast("double"))
    adjusted = F.when(
        (F.col("population") == "all conversations") & (F.col("tpr") > F.col("fpr")),
        F.least(F.lit(1.0), F.greatest(F.lit(0.0), (F.col("share") - F.col("fpr")) / (F.col("tpr") - F.col("fpr")))),
    )
    return prev.join(F.broadcast(rates), "measure", "left").withColumn("adjusted_share", adjusted).drop("tpr", "fpr")


def validated_rates(validation: DataFrame, model_version: str) -> DataFrame:
    """The latest validation of this model version as (measure, tpr, fpr) for the prevalence measures."""
    measure = F.regexp_replace(F.regexp_replace("task", "^use_", ""), "^category_", "")
    latest = validation.where(F.col("model_version") == model_version).groupBy("task").agg(
        F.max_by(F.struct("recall", "fpr"), "computed_at").alias("m"))
    return latest.where(F.col("task").rlike("^(use|category)_")).select(
        measure.alias("measure"), F.col("m.recall").alias("tpr"), F.col("m.fpr").alias("fpr"))


def rate_by_segment(labels: DataFrame, flag: str, *, z: float) -> DataFrame:
    """Rate of a boolean label per segment, with a Wilson interval."""
    rows = segments(labels).groupBy("segment").agg(
        F.count("*").alias("conversations"),
        F.countDistinct("user_id").alias("users"),
        F.sum(F.col(flag).cast("long")).alias(f"{flag}_conversations"),
    )
    low, high = wilson(F.col(f"{flag}_conversations"), F.col("conversations"), z)
    return rows.select(
        "segment", "conversations", "users", f"{flag}_conversations",
        (F.col(f"{flag}_conversations") / F.col("conversations")).alias("rate"),
        low.alias("ci_low"), high.alias("ci_high"),
    )


def pushback_reasons(labels: DataFrame) -> DataFrame:
    """Reason mix: the share of each segment's pushback conversations given each reason."""
    pushed = segments(labels).where("pushback")
    totals = pushed.groupBy("segment").agg(F.count("*").alias("pushback_conversations"))
    return (
        pushed.groupBy("segment", "pushback_reason")
        .agg(F.count("*").alias("conversations"), F.countDistinct("user_id").alias("users"))
        .join(totals, "segment")
        .select("segment", F.col("pushback_reason").alias("reason"), "conversations", "users",
                (F.col("conversations") / F.col("pushback_conversations")).alias("share_of_pushback"))
    )


def conversation_shift(sentiment: DataFrame, *, min_user_messages: int, edge: int) -> DataFrame:
    """Per conversation with enough user messages: mean sentiment of the last `edge` minus the first."""
    rows = sentiment.where(F.col("n_user_messages") >= min_user_messages)
    first = F.avg(F.when(F.col("user_turn") < edge, F.col("sentiment")))
    last = F.avg(F.when(F.col("user_turn") >= F.col("n_user_messages") - edge, F.col("sentiment")))
    return rows.groupBy("conversation_id").agg(first.alias("start"), last.alias("end")).select(
        "conversation_id", "start", "end", (F.col("end") - F.col("start")).alias("shift"))


def _poisson_weight(conversation_id: Column, replicate: Column, seed: int) -> Column:
    u = (F.abs(F.xxhash64(conversation_id, replicate, F.lit(seed))) % 1_000_000_007) / 1_000_000_007
    return sum((u > F.lit(c)).cast("int") for c in POISSON1_CDF)


def sentiment_shift(labels: DataFrame, sentiment: DataFrame, *, spark: SparkSession, cfg: dict[str, Any]) -> DataFrame:
    """Mean shift per segment with a distributed Poisson-bootstrap interval (no data leaves the executors)."""
    agg = cfg["aggregate"]
    shifts = conversation_shift(sentiment, min_user_messages=agg["shift_min_user_messages"],
                                edge=agg["shift_edge_messages"])
    rows = segments(labels.select("conversation_id", "user_id", "use", "categories")).join(shifts, "conversation_id")
    return shift_by(rows, ["segment"], spark=spark, agg=agg)


def shift_by(rows: DataFrame, keys: list[str], *, spark: SparkSession, agg: dict[str, Any]) -> DataFrame:
    """Per group of `keys`: conversations, users, mean start, end and shift, and the bootstrap interval.

    Args:
        rows: one row per conversation and group, with `conversation_id`, `user_id`, `start`, `end`, `shift`.
        keys: the grouping columns.
        spark: the session (for the replicate numbers).
        agg: the `aggregate` config (replicates, seed, confidence).
    """
    point = rows.groupBy(*keys).agg(
        F.count("*").alias("conversations"), F.countDistinct("user_id").alias("users"),
        F.avg("start").alias("mean_start"), F.avg("end").alias("mean_end"), F.avg("shift").alias("mean_shift"))
    alpha = 1 - agg["confidence"]
    replicates = spark.range(agg["bootstrap_replicates"]).withColumnRenamed("id", "replicate")
    weighted = rows.select(*keys, "conversation_id", "shift").crossJoin(replicates).withColumn(
        "w", _poisson_weight(F.col("conversation_id"), F.col("replicate"), agg["bootstrap_seed"]))
    means = weighted.groupBy(*keys, "replicate").agg(
        F.try_divide(F.sum(F.col("w") * F.col("shift")), F.sum("w")).alias("mean"))
    interval = means.where(F.col("mean").isNotNull()).groupBy(*keys).agg(
        F.percentile("mean", F.array(F.lit(alpha / 2), F.lit(1 - alpha / 2))).alias("ci"))
    return point.join(interval, keys, "left").select(
        *keys, "conversations", "users", "mean_start", "mean_end", "mean_shift",
        F.col("ci")[0].alias("ci_low"), F.col("ci")[1].alias("ci_high"))


def release(df: DataFrame, *, min_users: int, min_conversations: int) -> tuple[DataFrame, DataFrame]:
    """Split rows into (released, suppressed) by the user and conversation thresholds."""
    ok = (F.col("users") >= min_users) & (F.col("conversations") >= min_conversations)
    return df.where(ok), df.where(~ok)


def stamp(df: DataFrame, *, model_version: str, run_id: str) -> DataFrame:
    return df.select("*", F.lit(model_version).alias("model_version"), F.lit(run_id).alias("run_id"),
                     F.current_timestamp().alias("computed_at"))


def gold_tables(labels: DataFrame, sentiment: DataFrame, *, spark: SparkSession, cfg: dict[str, Any],
                rates: DataFrame | None = None) -> dict[str, DataFrame]:
    """Every gold table before the release rule, keyed by table config name."""
    z = z_value(cfg["aggregate"]["confidence"])
    return {
        "prevalence": prevalence(labels, z=z, rates=rates),
        "pushback": rate_by_segment(labels, "pushback", z=z),
        "pushback_reasons": pushback_reasons(labels),
        "referral": rate_by_segment(labels, "referral", z=z),
        "sentiment_shift": sentiment_shift(labels, sentiment, spark=spark, cfg=cfg),
    }


def run_aggregate(spark: SparkSession, *, tables: dict[str, str], cfg: dict[str, Any], model_version: str,
                  run_id: str) -> dict[str, int]:
    """Write the released gold tables and the suppressed-row counts; return rows released and suppressed."""
    from delta.tables import DeltaTable

    from jobs.session import overwrite_table, read_table

    current = F.col("model_version") == model_version
    labels = read_table(spark, tables["conversation_labels"]).where(current)
    sentiment = read_table(spark, tables["message_sentiment"]).where(current)
    rates = (validated_rates(read_table(spark, tables["validation_metrics"]), model_version)
             if DeltaTable.isDeltaTable(spark, tables["validation_metrics"]) else None)
    stats, suppressed_rows = {}, []
    for name, df in gold_tables(labels, sentiment, spark=spark, cfg=cfg, rates=rates).items():
        df = df.persist()
        released, suppressed = release(df, min_users=cfg["privacy"]["min_users"],
                                       min_conversations=cfg["privacy"]["min_conversations"])
        overwrite_table(stamp(released, model_version=model_version, run_id=run_id), tables[name])
        stats[f"{name}_released"] = released.count()
        stats[f"{name}_suppressed"] = suppressed.count()
        suppressed_rows.append((name, stats[f"{name}_suppressed"]))
        df.unpersist()
    write_suppressed_counts(spark, suppressed_rows, tables["suppressed"], model_version=model_version, run_id=run_id)
    return stats


def write_suppressed_counts(spark: SparkSession, counts: list[tuple[str, int]], path: str, *, model_version: str,
                            run_id: str) -> None:
    """Replace the suppressed-row counts of these tables only (one commit), keeping other stages' counts."""
    from delta.tables import DeltaTable

    from jobs.session import overwrite_table

    df = stamp(spark.createDataFrame(counts, "table_name string, suppressed_rows long"),
               model_version=model_version, run_id=run_id)
    if not DeltaTable.isDeltaTable(spark, path):
        overwrite_table(df, path)
        return
    names = ", ".join(f"'{name}'" for name, _ in counts)
    df.write.format("delta").mode("overwrite").option("replaceWhere", f"table_name IN ({names})").save(path)


main = stage_main("aggregate")


if __name__ == "__main__":
    sys.exit(main())
