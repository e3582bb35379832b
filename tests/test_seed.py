"""The hand-written seed set keeps the rules its README states: a row that breaks one would train a head on a
label the guidelines do not allow, and nothing else would notice."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from udfs.heads import CATEGORIES, PUSHBACK_REASONS, USES, read_seed


@pytest.fixture(scope="module")
def seed():
    return read_seed()


def _reason_fits_pushback(row: dict) -> bool:
    """A known reason exactly when the reply pushes back."""
    return row["pushback_reason"] in PUSHBACK_REASONS if row["pushback"] else row["pushback_reason"] is None


def test_conversations_are_labelled_as_the_guidelines_say(seed):
    conversations = seed["conversations"]
    ids = [c["id"] for c in conversations]
    assert all(re.fullmatch(r"c\d{4}", i) for i in ids) and len(set(ids)) == len(ids)
    for c in conversations:
        assert c["use"] in USES, c["id"]
        assert set(c["categories"]) <= set(CATEGORIES) and len(set(c["categories"])) == len(c["categories"]), c["id"]
        assert bool(c["categories"]) == (c["use"] == "affective"), c["id"]  # categories exactly when affective
        assert 1 <= len(c["user_messages"]) == len(c["assistant_messages"]) <= 6, c["id"]
        assert all(m.strip() for m in c["user_messages"] + c["assistant_messages"]), c["id"]
        if "romantic_roleplay" in c["categories"]:  # the study counts roleplay from 4 user messages on
            assert len(c["user_messages"]) >= 4, c["id"]


def test_reply_labels_name_existing_replies_once_and_say_something(seed):
    replies = {c["id"]: len(c["assistant_messages"]) for c in seed["conversations"]}
    keys = Counter((r["id"], r["reply"]) for r in seed["reply_labels"])
    assert max(keys.values()) == 1
    for r in seed["reply_labels"]:
        assert 0 <= r["reply"] < replies[r["id"]], r
        assert r["pushback"] or r["referral"], r  # every reply not listed does neither
        assert _reason_fits_pushback(r), r


def test_labelled_replies_and_messages_use_the_label_vocabularies(seed):
    ids = [a["id"] for a in seed["assistant_messages"]]
    assert len(set(ids)) == len(ids)
    for a in seed["assistant_messages"]:
        assert _reason_fits_pushback(a), a["id"]
        assert isinstance(a["referral"], bool) and a["text"].strip() and a["user_before"].strip(), a["id"]
    assert {int(u["sentiment"]) for u in seed["user_messages"]} <= {-2, -1, 0, 1, 2}
