"""Topics (gold): privacy-preserving topic clusters, long-conversation drift and users over time.

    affective topics --profile local --output out/

Clusters the conversation embeddings that the classify stage stored (no second encoder pass) with
k-means (cosine), per scope (all affective conversations, each category, long ones, ones with pushback):
fine clusters fitted on the driver from a bounded sample of the scope and assigned to every conversation
on the executors, grouped into coarse ones by k-means over the fine centroids. Each cluster is named by
class-based TF-IDF over the scrubbed user text, using only terms written in the cluster by at least
`privacy.min_users` distinct users, so no placeholder and no string of fewer users can name it.

Release: a cluster is released only with at least `privacy.min_users` users and
`privacy.min_conversations` conversations, each user counting at most `topics.max_conversations_per_user`
times per cluster. A group of siblings (coarse clusters of a scope, fine clusters of a coarse one) that
suppresses any member also suppresses its smallest releasable one, so the parent's total minus the
released rows always hides at least a releasable group; a suppressed coarse cluster hides its children.

Tables: silver `conversation_topics` (each conversation's clusters; not for release) and gold
`topic_clusters`, `topic_hierarchy`, `topic_drift` (window-to-window category transitions of long
conversations) and `user_affective_share` (how many users have which weekly affective share).
"""
from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.util import inheritable_thread_target

from jobs.context import Context
from jobs.privacy.release import Thresholds, releasable, withhold_statistics
from jobs.stats import ShiftSettings, conversation_shift, shift_by

logger = logging.getLogger(__name__)

CLUSTER_KEYS = ["scope", "level", "cluster"]
CLUSTER_TABLES = ("conversation_topics", "topic_clusters", "topic_hierarchy")
TOPIC_TABLES = ("topic_drift", "user_affective_share", *CLUSTER_TABLES)  # in the order their counts are logged
# Scrubbed text carries typed placeholders such as [EMAIL]; they are removed before any term is counted.
PLACEHOLDER = r"\[[A-Z_]+\]"
# Chat fillers that Spark's English stop words keep and that every cluster shares: never a cluster's name.
CHAT_STOP_WORDS = ("yes", "yeah", "yep", "nope", "okay", "like", "thank", "thanks", "please", "really", "lol",
                   "hey", "hello", "sure", "maybe", "well", "also", "even", "still", "much", "get", "got", "know",
                   "think", "want", "would", "could", "one", "thing", "things", "something", "anything",
                   "i'm", "i've", "i'd", "i'll", "don't", "can't", "it's", "that's", "didn't", "doesn't")
SAMPLE_BUCKETS = 1_000_000  # resolution of the hash sample that fits k-means
SHARE_BUCKETS = [(0.0, "0"), (0.25, "(0, 0.25]"), (0.5, "(0.25, 0.5]"), (0.75, "(0.5, 0.75]"),
                 (0.999999, "(0.75, 1)"), (1.0, "1")]


def scoped(labels: DataFrame) -> DataFrame:
    """One row per affective conversation and scope it falls in: affective, category:<c>, long, pushback."""
    scopes = F.concat(
        F.array(F.lit("affective")),
        F.transform("categories", lambda c: F.concat(F.lit("category:"), c)),
        F.when(F.col("is_long"), F.array(F.lit("long"))).otherwise(F.array().cast("array<string>")),
        F.when(F.col("pushback"), F.array(F.lit("pushback"))).otherwise(F.array().cast("array<string>")),
    )
    return labels.where(F.col("use") == "affective").withColumn("scope", F.explode(scopes))


def choose_k(n: int, configured: int, max_k: int, divisor: int) -> int:
    """The configured k, or one grown with the data (about sqrt(n / divisor)), within [2, min(max_k, n - 1)]."""
    k = configured or round(math.sqrt(n / divisor))
    return max(2, min(k, max_k, n - 1))


@dataclass(frozen=True)
class TopicSettings:
    """The `topics` config (conf/default.yaml says what each one does)."""

    fine_k: int
    coarse_k: int
    conversations_per_fine_cluster: int
    fine_clusters_per_coarse: int
    max_k: int
    max_iter: int
    n_init: int
    seed: int
    fit_conversations: int
    max_conversations_per_user: int
    terms: int

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "TopicSettings":
        return cls(**cfg["topics"])


