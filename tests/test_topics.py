from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyspark.sql.functions as F
import pytest
from pyspark.sql import DataFrame
from pyspark.testing import assertDataFrameEqual

from jobs.config import load_config
from jobs.privacy.release import Thresholds, releasable
from jobs.stats import ShiftSettings
from jobs.topics import (
    ScopeFit, TopicSettings, assign_clusters, choose_k, cluster_terms, coarse_groups, drift_transitions, fit_scope,
    hierarchy, members, scoped, topic_clusters, unit_embeddings, user_share_distribution, user_terms,
)

LABELS = ("conversation_id string, user_id string, created_at timestamp, use string, categories array<string>, "
          "is_long boolean, pushback boolean, pushback_reason string, referral boolean, embedding array<float>, "
          "windows array<struct<window:int,first_user_turn:int,last_user_turn:int,use:string,"
          "categories:array<string>>>")
CONVERSATIONS = "conversation_id string, messages array<struct<index:int,role:string,content:string>>"
SENTIMENT = ("conversation_id string, user_id string, message_index int, user_turn int, n_user_messages int, "
             "sentiment double")
# Planted topics: (category, words a user of that topic writes). Each gets its own direction in embedding space.
TOPICS = {
    "grief": ("counseling", "my grandmother passed away and the funeral was yesterday, grief keeps coming back"),
    "career": ("coaching", "career change to data science, updating my resume and interview practice"),
    "breakup": ("interpersonal_advice", "my girlfriend broke up with me after three years, the breakup hurts"),
    "lonely": ("companionship", "feeling lonely tonight, just want someone to chat with before sleep"),
}
RARE = "zorblaxian"  # written by one user only


def _planted(spark, per_topic: int = 30, users_per_topic: int = 12):
    rng = np.random.default_rng(3)
    directions = {t: v / np.linalg.norm(v) for t, v in zip(TOPICS, rng.normal(size=(len(TOPICS), 384)))}
    labels, conversations, truth = [], [], {}
    for t, (category, text) in TOPICS.items():
        for i in range(per_topic):
            cid = f"{t}-{i}"
            v = directions[t] + rng.normal(scale=0.02, size=384)
            user = f"u_{t}_{i % users_per_topic}"
            extra = f" {RARE}" if (t, i) == ("grief", 0) else ""
            extra += " write to me at [EMAIL] or [PHONE]" if i % 2 else ""
            labels.append((cid, user, None, "affective", [category], False, i % 5 == 0,
                           "safety" if i % 5 == 0 else None, False, (v / np.linalg.norm(v)).astype(float).tolist(), []))
            conversations.append((cid, [(0, "user", text + extra), (1, "assistant", "I hear you.")]))
            truth[cid] = t
    labels.append(("task-0", "u_task", None, "task", [], False, False, None, False, [0.0] * 384, []))
    return spark.createDataFrame(labels, LABELS), spark.createDataFrame(conversations, CONVERSATIONS), truth


def _settings(min_users=5, min_conversations=10, **topics) -> dict:
    """The topics, shift and threshold settings of the local profile with these overrides."""
    overrides = [f"privacy.min_users={min_users}", f"privacy.min_conversations={min_conversations}",
                 "aggregate.bootstrap_replicates=50", *(f"topics.{k}={v}" for k, v in topics.items())]
    cfg = load_config("local", overrides=overrides)
    return {"topics": TopicSettings.from_config(cfg), "shift": ShiftSettings.from_config(cfg),
            "thresholds": Thresholds.from_config(cfg)}


@pytest.fixture(scope="module")
def planted(spark):
    labels, conversations, truth = _planted(spark)
    sentiment = spark.createDataFrame([], SENTIMENT)
    assignments, clusters = topic_clusters(labels, sentiment, conversations, spark=spark,
                                           **_settings(fine_k=4, coarse_k=2))
    collected = truth, assignments.collect(), clusters.collect()
    spark.catalog.clearCache()
    return collected


