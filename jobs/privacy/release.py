"""The release rule every gold writer applies: a row, or a statistic inside it, is published only over at
least `privacy.min_users` distinct users and `privacy.min_conversations` conversations; what is held back
is counted in `suppressed_rows`, never shown."""
from __future__ import annotations

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession

def meets_thresholds(users: Column, conversations: Column, *, min_users: int, min_conversations: int) -> Column:
    """The release rule: at least `min_users` distinct users and `min_conversations` conversations."""
    return (users >= min_users) & (conversations >= min_conversations)


def release(df: DataFrame, *, min_users: int, min_conversations: int) -> tuple[DataFrame, DataFrame]:
    """Split rows into (released, suppressed) by the user and conversation thresholds."""
    ok = meets_thresholds(F.col("users"), F.col("conversations"), min_users=min_users,
                          min_conversations=min_conversations)
    return df.where(ok), df.where(~ok)


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
