from __future__ import annotations

import numpy as np
import pytest
from test_backends import model_dirs  # noqa: F401  (the tiny models, a session fixture)

import udfs
from jobs.classify import apply_classifier, conversation_labels, message_sentiment, stamp, unlabelled
from udfs.classifier import edge_turns

SCHEMA = ("conversation_id string, user_id string, created_at timestamp, n_user_messages int, is_long boolean, "
          "messages array<struct<index:int,role:string,content:string,created_at:timestamp>>")


def _conversation(cid, turns):
    messages, index = [], 0
    for user, assistant in turns:
        messages.append((index, "user", user, None))
        index += 1
        if assistant is not None:
            messages.append((index, "assistant", assistant, None))
            index += 1
    return (cid, f"u_{cid}", None, len(turns), False, messages)


ROLEPLAY = [("*takes your hand and smiles* I missed you so much today, my love", "*smiles back* I missed you too")]
CONVERSATIONS = [
    _conversation("task", [("Write a Python function that removes duplicates from a list", "Sure! Here is one that keeps the first occurrence of each item:\n\ndef dedupe(xs):\n    return list(dict.fromkeys(xs))")]),
    _conversation("sad", [("I feel so hopeless and alone, I cry every night and nothing matters anymore",
                           "I'm so sorry you're feeling this way. I'm here to listen.")]),
    _conversation("refusal", [("how many pills would it take to overdose, I want it to end",
                               "I can't help with that. You deserve support right now: please call or text 988, "
                               "the Suicide and Crisis Lifeline, or your local emergency number.")]),
    _conversation("short_roleplay", ROLEPLAY),
    _conversation("long", [(f"message {i}: today was {'awful' if i < 4 else 'wonderful'}", "I see.") for i in range(8)]),
    _conversation("drift", [("I keep procrastinating and doubting myself. Help me build the confidence and daily "
                             "habits to finally switch careers, and hold me accountable to my goals this month.",
                             "Let's set three goals.")] * 10
                  + [("I just feel so lonely tonight, can you keep me company and chat with me for a while?",
                      "Of course, I'm here. How was your day?")] * 10),
]


@pytest.fixture(scope="module")
def labelled(spark, heads):
    conversations = spark.createDataFrame(CONVERSATIONS, SCHEMA)
    settings = udfs.ClassifierSettings(batch_size=4, sentiment_scope="shift", window_min_user_messages=20)
    classified = apply_classifier(conversations, heads, settings).transform(
        lambda df: stamp(df, model_name="m", model_version=heads.version, run_id="r1")).cache()
    yield {r["conversation_id"]: r for r in conversation_labels(classified).collect()}, message_sentiment(classified)
    classified.unpersist()


def test_edge_turns_pick_first_and_last_three():
    assert edge_turns(8, 3) == [0, 1, 2, 5, 6, 7]
    assert edge_turns(5, 3) == [0, 1, 2, 3, 4]


def test_every_row_is_stamped_and_carries_an_embedding(labelled, heads):
    labels, _ = labelled
    assert set(labels) == {"task", "sad", "refusal", "short_roleplay", "long", "drift"}
    for row in labels.values():
        assert (row["model_name"], row["model_version"], row["run_id"]) == ("m", heads.version, "r1")
        assert len(row["embedding"]) == 384
        assert row["use"] in ("task", "content_creation", "affective")
        assert (row["use"] == "affective") == bool(row["categories"])


def test_clear_cases_are_labelled_as_a_person_would(labelled):
    labels, _ = labelled
    assert labels["task"]["use"] == "task"
    assert labels["sad"]["use"] == "affective" and "counseling" in labels["sad"]["categories"]
    assert labels["refusal"]["pushback"] is True
    assert labels["refusal"]["pushback_reason"] == "safety"
    assert labels["refusal"]["referral"] is True
    assert labels["task"]["pushback"] is False


def test_romantic_roleplay_needs_four_user_messages(labelled):
    labels, _ = labelled
    assert "romantic_roleplay" not in labels["short_roleplay"]["categories"]
    assert labels["short_roleplay"]["category_scores"]["romantic_roleplay"] > 0.5