@dataclass(frozen=True)
class ScopeFit:
    """One scope's k-means: unit fine centroids, each fine cluster's coarse cluster, the coarse centroids."""

    fine_centres: np.ndarray
    coarse_of: np.ndarray
    coarse_centres: np.ndarray


def fit_scope(rows: DataFrame, n: int, t: TopicSettings) -> ScopeFit:
    """k-means with cosine distance over one scope's conversations, fitted on the driver from a seeded
    sample of at most `t.fit_conversations` of them; coarse k-means over the fine centroids (coarse_groups).

    A driver fit is one Spark job per scope where an executor fit is one per iteration, and the sample
    bounds both its time and the driver's memory (10,000 x 384 floats, 15 MB, by default) whatever the
    data size.
    """
    from sklearn.cluster import KMeans as DriverKMeans

    fitted_n = min(n, t.fit_conversations)
    # Picked by a hash of the id, so the same rows wherever they sit.
    sampled = rows if fitted_n == n else rows.where(
        F.pmod(F.xxhash64("conversation_id", F.lit(t.seed)), F.lit(SAMPLE_BUCKETS)) < SAMPLE_BUCKETS * fitted_n / n)
    unit = unit_embeddings(sampled)
    if len(unit) == 0:
        raise ValueError(f"topics: no conversation of {n} fell into the k-means sample of about {fitted_n}; "
                         "raise topics.fit_conversations")
    # Alike rows (one distinct point, even) allow fewer centres than asked.
    distinct = len({hash(row.tobytes()) for row in unit})  # not np.unique: no second copy of the sample
    fine_k = max(1, min(choose_k(n, t.fine_k, t.max_k, t.conversations_per_fine_cluster), len(unit) - 1, distinct))
    # copy_x=False: k-means centres the sample in place and restores it, instead of fitting on a copy.
    fine = DriverKMeans(n_clusters=fine_k, n_init=t.n_init, max_iter=t.max_iter, random_state=t.seed,
                        copy_x=False).fit(unit)
    # Unit centres: the nearest centre is then the same by cosine and by Euclidean distance.
    fine_centres = _to_unit(fine.cluster_centers_.astype(np.float32))
    coarse_of, coarse_centres = coarse_groups(fine_centres, t)
    return ScopeFit(fine_centres, coarse_of, coarse_centres)


def unit_embeddings(sample: DataFrame) -> np.ndarray:
    """(rows, dim) float32: the sample's embeddings scaled to unit length (Euclidean k-means on unit vectors
    ranks by cosine), in conversation id order so that the fit does not depend on the partitioning.

    Read through Arrow and copied chunk by chunk into their sorted places: the driver holds the Arrow
    table and one array, never a Python float per number or a second sorted copy.
    """
    import pyarrow.compute as pc

    table = sample.select("conversation_id", "embedding").toArrow()
    dims = np.unique(pc.list_value_length(table.column("embedding")).to_numpy())
    if len(dims) > 1:
        raise ValueError(f"topics: conversation embeddings of different lengths {dims.tolist()}; "
                         "rerun classify with one model for all conversations")
    rank = np.empty(table.num_rows, dtype=np.int64)
    rank[np.argsort(table.column("conversation_id").to_numpy(), kind="stable")] = np.arange(table.num_rows)
    x = np.empty((table.num_rows, int(dims[0]) if len(dims) else 0), dtype=np.float32)
    start = 0
    for chunk in table.column("embedding").chunks:
        x[rank[start:start + len(chunk)]] = chunk.flatten().to_numpy().reshape(len(chunk), x.shape[1])
        start += len(chunk)
    del table  # before the fit, which needs only x
    return _to_unit(x)


def _to_unit(x: np.ndarray) -> np.ndarray:
    """x with each row scaled to unit length, in place (a zero row stays zero)."""
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.finfo(x.dtype).tiny)
    return x


