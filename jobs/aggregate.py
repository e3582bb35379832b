"""Aggregate (gold): the study's figures, released only over enough distinct users and conversations.

    affective aggregate --profile local --output out/

From the silver labels of the model version in use it writes `prevalence` (share of conversations by
use and category, of companionship or roleplay together and of long conversations, Wilson interval,
denominator stated), `pushback` (rate and reason mix per segment),
`referral` (rate per segment) and `sentiment_shift` (mean of the last 3 minus the first 3 user messages
on conversations with 6+ user messages, Poisson-bootstrap interval). A row is released only when the
conversations it describes come from at least `privacy.min_users` users and number at least
`privacy.min_conversations`; suppressed rows are counted in `suppressed_rows`, never shown.

Where `affective validate` left human labels for the model version in use (the silver `human_labels`),
shares of all and of affective conversations, pushback and referral rates and sentiment shifts per
segment also get a prediction-powered (PPI++) estimate (jobs/ppi.py): `corrected` with its interval
`corrected_ci_low`..`corrected_ci_high`, `correction_method` 'PPI++' and `labelled_conversations`, the n
of human-labelled conversations it used (for shifts, those with enough user messages whose labels score
the first and last user turns). PPI assumes the labelled conversations are a uniform random sample of
the classified ones; a sample picked otherwise (hard cases, one source) biases the correction. A labelled
sample of fewer than `privacy.min_users` users or `privacy.min_conversations` conversations gives no
correction (null), and a correction is released only with its row.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import pyspark.sql.functions as F
from pyspark.sql import Column, DataFrame, SparkSession

from jobs.context import Context
from jobs.ppi import LabelledSample, Term, with_correction
from jobs.privacy.release import Thresholds, release, write_suppressed_counts
from jobs.stats import ShiftSettings, conversation_shift, shift_by, wilson, z_value
from udfs.heads import CATEGORIES, USES

def segments(labels: DataFrame) -> DataFrame:
    """One row per conversation and segment it belongs to: 'all', 'affective' and each category."""
    segment_list = F.concat(
        F.array(F.lit("all")),
        F.when(F.col("use") == "affective", F.array(F.lit("affective"))).otherwise(F.array().cast("array<string>")),
        F.col("categories"),
    )
    return labels.withColumn("segment", F.explode(segment_list))


# Measures of prevalence beside the uses and categories: the study's companionship and roleplay taken
# together (a conversation counted once), and long conversations (no model decides this one).
COMPANIONSHIP_OR_ROLEPLAY = "companionship_or_roleplay"
LONG_CONVERSATIONS = "long_conversations"


def companionship_or_roleplay(categories: Column) -> Column:
    return F.arrays_overlap(categories, F.array(F.lit("companionship"), F.lit("romantic_roleplay")))


def _measures() -> Column:
    """Per conversation, the measures it counts in besides its use: its categories and the two above."""
    none = F.array().cast("array<string>")
    return F.concat("categories",
                    F.when(companionship_or_roleplay(F.col("categories")), F.array(F.lit(COMPANIONSHIP_OR_ROLEPLAY)))
                    .otherwise(none),
                    F.when(F.col("is_long"), F.array(F.lit(LONG_CONVERSATIONS))).otherwise(none))


def prevalence(labels: DataFrame, *, z: float, sample: LabelledSample | None = None) -> DataFrame:
    """Share of all classified conversations by use, and by category (and the measures above) of all and
    of affective ones.

    With a human-labelled sample, each share of a model's decision also gets its PPI++ correction
    (jobs.ppi.with_correction); the share of long conversations, a count of messages, needs none.
    """
    total = labels.agg(F.count("*").alias("denominator"))
    affective_total = labels.where(F.col("use") == "affective").agg(F.count("*").alias("denominator"))
    by_use = labels.groupBy(F.col("use").alias("measure")).agg(
        F.count("*").alias("conversations"), F.countDistinct("user_id").alias("users"))
    by_category = labels.select(F.explode(_measures()).alias("measure"), "user_id").groupBy("measure").agg(
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
    ).transform(lambda prev: with_correction(prev, ["measure", "population"], sample, prevalence_terms))


def segment_members(c: Column) -> dict[str, Column]:
    """Segment -> whether the conversation in struct `c` belongs to it, as `segments` assigns them."""
    return {"all": F.lit(True), "affective": c["use"] == "affective",
            **{category: F.array_contains(c["categories"], category) for category in CATEGORIES}}


def prevalence_terms(c: Column) -> list[Term]:
    """Shares of all conversations (a mean) and of affective conversations (a ratio) as PPI terms."""
    populations = (("all conversations", F.lit(True)), ("affective conversations", c["use"] == "affective"))
    by_use = [((use, "all conversations"), c["use"] == use, F.lit(True)) for use in USES]
    members = {**{category: F.array_contains(c["categories"], category) for category in CATEGORIES},
               COMPANIONSHIP_OR_ROLEPLAY: companionship_or_roleplay(c["categories"])}
    by_category = [((measure, population), member & within, within)
                   for measure, member in members.items() for population, within in populations]
    return by_use + by_category


def rate_terms(flag: str) -> Callable[[Column], list[Term]]:
    """Per segment, the rate of a boolean label as a PPI ratio: (in segment and flagged) / in segment."""
    return lambda c: [((segment,), member & c[flag], member) for segment, member in segment_members(c).items()]


def shift_terms(c: Column) -> list[Term]:
    """Per segment, the mean shift as a PPI ratio: (in segment x shift) / in segment."""
    return [((segment,), member.cast("double") * c["shift"], member) for segment, member in segment_members(c).items()]


def rate_by_segment(labels: DataFrame, flag: str, *, z: float, sample: LabelledSample | None = None) -> DataFrame:
    """Rate of a boolean label per segment, with a Wilson interval (and its PPI++ correction, given a sample)."""
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
    ).transform(lambda rates: with_correction(rates, ["segment"], sample, rate_terms(flag)))


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


def sentiment_shift(labels: DataFrame, sentiment: DataFrame, *, spark: SparkSession, shift: ShiftSettings,
                    sample: LabelledSample | None = None) -> DataFrame:
    """Mean shift per segment with a distributed Poisson-bootstrap interval (no data leaves the executors).

    With a human-labelled sample, each segment's shift also gets its PPI++ correction, from the labelled
    conversations that have a human shift (validate leaves it null where the labels miss an edge turn).
    """
    shifts = conversation_shift(sentiment, min_user_messages=shift.min_user_messages, edge=shift.edge)
    rows = segments(labels.select("conversation_id", "user_id", "use", "categories")).join(shifts, "conversation_id")
    return shift_by(rows, ["segment"], spark=spark, shift=shift).transform(
        lambda by_segment: with_correction(by_segment, ["segment"], shift_population(sample, shifts), shift_terms,
                                           bounds=(-2.0, 2.0)))


def shift_population(sample: LabelledSample | None, shifts: DataFrame) -> LabelledSample | None:
    """The sample's conversations that have a predicted shift (and, labelled, a human one), with it in `p`."""
    if sample is None:
        return None

    def with_shift(df: DataFrame) -> DataFrame:
        return (df.join(shifts.select("conversation_id", F.col("shift").alias("predicted_shift")), "conversation_id")
                .withColumn("p", F.col("p").withField("shift", F.col("predicted_shift"))))

    return replace(sample, labelled=with_shift(sample.labelled).where(F.col("t.shift").isNotNull()),
                   predicted=with_shift(sample.predicted))