def test_k_grows_with_the_data_within_bounds():
    assert choose_k(6000, 0, 200, 10) == 24
    assert choose_k(10, 0, 200, 10) == 2
    assert choose_k(1_000_000, 0, 200, 10) == 200
    assert choose_k(5, 7, 200, 10) == 4  # never more clusters than points allow


def test_scopes_are_affective_all_categories_long_and_pushback(spark):
    labels = spark.createDataFrame([
        ("a", "u", None, "affective", ["coaching", "counseling"], True, True, "safety", False, None, []),
        ("b", "u", None, "task", [], True, True, "capability", False, None, []),
    ], LABELS)
    scopes = sorted((r["conversation_id"], r["scope"]) for r in scoped(labels).collect())
    assert scopes == [("a", "affective"), ("a", "category:coaching"), ("a", "category:counseling"), ("a", "long"),
                      ("a", "pushback")]


def test_planted_topics_are_recovered_in_every_scope(planted):
    truth, assignments, _ = planted
    affective = [r for r in assignments if r["scope"] == "affective"]
    assert len(affective) == len(truth)
    by_cluster = {}
    for r in affective:
        by_cluster.setdefault(r["fine"], set()).add(truth[r["conversation_id"]])
    assert sorted(len(topics) for topics in by_cluster.values()) == [1, 1, 1, 1]  # pure and complete
    grief_scope = [r for r in assignments if r["scope"] == "category:counseling"]
    assert {truth[r["conversation_id"]] for r in grief_scope} == {"grief"}


def _topic_of_cluster(truth, assignments, scope="affective") -> dict[int, str]:
    return {r["fine"]: truth[r["conversation_id"]] for r in assignments if r["scope"] == scope}


def test_clusters_are_named_by_terms_of_enough_users_never_placeholders_or_rare_strings(planted):
    truth, assignments, clusters = planted
    topic_of = _topic_of_cluster(truth, assignments)
    fine = [r for r in clusters if r["scope"] == "affective" and r["level"] == "fine"]
    for r in fine:
        vocabulary = set(TOPICS[topic_of[r["cluster"]]][1].replace(",", "").split()) | {"write"}
        assert len(r["terms"]) == 8 and r["name"] == " / ".join(r["terms"][:3])
        assert all(set(term.split()) <= vocabulary for term in r["terms"]), (r["terms"], topic_of[r["cluster"]])
    dumped = json.dumps([r.asDict(recursive=True) for r in clusters], default=str).lower()
    assert RARE not in dumped
    assert "email" not in dumped and "phone" not in dumped


def test_cluster_facts_count_users_conversations_and_pushback(planted):
    truth, assignments, clusters = planted
    grief_cluster = next(c for c, t in _topic_of_cluster(truth, assignments).items() if t == "grief")
    grief = next(r for r in clusters if (r["scope"], r["level"], r["cluster"]) == ("affective", "fine", grief_cluster))
    assert (grief["conversations"], grief["users"]) == (30, 12)  # 12 users, at most 3 conversations each
    assert grief["pushback_rate"] == pytest.approx(6 / 30)
    # its reason mix rests on 6 pushback conversations, under min_conversations = 10: withheld
    assert (grief["pushback_reason_mix"], grief["withheld"]) == (None, ["pushback_reason_mix"])
    assert grief["category_mix"] == {"counseling": 1.0}
    assert all(r["released"] for r in clusters if r["scope"] == "affective")