def assign_clusters(rows: DataFrame, fits: dict[str, ScopeFit]) -> DataFrame:
    """Every row of a fitted scope with its nearest fine centre (`fine`) and that centre's coarse cluster
    (`coarse`), all scopes in one pass on the executors."""
    centres = {scope: (f.fine_centres, f.coarse_of) for scope, f in fits.items()}

    @F.pandas_udf("fine int, coarse int")
    def nearest(scope: pd.Series, embedding: pd.Series) -> pd.DataFrame:
        fine, coarse = np.zeros(len(scope), dtype=np.int32), np.zeros(len(scope), dtype=np.int32)
        for name in scope.unique():
            at = (scope == name).to_numpy()
            fine_centres, coarse_of = centres[name]
            # By cosine: a row's own length scales all its dot products alike.
            fine[at] = np.argmax(np.stack(embedding[at].to_numpy()) @ fine_centres.T, axis=1)
            coarse[at] = coarse_of[fine[at]]
        return pd.DataFrame({"fine": fine, "coarse": coarse})

    fitted = rows.where(F.col("scope").isin(sorted(fits)))
    return fitted.withColumn("_clusters", nearest("scope", "embedding")).select(
        "conversation_id", "user_id", "scope", "categories", "pushback", "pushback_reason", "referral",
        "_clusters.fine", "_clusters.coarse")


def coarse_groups(fine_centres: np.ndarray, t: TopicSettings) -> tuple[np.ndarray, np.ndarray]:
    """(per fine cluster its coarse cluster, the coarse centroids): k-means with cosine distance over the
    fine centroids. At most `max_k` rows, already on the driver."""
    from sklearn.cluster import KMeans as DriverKMeans

    unit = _to_unit(np.array(fine_centres, dtype=np.float64))
    k = min(choose_k(len(unit), t.coarse_k, t.max_k, t.fine_clusters_per_coarse), len(unit))
    fitted = DriverKMeans(n_clusters=k, n_init=t.n_init, max_iter=t.max_iter, random_state=t.seed).fit(unit)
    return fitted.labels_.astype(np.int32), fitted.cluster_centers_


def members(assigned: DataFrame, max_per_user: int) -> DataFrame:
    """Conversations per cluster at both levels, each user counted at most `max_per_user` times per cluster."""
    fine = assigned.select("*", F.lit("fine").alias("level"), F.col("fine").alias("cluster"),
                           F.col("coarse").alias("parent"))
    coarse = assigned.select("*", F.lit("coarse").alias("level"), F.col("coarse").alias("cluster"),
                             F.lit(None).cast("int").alias("parent"))
    # A deterministic pick (hash of the id), so reruns bound the same conversations.
    by_user = Window.partitionBy(*CLUSTER_KEYS, "user_id").orderBy(F.xxhash64("conversation_id"), "conversation_id")
    return (fine.unionByName(coarse).withColumn("_n", F.row_number().over(by_user))
            .where(F.col("_n") <= max_per_user).drop("_n", "fine", "coarse"))


def cluster_facts(clustered: DataFrame, sentiment: DataFrame, *, spark: SparkSession, shift: ShiftSettings,
                  thresholds: Thresholds) -> DataFrame:
    """Per cluster: size, category mix, pushback rate and reason mix, referral rate and sentiment shift.

    A statistic computed over part of a cluster (the reason mix over its pushback conversations, the shift
    over those with enough user messages) is kept only where that part alone meets the release thresholds;
    otherwise it is null and named in `withheld`, so that a released cluster never carries, say, one
    person's own sentiment trajectory.
    """
    base = clustered.groupBy(*CLUSTER_KEYS, "parent").agg(
        F.count("*").alias("conversations"), F.countDistinct("user_id").alias("users"),
        F.avg(F.col("pushback").cast("double")).alias("pushback_rate"),
        F.avg(F.col("referral").cast("double")).alias("referral_rate"),
        F.count(F.when(F.col("pushback"), 1)).alias("pushback_conversations"),
        F.countDistinct(F.when(F.col("pushback"), F.col("user_id"))).alias("pushback_users"))
    shifts = conversation_shift(sentiment, min_user_messages=shift.min_user_messages, edge=shift.edge)
    by_cluster = shift_by(clustered.join(shifts, "conversation_id"), CLUSTER_KEYS, spark=spark, shift=shift).select(
        *CLUSTER_KEYS, F.col("conversations").alias("shift_conversations"), F.col("users").alias("shift_users"),
        "mean_shift", F.col("ci_low").alias("shift_ci_low"), F.col("ci_high").alias("shift_ci_high"))

    facts = (base.join(_mixes(clustered), CLUSTER_KEYS, "left").join(by_cluster, CLUSTER_KEYS, "left")
             .withColumn("category_mix", F.transform_values("category_mix", lambda _, n: n / F.col("conversations")))
             .select(*CLUSTER_KEYS, "parent", "conversations", "users", "category_mix", "pushback_rate",
                     "pushback_reason_mix", "referral_rate", "shift_conversations", "mean_shift", "shift_ci_low",
                     "shift_ci_high", "pushback_users", "pushback_conversations", "shift_users"))
    return withhold_statistics(facts, {
        "pushback_reason_mix": ("pushback_users", "pushback_conversations", ("pushback_reason_mix",)),
        "mean_shift": ("shift_users", "shift_conversations", ("mean_shift", "shift_ci_low", "shift_ci_high")),
    }, min_users=thresholds.min_users, min_conversations=thresholds.min_conversations).drop(
        "pushback_users", "pushback_conversations", "shift_users")


