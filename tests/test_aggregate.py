from __future__ import annotations

import pyspark.sql.functions as F
import pytest
from pyspark.testing import assertDataFrameEqual

from jobs.aggregate import prevalence, rate_by_segment, sentiment_shift
from jobs.privacy.release import release
from jobs.stats import ShiftSettings, conversation_shift, wilson, z_value

LABELS_SCHEMA = "conversation_id string, user_id string, use string, categories array<string>, pushback boolean, pushback_reason string, referral boolean, is_long boolean"


def _labels(spark):
    rows = [
        ("c1", "u1", "affective", ["counseling"], True, "safety", True, True),
        ("c2", "u2", "affective", ["counseling", "companionship"], False, None, False, False),
        ("c3", "u2", "affective", ["coaching"], False, None, False, False),
        ("c4", "u3", "task", [], True, "capability", False, True),
        ("c5", "u4", "task", [], False, None, False, False),
        ("c6", "u4", "content_creation", [], False, None, False, False),
        ("c7", "u5", "task", [], False, None, False, False),
        ("c8", "u6", "task", [], False, None, False, False),
    ]
    return spark.createDataFrame(rows, LABELS_SCHEMA)


def test_wilson_interval_matches_the_textbook_value(spark):
    low, high = wilson(F.lit(10), F.lit(100), z_value(0.95))
    row = spark.range(1).select(low.alias("l"), high.alias("h")).first()
    assert row["l"] == pytest.approx(0.05522, abs=1e-4)
    assert row["h"] == pytest.approx(0.17437, abs=1e-4)


def test_wilson_interval_holds_a_rate_of_none_or_all_exactly(spark):
    """Float rounding left 0 of 20 with a lower bound above 0, outside its own interval."""
    z = z_value(0.95)
    bounds = [c.alias(f"{name}{i}") for i, (k, n) in enumerate([(0, 20), (20, 20), (0, 7), (7, 7)])
              for name, c in zip(("l", "h"), wilson(F.lit(k), F.lit(n), z))]
    row = spark.range(1).select(*bounds).first()
    assert (row["l0"], row["h1"], row["l2"], row["h3"]) == (0.0, 1.0, 0.0, 1.0)
    assert row["h0"] == pytest.approx(0.1611, abs=1e-4) and row["l1"] == pytest.approx(1 - 0.1611, abs=1e-4)


def test_prevalence_states_numerator_denominator_and_users(spark):
    rows = {(r["measure"], r["population"]): r for r in prevalence(_labels(spark), z=1.96).collect()}
    assert (rows[("affective", "all conversations")]["conversations"],
            rows[("affective", "all conversations")]["denominator"],
            rows[("affective", "all conversations")]["users"]) == (3, 8, 2)
    assert rows[("task", "all conversations")]["share"] == pytest.approx(0.5)
    assert rows[("counseling", "affective conversations")]["share"] == pytest.approx(2 / 3)
    assert rows[("counseling", "all conversations")]["share"] == pytest.approx(2 / 8)
    assert set(rows) >= {("companionship", "affective conversations"), ("content_creation", "all conversations")}


def test_prevalence_counts_companionship_or_roleplay_once_and_long_conversations(spark):
    labels = _labels(spark).union(spark.createDataFrame(
        [("c9", "u7", "affective", ["companionship", "romantic_roleplay"], False, None, False, False)], LABELS_SCHEMA))
    shares = prevalence(labels, z=1.96).where(F.col("measure").isin("companionship_or_roleplay", "long_conversations"))
    assertDataFrameEqual(shares.select("measure", "population", "conversations", "denominator", "users"), [
        ("companionship_or_roleplay", "all conversations", 2, 9, 2),
        ("companionship_or_roleplay", "affective conversations", 2, 4, 2),
        ("long_conversations", "all conversations", 2, 9, 2),
        ("long_conversations", "affective conversations", 2, 4, 2),
    ], checkRowOrder=False)


def test_pushback_rate_per_segment(spark):
    rows = rate_by_segment(_labels(spark), "pushback", z=1.96).select(
        "segment", "conversations", "users", "pushback_conversations", "rate")
    assertDataFrameEqual(rows, [
        ("all", 8, 6, 2, 0.25), ("affective", 3, 2, 1, 1 / 3), ("counseling", 2, 2, 1, 0.5),
        ("companionship", 1, 1, 0, 0.0), ("coaching", 1, 1, 0, 0.0),
    ], checkRowOrder=False)


def test_release_suppresses_rows_under_either_threshold(spark):
    df = spark.createDataFrame([("a", 5, 10), ("b", 4, 50), ("c", 50, 9), ("d", 6, 12)],
                               "segment string, users long, conversations long")
    released, suppressed = release(df, min_users=5, min_conversations=10)
    assert sorted(r["segment"] for r in released.collect()) == ["a", "d"]
    assert sorted(r["segment"] for r in suppressed.collect()) == ["b", "c"]


def _sentiment(spark, per_conversation):
    rows = [(cid, f"u_{cid}", turn, len(scores), score)
            for cid, scores in per_conversation.items() for turn, score in enumerate(scores)]
    return spark.createDataFrame(rows, "conversation_id string, user_id string, user_turn int, n_user_messages int, sentiment double")


def test_shift_is_last_three_minus_first_three_on_long_enough_conversations(spark):
    sentiment = _sentiment(spark, {
        "c1": [-1.0, -1.0, -0.5, 0.0, 0.5, 0.5, 1.0],  # 7 messages: first 3 mean -5/6, last 3 mean 2/3
        "c2": [0.5, 0.5, 0.5, 0.0, 0.0, 0.0],
        "c3": [-1.0, 1.0, 1.0, 1.0, 1.0],             # 5 user messages: excluded
    })
    shifts = {r["conversation_id"]: r["shift"] for r in
              conversation_shift(sentiment, min_user_messages=6, edge=3).collect()}
    assert set(shifts) == {"c1", "c2"}
    assert shifts["c1"] == pytest.approx(2 / 3 + 5 / 6)
    assert shifts["c2"] == pytest.approx(-0.5)


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible(spark):
    scores = {f"c{i}": [-0.5] * 3 + [0.5 if i % 3 else 0.0] * 3 for i in range(60)}
    sentiment = _sentiment(spark, scores)
    labels = spark.createDataFrame([(c, f"u_{c}", "affective", ["counseling"]) for c in scores],
                                   "conversation_id string, user_id string, use string, categories array<string>")
    shift = ShiftSettings(min_user_messages=6, edge=3, replicates=200, seed=3, confidence=0.95)
    first = {r["segment"]: r for r in sentiment_shift(labels, sentiment, spark=spark, shift=shift).collect()}
    again = {r["segment"]: r for r in sentiment_shift(labels, sentiment, spark=spark, shift=shift).collect()}
    row = first["counseling"]
    assert row["conversations"] == 60
    assert row["mean_shift"] == pytest.approx(1 - 20 / 60 * 0.5)  # 40 conversations +1.0, 20 conversations +0.5
    assert row["ci_low"] < row["mean_shift"] < row["ci_high"]
    assert 0.02 < row["ci_high"] - row["ci_low"] < 0.25
    assert (again["counseling"]["ci_low"], again["counseling"]["ci_high"]) == (row["ci_low"], row["ci_high"])