def test_a_statistic_resting_on_too_few_conversations_is_withheld_from_a_released_cluster(spark):
    from jobs.topics import cluster_facts

    # One cluster of 20 conversations by 20 users. 12 push back (12 users): their reason mix is released.
    # One conversation has 6 user messages, so the cluster's sentiment shift would be that one person's.
    clustered = spark.createDataFrame(
        [("affective", "fine", 0, 1, f"c{i}", f"u{i}", ["counseling"], i < 12, "safety" if i < 12 else None, False)
         for i in range(20)],
        "scope string, level string, cluster int, parent int, conversation_id string, user_id string, "
        "categories array<string>, pushback boolean, pushback_reason string, referral boolean")
    sentiment = spark.createDataFrame([("c0", "u0", 2 * t, t, 6, 1.0 if t >= 3 else -1.0) for t in range(6)], SENTIMENT)
    settings = _settings()
    facts = cluster_facts(clustered, sentiment, spark=spark, shift=settings["shift"],
                          thresholds=settings["thresholds"]).collect()[0]
    assert (facts["conversations"], facts["users"], facts["shift_conversations"]) == (20, 20, 1)
    assert (facts["mean_shift"], facts["shift_ci_low"], facts["shift_ci_high"]) == (None, None, None)
    assert facts["pushback_reason_mix"] == {"safety": 1.0}
    assert facts["withheld"] == ["mean_shift"]

    released = cluster_facts(clustered, sentiment, spark=spark, shift=settings["shift"],
                             thresholds=Thresholds(min_users=1, min_conversations=1)).collect()[0]
    assert (released["mean_shift"], released["withheld"]) == (2.0, [])


def test_category_and_reason_mixes_are_shares_of_the_cluster_and_of_its_reasons(spark):
    from jobs.topics import cluster_facts

    # Cluster 0: four conversations, two in counseling, two in coaching (one in both), one in none; three
    # push back, two for safety, one for advice, one with no reason (not in the reason mix's denominator).
    # Cluster 1: no category and no pushback: neither mix exists.
    rows = [(0, ["counseling"], True, "safety"), (0, ["counseling", "coaching"], True, "safety"),
            (0, [], True, "advice"), (0, ["coaching"], True, None), (1, [], False, None), (1, None, False, None)]
    clustered = spark.createDataFrame(
        [("affective", "fine", cluster, None, f"c{i}", f"u{i}", categories, pushback, reason, False)
         for i, (cluster, categories, pushback, reason) in enumerate(rows)],
        "scope string, level string, cluster int, parent int, conversation_id string, user_id string, "
        "categories array<string>, pushback boolean, pushback_reason string, referral boolean")
    sentiment = spark.createDataFrame([], SENTIMENT)
    facts = {r["cluster"]: r for r in cluster_facts(clustered, sentiment, spark=spark, shift=_settings()["shift"],
                                                    thresholds=Thresholds(min_users=1, min_conversations=1)).collect()}
    assert facts[0]["category_mix"] == {"counseling": 0.5, "coaching": 0.5}
    assert facts[0]["pushback_reason_mix"] == pytest.approx({"safety": 2 / 3, "advice": 1 / 3})
    assert (facts[1]["category_mix"], facts[1]["pushback_reason_mix"]) == (None, None)


def test_each_user_counts_at_most_the_configured_times_per_cluster(spark):
    assigned = spark.createDataFrame([(f"c{i}", "heavy", "s", 0, 0) for i in range(10)] + [("x", "light", "s", 0, 0)],
                                     "conversation_id string, user_id string, scope string, fine int, coarse int")
    counted = members(assigned, 3).groupBy("level", "user_id").count()
    assertDataFrameEqual(counted, [("fine", "heavy", 3), ("fine", "light", 1), ("coarse", "heavy", 3),
                                   ("coarse", "light", 1)], checkRowOrder=False)


FACTS = "scope string, level string, cluster int, parent int, users long, conversations long"


def test_a_cluster_of_k_minus_one_users_is_never_released(spark):
    facts = spark.createDataFrame([("s", "coarse", 0, None, 4, 50), ("s", "coarse", 1, None, 5, 50)], FACTS)
    released = {r["cluster"]: r["released"] for r in releasable(facts, min_users=5, min_conversations=10).collect()}
    # Cluster 0 fails; cluster 1 would pass but is the only other sibling, so it is suppressed too.
    assert released == {0: False, 1: False}