def test_shift_scope_scores_only_first_and_last_three_user_messages(labelled):
    _, sentiment = labelled
    rows = sentiment.where("conversation_id = 'long'").orderBy("user_turn").collect()
    assert [r["user_turn"] for r in rows] == [0, 1, 2, 5, 6, 7]
    assert [r["message_index"] for r in rows] == [0, 2, 4, 10, 12, 14]
    assert all(r["sentiment"] == r["sentiment_class"] / 2 for r in rows)
    assert max(r["sentiment"] for r in rows[:3]) < min(r["sentiment"] for r in rows[3:])


def test_unlabelled_skips_conversations_done_by_this_model_version(spark):
    conversations = spark.createDataFrame([("a",), ("b",), ("c",)], "conversation_id string")
    labels = spark.createDataFrame([("a", "v1"), ("b", "v0")], "conversation_id string, model_version string")
    assert sorted(r[0] for r in unlabelled(conversations, labels, "v1").collect()) == ["b", "c"]
    assert unlabelled(conversations, None, "v1").count() == 3


def test_long_conversations_are_labelled_per_window_so_drift_shows(labelled):
    labels, _ = labelled
    windows = labels["drift"]["windows"]
    assert [(w["window"], w["first_user_turn"], w["last_user_turn"]) for w in windows] == [(0, 0, 9), (1, 10, 19)]
    assert "coaching" in windows[0]["categories"] and "companionship" in windows[1]["categories"]
    assert labels["long"]["windows"] == []


def test_a_configured_model_replaces_the_head_and_its_failures_are_quarantined(spark, heads, model_dirs, monkeypatch):
    import pandas as pd
    import torch
    from test_backends import POISON, SENTIMENT_MAP, _record_batches

    from jobs.classify import classify_failures
    from udfs.backends import HFClassifierScorer
    from udfs.classifier import classify_batch

    scorer = HFClassifierScorer(model_dirs["sentiment"], SENTIMENT_MAP, batch_size=4)
    expected = scorer.classes[int(scorer.score(["hello world i feel sad"]).proba[0].argmax())]
    # Through Spark: the scorer travels to the executors and loads its model there.
    conversations = spark.createDataFrame([_conversation("ok", [("hello world i feel sad", "thanks")])], SCHEMA)
    classified = apply_classifier(conversations, heads, udfs.ClassifierSettings(), {"sentiment": scorer}).first()
    assert [m["sentiment_class"] for m in classified["user_sentiment"]] == [expected]
    assert classified["errors"] == []
    # A row the model fails on even alone carries the reason (never its text) and is kept out of the labels.
    poison_id = scorer.tokenizer.convert_tokens_to_ids(POISON)
    _record_batches(monkeypatch, scorer.model, lambda ids: torch.cuda.OutOfMemoryError("CUDA out of memory")
                    if (ids == poison_id).any() else None)
    pdf = pd.DataFrame({"messages": [
        [{"index": 0, "role": "user", "content": "hello world i feel sad"}, {"index": 1, "role": "assistant", "content": "ok"}],
        [{"index": 0, "role": "user", "content": f"{POISON} my secret day"}, {"index": 1, "role": "assistant", "content": "ok"}],
    ]})
    out = classify_batch(pdf, heads, udfs.ClassifierSettings(), "cpu", {"sentiment": scorer})
    assert out["errors"][0] == [] and out["user_sentiment"][0][0]["sentiment_class"] == expected
    assert out["errors"][1] == ["sentiment: OutOfMemoryError: CUDA out of memory"]
    failed = spark.createDataFrame(
        [("a", "u", [], "m", "v", "r", None), ("b", "u", ["sentiment: OutOfMemoryError"], "m", "v", "r", None)],
        "conversation_id string, user_id string, errors array<string>, model_name string, model_version string, "
        "run_id string, classified_at timestamp")
    assert [r["conversation_id"] for r in classify_failures(failed).collect()] == ["b"]


def test_spread_gives_every_core_a_task_and_keeps_every_conversation(spark):
    from jobs.classify import spread

    conversations = spark.createDataFrame(CONVERSATIONS, SCHEMA).coalesce(1)
    parallelism = spark.sparkContext.defaultParallelism
    assert spread(conversations, len(CONVERSATIONS), 1000).rdd.getNumPartitions() == parallelism
    spread_out = spread(conversations, len(CONVERSATIONS), 2)
    assert spread_out.rdd.getNumPartitions() == max(parallelism, 3)
    assert sorted(r["conversation_id"] for r in spread_out.collect()) == sorted(c[0] for c in CONVERSATIONS)


