from __future__ import annotations

import json

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from jobs.ingest import (
    checked_records, clean_conversations, parse_conversation, parse_timestamp, quarantined_records,
)

INGEST_CFG = {"max_messages": 6, "max_chars": 200}
KEY = b"k" * 32


def _conv(**overrides):
    record = {"conversation_id": "c1", "user_id": "alice", "created_at": "2026-01-05T10:00:00Z",
              "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    record.update(overrides)
    return json.dumps(record)


MALFORMED = {
    "bad_json": '{"conversation_id": "c1", "messages": [',
    "not_an_object": "[1, 2, 3]",
    "missing_conversation_id": _conv(conversation_id=None),
    "blank_conversation_id": _conv(conversation_id="  "),
    "missing_user_id": _conv(user_id=None),
    "missing_messages": json.dumps({"conversation_id": "c1", "user_id": "u"}),
    "empty_messages": _conv(messages=[]),
    "unknown_role": _conv(messages=[{"role": "user", "content": "a"}, {"role": "narrator", "content": "b"}]),
    "non_text_content": _conv(messages=[{"role": "user", "content": {"image": "x.png"}}]),
    "numeric_content": _conv(messages=[{"role": "user", "content": 42}]),
    "bad_timestamp": _conv(created_at="yesterday"),
    "bad_message_timestamp": _conv(messages=[{"role": "user", "content": "a", "created_at": "25:99"}]),
    "oversize_messages": _conv(messages=[{"role": "user", "content": "x"}] * 7),
    "oversize_chars": _conv(messages=[{"role": "user", "content": "x" * 201}]),
    "no_user_message": _conv(messages=[{"role": "assistant", "content": "hello?"}]),
}
EXPECTED_ERRORS = {
    "bad_json": ["bad_json"], "not_an_object": ["bad_json"],
    "missing_conversation_id": ["missing_conversation_id"], "blank_conversation_id": ["missing_conversation_id"],
    "missing_user_id": ["missing_user_id"], "missing_messages": ["missing_messages"],
    "empty_messages": ["empty_messages"], "unknown_role": ["unknown_role"],
    "non_text_content": ["non_text_content"], "numeric_content": ["non_text_content"],
    "bad_timestamp": ["bad_timestamp"], "bad_message_timestamp": ["bad_timestamp"],
    "oversize_messages": ["oversize_conversation"], "oversize_chars": ["oversize_conversation"],
    "no_user_message": ["no_user_message"],
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_each_malformed_kind_is_named(kind):
    assert parse_conversation(MALFORMED[kind], **INGEST_CFG)["errors"] == EXPECTED_ERRORS[kind]


def test_aliases_sharegpt_and_text_parts_are_mapped():
    sharegpt = json.dumps({"id": 7, "user": "bob", "conversations": [
        {"from": "human", "value": "hey"}, {"from": "gpt", "value": "hi!"}, {"from": "bot", "value": "more"}]})
    parsed = parse_conversation(sharegpt, **INGEST_CFG)
    assert parsed["errors"] == []
    assert (parsed["conversation_id"], parsed["user_id"]) == ("7", "bob")
    assert [(m["index"], m["role"], m["content"]) for m in parsed["messages"]] == [
        (0, "user", "hey"), (1, "assistant", "hi!"), (2, "assistant", "more")]
    parts = _conv(messages=[{"role": "Human", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    assert parse_conversation(parts, **INGEST_CFG)["messages"][0]["content"] == "a\nb"


def test_timestamps_are_normalised_to_utc():
    assert parse_timestamp("2026-01-05T10:00:00+02:00") == ("2026-01-05T08:00:00.000000Z", True)
    assert parse_timestamp(1767607200) == ("2026-01-05T10:00:00.000000Z", True)
    assert parse_timestamp(1767607200000) == ("2026-01-05T10:00:00.000000Z", True)
    assert parse_timestamp(None) == (None, True)
    assert parse_timestamp("not a date") == (None, False)
    assert parse_timestamp(True) == (None, False)


def test_checked_records_split_clean_and_quarantine(spark):
    good = _conv(conversation_id="c1", messages=[
        {"role": "user", "content": "My email is jo@example.com"}, {"role": "assistant", "content": "ok"}])
    dup_a, dup_b = _conv(conversation_id="c2"), _conv(conversation_id="c2", user_id="other")
    raw = spark.createDataFrame([(r, "f.jsonl") for r in [good, dup_a, dup_b, MALFORMED["bad_json"]]],
                                "raw string, source_file string")
    checked = checked_records(raw, key=KEY, **INGEST_CFG)
    clean = clean_conversations(checked, run_id="r1", long_user_messages=2).orderBy("conversation_id").collect()
    quarantine = quarantined_records(checked, run_id="r1")
    assert [r["conversation_id"] for r in clean] == ["c1", "c2"]
    assert clean[0]["messages"][0]["content"] == "My email is [EMAIL]"
    assert clean[0]["user_id"].startswith("u_") and "alice" not in clean[0]["user_id"]
    assert (clean[0]["n_user_messages"], clean[0]["n_assistant_messages"], clean[0]["is_long"]) == (1, 1, False)
    assertDataFrameEqual(
        quarantine.selectExpr("_errors", "run_id"),
        [Row(_errors=["bad_json"], run_id="r1"), Row(_errors=["duplicate_id"], run_id="r1")],
    )
    raws = {r["raw"] for r in quarantine.collect()}
    assert MALFORMED["bad_json"] in raws and len(raws & {dup_a, dup_b}) == 1