def _mixes(clustered: DataFrame) -> DataFrame:
    """Per cluster: category -> conversations (`category_mix`, a count until divided by the cluster's size)
    and pushback reason -> share of its pushback conversations with a reason (`pushback_reason_mix`); null
    where there are none. Both from one count of (kind, key) pairs: at 1,000 conversations the fixed cost
    of each shuffle and join is most of the facts' time."""
    reason = F.when(F.col("pushback") & F.col("pushback_reason").isNotNull(),
                    F.array(F.struct(F.lit("reason").alias("kind"), F.col("pushback_reason").alias("key"))))
    pairs = F.concat(F.transform(F.coalesce("categories", F.array().cast("array<string>")),
                                 lambda c: F.struct(F.lit("category").alias("kind"), c.alias("key"))),
                     F.coalesce(reason, F.array().cast("array<struct<kind:string,key:string>>")))
    counts = (clustered.select(*CLUSTER_KEYS, F.explode(pairs).alias("pair"))
              .groupBy(*CLUSTER_KEYS, "pair.kind", "pair.key").agg(F.count("*").cast("double").alias("n")))

    def entries(kind: str) -> Column:
        found = F.map_from_entries(F.collect_list(F.when(F.col("kind") == kind, F.struct("key", "n"))))
        return F.when(F.size(found) > 0, found)

    reasons = F.sum(F.when(F.col("kind") == "reason", F.col("n")))
    return counts.groupBy(*CLUSTER_KEYS).agg(
        entries("category").alias("category_mix"),
        F.transform_values(entries("reason"), lambda _, n: n / reasons).alias("pushback_reason_mix"))


def user_terms(conversations: DataFrame) -> DataFrame:
    """(conversation_id, term): the distinct words and two-word phrases of a conversation's scrubbed user
    messages, placeholders, stop words and chat fillers (CHAT_STOP_WORDS: "yes", "like", "thank", ...)
    removed. Once per conversation: a term repeated by one person should not name a cluster."""
    from pyspark.ml.feature import NGram, StopWordsRemover

    text = F.lower(F.regexp_replace(F.array_join(F.transform(
        F.filter("messages", lambda m: m["role"] == "user"), lambda m: m["content"]), " "), PLACEHOLDER, " "))
    words = conversations.select("conversation_id", F.split(text, r"[^\p{L}']+").alias("raw"))
    words = words.withColumn("raw", F.filter("raw", lambda w: F.length(F.regexp_replace(w, "'", "")) >= 3))
    stop_words = [*StopWordsRemover.loadDefaultStopWords("english"), *CHAT_STOP_WORDS]
    words = StopWordsRemover(inputCol="raw", outputCol="words", stopWords=stop_words).transform(words)
    phrases = NGram(n=2, inputCol="words", outputCol="phrases").transform(words)
    return phrases.select("conversation_id", F.explode(F.array_distinct(F.concat("words", "phrases"))).alias("term"))