@pytest.mark.parametrize(("precision", "tolerance"), [("float32", 1e-5), ("bfloat16", 1e-3)])
def test_batch_labels_match_one_conversation_at_a_time(heads, precision, tolerance):
    """Heads run once per batch on stacked inputs: a conversation's labels must not depend on its batch.
    Its scores may, by rounding: in bfloat16 by about 1e-5 here, by up to 0.004 on real data (BENCHMARKS.md)."""
    import pandas as pd

    from udfs.classifier import classify_batch

    settings = udfs.ClassifierSettings(window_min_user_messages=20, cpu_precision=precision)
    pdf = pd.DataFrame({"messages": [[{"index": i, "role": r, "content": c} for i, r, c, _ in conv[5]]
                                     for conv in CONVERSATIONS]})
    together = classify_batch(pdf, heads, settings)
    for row in range(len(pdf)):
        alone = classify_batch(pdf.iloc[[row]].reset_index(drop=True), heads, settings).iloc[0]
        for column in ("use", "categories", "pushback", "pushback_reason", "referral", "user_sentiment", "windows"):
            assert str(together.iloc[row][column]) == str(alone[column]), (row, column)
        assert together.iloc[row]["use_score"] == pytest.approx(alone["use_score"], abs=tolerance)


def test_labels_are_handed_back_per_batch_of_conversations_so_progress_moves(heads, spark):
    """An Arrow batch of six conversations comes back as batches of at most two, every row once, in order."""
    import pandas as pd

    conversations = spark.createDataFrame(CONVERSATIONS, SCHEMA)
    fn, _ = udfs.conversation_classifier(heads, udfs.ClassifierSettings(conversations_per_batch=2),
                                         conversations.select("conversation_id", "messages").schema)
    pdf = pd.DataFrame({"conversation_id": [c[0] for c in CONVERSATIONS],
                        "messages": [[{"index": i, "role": r, "content": c} for i, r, c, _ in conv[5]]
                                     for conv in CONVERSATIONS]})
    out = list(fn(iter([pdf])))
    assert [len(b) for b in out] == [2, 2, 2]
    assert [cid for b in out for cid in b["conversation_id"]] == [c[0] for c in CONVERSATIONS]


def test_encoder_out_of_memory_halves_the_batch_and_a_row_failing_alone_is_quarantined(heads, monkeypatch):
    import pandas as pd
    import torch
    from test_backends import _record_batches

    from udfs import encoder
    from udfs.classifier import classify_batch

    settings = udfs.ClassifierSettings(batch_size=8)
    messages = [[{"index": 0, "role": "user", "content": f"day {i}: I feel a bit {'sad' if i % 2 else 'fine'}"},
                 {"index": 1, "role": "assistant", "content": "I hear you."}] for i in range(6)]
    poisoned = [{"index": 0, "role": "user", "content": "zebra zebra my secret diary"},
                {"index": 1, "role": "assistant", "content": "Tell me more."}]
    pdf = pd.DataFrame({"messages": [*messages[:3], poisoned, *messages[3:]]})
    expected = classify_batch(pdf, heads, settings)
    tokenizer, model = encoder.load_encoder("cpu", 1)
    zebra = tokenizer.convert_tokens_to_ids("zebra")
    batches = _record_batches(monkeypatch, model, lambda ids: torch.cuda.OutOfMemoryError("CUDA out of memory")
                              if len(ids) > 2 or (ids == zebra).any() else None)
    out = classify_batch(pdf, heads, settings)
    assert max(len(b["input_ids"]) for b in batches) == 2  # 8 -> 4 -> 2, kept for the rest of the call
    assert out["errors"][3] == ["encoder: OutOfMemoryError: CUDA out of memory"]  # the reason, never the text
    for row in (0, 1, 2, 4, 5, 6):
        assert out["errors"][row] == []
        assert out["use"][row] == expected["use"][row]
        assert out["user_sentiment"][row] == expected["user_sentiment"][row]
        assert out["embedding"][row] == pytest.approx(expected["embedding"][row], abs=1e-5)


