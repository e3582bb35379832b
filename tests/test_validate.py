from __future__ import annotations

import json

import pytest

from jobs.validate import binary_metrics, macro_f1, validate

PRED_SCHEMA = ("conversation_id string, use string, categories array<string>, pushback boolean, "
               "pushback_reason string, referral boolean")
SENT_SCHEMA = "conversation_id string, message_index int, sentiment_class int"


def test_binary_metrics_from_counts():
    m = binary_metrics({"tp": 8, "fp": 2, "fn": 4, "tn": 86})
    assert (m["precision"], m["recall"], m["support"]) == (0.8, 8 / 12, 12)
    assert m["f1"] == pytest.approx(2 * 0.8 * (2 / 3) / (0.8 + 2 / 3))
    assert m["fpr"] == pytest.approx(2 / 88)
    assert binary_metrics({"tp": 0, "fp": 0, "fn": 0, "tn": 5})["f1"] == 0.0


def test_macro_f1_over_three_classes():
    cells = {("negative", "negative"): 4, ("negative", "neutral"): 1, ("neutral", "neutral"): 3,
             ("positive", "positive"): 2, ("positive", "negative"): 2}
    f1_neg, f1_neu, f1_pos = 2 * 4 / (2 * 4 + 2 + 1), 2 * 3 / (2 * 3 + 1), 2 * 2 / (2 * 2 + 2)
    assert macro_f1(cells) == {"macro_f1": pytest.approx((f1_neg + f1_neu + f1_pos) / 3), "support": 12}


def test_validate_joins_labels_and_predictions(spark, tmp_path):
    labels_file = tmp_path / "labels.jsonl"
    labels_file.write_text("\n".join(json.dumps(r) for r in [
        {"conversation_id": "a", "use": "affective", "categories": ["counseling"], "pushback": True,
         "pushback_reason": "safety", "referral": True, "message_sentiment": [{"index": 0, "score": -2}]},
        {"conversation_id": "b", "use": "task", "categories": [], "pushback": False, "pushback_reason": None,
         "referral": False, "message_sentiment": [{"index": 0, "score": 1}, {"index": 2, "score": 0}]},
        {"conversation_id": "c", "use": "affective", "categories": ["coaching"], "pushback": False,
         "pushback_reason": None, "referral": False, "message_sentiment": []},
        {"conversation_id": "not-predicted", "use": "task", "categories": [], "pushback": False,
         "pushback_reason": None, "referral": False, "message_sentiment": []},
    ]))
    predictions = spark.createDataFrame([
        ("a", "affective", ["counseling"], True, "professional", True),
        ("b", "affective", ["coaching"], False, None, False),
        ("c", "task", [], False, None, False),
    ], PRED_SCHEMA)
    sentiment = spark.createDataFrame([("a", 0, -1), ("b", 0, 2), ("b", 2, 1)], SENT_SCHEMA)
    from jobs.labels import read_labels

    metrics = validate(spark, read_labels(spark, str(labels_file)), predictions, sentiment, tmp_path / "v")
    assert metrics["use_affective"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "fpr": 1.0})
    assert metrics["pushback"]["f1"] == 1.0
    assert metrics["pushback_reason_safety"]["recall"] == 0.0
    assert metrics["category_counseling"]["f1"] == 1.0
    assert metrics["category_coaching"]["precision"] == 0.0
    assert metrics["sentiment_3way"]["support"] == 3
    assert json.loads((tmp_path / "v" / "metrics.json").read_text())["pushback"]["support"] == 1
    assert (tmp_path / "v" / "confusion_use.png").stat().st_size > 1000