def cluster_terms(clustered: DataFrame, terms: DataFrame, *, min_users: int, top: int) -> DataFrame:
    """Per cluster, its `top` terms by class-based TF-IDF among terms written there by >= min_users users.

    A term's frequency in a cluster is the number of its conversations that use it (`terms` holds each
    term once per conversation), and it enters as its square root (BERTopic's `reduce_frequent_words`):
    words that every emotional conversation uses ("feel", "bit") otherwise outrank the few that say what a
    cluster is about.
    """
    counted = (clustered.select(*CLUSTER_KEYS, "conversation_id", "user_id").join(terms, "conversation_id")
               .groupBy(*CLUSTER_KEYS, "term").agg(F.count("*").alias("n"), F.countDistinct("user_id").alias("users"))
               .where(F.col("users") >= min_users))
    level = Window.partitionBy("scope", "level")
    cluster = Window.partitionBy(*CLUSTER_KEYS)
    scored = (counted
              .withColumn("words_in_cluster", F.sum("n").over(cluster))
              .withColumn("term_total", F.sum("n").over(Window.partitionBy("scope", "level", "term")))
              .withColumn("mean_words", F.sum("n").over(level) / F.size(F.collect_set("cluster").over(level)))
              .withColumn("score", F.sqrt(F.col("n") / F.col("words_in_cluster"))
                          * F.log(1 + F.col("mean_words") / F.col("term_total"))))
    ranked = scored.withColumn("rank", F.row_number().over(cluster.orderBy(F.desc("score"), "term")))
    return ranked.where(F.col("rank") <= top).groupBy(*CLUSTER_KEYS).agg(
        F.transform(F.array_sort(F.collect_list(F.struct("rank", "term"))), lambda r: r["term"]).alias("terms"))


def cluster_map(spark: SparkSession, centres: dict[tuple[str, str], np.ndarray]) -> DataFrame:
    """2-D coordinates of every cluster centroid: PCA per scope over its centroids of both levels (on the
    driver, which holds them: at most 2 x `max_k` per scope)."""
    from sklearn.decomposition import PCA

    rows = []
    for scope in sorted({s for s, _ in centres}):
        keys = [(level, i) for level in ("coarse", "fine") for i in range(len(centres.get((scope, level), [])))]
        points = np.array([centres[(scope, level)][i] for level, i in keys], dtype=np.float64)
        xy = PCA(n_components=2).fit_transform(points)
        rows += [(scope, level, i, float(x), float(y)) for (level, i), (x, y) in zip(keys, xy)]
    return spark.createDataFrame(rows, "scope string, level string, cluster int, x double, y double")


def drift_transitions(labels: DataFrame) -> DataFrame:
    """Long conversations: how many moved from one window's category to the next one's (e.g. coaching ->
    companionship), each conversation counted once per transition; non-affective windows count by use."""
    states = F.when(F.size("w.categories") > 0, F.col("w.categories")).otherwise(F.array("w.use"))
    windows = labels.where(F.col("is_long")).select("conversation_id", "user_id", F.posexplode("windows").alias("i", "w"))
    windows = windows.select("conversation_id", "user_id", "i", states.alias("states"))
    previous = windows.select("conversation_id", (F.col("i") + 1).alias("i"), F.col("states").alias("before"))
    pairs = (windows.join(previous, ["conversation_id", "i"])
             .select("conversation_id", "user_id", F.explode("before").alias("from_state"), "states")
             .select("conversation_id", "user_id", "from_state", F.explode("states").alias("to_state"))
             .where(F.col("from_state") != F.col("to_state")).distinct())
    return pairs.groupBy("from_state", "to_state").agg(
        F.count("*").alias("conversations"), F.countDistinct("user_id").alias("users"))