def test_the_encoder_loads_from_a_local_folder_in_half_precision(tmp_path):
    import copy

    import numpy as np
    import torch

    from udfs import encoder

    tokenizer, model = encoder.load_encoder("cpu", 1)
    tokenizer.save_pretrained(tmp_path)
    copy.deepcopy(model).half().save_pretrained(tmp_path)  # what a machine without the package may be given
    texts = ["I keep arguing with my sister and I feel awful.", "Convert this CSV to JSON, please."]
    _, from_folder = encoder.load_encoder("cpu", 1, str(tmp_path))
    vectors, errors = encoder.embed(texts, threads=1, encoder_dir=str(tmp_path))
    packaged, _ = encoder.embed(texts, threads=1)
    assert from_folder is not model and from_folder.dtype == torch.float32  # fp16 weights, run in fp32 on CPU
    assert errors == [None, None]
    assert np.sum(vectors * packaged, axis=1) == pytest.approx([1, 1], abs=1e-3)  # only fp16 rounding apart
    assert not np.array_equal(vectors, packaged)


def test_bfloat16_on_a_cpu_reads_nearly_the_same_vectors_and_gives_the_same_labels(heads):
    import numpy as np
    import pandas as pd
    import torch

    from udfs import encoder
    from udfs.classifier import classify_batch

    texts = ["I keep arguing with my sister and I feel awful.", "Convert this CSV to JSON, please.",
             "I can't help with that, but a doctor can look at your symptoms."]
    full, _ = encoder.embed(texts, threads=1)  # float32 unless asked: what `make model` trains on
    half, errors = encoder.embed(texts, threads=1, cpu_precision="bfloat16")
    assert errors == [None] * 3 and not np.array_equal(half, full)  # it did run in bfloat16
    assert np.sum(half * full, axis=1) == pytest.approx([1, 1, 1], abs=1e-3)
    pdf = pd.DataFrame({"messages": [[{"index": i, "role": r, "content": c} for i, r, c, _ in conv[5]]
                                     for conv in CONVERSATIONS]})
    labels = {p: classify_batch(pdf, heads, udfs.ClassifierSettings(cpu_precision=p))
              for p in ("float32", "bfloat16")}
    for column in ("use", "categories", "pushback", "pushback_reason", "referral", "user_sentiment"):
        assert str(labels["bfloat16"][column].tolist()) == str(labels["float32"][column].tolist()), column
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()  # emulated bfloat16 is slower than float32
    assert encoder.resolve_cpu_precision("auto") == ("bfloat16" if native else "float32")
    with pytest.raises(ValueError, match="cpu_precision must be one of .* got 'fp8'"):
        encoder.resolve_cpu_precision("fp8")


def test_the_stand_in_encoder_gives_unit_vectors_per_text_without_loading_a_model(heads, monkeypatch):
    import numpy as np
    import pandas as pd

    from udfs import encoder
    from udfs.classifier import classify_batch

    def no_model(*args):
        raise AssertionError("the stand-in must not load the encoder")

    monkeypatch.setattr(encoder, "load_encoder", no_model)
    vectors, errors = encoder.embed(["I feel alone.", "Fix my code.", "I feel alone."], encoder=encoder.STAND_IN)
    assert vectors.shape == (3, encoder.EMBEDDING_DIM) and errors == [None] * 3
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1) and np.array_equal(vectors[0], vectors[2])
    assert abs(float(vectors[0] @ vectors[1])) < 0.3  # distinct texts, unrelated directions
    pdf = pd.DataFrame({"messages": [[{"index": i, "role": r, "content": c} for i, r, c, _ in conv[5]]
                                     for conv in CONVERSATIONS]})
    out = classify_batch(pdf, heads, udfs.ClassifierSettings(encoder=encoder.STAND_IN))
    assert len(out) == len(CONVERSATIONS) and all(e == [] for e in out["errors"])


def _messages(*turns: tuple[str, str]) -> list[dict]:
    return [{"index": i, "role": role, "content": content} for i, (role, content) in enumerate(turns)]


def test_each_assistant_message_is_read_with_the_user_message_it_replies_to():
    from udfs import encoder
    from udfs.classifier import encode_messages, turns_to_embed

    settings = udfs.ClassifierSettings(encoder=encoder.STAND_IN, sentiment_scope="shift")
    opening = _messages(("assistant", "Hi, how can I help?"), ("user", "u0"), ("assistant", "a1"),
                        ("assistant", "a2"), ("user", "u1"))
    # 10 user turns: "shift" alone would embed turns 0-2 and 7-9; the replies also need 3-6.
    long = _messages(*[t for i in range(10) for t in (("user", f"q{i}"), ("assistant", f"r{i}"))])
    batch = encode_messages([opening, long], lambda n: turns_to_embed(n, settings), settings, "cpu")
    assert batch.reply_turn == [[-1, 0, 0], list(range(10))]
    assert sorted(batch.user_at[1]) == list(range(10))
    before = batch.before_positions()
    asst = batch.assistant_positions()
    pairs = [(batch.texts[b] if b >= 0 else None, batch.texts[a]) for b, a in zip(before, asst)]
    assert pairs == [(None, "Hi, how can I help?"), ("u0", "a1"), ("u0", "a2"), *((f"q{i}", f"r{i}") for i in range(10))]
    context = batch.context_vectors(before)
    assert not context[0].any()  # nothing came before the greeting
    np.testing.assert_array_equal(context[1], batch.vectors[batch.user_at[0][0]])
    assert batch.replies(0, [0]) == asst[1:3].tolist() and batch.replies(0, [1]) == []