def labelled_sample(labels: DataFrame, truth: DataFrame, *, z: float, thresholds: Thresholds) -> LabelledSample:
    """The predictions of every classified conversation and the human labels of the labelled ones.

    Args:
        labels: silver `conversation_labels` of the model version in use.
        truth: silver `human_labels` of that version: conversation_id, user_id, use, categories, pushback,
            referral, shift.
        z: the normal quantile of the intervals' confidence.
        thresholds: a sample under them gives no correction.
    """
    predicted = labels.select("conversation_id", F.struct("use", "categories", "pushback", "referral").alias("p"))
    labelled = (truth.select("conversation_id", "user_id",
                             F.struct("use", "categories", "pushback", "referral", "shift").alias("t"))
                .join(predicted, "conversation_id"))
    return LabelledSample(labelled, predicted, z=z, min_users=thresholds.min_users,
                          min_conversations=thresholds.min_conversations)


def gold_tables(labels: DataFrame, sentiment: DataFrame, *, spark: SparkSession, shift: ShiftSettings,
                thresholds: Thresholds, truth: DataFrame | None = None) -> dict[str, DataFrame]:
    """Every gold table before the release rule, keyed by table config name.

    Args:
        labels: silver `conversation_labels` of the model version in use.
        sentiment: silver `message_sentiment` of that version.
        spark: the session.
        shift: how shifts are computed; its confidence is every interval's (`aggregate.confidence`).
        thresholds: the release thresholds, which a labelled sample must meet to correct anything.
        truth: silver `human_labels` of that version, or None: with it the figures get PPI++ corrections.
    """
    z = z_value(shift.confidence)
    sample = labelled_sample(labels, truth, z=z, thresholds=thresholds) if truth is not None else None
    return {
        "prevalence": prevalence(labels, z=z, sample=sample),
        "pushback": rate_by_segment(labels, "pushback", z=z, sample=sample),
        "pushback_reasons": pushback_reasons(labels),
        "referral": rate_by_segment(labels, "referral", z=z, sample=sample),
        "sentiment_shift": sentiment_shift(labels, sentiment, spark=spark, shift=shift, sample=sample),
    }


def run_aggregate(spark: SparkSession, *, tables: dict[str, str], cfg: dict[str, Any], model_version: str,
                  run_id: str) -> dict[str, int]:
    """Write the released gold tables and the suppressed-row counts; return rows released and suppressed."""
    from jobs.session import overwrite_table, read_table, read_table_if_any, stamp

    current = F.col("model_version") == model_version
    labels = read_table(spark, tables["conversation_labels"]).where(current)
    sentiment = read_table(spark, tables["message_sentiment"]).where(current)
    truth = read_table_if_any(spark, tables["human_labels"])
    truth = truth.where(current) if truth is not None else None
    stats, suppressed_rows, thresholds = {}, [], Thresholds.from_config(cfg)
    for name, df in gold_tables(labels, sentiment, spark=spark, shift=ShiftSettings.from_config(cfg),
                                thresholds=thresholds, truth=truth).items():
        df = df.persist()
        released, suppressed = release(df, min_users=thresholds.min_users,
                                       min_conversations=thresholds.min_conversations)
        overwrite_table(stamp(released, model_version=model_version, run_id=run_id), tables[name])
        stats[f"{name}_released"] = released.count()
        stats[f"{name}_suppressed"] = suppressed.count()
        suppressed_rows.append((name, stats[f"{name}_suppressed"]))
        df.unpersist()
    write_suppressed_counts(spark, suppressed_rows, tables["suppressed"], model_version=model_version, run_id=run_id)
    return stats


def run(ctx: Context) -> dict[str, float]:
    """Write the released gold figures of the model in use; returns rows released and suppressed."""
    return run_aggregate(ctx.spark, tables=ctx.tables, cfg=ctx.cfg, model_version=ctx.heads().version,
                         run_id=ctx.run_id)