def user_share_distribution(labels: DataFrame) -> DataFrame:
    """Per week: how many users have which affective share of their conversations (never per user)."""
    per_user = labels.groupBy("user_id", F.date_trunc("week", "created_at").cast("date").alias("week")).agg(
        F.count("*").alias("n"), F.avg((F.col("use") == "affective").cast("double")).alias("share"))
    bucket = F.lit(SHARE_BUCKETS[-1][1])
    for upper, name in reversed(SHARE_BUCKETS[:-1]):
        bucket = F.when(F.col("share") <= upper, F.lit(name)).otherwise(bucket)
    return per_user.where(F.col("week").isNotNull()).groupBy("week", bucket.alias("affective_share")).agg(
        F.count("*").alias("users"), F.sum("n").alias("conversations"))


def topic_clusters(labels: DataFrame, sentiment: DataFrame, conversations: DataFrame, *, spark: SparkSession,
                   topics: TopicSettings, shift: ShiftSettings, thresholds: Thresholds
                   ) -> tuple[DataFrame, DataFrame] | None:
    """(each conversation's clusters, per-cluster facts with `released`), or None when no scope is big enough."""
    # Not cached: with the 384-float embedding these rows outgrow a local heap at 1M conversations. Each
    # scope's fit sample and the one assignment pass read them again from the labels table; only the narrow
    # assignments are kept.
    rows = scoped(labels.where(F.col("embedding").isNotNull()))
    sizes = {r["scope"]: r["count"] for r in rows.groupBy("scope").count().collect()}
    fits = {scope: fit_scope(rows.where(F.col("scope") == scope), n, topics) for scope, n in sorted(sizes.items())
            if n >= max(thresholds.min_conversations, 3)}  # a smaller scope has nothing that could be released
    if not fits:
        return None
    all_assigned = assign_clusters(rows, fits).persist()
    centres = {(scope, level): centres for scope, f in fits.items()
               for level, centres in (("fine", f.fine_centres), ("coarse", f.coarse_centres))}
    # Read by every fact and by the names: kept, so that its per-user window is computed once.
    clustered = members(all_assigned, topics.max_conversations_per_user).persist()
    # Only the clustered conversations' text is split into terms (a minority of all conversations).
    in_clusters = conversations.join(all_assigned.select("conversation_id").distinct(), "conversation_id", "left_semi")
    facts = (cluster_facts(clustered, sentiment, spark=spark, shift=shift, thresholds=thresholds)
             .join(cluster_terms(clustered, user_terms(in_clusters), min_users=thresholds.min_users,
                                 top=topics.terms),
                   CLUSTER_KEYS, "left")
             .join(cluster_map(spark, centres), CLUSTER_KEYS, "left")
             .withColumn("terms", F.coalesce("terms", F.array().cast("array<string>")))
             .withColumn("name", F.when(F.size("terms") > 0, F.array_join(F.slice("terms", 1, 3), " / "))
                         .otherwise(F.lit("(no term shared by enough users)")))
             .transform(lambda df: releasable(df, min_users=thresholds.min_users,
                                              min_conversations=thresholds.min_conversations)))
    return all_assigned.select("conversation_id", "user_id", "scope", "fine", "coarse"), facts


def hierarchy(clusters: DataFrame) -> DataFrame:
    """Released fine clusters under their released coarse parents."""
    coarse = clusters.where(F.col("level") == "coarse").select(
        "scope", F.col("cluster").alias("coarse_cluster"), F.col("name").alias("coarse_name"),
        F.col("conversations").alias("coarse_conversations"))
    fine = clusters.where(F.col("level") == "fine").select(
        "scope", F.col("parent").alias("coarse_cluster"), F.col("cluster").alias("fine_cluster"),
        F.col("name").alias("fine_name"), F.col("conversations").alias("fine_conversations"), "users")
    return coarse.join(fine, ["scope", "coarse_cluster"]).select(
        "scope", "coarse_cluster", "coarse_name", "coarse_conversations", "fine_cluster", "fine_name",
        "fine_conversations", "users")