def test_totals_minus_released_rows_never_reveal_a_suppressed_count(spark):
    facts = spark.createDataFrame([
        ("s", "coarse", 0, None, 30, 60), ("s", "coarse", 1, None, 20, 40), ("s", "coarse", 2, None, 3, 4),
        ("s", "fine", 0, 0, 12, 25), ("s", "fine", 1, 0, 10, 20), ("s", "fine", 2, 0, 8, 15),
        ("s", "fine", 3, 1, 20, 40), ("s", "fine", 4, 2, 3, 4),
    ], FACTS)
    rows = releasable(facts, min_users=5, min_conversations=10).collect()
    released = {(r["level"], r["cluster"]): r["released"] for r in rows}
    assert released == {("coarse", 0): True, ("coarse", 1): False, ("coarse", 2): False,
                        ("fine", 0): True, ("fine", 1): True, ("fine", 2): True, ("fine", 3): False,
                        ("fine", 4): False}
    # Residual of every group (parent total minus released children) is 0 or hides a releasable group.
    totals = {None: sum(r["conversations"] for r in rows if r["level"] == "coarse"),
              **{r["cluster"]: r["conversations"] for r in rows if r["level"] == "coarse" and r["released"]}}
    for parent, total in totals.items():
        level = "coarse" if parent is None else "fine"
        children = [r for r in rows if r["level"] == level and r["parent"] == parent]
        residual = total - sum(r["conversations"] for r in children if r["released"])
        assert residual == 0 or residual >= 10, (parent, residual)


def test_hierarchy_lists_released_fine_clusters_under_their_parent(spark):
    clusters = spark.createDataFrame([("s", "coarse", 0, None, "a / b", 30), ("s", "fine", 3, 0, "a", 20)],
                                     "scope string, level string, cluster int, parent int, name string, "
                                     "conversations long").withColumn("users", F.lit(9))
    assert [tuple(r) for r in hierarchy(clusters).collect()] == [("s", 0, "a / b", 30, 3, "a", 20, 9)]


def test_user_terms_drop_placeholders_stopwords_and_short_words(spark):
    conversations = spark.createDataFrame([("c", [(0, "user", "Email me at [EMAIL], I am so sad"),
                                                  (1, "assistant", "assistant words"), (2, "user", "Sad dog"),
                                                  (3, "user", "yes, thank you, I really like it lol")])],
                                          CONVERSATIONS)
    terms = sorted(r["term"] for r in user_terms(conversations).collect())
    assert terms == ["dog", "email", "email sad", "sad", "sad dog", "sad sad"]  # each once per conversation


def test_drift_counts_window_to_window_transitions_once_per_conversation(spark):
    windows = [(0, 0, 9, "affective", ["coaching"]), (1, 10, 19, "affective", ["companionship"]),
               (2, 20, 29, "affective", ["companionship"]), (3, 30, 39, "affective", ["coaching"])]
    labels = spark.createDataFrame([
        ("a", "u1", None, "affective", ["coaching"], True, False, None, False, None, windows),
        ("b", "u2", None, "affective", ["coaching"], True, False, None, False, None, windows[:2]),
        ("c", "u3", None, "affective", ["coaching"], False, False, None, False, None, windows),
    ], LABELS)
    assertDataFrameEqual(drift_transitions(labels), [("coaching", "companionship", 2, 2),
                                                     ("companionship", "coaching", 1, 1)], checkRowOrder=False)


def test_user_share_is_a_weekly_distribution_never_per_user(spark):
    from datetime import datetime

    monday = datetime(2026, 1, 5, 12)
    rows = [("a1", "u1", monday, "affective"), ("a2", "u1", monday, "task"), ("b1", "u2", monday, "affective"),
            ("c1", "u3", monday, "task"), ("d1", "u4", monday, "task")]
    labels = spark.createDataFrame([(c, u, t, use, [], False, False, None, False, None, []) for c, u, t, use in rows],
                                   LABELS)
    out = user_share_distribution(labels).select("affective_share", "users", "conversations")
    assertDataFrameEqual(out, [("0", 2, 2), ("(0.25, 0.5]", 1, 2), ("1", 1, 1)], checkRowOrder=False)


def test_the_topic_stage_cannot_run_the_encoder():
    code = "import sys, jobs.topics; print(sorted(m for m in ('udfs', 'torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


