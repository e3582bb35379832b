"""Statistics of the released figures: Wilson intervals for shares and rates, and the start-to-end
sentiment shift with its distributed Poisson-bootstrap interval (no data leaves the executors)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession

@dataclass(frozen=True)
class ShiftSettings:
    """How a start-to-end shift and its interval are computed (the `aggregate` config)."""

    min_user_messages: int  # conversations with at least this many user messages
    edge: int               # the first and last this many user messages
    replicates: int         # Poisson-bootstrap replicates
    seed: int
    confidence: float

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "ShiftSettings":
        a = cfg["aggregate"]
        return cls(a["shift_min_user_messages"], a["shift_edge_messages"], a["bootstrap_replicates"],
                   a["bootstrap_seed"], a["confidence"])


# Poisson(1) cumulative probabilities: a uniform draw above k of them is a weight of k.
POISSON1_CDF = [sum(math.exp(-1) / math.factorial(j) for j in range(k + 1)) for k in range(12)]


def wilson(successes: Column, n: Column, z: float) -> tuple[Column, Column]:
    """Wilson score interval for a binomial proportion. It always holds the proportion; the bounds are held
    to it and to [0, 1], since at 0 or all successes float rounding puts them a hair outside (0 of 20 gave a
    lower bound of 1.4e-17 above the rate of 0, which a chart reads as a negative error bar)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * F.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return F.greatest(F.lit(0.0), F.least(p, centre - half)), F.least(F.lit(1.0), F.greatest(p, centre + half))


def z_value(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def conversation_shift(sentiment: DataFrame, *, min_user_messages: int, edge: int) -> DataFrame:
    """Per conversation with enough user messages: mean sentiment of the last `edge` minus the first."""
    rows = sentiment.where(F.col("n_user_messages") >= min_user_messages)
    first = F.avg(F.when(F.col("user_turn") < edge, F.col("sentiment")))
    last = F.avg(F.when(F.col("user_turn") >= F.col("n_user_messages") - edge, F.col("sentiment")))
    return rows.groupBy("conversation_id").agg(first.alias("start"), last.alias("end")).select(
        "conversation_id", "start", "end", (F.col("end") - F.col("start")).alias("shift"))


def poisson_weight(conversation_id: Column, replicate: Column, seed: int) -> Column:
    u = (F.abs(F.xxhash64(conversation_id, replicate, F.lit(seed))) % 1_000_000_007) / 1_000_000_007
    return sum((u > F.lit(c)).cast("int") for c in POISSON1_CDF)


def shift_by(rows: DataFrame, keys: list[str], *, spark: SparkSession, shift: ShiftSettings) -> DataFrame:
    """Per group of `keys`: conversations, users, mean start, end and shift, and the bootstrap interval.

    Args:
        rows: one row per conversation and group, with `conversation_id`, `user_id`, `start`, `end`, `shift`.
        keys: the grouping columns.
        spark: the session (for the replicate numbers).
        shift: replicates, seed and confidence of the interval.
    """
    point = rows.groupBy(*keys).agg(
        F.count("*").alias("conversations"), F.countDistinct("user_id").alias("users"),
        F.avg("start").alias("mean_start"), F.avg("end").alias("mean_end"), F.avg("shift").alias("mean_shift"))
    alpha = 1 - shift.confidence
    replicates = spark.range(shift.replicates).withColumnRenamed("id", "replicate")
    weighted = rows.select(*keys, "conversation_id", "shift").crossJoin(replicates).withColumn(
        "w", poisson_weight(F.col("conversation_id"), F.col("replicate"), shift.seed))
    means = weighted.groupBy(*keys, "replicate").agg(
        F.try_divide(F.sum(F.col("w") * F.col("shift")), F.sum("w")).alias("mean"))
    interval = means.where(F.col("mean").isNotNull()).groupBy(*keys).agg(
        F.percentile("mean", F.array(F.lit(alpha / 2), F.lit(1 - alpha / 2))).alias("ci"))
    return point.join(interval, keys, "left").select(
        *keys, "conversations", "users", "mean_start", "mean_end", "mean_shift",
        F.col("ci")[0].alias("ci_low"), F.col("ci")[1].alias("ci_high"))
