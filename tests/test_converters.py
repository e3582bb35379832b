"""The dataset converters read the upstream files and return the documented counts and valid labels.

No model runs here. A test is skipped when its dataset folder is absent from ../shared/datasets (or from
$AFFECTIVE_DATASETS).

    nice -n 19 .venv/bin/python -m pytest tests/test_converters.py -q
"""
from __future__ import annotations

from collections import Counter

import pytest

from evaluation import converters
from evaluation.converters import SENTIMENTS, datasets_dir

ROLES = {"user", "assistant"}


def _load(name: str) -> list[dict]:
    folder = datasets_dir() / name
    if not folder.is_dir():
        pytest.skip(f"dataset {name} not available at {folder}")
    return converters.CONVERTERS[name](None)


def _check_messages(items: list[dict]) -> None:
    assert len({i["id"] for i in items}) == len(items), "ids are unique"
    for item in items:
        messages = item["messages"]
        assert messages, item["id"]
        assert [m["index"] for m in messages] == list(range(len(messages)))
        assert {m["role"] for m in messages} <= ROLES
        assert any(m["role"] == "user" for m in messages), item["id"]
        assert all(isinstance(m["content"], str) for m in messages)


def _sentiment_counts(items: list[dict]) -> Counter:
    counts: Counter = Counter()
    for item in items:
        users = {m["index"] for m in item["messages"] if m["role"] == "user"}
        assert set(item["label"]["sentiment"]) <= users, "only user messages carry a sentiment"
        counts.update(item["label"]["sentiment"].values())
    assert set(counts) <= set(SENTIMENTS)
    return counts


def test_xstest():
    items = _load("xstest")
    _check_messages(items)
    assert len(items) == 1350
    assert all([m["role"] for m in i["messages"]] == ["user", "assistant"] for i in items)
    by_model = Counter((i["label"]["model"], i["label"]["final_label"]) for i in items)
    assert by_model[("gpt4", "2_full_refusal")] == 211 and by_model[("gpt4", "3_partial_refusal")] == 9
    assert by_model[("mistralguard", "1_full_compliance")] == 210
    assert by_model[("mistralinstruct", "1_full_compliance")] == 374
    assert sum(i["label"]["pushback"] for i in items) == 211 + 9 + 199 + 41 + 49 + 27
    assert Counter(i["label"]["prompt_label"] for i in items) == {"safe": 750, "unsafe": 600}


def test_meld():
    items = _load("meld")
    _check_messages(items)
    assert Counter(i["label"]["split"] for i in items) == {"train": 1038, "dev": 114, "test": 280}
    assert sum(len(i["messages"]) for i in items) == 13708
    assert _sentiment_counts(items) == {"neutral": 4710 + 470 + 1256, "negative": 2945 + 406 + 833,
                                        "positive": 2334 + 233 + 521}
    emotions = Counter(e for i in items for e in i["label"]["emotion"].values())
    assert set(emotions) == {"neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"}
    assert sum(emotions.values()) == 13708


def test_dailydialog():
    items = _load("dailydialog")
    _check_messages(items)
    assert Counter(i["label"]["split"] for i in items) == {"train": 11118, "validation": 1000, "test": 1000}
    assert sum(len(i["messages"]) for i in items) == 102979
    counts = _sentiment_counts(items)
    assert counts == {"neutral": 85572, "positive": 12885, "negative": 1150 + 1022 + 353 + 174}
    assert 102979 - sum(counts.values()) == 1823, "surprise utterances are left unscored"
    assert Counter(e for i in items for e in i["label"]["emotion"].values())["surprise"] == 1823
    assert Counter(i["label"]["topic"] for i in items)["Relationship"] == 4335


def test_uss():
    items = _load("uss-user-satisfaction")
    _check_messages(items)
    assert Counter(i["label"]["corpus"] for i in items) == {"MWOZ": 1000, "SGD": 1000}
    roles = Counter((i["label"]["corpus"], m["role"]) for i in items for m in i["messages"])
    assert roles == {("MWOZ", "user"): 12553 - 1000, ("MWOZ", "assistant"): 10555,
                     ("SGD", "user"): 13833 - 1000, ("SGD", "assistant"): 12833}
    assert sum(_sentiment_counts(items).values()) == roles[("MWOZ", "user")] + roles[("SGD", "user")]
    assert all(1 <= i["label"]["overall"] <= 5 for i in items)


@pytest.mark.parametrize("ratings, expected", [
    ([3, 3, 2, 3], "neutral"), ([2, 2, 3], "negative"), ([2, 2, 3, 3], "neutral"), ([4, 4, 3], "positive"),
    ([1, 1, 1], "negative"), ([4, 3, 3], "neutral"), ([5, 3, 3], "positive"),
])
def test_satisfaction_class(ratings, expected):
    assert converters.satisfaction_class(ratings) == expected


def test_counsel_chat():
    items = _load("counsel-chat")
    _check_messages(items)
    assert len(items) == 824, "815 question IDs hold 833 (id, question) pairs, 824 distinct questions"
    assert all(i["label"]["affective"] is True for i in items)
    topics = {t for i in items for t in i["label"]["topics"]}
    assert len(topics) == 31
    assert {c for i in items for c in i["label"]["categories"]} == {"interpersonal_advice", "counseling", "coaching"}
    assert all(len(i["messages"]) == 1 for i in items)


def test_arena_hard():
    items = _load("arena-hard")
    _check_messages(items)
    assert len(items) == 500
    clusters = Counter(i["label"]["cluster"] for i in items)
    assert len(clusters) == 250 and set(clusters.values()) == {2}
    assert all(i["label"]["affective"] is False for i in items)


def test_convai2_keeps_dialogues_where_both_sides_speak_three_times():
    items = _load("convai2-wild-eval")
    _check_messages(items)
    assert len(items) == 1627 and sum(len(i["messages"]) for i in items) == 35006
    assert all(min(Counter(m["role"] for m in i["messages"]).values()) >= 3 for i in items)
    assert all(i["messages"][0]["role"] == "user" for i in items)  # the first speaker is read as the user
    assert Counter(i["label"]["eval_score"] is None for i in items)[True] == 27


def test_diasafety():
    items = _load("diasafety")
    _check_messages(items)
    assert Counter(i["label"]["split"] for i in items) == {"train": 9017, "val": 1097}
    labels = Counter((i["label"]["category"], i["label"]["unsafe"]) for i in items)
    assert labels[("Toxicity Agreement", True)] == 1156 + 144
    assert labels[("Risk Ignorance", True)] == 753 + 93
    assert sum(i["label"]["pushback"] is False for i in items) == 1300
    assert sum(i["label"]["referral"] is False for i in items) == 846
    assert {i["label"]["pushback"] for i in items} <= {False, None}


def test_hh_rlhf():
    items = _load("hh-rlhf-harmless-test")
    _check_messages(items)
    assert len(items) == 2 * 2312
    assert Counter(i["label"]["variant"] for i in items) == {"chosen": 2312, "rejected": 2312}
    assert all([m["role"] for m in i["messages"]] == ["user", "assistant"] for i in items)
    assert all(i["messages"][0]["content"].strip() for i in items)


def test_datasets_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("AFFECTIVE_DATASETS", str(tmp_path))
    assert datasets_dir() == tmp_path
