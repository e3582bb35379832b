"""jobs.synth on real Spark: the input contract, true labels, mix, planted personal data, determinism, files."""
from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jobs import synth

N = 400
SEED = 11
ROLES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "bot": "assistant",
         "system": "system"}
CATEGORIES = {"interpersonal_advice", "coaching", "counseling", "companionship", "romantic_roleplay"}
REASONS = {"safety", "policy", "professional", "capability", "disagreement"}
REFERRAL_WORDS = re.compile(r"therapist|counselor|doctor|\b988\b|psychiatrist|psychologist|dietitian|pharmacist|"
                            r"lawyer|legal aid|electrician|dermatologist|crisis line|emergency services", re.I)


def _rows(spark, **kwargs) -> list[tuple[str, dict, dict]]:
    df = synth.synth_conversations(spark, **kwargs)
    return [(r.conversation_id, json.loads(r.record), json.loads(r.label)) for r in df.collect()]


def _messages(record: dict) -> list[dict]:
    """Messages with canonical roles, whatever alias shape the record uses."""
    raw = record["messages"] if "messages" in record else record["conversations"]
    return [{"role": ROLES[m.get("role", m.get("from"))], "content": m.get("content", m.get("value")),
             "created_at": m.get("created_at")} for m in raw]


def _user_text(record: dict) -> str:
    return "\n".join(m["content"] for m in _messages(record) if m["role"] == "user")


def _luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def _iban_ok(iban: str) -> bool:
    compact = iban.replace(" ", "")
    return int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1


@pytest.fixture(scope="module")
def rows(spark):
    return _rows(spark, n=N, seed=SEED)


def test_one_row_per_conversation_with_unique_ids(rows):
    assert len(rows) == N
    ids = [cid for cid, _, _ in rows]
    assert len(set(ids)) == N
    for cid, record, label in rows:
        assert record.get("conversation_id", record.get("id")) == cid == label["conversation_id"]


def test_records_follow_the_input_contract(rows):
    start, end = synth.START, synth.START + timedelta(days=synth.DAYS + 1)
    for _, record, _ in rows:
        assert re.fullmatch(r"u\d+", record["user_id"])
        created = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
        assert start <= created < end and created.tzinfo == timezone.utc
        messages = _messages(record)
        body = messages[1:] if messages[0]["role"] == "system" else messages
        assert [m["role"] for m in body] == ["user", "assistant"] * (len(body) // 2)
        assert all(isinstance(m["content"], str) and m["content"].strip() for m in messages)
        stamps = [m["created_at"] for m in messages if m["created_at"]]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    shapes = Counter("sharegpt" if "conversations" in r else
                     "human_bot" if any(m.get("role") == "human" for m in r["messages"]) else "standard"
                     for _, r, _ in rows)
    assert 0.03 <= (shapes["sharegpt"] + shapes["human_bot"]) / N <= 0.15
    assert shapes["sharegpt"] and shapes["human_bot"]
    assert any(_messages(r)[0]["role"] == "system" for _, r, _ in rows)


def test_labels_cover_every_user_message(rows):
    for _, record, label in rows:
        users = [i for i, m in enumerate(_messages(record)) if m["role"] == "user"]
        assert [s["index"] for s in label["message_sentiment"]] == users
        assert all(s["score"] in (-2, -1, 0, 1, 2) for s in label["message_sentiment"])
        assert label["use"] in ("task", "content_creation", "affective")
        assert synth.TOPICS[label["topic"]]["category"] in (label["categories"][:1] or [label["use"]])
        if label["use"] == "affective":
            assert 1 <= len(label["categories"]) <= 2 and set(label["categories"]) <= CATEGORIES
        else:
            assert label["categories"] == []
        assert (label["pushback_reason"] in REASONS) if label["pushback"] else label["pushback_reason"] is None


def test_use_and_category_mix_follow_the_default(rows):
    uses = Counter(label["use"] for _, _, label in rows)
    primary = Counter(label["categories"][0] for _, _, label in rows if label["categories"])
    for category, share in synth.DEFAULT_MIX.items():
        observed = (primary if category in CATEGORIES else uses)[category] / N
        assert abs(observed - share) < 0.06, (category, observed)
    assert abs(uses["affective"] / N - 0.40) < 0.07
    assert any(len(label["categories"]) == 2 for _, _, label in rows)
    assert len({label["topic"] for _, _, label in rows}) >= 35


def test_sentiment_starts_lower_in_affective_conversations(rows):
    first = {use: statistics.mean(l["message_sentiment"][0]["score"] for _, _, l in rows if l["use"] == use)
             for use in ("task", "affective")}
    assert first["affective"] < first["task"] - 0.4
    affective = [l for _, _, l in rows if l["use"] == "affective"]
    assert sum(len(l["message_sentiment"]) >= 6 for l in affective) / len(affective) >= 0.15


def test_pushback_and_referral_match_the_assistant_text(rows):
    pushback = [l for _, _, l in rows if l["pushback"]]
    assert 0.02 <= len(pushback) / N <= 0.12
    for _, record, label in rows:
        assistant = " ".join(m["content"] for m in _messages(record) if m["role"] == "assistant")
        assert bool(REFERRAL_WORDS.search(assistant)) == label["referral"]
    assert any(l["referral"] and not l["pushback"] for _, _, l in rows)


def test_planted_personal_data_is_in_the_user_text(rows):
    planted = [(record, label["pii"]) for _, record, label in rows if label["pii"]]
    assert 0.12 <= len(planted) / N <= 0.30
    for record, pii in planted:
        text = _user_text(record)
        for value in pii:
            assert value in text
            if re.fullmatch(r"[\d -]{15,19}", value) and len(re.sub(r"\D", "", value)) in (15, 16):
                assert _luhn_ok(value), value
            if re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9 ]+", value):
                assert _iban_ok(value), value