SCOPE_ROWS = ("conversation_id string, user_id string, scope string, categories array<string>, pushback boolean, "
              "pushback_reason string, referral boolean, embedding array<float>")


def _random_scope_rows(seed: int, n: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    return [(f"c{i:03d}", f"u{i % 40}", "affective", ["coaching"], False, None, False,
             (v / np.linalg.norm(v)).tolist()) for i, v in enumerate(rng.normal(size=(n, 16)))]


def _fit_and_assign(rows: DataFrame, n: int, topics: TopicSettings) -> tuple[dict, ScopeFit]:
    fit = fit_scope(rows, n, topics)
    assigned = assign_clusters(rows, {"affective": fit}).collect()
    return {r["conversation_id"]: (r["fine"], r["coarse"]) for r in assigned}, fit


def test_clusters_depend_on_the_data_not_on_how_it_is_partitioned(spark):
    """Unstructured points, where k-means' starting centres decide the clusters: the same rows, split into
    other partitions in another order (another cluster's layout), must give the same clusters."""
    rows = _random_scope_rows(11, 240)
    topics = _settings(fine_k=8, coarse_k=3)["topics"]
    fits = [_fit_and_assign(layout, len(rows), topics)
            for layout in (spark.createDataFrame(rows, SCOPE_ROWS).coalesce(1),
                           spark.createDataFrame(rows[::-1], SCOPE_ROWS).repartition(7))]
    assert len(set(fine for fine, _ in fits[0][0].values())) == 8
    assert len(set(coarse for _, coarse in fits[0][0].values())) == 3
    assert fits[0][0] == fits[1][0]
    assert np.array_equal(fits[0][1].fine_centres, fits[1][1].fine_centres)
    assert np.array_equal(fits[0][1].coarse_centres, fits[1][1].coarse_centres)


def test_every_conversation_goes_to_its_nearest_centre_by_cosine(spark):
    """The executors' assignment agrees with a brute-force cosine argmax over the fitted centres, for
    embeddings of any length (they are scaled to unit length first), and each fine cluster's coarse
    cluster is the one the coarse grouping gave it."""
    rows = [(*r[:-1], (np.asarray(r[-1]) * (1 + i % 5)).tolist()) for i, r in enumerate(_random_scope_rows(3, 200))]
    assigned, fit = _fit_and_assign(spark.createDataFrame(rows, SCOPE_ROWS), len(rows),
                                    _settings(fine_k=7, coarse_k=3)["topics"])
    x = np.array([r[-1] for r in rows])
    unit_centres = fit.fine_centres / np.linalg.norm(fit.fine_centres, axis=1, keepdims=True)
    nearest = np.argmax(x @ unit_centres.T, axis=1)
    assert [assigned[r[0]][0] for r in rows] == nearest.tolist()
    assert all(coarse == fit.coarse_of[fine] for fine, coarse in assigned.values())


def test_alike_rows_give_as_many_clusters_as_distinct_points(spark):
    """k-means cannot place more centres than there are distinct points: three distinct embeddings,
    however many rows and however large the configured k, give three fine clusters."""
    points = np.eye(16)[:3]
    rows = [(f"c{i:03d}", f"u{i}", "affective", [], False, None, False, points[i % 3].tolist()) for i in range(60)]
    assigned, fit = _fit_and_assign(spark.createDataFrame(rows, SCOPE_ROWS), len(rows),
                                    _settings(fine_k=10, coarse_k=2)["topics"])
    assert len(fit.fine_centres) == 3
    assert len({assigned[f"c{i:03d}"][0] for i in range(3)}) == 3
    assert all(assigned[f"c{i:03d}"] == assigned[f"c{i % 3:03d}"] for i in range(60))


def test_the_fit_sample_is_read_in_id_order_at_unit_length(spark):
    """However the rows are partitioned (here three Arrow chunks in reverse order), the driver gets them
    sorted by conversation id and scaled to unit length; embeddings of mixed lengths are refused."""
    rows = [(f"c{i}", "u", "affective", [], False, None, False, [float(i + 1), 0.0, float(i + 1)]) for i in range(9)]
    shuffled = spark.createDataFrame(rows[::-1], SCOPE_ROWS).repartition(3)
    assert np.allclose(unit_embeddings(shuffled), np.tile([2 ** -0.5, 0.0, 2 ** -0.5], (9, 1)))
    scaled = spark.createDataFrame([(*r[:-1], [float(i), float(9 - i)]) for i, r in enumerate(rows)], SCOPE_ROWS)
    got = unit_embeddings(scaled.repartition(3))
    assert np.allclose(got, [[i / np.hypot(i, 9 - i), (9 - i) / np.hypot(i, 9 - i)] for i in range(9)])
    mixed = spark.createDataFrame([rows[0], (*rows[1][:-1], [1.0, 2.0])], SCOPE_ROWS)
    with pytest.raises(ValueError, match=r"embeddings of different lengths \[2, 3\]"):
        unit_embeddings(mixed)


def test_coarse_groups_take_however_few_fine_centres_k_means_returned():
    topics = _settings(fine_k=4, coarse_k=2)["topics"]
    parents, centres = coarse_groups(np.array([[0.0, 2.0]]), topics)  # all rows alike: one fine centre
    assert parents.tolist() == [0] and centres.tolist() == [[0.0, 1.0]]
    parents, centres = coarse_groups(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]), topics)
    assert parents[0] == parents[1] != parents[2] == parents[3] and len(centres) == 2