def _write_silver(spark, tables: dict[str, str], n: int) -> None:
    """n conversations of model version v1, one user each, with 6 user messages at every other index; the
    classifier calls the first half affective with pushback on every fourth, and scores them all sentiment 0."""
    from jobs.session import overwrite_table

    labels = spark.createDataFrame(
        [(f"c{i}", f"u{i}", *(("affective", ["counseling"]) if i < n // 2 else ("task", [])), i % 4 == 0, None,
          False, 6, False, "v1") for i in range(n)],
        "conversation_id string, user_id string, use string, categories array<string>, pushback boolean, "
        "pushback_reason string, referral boolean, n_user_messages int, is_long boolean, model_version string")
    sentiment = spark.createDataFrame(
        [(f"c{i}", f"u{i}", 2 * turn, turn, 6, 0, 0.0, "v1") for i in range(n) for turn in range(6)],
        "conversation_id string, user_id string, message_index int, user_turn int, n_user_messages int, "
        "sentiment_class int, sentiment double, model_version string")
    overwrite_table(labels, tables["conversation_labels"])
    overwrite_table(sentiment, tables["message_sentiment"])


def _label(i: int, n: int, turns: int = 6) -> dict:
    """The truth: the first third affective, pushback on every fourth; sentiment from -1 to +1 (shift +1.5)."""
    affective = i < n // 3
    scores = [-2, -1, -2, 1, 2, 1][:turns]
    return {"conversation_id": f"c{i}", "use": "affective" if affective else "task",
            "categories": ["counseling"] if affective else [], "pushback": i % 4 == 0, "pushback_reason": None,
            "referral": False, "message_sentiment": [{"index": 2 * t, "score": s} for t, s in enumerate(scores)]}


def _cfg():
    from jobs.config import load_config

    return load_config("local", overrides=["privacy.min_users=5", "privacy.min_conversations=10",
                                           "aggregate.bootstrap_replicates=50", "spark.shuffle_partitions=2"])


def test_validate_keeps_human_labels_that_aggregate_corrects_the_figures_with(spark, tmp_path):
    from jobs.aggregate import run_aggregate
    from jobs.session import read_table
    from jobs.validate import run_validate

    n, labelled = 60, range(0, 60, 2)
    cfg = _cfg()
    tables = {name: str(tmp_path / "tables" / table) for name, table in cfg["tables"].items()}
    _write_silver(spark, tables, n)
    labels_file = tmp_path / "labels.jsonl"
    # c0's labels miss its last user turn: it has no human shift and stays out of the shift's sample.
    labels_file.write_text("\n".join(json.dumps(_label(i, n, turns=5 if i == 0 else 6)) for i in labelled))
    run_validate(spark, labels_path=str(labels_file), tables=tables, cfg=cfg, out_dir=tmp_path / "v",
                 model_version="v1", run_id="r1")
    truth = {r["conversation_id"]: r for r in read_table(spark, tables["human_labels"]).collect()}
    assert len(truth) == len(labelled) and truth["c2"]["user_id"] == "u2" and truth["c2"]["model_version"] == "v1"
    assert truth["c0"]["shift"] is None and truth["c2"]["shift"] == pytest.approx(1.5)
    assert (truth["c2"]["use"], truth["c40"]["use"]) == ("affective", "task")

    run_aggregate(spark, tables=tables, cfg=cfg, model_version="v1", run_id="r2")
    share = read_table(spark, tables["prevalence"]).where(
        "measure = 'affective' AND population = 'all conversations'").first()
    assert share["share"] == 0.5 and share["correction_method"] == "PPI++"
    assert share["labelled_conversations"] == len(labelled)
    assert share["corrected_ci_low"] <= share["corrected"] < 0.5 and share["corrected"] <= share["corrected_ci_high"]
    shift = read_table(spark, tables["sentiment_shift"]).where("segment = 'all'").first()
    assert shift["mean_shift"] == 0.0 and shift["labelled_conversations"] == len(labelled) - 1
    assert shift["corrected"] == pytest.approx(1.5)


def test_labels_of_unclassified_or_repeated_conversations_are_an_error(spark, tmp_path):
    from jobs.validate import run_validate

    cfg = _cfg()
    tables = {name: str(tmp_path / "tables" / table) for name, table in cfg["tables"].items()}
    _write_silver(spark, tables, 20)
    elsewhere = {**_label(2, 20), "conversation_id": "elsewhere"}
    cases = [([_label(1, 20), elsewhere], "1 labelled conversation ids match no conversation classified by the "
                                          "model version in use, e.g. 'elsewhere'"),
             ([_label(1, 20), _label(1, 20)], "1 labelled conversation ids are given more than once, e.g. 'c1'")]
    for rows, message in cases:
        labels_file = tmp_path / "labels.jsonl"
        labels_file.write_text("\n".join(json.dumps(r) for r in rows))
        with pytest.raises(ValueError, match=message):
            run_validate(spark, labels_path=str(labels_file), tables=tables, cfg=cfg, out_dir=tmp_path / "v",
                         model_version="v1", run_id="r1")


@pytest.mark.parametrize("row, reason", [
    ({"use": "chitchat"}, "use missing or not one of task, content_creation, affective"),
    ({"use": None}, "use missing"),
    ({"categories": ["counseling", "astrology"]}, "a category not among"),
    ({"pushback": None}, "pushback missing"),
    ({"pushback_reason": "rudeness", "pushback": True}, "pushback_reason not one of"),
    ({"pushback_reason": "safety"}, "pushback_reason given without pushback"),
    ({"message_sentiment": [{"index": 0, "score": 3}]}, "a message_sentiment without index or with a score outside"),
    ({"pushback": "maybe"}, "not a JSON object with the labels' field types"),
])
def test_a_bad_label_row_is_an_error_naming_it(spark, tmp_path, row, reason):
    """Labels train the model and correct the figures: a bad row stops the command, named, never dropped."""
    from jobs.labels import read_labels

    good = {"conversation_id": "ok", "use": "task", "categories": [], "pushback": False, "pushback_reason": None,
            "referral": False, "message_sentiment": []}
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "conversation_id": "bad-1", **row}) + "\n")
    with pytest.raises(ValueError, match=f"1 label rows are invalid; the first, conversation_id 'bad-1' in .*labels.jsonl: "
                                         f".*{reason}"):
        read_labels(spark, str(path))
    path.write_text(json.dumps(good) + "\n")
    assert read_labels(spark, str(path)).count() == 1


def test_training_labels_of_conversations_never_ingested_are_named(spark):
    from jobs.labels import check_labels

    labels = spark.createDataFrame([("a",), ("ghost",)], "conversation_id string")
    ingested = spark.createDataFrame([("a",)], "conversation_id string")
    with pytest.raises(ValueError, match="1 labelled conversation ids match no ingested conversation, e.g. 'ghost'"):
        check_labels(labels, ingested, source="labels.jsonl", known_as="ingested conversation")
