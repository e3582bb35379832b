"""The evaluation's scoring: the start-to-end shift read from predicted sentiment against the labels' shift."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation.evaluate import score_convai2, score_sentiment, score_uss


def _item(labels: list[str], split: str = "test", corpus: str = "SGD") -> dict:
    messages = [{"index": i, "role": "user", "content": f"message {i}"} for i in range(len(labels))]
    return {"messages": messages, "label": {"sentiment": dict(enumerate(labels)), "split": split, "corpus": corpus}}


def test_shift_compares_last_three_with_first_three_over_dialogues_of_six_or_more():
    neg, neu, pos = "negative", "neutral", "positive"
    items = [_item([neg, neg, neg, pos, pos, pos]), _item([pos, pos, pos, neg, neg, neg]),
             _item([neg, neg, pos, pos, pos]), _item([neu] * 6)]
    predicted = [[neg, neu, neg, pos, neu, pos], [pos, pos, pos, neg, neg, neg], [pos] * 5, [neu] * 6]
    preds = [{"sentiment": dict(enumerate(p))} for p in predicted]

    scores = score_sentiment(items, preds, "split")
    shift = scores["shift"]

    assert shift["dialogues"] == 3  # the five-message dialogue has no shift
    assert shift["true_mean_shift"] == pytest.approx(0.0)
    assert shift["predicted_mean_shift"] == pytest.approx((4 / 3 - 2 + 0) / 3)
    assert shift["pearson"] == pytest.approx(np.corrcoef([2, -2, 0], [4 / 3, -2, 0])[0, 1])
    assert shift["auc_better_vs_worse"] == 1.0  # the flat dialogue is neither better nor worse
    lexicon = scores["shift.vader_baseline"]  # "message i" is neutral to the lexicon: no shift at all
    assert lexicon["dialogues"] == 3 and lexicon["predicted_mean_shift"] == 0.0 and lexicon["pearson"] is None
    assert scores["sentiment.vader_baseline"]["n"] == 23


def test_uss_counts_task_dialogues_called_affective_in_the_test_split_only():
    """USS trains the use head on its train split (udfs.sources.uss): only test dialogues score it."""
    items = [_item(["neutral"], "test", "SGD"), _item(["neutral"], "test", "SGD"), _item(["neutral"], "test", "MWOZ"),
             _item(["neutral"], "train", "SGD")]
    preds = [{"use": use, "sentiment": {0: "neutral"}} for use in ("affective", "task", "task", "affective")]

    scores = score_uss(items, preds)

    assert (scores["affective"]["n"], scores["affective"]["false_positives"]) == (3, 1)
    assert scores["affective.SGD"]["false_positive_rate"] == 0.5 and scores["affective.MWOZ"]["false_positives"] == 0
    assert scores["use_distribution"] == {"affective": 1, "task": 2}
    assert scores["sentiment"]["n"] == 4  # sentiment: every dialogue, since no sentiment head reads USS


def test_convai2_reports_the_share_read_as_affective_and_as_companionship():
    preds = [{"use": "affective", "categories": ["companionship"]}, {"use": "affective", "categories": ["coaching"]},
             {"use": "task", "categories": []}, {"use": "affective", "categories": ["companionship", "counseling"]}]

    scores = score_convai2([{}] * 4, preds)

    assert scores["affective"]["recall"] == 0.75 and scores["companionship"]["recall"] == 0.5
    assert scores["use_distribution"] == {"affective": 3, "task": 1}
