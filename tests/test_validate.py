from __future__ import annotations

import json

import pytest

from jobs.aggregate import prevalence, validated_rates, with_adjusted_share
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
    from jobs.validate import read_labels

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


def test_adjusted_share_corrects_for_validated_error_rates(spark):
    validation = spark.createDataFrame([
        ("use_affective", 0.5, 0.10, "v1", "2026-01-01"), ("use_affective", 0.8, 0.05, "v1", "2026-01-02"),
        ("use_affective", 0.1, 0.9, "v0", "2026-01-03"), ("pushback", 0.9, 0.1, "v1", "2026-01-02"),
    ], "task string, recall double, fpr double, model_version string, computed_at string")
    rates = validated_rates(validation, "v1")
    assert [tuple(r) for r in rates.collect()] == [("affective", 0.8, 0.05)]
    labels = spark.createDataFrame([(f"c{i}", f"u{i}", "affective" if i < 20 else "task", []) for i in range(100)],
                                   "conversation_id string, user_id string, use string, categories array<string>")
    rows = {r["measure"]: r for r in prevalence(labels, z=1.96, rates=rates).collect()}
    assert rows["affective"]["share"] == 0.2
    assert rows["affective"]["adjusted_share"] == pytest.approx((0.2 - 0.05) / (0.8 - 0.05))
    assert rows["task"]["adjusted_share"] is None
    assert with_adjusted_share(prevalence(labels, z=1.96), None).first()["adjusted_share"] is None
