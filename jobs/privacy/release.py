"""The release rule every gold writer applies: a row, or a statistic inside it, is published only over at
least `privacy.min_users` distinct users and `privacy.min_conversations` conversations; what is held back
is counted in `suppressed_rows`, never shown."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession, Window

@dataclass(frozen=True)
class Thresholds:
    """The release thresholds (the `privacy` config)."""

    min_users: int
    min_conversations: int

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "Thresholds":
        return cls(cfg["privacy"]["min_users"], cfg["privacy"]["min_conversations"])


def meets_thresholds(users: Column, conversations: Column, *, min_users: int, min_conversations: int) -> Column:
    """The release rule: at least `min_users` distinct users and `min_conversations` conversations."""
    return (users >= min_users) & (conversations >= min_conversations)


def release(df: DataFrame, *, min_users: int, min_conversations: int) -> tuple[DataFrame, DataFrame]:
    """Split rows into (released, suppressed) by the user and conversation thresholds."""
    ok = meets_thresholds(F.col("users"), F.col("conversations"), min_users=min_users,
                          min_conversations=min_conversations)
    return df.where(ok), df.where(~ok)


def releasable(facts: DataFrame, *, min_users: int, min_conversations: int) -> DataFrame:
    """Add `released` to topic clusters (scope, level, cluster, parent, users, conversations): the thresholds,
    then complementary suppression within each group of siblings, so that the parent's total minus its
    released children never reveals a suppressed one; a suppressed coarse cluster hides its children."""
    ok = meets_thresholds(F.col("users"), F.col("conversations"), min_users=min_users,
                          min_conversations=min_conversations)
    siblings = Window.partitionBy("scope", "level", "parent")
    smallest_ok = Window.partitionBy("scope", "level", "parent", "ok").orderBy("conversations", "cluster")
    flagged = (facts.withColumn("ok", ok)
               .withColumn("any_failed", F.max((~F.col("ok")).cast("int")).over(siblings) == 1)
               .withColumn("ok_rank", F.row_number().over(smallest_ok))
               .withColumn("released", F.col("ok") & ~(F.col("any_failed") & (F.col("ok_rank") == 1))))
    coarse = flagged.where(F.col("level") == "coarse").select(
        "scope", F.col("cluster").alias("parent"), F.col("released").alias("parent_released"))
    return (flagged.join(coarse, ["scope", "parent"], "left")
            .withColumn("released", F.col("released") & F.coalesce("parent_released", F.lit(True)))
            .drop("ok", "any_failed", "ok_rank", "parent_released"))


def withhold_statistics(df: DataFrame, statistics: dict[str, tuple[str, str, tuple[str, ...]]], *, min_users: int,
                        min_conversations: int) -> DataFrame:
    """Null each statistic that a row computes over part of its conversations where that part alone is
    under the thresholds, and name it in the array column `withheld`.

    A released row then never carries, say, the mean sentiment shift of one person's conversations.

    Args:
        df: the rows.
        statistics: name -> (users column, conversations column of the part it is computed over, the
            columns it publishes); a null count (no such conversations) is zero.
        min_users, min_conversations: the release thresholds.
    """
    ok = {name: meets_thresholds(F.coalesce(users, F.lit(0)), F.coalesce(conversations, F.lit(0)),
                                 min_users=min_users, min_conversations=min_conversations)
          for name, (users, conversations, _) in statistics.items()}
    published = {column: name for name, (_, _, columns) in statistics.items() for column in columns}
    withheld = F.filter(F.array(*[F.when(F.col(columns[0]).isNotNull() & ~ok[name], F.lit(name))
                                  for name, (_, _, columns) in statistics.items()]), lambda name: name.isNotNull())
    return df.select(*[F.when(ok[published[c]], F.col(c)).alias(c) if c in published else c for c in df.columns],
                     withheld.alias("withheld"))


def write_suppressed_counts(spark: SparkSession, counts: list[tuple[str, int]], path: str, *, model_version: str,
                            run_id: str) -> None:
    """Replace the suppressed-row counts of these tables only (one commit), keeping other stages' counts."""
    from jobs.session import is_table, overwrite_table, stamp

    df = stamp(spark.createDataFrame(counts, "table_name string, suppressed_rows long"),
               model_version=model_version, run_id=run_id)
    if not is_table(spark, path):
        overwrite_table(df, path)
        return
    names = ", ".join(f"'{name}'" for name, _ in counts)
    df.write.format("delta").mode("overwrite").option("replaceWhere", f"table_name IN ({names})").save(path)
