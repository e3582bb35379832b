"""How well the topic clusters recover the synthetic generator's topics, and whether every release holds.

After `affective synth --out DATA` and `affective run --input DATA/conversations --output OUT`:

    .venv/bin/python -m evaluation.topic_recovery --data DATA --output OUT [--min-users 5 --min-conversations 10]

Prints, for the `affective` scope, the adjusted Rand index and purity of the fine and coarse clusters
against the generator's topics and their categories (over the conversations the classifier called
affective, so misclassified non-affective topics count against it too), and checks
that every released cluster meets the thresholds. Only ids and cluster numbers are read, no text.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

import pandas as pd


def purity(clusters: pd.Series, truth: pd.Series) -> float:
    """Share of conversations whose cluster's most common true topic is their own."""
    frame = pd.DataFrame({"c": clusters.values, "t": truth.values})
    return float(frame.groupby("c")["t"].agg(lambda t: Counter(t).most_common(1)[0][1]).sum() / len(frame))


def recovery(assigned: pd.DataFrame) -> dict[str, float]:
    """ARI and purity of `fine` and `coarse` against the true `topic` and its `category` (one row per conversation)."""
    from sklearn.metrics import adjusted_rand_score

    out = {"conversations": len(assigned), "topics": int(assigned["topic"].nunique()),
           "categories": int(assigned["category"].nunique())}
    for level in ("fine", "coarse"):
        out[f"{level}_clusters"] = int(assigned[level].nunique())
        for truth in ("topic", "category"):
            out[f"{level}_ari_vs_{truth}"] = float(adjusted_rand_score(assigned[truth], assigned[level]))
            out[f"{level}_purity_vs_{truth}"] = purity(assigned[level], assigned[truth])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the synth output folder (DATA/labels)")
    parser.add_argument("--output", required=True, help="the run's output folder (OUT/tables)")
    parser.add_argument("--min-users", type=int, default=5)
    parser.add_argument("--min-conversations", type=int, default=10)
    args = parser.parse_args(argv)

    import pyspark.sql.functions as F

    from jobs.config import load_config
    from jobs.session import get_spark, read_table

    spark = get_spark(load_config("local")["spark"])
    topics = read_table(spark, f"{args.output}/tables/conversation_topics").where("scope = 'affective'")
    truth = spark.read.json(f"{args.data}/labels").select(
        "conversation_id", "topic", F.coalesce(F.get("categories", 0), "use").alias("category"))
    assigned = topics.join(truth, "conversation_id").select("fine", "coarse", "topic", "category").toPandas()
    clusters = read_table(spark, f"{args.output}/tables/topic_clusters")
    below = clusters.where(f"users < {args.min_users} OR conversations < {args.min_conversations}").count()
    result = {**recovery(assigned), "released_clusters": clusters.count(), "released_below_thresholds": below}
    print(json.dumps(result, indent=2))
    return 0 if below == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