def test_centres_fitted_on_a_sample_still_place_every_conversation(spark):
    """With k-means fitted on a third of the rows, every planted topic is still found and all rows assigned."""
    labels, conversations, truth = _planted(spark)
    assignments, _ = topic_clusters(labels, spark.createDataFrame([], SENTIMENT), conversations, spark=spark,
                                    **_settings(fine_k=4, coarse_k=2, fit_conversations=40))
    affective = [r for r in assignments.collect() if r["scope"] == "affective"]
    spark.catalog.clearCache()
    assert len(affective) == len(truth)
    by_cluster = {}
    for r in affective:
        by_cluster.setdefault(r["fine"], set()).add(truth[r["conversation_id"]])
    assert sorted(len(topics) for topics in by_cluster.values()) == [1, 1, 1, 1]


def test_the_fit_sample_is_the_same_rows_however_they_are_partitioned(spark):
    rows = _random_scope_rows(5, 300)
    topics = _settings(fine_k=6, coarse_k=2, fit_conversations=120)["topics"]
    layouts = (spark.createDataFrame(rows, SCOPE_ROWS).coalesce(1),
               spark.createDataFrame(rows[::-1], SCOPE_ROWS).repartition(5))
    fits = [_fit_and_assign(df, len(rows), topics) for df in layouts]
    assert np.array_equal(fits[0][1].fine_centres, fits[1][1].fine_centres)
    _, unsampled = _fit_and_assign(spark.createDataFrame(rows, SCOPE_ROWS), len(rows),
                                   _settings(fine_k=6, coarse_k=2)["topics"])
    assert not np.allclose(unsampled.fine_centres, fits[0][1].fine_centres)  # the sample, not all rows, placed them
    assert len(fits[0][0]) == 300 and fits[0][0] == fits[1][0]


def test_a_cluster_is_named_by_its_own_words_not_by_words_every_cluster_uses(spark):
    clustered, terms = [], []
    for cluster, own in ((0, "crying"), (1, "workout")):
        for i in range(6):
            conversation = f"{own}{i}"
            clustered.append(("affective", "fine", cluster, conversation, f"u{cluster}{i}"))
            terms += [(conversation, own)] + [(conversation, "feel")] * 7
    named = cluster_terms(spark.createDataFrame(clustered, "scope string, level string, cluster int, "
                                                           "conversation_id string, user_id string"),
                          spark.createDataFrame(terms, "conversation_id string, term string"), min_users=5, top=2)
    assertDataFrameEqual(named, [("affective", "fine", 0, ["crying", "feel"]), ("affective", "fine", 1, ["workout", "feel"])])