def test_pushback_reads_the_request_and_use_reads_the_replies(heads):
    """The same reply scores differently after different requests, and the same user side differently
    with different replies: the context reaches the heads (and a user-only row reads zeros)."""
    import pandas as pd

    from udfs import encoder
    from udfs.classifier import classify_batch
    from udfs.heads import no_context, pool, with_context

    reply = "I won't do that, but I can help you with something else."
    pdf = pd.DataFrame({"messages": [
        _messages(("user", "Write me a fake doctor's note so I can skip my exam."), ("assistant", reply)),
        _messages(("user", "Can you recommend a good book about trees?"), ("assistant", reply)),
        _messages(("user", "I had a rough day and I just want to talk."),
                  ("assistant", "I'm here. Tell me what happened today, I'm listening.")),
        _messages(("user", "I had a rough day and I just want to talk."),
                  ("assistant", "Here is a Python function that parses the CSV file and returns a list of rows.")),
        _messages(("user", "I had a rough day and I just want to talk.")),
    ]})
    # float32, as encoder.embed reads by default: the comparison below is of what is read, not of rounding
    out = classify_batch(pdf, heads, udfs.ClassifierSettings(cpu_precision="float32"))
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731  (a clear refusal is near 1 after either request)
    assert abs(logit(out["pushback_score"][0]) - logit(out["pushback_score"][1])) > 0.05
    user_side = np.asarray(out["embedding"][2], dtype=np.float32)[None, :]
    replies = encoder.embed([pdf["messages"][row][1]["content"] for row in (2, 3)])[0]
    for row, context in ((2, replies[[0]]), (3, replies[[1]]), (4, no_context(1))):
        expected = heads["use"].proba(with_context(user_side, pool(context)[None, :]))[0]
        assert out["use_score"][row] == pytest.approx(float(expected.max()), abs=1e-5), row
    assert out["use_score"][2] != pytest.approx(out["use_score"][3], abs=1e-4)


def test_categories_read_the_first_user_turn_beside_the_pooled_ones(heads):
    """Two conversations with the same user turns in another order pool to the same vector, and only the
    categories, which also read the first turn, tell them apart (use reads the pool alone)."""
    import pandas as pd

    from udfs import encoder
    from udfs.classifier import classify_batch
    from udfs.heads import CATEGORIES, pool, with_context

    turns = ["My sister keeps borrowing money and never pays it back. How do I say no without a fight?",
             "Honestly I haven't slept properly in weeks and I feel empty all the time."]
    reply = "That sounds hard. Let's take it one step at a time."
    pdf = pd.DataFrame({"messages": [
        _messages(("user", turns[0]), ("assistant", reply), ("user", turns[1]), ("assistant", reply)),
        _messages(("user", turns[1]), ("assistant", reply), ("user", turns[0]), ("assistant", reply))]})
    out = classify_batch(pdf, heads, udfs.ClassifierSettings(cpu_precision="float32"))
    users, replies = encoder.embed(turns)[0], encoder.embed([reply])[0]
    for row, first in ((0, users[0]), (1, users[1])):
        x = with_context(np.concatenate([pool(users), first])[None, :], pool(replies)[None, :])
        for c in CATEGORIES:
            expected = heads[f"category.{c}"].proba(x)[0, 1]
            assert out["category_scores"][row][c] == pytest.approx(float(expected), abs=1e-5), (row, c)
    np.testing.assert_allclose(out["embedding"][0], out["embedding"][1], atol=1e-6)
    assert out["use_score"][0] == pytest.approx(out["use_score"][1], abs=1e-6)
    assert out["category_scores"][0]["interpersonal_advice"] > out["category_scores"][1]["interpersonal_advice"] + 0.05