def run_topics(spark: SparkSession, *, tables: dict[str, str], cfg: dict[str, Any], model_version: str,
               run_id: str) -> dict[str, int]:
    """Write the silver topic assignments and the released topic tables; return rows released and suppressed.

    Each table is written in its own commit, several at once: on small data a write is mostly fixed cost
    (planning, Delta's log), so the drift and share tables and their suppressed rows are written and
    counted while the clusters are fitted, then the three cluster tables and the suppressed counts side by
    side (BENCHMARKS.md, "Topics at 1,000 conversations").
    """
    from jobs.privacy.release import release, write_suppressed_counts
    from jobs.session import is_table, read_table

    current = F.col("model_version") == model_version
    labels = read_table(spark, tables["conversation_labels"]).where(current)
    sentiment = read_table(spark, tables["message_sentiment"]).where(current)
    thresholds, stats = Thresholds.from_config(cfg), {}
    outputs = {name: release(df, min_users=thresholds.min_users, min_conversations=thresholds.min_conversations)
               for name, df in (("topic_drift", drift_transitions(labels)),
                                ("user_affective_share", user_share_distribution(labels)))}
    in_thread = inheritable_thread_target(spark)  # each thread's jobs named as this stage's
    write = in_thread(partial(_write_output, spark, model_version=model_version, run_id=run_id))
    count = in_thread(lambda rows: rows.count())
    # at most one thread per table write, per count of suppressed rows and for the suppressed counts
    with ThreadPoolExecutor(max_workers=2 * len(TOPIC_TABLES), thread_name_prefix="topics-write") as pool:
        written = {name: pool.submit(write, kept, tables[name]) for name, (kept, _) in outputs.items()}
        suppressed = {name: pool.submit(count, dropped) for name, (_, dropped) in outputs.items()}
        found = topic_clusters(labels, sentiment, read_table(spark, tables["conversations"]), spark=spark,
                               topics=TopicSettings.from_config(cfg), shift=ShiftSettings.from_config(cfg),
                               thresholds=thresholds)
        if found is None:
            logger.warning("topics: no scope has enough conversations to cluster; topic tables are emptied")
            cluster_outputs = {name: _emptied(spark, tables[name]) for name in CLUSTER_TABLES
                               if is_table(spark, tables[name])}
        else:
            assignments, clusters = found
            clusters = clusters.persist()
            released = clusters.where("released").drop("released")
            stats["topic_clusters_withheld_statistics"] = released.select(F.sum(F.size("withheld"))).first()[0] or 0
            suppressed["topic_clusters"] = pool.submit(count, clusters.where(~F.col("released")))
            cluster_outputs = {"conversation_topics": assignments, "topic_clusters": released,
                               "topic_hierarchy": hierarchy(released)}
        written.update({name: pool.submit(write, kept, tables[name]) for name, kept in cluster_outputs.items()})
        dropped_rows = {name: future.result() for name, future in suppressed.items()}
        # statistics withheld inside released clusters count as suppressed too (none when nothing was clustered)
        suppressed_rows = [("topic_clusters.withheld_statistics", stats.get("topic_clusters_withheld_statistics", 0)),
                           *dropped_rows.items()]
        counts_written = pool.submit(in_thread(write_suppressed_counts), spark, suppressed_rows, tables["suppressed"],
                                     model_version=model_version, run_id=run_id)
        rows = {name: future.result() for name, future in written.items()}
        counts_written.result()
    spark.catalog.clearCache()  # the assignments and clusters cached for the writes
    for name in (n for n in TOPIC_TABLES if n in rows):
        stats[f"{name}_rows"] = rows[name]
        if name in dropped_rows:
            stats[f"{name}_suppressed"] = dropped_rows[name]
    logger.info("topics: %s", stats)
    return stats


def _write_output(spark: SparkSession, kept: DataFrame, path: str, *, model_version: str, run_id: str) -> int:
    """Overwrite one table with its released rows; return the rows written."""
    from jobs.session import overwrite_table, stamp, written_rows

    overwrite_table(kept if "model_version" in kept.columns
                    else stamp(kept, model_version=model_version, run_id=run_id), path)
    return written_rows(spark, path)


def _emptied(spark: SparkSession, path: str) -> DataFrame:
    from jobs.session import read_table

    return spark.createDataFrame([], read_table(spark, path).schema)


def run(ctx: Context) -> dict[str, float]:
    """Cluster and name the affective conversations of the model in use; returns rows released and suppressed."""
    return run_topics(ctx.spark, tables=ctx.tables, cfg=ctx.cfg, model_version=ctx.heads().version,
                      run_id=ctx.run_id)