def test_users_have_several_conversations(rows):
    users = Counter(record["user_id"] for _, record, _ in rows)
    assert N / 4 <= len(users) <= N / 3 + 1
    assert max(users.values()) >= 3


def test_romantic_roleplay_has_at_least_four_user_messages(spark):
    rows = _rows(spark, n=60, seed=3, mix={"romantic_roleplay": 1.0})
    for _, record, label in rows:
        assert label["categories"][0] == "romantic_roleplay"
        assert len(label["message_sentiment"]) >= 4
        assert "*" in " ".join(m["content"] for m in _messages(record))  # actions in asterisks


def test_long_conversations_follow_long_share(spark):
    rows = _rows(spark, n=40, seed=5, mix={"counseling": 1.0}, long_share=0.5)
    turns = [len(label["message_sentiment"]) for _, _, label in rows]
    long_ones = [t for t in turns if t >= 50]
    assert 8 <= len(long_ones) <= 32 and all(t <= 70 for t in long_ones)
    assert all(label["categories"][0] == "counseling" for _, _, label in rows)


def test_same_seed_same_rows_whatever_the_partitioning(spark):
    one = synth.synth_conversations(spark, n=50, seed=5, partitions=1).collect()
    three = synth.synth_conversations(spark, n=50, seed=5, partitions=3).collect()
    other = synth.synth_conversations(spark, n=50, seed=6, partitions=1).collect()
    assert one == three
    assert not {r.record for r in one} & {r.record for r in other}


def test_bad_arguments_raise(spark):
    with pytest.raises(ValueError):
        synth.synth_conversations(spark, n=0, seed=1)
    with pytest.raises(ValueError):
        synth.synth_conversations(spark, n=10, seed=1, mix={"smalltalk": 1.0})
    with pytest.raises(ValueError):
        synth.synth_conversations(spark, n=10, seed=1, mix={"task": -1.0, "coaching": 2.0})


def _concatenated(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob("part-*")))


def test_written_files_are_jsonl_and_byte_identical(spark, tmp_path):
    first = synth.write_synth(synth.synth_conversations(spark, n=60, seed=9), str(tmp_path / "a"))
    second = synth.write_synth(synth.synth_conversations(spark, n=60, seed=9), str(tmp_path / "b"))
    for name in ("conversations", "labels"):
        data = _concatenated(Path(first[name]))
        assert data == _concatenated(Path(second[name]))
        lines = data.decode("utf-8").splitlines()
        assert len(lines) == 60 and all(isinstance(json.loads(line), dict) for line in lines)


def test_main_writes_both_folders(spark, tmp_path, capsys):
    assert synth.main(["--n", "30", "--out", str(tmp_path), "--seed", "2", "--partitions", "2"]) == 0
    out = capsys.readouterr().out
    for name in ("conversations", "labels"):
        assert f"{name}: {tmp_path}/{name}" in out
        assert len(_concatenated(tmp_path / name).splitlines()) == 30


def test_the_grammar_from_package_data_writes_the_same_conversations_as_the_literals_it_replaced():
    """A fingerprint of 2,000 rows (n 2,000, seed 7) taken before the grammar moved from Python literals
    to jobs/synth_grammar.yaml: the same seed must keep giving the same bytes. A deliberate change to the
    grammar changes it, and the new fingerprint is then written here."""
    import hashlib

    rows = [synth.generate_row(i, n=2000, seed=7) for i in range(2000)]
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()
    assert digest == "b2204d2b0c8d0128df3a8d8fa789879d3c7b98b02337ac711582393ec476fb17"
